//! The `vigil.v1.Forecast` gRPC service behind `vigil forecast`: a thin adapter that reads
//! each series' history through the PromQL engine and calls [`vigil_forecast::forecast`].
//!
//! History: for a plain selector (`disk_used{host="db-1"}`, no `offset` or `@`) the raw
//! samples of `EXPR[lookback]` at `at`; for any other expression, a range query over
//! [at − lookback, at] with a step of lookback / [`RANGE_POINTS`] (at least a second), which
//! puts about two points in each bucket of the models' grid. Either way nothing after `at`
//! is read, so `--at` in the past forecasts as if it were then.

use crate::error::Error;
use promql_parser::parser::Expr;
use tonic::codec::CompressionEncoding;
use tonic::{Response, Status};
use vigil_forecast::{Direction, ForecastRequest as Request, ModelChoice, Season, forecast};
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

/// The service as the server mounts it.
pub fn server(engine: Engine) -> ForecastServer<ForecastService> {
    ForecastServer::new(ForecastService { engine })
        .max_encoding_message_size(64 << 20)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
}

/// The Forecast service.
pub struct ForecastService {
    engine: Engine,
}

#[tonic::async_trait]
impl Forecast for ForecastService {
    async fn forecast(
        &self,
        request: tonic::Request<ForecastRequest>,
    ) -> Result<Response<ForecastResponse>, Status> {
        let request = request.into_inner();
        check(&request)?;
        let engine = self.engine.clone();
        let response = tokio::task::spawn_blocking(move || run(&engine, &request))
            .await
            .map_err(|e| Status::internal(format!("forecast task failed: {e}")))?
            .map_err(Status::from)?;
        Ok(Response::new(response))
    }
}

/// Refuses requests that cannot mean anything, naming the field.
fn check(r: &ForecastRequest) -> Result<(), Status> {
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
            let request = Request {
                samples: &points,
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
        promql_parser::parser::parse(expr),
        Ok(Expr::VectorSelector(ref vs)) if vs.offset.is_none() && vs.at.is_none()
    );
    let (value, step_ms) = if plain {
        (engine.instant(&format!("{expr}[{lookback_ms}ms]"), at)?, 0)
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
