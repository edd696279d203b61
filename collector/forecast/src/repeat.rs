//! The last day repeated, shifted by the drift from one day to the next: for a day or two
//! of history with a daily cycle whose shape a sine does not follow (a log rotation's
//! sawtooth, office hours' on and off).
//!
//! ```text
//!   profile  = the last day of the grid (P points), smoothed over 2·SMOOTHING + 1 points
//!   drift    = (L_end(P) − L_start(0)) / P      per step
//!   y(t)     = profile[phase of t] + drift · P · (whole days from the profile to t)
//! ```
//!
//! Over exactly one day a trend cannot be told from the cycle anywhere but where the day
//! wraps round: the next day's first point should be where the last point was heading,
//! and is where the first point was, raised by a day's drift. L_start is the Theil–Sen
//! line through the first m points (a twelfth of the day, two hours), read at the first
//! point; L_end the one through the last m, read one step past the last (robust lines: a
//! burst at either end of the window is not taken out by `bursts`, and would read as a
//! day's growth). A drift under [`DRIFT_T`] standard errors (from the residuals about the
//! smoothed profile; each end's reading has a variance of about 4σ²/m) is taken as none:
//! one day's noise is not a trend (but see `auto`, which keeps it where the line over the
//! window crosses).
//!
//! A rotation within m points of either end of the day falls inside one of those lines
//! and bends the drift; the significance test does not see it.
//!
//! A line with a daily sine (see `cycle`) through one tooth of a sawtooth reads part of
//! the tooth's ramp as its slope, and its peaks sit below the tooth's: the crossing of a
//! series that is cut back every day comes at a peak, just before a rotation, and the day
//! repeated has that peak where it was.

use super::grid::{DAY_MS, Grid};
use super::theil_sen::RobustLine;
use super::{ForecastError, Prediction};
use crate::stats::{self, Z_975};

/// Points either side in the moving average of the profile.
const SMOOTHING: usize = 2;

/// A drift must be this many standard errors from zero to be extrapolated.
pub(crate) const DRIFT_T: f64 = 2.0;

/// The last day of a grid, repeating with a drift.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RepeatedDay {
    /// Time of the profile's first point.
    start_ms: i64,
    step_ms: i64,
    /// The last day, smoothed: `P` points.
    profile: Vec<f64>,
    /// Change per step from one day to the next (0 when not significant).
    drift: f64,
    /// The drift as measured, significant or not.
    measured: f64,
    /// Half the band's width about the path: the residuals' 95 % spread.
    half_width: f64,
    /// The day's points, and their squared residuals about the profile.
    raw: Vec<f64>,
    sse: f64,
}

impl RepeatedDay {
    /// Fits the profile and the drift; needs a whole day of history on a step that
    /// divides it.
    pub fn fit(grid: &Grid) -> Result<Self, ForecastError> {
        let n = grid.len();
        let period = grid
            .season_steps(DAY_MS)
            .filter(|&p| p <= n && p >= 12)
            .ok_or_else(|| {
                ForecastError::NotEnoughData(format!(
                    "a repeated day needs a day of history at 12 points or more, have {n} \
                     points of {} ms",
                    grid.step_ms
                ))
            })?;
        let raw = &grid.values[n - period..];
        let profile = stats::centred_mean(raw, SMOOTHING);
        // Residuals about a 5-point mean are √(4/5) of the noise.
        let k = (2 * SMOOTHING + 1) as f64;
        let sse: f64 = raw.iter().zip(&profile).map(|(y, p)| (y - p).powi(2)).sum();
        let sigma = (sse / period as f64 * k / (k - 1.0)).sqrt();
        let m = (period / 12).max(3);
        let day = grid.suffix(n - period);
        let first = RobustLine::fit(&day.prefix(m))?;
        let last = RobustLine::fit(&grid.suffix(n - m))?;
        let wrap = last.predict(grid.time(n - 1) + grid.step_ms).mean;
        let drift = (wrap - first.predict(day.start_ms).mean) / period as f64;
        let se = sigma * (8.0 / m as f64).sqrt() / period as f64;
        let drift_t = if se > 0.0 {
            drift / se
        } else {
            drift.signum() * f64::INFINITY
        };
        Ok(RepeatedDay {
            start_ms: grid.time(n - period),
            step_ms: grid.step_ms,
            profile,
            drift: if drift_t.abs() >= DRIFT_T { drift } else { 0.0 },
            measured: drift,
            half_width: Z_975 * sigma,
            raw: raw.to_vec(),
            sse,
        })
    }

    /// Whether the day's own shape explains its points clearly better than `other` does
    /// (a model with `parameters`), by the Bayesian information criterion: the profile
    /// counts as one parameter per 2·SMOOTHING + 1 points, and the drift as one more.
    pub fn explains_better(&self, other: impl Fn(i64) -> f64, parameters: usize) -> bool {
        let period = self.profile.len();
        let own = (period / (2 * SMOOTHING + 1) + 1) as f64;
        let theirs: f64 = (0..period)
            .map(|k| {
                let t = self.start_ms + k as i64 * self.step_ms;
                (self.raw[k] - other(t)).powi(2)
            })
            .sum();
        let n = period as f64;
        stats::bic_gain(theirs, self.sse, n) > (own - parameters as f64) * n.ln()
    }

    /// Whether the drift was kept (significant).
    pub fn trends(&self) -> bool {
        self.drift != 0.0
    }

    /// The same day with the drift as measured, significant or not: for when something
    /// else (see `auto`) says the trend is not to be dropped.
    pub fn with_measured_drift(mut self) -> Self {
        self.drift = self.measured;
        self
    }

    /// The value and band at `t_ms`.
    pub fn predict(&self, t_ms: i64) -> Prediction {
        let period = self.profile.len();
        let x = (t_ms - self.start_ms) as f64 / self.step_ms as f64;
        let days = (x / period as f64).floor();
        let phase = x - days * period as f64;
        let low = (phase.floor() as usize).min(period - 1);
        let fraction = phase - low as f64;
        // Past the last point of the day the path runs on to the next day's first.
        let next = if low + 1 < period {
            self.profile[low + 1]
        } else {
            self.profile[0] + self.drift * period as f64
        };
        let on_day = self.profile[low] + fraction * (next - self.profile[low]);
        let mean = on_day + self.drift * period as f64 * days;
        Prediction {
            mean,
            lower: mean - self.half_width,
            upper: mean + self.half_width,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A day of 5-minute points: a sawtooth rising 0.05 a day, cut back by 0.04 at 06:00,
    /// so that it gains 0.01 a day.
    fn sawtooth(days: f64) -> Grid {
        let step = 300_000;
        let n = (days * 288.0) as usize;
        let start = 1_000 * DAY_MS;
        let tooth = |d: f64| 0.04 * (d - 0.25 - (d - 0.25).floor());
        let values = (0..n)
            .map(|k| {
                let d = k as f64 / 288.0;
                0.5 + 0.01 * d + tooth(d)
            })
            .collect();
        Grid::even(start, step, values)
    }

    #[test]
    fn a_sawtooth_day_repeats_with_its_growth() {
        let grid = sawtooth(1.0);
        let day = RepeatedDay::fit(&grid).expect("fit");
        assert!(day.trends());
        // Ten days after the data's 05:55 peak, the peak is 0.1 higher.
        let peak_ms = grid.time(287 * 71 / 72);
        let peak = grid.values[287 * 71 / 72];
        let later = day.predict(peak_ms + 10 * DAY_MS).mean;
        assert!(
            (later - (peak + 0.1)).abs() < 0.003,
            "{later} against {peak}"
        );
    }

    /// A deterministic wobble in [−1, 1], standing in for noise.
    fn wobble(k: usize) -> f64 {
        ((k * 7919 + 13) % 101) as f64 / 50.0 - 1.0
    }

    #[test]
    fn a_day_with_no_growth_has_no_drift() {
        let tau = std::f64::consts::TAU;
        let values = (0..288)
            .map(|k| 0.5 + 0.02 * (tau * k as f64 / 288.0).sin() + 0.002 * wobble(k))
            .collect();
        let day = RepeatedDay::fit(&Grid::even(0, 300_000, values)).expect("fit");
        assert!(!day.trends());
        assert!((day.predict(20 * DAY_MS).mean - 0.5).abs() < 0.002);
    }

    #[test]
    fn under_a_day_is_not_enough() {
        assert!(RepeatedDay::fit(&sawtooth(0.9)).is_err());
    }
}
