//! The collector's error type and its one mapping to a gRPC status.

use crate::backup::BackupError;
use crate::config::ConfigError;
use crate::limits::{Refusal, Violation};
use crate::notify::silences::SilenceError;
use tonic::{Code, Status};
use vigil_promql::QueryError;
use vigil_store::StoreError;
use vigil_store::selector::SelectorError;

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
    /// A PromQL query failed; the gRPC message starts with Prometheus's `errorType`.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// A listener could not be opened or served.
    #[error("{0}")]
    Serve(String),
    /// A silence could not be added or expired.
    #[error(transparent)]
    Silence(#[from] SilenceError),
    /// A backup could not be made.
    #[error(transparent)]
    Backup(#[from] BackupError),
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            // `bad_data: parse error: ...`: the kind lets a client tell its own mistake
            // from the collector's, as Prometheus's `errorType` does.
            Error::Query(e) => {
                let message = format!("{}: {message}", e.kind());
                match e {
                    QueryError::TooLarge(_)
                    | QueryError::Store(
                        StoreError::TooLarge { .. } | StoreError::SeriesLimit { .. },
                    ) => Status::resource_exhausted(message),
                    QueryError::Parse(_)
                    | QueryError::Unsupported(_)
                    | QueryError::BadArgument(_)
                    | QueryError::Store(StoreError::BadSelector(_)) => {
                        Status::invalid_argument(message)
                    }
                    // Many-to-many matching and the like: the query is valid, the data
                    // does not allow it.
                    QueryError::Execution(_) => Status::failed_precondition(message),
                    QueryError::Timeout(_) => Status::deadline_exceeded(message),
                    _ => Status::internal(message),
                }
            }
            Error::Selector(_) | Error::Store(StoreError::BadSelector(_)) => {
                Status::invalid_argument(message)
            }
            Error::Store(StoreError::TooLarge { .. } | StoreError::SeriesLimit { .. }) => {
                Status::resource_exhausted(message)
            }
            Error::Silence(e) => match e {
                SilenceError::Invalid(_) => Status::invalid_argument(message),
                SilenceError::NotFound(_) => Status::not_found(message),
                SilenceError::AlreadyExpired(_) => Status::failed_precondition(message),
                SilenceError::Store(_) => Status::unavailable(message),
            },
            Error::Backup(e) => match e {
                BackupError::ParentComponent { .. }
                | BackupError::Outside { .. }
                | BackupError::NoName { .. } => Status::invalid_argument(message),
                BackupError::SymlinkOut { .. }
                | BackupError::InsideDataDir { .. }
                | BackupError::NotADirectory(_)
                | BackupError::NotEmpty(_)
                | BackupError::Unwritable { .. } => Status::failed_precondition(message),
                BackupError::Store { .. }
                | BackupError::Incomplete { .. }
                | BackupError::Manifest { .. } => Status::internal(message),
            },
            Error::Store(_) | Error::Config(_) | Error::Serve(_) => Status::internal(message),
        }
    }
}

impl From<SilenceError> for Status {
    fn from(e: SilenceError) -> Self {
        Error::from(e).into()
    }
}

impl From<BackupError> for Status {
    fn from(e: BackupError) -> Self {
        Error::from(e).into()
    }
}

impl Violation {
    /// The gRPC code an agent or `vigil import` receives for this refusal (also sent as a
    /// number in an import's rejection).
    pub fn code(&self) -> Code {
        match self.kind {
            Refusal::Invalid => Code::InvalidArgument,
            Refusal::OutOfRange => Code::OutOfRange,
            Refusal::Unauthenticated => Code::Unauthenticated,
            Refusal::Forbidden => Code::PermissionDenied,
            Refusal::Exhausted => Code::ResourceExhausted,
        }
    }
}

impl From<Violation> for Status {
    fn from(v: Violation) -> Self {
        Status::new(v.code(), v.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_errors_carry_their_kind() {
        let status = Status::from(Error::from(QueryError::Parse(
            "unexpected end of input".into(),
        )));
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(
            status.message(),
            "bad_data: parse error: unexpected end of input"
        );
        let status = Status::from(Error::from(QueryError::Execution(
            "many-to-many matching not allowed".into(),
        )));
        assert_eq!(status.code(), tonic::Code::FailedPrecondition);
        assert_eq!(
            status.message(),
            "execution: many-to-many matching not allowed"
        );
        let status = Status::from(Error::from(QueryError::TooLarge("too many samples".into())));
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    }
}
