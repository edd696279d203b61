//! Aggregating a plain selector or a range function series by series (`avg(node_load1)`,
//! `avg by (host) (rate(...))`): each series' points go straight into its group's running state at each step,
//! without first gathering every series into a step-major [`StepVector`] and folding that.
//! Over a fleet this was a fifth of an aggregation's instructions.
//!
//! The answer is the same to the last bit: at every step a group takes its series' values
//! in the order of the selection, as the step-major fold does, and its output lists the
//! groups of a step in the same order (of each group's first series with a value there).

use promql_parser::parser::{Expr, LabelModifier};

use super::{Acc, Agg, fold, groups};
use crate::QueryError;
use crate::eval::call::{RangeValue, range_value};
use crate::eval::select::{StepPoints, gather};
use crate::eval::{Evaluator, StepVector};
use vigil_store::Labels;

/// Running states (groups × steps) this path keeps at most; above, the step-major fold
/// (which keeps a state per group) is used. 32 bytes each: 8 MB.
const MAX_STATES: usize = 1 << 18;

/// Whether `agg` folds values one at a time with no parameter (the ones this path does).
pub(super) fn applies(agg: Agg) -> bool {
    matches!(
        agg,
        Agg::Sum
            | Agg::Avg
            | Agg::Min
            | Agg::Max
            | Agg::Count
            | Agg::Group
            | Agg::Stddev
            | Agg::Stdvar
    )
}

/// `arg` evaluated series by series, when it is a plain instant-vector selector or a
/// function over a range vector (such as `rate(x[5m])`); `None`, with nothing evaluated,
/// for anything else.
pub(super) fn points(ev: &mut Evaluator<'_>, arg: &Expr) -> Result<Option<RangeValue>, QueryError> {
    match arg {
        Expr::Paren(p) => points(ev, &p.expr),
        Expr::VectorSelector(vs) => Ok(Some(RangeValue::Series(ev.selector_points(vs)?))),
        Expr::Call(call) => range_value(ev, call),
        _ => Ok(None),
    }
}

/// `agg` over `series` (each with its points) by `modifier`, at `steps` steps.
pub(super) fn aggregate(
    agg: Agg,
    mut series: Vec<(Labels, StepPoints)>,
    modifier: Option<&LabelModifier>,
    steps: usize,
) -> StepVector {
    // As the step-major input would hold them: series with a point.
    series.retain(|(_, points)| !points.is_empty());
    let (group_of, group_labels) = groups(series.iter().map(|(l, _)| l), modifier);
    let width = group_labels.len();
    if width.saturating_mul(steps) > MAX_STATES {
        return fold(agg, gather(series, steps, None), modifier, None);
    }
    // The state of group g at step i is states[i * width + g].
    let mut states = vec![Acc::EMPTY; width * steps];
    // Per step, the groups with a value there, in order of their first.
    let mut present: Vec<Vec<u32>> = vec![Vec::new(); steps];
    for ((_, points), &g) in series.iter().zip(&group_of) {
        for &(step, v) in points {
            let i = step as usize;
            let state = &mut states[i * width + g as usize];
            if state.step == i {
                state.add(agg, v);
            } else {
                *state = Acc::first(agg, i, v);
                present[i].push(g);
            }
        }
    }
    let steps = present
        .into_iter()
        .enumerate()
        .map(|(i, groups)| {
            groups
                .into_iter()
                .map(|g| (g, states[i * width + g as usize].value(agg)))
                .collect()
        })
        .collect();
    StepVector {
        series: group_labels,
        steps,
    }
}
