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
//!   taken to be weekly), so that the line since it does not cross past the next purge,
//!   unless it took more than a period's growth (a one-off clean-up); offered only when
//!   the stretch before the break is one regime itself (no break of its own, its last
//!   few points aside), or the window is growth that slows (a curve breaks everywhere):
//!   a drifting wander breaks its line everywhere too, and the line since its last turn
//!   extrapolates a day's wander over weeks (Holt, still offered, follows a slope that
//!   keeps changing);
//! - *quadratic*: a quadratic trend, offered when it bends towards the threshold
//!   (accelerating growth); at an origin where it bends away it is the line. It is fitted
//!   over the whole window when a parabola explains the window as well as two lines
//!   meeting at the current regime's start and still fits that regime as well as the
//!   regime's own line; else since the regime began (a step or a slope that rose and then
//!   held is not a curve);
//! - *exponential*: growth whose slope grows by e every T (see `saturating`, a time
//!   constant of half the window or more), over the quadratic's span, offered where the
//!   quadratic is and the curve explains that span better than the parabola does: a
//!   parabola follows a week of exponential growth and then runs below it, missing the
//!   crossing by days. From two weeks of history also over the whole window where the
//!   quadratic's span is only the last regime, when the curve explains the window as
//!   well as two lines meeting at its break (weeks of quickening break their line again
//!   and again); not under two weeks, where a slope that rose days ago and held is
//!   explained as well by the curve (see `shape::exponential`);
//! - *trend that slows*: growth whose slope decays exponentially (see `saturating`),
//!   offered where a parabola over the window bends away from the threshold as clearly
//!   as the quadratic must bend towards it, the growth goes on now, and it is not office
//!   hours; the band holds it whenever it was offered (growth that has slowed may go on
//!   slowing, whichever model won);
//! - *weekly cycle*: a line with a weekly sine (see `cycle`), and a daily one beside it
//!   where the day shows a cycle, offered from five days to two weeks of growth under a
//!   weekly wave (see `weekly_growth`), whose rising half a line over one week takes for
//!   the trend; at an origin too short for it, the line;
//! - *mean day*: the window's whole days averaged into one, each moved to the last by
//!   the days of drift between them, repeating with that drift (see `repeat`), offered
//!   where a daily cycle shows and the mean day explains the window clearly better than
//!   a line with a daily sine: stairs of a nightly dump, a rotation's sawtooth, whose
//!   crossings come at a jump or a peak that a sine rounds off and a line averages away;
//! - Theil–Sen; Holt since the current regime began (a jump would otherwise be taken
//!   for trend), undamped when the recent data still trends, and only where the slope
//!   changes (a break, or a quadratic offered): on a straight trend its smoothed slope is
//!   a noisier estimate of the line's and wins backtests by chance; Holt–Winters daily where a
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
//! When the current regime began with a purge (the lines either side part away from the
//! threshold, and the points beside the break drop: two lines also part at a bend),
//! there is no Holt (since the purge, it would take the growth between purges for the
//! trend) and no trend that slows, and from two weeks of history no regime line either:
//! a cleanup that happened once may happen again, and the growth since it is not the
//! trend — unless it took more than a week's growth, which no weekly purge does. Under
//! two weeks a weekly purge is seen once at most, and the regime line since it repeats
//! it weekly.
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
//! steep line it was filled with. An origin whose training part's observed points span
//! less than the shortest regime (half a day on a day's history) is not judged at all:
//! on a day that is mostly a gap, a line through its first hour is no test of the line
//! through the day.
//!
//! # No alarm without a trend, and never quieter than a line without a reason
//! The backtest also records, at each origin, whether a candidate promised a clear rise
//! towards the threshold (over twice the noise) by the end of the held-out part, and
//! whether the data then rose at least a quarter as far (growth by office hours rises by
//! day and rests at night and at weekends). Its rises were *false alarms* when, weighed
//! by the held-out lengths, they were missed more than kept — a miss weighing only by the
//! weekdays it watched (see `weekdays`: a weekend of rest after growth by office hours is
//! no evidence against the growth, as a quiet night is not) — counting only the origins
//! that see the current regime when the window has a break (not under two weeks with a
//! daily cycle, where nights and weekends read as breaks).
//! - When the winner crosses within the horizon but its rises were false alarms, the
//!   forecast is the best-scoring candidate whose rises were not, if it scored better
//!   than the level, else the level.
//! - When the winner does not cross but the line over the whole window does, and the
//!   line's rises were not false alarms, the forecast is the best-scoring of the
//!   least-squares trends (line, regime line, quadratic) that does cross. Nor were they
//!   kept, when the window shows no daily or weekly wave and the data made less than 40 %
//!   of them (as above, from the origins that see the current regime): growth that has
//!   slowed to a third of the line's pace still makes a quarter of its promise, and the
//!   line would warn of a crossing weeks early. A wave's falling half falls short as
//!   much without any slowing, and a day of history has too few origins to tell.
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
//!
//! # Layout
//! - `shape`: what the window looks like (where its regime began, a daily or weekly cycle,
//!   a purge, growth by office hours), which decides the candidates offered;
//! - `candidates`: the candidates, fitted and described, and which are offered;
//! - `backtest`: the rolling-origin backtest and its record of each candidate;
//! - `choice`: the rules that pick the winner, replace a false alarm and widen the band;
//! - here: the short window's daily cycle, and [`choose`], which puts them together.

mod backtest;
mod candidates;
mod choice;
mod shape;

use super::band::Calibrated;
use super::bursts;
use super::cycle::Cycle;
use super::grid::Grid;
use super::linear::Line;
use super::repeat::RepeatedDay;
use super::saturating::Saturating;
use super::{Direction, Fit, ForecastError, ForecastRequest, ModelChoice, Season};
use backtest::Record;
use candidates::{Candidate, candidates};
use choice::{pick, plausible, recent_origins, refuted_line, unrefuted};
use shape::{CYCLE_SLOPE_T, is_short};

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
        let line_refuted = records
            .iter()
            .find(|(c, _)| *c == Candidate::Line)
            .is_none_or(|(_, r)| refuted_line(r, grid, recent));
        if crosses(&line) && !line_refuted {
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
    // Growth that has been slowing may go on slowing, whichever model won: the band holds
    // the saturating curves too (see `saturating`).
    if records.iter().any(|(c, _)| *c == Candidate::Saturating) {
        envelope.extend(Candidate::Saturating.fit(grid, until_ms, direction));
        // The slowing may have begun days ago, after weeks of straight growth: one curve
        // over the whole window is then too slow to bend.
        envelope.extend(Saturating::fit_bent(grid).ok().map(Fit::Saturating));
    }
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

#[cfg(test)]
mod tests;
