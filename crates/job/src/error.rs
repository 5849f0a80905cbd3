//! Errors of the weekly job.

use std::path::PathBuf;

/// Result of the job's functions.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of the weekly job: each names the file, table, SKU or week at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The job config is unreadable or inconsistent.
    #[error("{path}: {message}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
    /// The cycle's week does not fit the data or the cycles already recorded.
    #[error("week {week}: {message}")]
    Week {
        /// The cycle's week (its Monday).
        week: String,
        /// What is wrong.
        message: String,
    },
    /// One of the cycle's inputs (stock, open orders, SKU parameters) is unusable.
    #[error("{what} ({from}): {message}")]
    Input {
        /// Which input.
        what: &'static str,
        /// The file or table it came from.
        from: String,
        /// What is wrong, naming the row and SKU.
        message: String,
    },
    /// Reading, cleaning or writing data failed.
    #[error(transparent)]
    Data(#[from] restock_data::Error),
    /// Training failed.
    #[error(transparent)]
    Train(#[from] restock_train::Error),
    /// Forecasting failed.
    #[error(transparent)]
    Forecast(#[from] restock_infer::Error),
    /// Planning failed.
    #[error(transparent)]
    Plan(#[from] restock_planner::Error),
    /// A file of the job's folder could not be read or written.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

impl Error {
    pub(crate) fn file(path: &std::path::Path, message: impl std::fmt::Display) -> Self {
        Error::File {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }
}
