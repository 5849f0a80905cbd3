//! Gradient-boosted trees (LightGBM's C++ library through the `lightgbm3` binding) as a global
//! forecaster beside the network: one model for the whole catalogue, on lags, rolling
//! statistics, last year's weeks, the calendar, the plan inputs of the target week (hidden at
//! random in training, so that a forecast without a plan is the unconditional one) and the
//! static groups, each row scaled by its SKU's level (`features`); a Tweedie objective, the
//! boosting round chosen on the validation weeks, and quantiles from the validation rows' ratios
//! of actual to predicted mean (`model`). Fitted by `restock train` with the network and stored in
//! the run; served alone or in the run's ensemble as `lightgbm`. No burn and no polars.

mod config;
mod error;
mod export;
pub mod features;
mod model;

pub use config::TreeConfig;
pub use error::{Error, Result};
pub use export::{ExportReport, export_rows};
pub use features::{Layout, Plan};
pub use model::{Band, FitReport, FitWeeks, MODEL_FILE, SPEC_FILE, TreeModel, TreeSpec};

/// The name trees forecast under (the `model` column, `serving.json`).
pub const MODEL_NAME: &str = "lightgbm";
