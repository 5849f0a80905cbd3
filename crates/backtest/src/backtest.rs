//! Rolling-origin backtest: forecast from several cutoffs with the trained network and the
//! statistical baselines, and score every forecast against what happened.
//!
//! Cutoffs end `horizon` weeks before the data does and step back `step` weeks at a time. At each
//! cutoff the catalogue is cut there ([`WeeklyDataset::truncate`]): the forecasts see exactly what
//! a forecast job run that week would have seen (prices carried forward, no future calendar), and
//! scales are taken from the history up to the cutoff. A cutoff before the run's last training
//! week is refused, as its "forecasts" would be scored on weeks the network was fitted on.
//!
//! Models scored on every series with `min_history` weeks before the cutoff:
//! - `restock`: what `restock forecast` serves (the network, or the route's fallback);
//! - `lstm`: the network on every such series;
//! - the baselines of `restock-stats` (naive, seasonal naive, moving average, Croston, TSB).

use std::collections::BTreeMap;
use std::time::Instant;

use rayon::prelude::*;
use restock_core::{Forecaster, Horizon, Predict, Week};
use restock_data::WeeklyDataset;
use restock_data::future::KnownFuture;
use restock_infer::protection::calibration_origins;
use restock_infer::{Network, Route};
use restock_planner::protection_level;
use restock_stats::{
    AccuracyAccumulator, Baseline, ProtectionCalibration, ProtectionCase, SeriesScore,
    protection_moments,
};

use crate::classes::{SkuClass, classify};
use crate::{Error, Result};

mod results;

pub(crate) use results::parse_week;
pub use results::{
    Backtest, BacktestSummary, CutoffInfo, PROTECTION_LEVELS, ProtectionCoverage, ProtectionMean,
    ScoredForecast, SliceAccuracy,
};

/// Options of a backtest.
#[derive(Debug, Clone)]
pub struct BacktestOptions {
    /// Number of cutoffs, >= 1.
    pub windows: usize,
    /// Weeks between two cutoffs, >= 1.
    pub step: usize,
    /// Weeks forecast from each cutoff, 1..= the run's horizon.
    pub horizon: usize,
    /// Fewest weeks of history before a cutoff for a series to be scored (the protocol's 20).
    pub min_history: usize,
    /// Score cutoffs inside the run's training weeks anyway.
    pub allow_in_sample: bool,
    /// SKUs per network batch.
    pub batch_size: usize,
    /// The forecast job's intermittent threshold (see `restock_infer::ForecastOptions`).
    pub intermittent_adi: f64,
    /// A static attribute (e.g. `cat_id`) to break the accuracy down by.
    pub group_by: Option<String>,
    /// Weeks of the protection interval (lead time + review period) whose demand the planner's
    /// order-up-to levels are checked against, 1..=horizon.
    pub protection_weeks: usize,
}

impl Default for BacktestOptions {
    fn default() -> Self {
        BacktestOptions {
            windows: 3,
            step: 4,
            horizon: 8,
            min_history: 20,
            allow_in_sample: false,
            batch_size: 4096,
            intermittent_adi: f64::INFINITY,
            group_by: None,
            protection_weeks: 3,
        }
    }
}

/// The cutoffs of a backtest on data ending `last`: oldest first.
pub fn cutoffs(last: Week, windows: usize, step: usize, horizon: usize) -> Vec<Week> {
    (0..windows)
        .rev()
        .map(|i| last.offset(-((horizon + i * step) as i64)))
        .collect()
}

/// The weeks a run was fitted and early-stopped on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunWeeks {
    /// Last training target week.
    pub train_end: Option<Week>,
    /// Last validation week.
    pub valid_end: Option<Week>,
}

impl RunWeeks {
    /// From a run's summary (runs written before the weeks were recorded know neither).
    pub fn of(summary: Option<&restock_train::RunSummary>) -> Self {
        let week = |w: &Option<String>| w.as_deref().and_then(parse_week);
        RunWeeks {
            train_end: summary.and_then(|s| week(&s.train_end)),
            valid_end: summary.and_then(|s| week(&s.valid_end)),
        }
    }
}

/// Run a backtest of `network` (fitted on `run_weeks`) on `ds`. `progress(done, cutoffs)` is
/// called after each cutoff.
pub fn backtest(
    network: &Network,
    run_weeks: RunWeeks,
    ds: &WeeklyDataset,
    options: &BacktestOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Backtest> {
    let started = Instant::now();
    let o = options;
    let plan = checked_plan(network, ds, o)?;
    let cuts = &plan.cuts;
    let mut infos = cutoff_infos(cuts, run_weeks, o.allow_in_sample)?;
    let levels = network.levels().clone();
    let baselines: Vec<Baseline> = Baseline::NAMES
        .iter()
        .map(|n| Baseline::parse(n).map_err(|e| Error::Option(e.to_string())))
        .collect::<Result<_>>()?;
    let mut models = vec!["restock".to_string(), "lstm".to_string()];
    models.extend(baselines.iter().map(|b| b.name().to_string()));
    // The run's trees on their own, when it has them (whether or not it serves them).
    if network.trees().is_some() {
        models.push(restock_trees::MODEL_NAME.to_string());
    }
    let classes = classify(ds, cuts[0]);
    let scorer = Scorer {
        network,
        ds,
        options: o,
        horizon: plan.horizon,
        min_history: plan.min_history,
        baselines: &baselines,
        index: ds
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| (s.unique_id.as_str(), i))
            .collect(),
    };

    // Calibration origins (`restock_infer::protection`): a year of weeks before the first cutoff
    // whose forecast weeks all lie before it, so that every cutoff's protection levels are calibrated on demand known by then.
    let warm: Vec<Week> = calibration_origins(cuts[0], o.horizon)
        .into_iter()
        .filter(|&c| c >= ds.first_week.offset(plan.min_history as i64 - 1))
        .collect();
    let mut forecasts = Vec::new();
    let mut warm_forecasts = Vec::new();
    let all_cuts: Vec<Week> = warm.iter().chain(cuts).copied().collect();
    for (ai, &cut) in all_cuts.iter().enumerate() {
        let scoring = ai >= warm.len();
        let ci = ai.saturating_sub(warm.len());
        if let Some((rows, series, short)) = scorer.at(cut, ci)? {
            if scoring {
                (infos[ci].series, infos[ci].short_series) = (series, short);
                forecasts.extend(rows);
            } else {
                warm_forecasts.extend(rows);
            }
        }
        debug_assert!(
            forecasts
                .iter()
                .all(|f| f.values.len() == o.horizon * levels.len())
        );
        progress(ai + 1, all_cuts.len());
    }
    if forecasts.is_empty() {
        return Err(Error::Option(format!(
            "no series has {} weeks of history before the first cutoff {}",
            plan.min_history, cuts[0]
        )));
    }
    let (overall, slices) = accuracy_slices(
        &forecasts,
        &classes,
        &infos,
        ds,
        plan.group_col.zip(o.group_by.as_deref()),
        &models,
        levels.levels(),
    );
    let (protection, protection_mean) = protection_coverage(
        &forecasts,
        &warm_forecasts,
        ds,
        (&warm, cuts),
        &models,
        levels.levels(),
        o,
    );
    let summary = BacktestSummary {
        horizon: o.horizon,
        step: o.step,
        levels: levels.levels().to_vec(),
        models,
        cutoffs: infos,
        train_end: run_weeks.train_end.map(|t| t.to_string()),
        classes_at: cuts[0].to_string(),
        overall,
        protection,
        protection_mean,
        slices,
        backend: network.backend().to_string(),
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok(Backtest {
        summary,
        forecasts,
        classes,
    })
}

/// The checked options of a backtest: its horizon, the history a series needs, the static
/// attribute to group by, and the cutoffs.
struct BacktestPlan {
    horizon: Horizon,
    min_history: usize,
    group_col: Option<usize>,
    cuts: Vec<Week>,
}

fn checked_plan(
    network: &Network,
    ds: &WeeklyDataset,
    o: &BacktestOptions,
) -> Result<BacktestPlan> {
    if o.windows == 0 || o.step == 0 {
        return Err(Error::Option(
            "--windows and --step must be at least 1".into(),
        ));
    }
    let horizon = Horizon::new(o.horizon).map_err(|e| Error::Option(format!("--horizon: {e}")))?;
    if o.horizon > network.horizon() {
        return Err(Error::Option(format!(
            "--horizon {}: the run forecasts at most {} weeks (its window.horizon)",
            o.horizon,
            network.horizon()
        )));
    }
    if o.protection_weeks == 0 || o.protection_weeks > o.horizon {
        return Err(Error::Option(format!(
            "--protection-weeks {}: must be between 1 and --horizon ({})",
            o.protection_weeks, o.horizon
        )));
    }
    let min_history = o.min_history.max(network.min_context());
    let group_col = match &o.group_by {
        Some(g) => Some(ds.statics.iter().position(|s| s == g).ok_or_else(|| {
            Error::Option(format!(
                "--group-by {g}: not a static attribute of the data (it has: {})",
                if ds.statics.is_empty() {
                    "none".to_string()
                } else {
                    ds.statics.join(", ")
                }
            ))
        })?),
        None => None,
    };
    let cuts = cutoffs(ds.last_week, o.windows, o.step, o.horizon);
    if cuts[0] < ds.first_week.offset(min_history as i64 - 1) {
        return Err(Error::Option(format!(
            "the data ({} .. {}) is too short for {} cutoffs {} weeks apart with {} weeks of horizon \
             and {} weeks of history: the first cutoff would be {}",
            ds.first_week, ds.last_week, o.windows, o.step, o.horizon, min_history, cuts[0]
        )));
    }
    Ok(BacktestPlan {
        horizon,
        min_history,
        group_col,
        cuts,
    })
}

/// Each cutoff's description; a cutoff inside the run's training weeks is an error unless
/// `allow_in_sample`.
fn cutoff_infos(
    cuts: &[Week],
    run_weeks: RunWeeks,
    allow_in_sample: bool,
) -> Result<Vec<CutoffInfo>> {
    let train_end = run_weeks.train_end;
    cuts.iter()
        .map(|&c| {
            let in_training = train_end.is_some_and(|t| c < t);
            if in_training && !allow_in_sample {
                return Err(Error::InSample {
                    cutoff: c.to_string(),
                    train_end: train_end.map(|t| t.to_string()).unwrap_or_default(),
                });
            }
            Ok(CutoffInfo {
                cutoff: c.to_string(),
                series: 0,
                short_series: 0,
                in_validation: !in_training && run_weeks.valid_end.is_some_and(|v| c < v),
                in_training,
            })
        })
        .collect()
}

/// Forecasts and scores every model at one cutoff.
struct Scorer<'a> {
    network: &'a Network,
    ds: &'a WeeklyDataset,
    options: &'a BacktestOptions,
    horizon: Horizon,
    min_history: usize,
    baselines: &'a [Baseline],
    /// Each SKU's index in `ds`.
    index: BTreeMap<&'a str, usize>,
}

impl Scorer<'_> {
    /// The scored forecasts of every model at `cut` (the `ci`-th cutoff), with the series
    /// scored and those too short; `None` when no series has history by then.
    fn at(&self, cut: Week, ci: usize) -> Result<Option<(Vec<ScoredForecast>, usize, usize)>> {
        let (network, ds, o) = (self.network, self.ds, self.options);
        let levels = network.levels();
        let Some(view) = ds.truncate(cut) else {
            return Ok(None);
        };
        // Series long enough to score (indices into `view.series`).
        let scored: Vec<usize> = (0..view.series.len())
            .filter(|&i| view.series[i].y.len() >= self.min_history)
            .collect();
        // The plan (events, prices, promotions) recorded for the forecast weeks, as the buyer
        // had it when forecasting.
        let plan = KnownFuture::recorded(ds, cut.offset(1), o.horizon, &network.plan_columns());
        let served = network.forecast_catalogue(
            &view,
            self.horizon,
            self.min_history.min(network.min_context().max(8)),
            o.intermittent_adi,
            o.batch_size,
            Some(&plan),
        )?;
        // The network for the scored series the forecast job routes elsewhere.
        let others: Vec<usize> = scored
            .iter()
            .copied()
            .filter(|&i| served.routes[i] != Route::Network)
            .collect();
        let (other_values, _, _) =
            network.forecast_network(&view, &others, o.horizon, o.batch_size, Some(&plan))?;
        let mut lstm: BTreeMap<usize, Vec<f64>> = others.into_iter().zip(other_values).collect();
        // The trees for every scored series, after the baselines.
        let mut trees = match network.trees() {
            Some(t) => t.forecast(&view, &scored, o.horizon, Some(&plan))?,
            None => Vec::new(),
        }
        .into_iter();
        let tree_model = 2 + self.baselines.len();
        let score = |sku: usize,
                     history: &[f64],
                     values: Vec<f64>,
                     model: usize|
         -> Result<ScoredForecast> {
            let actual = &ds.series[sku].y[history.len()..history.len() + o.horizon];
            let score =
                SeriesScore::new(history, actual, &values, levels.levels()).map_err(|e| {
                    Error::Sku {
                        sku: ds.series[sku].unique_id.clone(),
                        message: e.to_string(),
                    }
                })?;
            Ok(ScoredForecast {
                sku,
                cutoff: ci,
                model,
                values,
                score,
            })
        };
        let rows: Vec<Vec<ScoredForecast>> = scored
            .par_iter()
            .map(|&i| -> Result<Vec<ScoredForecast>> {
                let s = &view.series[i];
                let sku = self.index[s.unique_id.as_str()];
                let mut out = Vec::with_capacity(2 + self.baselines.len());
                out.push(score(sku, &s.y, served.values[i].clone(), 0)?);
                for (b, baseline) in self.baselines.iter().enumerate() {
                    let fitted = baseline.fit(&s.y).map_err(|e| Error::Sku {
                        sku: s.unique_id.clone(),
                        message: e.to_string(),
                    })?;
                    out.push(score(
                        sku,
                        &s.y,
                        fitted.predict(self.horizon, levels),
                        2 + b,
                    )?);
                }
                Ok(out)
            })
            .collect::<Result<_>>()?;
        let mut all = Vec::with_capacity(rows.len() * (2 + self.baselines.len()));
        for (&i, mut r) in scored.iter().zip(rows) {
            let net = lstm.remove(&i).unwrap_or_else(|| served.values[i].clone());
            r.insert(1, score(r[0].sku, &view.series[i].y, net, 1)?);
            if let Some(t) = trees.next() {
                r.push(score(r[0].sku, &view.series[i].y, t, tree_model)?);
            }
            all.extend(r);
        }
        Ok(Some((all, scored.len(), view.series.len() - scored.len())))
    }
}

/// Accuracy over everything (`overall`) and by cutoff, ABC, XYZ, ABC×XYZ class and the
/// `group` static attribute (`slices`), per model.
fn accuracy_slices(
    forecasts: &[ScoredForecast],
    classes: &[SkuClass],
    infos: &[CutoffInfo],
    ds: &WeeklyDataset,
    group: Option<(usize, &str)>,
    models: &[String],
    levels: &[f64],
) -> (Vec<SliceAccuracy>, Vec<SliceAccuracy>) {
    let mut acc: BTreeMap<(String, String, usize), AccuracyAccumulator> = BTreeMap::new();
    for f in forecasts {
        let c = &classes[f.sku];
        let mut keys = vec![
            ("all".to_string(), "all".to_string()),
            ("cutoff".to_string(), infos[f.cutoff].cutoff.clone()),
            ("abc".to_string(), c.abc.to_string()),
            ("xyz".to_string(), c.xyz.to_string()),
            ("abc_xyz".to_string(), c.label()),
        ];
        if let Some((col, name)) = group {
            keys.push((name.to_string(), ds.series[f.sku].statics[col].clone()));
        }
        for (d, v) in keys {
            acc.entry((d, v, f.model))
                .or_insert_with(|| AccuracyAccumulator::new(levels))
                .add(&f.score);
        }
    }
    let mut overall = Vec::new();
    let mut slices = Vec::new();
    for ((dimension, value, model), a) in acc {
        let row = SliceAccuracy {
            dimension,
            value,
            model: models[model].clone(),
            accuracy: a.finish(),
        };
        if row.dimension == "all" {
            overall.push(row);
        } else {
            slices.push(row);
        }
    }
    (overall, slices)
}

/// [`ProtectionCoverage`] of every model at [`PROTECTION_LEVELS`]. Each cutoff's levels are
/// calibrated ([`ProtectionCalibration`]) on the same model's forecasts at the calibration
/// origins and at the earlier cutoffs whose forecast weeks lie before it: what a buyer running
/// the model every week would have known. With it, each model's [`ProtectionMean`].
fn protection_coverage(
    forecasts: &[ScoredForecast],
    warm_forecasts: &[ScoredForecast],
    ds: &WeeklyDataset,
    (warm, cuts): (&[Week], &[Week]),
    models: &[String],
    levels: &[f64],
    o: &BacktestOptions,
) -> (Vec<ProtectionCoverage>, Vec<ProtectionMean>) {
    let (p, k) = (o.protection_weeks, levels.len());
    let start_of = |f: &ScoredForecast, cut: Week| {
        let s = &ds.series[f.sku];
        (s.start.weeks_until(cut) + 1).max(0) as usize
    };
    let cases_of = |f: &ScoredForecast, cut: Week| {
        let from = start_of(f, cut);
        let s = &ds.series[f.sku];
        ProtectionCalibration::cases_of(
            &f.values,
            levels,
            &s.y[from..from + o.horizon],
            i64::from(cut.day_number()),
        )
    };
    // Per model and cutoff: its calibration.
    let calibrations: Vec<Vec<Option<ProtectionCalibration>>> = (0..models.len())
        .into_par_iter()
        .map(|m| {
            let warm_cases: Vec<ProtectionCase> = warm_forecasts
                .iter()
                .filter(|f| f.model == m)
                .flat_map(|f| cases_of(f, warm[f.cutoff]))
                .collect();
            cuts.iter()
                .map(|&cut| {
                    let mut cases = warm_cases.clone();
                    cases.extend(
                        forecasts
                            .iter()
                            .filter(|f| {
                                f.model == m && cuts[f.cutoff].offset(o.horizon as i64) <= cut
                            })
                            .flat_map(|f| cases_of(f, cuts[f.cutoff])),
                    );
                    ProtectionCalibration::fit(o.horizon, &cases)
                })
                .collect()
        })
        .collect();
    let mut covered = vec![[0usize; PROTECTION_LEVELS.len()]; models.len()];
    let mut covered_normal = vec![[0usize; PROTECTION_LEVELS.len()]; models.len()];
    let mut count = vec![0usize; models.len()];
    // Per model: Σ D_P, Σ (mean from the quantiles − D_P), Σ (calibrated mean − D_P).
    let mut bias = vec![[0.0f64; 3]; models.len()];
    for f in forecasts {
        let from = start_of(f, cuts[f.cutoff]);
        let demand: f64 = ds.series[f.sku].y[from..from + p].iter().sum();
        let q: Vec<Vec<f64>> = f.values.chunks(k).take(p).map(<[f64]>::to_vec).collect();
        let calibration = calibrations[f.model][f.cutoff].as_ref();
        count[f.model] += 1;
        let (mean, sigma) = protection_moments(&q, levels, p);
        let expected = calibration.map_or(mean, |c| c.expected_of(mean, sigma, p));
        let b = &mut bias[f.model];
        b[0] += demand;
        b[1] += mean - demand;
        b[2] += expected - demand;
        for (j, &level) in PROTECTION_LEVELS.iter().enumerate() {
            if demand <= protection_level(&q, levels, level, p, calibration) + 1e-9 {
                covered[f.model][j] += 1;
            }
            if demand <= protection_level(&q, levels, level, p, None) + 1e-9 {
                covered_normal[f.model][j] += 1;
            }
        }
    }
    let mut out = Vec::new();
    for (m, model) in models.iter().enumerate() {
        let n = count[m].max(1) as f64;
        for (j, &level) in PROTECTION_LEVELS.iter().enumerate() {
            out.push(ProtectionCoverage {
                model: model.clone(),
                weeks: p,
                level,
                share: covered[m][j] as f64 / n,
                normal_share: Some(covered_normal[m][j] as f64 / n),
            });
        }
    }
    let means = models
        .iter()
        .zip(&bias)
        .map(|(model, b)| {
            let total = b[0].max(1e-9);
            ProtectionMean {
                model: model.clone(),
                weeks: p,
                quantile_bias: b[1] / total,
                calibrated_bias: b[2] / total,
            }
        })
        .collect();
    (out, means)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoffs_step_back_from_the_end() {
        let last = Week::containing_day(700);
        let c = cutoffs(last, 3, 4, 8);
        assert_eq!(c, vec![last.offset(-16), last.offset(-12), last.offset(-8)]);
        assert_eq!(parse_week(&last.to_string()), Some(last));
    }
}
