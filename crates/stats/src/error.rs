/// What can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A history is empty or contains a negative or non-finite value.
    #[error("history: {0}")]
    History(String),
    /// A forecaster's parameter is out of range.
    #[error("parameter {name} = {value}: {problem}")]
    Param {
        /// The parameter.
        name: &'static str,
        /// Its value.
        value: f64,
        /// What is wrong.
        problem: &'static str,
    },
    /// An unknown forecaster name.
    #[error("unknown model {0:?}; known: naive, seasonal_naive, moving_average, croston, tsb")]
    UnknownModel(String),
    /// Forecast and actuals do not line up.
    #[error("metrics: {0}")]
    Shape(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
