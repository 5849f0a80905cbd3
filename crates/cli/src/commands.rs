//! Subcommands: raw arguments become checked settings before any work starts.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use restock_data::synth::{SynthCatalogue, SynthConfig};
use restock_data::{IngestConfig, Preset, QualityReport, WeeklyDataset};

use crate::progress::Progress;

/// restock: learn weekly demand per SKU and turn it into replenishment orders.
#[derive(Debug, Parser)]
#[command(name = "restock", version, about)]
pub(crate) struct Cli {
    /// Print no progress.
    #[arg(long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a seeded synthetic catalogue (sales, calendar, truth, inventory, SKU parameters).
    Synth(SynthArgs),
    /// Validate, clean and aggregate raw sales to a weekly dataset with a quality report.
    Ingest(IngestArgs),
    /// Train the demand model from a config (or resume a run) and evaluate it on the test weeks.
    Train(crate::train_cmd::TrainArgs),
    /// Calibrate a finished run's quantiles on its validation weeks (training does it too).
    Calibrate(crate::train_cmd::CalibrateArgs),
    /// Forecast every SKU from a training run (network, or statistical fallbacks).
    Forecast(crate::forecast_cmd::ForecastArgs),
    /// Plan replenishment orders from forecasts, stock and constraints.
    Plan(crate::plan_cmd::PlanArgs),
    /// Rolling-origin accuracy of a run and the statistical baselines on held-out weeks.
    Backtest(crate::backtest_cmd::BacktestArgs),
    /// Replay actual demand under restock's plans and an order-up-to policy.
    Simulate(crate::backtest_cmd::SimulateArgs),
    /// Write the decision-support report (HTML with charts, and the CSVs behind it).
    Report(crate::report_cmd::ReportArgs),
    /// Run the whole job on a synthetic catalogue generated on the spot.
    Demo(crate::demo_cmd::DemoArgs),
    /// One week of the weekly job from a job config: inputs, model update, forecasts, orders,
    /// feedback, alerts, report, and the outputs written back; idempotent per week.
    Run(crate::run_cmd::RunArgs),
    /// Load a file (CSV or Parquet: sales, forecasts, orders) into a PostgreSQL or MySQL/MariaDB
    /// table in one transaction, replacing the table or one cycle's rows.
    DbLoad(DbLoadArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DbLoadArgs {
    /// The file to load (all its columns, as text).
    #[arg(long)]
    input: PathBuf,
    /// `postgres` or `mysql`.
    #[arg(long)]
    kind: String,
    /// The environment variable holding the connection URL.
    #[arg(long, default_value = "RESTOCK_DATABASE_URL")]
    url_env: String,
    /// The table (created if it does not exist).
    #[arg(long)]
    table: String,
    /// The weekly cycle the rows belong to (YYYY-MM-DD): they get a `cycle` column, and the
    /// table's rows of that cycle are replaced, the others kept (loading a cycle twice leaves
    /// one copy). Without it the whole table is replaced.
    #[arg(long)]
    cycle: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct SynthArgs {
    /// Number of SKUs.
    #[arg(long, default_value_t = 200)]
    skus: usize,
    /// Weeks of history.
    #[arg(long, default_value_t = 156)]
    weeks: usize,
    /// Future weeks kept as truth.
    #[arg(long, default_value_t = 8)]
    horizon: usize,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Write no dirty rows (duplicates, returns, blank prices).
    #[arg(long)]
    clean: bool,
    /// Write only a weekly dataset (`weekly.parquet`) of simple seasonal series, built directly:
    /// for inference benchmarks on large catalogues.
    #[arg(long)]
    weekly_only: bool,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// Ingest config (TOML); see configs/ingest/.
    #[arg(long, conflicts_with = "preset")]
    config: Option<PathBuf>,
    /// A preset for a known data set: m5 or online-retail.
    #[arg(long, requires = "input")]
    preset: Option<String>,
    /// The data set for a preset (a folder or its main file), or a file overriding the config's source.
    #[arg(long)]
    input: Option<PathBuf>,
    /// The weekly dataset to write (.parquet or .csv).
    #[arg(long)]
    out: PathBuf,
    /// The quality report (JSON); default: <out>.quality.json.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Replace existing outputs.
    #[arg(long)]
    force: bool,
}

impl SynthArgs {
    pub(crate) fn new(skus: usize, weeks: usize, horizon: usize, seed: u64, out: PathBuf) -> Self {
        SynthArgs {
            skus,
            weeks,
            horizon,
            seed,
            clean: false,
            weekly_only: false,
            out,
        }
    }
}

impl IngestArgs {
    pub(crate) fn from_config(config: PathBuf, out: PathBuf) -> Self {
        IngestArgs {
            config: Some(config),
            preset: None,
            input: None,
            out,
            report: None,
            force: false,
        }
    }
}

pub(crate) fn run(cli: Cli) -> Result<()> {
    let mut progress = Progress::new(cli.quiet);
    match cli.command {
        Command::Synth(a) if a.weekly_only => synth_weekly(&a, &mut progress),
        Command::Synth(a) => synth(a, &mut progress).map(|_| ()),
        Command::Ingest(a) => ingest(a, &mut progress).map(|_| ()),
        Command::Train(a) => crate::train_cmd::train(a, &mut progress).map(|_| ()),
        Command::Calibrate(a) => crate::train_cmd::calibrate(a, &mut progress),
        Command::Forecast(a) => crate::forecast_cmd::forecast(a, &mut progress).map(|_| ()),
        Command::Plan(a) => crate::plan_cmd::plan(a, &mut progress).map(|_| ()),
        Command::Backtest(a) => crate::backtest_cmd::backtest(a, &mut progress).map(|_| ()),
        Command::Simulate(a) => crate::backtest_cmd::simulate(a, &mut progress).map(|_| ()),
        Command::Report(a) => crate::report_cmd::report(a, &mut progress).map(|_| ()),
        Command::Demo(a) => crate::demo_cmd::demo(a, &mut progress),
        Command::Run(a) => crate::run_cmd::run(a, &mut progress),
        Command::DbLoad(a) => db_load(&a, &mut progress),
    }
}

fn db_load(a: &DbLoadArgs, progress: &mut Progress) -> Result<()> {
    use restock_data::config::{DatabaseKind, DatabaseSource};
    let kind = match a.kind.as_str() {
        "postgres" | "postgresql" => DatabaseKind::Postgres,
        "mysql" | "mariadb" => DatabaseKind::Mysql,
        other => bail!("--kind {other:?}: expected postgres or mysql"),
    };
    let db = DatabaseSource {
        kind,
        url_env: a.url_env.clone(),
        table: a.table.clone(),
    };
    let cycle = a
        .cycle
        .as_deref()
        .map(|c| {
            chrono::NaiveDate::parse_from_str(c, "%Y-%m-%d")
                .with_context(|| format!("--cycle {c:?}: expected YYYY-MM-DD"))
        })
        .transpose()?;
    progress.stage(&format!("loading {} into {}", a.input.display(), a.table));
    let n = restock_data::database::load_file(&db, &a.input, cycle)?;
    progress.done(&format!(
        "{n} rows in {}",
        restock_data::database::location(&db).display()
    ));
    Ok(())
}

/// Refuse to replace an existing output unless `--force`.
pub(crate) fn check_output(path: &Path, force: bool) -> Result<()> {
    if path.exists() && !force {
        bail!(
            "{} already exists; pass --force to replace it",
            path.display()
        );
    }
    Ok(())
}

fn synth_weekly(a: &SynthArgs, progress: &mut Progress) -> Result<()> {
    progress.stage(&format!(
        "generating {} weekly series x {} weeks",
        a.skus, a.weeks
    ));
    let ds = restock_data::synth::weekly_catalogue(a.skus, a.weeks, a.seed)?;
    let path = a.out.join("weekly.parquet");
    progress.stage(&format!("writing {}", path.display()));
    ds.write(&path)?;
    progress.done(&format!(
        "{}: {} SKUs, {} rows",
        path.display(),
        a.skus,
        ds.rows()
    ));
    Ok(())
}

pub(crate) fn synth(a: SynthArgs, progress: &mut Progress) -> Result<SynthCatalogue> {
    let mut cfg = SynthConfig {
        skus: a.skus,
        weeks: a.weeks,
        horizon: a.horizon,
        seed: a.seed,
        ..Default::default()
    };
    cfg.dirty = !a.clean;
    progress.stage(&format!(
        "generating {} SKUs x {} weeks (seed {})",
        cfg.skus, cfg.weeks, cfg.seed
    ));
    let cat = SynthCatalogue::generate(&cfg)?;
    progress.stage(&format!("writing {}", a.out.display()));
    cat.write(&a.out)
        .with_context(|| format!("writing the synthetic catalogue to {}", a.out.display()))?;
    let (first, last) = cat.history();
    progress.done(&format!(
        "synthetic catalogue in {}: {} SKUs, history {first} .. {last}, {} future weeks of truth",
        a.out.display(),
        cfg.skus,
        cfg.horizon
    ));
    Ok(cat)
}

pub(crate) fn ingest(
    a: IngestArgs,
    progress: &mut Progress,
) -> Result<(WeeklyDataset, QualityReport)> {
    let report_path = a
        .report
        .clone()
        .unwrap_or_else(|| a.out.with_extension("quality.json"));
    check_output(&a.out, a.force)?;
    check_output(&report_path, a.force)?;
    progress.stage("reading, validating and aggregating to weeks");
    let (ds, report) = match (&a.config, &a.preset) {
        (Some(path), None) => {
            let mut cfg = IngestConfig::load(path)?;
            if let Some(input) = &a.input {
                cfg.source.path = input.clone();
            }
            restock_data::ingest(&cfg)?
        }
        (None, Some(preset)) => {
            let preset: Preset = preset.parse()?;
            let input = a.input.as_ref().context("--preset needs --input")?;
            preset.ingest(input)?
        }
        _ => {
            bail!("give either --config <file.toml> or --preset <m5|online-retail> --input <path>")
        }
    };
    progress.stage(&format!("writing {}", a.out.display()));
    ds.write(&a.out)?;
    let json = serde_json::to_string_pretty(&report)?;
    restock_data::table::write_text(&report_path, &json)?;
    progress.done(&format!(
        "weekly dataset {} and quality report {}",
        a.out.display(),
        report_path.display()
    ));
    if !progress.is_quiet() {
        eprint!("{}", report.summary());
    }
    Ok((ds, report))
}
