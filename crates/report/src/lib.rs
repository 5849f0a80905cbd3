//! The decision-support report: one self-contained HTML file (inline SVG charts and CSS, nothing
//! fetched when it is opened) plus the charts as SVG files and the CSVs behind them.
//!
//! Sections, each present when its input is given:
//! - the catalogue: ABC (value share) × XYZ (demand variability) classes;
//! - accuracy: the backtest by model, by cutoff, by ABC class and by group;
//! - forecast fans against actuals at the last backtest cutoff, for the top SKUs by value and a
//!   sample of the others;
//! - the simulation: service, stock and cost of restock's plans against the order-up-to policy,
//!   and the weekly stock trajectories;
//! - the order plan: cost breakdown, spend against budget per week, binding constraints with
//!   shadow prices.

mod charts;
mod html;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use polars::prelude::*;
use restock_backtest::{BacktestSummary, SimulationSummary, SkuClass, Sweep, classify};
use restock_core::{Week, columns};
use restock_data::{WeeklyDataset, table};
use restock_planner::PlanSummary;

use crate::html::{Page, fmt_num};

/// Errors of the report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading an input or writing an output failed.
    #[error(transparent)]
    Data(#[from] restock_data::Error),
    /// An input file is unusable.
    #[error("{path}: {message}")]
    Input {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A chart could not be drawn.
    #[error("drawing a chart: {0}")]
    Chart(String),
    /// Nothing to report.
    #[error("{0}")]
    Empty(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What to put in the report.
#[derive(Debug, Clone, Default)]
pub struct ReportInputs {
    /// Title.
    pub title: String,
    /// The weekly dataset (classes, and history for the fan charts).
    pub data: PathBuf,
    /// A `restock backtest` folder.
    pub backtest: Option<PathBuf>,
    /// A `restock simulate` folder.
    pub simulation: Option<PathBuf>,
    /// A plan summary (`restock plan`'s JSON).
    pub plan_summary: Option<PathBuf>,
    /// The plan's order lines.
    pub orders: Option<PathBuf>,
    /// Fan charts for this many top SKUs by value, and as many others.
    pub fans: usize,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct ReportOutput {
    /// The HTML file.
    pub html: PathBuf,
    /// Chart files.
    pub charts: Vec<PathBuf>,
    /// CSV files.
    pub tables: Vec<PathBuf>,
}

fn input_err(path: &Path) -> impl Fn(String) -> Error + '_ {
    move |message| Error::Input {
        path: path.to_path_buf(),
        message,
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| input_err(path)(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| input_err(path)(e.to_string()))
}

/// Columns of a table as owned vectors.
struct Table {
    path: PathBuf,
    df: DataFrame,
}

impl Table {
    fn read(path: &Path, names: &[&str]) -> Result<Self> {
        let wanted: Vec<(&str, String)> = names.iter().map(|n| ("column", n.to_string())).collect();
        let df = table::read_columns(path, &wanted)?;
        Ok(Table {
            path: path.to_path_buf(),
            df,
        })
    }

    fn err(&self, name: &str, e: PolarsError) -> Error {
        input_err(&self.path)(format!("column {name}: {e}"))
    }

    fn strings(&self, name: &str) -> Result<Vec<String>> {
        let c = self
            .df
            .column(name)
            .and_then(|c| c.cast(&DataType::String))
            .map_err(|e| self.err(name, e))?;
        let ca = c.str().map_err(|e| self.err(name, e))?;
        Ok(ca
            .iter()
            .map(|v| v.unwrap_or_default().to_string())
            .collect())
    }

    fn floats(&self, name: &str) -> Result<Vec<f64>> {
        let c = self
            .df
            .column(name)
            .and_then(|c| c.cast(&DataType::Float64))
            .map_err(|e| self.err(name, e))?;
        let ca = c.f64().map_err(|e| self.err(name, e))?;
        Ok(ca.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
    }

    fn days(&self, name: &str) -> Result<Vec<i32>> {
        // Parquet holds dates; CSV holds them as text, parsed like any restock input.
        let c = self.df.column(name).map_err(|e| self.err(name, e))?;
        Ok(restock_data::ingest::parse_days(
            &self.path, name, c, "%Y-%m-%d",
        )?)
    }
}

/// A small table of text cells as CSV, written like every other restock table.
fn write_csv(path: &Path, header: &[&str], rows: &[Vec<String>]) -> Result<()> {
    let cols: Vec<Column> = header
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let cells: Vec<&str> = rows
                .iter()
                .map(|r| r.get(j).map_or("", String::as_str))
                .collect();
            Column::new((*name).into(), cells)
        })
        .collect();
    let mut df = DataFrame::new(rows.len(), cols)
        .map_err(|e| input_err(path)(format!("building the table: {e}")))?;
    table::write(&mut df, path)?;
    Ok(())
}

struct Writer {
    dir: PathBuf,
    page: Page,
    charts: Vec<PathBuf>,
    tables: Vec<PathBuf>,
}

impl Writer {
    fn chart(&mut self, name: &str, svg: String) -> Result<()> {
        let path = self.dir.join("charts").join(format!("{name}.svg"));
        table::write_text(&path, &svg)?;
        self.page.figure(&svg);
        self.charts.push(path);
        Ok(())
    }

    fn csv(&mut self, name: &str, header: &[&str], rows: &[Vec<String>]) -> Result<()> {
        let path = self.dir.join("tables").join(format!("{name}.csv"));
        write_csv(&path, header, rows)?;
        self.tables.push(path);
        Ok(())
    }
}

/// Build the report into `dir`: `report.html`, `charts/*.svg`, `tables/*.csv`.
pub fn build(inputs: &ReportInputs, dir: &Path) -> Result<ReportOutput> {
    for sub in ["charts", "tables"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| input_err(dir)(e.to_string()))?;
    }
    let ds = WeeklyDataset::read(&inputs.data)?;
    if ds.series.is_empty() {
        return Err(Error::Empty(format!(
            "{}: the dataset has no series",
            inputs.data.display()
        )));
    }
    let mut w = Writer {
        dir: dir.to_path_buf(),
        page: Page::new(&inputs.title),
        charts: Vec::new(),
        tables: Vec::new(),
    };
    w.page.paragraph(&format!(
        "{} SKUs, weekly demand {} .. {}, {} units in all. Generated by restock {}.",
        ds.series.len(),
        ds.first_week,
        ds.last_week,
        fmt_num(ds.total_units()),
        env!("CARGO_PKG_VERSION")
    ));
    let classes = classify(&ds, ds.last_week);
    catalogue_section(&mut w, &classes)?;
    let backtest = match &inputs.backtest {
        Some(b) => Some(read_json::<BacktestSummary>(&b.join("backtest.json"))?),
        None => None,
    };
    if let (Some(dir), Some(summary)) = (&inputs.backtest, &backtest) {
        accuracy_section(&mut w, summary)?;
        fan_section(&mut w, &ds, &classes, summary, dir, inputs.fans.max(1))?;
    }
    if let Some(sim) = &inputs.simulation {
        simulation_section(&mut w, sim, &classes)?;
        if sim.join("sweep.json").is_file() {
            tradeoff_section(&mut w, sim)?;
        }
    }
    if let Some(plan) = &inputs.plan_summary {
        plan_section(&mut w, plan, inputs.orders.as_deref())?;
    }
    let html = dir.join("report.html");
    table::write_text(&html, &w.page.finish())?;
    Ok(ReportOutput {
        html,
        charts: w.charts,
        tables: w.tables,
    })
}

fn catalogue_section(w: &mut Writer, classes: &[SkuClass]) -> Result<()> {
    w.page.section("Catalogue: ABC × XYZ classes");
    w.page.paragraph(
        "ABC by share of demand value over the last 52 weeks (A: the SKUs making up the first 80 %, \
         B: the next 15 %, C: the rest); XYZ by the coefficient of variation of weekly demand \
         (X below 0.5: steady, Y below 1: variable, Z: erratic or intermittent). Cells: SKUs and \
         their share of value.",
    );
    let mut grid: BTreeMap<(char, char), (usize, f64)> = BTreeMap::new();
    for c in classes {
        let e = grid.entry((c.abc, c.xyz)).or_default();
        e.0 += 1;
        e.1 += c.value_share;
    }
    let mut rows = Vec::new();
    let mut html_rows = Vec::new();
    for a in ['A', 'B', 'C'] {
        let mut cells = vec![a.to_string()];
        for x in ['X', 'Y', 'Z'] {
            let (n, share) = grid.get(&(a, x)).copied().unwrap_or_default();
            rows.push(vec![
                a.to_string(),
                x.to_string(),
                n.to_string(),
                format!("{share:.4}"),
            ]);
            cells.push(format!("{n} SKUs · {:.1} %", 100.0 * share));
        }
        html_rows.push(cells);
    }
    w.page.table(&["", "X", "Y", "Z"], &html_rows);
    w.csv("abc_xyz", &["abc", "xyz", "skus", "value_share"], &rows)?;
    let per_sku: Vec<Vec<String>> = classes
        .iter()
        .map(|c| {
            vec![
                c.unique_id.clone(),
                c.abc.to_string(),
                c.xyz.to_string(),
                format!("{:.2}", c.value),
                format!("{:.6}", c.value_share),
                if c.cv.is_finite() {
                    format!("{:.3}", c.cv)
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    w.csv(
        "classes",
        &["unique_id", "abc", "xyz", "value", "value_share", "cv"],
        &per_sku,
    )?;
    Ok(())
}

fn accuracy_section(w: &mut Writer, s: &BacktestSummary) -> Result<()> {
    w.page
        .section("Forecast accuracy (rolling-origin backtest)");
    let cuts: Vec<&str> = s.cutoffs.iter().map(|c| c.cutoff.as_str()).collect();
    w.page.paragraph(&format!(
        "{} cutoffs ({}), {} weeks ahead each; every series with enough history is forecast from \
         the data up to the cutoff only. WAPE = Σ|error| / Σ demand of the median; MASE scales \
         errors by the naive forecast's in-sample error (below 1 beats it); coverage = share of \
         actuals inside the outer quantiles; bias = Σ(forecast − demand) / Σ demand, of the median \
         and of the mean (a median forecast of skewed demand sits below the mean). Lower is \
         better except coverage.",
        cuts.len(),
        cuts.join(", "),
        s.horizon
    ));
    let order = |m: &str| s.models.iter().position(|x| x == m).unwrap_or(usize::MAX);
    let mut overall: Vec<_> = s.overall.iter().collect();
    overall.sort_by_key(|r| order(&r.model));
    let header = [
        "model",
        "WAPE",
        "MASE",
        "RMSSE",
        "bias",
        "bias (mean)",
        "pinball (mid)",
        "coverage",
    ];
    let mut rows = Vec::new();
    for r in &overall {
        let a = &r.accuracy;
        rows.push(vec![
            r.model.clone(),
            format!("{:.3}", a.wape),
            format!("{:.3}", a.mase),
            format!("{:.3}", a.rmsse),
            format!("{:+.3}", a.bias),
            format!("{:+.3}", a.mean_bias),
            format!(
                "{:.4}",
                a.pinball
                    .get(a.levels.len() / 2)
                    .copied()
                    .unwrap_or(f64::NAN)
            ),
            format!("{:.3}", a.coverage),
        ]);
    }
    w.page.table(&header, &rows);
    w.csv("accuracy_overall", &header, &rows)?;
    let names: Vec<String> = overall.iter().map(|r| r.model.clone()).collect();
    w.chart(
        "accuracy_by_model",
        charts::bars(
            "WAPE and MASE by model (lower is better)",
            &names,
            &[
                (
                    "WAPE".to_string(),
                    overall.iter().map(|r| r.accuracy.wape).collect(),
                ),
                (
                    "MASE".to_string(),
                    overall.iter().map(|r| r.accuracy.mase).collect(),
                ),
            ],
            "error",
            (820, 320),
        )?,
    )?;
    // By slice: restock, the best baseline overall, and seasonal naive for reference.
    let best_baseline = overall
        .iter()
        .filter(|r| r.model != "restock" && r.model != "lstm")
        .min_by(|a, b| a.accuracy.wape.total_cmp(&b.accuracy.wape))
        .map(|r| r.model.clone());
    let mut shown = vec!["restock".to_string()];
    shown.extend(best_baseline);
    let dims: Vec<String> = {
        let mut d: Vec<String> = s.slices.iter().map(|r| r.dimension.clone()).collect();
        d.dedup();
        let mut seen = Vec::new();
        for x in d {
            if !seen.contains(&x) && x != "abc_xyz" {
                seen.push(x);
            }
        }
        seen
    };
    let mut slice_rows = Vec::new();
    for r in &s.slices {
        slice_rows.push(vec![
            r.dimension.clone(),
            r.value.clone(),
            r.model.clone(),
            r.accuracy.series.to_string(),
            format!("{:.4}", r.accuracy.wape),
            format!("{:.4}", r.accuracy.mase),
            format!("{:.4}", r.accuracy.coverage),
        ]);
    }
    w.csv(
        "accuracy_slices",
        &[
            "dimension",
            "value",
            "model",
            "series",
            "wape",
            "mase",
            "coverage",
        ],
        &slice_rows,
    )?;
    for d in dims {
        let mut values: Vec<String> = s
            .slices
            .iter()
            .filter(|r| r.dimension == d)
            .map(|r| r.value.clone())
            .collect();
        values.sort();
        values.dedup();
        let series: Vec<(String, Vec<f64>)> = shown
            .iter()
            .map(|m| {
                (
                    m.clone(),
                    values
                        .iter()
                        .map(|v| {
                            s.slices
                                .iter()
                                .find(|r| r.dimension == d && &r.value == v && &r.model == m)
                                .map_or(f64::NAN, |r| r.accuracy.wape)
                        })
                        .collect(),
                )
            })
            .collect();
        let title = format!("WAPE by {d}: restock vs the best baseline");
        w.chart(
            &format!(
                "accuracy_by_{}",
                d.replace(|c: char| !c.is_alphanumeric(), "_")
            ),
            charts::bars(&title, &values, &series, "WAPE", (820, 300))?,
        )?;
    }
    Ok(())
}

fn fan_section(
    w: &mut Writer,
    ds: &WeeklyDataset,
    classes: &[SkuClass],
    s: &BacktestSummary,
    dir: &Path,
    n: usize,
) -> Result<()> {
    let path = dir.join("forecasts.parquet");
    if s.levels.is_empty() || s.horizon == 0 {
        return Err(input_err(&dir.join("backtest.json"))(
            "no quantile levels or no horizon".into(),
        ));
    }
    let lo = s.levels.first().copied().unwrap_or(0.1);
    let hi = s.levels.last().copied().unwrap_or(0.9);
    let mid = s.levels[s.levels.len() / 2];
    let qcols: Vec<String> = [lo, mid, hi]
        .iter()
        .map(|l| columns::quantile_column(*l))
        .collect();
    let mut names = vec![
        columns::UNIQUE_ID,
        columns::CUTOFF,
        columns::DS,
        columns::MODEL,
    ];
    names.extend(qcols.iter().map(|c| c.as_str()));
    let t = Table::read(&path, &names)?;
    let ids = t.strings(columns::UNIQUE_ID)?;
    let cutoff = t.days(columns::CUTOFF)?;
    let dsd = t.days(columns::DS)?;
    let model = t.strings(columns::MODEL)?;
    let q: Vec<Vec<f64>> = qcols.iter().map(|c| t.floats(c)).collect::<Result<_>>()?;
    let last = cutoff
        .iter()
        .copied()
        .max()
        .ok_or_else(|| Error::Empty(format!("{}: no forecasts", path.display())))?;
    // restock's forecast per SKU at the last cutoff: ds -> (lo, mid, hi).
    let mut by_sku: HashMap<&str, BTreeMap<i32, (f64, f64, f64)>> = HashMap::new();
    for i in 0..ids.len() {
        if cutoff[i] == last && model[i] == "restock" {
            by_sku
                .entry(ids[i].as_str())
                .or_default()
                .insert(dsd[i], (q[0][i], q[1][i], q[2][i]));
        }
    }
    // Top SKUs by value, then an even sample of the others.
    let mut ranked: Vec<&SkuClass> = classes
        .iter()
        .filter(|c| by_sku.contains_key(c.unique_id.as_str()))
        .collect();
    ranked.sort_by(|a, b| b.value.total_cmp(&a.value));
    let mut chosen: Vec<&SkuClass> = ranked.iter().take(n).copied().collect();
    let rest = &ranked[chosen.len().min(ranked.len())..];
    if !rest.is_empty() {
        let step = (rest.len() / n).max(1);
        chosen.extend(rest.iter().step_by(step).take(n).copied());
    }
    w.page.section("Forecasts against what happened");
    let cut = Week::containing_day(last);
    w.page.paragraph(&format!(
        "restock's forecast from the last backtest cutoff ({cut}): the band spans the {} to {} \
         quantiles, the line is the median, dots are the actual weekly demand. First the {} SKUs \
         with the most demand value, then a sample of the others.",
        columns::quantile_column(lo),
        columns::quantile_column(hi),
        n.min(ranked.len())
    ));
    let index: HashMap<&str, usize> = ds
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| (s.unique_id.as_str(), i))
        .collect();
    w.page.open_grid();
    for (k, c) in chosen.iter().enumerate() {
        let Some(&si) = index.get(c.unique_id.as_str()) else {
            continue;
        };
        let series = &ds.series[si];
        let e = (series.start.weeks_until(cut) + 1).clamp(0, series.y.len() as i64) as usize;
        let from = e.saturating_sub(26);
        let fc: Vec<(f64, f64, f64)> = by_sku[c.unique_id.as_str()].values().copied().collect();
        let end = (e + fc.len()).min(series.y.len());
        let weeks: Vec<String> = (from..e + fc.len())
            .map(|t| series.week(t).to_string())
            .collect();
        let title = format!(
            "{} ({}, {:.1} % of value)",
            c.unique_id,
            c.label(),
            100.0 * c.value_share
        );
        let svg = charts::fan(
            &charts::Fan {
                title: &title,
                weeks: &weeks,
                history: &series.y[from..e],
                forecast: &fc,
                actual: &series.y[e..end],
                band: &format!(
                    "{}-{}",
                    columns::quantile_column(lo),
                    columns::quantile_column(hi)
                ),
            },
            (470, 290),
        )?;
        w.chart(&format!("fan_{k:02}"), svg)?;
    }
    w.page.close_grid();
    Ok(())
}

fn simulation_section(w: &mut Writer, dir: &Path, classes: &[SkuClass]) -> Result<()> {
    let s: SimulationSummary = read_json(&dir.join("simulation.json"))?;
    w.page.section("Inventory simulation");
    w.page.paragraph(&format!(
        "Actual demand of {} .. {} ({} weeks, {} SKUs) replayed week by week. Each review week a \
         policy sees only the past. restock: network forecasts + the planner (budget, capacity, \
         case packs, MOQ) re-run every {} week(s). order_up_to and order_up_to_tsb: the textbook \
         order-up-to rule fed by a 4-week moving average and by TSB, with the same service level \
         ({}) and safety-stock rule, cut to the budget. Same starting stock.",
        s.start, s.end, s.weeks, s.skus, s.review_period_weeks, s.service_level
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
    w.page.open_grid();
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
    // The SKU with the most value: its stock under each policy against its demand.
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
                &labels,
                &series,
                "units",
                (470, 290),
            )?,
        )?;
    }
    w.page.close_grid();
    Ok(())
}

/// Where each policy gains or loses: fill rate, stock value and holding + shortage cost per
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
                        fmt_num(r.avg_stock_value),
                        fmt_num(r.cost),
                    ]),
                    None => row.extend(["–".to_string(), "–".to_string(), "–".to_string()]),
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
fn tradeoff_section(w: &mut Writer, dir: &Path) -> Result<()> {
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
    let mut lines: Vec<String> = s
        .equal_fill
        .iter()
        .map(|e| match (&e.baseline, e.stock_reduction) {
            (Some((b, stock)), Some(r)) => format!(
                "At {}: restock fills {:.3} holding {}; {b} needs {} for that fill rate \
                 ({:+.1} % stock for restock).",
                e.target,
                e.fill_rate,
                fmt_num(e.stock_value),
                fmt_num(*stock),
                -100.0 * r
            ),
            _ => format!(
                "At {}: restock fills {:.3}, outside the fill rates the baselines reach.",
                e.target, e.fill_rate
            ),
        })
        .collect();
    if let Some((b, ratio)) = &s.economic_cost_ratio {
        lines.push(format!(
            "At the economic setting restock's total cost is {ratio:.3} × {b}'s."
        ));
    }
    lines.push(format!(
        "Weeks over a budget or the warehouse, all policies and targets: {}.",
        s.limits_exceeded
    ));
    w.page.paragraph(&lines.join(" "));
    Ok(())
}

fn plan_section(w: &mut Writer, path: &Path, orders: Option<&Path>) -> Result<()> {
    let s: PlanSummary = read_json(path)?;
    w.page.section("Order plan");
    w.page.paragraph(&format!(
        "{} order lines, {} units for {} SKUs; solved by {}, status {}{}, {:.1} s.",
        s.order_lines,
        fmt_num(s.units_ordered),
        s.skus,
        s.how_solved(),
        s.status,
        s.gap_bound
            .map(|g| format!(", gap ≤ {:.2} %", 100.0 * g))
            .unwrap_or_default(),
        s.seconds
    ));
    let c = &s.costs;
    let cost_rows = vec![
        vec!["purchase".to_string(), fmt_num(c.purchase)],
        vec!["fixed order costs".to_string(), fmt_num(c.fixed_order)],
        vec!["holding".to_string(), fmt_num(c.holding)],
        vec!["shortage (lost demand)".to_string(), fmt_num(c.shortage)],
        vec![
            "below safety stock".to_string(),
            fmt_num(c.safety_shortfall),
        ],
        vec![
            "constraint violations".to_string(),
            fmt_num(c.constraint_violation),
        ],
        vec![
            "ending stock credit".to_string(),
            fmt_num(-c.salvage_credit),
        ],
        vec!["total".to_string(), fmt_num(c.total)],
    ];
    w.page.table(&["cost", "amount"], &cost_rows);
    w.csv("plan_costs", &["cost", "amount"], &cost_rows)?;
    if !s.weeks.is_empty() {
        let labels: Vec<String> = s.weeks.iter().map(|u| u.week.clone()).collect();
        let mut series = vec![(
            "spend".to_string(),
            s.weeks.iter().map(|u| u.spend).collect::<Vec<_>>(),
        )];
        if s.weeks.iter().any(|u| u.budget.is_some()) {
            series.push((
                "budget".to_string(),
                s.weeks
                    .iter()
                    .map(|u| u.budget.unwrap_or(f64::NAN))
                    .collect(),
            ));
        }
        w.chart(
            "plan_spend",
            charts::bars(
                "Planned purchases per order week against the budget",
                &labels,
                &series,
                "currency",
                (820, 300),
            )?,
        )?;
    }
    let header = [
        "constraint",
        "week",
        "used",
        "limit",
        "binding",
        "violated by",
        "shadow price",
    ];
    let rows: Vec<Vec<String>> = s
        .constraints
        .iter()
        .map(|k| {
            vec![
                k.name.clone(),
                k.week.clone(),
                fmt_num(k.used),
                fmt_num(k.limit),
                if k.binding { "yes" } else { "no" }.to_string(),
                fmt_num(k.violated_by),
                k.shadow_price
                    .map_or("–".to_string(), |p| format!("{p:.3}")),
            ]
        })
        .collect();
    if rows.is_empty() {
        w.page
            .paragraph("No shared constraint binds: every SKU gets what its costs call for.");
    } else {
        w.page.paragraph(
            "Constraints that bind: the shadow price is what one more unit of the limit would save.",
        );
        w.page.table(&header, &rows);
    }
    w.csv("plan_constraints", &header, &rows)?;
    if !s.skus_short.is_empty() {
        let units: f64 = s.skus_short.iter().map(|x| x.units_short).sum();
        w.page.paragraph(&format!(
            "{} SKUs are projected short by {} units of forecast demand in all.",
            s.skus_short.len(),
            fmt_num(units)
        ));
    }
    if let Some(orders) = orders {
        let t = Table::read(orders, &["reason", "cost"])?;
        let reasons = t.strings("reason")?;
        let cost = t.floats("cost")?;
        let mut by: BTreeMap<String, (usize, f64)> = BTreeMap::new();
        for (r, c) in reasons.iter().zip(&cost) {
            let e = by.entry(r.clone()).or_default();
            e.0 += 1;
            e.1 += c;
        }
        let rows: Vec<Vec<String>> = by
            .iter()
            .map(|(r, (n, c))| vec![r.clone(), n.to_string(), fmt_num(*c)])
            .collect();
        w.page.table(&["reason", "order lines", "cost"], &rows);
        w.csv("plan_reasons", &["reason", "order_lines", "cost"], &rows)?;
    }
    Ok(())
}
