//! Forecasts: fit a model to a series' recent history and predict when it crosses a
//! threshold, with a confidence band. Used by the collector's forecast rules and its
//! Forecast service (`vigil forecast`); pure computation, no store, no clock.
//!
//! # Layout
//! - `grid`: the history, cleaned and resampled onto a regular grid the models share.
//! - `linear`, `theil_sen`, `holt`, `holt_winters`: one model each: fit, then predict a
//!   value and a 95 % band at any later time.
//! - `quadratic`: a quadratic trend, for growth that accelerates (used by `auto`).
//! - `bursts`: short bursts taken out of the grid before `auto` fits anything.
//! - `cycle`: a line with a daily cycle, for a day or two of history, or with a weekly one
//!   (used by `auto`).
//! - `repeat`: the last day repeated with its drift, for a day or two of a daily cycle that
//!   is no sine (used by `auto`).
//! - `purge`: a line since a purge, the purge repeating on the calendar (used by `auto`).
//! - `weekdays`: a line on a clock that stops at weekends (used by `auto`).
//! - `changepoint`: where the current regime began (the last step or change of slope).
//! - `auto`: picks a model per series by rolling-origin backtest, never quieter than a
//!   straight line without evidence; `band`: its ETA band, calibrated on that backtest.
//! - `crossing`: where the predicted path and its band cross the threshold; the chart path.
//! - `stats`: medians, quantiles and Student's t.
//!
//! # How a forecast is made
//! Samples after `now` and non-finite values are dropped. The rest are averaged into
//! buckets of a regular grid ending at `now` (see `grid`), at most about 720 points, with
//! a step that divides a day so that daily and weekly seasons fall on whole steps; empty
//! buckets are interpolated, and weigh nothing in the fits and in `auto`'s backtest (a
//! point weighs by its samples). The chosen model is fitted on the grid and predicts the
//! mean and a 95 % band from `now` to `now + horizon`; `eta` is the first time the mean path
//! reaches the threshold in `direction`, `eta_lower` the first time the near edge of the
//! band does (the upper edge for `above`), and `eta_upper` the first time the far edge
//! does. When the series is already past the threshold — the model's value at `now` is, or
//! the last three samples all are (one noisy sample is not enough) — all three are `now`.
//! With `auto` the band is not the model's textbook interval but the path sped up and
//! slowed down by the crossing-time errors the model made in its own backtest, more so
//! past the longest lead the backtest saw (see `band`), and widened to hold the lines the
//! window's slope uncertainty allows, so `eta_lower` and `eta_upper` hold the true
//! crossing about 95 % of the time;
//! `eta_upper` is absent when that band reaches past the horizon.
//! A forecast takes well under a millisecond per series with one model, and 2 to 5 with
//! `auto` (every candidate fitted at six origins), on 2,000 to 8,000 samples.

mod auto;
mod band;
mod bursts;
mod changepoint;
mod crossing;
mod cycle;
mod grid;
mod holt;
mod holt_winters;
mod linear;
mod purge;
mod quadratic;
mod repeat;
mod saturating;
mod stats;
mod theil_sen;
mod weekdays;

use serde::Serialize;

/// Which way a crossing counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The series rises to or past the threshold.
    Above,
    /// The series falls to or below the threshold.
    Below,
}

/// The seasonal period of Holt–Winters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Season {
    /// One day.
    Daily,
    /// One week.
    Weekly,
}

/// A model, or `Auto` to pick one per series by backtest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelChoice {
    /// Ordinary least squares line with a prediction interval.
    Linear,
    /// Theil–Sen robust line.
    TheilSen,
    /// Holt's linear trend with damping.
    Holt,
    /// Holt–Winters additive with a daily or weekly season.
    HoltWinters,
    /// Picks per series by rolling-origin backtest error on the lookback window.
    Auto,
}

/// What to forecast.
#[derive(Debug, Clone)]
pub struct ForecastRequest<'a> {
    /// History, oldest first (unix milliseconds, value); only data before `now_ms`.
    pub samples: &'a [(i64, f64)],
    /// The time the forecast is made at.
    pub now_ms: i64,
    /// How far ahead to look.
    pub horizon_ms: i64,
    /// The level.
    pub threshold: f64,
    /// Which way a crossing counts.
    pub direction: Direction,
    /// Which model.
    pub model: ModelChoice,
    /// Season for Holt–Winters.
    pub season: Option<Season>,
}

/// A forecast of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// The model used (never `Auto`).
    pub model: ModelChoice,
    /// Predicted crossing time, if within the horizon (unix milliseconds).
    pub eta_ms: Option<i64>,
    /// Earliest crossing time within the confidence band, if within the horizon.
    pub eta_lower_ms: Option<i64>,
    /// Latest crossing time within the confidence band, if within the horizon.
    pub eta_upper_ms: Option<i64>,
    /// The predicted value at `now + horizon`.
    pub value_at_horizon: f64,
    /// Predicted path for charts: (time, value, lower, upper), from now to the horizon.
    pub path: Vec<(i64, f64, f64, f64)>,
    /// What was fitted, in words: the model's name, and for `auto` which variant of it
    /// (`linear since a change 1.8 d before the end of the history`, `linear: a quadratic
    /// trend`, `linear: a level, no trend`, `holt_winters daily`, …).
    pub detail: String,
}

/// Why a forecast could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastError {
    /// Too little history for the model.
    #[error("not enough history: {0}")]
    NotEnoughData(String),
    /// The request does not make sense (horizon ≤ 0, NaN threshold, …).
    #[error("{0}")]
    BadRequest(String),
}

/// Fits the model and predicts the crossing.
pub fn forecast(request: &ForecastRequest<'_>) -> Result<Forecast, ForecastError> {
    check(request)?;
    let history = grid::History::new(request.samples, request.now_ms);
    if history.last_value().is_none() {
        return Err(ForecastError::NotEnoughData(
            "no finite samples before the forecast time".into(),
        ));
    };
    let grid = history.grid()?;
    let until_ms = request.now_ms.saturating_add(request.horizon_ms);
    let (fit, detail) = match request.model {
        ModelChoice::Auto => auto::choose(&grid, request, until_ms)?,
        choice => {
            let fit = Fit::new(choice, &grid, until_ms, request.season)?;
            (fit, choice.name().to_owned())
        }
    };
    let mut forecast = crossing::forecast(&fit, request, history.recent_values());
    forecast.detail = detail;
    Ok(forecast)
}

/// The request's own mistakes, before any data is looked at.
fn check(request: &ForecastRequest<'_>) -> Result<(), ForecastError> {
    if request.horizon_ms <= 0 {
        return Err(ForecastError::BadRequest(format!(
            "horizon must be positive, not {} ms",
            request.horizon_ms
        )));
    }
    if !request.threshold.is_finite() {
        return Err(ForecastError::BadRequest(format!(
            "threshold must be a finite number, not {}",
            request.threshold
        )));
    }
    Ok(())
}

/// A predicted value and its 95 % prediction band at one time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Prediction {
    /// The expected value.
    pub mean: f64,
    /// Lower edge of the band.
    pub lower: f64,
    /// Upper edge of the band.
    pub upper: f64,
}

/// A model fitted to a grid; the one place that dispatches on the model.
#[derive(Debug, Clone)]
pub(crate) enum Fit {
    /// Least squares (a line, or a level with no slope).
    Linear(linear::Line),
    /// A quadratic trend (reported as [`ModelChoice::Linear`]: least squares).
    Quadratic(quadratic::Quadratic),
    /// The last day repeated with a drift (reported as [`ModelChoice::Linear`]).
    Repeat(repeat::RepeatedDay),
    /// A line with a daily cycle (reported as [`ModelChoice::Linear`]: least squares).
    Cycle(cycle::Cycle),
    /// A line on the weekday clock (reported as [`ModelChoice::Linear`]: least squares).
    Weekdays(weekdays::WeekdayLine),
    /// A line since a purge, the purge recurring (reported as [`ModelChoice::Linear`]).
    Purge(purge::RecurringPurge),
    /// A trend that slows as it fills (reported as [`ModelChoice::Linear`]: least squares).
    Saturating(saturating::Saturating),
    /// Another fit with its band replaced by one calibrated on backtest errors.
    Calibrated(Box<band::Calibrated>),
    /// Theil–Sen.
    TheilSen(theil_sen::RobustLine),
    /// Damped Holt.
    Holt(holt::Holt),
    /// Additive Holt–Winters.
    HoltWinters(holt_winters::HoltWinters),
}

impl Fit {
    /// Fits `choice` (not `Auto`) to `grid`, ready to predict up to `until_ms`.
    /// Holt–Winters without a season is daily.
    fn new(
        choice: ModelChoice,
        grid: &grid::Grid,
        until_ms: i64,
        season: Option<Season>,
    ) -> Result<Self, ForecastError> {
        Ok(match choice {
            ModelChoice::Linear => Fit::Linear(linear::Line::fit(grid)?),
            ModelChoice::TheilSen => Fit::TheilSen(theil_sen::RobustLine::fit(grid)?),
            ModelChoice::Holt => Fit::Holt(holt::Holt::fit(grid, until_ms)?),
            ModelChoice::HoltWinters => Fit::HoltWinters(holt_winters::HoltWinters::fit(
                grid,
                season.unwrap_or(Season::Daily),
                until_ms,
            )?),
            ModelChoice::Auto => {
                return Err(ForecastError::BadRequest(
                    "auto is not a model; auto::choose picks one".into(),
                ));
            }
        })
    }

    /// Which model this is.
    fn choice(&self) -> ModelChoice {
        match self {
            Fit::Linear(_)
            | Fit::Quadratic(_)
            | Fit::Repeat(_)
            | Fit::Cycle(_)
            | Fit::Weekdays(_)
            | Fit::Purge(_)
            | Fit::Saturating(_) => ModelChoice::Linear,
            Fit::Calibrated(c) => c.inner().choice(),
            Fit::TheilSen(_) => ModelChoice::TheilSen,
            Fit::Holt(_) => ModelChoice::Holt,
            Fit::HoltWinters(_) => ModelChoice::HoltWinters,
        }
    }

    /// The prediction at `t_ms` (at or after the grid's last point).
    fn predict(&self, t_ms: i64) -> Prediction {
        match self {
            Fit::Linear(m) => m.predict(t_ms),
            Fit::Quadratic(m) => m.predict(t_ms),
            Fit::Repeat(m) => m.predict(t_ms),
            Fit::Cycle(m) => m.predict(t_ms),
            Fit::Weekdays(m) => m.predict(t_ms),
            Fit::Purge(m) => m.predict(t_ms),
            Fit::Saturating(m) => m.predict(t_ms),
            Fit::Calibrated(m) => m.predict(t_ms),
            Fit::TheilSen(m) => m.predict(t_ms),
            Fit::Holt(m) => m.predict(t_ms),
            Fit::HoltWinters(m) => m.predict(t_ms),
        }
    }
}

impl ModelChoice {
    /// The name used in rule files, on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            ModelChoice::Linear => "linear",
            ModelChoice::TheilSen => "theil_sen",
            ModelChoice::Holt => "holt",
            ModelChoice::HoltWinters => "holt_winters",
            ModelChoice::Auto => "auto",
        }
    }
}

impl Season {
    /// The season's length in milliseconds.
    pub fn ms(self) -> i64 {
        match self {
            Season::Daily => 86_400_000,
            Season::Weekly => 7 * 86_400_000,
        }
    }
}

#[cfg(test)]
mod tests;
