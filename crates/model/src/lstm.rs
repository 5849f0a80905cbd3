//! A single LSTM layer with fused gates.
//!
//! burn's `nn::Lstm` runs eight small matrix products per time step (one per gate and input).
//! Here the input projection of all time steps is one product before the recurrence, and each
//! step adds one `[batch, hidden] x [hidden, 4 hidden]` product: the layout cuDNN uses, and
//! several times faster on the CPU backends.

use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

/// Configuration of a [`FusedLstm`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FusedLstmConfig {
    /// Input features per step.
    pub d_input: usize,
    /// Hidden size.
    pub d_hidden: usize,
}

impl FusedLstmConfig {
    /// Build the layer: Xavier-initialised weights, forget-gate bias 1 (Jozefowicz et al., 2015).
    pub fn init(&self, device: &Device) -> FusedLstm {
        let h = self.d_hidden;
        let input = LinearConfig::new(self.d_input, 4 * h)
            .with_initializer(Initializer::XavierUniform { gain: 1.0 })
            .init(device);
        let recurrent = LinearConfig::new(h, 4 * h)
            .with_bias(false)
            .with_initializer(Initializer::XavierUniform { gain: 1.0 })
            .init(device);
        // Gate order in the 4h outputs: input, forget, cell, output.
        let bias: Vec<f32> = (0..4 * h)
            .map(|i| if (h..2 * h).contains(&i) { 1.0 } else { 0.0 })
            .collect();
        // A trainable leaf like the bias it replaces (same parameter id, gradients on).
        let bias = Tensor::<1>::from_data(TensorData::new(bias, [4 * h]), device);
        let bias = if device.is_autodiff() {
            bias.require_grad()
        } else {
            bias
        };
        let input = Linear {
            bias: input.bias.map(|p| p.map(|_| bias)),
            ..input
        };
        FusedLstm {
            input,
            recurrent,
            d_hidden: h,
        }
    }
}

/// One LSTM layer over a whole sequence.
#[derive(Module, Debug)]
pub struct FusedLstm {
    /// Input projection, `d_input -> 4 hidden`, with the gate biases.
    pub input: Linear,
    /// Recurrent projection, `hidden -> 4 hidden`, no bias.
    pub recurrent: Linear,
    /// Hidden size.
    pub d_hidden: usize,
}

/// What a [`FusedLstm`] reads: features that change from step to step and, optionally, features
/// that are the same at every step, in that order along the layer's input.
///
/// The split is about gradients. A step's slice of a tensor that is being differentiated costs,
/// in burn's backward pass, a zero tensor of the whole sequence's shape and a sum with the
/// gradient gathered so far: over `T` steps, `T` passes over `T` steps' worth of memory, which
/// was half of a training step's time on the CPU (M5: 52 weeks, batch 128 a thread). Here no
/// tracked tensor is sliced by step: data needs no gradient, so its slices are free; a lower
/// layer hands over one tensor per step; and features the same at every step (a window's static
/// embeddings) are projected once and the product reused.
#[derive(Debug, Clone)]
pub struct LstmInput {
    /// The features of each step.
    pub steps: Steps,
    /// `[batch, d]` features the same at every step, after the step features in the layer's
    /// input.
    pub constant: Option<Tensor<2>>,
}

/// The step features of an [`LstmInput`].
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // one per layer and forward pass: its size costs nothing
pub enum Steps {
    /// `[batch, time, d]`, read one step at a time. Meant for data (no gradient): correct for a
    /// tracked tensor too, but then each step's slice costs a pass over the whole sequence in
    /// the backward pass.
    Sequence(Tensor<3>),
    /// One `[batch, d]` tensor per step (a lower layer's hidden states).
    Each(Vec<Tensor<2>>),
}

impl Steps {
    fn len(&self) -> usize {
        match self {
            Steps::Sequence(x) => x.dims()[1],
            Steps::Each(steps) => steps.len(),
        }
    }

    fn batch(&self) -> usize {
        match self {
            Steps::Sequence(x) => x.dims()[0],
            Steps::Each(steps) => steps.first().map_or(0, |s| s.dims()[0]),
        }
    }

    fn width(&self) -> Option<usize> {
        match self {
            Steps::Sequence(x) => Some(x.dims()[2]),
            Steps::Each(steps) => steps.first().map(|s| s.dims()[1]),
        }
    }

    /// `[batch, d]` features of step `t`.
    fn step(&self, t: usize) -> Tensor<2> {
        match self {
            Steps::Sequence(x) => {
                let [batch, _, d] = x.dims();
                x.clone().narrow(1, t, 1).reshape([batch, d])
            }
            Steps::Each(steps) => steps[t].clone(),
        }
    }
}

impl FusedLstm {
    /// Run over `x: [batch, time, d_input]`. Returns the last hidden state `[batch, hidden]` and,
    /// when `keep_sequence`, every step's hidden state `[batch, time, hidden]`.
    ///
    /// On the CPU backends all four gates go through one sigmoid: `tanh(z) = 2 sigmoid(2z) - 1`,
    /// so the cell gate's weights are doubled once per call and its activation is recovered with
    /// one affine pass. There `tanh` costs several times a sigmoid (glibc's `tanhf` goes through
    /// `expm1f`), and one activation over `[batch, 4 hidden]` replaces four over strided slices.
    /// On a GPU the cost is the number of kernels each step launches, not the arithmetic, so the
    /// native `tanh` is used: 9 kernels a step instead of 13 forwards, and fewer backwards.
    pub fn forward(&self, x: Tensor<3>, keep_sequence: bool) -> (Tensor<2>, Option<Tensor<3>>) {
        // cubecl devices (wgpu here) report an identity; the CPU backends (flex, ndarray) do not.
        let native_tanh = x.device().identity().is_some();
        self.forward_with(x, keep_sequence, native_tanh)
    }

    /// [`FusedLstm::forward`] with the activation scheme chosen by the caller.
    fn forward_with(
        &self,
        x: Tensor<3>,
        keep_sequence: bool,
        native_tanh: bool,
    ) -> (Tensor<2>, Option<Tensor<3>>) {
        let input = LstmInput {
            steps: Steps::Sequence(x),
            constant: None,
        };
        let (last, steps) = self.run_with(input, keep_sequence, native_tanh);
        let sequence = keep_sequence.then(|| {
            let steps = steps.into_iter().map(|h| h.unsqueeze_dim::<3>(1)).collect();
            Tensor::cat(steps, 1)
        });
        (last, sequence)
    }

    /// Run over `input`. Returns the last hidden state `[batch, hidden]` and, when `keep_steps`,
    /// every step's hidden state (the steps of a next layer's [`LstmInput`]), else nothing.
    pub fn run(&self, input: LstmInput, keep_steps: bool) -> (Tensor<2>, Vec<Tensor<2>>) {
        let device = self.recurrent.weight.device();
        // cubecl devices (wgpu here) report an identity; the CPU backends (flex, ndarray) do not.
        let native_tanh = device.identity().is_some();
        self.run_with(input, keep_steps, native_tanh)
    }

    /// [`FusedLstm::run`] with the activation scheme chosen by the caller.
    fn run_with(
        &self,
        input: LstmInput,
        keep_steps: bool,
        native_tanh: bool,
    ) -> (Tensor<2>, Vec<Tensor<2>>) {
        let LstmInput { steps, constant } = input;
        let time = steps.len();
        let h = self.d_hidden;
        let device = self.recurrent.weight.device();
        let mut w_x = self.input.weight.val();
        let mut b_x = self.input.bias.as_ref().map(|b| b.val());
        let mut w_h = self.recurrent.weight.val();
        if !native_tanh {
            // [1, 4h]: 1 for the input, forget and output gates, 2 for the cell gate.
            let doubling: Vec<f32> = (0..4 * h)
                .map(|i| {
                    if (2 * h..3 * h).contains(&i) {
                        2.0
                    } else {
                        1.0
                    }
                })
                .collect();
            let doubling = Tensor::<1>::from_data(TensorData::new(doubling, [4 * h]), &device);
            // [d_input, 4h], [4h], [h, 4h]
            w_x = w_x * doubling.clone().unsqueeze_dim::<2>(0);
            b_x = b_x.map(|b| b * doubling.clone());
            w_h = w_h * doubling.unsqueeze_dim::<2>(0);
        }
        let d_input = w_x.dims()[0];
        let d_steps = steps.width().unwrap_or(0);
        let w_steps = w_x.clone().narrow(0, 0, d_steps);
        // [batch or 1, 4h]: what every step adds to its pre-activations, computed once.
        let mut every_step = b_x.map(|b| b.unsqueeze_dim::<2>(0));
        if let Some(c) = constant {
            let width = d_input - d_steps;
            let projected = c.matmul(w_x.narrow(0, d_steps, width));
            every_step = Some(match every_step {
                Some(b) => projected + b,
                None => projected,
            });
        }
        let mut hidden: Option<Tensor<2>> = None;
        let mut cell: Option<Tensor<2>> = None;
        let mut outputs = Vec::with_capacity(if keep_steps { time } else { 0 });
        for t in 0..time {
            // [batch, 4h] pre-activations of the input, forget, cell and output gates (the cell
            // gate's doubled on the CPU path).
            let mut z = steps.step(t).matmul(w_steps.clone());
            if let Some(e) = &every_step {
                z = z + e.clone();
            }
            if let Some(prev) = &hidden {
                z = z + prev.clone().matmul(w_h.clone());
            }
            let (gates, g) = if native_tanh {
                let g = z.clone().narrow(1, 2 * h, h).tanh();
                (sigmoid(z), g)
            } else {
                let gates = sigmoid(z);
                let g = gates.clone().narrow(1, 2 * h, h) * 2.0 - 1.0;
                (gates, g)
            };
            let i = gates.clone().narrow(1, 0, h);
            let o = gates.clone().narrow(1, 3 * h, h);
            let next_cell = match cell {
                Some(c) => gates.narrow(1, h, h) * c + i * g,
                None => i * g,
            };
            let next_hidden = if native_tanh {
                o * next_cell.clone().tanh()
            } else {
                // o * tanh(cell)
                o * (sigmoid(next_cell.clone() * 2.0) * 2.0 - 1.0)
            };
            if keep_steps {
                outputs.push(next_hidden.clone());
            }
            cell = Some(next_cell);
            hidden = Some(next_hidden);
        }
        let last = hidden.unwrap_or_else(|| Tensor::<2>::zeros([steps.batch(), h], &device));
        (last, outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook LSTM step by step in f64 with `tanh` from std, against the fused layer with
    /// both activation schemes (the CPU's sigmoid-only one and the GPU's native `tanh`).
    #[test]
    fn matches_the_textbook_recurrence() {
        for native_tanh in [false, true] {
            check_against_the_textbook(native_tanh);
        }
    }

    fn check_against_the_textbook(native_tanh: bool) {
        let device = Device::flex();
        device.seed(3);
        let (batch, time, d_input, h) = (3, 7, 5, 4);
        let layer = FusedLstmConfig {
            d_input,
            d_hidden: h,
        }
        .init(&device);
        let xs: Vec<f32> = (0..batch * time * d_input)
            .map(|k| ((k * 37 % 23) as f32 - 11.0) / 4.0)
            .collect();
        let x =
            Tensor::<3>::from_data(TensorData::new(xs.clone(), [batch, time, d_input]), &device);
        let (last, sequence) = layer.forward_with(x, true, native_tanh);
        let last = last.into_data().try_to_vec::<f32>().unwrap();
        let sequence = sequence.unwrap().into_data().try_to_vec::<f32>().unwrap();

        let to_f64 = |t: Tensor<2>| -> Vec<f64> {
            let v = t.into_data().try_to_vec::<f32>().unwrap();
            v.into_iter().map(f64::from).collect()
        };
        let w_x = to_f64(layer.input.weight.val()); // [d_input, 4h]
        let w_h = to_f64(layer.recurrent.weight.val()); // [h, 4h]
        let b: Vec<f64> = to_f64(layer.input.bias.as_ref().unwrap().val().unsqueeze_dim(0));
        let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
        for n in 0..batch {
            let (mut hid, mut cell) = (vec![0.0f64; h], vec![0.0f64; h]);
            for t in 0..time {
                let mut z = b.clone();
                for (j, zj) in z.iter_mut().enumerate() {
                    for k in 0..d_input {
                        *zj += f64::from(xs[(n * time + t) * d_input + k]) * w_x[k * 4 * h + j];
                    }
                    for k in 0..h {
                        *zj += hid[k] * w_h[k * 4 * h + j];
                    }
                }
                for u in 0..h {
                    let (i, f) = (sig(z[u]), sig(z[h + u]));
                    let (g, o) = (z[2 * h + u].tanh(), sig(z[3 * h + u]));
                    cell[u] = f * cell[u] + i * g;
                    hid[u] = o * cell[u].tanh();
                }
                for u in 0..h {
                    let got = f64::from(sequence[(n * time + t) * h + u]);
                    assert!(
                        (got - hid[u]).abs() < 1e-5,
                        "native tanh {native_tanh}, b{n} t{t} u{u}: {got} vs {}",
                        hid[u]
                    );
                }
            }
            for u in 0..h {
                assert!((f64::from(last[n * h + u]) - hid[u]).abs() < 1e-5);
            }
        }
    }

    /// The GPU's scheme trains like the CPU's: the gradients of a loss over the whole sequence,
    /// on the input, recurrent and bias weights, agree to 1e-4 of the largest entry.
    #[test]
    fn both_activation_schemes_have_the_same_gradients() {
        let device = Device::flex().autodiff();
        device.seed(11);
        let (batch, time, d_input, h) = (4, 9, 3, 5);
        let layer = FusedLstmConfig {
            d_input,
            d_hidden: h,
        }
        .init(&device);
        let xs: Vec<f32> = (0..batch * time * d_input)
            .map(|k| ((k * 29 % 17) as f32 - 8.0) / 3.0)
            .collect();
        let grads = |native_tanh: bool| {
            let x = Tensor::<3>::from_data(
                TensorData::new(xs.clone(), [batch, time, d_input]),
                &device,
            );
            let (last, sequence) = layer.forward_with(x, true, native_tanh);
            // Weight the steps and units differently so no gradient cancels by symmetry.
            let loss =
                (sequence.expect("kept").powf_scalar(2.0).sum() + last.sum() * 0.5).reshape([1]);
            let g = loss.backward();
            let read = |t: Option<Tensor<2>>| {
                t.expect("a gradient")
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap()
            };
            let bias = layer
                .input
                .bias
                .as_ref()
                .expect("a bias")
                .val()
                .grad(&g)
                .expect("a bias gradient")
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            [
                read(layer.input.weight.val().grad(&g)),
                read(layer.recurrent.weight.val().grad(&g)),
                bias,
            ]
        };
        let (cpu, gpu) = (grads(false), grads(true));
        for (name, (a, b)) in ["input", "recurrent", "bias"]
            .iter()
            .zip(cpu.iter().zip(&gpu))
        {
            let scale = a.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(scale > 1e-4, "{name}: a zero gradient tests nothing");
            let worst = a
                .iter()
                .zip(b)
                .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
            assert!(worst <= 1e-4 * scale, "{name}: {worst} of {scale}");
        }
    }

    /// The three ways to give a layer its input agree, in the hidden states and in every
    /// gradient: one `[batch, time, d]` tensor; the step features and, apart, the features the
    /// same at every step (tracked, as the static embeddings are); and one tensor per step.
    #[test]
    fn split_and_per_step_inputs_match_the_whole_sequence() {
        let device = Device::flex().autodiff();
        device.seed(5);
        let (batch, time, d_steps, d_constant, h) = (3, 6, 4, 2, 5);
        let layer = FusedLstmConfig {
            d_input: d_steps + d_constant,
            d_hidden: h,
        }
        .init(&device);
        let value = |k: usize, m: usize, d: usize| ((k * m % d) as f32 - d as f32 / 2.0) / 4.0;
        let steps: Vec<f32> = (0..batch * time * d_steps)
            .map(|k| value(k, 31, 19))
            .collect();
        let constant: Vec<f32> = (0..batch * d_constant).map(|k| value(k, 7, 5)).collect();
        let steps = Tensor::<3>::from_data(TensorData::new(steps, [batch, time, d_steps]), &device);
        let new_constant = || {
            Tensor::<2>::from_data(
                TensorData::new(constant.clone(), [batch, d_constant]),
                &device,
            )
            .require_grad()
        };
        let read = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap();
        // The loss reads every step's hidden state, weighted by step, and the last one.
        let run = |input: LstmInput, constant: Tensor<2>| {
            let (last, states) = layer.run(input, true);
            assert_eq!(states.len(), time);
            let mut loss = last.clone().sum() * 0.5;
            for (t, s) in states.into_iter().enumerate() {
                loss = loss + s.powf_scalar(2.0).sum() * (t as f32 + 1.0);
            }
            let g = loss.reshape([1]).backward();
            let bias = layer.input.bias.as_ref().expect("a bias").val();
            [
                read(last),
                read(layer.input.weight.val().grad(&g).expect("input weights")),
                read(layer.recurrent.weight.val().grad(&g).expect("recurrent")),
                read(bias.grad(&g).expect("bias").unsqueeze_dim(0)),
                read(constant.grad(&g).expect("the constant's gradient")),
            ]
        };

        // The whole input as one tracked sequence: the reference.
        let constant = new_constant();
        let whole = Tensor::cat(
            vec![
                steps.clone(),
                constant
                    .clone()
                    .unsqueeze_dim::<3>(1)
                    .expand([batch, time, d_constant]),
            ],
            2,
        );
        let reference = run(
            LstmInput {
                steps: Steps::Sequence(whole),
                constant: None,
            },
            constant,
        );
        let constant = new_constant();
        let split = run(
            LstmInput {
                steps: Steps::Sequence(steps.clone()),
                constant: Some(constant.clone()),
            },
            constant,
        );
        let constant = new_constant();
        let each = (0..time)
            .map(|t| steps.clone().narrow(1, t, 1).reshape([batch, d_steps]))
            .collect();
        let per_step = run(
            LstmInput {
                steps: Steps::Each(each),
                constant: Some(constant.clone()),
            },
            constant,
        );
        let names = [
            "last hidden",
            "input weights",
            "recurrent",
            "bias",
            "constant",
        ];
        for (way, got) in [("split", &split), ("per step", &per_step)] {
            for ((name, a), b) in names.iter().zip(&reference).zip(got) {
                let scale = a.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                assert!(scale > 1e-4, "{name}: a zero tests nothing");
                let worst = a
                    .iter()
                    .zip(b)
                    .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
                assert!(worst <= 1e-5 * scale, "{way}, {name}: {worst} of {scale}");
            }
        }
    }
}
