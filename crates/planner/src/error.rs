use std::path::PathBuf;

use thiserror::Error;

/// Errors of the planner. Input errors name the file, row or SKU and the exact problem.
#[derive(Debug, Error)]
pub enum Error {
    /// A config file is invalid; the message names the key.
    #[error("config {path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An input table is invalid.
    #[error("{path}: {message}")]
    Input {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming row/SKU/column.
        message: String,
    },
    /// A SKU's parameters are invalid.
    #[error("SKU {sku}: {message}")]
    Sku {
        /// The SKU.
        sku: String,
        /// What is wrong.
        message: String,
    },
    /// The solver failed (never for an infeasible budget: every shared constraint has slack).
    #[error("solver {solver} failed: {message}")]
    Solver {
        /// The solver.
        solver: String,
        /// Its message.
        message: String,
    },
    /// Reading or writing a table failed.
    #[error(transparent)]
    Data(#[from] restock_data::Error),
}

/// Result with the planner [`Error`](enum@Error).
pub type Result<T> = std::result::Result<T, Error>;
