//! `restock demo`: the whole job on a catalogue generated on the spot, with the configs built
//! into the binary. It drives the other commands' modules; none of them uses it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use crate::commands::{IngestArgs, SynthArgs};
use crate::plan_cmd::PlanArgs;
use crate::progress::Progress;

/// The model the demo trains.
const DEMO_TRAIN: &str = include_str!("../../../configs/train/demo.toml");

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where to write everything.
    #[arg(long, default_value = "out/demo")]
    out: PathBuf,
    /// SKUs in the synthetic catalogue.
    #[arg(long, default_value_t = 300)]
    skus: usize,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Replace an existing demo folder.
    #[arg(long)]
    force: bool,
}

/// synth -> ingest -> train -> forecast -> plan -> backtest -> simulate -> report on a catalogue
/// generated on the spot.
pub(crate) fn demo(a: DemoArgs, progress: &mut Progress) -> Result<()> {
    if a.out.exists() {
        if !a.force {
            anyhow::bail!(
                "{} already exists; pass --force to replace it",
                a.out.display()
            );
        }
        std::fs::remove_dir_all(&a.out).with_context(|| format!("removing {}", a.out.display()))?;
    }
    let data = a.out.join("data");
    crate::commands::synth(
        SynthArgs::new(a.skus, 156, 8, a.seed, data.clone()),
        progress,
    )?;
    let weekly = a.out.join("weekly.parquet");
    crate::commands::ingest(
        IngestArgs::from_config(data.join("ingest.toml"), weekly.clone()),
        progress,
    )?;
    // Train the network on the history (its last 8 weeks held out and scored against the
    // baselines), then forecast the 8 weeks after the history for every SKU and plan from them.
    let mut train =
        restock_train::TrainConfig::parse(DEMO_TRAIN, Path::new("configs/train/demo.toml"))?;
    train.data.weekly = Some(weekly.clone());
    train.seed = a.seed;
    let run = crate::train_cmd::train_config(train, a.out.join("run"), progress)?;
    let forecasts = a.out.join("forecasts.parquet");
    // The forecasts know the promotion plan, prices and events of those weeks, as a buyer would.
    let mut forecast_args =
        crate::forecast_cmd::ForecastArgs::new(run.clone(), weekly.clone(), 8, forecasts.clone());
    forecast_args.future = Some(data.join("known_future.csv"));
    crate::forecast_cmd::forecast(forecast_args, progress)?;
    let plan_args = PlanArgs::builtin(
        forecasts,
        data.join("inventory.csv"),
        Some(data.join("open_orders.csv")),
        data.join("sku_params.csv"),
        weekly.clone(),
        a.out.join("orders.csv"),
    );
    crate::plan_cmd::plan(plan_args, progress)?;
    // How good is it? Accuracy from three cutoffs in the weeks the network was not fitted on,
    // and the last 16 weeks replayed under restock's plans and an order-up-to policy.
    let backtest = a.out.join("backtest");
    let mut bt =
        crate::backtest_cmd::BacktestArgs::new(run.clone(), weekly.clone(), backtest.clone());
    bt.group_by = Some("category".into());
    crate::backtest_cmd::backtest(bt, progress)?;
    let simulation = a.out.join("simulation");
    let mut sim = crate::backtest_cmd::SimulateArgs::new(
        run,
        weekly.clone(),
        data.join("sku_params.csv"),
        simulation.clone(),
    );
    sim.weeks = 16;
    // And every policy at two more service targets: the report's trade-off chart.
    sim.service_levels = vec!["0.8".into(), "economic".into()];
    // 16 plans per target, each held to 250 price steps (about 0.5 s here; its gap is in the
    // summary) rather than to a time: the demo's figures are then the same on every machine.
    // The time limit is only a safety net (docs/benchmarks.md, session 19).
    sim.max_price_steps = Some(250);
    sim.time_limit = Some(30.0);
    crate::backtest_cmd::simulate(sim, progress)?;
    let report = crate::report_cmd::report(
        crate::report_cmd::ReportArgs {
            data: weekly,
            backtest: Some(backtest),
            simulation: Some(simulation),
            plan_summary: Some(a.out.join("orders.summary.json")),
            orders: Some(a.out.join("orders.csv")),
            fans: 4,
            title: "restock demo: synthetic catalogue".into(),
            out: a.out.join("report"),
            force: false,
        },
        progress,
    )?;
    eprintln!(
        "demo outputs in {}; open the report: {}",
        a.out.display(),
        report.html.display()
    );
    Ok(())
}
