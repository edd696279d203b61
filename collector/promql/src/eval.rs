//! The evaluator: walks the syntax tree once per query, evaluating each node at every
//! step of the query at once (an instant query is a range query of one step).
//!
//! Instant vectors are kept as a list of distinct label sets plus, for every step, the
//! `(series index, value)` pairs present at that step ([`StepVector`]). Everything that
//! depends only on labels (vector matching signatures, aggregation groups, dropping the
//! metric name) is therefore worked out once per series, not once per sample.
//!
//! This module holds the evaluator and dispatches on the node kind; each kind is a child:
//! `select` (selectors read the store once per query; lookback and range windows),
//! `binary` (arithmetic, comparison and set operators, with vector matching), `aggregate`
//! (`sum`, `avg`, `topk`, `count_values`, … with `by`/`without`) and `call` (functions).

mod aggregate;
mod binary;
mod call;
mod functions;
mod select;
mod subquery;

use std::collections::HashMap;

use promql_parser::parser::{AtModifier, Expr, Offset, VectorSelector};

use super::{EngineOptions, InstantSample, QueryError, Series, Value};
use vigil_store::{Labels, Store};

/// The evaluation times of a query: `start`, `start + step`, …, up to `end`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Steps {
    pub start: i64,
    pub end: i64,
    pub step: i64,
    pub count: usize,
}

impl Steps {
    fn new(start: i64, end: i64, step: i64) -> Self {
        let count = ((end - start) / step) as usize + 1;
        Self {
            start,
            end,
            step,
            count,
        }
    }

    /// The evaluation time of step `i`, unix milliseconds.
    pub fn time(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }
}

/// An instant vector at every step: distinct label sets, and per step the series present.
#[derive(Debug, Clone, Default)]
pub(super) struct StepVector {
    /// Label sets, referred to by index.
    pub series: Vec<Labels>,
    /// For each step, `(index into series, value)`.
    pub steps: Vec<Vec<(u32, f64)>>,
}

impl StepVector {
    pub fn empty(steps: usize) -> Self {
        Self {
            series: Vec::new(),
            steps: vec![Vec::new(); steps],
        }
    }
}

/// What a node evaluates to, at every step.
pub(super) enum Val {
    /// One number per step.
    Scalar(Vec<f64>),
    /// A string literal.
    String(String),
    /// An instant vector.
    Vector(StepVector),
    /// A range-vector selector at the top of an instant query.
    Matrix(Vec<Series>),
}

/// State of one query's evaluation.
pub(super) struct Evaluator<'a> {
    pub store: &'a dyn Store,
    pub options: &'a EngineOptions,
    pub steps: Steps,
    /// The query's own start and end (what `@ start()` and `@ end()` mean), unix
    /// milliseconds; inside a subquery `steps` differ from them.
    pub query_start: i64,
    /// See `query_start`.
    pub query_end: i64,
    /// Samples read from the store so far, against `options.max_samples`.
    pub loaded_samples: usize,
    /// When the query must be done by.
    pub deadline: std::time::Instant,
}

pub(super) fn instant(
    store: &dyn Store,
    options: &EngineOptions,
    expr: &Expr,
    time_ms: i64,
) -> Result<Value, QueryError> {
    let mut ev = Evaluator {
        store,
        options,
        steps: Steps::new(time_ms, time_ms, 1),
        query_start: time_ms,
        query_end: time_ms,
        loaded_samples: 0,
        deadline: std::time::Instant::now() + options.timeout,
    };
    Ok(match ev.eval(expr)? {
        Val::Scalar(v) => Value::Scalar {
            t_ms: time_ms,
            v: v[0],
        },
        Val::String(s) => Value::String { t_ms: time_ms, s },
        Val::Vector(mut vector) => {
            let step = std::mem::take(&mut vector.steps[0]);
            Value::Vector(
                step.into_iter()
                    .map(|(i, v)| InstantSample {
                        labels: vector.series[i as usize].clone(),
                        t_ms: time_ms,
                        v,
                    })
                    .collect(),
            )
        }
        Val::Matrix(m) => Value::Matrix(m),
    })
}

pub(super) fn range(
    store: &dyn Store,
    options: &EngineOptions,
    expr: &Expr,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
) -> Result<Value, QueryError> {
    let kind = match expression_type(expr) {
        "scalar" | "vector" => None,
        "matrix" => Some("range vector"),
        other => Some(other),
    };
    if let Some(kind) = kind {
        return Err(QueryError::BadArgument(format!(
            "invalid expression type \"{kind}\" for range query, must be Scalar or instant Vector"
        )));
    }
    let steps = Steps::new(start_ms, end_ms, step_ms);
    let mut ev = Evaluator {
        store,
        options,
        steps,
        query_start: start_ms,
        query_end: end_ms,
        loaded_samples: 0,
        deadline: std::time::Instant::now() + options.timeout,
    };
    let matrix = match ev.eval(expr)? {
        Val::Scalar(v) => vec![Series {
            labels: Labels::default(),
            points: v
                .into_iter()
                .enumerate()
                .map(|(i, v)| (steps.time(i), v))
                .collect(),
        }],
        Val::Vector(vector) => {
            let mut points: Vec<Vec<(i64, f64)>> = vec![Vec::new(); vector.series.len()];
            for (i, step) in vector.steps.iter().enumerate() {
                for &(s, v) in step {
                    points[s as usize].push((steps.time(i), v));
                }
            }
            let mut matrix: Vec<Series> = vector
                .series
                .into_iter()
                .zip(points)
                .filter(|(_, p)| !p.is_empty())
                .map(|(labels, points)| Series { labels, points })
                .collect();
            matrix.sort_by(|a, b| a.labels.cmp(&b.labels));
            matrix
        }
        Val::String(_) | Val::Matrix(_) => {
            return Err(QueryError::BadArgument(
                "a range query must evaluate to a scalar or an instant vector".into(),
            ));
        }
    };
    Ok(Value::Matrix(matrix))
}

/// Prometheus's static type of an expression: `scalar`, `string`, `vector` or `matrix`.
pub(super) fn expression_type(expr: &Expr) -> &'static str {
    match expr {
        Expr::NumberLiteral(_) => "scalar",
        Expr::StringLiteral(_) => "string",
        Expr::MatrixSelector(_) | Expr::Subquery(_) => "matrix",
        Expr::Paren(p) => expression_type(&p.expr),
        Expr::Unary(u) => expression_type(&u.expr),
        Expr::Binary(b) => {
            if expression_type(&b.lhs) == "scalar" && expression_type(&b.rhs) == "scalar" {
                "scalar"
            } else {
                "vector"
            }
        }
        Expr::Call(c) => match c.func.name {
            "time" | "scalar" | "pi" => "scalar",
            _ => "vector",
        },
        Expr::Aggregate(_) | Expr::VectorSelector(_) | Expr::Extension(_) => "vector",
    }
}

impl Evaluator<'_> {
    /// Evaluates `expr` at every step.
    pub fn eval(&mut self, expr: &Expr) -> Result<Val, QueryError> {
        self.check_deadline()?;
        match expr {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.val; self.steps.count])),
            Expr::StringLiteral(s) => Ok(Val::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::Unary(u) => match self.eval(&u.expr)? {
                Val::Scalar(v) => Ok(Val::Scalar(v.into_iter().map(|v| -v).collect())),
                Val::Vector(mut vector) => {
                    for step in &mut vector.steps {
                        for (_, v) in step.iter_mut() {
                            *v = -*v;
                        }
                    }
                    Ok(Val::Vector(drop_metric_names(vector)?))
                }
                _ => Err(QueryError::BadArgument(format!(
                    "unary minus needs a scalar or an instant vector: {u}"
                ))),
            },
            Expr::Binary(b) => binary::eval(self, b),
            Expr::Aggregate(a) => aggregate::eval(self, a),
            Expr::Call(c) => call::eval(self, c),
            Expr::VectorSelector(vs) => Ok(Val::Vector(self.vector_selector(vs)?)),
            Expr::MatrixSelector(ms) => {
                if self.steps.count != 1 || self.steps.start != self.steps.end {
                    return Err(QueryError::BadArgument(format!(
                        "a range vector ({ms}) cannot be the result of a range query; \
                         wrap it in a function such as rate()"
                    )));
                }
                let at = self.steps.start;
                let loaded = self.load(&ms.vs, duration_ms(ms.range), true)?;
                let reference = self.reference_time(&ms.vs, at);
                let from = reference.saturating_sub(duration_ms(ms.range));
                let mut matrix: Vec<Series> = loaded
                    .into_iter()
                    .map(|(labels, samples)| Series {
                        labels,
                        points: samples
                            .into_iter()
                            .filter(|(t, _)| *t >= from && *t <= reference)
                            .collect(),
                    })
                    .filter(|s| !s.points.is_empty())
                    .collect();
                matrix.sort_by(|a, b| a.labels.cmp(&b.labels));
                Ok(Val::Matrix(matrix))
            }
            Expr::Subquery(sq) => {
                if self.steps.count != 1 || self.steps.start != self.steps.end {
                    return Err(QueryError::BadArgument(format!(
                        "a range vector ({sq}) cannot be the result of a range query; \
                         wrap it in a function such as max_over_time()"
                    )));
                }
                let mut matrix: Vec<Series> = self
                    .subquery(sq)?
                    .into_iter()
                    .map(|(labels, points)| Series { labels, points })
                    .collect();
                matrix.sort_by(|a, b| a.labels.cmp(&b.labels));
                Ok(Val::Matrix(matrix))
            }
            // promql-parser builds these only for extensions registered in code, never
            // from query text.
            Expr::Extension(_) => Err(QueryError::Unsupported(
                "extension expressions are not part of PromQL".into(),
            )),
        }
    }

    /// Fails once the query has run out of time.
    pub fn check_deadline(&self) -> Result<(), QueryError> {
        if std::time::Instant::now() > self.deadline {
            return Err(QueryError::Timeout(self.options.timeout));
        }
        Ok(())
    }

    /// Evaluates `expr`, which must be a scalar (a number per step).
    pub fn eval_scalar(&mut self, expr: &Expr, what: &str) -> Result<Vec<f64>, QueryError> {
        match self.eval(expr)? {
            Val::Scalar(v) => Ok(v),
            _ => Err(QueryError::BadArgument(format!(
                "{what} must be a scalar, got {expr}"
            ))),
        }
    }

    /// Evaluates `expr`, which must be an instant vector.
    pub fn eval_vector(&mut self, expr: &Expr, what: &str) -> Result<StepVector, QueryError> {
        match self.eval(expr)? {
            Val::Vector(v) => Ok(v),
            _ => Err(QueryError::BadArgument(format!(
                "{what} must be an instant vector, got {expr}"
            ))),
        }
    }

    /// The time a selector reads at when evaluated at `t`: `@` fixes it, `offset` moves it back.
    pub fn reference_time(&self, vs: &VectorSelector, t: i64) -> i64 {
        self.reference(&vs.at, &vs.offset, t)
    }

    /// The time a selector or subquery with modifiers `at` and `offset` reads at when
    /// evaluated at `t` (see [`Clock::reference`]).
    pub fn reference(&self, at: &Option<AtModifier>, offset: &Option<Offset>, t: i64) -> i64 {
        self.clock().reference(at, offset, t)
    }

    /// What placing samples at this evaluator's steps needs, as a value the threads that
    /// read the store can take along.
    pub fn clock(&self) -> Clock {
        Clock {
            steps: self.steps,
            query_start: self.query_start,
            query_end: self.query_end,
            lookback_ms: self.options.lookback_ms,
        }
    }
}

/// The steps of an evaluation and what `@`, `offset` and the lookback refer to: enough to
/// place one series' samples at every step, on any thread (see `select`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    pub steps: Steps,
    /// The query's start and end (what `@ start()` and `@ end()` mean).
    pub query_start: i64,
    /// See `query_start`.
    pub query_end: i64,
    /// How far back an instant-vector selector looks for a sample.
    pub lookback_ms: i64,
}

impl Clock {
    /// The time a selector or subquery with modifiers `at` and `offset` reads at when
    /// evaluated at `t`. `@ start()` and `@ end()` are the query's (not a subquery's)
    /// start and end, as in Prometheus.
    pub fn reference(&self, at: &Option<AtModifier>, offset: &Option<Offset>, t: i64) -> i64 {
        let base = match at {
            None => t,
            Some(AtModifier::Start) => self.query_start,
            Some(AtModifier::End) => self.query_end,
            Some(AtModifier::At(time)) => system_time_ms(*time),
        };
        // Saturating for safety: parse::check_times keeps both far inside i64.
        base.saturating_sub(offset_ms(offset))
    }
}

/// A `Duration` in milliseconds.
pub(super) fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(*d),
        Some(Offset::Neg(d)) => -duration_ms(*d),
    }
}

fn system_time_ms(t: std::time::SystemTime) -> i64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => duration_ms(d),
        Err(e) => -duration_ms(e.duration()),
    }
}

/// Removes `__name__` from every series, merging series whose labels become equal. Two of
/// them present at the same step is an error, as in Prometheus.
pub(super) fn drop_metric_names(vector: StepVector) -> Result<StepVector, QueryError> {
    // The series of a vector are distinct; when they all have one name (a selector's, as
    // under rate()), they stay distinct without it: nothing to merge, so nothing to look
    // up (over a fleet that is hundreds of thousands of label sets).
    let one_name = match vector.series.first().map(Labels::name) {
        Some(name) => vector.series.iter().all(|l| l.name() == name),
        None => true,
    };
    if one_name {
        let series = vector.series.iter().map(Labels::without_name).collect();
        return Ok(StepVector {
            series,
            steps: vector.steps,
        });
    }
    relabel(vector, Labels::without_name)
}

/// Gives every series new labels (computed once per series), merging series whose new
/// labels are equal; two merged series present at the same step is an error.
pub(super) fn relabel(
    vector: StepVector,
    new_labels: impl Fn(&Labels) -> Labels,
) -> Result<StepVector, QueryError> {
    let labels = vector.series.iter().map(new_labels).collect();
    relabel_to(vector, labels)
}

/// Gives series `i` the labels `labels[i]`, merging series whose new labels are equal; two
/// merged series present at the same step is an error.
pub(super) fn relabel_to(
    vector: StepVector,
    labels: Vec<Labels>,
) -> Result<StepVector, QueryError> {
    // Each distinct label set keeps the place of its first series.
    let mut index: HashMap<&Labels, u32> = HashMap::with_capacity(labels.len());
    let mut first = Vec::new();
    let remap: Vec<u32> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            *index.entry(l).or_insert_with(|| {
                first.push(i);
                (first.len() - 1) as u32
            })
        })
        .collect();
    drop(index);
    let merged = first.len() < labels.len();
    let series: Vec<Labels> = if merged {
        let mut keep = first.iter().copied().peekable();
        labels
            .into_iter()
            .enumerate()
            .filter(|(i, _)| keep.next_if_eq(i).is_some())
            .map(|(_, l)| l)
            .collect()
    } else {
        labels
    };
    let mut seen = vec![usize::MAX; series.len()];
    let mut steps = vector.steps;
    for (i, step) in steps.iter_mut().enumerate() {
        for (s, _) in step.iter_mut() {
            *s = remap[*s as usize];
            if merged {
                if seen[*s as usize] == i {
                    return Err(duplicate_labelset(&series[*s as usize]));
                }
                seen[*s as usize] = i;
            }
        }
    }
    Ok(StepVector { series, steps })
}

/// The error for two samples with the same labels at one step.
pub(super) fn duplicate_labelset(labels: &Labels) -> QueryError {
    QueryError::Execution(format!(
        "vector cannot contain metrics with the same labelset ({})",
        format_labels(labels)
    ))
}

/// `{a="1", b="2"}` for messages.
pub(super) fn format_labels(labels: &Labels) -> String {
    let inner: Vec<String> = labels
        .pairs()
        .iter()
        .map(|(n, v)| format!("{n}={v:?}"))
        .collect();
    format!("{{{}}}", inner.join(", "))
}
