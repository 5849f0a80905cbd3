use std::path::PathBuf;

/// What can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// LightGBM refused its data or parameters, or failed.
    #[error("LightGBM: {0}")]
    LightGbm(String),
    /// The catalogue cannot train trees (too few rows, no demand).
    #[error("trees: {0}")]
    Data(String),
    /// A saved model cannot be read or written.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A known-future input is inconsistent (from `restock-data`).
    #[error(transparent)]
    Future(#[from] restock_data::Error),
}

impl From<lightgbm3::Error> for Error {
    fn from(e: lightgbm3::Error) -> Self {
        Error::LightGbm(e.to_string())
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
