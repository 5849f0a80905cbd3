/// Errors of batch inference.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The data stage failed (reading the weekly data, writing the output).
    #[error(transparent)]
    Data(#[from] restock_data::Error),
    /// The run cannot be loaded.
    #[error(transparent)]
    Run(#[from] restock_train::Error),
    /// The network cannot run.
    #[error(transparent)]
    Model(#[from] restock_model::Error),
    /// The run's trees failed.
    #[error(transparent)]
    Trees(#[from] restock_trees::Error),
    /// An option is out of range.
    #[error("{0}")]
    Option(String),
    /// The network failed on a batch.
    #[error("forecasting: {0}")]
    Network(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
