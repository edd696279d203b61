//! What `auto` reads from the shape of the window before it backtests anything: where the
//! current regime began, and whether the window is short, cyclic, a level or growth under
//! a weekly wave, purged, growing by office hours or patterned by the week. These decide
//! which candidates are offered (see `candidates`).

use super::backtest;
use crate::Direction;
use crate::changepoint;
use crate::cycle::Cycle;
use crate::grid::DAY_MS;
use crate::grid::Grid;
use crate::quadratic::{self, Quadratic};
use crate::repeat::RepeatedDay;
use crate::saturating::Saturating;
use crate::stats::{bic_gain, least_squares, line_sse};
use crate::weekdays::WeekdayLine;

/// Where the current regime of `grid` began (see `changepoint`).
pub(super) fn regime_start(grid: &Grid) -> usize {
    changepoint::regime_start(&grid.values, &grid.weights, min_regime(grid))
}

/// Whether the stretch before the current regime is one regime itself (no break of its
/// own): growth that changed once, and not a wander that breaks everywhere. Its last
/// [`PURGE_BESIDE`] points are left out: the break may be placed a few points past a
/// drop, which would then read as a break of its own.
pub(super) fn one_change(grid: &Grid) -> bool {
    let start = regime_start(grid);
    let end = start.saturating_sub(PURGE_BESIDE);
    start == 0
        || changepoint::regime_start(&grid.values[..end], &grid.weights[..end], min_regime(grid))
            == 0
}

/// Whether the window's mean day, repeating with its drift (see `repeat`), explains the
/// window clearly better than a line with a daily sine does: a shape within the day that
/// a sine does not follow (a nightly dump's stairs, a rotation's sawtooth). By the
/// Bayesian information criterion, the profile's points counting as parameters. `sine`
/// is the line with a daily sine through `grid`.
pub(super) fn mean_day_shape(grid: &Grid, sine: &Cycle) -> bool {
    let Ok(day) = RepeatedDay::mean_of_days(grid) else {
        return false;
    };
    let Some(period) = grid.season_steps(DAY_MS) else {
        return false;
    };
    let sse: f64 = (0..grid.len())
        .filter(|&k| grid.weights[k] > 0.0)
        .map(|k| (grid.values[k] - day.predict(grid.time(k)).mean).powi(2))
        .sum();
    let n = grid.len() as f64;
    bic_gain(sine.sse(), sse, n) > (period + 1).saturating_sub(CYCLE_PARAMETERS) as f64 * n.ln()
}

/// Parameters of a line with a daily sine.
const CYCLE_PARAMETERS: usize = 4;

/// Fewest points of a regime: a dozen, 2 % of the window and half a day. A line through
/// less would be extrapolated over a horizon of days or weeks from a few hours: one
/// tooth of a daily sawtooth, half a daily wave.
pub(super) fn min_regime(grid: &Grid) -> usize {
    let half_day = usize::try_from(43_200_000 / grid.step_ms.max(1)).unwrap_or(usize::MAX);
    changepoint::MIN_POINTS.max(grid.len() / 50).max(half_day)
}

/// Where a quadratic is fitted: the whole window when a parabola explains it as well as
/// two lines meeting at the current regime's start do (growth that accelerates smoothly
/// shows breaks of slope, which are its curve), else since the regime began (a step or a
/// sharp turn fitted with a parabola is a curve that is not there). By the Bayesian
/// information criterion: 3 parameters against 5 (two lines and the break).
pub(super) fn quadratic_span(grid: &Grid) -> Grid {
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

/// Whether exponential growth (see `saturating`) is worth offering: see
/// [`exponential`].
pub(super) fn quickens(grid: &Grid, direction: Direction) -> bool {
    exponential(grid, direction).is_some()
}

/// Exponential growth (see `saturating`) fitted where it is offered, `None` where it is
/// not. Over the quadratic's span (see [`quadratic_span`]) when the parabola there bends
/// clearly towards the threshold and the quickening curve explains the span better than
/// it does (both have three parameters). From [`EXPONENTIAL_WHOLE_DAYS`] of history, also
/// over the whole window where the quadratic's span is only the regime since a break,
/// when the curve explains the window better than a parabola and at least as well as two
/// lines meeting at the break (3 parameters against 5): weeks of smooth quickening show
/// breaks of slope, which are its curve, and the last regime alone is too short to show
/// it. Not under that: over a week, a slope that rose a few days ago and has held since
/// is explained about as well by the curve, which then raises false alarms weeks early;
/// over weeks the straight stretch before the rise tells them apart.
pub(super) fn exponential(grid: &Grid, direction: Direction) -> Option<Saturating> {
    let better = |span: &Grid| {
        let (Ok(q), Ok(e)) = (Quadratic::fit(span), Saturating::fit_growing(span)) else {
            return None;
        };
        (bends_towards(&q, direction) && e.bic() < q.bic() && !e.is_straight()).then_some(e)
    };
    let span = quadratic_span(grid);
    let start = regime_start(grid);
    if span.len() < grid.len()
        && !is_under(grid, EXPONENTIAL_WHOLE_DAYS)
        && let Some(e) = better(grid)
    {
        let broken = line_sse(&grid.values[..start]) + line_sse(&grid.values[start..]);
        if e.bic() <= quadratic::bic(broken, grid.len(), 5) {
            return Some(e);
        }
    }
    better(&span)
}

/// Fewest days of history over which [`exponential`] looks past the last regime.
const EXPONENTIAL_WHOLE_DAYS: i64 = 14;

/// A quadratic's curvature must be this many standard errors from zero to be offered.
const CURVATURE_T: f64 = 4.0;

/// Whether the quadratic bends towards the threshold, clearly.
pub(super) fn bends_towards(q: &Quadratic, direction: Direction) -> bool {
    match direction {
        Direction::Above => q.curvature_t() > CURVATURE_T,
        Direction::Below => q.curvature_t() < -CURVATURE_T,
    }
}

/// Whether growth towards the threshold is slowing, clearly: a parabola over the window
/// bends away from it as clearly as [`bends_towards`] asks, the saturating curve is not
/// a straight line, and it still grows towards the threshold now.
pub(super) fn slows(grid: &Grid, direction: Direction) -> bool {
    let away = match direction {
        Direction::Above => Direction::Below,
        Direction::Below => Direction::Above,
    };
    Quadratic::fit(grid).is_ok_and(|q| bends_towards(&q, away))
        && Saturating::fit(grid)
            .is_ok_and(|s| !s.is_straight() && sign(direction) * s.slope() > 0.0)
}

/// Under this many days of history `auto` looks for no curvature, regime, smoothing or
/// season: less than two periods of a daily cycle is one rising and one falling half, and
/// any of those models would take a half for a trend.
const SHORT_DAYS: i64 = 2;

/// Whether `grid` spans less than `days`.
pub(super) fn is_under(grid: &Grid, days: i64) -> bool {
    (grid.len() as i64).saturating_mul(grid.step_ms) < days * DAY_MS
}

/// Whether `grid` spans less than [`SHORT_DAYS`].
pub(super) fn is_short(grid: &Grid) -> bool {
    is_under(grid, SHORT_DAYS)
}

/// Under this many days of history, a window with a visible daily cycle gets no regime
/// line, no quadratic and no Holt (which follows the cycle's latest half).
pub(super) const CYCLIC_DAYS: i64 = 14;

/// Width of the bins of the week and of the day that [`weekly_visible`] compares.
const WEEK_BIN_MS: i64 = 6 * 3_600_000;

/// Whether the week shows a pattern of its own, beyond a daily one (quiet weekends, a
/// weekly purge): the residuals about the least-squares line, averaged in 6-hour bins of
/// the week, explain clearly more than in 6-hour bins of the day — by the Bayesian
/// information criterion with the same margin as [`Cycle::visible`], 24 more means for
/// `n·ln(SSE_day/SSE_week)`. Needs two weeks.
pub(super) fn weekly_visible(grid: &Grid) -> bool {
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
    let n_f = n as f64;
    bic_gain(day, week, n_f) > 1.0 * (WEEK_BINS - DAY_BINS) as f64 * n_f.ln()
}

/// Whether the window holds a weekend and grows clearly more like a line on the weekday
/// clock than like one on the wall clock (see `weekdays`).
pub(super) fn weekdays(grid: &Grid) -> bool {
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
pub(super) fn cyclic(grid: &Grid) -> bool {
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
pub(super) fn weekly_wave(grid: &Grid) -> bool {
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
pub(super) fn weekly_growth(grid: &Grid) -> bool {
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
            both.slope_t().abs() >= CYCLE_SLOPE_T
                && bic_gain(daily.sse(), both.sse(), n) > 3.0 * 2.0 * n.ln()
        }
        _ => {
            wave_over_week(grid).is_some_and(|w| w.visible() && w.slope_t().abs() >= CYCLE_SLOPE_T)
        }
    }
}

/// Whether the current regime began with a purge: at the break, the line after it starts
/// more than [`PURGE_NOISE`] times the grid's noise below where the line before it got
/// to (above, for `below`), and the points beside the break drop by as much (two lines
/// also part at a bend where growth slows, with no point dropping). A cleanup that
/// happened once (a weekly purge, a rotation) may well happen again: the growth between
/// purges is not the trend.
pub(super) fn purged(grid: &Grid, direction: Direction) -> bool {
    parted(grid, direction).is_some_and(|start| dropped(grid, direction, start))
}

/// The current regime's start when the lines either side of it part away from the
/// threshold by more than [`PURGE_NOISE`] times the grid's noise: at a purge, and at a
/// bend where growth slows.
fn parted(grid: &Grid, direction: Direction) -> Option<usize> {
    let start = regime_start(grid);
    if start == 0 {
        return None;
    }
    let (a0, b0) = least_squares(&grid.values[..start]);
    let (a1, _) = least_squares(&grid.values[start..]);
    let jump = a1 - (a0 + b0 * start as f64);
    (sign(direction) * jump < -PURGE_NOISE * backtest::noise(grid)).then_some(start)
}

/// Whether the points beside `start` drop away from the threshold, as at a purge and not
/// at a bend. The break may be placed a few points off the drop, so the medians are taken
/// a few points away from it on either side.
fn dropped(grid: &Grid, direction: Direction, start: usize) -> bool {
    let (w, g) = (PURGE_BESIDE, PURGE_BESIDE);
    if start < w + g || grid.len() < start + w + g {
        return true;
    }
    let before = crate::stats::median(&mut grid.values[start - g - w..start - g].to_vec());
    let after = crate::stats::median(&mut grid.values[start + g..start + g + w].to_vec());
    sign(direction) * (after - before) < -PURGE_NOISE * backtest::noise(grid)
}

/// +1 towards a threshold above, −1 below.
fn sign(direction: Direction) -> f64 {
    match direction {
        Direction::Above => 1.0,
        Direction::Below => -1.0,
    }
}

/// Points in each median [`purged`] compares, and their distance from the break.
const PURGE_BESIDE: usize = 6;

/// How many noise deviations a drop must be to count as a purge.
const PURGE_NOISE: f64 = 4.0;

/// Fewest days of history for [`weekly_wave`]: most of a week.
const WEEKLY_WAVE_DAYS: i64 = 5;

/// The slope of a line with a daily cycle must be this many standard errors from zero
/// to be extrapolated.
pub(super) const CYCLE_SLOPE_T: f64 = 2.0;
