//! [`TreeModel`]: LightGBM fitted on the catalogue's rows (SKU × origin × step) with a Tweedie
//! objective on demand scaled by each SKU's level, weighted by the level's square root (as the
//! network's loss); the boosting round chosen on the validation weeks; quantiles from the
//! validation rows' ratios of actual to predicted mean, in bands of the predicted mean.

use std::path::{Path, PathBuf};
use std::time::Instant;

use lightgbm3::{Booster, Dataset};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use restock_core::{Quantiles, Week};
use restock_data::WeeklyDataset;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::TreeConfig;
use crate::features::{At, Layout, Plan, Rows};
use crate::{Error, Result};

/// The model file (LightGBM's text format) in a run directory.
pub const MODEL_FILE: &str = "trees.txt";
/// What the model needs beside it (layout, quantile bands, fit report).
pub const SPEC_FILE: &str = "trees.json";

/// Validation rows at least for quantile bands of their own; fewer take the training rows'.
const MIN_VALID_ROWS: usize = 50;
/// Rows per quantile band, about.
const BAND_ROWS: usize = 400;
/// Quantile bands at most.
const MAX_BANDS: usize = 12;
/// Origins per part of a forecast (one part per core at a time).
const PREDICT_ORIGINS: usize = 4096;

/// The quantiles of actual ÷ predicted mean among rows whose predicted mean is at most `upper`
/// (and above the previous band's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Band {
    /// Largest predicted mean of the band (units a week); the last band has no bound (`None`).
    pub upper: Option<f64>,
    /// One ratio per quantile level.
    pub ratios: Vec<f64>,
}

/// How the fit went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// Training rows.
    pub rows: usize,
    /// Validation rows.
    pub valid_rows: usize,
    /// Boosting rounds kept.
    pub rounds: usize,
    /// Weighted Tweedie deviance per unit of level on the validation rows, at the kept round.
    pub valid_deviance: f64,
    /// WAPE of the predicted mean on the validation rows.
    pub valid_wape: f64,
    /// The validation deviance at each round tried: `(rounds, deviance)`.
    #[serde(default)]
    pub curve: Vec<(usize, f64)>,
    /// Seconds building rows, boosting and choosing.
    pub seconds: f64,
}

/// Everything but the trees themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeSpec {
    /// The features.
    pub layout: Layout,
    /// Weeks ahead the model was fitted for.
    pub horizon: usize,
    /// Quantile levels of [`Band::ratios`].
    pub levels: Vec<f64>,
    /// Quantile bands, by increasing predicted mean, for forecasts given the target weeks' plan
    /// (recorded, or from a known-future file).
    pub bands: Vec<Band>,
    /// The same for forecasts without a plan, from the validation rows whose plan was hidden:
    /// not knowing a promotion widens the spread (empty in models saved before: `bands`).
    #[serde(default)]
    pub bands_unknown: Vec<Band>,
    /// The settings it was fitted with.
    pub config: TreeConfig,
    /// How the fit went.
    pub report: FitReport,
}

/// Gradient-boosted trees fitted on a catalogue: a global forecaster of every SKU with a level.
pub struct TreeModel {
    booster: Booster,
    spec: TreeSpec,
}

// SAFETY: `Booster` holds LightGBM's booster handle, a raw pointer, hence neither Send nor Sync
// in lightgbm3. LightGBM guards the handle itself: prediction takes a shared lock on the
// booster's mutex and builds its own predictor per call, training and loading an exclusive one
// (`src/c_api.cpp`, `Booster::Predict` and `SHARED_LOCK`). `TreeModel` only predicts through
// `&self`; everything that changes the booster (`set_max_iterations`, training) takes `&mut`
// or happens before the model is shared. The handle is freed once, by `Booster`'s drop.
unsafe impl Send for TreeModel {}
unsafe impl Sync for TreeModel {}

impl std::fmt::Debug for TreeModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeModel")
            .field("spec", &self.spec)
            .finish()
    }
}

/// One row to predict: SKU index, origin index, step.
pub(crate) type Key = (usize, usize, usize);

/// What a fit learns from: the weeks, the horizon and quantile levels, and how it runs.
#[derive(Debug, Clone)]
pub struct FitWeeks<'a> {
    /// Targets up to this week train the trees.
    pub train_end: Week,
    /// Targets after `train_end` up to this week choose the boosting round and set the
    /// quantile bands.
    pub valid_end: Week,
    /// Weeks ahead to forecast.
    pub horizon: usize,
    /// Quantile levels.
    pub levels: &'a Quantiles,
    /// Seed of the sampled rows and hidden plans (and LightGBM's).
    pub seed: u64,
    /// LightGBM's threads; 0: one per core (rayon's count, as the network's training).
    pub threads: usize,
}

impl FitWeeks<'_> {
    /// LightGBM's threads: [`FitWeeks::threads`], 0 being one per core by rayon's count.
    pub(crate) fn lightgbm_threads(&self) -> usize {
        match self.threads {
            0 => rayon::current_num_threads(),
            n => n,
        }
    }
}

impl TreeModel {
    /// Fit on `ds` ([`FitWeeks`]: targets up to `train_end` train the trees; targets in
    /// (`train_end`, `valid_end`] choose the boosting round and set the quantile bands).
    pub fn fit(ds: &WeeklyDataset, weeks: &FitWeeks<'_>, config: &TreeConfig) -> Result<TreeModel> {
        let started = Instant::now();
        let rows = FitRows::build(ds, weeks, config)?;
        Self::fit_rows(&rows, weeks, config, started)
    }

    /// Boost on `rows`' training rows, keep the round with the least validation deviance and
    /// set the quantile bands on the validation rows.
    pub(crate) fn fit_rows(
        rows: &FitRows,
        weeks: &FitWeeks<'_>,
        config: &TreeConfig,
        started: Instant,
    ) -> Result<TreeModel> {
        let FitRows {
            layout,
            train,
            valid,
        } = rows;
        let n = layout.len() as i32;
        let mut booster = boost(train, n, config, weeks.seed, weeks.lightgbm_threads())?;
        // The round and the bands from the validation rows (the training rows where too few).
        let check = rows.check();
        let curve = choose_round(&mut booster, check, config, n)?;
        let (rounds, valid_deviance) = least(&curve);
        let pred = booster.predict(&check.x, n, true)?;
        // Back to units: mean μ = prediction × level, actual = label × level.
        let mu: Vec<f64> = pred
            .iter()
            .zip(&check.level)
            .map(|(p, l)| p * f64::from(*l))
            .collect();
        let actual: Vec<f64> = check
            .label
            .iter()
            .zip(&check.level)
            .map(|(y, l)| f64::from(*y) * f64::from(*l))
            .collect();
        let abs: f64 = mu.iter().zip(&actual).map(|(m, a)| (m - a).abs()).sum();
        let total: f64 = actual.iter().sum();
        let levels = weeks.levels.levels();
        let given_bands = plan_bands(&mu, &actual, &check.hidden, false, levels);
        let unknown_bands = plan_bands(&mu, &actual, &check.hidden, true, levels);
        let report = FitReport {
            rows: train.label.len(),
            valid_rows: valid.label.len(),
            rounds,
            valid_deviance,
            valid_wape: if total > 0.0 { abs / total } else { f64::NAN },
            curve,
            seconds: started.elapsed().as_secs_f64(),
        };
        Ok(TreeModel {
            booster,
            spec: TreeSpec {
                layout: layout.clone(),
                horizon: weeks.horizon,
                levels: levels.to_vec(),
                bands: given_bands,
                bands_unknown: unknown_bands,
                config: config.clone(),
                report,
            },
        })
    }

    /// The predicted mean of each of `rows` (row-major, the model's layout), in units of the
    /// rows' levels, on LightGBM's own threads.
    pub(crate) fn predict_rows(&self, x: &[f32]) -> Result<Vec<f64>> {
        let n = self.spec.layout.len() as i32;
        Ok(self.booster.predict(x, n, true)?)
    }

    /// What was fitted and how.
    pub fn spec(&self) -> &TreeSpec {
        &self.spec
    }

    /// Weeks ahead the model forecasts at most.
    pub fn horizon(&self) -> usize {
        self.spec.horizon
    }

    /// Forecast `weeks` weeks after the last week of each series `skus` (indices into
    /// `ds.series`): `weeks × levels` values per SKU, zeros for a SKU with no demand in its last
    /// year. Plan inputs of the forecast weeks from `future` where given, else unknown.
    pub fn forecast(
        &self,
        ds: &WeeklyDataset,
        skus: &[usize],
        weeks: usize,
        future: Option<&restock_data::future::KnownFuture>,
    ) -> Result<Vec<Vec<f64>>> {
        let origins: Vec<(usize, usize)> = skus
            .iter()
            .map(|&i| (i, ds.series[i].y.len().saturating_sub(1)))
            .collect();
        let plan = future.map_or(Plan::Unknown, Plan::Given);
        self.forecast_at(ds, &origins, weeks, plan)
    }

    /// Forecast `weeks` weeks after each `(sku, origin)`: the SKU's history up to index
    /// `origin` (inclusive), the plan inputs from `plan`; `weeks × levels` values per origin.
    pub fn forecast_at(
        &self,
        ds: &WeeklyDataset,
        origins: &[(usize, usize)],
        weeks: usize,
        plan: Plan<'_>,
    ) -> Result<Vec<Vec<f64>>> {
        let k = self.spec.levels.len();
        let mut out = vec![vec![0.0; weeks * k]; origins.len()];
        let bands = match plan {
            Plan::Unknown if !self.spec.bands_unknown.is_empty() => &self.spec.bands_unknown,
            _ => &self.spec.bands,
        };
        for (row, h, mu) in self.predict_means(ds, origins, weeks, plan)? {
            let band = band(bands, mu);
            for (j, r) in band.ratios.iter().enumerate() {
                out[row][(h - 1) * k + j] = (mu * r).max(0.0);
            }
        }
        Ok(out)
    }

    /// The predicted mean demand of `weeks` weeks after each `(sku, origin)` (as
    /// [`TreeModel::forecast_at`]), one value per week; 0 for a SKU with no demand in the year
    /// before its origin.
    pub fn means_at(
        &self,
        ds: &WeeklyDataset,
        origins: &[(usize, usize)],
        weeks: usize,
        plan: Plan<'_>,
    ) -> Result<Vec<Vec<f64>>> {
        let mut out = vec![vec![0.0; weeks]; origins.len()];
        for (row, h, mu) in self.predict_means(ds, origins, weeks, plan)? {
            out[row][h - 1] = mu;
        }
        Ok(out)
    }

    /// `(origin's position, step, predicted mean in units)` of every origin with a level.
    fn predict_means(
        &self,
        ds: &WeeklyDataset,
        origins: &[(usize, usize)],
        weeks: usize,
        plan: Plan<'_>,
    ) -> Result<Vec<(usize, usize, f64)>> {
        if weeks == 0 || weeks > self.spec.horizon {
            return Err(Error::Data(format!(
                "horizon {weeks}: the trees forecast 1 to {} weeks",
                self.spec.horizon
            )));
        }
        let layout = &self.spec.layout;
        let rows = Rows::new(layout, ds);
        let n = layout.len();
        // Parts of the origins on all cores: each builds its rows and predicts them on its own
        // thread (LightGBM's OpenMP threads would compete with rayon's).
        let parts: Vec<Result<Vec<(usize, usize, f64)>>> = origins
            .par_chunks(PREDICT_ORIGINS)
            .enumerate()
            .map(|(part, chunk)| {
                let mut x = Vec::new();
                let mut at = Vec::new();
                for (j, &(sku, o)) in chunk.iter().enumerate() {
                    let s = &ds.series[sku];
                    if s.y.is_empty() || o >= s.y.len() {
                        return Err(Error::Data(format!(
                            "SKU {}: no week {o} in its {} weeks of history",
                            s.unique_id,
                            s.y.len()
                        )));
                    }
                    let level = Rows::level(s, o);
                    if level.is_nan() || level <= 0.0 {
                        continue;
                    }
                    for h in 1..=weeks {
                        let start = x.len();
                        x.resize(start + n, 0.0f32);
                        rows.write(s, At { o, h, level }, plan, false, &mut x[start..])?;
                        at.push((part * PREDICT_ORIGINS + j, h, level));
                    }
                }
                if at.is_empty() {
                    return Ok(Vec::new());
                }
                let pred = self
                    .booster
                    .predict_with_params(&x, n as i32, true, "num_threads=1")?;
                Ok(at
                    .into_iter()
                    .zip(pred)
                    .map(|((row, h, level), p)| (row, h, p * level))
                    .collect())
            })
            .collect();
        let mut out = Vec::new();
        for part in parts {
            out.extend(part?);
        }
        Ok(out)
    }

    /// Write [`MODEL_FILE`] and [`SPEC_FILE`] into `dir`, each through a temporary file renamed
    /// into place (the spec last: a model is there when its spec is).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let text = self.booster.save_string()?;
        write_atomic(&dir.join(MODEL_FILE), text.as_bytes())?;
        let spec = serde_json::to_vec_pretty(&self.spec).map_err(|e| Error::File {
            path: dir.join(SPEC_FILE),
            message: e.to_string(),
        })?;
        write_atomic(&dir.join(SPEC_FILE), &spec)
    }

    /// Remove a model saved in `dir` (the spec first: without it the model is not there);
    /// nothing to do when there is none.
    pub fn remove(dir: &Path) -> Result<()> {
        for name in [SPEC_FILE, MODEL_FILE] {
            let path = dir.join(name);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::File {
                        path,
                        message: e.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The model saved in `dir`, or `None` when it has none.
    pub fn load(dir: &Path) -> Result<Option<TreeModel>> {
        let spec_path = dir.join(SPEC_FILE);
        if !spec_path.exists() {
            return Ok(None);
        }
        let file_err = |path: PathBuf| move |e: String| Error::File { path, message: e };
        let spec: TreeSpec = std::fs::read(&spec_path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            .map_err(file_err(spec_path.clone()))?;
        let model_path = dir.join(MODEL_FILE);
        let text = std::fs::read_to_string(&model_path)
            .map_err(|e| e.to_string())
            .map_err(file_err(model_path.clone()))?;
        let mut booster = Booster::from_string(&text).map_err(|e| Error::File {
            path: model_path,
            message: e.to_string(),
        })?;
        booster.set_max_iterations(spec.report.rounds as i32)?;
        if spec.bands.is_empty() || spec.layout.len() as i32 != booster.num_features() {
            return Err(Error::File {
                path: spec_path,
                message: "the spec does not match the model beside it".into(),
            });
        }
        Ok(Some(TreeModel { booster, spec }))
    }
}

/// `(sku, origin, step)` keys whose target week lies in (`after`, `last`] (`after` = `None`: no
/// lower bound), each origin with `config.min_history` weeks; at most about `max_rows`, origins
/// sampled uniformly when there are more.
fn sample_keys(
    ds: &WeeklyDataset,
    config: &TreeConfig,
    horizon: usize,
    after: Option<Week>,
    last: Week,
    max_rows: usize,
    rng: &mut StdRng,
) -> Vec<Key> {
    let mut keys = Vec::new();
    let first_origin = config.min_history - 1;
    for (i, s) in ds.series.iter().enumerate() {
        let Ok(last_t) = usize::try_from(s.start.weeks_until(last)) else {
            continue;
        };
        let last_t = last_t.min(s.y.len().saturating_sub(1));
        let first_t = match after {
            Some(a) => usize::try_from(s.start.weeks_until(a) + 1).unwrap_or(0),
            None => 0,
        };
        for o in first_origin..last_t {
            for h in 1..=horizon {
                let t = o + h;
                if t > last_t {
                    break;
                }
                if t >= first_t {
                    keys.push((i, o, h));
                }
            }
        }
    }
    if keys.len() > max_rows {
        let p = max_rows as f64 / keys.len() as f64;
        keys.retain(|_| rng.random::<f64>() < p);
    }
    keys
}

/// Feature rows (row-major), labels (demand ÷ level) and the level of each.
pub(crate) struct Built {
    pub(crate) x: Vec<f32>,
    pub(crate) label: Vec<f32>,
    pub(crate) level: Vec<f32>,
    /// Whether the row's plan inputs were hidden.
    pub(crate) hidden: Vec<bool>,
}

impl Built {
    /// Each row's weight in the loss: the square root of its SKU's level, between counting
    /// units (the level itself: a few fast movers then set every split, and the trees
    /// overfit them) and counting SKUs (1: slow movers' noise as loud as fast movers' signal);
    /// the network's loss weights take the same root. Chosen on the validation weeks of M5 and
    /// Online Retail (WAPE of the mean 0.3670 / 0.7261 against 0.3707 / 0.7305 with the level).
    fn weight(&self) -> Vec<f32> {
        self.level.iter().map(|l| l.sqrt()).collect()
    }
}

/// The rows a fit learns from: sampled from the catalogue with the fit's seed, so that the same
/// catalogue, weeks and settings give the same rows.
pub(crate) struct FitRows {
    pub(crate) layout: Layout,
    /// Targets up to `train_end`.
    pub(crate) train: Built,
    /// Targets in (`train_end`, `valid_end`].
    pub(crate) valid: Built,
}

impl FitRows {
    pub(crate) fn build(
        ds: &WeeklyDataset,
        weeks: &FitWeeks<'_>,
        config: &TreeConfig,
    ) -> Result<FitRows> {
        config.check().map_err(Error::Data)?;
        let layout = Layout::for_catalogue(ds);
        let rows = Rows::new(&layout, ds);
        let mut rng = StdRng::seed_from_u64(weeks.seed);
        let train_keys = sample_keys(
            ds,
            config,
            weeks.horizon,
            None,
            weeks.train_end,
            config.max_rows,
            &mut rng,
        );
        if train_keys.len() < 100 {
            return Err(Error::Data(format!(
                "{} training rows (SKU × origin × step with {} weeks of history and a target \
                 by {}): too few to fit trees",
                train_keys.len(),
                config.min_history,
                weeks.train_end
            )));
        }
        let valid_keys = sample_keys(
            ds,
            config,
            weeks.horizon,
            Some(weeks.train_end),
            weeks.valid_end,
            config.max_rows / 4,
            &mut rng,
        );
        let train = build(&rows, ds, &train_keys, config.hide_plan, &mut rng)?;
        if train.label.len() < 100 {
            return Err(Error::Data(format!(
                "{} training rows with demand in the year before their origin: too few to fit \
                 trees",
                train.label.len()
            )));
        }
        let valid = build(&rows, ds, &valid_keys, config.hide_plan, &mut rng)?;
        Ok(FitRows {
            layout,
            train,
            valid,
        })
    }

    /// The rows that choose the round and set the bands: the validation rows, or the training
    /// rows where too few.
    pub(crate) fn check(&self) -> &Built {
        if self.valid.label.len() >= MIN_VALID_ROWS {
            &self.valid
        } else {
            &self.train
        }
    }
}

/// The rows of `keys`; rows whose SKU had no demand in the year before the origin are left out.
pub(crate) fn build(
    rows: &Rows<'_>,
    ds: &WeeklyDataset,
    keys: &[Key],
    hide_plan: f64,
    rng: &mut StdRng,
) -> Result<Built> {
    let n = rows.layout_len();
    let mut out = Built {
        x: Vec::with_capacity(keys.len() * n),
        label: Vec::with_capacity(keys.len()),
        level: Vec::with_capacity(keys.len()),
        hidden: Vec::with_capacity(keys.len()),
    };
    for &(i, o, h) in keys {
        let s = &ds.series[i];
        let level = Rows::level(s, o);
        let hide = rng.random::<f64>() < hide_plan;
        if level.is_nan() || level <= 0.0 {
            continue;
        }
        let start = out.x.len();
        out.x.resize(start + n, 0.0f32);
        rows.write(
            s,
            At { o, h, level },
            Plan::Recorded,
            hide,
            &mut out.x[start..],
        )?;
        out.label.push((s.y[o + h] / level) as f32);
        out.level.push(level as f32);
        out.hidden.push(hide);
    }
    Ok(out)
}

/// LightGBM boosted on `train` (rows of `n` features) with `config`'s settings, `config.rounds`
/// rounds.
fn boost(train: &Built, n: i32, config: &TreeConfig, seed: u64, threads: usize) -> Result<Booster> {
    let mut dataset = Dataset::from_slice(&train.x, &train.label, n, true)?;
    dataset.set_weights(&train.weight())?;
    let params = json!({
        "objective": "tweedie",
        "tweedie_variance_power": config.tweedie_variance_power,
        "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves,
        "min_data_in_leaf": config.min_data_in_leaf,
        "feature_fraction": config.feature_fraction,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        // lightgbm3 1.0.2 boosts num_iterations − 1 rounds.
        "num_iterations": config.rounds + 1,
        "num_threads": threads.max(1),
        "seed": seed % (i32::MAX as u64),
        "deterministic": true,
        "force_row_wise": true,
        "verbosity": -1,
    });
    Ok(Booster::train(dataset, &params)?)
}

/// The weighted deviance on `check` over a grid of rounds, `(rounds, deviance)`; the booster is
/// left at the round with the least (the first of equals).
fn choose_round(
    booster: &mut Booster,
    check: &Built,
    config: &TreeConfig,
    n: i32,
) -> Result<Vec<(usize, f64)>> {
    let weight = check.weight();
    let step = (config.rounds / 20).max(10);
    let mut grid: Vec<usize> = (step..config.rounds).step_by(step).collect();
    grid.push(config.rounds);
    let mut curve = Vec::with_capacity(grid.len());
    for &r in &grid {
        booster.set_max_iterations(r as i32)?;
        let pred = booster.predict(&check.x, n, true)?;
        let d = deviance(&check.label, &pred, &weight, config.tweedie_variance_power);
        curve.push((r, d));
    }
    let best = least(&curve);
    booster.set_max_iterations(best.0 as i32)?;
    Ok(curve)
}

/// The first point of `curve` with the least deviance (the last round when none is finite).
fn least(curve: &[(usize, f64)]) -> (usize, f64) {
    curve
        .iter()
        .copied()
        .filter(|(_, d)| d.is_finite())
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .or_else(|| curve.last().copied())
        .unwrap_or((0, f64::NAN))
}

/// The quantile bands for forecasts that know the plan (`hidden` false) or not (true), from the
/// rows that knew as much, or all rows where too few did.
fn plan_bands(
    mu: &[f64],
    actual: &[f64],
    hidden_rows: &[bool],
    hidden: bool,
    levels: &[f64],
) -> Vec<Band> {
    let rows: Vec<usize> = (0..mu.len())
        .filter(|&i| hidden_rows[i] == hidden)
        .collect();
    if rows.len() >= MIN_VALID_ROWS {
        let pick = |v: &[f64]| rows.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        bands(&pick(mu), &pick(actual), levels)
    } else {
        bands(mu, actual, levels)
    }
}

/// Mean Tweedie deviance with power `p` of predictions `mu` for labels `y`, weighted.
fn deviance(y: &[f32], mu: &[f64], w: &[f32], p: f64) -> f64 {
    let (mut sum, mut total) = (0.0, 0.0);
    for ((&y, &m), &w) in y.iter().zip(mu).zip(w) {
        let (y, m, w) = (f64::from(y), m.max(1e-12), f64::from(w));
        let d = 2.0
            * (y.powf(2.0 - p) / ((1.0 - p) * (2.0 - p)) - y * m.powf(1.0 - p) / (1.0 - p)
                + m.powf(2.0 - p) / (2.0 - p));
        sum += w * d;
        total += w;
    }
    if total > 0.0 { sum / total } else { f64::NAN }
}

/// The band of predicted mean `mu` among `bands` (not empty).
fn band(bands: &[Band], mu: f64) -> &Band {
    bands
        .iter()
        .find(|b| b.upper.is_none_or(|u| mu <= u))
        .unwrap_or(&bands[bands.len() - 1])
}

/// Quantile bands of actual ÷ predicted mean, by increasing predicted mean.
fn bands(mu: &[f64], actual: &[f64], levels: &[f64]) -> Vec<Band> {
    let mut order: Vec<usize> = (0..mu.len()).filter(|&i| mu[i] > 0.0).collect();
    order.sort_by(|&a, &b| mu[a].total_cmp(&mu[b]));
    let count = (order.len() / BAND_ROWS).clamp(1, MAX_BANDS);
    let per = order.len().div_ceil(count).max(1);
    let mut out = Vec::new();
    for (b, chunk) in order.chunks(per).enumerate() {
        let mut ratios: Vec<f64> = chunk.iter().map(|&i| actual[i] / mu[i]).collect();
        ratios.sort_by(f64::total_cmp);
        let last = b + 1 == order.len().div_ceil(per);
        out.push(Band {
            upper: (!last).then(|| mu[chunk[chunk.len() - 1]]),
            ratios: levels.iter().map(|&q| quantile(&ratios, q)).collect(),
        });
    }
    if out.is_empty() {
        // No positive prediction at all: the mean itself at every level.
        out.push(Band {
            upper: None,
            ratios: vec![1.0; levels.len()],
        });
    }
    out
}

/// Linear-interpolation quantile (type 7) of sorted `v`.
fn quantile(v: &[f64], q: f64) -> f64 {
    let pos = q * (v.len() - 1) as f64;
    let (lo, frac) = (pos.floor() as usize, pos - pos.floor());
    if lo + 1 < v.len() {
        v[lo] * (1.0 - frac) + v[lo + 1] * frac
    } else {
        v[lo]
    }
}

pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let err = |e: std::io::Error| Error::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}
