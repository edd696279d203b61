//! Subqueries, `expr[range:step] offset o @ t`: the inner expression evaluated at the
//! steps the windows of every outer step need, as Prometheus 2.42 does it.
//!
//! - The inner steps are absolute multiples of the step (the subquery's own, or
//!   [`crate::EngineOptions::default_subquery_step_ms`], Prometheus' global evaluation
//!   interval), from the first multiple at or after the earliest window start to the
//!   latest window end. So every outer step sees the same inner points whether the query
//!   is an instant or a range query, and nested subqueries align on their own steps.
//! - `offset` and `@` move the windows as for a range selector; `@ start()`/`@ end()`
//!   inside a subquery still mean the query's start and end.
//! - The result is a set of series that the caller reads through windows (a function
//!   such as `max_over_time`) or, at the top of an instant query, returns as a matrix.
//!
//! Cost: the inner steps are bounded ([`crate::EngineOptions::max_subquery_steps`]) before
//! anything is evaluated, and the points produced count toward `max_samples`.

use promql_parser::parser::SubqueryExpr;

use super::select::Loaded;
use super::{Evaluator, Steps, Val, duration_ms};
use crate::QueryError;
use vigil_store::Labels;

impl Evaluator<'_> {
    /// Evaluates subquery `sq` for every step of this evaluator: the series of the inner
    /// expression with their points (oldest first) at the inner steps.
    pub fn subquery(&mut self, sq: &SubqueryExpr) -> Result<Vec<Loaded>, QueryError> {
        let step = match sq.step.map(duration_ms) {
            Some(step) if step > 0 => step,
            _ => self.options.default_subquery_step_ms.max(1),
        };
        let range = duration_ms(sq.range);
        let first = self.reference(&sq.at, &sq.offset, self.steps.start);
        let last = self.reference(&sq.at, &sq.offset, self.steps.end);
        let (earliest, latest) = (first.min(last), first.max(last));
        let start = first_multiple_at_or_after(earliest.saturating_sub(range), step);
        if start > latest {
            return Ok(Vec::new());
        }
        let count = (latest - start) / step + 1;
        let max = self.options.max_subquery_steps;
        if count as u128 > max as u128 {
            return Err(QueryError::TooLarge(format!(
                "the subquery {sq} would evaluate its inner expression at {count} steps, \
                 over the limit of {max}; raise its resolution (the duration after ':') \
                 or shorten its range"
            )));
        }
        let count = count as usize;
        let steps = Steps {
            start,
            end: start + (count as i64 - 1) * step,
            step,
            count,
        };
        let mut inner = Evaluator {
            store: self.store,
            options: self.options,
            steps,
            query_start: self.query_start,
            query_end: self.query_end,
            loaded_samples: self.loaded_samples,
            deadline: self.deadline,
        };
        let value = inner.eval(&sq.expr)?;
        self.loaded_samples = inner.loaded_samples;
        let series = match value {
            Val::Vector(vector) => {
                let mut points: Vec<Vec<(i64, f64)>> = vec![Vec::new(); vector.series.len()];
                for (i, at) in vector.steps.iter().enumerate() {
                    for &(s, v) in at {
                        points[s as usize].push((steps.time(i), v));
                    }
                }
                vector
                    .series
                    .into_iter()
                    .zip(points)
                    .filter(|(_, p)| !p.is_empty())
                    .collect::<Vec<_>>()
            }
            // The parser allows only instant vectors inside a subquery; a scalar is read
            // as Prometheus reads a scalar in a range: one series without labels.
            Val::Scalar(values) => vec![(
                Labels::default(),
                values
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (steps.time(i), v))
                    .collect(),
            )],
            Val::String(_) | Val::Matrix(_) => {
                return Err(QueryError::BadArgument(format!(
                    "subquery is only allowed on instant vector: {sq}"
                )));
            }
        };
        let points: usize = series.iter().map(|(_, p)| p.len()).sum();
        self.loaded_samples = self.loaded_samples.saturating_add(points);
        if self.loaded_samples > self.options.max_samples {
            return Err(QueryError::TooLarge(format!(
                "the query would hold more than {} samples (at the subquery {sq}); \
                 raise the subquery's resolution, shorten the time range or narrow the selectors",
                self.options.max_samples
            )));
        }
        Ok(series)
    }
}

/// The first multiple of `step` (> 0) at or after `t`, for negative `t` too.
pub(super) fn first_multiple_at_or_after(t: i64, step: i64) -> i64 {
    let floor = t.div_euclid(step).saturating_mul(step);
    if floor < t {
        floor.saturating_add(step)
    } else {
        floor
    }
}
