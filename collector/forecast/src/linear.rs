//! Ordinary least squares: a straight line through the grid, with the textbook prediction
//! interval for a new observation at x₀:
//!
//! ```text
//!   ŷ(x₀) ± t(0.975, n−2) · s · sqrt(1 + 1/n + (x₀ − x̄)² / Sxx),   s² = SSE / (n − 2)
//! ```
//!
//! x is the position on the grid in steps. The band widens with the distance from the
//! data's centre, because the slope is uncertain too.

use super::grid::Grid;
use super::stats::{least_squares, t_975};
use super::{ForecastError, Prediction};

/// A least-squares line and what its prediction interval needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Line {
    start_ms: i64,
    step_ms: i64,
    /// Value at position 0.
    intercept: f64,
    /// Change per step.
    slope: f64,
    n: f64,
    x_mean: f64,
    sxx: f64,
    /// t quantile × residual standard deviation.
    half_width: f64,
}

impl Line {
    /// Fits the line; needs 3 points (one degree of freedom for the residuals).
    pub fn fit(grid: &Grid) -> Result<Self, ForecastError> {
        let values = &grid.values;
        if values.len() < 3 {
            return Err(ForecastError::NotEnoughData(format!(
                "a least-squares line with an interval needs 3 points, have {}",
                values.len()
            )));
        }
        let (intercept, slope) = least_squares(values);
        let n = values.len() as f64;
        let x_mean = (n - 1.0) / 2.0;
        let mut sse = 0.0;
        let mut sxx = 0.0;
        for (k, &y) in values.iter().enumerate() {
            let x = k as f64;
            let r = y - (intercept + slope * x);
            sse += r * r;
            sxx += (x - x_mean) * (x - x_mean);
        }
        let s = (sse / (n - 2.0)).sqrt();
        Ok(Line {
            start_ms: grid.start_ms,
            step_ms: grid.step_ms,
            intercept,
            slope,
            n,
            x_mean,
            sxx,
            half_width: t_975(values.len() - 2) * s,
        })
    }

    /// A level: the mean of the grid with no slope, and the band of a new observation
    /// about it (`t(0.975, n−1) · s · sqrt(1 + 1/n)`); needs 2 points. `auto`'s choice
    /// for a series with no trend to extrapolate.
    pub fn level(grid: &Grid) -> Result<Self, ForecastError> {
        let values = &grid.values;
        if values.len() < 2 {
            return Err(ForecastError::NotEnoughData(format!(
                "a level with an interval needs 2 points, have {}",
                values.len()
            )));
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let sse: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
        let s = (sse / (n - 1.0)).sqrt();
        Ok(Line {
            start_ms: grid.start_ms,
            step_ms: grid.step_ms,
            intercept: mean,
            slope: 0.0,
            n,
            x_mean: (n - 1.0) / 2.0,
            // No slope, so no widening with the distance: an infinite Sxx.
            sxx: f64::INFINITY,
            half_width: t_975(values.len() - 1) * s,
        })
    }

    /// The line's value and prediction interval at `t_ms`.
    pub fn predict(&self, t_ms: i64) -> Prediction {
        let x = (t_ms - self.start_ms) as f64 / self.step_ms as f64;
        let mean = self.intercept + self.slope * x;
        let dx = x - self.x_mean;
        let width = self.half_width * (1.0 + 1.0 / self.n + dx * dx / self.sxx).sqrt();
        Prediction {
            mean,
            lower: mean - width,
            upper: mean + width,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(values: Vec<f64>) -> Grid {
        Grid {
            start_ms: 1_000_000,
            step_ms: 60_000,
            values,
        }
    }

    #[test]
    fn an_exact_line_is_predicted_exactly_with_no_band() {
        let line = Line::fit(&grid((0..50).map(|k| 10.0 + 2.0 * k as f64).collect())).expect("fit");
        let p = line.predict(1_000_000 + 100 * 60_000);
        assert!((p.mean - 210.0).abs() < 1e-9, "{p:?}");
        assert!((p.upper - p.lower).abs() < 1e-9, "{p:?}");
    }

    #[test]
    fn interval_matches_a_hand_computed_example() {
        // y = 1, 3, 2, 5, 4 at x = 0..4: slope 0.8, intercept 1.4, SSE 3.6, s² = 1.2,
        // Sxx = 10. At x₀ = 6: ŷ = 6.2, half-width = 3.182·sqrt(1.2·(1 + 1/5 + 16/10)).
        let line = Line::fit(&grid(vec![1.0, 3.0, 2.0, 5.0, 4.0])).expect("fit");
        let p = line.predict(1_000_000 + 6 * 60_000);
        assert!((p.mean - 6.2).abs() < 1e-9, "{p:?}");
        let expected = 3.182 * (1.2_f64 * 2.8).sqrt();
        assert!(
            ((p.upper - p.mean) - expected).abs() < 0.01,
            "{p:?} vs {expected}"
        );
        assert!(((p.mean - p.lower) - expected).abs() < 0.01, "{p:?}");
    }

    #[test]
    fn two_points_are_not_enough() {
        assert!(matches!(
            Line::fit(&grid(vec![1.0, 2.0])),
            Err(ForecastError::NotEnoughData(_))
        ));
    }
}
