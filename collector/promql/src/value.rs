//! What an expression evaluates to: Prometheus's four value types.

use vigil_store::Labels;

/// The result of evaluating an expression, in Prometheus's result types.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// One number at one time (`scalar`).
    Scalar {
        /// Evaluation time, unix milliseconds.
        t_ms: i64,
        /// The number.
        v: f64,
    },
    /// A string literal (`string`).
    String {
        /// Evaluation time, unix milliseconds.
        t_ms: i64,
        /// The string.
        s: String,
    },
    /// One sample per series at one time (`vector`).
    Vector(Vec<InstantSample>),
    /// Several samples per series (`matrix`): a range query's answer, or a range-vector
    /// selector evaluated at one time. Sorted by labels.
    Matrix(Vec<Series>),
}

impl Value {
    /// Prometheus's name for the type: `scalar`, `string`, `vector` or `matrix`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// One sample of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    /// The series' labels (without `__name__` once a function or operator changed the value).
    pub labels: Labels,
    /// Sample time, unix milliseconds: the evaluation time.
    pub t_ms: i64,
    /// The value.
    pub v: f64,
}

/// A series with its samples, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The series' labels.
    pub labels: Labels,
    /// (unix milliseconds, value) pairs, oldest first.
    pub points: Vec<(i64, f64)>,
}
