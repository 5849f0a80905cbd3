//! What a simulation gives out: per policy, per week, per SKU-week and per ABC × XYZ class,
//! written as `simulation.json`, `weekly.csv` and `trajectories.parquet`, and printed as a table.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;
use restock_core::{Week, columns};
use restock_data::table;
use restock_planner::{Economics, SkuParams};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// What happens to demand that finds no stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shortage {
    /// It is lost.
    LostSales,
    /// It waits and is served first from later stock.
    Backorders,
}

impl Shortage {
    /// What a unit of demand short costs in the simulation's total: a lost unit its lost
    /// margin ([`Economics::lost_margin`]: the total holds no purchases, and a lost unit is
    /// one not bought, so charging its price would count the unit cost it spares as lost and
    /// make every unit of stock look worth more than it earns); a backordered unit, sold later,
    /// the shortage cost as a penalty for the wait.
    pub fn unit_cost(self, e: &Economics) -> f64 {
        match self {
            Shortage::LostSales => e.lost_margin,
            Shortage::Backorders => e.shortage,
        }
    }
}

/// The policies, in output order: restock, then the order-up-to rule fed by each of
/// [`super::RULE_FORECASTERS`].
pub const POLICIES: [&str; 4] = [
    "restock",
    "order_up_to",
    "order_up_to_tsb",
    "order_up_to_arima",
];

/// Results of one policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyResult {
    /// One of [`POLICIES`].
    pub policy: String,
    /// Units served in the week they were asked for / units asked for.
    pub fill_rate: f64,
    /// SKU-weeks with demand not served in time.
    pub stockout_weeks: usize,
    /// Their share of the SKU-weeks with demand.
    pub stockout_share: f64,
    /// Mean over weeks of the end-of-week stock valued at unit cost.
    pub avg_stock_value: f64,
    /// Stock value at the end.
    pub end_stock_value: f64,
    /// Holding cost.
    pub holding_cost: f64,
    /// Shortage cost: units lost × their lost margin, or units backordered × their shortage
    /// cost ([`Shortage::unit_cost`]).
    pub shortage_cost: f64,
    /// Fixed ordering cost.
    pub ordering_cost: f64,
    /// Holding + shortage + ordering.
    pub total_cost: f64,
    /// Purchases at unit cost (not in the total).
    pub purchase_cost: f64,
    /// Order lines placed.
    pub orders: usize,
    /// Units ordered.
    pub units_ordered: f64,
    /// Units not served in time.
    pub units_short: f64,
    /// Highest weekly purchase spend.
    pub max_weekly_spend: f64,
    /// Weeks whose spend exceeded the global weekly budget.
    pub weeks_over_budget: usize,
    /// Highest end-of-week stock volume.
    pub max_volume: f64,
    /// Weeks whose end-of-week stock volume exceeded the warehouse capacity.
    pub weeks_over_capacity: usize,
    /// [`PolicyResult::weeks_over_capacity`] from the week every SKU's stock follows the
    /// policy's orders (the replayed SKUs' longest lead time) on; before, the starting stock
    /// and the orders already placed fill the warehouse whatever the policy (0 in results
    /// written before it).
    #[serde(default)]
    pub weeks_over_capacity_ordered: usize,
    /// The highest end-of-week stock volume over those weeks (0 in results written before).
    #[serde(default)]
    pub max_volume_ordered: f64,
    /// Seconds spent deciding (forecasting and planning).
    pub decision_seconds: f64,
    /// [`PolicyResult::fill_rate`] on the SKU-weeks its orders can reach: each SKU's weeks
    /// from its lead time on. Before, every policy serves from the replay's starting stock,
    /// the same for all (absent in results written before it: 0).
    #[serde(default)]
    pub fill_rate_ordered: f64,
    /// The share of those SKU-weeks with demand served without a stock-out (the realised
    /// cycle service where the policy's decisions count; 0 in results written before it).
    #[serde(default)]
    pub cycle_service_ordered: f64,
    /// [`PolicyResult::avg_stock_value`] over the same SKU-weeks: per SKU, the mean of its
    /// end-of-week stock value from its lead time on, summed over SKUs. The weeks before are
    /// the replay's starting stock running down, the same for every policy (0 in results
    /// written before it).
    #[serde(default)]
    pub avg_stock_value_ordered: f64,
    /// [`PolicyResult::total_cost`] over the same SKU-weeks (holding and shortage; every order
    /// line's fixed cost, all of them decisions): the money the policy's decisions bring, as a
    /// simulation study leaves out its warm-up (0 in results written before it).
    #[serde(default)]
    pub total_cost_ordered: f64,
}

/// What the weeks a policy's orders can reach add up to (see
/// [`PolicyResult::fill_rate_ordered`]): demand, units short, SKU-weeks with demand and
/// stock-outs, cost and stock value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct ReachedWeeks {
    pub(super) demand: f64,
    pub(super) short: f64,
    pub(super) with_demand: usize,
    pub(super) stockouts: usize,
    /// Holding + shortage cost.
    pub(super) cost: f64,
    /// Σ over SKUs of the mean end-of-week stock value over its weeks here.
    pub(super) stock_value: f64,
}

impl PolicyResult {
    /// A policy's result before any week is replayed.
    pub(super) fn named(policy: &str) -> Self {
        PolicyResult {
            policy: policy.to_string(),
            ..PolicyResult::default()
        }
    }

    /// The rates and totals once every week is replayed: `total_demand` units asked for in
    /// `demand_weeks` SKU-weeks, `order_cost` per order line, `r` on the weeks its orders can
    /// reach.
    pub(super) fn finish(
        &mut self,
        total_demand: f64,
        demand_weeks: usize,
        order_cost: f64,
        r: &ReachedWeeks,
    ) {
        let served = total_demand - self.units_short;
        self.fill_rate = if total_demand > 0.0 {
            served / total_demand
        } else {
            1.0
        };
        self.stockout_share = self.stockout_weeks as f64 / demand_weeks.max(1) as f64;
        self.fill_rate_ordered = if r.demand > 0.0 {
            1.0 - r.short / r.demand
        } else {
            1.0
        };
        self.cycle_service_ordered = cycle_service(r.stockouts, r.with_demand);
        self.ordering_cost = self.orders as f64 * order_cost;
        self.total_cost = self.holding_cost + self.shortage_cost + self.ordering_cost;
        self.avg_stock_value_ordered = r.stock_value;
        self.total_cost_ordered = r.cost + self.ordering_cost;
    }
}

/// One week of one policy, all SKUs together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeekRecord {
    /// The week.
    pub ds: String,
    /// The policy.
    pub policy: String,
    /// Units asked for.
    pub demand: f64,
    /// Units served in time.
    pub served: f64,
    /// End-of-week stock, units.
    pub stock_units: f64,
    /// End-of-week stock at unit cost.
    pub stock_value: f64,
    /// Purchases placed this week at unit cost.
    pub spend: f64,
    /// End-of-week stock volume.
    pub volume: f64,
    /// Order lines placed this week.
    pub orders: usize,
}

/// One SKU-week of one policy.
#[derive(Debug, Clone, PartialEq)]
pub struct SkuWeek {
    /// Index into [`Simulation::skus`].
    pub sku: usize,
    /// Index of the week from the start.
    pub week: usize,
    /// Index into [`POLICIES`].
    pub policy: usize,
    /// Demand.
    pub demand: f64,
    /// Served in time.
    pub served: f64,
    /// Arrived at the start of the week.
    pub arrived: f64,
    /// Ordered this week.
    pub ordered: f64,
    /// End-of-week stock (negative: backorders).
    pub stock: f64,
}

/// What a simulation found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimulationSummary {
    /// First simulated week.
    pub start: String,
    /// Last simulated week.
    pub end: String,
    /// Weeks simulated.
    pub weeks: usize,
    /// Weeks between reviews.
    pub review_period_weeks: usize,
    /// Lost sales or backorders.
    pub shortage: Shortage,
    /// SKUs simulated.
    pub skus: usize,
    /// SKUs left out: no history before the start.
    pub skus_without_history: usize,
    /// Service level target (the config's; per-SKU values may differ).
    pub service_level: f64,
    /// Global weekly budget.
    pub weekly_budget: Option<f64>,
    /// Warehouse capacity.
    pub warehouse_volume: Option<f64>,
    /// Solver used by the planner.
    pub solver: String,
    /// The planner's worst status over the reviews.
    #[serde(default)]
    pub plan_status: restock_planner::PlanStatus,
    /// The largest MIP gap bound of a review's plan.
    pub max_plan_gap: Option<f64>,
    /// Weeks that restock's plans themselves put over a budget or the warehouse, counted over
    /// every review's plan: beyond what the stock on hand and on order takes of the warehouse
    /// whatever is ordered (the constraint's `floor`), which no plan can help. The replayed
    /// stock can still overflow when demand falls short of the forecasts:
    /// `weeks_over_capacity` (absent in files written before it: 0).
    #[serde(default)]
    pub planned_over_limits: usize,
    /// Calibration cases behind restock's protection levels at the last review (0: the normal
    /// rule with independent weeks; absent in files written before the calibration).
    #[serde(default)]
    pub protection_cases: usize,
    /// One row per policy.
    pub policies: Vec<PolicyResult>,
    /// Per policy and ABC × XYZ class (classes of the weeks before the start): where each
    /// policy gains or loses. Empty in files written before it existed.
    #[serde(default)]
    pub by_class: Vec<ClassResult>,
    /// Seconds of wall-clock.
    pub seconds: f64,
}

/// One policy on the SKUs of one ABC × XYZ class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassResult {
    /// One of [`POLICIES`].
    pub policy: String,
    /// The class, e.g. `AX`.
    pub class: String,
    /// SKUs in it.
    pub skus: usize,
    /// Units served in time / units asked for (1 without demand).
    pub fill_rate: f64,
    /// Share of its SKU-weeks with demand served without a stock-out, as the policy's
    /// `cycle_service` (1 without demand); absent in simulations written before it was kept.
    #[serde(default)]
    pub cycle_service: Option<f64>,
    /// Mean over weeks of the class's end-of-week stock value.
    pub avg_stock_value: f64,
    /// Holding + shortage cost (ordering costs are not split by class).
    pub cost: f64,
}

/// Share of `with_demand` SKU-weeks with demand served without one of `stockouts` (1 without
/// any).
fn cycle_service(stockouts: usize, with_demand: usize) -> f64 {
    1.0 - stockouts as f64 / with_demand.max(1) as f64
}

/// Per policy and class: fill rate, cycle service, average stock value and holding + shortage
/// cost, from the
/// SKU-weeks of `trajectories` (`classes[i]` is SKU `i`'s).
pub(super) fn by_class(
    trajectories: &[SkuWeek],
    classes: &[String],
    params: &[SkuParams],
    economics: &[Economics],
    shortage: Shortage,
    weeks: usize,
) -> Vec<ClassResult> {
    #[derive(Default)]
    struct Totals {
        skus: std::collections::BTreeSet<usize>,
        demand: f64,
        served: f64,
        with_demand: usize,
        stockouts: usize,
        value: f64,
        cost: f64,
    }
    let mut acc: BTreeMap<(usize, &str), Totals> = BTreeMap::new();
    for r in trajectories {
        let end = r.stock.max(0.0);
        let e = &economics[r.sku];
        let a = acc.entry((r.policy, classes[r.sku].as_str())).or_default();
        a.skus.insert(r.sku);
        a.demand += r.demand;
        a.served += r.served;
        if r.demand > 0.0 {
            a.with_demand += 1;
            // A stock-out as the policy's own count has it (`serving`).
            a.stockouts += usize::from(r.demand - r.served > 1e-9);
        }
        a.value += end * params[r.sku].unit_cost;
        a.cost += end * e.holding + (r.demand - r.served) * shortage.unit_cost(e);
    }
    acc.into_iter()
        .map(|((policy, class), t)| ClassResult {
            policy: POLICIES[policy].to_string(),
            class: class.to_string(),
            skus: t.skus.len(),
            fill_rate: if t.demand > 0.0 {
                t.served / t.demand
            } else {
                1.0
            },
            cycle_service: Some(cycle_service(t.stockouts, t.with_demand)),
            avg_stock_value: t.value / weeks.max(1) as f64,
            cost: t.cost,
        })
        .collect()
}

/// A finished simulation.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// The summary.
    pub summary: SimulationSummary,
    /// Totals per week and policy.
    pub weekly: Vec<WeekRecord>,
    /// The simulated SKUs.
    pub skus: Vec<String>,
    /// First simulated week.
    pub start: Week,
    /// Every SKU-week of every policy.
    pub trajectories: Vec<SkuWeek>,
}

fn out_err(path: &Path) -> impl Fn(String) -> Error + '_ {
    move |message| Error::Output {
        path: path.to_path_buf(),
        message,
    }
}

impl Simulation {
    /// Write `simulation.json`, `weekly.csv` (totals per week and policy) and
    /// `trajectories.parquet` (`unique_id, ds, policy, demand, served, arrived, ordered, stock`)
    /// into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| out_err(dir)(e.to_string()))?;
        let path = dir.join("simulation.json");
        let json = serde_json::to_string_pretty(&self.summary)
            .map_err(|e| out_err(&path)(e.to_string()))?;
        table::write_text(&path, &json)?;

        let path = dir.join("weekly.csv");
        let w = &self.weekly;
        let pe = |e: PolarsError| out_err(&path)(e.to_string());
        let days: Vec<i32> = w
            .iter()
            .map(|r| crate::backtest::parse_week(&r.ds).map_or(0, |x| x.day_number()))
            .collect();
        let cols = vec![
            Column::new(columns::DS.into(), days)
                .cast(&DataType::Date)
                .map_err(pe)?,
            Column::new(
                "policy".into(),
                w.iter().map(|r| r.policy.as_str()).collect::<Vec<_>>(),
            ),
            Column::new(
                "demand".into(),
                w.iter().map(|r| r.demand).collect::<Vec<_>>(),
            ),
            Column::new(
                "served".into(),
                w.iter().map(|r| r.served).collect::<Vec<_>>(),
            ),
            Column::new(
                "stock_units".into(),
                w.iter().map(|r| r.stock_units).collect::<Vec<_>>(),
            ),
            Column::new(
                "stock_value".into(),
                w.iter().map(|r| r.stock_value).collect::<Vec<_>>(),
            ),
            Column::new(
                "spend".into(),
                w.iter().map(|r| r.spend).collect::<Vec<_>>(),
            ),
            Column::new(
                "volume".into(),
                w.iter().map(|r| r.volume).collect::<Vec<_>>(),
            ),
            Column::new(
                "orders".into(),
                w.iter().map(|r| r.orders as u64).collect::<Vec<_>>(),
            ),
        ];
        let mut df = DataFrame::new(w.len(), cols).map_err(|e| out_err(&path)(e.to_string()))?;
        table::write(&mut df, &path)?;

        let path = dir.join("trajectories.parquet");
        let t = &self.trajectories;
        let pe = |e: PolarsError| out_err(&path)(e.to_string());
        let cols = vec![
            Column::new(
                columns::UNIQUE_ID.into(),
                t.iter()
                    .map(|r| self.skus[r.sku].as_str())
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                columns::DS.into(),
                t.iter()
                    .map(|r| self.start.offset(r.week as i64).day_number())
                    .collect::<Vec<_>>(),
            )
            .cast(&DataType::Date)
            .map_err(pe)?,
            Column::new(
                "policy".into(),
                t.iter().map(|r| POLICIES[r.policy]).collect::<Vec<_>>(),
            ),
            Column::new(
                "demand".into(),
                t.iter().map(|r| r.demand).collect::<Vec<_>>(),
            ),
            Column::new(
                "served".into(),
                t.iter().map(|r| r.served).collect::<Vec<_>>(),
            ),
            Column::new(
                "arrived".into(),
                t.iter().map(|r| r.arrived).collect::<Vec<_>>(),
            ),
            Column::new(
                "ordered".into(),
                t.iter().map(|r| r.ordered).collect::<Vec<_>>(),
            ),
            Column::new(
                "stock".into(),
                t.iter().map(|r| r.stock).collect::<Vec<_>>(),
            ),
        ];
        let mut df = DataFrame::new(t.len(), cols).map_err(|e| out_err(&path)(e.to_string()))?;
        table::write(&mut df, &path)?;
        Ok(())
    }
}

impl SimulationSummary {
    /// A plain-text table, one row per policy.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{} SKUs, {} .. {} ({} weeks, review every {} week(s), {}), service level {}, planner {} (worst status {}{}; {} planned weeks over a limit)\n",
            self.skus,
            self.start,
            self.end,
            self.weeks,
            self.review_period_weeks,
            match self.shortage {
                Shortage::LostSales => "lost sales",
                Shortage::Backorders => "backorders",
            },
            self.service_level,
            self.solver,
            self.plan_status,
            self.max_plan_gap
                .map(|g| format!(", gap <= {:.2} %", 100.0 * g))
                .unwrap_or_default(),
            self.planned_over_limits
        );
        out.push_str(&format!(
            "{:<12} {:>9} {:>9} {:>12} {:>12} {:>12} {:>12} {:>12} {:>7} {:>12} {:>10}\n",
            "policy",
            "fill rate",
            "stockouts",
            "avg stock",
            "holding",
            "shortage",
            "total cost",
            "its weeks**",
            "orders",
            "max spend",
            "over cap.*"
        ));
        for r in &self.policies {
            out.push_str(&format!(
                "{:<12} {:>9.3} {:>9.3} {:>12.0} {:>12.0} {:>12.0} {:>12.0} {:>12.0} {:>7} {:>12.0} {:>10}\n",
                r.policy,
                r.fill_rate,
                r.stockout_share,
                r.avg_stock_value,
                r.holding_cost,
                r.shortage_cost,
                r.total_cost,
                r.total_cost_ordered,
                r.orders,
                r.max_weekly_spend,
                format!("{} ({})", r.weeks_over_capacity, r.weeks_over_capacity_ordered)
            ));
        }
        out.push_str(
            "** the total cost on the weeks the policy's orders can reach (each SKU's from its \
             lead time on; before, every policy sells from the same starting stock)\n",
        );
        if let Some(cap) = self.warehouse_volume {
            out.push_str(&format!(
                "* weeks over the warehouse ({cap}); in brackets, from the replayed SKUs' longest \
                 lead time on, when every SKU's stock follows the policy's own orders\n"
            ));
        }
        out
    }
}
