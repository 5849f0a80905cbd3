//! A single LSTM layer with fused gates.
//!
//! burn's `nn::Lstm` runs eight small matrix products per time step (one per gate and input).
//! Here the input projection of all time steps is one product before the recurrence, and each
//! step adds one `[batch, hidden] x [hidden, 4 hidden]` product: the layout cuDNN uses, and
//! several times faster on the CPU backends.

use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, tanh};

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

impl FusedLstm {
    /// Run over `x: [batch, time, d_input]`. Returns the last hidden state `[batch, hidden]` and,
    /// when `keep_sequence`, every step's hidden state `[batch, time, hidden]` (the input of a
    /// next layer).
    pub fn forward(&self, x: Tensor<3>, keep_sequence: bool) -> (Tensor<2>, Option<Tensor<3>>) {
        let [batch, time, _] = x.dims();
        let h = self.d_hidden;
        let device = x.device();
        // [batch, time, 4h]: every step's input contribution in one product.
        let gates_x = self.input.forward(x);
        let mut hidden = Tensor::<2>::zeros([batch, h], &device);
        let mut cell = Tensor::<2>::zeros([batch, h], &device);
        let mut outputs = Vec::with_capacity(if keep_sequence { time } else { 0 });
        for t in 0..time {
            // [batch, 4h]
            let gates = gates_x.clone().narrow(1, t, 1).reshape([batch, 4 * h])
                + self.recurrent.forward(hidden);
            let i = sigmoid(gates.clone().narrow(1, 0, h));
            let f = sigmoid(gates.clone().narrow(1, h, h));
            let g = tanh(gates.clone().narrow(1, 2 * h, h));
            let o = sigmoid(gates.narrow(1, 3 * h, h));
            cell = f * cell + i * g;
            hidden = o * tanh(cell.clone());
            if keep_sequence {
                outputs.push(hidden.clone().unsqueeze_dim::<3>(1));
            }
        }
        let sequence = keep_sequence.then(|| Tensor::cat(outputs, 1));
        (hidden, sequence)
    }
}
