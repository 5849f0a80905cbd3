//! Quantile calibration on the validation weeks.
//!
//! A network trained with the pinball loss can still come out with quantiles that sit too low or
//! too close together on new weeks (on M5 its q10–q90 interval covered 78 % of the test weeks,
//! and its median was biased low). Each quantile level is recalibrated on its own, per horizon
//! week, as in conformalised quantile regression: on every validation window (targets after the
//! training weeks, never the test weeks), the residual `r = y − q̂` is taken in the window's
//! scaled units; the offset `δ[h][k]` is the `τ_k` empirical quantile of those residuals, so that
//! exactly a share `τ_k` of validation targets falls at or below `q̂ + δ`. Served forecasts get
//! `q̂ + δ·scale`, clipped at 0 and made non-decreasing across levels again.
//!
//! The offsets live in the run's `calibration.json`; a run without one serves raw quantiles.

use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use restock_data::windows::WindowBatch;
use restock_model::{DemandModel, DemandModelConfig};
use serde::{Deserialize, Serialize};

use crate::prepare::{Prepared, VALID_HIDE_SEED};
use crate::trainer::batch_input;
use crate::weights::load_best;
use crate::{Error, Result, RunDir};

/// Per-horizon, per-level offsets in scaled units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Quantile levels.
    pub levels: Vec<f64>,
    /// `offsets[h][k]`, to be multiplied by a window's scale.
    pub offsets: Vec<Vec<f64>>,
    /// Validation windows used.
    pub windows: usize,
    /// Share of validation targets at or below each level before calibration.
    pub coverage_before: Vec<f64>,
    /// ... and after (the levels themselves, up to ties).
    pub coverage_after: Vec<f64>,
}

/// The `tau` empirical quantile of `v` (sorted in place): the smallest value with at least a
/// share `tau` of the values at or below it ([`restock_stats::conformal_quantile`]), as
/// conformal calibration needs.
fn empirical_quantile(v: &mut [f64], tau: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    restock_stats::conformal_quantile(v, tau)
}

impl Calibration {
    /// Fit offsets from scaled targets `y[i][h]` and scaled forecasts `q[i][h * levels + k]`.
    pub fn fit(levels: &[f64], horizon: usize, y: &[Vec<f32>], q: &[Vec<f32>]) -> Self {
        let k = levels.len();
        let mut offsets = vec![vec![0.0; k]; horizon];
        let mut before = vec![0usize; k];
        let mut after = vec![0usize; k];
        let mut total = 0usize;
        for h in 0..horizon {
            for (j, &tau) in levels.iter().enumerate() {
                let mut r: Vec<f64> = y
                    .iter()
                    .zip(q)
                    .map(|(y, q)| f64::from(y[h]) - f64::from(q[h * k + j]))
                    .collect();
                before[j] += r.iter().filter(|&&x| x <= 0.0).count();
                let d = empirical_quantile(&mut r, tau);
                after[j] += r.iter().filter(|&&x| x <= d).count();
                offsets[h][j] = d;
            }
            total += y.len();
        }
        let share = |c: Vec<usize>| {
            c.into_iter()
                .map(|n| n as f64 / total.max(1) as f64)
                .collect()
        };
        Calibration {
            levels: levels.to_vec(),
            offsets,
            windows: y.len(),
            coverage_before: share(before),
            coverage_after: share(after),
        }
    }

    /// Calibrate network output `out` (`[rows, horizon_model, levels]`, in units) whose rows
    /// have scales `scale`: add `δ·scale`, clip at 0, sort each week's levels.
    pub fn apply(&self, out: &mut [f32], scale: &[f32], horizon_model: usize) {
        let k = self.levels.len();
        for (row, &s) in scale.iter().enumerate() {
            for h in 0..horizon_model.min(self.offsets.len()) {
                let week =
                    &mut out[(row * horizon_model + h) * k..(row * horizon_model + h + 1) * k];
                for (v, d) in week.iter_mut().zip(&self.offsets[h]) {
                    *v = (*v + (*d as f32) * s).max(0.0);
                }
                week.sort_by(f32::total_cmp);
            }
        }
    }
}

/// The network's quantiles of a filled batch in demand units, `[rows, horizon, levels]`, with
/// the run's calibration applied when it has one: what evaluation and the serving choice score.
pub fn calibrated_quantiles(
    model: &DemandModel,
    config: &DemandModelConfig,
    batch: &WindowBatch,
    calibration: Option<&Calibration>,
    device: &Device,
) -> Result<Vec<f32>> {
    let n = batch.len;
    let scale = Tensor::<1>::from_data(TensorData::new(batch.scale[..n].to_vec(), [n]), device);
    let mut out: Vec<f32> = model
        .quantiles(batch_input(config, batch, device), scale)?
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| Error::Evaluation(format!("{e:?}")))?;
    if let Some(c) = calibration {
        c.apply(&mut out, &batch.scale[..n], config.horizon);
    }
    Ok(out)
}

/// Fit the calibration of the run's best weights on `prepared`'s validation windows and write
/// `calibration.json`.
pub fn calibrate(run: &RunDir, prepared: &Prepared, batch: usize) -> Result<Calibration> {
    let config = run.config()?;
    let model_config = run.model_config()?;
    let (model, device) = load_best(run, &config, &model_config)?;
    let (windows, indices) = prepared.valid_windows();
    if indices.is_empty() {
        return Err(Error::Evaluation(
            "no validation windows to calibrate the quantiles on".into(),
        ));
    }
    let h = model_config.horizon;
    let k = model_config.quantiles.len();
    let mut buffer = windows.new_batch(batch.max(1));
    let (mut ys, mut qs) = (Vec::new(), Vec::new());
    // The validation windows as the training loop scores them: some with their plan hidden.
    let mut hide_rng = StdRng::seed_from_u64(VALID_HIDE_SEED);
    for chunk in indices.chunks(batch.max(1)) {
        windows.fill(chunk, &mut buffer);
        windows.hide_plan(
            &mut buffer,
            &prepared.plan_inputs,
            prepared.hide_plan,
            &mut hide_rng,
        );
        let n = buffer.len;
        // [n, horizon, levels], scaled units.
        let out: Vec<f32> = model
            .forward(batch_input(&model_config, &buffer, &device))?
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| Error::Evaluation(format!("{e:?}")))?;
        for row in 0..n {
            ys.push(buffer.future_y[row * h..(row + 1) * h].to_vec());
            qs.push(out[row * h * k..(row + 1) * h * k].to_vec());
        }
    }
    let calibration = Calibration::fit(&model_config.quantiles, h, &ys, &qs);
    run.write_json("calibration.json", &calibration)?;
    Ok(calibration)
}

impl RunDir {
    /// The run's quantile calibration, if it has one.
    pub fn calibration(&self) -> Result<Option<Calibration>> {
        if self.file("calibration.json").exists() {
            self.read_json("calibration.json").map(Some)
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_put_each_level_at_its_share() {
        // 10 windows, 1 week: targets 1..=10, forecasts all 3 (q10, q50, q90 = 3, 3, 3).
        let y: Vec<Vec<f32>> = (1..=10).map(|v| vec![v as f32]).collect();
        let q: Vec<Vec<f32>> = (0..10).map(|_| vec![3.0, 3.0, 3.0]).collect();
        let c = Calibration::fit(&[0.1, 0.5, 0.9], 1, &y, &q);
        // Residuals -2..=7: the 10 %, 50 %, 90 % empirical quantiles are -2, 2, 6.
        assert_eq!(c.offsets, vec![vec![-2.0, 2.0, 6.0]]);
        assert_eq!(c.coverage_before, vec![0.3, 0.3, 0.3]);
        assert_eq!(c.coverage_after, vec![0.1, 0.5, 0.9]);
        // Applied with scale 2: 3 + 2δ, clipped at 0, sorted.
        let mut out = vec![3.0, 3.0, 3.0];
        c.apply(&mut out, &[2.0], 1);
        assert_eq!(out, vec![0.0, 7.0, 15.0]);
    }
}
