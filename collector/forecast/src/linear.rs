//! Ordinary least squares: a straight line through the grid, with the textbook prediction
//! interval for a new observation at x₀:
//!
//! ```text
//!   ŷ(x₀) ± t(0.975, n−2) · s · sqrt(1 + 1/n + (x₀ − x̄)² / Sxx),   s² = SSE / (n − 2)
//! ```
//!
//! x is the position on the grid in steps. The band widens with the distance from the
//! data's centre, because the slope is uncertain too.
//!
//! The points weigh by how many samples they average (see `grid`), scaled so that the
//! observed points weigh 1 on average and n counts them: an interpolated gap is not data,
//! and a line fitted through it would follow the guess as much as the samples around it.
//! With fewer than 3 observed points every point weighs 1.

use super::grid::Grid;
use super::stats::{effective_points, t_975, weighted_least_squares};
use super::{ForecastError, Prediction};

/// What the prediction interval of a least-squares line needs (the formula in the module
/// docs), whatever its positions count: grid steps, or days on the weekday clock.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Interval {
    pub n: f64,
    pub x_mean: f64,
    pub sxx: f64,
    /// t quantile × residual standard deviation.
    pub half_width: f64,
}

impl Interval {
    /// The interval about `mean`, the line's value at position `x`.
    pub fn around(&self, mean: f64, x: f64) -> Prediction {
        let dx = x - self.x_mean;
        let width = self.half_width * (1.0 + 1.0 / self.n + dx * dx / self.sxx).sqrt();
        Prediction {
            mean,
            lower: mean - width,
            upper: mean + width,
        }
    }
}

/// A least-squares line and what its prediction interval needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Line {
    start_ms: i64,
    step_ms: i64,
    /// Value at position 0.
    intercept: f64,
    /// Change per step.
    slope: f64,
    interval: Interval,
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
        let (weights, n) = weights(grid, 3);
        let (intercept, slope) = weighted_least_squares(values, &weights);
        let x_mean = weighted_mean(&weights, |k| k as f64, n);
        let mut sse = 0.0;
        let mut sxx = 0.0;
        for (k, (&y, &w)) in values.iter().zip(&weights).enumerate() {
            let x = k as f64;
            let r = y - (intercept + slope * x);
            sse += w * r * r;
            sxx += w * (x - x_mean) * (x - x_mean);
        }
        let s = (sse / (n - 2.0)).sqrt();
        Ok(Line {
            start_ms: grid.start_ms,
            step_ms: grid.step_ms,
            intercept,
            slope,
            interval: Interval {
                n,
                x_mean,
                sxx,
                half_width: t_975(n as usize - 2) * s,
            },
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
        let (weights, n) = weights(grid, 2);
        let mean = weighted_mean(&weights, |k| values[k], n);
        let sse: f64 = values
            .iter()
            .zip(&weights)
            .map(|(v, w)| w * (v - mean) * (v - mean))
            .sum();
        let s = (sse / (n - 1.0)).sqrt();
        Ok(Line {
            start_ms: grid.start_ms,
            step_ms: grid.step_ms,
            intercept: mean,
            slope: 0.0,
            interval: Interval {
                n,
                x_mean: weighted_mean(&weights, |k| k as f64, n),
                // No slope, so no widening with the distance: an infinite Sxx.
                sxx: f64::INFINITY,
                half_width: t_975(n as usize - 1) * s,
            },
        })
    }

    /// The least-squares lines through the data's centre with the slope at the ends of its
    /// 95 % interval, lowest slope first: where either reaches the threshold bounds when
    /// the trend does. Residuals of a disk's usage are far from independent (a daily
    /// cycle, office hours, a slow wander), so the slope's standard error is taken with
    /// the effective number of points of AR(1) residuals (see [`effective_points`]): a
    /// day of a daily wave is about one point, not 288. Needs 3 points.
    pub fn slope_bounds(grid: &Grid) -> Result<(Self, Self), ForecastError> {
        let line = Line::fit(grid)?;
        let (weights, _) = weights(grid, 3);
        // The observed points' residuals, in order: a filled gap follows no noise.
        let residuals: Vec<f64> = grid
            .values
            .iter()
            .zip(&weights)
            .enumerate()
            .filter(|(_, (_, w))| **w > 0.0)
            .map(|(k, (&y, _))| y - line.intercept - line.slope * k as f64)
            .collect();
        let band = &line.interval;
        let effective = effective_points(band.n, &residuals);
        let s = band.half_width / t_975(band.n as usize - 2);
        let se = s / band.sxx.sqrt() * (band.n / effective).sqrt();
        let spread = t_975((effective as usize).saturating_sub(2).max(1)) * se;
        let centre = line.intercept + line.slope * band.x_mean;
        let tilted = |slope: f64| Line {
            intercept: centre - slope * band.x_mean,
            slope,
            ..line.clone()
        };
        Ok((tilted(line.slope - spread), tilted(line.slope + spread)))
    }

    /// The line's value and prediction interval at `t_ms`.
    pub fn predict(&self, t_ms: i64) -> Prediction {
        let x = (t_ms - self.start_ms) as f64 / self.step_ms as f64;
        self.interval.around(self.intercept + self.slope * x, x)
    }
}

/// The points' weights scaled to average 1 over the observed points, and how many
/// points are observed; every point weighing 1 when fewer than `fewest` are.
fn weights(grid: &Grid, fewest: usize) -> (Vec<f64>, f64) {
    let observed = grid.weights.iter().filter(|&&w| w > 0.0).count();
    if observed < fewest {
        return (vec![1.0; grid.len()], grid.len() as f64);
    }
    let total: f64 = grid.weights.iter().sum();
    let scale = observed as f64 / total;
    (
        grid.weights.iter().map(|w| w * scale).collect(),
        observed as f64,
    )
}

/// The mean of `f(k)` with `weights` (summing to `n`).
fn weighted_mean(weights: &[f64], f: impl Fn(usize) -> f64, n: f64) -> f64 {
    weights
        .iter()
        .enumerate()
        .map(|(k, w)| w * f(k))
        .sum::<f64>()
        / n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(values: Vec<f64>) -> Grid {
        Grid::even(1_000_000, 60_000, values)
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
    fn the_slope_is_less_certain_when_the_residuals_follow_each_other() {
        // The same line under independent-looking noise, then under a slow wave of the
        // same size: the wave's residuals are nearly all alike from one point to the next.
        let jitter = |k: usize| ((k * 7919 + 13) % 101) as f64 / 50.0 - 1.0;
        let wave = |k: usize| (std::f64::consts::TAU * k as f64 / 200.0).sin();
        let spread = |values: Vec<f64>| {
            let (low, high) = Line::slope_bounds(&grid(values)).expect("fit");
            high.slope - low.slope
        };
        let noisy = spread((0..200).map(|k| 0.1 * k as f64 + jitter(k)).collect());
        let waved = spread((0..200).map(|k| 0.1 * k as f64 + wave(k)).collect());
        assert!(noisy > 0.0 && noisy < 0.01, "{noisy}");
        assert!(waved > 10.0 * noisy, "{waved} vs {noisy}");
        // Both lines pass through the data's centre, either side of the fit.
        let (low, high) =
            Line::slope_bounds(&grid((0..200).map(|k| 0.1 * k as f64 + wave(k)).collect()))
                .expect("fit");
        let centre = 1_000_000 + 99 * 60_000 + 30_000;
        assert!((low.predict(centre).mean - high.predict(centre).mean).abs() < 1e-9);
        assert!(low.slope < 0.1 && high.slope > 0.1);
    }

    #[test]
    fn two_points_are_not_enough() {
        assert!(matches!(
            Line::fit(&grid(vec![1.0, 2.0])),
            Err(ForecastError::NotEnoughData(_))
        ));
    }
}
