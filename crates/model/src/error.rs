/// Errors of the demand model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The network has no encoder layer to summarise the context (a model built by hand with an
    /// empty `encoder`; `DemandModelConfig::problems` rejects `model.layers = 0`).
    #[error("the model has no encoder layer: model.layers must be >= 1")]
    NoEncoderLayer,
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
