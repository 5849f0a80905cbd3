//! The run directory: everything needed to reproduce a run and to serve its model.
//!
//! | file | what |
//! |---|---|
//! | `config.toml` | the resolved training config |
//! | `model.json` | the network's shape ([`DemandModelConfig`]) |
//! | `schema.json` | the feature schema (names, known-in-advance flags, static vocabularies) |
//! | `scalers.json` | per-SKU scale statistics, fitted on the training weeks |
//! | `model.bpk` | the best epoch's weights (burnpack) — what the run serves |
//! | `checkpoint/` | the last epoch's weights and optimiser state, for `--resume` |
//! | `state.json` | progress: epochs done, best epoch, early-stopping counter, history |
//! | `metrics.csv` | one row per epoch: losses, learning rate, seconds, windows/s |
//! | `summary.json` | best validation loss, epochs, timings, backend |
//! | `calibration.json` | per-horizon quantile offsets fitted on the validation weeks ([`crate::calibrate()`]) |
//! | `serving.json` | the network alone or its ensemble with TSB / AutoETS, chosen on the validation weeks ([`crate::select`]) |
//! | `evaluation.json` | accuracy on the held-out test weeks, model and baselines |
//!
//! Every file is written to a temporary file in the same directory and renamed, so a run killed
//! at any moment leaves either the old or the new version, never half a file. `state.json` is
//! written last in each epoch: it is the commit point that `--resume` trusts.

use std::io::Write;
use std::path::{Path, PathBuf};

use restock_data::features::{FeatureSchema, ScaleStats};
use restock_model::DemandModelConfig;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::{Error, Result};

/// One epoch's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Validation loss.
    pub valid_loss: f64,
    /// Learning rate at the epoch's last step.
    pub learning_rate: f64,
    /// Wall time of the epoch (training and validation).
    pub seconds: f64,
    /// Training windows per second.
    pub windows_per_second: f64,
}

/// Progress of a run, rewritten after every epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Epochs finished.
    pub epochs_done: usize,
    /// Epoch of the best validation loss (0 before the first).
    pub best_epoch: usize,
    /// Best validation loss so far.
    pub best_valid_loss: f64,
    /// Epochs since the best one.
    pub epochs_without_improvement: usize,
    /// Whether training has ended (epochs exhausted or early stop).
    pub finished: bool,
    /// Why it ended, when it has.
    pub stop_reason: Option<String>,
    /// Global optimiser steps taken.
    pub steps: usize,
    /// Seconds spent training, over all sessions.
    pub train_seconds: f64,
    /// Per-epoch metrics.
    pub history: Vec<EpochMetrics>,
}

/// Per-SKU scale statistics stored with the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkuScale {
    /// The SKU.
    pub unique_id: String,
    /// Its statistics.
    #[serde(flatten)]
    pub stats: ScaleStats,
}

/// The end-of-training summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run name.
    pub name: String,
    /// The backend used.
    pub backend: String,
    /// Best validation loss.
    pub best_valid_loss: f64,
    /// Its epoch.
    pub best_epoch: usize,
    /// Epochs run.
    pub epochs: usize,
    /// Why training stopped.
    pub stop_reason: String,
    /// Training windows available per epoch and drawn per epoch.
    pub train_windows: usize,
    /// Windows drawn per epoch.
    pub windows_per_epoch: usize,
    /// Validation windows.
    pub valid_windows: usize,
    /// SKUs in the data.
    pub skus: usize,
    /// Trainable parameters.
    pub parameters: usize,
    /// Seconds spent training, all sessions.
    pub train_seconds: f64,
    /// Mean seconds per epoch.
    pub seconds_per_epoch: f64,
    /// Mean training windows per second.
    pub windows_per_second: f64,
    /// Seconds from the start of training to the end of the best epoch.
    pub seconds_to_best_epoch: f64,
    /// Last week the network was fitted on (its training targets end here); forecasts made at
    /// a later cutoff are out of sample. Absent in runs written before it was recorded.
    #[serde(default)]
    pub train_end: Option<String>,
    /// Last validation week (early stopping looked at the weeks up to here).
    #[serde(default)]
    pub valid_end: Option<String>,
}

/// A run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Create a run directory; an existing non-empty one is an error unless `force`, which
    /// removes what a previous run left there.
    pub fn create(path: &Path, force: bool) -> Result<Self> {
        let exists = path.exists()
            && std::fs::read_dir(path)
                .map(|mut d| d.next().is_some())
                .unwrap_or(true);
        if exists {
            if !force {
                return Err(Error::RunDir {
                    path: path.to_path_buf(),
                    problem: "a run already exists here; pass --force to replace it, or --resume to continue it".into(),
                });
            }
            if !path.join("config.toml").exists() {
                return Err(Error::RunDir {
                    path: path.to_path_buf(),
                    problem:
                        "not empty and not a run directory (no config.toml); refusing to delete it"
                            .into(),
                });
            }
            std::fs::remove_dir_all(path).map_err(Error::io(path))?;
        }
        std::fs::create_dir_all(path.join("checkpoint")).map_err(Error::io(path))?;
        Ok(RunDir {
            path: path.to_path_buf(),
        })
    }

    /// Open an existing run.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.join("config.toml").is_file() {
            return Err(Error::RunDir {
                path: path.to_path_buf(),
                problem: "not a run directory (no config.toml)".into(),
            });
        }
        Ok(RunDir {
            path: path.to_path_buf(),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A file of the run.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Write `bytes` to `name` atomically.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.file(name), bytes)
    }

    /// Write a value as pretty JSON, atomically.
    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        let text = serde_json::to_string_pretty(value).map_err(|e| Error::RunFile {
            path: self.file(name),
            message: e.to_string(),
        })?;
        self.write(name, text.as_bytes())
    }

    /// Read a JSON file of the run.
    pub fn read_json<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        let path = self.file(name);
        let text = std::fs::read_to_string(&path).map_err(Error::io(&path))?;
        serde_json::from_str(&text).map_err(|e| Error::RunFile {
            path,
            message: e.to_string(),
        })
    }

    /// Read a binary file of the run.
    pub fn read(&self, name: &str) -> Result<Vec<u8>> {
        let path = self.file(name);
        std::fs::read(&path).map_err(Error::io(&path))
    }

    /// The run's config. A run written before `window.hide_plan` existed has no such key, and
    /// its schema no `*_given` inputs: it reads as `hide_plan = 0`, what it was trained with, so
    /// that calibrating, evaluating or resuming it rebuilds the same inputs.
    pub fn config(&self) -> Result<TrainConfig> {
        let path = self.file("config.toml");
        let mut config = TrainConfig::load(&path)?;
        if self.file("schema.json").exists() && !self.schema()?.spec.plan_flags {
            config.window.hide_plan = 0.0;
        }
        // A run's config is written whole, but one written before `scale` and `loss_weight`
        // existed was trained with their old defaults, which a reader must keep.
        let text = std::fs::read_to_string(&path).map_err(Error::io(&path))?;
        let raw: toml::Table = text.parse().map_err(|e: toml::de::Error| Error::RunFile {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let has = |table: &str, key: &str| {
            raw.get(table)
                .and_then(|t| t.as_table())
                .is_some_and(|t| t.contains_key(key))
        };
        if !has("window", "scale") {
            config.window.scale = crate::config::ScaleMode::History;
        }
        if !has("model", "loss_weight") {
            config.model.loss_weight = restock_model::LossWeight::Scale;
        }
        Ok(config)
    }

    /// The network's shape, checked (a hand-edited `model.json` with, say, no encoder layer is
    /// an error that names the field, not a failure deep in the network).
    pub fn model_config(&self) -> Result<DemandModelConfig> {
        let config: DemandModelConfig = self.read_json("model.json")?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(Error::RunFile {
                path: self.file("model.json"),
                message: problems.join("; "),
            })
        }
    }

    /// The feature schema.
    pub fn schema(&self) -> Result<FeatureSchema> {
        self.read_json("schema.json")
    }

    /// The summary written at the end of training, if training has run.
    pub fn summary(&self) -> Result<Option<RunSummary>> {
        if self.file("summary.json").exists() {
            self.read_json("summary.json").map(Some)
        } else {
            Ok(None)
        }
    }

    /// The stored per-SKU scalers.
    pub fn scalers(&self) -> Result<Vec<SkuScale>> {
        self.read_json("scalers.json")
    }

    /// The progress state, if an epoch has finished.
    pub fn state(&self) -> Result<Option<RunState>> {
        if self.file("state.json").exists() {
            self.read_json("state.json").map(Some)
        } else {
            Ok(None)
        }
    }

    /// Rewrite `metrics.csv` from the history.
    pub fn write_metrics(&self, history: &[EpochMetrics]) -> Result<()> {
        let mut csv =
            String::from("epoch,train_loss,valid_loss,learning_rate,seconds,windows_per_second\n");
        for m in history {
            csv.push_str(&format!(
                "{},{:.6},{:.6},{:.6e},{:.3},{:.1}\n",
                m.epoch,
                m.train_loss,
                m.valid_loss,
                m.learning_rate,
                m.seconds,
                m.windows_per_second
            ));
        }
        self.write("metrics.csv", csv.as_bytes())
    }
}

/// Write `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(Error::io(path))
}
