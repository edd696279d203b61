//! The candidates `auto` backtests: each fitted and described, and which of them a window
//! is offered (see `shape` for the checks that decide).

use super::shape::{
    CYCLIC_DAYS, bends_towards, cyclic, exponential, is_short, is_under, mean_day_shape,
    one_change, purged, quadratic_span, quickens, regime_start, slows, weekdays, weekly_growth,
    weekly_visible, weekly_wave,
};
use crate::cycle::Cycle;
use crate::grid::{DAY_MS, Grid};
use crate::holt::Holt;
use crate::holt_winters::HoltWinters;
use crate::linear::Line;
use crate::purge::RecurringPurge;
use crate::quadratic::Quadratic;
use crate::repeat::RepeatedDay;
use crate::saturating::Saturating;
use crate::theil_sen::RobustLine;
use crate::weekdays::WeekdayLine;
use crate::{Direction, Fit, Season};

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
    /// A trend that slows as it fills (see `saturating`).
    Saturating,
    /// A trend whose slope grows exponentially (see `saturating`).
    Exponential,
    /// A line with a weekly cycle, and a daily one where the day shows a cycle (else the
    /// line).
    WeeklyCycle,
    /// The window's mean day repeated with its day-over-day drift (see `repeat`).
    MeanDay,
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
            Candidate::Saturating => Saturating::fit(grid).ok().map(Fit::Saturating),
            Candidate::Exponential => exponential_fit(grid, direction).map(Fit::Saturating),
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
            Candidate::MeanDay => RepeatedDay::mean_of_days(grid).ok().map(Fit::Repeat),
            Candidate::TheilSen => RobustLine::fit(grid).ok().map(Fit::TheilSen),
            Candidate::Holt => Holt::fit(&regime(), until_ms).ok().map(Fit::Holt),
            Candidate::HoltWinters(season) => HoltWinters::fit(grid, season, until_ms)
                .ok()
                .map(Fit::HoltWinters),
        }
    }

    /// In words, for [`Forecast::detail`](crate::Forecast::detail).
    pub(super) fn describe(self, grid: &Grid, direction: Direction) -> String {
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
            Candidate::Saturating => match Saturating::fit(grid) {
                Ok(s) => format!(
                    "linear: a trend that slows, its slope halving every {:.1} d",
                    s.tau_steps() * std::f64::consts::LN_2 * grid.step_ms as f64 / DAY_MS as f64
                ),
                Err(_) => "linear: a trend that slows".into(),
            },
            Candidate::Exponential => match exponential_fit(grid, direction) {
                Some(s) => format!(
                    "linear: an exponential trend, its slope doubling every {:.1} d",
                    s.tau_steps().abs() * std::f64::consts::LN_2 * grid.step_ms as f64
                        / DAY_MS as f64
                ),
                None => "linear: an exponential trend".into(),
            },
            Candidate::WeeklyCycle => "linear with a weekly cycle".into(),
            Candidate::MeanDay => "linear: the mean day repeated, with its drift".into(),
            Candidate::TheilSen => "theil_sen".into(),
            Candidate::Holt => "holt".into(),
            Candidate::HoltWinters(Season::Daily) => "holt_winters daily".into(),
            Candidate::HoltWinters(Season::Weekly) => "holt_winters weekly".into(),
        }
    }
}

/// Exponential growth as offered (see `shape::exponential`); at an origin where it would
/// not be offered, over the quadratic's span.
fn exponential_fit(grid: &Grid, direction: Direction) -> Option<Saturating> {
    exponential(grid, direction).or_else(|| Saturating::fit_growing(&quadratic_span(grid)).ok())
}

/// The candidates worth backtesting on `grid`.
pub(super) fn candidates(
    grid: &Grid,
    season: Option<Season>,
    direction: Direction,
) -> Vec<Candidate> {
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
    // Over two weeks the window shows a weekly purge more than once, and the line since
    // the last one is not the trend, unless the drop was a one-off clean-up.
    let purge = purged(grid, direction);
    let one_off = purge && RecurringPurge::fit(grid, regime_start(grid)).is_ok_and(|p| p.one_off());
    let purged = !is_under(grid, CYCLIC_DAYS) && purge && !one_off;
    if !cyclic && !purged && regime_start(grid) > 0 && (one_change(grid) || slows(grid, direction))
    {
        all.push(Candidate::RegimeLine);
    }
    if !cyclic && Quadratic::fit(&quadratic_span(grid)).is_ok_and(|q| bends_towards(&q, direction))
    {
        all.push(Candidate::Quadratic);
    }
    if !cyclic && quickens(grid, direction) {
        all.push(Candidate::Exponential);
    }
    let office = all.contains(&Candidate::Weekdays);
    if !cyclic && !purge && !office && slows(grid, direction) {
        all.push(Candidate::Saturating);
    }
    if weekly_growth(grid) {
        all.push(Candidate::WeeklyCycle);
    }
    let daily = Cycle::fit(grid).ok().filter(Cycle::visible);
    if daily
        .as_ref()
        .is_some_and(|sine| mean_day_shape(grid, sine))
    {
        all.push(Candidate::MeanDay);
    }
    all.push(Candidate::TheilSen);
    // Holt follows a slope that changes: where the window shows no break and no
    // curvature, its smoothed slope is a noisier estimate of the line's, and wins a
    // backtest only by chance.
    let changing = regime_start(grid) > 0 || all.contains(&Candidate::Quadratic);
    if !cyclic && !purge && changing {
        all.push(Candidate::Holt);
    }
    // A daily season only where the history shows one: on a trend with noise,
    // Holt–Winters fits the noise as a season and wins some backtests by chance.
    match season {
        Some(s) => all.push(Candidate::HoltWinters(s)),
        None => {
            if daily.is_some() {
                all.push(Candidate::HoltWinters(Season::Daily));
            }
            if weekly_visible(grid) {
                all.push(Candidate::HoltWinters(Season::Weekly));
            }
        }
    }
    all
}
