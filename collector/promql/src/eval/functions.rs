//! Functions on instant vectors that `call` hands on: trigonometry and angles, `pi()`,
//! the date functions (`year()`, `hour()`, …) and the histogram functions. Anything
//! else is a function Prometheus 2.42 does not have.

use promql_parser::parser::Expr;

use super::call::map_values;
use super::{Evaluator, StepVector, Val, relabel_to};
use crate::QueryError;
use crate::date_functions::{self, DatePart};
use crate::histogram::{Bucket, bucket_quantile};
use vigil_store::{Labels, METRIC_NAME};

pub(super) fn eval(ev: &mut Evaluator<'_>, name: &str, args: &[&Expr]) -> Result<Val, QueryError> {
    let arg = |i: usize| {
        args.get(i).copied().ok_or_else(|| {
            QueryError::BadArgument(format!("{name}() is missing argument {}", i + 1))
        })
    };
    if let Some(f) = math_function(name) {
        let v = ev.eval_vector(arg(0)?, &format!("the argument of {name}()"))?;
        return map_values(v, |_, x| Some(f(x)));
    }
    if let Some(part) = DatePart::from_name(name) {
        return date(ev, part, args.first().copied());
    }
    match name {
        "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; ev.steps.count])),
        "histogram_quantile" => {
            let phi = ev.eval_scalar(arg(0)?, "histogram_quantile()'s quantile")?;
            let v = ev.eval_vector(arg(1)?, "the argument of histogram_quantile()")?;
            histogram_quantile(&phi, v)
        }
        // Native histograms only (Prometheus 2.42 skips every float sample): on classic
        // data they return nothing, after checking their arguments.
        "histogram_count" | "histogram_sum" | "histogram_fraction" => {
            let vector_at = args.len().saturating_sub(1);
            for (i, a) in args.iter().enumerate() {
                if i == vector_at {
                    ev.eval_vector(a, &format!("the argument of {name}()"))?;
                } else {
                    ev.eval_scalar(a, &format!("the scalar argument of {name}()"))?;
                }
            }
            Ok(Val::Vector(StepVector::empty(ev.steps.count)))
        }
        other => Err(QueryError::Parse(format!(
            "unknown function with name {other:?}"
        ))),
    }
}

/// The functions that map every value through `f64 -> f64` and drop the metric name
/// (besides those `call` handles itself: `abs`, `ceil`, `exp`, …).
fn math_function(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        // In Prometheus' order of operations: v * π / 180 and v * 180 / π.
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        _ => return None,
    })
}

/// `year(v)`, `hour(v)`, …: the part of the date each value (Unix seconds) falls on, in
/// UTC; without an argument, of the evaluation time (a sample without labels).
fn date(ev: &mut Evaluator<'_>, part: DatePart, arg: Option<&Expr>) -> Result<Val, QueryError> {
    let Some(arg) = arg else {
        let steps = ev.steps;
        return Ok(Val::Vector(StepVector {
            series: vec![Labels::default()],
            steps: (0..steps.count)
                // Whole seconds toward zero, as Go's `enh.Ts / 1000`.
                .map(|i| vec![(0, part.of_unix_seconds(steps.time(i) / 1000))])
                .collect(),
        }));
    };
    let v = ev.eval_vector(arg, &format!("the argument of {}()", part.name()))?;
    map_values(v, |_, x| {
        Some(part.of_unix_seconds(date_functions::go_int64(x)))
    })
}

/// `histogram_quantile(φ, buckets)`: series are grouped by their labels without `le`
/// (the metric name included, as in Prometheus; it is dropped from the result), each
/// group's buckets at each step give one quantile. Series without a parseable `le` are
/// left out.
fn histogram_quantile(phi: &[f64], input: StepVector) -> Result<Val, QueryError> {
    let mut group_index: std::collections::HashMap<Labels, u32> = Default::default();
    let mut groups: Vec<Labels> = Vec::new();
    // Per input series: (group, upper bound), or None without a valid `le`.
    let of: Vec<Option<(u32, f64)>> = input
        .series
        .iter()
        .map(|labels| {
            let upper = parse_go_float(labels.get("le"))?;
            let key = Labels::new(
                labels
                    .pairs()
                    .iter()
                    .filter(|(n, _)| n != "le")
                    .cloned()
                    .collect(),
            );
            let next = groups.len() as u32;
            let g = *group_index.entry(key).or_insert_with_key(|k| {
                groups.push(k.clone());
                next
            });
            Some((g, upper))
        })
        .collect();
    let mut buckets: Vec<Vec<Bucket>> = vec![Vec::new(); groups.len()];
    let mut steps = Vec::with_capacity(input.steps.len());
    for (i, step) in input.steps.iter().enumerate() {
        let mut present: Vec<u32> = Vec::new();
        for &(s, v) in step {
            if let Some((g, upper)) = of[s as usize] {
                let group = &mut buckets[g as usize];
                if group.is_empty() {
                    present.push(g);
                }
                group.push(Bucket {
                    upper_bound: upper,
                    count: v,
                });
            }
        }
        let q = phi.get(i).copied().unwrap_or(f64::NAN);
        let out = present
            .into_iter()
            .map(|g| {
                let value = bucket_quantile(q, &mut buckets[g as usize]);
                buckets[g as usize].clear();
                (g, value)
            })
            .collect();
        steps.push(out);
    }
    let labels = groups
        .iter()
        .map(|l| {
            Labels::new(
                l.pairs()
                    .iter()
                    .filter(|(n, _)| n != METRIC_NAME)
                    .cloned()
                    .collect(),
            )
        })
        .collect();
    let vector = StepVector {
        series: groups,
        steps,
    };
    Ok(Val::Vector(relabel_to(vector, labels)?))
}

/// Go's `strconv.ParseFloat(s, 64)` for the forms bucket bounds take: decimal numbers
/// with an optional exponent, `Inf`/`+Inf`/`-Inf`/`Infinity` and `NaN` in any case.
/// Empty or malformed text (no `le` label) is `None`.
fn parse_go_float(s: &str) -> Option<f64> {
    if s.is_empty() || s.contains('_') {
        return None;
    }
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = unsigned.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Some(if s.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if s.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    if !unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    s.parse().ok()
}
