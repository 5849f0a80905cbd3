//! The cycle's model: last cycle's network fine-tuned on the new weeks, or trained from scratch.
//!
//! A fine-tuning starts from last cycle's best weights with a fresh optimiser and a lower
//! learning rate, and keeps its best epoch on the latest weeks (the run's validation weeks). It
//! is thrown away for a full training when it scores worse than last cycle's model on those same
//! weeks. A cycle killed while training resumes its run from the last finished epoch (training
//! runs resume exactly), and a cycle run again on the same data reuses its finished model.

use std::path::Path;

use restock_core::Week;
use restock_data::WeeklyDataset;
use restock_train::{Observer, Prepared, RunDir, SessionOptions, TrainConfig, TreeFit};
use serde::{Deserialize, Serialize};

use crate::config::{JobConfig, Retrain};
use crate::inputs::write_bytes;
use crate::{Error, Result};

/// How the cycle's model came about (`<run>/job.json`, and `model.json` in the cycle's folder).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelUpdate {
    /// `fine_tuned` or `retrained`.
    pub mode: String,
    /// Why.
    pub reason: String,
    /// The cycle whose model was fine-tuned (or compared with).
    pub base: Option<String>,
    /// That model's validation loss on this cycle's latest weeks.
    pub base_loss: Option<f64>,
    /// The fine-tuned model's, when one was trained.
    pub fine_tuned_loss: Option<f64>,
    /// The served model's.
    pub valid_loss: f64,
    /// Epochs trained this cycle (the last attempt).
    pub epochs: usize,
    /// How the run serves after this cycle's choice (`network`, `network+lightgbm`,
    /// `lightgbm alone`, ...; empty in cycles recorded before it was).
    #[serde(default)]
    pub served: String,
    /// Boosting rounds of the trees refitted this cycle (none: trees off).
    #[serde(default)]
    pub trees_rounds: Option<usize>,
    /// Of the data and settings it was trained on: a cycle run again on the same reuses it.
    pub fingerprint: String,
}

/// What a training attempt is, recorded before it starts (`runs/<week>.attempt.json`), so a
/// killed cycle resumes the same attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Attempt {
    fine_tune: bool,
    reason: String,
    base: Option<String>,
    base_loss: Option<f64>,
    fine_tuned_loss: Option<f64>,
    fingerprint: String,
}

/// The training config of the cycle: the job's config on the cycle's weekly data, no test weeks.
fn cycle_config(cfg: &JobConfig, weekly: &Path) -> Result<TrainConfig> {
    let mut tc = TrainConfig::load(&cfg.train.config)?;
    tc.data.weekly = Some(weekly.to_path_buf());
    tc.data.source = None;
    tc.data.preset = None;
    tc.data.test_weeks = 0;
    let problems = tc.problems();
    if !problems.is_empty() {
        return Err(Error::Config {
            path: cfg.train.config.clone(),
            message: problems.join("; "),
        });
    }
    Ok(tc)
}

/// The fine-tuning variant of a training config.
fn fine_tune_config(cfg: &JobConfig, tc: &TrainConfig) -> TrainConfig {
    let mut ft = tc.clone();
    ft.optim.epochs = cfg.train.fine_tune_epochs;
    ft.optim.patience = cfg.train.fine_tune_epochs;
    ft.optim.warmup_steps = 0;
    ft.optim.learning_rate = cfg
        .train
        .fine_tune_learning_rate
        .unwrap_or(tc.optim.learning_rate / 3.0);
    ft.optim.min_learning_rate = ft.optim.min_learning_rate.min(ft.optim.learning_rate);
    ft
}

/// FNV-1a of the weekly data, the training config and the job's training settings.
pub(crate) fn fingerprint(ds: &WeeklyDataset, tc: &TrainConfig, cfg: &JobConfig) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for s in &ds.series {
        eat(s.unique_id.as_bytes());
        eat(&s.start.day_number().to_le_bytes());
        for v in s.y.iter().chain(s.covariates.iter().flatten()) {
            eat(&v.to_bits().to_le_bytes());
        }
        for a in &s.statics {
            eat(a.as_bytes());
        }
    }
    let mut settings = tc.clone();
    settings.data.weekly = None;
    eat(settings.to_toml().as_bytes());
    eat(format!("{:?}", cfg.train.retrain).as_bytes());
    eat(&cfg.train.fine_tune_epochs.to_le_bytes());
    eat(&cfg
        .train
        .fine_tune_learning_rate
        .unwrap_or(0.0)
        .to_bits()
        .to_le_bytes());
    format!("{h:016x}")
}

/// Train (or reuse, or resume) the cycle's model in `run_dir`, warm-started from `base` (last
/// cycle's run) where it can be.
pub(crate) fn update(
    cfg: &JobConfig,
    ds: &WeeklyDataset,
    weekly: &Path,
    run_dir: &Path,
    base: Option<(Week, &Path)>,
    observer: &mut dyn Observer,
) -> Result<ModelUpdate> {
    let tc = cycle_config(cfg, weekly)?;
    let fp = fingerprint(ds, &tc, cfg);
    let done_path = run_dir.join("job.json");
    if let Some(done) = read_json::<ModelUpdate>(&done_path)?
        && done.fingerprint == fp
    {
        observer.message(&format!(
            "model of this week already trained ({})",
            done.mode
        ));
        return Ok(done);
    }
    let prepared = Prepared::new(&tc, ds.clone())?;
    let attempt_path = run_dir.with_extension("attempt.json");
    let attempt = match read_json::<Attempt>(&attempt_path)? {
        Some(a) if a.fingerprint == fp => a,
        _ => {
            let a = first_attempt(cfg, &tc, &prepared, base, &fp)?;
            // Whatever an earlier attempt left goes before the new attempt is recorded: a kill
            // between the two finds no attempt of this fingerprint and starts it again.
            remove_run(run_dir)?;
            write_json(&attempt_path, &a)?;
            a
        }
    };
    let ft = fine_tune_config(cfg, &tc);
    let (config, warm) = if attempt.fine_tune {
        let (_, base_dir) =
            base.ok_or_else(|| Error::file(run_dir, "a fine-tuning without last cycle's run"))?;
        (&ft, Some(base_dir.join("model.bpk")))
    } else {
        (&tc, None)
    };
    let (run, trees) = train_or_resume(config, run_dir, &prepared, warm, observer)?;
    let loss = run_loss(&run)?;
    let mut attempt = attempt;
    if attempt.fine_tune {
        attempt.fine_tuned_loss = Some(loss);
        let worse = attempt
            .base_loss
            .is_some_and(|b| loss > b * (1.0 + cfg.train.worse_by));
        if worse && cfg.train.retrain == Retrain::WhenWorse {
            attempt.reason = format!(
                "the fine-tuned model scored {loss:.5} on the latest weeks, worse than last cycle's \
                 {:.5} by more than {:.1} %: trained from scratch",
                attempt.base_loss.unwrap_or(f64::NAN),
                100.0 * cfg.train.worse_by
            );
            attempt.fine_tune = false;
            // The fine-tuned run goes first: a kill before the attempt is rewritten repeats the
            // (deterministic) fine-tuning, never takes it for the full training.
            remove_run(run_dir)?;
            write_json(&attempt_path, &attempt)?;
            let (run, trees) = train_or_resume(&tc, run_dir, &prepared, None, observer)?;
            return finish(&run, &prepared, trees, &attempt, &done_path, observer);
        }
    }
    finish(&run, &prepared, trees, &attempt, &done_path, observer)
}

/// Whether to fine-tune, and why; last cycle's model scored on this cycle's latest weeks.
fn first_attempt(
    cfg: &JobConfig,
    tc: &TrainConfig,
    prepared: &Prepared,
    base: Option<(Week, &Path)>,
    fp: &str,
) -> Result<Attempt> {
    let mut a = Attempt {
        fine_tune: false,
        reason: String::new(),
        base: base.map(|(w, _)| w.to_string()),
        base_loss: None,
        fine_tuned_loss: None,
        fingerprint: fp.to_string(),
    };
    let Some((week, dir)) = base else {
        a.reason = "the first cycle: trained from scratch".into();
        return Ok(a);
    };
    let base_run = match RunDir::open(dir) {
        Ok(r) if dir.join("model.bpk").is_file() => r,
        _ => {
            a.reason = format!(
                "cycle {week} left no model at {}: trained from scratch",
                dir.display()
            );
            return Ok(a);
        }
    };
    if let Some(problem) = restock_train::warm_start_problem(&base_run, tc, prepared)? {
        a.reason = format!("{problem}: trained from scratch");
        return Ok(a);
    }
    a.base_loss = Some(restock_train::score_run(&base_run, tc, prepared)?);
    if cfg.train.retrain == Retrain::Always {
        a.reason = "train.retrain = \"always\"".into();
        return Ok(a);
    }
    a.fine_tune = true;
    a.reason = format!(
        "cycle {week}'s model fine-tuned for {} epochs on the new weeks",
        cfg.train.fine_tune_epochs
    );
    Ok(a)
}

/// A finished run in `dir`: trained (with its trees when they were fitted beside the network on
/// a GPU, [`restock_train::train_with_trees`]), or resumed from its last finished epoch.
fn train_or_resume(
    config: &TrainConfig,
    dir: &Path,
    prepared: &Prepared,
    warm_start: Option<std::path::PathBuf>,
    observer: &mut dyn Observer,
) -> Result<(RunDir, Option<TreeFit>)> {
    let options = SessionOptions {
        warm_start,
        ..SessionOptions::default()
    };
    if let Ok(run) = RunDir::open(dir)
        && let Some(state) = run.state()?
    {
        if !state.finished {
            restock_train::resume(&run, prepared, &options, observer)?;
        }
        return Ok((run, None));
    }
    let run = RunDir::create(dir, true)?;
    let (_, trees) = restock_train::train_with_trees(config, &run, prepared, &options, observer)?;
    Ok((run, trees.map(|t| t.fit)))
}

fn remove_run(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::file(dir, e)),
        _ => Ok(()),
    }
}

/// The best validation loss of a finished run.
fn run_loss(run: &RunDir) -> Result<f64> {
    Ok(run
        .state()?
        .map(|s| s.best_valid_loss)
        .unwrap_or(f64::INFINITY))
}

/// Calibrate, refit the trees on the new weeks (unless `trees` were fitted beside the network),
/// choose how the run serves, and record the update.
fn finish(
    run: &RunDir,
    prepared: &Prepared,
    trees: Option<TreeFit>,
    attempt: &Attempt,
    done_path: &Path,
    observer: &mut dyn Observer,
) -> Result<ModelUpdate> {
    restock_train::calibrate(run, prepared, 4096)?;
    let trees = match trees {
        Some(fit) => fit,
        None => restock_train::fit_trees(run, prepared)?,
    };
    let serving = restock_train::select_serving(run, prepared, 4096)?;
    let state = run.state()?;
    let update = ModelUpdate {
        mode: if attempt.fine_tune {
            "fine_tuned"
        } else {
            "retrained"
        }
        .into(),
        reason: attempt.reason.clone(),
        base: attempt.base.clone(),
        base_loss: attempt.base_loss,
        fine_tuned_loss: attempt.fine_tuned_loss,
        valid_loss: state.as_ref().map_or(f64::NAN, |s| s.best_valid_loss),
        epochs: state.as_ref().map_or(0, |s| s.epochs_done),
        served: serving.name(),
        trees_rounds: trees.report().map(|t| t.rounds),
        fingerprint: attempt.fingerprint.clone(),
    };
    observer.message(&format!("model {}: {}", update.mode, update.reason));
    write_json(done_path, &update)?;
    Ok(update)
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::file(path, e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::file(path, e))
}

pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::file(path, e))?;
    write_bytes(path, text.as_bytes())
}
