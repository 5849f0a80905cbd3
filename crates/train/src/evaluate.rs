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

use std::borrow::Cow;

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
use crate::weights::load_best;
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
    let (chosen, short) = scored_series(prepared, &windows, config.data.min_history)?;
    let lineup = Lineup::of(run, prepared, weeks)?;
    let mut acc: Vec<AccuracyAccumulator> = lineup
        .names
        .iter()
        .map(|_| AccuracyAccumulator::new(levels.levels()))
        .collect();

    let (h_model, k) = (model_config.horizon, levels.len());
    let forecast = |buffer: &restock_data::windows::WindowBatch| {
        calibrated_quantiles(&model, &model_config, buffer, calibration.as_ref(), &device)
    };
    let mut buffer = windows.new_batch(batch);
    let mut no_rng = StdRng::seed_from_u64(0);
    for group in chosen.chunks(batch) {
        let indices: Vec<usize> = group.iter().map(|g| g.window).collect();
        windows.fill(&indices, &mut buffer);
        let mut outs = vec![forecast(&buffer)?];
        if lineup.without_plan {
            // Rate 1: every plan input of every row hidden.
            windows.hide_plan(&mut buffer, &prepared.plan_inputs, 1.0, &mut no_rng);
            outs.push(forecast(&buffer)?);
        }
        let mut tree_out = match &lineup.trees {
            Some(t) => {
                let origins: Vec<(usize, usize)> =
                    group.iter().map(|c| (c.sku, c.history - 1)).collect();
                t.forecast_at(ds, &origins, weeks, Plan::Recorded)?
            }
            None => Vec::new(),
        }
        .into_iter();
        // The baselines' fits, on all cores (each SKU's history alone); scored in row order below.
        let fits: Vec<Vec<Vec<f64>>> = group
            .par_iter()
            .map(|c| {
                let s = &ds.series[c.sku];
                let history = &s.y[..c.history];
                fitted_quantiles(&lineup.baselines, &s.unique_id, history, horizon, &levels)
            })
            .collect::<Result<_>>()?;
        for (row, (c, mut stats)) in group.iter().zip(fits).enumerate() {
            stats.extend(tree_out.next());
            let nets: Vec<Vec<f64>> = outs
                .iter()
                .map(|out| {
                    out[row * h_model * k..(row * h_model + weeks) * k]
                        .iter()
                        .map(|&v| f64::from(v))
                        .collect()
                })
                .collect();
            let s = &ds.series[c.sku];
            let history = &s.y[..c.history];
            let actual = &s.y[c.history..c.history + weeks];
            for (q, a) in lineup.forecasts(&nets, &stats).iter().zip(acc.iter_mut()) {
                let score = SeriesScore::new(history, actual, q, levels.levels())
                    .map_err(|e| Error::Evaluation(e.to_string()))?;
                a.add(&score);
            }
        }
    }
    let evaluation = Evaluation {
        test_start: prepared.valid_end.offset(1).to_string(),
        weeks,
        series: chosen.len(),
        short_series: short,
        models: lineup
            .names
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

/// A series scored on the test weeks: its window at the test origin and the weeks before it.
struct Scored {
    sku: usize,
    window: usize,
    history: usize,
}

/// Every series with `min_history` weeks before the test weeks, and how many were left out.
fn scored_series(
    prepared: &Prepared,
    windows: &Windows<'_>,
    min_history: usize,
) -> Result<(Vec<Scored>, usize)> {
    let mut chosen = Vec::new();
    let mut short = 0;
    for (sku, s) in prepared.dataset.series.iter().enumerate() {
        let history = s.start.weeks_until(prepared.valid_end) + 1;
        if history < min_history as i64 {
            short += 1;
            continue;
        }
        let history = history as usize;
        let window = windows.index_of(sku, history).ok_or_else(|| {
            Error::Evaluation(format!("SKU {}: no window at the test origin", s.unique_id))
        })?;
        chosen.push(Scored {
            sku,
            window,
            history,
        });
    }
    if chosen.is_empty() {
        return Err(Error::Evaluation(format!(
            "no series has data.min_history = {min_history} weeks before the test weeks"
        )));
    }
    Ok((chosen, short))
}

/// The models scored, in row order: the network with the recorded plan (`lstm`), and, when the
/// run can forecast without one, with it hidden (`lstm_no_plan`, what `restock forecast` gives
/// without `--future`); the baselines; the run's trees (`lightgbm`, given the recorded plan like
/// `lstm`); then ensembles, each the mean of the network and members (indices into the
/// baselines, then the trees), scored as `lstm+<members>`: the network with its trees when the
/// run has them (the simple mean the issue asks to measure), then what the run serves when its
/// validation weeks chose an ensemble (`serving.json`), last. A run serving its trees alone is
/// scored by the `lightgbm` row.
struct Lineup {
    names: Vec<String>,
    without_plan: bool,
    baselines: Vec<Baseline>,
    trees: Option<restock_trees::TreeModel>,
    ensembles: Vec<Vec<usize>>,
}

impl Lineup {
    fn of(run: &RunDir, prepared: &Prepared, weeks: usize) -> Result<Lineup> {
        let mut names = vec!["lstm".to_string()];
        let without_plan = !prepared.plan_inputs.is_empty();
        if without_plan {
            names.push("lstm_no_plan".to_string());
        }
        let baselines: Vec<Baseline> = Baseline::NAMES
            .iter()
            .map(|n| Baseline::parse(n).map_err(|e| Error::Evaluation(e.to_string())))
            .collect::<Result<_>>()?;
        names.extend(baselines.iter().map(|b| b.name().to_string()));
        let trees = run.trees()?.filter(|t| t.horizon() >= weeks);
        if trees.is_some() {
            names.push(restock_trees::MODEL_NAME.to_string());
        }
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
                                Error::Evaluation(format!(
                                    "serving.json names an unknown model {m:?}"
                                ))
                            })
                    })
                    .collect::<Result<Vec<usize>>>()
            })
            .collect::<Result<_>>()?;
        Ok(Lineup {
            names,
            without_plan,
            baselines,
            trees,
            ensembles,
        })
    }

    /// One series' forecasts in row order, from the network's (`nets`: with the plan, then
    /// without) and the members' (`stats`: the baselines, then the trees).
    fn forecasts<'a>(&self, nets: &'a [Vec<f64>], stats: &'a [Vec<f64>]) -> Vec<Cow<'a, [f64]>> {
        let mut rows: Vec<Cow<'a, [f64]>> = nets
            .iter()
            .chain(stats)
            .map(|q| Cow::Borrowed(q.as_slice()))
            .collect();
        for members in &self.ensembles {
            let parts = (1 + members.len()) as f64;
            rows.push(Cow::Owned(
                (0..nets[0].len())
                    .map(|j| {
                        (nets[0][j] + members.iter().map(|&b| stats[b][j]).sum::<f64>()) / parts
                    })
                    .collect(),
            ));
        }
        rows
    }
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
