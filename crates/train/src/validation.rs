//! The validation loss: the network's pinball loss on validation windows, with the plan inputs
//! of a fixed share of them hidden, as each epoch and the weekly job's model comparison score it.

use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rayon::prelude::*;
use restock_data::features::PlanInput;
use restock_data::windows::{WindowBatch, Windows};
use restock_model::{DemandModel, DemandModelConfig, LossWeight, pinball_loss};

use crate::backend;
use crate::config::TrainConfig;
use crate::prepare::{Prepared, VALID_HIDE_SEED};
use crate::run::RunDir;
use crate::trainer::{batch_input, float1, float2};
use crate::weights::load_best;
use crate::{Error, Result};

/// Validation loss of `model` (no autodiff) over `indices` of `windows`, with the plan inputs
/// of a share `hide_plan.1` of them hidden (the same ones each call); its batches scored on all
/// cores when `parallel` (the CPU backend).
#[allow(clippy::too_many_arguments)]
pub fn validation_loss(
    model: &DemandModel,
    config: &DemandModelConfig,
    windows: &Windows<'_>,
    indices: &[usize],
    hide_plan: (&[PlanInput], f64),
    batch: usize,
    weight: LossWeight,
    device: &Device,
    parallel: bool,
) -> Result<f64> {
    // The batches are filled in order (the hidden plans come from one stream), scored at once
    // on the CPU's cores (one at a time on a GPU) and summed in order: the same loss either way.
    let mut hide_rng = StdRng::seed_from_u64(VALID_HIDE_SEED);
    let buffers: Vec<WindowBatch> = indices
        .chunks(batch)
        .map(|chunk| {
            let mut buffer = windows.new_batch(chunk.len());
            windows.fill(chunk, &mut buffer);
            windows.hide_plan(&mut buffer, hide_plan.0, hide_plan.1, &mut hide_rng);
            buffer
        })
        .collect();
    let score = |buffer: &WindowBatch| -> Result<(f64, f64)> {
        let n = buffer.len;
        let w: Vec<f32> = buffer.scale[..n].iter().map(|&s| weight.of(s)).collect();
        let w_sum: f64 = w.iter().map(|&v| f64::from(v)).sum();
        let out = model.forward(batch_input(config, buffer, device))?;
        let target = float2(&buffer.future_y, n, config.horizon, device);
        let loss = pinball_loss(out, target, float1(&w, device), &config.quantiles)
            .try_into_data()
            .map_err(|e| Error::Evaluation(format!("the device failed on validation: {e}")))?
            .try_to_vec::<f32>()
            .map_err(|e| Error::Evaluation(format!("cannot read the validation loss: {e:?}")))?;
        Ok((f64::from(loss[0]) * w_sum, w_sum))
    };
    let scores: Vec<Result<(f64, f64)>> = if parallel {
        buffers.par_iter().map(score).collect()
    } else {
        buffers.iter().map(score).collect()
    };
    let (mut total, mut weights) = (0.0, 0.0);
    for s in scores {
        let (l, w) = s?;
        total += l;
        weights += w;
    }
    Ok(if weights > 0.0 {
        total / weights
    } else {
        f64::NAN
    })
}

/// The validation loss of a finished run's best weights on `prepared`'s validation windows,
/// scored as `config` scores its epochs: to compare last week's model with one fine-tuned on
/// the new weeks, on the same latest weeks.
pub fn score_run(run: &RunDir, config: &TrainConfig, prepared: &Prepared) -> Result<f64> {
    let model_config = run.model_config()?;
    let (model, device) = load_best(run, config, &model_config)?;
    let (windows, indices) = prepared.valid_windows();
    let parallel = !backend::select(config.backend.kind, config.backend.device)?.is_wgpu;
    validation_loss(
        &model,
        &model_config,
        &windows,
        &indices,
        (&prepared.plan_inputs, prepared.hide_plan),
        config.optim.batch_size.max(1024),
        config.model.loss_weight,
        &device,
        parallel,
    )
}
