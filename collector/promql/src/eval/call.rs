//! Function calls: functions over range vectors (in `range_functions`), on instant
//! vectors (math, `clamp*`, `round`, `timestamp`, `absent`, label functions, `sort`) and
//! on scalars (`time`, `vector`, `scalar`).

use promql_parser::label::MatchOp;
use promql_parser::parser::{Call, Expr};

use super::select::{StepPoints, gather};
use super::{Evaluator, StepVector, Val, drop_metric_names, duration_ms, relabel_to};
use crate::QueryError;
use crate::label_functions::{LabelReplace, check_label_join, label_join};
use crate::range_functions::{self, Drops, RangeFunction};
use vigil_store::{Labels, METRIC_NAME};

/// The function's name as Prometheus 2.42 knows it: promql-parser calls its holt_winters
/// double_exponential_smoothing (see `parse::dialect`).
fn function_name(call: &Call) -> &'static str {
    match call.func.name {
        "double_exponential_smoothing" => "holt_winters",
        name => name,
    }
}

pub(super) fn eval(ev: &mut Evaluator<'_>, call: &Call) -> Result<Val, QueryError> {
    let name = function_name(call);
    let args: Vec<&Expr> = call.args.args.iter().map(|a| a.as_ref()).collect();
    if let Some(f) = RangeFunction::from_name(name) {
        let value = range_call(ev, f, name, &args)?;
        return Ok(Val::Vector(value.into_vector(ev.steps.count)));
    }
    let arg = |i: usize| {
        args.get(i).copied().ok_or_else(|| {
            QueryError::BadArgument(format!("{name}() is missing argument {}", i + 1))
        })
    };
    let steps = ev.steps;
    match name {
        "time" => Ok(Val::Scalar(
            (0..steps.count)
                .map(|i| steps.time(i) as f64 / 1000.0)
                .collect(),
        )),
        "vector" => {
            let s = ev.eval_scalar(arg(0)?, "the argument of vector()")?;
            Ok(Val::Vector(StepVector {
                series: vec![Labels::default()],
                steps: s.into_iter().map(|v| vec![(0, v)]).collect(),
            }))
        }
        "scalar" => {
            let v = ev.eval_vector(arg(0)?, "the argument of scalar()")?;
            Ok(Val::Scalar(
                v.steps
                    .iter()
                    .map(|s| if s.len() == 1 { s[0].1 } else { f64::NAN })
                    .collect(),
            ))
        }
        "absent" => {
            let v = ev.eval_vector(arg(0)?, "the argument of absent()")?;
            Ok(Val::Vector(absent(&v, absent_labels(arg(0)?))))
        }
        "timestamp" => timestamp(ev, arg(0)?),
        "abs" | "ceil" | "floor" | "exp" | "sqrt" | "ln" | "log2" | "log10" | "sgn" => {
            let f: fn(f64) -> f64 = match name {
                "abs" => f64::abs,
                "ceil" => f64::ceil,
                "floor" => f64::floor,
                "exp" => f64::exp,
                "sqrt" => f64::sqrt,
                "ln" => f64::ln,
                "log2" => f64::log2,
                "log10" => f64::log10,
                _ => sgn,
            };
            let v = ev.eval_vector(arg(0)?, &format!("the argument of {name}()"))?;
            map_values(v, |_, x| Some(f(x)))
        }
        "round" => {
            let v = ev.eval_vector(arg(0)?, "the argument of round()")?;
            let to = match args.get(1) {
                Some(a) => ev.eval_scalar(a, "round()'s to_nearest")?,
                None => vec![1.0; steps.count],
            };
            map_values(v, |i, x| {
                let inverse = 1.0 / to[i];
                Some((x * inverse + 0.5).floor() / inverse)
            })
        }
        "clamp" => {
            let v = ev.eval_vector(arg(0)?, "the argument of clamp()")?;
            let min = ev.eval_scalar(arg(1)?, "clamp()'s min")?;
            let max = ev.eval_scalar(arg(2)?, "clamp()'s max")?;
            map_values(v, |i, x| {
                (max[i] >= min[i] || max[i].is_nan() || min[i].is_nan())
                    .then(|| go_max(min[i], go_min(max[i], x)))
            })
        }
        "clamp_min" => {
            let v = ev.eval_vector(arg(0)?, "the argument of clamp_min()")?;
            let min = ev.eval_scalar(arg(1)?, "clamp_min()'s min")?;
            map_values(v, |i, x| Some(go_max(min[i], x)))
        }
        "clamp_max" => {
            let v = ev.eval_vector(arg(0)?, "the argument of clamp_max()")?;
            let max = ev.eval_scalar(arg(1)?, "clamp_max()'s max")?;
            map_values(v, |i, x| Some(go_min(max[i], x)))
        }
        "label_replace" => {
            let v = ev.eval_vector(arg(0)?, "the argument of label_replace()")?;
            let s: Vec<String> = (1..5)
                .map(|i| string_arg(ev, arg(i)?, name))
                .collect::<Result<_, _>>()?;
            let replace = LabelReplace::new(&s[0], &s[1], &s[2], &s[3])?;
            let labels = v.series.iter().map(|l| replace.apply(l)).collect();
            Ok(Val::Vector(relabel_to(v, labels)?))
        }
        "label_join" => {
            let v = ev.eval_vector(arg(0)?, "the argument of label_join()")?;
            let dst = string_arg(ev, arg(1)?, name)?;
            let sep = string_arg(ev, arg(2)?, name)?;
            let sources: Vec<String> = args[3..]
                .iter()
                .map(|a| string_arg(ev, a, name))
                .collect::<Result<_, _>>()?;
            check_label_join(&dst, &sources)?;
            let labels = v
                .series
                .iter()
                .map(|l| label_join(l, &dst, &sep, &sources))
                .collect::<Result<_, _>>()?;
            Ok(Val::Vector(relabel_to(v, labels)?))
        }
        "sort" | "sort_desc" => {
            let mut v = ev.eval_vector(arg(0)?, &format!("the argument of {name}()"))?;
            let descending = name == "sort_desc";
            for step in &mut v.steps {
                step.sort_by(|a, b| {
                    let order = if descending {
                        b.1.partial_cmp(&a.1)
                    } else {
                        a.1.partial_cmp(&b.1)
                    };
                    order.unwrap_or_else(|| a.1.is_nan().cmp(&b.1.is_nan()))
                });
            }
            Ok(Val::Vector(v))
        }
        other => super::functions::eval(ev, other, &args),
    }
}

/// What a function over a range vector gives: the points of each series under the labels
/// it ends with, or (`absent_over_time`, and series that only their names told apart) the
/// step vector itself.
pub(super) enum RangeValue {
    Series(Vec<(Labels, StepPoints)>),
    Vector(StepVector),
}

impl RangeValue {
    /// As a step vector of `steps` steps.
    pub fn into_vector(self, steps: usize) -> StepVector {
        match self {
            RangeValue::Series(series) => gather(series, steps, None),
            RangeValue::Vector(vector) => vector,
        }
    }
}

/// `call` evaluated as [`eval`] does, before its series are gathered into a step vector,
/// when it is a function over a range vector; `None` (and nothing evaluated) otherwise.
pub(super) fn range_value(
    ev: &mut Evaluator<'_>,
    call: &Call,
) -> Result<Option<RangeValue>, QueryError> {
    let name = function_name(call);
    let Some(f) = RangeFunction::from_name(name) else {
        return Ok(None);
    };
    let args: Vec<&Expr> = call.args.args.iter().map(|a| a.as_ref()).collect();
    range_call(ev, f, name, &args).map(Some)
}

/// A function over a range vector (a range selector or a subquery), evaluated per series
/// and step from one read of the store (or one evaluation of the subquery). The other
/// arguments are scalars, one per step.
fn range_call(
    ev: &mut Evaluator<'_>,
    f: RangeFunction,
    name: &str,
    args: &[&Expr],
) -> Result<RangeValue, QueryError> {
    let matrix_at = args
        .iter()
        .position(|a| matches!(strip_parens(a), Expr::MatrixSelector(_) | Expr::Subquery(_)))
        .ok_or_else(|| {
            QueryError::BadArgument(format!(
                "{name}() needs a range vector such as metric[5m] or a subquery"
            ))
        })?;
    let mut scalars: Vec<Vec<f64>> = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if i != matrix_at {
            scalars.push(ev.eval_scalar(a, &format!("the scalar argument of {name}()"))?);
        }
    }
    let (range, at, offset) = match strip_parens(args[matrix_at]) {
        Expr::MatrixSelector(ms) => (duration_ms(ms.range), &ms.vs.at, &ms.vs.offset),
        Expr::Subquery(sq) => (duration_ms(sq.range), &sq.at, &sq.offset),
        _ => unreachable!("matrix_at points at a range selector or a subquery"),
    };
    let clock = ev.clock();
    let steps = ev.steps;
    // Functions other than these drop the metric name: each series' new labels are made
    // where its values are (on the reading threads).
    let keeps_name = matches!(
        f,
        RangeFunction::LastOverTime | RangeFunction::AbsentOverTime
    );
    // One series: its value at every step whose window has samples.
    let per_series = |labels: &Labels, samples: Vec<(i64, f64)>| -> SeriesResult {
        let mut points = StepPoints::with_capacity(steps.count.min(samples.len()));
        let mut failure = None;
        let mut step_args = vec![f64::NAN; scalars.len()];
        // Only `rate` and `increase` look for drops: one pass here spares a pass per window.
        let drops = match f {
            RangeFunction::Rate | RangeFunction::Increase => Drops::of(&samples),
            _ => Drops::Maybe,
        };
        clock.each_window((at, offset), range, &samples, |step, reference, window| {
            if window.is_empty() || failure.is_some() {
                return;
            }
            for (arg, values) in step_args.iter_mut().zip(&scalars) {
                *arg = values[step];
            }
            if f == RangeFunction::HoltWinters
                && let Err(e) = range_functions::check_holt_winters(
                    step_args.first().copied().unwrap_or(f64::NAN),
                    step_args.get(1).copied().unwrap_or(f64::NAN),
                )
            {
                failure = Some(e);
                return;
            }
            if let Some(v) = range_functions::apply_to_series(
                f,
                window,
                (reference.saturating_sub(range), reference, steps.time(step)),
                &step_args,
                drops,
            ) {
                points.push((step as u32, v));
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        let nameless = (!keeps_name && !points.is_empty()).then(|| labels.without_name());
        Ok((nameless, points))
    };
    let mapped: Vec<(Labels, SeriesResult)> = match strip_parens(args[matrix_at]) {
        Expr::MatrixSelector(ms) => ev.load_map(&ms.vs, range, true, per_series)?,
        Expr::Subquery(sq) => ev
            .subquery(sq)?
            .into_iter()
            .map(|(labels, samples)| {
                let mapped = per_series(&labels, samples);
                (labels, mapped)
            })
            .collect(),
        _ => unreachable!("matrix_at points at a range selector or a subquery"),
    };
    let mut series = Vec::with_capacity(mapped.len());
    let mut nameless = Vec::new();
    for (labels, result) in mapped {
        let (without, points) = result.map_err(QueryError::Execution)?;
        if points.is_empty() {
            continue;
        }
        nameless.extend(without);
        series.push((labels, points));
    }
    match f {
        RangeFunction::LastOverTime => Ok(RangeValue::Series(series)),
        RangeFunction::AbsentOverTime => Ok(RangeValue::Vector(absent(
            &gather(series, steps.count, None),
            absent_labels(args[matrix_at]),
        ))),
        _ => {
            // As `drop_metric_names`: series of one name stay distinct without it.
            let one_name = match series.first() {
                Some((first, _)) => series.iter().all(|(l, _)| l.name() == first.name()),
                None => true,
            };
            if one_name {
                // `nameless` holds the new labels of exactly these series, in order.
                let renamed = nameless.into_iter().zip(series);
                Ok(RangeValue::Series(
                    renamed
                        .map(|(labels, (_, points))| (labels, points))
                        .collect(),
                ))
            } else {
                let vector = gather(series, steps.count, None);
                Ok(RangeValue::Vector(relabel_to(vector, nameless)?))
            }
        }
    }
}

/// One series of a range function: its labels without the metric name (when the function
/// drops it and the series has a value) and its values, or the error that stopped it.
type SeriesResult = Result<(Option<Labels>, StepPoints), String>;

/// `timestamp(v)`: the time of each sample, in seconds. For a plain selector that is when
/// the sample was taken; for anything else it is the evaluation time.
fn timestamp(ev: &mut Evaluator<'_>, arg: &Expr) -> Result<Val, QueryError> {
    if let Expr::VectorSelector(vs) = strip_parens(arg) {
        let clock = ev.clock();
        let loaded = ev.load_map(vs, ev.options.lookback_ms, false, |_, samples| {
            let mut points = StepPoints::new();
            clock.each_instant(vs, &samples, |step, t, _| {
                points.push((step as u32, t as f64 / 1000.0));
            });
            points
        })?;
        let out = gather(loaded, ev.steps.count, None);
        return Ok(Val::Vector(drop_metric_names(out)?));
    }
    let steps = ev.steps;
    let v = ev.eval_vector(arg, "the argument of timestamp()")?;
    map_values(v, |i, _| Some(steps.time(i) as f64 / 1000.0))
}

/// Applies `f(step, value)` to every sample (`None` drops it) and drops the metric name.
pub(super) fn map_values(
    mut v: StepVector,
    f: impl Fn(usize, f64) -> Option<f64>,
) -> Result<Val, QueryError> {
    for (i, step) in v.steps.iter_mut().enumerate() {
        step.retain_mut(|(_, x)| match f(i, *x) {
            Some(y) => {
                *x = y;
                true
            }
            None => false,
        });
    }
    Ok(Val::Vector(drop_metric_names(v)?))
}

fn string_arg(ev: &mut Evaluator<'_>, expr: &Expr, function: &str) -> Result<String, QueryError> {
    match ev.eval(expr)? {
        Val::String(s) => Ok(s),
        _ => Err(QueryError::BadArgument(format!(
            "{function}() expects a string literal, got {expr}"
        ))),
    }
}

pub(super) fn strip_parens(mut expr: &Expr) -> &Expr {
    while let Expr::Paren(p) = expr {
        expr = &p.expr;
    }
    expr
}

/// The labels `absent()` gives its sample: those fixed by the selector's equality matchers.
fn absent_labels(arg: &Expr) -> Labels {
    let vs = match strip_parens(arg) {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::default(),
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut dropped: Vec<&str> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if matches!(m.op, MatchOp::Equal) && !pairs.iter().any(|(n, _)| *n == m.name) {
            pairs.push((m.name.clone(), m.value.clone()));
        } else {
            dropped.push(&m.name);
        }
    }
    pairs.retain(|(n, v)| !v.is_empty() && !dropped.contains(&n.as_str()));
    Labels::new(pairs)
}

pub(super) fn sgn(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x
    }
}

/// Go's `math.Max`: NaN wins over numbers (but +Inf wins over NaN).
fn go_max(a: f64, b: f64) -> f64 {
    if a == f64::INFINITY || b == f64::INFINITY {
        f64::INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() { b } else { a }
    } else if a > b {
        a
    } else {
        b
    }
}

/// Go's `math.Min`: NaN wins over numbers (but -Inf wins over NaN).
fn go_min(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY || b == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() { a } else { b }
    } else if a < b {
        a
    } else {
        b
    }
}

/// `absent()` and `absent_over_time()`: one series with `labels`, 1 at every step where `v`
/// has nothing, absent where it has something.
fn absent(v: &StepVector, labels: Labels) -> StepVector {
    StepVector {
        series: vec![labels],
        steps: v
            .steps
            .iter()
            .map(|s| {
                if s.is_empty() {
                    vec![(0, 1.0)]
                } else {
                    Vec::new()
                }
            })
            .collect(),
    }
}
