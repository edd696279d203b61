//! The `vigil.v1.Forecast` gRPC service behind `vigil forecast`: a thin adapter that reads
//! each series' history through the PromQL engine and calls [`vigil_forecast::forecast`].
//!
//! History: for a plain selector (`disk_used{host="db-1"}`, no `offset` or `@`) the raw
//! samples of `EXPR[lookback]` at `at`; for any other expression, a range query over
//! [at − lookback, at] with a step of lookback / [`RANGE_POINTS`] (at least a second), which
//! puts about two points in each bucket of the models' grid. Either way nothing after `at`
//! is read, so `--at` in the past forecasts as if it were then.
//!
//! Bounds: a forecast takes a query slot shared with the HTTP API and gRPC queries, within
//! the same timeout. `at`, `lookback` and `horizon` must lie within the range queries may
//! use (±2^53 ms). The models spread a series over a grid from its first sample to the
//! horizon, one number per grid step, and their step is no finer than the samples'
//! spacing: a series whose samples are closer together than (history + horizon) /
//! [`MAX_GRID_STEPS`] is thinned to that spacing first, which keeps a forecast's memory
//! to a few MB per series whatever the request.

use crate::error::Error;
use crate::slots::QuerySlots;
use promql_parser::parser::Expr;
use std::borrow::Cow;
use tonic::codec::CompressionEncoding;
use tonic::{Response, Status};
use vigil_forecast::{Direction, ForecastRequest as Request, ModelChoice, Season, forecast};
use vigil_promql::time::QUERY_TIME_LIMIT_MS;
use vigil_promql::{Engine, QueryError, Value};
use vigil_proto::v1::forecast_server::{Forecast, ForecastServer};
use vigil_proto::v1::{
    ForecastDirection, ForecastModel, ForecastRequest, ForecastResponse, ForecastSeason, Label,
    SeriesForecast,
};
use vigil_store::Labels;
use vigil_store::clock::now_ms;

/// Points a range query aims for over the lookback when the expression is not a plain
/// selector: twice the models' grid.
const RANGE_POINTS: i64 = 1_440;

/// Most history points sent back per series, for the chart.
const HISTORY_POINTS: usize = 600;

/// Most grid steps the models may spread one series over (module docs): 8 MB of numbers.
pub const MAX_GRID_STEPS: i64 = 1_000_000;

/// The service as the server mounts it; forecasts run in `slots`, within their timeout.
pub fn server(engine: Engine, slots: QuerySlots) -> ForecastServer<ForecastService> {
    let engine = engine.with_timeout(slots.timeout());
    ForecastServer::new(ForecastService { engine, slots })
        .max_encoding_message_size(64 << 20)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
}

/// The Forecast service.
pub struct ForecastService {
    engine: Engine,
    /// Shared with the HTTP API and the Query service.
    slots: QuerySlots,
}

#[tonic::async_trait]
impl Forecast for ForecastService {
    async fn forecast(
        &self,
        request: tonic::Request<ForecastRequest>,
    ) -> Result<Response<ForecastResponse>, Status> {
        let request = request.into_inner();
        check(&request)?;
        vigil_promql::parse::check(&request.expr, &self.engine.options().parse)
            .map_err(Error::from)?;
        let engine = self.engine.clone();
        let response = self
            .slots
            .run(self.slots.timeout(), move || run(&engine, &request))
            .await
            .map_err(Error::from)??;
        Ok(Response::new(response))
    }
}

/// Refuses requests that cannot mean anything or reach outside the time range queries may
/// use, naming the field.
fn check(r: &ForecastRequest) -> Result<(), Status> {
    let out_of_range = |field: &str, ms: i64| {
        Status::invalid_argument(format!(
            "{field} {ms} is out of range: times and durations must be within \
             ±{QUERY_TIME_LIMIT_MS} ms (about 285,000 years)"
        ))
    };
    if r.lookback_ms <= 0 {
        return Err(Status::invalid_argument(format!(
            "lookback must be positive, not {} ms",
            r.lookback_ms
        )));
    }
    if r.horizon_ms <= 0 {
        return Err(Status::invalid_argument(format!(
            "horizon must be positive, not {} ms",
            r.horizon_ms
        )));
    }
    for (field, ms) in [
        ("at_ms", r.at_ms),
        ("lookback_ms", r.lookback_ms),
        ("horizon_ms", r.horizon_ms),
    ] {
        if ms.unsigned_abs() > QUERY_TIME_LIMIT_MS.unsigned_abs() {
            return Err(out_of_range(field, ms));
        }
    }
    // Both within the limit, so neither can overflow; the history's start must be within
    // it too (`at_ms` 0 means now, which is).
    if r.at_ms - r.lookback_ms < -QUERY_TIME_LIMIT_MS {
        return Err(out_of_range("at_ms - lookback_ms", r.at_ms - r.lookback_ms));
    }
    if !r.threshold.is_finite() {
        return Err(Status::invalid_argument(format!(
            "threshold must be a finite number, not {}",
            r.threshold
        )));
    }
    Ok(())
}

/// Reads the history and forecasts every series.
fn run(engine: &Engine, r: &ForecastRequest) -> Result<ForecastResponse, Error> {
    let at = if r.at_ms == 0 { now_ms() } else { r.at_ms };
    let (mut series, step_ms) = history(engine, &r.expr, at, r.lookback_ms)?;
    series.sort_by(|a, b| a.0.pairs().cmp(b.0.pairs()));
    let direction = match r.direction() {
        ForecastDirection::Below => Direction::Below,
        ForecastDirection::Above | ForecastDirection::Unspecified => Direction::Above,
    };
    let model = model_choice(r.model());
    let season = match r.season() {
        ForecastSeason::Daily => Some(Season::Daily),
        ForecastSeason::Weekly => Some(Season::Weekly),
        ForecastSeason::Unspecified => None,
    };
    let forecasts = series
        .into_iter()
        .map(|(labels, points)| {
            let thinned = thin(&points, at, r.horizon_ms);
            let request = Request {
                samples: &thinned,
                now_ms: at,
                horizon_ms: r.horizon_ms,
                threshold: r.threshold,
                direction,
                model,
                season,
            };
            let mut wire = SeriesForecast {
                labels: labels
                    .pairs()
                    .iter()
                    .map(|(name, value)| Label {
                        name: name.clone(),
                        value: value.clone(),
                    })
                    .collect(),
                value_now: points.last().map_or(f64::NAN, |&(_, v)| v),
                ..SeriesForecast::default()
            };
            let stride = points.len().div_ceil(HISTORY_POINTS).max(1);
            for &(t, v) in points.iter().step_by(stride) {
                wire.history_timestamps_ms.push(t);
                wire.history_values.push(v);
            }
            match forecast(&request) {
                Ok(f) => {
                    wire.set_model(wire_model(f.model));
                    wire.eta_ms = f.eta_ms;
                    wire.eta_lower_ms = f.eta_lower_ms;
                    wire.eta_upper_ms = f.eta_upper_ms;
                    wire.value_at_horizon = f.value_at_horizon;
                    for (t, v, lower, upper) in f.path {
                        wire.path_timestamps_ms.push(t);
                        wire.path_values.push(v);
                        wire.path_lower.push(lower);
                        wire.path_upper.push(upper);
                    }
                }
                Err(e) => wire.error = e.to_string(),
            }
            wire
        })
        .collect();
    Ok(ForecastResponse {
        series: forecasts,
        step_ms,
    })
}

/// Each series' points up to `at`, and the step they were evaluated at (0: raw samples).
type History = (Vec<(Labels, Vec<(i64, f64)>)>, i64);

/// The history of `expr` over the lookback, as the module docs describe.
fn history(engine: &Engine, expr: &str, at: i64, lookback_ms: i64) -> Result<History, Error> {
    let expr = expr.trim();
    let plain = matches!(
        engine.parse(expr)?,
        Expr::VectorSelector(ref vs) if vs.offset.is_none() && vs.at.is_none()
    );
    let (value, step_ms) = if plain {
        (
            engine.instant(&format!("{expr}[{}]", range_text(lookback_ms)), at)?,
            0,
        )
    } else {
        let step = (lookback_ms / RANGE_POINTS).max(1_000) / 1_000 * 1_000;
        (engine.range(expr, at - lookback_ms, at, step)?, step)
    };
    match value {
        Value::Matrix(series) => Ok((
            series.into_iter().map(|s| (s.labels, s.points)).collect(),
            step_ms,
        )),
        _ => Err(Error::Query(QueryError::BadArgument(format!(
            "cannot forecast {expr:?}: it does not evaluate to series; forecast an \
             expression that returns an instant vector"
        )))),
    }
}

/// A lookback as a PromQL range: `60d`, `1y2w`, `1h30m5s250ms`. promql-parser reads each
/// unit's count as a 32-bit number, so `5184000000ms` (60 days) would not do.
pub(crate) fn range_text(lookback_ms: i64) -> String {
    let ms = u64::try_from(lookback_ms).unwrap_or(0);
    promql_parser::util::display_duration(&std::time::Duration::from_millis(ms))
}

/// `points` (oldest first) with no two kept samples closer than (`at` + `horizon` − the
/// first sample) / [`MAX_GRID_STEPS`], so the models' grid has at most that many steps;
/// unchanged when they are already that far apart.
fn thin(points: &[(i64, f64)], at: i64, horizon_ms: i64) -> Cow<'_, [(i64, f64)]> {
    let Some(&(first, _)) = points.first() else {
        return Cow::Borrowed(points);
    };
    // i128: `at + horizon - first` is within ±3·2^53 after `check`, but cheap to be sure.
    let span = i128::from(at) + i128::from(horizon_ms) - i128::from(first);
    let spacing = i64::try_from(span / i128::from(MAX_GRID_STEPS) + 1).unwrap_or(i64::MAX);
    if points.windows(2).all(|w| w[1].0 - w[0].0 >= spacing) {
        return Cow::Borrowed(points);
    }
    let mut kept: Vec<(i64, f64)> = Vec::with_capacity(points.len().min(MAX_GRID_STEPS as usize));
    // Non-finite values are left out: the models skip them anyway.
    for &(t, v) in points.iter().filter(|(_, v)| v.is_finite()) {
        if kept.last().is_none_or(|&(last, _)| t - last >= spacing) {
            kept.push((t, v));
        }
    }
    Cow::Owned(kept)
}

/// The domain model of a wire model (unspecified is `auto`).
fn model_choice(model: ForecastModel) -> ModelChoice {
    match model {
        ForecastModel::Linear => ModelChoice::Linear,
        ForecastModel::TheilSen => ModelChoice::TheilSen,
        ForecastModel::Holt => ModelChoice::Holt,
        ForecastModel::HoltWinters => ModelChoice::HoltWinters,
        ForecastModel::Auto | ForecastModel::Unspecified => ModelChoice::Auto,
    }
}

/// The wire model of a domain model.
pub fn wire_model(model: ModelChoice) -> ForecastModel {
    match model {
        ModelChoice::Linear => ForecastModel::Linear,
        ModelChoice::TheilSen => ForecastModel::TheilSen,
        ModelChoice::Holt => ForecastModel::Holt,
        ModelChoice::HoltWinters => ForecastModel::HoltWinters,
        ModelChoice::Auto => ForecastModel::Auto,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(lookback_ms: i64, horizon_ms: i64, at_ms: i64) -> ForecastRequest {
        ForecastRequest {
            expr: "up".into(),
            lookback_ms,
            horizon_ms,
            at_ms,
            ..ForecastRequest::default()
        }
    }

    #[test]
    fn extreme_fields_are_refused_by_name() {
        let day = 86_400_000;
        assert!(check(&request(7 * day, 14 * day, 0)).is_ok());
        for (r, field) in [
            (request(day, i64::MAX, 0), "horizon_ms"),
            (request(i64::MAX, day, 0), "lookback_ms"),
            (request(day, day, i64::MIN), "at_ms"),
            (request(day, day, i64::MAX), "at_ms"),
            (
                request(QUERY_TIME_LIMIT_MS, day, -day),
                "at_ms - lookback_ms",
            ),
        ] {
            let status = check(&r).unwrap_err();
            assert_eq!(status.code(), tonic::Code::InvalidArgument);
            assert!(status.message().starts_with(field), "{}", status.message());
        }
    }

    #[test]
    fn lookbacks_of_any_length_are_written_as_ranges_the_parser_reads() {
        for ms in [
            1,
            250,
            90_000,
            5_184_000_000,
            400 * 86_400_000,
            QUERY_TIME_LIMIT_MS,
        ] {
            let query = format!("x[{}]", range_text(ms));
            match promql_parser::parser::parse(&query) {
                Ok(Expr::MatrixSelector(m)) => {
                    assert_eq!(
                        m.range.as_millis(),
                        u128::from(ms.unsigned_abs()),
                        "{query}"
                    );
                }
                other => panic!("{query}: {other:?}"),
            }
        }
    }

    #[test]
    fn dense_history_is_thinned_to_bound_the_models_grid() {
        // One sample a millisecond for a second, forecast a year ahead: the models would
        // spread it over 3e10 steps.
        let points: Vec<(i64, f64)> = (0..1_000).map(|t| (t, t as f64)).collect();
        let year = 365 * 86_400_000;
        let thinned = thin(&points, 999, year);
        let spacing = (999 + year) / MAX_GRID_STEPS;
        assert!(thinned.len() < 3, "{}", thinned.len());
        assert!(thinned.windows(2).all(|w| w[1].0 - w[0].0 > spacing));
        // Ordinary history is left alone: a sample every 10 s for 7 days, 14 days ahead.
        let points: Vec<(i64, f64)> = (0..60_480).map(|i| (i * 10_000, 1.0)).collect();
        let at = 60_479 * 10_000;
        assert!(matches!(
            thin(&points, at, 14 * 86_400_000),
            Cow::Borrowed(_)
        ));
        // Non-finite values go when thinning, as the models skip them anyway.
        let points = [(0, f64::NAN), (1, 1.0), (2, 2.0), (year, 3.0)];
        assert_eq!(thin(&points, year, year).as_ref(), &[(1, 1.0), (year, 3.0)]);
    }
}
