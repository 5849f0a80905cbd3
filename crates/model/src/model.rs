//! The demand network, its configuration and its loss.

use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, softplus};
use serde::{Deserialize, Serialize};

use crate::lstm::{FusedLstm, FusedLstmConfig, LstmInput, Steps};
use crate::{Error, Result};

/// Everything that fixes the network's shape; stored with a run as `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemandModelConfig {
    /// Weeks of history per window.
    pub context: usize,
    /// Weeks forecast.
    pub horizon: usize,
    /// Features per past week (all of the feature schema).
    pub past_features: usize,
    /// Features known for future weeks.
    pub future_features: usize,
    /// Ids per static attribute, "unknown" (id 0) included.
    pub static_cardinalities: Vec<usize>,
    /// Width of each static embedding.
    pub embedding_dim: usize,
    /// LSTM hidden size.
    pub hidden: usize,
    /// Stacked LSTM layers.
    pub layers: usize,
    /// Dropout between layers and in the decoder, in [0, 1).
    pub dropout: f64,
    /// Width of the decoder's hidden layer.
    pub decoder_hidden: usize,
    /// Width of the learned horizon-position embedding.
    pub horizon_embedding: usize,
    /// Quantile levels, strictly increasing in (0, 1).
    pub quantiles: Vec<f64>,
}

impl DemandModelConfig {
    /// Problems with the shape, each naming the field; empty when the config is usable.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let positive = [
            ("context", self.context),
            ("horizon", self.horizon),
            ("hidden", self.hidden),
            ("layers", self.layers),
            ("decoder_hidden", self.decoder_hidden),
            ("horizon_embedding", self.horizon_embedding),
        ];
        for (name, value) in positive {
            if value == 0 {
                out.push(format!("{name} must be at least 1"));
            }
        }
        if !self.static_cardinalities.is_empty() && self.embedding_dim == 0 {
            out.push("embedding_dim must be at least 1 when there are static attributes".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            out.push(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        let q = &self.quantiles;
        if q.is_empty()
            || q.iter().any(|v| !(*v > 0.0 && *v < 1.0))
            || q.windows(2).any(|w| w[0] >= w[1])
        {
            out.push(format!(
                "quantiles must be strictly increasing inside (0, 1), got {q:?}"
            ));
        }
        out
    }

    /// Input width of the first LSTM layer: scaled demand, its log1p, the mask, the features and
    /// the static embeddings.
    pub fn encoder_input(&self) -> usize {
        3 + self.past_features + self.static_width()
    }

    fn static_width(&self) -> usize {
        self.static_cardinalities.len() * self.embedding_dim
    }

    /// Build the network on `device` (call [`Device::seed`] first for reproducible weights).
    pub fn init(&self, device: &Device) -> DemandModel {
        let embeddings = self
            .static_cardinalities
            .iter()
            .map(|&n| EmbeddingConfig::new(n.max(1), self.embedding_dim).init(device))
            .collect();
        let encoder = (0..self.layers)
            .map(|layer| {
                let d_input = if layer == 0 {
                    self.encoder_input()
                } else {
                    self.hidden
                };
                FusedLstmConfig {
                    d_input,
                    d_hidden: self.hidden,
                }
                .init(device)
            })
            .collect();
        let decoder_input =
            self.hidden + self.future_features + self.horizon_embedding + self.static_width();
        DemandModel {
            embeddings,
            encoder,
            dropout: DropoutConfig::new(self.dropout).init(),
            horizon_embedding: EmbeddingConfig::new(self.horizon, self.horizon_embedding)
                .init(device),
            decoder_hidden: LinearConfig::new(decoder_input, self.decoder_hidden).init(device),
            decoder_out: LinearConfig::new(self.decoder_hidden, self.quantiles.len()).init(device),
            horizon: self.horizon,
            levels: self.quantiles.len(),
        }
    }
}

/// How windows are weighted in the loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossWeight {
    /// Every window counts the same: the loss is in scaled units, so slow and fast movers
    /// count alike (aligned with MASE).
    Uniform,
    /// Each window weighted by its SKU's scale: the loss is the pinball loss in units, so it
    /// optimises the catalogue-wide scaled pinball and WAPE.
    #[default]
    Scale,
    /// The square root of the scale: a compromise between the two.
    SqrtScale,
}

impl LossWeight {
    /// The weight of a window whose SKU has this scale.
    pub fn of(self, scale: f32) -> f32 {
        match self {
            LossWeight::Uniform => 1.0,
            LossWeight::Scale => scale,
            LossWeight::SqrtScale => scale.sqrt(),
        }
    }
}

/// One batch of windows as tensors.
#[derive(Debug, Clone)]
pub struct ModelInput {
    /// `[batch, context]` scaled past demand, 0 where padded.
    pub past_y: Tensor<2>,
    /// `[batch, context]` 1 for real weeks, 0 for padding.
    pub past_mask: Tensor<2>,
    /// `[batch, context, past_features]`.
    pub past_x: Tensor<3>,
    /// `[batch, horizon, future_features]`.
    pub future_x: Tensor<3>,
    /// `[batch, statics]` static ids.
    pub statics: Tensor<2, Int>,
}

impl ModelInput {
    /// Tensors from row-major buffers of `batch` rows (the layout of `restock-data`'s
    /// `WindowBatch`); buffers may be longer than needed.
    // One buffer per input tensor: `model` knows no `restock-data`, so no `WindowBatch` to take.
    #[allow(clippy::too_many_arguments)]
    pub fn from_slices(
        config: &DemandModelConfig,
        batch: usize,
        past_y: &[f32],
        past_mask: &[f32],
        past_x: &[f32],
        future_x: &[f32],
        statics: &[u32],
        device: &Device,
    ) -> Self {
        let c = config.context;
        let h = config.horizon;
        let s = config.static_cardinalities.len();
        let f = config.past_features;
        let k = config.future_features;
        let float2 = |v: &[f32], cols: usize| {
            Tensor::<2>::from_data(
                TensorData::new(v[..batch * cols].to_vec(), [batch, cols]),
                device,
            )
        };
        let float3 = |v: &[f32], mid: usize, cols: usize| {
            Tensor::<3>::from_data(
                TensorData::new(v[..batch * mid * cols].to_vec(), [batch, mid, cols]),
                device,
            )
        };
        let ids: Vec<i64> = statics[..batch * s].iter().map(|&v| i64::from(v)).collect();
        ModelInput {
            past_y: float2(past_y, c),
            past_mask: float2(past_mask, c),
            past_x: float3(past_x, c, f),
            future_x: float3(future_x, h, k),
            statics: Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, s]), device),
        }
    }
}

/// The network. See the crate documentation for its structure.
#[derive(Module, Debug)]
pub struct DemandModel {
    /// One embedding per static attribute.
    pub embeddings: Vec<Embedding>,
    /// Stacked LSTM layers.
    pub encoder: Vec<FusedLstm>,
    /// Dropout between layers and in the decoder: its rate; training applies it through
    /// [`DropoutMasks`].
    pub dropout: Dropout,
    /// Horizon position embedding, one row per forecast week.
    pub horizon_embedding: Embedding,
    /// Decoder hidden layer.
    pub decoder_hidden: Linear,
    /// Decoder output: one value per quantile level.
    pub decoder_out: Linear,
    /// Forecast weeks.
    pub horizon: usize,
    /// Quantile levels.
    pub levels: usize,
}

/// Dropout masks for one training batch: 0 or `1 / (1 - p)` per element, drawn by the caller
/// from its own generator ([`DemandModel::dropout_masks`]), so that batches trained on several
/// threads at once draw the same masks as on one (burn's random stream is shared by threads).
#[derive(Debug, Clone)]
pub struct DropoutMasks {
    /// `[batch, context, hidden]` on the output of each encoder layer but the last.
    pub between_layers: Vec<Tensor<3>>,
    /// `[batch, hidden]` on the encoder's last hidden state.
    pub last: Tensor<2>,
    /// `[batch, horizon, decoder_hidden]` on the decoder's hidden layer.
    pub decoder: Tensor<3>,
}

impl DropoutMasks {
    /// The masks of batch rows `rows`.
    pub fn rows(&self, rows: std::ops::Range<usize>) -> DropoutMasks {
        let (start, len) = (rows.start, rows.len());
        DropoutMasks {
            between_layers: self
                .between_layers
                .iter()
                .map(|m| m.clone().narrow(0, start, len))
                .collect(),
            last: self.last.clone().narrow(0, start, len),
            decoder: self.decoder.clone().narrow(0, start, len),
        }
    }
}

impl DemandModel {
    /// Quantiles in scaled units, ordered along the last axis: `[batch, horizon, levels]`.
    /// No dropout: the forecasting pass.
    pub fn forward(&self, input: ModelInput) -> Result<Tensor<3>> {
        self.forward_with(input, None)
    }

    /// Dropout masks for a training batch of `batch` windows of `context` weeks, drawn from
    /// `rng`; `None` when the model has no dropout.
    pub fn dropout_masks(
        &self,
        batch: usize,
        context: usize,
        rng: &mut impl rand::Rng,
        device: &Device,
    ) -> Option<DropoutMasks> {
        let p = self.dropout.prob;
        if p <= 0.0 {
            return None;
        }
        let keep = (1.0 / (1.0 - p)) as f32;
        let mut draw = |len: usize| -> Vec<f32> {
            (0..len)
                .map(|_| if rng.random::<f64>() < p { 0.0 } else { keep })
                .collect()
        };
        let hidden = self.encoder.first().map_or(0, |l| l.d_hidden);
        let decoder = self.decoder_hidden.weight.dims()[1];
        let layers = self.encoder.len().saturating_sub(1);
        let between_layers = (0..layers)
            .map(|_| {
                let v = draw(batch * context * hidden);
                Tensor::<3>::from_data(TensorData::new(v, [batch, context, hidden]), device)
            })
            .collect();
        let last = Tensor::<2>::from_data(
            TensorData::new(draw(batch * hidden), [batch, hidden]),
            device,
        );
        let v = draw(batch * self.horizon * decoder);
        let decoder =
            Tensor::<3>::from_data(TensorData::new(v, [batch, self.horizon, decoder]), device);
        Some(DropoutMasks {
            between_layers,
            last,
            decoder,
        })
    }

    /// [`DemandModel::forward`] with dropout `masks` applied (training).
    pub fn forward_with(
        &self,
        input: ModelInput,
        masks: Option<&DropoutMasks>,
    ) -> Result<Tensor<3>> {
        let batch = input.past_y.dims()[0];
        let device = input.past_y.device();
        let horizon = self.horizon;

        // [batch, 1, statics * embedding_dim]
        let statics = (!self.embeddings.is_empty()).then(|| {
            let parts = self
                .embeddings
                .iter()
                .enumerate()
                .map(|(s, emb)| emb.forward(input.statics.clone().narrow(1, s, 1)))
                .collect();
            Tensor::cat(parts, 2)
        });

        // [batch, context, 3 + features]: data, no gradient. The statics follow them in the
        // first layer's input, projected once for all steps (see `LstmInput`).
        let y = input.past_y.unsqueeze_dim::<3>(2);
        let steps = Tensor::cat(
            vec![
                y.clone(),
                y.log1p(),
                input.past_mask.unsqueeze_dim::<3>(2),
                input.past_x,
            ],
            2,
        );
        let mut layer_input = LstmInput {
            steps: Steps::Sequence(steps),
            constant: statics.clone().map(|s| s.squeeze_dim::<2>(1)),
        };

        // [batch, hidden]
        let mut last = None;
        let layers = self.encoder.len();
        for (i, layer) in self.encoder.iter().enumerate() {
            let top = i + 1 == layers;
            let (hidden, steps) = layer.run(layer_input, !top);
            if top {
                last = Some(hidden);
                break;
            }
            let steps = match masks.and_then(|m| m.between_layers.get(i)) {
                Some(mask) => {
                    let [batch, _, width] = mask.dims();
                    steps
                        .into_iter()
                        .enumerate()
                        .map(|(t, h)| h * mask.clone().narrow(1, t, 1).reshape([batch, width]))
                        .collect()
                }
                None => steps,
            };
            layer_input = LstmInput {
                steps: Steps::Each(steps),
                constant: None,
            };
        }
        let mut last = last.ok_or(Error::NoEncoderLayer)?;
        if let Some(m) = masks {
            last = last * m.last.clone();
        }
        let width = last.dims()[1];

        // Decoder input [batch, horizon, hidden + future features + horizon emb + statics].
        let positions = Tensor::<1, Int>::arange(0..horizon as i64, &device)
            .reshape([1, horizon])
            .expand([batch, horizon]);
        let mut parts = vec![
            last.unsqueeze_dim::<3>(1).expand([batch, horizon, width]),
            self.horizon_embedding.forward(positions),
        ];
        if input.future_x.dims()[2] > 0 {
            parts.push(input.future_x);
        }
        if let Some(s) = statics {
            let width = s.dims()[2];
            parts.push(s.expand([batch, horizon, width]));
        }
        let d = Tensor::cat(parts, 2);
        let mut d = relu(self.decoder_hidden.forward(d));
        if let Some(m) = masks {
            d = d * m.decoder.clone();
        }
        // [batch, horizon, levels]
        let raw = self.decoder_out.forward(d);
        if self.levels == 1 {
            return Ok(raw);
        }
        let first = raw.clone().narrow(2, 0, 1);
        let steps = softplus(raw.narrow(2, 1, self.levels - 1), 1.0);
        Ok(Tensor::cat(vec![first, steps], 2).cumsum(2))
    }

    /// Quantiles in units: scaled output times `scale: [batch]`, clipped at zero.
    /// `[batch, horizon, levels]`.
    pub fn quantiles(&self, input: ModelInput, scale: Tensor<1>) -> Result<Tensor<3>> {
        let batch = scale.dims()[0];
        Ok((self.forward(input)? * scale.reshape([batch, 1, 1])).clamp_min(0.0))
    }
}

/// Weighted pinball loss of `forecast: [batch, horizon, levels]` against `target:
/// [batch, horizon]`, with `weights: [batch]`: Σ_b w_b Σ_{h,k} ρ_k / (Σ_b w_b · horizon · levels).
pub fn pinball_loss(
    forecast: Tensor<3>,
    target: Tensor<2>,
    weights: Tensor<1>,
    levels: &[f64],
) -> Tensor<1> {
    let [batch, horizon, k] = forecast.dims();
    let device = forecast.device();
    let tau: Vec<f32> = levels.iter().map(|&q| q as f32).collect();
    // [1, 1, levels]
    let tau = Tensor::<1>::from_data(TensorData::new(tau, [k]), &device).reshape([1, 1, k]);
    // [batch, horizon, levels]
    let diff = target.unsqueeze_dim::<3>(2) - forecast;
    let loss = (diff.clone() * tau.clone()).max_pair(diff * (tau - 1.0));
    // [batch]
    let per_window = loss.sum_dim(2).sum_dim(1).reshape([batch]);
    let total = weights.clone().sum() * (horizon * k) as f64;
    (per_window * weights).sum() / total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> DemandModelConfig {
        DemandModelConfig {
            context: 6,
            horizon: 3,
            past_features: 2,
            future_features: 1,
            static_cardinalities: vec![4],
            embedding_dim: 2,
            hidden: 8,
            layers: 2,
            dropout: 0.1,
            decoder_hidden: 8,
            horizon_embedding: 2,
            quantiles: vec![0.1, 0.5, 0.9],
        }
    }

    fn input(config: &DemandModelConfig, batch: usize, device: &Device) -> ModelInput {
        let c = config.context;
        let y: Vec<f32> = (0..batch * c).map(|i| (i % 5) as f32 * 0.3).collect();
        let mask = vec![1.0; batch * c];
        let x: Vec<f32> = (0..batch * c * 2).map(|i| ((i % 7) as f32).sin()).collect();
        let fx = vec![0.5; batch * 3];
        let statics: Vec<u32> = (0..batch as u32).map(|i| i % 4).collect();
        ModelInput::from_slices(config, batch, &y, &mask, &x, &fx, &statics, device)
    }

    #[test]
    fn a_model_without_encoder_layers_is_an_error() {
        let device = Device::flex();
        let config = config();
        let mut model = config.init(&device);
        model.encoder.clear();
        let err = model.forward(input(&config, 2, &device)).unwrap_err();
        assert!(matches!(err, Error::NoEncoderLayer), "{err}");
        assert!(err.to_string().contains("model.layers"));
    }

    #[test]
    fn shapes_order_and_scaling() {
        let device = Device::flex();
        device.seed(7);
        let config = config();
        assert!(config.problems().is_empty());
        let model = config.init(&device);
        let out = model.forward(input(&config, 5, &device)).unwrap();
        assert_eq!(out.dims(), [5, 3, 3]);
        let values: Vec<f32> = out.into_data().try_to_vec::<f32>().expect("f32");
        for week in values.chunks(3) {
            assert!(week[0] <= week[1] && week[1] <= week[2], "{week:?}");
        }
        let scale = Tensor::<1>::from_data(TensorData::new(vec![10.0f32; 5], [5]), &device);
        let q: Vec<f32> = model
            .quantiles(input(&config, 5, &device), scale)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        assert!(q.iter().all(|v| *v >= 0.0));
    }

    #[test]
    fn pinball_by_hand() {
        let device = Device::flex();
        // One window, one week, levels 0.1 and 0.9, forecasts 2 and 6, target 5:
        // 0.1 * 3 = 0.3 and (0.9 - 1) * (5 - 6) = 0.1 -> mean 0.2.
        let f = Tensor::<3>::from_data(TensorData::new(vec![2.0f32, 6.0], [1, 1, 2]), &device);
        let y = Tensor::<2>::from_data(TensorData::new(vec![5.0f32], [1, 1]), &device);
        let w = Tensor::<1>::from_data(TensorData::new(vec![3.0f32], [1]), &device);
        let loss: f32 = pinball_loss(f, y, w, &[0.1, 0.9]).into_scalar();
        assert!((loss - 0.2).abs() < 1e-6, "{loss}");
    }

    #[test]
    fn config_problems_name_the_field() {
        let mut c = config();
        c.layers = 0;
        c.dropout = 1.0;
        c.quantiles = vec![0.5, 0.1];
        let p = c.problems().join("; ");
        assert!(
            p.contains("layers") && p.contains("dropout") && p.contains("quantiles"),
            "{p}"
        );
    }
}
