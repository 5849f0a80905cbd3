//! Accuracy on the held-out test weeks: the trained network against the statistical baselines,
//! with the metrics of the benchmark protocol (`shared/data/README.md`).
//!
//! Every series with at least `data.min_history` weeks before the test weeks is forecast from
//! its history alone (features known in advance — calendar, planned prices — may be used; test
//! demand may not). The network is scored with the plan the test weeks recorded (`lstm`, what a
//! backtest gives it) and, for runs that learned to forecast without one, with the plan hidden
//! (`lstm_no_plan`, what `restock forecast` gives without a known-future file), and, when the run
//! serves an ensemble (`serving.json`), that ensemble (`lstm+<members>`); a run with trees adds
//! them alone (`lightgbm`) and their mean with the network (`lstm+lightgbm`). Scales are refitted on the whole history, as inference does. The network's
//! quantiles are calibrated with the run's `calibration.json` when it has one, as inference does.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rayon::prelude::*;
use restock_core::{Forecaster, Horizon, Predict, Quantiles};
use restock_data::features;
use restock_data::windows::Windows;
use restock_stats::{Accuracy, AccuracyAccumulator, Baseline, SeriesScore, accuracy_table};
use restock_trees::Plan;
use serde::{Deserialize, Serialize};

use crate::calibrate::calibrated_quantiles;
use crate::prepare::Prepared;
use crate::trainer::load_best;
use crate::{Error, Result, RunDir};

/// Accuracy of every model on the test weeks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// First test week.
    pub test_start: String,
    /// Test weeks scored.
    pub weeks: usize,
    /// Series scored.
    pub series: usize,
    /// Series left out for a short history.
    pub short_series: usize,
    /// One row per model, the network first.
    pub models: Vec<ModelAccuracy>,
}

/// One model's accuracy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelAccuracy {
    /// The model.
    pub model: String,
    /// Its metrics.
    #[serde(flatten)]
    pub accuracy: Accuracy,
}

/// Evaluate the run's best weights and the baselines on the test weeks, and write
/// `evaluation.json`.
pub fn evaluate(run: &RunDir, prepared: &Prepared, batch: usize) -> Result<Evaluation> {
    let config = run.config()?;
    let model_config = run.model_config()?;
    let weeks = config.data.test_weeks;
    if weeks == 0 {
        return Err(Error::Evaluation(
            "data.test_weeks = 0: there are no test weeks to score".into(),
        ));
    }
    let levels = Quantiles::new(model_config.quantiles.clone())
        .map_err(|e| Error::Evaluation(e.to_string()))?;
    let horizon = Horizon::new(weeks).map_err(|e| Error::Evaluation(e.to_string()))?;
    let (model, device) = load_best(run, &config, &model_config)?;
    let calibration = run.calibration()?;

    let ds = &prepared.dataset;
    let feats = features::build(ds, &prepared.schema, prepared.valid_end);
    let windows = Windows::new(ds, &feats, &prepared.schema, prepared.spec, ds.last_week);

    // (sku, window index, history length) of every scored series.
    let mut chosen = Vec::new();
    let mut short = 0;
    for (sku, s) in ds.series.iter().enumerate() {
        let history = s.start.weeks_until(prepared.valid_end) + 1;
        if history < config.data.min_history as i64 {
            short += 1;
            continue;
        }
        let e = history as usize;
        let index = windows.index_of(sku, e).ok_or_else(|| {
            Error::Evaluation(format!("SKU {}: no window at the test origin", s.unique_id))
        })?;
        chosen.push((sku, index, e));
    }
    if chosen.is_empty() {
        return Err(Error::Evaluation(format!(
            "no series has data.min_history = {} weeks before the test weeks",
            config.data.min_history
        )));
    }

    let k = levels.len();
    // The network with the plan the test weeks recorded (`lstm`), and, when the run can
    // forecast without one, with it hidden (`lstm_no_plan`, what `restock forecast` gives
    // without `--future`).
    let mut names = vec!["lstm".to_string()];
    let without_plan = !prepared.plan_inputs.is_empty();
    if without_plan {
        names.push("lstm_no_plan".to_string());
    }
    let networks = names.len();
    let baselines: Vec<Baseline> = Baseline::NAMES
        .iter()
        .map(|n| Baseline::parse(n).map_err(|e| Error::Evaluation(e.to_string())))
        .collect::<Result<_>>()?;
    names.extend(baselines.iter().map(|b| b.name().to_string()));
    // The run's trees, given the recorded plan like `lstm`, scored as `lightgbm` (their position
    // among the members below is after the baselines).
    let trees = run.trees()?.filter(|t| t.horizon() >= weeks);
    if trees.is_some() {
        names.push(restock_trees::MODEL_NAME.to_string());
    }
    // Ensembles, each the mean of the network (given the recorded plan) and members (indices
    // into the baselines, then the trees), scored as `lstm+<members>`: the network with its
    // trees when the run has them (the simple mean the issue asks to measure), then what the run
    // serves when its validation weeks chose an ensemble (`serving.json`), last.
    // A run serving its trees alone is scored by the `lightgbm` row.
    let served_names = run
        .serving()?
        .filter(|s| s.network)
        .map(|s| s.combine)
        .unwrap_or_default();
    let mut ensembles: Vec<Vec<String>> = Vec::new();
    if trees.is_some() && served_names != [restock_trees::MODEL_NAME] {
        ensembles.push(vec![restock_trees::MODEL_NAME.to_string()]);
    }
    if !served_names.is_empty() {
        ensembles.push(served_names);
    }
    let ensembles: Vec<Vec<usize>> = ensembles
        .into_iter()
        .map(|members| {
            names.push(format!("lstm+{}", members.join("+")));
            members
                .iter()
                .map(|m| {
                    let tree = (m == restock_trees::MODEL_NAME && trees.is_some())
                        .then_some(baselines.len());
                    baselines
                        .iter()
                        .position(|b| b.name() == m)
                        .or(tree)
                        .ok_or_else(|| {
                            Error::Evaluation(format!("serving.json names an unknown model {m:?}"))
                        })
                })
                .collect::<Result<Vec<usize>>>()
        })
        .collect::<Result<_>>()?;
    let first_ensemble = names.len() - ensembles.len();
    let mut acc: Vec<AccuracyAccumulator> = names
        .iter()
        .map(|_| AccuracyAccumulator::new(levels.levels()))
        .collect();

    let h_model = model_config.horizon;
    let forecast = |buffer: &restock_data::windows::WindowBatch| {
        calibrated_quantiles(&model, &model_config, buffer, calibration.as_ref(), &device)
    };
    let mut buffer = windows.new_batch(batch);
    let mut no_rng = StdRng::seed_from_u64(0);
    for group in chosen.chunks(batch) {
        let indices: Vec<usize> = group.iter().map(|g| g.1).collect();
        windows.fill(&indices, &mut buffer);
        let mut outs = vec![forecast(&buffer)?];
        if without_plan {
            // Rate 1: every plan input of every row hidden.
            windows.hide_plan(&mut buffer, &prepared.plan_inputs, 1.0, &mut no_rng);
            outs.push(forecast(&buffer)?);
        }
        let mut tree_out = match &trees {
            Some(t) => {
                let origins: Vec<(usize, usize)> =
                    group.iter().map(|&(sku, _, e)| (sku, e - 1)).collect();
                t.forecast_at(ds, &origins, weeks, Plan::Recorded)?
            }
            None => Vec::new(),
        }
        .into_iter();
        // The baselines' fits, on all cores (each SKU's history alone); scored in row order below.
        let fits: Vec<Vec<Vec<f64>>> = group
            .par_iter()
            .map(|&(sku, _, e)| {
                let s = &ds.series[sku];
                fitted_quantiles(&baselines, &s.unique_id, &s.y[..e], horizon, &levels)
            })
            .collect::<Result<_>>()?;
        for (row, (&(sku, _, e), mut stats)) in group.iter().zip(fits).enumerate() {
            stats.extend(tree_out.next());
            let s = &ds.series[sku];
            let history = &s.y[..e];
            let actual = &s.y[e..e + weeks];
            let score = |q: &[f64]| {
                SeriesScore::new(history, actual, q, levels.levels())
                    .map_err(|e| Error::Evaluation(e.to_string()))
            };
            let nets: Vec<Vec<f64>> = outs
                .iter()
                .map(|out| {
                    out[row * h_model * k..(row * h_model + weeks) * k]
                        .iter()
                        .map(|&v| f64::from(v))
                        .collect()
                })
                .collect();
            for (net, a) in nets.iter().zip(acc.iter_mut()) {
                a.add(&score(net)?);
            }
            for (q, a) in stats.iter().zip(acc.iter_mut().skip(networks)) {
                a.add(&score(q)?);
            }
            for (members, a) in ensembles.iter().zip(acc.iter_mut().skip(first_ensemble)) {
                let parts = (1 + members.len()) as f64;
                let mean: Vec<f64> = (0..nets[0].len())
                    .map(|j| {
                        (nets[0][j] + members.iter().map(|&b| stats[b][j]).sum::<f64>()) / parts
                    })
                    .collect();
                a.add(&score(&mean)?);
            }
        }
    }
    let evaluation = Evaluation {
        test_start: prepared.valid_end.offset(1).to_string(),
        weeks,
        series: chosen.len(),
        short_series: short,
        models: names
            .into_iter()
            .zip(acc)
            .map(|(model, a)| ModelAccuracy {
                model,
                accuracy: a.finish(),
            })
            .collect(),
    };
    run.write_json("evaluation.json", &evaluation)?;
    Ok(evaluation)
}

/// Each of `baselines` fitted on `history` (of SKU `id`, named in errors): its quantiles over
/// `horizon` at `levels`.
pub(crate) fn fitted_quantiles(
    baselines: &[Baseline],
    id: &str,
    history: &[f64],
    horizon: Horizon,
    levels: &Quantiles,
) -> Result<Vec<Vec<f64>>> {
    baselines
        .iter()
        .map(|b| {
            b.fit(history)
                .map(|f| f.predict(horizon, levels))
                .map_err(|err| Error::Evaluation(format!("SKU {id}: {err}")))
        })
        .collect()
}

impl Evaluation {
    /// A plain-text table, one row per model.
    pub fn table(&self) -> String {
        let mut out = format!(
            "test weeks from {} ({} weeks), {} series ({} with a short history left out)\n",
            self.test_start, self.weeks, self.series, self.short_series
        );
        out.push_str(&accuracy_table(
            self.models.iter().map(|m| (m.model.as_str(), &m.accuracy)),
        ));
        out
    }
}
