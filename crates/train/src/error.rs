use std::path::PathBuf;

/// Errors of a training run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file cannot be read.
    #[error("cannot read config {path}")]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The config does not parse (unknown key, wrong type); the message names the key and line.
    #[error("{path}: {message}")]
    ConfigParse {
        /// The file.
        path: PathBuf,
        /// toml's message, with the key and position.
        message: String,
    },
    /// Values out of range; each problem names its key.
    #[error("{path}: {}", problems.join("; "))]
    ConfigValue {
        /// The file.
        path: PathBuf,
        /// One line per bad key.
        problems: Vec<String>,
    },
    /// The data stage failed.
    #[error(transparent)]
    Data(#[from] restock_data::Error),
    /// The network cannot run (see [`restock_model::Error`]).
    #[error(transparent)]
    Model(#[from] restock_model::Error),
    /// The gradient-boosted trees failed.
    #[error(transparent)]
    Trees(#[from] restock_trees::Error),
    /// The data cannot train the model (too short, no windows...).
    #[error("{0}")]
    NotEnoughData(String),
    /// A run directory that exists (use --force) or is not a run.
    #[error("{path}: {problem}")]
    RunDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// Reading or writing a run file failed.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A run file does not parse.
    #[error("{path}: {message}")]
    RunFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The requested backend is not available.
    #[error("backend {backend}: {reason}")]
    Backend {
        /// The backend asked for.
        backend: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// The loss became NaN or infinite.
    #[error(
        "training diverged at epoch {epoch}, step {step}: loss {loss}; lower optim.learning_rate"
    )]
    Diverged {
        /// Epoch (1-based).
        epoch: usize,
        /// Step within the epoch.
        step: usize,
        /// The loss.
        loss: f32,
    },
    /// A forecast could not be built or scored.
    #[error("evaluation: {0}")]
    Evaluation(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
