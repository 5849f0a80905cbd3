use thiserror::Error;

/// Errors raised when a core value is built from bad input.
#[derive(Debug, Error, PartialEq)]
pub enum Error {
    /// A forecast horizon outside 1..=max.
    #[error("horizon must be between 1 and {max} weeks, got {got}")]
    Horizon {
        /// The rejected value.
        got: usize,
        /// The largest horizon accepted.
        max: usize,
    },
    /// Quantile levels that are not strictly increasing inside (0, 1).
    #[error("quantile levels must be strictly increasing and inside (0, 1), got {0:?}")]
    Quantiles(Vec<f64>),
    /// A date that should be a Monday is not.
    #[error("{0} is not a Monday: weeks run Monday..Sunday and are labelled by their Monday")]
    NotMonday(chrono::NaiveDate),
    /// A forecast whose shape does not match its horizon and levels.
    #[error("forecast for {sku}: {detail}")]
    ForecastShape {
        /// The SKU.
        sku: String,
        /// What is wrong.
        detail: String,
    },
    /// A model could not be fitted to a series.
    #[error("cannot fit {model}: {reason}")]
    Fit {
        /// The model.
        model: String,
        /// Why, with the exact requirement.
        reason: String,
    },
}

/// Result with the core [`Error`](enum@Error).
pub type Result<T> = std::result::Result<T, Error>;
