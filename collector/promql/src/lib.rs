//! # vigil-promql
//!
//! PromQL: parse with promql-parser, evaluate over the [`Store`] with
//! Prometheus's semantics (as of Prometheus 2.42, the version Debian ships and the tests
//! compare against). One engine serves the CLI, the rules and the Prometheus-compatible
//! HTTP API; it builds and tests without RocksDB (its tests use the in-memory store).
//!
//! # Layout
//! - [`time`]: times and durations as people write them (`5m`, RFC 3339, Unix seconds).
//! - [`value`]: the four result types (scalar, string, vector, matrix).
//! - [`error`]: why a query failed, with Prometheus's error categories.
//! - `eval`: walks the syntax tree, evaluating each node at every step at once; its
//!   children evaluate one kind of node each: `eval::select` (selectors read the store
//!   once per query), `eval::binary` (operators, vector matching), `eval::aggregate`
//!   (`sum`, `topk`, … with `by`/`without`), `eval::call` (function calls).
//! - `range_functions`: functions over a window of samples (`rate`, `*_over_time`, …).
//! - `label_functions`: `label_replace` and `label_join`.
//! - [`go_float`]: numbers in the exact text Prometheus (Go) writes, for the HTTP API and
//!   the CLI.

pub mod error;
mod eval;
pub mod go_float;
pub mod label_functions;
pub mod range_functions;
pub mod time;
pub mod value;

use std::sync::Arc;

pub use error::QueryError;
pub use value::{InstantSample, Series, Value};
use vigil_store::Store;

/// Bounds on what one query may cost.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant-vector selector looks for a sample (Prometheus: 5 minutes).
    pub lookback_ms: i64,
    /// Most samples one query may load from the store.
    pub max_samples: usize,
    /// Most series one selector may match.
    pub max_series: usize,
    /// Most steps a range query may have (Prometheus: 11,000).
    pub max_steps: i64,
    /// How long one query may run before it fails with [`QueryError::Timeout`]
    /// (Prometheus: 2 minutes).
    pub timeout: std::time::Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            lookback_ms: 5 * 60 * 1000,
            max_samples: 50_000_000,
            max_series: 1_000_000,
            max_steps: 11_000,
            timeout: std::time::Duration::from_secs(120),
        }
    }
}

/// Evaluates PromQL over a store. Calls block on the store: async code runs them on
/// `tokio::task::spawn_blocking`.
#[derive(Clone)]
pub struct Engine {
    store: Arc<dyn Store>,
    options: EngineOptions,
}

impl Engine {
    /// An engine reading `store`.
    pub fn new(store: Arc<dyn Store>, options: EngineOptions) -> Self {
        Self { store, options }
    }

    /// The same engine with another time limit per query (the HTTP API's `timeout`).
    pub fn with_timeout(&self, timeout: std::time::Duration) -> Self {
        let mut engine = self.clone();
        engine.options.timeout = timeout;
        engine
    }

    /// The options this engine runs with.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// Evaluates `query` at one time (unix milliseconds), as `/api/v1/query` does.
    pub fn instant(&self, query: &str, time_ms: i64) -> Result<Value, QueryError> {
        let expr = parse(query)?;
        eval::instant(self.store.as_ref(), &self.options, &expr, time_ms)
    }

    /// Evaluates `query` at every step from `start_ms` to `end_ms` (both included), as
    /// `/api/v1/query_range` does. The answer is always a [`Value::Matrix`].
    pub fn range(
        &self,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Value, QueryError> {
        if step_ms <= 0 {
            return Err(QueryError::BadArgument(
                "zero or negative query resolution step widths are not accepted; \
                 try a positive integer"
                    .into(),
            ));
        }
        if end_ms < start_ms {
            return Err(QueryError::BadArgument(
                "end timestamp must not be before start time".into(),
            ));
        }
        if (end_ms - start_ms) / step_ms >= self.options.max_steps {
            return Err(QueryError::BadArgument(format!(
                "exceeded maximum resolution of {} points per timeseries; \
                 try decreasing the query resolution (?step=XX)",
                self.options.max_steps
            )));
        }
        let expr = parse(query)?;
        eval::range(
            self.store.as_ref(),
            &self.options,
            &expr,
            start_ms,
            end_ms,
            step_ms,
        )
    }
}

fn parse(query: &str) -> Result<promql_parser::parser::Expr, QueryError> {
    promql_parser::parser::parse(query).map_err(|e| QueryError::Parse(e.trim().to_owned()))
}

#[cfg(test)]
mod tests;
