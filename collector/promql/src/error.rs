//! Why a query failed, in the categories of Prometheus's HTTP API.

use vigil_store::StoreError;

/// Why a query could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The expression does not parse.
    #[error("parse error: {0}")]
    Parse(String),
    /// The expression uses a construct Vigil does not evaluate; the message names it.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// An argument is out of range or of the wrong type (a bad step, a bad regex, …).
    #[error("{0}")]
    BadArgument(String),
    /// Evaluation failed on the data (many-to-many matching, duplicate output series, …).
    #[error("{0}")]
    Execution(String),
    /// The query would touch more series or samples than the limits allow.
    #[error("{0}")]
    TooLarge(String),
    /// The query ran longer than its time limit.
    #[error(
        "query timed out after {0:?}; shorten the time range, raise the step or narrow the selectors"
    )]
    Timeout(std::time::Duration),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl QueryError {
    /// Prometheus's `errorType` for this error: `bad_data`, `execution`, `timeout` or
    /// `internal`.
    pub fn kind(&self) -> &'static str {
        match self {
            QueryError::Parse(_) | QueryError::Unsupported(_) | QueryError::BadArgument(_) => {
                "bad_data"
            }
            QueryError::Execution(_) | QueryError::TooLarge(_) => "execution",
            QueryError::Store(StoreError::TooLarge { .. } | StoreError::BadSelector(_)) => {
                "execution"
            }
            QueryError::Timeout(_) => "timeout",
            QueryError::Store(_) => "internal",
        }
    }
}
