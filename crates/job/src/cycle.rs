//! One cycle of the weekly job, in three steps, each a list of stages:
//!
//! - **model** — *inputs*: the sales read whole and cut before the cycle's week
//!   (`weekly.parquet`) and a snapshot of stock, open orders and SKU parameters (`inputs/`),
//!   checked; *train*: last cycle's model fine-tuned on the new weeks, or trained from scratch
//!   ([`crate::model`]);
//! - **shard** `I/N` (SKUs by a hash of their id, as `restock forecast --shard`) — *forecast*
//!   the shard's SKUs with the protection calibration the planner reads; *plan* their orders;
//!   their alerts (`shards/I-of-N/`, `done.json` last);
//! - **finish** — the shards' outputs merged (`forecasts.parquet`, `orders.csv`, `alerts.csv`);
//!   *feedback*: the earlier cycles' forecasts and orders scored ([`crate::feedback`]);
//!   *report*: `report.html`, the decision first; *publish*: the outputs into the database in
//!   one transaction (with `[output]`); *record*: the cycle added to `cycles.json`.
//!
//! `restock run` runs the three for one shard; on several machines, the model step once, the
//! shards in parallel (an Indexed Job), then the finish step (docs/sharding.md).
//!
//! Every file is written whole and every stage recomputes what it needs from the stages before
//! (a finished model is reused, an interrupted one resumed), so a cycle killed anywhere and run
//! again ends with the same outputs as one never interrupted, and a week run twice replaces its
//! outputs.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use polars::prelude::*;
use restock_core::Week;
use restock_data::WeeklyDataset;
use restock_infer::{ForecastOptions, Shard};
use restock_planner::io::{self as plan_io, PlanFiles};
use restock_planner::{PlanConfig, PlanSummary};
use restock_train::Observer;
use restock_train::run::EpochMetrics;
use serde::{Deserialize, Serialize};

use crate::alerts::{self, STOCKOUT_RISK};
use crate::config::JobConfig;
use crate::feedback::{self, HistoryRow, numbers, strings, weeks};
use crate::model::{self, ModelUpdate, read_json, write_json};
use crate::record::{CycleRecord, JobDir, parse_week, week_of};
use crate::report::{CycleReport, OrderRow, Previous};
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

/// Which part of a cycle to run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Step {
    /// The whole cycle on one machine.
    #[default]
    All,
    /// Inputs and the model only.
    Model,
    /// Forecast, plan and alerts of one shard of the SKUs (the week's model step done).
    Shard(Shard),
    /// Merge the outputs of this many shards, score, report, publish, record.
    Finish(usize),
}

/// How to run a cycle.
#[derive(Debug, Clone, Default)]
pub struct CycleOptions {
    /// The cycle's week (a Monday): its first forecast and planned week; the sales are read up
    /// to the week before. Default: the week after the last week of sales (the model step) or
    /// the week of the last model trained (the shard and finish steps).
    pub week: Option<chrono::NaiveDate>,
    /// Which part of the cycle.
    pub step: Step,
    /// Fault injection for the tests: die (`std::process::abort`, as a kill would) when this
    /// point of [`ABORT_POINTS`] is reached.
    pub abort_at: Option<String>,
}

/// What a cycle (or a step of it) did.
#[derive(Debug, Clone)]
pub struct CycleSummary {
    /// The cycle's week.
    pub week: Week,
    /// The cycle's folder.
    pub dir: PathBuf,
    /// How the model was updated (the model step).
    pub update: Option<ModelUpdate>,
    /// The record written to `cycles.json` (the finish step).
    pub record: Option<CycleRecord>,
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

/// An observer that dies after an epoch when told to, and passes everything on.
struct Killable<'a> {
    inner: &'a mut dyn Observer,
    options: &'a CycleOptions,
}

impl Observer for Killable<'_> {
    fn message(&mut self, text: &str) {
        self.inner.message(text);
    }
    fn warning(&mut self, text: &str) {
        self.inner.warning(text);
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

/// What every step of a cycle reads.
struct Context<'a> {
    cfg: &'a JobConfig,
    job: JobDir,
    /// The weeks of the recorded cycles, oldest first.
    recorded: Vec<Week>,
    plan_cfg: PlanConfig,
    options: &'a CycleOptions,
}

/// Run a cycle of the job, or one step of it.
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
    // One cycle step at a time per job, one process per shard: the OS drops the lock when the
    // process ends, killed or not.
    let _lock = match options.step {
        Step::Shard(s) => job.lock(&format!("shard-{}-of-{}.lock", s.index, s.count))?,
        _ => job.lock("job.lock")?,
    };
    let recorded: Vec<Week> = job.cycles()?.iter().map(week_of).collect::<Result<_>>()?;
    let plan_cfg = match &cfg.plan.config {
        Some(p) => PlanConfig::load(p)?,
        None => PlanConfig::default(),
    };
    let cx = Context {
        cfg,
        job,
        recorded,
        plan_cfg,
        options,
    };
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
        check_order(week, &cx.recorded)?;
    }
    let (week, update) = match options.step {
        Step::All | Step::Model => {
            let (week, update) = model_step(&cx, asked, observer)?;
            (week, Some(update))
        }
        Step::Shard(_) | Step::Finish(_) => (model_week(&cx.job, asked)?, None),
    };
    let mut summary = CycleSummary {
        week,
        dir: cx.job.cycle(week),
        update,
        record: None,
        rows_published: None,
    };
    let shards = match options.step {
        Step::Model => return Ok(summary),
        Step::Shard(shard) => {
            shard_step(&cx, week, shard, observer)?;
            return Ok(summary);
        }
        Step::All => {
            shard_step(&cx, week, Shard { index: 0, count: 1 }, observer)?;
            1
        }
        Step::Finish(n) => n,
    };
    finish_step(&cx, week, shards, observer, &mut summary)?;
    Ok(summary)
}

/// The week of the model the shard and finish steps use: the one asked, which must have been
/// trained, or the latest trained.
fn model_week(job: &JobDir, asked: Option<Week>) -> Result<Week> {
    if let Some(week) = asked {
        return Ok(week);
    }
    let dir = job.root().join("cycles");
    let mut trained: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().join("model.json").is_file())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    trained.sort();
    let last = trained.pop().ok_or_else(|| Error::Week {
        week: "(none given)".into(),
        message: format!(
            "no model trained in {}: run the model step first",
            dir.display()
        ),
    })?;
    parse_week(&last)
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

/// Inputs and model: the week, and how its model came about (`model.json`).
fn model_step(
    cx: &Context<'_>,
    asked: Option<Week>,
    observer: &mut dyn Observer,
) -> Result<(Week, ModelUpdate)> {
    let (cfg, job, options) = (cx.cfg, &cx.job, cx.options);
    observer.message("reading the sales");
    let (week, ds, _quality) = inputs::sales(cfg, asked)?;
    check_order(week, &cx.recorded)?;
    let previous = cx.recorded.iter().copied().rfind(|w| *w < week);
    let dir = job.cycle(week);
    observer.message(&format!(
        "cycle of the week of {week}: {} SKUs, sales up to the week of {}",
        ds.series.len(),
        ds.last_week
    ));
    inputs::snapshot(cfg, &cx.plan_cfg, week, &dir.join("inputs"))?;
    let weekly = dir.join("weekly.parquet");
    ds.write(&weekly)?;
    options.checkpoint("inputs");

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
    write_json(&dir.join("model.json"), &update)?;
    options.checkpoint("train");
    Ok((week, update))
}

/// What a finished shard step leaves last in its folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ShardDone {
    index: usize,
    count: usize,
    /// The model it forecast with (`ModelUpdate::fingerprint`).
    model: String,
}

fn shard_dir(job: &JobDir, week: Week, shard: Shard) -> PathBuf {
    job.cycle(week)
        .join("shards")
        .join(format!("{}-of-{}", shard.index, shard.count))
}

/// Forecast, plan and alerts of one shard.
fn shard_step(
    cx: &Context<'_>,
    week: Week,
    shard: Shard,
    observer: &mut dyn Observer,
) -> Result<()> {
    let (cfg, job, options, plan_cfg) = (cx.cfg, &cx.job, cx.options, &cx.plan_cfg);
    let cycle = job.cycle(week);
    let update: ModelUpdate = read_json(&cycle.join("model.json"))?.ok_or_else(|| Error::Week {
        week: week.to_string(),
        message: "no model for this week: run its model step first".into(),
    })?;
    let dir = shard_dir(job, week, shard);
    let _ = std::fs::remove_file(dir.join("done.json"));
    let snapshot = inputs::Snapshot::of(&cycle.join("inputs"))?;
    let run = job.run(week);
    let horizon = restock_train::RunDir::open(&run)?.config()?.window.horizon;
    let forecasts = dir.join("forecasts.parquet");
    let protection = dir.join("forecasts.parquet.protection.json");
    observer.message(&format!(
        "forecasting shard {}/{}, {horizon} weeks",
        shard.index, shard.count
    ));
    restock_infer::forecast(
        &run,
        &cycle.join("weekly.parquet"),
        &forecasts,
        &ForecastOptions {
            horizon,
            shard: (shard.count > 1).then_some(shard),
            future: snapshot.future.clone(),
            protection: Some(protection.clone()),
            ..ForecastOptions::default()
        },
        &mut |_, _, _| {},
    )?;
    options.checkpoint("forecast");

    observer.message("planning the orders");
    let files = PlanFiles {
        forecasts,
        inventory: snapshot.inventory,
        open_orders: snapshot.open_orders,
        sku_params: snapshot.sku_params,
        protection: Some(protection),
        // How often each SKU sold lately, for its lost-sales level.
        history: Some(cycle.join("weekly.parquet")),
    };
    let (plan_inputs, warnings) = plan_io::load(&files, plan_cfg)?;
    for w in &warnings {
        observer.warning(w);
    }
    let plan = restock_planner::plan(&plan_inputs, plan_cfg, &|_| {})?;
    let mut orders = plan_io::orders_frame(&plan.orders)?;
    restock_data::table::write(&mut orders, &dir.join("orders.parquet"))?;
    write_json(&dir.join("orders.summary.json"), &plan.summary)?;
    let alerts = alerts::alerts(&plan_inputs, cfg.alerts.overstock_weeks);
    restock_data::table::write(&mut alerts::frame(&alerts)?, &dir.join("alerts.parquet"))?;
    options.checkpoint("plan");
    write_json(
        &dir.join("done.json"),
        &ShardDone {
            index: shard.index,
            count: shard.count,
            model: update.fingerprint,
        },
    )
}

/// The shards' tables, concatenated in shard order.
fn concat(dirs: &[PathBuf], name: &str) -> Result<DataFrame> {
    let mut all: Option<DataFrame> = None;
    for d in dirs {
        let path = d.join(name);
        let df = restock_data::table::scan(&path)?
            .collect()
            .map_err(|e| Error::file(&path, e))?;
        match &mut all {
            None => all = Some(df),
            Some(a) => {
                a.vstack_mut(&df).map_err(|e| Error::file(&path, e))?;
            }
        }
    }
    all.ok_or_else(|| Error::file(Path::new(name), "no shard"))
}

/// Merge the shards, score, report, publish and record the cycle.
fn finish_step(
    cx: &Context<'_>,
    week: Week,
    count: usize,
    observer: &mut dyn Observer,
    summary: &mut CycleSummary,
) -> Result<()> {
    let (cfg, job, options) = (cx.cfg, &cx.job, cx.options);
    let dir = job.cycle(week);
    let update: ModelUpdate = read_json(&dir.join("model.json"))?.ok_or_else(|| Error::Week {
        week: week.to_string(),
        message: "no model for this week: run its model step first".into(),
    })?;
    let shards: Vec<PathBuf> = (0..count)
        .map(|index| shard_dir(job, week, Shard { index, count }))
        .collect();
    let missing: Vec<String> = shards
        .iter()
        .enumerate()
        .filter(|(_, d)| {
            read_json::<ShardDone>(&d.join("done.json"))
                .ok()
                .flatten()
                .is_none_or(|done| done.model != update.fingerprint)
        })
        .map(|(i, _)| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Week {
            week: week.to_string(),
            message: format!(
                "shards {} have not finished with this week's model",
                missing.join(", ")
            ),
        });
    }
    let mut forecasts = concat(&shards, "forecasts.parquet")?;
    restock_data::table::write(&mut forecasts, &dir.join("forecasts.parquet"))?;
    let protection = shards[0].join("forecasts.parquet.protection.json");
    let bytes = std::fs::read(&protection).map_err(|e| Error::file(&protection, e))?;
    inputs::write_bytes(&dir.join("forecasts.parquet.protection.json"), &bytes)?;
    let mut orders = concat(&shards, "orders.parquet")?;
    restock_data::table::write(&mut orders, &dir.join("orders.csv"))?;
    let mut alert_frame = concat(&shards, "alerts.parquet")?;
    restock_data::table::write(&mut alert_frame, &dir.join("alerts.csv"))?;
    let summaries = shards
        .iter()
        .map(|d| {
            read_json::<PlanSummary>(&d.join("orders.summary.json"))?
                .ok_or_else(|| Error::file(d, "no orders.summary.json"))
        })
        .collect::<Result<Vec<_>>>()?;

    let earlier: Vec<Week> = cx.recorded.iter().copied().filter(|w| *w < week).collect();
    let ds = WeeklyDataset::read(&dir.join("weekly.parquet"))?;
    let history = feedback_stage(cfg, job, week, &earlier, &ds)?;
    options.checkpoint("feedback");

    let order_rows = order_rows(&orders, &dir.join("orders.csv"))?;
    let alert_rows = alerts::rows(&alert_frame, &dir.join("alerts.csv"))?;
    let html = report_stage(
        job,
        week,
        &earlier,
        &order_rows,
        &alert_rows,
        &update,
        &history,
        &summaries,
    )?;
    restock_data::table::write_text(&dir.join("report.html"), &html)?;
    options.checkpoint("report");

    let now: Vec<&OrderRow> = order_rows.iter().filter(|o| o.order_week == week).collect();
    let risks = alert_rows
        .iter()
        .filter(|a| a.alert == STOCKOUT_RISK)
        .count();
    let record = CycleRecord {
        cycle: week.to_string(),
        data_end: ds.last_week.to_string(),
        skus: ds.series.len(),
        model: update.mode.clone(),
        valid_loss: update.valid_loss,
        orders_now: now.len(),
        orders_now_cost: now.iter().map(|o| o.cost).sum(),
        order_lines: order_rows.len(),
        stockout_alerts: risks,
        overstock_alerts: alert_rows.len() - risks,
        plan_status: summaries
            .iter()
            .map(|s| s.status)
            .max()
            .unwrap_or_default()
            .to_string(),
        units_ordered: summaries.iter().map(|s| s.units_ordered).sum(),
        purchase_cost: summaries.iter().map(|s| s.costs.purchase).sum(),
        holding_cost: summaries.iter().map(|s| s.costs.holding).sum(),
        shortage_cost: summaries.iter().map(|s| s.costs.shortage).sum(),
        total_cost: summaries.iter().map(|s| s.costs.total).sum(),
    };
    if let (Some(prefix), Some(db)) = (&cfg.output.table_prefix, &cfg.database) {
        let frames = [forecasts, orders, alert_frame, feedback::frame(&history)?];
        let die = || options.checkpoint("publish-commit");
        summary.rows_published = Some(crate::publish::publish(
            db,
            prefix,
            week,
            frames,
            &record,
            Some(&die),
        )?);
    }
    options.checkpoint("publish");

    job.record(record.clone())?;
    let pruned = job.prune(cfg.train.keep_runs)?;
    if !pruned.is_empty() {
        observer.message(&format!(
            "removed the model runs and weekly data of cycles {}",
            pruned.join(", ")
        ));
    }
    observer.message(&format!(
        "cycle {week} recorded: {} orders to place now, {} stock-out risks, {} overstocked",
        record.orders_now, record.stockout_alerts, record.overstock_alerts
    ));
    summary.record = Some(record);
    summary.update = Some(update);
    Ok(())
}

/// The earlier cycles' forecasts and last cycle's orders scored, written to `history.csv`.
fn feedback_stage(
    cfg: &JobConfig,
    job: &JobDir,
    week: Week,
    earlier: &[Week],
    ds: &WeeklyDataset,
) -> Result<Vec<HistoryRow>> {
    let class_of: HashMap<String, char> = restock_backtest::classes::classify(ds, ds.last_week)
        .into_iter()
        .map(|c| (c.unique_id, c.abc))
        .collect();
    // The forecast horizon of the job's model, as its training config gives it now.
    let horizon = restock_train::TrainConfig::load(&cfg.train.config)?
        .window
        .horizon;
    let mut history = feedback::accuracy(job, week, earlier, horizon, ds, &class_of)?;
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
    let path = job.cycle(week).join("history.csv");
    restock_data::table::write(&mut feedback::frame(&history)?, &path)?;
    Ok(history)
}

/// The decision-first report, with every cycle's history so far.
#[allow(clippy::too_many_arguments)]
fn report_stage(
    job: &JobDir,
    week: Week,
    earlier: &[Week],
    orders: &[OrderRow],
    alerts: &[alerts::Alert],
    update: &ModelUpdate,
    history: &[HistoryRow],
    summaries: &[PlanSummary],
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
        orders,
        alerts,
        update,
        previous: &before,
        history: &all_history,
        summaries,
    }
    .html())
}

/// Order lines of an orders table.
fn order_rows(df: &DataFrame, path: &Path) -> Result<Vec<OrderRow>> {
    let ids = strings(df, "unique_id", path)?;
    let order_weeks = weeks(df, "order_ds", path)?;
    let arrival_weeks = weeks(df, "arrival_ds", path)?;
    let quantity = numbers(df, "quantity", path)?;
    let cases = numbers(df, "cases", path)?;
    let cost = numbers(df, "cost", path)?;
    let reason = strings(df, "reason", path)?;
    Ok((0..ids.len())
        .map(|i| OrderRow {
            unique_id: ids[i].clone(),
            order_week: order_weeks[i],
            arrival_week: arrival_weeks[i],
            quantity: quantity[i],
            cases: cases[i],
            cost: cost[i],
            reason: reason[i].clone(),
        })
        .collect())
}

/// A recorded cycle's history rows.
fn read_history(job: &JobDir, week: Week) -> Result<Vec<HistoryRow>> {
    let path = job.cycle(week).join("history.csv");
    let df = restock_data::table::scan(&path)?
        .collect()
        .map_err(|e| Error::file(&path, e))?;
    let col = |name: &str| strings(&df, name, &path);
    let (scored, kind, model, class, metric) = (
        col("scored_cycle")?,
        col("kind")?,
        col("model")?,
        col("class")?,
        col("metric")?,
    );
    let value = numbers(&df, "value", &path)?;
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
    let mut orders_now = HashMap::new();
    for o in order_rows(&orders, &orders_path)? {
        if o.order_week == week {
            *orders_now.entry(o.unique_id).or_insert(0.0) += o.quantity;
        }
    }
    let alerts_path = dir.join("alerts.csv");
    let alerts = restock_data::table::scan(&alerts_path)?
        .collect()
        .map_err(|e| Error::file(&alerts_path, e))?;
    let alert_ids = strings(&alerts, "unique_id", &alerts_path)?;
    let kinds = strings(&alerts, "alert", &alerts_path)?;
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
