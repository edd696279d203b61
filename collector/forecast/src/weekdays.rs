//! A straight line on the weekday clock: for a series that grows Monday to Friday and
//! rests at weekends (office hours, the builds and uploads of a working week). The clock
//! counts days but stands still from Saturday 00:00 to Monday 00:00 (UTC):
//!
//! ```text
//!   w(t) = 5·⌊c/7⌋ + min(c mod 7, 5) (whole days)  + the fraction of today on a weekday
//!   c    = days since a Monday 00:00 UTC (1970-01-05)
//!   y    = a + b·w(t)     (least squares; band as for a line, with w for x)
//! ```
//!
//! Over one week of history a line on the wall clock reads a weekend as a change of regime
//! (a flat stretch, then growth again), and the backtest's short leads over a weekend as
//! rises that did not come. On the weekday clock the week is one straight line, and the
//! forecast rests at the weekends ahead as the history did. `auto` offers it when it
//! explains the window clearly better than the line (see [`WeekdayLine::clearly_better`]).

use super::grid::{DAY_MS, Grid};
use super::linear::Interval;
use super::stats::t_975;
use super::{ForecastError, Prediction};

/// 1970-01-05, the first Monday of the unix epoch, in days.
const FIRST_MONDAY_DAYS: i64 = 4;

/// Days on the weekday clock at `t_ms` (see the module docs).
pub(crate) fn weekday_days(t_ms: i64) -> f64 {
    let c = t_ms as f64 / DAY_MS as f64 - FIRST_MONDAY_DAYS as f64;
    let day = c.floor();
    let k = day as i64;
    let dow = k.rem_euclid(7);
    let today = if dow < 5 { c - day } else { 0.0 };
    (5 * k.div_euclid(7) + dow.min(5)) as f64 + today
}

/// A least-squares line on the weekday clock and what its interval needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WeekdayLine {
    /// Weekday-clock days of the first grid point: positions are taken from it.
    origin: f64,
    intercept: f64,
    /// Change per weekday.
    slope: f64,
    interval: Interval,
    /// Residual squared error.
    sse: f64,
}

impl WeekdayLine {
    /// Fits the line; needs 3 points and weekday time between the first and the last.
    pub fn fit(grid: &Grid) -> Result<Self, ForecastError> {
        let n = grid.len();
        let origin = weekday_days(grid.start_ms);
        let xs: Vec<f64> = (0..n)
            .map(|k| weekday_days(grid.time(k)) - origin)
            .collect();
        let nf = n as f64;
        let x_mean = xs.iter().sum::<f64>() / nf.max(1.0);
        let sxx: f64 = xs.iter().map(|x| (x - x_mean).powi(2)).sum();
        if n < 3 || sxx <= 0.0 {
            return Err(ForecastError::NotEnoughData(format!(
                "a line on the weekday clock needs 3 points with weekday time between them, have {n}"
            )));
        }
        let y_mean = grid.values.iter().sum::<f64>() / nf;
        let sxy: f64 = xs
            .iter()
            .zip(&grid.values)
            .map(|(x, y)| (x - x_mean) * (y - y_mean))
            .sum();
        let slope = sxy / sxx;
        let intercept = y_mean - slope * x_mean;
        let sse: f64 = xs
            .iter()
            .zip(&grid.values)
            .map(|(x, y)| (y - intercept - slope * x).powi(2))
            .sum();
        Ok(WeekdayLine {
            origin,
            intercept,
            slope,
            interval: Interval {
                n: nf,
                x_mean,
                sxx,
                half_width: t_975(n - 2) * (sse / (nf - 2.0)).sqrt(),
            },
            sse,
        })
    }

    /// Whether it explains `grid` (the one it was fitted to) clearly better than the
    /// least-squares line on the wall clock: both have two parameters, so by a margin of
    /// `n·ln(SSE_line/SSE) > 2·ln n` (a week of a straight trend rests at no weekend and
    /// fits the weekday clock worse, not better).
    pub fn clearly_better(&self, grid: &Grid) -> bool {
        let line_sse = super::stats::line_sse(&grid.values);
        let n = self.interval.n;
        super::stats::bic_gain(line_sse, self.sse, n) > 2.0 * n.ln()
    }

    /// Residual squared error.
    pub fn sse(&self) -> f64 {
        self.sse
    }

    /// The value and prediction interval at `t_ms`.
    pub fn predict(&self, t_ms: i64) -> Prediction {
        let x = weekday_days(t_ms) - self.origin;
        self.interval.around(self.intercept + self.slope * x, x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Monday 2026-11-30 00:00 UTC.
    const MONDAY_MS: i64 = 1_795_996_800_000;

    #[test]
    fn the_clock_stands_still_at_weekends() {
        let at = |days: f64| weekday_days(MONDAY_MS + (days * DAY_MS as f64) as i64);
        assert!((at(1.5) - at(0.0) - 1.5).abs() < 1e-9);
        // Friday noon to Saturday noon: half a day; Saturday to Monday: none.
        assert!((at(5.5) - at(4.5) - 0.5).abs() < 1e-9);
        assert!((at(7.0) - at(5.0)).abs() < 1e-9);
        assert!((at(14.0) - at(0.0) - 10.0).abs() < 1e-9);
    }

    /// Hourly for `days` from a Monday.
    fn hourly(days: usize, f: impl Fn(i64) -> f64) -> Grid {
        let step = 3_600_000;
        Grid::even(
            MONDAY_MS,
            step,
            (0..days * 24)
                .map(|k| f(MONDAY_MS + k as i64 * step))
                .collect(),
        )
    }

    #[test]
    fn weekday_growth_is_a_line_that_rests_at_the_weekend() {
        // 0.01 a weekday for a week and a half, with a little deterministic wobble.
        let wobble = |t: i64| ((t / 3_600_000 * 7919) % 101) as f64 / 1e5;
        let grid = hourly(10, |t| 0.5 + 0.01 * weekday_days(t) + wobble(t));
        let fit = WeekdayLine::fit(&grid).expect("fit");
        assert!(fit.clearly_better(&grid));
        let saturday = MONDAY_MS + 12 * DAY_MS;
        let monday = MONDAY_MS + 14 * DAY_MS;
        let (a, b) = (fit.predict(saturday).mean, fit.predict(monday).mean);
        assert!((a - b).abs() < 1e-9, "{a} {b}");
        assert!((fit.slope - 0.01).abs() < 1e-4, "{}", fit.slope);
        // A straight trend is not better on the weekday clock.
        let straight = hourly(10, |t| 0.5 + 0.01 * t as f64 / DAY_MS as f64 + wobble(t));
        let fit = WeekdayLine::fit(&straight).expect("fit");
        assert!(!fit.clearly_better(&straight));
    }
}
