/// Errors of backtests and simulations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing tables failed.
    #[error(transparent)]
    Data(#[from] restock_data::Error),
    /// The run could not be loaded.
    #[error(transparent)]
    Run(#[from] restock_train::Error),
    /// Forecasting failed.
    #[error(transparent)]
    Forecast(#[from] restock_infer::Error),
    /// The run's trees failed.
    #[error(transparent)]
    Trees(#[from] restock_trees::Error),
    /// The planner failed.
    #[error(transparent)]
    Plan(#[from] restock_planner::Error),
    /// An option is out of range or does not fit the data or the run.
    #[error("{0}")]
    Option(String),
    /// A cutoff lies inside the weeks the network was trained on.
    #[error(
        "cutoff {cutoff} is inside the run's training weeks (they end {train_end}): its forecasts \
         would be scored on demand the network has fitted; use fewer windows, a smaller step, or \
         a run trained with more held-out weeks (or pass --allow-in-sample to score it anyway)"
    )]
    InSample {
        /// The cutoff.
        cutoff: String,
        /// The run's last training week.
        train_end: String,
    },
    /// A SKU's data or parameters are unusable.
    #[error("SKU {sku}: {message}")]
    Sku {
        /// The SKU.
        sku: String,
        /// What is wrong.
        message: String,
    },
    /// Writing an output failed.
    #[error("{path}: {message}")]
    Output {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
