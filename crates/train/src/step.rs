//! One optimiser step's loss and gradients: on one thread, or with the batch split into parts
//! whose gradients are computed on several threads at once and summed (data parallelism on the
//! CPU, where burn's backend computes each operation on one thread).
//!
//! Each part is weighted by its share of the batch's loss weight, so the parts' gradients add up
//! to the whole batch's; the dropout masks are drawn for the whole batch and sliced, so a run's
//! numbers do not depend on the number of parts beyond the order of floating-point sums.

use std::ops::Range;

use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;
use rayon::prelude::*;
use restock_data::windows::WindowBatch;
use restock_model::{DemandModel, DemandModelConfig, DropoutMasks, ModelInput, pinball_loss};

use crate::{Error, Result};

/// `parts` contiguous row ranges covering `0..n`, as equal as can be (no more than `n`).
pub(crate) fn parts(n: usize, parts: usize) -> Vec<Range<usize>> {
    let parts = parts.clamp(1, n.max(1));
    (0..parts)
        .map(|i| (i * n / parts)..((i + 1) * n / parts))
        .collect()
}

/// The weighted pinball loss of `batch` (on the device without autodiff, to read back later) and
/// its gradients, computed in `threads` parts at once. `weights` are the windows' loss weights;
/// `masks` the batch's dropout masks; `device` is the autodiff device.
pub(crate) fn loss_and_gradients(
    model: &DemandModel,
    config: &DemandModelConfig,
    batch: &WindowBatch,
    weights: &[f32],
    masks: Option<&DropoutMasks>,
    threads: usize,
    device: &Device,
) -> Result<(Tensor<1>, GradientsParams)> {
    let n = batch.len;
    let total: f64 = weights[..n].iter().map(|&w| f64::from(w)).sum();
    let ranges = parts(n, threads);
    if let [rows] = ranges.as_slice() {
        // A fork here too, as each part below takes: on the model the optimiser returned, with
        // its parameters as they came out of the last step, one thread's training drifted from
        // the parts' (0.8 % in the first epoch's loss, `threads_split_the_batch_...`) once the
        // LSTM projected each step's features on its own (commit dbc142e); on a fork it gives
        // the parts' step to the last bits, as before. A fork that is made and left unused
        // removes the drift too, so the likely cause is an in-place write by the CPU backend into
        // a buffer whose only other owner is a parameter; not found.
        let model = &model.clone().fork(device);
        let loss = part_loss(
            model,
            config,
            batch,
            rows.clone(),
            weights,
            total,
            masks,
            device,
        )?;
        let grads = GradientsParams::from_grads(loss.backward(), model);
        return Ok((loss.detach().inner(), grads));
    }
    let results: Vec<Result<(Tensor<1>, GradientsParams)>> = ranges
        .into_par_iter()
        .map(|rows| {
            // Its own copy of the parameters (the same ids): its own autodiff graph.
            let replica = model.clone().fork(device);
            let masks = masks.map(|m| m.rows(rows.clone()));
            let loss = part_loss(
                &replica,
                config,
                batch,
                rows,
                weights,
                total,
                masks.as_ref(),
                device,
            )?;
            let grads = GradientsParams::from_grads(loss.backward(), &replica);
            Ok((loss.detach().inner(), grads))
        })
        .collect();
    let mut sum = GradientsAccumulator::new();
    let mut loss: Option<Tensor<1>> = None;
    // In the parts' order: the same sums on every run.
    for result in results {
        let (part, grads) = result?;
        sum.accumulate(model, grads);
        loss = Some(match loss {
            Some(l) => l + part,
            None => part,
        });
    }
    let loss = loss.ok_or_else(|| Error::Evaluation("an empty training batch".into()))?;
    Ok((loss, sum.grads()))
}

/// The loss of rows `rows` of `batch`, scaled by their share of the batch's weight `total`.
#[allow(clippy::too_many_arguments)]
fn part_loss(
    model: &DemandModel,
    config: &DemandModelConfig,
    batch: &WindowBatch,
    rows: Range<usize>,
    weights: &[f32],
    total: f64,
    masks: Option<&DropoutMasks>,
    device: &Device,
) -> Result<Tensor<1>> {
    let (c, h) = (config.context, config.horizon);
    let (f, k) = (config.past_features, config.future_features);
    let s = config.static_cardinalities.len();
    let (start, len) = (rows.start, rows.len());
    let input = ModelInput::from_slices(
        config,
        len,
        &batch.past_y[start * c..],
        &batch.past_mask[start * c..],
        &batch.past_x[start * c * f..],
        &batch.future_x[start * h * k..],
        &batch.statics[start * s..],
        device,
    );
    let out = model.forward_with(input, masks)?;
    let target = Tensor::<2>::from_data(
        TensorData::new(
            batch.future_y[start * h..(start + len) * h].to_vec(),
            [len, h],
        ),
        device,
    );
    let w = &weights[rows];
    let share = w.iter().map(|&v| f64::from(v)).sum::<f64>() / total.max(f64::MIN_POSITIVE);
    let w = Tensor::<1>::from_data(TensorData::new(w.to_vec(), [len]), device);
    Ok(pinball_loss(out, target, w, &config.quantiles).mul_scalar(share))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    /// A batch of `n` windows with varied inputs, targets and weights, in the model's shape.
    fn batch(config: &DemandModelConfig, n: usize) -> (WindowBatch, Vec<f32>) {
        let (c, h) = (config.context, config.horizon);
        let wave = |len: usize, k: f32| -> Vec<f32> {
            (0..len)
                .map(|i| ((i as f32 * k).sin() + 1.0) * 0.5)
                .collect()
        };
        let batch = WindowBatch {
            len: n,
            past_y: wave(n * c, 0.37),
            past_x: wave(n * c * config.past_features, 0.11),
            past_mask: vec![1.0; n * c],
            future_x: wave(n * h * config.future_features, 0.23),
            future_y: wave(n * h, 0.53),
            statics: (0..n as u32).map(|i| i % 3).collect(),
            scale: wave(n, 0.7),
            sku: (0..n as u32).collect(),
            start: vec![0; n],
        };
        let weights = (0..n).map(|i| 1.0 + (i % 4) as f32).collect();
        (batch, weights)
    }

    /// The parts' gradients add up to the whole batch's: three threads give one thread's
    /// gradients (dropout masks included) up to the order of floating-point sums.
    #[test]
    fn parts_sum_to_the_batch_gradient() {
        let device = Device::flex().autodiff();
        device.seed(5);
        let config = DemandModelConfig {
            context: 6,
            horizon: 3,
            past_features: 2,
            future_features: 1,
            static_cardinalities: vec![3],
            embedding_dim: 2,
            hidden: 5,
            layers: 2,
            dropout: 0.2,
            decoder_hidden: 6,
            horizon_embedding: 2,
            quantiles: vec![0.1, 0.5, 0.9],
        };
        let model = config.init(&device);
        let (batch, weights) = batch(&config, 11);
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let masks = model.dropout_masks(11, config.context, &mut rng, &device);
        assert!(masks.is_some());
        let run = |threads: usize| {
            loss_and_gradients(
                &model,
                &config,
                &batch,
                &weights,
                masks.as_ref(),
                threads,
                &device,
            )
            .unwrap()
        };
        let (loss_one, grads_one) = run(1);
        let (loss_three, grads_three) = run(3);
        let value = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap()[0];
        let (a, b) = (value(loss_one), value(loss_three));
        assert!((a - b).abs() <= 1e-6 * a.abs().max(1.0), "{a} vs {b}");
        let ids = [
            model.encoder[0].input.weight.id,
            model.encoder[1].recurrent.weight.id,
            model.decoder_out.weight.id,
        ];
        for id in ids {
            let g1 = grads_one
                .get::<2>(id)
                .unwrap()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let g3 = grads_three
                .get::<2>(id)
                .unwrap()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let scale = g1.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
            let worst = g1
                .iter()
                .zip(&g3)
                .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
            assert!(worst <= 1e-4 * scale, "{id:?}: {worst} of {scale}");
            assert!(scale > 1e-6, "a zero gradient tests nothing");
        }
    }

    #[test]
    fn parts_cover_the_batch_in_order() {
        assert_eq!(parts(10, 3), vec![0..3, 3..6, 6..10]);
        assert_eq!(parts(2, 4), vec![0..1, 1..2]);
        assert_eq!(parts(5, 0), vec![0..5]);
        assert_eq!(parts(0, 2), vec![0..0]);
    }
}
