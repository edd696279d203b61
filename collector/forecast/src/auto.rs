//! `auto`: picks a model per series by rolling-origin backtest on the lookback window,
//! never quieter than a straight line without evidence, with an ETA band calibrated on
//! the same backtest.
//!
//! Before anything is fitted, short bursts (a temporary file that lives for half an hour)
//! are taken out of the grid (see `bursts`).
//!
//! # Candidates
//! In order of simplicity:
//! - *level*: the mean since the current regime began, no trend (a series that is not
//!   going anywhere);
//! - *line*: least squares over the whole window;
//! - *weekday line*: least squares on a clock that stands still at weekends (see
//!   `weekdays`), offered from four days of history when it explains the window clearly
//!   better than the line and, when the window has a break, better than two lines meeting
//!   at it: growth by office hours, whose weekends otherwise read as a flat regime (and
//!   the week since as a steeper one) over a week of history;
//! - *regime line*: least squares since the current regime began, when the window has a
//!   break (a step, a change of slope: see `changepoint`), so that growth that changed a
//!   day ago is extrapolated at its new rate; when the regime began with a purge, the
//!   purge repeats on the calendar (see `purge`: a purge seen once in a week of history is
//!   taken to be weekly), so that the line since it does not cross past the next purge;
//! - *quadratic*: a quadratic trend, offered when it bends towards the threshold
//!   (accelerating growth); at an origin where it bends away it is the line. It is fitted
//!   over the whole window when a parabola explains the window as well as two lines
//!   meeting at the current regime's start and still fits that regime as well as the
//!   regime's own line; else since the regime began (a step or a slope that rose and then
//!   held is not a curve);
//! - *weekly cycle*: a line with a weekly sine (see `cycle`), and a daily one beside it
//!   where the day shows a cycle, offered from five days to two weeks of growth under a
//!   weekly wave (see `weekly_growth`), whose rising half a line over one week takes for
//!   the trend; at an origin too short for it, the line;
//! - Theil–Sen; Holt since the current regime began (a jump would otherwise be taken
//!   for trend), undamped when the recent data still trends; Holt–Winters daily where a
//!   daily cycle shows, weekly where the week shows a pattern of its own (quiet weekends,
//!   a weekly purge): on a trend with noise it would fit the noise as a season.
//!
//! Under two days of history only the level, the line and Theil–Sen are candidates, and
//! when a line with a daily cycle (see `cycle`) explains clearly more than the line, it is
//! the forecast (without its slope when the slope is under two standard errors): one day
//! of a daily wave is not a trend. When the last day's own shape explains it clearly
//! better than the sine (a log rotation's sawtooth: see `repeat`), the forecast is that
//! day repeated with its drift instead, the drift kept even when it is not significant
//! if the line over the window crosses (there is no backtest to show the line wrong).
//! Under two weeks with a visible daily cycle there is no regime line, quadratic or Holt
//! (the cycle's halves and weekends read as breaks, curvature and trend), and the
//! backtest's held-out parts are whole days. Nor is there
//! when five days to two weeks are a level under a weekly wave: a line with a weekly sine
//! and a slope under two standard errors explains the window better (by the Bayesian
//! information criterion) than a parabola and than two lines meeting at the break; else
//! the wave's rising half reads as a new regime or a curve (see `weekly_wave`), and no
//! weekday line either.
//!
//! When the current regime began with a purge (a clear drop away from the threshold),
//! there is no Holt (since the purge, it would take the growth between purges for the
//! trend), and from two weeks of history no regime line either: a cleanup that happened
//! once may happen again, and the growth since it is not the trend. Under two weeks a
//! weekly purge is seen once at most, and the regime line since it repeats it weekly.
//!
//! The level, the lines (with a weekly cycle, since a purge that repeats), the quadratic
//! and the repeated day are least squares and are reported as [`ModelChoice::Linear`];
//! [`Forecast::detail`](crate::Forecast::detail) names which.
//!
//! # Backtest
//! Each candidate is fitted on the first 50 %, 62.5 %, 75 %, 87.5 %, 95 % and 98 % of the
//! grid and forecasts what follows; the i-th origin weighs i² times the first, because
//! later origins show the series as it is now (a change of slope a day before the end is
//! only visible from the last two). What is scored is what a forecast is for: *when* a
//! level is reached. The levels are the new highs the held-out data made (new lows for
//! `below`), read from a five-point moving average and counted only when they are clearly
//! past the start (twice the grid's noise: noise alone makes new highs): the running
//! maximum at a quarter, half, three quarters and all of the held-out part, each where it
//! is first reached after the origin. The error is how far (in grid steps) the forecast's
//! first reaching of that level is from the truth, searching up to twice the held-out
//! length (or the horizon) and counting "never" as that limit. A series that made no clear
//! new high after any origin (flat, shrinking) is scored on the lead-weighted mean
//! absolute error of the values instead. The simplest candidate within 5 % of the best
//! score wins; when it did make new highs, among the candidates within 5 % of the best
//! crossing score, the simplest within 5 % of the best value error among them: crossing
//! errors saturate (a candidate that never reaches a level scores the search limit,
//! however near it came), and when every trend was too slow for the levels the held-out
//! data made, the values tell which followed them.
//!
//! Interpolated points (a gap in the samples, see `grid`) are not data: the backtest
//! scores only observed points, and an origin weighs by the share of its held-out part
//! that was observed, so a gap filled up to the last few samples cannot vouch for the
//! steep line it was filled with.
//!
//! # No alarm without a trend, and never quieter than a line without a reason
//! The backtest also records, at each origin, whether a candidate promised a clear rise
//! towards the threshold (over twice the noise) by the end of the held-out part, and
//! whether the data then rose at least a quarter as far (growth by office hours rises by
//! day and rests at night and at weekends). Its rises were *false alarms* when, weighed
//! by the held-out lengths, they were missed more than kept — counting only the origins
//! that see the current regime when the window has a break (not under two weeks with a
//! daily cycle, where nights and weekends read as breaks).
//! - When the winner crosses within the horizon but its rises were false alarms, the
//!   forecast is the best-scoring candidate whose rises were not, if it scored better
//!   than the level, else the level.
//! - When the winner does not cross but the line over the whole window does, and the
//!   line's rises were not false alarms, the forecast is the best-scoring of the
//!   least-squares trends (line, regime line, quadratic) that does cross.
//!
//! # Band
//! The winner's ETA band is calibrated on its own backtest crossings (see `band`); with
//! too few of them (a flat series, a day of history) it keeps its own and the path sped
//! up and slowed down by the floor. It is widened to hold the mean paths
//! of the other candidates scoring within twice the winner's: where the backtest cannot
//! tell two models apart, the truth may follow either. It also holds the lines with the
//! window's slope at the ends of its 95 % interval, the residuals' autocorrelation
//! allowed for (see `Line::slope_bounds`): a wander, a daily wave or a weekly purge can
//! hide or fake a trend that the backtest's short leads do not show. On a day or two
//! with a daily wave, the band holds the line and no trend at all too.
//!
//! A candidate that cannot be fitted at every origin (Holt–Winters needs two seasons in
//! the shortest training part, that is four seasons of lookback) is left out. With too
//! little history for any backtest, the choice is the least-squares line.

mod backtest;

use super::band::Calibrated;
use super::bursts;
use super::changepoint;
use super::cycle::Cycle;
use super::grid::DAY_MS;
use super::grid::Grid;
use super::holt::Holt;
use super::holt_winters::HoltWinters;
use super::linear::Line;
use super::purge::RecurringPurge;
use super::quadratic::{self, Quadratic};
use super::repeat::RepeatedDay;
use super::stats::{least_squares, line_sse};
use super::theil_sen::RobustLine;
use super::weekdays::WeekdayLine;
use super::{Direction, Fit, ForecastError, ForecastRequest, ModelChoice, Season};
use backtest::Record;

/// A more complex model must beat the best simpler one by more than this factor.
const SIMPLER_WITHIN: f64 = 1.05;

/// A candidate model, in order of simplicity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Candidate {
    /// The mean since the regime began.
    Level,
    /// Least squares over the window.
    Line,
    /// Least squares on the weekday clock (see `weekdays`).
    Weekdays,
    /// Least squares since the regime began.
    RegimeLine,
    /// A quadratic trend bending towards the threshold (else the line).
    Quadratic,
    /// A line with a weekly cycle, and a daily one where the day shows a cycle (else the
    /// line).
    WeeklyCycle,
    /// Theil–Sen.
    TheilSen,
    /// Holt.
    Holt,
    /// Holt–Winters with a season.
    HoltWinters(Season),
}

impl Candidate {
    /// Fitted on `grid`, ready to predict up to `until_ms`; `None` when it cannot be.
    pub(crate) fn fit(self, grid: &Grid, until_ms: i64, direction: Direction) -> Option<Fit> {
        let regime = || grid.suffix(regime_start(grid));
        match self {
            Candidate::Level => Line::level(&regime()).ok().map(Fit::Linear),
            Candidate::Line => Line::fit(grid).ok().map(Fit::Linear),
            Candidate::Weekdays => WeekdayLine::fit(grid).ok().map(Fit::Weekdays),
            // After a purge, the purge may come again (see `purge`).
            Candidate::RegimeLine => {
                let start = regime_start(grid);
                if purged(grid, direction) {
                    RecurringPurge::fit(grid, start).ok().map(Fit::Purge)
                } else {
                    Line::fit(&grid.suffix(start)).ok().map(Fit::Linear)
                }
            }
            Candidate::Quadratic => {
                let regime = quadratic_span(grid);
                let q = Quadratic::fit(&regime).ok()?;
                if bends_towards(&q, direction) {
                    Some(Fit::Quadratic(q))
                } else {
                    Line::fit(&regime).ok().map(Fit::Linear)
                }
            }
            Candidate::WeeklyCycle => {
                let both = Cycle::fit(grid).is_ok_and(|c| c.visible());
                let fit = if both {
                    Cycle::fit_daily_weekly(grid)
                } else {
                    Cycle::fit_weekly(grid)
                };
                match fit {
                    Ok(c) => Some(Fit::Cycle(c)),
                    Err(_) => Line::fit(grid).ok().map(Fit::Linear),
                }
            }
            Candidate::TheilSen => RobustLine::fit(grid).ok().map(Fit::TheilSen),
            Candidate::Holt => Holt::fit(&regime(), until_ms).ok().map(Fit::Holt),
            Candidate::HoltWinters(season) => HoltWinters::fit(grid, season, until_ms)
                .ok()
                .map(Fit::HoltWinters),
        }
    }

    /// In words, for [`Forecast::detail`](crate::Forecast::detail).
    fn describe(self, grid: &Grid, direction: Direction) -> String {
        match self {
            Candidate::Level => "linear: a level, no trend".into(),
            Candidate::Line => "linear".into(),
            Candidate::RegimeLine => {
                let start = regime_start(grid);
                let days = (grid.len() - start) as f64 * grid.step_ms as f64 / 86_400_000.0;
                let recurring = purged(grid, direction)
                    .then(|| RecurringPurge::fit(grid, start).ok()?.period_days())
                    .flatten();
                match recurring {
                    Some(every) => format!(
                        "linear since a purge {days:.1} d before the end of the history, \
                         the purge repeating every {every:.0} d"
                    ),
                    None => {
                        format!("linear since a change {days:.1} d before the end of the history")
                    }
                }
            }
            Candidate::Weekdays => "linear on weekdays, resting at weekends".into(),
            Candidate::Quadratic => "linear: a quadratic trend".into(),
            Candidate::WeeklyCycle => "linear with a weekly cycle".into(),
            Candidate::TheilSen => "theil_sen".into(),
            Candidate::Holt => "holt".into(),
            Candidate::HoltWinters(Season::Daily) => "holt_winters daily".into(),
            Candidate::HoltWinters(Season::Weekly) => "holt_winters weekly".into(),
        }
    }
}

/// Where the current regime of `grid` began (see `changepoint`).
fn regime_start(grid: &Grid) -> usize {
    changepoint::regime_start(&grid.values, &grid.weights, min_regime(grid))
}

/// Fewest points of a regime: a dozen, 2 % of the window and half a day. A line through
/// less would be extrapolated over a horizon of days or weeks from a few hours: one
/// tooth of a daily sawtooth, half a daily wave.
fn min_regime(grid: &Grid) -> usize {
    let half_day = usize::try_from(43_200_000 / grid.step_ms.max(1)).unwrap_or(usize::MAX);
    changepoint::MIN_POINTS.max(grid.len() / 50).max(half_day)
}

/// Where a quadratic is fitted: the whole window when a parabola explains it as well as
/// two lines meeting at the current regime's start do (growth that accelerates smoothly
/// shows breaks of slope, which are its curve), else since the regime began (a step or a
/// sharp turn fitted with a parabola is a curve that is not there). By the Bayesian
/// information criterion: 3 parameters against 5 (two lines and the break).
fn quadratic_span(grid: &Grid) -> Grid {
    let start = regime_start(grid);
    if start == 0 {
        return grid.clone();
    }
    let Ok(whole) = Quadratic::fit(grid) else {
        return grid.suffix(start);
    };
    let broken = line_sse(&grid.values[..start]) + line_sse(&grid.values[start..]);
    let regime = grid.suffix(start);
    // The parabola must still fit the current regime about as well as the regime's own
    // line does: growth whose slope rose and then held is a line since then, and the
    // parabola runs above it.
    let m = regime.len();
    let on_regime: f64 = (start..grid.len())
        .map(|k| (grid.values[k] - whole.predict(grid.time(k)).mean).powi(2))
        .sum();
    let own = line_sse(&regime.values);
    let floor = 1e-12 * own.max(f64::MIN_POSITIVE);
    let still = m as f64 * ((on_regime + floor) / (own + floor)).ln() <= 2.0 * (m as f64).ln();
    if still && whole.bic() <= quadratic::bic(broken, grid.len(), 5) {
        grid.clone()
    } else {
        regime
    }
}

/// A quadratic's curvature must be this many standard errors from zero to be offered.
const CURVATURE_T: f64 = 4.0;

/// Whether the quadratic bends towards the threshold, clearly.
fn bends_towards(q: &Quadratic, direction: Direction) -> bool {
    match direction {
        Direction::Above => q.curvature_t() > CURVATURE_T,
        Direction::Below => q.curvature_t() < -CURVATURE_T,
    }
}

/// Under this many days of history `auto` looks for no curvature, regime, smoothing or
/// season: less than two periods of a daily cycle is one rising and one falling half, and
/// any of those models would take a half for a trend.
pub(crate) const SHORT_DAYS: i64 = 2;

/// Whether `grid` spans less than `days`.
fn is_under(grid: &Grid, days: i64) -> bool {
    (grid.len() as i64).saturating_mul(grid.step_ms) < days * DAY_MS
}

/// Whether `grid` spans less than [`SHORT_DAYS`].
pub(crate) fn is_short(grid: &Grid) -> bool {
    is_under(grid, SHORT_DAYS)
}

/// Under this many days of history, a window with a visible daily cycle gets no regime
/// line, no quadratic and no Holt (which follows the cycle's latest half).
const CYCLIC_DAYS: i64 = 14;

/// Width of the bins of the week and of the day that [`weekly_visible`] compares.
const WEEK_BIN_MS: i64 = 6 * 3_600_000;

/// Whether the week shows a pattern of its own, beyond a daily one (quiet weekends, a
/// weekly purge): the residuals about the least-squares line, averaged in 6-hour bins of
/// the week, explain clearly more than in 6-hour bins of the day — by the Bayesian
/// information criterion with the same margin as [`Cycle::visible`], 24 more means for
/// `n·ln(SSE_day/SSE_week)`. Needs two weeks.
fn weekly_visible(grid: &Grid) -> bool {
    const WEEK_BINS: usize = (7 * DAY_MS / WEEK_BIN_MS) as usize;
    const DAY_BINS: usize = (DAY_MS / WEEK_BIN_MS) as usize;
    let n = grid.len();
    if (n as i64).saturating_mul(grid.step_ms) < 14 * DAY_MS {
        return false;
    }
    let (a, b) = least_squares(&grid.values);
    let residual = |k: usize| grid.values[k] - a - b * k as f64;
    let bin =
        |k: usize| (grid.time(k).div_euclid(WEEK_BIN_MS)).rem_euclid(WEEK_BINS as i64) as usize;
    let sse = |bins: usize| {
        let mut sums = vec![(0.0, 0.0); bins];
        for k in 0..n {
            let s = &mut sums[bin(k) % bins];
            s.0 += residual(k);
            s.1 += 1.0;
        }
        (0..n)
            .map(|k| {
                let (sum, count) = sums[bin(k) % bins];
                (residual(k) - sum / count).powi(2)
            })
            .sum::<f64>()
    };
    let (day, week) = (sse(DAY_BINS), sse(WEEK_BINS));
    let floor = 1e-12 * day.max(f64::MIN_POSITIVE);
    let n_f = n as f64;
    n_f * ((day + floor) / (week + floor)).ln() > 1.0 * (WEEK_BINS - DAY_BINS) as f64 * n_f.ln()
}

/// Whether the window holds a weekend and grows clearly more like a line on the weekday
/// clock than like one on the wall clock (see `weekdays`).
fn weekdays(grid: &Grid) -> bool {
    if (grid.len() as i64).saturating_mul(grid.step_ms) < WEEKDAYS_DAYS * DAY_MS {
        return false;
    }
    let Ok(line) = WeekdayLine::fit(grid) else {
        return false;
    };
    if !line.clearly_better(grid) {
        return false;
    }
    // A change of slope near a weekend fits the weekday clock better than one line, but
    // not better than two lines meeting at the change.
    let start = regime_start(grid);
    start == 0 || line.sse() < line_sse(&grid.values[..start]) + line_sse(&grid.values[start..])
}

/// Fewest days of history for a line on the weekday clock: a weekend and the days either
/// side of it.
const WEEKDAYS_DAYS: i64 = 4;

/// Whether `grid` spans under [`CYCLIC_DAYS`] with a visible daily cycle: then its
/// nights and weekends read as breaks and curvature, and are not.
fn cyclic(grid: &Grid) -> bool {
    (grid.len() as i64).saturating_mul(grid.step_ms) < CYCLIC_DAYS * DAY_MS
        && backtest::daily(grid).is_some()
}

/// Whether `grid`, under [`CYCLIC_DAYS`] and at least [`WEEKLY_WAVE_DAYS`] long, is a
/// level under a weekly wave: a line with a weekly sine (4 parameters) has a slope under
/// [`CYCLE_SLOPE_T`] standard errors and explains the window at least as well as a
/// parabola (3) and, when the window has a break, as two lines meeting at it (5), by the
/// Bayesian information criterion. Under two weeks a weekly wave's rising half reads as
/// a new regime (and its bend as curvature) that is not there; growth that accelerates
/// or changes its slope has a slope beside the sine, or is no sine.
fn weekly_wave(grid: &Grid) -> bool {
    wave_over_week(grid).is_some_and(|wave| wave.slope_t().abs() < CYCLE_SLOPE_T)
}

/// A line with a weekly sine through `grid`, when `grid` spans [`WEEKLY_WAVE_DAYS`] to
/// [`CYCLIC_DAYS`] and the wave (4 parameters) explains it at least as well as a parabola
/// (3) and, when the window has a break, as two lines meeting at it (5), by the Bayesian
/// information criterion.
fn wave_over_week(grid: &Grid) -> Option<Cycle> {
    let span = (grid.len() as i64).saturating_mul(grid.step_ms);
    if !(WEEKLY_WAVE_DAYS * DAY_MS..CYCLIC_DAYS * DAY_MS).contains(&span) {
        return None;
    }
    let wave = Cycle::fit_weekly(grid).ok()?;
    let curve = Quadratic::fit(grid).ok()?;
    let bic = quadratic::bic(wave.sse(), grid.len(), 4);
    let start = regime_start(grid);
    let broken = line_sse(&grid.values[..start]) + line_sse(&grid.values[start..]);
    (bic <= curve.bic() && (start == 0 || bic <= quadratic::bic(broken, grid.len(), 5)))
        .then_some(wave)
}

/// Whether `grid`, [`WEEKLY_WAVE_DAYS`] to [`CYCLIC_DAYS`] long, grows under a weekly wave:
/// a line with a weekly sine has a slope of [`CYCLE_SLOPE_T`] standard errors or more, and
/// the sine is visible. Where the day shows a cycle too, the line has a daily sine beside
/// the weekly one, and the weekly one must explain clearly more than the daily one alone
/// (as in `Cycle::visible`: by the Bayesian information criterion with three times its
/// two parameters); else the wave must also explain the window as well as a parabola and
/// as two lines meeting at its break (see [`wave_over_week`]). Over a week, a line takes
/// the wave's rising half for growth.
fn weekly_growth(grid: &Grid) -> bool {
    let span = (grid.len() as i64).saturating_mul(grid.step_ms);
    if !(WEEKLY_WAVE_DAYS * DAY_MS..CYCLIC_DAYS * DAY_MS).contains(&span) {
        return false;
    }
    match Cycle::fit(grid) {
        Ok(daily) if daily.visible() => {
            let Ok(both) = Cycle::fit_daily_weekly(grid) else {
                return false;
            };
            let n = grid.len() as f64;
            let floor = 1e-12 * daily.sse().max(f64::MIN_POSITIVE);
            both.slope_t().abs() >= CYCLE_SLOPE_T
                && n * ((daily.sse() + floor) / (both.sse() + floor)).ln() > 3.0 * 2.0 * n.ln()
        }
        _ => {
            wave_over_week(grid).is_some_and(|w| w.visible() && w.slope_t().abs() >= CYCLE_SLOPE_T)
        }
    }
}

/// Whether the current regime began with a purge: at the break, the line after it starts
/// more than [`PURGE_NOISE`] times the grid's noise below where the line before it got
/// to (above, for `below`). A cleanup that happened once (a weekly purge, a rotation) may
/// well happen again: the growth between purges is not the trend.
fn purged(grid: &Grid, direction: Direction) -> bool {
    let start = regime_start(grid);
    if start == 0 {
        return false;
    }
    let (a0, b0) = least_squares(&grid.values[..start]);
    let (a1, _) = least_squares(&grid.values[start..]);
    let jump = a1 - (a0 + b0 * start as f64);
    let sign = match direction {
        Direction::Above => 1.0,
        Direction::Below => -1.0,
    };
    sign * jump < -PURGE_NOISE * backtest::noise(grid)
}

/// How many noise deviations a drop must be to count as a purge.
const PURGE_NOISE: f64 = 4.0;

/// Fewest days of history for [`weekly_wave`]: most of a week.
const WEEKLY_WAVE_DAYS: i64 = 5;

/// The slope of a line with a daily cycle must be this many standard errors from zero
/// to be extrapolated.
const CYCLE_SLOPE_T: f64 = 2.0;

/// Parameters of a line with a daily cycle (see `cycle`).
const CYCLE_PARAMETERS: usize = 4;

/// On a short window with a visible daily cycle, the line with that cycle (without its
/// slope when the slope is lost in the noise), with a description; else `None`.
fn short_cycle(grid: &Grid) -> Option<(Fit, String)> {
    if !is_short(grid) {
        return None;
    }
    let cycle = Cycle::fit(grid).ok().filter(Cycle::visible)?;
    if let Ok(day) = RepeatedDay::fit(grid)
        && day.explains_better(|t| cycle.predict(t).mean, CYCLE_PARAMETERS)
    {
        return Some(if day.trends() {
            (
                Fit::Repeat(day),
                "linear: the last day repeated, with its drift".into(),
            )
        } else {
            (
                Fit::Repeat(day),
                "linear: the last day repeated, no drift".into(),
            )
        });
    }
    Some(if cycle.slope_t().abs() >= CYCLE_SLOPE_T {
        (Fit::Cycle(cycle), "linear with a daily cycle".into())
    } else {
        (
            Fit::Cycle(cycle.without_trend()),
            "linear: a level with a daily cycle, no trend".into(),
        )
    })
}

/// The candidates worth backtesting on `grid`.
fn candidates(grid: &Grid, season: Option<Season>, direction: Direction) -> Vec<Candidate> {
    let mut all = vec![Candidate::Level, Candidate::Line];
    if is_short(grid) {
        all.push(Candidate::TheilSen);
        return all;
    }
    let wave = weekly_wave(grid);
    if !wave && weekdays(grid) {
        all.push(Candidate::Weekdays);
    }
    let cyclic = cyclic(grid) || wave;
    // Under two weeks a weekly purge is seen once at most, and the regime line since it
    // repeats it (see `purge`); Holt since it would follow the growth between purges.
    let purge = purged(grid, direction);
    let purged = !is_under(grid, CYCLIC_DAYS) && purge;
    if !cyclic && !purged && regime_start(grid) > 0 {
        all.push(Candidate::RegimeLine);
    }
    if !cyclic && Quadratic::fit(&quadratic_span(grid)).is_ok_and(|q| bends_towards(&q, direction))
    {
        all.push(Candidate::Quadratic);
    }
    if weekly_growth(grid) {
        all.push(Candidate::WeeklyCycle);
    }
    all.push(Candidate::TheilSen);
    if !cyclic && !purge {
        all.push(Candidate::Holt);
    }
    // A daily season only where the history shows one: on a trend with noise,
    // Holt–Winters fits the noise as a season and wins some backtests by chance.
    let daily_visible = Cycle::fit(grid).is_ok_and(|c| c.visible());
    match season {
        Some(s) => all.push(Candidate::HoltWinters(s)),
        None => {
            if daily_visible {
                all.push(Candidate::HoltWinters(Season::Daily));
            }
            if weekly_visible(grid) {
                all.push(Candidate::HoltWinters(Season::Weekly));
            }
        }
    }
    all
}

/// Fits the model `auto` chooses on the whole grid, with a description of it.
pub(crate) fn choose(
    grid: &Grid,
    request: &ForecastRequest<'_>,
    until_ms: i64,
) -> Result<(Fit, String), ForecastError> {
    let direction = request.direction;
    let (cleaned, _) = bursts::remove(grid, backtest::noise(grid));
    let grid = &cleaned;
    if let Some((fit, detail)) = short_cycle(grid) {
        // The day repeated without its drift says "no crossing" where the line over the
        // window may cross, with no backtest to show the line wrong: the drift stays.
        let (fit, detail) = match fit {
            Fit::Repeat(day) if !day.trends() && line_crosses(grid, request, until_ms) => (
                Fit::Repeat(day.with_measured_drift()),
                "linear: the last day repeated, with its drift".into(),
            ),
            fit => (fit, detail),
        };
        // A day or two of a daily wave says little about the weeks ahead: the band holds
        // the plain line and no trend at all too.
        let mut envelope: Vec<Fit> = [Candidate::Line, Candidate::Level]
            .into_iter()
            .filter_map(|c| c.fit(grid, until_ms, direction))
            .collect();
        envelope.extend(slope_bounds(grid));
        return Ok((
            Calibrated::wrap(fit, request.now_ms, grid.step_ms, grid.len(), &[], envelope),
            detail,
        ));
    }
    let Some(records) = backtest_all(grid, request.horizon_ms, request.season, direction) else {
        let fit = Fit::new(ModelChoice::Linear, grid, until_ms, None)?;
        return Ok((fit, "linear".into()));
    };
    let any_levels = records.iter().any(|(_, r)| r.levels > 0.0);
    let best = pick(&records, any_levels);
    let fit_of = |c: Candidate| {
        c.fit(grid, until_ms, direction).ok_or_else(|| {
            ForecastError::NotEnoughData(format!("{c:?} could not be fitted to the window"))
        })
    };
    let mut chosen = (best, fit_of(records[best].0)?);
    let crosses = |fit: &Fit| {
        backtest::crosses(
            fit,
            request.now_ms,
            request.horizon_ms,
            request.threshold,
            direction,
        )
    };
    let recent = recent_origins(grid);
    let level = records.iter().position(|(c, _)| *c == Candidate::Level);
    if let Some(level) = level
        && crosses(&chosen.1)
        && records[chosen.0].1.false_alarms(recent)
    {
        // The trend helped no more than no trend at all: not enough to raise an alarm.
        let i = unrefuted(&records, level, recent, any_levels);
        chosen = (i, fit_of(records[i].0)?);
    }
    if !crosses(&chosen.1) {
        let line = Fit::new(ModelChoice::Linear, grid, until_ms, None)?;
        let line_alarms = records
            .iter()
            .find(|(c, _)| *c == Candidate::Line)
            .is_none_or(|(_, r)| r.false_alarms(recent));
        if crosses(&line) && !line_alarms {
            let mut trends: Vec<usize> = (0..records.len())
                .filter(|&i| {
                    matches!(
                        records[i].0,
                        Candidate::Line | Candidate::RegimeLine | Candidate::Quadratic
                    )
                })
                .collect();
            trends.sort_by(|&a, &b| {
                records[a]
                    .1
                    .score(any_levels)
                    .total_cmp(&records[b].1.score(any_levels))
            });
            for i in trends {
                let fit = fit_of(records[i].0)?;
                if crosses(&fit) {
                    chosen = (i, fit);
                    break;
                }
            }
        }
    }
    let (index, fit) = chosen;
    let (candidate, record) = &records[index];
    let mut envelope: Vec<Fit> = plausible(&records, any_levels, index)
        .filter_map(|i| records[i].0.fit(grid, until_ms, direction))
        .collect();
    envelope.extend(slope_bounds(grid));
    Ok((
        Calibrated::wrap(
            fit,
            request.now_ms,
            grid.step_ms,
            grid.len(),
            &record.pairs,
            envelope,
        ),
        candidate.describe(grid, direction),
    ))
}

/// Whether the least-squares line over `grid` reaches the threshold within the horizon.
fn line_crosses(grid: &Grid, request: &ForecastRequest<'_>, until_ms: i64) -> bool {
    Fit::new(ModelChoice::Linear, grid, until_ms, None).is_ok_and(|line| {
        backtest::crosses(
            &line,
            request.now_ms,
            request.horizon_ms,
            request.threshold,
            request.direction,
        )
    })
}

/// The lines with the window's slope at the ends of its 95 % interval (see
/// [`Line::slope_bounds`]), for the band: whatever model is chosen, a trend the window
/// cannot tell from its least-squares one may be the one that continues. Empty when the
/// window is too short for a line.
fn slope_bounds(grid: &Grid) -> Vec<Fit> {
    Line::slope_bounds(grid).map_or_else(
        |_| Vec::new(),
        |(low, high)| vec![Fit::Linear(low), Fit::Linear(high)],
    )
}

/// The band also holds the paths of candidates scoring within this factor of the best:
/// where the backtest cannot tell two models apart, the truth may follow either.
const PLAUSIBLE_WITHIN: f64 = 2.0;

/// What replaces a winner whose rises were false alarms: the best-scoring candidate whose
/// own rises were not (from origin `recent` on), when it scored better than the level at
/// `level`; else the level. After a purge, the line over the whole window promised rises
/// that the purge in its held-out parts broke, while the line since the purge kept its
/// own: that is no reason to forecast no trend at all.
fn unrefuted(
    records: &[(Candidate, Record)],
    level: usize,
    recent: usize,
    any_levels: bool,
) -> usize {
    let score = |i: usize| records[i].1.score(any_levels);
    (0..records.len())
        .filter(|&i| i != level && !records[i].1.false_alarms(recent) && score(i) < score(level))
        .min_by(|&a, &b| score(a).total_cmp(&score(b)))
        .unwrap_or(level)
}

/// The candidates other than `chosen` that the backtest could not rule out.
fn plausible(
    records: &[(Candidate, Record)],
    any_levels: bool,
    chosen: usize,
) -> impl Iterator<Item = usize> + '_ {
    let best = records
        .iter()
        .map(|(_, r)| r.score(any_levels))
        .filter(|s| s.is_finite())
        .fold(f64::INFINITY, f64::min);
    (0..records.len())
        .filter(move |&i| i != chosen && records[i].1.score(any_levels) <= best * PLAUSIBLE_WITHIN)
}

/// The first backtest origin that sees the current regime (at least [`min_regime`]
/// points into it); the first origin when the window has no break or no origin does.
fn recent_origins(grid: &Grid) -> usize {
    let Some(origins) = backtest::origins(grid) else {
        return 0;
    };
    let start = regime_start(grid);
    if start == 0 || cyclic(grid) {
        return 0;
    }
    origins
        .iter()
        .position(|&(o, _)| o >= start + min_regime(grid))
        .unwrap_or(0)
}

/// Each candidate that fits at every origin, with its record; `None` when the grid is too
/// short to backtest anything.
pub(crate) fn backtest_all(
    grid: &Grid,
    horizon_ms: i64,
    season: Option<Season>,
    direction: Direction,
) -> Option<Vec<(Candidate, Record)>> {
    let horizon_steps = usize::try_from(horizon_ms / grid.step_ms)
        .unwrap_or(0)
        .max(1);
    let origins = backtest::origins(grid)?;
    let noise = backtest::noise(grid);
    let records: Vec<(Candidate, Record)> = candidates(grid, season, direction)
        .into_iter()
        .filter_map(|candidate| {
            let mut record = Record::default();
            for &(origin, weight) in &origins {
                let fitted = backtest::judge(
                    grid,
                    origin,
                    weight,
                    horizon_steps,
                    candidate,
                    direction,
                    noise,
                    &mut record,
                );
                if !fitted {
                    return None;
                }
            }
            Some((candidate, record))
        })
        .collect();
    (!records.is_empty()).then_some(records)
}

/// The index of the simplest candidate within [`SIMPLER_WITHIN`] of the best score; when
/// the held-out data made new levels, of those, the simplest within [`SIMPLER_WITHIN`] of
/// the best value error among them (see the module docs).
fn pick(records: &[(Candidate, Record)], any_levels: bool) -> usize {
    let scores: Vec<f64> = records.iter().map(|(_, r)| r.score(any_levels)).collect();
    let best = scores
        .iter()
        .copied()
        .filter(|s| s.is_finite())
        .fold(f64::INFINITY, f64::min);
    let close: Vec<usize> = (0..scores.len())
        .filter(|&i| scores[i] <= best * SIMPLER_WITHIN)
        .collect();
    if !any_levels {
        return close.first().copied().unwrap_or(0);
    }
    // Crossing errors saturate: a candidate that never reaches a level scores the limit
    // however near it came, so candidates this close on crossings are told apart by how
    // well they followed the held-out values.
    let values: Vec<f64> = close.iter().map(|&i| records[i].1.score(false)).collect();
    let best_value = values
        .iter()
        .copied()
        .filter(|s| s.is_finite())
        .fold(f64::INFINITY, f64::min);
    close
        .iter()
        .zip(&values)
        .find(|&(_, &v)| v <= best_value * SIMPLER_WITHIN)
        .map_or(0, |(&i, _)| i)
}

#[cfg(test)]
mod tests;
