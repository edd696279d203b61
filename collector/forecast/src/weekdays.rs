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
//!
//! Growth by office hours rests at night too, and from Friday evening, not Saturday 00:00:
//! a window that ends early on a Monday then has a rest that began before the clock stood
//! still. So the clock may run only in a working day of `len` hours from `open` (UTC),
//! still counting one unit a weekday:
//!
//! ```text
//!   w(t) = whole weekdays before  + clamp(hour of a weekday − open, 0, len) / len
//! ```
//!
//! The working day is searched on whole hours (every second opening hour and a few lengths,
//! then the hours beside the best); it is kept only when it beats the whole-day clock by
//! the information criterion's price of its two parameters.

use super::grid::{DAY_MS, Grid};
use super::linear::Interval;
use super::stats::{bic_gain, t_975};
use super::{ForecastError, Prediction};

/// 1970-01-05, the first Monday of the unix epoch, in days.
const FIRST_MONDAY_DAYS: i64 = 4;

/// Days on the weekday clock at `t_ms` (see the module docs).
pub(crate) fn weekday_days(t_ms: i64) -> f64 {
    WorkingDay::WHOLE.clock(t_ms)
}

/// A working day on the weekday clock: whole hours (UTC) from `open`, `len` long; the
/// whole day is `(0, 24)`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct WorkingDay {
    open: f64,
    len: f64,
}

impl WorkingDay {
    const WHOLE: WorkingDay = WorkingDay {
        open: 0.0,
        len: 24.0,
    };

    /// Weekday-clock units at `t_ms`.
    fn clock(self, t_ms: i64) -> f64 {
        self.at(weekday_parts(t_ms))
    }

    /// Weekday-clock units at a time given by its [`weekday_parts`].
    fn at(self, (whole, hour): (f64, Option<f64>)) -> f64 {
        whole + hour.map_or(0.0, |h| (h - self.open).clamp(0.0, self.len) / self.len)
    }
}

/// Whole weekdays before `t_ms` (on [`weekday_days`]' count) and, on a weekday, the hours
/// of it gone by.
fn weekday_parts(t_ms: i64) -> (f64, Option<f64>) {
    let c = t_ms as f64 / DAY_MS as f64 - FIRST_MONDAY_DAYS as f64;
    let day = c.floor();
    let k = day as i64;
    let dow = k.rem_euclid(7);
    let whole = (5 * k.div_euclid(7) + dow.min(5)) as f64;
    (whole, (dow < 5).then_some((c - day) * 24.0))
}

/// The working day whose clock fits `values` best (see the module docs), and the clock's
/// positions of the grid's points.
fn best_working_day(grid: &Grid) -> (WorkingDay, Vec<f64>) {
    let parts: Vec<(f64, Option<f64>)> = (0..grid.len())
        .map(|k| weekday_parts(grid.time(k)))
        .collect();
    // One pass of sums per working day tried, over the values less their mean (a disk's
    // bytes would cancel in squares of the raw values).
    let n = grid.len() as f64;
    let y_mean = grid.values.iter().sum::<f64>() / n.max(1.0);
    let ys: Vec<f64> = grid.values.iter().map(|y| y - y_mean).collect();
    let y_ss: f64 = ys.iter().map(|y| y * y).sum();
    let first = parts.first().map_or(0.0, |p| p.0);
    let sse_of = |day: WorkingDay| {
        let (mut sx, mut sxx, mut sxy) = (0.0, 0.0, 0.0);
        for (&part, y) in parts.iter().zip(&ys) {
            let x = day.at(part) - first;
            sx += x;
            sxx += x * x;
            sxy += x * y;
        }
        let x_ss = sxx - sx * sx / n;
        if x_ss <= 1e-12 {
            f64::INFINITY
        } else {
            (y_ss - sxy * sxy / x_ss).max(0.0)
        }
    };
    // Working days that end by midnight (the coarse lengths are 4 hours and more).
    let fits = |day: &WorkingDay| day.open + day.len <= 24.0;
    let whole = sse_of(WorkingDay::WHOLE);
    let best_of = |days: &mut dyn Iterator<Item = WorkingDay>| {
        days.map(|day| (day, sse_of(day)))
            .fold((WorkingDay::WHOLE, f64::INFINITY), |a, b| {
                if b.1 < a.1 { b } else { a }
            })
    };
    let coarse = best_of(&mut (0..24).step_by(2).flat_map(|open| {
        [4, 6, 8, 10, 12, 14, 16, 20]
            .map(|len| WorkingDay {
                open: open as f64,
                len: len as f64,
            })
            .into_iter()
            .filter(fits)
    }));
    let beside = [-1.0, 0.0, 1.0].into_iter().flat_map(|d_open| {
        [-1.0, 0.0, 1.0].map(move |d_len| WorkingDay {
            open: (coarse.0.open + d_open).rem_euclid(24.0),
            len: coarse.0.len + d_len,
        })
    });
    let best = best_of(&mut beside.filter(fits).chain([coarse.0]));
    let day = if bic_gain(whole, best.1, n) > 2.0 * n.ln() {
        best.0
    } else {
        WorkingDay::WHOLE
    };
    (day, parts.iter().map(|&part| day.at(part)).collect())
}

/// A least-squares line on the weekday clock and what its interval needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WeekdayLine {
    /// The hours of a weekday the clock runs in.
    day: WorkingDay,
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
        let (day, mut xs) = best_working_day(grid);
        let origin = day.clock(grid.start_ms);
        xs.iter_mut().for_each(|x| *x -= origin);
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
            day,
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
    /// fits the weekday clock worse, not better), and by `2·ln n` more for a working day's
    /// two.
    pub fn clearly_better(&self, grid: &Grid) -> bool {
        let line_sse = super::stats::line_sse(&grid.values);
        let n = self.interval.n;
        let margin = if self.day == WorkingDay::WHOLE {
            2.0
        } else {
            4.0
        };
        bic_gain(line_sse, self.sse, n) > margin * n.ln()
    }

    /// Residual squared error.
    pub fn sse(&self) -> f64 {
        self.sse
    }

    /// The value and prediction interval at `t_ms`.
    pub fn predict(&self, t_ms: i64) -> Prediction {
        let x = self.day.clock(t_ms) - self.origin;
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
        assert_eq!(fit.day, WorkingDay::WHOLE);
    }

    #[test]
    fn office_hours_growth_rests_from_friday_evening() {
        // 0.02 a weekday, grown from 08:00 to 17:00 UTC only; a week from a Monday 06:00,
        // every 15 minutes: the window ends early on the next Monday, before anyone came in.
        let office = WorkingDay {
            open: 8.0,
            len: 9.0,
        };
        let wobble = |k: i64| ((k * 7919) % 101) as f64 / 2e5;
        let step = 900_000;
        let start = MONDAY_MS + 6 * 3_600_000;
        let grid = Grid::even(
            start,
            step,
            (0..7 * 96)
                .map(|k| {
                    let t = start + k as i64 * step;
                    0.3 + 0.02 * office.clock(t) + wobble(k as i64)
                })
                .collect(),
        );
        let fit = WeekdayLine::fit(&grid).expect("fit");
        assert!(fit.clearly_better(&grid));
        assert!(
            (fit.day.open - 8.0).abs() <= 1.0 && (fit.day.len - 9.0).abs() <= 1.0,
            "{:?}",
            fit.day
        );
        assert!((fit.slope - 0.02).abs() < 1e-3, "{}", fit.slope);
        // Flat from Friday 17:00 to Monday 08:00 ahead; a working day later, 0.02 higher.
        let at = |days: f64| fit.predict(MONDAY_MS + (days * DAY_MS as f64) as i64).mean;
        let friday_evening = at(11.0 + 18.0 / 24.0);
        assert!((friday_evening - at(14.0 + 7.0 / 24.0)).abs() < 1e-9);
        assert!((at(15.0 + 7.0 / 24.0) - friday_evening - 0.02).abs() < 1e-3);
    }
}
