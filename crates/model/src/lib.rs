//! The global demand model: one network for the whole catalogue.
//!
//! An MQ-RNN-style quantile forecaster (Wen et al., 2017) with DeepAR's per-series scaling
//! (Salinas et al., 2020):
//!
//! - **encoder** — stacked LSTM layers over the context window. Each week's input is the scaled
//!   demand `y / scale`, its `log1p`, the padding mask, the week's features (calendar, price,
//!   promo, behaviour) and learned embeddings of the SKU's static attributes (category, store, ...);
//! - **decoder** — for every week of the horizon, a small MLP over the encoder's last hidden
//!   state, that week's known-in-advance features (calendar, planned price/promo), a learned
//!   horizon embedding and the static embeddings, emitting one value per quantile level;
//! - **non-crossing** — the first level is free, each next level adds a softplus increment, so
//!   quantiles are ordered by construction; [`DemandModel::quantiles`] multiplies by the SKU's
//!   scale and clips at zero, which keeps them ordered and non-negative;
//! - **loss** — the pinball loss averaged over levels and weeks, each window weighted
//!   ([`LossWeight`]).
//!
//! Scaling is a fitted transform outside the network (`restock-data`'s `ScaleStats`), stored
//! with the run. This crate does no IO.

mod error;
mod lstm;
mod model;

pub use error::{Error, Result};

pub use lstm::{FusedLstm, FusedLstmConfig, LstmInput, Steps};
pub use model::{
    DemandModel, DemandModelConfig, DropoutMasks, LossWeight, ModelInput, pinball_loss,
};
