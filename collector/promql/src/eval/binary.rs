//! Binary operators: arithmetic, comparison (filtering or `bool`) and set operators,
//! between scalars, a vector and a scalar, or two vectors matched one-to-one or with
//! `group_left`/`group_right`, `on`/`ignoring`. Semantics follow Prometheus 2.42.

use std::collections::HashMap;

use promql_parser::parser::{BinModifier, BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::{Evaluator, StepVector, Val, drop_metric_names, format_labels};
use crate::QueryError;
use vigil_store::{Labels, METRIC_NAME};

/// An operator, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl Op {
    fn parse(token: &str) -> Result<Self, QueryError> {
        Ok(match token.to_ascii_lowercase().as_str() {
            "+" => Op::Add,
            "-" => Op::Sub,
            "*" => Op::Mul,
            "/" => Op::Div,
            "%" => Op::Mod,
            "^" => Op::Pow,
            "atan2" => Op::Atan2,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            ">" => Op::Gt,
            "<" => Op::Lt,
            ">=" => Op::Ge,
            "<=" => Op::Le,
            "and" => Op::And,
            "or" => Op::Or,
            "unless" => Op::Unless,
            other => {
                return Err(QueryError::Unsupported(format!(
                    "binary operator {other:?} is not supported"
                )));
            }
        })
    }

    fn is_comparison(self) -> bool {
        matches!(self, Op::Eq | Op::Ne | Op::Gt | Op::Lt | Op::Ge | Op::Le)
    }

    fn is_set(self) -> bool {
        matches!(self, Op::And | Op::Or | Op::Unless)
    }

    /// Arithmetic drops the metric name: the result is no longer that metric. Not
    /// `atan2`: Prometheus 2.42 keeps the name for it.
    fn drops_name(self) -> bool {
        !self.is_comparison() && !self.is_set() && self != Op::Atan2
    }

    /// `(value, keep)`: arithmetic always keeps; a comparison keeps `lhs` when it holds.
    fn apply(self, lhs: f64, rhs: f64) -> (f64, bool) {
        match self {
            Op::Add => (lhs + rhs, true),
            Op::Sub => (lhs - rhs, true),
            Op::Mul => (lhs * rhs, true),
            Op::Div => (lhs / rhs, true),
            Op::Mod => (lhs % rhs, true),
            Op::Pow => (lhs.powf(rhs), true),
            Op::Atan2 => (lhs.atan2(rhs), true),
            Op::Eq => (lhs, lhs == rhs),
            Op::Ne => (lhs, lhs != rhs),
            Op::Gt => (lhs, lhs > rhs),
            Op::Lt => (lhs, lhs < rhs),
            Op::Ge => (lhs, lhs >= rhs),
            Op::Le => (lhs, lhs <= rhs),
            Op::And | Op::Or | Op::Unless => (lhs, true),
        }
    }
}

pub(super) fn eval(ev: &mut Evaluator<'_>, expr: &BinaryExpr) -> Result<Val, QueryError> {
    let op = Op::parse(&expr.op.to_string())?;
    let return_bool = expr.modifier.as_ref().is_some_and(|m| m.return_bool);
    let lhs = ev.eval(&expr.lhs)?;
    let rhs = ev.eval(&expr.rhs)?;
    match (lhs, rhs) {
        (Val::Scalar(a), Val::Scalar(b)) => Ok(Val::Scalar(
            a.into_iter()
                .zip(b)
                .map(|(a, b)| {
                    let (v, keep) = op.apply(a, b);
                    if op.is_comparison() {
                        if keep { 1.0 } else { 0.0 }
                    } else {
                        v
                    }
                })
                .collect(),
        )),
        (Val::Vector(v), Val::Scalar(s)) => vector_scalar(op, v, &s, false, return_bool),
        (Val::Scalar(s), Val::Vector(v)) => vector_scalar(op, v, &s, true, return_bool),
        (Val::Vector(a), Val::Vector(b)) => {
            let modifier = expr.modifier.clone().unwrap_or(BinModifier {
                card: VectorMatchCardinality::OneToOne,
                matching: None,
                return_bool: false,
                fill_values: Default::default(),
            });
            if op.is_set() {
                Ok(Val::Vector(set_operation(op, a, b, &modifier)))
            } else {
                vector_vector(op, a, b, &modifier, return_bool)
            }
        }
        _ => Err(QueryError::BadArgument(format!(
            "operator {} needs scalars or instant vectors on both sides: {expr}",
            expr.op
        ))),
    }
}

fn vector_scalar(
    op: Op,
    mut vector: StepVector,
    scalar: &[f64],
    scalar_on_left: bool,
    return_bool: bool,
) -> Result<Val, QueryError> {
    if op.is_set() {
        return Err(QueryError::BadArgument(
            "set operators (and, or, unless) need instant vectors on both sides".into(),
        ));
    }
    for (i, step) in vector.steps.iter_mut().enumerate() {
        let s = scalar[i];
        step.retain_mut(|(_, v)| {
            let (lhs, rhs) = if scalar_on_left { (s, *v) } else { (*v, s) };
            let (mut value, keep) = op.apply(lhs, rhs);
            if op.is_comparison() && scalar_on_left {
                // The vector's value is the result, whichever side it is on.
                value = rhs;
            }
            if return_bool {
                *v = if keep { 1.0 } else { 0.0 };
                return true;
            }
            *v = value;
            keep
        });
    }
    if op.drops_name() || return_bool {
        vector = drop_metric_names(vector)?;
    }
    Ok(Val::Vector(vector))
}

/// How a series is matched with the other side: its labels after `on`/`ignoring`.
fn signature(labels: &Labels, matching: Option<&LabelModifier>) -> String {
    let mut key = String::new();
    let mut push = |n: &str, v: &str| {
        key.push_str(n);
        key.push('\u{0}');
        key.push_str(v);
        key.push('\u{1}');
    };
    match matching {
        Some(LabelModifier::Include(on)) => {
            let mut names: Vec<&String> = on.labels.iter().collect();
            names.sort();
            names.dedup();
            for n in names {
                push(n, labels.get(n));
            }
        }
        Some(LabelModifier::Exclude(ignoring)) => {
            for (n, v) in labels.pairs() {
                if n != METRIC_NAME && !ignoring.labels.contains(n) {
                    push(n, v);
                }
            }
        }
        None => {
            for (n, v) in labels.pairs() {
                if n != METRIC_NAME {
                    push(n, v);
                }
            }
        }
    }
    key
}

/// Interns the signatures of both sides; returns the signature index of every series.
fn signatures(
    lhs: &StepVector,
    rhs: &StepVector,
    matching: Option<&LabelModifier>,
) -> (Vec<u32>, Vec<u32>, usize) {
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut intern = |labels: &Labels| {
        let next = index.len() as u32;
        *index.entry(signature(labels, matching)).or_insert(next)
    };
    let l = lhs.series.iter().map(&mut intern).collect();
    let r = rhs.series.iter().map(&mut intern).collect();
    (l, r, index.len())
}

fn set_operation(op: Op, lhs: StepVector, rhs: StepVector, modifier: &BinModifier) -> StepVector {
    let (lsig, rsig, count) = signatures(&lhs, &rhs, modifier.matching.as_ref());
    let offset = lhs.series.len() as u32;
    let mut seen = vec![usize::MAX; count];
    let mut steps = Vec::with_capacity(lhs.steps.len());
    for (i, (l, r)) in lhs.steps.into_iter().zip(rhs.steps).enumerate() {
        let step = match op {
            Op::And | Op::Unless => {
                for &(s, _) in &r {
                    seen[rsig[s as usize] as usize] = i;
                }
                let want = op == Op::And;
                l.into_iter()
                    .filter(|(s, _)| (seen[lsig[*s as usize] as usize] == i) == want)
                    .collect()
            }
            _ => {
                for &(s, _) in &l {
                    seen[lsig[s as usize] as usize] = i;
                }
                let mut out = l;
                out.extend(
                    r.into_iter()
                        .filter(|(s, _)| seen[rsig[*s as usize] as usize] != i)
                        .map(|(s, v)| (s + offset, v)),
                );
                out
            }
        };
        steps.push(step);
    }
    let mut series = lhs.series;
    if op == Op::Or {
        series.extend(rhs.series);
    }
    StepVector { series, steps }
}

fn vector_vector(
    op: Op,
    lhs: StepVector,
    rhs: StepVector,
    modifier: &BinModifier,
    return_bool: bool,
) -> Result<Val, QueryError> {
    let matching = modifier.matching.as_ref();
    let (include, one_to_many) = match &modifier.card {
        VectorMatchCardinality::ManyToOne(l) => (Some(&l.labels), false),
        VectorMatchCardinality::OneToMany(l) => (Some(&l.labels), true),
        _ => (None, false),
    };
    // The "one" side is indexed by signature; for group_right it is the left operand.
    let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    let (many_sig, one_sig, count) = signatures(&many, &one, matching);
    let mut results: HashMap<(u32, u32), u32> = HashMap::new();
    let mut out_index: HashMap<Labels, u32> = HashMap::new();
    let mut out = StepVector::empty(many.steps.len());
    // Per signature: the step it was last seen at, and the "one"-side sample.
    let mut one_at: Vec<(usize, u32, f64)> = vec![(usize::MAX, 0, 0.0); count];
    let mut matched_at = vec![usize::MAX; count];
    let mut result_at: Vec<usize> = Vec::new();
    for (i, (m, o)) in many.steps.iter().zip(&one.steps).enumerate() {
        for &(s, v) in o {
            let sig = one_sig[s as usize] as usize;
            if one_at[sig].0 == i {
                let side = if one_to_many { "left" } else { "right" };
                return Err(QueryError::Execution(format!(
                    "found duplicate series for the match group on the {side} hand-side of the \
                     operation: [{}, {}]; many-to-many matching not allowed: matching labels \
                     must be unique on one side",
                    format_labels(&one.series[s as usize]),
                    format_labels(&one.series[one_at[sig].1 as usize]),
                )));
            }
            one_at[sig] = (i, s, v);
        }
        for &(s, v) in m {
            let sig = many_sig[s as usize] as usize;
            let (at, os, ov) = one_at[sig];
            if at != i {
                continue;
            }
            let (vl, vr) = if one_to_many { (ov, v) } else { (v, ov) };
            let (mut value, keep) = op.apply(vl, vr);
            if return_bool {
                value = if keep { 1.0 } else { 0.0 };
            } else if !keep {
                continue;
            }
            if include.is_none() {
                if matched_at[sig] == i {
                    return Err(QueryError::Execution(
                        "multiple matches for labels: many-to-one matching must be explicit \
                         (group_left/group_right)"
                            .into(),
                    ));
                }
                matched_at[sig] = i;
            }
            let key = (s, os);
            let index = match results.get(&key) {
                Some(&index) => index,
                None => {
                    let labels = result_labels(
                        &many.series[s as usize],
                        &one.series[os as usize],
                        op,
                        modifier,
                        include,
                        return_bool,
                    );
                    let next = out.series.len() as u32;
                    let index = *out_index.entry(labels).or_insert_with_key(|l| {
                        out.series.push(l.clone());
                        next
                    });
                    results.insert(key, index);
                    index
                }
            };
            if result_at.len() <= index as usize {
                result_at.resize(index as usize + 1, usize::MAX);
            }
            if result_at[index as usize] == i {
                return Err(QueryError::Execution(
                    "multiple matches for labels: grouping labels must ensure unique results"
                        .into(),
                ));
            }
            result_at[index as usize] = i;
            out.steps[i].push((index, value));
        }
    }
    Ok(Val::Vector(out))
}

/// The labels of a vector-vector result, from the "many" side's sample.
fn result_labels(
    many: &Labels,
    one: &Labels,
    op: Op,
    modifier: &BinModifier,
    include: Option<&Vec<String>>,
    return_bool: bool,
) -> Labels {
    let mut pairs: Vec<(String, String)> = many
        .pairs()
        .iter()
        .filter(|(n, _)| !((op.drops_name() || return_bool) && n == METRIC_NAME))
        .cloned()
        .collect();
    if include.is_none() {
        match &modifier.matching {
            Some(LabelModifier::Include(on)) => pairs.retain(|(n, _)| on.labels.contains(n)),
            Some(LabelModifier::Exclude(ignoring)) => {
                pairs.retain(|(n, _)| !ignoring.labels.contains(n))
            }
            None => {}
        }
    }
    for name in include.into_iter().flatten() {
        pairs.retain(|(n, _)| n != name);
        let v = one.get(name);
        if !v.is_empty() {
            pairs.push((name.clone(), v.to_owned()));
        }
    }
    Labels::new(pairs)
}
