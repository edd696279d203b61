//! A line since a purge, with the purge repeated on the calendar: for growth that a
//! cleanup (a weekly purge, a log rotation) cuts back now and then.
//!
//! ```text
//!   y(t) = a + b·(t − t_p) − D·⌊(t − t_p) / P⌋      for t after the purge at t_p
//! ```
//!
//! a + b·(t − t_p) is the least-squares line since the purge, D the drop at it (where the
//! line before it got to, less where the line after it starts), P the period.
//!
//! A purge seen once says little about its period, but a cleanup is a scheduled job and
//! schedules follow the calendar. The window shows this purge only, so the period is at
//! least the longer of the stretches before and after it (else another purge would be in
//! the window); P is the shortest calendar period — a day, a week — that long. When no
//! calendar period is (the purge is more than a week from one end of the window), it
//! is not taken to recur and the fit is the line since it.
//!
//! Until the next purge this is the line since the purge; after it, the series drops as
//! it did and grows again, so the peaks before each purge rise by b·P − D a period: a
//! line since a purge that crosses the threshold only after the next purge is due crosses
//! later, at one of those peaks, or never when they do not rise.

use super::grid::{DAY_MS, Grid};
use super::linear::Line;
use super::stats::least_squares;
use super::{ForecastError, Prediction};

/// Calendar periods a purge may recur with, shortest first.
const PERIODS_MS: [i64; 2] = [DAY_MS, 7 * DAY_MS];

/// How many periods' growth a recurring purge may remove (estimated from the regime since
/// it, which may be short).
const RECUR_SLACK: f64 = 1.0;

/// A line since a purge, the purge repeating.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RecurringPurge {
    /// The line since the purge.
    line: Line,
    /// When the purge happened (the first point after it).
    purge_ms: i64,
    /// The drop at each purge, signed (negative for a drop in value).
    jump: f64,
    /// The period; `None` when no calendar period fits the window.
    period_ms: Option<i64>,
    /// Whether the drop is more than any calendar period's growth (see [`Self::one_off`]).
    one_off: bool,
}

impl RecurringPurge {
    /// Fits the line since point `start` of `grid` (where the purge happened) and the jump
    /// there, with the period the window allows.
    pub fn fit(grid: &Grid, start: usize) -> Result<Self, ForecastError> {
        let n = grid.len();
        if start < 3 || start + 3 > n {
            return Err(ForecastError::NotEnoughData(format!(
                "a purge needs 3 points either side, have {start} before and {} after",
                n.saturating_sub(start)
            )));
        }
        let regime = grid.suffix(start);
        let line = Line::fit(&regime)?;
        let (a0, b0) = least_squares(&grid.values[..start]);
        let (a1, b1) = least_squares(&grid.values[start..]);
        let jump = a1 - (a0 + b0 * start as f64);
        let before = start as i64 * grid.step_ms;
        let after = (n - start) as i64 * grid.step_ms;
        let shortest = before.max(after);
        // A purge that recurs removes at most what grew since the last one: a drop larger
        // than a period's growth since it, or one the data does not grow back from, was a
        // one-off clean-up (or the disk would be emptying).
        let steady = |p: i64| {
            let growth = b1 * (p / grid.step_ms) as f64;
            growth * jump < 0.0 && jump.abs() <= RECUR_SLACK * growth.abs()
        };
        let period_ms = PERIODS_MS
            .into_iter()
            .find(|&p| p >= shortest)
            .filter(|&p| steady(p));
        Ok(RecurringPurge {
            line,
            purge_ms: grid.time(start),
            jump,
            period_ms,
            one_off: !PERIODS_MS.into_iter().any(steady),
        })
    }

    /// Whether the purge was a one-off clean-up: more than the longest calendar period's
    /// growth since it, however long the window.
    pub fn one_off(&self) -> bool {
        self.one_off
    }

    /// Days between purges; `None` when the purge is not taken to recur.
    pub fn period_days(&self) -> Option<f64> {
        self.period_ms.map(|p| p as f64 / DAY_MS as f64)
    }

    /// The value and band at `t_ms`: the line's, less the purges due by then.
    pub fn predict(&self, t_ms: i64) -> Prediction {
        let p = self.line.predict(t_ms);
        let Some(period) = self.period_ms else {
            return p;
        };
        let purges = (t_ms - self.purge_ms).div_euclid(period).max(0) as f64;
        let shift = purges * self.jump;
        Prediction {
            mean: p.mean + shift,
            lower: p.lower + shift,
            upper: p.upper + shift,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hourly points for 7 days: rising 0.01 an hour, a drop of 0.5 three days in.
    fn weekly() -> Grid {
        let values = (0..168)
            .map(|k| 0.01 * k as f64 - if k >= 72 { 0.5 } else { 0.0 })
            .collect();
        Grid::even(0, 3_600_000, values)
    }

    #[test]
    fn a_purge_seen_once_in_a_week_recurs_a_week_later() {
        let fit = RecurringPurge::fit(&weekly(), 72).expect("fit");
        assert_eq!(fit.period_ms, Some(7 * DAY_MS));
        let hour = |k: i64| fit.predict(k * 3_600_000).mean;
        // Before the next purge (72 + 168 = 240 h) the line since the purge...
        assert!((hour(239) - (2.39 - 0.5)).abs() < 1e-9, "{}", hour(239));
        // ... after it one drop more.
        assert!((hour(240) - (2.40 - 1.0)).abs() < 1e-9, "{}", hour(240));
    }

    #[test]
    fn a_drop_of_more_than_a_weeks_growth_does_not_recur() {
        // The week of `weekly`, but the drop takes 2.0: twelve days' growth at 0.01 an
        // hour. A weekly purge of that would empty the disk; it was a one-off clean-up,
        // and the line since it grows on.
        let values = (0..168)
            .map(|k| 0.01 * k as f64 - if k >= 72 { 2.0 } else { 0.0 })
            .collect();
        let fit = RecurringPurge::fit(&Grid::even(0, 3_600_000, values), 72).expect("fit");
        assert!(fit.one_off());
        assert_eq!(fit.period_ms, None);
        let late = fit.predict(400 * 3_600_000).mean;
        assert!((late - (4.0 - 2.0)).abs() < 1e-9, "{late}");
        // Nor does a drop the data does not grow back from.
        let values = (0..168)
            .map(|k| if k >= 72 { 0.0 } else { 0.01 * k as f64 })
            .collect();
        let fit = RecurringPurge::fit(&Grid::even(0, 3_600_000, values), 72).expect("fit");
        assert!(fit.one_off());
        assert!(!RecurringPurge::fit(&weekly(), 72).expect("fit").one_off());
    }

    #[test]
    fn a_purge_far_from_both_ends_is_not_weekly() {
        // 20 days, hourly, a drop after 10 days: a weekly purge would show twice.
        let values = (0..480)
            .map(|k| 0.01 * k as f64 - if k >= 240 { 0.5 } else { 0.0 })
            .collect();
        let grid = Grid::even(0, 3_600_000, values);
        let fit = RecurringPurge::fit(&grid, 240).expect("fit");
        assert_eq!(fit.period_ms, None);
        let late = fit.predict(1_000 * 3_600_000).mean;
        assert!((late - (10.0 - 0.5)).abs() < 1e-9, "{late}");
    }
}
