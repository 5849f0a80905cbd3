//! Config-driven training runs of restock's demand model.
//!
//! `TrainConfig` (TOML) → [`Prepared`] data split into training, validation and test weeks →
//! [`train`] (AdamW, early stopping, an atomic checkpoint per epoch, exact [`resume`]) →
//! [`calibrate()`] the quantiles on the validation weeks → [`evaluate()`] on the held-out weeks
//! against the statistical baselines. A run lives in a
//! [`RunDir`]; see [`run`] for its files.

pub mod backend;
pub mod calibrate;
pub mod config;
mod epoch;
mod error;
pub mod evaluate;
pub mod observer;
pub mod prepare;
pub mod run;
pub mod select;
mod step;
pub mod trainer;
pub mod trees;
pub mod validation;
pub mod weights;

pub use calibrate::{Calibration, calibrate};
pub use config::TrainConfig;
pub use error::{Error, Result};
pub use evaluate::{Evaluation, evaluate};
pub use prepare::Prepared;
pub use run::{RunDir, RunSummary};
pub use select::{Serving, select_serving};
pub use trainer::{Observer, RunTrees, SessionOptions, Silent, resume, train, train_with_trees};
pub use trees::{TreeFit, export_tree_rows, fit_trees};
pub use validation::score_run;
pub use weights::warm_start_problem;
