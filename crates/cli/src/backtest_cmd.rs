//! `restock backtest` and `restock simulate`: how accurate the forecasts are, and what the plans
//! do to service, stock and cost, on history the run has not been fitted on.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use restock_backtest::{
    BacktestOptions, BacktestSummary, RunWeeks, Shortage, SimulationOptions, SimulationSummary,
};
use restock_data::WeeklyDataset;
use restock_infer::Network;
use restock_train::RunDir;
use restock_train::config::BackendKind;

use crate::progress::Progress;

#[derive(Debug, Args)]
pub(crate) struct BacktestArgs {
    /// The training run (checkpoints/<run>).
    #[arg(long)]
    pub(crate) run: PathBuf,
    /// The weekly dataset (from `restock ingest`).
    #[arg(long)]
    pub(crate) data: PathBuf,
    /// Number of cutoffs.
    #[arg(long, default_value_t = 3)]
    pub(crate) windows: usize,
    /// Weeks between two cutoffs.
    #[arg(long, default_value_t = 4)]
    pub(crate) step: usize,
    /// Weeks forecast from each cutoff (at most the run's horizon).
    #[arg(long, default_value_t = 8)]
    pub(crate) horizon: usize,
    /// Fewest weeks of history before a cutoff for a series to be scored.
    #[arg(long, default_value_t = 20)]
    pub(crate) min_history: usize,
    /// A static attribute to break accuracy down by (e.g. cat_id).
    #[arg(long)]
    pub(crate) group_by: Option<String>,
    /// Weeks of protection interval (lead time + review period) over which demand is checked
    /// against the planner's order-up-to level at each service level.
    #[arg(long, default_value_t = 3)]
    pub(crate) protection_weeks: usize,
    /// Score cutoffs inside the run's training weeks too (optimistic: the network has seen them).
    #[arg(long)]
    pub(crate) allow_in_sample: bool,
    /// Also score cold starts: launch curves fitted on the SKUs launched up to this week
    /// (YYYY-MM-DD) against the moving average, on the SKUs launched after it, at ages 1, 2, 4
    /// and 8 weeks (cold_start.json).
    #[arg(long, value_name = "DATE", value_parser = parse_week_arg)]
    pub(crate) cold_start_split: Option<restock_core::Week>,
    /// Override the run's backend: auto, cpu, ndarray or wgpu.
    #[arg(long, value_parser = crate::train_cmd::parse_backend)]
    pub(crate) backend: Option<BackendKind>,
    /// Serve the network's SKUs with the mean of its quantiles and these forecasters', e.g.
    /// tsb,auto_ets, or lightgbm for the run's gradient-boosted trees (`ensemble` in the model
    /// column); `alone` among them leaves the network out (lightgbm,alone: the trees alone);
    /// `none` for the network alone; default: the run's choice on its validation weeks
    /// (serving.json).
    #[arg(long, value_delimiter = ',', value_name = "MODELS")]
    pub(crate) combine: Vec<String>,
    /// Output folder: backtest.json, accuracy.csv, scores.parquet, forecasts.parquet.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Replace an existing output folder.
    #[arg(long)]
    pub(crate) force: bool,
}

impl BacktestArgs {
    pub(crate) fn new(run: PathBuf, data: PathBuf, out: PathBuf) -> Self {
        BacktestArgs {
            run,
            data,
            windows: 3,
            step: 4,
            horizon: 8,
            min_history: 20,
            group_by: None,
            protection_weeks: 3,
            allow_in_sample: false,
            cold_start_split: None,
            backend: None,
            combine: Vec::new(),
            out,
            force: false,
        }
    }
}

/// Refuse to write into an existing non-empty folder unless `force`.
fn check_folder(path: &Path, force: bool) -> Result<()> {
    let non_empty = path
        .read_dir()
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if non_empty && !force {
        bail!(
            "{} already exists and is not empty; pass --force to replace its files",
            path.display()
        );
    }
    Ok(())
}

/// `--combine`: nothing given keeps the run's choice (`None`), `none` is the network alone.
pub(crate) fn members(combine: &[String]) -> Option<Vec<String>> {
    match combine {
        [] => None,
        [one] if one.trim() == "none" => Some(Vec::new()),
        names => Some(names.to_vec()),
    }
}

fn load(
    run: &Path,
    data: &Path,
    backend: Option<BackendKind>,
    combine: &[String],
    progress: &mut Progress,
) -> Result<(Network, RunWeeks, WeeklyDataset)> {
    progress.stage(&format!("loading {} and {}", run.display(), data.display()));
    let dir = RunDir::open(run)?;
    let summary = dir.summary()?;
    let weeks = RunWeeks::of(summary.as_ref());
    if weeks.train_end.is_none() {
        eprintln!(
            "warning: {} does not record its training weeks; cutoffs cannot be checked for leakage",
            run.display()
        );
    }
    let mut network = Network::open(run, backend)?;
    if let Some(m) = members(combine) {
        let (members, with_network) = restock_infer::parse_serving(&m)?;
        network.serve(members, with_network)?;
    }
    let ds = WeeklyDataset::read(data)?;
    Ok((network, weeks, ds))
}

pub(crate) fn backtest(a: BacktestArgs, progress: &mut Progress) -> Result<BacktestSummary> {
    check_folder(&a.out, a.force)?;
    let (network, weeks, ds) = load(&a.run, &a.data, a.backend, &a.combine, progress)?;
    // Cold starts need only the data: a bad split fails before the backtest runs.
    let cold = a
        .cold_start_split
        .map(|split| restock_backtest::cold_start(&ds, split, &[1, 2, 4, 8], a.horizon))
        .transpose()?;
    let options = BacktestOptions {
        windows: a.windows,
        step: a.step,
        horizon: a.horizon,
        min_history: a.min_history,
        allow_in_sample: a.allow_in_sample,
        group_by: a.group_by.clone(),
        protection_weeks: a.protection_weeks,
        ..Default::default()
    };
    let result = {
        let mut counter = progress.counter(
            &format!(
                "backtest: {} cutoffs x {} SKUs, {} models",
                a.windows,
                ds.series.len(),
                2 + restock_stats::Baseline::NAMES.len() + usize::from(network.trees().is_some())
            ),
            a.windows as u64,
        );
        restock_backtest::backtest(&network, weeks, &ds, &options, &mut |done, _| {
            counter.set(done as u64)
        })
        .with_context(|| format!("backtesting {} on {}", a.run.display(), a.data.display()))?
    };
    progress.stage(&format!("writing {}", a.out.display()));
    result.write(&ds, &a.out)?;
    progress.done(&format!("backtest in {}", a.out.display()));
    if !progress.is_quiet() {
        eprint!("{}", result.summary.table());
    }
    if let Some(c) = cold {
        let path = a.out.join("cold_start.json");
        restock_data::table::write_text(&path, &serde_json::to_string_pretty(&c)?)?;
        if !progress.is_quiet() {
            eprint!("{}", c.table());
        }
    }
    Ok(result.summary)
}

/// A `YYYY-MM-DD` date: the week that contains it.
fn parse_week_arg(text: &str) -> std::result::Result<restock_core::Week, String> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(restock_core::Week::containing)
        .map_err(|e| format!("{text:?} is not a YYYY-MM-DD date: {e}"))
}

/// What unserved demand becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ShortageArg {
    /// Lost.
    LostSales,
    /// Served later, first.
    Backorders,
}

#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    /// The training run (checkpoints/<run>).
    #[arg(long)]
    pub(crate) run: PathBuf,
    /// The weekly dataset (from `restock ingest`): its last --weeks weeks are replayed.
    #[arg(long)]
    pub(crate) data: PathBuf,
    /// Plan config (TOML), as for `restock plan`; without it, the built-in configs/plan/default.toml.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// SKU parameters (as for `restock plan`); SKUs missing from it take their unit price from
    /// the data's last price and a unit cost of (1 - --margin) x price.
    #[arg(long)]
    pub(crate) sku_params: Option<PathBuf>,
    /// Gross margin assumed for SKUs without a row in --sku-params.
    #[arg(long, default_value_t = 0.3)]
    pub(crate) margin: f64,
    /// Unit price of SKUs with neither a row in --sku-params nor a price in the data.
    #[arg(long)]
    pub(crate) default_price: Option<f64>,
    /// Weeks to replay.
    #[arg(long, default_value_t = 8)]
    pub(crate) weeks: usize,
    /// Unserved demand is lost (default) or backordered.
    #[arg(long, value_enum, default_value_t = ShortageArg::LostSales)]
    pub(crate) shortage: ShortageArg,
    /// Simulate weeks inside the run's training weeks too.
    #[arg(long)]
    pub(crate) allow_in_sample: bool,
    /// Set restock's order-up-to levels by the normal rule with independent weeks instead of
    /// its calibrated protection-interval quantiles (for comparison).
    #[arg(long)]
    pub(crate) normal_protection: bool,
    /// Override the config's solver: highs or microlp.
    #[arg(long)]
    pub(crate) solver: Option<String>,
    /// Override the config's planner time limit per plan, seconds (its price search; the
    /// planner runs once per review week).
    #[arg(long)]
    pub(crate) time_limit: Option<f64>,
    /// Hold each plan's price search to at most this many steps (the config's
    /// solver.max_price_steps): a limit of work, so that the replay comes out the same on any
    /// machine as long as the time limit is not reached first.
    #[arg(long)]
    pub(crate) max_price_steps: Option<usize>,
    /// Override the run's backend: auto, cpu, ndarray or wgpu.
    #[arg(long, value_parser = crate::train_cmd::parse_backend)]
    pub(crate) backend: Option<BackendKind>,
    /// Serve the network's SKUs with the mean of its quantiles and these forecasters', e.g.
    /// tsb,auto_ets, or lightgbm for the run's gradient-boosted trees (`ensemble` in the model
    /// column); `alone` among them leaves the network out (lightgbm,alone: the trees alone);
    /// `none` for the network alone; default: the run's choice on its validation weeks
    /// (serving.json).
    #[arg(long, value_delimiter = ',', value_name = "MODELS")]
    pub(crate) combine: Vec<String>,
    /// Also replay every policy at each of these service targets (cycle service levels,
    /// `economic` for each SKU's critical ratio, or `fill:<rate>` for an aggregate fill rate
    /// that restock reaches with per-SKU levels), e.g. 0.8,0.9,0.95,0.98,economic,fill:0.95, and
    /// compare restock with the better baseline at equal fill rate: sweep.json and a table.
    #[arg(long, value_delimiter = ',', value_name = "TARGETS")]
    pub(crate) service_levels: Vec<String>,
    /// Output folder: simulation.json, weekly.csv, trajectories.parquet (and sweep.json).
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Replace an existing output folder.
    #[arg(long)]
    pub(crate) force: bool,
}

impl SimulateArgs {
    pub(crate) fn new(run: PathBuf, data: PathBuf, sku_params: PathBuf, out: PathBuf) -> Self {
        SimulateArgs {
            run,
            data,
            config: None,
            sku_params: Some(sku_params),
            margin: 0.3,
            default_price: None,
            weeks: 8,
            shortage: ShortageArg::LostSales,
            allow_in_sample: false,
            normal_protection: false,
            solver: None,
            time_limit: None,
            max_price_steps: None,
            backend: None,
            combine: Vec::new(),
            service_levels: Vec::new(),
            out,
            force: false,
        }
    }
}

pub(crate) fn simulate(a: SimulateArgs, progress: &mut Progress) -> Result<SimulationSummary> {
    check_folder(&a.out, a.force)?;
    if !(0.0..1.0).contains(&a.margin) {
        bail!("--margin must be in [0, 1), got {}", a.margin);
    }
    if let Some(p) = a.default_price
        && !(p > 0.0 && p.is_finite())
    {
        bail!("--default-price must be a positive number, got {p}");
    }
    let targets: Vec<restock_backtest::ServiceTarget> = a
        .service_levels
        .iter()
        .map(|t| restock_backtest::ServiceTarget::parse(t))
        .collect::<std::result::Result<_, _>>()
        .context("--service-levels")?;
    let mut cfg = crate::plan_cmd::plan_config(a.config.as_deref(), true)?;
    if let Some(s) = &a.solver {
        cfg.solver.backend = crate::plan_cmd::parse_solver(s)?;
    }
    if let Some(t) = a.time_limit {
        if !(t > 0.0 && t.is_finite()) {
            bail!("--time-limit must be a positive number of seconds, got {t}");
        }
        cfg.solver.time_limit_seconds = t;
    }
    if let Some(n) = a.max_price_steps {
        if n == 0 {
            bail!("--max-price-steps must be at least 1, got 0");
        }
        cfg.solver.max_price_steps = Some(n);
    }
    let (network, weeks, ds) = load(&a.run, &a.data, a.backend, &a.combine, progress)?;
    let start = ds.last_week.offset(1 - a.weeks as i64);
    let mut params = restock_backtest::simulate::params_from_prices(
        &ds,
        start.offset(-1),
        a.margin,
        a.default_price,
        &cfg,
    );
    if let Some(path) = &a.sku_params {
        params.extend(restock_planner::io::read_sku_params(path, &cfg)?);
    }
    let options = SimulationOptions {
        weeks: a.weeks,
        shortage: match a.shortage {
            ShortageArg::LostSales => Shortage::LostSales,
            ShortageArg::Backorders => Shortage::Backorders,
        },
        allow_in_sample: a.allow_in_sample,
        calibrate_protection: !a.normal_protection,
        ..Default::default()
    };
    let inputs = restock_backtest::ReplayInputs {
        network: &network,
        run_weeks: weeks,
        ds: &ds,
        params: &params,
        cfg: &cfg,
    };
    // Each week's forecasts, made once for the simulation and every target of the sweep.
    let mut memo = restock_backtest::ReplayMemo::default();
    let result = {
        let mut counter = progress.counter(
            &format!(
                "simulating {} weeks: restock (forecast + planner) vs order-up-to",
                a.weeks
            ),
            a.weeks as u64,
        );
        restock_backtest::simulate_with(inputs, &options, &mut memo, &mut |done, _| {
            counter.set(done as u64)
        })
        .with_context(|| format!("simulating {} on {}", a.run.display(), a.data.display()))?
    };
    progress.stage(&format!("writing {}", a.out.display()));
    result.write(&a.out)?;
    progress.done(&format!("simulation in {}", a.out.display()));
    if !progress.is_quiet() {
        eprint!("{}", result.summary.table());
    }
    if !targets.is_empty() {
        let sweep = {
            let mut counter = progress.counter(
                &format!(
                    "replaying every policy at {} service targets",
                    targets.len()
                ),
                targets.len() as u64,
            );
            restock_backtest::sweep(inputs, &options, &targets, &mut memo, &mut |done, _| {
                counter.set(done as u64)
            })
            .with_context(|| format!("sweeping {} on {}", a.run.display(), a.data.display()))?
        };
        sweep.write(&a.out)?;
        progress.done(&format!(
            "trade-off sweep in {}",
            a.out.join("sweep.json").display()
        ));
        if !progress.is_quiet() {
            eprint!("{}", sweep.table());
        }
    }
    Ok(result.summary)
}
