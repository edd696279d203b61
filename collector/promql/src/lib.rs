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
//! - [`parse`]: parsing untrusted text: length, nesting and time limits checked first, so
//!   no query can overflow a thread's stack or the evaluator's time arithmetic.
//! - `eval`: walks the syntax tree, evaluating each node at every step at once; its
//!   children evaluate one kind of node each: `eval::select` (selectors read the store
//!   once per query), `eval::binary` (operators, vector matching), `eval::aggregate`
//!   (`sum`, `topk`, … with `by`/`without`), `eval::call` (function calls).
//!   Subqueries (`eval::subquery`) evaluate their inner expression with a child evaluator
//!   at absolute multiples of their step; `eval::functions` holds the math, date and
//!   histogram functions.
//! - `range_functions`: functions over a window of samples (`rate`, `*_over_time`,
//!   `holt_winters`, …).
//! - [`histogram`]: `histogram_quantile` over classic (`le`) buckets.
//! - [`date_functions`]: `year()`, `month()`, … on Unix seconds, as Go's `time` package.
//! - `label_functions`: `label_replace` and `label_join`.
//! - [`go_float`]: numbers in the exact text Prometheus (Go) writes, for the HTTP API and
//!   the CLI.

pub mod date_functions;
pub mod error;
mod eval;
pub mod go_float;
pub mod histogram;
pub mod label_functions;
pub mod parse;
pub mod range_functions;
pub mod time;
pub mod value;

use std::sync::Arc;

pub use error::QueryError;
pub use parse::ParseLimits;
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
    /// The step of a subquery written without one (`expr[1h:]`), in milliseconds:
    /// Prometheus uses its global `evaluation_interval`, 1 minute by default.
    pub default_subquery_step_ms: i64,
    /// Most steps one subquery may evaluate its inner expression at (every outer step's
    /// window together). Every step costs memory even where no series has a value, so
    /// `x[1y:1ms]` fails with [`QueryError::TooLarge`] rather than exhausting memory;
    /// the points a subquery produces also count toward `max_samples`.
    pub max_subquery_steps: usize,
    /// How long one query may run before it fails with [`QueryError::Timeout`]
    /// (Prometheus: 2 minutes).
    pub timeout: std::time::Duration,
    /// Bounds on the query text: length and nesting.
    pub parse: ParseLimits,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            lookback_ms: 5 * 60 * 1000,
            max_samples: 50_000_000,
            max_series: 1_000_000,
            max_steps: 11_000,
            default_subquery_step_ms: 60_000,
            max_subquery_steps: 5_000_000,
            timeout: std::time::Duration::from_secs(120),
            parse: ParseLimits::default(),
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

    /// Parses `query` within this engine's [`ParseLimits`] (see [`parse::parse`]).
    pub fn parse(&self, query: &str) -> Result<promql_parser::parser::Expr, QueryError> {
        parse::parse(query, &self.options.parse)
    }

    /// Evaluates `query` at one time (unix milliseconds), as `/api/v1/query` does.
    pub fn instant(&self, query: &str, time_ms: i64) -> Result<Value, QueryError> {
        check_time("evaluation time", time_ms)?;
        let expr = self.parse(query)?;
        with_stack_for(&expr, || {
            eval::instant(self.store.as_ref(), &self.options, &expr, time_ms)
        })
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
        check_time("start", start_ms)?;
        check_time("end", end_ms)?;
        if step_ms <= 0 {
            return Err(QueryError::BadArgument(
                "zero or negative query resolution step widths are not accepted; \
                 try a positive integer"
                    .into(),
            ));
        }
        check_time("step", step_ms)?;
        if end_ms < start_ms {
            return Err(QueryError::BadArgument(
                "end timestamp must not be before start time".into(),
            ));
        }
        // Within the time limit, so the difference cannot overflow.
        if (end_ms - start_ms) / step_ms >= self.options.max_steps {
            return Err(QueryError::BadArgument(format!(
                "exceeded maximum resolution of {} points per timeseries; \
                 try decreasing the query resolution (?step=XX)",
                self.options.max_steps
            )));
        }
        let expr = self.parse(query)?;
        with_stack_for(&expr, || {
            eval::range(
                self.store.as_ref(),
                &self.options,
                &expr,
                start_ms,
                end_ms,
                step_ms,
            )
        })
    }
}

/// Trees up to this deep are evaluated on the caller's thread: about 350 KiB of stack in
/// an unoptimised build, where a level takes up to 14 KiB (a function call).
const INLINE_DEPTH: usize = 24;

/// Stack per tree level for deeper trees: four times the most an unoptimised build uses.
const STACK_PER_LEVEL: usize = 64 << 10;

/// Evaluates on the caller's thread when `expr` is shallow, else on a thread of its own
/// with a stack sized for its depth (the evaluator recurses once per level; the
/// parser's limit keeps the depth, and so the stack, bounded). A thread's stack is
/// reserved address space, touched only as deep as the evaluation goes.
fn with_stack_for<T: Send>(
    expr: &promql_parser::parser::Expr,
    evaluate: impl FnOnce() -> Result<T, QueryError> + Send,
) -> Result<T, QueryError> {
    let depth = parse::depth(expr);
    if depth <= INLINE_DEPTH {
        return evaluate();
    }
    // The query's reads note damaged data into its sink, on this thread as on the caller's.
    let sink = vigil_store::damage::current();
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("vigil-query".into())
            .stack_size((depth + 32) * STACK_PER_LEVEL)
            .spawn_scoped(scope, move || vigil_store::damage::within(sink, evaluate))
            .map_err(|e| {
                QueryError::Execution(format!(
                    "cannot start a thread to evaluate a query {depth} levels deep: {e}"
                ))
            })?;
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Refuses a time (or step) `what` outside ±[`time::QUERY_TIME_LIMIT_MS`].
fn check_time(what: &str, ms: i64) -> Result<(), QueryError> {
    if ms.unsigned_abs() > time::QUERY_TIME_LIMIT_MS.unsigned_abs() {
        return Err(QueryError::BadArgument(format!(
            "{what} {ms} ms is out of range: query times must be within ±{} ms \
             (about 285,000 years) of 1970",
            time::QUERY_TIME_LIMIT_MS
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
