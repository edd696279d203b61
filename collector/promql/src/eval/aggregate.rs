//! Aggregation operators with `by`/`without`, computed as Prometheus 2.42 does
//! (incremental mean for `avg`, Welford's method for `stddev`/`stdvar`).

mod by_series;

use std::collections::HashMap;

use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};

use super::call::RangeValue;
use super::{Evaluator, StepVector, Val};
use crate::QueryError;
use crate::range_functions::quantile;
use vigil_store::{Labels, METRIC_NAME};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Agg {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Group,
    Stddev,
    Stdvar,
    Quantile,
    Topk,
    Bottomk,
    CountValues,
}

impl Agg {
    fn parse(name: &str) -> Result<Self, QueryError> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "sum" => Agg::Sum,
            "avg" => Agg::Avg,
            "min" => Agg::Min,
            "max" => Agg::Max,
            "count" => Agg::Count,
            "group" => Agg::Group,
            "stddev" => Agg::Stddev,
            "stdvar" => Agg::Stdvar,
            "quantile" => Agg::Quantile,
            "topk" => Agg::Topk,
            "bottomk" => Agg::Bottomk,
            "count_values" => Agg::CountValues,
            other => {
                return Err(QueryError::Unsupported(format!(
                    "aggregation {other}() is not supported"
                )));
            }
        })
    }
}

/// Running state of one group at one step.
#[derive(Debug, Clone, Copy)]
struct Acc {
    step: usize,
    count: f64,
    value: f64,
    mean: f64,
}

impl Acc {
    /// No value yet (at no step).
    const EMPTY: Acc = Acc {
        step: usize::MAX,
        count: 0.0,
        value: 0.0,
        mean: 0.0,
    };

    /// A group's state at `step` after its first value there.
    fn first(agg: Agg, step: usize, v: f64) -> Self {
        Acc {
            step,
            count: 1.0,
            value: match agg {
                Agg::Count | Agg::Group => 1.0,
                Agg::Stddev | Agg::Stdvar => 0.0,
                _ => v,
            },
            mean: v,
        }
    }

    /// Takes the group's next value at this step, in the input's order (`avg` and the
    /// deviations are not associative: the order decides the last bits).
    fn add(&mut self, agg: Agg, v: f64) {
        self.count += 1.0;
        match agg {
            Agg::Sum => self.value += v,
            Agg::Count => self.value += 1.0,
            Agg::Group => {}
            Agg::Max => {
                if self.value < v || self.value.is_nan() {
                    self.value = v;
                }
            }
            Agg::Min => {
                if self.value > v || self.value.is_nan() {
                    self.value = v;
                }
            }
            Agg::Avg => {
                if self.mean.is_infinite() {
                    if v.is_infinite() && (self.mean > 0.0) == (v > 0.0) {
                        return;
                    }
                    if !v.is_infinite() && !v.is_nan() {
                        return;
                    }
                }
                self.mean += v / self.count - self.mean / self.count;
            }
            Agg::Stddev | Agg::Stdvar => {
                let delta = v - self.mean;
                self.mean += delta / self.count;
                self.value += delta * (v - self.mean);
            }
            // Kept by the caller (quantile), or not folded at all.
            Agg::Quantile | Agg::Topk | Agg::Bottomk | Agg::CountValues => {}
        }
    }

    /// The group's value, for every aggregation but `quantile`.
    fn value(self, agg: Agg) -> f64 {
        match agg {
            Agg::Avg => self.mean,
            Agg::Stdvar => self.value / self.count,
            Agg::Stddev => (self.value / self.count).sqrt(),
            _ => self.value,
        }
    }
}

pub(super) fn eval(ev: &mut Evaluator<'_>, expr: &AggregateExpr) -> Result<Val, QueryError> {
    let agg = Agg::parse(&expr.op.to_string())?;
    let param = match (agg, &expr.param) {
        (Agg::Topk | Agg::Bottomk | Agg::Quantile, Some(p)) => {
            Some(ev.eval_scalar(p, &format!("the parameter of {}", expr.op))?)
        }
        _ => None,
    };
    let label = match (agg, expr.param.as_deref()) {
        (Agg::CountValues, Some(p)) => Some(string_param(ev, p)?),
        _ => None,
    };
    if let (Agg::Topk | Agg::Bottomk, Some(k)) = (agg, &param) {
        check_k(k)?;
    }
    let modifier = expr.modifier.as_ref();
    let input = match by_series::applies(agg) {
        true => by_series::points(ev, &expr.expr)?,
        false => None,
    };
    let input = match input {
        Some(RangeValue::Series(series)) => {
            let steps = ev.steps.count;
            return Ok(Val::Vector(by_series::aggregate(
                agg, series, modifier, steps,
            )));
        }
        Some(RangeValue::Vector(vector)) => vector,
        None => ev.eval_vector(&expr.expr, &format!("the argument of {}", expr.op))?,
    };
    match agg {
        Agg::Topk | Agg::Bottomk => Ok(Val::Vector(top(
            agg == Agg::Topk,
            input,
            modifier,
            &param.unwrap_or_default(),
        ))),
        Agg::CountValues => count_values(input, modifier, &label.unwrap_or_default()),
        _ => Ok(Val::Vector(fold(agg, input, modifier, param.as_deref()))),
    }
}

/// Prometheus 2.42 refuses a `topk`/`bottomk` parameter that does not fit an int64
/// (NaN and infinities included), at any step, even when there is nothing to aggregate.
fn check_k(k: &[f64]) -> Result<(), QueryError> {
    // Go's maxInt64 and minInt64 as float64 comparisons in Prometheus.
    const MAX: f64 = 9_223_372_036_854_774_784.0;
    const MIN: f64 = -9_223_372_036_854_775_808.0;
    match k.iter().find(|k| !(**k <= MAX && **k >= MIN)) {
        Some(&k) => Err(QueryError::Execution(format!(
            "Scalar value {} overflows int64",
            go_g(k)
        ))),
        None => Ok(()),
    }
}

/// Go's `%v` of a float64 at least 1e6 in magnitude, NaN or infinite (the only values
/// `check_k` reports): shortest digits with a two-digit or longer exponent, `1e+20`.
fn go_g(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let text = format!("{v:e}");
    match text.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => text,
    }
}

fn string_param(ev: &mut Evaluator<'_>, p: &Expr) -> Result<String, QueryError> {
    let Val::String(label) = ev.eval(p)? else {
        return Err(QueryError::BadArgument(
            "count_values needs a string parameter: the label to put the value in".into(),
        ));
    };
    let valid = label
        .chars()
        .enumerate()
        .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
    if !valid || label.is_empty() {
        // An execution error in Prometheus 2.42 (raised while aggregating).
        return Err(QueryError::Execution(format!(
            "invalid label name {label:?}"
        )));
    }
    Ok(label)
}

/// The labels of a group: only the `by` labels, or all but the `without` labels and the name.
fn group_labels(labels: &Labels, modifier: Option<&LabelModifier>) -> Labels {
    let pairs = labels.pairs().iter().filter(|(n, _)| match modifier {
        None => false,
        Some(LabelModifier::Include(by)) => by.labels.contains(n),
        Some(LabelModifier::Exclude(without)) => n != METRIC_NAME && !without.labels.contains(n),
    });
    Labels::new(pairs.cloned().collect())
}

/// Group index of every input series, and the groups' labels. Series are matched to
/// groups by their kept label pairs, borrowed: a group's labels are built once, when it
/// first appears (over a fleet that is tens of thousands of series and a few groups).
fn groups<'a>(
    series: impl IntoIterator<Item = &'a Labels>,
    modifier: Option<&LabelModifier>,
) -> (Vec<u32>, Vec<Labels>) {
    let keep = |n: &String| match modifier {
        None => false,
        Some(LabelModifier::Include(by)) => by.labels.contains(n),
        Some(LabelModifier::Exclude(without)) => n != METRIC_NAME && !without.labels.contains(n),
    };
    let mut index: HashMap<Vec<(&str, &str)>, u32> = HashMap::new();
    let mut labels = Vec::new();
    let mut key = Vec::new();
    let of = series
        .into_iter()
        .map(|l| {
            key.clear();
            key.extend(
                l.pairs()
                    .iter()
                    .filter(|(n, _)| keep(n))
                    .map(|(n, v)| (n.as_str(), v.as_str())),
            );
            if let Some(&g) = index.get(&key) {
                return g;
            }
            let g = labels.len() as u32;
            labels.push(group_labels(l, modifier));
            index.insert(key.clone(), g);
            g
        })
        .collect();
    (of, labels)
}

fn fold(
    agg: Agg,
    input: StepVector,
    modifier: Option<&LabelModifier>,
    param: Option<&[f64]>,
) -> StepVector {
    let (group_of, series) = groups(&input.series, modifier);
    let points: usize = input.steps.iter().map(Vec::len).sum();
    let threads = vigil_store::cores();
    let steps = if points < PARALLEL_FOLD_POINTS || threads == 1 || input.steps.len() < 2 {
        fold_steps(agg, &input.steps, 0, &group_of, series.len(), param)
    } else {
        // Steps are independent: each thread folds a run of them.
        let per_thread = input.steps.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = input
                .steps
                .chunks(per_thread)
                .enumerate()
                .map(|(n, chunk)| {
                    let group_of = &group_of;
                    let groups = series.len();
                    scope.spawn(move || {
                        fold_steps(agg, chunk, n * per_thread, group_of, groups, param)
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    };
    StepVector { series, steps }
}

/// Aggregations over at least this many input points fold on every core.
const PARALLEL_FOLD_POINTS: usize = 100_000;

/// The groups' values at each of `input`'s steps (step `first` of the query and on):
/// `group_of` maps series to groups, of which there are `groups`.
fn fold_steps(
    agg: Agg,
    input: &[Vec<(u32, f64)>],
    first: usize,
    group_of: &[u32],
    groups: usize,
    param: Option<&[f64]>,
) -> Vec<Vec<(u32, f64)>> {
    let mut acc = vec![Acc::EMPTY; groups];
    let mut values: Vec<Vec<f64>> = Vec::new();
    if agg == Agg::Quantile {
        values = vec![Vec::new(); groups];
    }
    let mut steps = Vec::with_capacity(input.len());
    for (k, step) in input.iter().enumerate() {
        let i = first + k;
        let mut present: Vec<u32> = Vec::new();
        for &(s, v) in step {
            let g = group_of[s as usize];
            let a = &mut acc[g as usize];
            if a.step != i {
                *a = Acc::first(agg, i, v);
                present.push(g);
                if agg == Agg::Quantile {
                    values[g as usize].clear();
                    values[g as usize].push(v);
                }
                continue;
            }
            a.add(agg, v);
            if agg == Agg::Quantile {
                values[g as usize].push(v);
            }
        }
        let out = present
            .into_iter()
            .map(|g| {
                let v = match agg {
                    Agg::Quantile => {
                        let phi = param.map_or(f64::NAN, |p| p[i]);
                        quantile(phi, &mut values[g as usize])
                    }
                    _ => acc[g as usize].value(agg),
                };
                (g, v)
            })
            .collect();
        steps.push(out);
    }
    steps
}

/// `topk`/`bottomk`: the k largest (smallest) samples of each group, keeping their labels.
///
/// Which of several equal samples survive depends on the order they arrive in and on how
/// a binary heap moves them; this replays Prometheus's heap (Go's `container/heap`, with
/// NaN as the least element) so ties resolve to the same series.
fn top(
    largest: bool,
    input: StepVector,
    modifier: Option<&LabelModifier>,
    k: &[f64],
) -> StepVector {
    let (group_of, group_labels) = groups(&input.series, modifier);
    let mut steps = Vec::with_capacity(input.steps.len());
    let mut heaps: Vec<Vec<(u32, f64)>> = vec![Vec::new(); group_labels.len()];
    let mut touched: Vec<u32> = Vec::new();
    for (i, step) in input.steps.iter().enumerate() {
        let k = k.get(i).copied().unwrap_or(f64::NAN);
        if k.is_nan() || k < 1.0 {
            steps.push(Vec::new());
            continue;
        }
        let k = if k >= usize::MAX as f64 {
            usize::MAX
        } else {
            k as usize
        };
        // Heap order: the root is the sample that leaves first.
        let less = |a: f64, b: f64| a.is_nan() || if largest { a < b } else { a > b };
        touched.clear();
        for &(s, v) in step {
            let g = group_of[s as usize] as usize;
            let heap = &mut heaps[g];
            if heap.is_empty() {
                touched.push(g as u32);
            }
            if heap.len() < k {
                heap.push((s, v));
                let last = heap.len() - 1;
                sift_up(heap, last, less);
            } else if !v.is_nan() && less(heap[0].1, v) {
                // A number beats the root it outranks, or a NaN root; a NaN beats nothing.
                heap[0] = (s, v);
                if k > 1 && !sift_down(heap, 0, less) {
                    sift_up(heap, 0, less);
                }
            }
        }
        let mut out = Vec::new();
        for &g in &touched {
            out.append(&mut heaps[g as usize]);
        }
        steps.push(out);
    }
    StepVector {
        series: input.series,
        steps,
    }
}

/// Go's `heap.up`.
fn sift_up(heap: &mut [(u32, f64)], mut j: usize, less: impl Fn(f64, f64) -> bool) {
    while j > 0 {
        let parent = (j - 1) / 2;
        if !less(heap[j].1, heap[parent].1) {
            break;
        }
        heap.swap(parent, j);
        j = parent;
    }
}

/// Go's `heap.down`; true when the element moved.
fn sift_down(heap: &mut [(u32, f64)], start: usize, less: impl Fn(f64, f64) -> bool) -> bool {
    let mut i = start;
    loop {
        let left = 2 * i + 1;
        if left >= heap.len() {
            break;
        }
        let mut j = left;
        if left + 1 < heap.len() && less(heap[left + 1].1, heap[left].1) {
            j = left + 1;
        }
        if !less(heap[j].1, heap[i].1) {
            break;
        }
        heap.swap(i, j);
        i = j;
    }
    i > start
}

/// `count_values("label", v)`: how many samples of each group have each value.
fn count_values(
    input: StepVector,
    modifier: Option<&LabelModifier>,
    label: &str,
) -> Result<Val, QueryError> {
    let grouped: Vec<Labels> = input
        .series
        .iter()
        .map(|l| {
            let mut pairs: Vec<(String, String)> = l.pairs().to_vec();
            pairs.retain(|(n, _)| n != label);
            let base = Labels::new(pairs);
            group_labels(&base, modifier)
        })
        .collect();
    let mut index: HashMap<Labels, u32> = HashMap::new();
    let mut series: Vec<Labels> = Vec::new();
    let mut steps = Vec::with_capacity(input.steps.len());
    for step in &input.steps {
        let mut counts: HashMap<u32, f64> = HashMap::new();
        let mut order = Vec::new();
        for &(s, v) in step {
            let mut pairs = grouped[s as usize].pairs().to_vec();
            pairs.push((label.to_owned(), format_go_f(v)));
            let labels = Labels::new(pairs);
            let next = series.len() as u32;
            let g = *index.entry(labels).or_insert_with_key(|l| {
                series.push(l.clone());
                next
            });
            let c = counts.entry(g).or_insert_with(|| {
                order.push(g);
                0.0
            });
            *c += 1.0;
        }
        steps.push(order.into_iter().map(|g| (g, counts[&g])).collect());
    }
    Ok(Val::Vector(StepVector { series, steps }))
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: shortest round-trip digits, never an
/// exponent, which is how `count_values` writes values into labels.
fn format_go_f(v: f64) -> String {
    let mut out = Vec::with_capacity(24);
    crate::go_float::write_plain(&mut out, v);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests;
