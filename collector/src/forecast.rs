//! Forecasts: fit a model to a series' recent history and predict when it crosses a
//! threshold, with a confidence band. Used by forecast rules and `vigil forecast`.
//!
//! Placeholder API: the models are being written.

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
    let _ = request;
    Err(ForecastError::BadRequest("forecasts are being written".into()))
}
