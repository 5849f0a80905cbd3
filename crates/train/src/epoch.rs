//! One epoch of the training loop ([`crate::trainer`]): its optimiser steps over the epoch's
//! windows in batches, the losses read back from the device a few steps at a time, and its
//! record (best weights, checkpoint, stopping rule); with the learning-rate schedule, the
//! optimiser and the seed each epoch draws from.

use burn::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, ModuleOptimizer};
use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use restock_data::windows::{WindowBatch, Windows};
use restock_model::{DemandModel, DemandModelConfig};

use crate::config::TrainConfig;
use crate::observer::Observer;
use crate::prepare::Prepared;
use crate::run::{EpochMetrics, RunDir, RunState};
use crate::step;
use crate::weights::save_model;
use crate::{Error, Result};

/// What every epoch's optimiser steps share.
pub(crate) struct EpochSteps<'a> {
    pub(crate) config: &'a TrainConfig,
    pub(crate) model_config: &'a DemandModelConfig,
    pub(crate) prepared: &'a Prepared,
    pub(crate) windows: &'a Windows<'a>,
    pub(crate) total_steps: usize,
    pub(crate) threads: usize,
    /// The autodiff device.
    pub(crate) device: &'a Device,
}

impl EpochSteps<'_> {
    /// Train `model` on the windows `order`, in batches: the trained model, the epoch's training
    /// loss (weighted like the loss) and its last learning rate. `steps` counts the run's steps.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn epoch(
        &self,
        epoch: usize,
        seed: u64,
        order: &[usize],
        buffer: &mut WindowBatch,
        mut model: DemandModel,
        optim: &mut ModuleOptimizer,
        steps: &mut usize,
        observer: &mut dyn Observer,
    ) -> Result<(DemandModel, f64, f64)> {
        let (config, model_config, prepared) = (self.config, self.model_config, self.prepared);
        let weight = config.model.loss_weight;
        // Which windows train without their plan: drawn from the epoch's seed too.
        let mut hide_rng = StdRng::seed_from_u64(seed.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15);
        // Dropout masks: from the epoch's seed too, whatever the number of threads.
        let mut dropout_rng = StdRng::seed_from_u64(seed.rotate_left(29) ^ 0x2545_f491_4f6c_dd1d);
        let (mut loss_sum, mut weight_sum) = (0.0, 0.0);
        let mut lr = config.optim.learning_rate;
        // Losses still on the device with their step and weight sum: read back together.
        let mut pending: Vec<(usize, Tensor<1>, f64)> = Vec::with_capacity(LOSS_READBACK);
        for (step, chunk) in order.chunks(config.optim.batch_size).enumerate() {
            self.windows.fill(chunk, buffer);
            self.windows.hide_plan(
                buffer,
                &prepared.plan_inputs,
                prepared.hide_plan,
                &mut hide_rng,
            );
            let n = buffer.len;
            let w: Vec<f32> = buffer.scale[..n].iter().map(|&s| weight.of(s)).collect();
            let w_sum: f64 = w.iter().map(|&v| f64::from(v)).sum();
            let masks = model.dropout_masks(n, model_config.context, &mut dropout_rng, self.device);
            let (loss, grads) = step::loss_and_gradients(
                &model,
                model_config,
                buffer,
                &w,
                masks.as_ref(),
                self.threads,
                self.device,
            )?;
            pending.push((step + 1, loss, w_sum));
            lr = learning_rate(config, *steps, self.total_steps);
            model = optim.step(lr, model, grads);
            *steps += 1;
            if pending.len() == LOSS_READBACK {
                let (l, w) = read_losses(&mut pending, epoch, observer)?;
                loss_sum += l;
                weight_sum += w;
            }
        }
        let (l, w) = read_losses(&mut pending, epoch, observer)?;
        loss_sum += l;
        weight_sum += w;
        Ok((model, loss_sum / weight_sum.max(f64::MIN_POSITIVE), lr))
    }
}

/// Record a finished epoch: the best weights when it is the best, the state and the stopping
/// rule, then the checkpoint, the state that points at it (the commit) and the metrics, and drop
/// the previous checkpoint. Whether it was the best epoch.
pub(crate) fn record_epoch(
    run: &RunDir,
    config: &TrainConfig,
    state: &mut RunState,
    metrics: &EpochMetrics,
    model: &DemandModel,
    valid_model: &DemandModel,
    optim: &ModuleOptimizer,
) -> Result<bool> {
    let epoch = metrics.epoch;
    let best = metrics.valid_loss < state.best_valid_loss;
    if best {
        state.best_valid_loss = metrics.valid_loss;
        state.best_epoch = epoch;
        state.epochs_without_improvement = 0;
        run.write("model.bpk", &save_model(valid_model)?)?;
    } else {
        state.epochs_without_improvement += 1;
    }
    state.epochs_done = epoch;
    state.train_seconds += metrics.seconds;
    state.history.push(metrics.clone());
    if epoch >= config.optim.epochs {
        state.finished = true;
        state.stop_reason = Some(format!("all {} epochs run", config.optim.epochs));
    } else if config.optim.patience > 0 && state.epochs_without_improvement >= config.optim.patience
    {
        state.finished = true;
        state.stop_reason = Some(format!(
            "early stop: no better validation loss in {} epochs",
            config.optim.patience
        ));
    }
    // From the training module itself: its parameter ids are the optimiser state's keys.
    run.write(
        &format!("checkpoint/model-{epoch}.bpk"),
        &save_model(model)?,
    )?;
    let optim_bytes = optim.into_bytes().map_err(|e| Error::RunFile {
        path: run.file("checkpoint"),
        message: e.to_string(),
    })?;
    run.write(&format!("checkpoint/optim-{epoch}.bpk"), &optim_bytes)?;
    run.write_json("state.json", state)?;
    run.write_metrics(&state.history)?;
    if epoch > 1 {
        for kind in ["model", "optim"] {
            let _ = std::fs::remove_file(run.file(&format!("checkpoint/{kind}-{}.bpk", epoch - 1)));
        }
    }
    Ok(best)
}

/// Steps whose losses are read back from the device together. Reading a loss waits for the
/// device to finish its step, so reading every step keeps a GPU idle while the host prepares
/// the next batch; reading every 16th lets it run ahead. A diverged step is still named exactly
/// (the steps after it, already queued, are lost with the epoch).
const LOSS_READBACK: usize = 16;

/// Read the pending steps' losses in one transfer, report each to `observer`, and return
/// `(Σ loss · weight, Σ weight)`; a non-finite loss is [`Error::Diverged`] at its step.
fn read_losses(
    pending: &mut Vec<(usize, Tensor<1>, f64)>,
    epoch: usize,
    observer: &mut dyn Observer,
) -> Result<(f64, f64)> {
    if pending.is_empty() {
        return Ok((0.0, 0.0));
    }
    let losses = Tensor::cat(pending.iter().map(|(_, l, _)| l.clone()).collect(), 0);
    let values = losses
        .try_into_data()
        .map_err(|e| Error::Evaluation(format!("the device failed during training: {e}")))?
        .try_to_vec::<f32>()
        .map_err(|e| Error::Evaluation(format!("cannot read the training loss: {e:?}")))?;
    let (mut sum, mut weights) = (0.0, 0.0);
    for ((step, _, w), value) in pending.drain(..).zip(values) {
        if !value.is_finite() {
            return Err(Error::Diverged {
                epoch,
                step,
                loss: value,
            });
        }
        sum += f64::from(value) * w;
        weights += w;
        observer.step(step, f64::from(value));
    }
    Ok((sum, weights))
}

/// The learning rate at global step `step` of `total`: linear warm-up, then cosine decay.
pub fn learning_rate(config: &TrainConfig, step: usize, total: usize) -> f64 {
    let o = &config.optim;
    if step < o.warmup_steps {
        return o.learning_rate * (step + 1) as f64 / o.warmup_steps as f64;
    }
    let span = total.saturating_sub(o.warmup_steps).max(1) as f64;
    let t = ((step - o.warmup_steps) as f64 / span).min(1.0);
    o.min_learning_rate
        + 0.5 * (o.learning_rate - o.min_learning_rate) * (1.0 + (std::f64::consts::PI * t).cos())
}

pub(crate) fn optimizer(config: &TrainConfig) -> ModuleOptimizer {
    let o = &config.optim;
    let clip =
        (o.grad_clip_norm > 0.0).then_some(GradientClippingConfig::Norm(o.grad_clip_norm as f32));
    AdamWConfig::new()
        .with_weight_decay(o.weight_decay as f32)
        .with_grad_clipping(clip)
        .init()
}

/// Seed of epoch `epoch` (1-based), distinct per epoch and run.
pub(crate) fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(epoch as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the steps reported.
    #[derive(Default)]
    struct Steps(Vec<(usize, f64)>);

    impl Observer for Steps {
        fn message(&mut self, _text: &str) {}
        fn epoch_start(&mut self, _epoch: usize, _epochs: usize, _steps: usize) {}
        fn step(&mut self, step: usize, loss: f64) {
            self.0.push((step, loss));
        }
        fn epoch_end(&mut self, _metrics: &EpochMetrics, _best: bool) {}
    }

    fn loss(v: f32, device: &Device) -> Tensor<1> {
        Tensor::<1>::from_data(TensorData::new(vec![v], [1]), device)
    }

    /// Losses read back together are reported step by step, weighted, and a non-finite one is
    /// the divergence error at its own step, not at the step that read it.
    #[test]
    fn losses_read_back_together_name_the_step_that_diverged() {
        let device = Device::flex();
        let mut observer = Steps::default();
        let mut pending = vec![(1, loss(0.5, &device), 2.0), (2, loss(1.5, &device), 1.0)];
        let (sum, weights) = read_losses(&mut pending, 3, &mut observer).unwrap();
        assert!(pending.is_empty());
        assert_eq!((sum, weights), (0.5 * 2.0 + 1.5, 3.0));
        assert_eq!(observer.0, vec![(1, 0.5), (2, 1.5)]);

        let mut pending = vec![
            (3, loss(0.5, &device), 1.0),
            (4, loss(f32::NAN, &device), 1.0),
            (5, loss(0.5, &device), 1.0),
        ];
        match read_losses(&mut pending, 3, &mut observer) {
            Err(Error::Diverged { epoch, step, loss }) => {
                assert_eq!((epoch, step), (3, 4));
                assert!(loss.is_nan());
            }
            other => panic!("expected a divergence, got {other:?}"),
        }
        assert_eq!(
            read_losses(&mut Vec::new(), 1, &mut observer).unwrap(),
            (0.0, 0.0)
        );
    }
}
