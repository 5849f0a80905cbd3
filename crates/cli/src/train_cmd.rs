//! `restock train`: a config-driven training run, with per-epoch progress and a test evaluation.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::ProgressBar;
use restock_train::config::BackendKind;
use restock_train::run::EpochMetrics;
use restock_train::{Observer, Prepared, RunDir, SessionOptions, TrainConfig};

use crate::progress::Progress;

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["config", "resume"])))]
pub(crate) struct TrainArgs {
    /// Training config (TOML); see configs/train/.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Continue an interrupted run from its last finished epoch.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["config", "out", "force", "backend"])]
    pub(crate) resume: Option<PathBuf>,
    /// Run directory; default checkpoints/<name from the config>.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Replace an existing run.
    #[arg(long)]
    pub(crate) force: bool,
    /// Override the config's backend: auto, cpu, ndarray or wgpu.
    #[arg(long, value_parser = parse_backend)]
    pub(crate) backend: Option<BackendKind>,
    /// Skip the evaluation on the held-out test weeks.
    #[arg(long)]
    pub(crate) no_eval: bool,
    /// Stop after this many epochs in total, leaving the run resumable (for experiments).
    #[arg(long, hide = true)]
    pub(crate) stop_after_epoch: Option<usize>,
}

pub(crate) fn parse_backend(s: &str) -> std::result::Result<BackendKind, String> {
    match s {
        "auto" => Ok(BackendKind::Auto),
        "cpu" => Ok(BackendKind::Cpu),
        "ndarray" => Ok(BackendKind::Ndarray),
        "wgpu" => Ok(BackendKind::Wgpu),
        other => Err(format!(
            "unknown backend {other:?}; use auto, cpu, ndarray or wgpu"
        )),
    }
}

/// Train a config (not from a file) into `dir`, evaluate it, and return the run directory.
pub(crate) fn train_config(
    config: TrainConfig,
    dir: PathBuf,
    progress: &mut Progress,
) -> Result<PathBuf> {
    let problems = config.problems();
    if !problems.is_empty() {
        bail!("training config: {}", problems.join("; "));
    }
    progress.stage("loading data");
    let prepared = Prepared::load(&config)?;
    let run = RunDir::create(&dir, false)?;
    let mut observer = EpochBars::new(progress.is_quiet());
    let (summary, trees) = restock_train::train_with_trees(
        &config,
        &run,
        &prepared,
        &SessionOptions::default(),
        &mut observer,
    )?;
    observer.clear();
    progress.done(&format!(
        "{}: best validation loss {:.5} at epoch {} of {} ({:.1} s/epoch)",
        run.path().display(),
        summary.best_valid_loss,
        summary.best_epoch,
        summary.epochs,
        summary.seconds_per_epoch
    ));
    finish_run(&run, &prepared, trees, true, progress)?;
    Ok(run.path().to_path_buf())
}

/// The run directory of a finished `train`.
pub(crate) fn train(args: TrainArgs, progress: &mut Progress) -> Result<PathBuf> {
    let options = SessionOptions {
        stop_after_epoch: args.stop_after_epoch,
        ..SessionOptions::default()
    };
    let mut observer = EpochBars::new(progress.is_quiet());
    let (run, prepared, summary, trees) = if let Some(dir) = &args.resume {
        let run = RunDir::open(dir)?;
        let config = run.config()?;
        progress.stage(&format!("loading data for run {}", dir.display()));
        let prepared = Prepared::load(&config)?;
        progress.done("data loaded");
        let summary = restock_train::resume(&run, &prepared, &options, &mut observer)?;
        (run, prepared, summary, None)
    } else {
        let path = args
            .config
            .as_ref()
            .context("--config or --resume is required")?;
        let mut config = TrainConfig::load(path)?;
        if let Some(b) = args.backend {
            config.backend.kind = b;
        }
        let dir = args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("checkpoints").join(&config.name));
        progress.stage("loading data");
        let prepared = Prepared::load(&config)?;
        progress.done(&format!(
            "{} SKUs, weeks {} .. {}",
            prepared.dataset.series.len(),
            prepared.dataset.first_week,
            prepared.dataset.last_week
        ));
        let run = RunDir::create(&dir, args.force)?;
        let (summary, trees) =
            restock_train::train_with_trees(&config, &run, &prepared, &options, &mut observer)?;
        (run, prepared, summary, trees)
    };
    observer.clear();
    progress.done(&format!(
        "{}: best validation loss {:.5} at epoch {} of {} ({}); {:.1} s/epoch, {:.0} windows/s",
        run.path().display(),
        summary.best_valid_loss,
        summary.best_epoch,
        summary.epochs,
        summary.stop_reason,
        summary.seconds_per_epoch,
        summary.windows_per_second
    ));
    let finished = run.state()?.is_some_and(|s| s.finished);
    if summary.best_epoch == 0 {
        bail!("no epoch finished; nothing to evaluate");
    }
    if finished {
        finish_run(&run, &prepared, trees, !args.no_eval, progress)?;
    }
    Ok(run.path().to_path_buf())
}

/// After training: calibrate the quantiles, fit the trees unless `trees` says how they were
/// fitted beside the network, choose how the run serves, then (with `evaluate` and test weeks)
/// score the run on its test weeks and print the table.
fn finish_run(
    run: &RunDir,
    prepared: &Prepared,
    trees: Option<restock_train::RunTrees>,
    evaluate: bool,
    progress: &mut Progress,
) -> Result<()> {
    calibrate_run(run, prepared, progress)?;
    fit_trees(run, prepared, trees, progress)?;
    progress.stage("choosing how the run serves: the network alone or with TSB / AutoETS / trees");
    let serving = restock_train::select_serving(run, prepared, 4096)?;
    let scores: Vec<String> = serving
        .candidates
        .iter()
        .map(|c| format!("{} {:.4}", c.name(), c.pinball))
        .collect();
    // The least score, when it was not served: its gain over the reference was within the noise.
    let reference = serving.candidates.get(serving.reference);
    let least = serving
        .candidates
        .iter()
        .min_by(|a, b| a.pinball.total_cmp(&b.pinball));
    let within_noise = match (reference, least) {
        (Some(n), Some(l)) if l.name() != serving.name() => format!(
            "; {} scored least, but its gain {:.4} over {} is within {} × its standard error ({:.4})",
            l.name(),
            n.pinball - l.pinball,
            n.name(),
            restock_train::select::SIGNIFICANCE,
            l.gain_se
        ),
        _ => String::new(),
    };
    progress.done(&format!(
        "serving {} (validation pinball, {} windows: {}{within_noise})",
        serving.name(),
        serving.windows,
        scores.join(", ")
    ));
    if evaluate && run.config()?.data.test_weeks > 0 {
        progress.stage("evaluating on the test weeks");
        let evaluation = restock_train::evaluate(run, prepared, 4096)?;
        progress.done("evaluation written to evaluation.json");
        if !progress.is_quiet() {
            eprint!("{}", evaluation.table());
        }
    }
    Ok(())
}

/// Fit and report the run's gradient-boosted trees (`[trees]`, on by default), or report those
/// `fitted` beside the network.
fn fit_trees(
    run: &RunDir,
    prepared: &Prepared,
    fitted: Option<restock_train::RunTrees>,
    progress: &mut Progress,
) -> Result<()> {
    let (fit, when) = match fitted {
        Some(t) if t.beside_network => (t.fit, " beside the network"),
        Some(t) => (t.fit, ""),
        None => {
            progress.stage("fitting gradient-boosted trees (LightGBM) on the same weeks");
            (restock_train::fit_trees(run, prepared)?, "")
        }
    };
    match fit {
        restock_train::TreeFit::Fitted(r) => progress.done(&format!(
            "trees: {} rounds on {} rows in {:.1} s{when}; validation WAPE of their mean {:.4} on {} rows",
            r.rounds, r.rows, r.seconds, r.valid_wape, r.valid_rows
        )),
        restock_train::TreeFit::Disabled => progress.done("trees: off ([trees] enabled = false)"),
        restock_train::TreeFit::TooLittleData(why) => {
            progress.done(&format!("trees: not fitted, the run serves without them ({why})"))
        }
    }
    Ok(())
}

/// Fit and report the quantile calibration of a finished run.
fn calibrate_run(run: &RunDir, prepared: &Prepared, progress: &mut Progress) -> Result<()> {
    progress.stage("calibrating the quantiles on the validation weeks");
    let c = restock_train::calibrate(run, prepared, 4096)?;
    let pct = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{:.0} %", 100.0 * x))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    progress.done(&format!(
        "quantiles calibrated on {} validation windows: targets at or below each level {} before, {} after",
        c.windows,
        pct(&c.coverage_before),
        pct(&c.coverage_after)
    ));
    Ok(())
}

#[derive(Debug, Args)]
pub(crate) struct CalibrateArgs {
    /// A finished training run (checkpoints/<run>).
    #[arg(long)]
    run: PathBuf,
    /// Skip the evaluation on the test weeks afterwards.
    #[arg(long)]
    no_eval: bool,
    /// Also write the trees' training, validation and test rows and LightGBM's predictions on
    /// them into this directory, for another boosting library to be measured on the same rows
    /// (`scripts/bench_gbdt.sh`).
    #[arg(long, value_name = "DIR")]
    export_tree_rows: Option<PathBuf>,
}

/// Calibrate (or recalibrate) a finished run's quantiles, fit its trees again, choose how it
/// serves, then evaluate it again.
pub(crate) fn calibrate(args: CalibrateArgs, progress: &mut Progress) -> Result<()> {
    let run = RunDir::open(&args.run)?;
    if !run.state()?.is_some_and(|s| s.finished) {
        bail!(
            "{}: training has not finished; resume it with `restock train --resume`",
            args.run.display()
        );
    }
    let config = run.config()?;
    progress.stage(&format!("loading data for run {}", args.run.display()));
    let prepared = Prepared::load(&config)?;
    finish_run(&run, &prepared, None, !args.no_eval, progress)?;
    if let Some(dir) = &args.export_tree_rows {
        progress.stage(&format!("writing the trees' rows to {}", dir.display()));
        let r = restock_train::export_tree_rows(&run, &prepared, dir)?;
        progress.done(&format!(
            "rows written: {} training, {} validation, {} test (LightGBM: {} rounds in {:.1} s)",
            r.rows[0], r.rows[1], r.rows[2], r.rounds, r.seconds
        ));
    }
    Ok(())
}

/// One progress bar per epoch on a terminal; a line every 10 s and per epoch otherwise.
pub(crate) struct EpochBars {
    quiet: bool,
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Instant,
    epoch: usize,
    epochs: usize,
    steps: usize,
    loss: f64,
}

impl EpochBars {
    pub(crate) fn new(quiet: bool) -> Self {
        EpochBars {
            quiet,
            bar: None,
            started: Instant::now(),
            last_line: Instant::now(),
            epoch: 0,
            epochs: 0,
            steps: 0,
            loss: f64::NAN,
        }
    }

    pub(crate) fn clear(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }

    fn line(&self, text: &str) {
        eprintln!("[{:>7.1}s] {text}", self.started.elapsed().as_secs_f64());
    }
}

impl Observer for EpochBars {
    fn message(&mut self, text: &str) {
        if !self.quiet {
            self.line(text);
        }
    }

    fn warning(&mut self, text: &str) {
        // As `restock plan` prints its warnings: whether or not progress is shown.
        if let Some(b) = &self.bar {
            b.suspend(|| eprintln!("warning: {text}"));
        } else {
            eprintln!("warning: {text}");
        }
    }

    fn epoch_start(&mut self, epoch: usize, epochs: usize, steps: usize) {
        (self.epoch, self.epochs, self.steps) = (epoch, epochs, steps);
        self.last_line = Instant::now();
        if self.quiet || !std::io::stderr().is_terminal() {
            return;
        }
        let bar = ProgressBar::new(steps as u64);
        bar.set_style(crate::progress::style(
            "epoch {prefix} [{elapsed_precise}] {bar:30} {pos}/{len} steps, {msg} (eta {eta})",
        ));
        bar.set_prefix(format!("{epoch}/{epochs}"));
        bar.enable_steady_tick(Duration::from_millis(250));
        self.bar = Some(bar);
    }

    fn step(&mut self, step: usize, loss: f64) {
        // An exponential moving average reads better than single-batch noise.
        self.loss = if self.loss.is_finite() {
            0.95 * self.loss + 0.05 * loss
        } else {
            loss
        };
        if let Some(b) = &self.bar {
            b.set_position(step as u64);
            b.set_message(format!("loss {:.4}", self.loss));
        } else if !self.quiet && self.last_line.elapsed() > Duration::from_secs(10) {
            self.line(&format!(
                "epoch {}/{}: step {step}/{}, loss {:.4}",
                self.epoch, self.epochs, self.steps, self.loss
            ));
            self.last_line = Instant::now();
        }
    }

    fn epoch_end(&mut self, m: &EpochMetrics, best: bool) {
        self.clear();
        if !self.quiet {
            self.line(&format!(
                "epoch {}/{}: train {:.5}, valid {:.5}{}, lr {:.1e}, {:.1} s, {:.0} windows/s",
                m.epoch,
                self.epochs,
                m.train_loss,
                m.valid_loss,
                if best { " (best)" } else { "" },
                m.learning_rate,
                m.seconds,
                m.windows_per_second
            ));
        }
    }
}
