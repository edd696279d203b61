//! Theil–Sen: the slope is the median of the slopes between pairs of points, the intercept
//! the median of `y − slope·x`. Up to 29 % of the points can be outliers (a burst, a
//! half-finished rotation) without moving the line much.
//!
//! Pairs: all of them up to [`MAX_PAIRS`]; beyond that, [`MAX_PAIRS`] pairs drawn by a
//! fixed-seed xorshift, so the same history always gives the same line.
//!
//! Band: the slope's 95 % confidence interval from the ranks of the pairwise slopes (Sen
//! 1968: the slopes ranked `(N ∓ C)/2` with `C = z·sqrt(n(n−1)(2n+5)/18)`, `N` pairs),
//! pivoting about the data's centre, plus the 2.5 % and 97.5 % quantiles of the
//! residuals for the scatter of a single observation.
//!
//! Only observed points count (see `grid`): an interpolated gap is a straight guess whose
//! many equal pairwise slopes would pull the median to it.

use super::grid::Grid;
use super::stats::{Z_975, median, quantile_select, quantile_sorted};
use super::{ForecastError, Prediction};

/// Most pairwise slopes computed; enough for the median to three significant digits.
const MAX_PAIRS: usize = 8_192;

/// A robust line with its band.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RobustLine {
    start_ms: i64,
    step_ms: i64,
    /// Position of the data's centre (the pivot of the slope's interval).
    x_centre: f64,
    /// The line's value at the centre.
    centre: f64,
    slope: f64,
    /// Slope interval.
    slope_low: f64,
    slope_high: f64,
    /// Residual quantiles (2.5 %, 97.5 %).
    residual_low: f64,
    residual_high: f64,
}

impl RobustLine {
    /// Fits the line; needs 3 points.
    pub fn fit(grid: &Grid) -> Result<Self, ForecastError> {
        if grid.len() < 3 {
            return Err(ForecastError::NotEnoughData(format!(
                "a Theil–Sen line needs 3 points, have {}",
                grid.len()
            )));
        }
        let mut points: Vec<(f64, f64)> = (0..grid.len())
            .filter(|&k| grid.observed(k))
            .map(|k| (k as f64, grid.values[k]))
            .collect();
        if points.len() < 3 {
            points = (0..grid.len())
                .map(|k| (k as f64, grid.values[k]))
                .collect();
        }
        let n = points.len();
        let mut slopes = pairwise_slopes(&points);
        let slope = quantile_select(&mut slopes, 0.5);
        let nf = n as f64;
        let pairs = nf * (nf - 1.0) / 2.0;
        let c = Z_975 * (nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0).sqrt();
        let slope_low = quantile_select(&mut slopes, ((pairs - c) / 2.0 / pairs).max(0.0));
        let slope_high = quantile_select(&mut slopes, ((pairs + c) / 2.0 / pairs).min(1.0));
        let mut intercepts: Vec<f64> = points.iter().map(|&(x, v)| v - slope * x).collect();
        let intercept = median(&mut intercepts);
        let mut residuals: Vec<f64> = intercepts.iter().map(|a| a - intercept).collect();
        residuals.sort_unstable_by(f64::total_cmp);
        let x_centre = points.iter().map(|&(x, _)| x).sum::<f64>() / nf;
        Ok(RobustLine {
            start_ms: grid.start_ms,
            step_ms: grid.step_ms,
            x_centre,
            centre: intercept + slope * x_centre,
            slope,
            slope_low,
            slope_high,
            residual_low: quantile_sorted(&residuals, 0.025),
            residual_high: quantile_sorted(&residuals, 0.975),
        })
    }

    /// The line's value and band at `t_ms`.
    pub fn predict(&self, t_ms: i64) -> Prediction {
        let x = (t_ms - self.start_ms) as f64 / self.step_ms as f64;
        let dx = x - self.x_centre;
        let (a, b) = (self.slope_low * dx, self.slope_high * dx);
        Prediction {
            mean: self.centre + self.slope * dx,
            lower: self.centre + a.min(b) + self.residual_low,
            upper: self.centre + a.max(b) + self.residual_high,
        }
    }
}

/// Slopes between pairs of points `(x, y)`, in order of x: all pairs, or [`MAX_PAIRS`]
/// drawn deterministically.
fn pairwise_slopes(points: &[(f64, f64)]) -> Vec<f64> {
    let n = points.len();
    let slope = |i: usize, j: usize| (points[j].1 - points[i].1) / (points[j].0 - points[i].0);
    if n * (n - 1) / 2 <= MAX_PAIRS {
        let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
        for i in 0..n {
            for j in i + 1..n {
                slopes.push(slope(i, j));
            }
        }
        return slopes;
    }
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        // xorshift64 (Marsaglia 2003).
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut slopes = Vec::with_capacity(MAX_PAIRS);
    while slopes.len() < MAX_PAIRS {
        let (a, b) = ((next() % n as u64) as usize, (next() % n as u64) as usize);
        if a != b {
            slopes.push(slope(a.min(b), a.max(b)));
        }
    }
    slopes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(values: Vec<f64>) -> Grid {
        Grid::even(0, 1_000, values)
    }

    #[test]
    fn outliers_do_not_move_the_line() {
        // y = 5 + 0.5k with every tenth point a spike of +100.
        let values = (0..60)
            .map(|k| 5.0 + 0.5 * k as f64 + if k % 10 == 3 { 100.0 } else { 0.0 })
            .collect();
        let line = RobustLine::fit(&grid(values)).expect("fit");
        let p = line.predict(100_000);
        assert!((p.mean - 55.0).abs() < 1e-9, "{p:?}");
        assert!(p.lower <= p.mean && p.mean <= p.upper, "{p:?}");
    }

    #[test]
    fn sampled_pairs_find_the_slope_of_a_long_noisy_line() {
        // 700 points (244,650 pairs, so sampled): slope 2 with a deterministic ±5 wobble.
        let values = (0..700)
            .map(|k| 2.0 * k as f64 + ((k * 7919) % 1013) as f64 / 100.0 - 5.0)
            .collect();
        let line = RobustLine::fit(&grid(values)).expect("fit");
        assert!((line.slope - 2.0).abs() < 0.02, "{}", line.slope);
        assert!(line.slope_low <= line.slope && line.slope <= line.slope_high);
        assert!(line.slope_low < line.slope_high);
        let again = RobustLine::fit(&grid(
            (0..700)
                .map(|k| 2.0 * k as f64 + ((k * 7919) % 1013) as f64 / 100.0 - 5.0)
                .collect(),
        ))
        .expect("fit");
        assert_eq!(line, again, "deterministic");
    }

    #[test]
    fn band_is_the_residual_spread_at_the_centre() {
        // Slope 0: residuals are the values minus their median.
        let values: Vec<f64> = (0..41).map(|k| f64::from(k % 5)).collect();
        let line = RobustLine::fit(&grid(values)).expect("fit");
        let p = line.predict(20_000);
        assert_eq!(p.mean, 2.0);
        assert!(
            (p.lower - 0.0).abs() < 1e-9 && (p.upper - 4.0).abs() < 1e-9,
            "{p:?}"
        );
    }

    #[test]
    fn a_filled_gap_does_not_count() {
        // A line of slope 1 whose second half is a gap, filled flat (as a gap is filled
        // towards a sample the noise put low): the filled points weigh nothing.
        let mut grid = grid((0..60).map(f64::from).collect());
        for k in 30..59 {
            grid.values[k] = 29.0;
            grid.weights[k] = 0.0;
        }
        let line = RobustLine::fit(&grid).expect("fit");
        assert!((line.slope - 1.0).abs() < 1e-9, "{}", line.slope);
        assert!((line.predict(100_000).mean - 100.0).abs() < 1e-9);
    }
}
