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
//! or so of history is a flat series under a weekly wave rather than a new trend.

use super::grid::{DAY_MS, Grid};
use super::stats::t_975;
use super::{ForecastError, Prediction};

/// Harmonics of the day fitted: the daily wave and its first overtone (enough for an
/// on/off day such as office hours).
pub(crate) const HARMONICS: usize = 1;

/// Parameters: level, slope, and a sine and a cosine per harmonic.
const P: usize = 2 + 2 * HARMONICS;

/// A fitted line with a daily cycle.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cycle {
    start_ms: i64,
    step_ms: i64,
    /// The cycle's period: a day, or a week for [`Cycle::fit_weekly`].
    period_ms: i64,
    centre: f64,
    scale: f64,
    coefficients: [f64; P],
    inverse: [[f64; P]; P],
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
        Self::fit_period(grid, DAY_MS)
    }

    /// Fits the line and a weekly cycle instead of a daily one; needs three quarters of
    /// a week.
    pub fn fit_weekly(grid: &Grid) -> Result<Self, ForecastError> {
        Self::fit_period(grid, 7 * DAY_MS)
    }

    fn fit_period(grid: &Grid, period_ms: i64) -> Result<Self, ForecastError> {
        let n = grid.len();
        if n < 3 * P || (n as i64) * grid.step_ms < 3 * period_ms / 4 {
            return Err(ForecastError::NotEnoughData(format!(
                "a line with a cycle of {period_ms} ms needs {} points over three quarters of \
                 the cycle, have {n}",
                3 * P
            )));
        }
        let centre = (n - 1) as f64 / 2.0;
        let scale = centre.max(1.0);
        let row = |k: usize| regressors(grid.time(k), period_ms, (k as f64 - centre) / scale);
        let mut xtx = [[0.0; P]; P];
        let mut xty = [0.0; P];
        for (k, &y) in grid.values.iter().enumerate() {
            let x = row(k);
            for i in 0..P {
                xty[i] += x[i] * y;
                for j in 0..P {
                    xtx[i][j] += x[i] * x[j];
                }
            }
        }
        let inverse = invert(xtx).ok_or_else(|| {
            ForecastError::NotEnoughData("a daily cycle cannot be told from the trend".into())
        })?;
        let coefficients: [f64; P] =
            std::array::from_fn(|i| (0..P).map(|j| inverse[i][j] * xty[j]).sum());
        let sse: f64 = grid
            .values
            .iter()
            .enumerate()
            .map(|(k, &y)| {
                let x = row(k);
                let fitted: f64 = (0..P).map(|i| x[i] * coefficients[i]).sum();
                (y - fitted).powi(2)
            })
            .sum();
        let line_sse = super::stats::line_sse(&grid.values);
        let df = n - P;
        Ok(Cycle {
            start_ms: grid.start_ms,
            step_ms: grid.step_ms,
            period_ms,
            centre,
            scale,
            coefficients,
            inverse,
            half_width: t_975(df) * (sse / df as f64).sqrt(),
            sse,
            line_sse,
            n,
            trend: true,
        })
    }

    /// Whether the cycle explains clearly more than the line alone: by the Bayesian
    /// information criterion with a margin, `n·ln(SSE_line/SSE) > 3·(P − 2)·ln n`.
    pub fn visible(&self) -> bool {
        let n = self.n as f64;
        let floor = 1e-12 * self.line_sse.max(f64::MIN_POSITIVE);
        n * ((self.line_sse + floor) / (self.sse + floor)).ln() > 3.0 * (P - 2) as f64 * n.ln()
    }

    /// Squared residuals about the fit.
    pub fn sse(&self) -> f64 {
        self.sse
    }

    /// The slope in standard errors.
    pub fn slope_t(&self) -> f64 {
        let se = self.half_width / t_975(self.n - P) * self.inverse[1][1].max(0.0).sqrt();
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
        let mut x = regressors(t_ms, self.period_ms, (k - self.centre) / self.scale);
        if !self.trend {
            // The level at the end of the data, with no slope after it.
            x[1] = 1.0;
            let slope_free: f64 = (0..P)
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
        let mean: f64 = (0..P).map(|i| x[i] * self.coefficients[i]).sum();
        let leverage: f64 = (0..P)
            .map(|i| {
                (0..P)
                    .map(|j| x[i] * self.inverse[i][j] * x[j])
                    .sum::<f64>()
            })
            .sum();
        let width = self.half_width * (1.0 + leverage.max(0.0)).sqrt();
        Prediction {
            mean,
            lower: mean - width,
            upper: mean + width,
        }
    }
}

/// The regressors at time `t_ms` and scaled position `u`, for a cycle of `period_ms`.
fn regressors(t_ms: i64, period_ms: i64, u: f64) -> [f64; P] {
    let phase = std::f64::consts::TAU * t_ms.rem_euclid(period_ms) as f64 / period_ms as f64;
    let mut x = [0.0; P];
    x[0] = 1.0;
    x[1] = u;
    for h in 0..HARMONICS {
        let angle = (h + 1) as f64 * phase;
        x[2 + 2 * h] = angle.sin();
        x[3 + 2 * h] = angle.cos();
    }
    x
}

/// The inverse of a symmetric positive definite matrix by Gauss–Jordan elimination with
/// partial pivoting; `None` when it is (numerically) singular.
fn invert(m: [[f64; P]; P]) -> Option<[[f64; P]; P]> {
    let mut a = m;
    let mut inv = [[0.0; P]; P];
    for (i, row) in inv.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    let scale = m.iter().flatten().map(|v| v.abs()).fold(0.0, f64::max);
    for col in 0..P {
        let pivot = (col..P).max_by(|&r, &s| a[r][col].abs().total_cmp(&a[s][col].abs()))?;
        if a[pivot][col].abs().is_nan() || a[pivot][col].abs() <= 1e-10 * scale {
            return None;
        }
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let d = a[col][col];
        for j in 0..P {
            a[col][j] /= d;
            inv[col][j] /= d;
        }
        for r in 0..P {
            if r != col {
                let f = a[r][col];
                if f != 0.0 {
                    for j in 0..P {
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
    fn half_a_day_is_not_enough() {
        assert!(Cycle::fit(&grid(0.5, |d| d)).is_err());
    }
}
