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
//! Over two days or more, [`RepeatedDay::mean_of_days`] averages every whole day into the
//! profile instead (each day moved to the last by the days of drift between them, the
//! drift read day over day from the first whole day's mean to the last's): the noise
//! averages out of the shape, and the drift is not tilted by where the window cuts the
//! day, as a least-squares line through stairs is.
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

    /// The mean day over every whole day of the grid, each day raised by the days of
    /// drift between it and the last (the drift read from the first whole day's mean to
    /// the last's), repeating with that drift: growth
    /// whose shape within the day a sine does not follow (a nightly dump's stairs, a
    /// rotation's sawtooth), over days enough to average the noise out of the shape.
    /// Needs two whole days. The drift is kept whatever its size: the backtest judges it.
    pub fn mean_of_days(grid: &Grid) -> Result<Self, ForecastError> {
        let n = grid.len();
        let period = grid
            .season_steps(DAY_MS)
            .filter(|&p| 2 * p <= n && p >= 12)
            .ok_or_else(|| {
                ForecastError::NotEnoughData(format!(
                    "a mean day needs two days of history at 12 points a day or more, have \
                     {n} points of {} ms",
                    grid.step_ms
                ))
            })?;
        let days = n / period;
        let base = n - days * period;
        // Day over day, first whole day to last: a least-squares line through stairs or
        // a sawtooth tilts with where the window starts and ends within the day.
        let day_mean = |d: usize| {
            let range = base + d * period..base + (d + 1) * period;
            let total: f64 = grid.weights[range.clone()].iter().sum();
            if total > 0.0 {
                range.map(|k| grid.weights[k] * grid.values[k]).sum::<f64>() / total
            } else {
                range.map(|k| grid.values[k]).sum::<f64>() / period as f64
            }
        };
        let drift = (day_mean(days - 1) - day_mean(0)) / ((days - 1) * period) as f64;
        // Each day's point at phase j, moved to the last day by the drift.
        let moved = |d: usize, j: usize| {
            let k = base + d * period + j;
            let w = grid.weights[k];
            (grid.values[k] + drift * (period * (days - 1 - d)) as f64, w)
        };
        let profile: Vec<f64> = (0..period)
            .map(|j| {
                let (mut sum, mut total, mut plain) = (0.0, 0.0, 0.0);
                for d in 0..days {
                    let (y, w) = moved(d, j);
                    sum += w * y;
                    total += w;
                    plain += y;
                }
                if total > 0.0 {
                    sum / total
                } else {
                    plain / days as f64
                }
            })
            .collect();
        let mut sse = 0.0;
        let mut observed = 0.0;
        for d in 0..days {
            for (j, p) in profile.iter().enumerate() {
                let (y, w) = moved(d, j);
                sse += w * (y - p).powi(2);
                observed += w;
            }
        }
        let freedom = (observed - period as f64 - 1.0).max(1.0);
        let sigma = (sse / freedom).sqrt();
        let raw = grid.values[n - period..].to_vec();
        let last_sse = raw.iter().zip(&profile).map(|(y, p)| (y - p).powi(2)).sum();
        Ok(RepeatedDay {
            start_ms: grid.time(n - period),
            step_ms: grid.step_ms,
            profile,
            drift,
            measured: drift,
            half_width: Z_975 * sigma,
            raw,
            sse: last_sse,
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
    fn the_mean_of_days_keeps_a_nightly_jump_where_it_was() {
        // 6.6 days of 5-minute points (the window cuts a day) rising 0.01 at 03:00 each
        // day and nothing between, with noise: ten days on, the stairs are ten steps up,
        // the jump still at 03:00.
        let stairs = |d: f64| 0.5 + 0.01 * (d - 0.125).floor();
        let n = (6.6 * 288.0) as usize;
        let values = (0..n)
            .map(|k| stairs(k as f64 / 288.0) + 0.002 * wobble(k))
            .collect();
        let grid = Grid::even(0, 300_000, values);
        let day = RepeatedDay::mean_of_days(&grid).expect("fit");
        for hour in [2.5, 3.5, 12.0, 23.0] {
            let d = 16.0 + hour / 24.0;
            let t = (d * DAY_MS as f64) as i64;
            let got = day.predict(t).mean;
            assert!(
                (got - stairs(d)).abs() < 0.002,
                "at day {d}: {got} against {}",
                stairs(d)
            );
        }
        assert!(RepeatedDay::mean_of_days(&grid.suffix(n - 500)).is_err());
    }

    #[test]
    fn under_a_day_is_not_enough() {
        assert!(RepeatedDay::fit(&sawtooth(0.9)).is_err());
    }
}
