//! Sparklines: a series over a time range drawn with the eight block characters
//! `▁▂▃▄▅▆▇█`, one character per column, so a range query fits on one table row.
//!
//! ```text
//! steps:   0   1   2   3   4   5   6   7   8     (start, start + step, ..., end)
//! columns: |  0  |  1  |  2  |  3  |  4  |       (at most `width`; steps share a column)
//! ```
//!
//! A column shows the largest finite value of its steps (a short spike stays visible),
//! scaled between the series' smallest and largest finite values. A column with no sample
//! (the series was absent at those steps) is a space; `+Inf` is `█`, `-Inf` `▁`, `NaN` a
//! space. A series that never changes is drawn as a flat `▁` line.

/// The eight levels, lowest first.
const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The time grid of a range query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Steps {
    /// First step, unix milliseconds.
    pub start_ms: i64,
    /// Last step (included when it falls on a step), unix milliseconds.
    pub end_ms: i64,
    /// Time between steps, milliseconds; positive.
    pub step_ms: i64,
}

impl Steps {
    /// How many evaluation times the range has.
    pub fn count(&self) -> usize {
        let span = self.end_ms.saturating_sub(self.start_ms).max(0);
        usize::try_from(span / self.step_ms.max(1)).map_or(usize::MAX, |n| n.saturating_add(1))
    }

    /// Which step `t_ms` is, if it is one of the range's.
    fn index(&self, t_ms: i64) -> Option<usize> {
        if t_ms < self.start_ms || t_ms > self.end_ms {
            return None;
        }
        usize::try_from((t_ms - self.start_ms) / self.step_ms.max(1)).ok()
    }
}

/// Draws `points` (unix ms, value; any order) on the grid `steps`, at most `width`
/// characters wide.
pub fn sparkline(points: &[(i64, f64)], steps: Steps, width: usize) -> String {
    let n = steps.count();
    let columns = n.min(width.max(1));
    // Per column: the largest value of its steps, `None` while no step had a sample.
    let mut cells: Vec<Option<f64>> = vec![None; columns];
    for &(t, v) in points {
        let Some(step) = steps.index(t) else {
            continue;
        };
        // u128 so that step * columns cannot overflow on absurd ranges.
        let column = (step as u128 * columns as u128 / n.max(1) as u128) as usize;
        if let Some(cell) = cells.get_mut(column) {
            *cell = Some(match *cell {
                Some(old) if old.is_nan() || v > old => v,
                Some(old) => old,
                None => v,
            });
        }
    }
    let finite = || cells.iter().flatten().copied().filter(|v| v.is_finite());
    let low = finite().fold(f64::INFINITY, f64::min);
    let high = finite().fold(f64::NEG_INFINITY, f64::max);
    cells
        .iter()
        .map(|cell| match *cell {
            None => ' ',
            Some(v) if v.is_nan() => ' ',
            Some(v) if v == f64::INFINITY => BLOCKS[7],
            Some(v) if v == f64::NEG_INFINITY => BLOCKS[0],
            Some(v) if high > low => {
                let level = ((v - low) / (high - low) * 7.0).round();
                BLOCKS[(level as usize).min(7)]
            }
            Some(_) => BLOCKS[0],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEPS: Steps = Steps {
        start_ms: 1_000,
        end_ms: 8_000,
        step_ms: 1_000,
    };

    fn points(values: &[f64]) -> Vec<(i64, f64)> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (1_000 + 1_000 * i as i64, *v))
            .collect()
    }

    #[test]
    fn one_character_per_step_scaled_to_the_series() {
        assert_eq!(STEPS.count(), 8);
        let line = sparkline(
            &points(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]),
            STEPS,
            60,
        );
        assert_eq!(line, "▁▂▃▄▅▆▇█");
        let line = sparkline(&points(&[10.0, 20.0, 15.0, 10.0]), STEPS, 60);
        assert_eq!(line, "▁█▅▁    ");
    }

    #[test]
    fn gaps_infinities_and_flat_series() {
        let line = sparkline(&[(1_000, 1.0), (3_000, 2.0), (8_000, 3.0)], STEPS, 60);
        assert_eq!(line, "▁ ▅    █");
        let line = sparkline(
            &points(&[f64::NAN, f64::INFINITY, 1.0, f64::NEG_INFINITY]),
            STEPS,
            60,
        );
        assert_eq!(line, " █▁▁    ");
        assert_eq!(sparkline(&points(&[4.0; 8]), STEPS, 60), "▁▁▁▁▁▁▁▁");
        assert_eq!(sparkline(&[], STEPS, 60), "        ");
    }

    #[test]
    fn columns_keep_the_largest_value_of_their_steps() {
        // Eight steps in four columns: (0, 9) (0, 0) (0, 0) (0, 4.5).
        let line = sparkline(&points(&[0.0, 9.0, 0.0, 0.0, 0.0, 0.0, 0.0, 4.5]), STEPS, 4);
        assert_eq!(line, "█▁▁▅");
    }

    #[test]
    fn points_off_the_grid_are_ignored() {
        let line = sparkline(&[(0, 100.0), (2_000, 1.0), (9_000, 100.0)], STEPS, 60);
        assert_eq!(line, " ▁      ");
    }
}
