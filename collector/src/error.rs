//! The collector's error type and its one mapping to a gRPC status.

use crate::config::ConfigError;
use crate::selector::SelectorError;
use crate::store::StoreError;
use tonic::Status;

/// Everything that can go wrong in the collector's domain code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Storage failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A selector did not parse.
    #[error(transparent)]
    Selector(#[from] SelectorError),
    /// Configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A listener could not be opened or served.
    #[error("{0}")]
    Serve(String),
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::Selector(_) | Error::Store(StoreError::BadSelector(_)) => {
                Status::invalid_argument(message)
            }
            Error::Store(StoreError::TooLarge { .. } | StoreError::SeriesLimit { .. }) => {
                Status::resource_exhausted(message)
            }
            Error::Store(_) | Error::Config(_) | Error::Serve(_) => Status::internal(message),
        }
    }
}
