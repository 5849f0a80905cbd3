//! The simulation's sections: policies' service, stock and cost (in all, by week, by class), and
//! the service/stock trade-off of a sweep.

use std::path::Path;

use restock_backtest::{SimulationSummary, SkuClass, Sweep};
use restock_core::Week;

use crate::Result;
use crate::charts;
use crate::html::fmt_num;
use crate::writer::{Table, Writer, read_json};

pub(crate) fn simulation_section(w: &mut Writer, dir: &Path, classes: &[SkuClass]) -> Result<()> {
    let s: SimulationSummary = read_json(&dir.join("simulation.json"))?;
    w.page.section("Inventory simulation");
    // What the total charges a unit of demand short.
    let short = match s.shortage {
        restock_backtest::Shortage::LostSales => (
            "lost",
            "its lost margin (shortage cost less unit cost: a unit lost is one not bought)",
        ),
        restock_backtest::Shortage::Backorders => ("backordered", "its shortage cost"),
    };
    w.page.paragraph(&format!(
        "Actual demand of {} .. {} ({} weeks, {} SKUs) replayed week by week. Each review week a \
         policy sees only the past. restock: network forecasts + the planner (budget, capacity, \
         case packs, MOQ) re-run every {} week(s). order_up_to, order_up_to_tsb and \
         order_up_to_arima: the textbook order-up-to rule fed by a 4-week moving average, by TSB \
         and by AutoARIMA, with the same service level \
         ({}) and safety-stock rule, cut to the budget. Same starting stock. Total cost: \
         holding, plus each unit of demand {} at {}, plus fixed order costs; purchases are not \
         in it.",
        s.start, s.end, s.weeks, s.skus, s.review_period_weeks, s.service_level, short.0, short.1
    ));
    let header = [
        "policy",
        "fill rate",
        "stock-out SKU-weeks",
        "avg stock value",
        "holding",
        "shortage",
        "ordering",
        "total cost",
        "orders",
        "max weekly spend",
        "weeks over budget",
        "weeks over capacity",
        "of them from the longest lead time",
    ];
    let rows: Vec<Vec<String>> = s
        .policies
        .iter()
        .map(|r| {
            vec![
                r.policy.clone(),
                format!("{:.3}", r.fill_rate),
                format!("{} ({:.1} %)", r.stockout_weeks, 100.0 * r.stockout_share),
                fmt_num(r.avg_stock_value),
                fmt_num(r.holding_cost),
                fmt_num(r.shortage_cost),
                fmt_num(r.ordering_cost),
                fmt_num(r.total_cost),
                r.orders.to_string(),
                fmt_num(r.max_weekly_spend),
                r.weeks_over_budget.to_string(),
                r.weeks_over_capacity.to_string(),
                r.weeks_over_capacity_ordered.to_string(),
            ]
        })
        .collect();
    w.page.table(&header, &rows);
    w.csv("simulation", &header, &rows)?;
    if !s.by_class.is_empty() {
        simulation_classes(w, &s)?;
    }
    if let Some(b) = s.weekly_budget {
        w.page
            .paragraph(&format!("Weekly purchase budget: {}.", fmt_num(b)));
    }
    w.page.open_grid();
    let weeks = weekly_charts(w, dir)?;
    top_sku_chart(w, dir, classes, &weeks)?;
    w.page.close_grid();
    Ok(())
}

/// The weeks of the replay (first days) and the policies, in the order `weekly.csv` has them.
struct Weeks {
    days: Vec<i32>,
    labels: Vec<String>,
    policies: Vec<String>,
}

/// Stock value, fill rate and purchases per week and policy, from `weekly.csv`.
fn weekly_charts(w: &mut Writer, dir: &Path) -> Result<Weeks> {
    let path = dir.join("weekly.csv");
    let t = Table::read(
        &path,
        &["ds", "policy", "demand", "served", "stock_value", "spend"],
    )?;
    let days = t.days("ds")?;
    let policy = t.strings("policy")?;
    let demand = t.floats("demand")?;
    let served = t.floats("served")?;
    let value = t.floats("stock_value")?;
    let spend = t.floats("spend")?;
    let mut weeks: Vec<i32> = days.clone();
    weeks.sort();
    weeks.dedup();
    let labels: Vec<String> = weeks
        .iter()
        .map(|d| Week::containing_day(*d).to_string())
        .collect();
    let mut policies: Vec<String> = Vec::new();
    for p in &policy {
        if !policies.contains(p) {
            policies.push(p.clone());
        }
    }
    let per_week = |f: &dyn Fn(usize) -> f64| -> Vec<(String, Vec<f64>)> {
        policies
            .iter()
            .map(|p| {
                (
                    p.clone(),
                    weeks
                        .iter()
                        .map(|d| {
                            (0..days.len())
                                .find(|&i| days[i] == *d && &policy[i] == p)
                                .map_or(f64::NAN, f)
                        })
                        .collect(),
                )
            })
            .collect()
    };
    w.chart(
        "simulation_stock_value",
        charts::lines(
            "Stock value at the end of each week",
            &labels,
            &per_week(&|i| value[i]),
            "value at cost",
            (470, 290),
        )?,
    )?;
    w.chart(
        "simulation_fill_rate",
        charts::lines(
            "Weekly fill rate",
            &labels,
            &per_week(&|i| {
                if demand[i] > 0.0 {
                    served[i] / demand[i]
                } else {
                    1.0
                }
            }),
            "served / demand",
            (470, 290),
        )?,
    )?;
    w.chart(
        "simulation_spend",
        charts::lines(
            "Purchases per week",
            &labels,
            &per_week(&|i| spend[i]),
            "spend at cost",
            (470, 290),
        )?,
    )?;
    Ok(Weeks {
        days: weeks,
        labels,
        policies,
    })
}

/// The SKU with the most value: its stock under each policy against its demand.
fn top_sku_chart(w: &mut Writer, dir: &Path, classes: &[SkuClass], weeks: &Weeks) -> Result<()> {
    let Weeks {
        days: weeks,
        labels,
        policies,
    } = weeks;
    let traj = dir.join("trajectories.parquet");
    let t = Table::read(&traj, &["unique_id", "ds", "policy", "demand", "stock"])?;
    let ids = t.strings("unique_id")?;
    let simulated: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
    let top = classes
        .iter()
        .filter(|c| simulated.contains(c.unique_id.as_str()))
        .max_by(|a, b| a.value.total_cmp(&b.value));
    if let Some(top) = top {
        let tdays = t.days("ds")?;
        let tpolicy = t.strings("policy")?;
        let tdemand = t.floats("demand")?;
        let tstock = t.floats("stock")?;
        let rows: Vec<usize> = (0..ids.len())
            .filter(|&i| ids[i] == top.unique_id)
            .collect();
        let pick = |p: &str, v: &[f64]| -> Vec<f64> {
            weeks
                .iter()
                .map(|d| {
                    rows.iter()
                        .find(|&&i| tdays[i] == *d && tpolicy[i] == p)
                        .map_or(f64::NAN, |&i| v[i])
                })
                .collect()
        };
        let mut series: Vec<(String, Vec<f64>)> = policies
            .iter()
            .map(|p| (format!("stock: {p}"), pick(p, &tstock)))
            .collect();
        if let Some(p) = policies.first() {
            series.push(("demand".to_string(), pick(p, &tdemand)));
        }
        w.chart(
            "simulation_top_sku",
            charts::lines(
                &format!("{}: end-of-week stock and demand", top.unique_id),
                labels,
                &series,
                "units",
                (470, 290),
            )?,
        )?;
    }
    Ok(())
}

/// Where each policy gains or loses: fill rate, cycle service, stock value and holding +
/// shortage cost per
/// ABC × XYZ class, one column group per policy.
fn simulation_classes(w: &mut Writer, s: &SimulationSummary) -> Result<()> {
    let mut policies: Vec<&str> = Vec::new();
    let mut classes: Vec<&str> = Vec::new();
    for r in &s.by_class {
        if !policies.contains(&r.policy.as_str()) {
            policies.push(&r.policy);
        }
        if !classes.contains(&r.class.as_str()) {
            classes.push(&r.class);
        }
    }
    classes.sort_unstable();
    let mut header = vec!["class".to_string(), "SKUs".to_string()];
    for p in &policies {
        header.push(format!("{p}: fill rate"));
        header.push(format!("{p}: cycle service"));
        header.push(format!("{p}: avg stock value"));
        header.push(format!("{p}: holding + shortage"));
    }
    let rows: Vec<Vec<String>> = classes
        .iter()
        .map(|&class| {
            let of = |p: &str| {
                s.by_class
                    .iter()
                    .find(|r| r.class == class && r.policy == p)
            };
            let mut row = vec![
                class.to_string(),
                of(policies[0]).map_or(0, |r| r.skus).to_string(),
            ];
            for &p in &policies {
                match of(p) {
                    Some(r) => row.extend([
                        format!("{:.3}", r.fill_rate),
                        r.cycle_service
                            .map_or("–".to_string(), |c| format!("{c:.3}")),
                        fmt_num(r.avg_stock_value),
                        fmt_num(r.cost),
                    ]),
                    None => row.extend(std::iter::repeat_n("–".to_string(), 4)),
                }
            }
            row
        })
        .collect();
    w.page.paragraph(
        "By ABC × XYZ class (value share × variability, from the weeks before the replay): where \
         each policy gains or loses.",
    );
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    w.page.table(&header, &rows);
    w.csv("simulation_by_class", &header, &rows)
}

/// The service/stock trade-off of `restock simulate --service-levels` (`sweep.json`): every
/// policy's curve of fill rate against average stock value, its points, and restock read at
/// equal fill rate on the better baseline's curve.
pub(crate) fn tradeoff_section(w: &mut Writer, dir: &Path) -> Result<()> {
    let s: Sweep = read_json(&dir.join("sweep.json"))?;
    w.page.section("Service against stock: the trade-off");
    w.page.paragraph(
        "Every policy replayed on the same demand at each service target (a cycle service level, \
         or economic: each SKU's critical ratio). A policy can buy fill rate with stock, so \
         policies compare along these curves: at equal fill rate, less stock is better.",
    );
    let mut policies: Vec<&str> = Vec::new();
    for p in &s.points {
        if !policies.contains(&p.result.policy.as_str()) {
            policies.push(&p.result.policy);
        }
    }
    let series: Vec<(String, Vec<(f64, f64)>)> = policies
        .iter()
        .map(|&policy| {
            let points = s
                .points
                .iter()
                .filter(|p| p.result.policy == policy)
                .map(|p| (p.result.fill_rate, p.result.avg_stock_value))
                .collect();
            (policy.to_string(), points)
        })
        .collect();
    w.chart(
        "tradeoff_fill_stock",
        charts::curves(
            "Fill rate against average stock value",
            &series,
            "fill rate",
            "average stock value at cost",
            (620, 340),
        )?,
    )?;
    let header = [
        "target",
        "policy",
        "fill rate",
        "cycle service",
        "avg stock value",
        "total cost",
        "max weekly spend",
    ];
    let rows: Vec<Vec<String>> = s
        .points
        .iter()
        .map(|p| {
            vec![
                p.target.clone(),
                p.result.policy.clone(),
                format!("{:.3}", p.result.fill_rate),
                format!("{:.3}", p.cycle_service),
                fmt_num(p.result.avg_stock_value),
                fmt_num(p.result.total_cost),
                fmt_num(p.result.max_weekly_spend),
            ]
        })
        .collect();
    w.page.table(&header, &rows);
    w.csv("tradeoff", &header, &rows)?;
    w.page.paragraph(&s.findings().join(" "));
    Ok(())
}
