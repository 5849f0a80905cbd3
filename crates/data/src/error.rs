use std::path::PathBuf;

use polars::prelude::PolarsError;
use thiserror::Error;

/// Errors of the data stage. Every variant names the file and, where it applies, the column,
/// row (1-based, as a spreadsheet or `sed -n` would count data rows) and value at fault.
#[derive(Debug, Error)]
pub enum Error {
    /// A file that does not exist.
    #[error("cannot read {path}: no such file")]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// A file could not be read or parsed as a table (the cause is the error's source).
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: PolarsError,
    },
    /// A file of an unknown kind.
    #[error("{path}: unsupported file type (expected .csv or .parquet)")]
    Format {
        /// The file.
        path: PathBuf,
    },
    /// A required column is absent.
    #[error("{path}: missing column `{column}` (config key `{key}`); columns present: {present}")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column looked for.
        column: String,
        /// The config key that names it.
        key: String,
        /// The columns the file has.
        present: String,
    },
    /// A database could not be reached, or a query on it failed.
    #[error("{path}: {message}")]
    Database {
        /// The table, as `postgres:<table>` or `mysql:<table>`.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A column has a type that cannot hold what it should.
    #[error("{path}: column `{column}` has type {dtype}, expected {expected}")]
    ColumnType {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// Its type.
        dtype: String,
        /// What it should be.
        expected: String,
    },
    /// One cell is bad.
    #[error("{path}: row {row}, column `{column}`: {problem} (value {value:?})")]
    BadValue {
        /// The file.
        path: PathBuf,
        /// 1-based data row.
        row: usize,
        /// The column.
        column: String,
        /// The cell as text.
        value: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Duplicate rows when the config says to reject them.
    #[error(
        "{path}: {count} duplicate rows, first for unique_id {unique_id:?} on {date} \
         (clean.duplicates = \"reject\"; use \"sum\" to add them up)"
    )]
    Duplicates {
        /// The file.
        path: PathBuf,
        /// How many rows repeat an earlier (unique_id, ds).
        count: usize,
        /// The first SKU concerned.
        unique_id: String,
        /// Its date.
        date: String,
    },
    /// A config file is invalid; the message names the key.
    #[error("config {path}: {message}")]
    Config {
        /// The config file (or `<preset>` / `<built-in>`).
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
    /// Nothing is left to work with.
    #[error("{path}: {why}")]
    Empty {
        /// The file.
        path: PathBuf,
        /// Why nothing is left.
        why: String,
    },
    /// A known-future (plan) file or value that cannot serve the forecast: a column that is not a
    /// plan input, a SKU or week missing, calendar event days that differ between SKUs.
    #[error("{path}: {message}")]
    Plan {
        /// The file (or where the values came from).
        path: PathBuf,
        /// What is wrong, naming the SKU, week or column.
        message: String,
    },
    /// A parameter out of range.
    #[error("invalid {name}: {message}")]
    Param {
        /// The parameter.
        name: &'static str,
        /// The exact requirement.
        message: String,
    },
    /// Writing an output failed; nothing at `path` was replaced.
    #[error("cannot write {path}: {message}")]
    Write {
        /// The output.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A polars operation failed while processing `context` (the cause is the error's source).
    #[error("{context}")]
    Polars {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: PolarsError,
    },
}

/// Result with the data [`Error`](enum@Error).
pub type Result<T> = std::result::Result<T, Error>;

/// Attach a context to polars results.
pub(crate) trait PolarsContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> PolarsContext<T> for std::result::Result<T, PolarsError> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Polars {
            context: context(),
            source,
        })
    }
}

impl Error {
    /// Wrap a polars error from a caller's own table building.
    pub fn from_polars(source: PolarsError) -> Self {
        Error::Polars {
            context: "building a table".into(),
            source,
        }
    }
}
