//! One cycle of the weekly job, stage by stage:
//!
//! 1. **inputs**: the sales read whole and cut before the cycle's week (`weekly.parquet`), and a
//!    snapshot of stock, open orders and SKU parameters (`inputs/`), checked;
//! 2. **train**: last cycle's model fine-tuned on the new weeks, or trained from scratch
//!    ([`crate::model`]);
//! 3. **forecast**: the catalogue, with the protection calibration the planner reads;
//! 4. **plan**: the orders;
//! 5. **feedback**: alerts, and the earlier cycles' forecasts and orders scored ([`crate::feedback`]);
//! 6. **report**: `report.html`, the decision first;
//! 7. **publish**: the outputs into the database, in one transaction (with `[output]`);
//! 8. **record**: the cycle added to `cycles.json`.
//!
//! Every file is written whole and every stage recomputes what it needs from the stages before
//! (a finished model is reused, an interrupted one resumed), so a cycle killed anywhere and run
//! again ends with the same outputs as one never interrupted, and a week run twice replaces its
//! outputs.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use restock_core::Week;
use restock_data::WeeklyDataset;
use restock_infer::ForecastOptions;
use restock_planner::io::{self as plan_io, PlanFiles};
use restock_planner::{Plan, PlanConfig, PlanInputs};
use restock_train::Observer;
use restock_train::run::EpochMetrics;

use crate::alerts::{self, Alert, STOCKOUT_RISK};
use crate::config::JobConfig;
use crate::feedback::{self, HistoryRow};
use crate::model::{self, ModelUpdate};
use crate::record::{CycleRecord, JobDir, week_of};
use crate::report::{CycleReport, Previous};
use crate::{Error, Result, inputs};

/// The stages a cycle can be told to die after (`abort_at`), for the tests that kill it.
pub const ABORT_POINTS: [&str; 9] = [
    "inputs",
    "train-epoch",
    "train",
    "forecast",
    "plan",
    "feedback",
    "report",
    "publish-commit",
    "publish",
];

/// How to run a cycle.
#[derive(Debug, Clone, Default)]
pub struct CycleOptions {
    /// The cycle's week (a Monday): its first forecast and planned week; the sales are read up
    /// to the week before. Default: the week after the last week of sales.
    pub week: Option<chrono::NaiveDate>,
    /// Fault injection for the tests: die (`std::process::abort`, as a kill would) when this
    /// point of [`ABORT_POINTS`] is reached.
    pub abort_at: Option<String>,
}

/// What a cycle did.
#[derive(Debug, Clone)]
pub struct CycleSummary {
    /// The record written to `cycles.json`.
    pub record: CycleRecord,
    /// The cycle's folder.
    pub dir: PathBuf,
    /// How the model was updated.
    pub update: ModelUpdate,
    /// Rows written to the database, when the job writes there.
    pub rows_published: Option<u64>,
}

impl CycleOptions {
    fn checkpoint(&self, point: &str) {
        if self.abort_at.as_deref() == Some(point) {
            eprintln!("restock run: aborting at {point} (abort_at)");
            std::process::abort();
        }
    }
}

/// An observer that dies after the first epoch when told to, and passes everything on.
struct Killable<'a> {
    inner: &'a mut dyn Observer,
    options: &'a CycleOptions,
}

impl Observer for Killable<'_> {
    fn message(&mut self, text: &str) {
        self.inner.message(text);
    }
    fn epoch_start(&mut self, epoch: usize, epochs: usize, steps: usize) {
        self.inner.epoch_start(epoch, epochs, steps);
    }
    fn step(&mut self, step: usize, loss: f64) {
        self.inner.step(step, loss);
    }
    fn epoch_end(&mut self, metrics: &EpochMetrics, best: bool) {
        self.inner.epoch_end(metrics, best);
        self.options.checkpoint("train-epoch");
    }
}

/// Run one cycle of the job.
pub fn run_cycle(
    cfg: &JobConfig,
    options: &CycleOptions,
    observer: &mut dyn Observer,
) -> Result<CycleSummary> {
    if let Some(p) = &options.abort_at
        && !ABORT_POINTS.contains(&p.as_str())
    {
        return Err(Error::Config {
            path: cfg.dir.clone(),
            message: format!("abort_at {p:?} is none of {}", ABORT_POINTS.join(", ")),
        });
    }
    let job = JobDir::new(&cfg.dir);
    let records = job.cycles()?;
    let recorded: Vec<Week> = records.iter().map(week_of).collect::<Result<_>>()?;
    let plan_cfg = match &cfg.plan.config {
        Some(p) => PlanConfig::load(p)?,
        None => PlanConfig::default(),
    };

    // 1. inputs
    let asked = options
        .week
        .map(|day| {
            Week::from_monday(day).map_err(|_| Error::Week {
                week: day.to_string(),
                message: "not a Monday (a cycle's week is named by its Monday)".into(),
            })
        })
        .transpose()?;
    if let Some(week) = asked {
        check_order(week, &recorded)?;
    }
    observer.message("reading the sales");
    let (week, ds, _quality) = inputs::sales(cfg, asked)?;
    check_order(week, &recorded)?;
    let earlier: Vec<Week> = recorded.iter().copied().filter(|w| *w < week).collect();
    let previous = earlier.last().copied();
    let dir = job.cycle(week);
    observer.message(&format!(
        "cycle of the week of {week}: {} SKUs, sales up to the week of {}",
        ds.series.len(),
        ds.last_week
    ));
    let snapshot = inputs::snapshot(cfg, &plan_cfg, week, &dir.join("inputs"))?;
    let weekly = dir.join("weekly.parquet");
    ds.write(&weekly)?;
    options.checkpoint("inputs");

    // 2. train
    let base_dir = previous.map(|p| (p, job.run(p)));
    let update = model::update(
        cfg,
        &ds,
        &weekly,
        &job.run(week),
        base_dir.as_ref().map(|(w, d)| (*w, d.as_path())),
        &mut Killable {
            inner: observer,
            options,
        },
    )?;
    model::write_json(&dir.join("model.json"), &update)?;
    options.checkpoint("train");

    // 3. forecast
    let forecasts = dir.join("forecasts.parquet");
    let protection = dir.join("forecasts.parquet.protection.json");
    let horizon = restock_train::RunDir::open(&job.run(week))?
        .config()?
        .window
        .horizon;
    observer.message(&format!(
        "forecasting {} SKUs, {horizon} weeks",
        ds.series.len()
    ));
    restock_infer::forecast(
        &job.run(week),
        &weekly,
        &forecasts,
        &ForecastOptions {
            horizon,
            future: cfg.inputs.future.clone(),
            protection: Some(protection.clone()),
            ..ForecastOptions::default()
        },
        &mut |_, _, _| {},
    )?;
    options.checkpoint("forecast");

    // 4. plan
    observer.message("planning the orders");
    let files = PlanFiles {
        forecasts: forecasts.clone(),
        inventory: snapshot.inventory.clone(),
        open_orders: snapshot.open_orders.clone(),
        sku_params: snapshot.sku_params.clone(),
        protection: Some(protection),
    };
    let (plan_inputs, _warnings) = plan_io::load(&files, &plan_cfg)?;
    let plan = restock_planner::plan(&plan_inputs, &plan_cfg, &|_| {})?;
    plan_io::write(
        &plan,
        &dir.join("orders.csv"),
        &dir.join("orders.summary.json"),
    )?;
    options.checkpoint("plan");

    // 5. feedback
    let (alerts, history) = feedback_stage(cfg, &job, week, &earlier, &ds, &plan_inputs)?;
    options.checkpoint("feedback");

    // 6. report
    let html = report_stage(&job, week, &earlier, &plan, &alerts, &update, &history)?;
    restock_data::table::write_text(&dir.join("report.html"), &html)?;
    options.checkpoint("report");

    // 7. publish
    let record = record_of(week, &ds, &update, &plan, &alerts);
    let rows_published = publish_stage(
        cfg, week, &forecasts, &plan, &alerts, &history, &record, options,
    )?;
    options.checkpoint("publish");

    // 8. record
    job.record(record.clone())?;
    observer.message(&format!(
        "cycle {week} recorded: {} orders to place now, {} stock-out risks, {} overstocked",
        record.orders_now, record.stockout_alerts, record.overstock_alerts
    ));
    Ok(CycleSummary {
        record,
        dir,
        update,
        rows_published,
    })
}

/// Cycles run in order: a week older than the last recorded cycle is refused (running the last
/// one again replaces its outputs).
fn check_order(week: Week, recorded: &[Week]) -> Result<()> {
    match recorded.last() {
        Some(last) if week < *last => Err(Error::Week {
            week: week.to_string(),
            message: format!(
                "older than the last recorded cycle, {last}: cycles run in order (run {last} again \
                 to replace its outputs, or a later week)"
            ),
        }),
        _ => Ok(()),
    }
}

/// Alerts and history rows of the cycle, written to `alerts.csv` and `history.csv`.
fn feedback_stage(
    cfg: &JobConfig,
    job: &JobDir,
    week: Week,
    earlier: &[Week],
    ds: &WeeklyDataset,
    plan_inputs: &PlanInputs,
) -> Result<(Vec<Alert>, Vec<HistoryRow>)> {
    let dir = job.cycle(week);
    let alerts = alerts::alerts(plan_inputs, cfg.alerts.overstock_weeks);
    restock_data::table::write(&mut alerts::frame(&alerts)?, &dir.join("alerts.csv"))?;
    let class_of: HashMap<String, char> = restock_backtest::classes::classify(ds, ds.last_week)
        .into_iter()
        .map(|c| (c.unique_id, c.abc))
        .collect();
    let mut history = feedback::accuracy(job, week, earlier, ds, &class_of)?;
    if let Some(previous) = earlier.last() {
        history.extend(feedback::service(
            job,
            week,
            *previous,
            ds,
            &class_of,
            cfg.alerts.overstock_weeks,
        )?);
    }
    restock_data::table::write(&mut feedback::frame(&history)?, &dir.join("history.csv"))?;
    Ok((alerts, history))
}

/// The decision-first report, with every cycle's history so far.
fn report_stage(
    job: &JobDir,
    week: Week,
    earlier: &[Week],
    plan: &Plan,
    alerts: &[Alert],
    update: &ModelUpdate,
    history: &[HistoryRow],
) -> Result<String> {
    let mut all_history = Vec::new();
    for w in earlier {
        all_history.extend(read_history(job, *w)?);
    }
    all_history.extend(history.iter().cloned());
    let before = match earlier.last() {
        Some(p) => read_previous(job, *p)?,
        None => Previous::default(),
    };
    Ok(CycleReport {
        week,
        orders: &plan.orders,
        alerts,
        update,
        previous: &before,
        history: &all_history,
        summary: &plan.summary,
    }
    .html())
}

/// The outputs into the database, when `[output]` names a table prefix.
#[allow(clippy::too_many_arguments)]
fn publish_stage(
    cfg: &JobConfig,
    week: Week,
    forecasts: &std::path::Path,
    plan: &Plan,
    alerts: &[Alert],
    history: &[HistoryRow],
    record: &CycleRecord,
    options: &CycleOptions,
) -> Result<Option<u64>> {
    let (Some(prefix), Some(db)) = (&cfg.output.table_prefix, &cfg.database) else {
        return Ok(None);
    };
    let forecast_frame = restock_data::table::scan(forecasts)?
        .collect()
        .map_err(|e| Error::file(forecasts, e))?;
    let frames = [
        forecast_frame,
        plan_io::orders_frame(&plan.orders)?,
        alerts::frame(alerts)?,
        feedback::frame(history)?,
    ];
    let die = || options.checkpoint("publish-commit");
    crate::publish::publish(db, prefix, week, frames, record, Some(&die)).map(Some)
}

fn record_of(
    week: Week,
    ds: &WeeklyDataset,
    update: &ModelUpdate,
    plan: &Plan,
    alerts: &[Alert],
) -> CycleRecord {
    let now: Vec<_> = plan
        .orders
        .iter()
        .filter(|o| o.order_week == week)
        .collect();
    let risks = alerts.iter().filter(|a| a.alert == STOCKOUT_RISK).count();
    CycleRecord {
        cycle: week.to_string(),
        data_end: ds.last_week.to_string(),
        skus: ds.series.len(),
        model: update.mode.clone(),
        valid_loss: update.valid_loss,
        orders_now: now.len(),
        orders_now_cost: now.iter().map(|o| o.cost).sum(),
        order_lines: plan.orders.len(),
        stockout_alerts: risks,
        overstock_alerts: alerts.len() - risks,
    }
}

/// A recorded cycle's history rows.
fn read_history(job: &JobDir, week: Week) -> Result<Vec<HistoryRow>> {
    let path = job.cycle(week).join("history.csv");
    let df = restock_data::table::scan(&path)?
        .collect()
        .map_err(|e| Error::file(&path, e))?;
    let col = |name: &str| feedback::strings(&df, name, &path);
    let (scored, kind, model, class, metric) = (
        col("scored_cycle")?,
        col("kind")?,
        col("model")?,
        col("class")?,
        col("metric")?,
    );
    let value = feedback::numbers(&df, "value", &path)?;
    Ok((0..df.height())
        .map(|i| HistoryRow {
            cycle: week.to_string(),
            scored_cycle: scored[i].clone(),
            kind: kind[i].clone(),
            model: model[i].clone(),
            class: class[i].clone(),
            metric: metric[i].clone(),
            value: value[i],
        })
        .collect())
}

/// What the previous cycle decided: its orders to place then and its stock-out risks.
fn read_previous(job: &JobDir, week: Week) -> Result<Previous> {
    let dir = job.cycle(week);
    let orders_path = dir.join("orders.csv");
    let orders = restock_data::table::scan(&orders_path)?
        .collect()
        .map_err(|e| Error::file(&orders_path, e))?;
    let ids = feedback::strings(&orders, "unique_id", &orders_path)?;
    let order_weeks = feedback::weeks(&orders, "order_ds", &orders_path)?;
    let quantity = feedback::numbers(&orders, "quantity", &orders_path)?;
    let mut orders_now = HashMap::new();
    for i in 0..ids.len() {
        if order_weeks[i] == week {
            *orders_now.entry(ids[i].clone()).or_insert(0.0) += quantity[i];
        }
    }
    let alerts_path = dir.join("alerts.csv");
    let alerts = restock_data::table::scan(&alerts_path)?
        .collect()
        .map_err(|e| Error::file(&alerts_path, e))?;
    let alert_ids = feedback::strings(&alerts, "unique_id", &alerts_path)?;
    let kinds = feedback::strings(&alerts, "alert", &alerts_path)?;
    let risks: BTreeSet<String> = alert_ids
        .into_iter()
        .zip(kinds)
        .filter(|(_, k)| k == STOCKOUT_RISK)
        .map(|(id, _)| id)
        .collect();
    Ok(Previous {
        week: Some(week),
        orders_now,
        risks,
    })
}
