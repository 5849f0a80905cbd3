//! The hand-edited training config (`configs/train/<name>.toml`).
//!
//! Unknown keys are errors that name the key and line (serde's `deny_unknown_fields`), and every
//! value is range-checked on load with a message that names its key. Relative paths are relative
//! to the directory `restock` runs in (the repository root in the shipped configs).

use std::path::{Path, PathBuf};

use restock_data::Preset;
use restock_model::LossWeight;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A training run's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Run name: the run directory is `checkpoints/<name>` unless `--out` says otherwise.
    pub name: String,
    /// Seed of weight initialisation, dropout and the window order.
    #[serde(default = "defaults::seed")]
    pub seed: u64,
    /// Where the data comes from and how it is split.
    pub data: DataConfig,
    /// Window geometry.
    #[serde(default)]
    pub window: WindowConfig,
    /// Network dimensions.
    #[serde(default)]
    pub model: ModelConfig,
    /// Optimiser, schedule, batch, epochs, early stopping.
    #[serde(default)]
    pub optim: OptimConfig,
    /// Where the network runs.
    #[serde(default)]
    pub backend: BackendConfig,
    /// Gradient-boosted trees fitted beside the network (`restock_trees`).
    #[serde(default)]
    pub trees: restock_trees::TreeConfig,
}

/// `[data]`: exactly one of `weekly`, or `source` with `preset`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// A weekly dataset written by `restock ingest` (.parquet or .csv).
    pub weekly: Option<PathBuf>,
    /// A raw sales file, ingested with `preset` at the start of the run.
    pub source: Option<PathBuf>,
    /// The preset for `source`: `m5` or `online-retail`.
    pub preset: Option<String>,
    /// Weeks at the end held out as the test horizon: never trained or validated on.
    #[serde(default = "defaults::test_weeks")]
    pub test_weeks: usize,
    /// Weeks before the test weeks used for validation (early stopping).
    #[serde(default = "defaults::valid_weeks")]
    pub valid_weeks: usize,
    /// Series with fewer weeks of history before the test weeks are left out of the evaluation
    /// (the protocol's 20).
    #[serde(default = "defaults::min_history")]
    pub min_history: usize,
}

/// `[window]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// Weeks of history the network reads.
    #[serde(default = "defaults::context")]
    pub context: usize,
    /// Weeks it forecasts.
    #[serde(default = "defaults::horizon")]
    pub horizon: usize,
    /// Fewest real history weeks in a training window (shorter ones are padded and masked).
    #[serde(default = "defaults::min_context")]
    pub min_context: usize,
    /// Windows drawn per epoch (without replacement, fresh each epoch); 0 = all of them.
    #[serde(default)]
    pub windows_per_epoch: usize,
    /// Scale each window by `1 + mean` of its context weeks (`context`, the default) or by the
    /// SKU's mean over the training weeks (`history`). The context level follows trends and
    /// ramps the training mean lags: it scored better on both M5 and Online Retail
    /// (docs/benchmarks.md, "A default that travels").
    #[serde(default = "defaults::scale")]
    pub scale: ScaleMode,
    /// Share of training windows whose planned future (events, prices, promotions) is hidden,
    /// so that the network also learns to forecast without a plan (`restock forecast` without
    /// `--future`) instead of reading "no promotion" into every unplanned week; see
    /// `data::features`, "Plan inputs". 0 trains with the recorded plan only, as runs did
    /// before it existed (and adds no `*_given` inputs).
    #[serde(default = "defaults::hide_plan")]
    pub hide_plan: f64,
}

/// How demand is scaled before the network sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleMode {
    /// `1 + mean` of the SKU's weekly demand over the training weeks (stored in scalers.json).
    #[default]
    History,
    /// `1 + mean` of the window's own context weeks.
    Context,
}

/// `[model]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// LSTM hidden size.
    #[serde(default = "defaults::hidden")]
    pub hidden: usize,
    /// Stacked LSTM layers.
    #[serde(default = "defaults::layers")]
    pub layers: usize,
    /// Dropout in [0, 1).
    #[serde(default = "defaults::dropout")]
    pub dropout: f64,
    /// Width of each static-attribute embedding.
    #[serde(default = "defaults::embedding_dim")]
    pub embedding_dim: usize,
    /// Decoder hidden width.
    #[serde(default = "defaults::hidden")]
    pub decoder_hidden: usize,
    /// Horizon-position embedding width.
    #[serde(default = "defaults::embedding_dim")]
    pub horizon_embedding: usize,
    /// Quantile levels.
    #[serde(default = "defaults::quantiles")]
    pub quantiles: Vec<f64>,
    /// Window weights in the loss; default `sqrt_scale`, which scored better than `scale` on
    /// both M5 and Online Retail.
    #[serde(default = "defaults::loss_weight")]
    pub loss_weight: LossWeight,
}

/// `[optim]`: AdamW with linear warm-up and cosine decay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    /// Peak learning rate.
    #[serde(default = "defaults::learning_rate")]
    pub learning_rate: f64,
    /// Learning rate at the end of the cosine decay.
    #[serde(default = "defaults::min_learning_rate")]
    pub min_learning_rate: f64,
    /// Steps of linear warm-up.
    #[serde(default)]
    pub warmup_steps: usize,
    /// Decoupled weight decay.
    #[serde(default = "defaults::weight_decay")]
    pub weight_decay: f64,
    /// Gradient norm clip; 0 = none.
    #[serde(default = "defaults::grad_clip_norm")]
    pub grad_clip_norm: f64,
    /// Windows per step.
    #[serde(default = "defaults::batch_size")]
    pub batch_size: usize,
    /// On a GPU, windows per step instead of `batch_size`; 0 = `batch_size` on every device.
    /// A GPU's step takes about as long for 2,048 windows as for 256 (its time goes to
    /// launching the recurrence's kernels, not to arithmetic), so bigger batches train several
    /// times faster there. The learning rates are scaled by √(gpu_batch_size / batch_size), the
    /// square-root rule for Adam, and the warm-up steps by batch_size / gpu_batch_size, so the
    /// warm-up covers the same windows. See [`TrainConfig::on_device`].
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gpu_batch_size: usize,
    /// Most epochs.
    #[serde(default = "defaults::epochs")]
    pub epochs: usize,
    /// Stop after this many epochs without a better validation loss; 0 = never stop early.
    #[serde(default = "defaults::patience")]
    pub patience: usize,
    /// On the CPU, each batch is split into this many parts whose gradients are computed on
    /// as many threads at once and summed (data parallelism); 0 = one per core. A run's
    /// results depend on the seed and this number only. A GPU takes whole batches.
    #[serde(default)]
    pub threads: usize,
}

/// `[backend]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    /// `auto` (a GPU through wgpu when one exists, else the CPU), `cpu`, `ndarray` or `wgpu`.
    #[serde(default)]
    pub kind: BackendKind,
    /// GPU index for wgpu.
    #[serde(default)]
    pub device: usize,
}

/// Which burn backend runs the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// wgpu on a hardware GPU when one is found, the CPU otherwise.
    #[default]
    Auto,
    /// burn's CPU backend (flex).
    Cpu,
    /// burn's older ndarray CPU backend.
    Ndarray,
    /// wgpu (Vulkan, Metal, DX12) on GPU `device`, or any adapter wgpu finds, software included.
    Wgpu,
}

/// Serde: a field left at 0 (off) is not written, so runs that do not use it stay readable by
/// builds from before it.
fn is_zero(n: &usize) -> bool {
    *n == 0
}

mod defaults {
    pub(super) fn seed() -> u64 {
        42
    }
    pub(super) fn test_weeks() -> usize {
        8
    }
    pub(super) fn valid_weeks() -> usize {
        8
    }
    pub(super) fn min_history() -> usize {
        20
    }
    pub(super) fn context() -> usize {
        52
    }
    pub(super) fn horizon() -> usize {
        8
    }
    pub(super) fn min_context() -> usize {
        8
    }
    pub(super) fn hide_plan() -> f64 {
        0.5
    }
    pub(super) fn scale() -> super::ScaleMode {
        super::ScaleMode::Context
    }
    pub(super) fn loss_weight() -> super::LossWeight {
        super::LossWeight::SqrtScale
    }
    pub(super) fn hidden() -> usize {
        64
    }
    pub(super) fn layers() -> usize {
        1
    }
    pub(super) fn dropout() -> f64 {
        0.1
    }
    pub(super) fn embedding_dim() -> usize {
        4
    }
    pub(super) fn quantiles() -> Vec<f64> {
        vec![0.1, 0.5, 0.9]
    }
    pub(super) fn learning_rate() -> f64 {
        2e-3
    }
    pub(super) fn min_learning_rate() -> f64 {
        1e-4
    }
    pub(super) fn weight_decay() -> f64 {
        1e-4
    }
    pub(super) fn grad_clip_norm() -> f64 {
        1.0
    }
    pub(super) fn batch_size() -> usize {
        256
    }
    pub(super) fn epochs() -> usize {
        20
    }
    pub(super) fn patience() -> usize {
        4
    }
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            context: defaults::context(),
            horizon: defaults::horizon(),
            min_context: defaults::min_context(),
            windows_per_epoch: 0,
            scale: defaults::scale(),
            hide_plan: defaults::hide_plan(),
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            hidden: defaults::hidden(),
            layers: defaults::layers(),
            dropout: defaults::dropout(),
            embedding_dim: defaults::embedding_dim(),
            decoder_hidden: defaults::hidden(),
            horizon_embedding: defaults::embedding_dim(),
            quantiles: defaults::quantiles(),
            loss_weight: defaults::loss_weight(),
        }
    }
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            learning_rate: defaults::learning_rate(),
            min_learning_rate: defaults::min_learning_rate(),
            warmup_steps: 0,
            weight_decay: defaults::weight_decay(),
            grad_clip_norm: defaults::grad_clip_norm(),
            batch_size: defaults::batch_size(),
            gpu_batch_size: 0,
            epochs: defaults::epochs(),
            patience: defaults::patience(),
            threads: 0,
        }
    }
}

impl Default for BackendConfig {
    fn default() -> Self {
        BackendConfig {
            kind: BackendKind::Auto,
            device: 0,
        }
    }
}

/// Where the weekly data of a run comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum DataSource {
    /// A prepared weekly dataset.
    Weekly(PathBuf),
    /// A raw file and its preset.
    Raw(PathBuf, Preset),
}

impl TrainConfig {
    /// The config a session trains with on a GPU (`is_gpu`) or a CPU: `optim.gpu_batch_size`
    /// applied on a GPU (batch, learning rates and warm-up; see [`OptimConfig::gpu_batch_size`]),
    /// with a line saying so; on a CPU, or without a GPU batch, the config itself.
    pub fn on_device(&self, is_gpu: bool) -> (std::borrow::Cow<'_, TrainConfig>, Option<String>) {
        let o = &self.optim;
        if !is_gpu || o.gpu_batch_size == 0 || o.gpu_batch_size == o.batch_size {
            return (std::borrow::Cow::Borrowed(self), None);
        }
        let ratio = o.gpu_batch_size as f64 / o.batch_size as f64;
        let mut c = self.clone();
        c.optim.batch_size = o.gpu_batch_size;
        c.optim.learning_rate = o.learning_rate * ratio.sqrt();
        c.optim.min_learning_rate = o.min_learning_rate * ratio.sqrt();
        c.optim.warmup_steps = (o.warmup_steps as f64 / ratio).round() as usize;
        let line = format!(
            "batches of {} on the GPU (optim.gpu_batch_size): learning rate {:.3e} (√{:.3} × {:.1e}), {} warm-up steps",
            c.optim.batch_size, c.optim.learning_rate, ratio, o.learning_rate, c.optim.warmup_steps
        );
        (std::borrow::Cow::Owned(c), Some(line))
    }

    /// Read and check a config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ConfigRead {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parse and check config text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let config: TrainConfig = toml::from_str(text).map_err(|e| Error::ConfigParse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(Error::ConfigValue {
                path: path.to_path_buf(),
                problems,
            })
        }
    }

    /// The resolved config as TOML (stored in the run directory).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot serialise: {e}\n"))
    }

    /// The data source named by `[data]` (checked by [`TrainConfig::parse`]).
    pub fn source(&self) -> Result<DataSource> {
        let d = &self.data;
        match (&d.weekly, &d.source, &d.preset) {
            (Some(w), None, None) => Ok(DataSource::Weekly(w.clone())),
            (None, Some(s), Some(p)) => Ok(DataSource::Raw(s.clone(), parse_preset(p)?)),
            _ => Err(Error::NotEnoughData(
                "data: give either `weekly` or `source` with `preset`".into(),
            )),
        }
    }

    /// Every out-of-range value, each message naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            || self.name.starts_with('.')
        {
            p.push(format!(
                "name = {:?}: use letters, digits, '-', '_' or '.', not starting with '.'",
                self.name
            ));
        }
        let d = &self.data;
        match (&d.weekly, &d.source, &d.preset) {
            (Some(_), None, None) => {}
            (None, Some(_), Some(preset)) => {
                if let Err(e) = parse_preset(preset) {
                    p.push(e.to_string());
                }
            }
            _ => p.push(
                "data: give either `weekly` (a dataset from `restock ingest`) or `source` with `preset`"
                    .into(),
            ),
        }
        let at_least = |p: &mut Vec<String>, key: &str, value: usize, min: usize| {
            if value < min {
                p.push(format!("{key} = {value}: must be at least {min}"));
            }
        };
        at_least(&mut p, "data.test_weeks", d.test_weeks, 0);
        at_least(&mut p, "data.valid_weeks", d.valid_weeks, 1);
        let w = &self.window;
        at_least(&mut p, "window.context", w.context, 1);
        at_least(&mut p, "window.horizon", w.horizon, 1);
        at_least(&mut p, "window.min_context", w.min_context, 1);
        if w.context > 520 {
            p.push(format!("window.context = {}: at most 520 weeks", w.context));
        }
        if !(0.0..1.0).contains(&w.hide_plan) {
            p.push(format!(
                "window.hide_plan = {}: must be in [0, 1) (0 = never hide the plan)",
                w.hide_plan
            ));
        }
        if w.horizon > restock_core::Horizon::MAX {
            p.push(format!(
                "window.horizon = {}: at most {} weeks",
                w.horizon,
                restock_core::Horizon::MAX
            ));
        }
        if w.min_context > w.context {
            p.push(format!(
                "window.min_context = {} is longer than window.context = {}",
                w.min_context, w.context
            ));
        }
        if d.valid_weeks < w.horizon {
            p.push(format!(
                "data.valid_weeks = {} is shorter than window.horizon = {}: a validation window needs a full horizon",
                d.valid_weeks, w.horizon
            ));
        }
        if d.test_weeks != 0 && d.test_weeks != w.horizon {
            p.push(format!(
                "data.test_weeks = {} must equal window.horizon = {} (or be 0: no test evaluation)",
                d.test_weeks, w.horizon
            ));
        }
        if d.min_history < w.min_context {
            p.push(format!(
                "data.min_history = {} is below window.min_context = {}",
                d.min_history, w.min_context
            ));
        }
        let m = &self.model;
        at_least(&mut p, "model.hidden", m.hidden, 1);
        at_least(&mut p, "model.layers", m.layers, 1);
        at_least(&mut p, "model.decoder_hidden", m.decoder_hidden, 1);
        at_least(&mut p, "model.horizon_embedding", m.horizon_embedding, 1);
        at_least(&mut p, "model.embedding_dim", m.embedding_dim, 1);
        if m.hidden > 4096 || m.decoder_hidden > 4096 {
            p.push("model.hidden and model.decoder_hidden: at most 4096".into());
        }
        if m.layers > 8 {
            p.push(format!("model.layers = {}: at most 8", m.layers));
        }
        if !(0.0..1.0).contains(&m.dropout) {
            p.push(format!("model.dropout = {}: must be in [0, 1)", m.dropout));
        }
        if restock_core::Quantiles::new(m.quantiles.clone()).is_err() {
            p.push(format!(
                "model.quantiles = {:?}: must be strictly increasing inside (0, 1)",
                m.quantiles
            ));
        }
        let o = &self.optim;
        let positive = |p: &mut Vec<String>, key: &str, v: f64| {
            if !(v.is_finite() && v > 0.0) {
                p.push(format!("{key} = {v}: must be a positive number"));
            }
        };
        positive(&mut p, "optim.learning_rate", o.learning_rate);
        positive(&mut p, "optim.min_learning_rate", o.min_learning_rate);
        if o.min_learning_rate > o.learning_rate {
            p.push(format!(
                "optim.min_learning_rate = {} is above optim.learning_rate = {}",
                o.min_learning_rate, o.learning_rate
            ));
        }
        if !(o.weight_decay.is_finite() && o.weight_decay >= 0.0) {
            p.push(format!(
                "optim.weight_decay = {}: must be >= 0",
                o.weight_decay
            ));
        }
        if !(o.grad_clip_norm.is_finite() && o.grad_clip_norm >= 0.0) {
            p.push(format!(
                "optim.grad_clip_norm = {}: must be >= 0",
                o.grad_clip_norm
            ));
        }
        at_least(&mut p, "optim.batch_size", o.batch_size, 1);
        at_least(&mut p, "optim.epochs", o.epochs, 1);
        for (key, value) in [
            ("optim.batch_size", o.batch_size),
            ("optim.gpu_batch_size", o.gpu_batch_size),
        ] {
            if value > 65_536 {
                p.push(format!("{key} = {value}: at most 65536"));
            }
        }
        if let Err(problem) = self.trees.check() {
            p.push(problem);
        }
        p
    }
}

fn parse_preset(name: &str) -> Result<Preset> {
    match name {
        "m5" => Ok(Preset::M5),
        "online-retail" | "online_retail" => Ok(Preset::OnlineRetail),
        other => Err(Error::NotEnoughData(format!(
            "data.preset = {other:?}: known presets are \"m5\" and \"online-retail\""
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TrainConfig> {
        TrainConfig::parse(text, Path::new("t.toml"))
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = parse("name = \"x\"\n[data]\nweekly = \"w.parquet\"\n").expect("valid");
        assert_eq!(c.window.context, 52);
        assert_eq!(c.model.quantiles, vec![0.1, 0.5, 0.9]);
        assert_eq!(c.backend.kind, BackendKind::Auto);
        assert_eq!(
            c.source().expect("source"),
            DataSource::Weekly("w.parquet".into())
        );
        // The resolved config reads back the same.
        assert_eq!(parse(&c.to_toml()).expect("round trip"), c);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let e =
            parse("name = \"x\"\n[data]\nweekly = \"w\"\n[model]\nhiden = 3\n").expect_err("typo");
        assert!(e.to_string().contains("hiden"), "{e}");
        let e = parse(
            "name = \"x\"\n[data]\nweekly = \"w\"\n[optim]\nlearning_rate = -1.0\nbatch_size = 0\n[model]\ndropout = 1.5\n",
        )
        .expect_err("ranges");
        let msg = e.to_string();
        for key in ["optim.learning_rate", "optim.batch_size", "model.dropout"] {
            assert!(msg.contains(key), "{msg}");
        }
        let e =
            parse("name = \"x\"\n[data]\nsource = \"s\"\npreset = \"m6\"\n").expect_err("preset");
        assert!(e.to_string().contains("m6"), "{e}");
        let e = parse("name = \"../x\"\n[data]\nweekly = \"w\"\n").expect_err("name");
        assert!(e.to_string().contains("name"), "{e}");
        // The trees' section: on by default, checked like the rest.
        let c = parse("name = \"x\"\n[data]\nweekly = \"w\"\n").expect("valid");
        assert!(c.trees.enabled);
        let e =
            parse("name = \"x\"\n[data]\nweekly = \"w\"\n[trees]\nleaves = 7\n").expect_err("typo");
        assert!(e.to_string().contains("leaves"), "{e}");
        let e =
            parse("name = \"x\"\n[data]\nweekly = \"w\"\n[trees]\ntweedie_variance_power = 2.5\n")
                .expect_err("range");
        assert!(
            e.to_string().contains("trees.tweedie_variance_power"),
            "{e}"
        );
        let c = parse("name = \"x\"\n[data]\nweekly = \"w\"\n[trees]\nenabled = false\n")
            .expect("valid");
        assert!(!c.trees.enabled);
    }

    /// A GPU batch scales the rates by the square root of the batch ratio and the warm-up by
    /// the ratio; the CPU, and a config without one, train as written.
    #[test]
    fn a_gpu_batch_scales_the_schedule_on_a_gpu_only() {
        let c = parse(
            "name = \"x\"\n[data]\nweekly = \"w\"\n[optim]\nlearning_rate = 2e-3\nmin_learning_rate = 1e-4\nwarmup_steps = 100\nbatch_size = 256\ngpu_batch_size = 1024\n",
        )
        .expect("valid");
        let (cpu, line) = c.on_device(false);
        assert_eq!(*cpu, c);
        assert!(line.is_none());
        let (gpu, line) = c.on_device(true);
        assert_eq!(gpu.optim.batch_size, 1024);
        assert!((gpu.optim.learning_rate - 4e-3).abs() < 1e-12);
        assert!((gpu.optim.min_learning_rate - 2e-4).abs() < 1e-12);
        assert_eq!(gpu.optim.warmup_steps, 25);
        assert_eq!(gpu.optim.gpu_batch_size, 1024);
        let line = line.expect("a line");
        assert!(line.contains("batches of 1024"), "{line}");
        // Nothing else moves.
        let mut back = gpu.into_owned();
        back.optim = c.optim.clone();
        assert_eq!(back, c);
        let plain = parse("name = \"x\"\n[data]\nweekly = \"w\"\n").expect("valid");
        assert_eq!(*plain.on_device(true).0, plain);
        let e = parse("name = \"x\"\n[data]\nweekly = \"w\"\n[optim]\ngpu_batch_size = 100000\n")
            .expect_err("too big");
        assert!(e.to_string().contains("optim.gpu_batch_size"), "{e}");
    }
}
