//! A straight line plus a daily cycle: least squares of
//!
//! ```text
//!   y = a + b·u + Σ_{k=1..K} (c_k·sin(kωt) + d_k·cos(kωt)),   ω = 2π / day
//! ```
//!
//! u the grid position centred and scaled to [−1, 1], t the time of day (UTC), with the
//! textbook prediction interval `ŷ ± t(0.975, n−p)·s·sqrt(1 + x₀ᵀ(XᵀX)⁻¹x₀)`.
//!
//! Over a day or two of history, a line through a daily wave (a nightly job, office
//! hours, a cache that fills by day and is trimmed by night) takes the wave's rising or
//! falling half for a trend: one day of a ±2 % wave reads as ±7 % a day. With the cycle
//! fitted beside it, the slope is what the series does from one day to the next. `auto`
//! uses it when the history is too short for Holt–Winters and the cycle explains clearly
//! more than the line alone ([`Cycle::visible`]).
//!
//! The same fit with a weekly cycle ([`Cycle::fit_weekly`]) tells `auto` whether a week
//! or so of history is a flat series under a weekly wave rather than a new trend, and it,
//! or the fit with both cycles ([`Cycle::fit_daily_weekly`]), is its forecast for growth
//! under such a wave.
//!
//! An interpolated point (a gap, see `grid`) weighs nothing in the fit, in its squared
//! error and in the line's it is compared with: a gap filled along a steep line up to the
//! last few samples is not a cycle's rising half.

use super::grid::{DAY_MS, Grid};
use super::stats::{new_observation, t_975, weighted_least_squares};
use super::{ForecastError, Prediction};

/// Harmonics of the day fitted: the daily wave and its first overtone (enough for an
/// on/off day such as office hours).
pub(crate) const HARMONICS: usize = 1;

/// Most periods fitted together (a day and a week).
const MAX_PERIODS: usize = 2;

/// Room for the parameters: level, slope, and a sine and a cosine per harmonic and period.
const P: usize = 2 + 2 * HARMONICS * MAX_PERIODS;

/// A fitted line with a daily cycle.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cycle {
    start_ms: i64,
    step_ms: i64,
    /// The cycles' periods: a day, a week for [`Cycle::fit_weekly`], or both.
    periods: Vec<i64>,
    /// Parameters used: 2 + 2·HARMONICS per period.
    p: usize,
    centre: f64,
    scale: f64,
    coefficients: [f64; P],
    /// Boxed: with room for two periods it would make every `Fit` large.
    inverse: Box<[[f64; P]; P]>,
    /// t quantile × residual standard deviation.
    half_width: f64,
    /// Residual squared error, and that of the line alone over the same points.
    sse: f64,
    line_sse: f64,
    n: usize,
    /// Keep the slope (false: the level and the cycle only).
    trend: bool,
}

impl Cycle {
    /// Fits the line and the cycle; needs three quarters of a day and 3·P points.
    pub fn fit(grid: &Grid) -> Result<Self, ForecastError> {
        Self::fit_periods(grid, &[DAY_MS])
    }

    /// Fits the line and a weekly cycle instead of a daily one; needs three quarters of
    /// a week.
    pub fn fit_weekly(grid: &Grid) -> Result<Self, ForecastError> {
        Self::fit_periods(grid, &[7 * DAY_MS])
    }

    /// Fits the line with a daily and a weekly cycle; needs three quarters of a week.
    pub fn fit_daily_weekly(grid: &Grid) -> Result<Self, ForecastError> {
        Self::fit_periods(grid, &[DAY_MS, 7 * DAY_MS])
    }

    fn fit_periods(grid: &Grid, periods: &[i64]) -> Result<Self, ForecastError> {
        let n = grid.len();
        let p = 2 + 2 * HARMONICS * periods.len();
        let period_ms = periods.iter().copied().max().unwrap_or(DAY_MS);
        if n < 3 * p || (n as i64) * grid.step_ms < 3 * period_ms / 4 {
            return Err(ForecastError::NotEnoughData(format!(
                "a line with a cycle of {period_ms} ms needs {} points over three quarters of \
                 the cycle, have {n}",
                3 * p
            )));
        }
        let centre = (n - 1) as f64 / 2.0;
        let scale = centre.max(1.0);
        let row = |k: usize| regressors(grid.time(k), periods, (k as f64 - centre) / scale);
        let w = observed_weights(grid, p);
        let mut xtx = [[0.0; P]; P];
        let mut xty = [0.0; P];
        for (k, (&y, &w)) in grid.values.iter().zip(&w).enumerate() {
            let x = row(k);
            for i in 0..p {
                xty[i] += w * x[i] * y;
                for j in 0..p {
                    xtx[i][j] += w * x[i] * x[j];
                }
            }
        }
        let inverse = invert(xtx, p).ok_or_else(|| {
            ForecastError::NotEnoughData("a daily cycle cannot be told from the trend".into())
        })?;
        let coefficients: [f64; P] =
            std::array::from_fn(|i| (0..p).map(|j| inverse[i][j] * xty[j]).sum());
        let sse: f64 = grid
            .values
            .iter()
            .zip(&w)
            .enumerate()
            .map(|(k, (&y, &w))| {
                let x = row(k);
                let fitted: f64 = (0..p).map(|i| x[i] * coefficients[i]).sum();
                w * (y - fitted).powi(2)
            })
            .sum();
        let (a, b) = weighted_least_squares(&grid.values, &w);
        let line_sse: f64 = grid
            .values
            .iter()
            .zip(&w)
            .enumerate()
            .map(|(k, (&y, &w))| w * (y - a - b * k as f64).powi(2))
            .sum();
        let n = w.iter().filter(|&&w| w > 0.0).count();
        let df = n.saturating_sub(p).max(1);
        Ok(Cycle {
            start_ms: grid.start_ms,
            step_ms: grid.step_ms,
            periods: periods.to_vec(),
            p,
            centre,
            scale,
            coefficients,
            inverse: Box::new(inverse),
            half_width: t_975(df) * (sse / df as f64).sqrt(),
            sse,
            line_sse,
            n,
            trend: true,
        })
    }

    /// Whether the cycle explains clearly more than the line alone: by the Bayesian
    /// information criterion with a margin, `n·ln(SSE_line/SSE) > 3·(p − 2)·ln n`.
    pub fn visible(&self) -> bool {
        let n = self.n as f64;
        super::stats::bic_gain(self.line_sse, self.sse, n) > 3.0 * (self.p - 2) as f64 * n.ln()
    }

    /// Squared residuals about the fit.
    pub fn sse(&self) -> f64 {
        self.sse
    }

    /// The slope in standard errors.
    pub fn slope_t(&self) -> f64 {
        let se = self.half_width / t_975(self.n.saturating_sub(self.p).max(1))
            * self.inverse[1][1].max(0.0).sqrt();
        if se > 0.0 {
            self.coefficients[1] / se
        } else {
            self.coefficients[1].signum() * f64::INFINITY
        }
    }

    /// The same fit without its slope: the level and the cycle only (a series whose
    /// trend is lost in its noise).
    pub fn without_trend(mut self) -> Self {
        self.trend = false;
        self
    }

    /// The value and prediction interval at `t_ms`.
    pub fn predict(&self, t_ms: i64) -> Prediction {
        let k = (t_ms - self.start_ms) as f64 / self.step_ms as f64;
        let mut x = regressors(t_ms, &self.periods, (k - self.centre) / self.scale);
        if !self.trend {
            // The level at the end of the data, with no slope after it.
            x[1] = 1.0;
            let slope_free: f64 = (0..self.p)
                .filter(|&i| i != 1)
                .map(|i| x[i] * self.coefficients[i])
                .sum();
            let mean = slope_free + self.coefficients[1];
            let width = self.half_width * (1.0 + 1.0 / self.n as f64).sqrt();
            return Prediction {
                mean,
                lower: mean - width,
                upper: mean + width,
            };
        }
        let mean: f64 = (0..self.p).map(|i| x[i] * self.coefficients[i]).sum();
        new_observation(mean, &x[..self.p], &self.inverse[..], self.half_width)
    }
}

/// 1 for an observed point, 0 for an interpolated one (a gap, see `grid`: a guess, not
/// data; a steep fill up to the last few samples would read as a cycle's rising half);
/// every point weighs 1 when fewer than 3·p are observed.
fn observed_weights(grid: &Grid, p: usize) -> Vec<f64> {
    let observed = grid.weights.iter().filter(|&&w| w > 0.0).count();
    if observed < 3 * p {
        return vec![1.0; grid.len()];
    }
    grid.weights
        .iter()
        .map(|&w| if w > 0.0 { 1.0 } else { 0.0 })
        .collect()
}

/// The regressors at time `t_ms` and scaled position `u`, for cycles of `periods`; the
/// entries past them are 0.
fn regressors(t_ms: i64, periods: &[i64], u: f64) -> [f64; P] {
    let mut x = [0.0; P];
    x[0] = 1.0;
    x[1] = u;
    for (c, &period_ms) in periods.iter().enumerate() {
        let phase = std::f64::consts::TAU * t_ms.rem_euclid(period_ms) as f64 / period_ms as f64;
        for h in 0..HARMONICS {
            let angle = (h + 1) as f64 * phase;
            let at = 2 + 2 * (c * HARMONICS + h);
            x[at] = angle.sin();
            x[at + 1] = angle.cos();
        }
    }
    x
}

/// The inverse of a symmetric positive definite matrix by Gauss–Jordan elimination with
/// partial pivoting; `None` when it is (numerically) singular.
fn invert(m: [[f64; P]; P], p: usize) -> Option<[[f64; P]; P]> {
    let mut a = m;
    let mut inv = [[0.0; P]; P];
    for (i, row) in inv.iter_mut().enumerate().take(p) {
        row[i] = 1.0;
    }
    let scale = m.iter().flatten().map(|v| v.abs()).fold(0.0, f64::max);
    for col in 0..p {
        let pivot = (col..p).max_by(|&r, &s| a[r][col].abs().total_cmp(&a[s][col].abs()))?;
        if a[pivot][col].abs().is_nan() || a[pivot][col].abs() <= 1e-10 * scale {
            return None;
        }
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let d = a[col][col];
        for j in 0..p {
            a[col][j] /= d;
            inv[col][j] /= d;
        }
        for r in 0..p {
            if r != col {
                let f = a[r][col];
                if f != 0.0 {
                    for j in 0..p {
                        a[r][j] -= f * a[col][j];
                        inv[r][j] -= f * inv[col][j];
                    }
                }
            }
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One point every 5 minutes for `days`, ending at a midnight.
    fn grid(days: f64, f: impl Fn(f64) -> f64) -> Grid {
        let step = 300_000;
        let n = (days * 288.0) as usize;
        let start_ms = 1_000 * DAY_MS - (n as i64 - 1) * step;
        Grid::even(
            start_ms,
            step,
            (0..n)
                .map(|k| f((start_ms + k as i64 * step) as f64 / DAY_MS as f64))
                .collect(),
        )
    }

    #[test]
    fn one_day_of_a_daily_wave_is_no_trend() {
        let tau = std::f64::consts::TAU;
        let g = grid(1.0, |d| 0.5 + 0.03 * (tau * (d - 0.2)).sin());
        let c = Cycle::fit(&g).expect("fit");
        assert!(c.visible());
        assert!(c.coefficients[1].abs() < 1e-9, "{:?}", c.coefficients);
        let later = g.start_ms + 10 * DAY_MS;
        assert!((c.predict(later).mean - g.values[0]).abs() < 1e-6);
    }

    #[test]
    fn a_line_is_a_line_and_shows_no_cycle() {
        let wobble = |d: f64| ((d * 1e4) as i64 * 7919 % 1013) as f64 / 1013.0 - 0.5;
        let g = grid(1.0, |d| 0.3 + 0.02 * d + 0.001 * wobble(d));
        let c = Cycle::fit(&g).expect("fit");
        assert!(!c.visible());
        let at = g.start_ms + 2 * DAY_MS;
        let expected = 0.3 + 0.02 * at as f64 / DAY_MS as f64;
        assert!(
            (c.predict(at).mean - expected).abs() < 0.003,
            "{:?}",
            c.predict(at)
        );
    }

    #[test]
    fn a_filled_gap_is_not_a_cycle() {
        // Two days of a line, then five hours filled steeply up to the last samples: the
        // fill weighs nothing, so there is no cycle and the slope is the line's.
        let mut g = grid(2.0, |d| 0.3 + 0.01 * d);
        let n = g.len();
        for k in n - 63..n - 3 {
            g.values[k] += 0.0005 * (k + 63 - n) as f64;
            g.weights[k] = 0.0;
        }
        let c = Cycle::fit(&g).expect("fit");
        assert!(!c.visible());
        let at = g.start_ms + 3 * DAY_MS;
        let expected = 0.3 + 0.01 * at as f64 / DAY_MS as f64;
        assert!(
            (c.predict(at).mean - expected).abs() < 1e-6,
            "{:?}",
            c.predict(at)
        );
    }

    #[test]
    fn a_daily_and_a_weekly_wave_are_fitted_beside_the_line() {
        // A week of growth under both waves: ten days on, still the line and both waves.
        let tau = std::f64::consts::TAU;
        let f = |d: f64| {
            0.5 + 0.01 * d + 0.02 * (tau * (d - 0.3)).sin() + 0.03 * (tau * (d - 1.0) / 7.0).sin()
        };
        let g = grid(7.0, f);
        let both = Cycle::fit_daily_weekly(&g).expect("fit");
        let at = g.start_ms + 17 * DAY_MS;
        let d = at as f64 / DAY_MS as f64;
        assert!(
            (both.predict(at).mean - f(d)).abs() < 1e-6,
            "{:?}",
            both.predict(at)
        );
    }

    #[test]
    fn half_a_day_is_not_enough() {
        assert!(Cycle::fit(&grid(0.5, |d| d)).is_err());
    }
}
