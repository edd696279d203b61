//! Short bursts taken out of the grid before `auto` looks at it: a temporary file of a few
//! gigabytes that lives for half an hour is not growth, but it makes new highs that the
//! backtest reads as crossings and that pull a least-squares line up.
//!
//! A point is part of a burst when it is far from where its neighbours on *both* sides
//! put it, and those two sides agree with each other:
//!
//! ```text
//!   left  = median of the WINDOW points before it
//!   right = median of the WINDOW points after it
//!   expected = (left + right) / 2          (on a straight trend, its own value)
//!   burst:  |x − expected| > NOISE_K · noise   and   |x − expected| > SIDES_K · |right − left|
//! ```
//!
//! A burst shorter than the window covers fewer than half of either side, so neither
//! median sees it. A step, a purge or the drop of a log rotation does not come back: the
//! two sides disagree by as much as the point differs from their mean, and it stays. A
//! point is replaced by `expected`, computed from the original values, so one burst does
//! not hide another. The first and last WINDOW points are kept as they are: with one side
//! missing, a burst cannot be told from a step (the forecast's "already past" check reads
//! the last samples anyway).

use super::grid::Grid;
use super::stats::median;

/// The window either side, in time: twice the longest burst taken out.
const WINDOW_MS: i64 = 2 * 3_600_000;

/// Fewest points in a window either side.
const MIN_WINDOW: usize = 3;

/// A burst is this many noise deviations from where its neighbours put it...
const NOISE_K: f64 = 5.0;

/// ... and this many times the disagreement of its two sides.
const SIDES_K: f64 = 2.0;

/// `grid` with its short bursts replaced by what their neighbours say, and how many
/// points were replaced.
pub(crate) fn remove(grid: &Grid, noise: f64) -> (Grid, usize) {
    let n = grid.len();
    let window = usize::try_from(WINDOW_MS / grid.step_ms.max(1))
        .unwrap_or(0)
        .max(MIN_WINDOW);
    let mut out = grid.clone();
    if n < 4 * window + 1 || noise.is_nan() || noise <= 0.0 {
        return (out, 0);
    }
    let values = &grid.values;
    let mut side = Vec::with_capacity(window);
    let mut replaced = 0;
    for i in window..n - window {
        side.clear();
        side.extend_from_slice(&values[i - window..i]);
        let left = median(&mut side);
        side.clear();
        side.extend_from_slice(&values[i + 1..=i + window]);
        let right = median(&mut side);
        let expected = (left + right) / 2.0;
        let off = (values[i] - expected).abs();
        if off > NOISE_K * noise && off > SIDES_K * (right - left).abs() {
            out.values[i] = expected;
            replaced += 1;
        }
    }
    (out, replaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(values: Vec<f64>) -> Grid {
        Grid::even(0, 900_000, values)
    }

    /// A line with a small deterministic wobble as noise.
    fn line(n: usize) -> Vec<f64> {
        (0..n)
            .map(|k| 0.5 + 0.0001 * k as f64 + 0.0005 * ((k * 7919) % 13) as f64 / 13.0)
            .collect()
    }

    #[test]
    fn a_burst_of_an_hour_is_taken_out() {
        let mut values = line(400);
        let clean = values.clone();
        for v in &mut values[200..204] {
            *v += 0.08;
        }
        let (out, replaced) = remove(&grid(values), 0.0002);
        assert_eq!(replaced, 4);
        for (k, (got, want)) in out.values.iter().zip(&clean).enumerate().skip(200).take(4) {
            assert!((got - want).abs() < 0.001, "{k}: {got}");
        }
    }

    #[test]
    fn steps_and_drops_stay() {
        // A step up at 200, a drop (a rotation) at 300.
        let values: Vec<f64> = line(400)
            .into_iter()
            .enumerate()
            .map(|(k, v)| v + if k >= 200 { 0.05 } else { 0.0 } - if k >= 300 { 0.08 } else { 0.0 })
            .collect();
        let (out, replaced) = remove(&grid(values.clone()), 0.0002);
        assert_eq!(replaced, 0);
        assert_eq!(out.values, values);
    }

    #[test]
    fn the_ends_and_short_grids_are_kept() {
        let mut values = line(400);
        values[399] += 0.1;
        values[2] += 0.1;
        let (_, replaced) = remove(&grid(values.clone()), 0.0002);
        assert_eq!(replaced, 0);
        let (_, replaced) = remove(&grid(values[..20].to_vec()), 0.0002);
        assert_eq!(replaced, 0);
    }
}
