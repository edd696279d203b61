//! Holt's linear trend with damping (Gardner & McKenzie 1985), as in Hyndman &
//! Athanasopoulos, *Forecasting: Principles and Practice*, §8.2:
//!
//! ```text
//!   ŷ(t+1)  = ℓ(t) + φ·b(t)
//!   ℓ(t)    = α·y(t) + (1 − α)·(ℓ(t−1) + φ·b(t−1))
//!   b(t)    = β·(ℓ(t) − ℓ(t−1)) + (1 − β)·φ·b(t−1)
//!   ŷ(t+h)  = ℓ(t) + (φ + φ² + … + φʰ)·b(t)
//! ```
//!
//! The initial level and trend are the least-squares line through the whole window (so a
//! short or noisy start does not set the trend). α, β and φ are the point of a small grid
//! with the least one-step-ahead squared error; φ comes from a trend half-life of 2, 7 or
//! 30 days or none (φ = 1), because disks keep filling. Damping is not tried at all when
//! the last quarter of the window (at least a dozen points) still shows a trend — its
//! least-squares rise over that stretch is more than twice its residual spread: a damped
//! trend would level off growth that the recent data has not stopped. Band: ETS(A,Ad,N)'s h-step variance (Hyndman et al. 2008, table
//! 6.1), `σ²·(1 + Σ_{j<h} (α(1 + β·φ_j))²)` with `φ_j = φ + … + φʲ` and σ² the mean
//! one-step squared error.
//!
//! An interpolated point (a gap in the samples, see `grid`) is missing data, as in
//! Hyndman et al. 2008 §2.2: the state runs on by its own forecast (`ℓ = ℓ + φ·b`,
//! `b = φ·b`) with no correction and no error counted. Smoothing towards the straight
//! line a gap was filled with would take the fill for the series' own trend.

use super::grid::Grid;
use super::stats::{Z_975, least_squares, weighted_least_squares};
use super::{ForecastError, Prediction};

/// Level smoothing weights tried.
const ALPHAS: [f64; 8] = [0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 0.95];
/// Trend smoothing weights tried.
const BETAS: [f64; 6] = [0.005, 0.02, 0.05, 0.1, 0.2, 0.4];
/// Half-lives of the trend tried, in days (infinite: no damping). Damping is per grid
/// step, so it is set from a half-life in time: the same series on a finer grid gets the
/// same forecast.
const HALF_LIVES_DAYS: [f64; 4] = [2.0, 7.0, 30.0, f64::INFINITY];

/// The per-step damping factor of a trend half-life, for a grid step.
pub(crate) fn damping(half_life_days: f64, step_ms: i64) -> f64 {
    0.5_f64.powf(step_ms as f64 / (half_life_days * 86_400_000.0))
}

/// Smoothing parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Params {
    pub alpha: f64,
    pub beta: f64,
    pub phi: f64,
}

/// A fitted damped-trend model.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Holt {
    start_ms: i64,
    step_ms: i64,
    /// Position of the last point the state describes.
    last: f64,
    level: f64,
    trend: f64,
    params: Params,
    sigma: f64,
    /// `variance[h]` = h-step variance / σ², for whole h from 0 up to the horizon.
    variance: Vec<f64>,
}

impl Holt {
    /// Fits on `grid`, ready to predict up to `until_ms`; needs 4 points.
    pub fn fit(grid: &Grid, until_ms: i64) -> Result<Self, ForecastError> {
        let y = &grid.values;
        if y.len() < 4 {
            return Err(ForecastError::NotEnoughData(format!(
                "Holt needs 4 points, have {}",
                y.len()
            )));
        }
        let observed: Vec<bool> = grid.weights.iter().map(|&w| w > 0.0).collect();
        let (a, b) = weighted_least_squares(y, &grid.weights);
        let start = (a - b, b);
        let half_lives: &[f64] = if recent_trend(y) {
            &HALF_LIVES_DAYS[HALF_LIVES_DAYS.len() - 1..]
        } else {
            &HALF_LIVES_DAYS
        };
        let mut grid_points = Vec::with_capacity(ALPHAS.len() * BETAS.len() * 4);
        for &alpha in &ALPHAS {
            for &beta in &BETAS {
                for &half_life in half_lives {
                    let phi = damping(half_life, grid.step_ms);
                    grid_points.push(Params { alpha, beta, phi });
                }
            }
        }
        let mut best: Option<(f64, Params)> = None;
        for lanes in grid_points.chunks(LANES) {
            let sse = sse_of_lanes(y, &observed, start, lanes);
            for (&params, &sse) in lanes.iter().zip(&sse) {
                if best.is_none_or(|(b, _)| sse < b) {
                    best = Some((sse, params));
                }
            }
        }
        let Some((_, params)) = best else {
            return Err(ForecastError::NotEnoughData("no parameters fitted".into()));
        };
        let ((level, trend), sse) = smooth(y, &observed, start, params);
        let count = observed.iter().filter(|&&o| o).count().max(1);
        let last = (y.len() - 1) as f64;
        let steps = grid.position(until_ms) - last;
        Ok(Holt {
            start_ms: grid.start_ms,
            step_ms: grid.step_ms,
            last,
            level,
            trend,
            params,
            sigma: (sse / count as f64).sqrt(),
            variance: variance_factors(params, steps.ceil().max(1.0) as usize + 1),
        })
    }

    /// The prediction and band at `t_ms`.
    pub fn predict(&self, t_ms: i64) -> Prediction {
        let h = ((t_ms - self.start_ms) as f64 / self.step_ms as f64 - self.last).max(0.0);
        let mean = self.level + damped_sum(self.params.phi, h) * self.trend;
        let width = Z_975 * self.sigma * interpolate(&self.variance, h).sqrt();
        Prediction {
            mean,
            lower: mean - width,
            upper: mean + width,
        }
    }
}

/// Whether the last quarter of `y` (at least 12 points) rises or falls by more than
/// twice the spread of its residuals about its least-squares line.
pub(crate) fn recent_trend(y: &[f64]) -> bool {
    let len = (y.len() / 4).max(12).min(y.len());
    let recent = &y[y.len() - len..];
    let (a, b) = least_squares(recent);
    let sse: f64 = recent
        .iter()
        .enumerate()
        .map(|(k, &v)| (v - a - b * k as f64).powi(2))
        .sum();
    let spread = (sse / len as f64).sqrt();
    (b * len as f64).abs() > 2.0 * spread
}

/// Parameter sets smoothed side by side in one pass: each recursion is a chain of
/// dependent multiplications, so running several at once keeps the CPU busy.
const LANES: usize = 4;

/// The one-step squared errors of up to [`LANES`] parameter sets, as [`smooth`] computes
/// them.
fn sse_of_lanes(y: &[f64], observed: &[bool], start: (f64, f64), lanes: &[Params]) -> [f64; LANES] {
    let mut p = [lanes[0]; LANES];
    p[..lanes.len()].copy_from_slice(lanes);
    let mut level = [start.0; LANES];
    let mut trend = [start.1; LANES];
    let mut sse = [0.0; LANES];
    for (&v, &seen) in y.iter().zip(observed) {
        for i in 0..LANES {
            let forecast = level[i] + p[i].phi * trend[i];
            let error = if seen { v - forecast } else { 0.0 };
            sse[i] += error * error;
            let new_level = forecast + p[i].alpha * error;
            trend[i] = p[i].beta * (new_level - level[i]) + (1.0 - p[i].beta) * p[i].phi * trend[i];
            level[i] = new_level;
        }
    }
    sse
}

/// Runs the recursions over `y` from the state `(level, trend)` before `y[0]`, passing
/// over the points not `observed`: the final state and the sum of squared one-step
/// errors.
pub(crate) fn smooth(
    y: &[f64],
    observed: &[bool],
    (mut level, mut trend): (f64, f64),
    p: Params,
) -> ((f64, f64), f64) {
    let mut sse = 0.0;
    for (&v, &seen) in y.iter().zip(observed) {
        let forecast = level + p.phi * trend;
        let error = if seen { v - forecast } else { 0.0 };
        sse += error * error;
        let new_level = forecast + p.alpha * error;
        trend = p.beta * (new_level - level) + (1.0 - p.beta) * p.phi * trend;
        level = new_level;
    }
    ((level, trend), sse)
}

/// `φ + φ² + … + φʰ`, for fractional h too.
pub(crate) fn damped_sum(phi: f64, h: f64) -> f64 {
    if phi >= 1.0 {
        h
    } else {
        phi * (1.0 - phi.powf(h)) / (1.0 - phi)
    }
}

/// h-step variances over σ², h = 0..len: 1 for h ≤ 1, then `1 + Σ_{j<h} c_j²`.
fn variance_factors(p: Params, len: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(len + 1);
    out.push(1.0);
    let mut total = 1.0;
    let mut phi_j = 0.0;
    let mut phi_power = 1.0;
    for _ in 1..=len {
        out.push(total);
        phi_power *= p.phi;
        phi_j += phi_power;
        let c = p.alpha * (1.0 + p.beta * phi_j);
        total += c * c;
    }
    out
}

/// `table` read at fractional `h`, linearly; the last entry past the end.
pub(crate) fn interpolate(table: &[f64], h: f64) -> f64 {
    let lo = (h.floor() as usize).min(table.len().saturating_sub(1));
    let hi = (lo + 1).min(table.len().saturating_sub(1));
    let frac = (h - lo as f64).clamp(0.0, 1.0);
    table.get(lo).map_or(1.0, |&a| a + frac * (table[hi] - a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recursions_match_values_worked_by_hand() {
        // ℓ₀ = 10, b₀ = 2, α = β = 0.5, φ = 1, y = 12, 13, 15:
        //   ŷ = 12, e = 0,     ℓ = 12,     b = 2
        //   ŷ = 14, e = −1,    ℓ = 13.5,   b = 1.75
        //   ŷ = 15.25, e = −.25, ℓ = 15.125, b = 1.6875
        let p = Params {
            alpha: 0.5,
            beta: 0.5,
            phi: 1.0,
        };
        let ((level, trend), sse) = smooth(&[12.0, 13.0, 15.0], &[true; 3], (10.0, 2.0), p);
        assert_eq!((level, trend, sse), (15.125, 1.6875, 1.0625));
        // Damped, φ = 0.5, from ℓ₀ = 10, b₀ = 4, α = 1 (level = y), β = 1 (b = Δℓ):
        //   ŷ = 12, y = 12: ℓ = 12, b = 2;   ŷ = 13, y = 13: ℓ = 13, b = 1.
        let p = Params {
            alpha: 1.0,
            beta: 1.0,
            phi: 0.5,
        };
        let ((level, trend), sse) = smooth(&[12.0, 13.0], &[true; 2], (10.0, 4.0), p);
        assert_eq!((level, trend, sse), (13.0, 1.0, 0.0));
        // h-step forecast with φ = 0.5: ℓ + (0.5 + 0.25)·b.
        assert_eq!(damped_sum(0.5, 2.0), 0.75);
        assert_eq!(damped_sum(1.0, 2.5), 2.5);
    }

    #[test]
    fn variance_grows_with_the_horizon_as_ets_says() {
        // α = 0.5, β = 0.5, φ = 1: c_j = 0.5·(1 + 0.5j): c₁ = 0.75, c₂ = 1.
        let v = variance_factors(
            Params {
                alpha: 0.5,
                beta: 0.5,
                phi: 1.0,
            },
            3,
        );
        assert_eq!(v, vec![1.0, 1.0, 1.5625, 2.5625]);
    }

    #[test]
    fn a_clean_line_is_continued() {
        let grid = Grid::even(
            0,
            60_000,
            (0..200).map(|k| 100.0 + 0.25 * k as f64).collect(),
        );
        let holt = Holt::fit(&grid, 400 * 60_000).expect("fit");
        let p = holt.predict(399 * 60_000);
        assert!((p.mean - (100.0 + 0.25 * 399.0)).abs() < 1e-6, "{p:?}");
    }

    #[test]
    fn follows_a_change_of_slope() {
        // Slope 1 for 150 steps, then 3: Holt's trend ends near 3 (least squares: ~1.7).
        let values: Vec<f64> = (0..200)
            .map(|k| {
                if k < 150 {
                    k as f64
                } else {
                    150.0 + 3.0 * (k - 150) as f64
                }
            })
            .collect();
        let grid = Grid::even(0, 1_000, values);
        let holt = Holt::fit(&grid, 300_000).expect("fit");
        assert!((holt.trend - 3.0).abs() < 0.2, "{}", holt.trend);
        assert!(
            holt.predict(299_000).mean > 290.0 + 250.0,
            "{:?}",
            holt.predict(299_000)
        );
    }

    #[test]
    fn a_filled_gap_is_passed_over() {
        // A clean line of 0.25 a step, whose last 40 points before the final 3 are a gap
        // filled with a steep ramp (as towards a sample the noise put high): Holt runs
        // over the gap on its own forecast and keeps the line's trend.
        let mut values: Vec<f64> = (0..200).map(|k| 100.0 + 0.25 * k as f64).collect();
        let mut weights = vec![1.0; 200];
        for k in 157..197 {
            values[k] = 100.0 + 0.25 * 157.0 + 1.0 * (k - 157) as f64;
            weights[k] = 0.0;
        }
        let grid = Grid {
            weights,
            ..Grid::even(0, 60_000, values)
        };
        let holt = Holt::fit(&grid, 400 * 60_000).expect("fit");
        assert!((holt.trend - 0.25).abs() < 0.01, "{}", holt.trend);
    }
}
