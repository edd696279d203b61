//! Query: the `vigil.v1.Query` gRPC service the CLI uses; a thin adapter over the store,
//! the host registry and the PromQL engine.

use crate::error::Error;
use crate::limits::Limits;
use crate::registry::Registry;
use crate::slots::QuerySlots;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use vigil_promql::{Engine, QueryError, Value};
use vigil_proto::v1::query_server::Query;
use vigil_proto::v1::{
    HostsRequest, HostsResponse, InstantQueryRequest, Label, QueryResult, RangeQueryRequest,
    ResultType, SamplesRequest, SeriesLabels, SeriesRequest, SeriesResponse, SeriesSamples,
};
use vigil_store::clock::now_ms;
use vigil_store::selector::Selector;
use vigil_store::{Labels, Store, StoreError};

/// The Query service.
pub struct QueryService {
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    limits: Arc<Limits>,
    engine: Engine,
    /// PromQL queries take a slot shared with the HTTP API and forecasts.
    slots: QuerySlots,
}

impl QueryService {
    /// A service reading `store`; PromQL queries are bounded by `limits` and run in
    /// `slots`, within their timeout.
    pub fn new(
        store: Arc<dyn Store>,
        registry: Arc<Registry>,
        limits: Arc<Limits>,
        slots: QuerySlots,
    ) -> Self {
        let options = limits.engine_options();
        Self {
            engine: Engine::new(store.clone(), options).with_timeout(slots.timeout()),
            store,
            registry,
            limits,
            slots,
        }
    }

    /// Runs a PromQL evaluation in a query slot, within the shared timeout; the result in
    /// its wire form, with warnings naming damaged data its reads left out.
    async fn evaluate(
        &self,
        work: impl FnOnce(&Engine) -> Result<Value, QueryError> + Send + 'static,
    ) -> Result<QueryResult, Status> {
        let (engine, store) = (self.engine.clone(), Arc::clone(&self.store));
        let (value, warnings) = self
            .slots
            .run(self.slots.timeout(), move || {
                crate::damage::with_warnings(store.as_ref(), || work(&engine))
            })
            .await
            .map_err(Error::from)?;
        let mut result = wire_result(value.map_err(Error::from)?);
        result.warnings = warnings;
        Ok(result)
    }

    /// Refuses an expression longer or deeper than the limits allow, before it waits for
    /// a slot.
    fn check_expr(&self, expr: &str) -> Result<(), Status> {
        vigil_promql::parse::check(expr, &self.limits.parse_limits()).map_err(Error::from)?;
        Ok(())
    }

    /// Refuses a selector longer or deeper than `limits.max_query_bytes`/`max_query_depth`
    /// before it is parsed.
    fn selector(&self, text: &str) -> Result<Selector, Status> {
        vigil_promql::parse::check(text, &self.limits.parse_limits())
            .map_err(|e| Status::invalid_argument(format!("selector: {e}")))?;
        Ok(Selector::parse(text).map_err(Error::from)?)
    }
}

/// Refuses a time field (`time_ms`, `start_ms`, …) outside the range queries may use.
fn check_ms(field: &str, ms: i64) -> Result<(), Status> {
    let limit = vigil_promql::time::QUERY_TIME_LIMIT_MS;
    if ms.unsigned_abs() > limit.unsigned_abs() {
        return Err(Status::invalid_argument(format!(
            "{field} {ms} is out of range: times must be within ±{limit} ms (about 285,000 \
             years) of 1970"
        )));
    }
    Ok(())
}

/// A PromQL value in its wire form.
fn wire_result(value: Value) -> QueryResult {
    let mut result = QueryResult::default();
    match value {
        Value::Scalar { t_ms, v } => {
            result.set_result_type(ResultType::Scalar);
            result.time_ms = t_ms;
            result.scalar = v;
        }
        Value::String { t_ms, s } => {
            result.set_result_type(ResultType::String);
            result.time_ms = t_ms;
            result.string = s;
        }
        Value::Vector(samples) => {
            result.set_result_type(ResultType::Vector);
            result.series = samples
                .into_iter()
                .map(|s| SeriesSamples {
                    labels: wire_labels(&s.labels),
                    timestamps_ms: vec![s.t_ms],
                    values: vec![s.v],
                })
                .collect();
        }
        Value::Matrix(series) => {
            result.set_result_type(ResultType::Matrix);
            result.series = series
                .into_iter()
                .map(|s| {
                    let (timestamps_ms, values) = s.points.into_iter().unzip();
                    SeriesSamples {
                        labels: wire_labels(&s.labels),
                        timestamps_ms,
                        values,
                    }
                })
                .collect();
        }
    }
    result
}

fn wire_labels(labels: &Labels) -> Vec<Label> {
    labels
        .pairs()
        .iter()
        .map(|(n, v)| Label {
            name: n.clone(),
            value: v.clone(),
        })
        .collect()
}

/// The smaller of the caller's limit (0 = none) and the server's.
fn cap(requested: u64, server: u64) -> u64 {
    if requested == 0 {
        server
    } else {
        requested.min(server)
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("query task failed: {e}")))?
        .map_err(Status::from)
}

#[tonic::async_trait]
impl Query for QueryService {
    async fn hosts(&self, _: Request<HostsRequest>) -> Result<Response<HostsResponse>, Status> {
        let registry = self.registry.clone();
        let hosts = blocking(move || Ok(registry.hosts(now_ms())?)).await?;
        Ok(Response::new(HostsResponse { hosts }))
    }

    async fn series(
        &self,
        request: Request<SeriesRequest>,
    ) -> Result<Response<SeriesResponse>, Status> {
        let request = request.into_inner();
        let selector = self.selector(&request.selector)?;
        let limit = cap(request.limit, self.limits.max_query_series) as usize;
        let store = self.store.clone();
        let (found, truncated) = blocking(move || Ok(store.select(&selector, limit)?)).await?;
        let series = found
            .iter()
            .map(|(_, l)| SeriesLabels {
                labels: wire_labels(l),
            })
            .collect();
        Ok(Response::new(SeriesResponse { series, truncated }))
    }

    async fn instant(
        &self,
        request: Request<InstantQueryRequest>,
    ) -> Result<Response<QueryResult>, Status> {
        let InstantQueryRequest { expr, time_ms } = request.into_inner();
        check_ms("time_ms", time_ms)?;
        self.check_expr(&expr)?;
        let result = self
            .evaluate(move |engine| engine.instant(&expr, time_ms))
            .await?;
        Ok(Response::new(result))
    }

    async fn range(
        &self,
        request: Request<RangeQueryRequest>,
    ) -> Result<Response<QueryResult>, Status> {
        let RangeQueryRequest {
            expr,
            start_ms,
            end_ms,
            step_ms,
        } = request.into_inner();
        check_ms("start_ms", start_ms)?;
        check_ms("end_ms", end_ms)?;
        if step_ms <= 0 {
            return Err(Status::invalid_argument(format!(
                "step_ms must be positive, not {step_ms}"
            )));
        }
        check_ms("step_ms", step_ms)?;
        self.check_expr(&expr)?;
        if end_ms < start_ms {
            return Err(Status::invalid_argument(format!(
                "end_ms ({end_ms}) is before start_ms ({start_ms})"
            )));
        }
        // All within ±2^53, so neither the difference nor the count can overflow.
        let max_steps = self.engine.options().max_steps;
        if (end_ms - start_ms) / step_ms >= max_steps {
            return Err(Status::invalid_argument(format!(
                "{start_ms}..{end_ms} in steps of step_ms {step_ms} is more than {max_steps} \
                 points per series; raise step_ms or shorten the range"
            )));
        }
        let result = self
            .evaluate(move |engine| engine.range(&expr, start_ms, end_ms, step_ms))
            .await?;
        Ok(Response::new(result))
    }

    type SamplesStream = Pin<Box<dyn Stream<Item = Result<SeriesSamples, Status>> + Send>>;

    async fn samples(
        &self,
        request: Request<SamplesRequest>,
    ) -> Result<Response<Self::SamplesStream>, Status> {
        let request = request.into_inner();
        check_ms("start_ms", request.start_ms)?;
        check_ms("end_ms", request.end_ms)?;
        if request.end_ms < request.start_ms {
            return Err(Status::invalid_argument(format!(
                "end ({} ms) is before start ({} ms)",
                request.end_ms, request.start_ms
            )));
        }
        let selector = self.selector(&request.selector)?;
        let max_series = self.limits.max_query_series;
        let max_samples = cap(request.limit, self.limits.max_query_samples);
        let store = self.store.clone();
        let (found, truncated) =
            blocking(move || Ok(store.select(&selector, max_series as usize)?)).await?;
        if truncated {
            return Err(Error::Store(StoreError::TooLarge {
                what: "series",
                limit: max_series,
            })
            .into());
        }
        let (tx, rx) = mpsc::channel(4);
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let mut total = 0u64;
            for (id, labels) in found {
                let mut samples = Vec::new();
                if let Err(e) = store.samples(id, request.start_ms, request.end_ms, &mut samples) {
                    let _ = tx.blocking_send(Err(Status::from(Error::from(e))));
                    return;
                }
                if samples.is_empty() {
                    continue;
                }
                total += samples.len() as u64;
                if total > max_samples {
                    let e = StoreError::TooLarge {
                        what: "samples",
                        limit: max_samples,
                    };
                    let _ = tx.blocking_send(Err(Status::from(Error::from(e))));
                    return;
                }
                let (timestamps_ms, values) = samples.into_iter().unzip();
                let msg = SeriesSamples {
                    labels: wire_labels(&labels),
                    timestamps_ms,
                    values,
                };
                if tx.blocking_send(Ok(msg)).is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_promql::{InstantSample, Series};

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs)
    }

    #[test]
    fn times_past_the_query_range_are_refused_by_field() {
        let limit = vigil_promql::time::QUERY_TIME_LIMIT_MS;
        assert!(check_ms("time_ms", limit).is_ok());
        assert!(check_ms("time_ms", -limit).is_ok());
        for ms in [limit + 1, -limit - 1, i64::MAX, i64::MIN] {
            let status = check_ms("start_ms", ms).unwrap_err();
            assert_eq!(status.code(), tonic::Code::InvalidArgument);
            assert!(
                status.message().starts_with("start_ms "),
                "{}",
                status.message()
            );
        }
    }

    #[test]
    fn vectors_carry_one_sample_per_series() {
        let value = Value::Vector(vec![InstantSample {
            labels: labels(&[("host", "a"), ("__name__", "up")]),
            t_ms: 5_000,
            v: 1.5,
        }]);
        let result = wire_result(value);
        assert_eq!(result.result_type(), ResultType::Vector);
        assert_eq!(result.series.len(), 1);
        assert_eq!(result.series[0].labels[0].name, "__name__");
        assert_eq!(result.series[0].labels[1].value, "a");
        assert_eq!(result.series[0].timestamps_ms, vec![5_000]);
        assert_eq!(result.series[0].values, vec![1.5]);
    }

    #[test]
    fn matrices_scalars_and_strings() {
        let value = Value::Matrix(vec![Series {
            labels: labels(&[("host", "a")]),
            points: vec![(1_000, 1.0), (2_000, f64::INFINITY)],
        }]);
        let result = wire_result(value);
        assert_eq!(result.result_type(), ResultType::Matrix);
        assert_eq!(result.series[0].timestamps_ms, vec![1_000, 2_000]);
        assert_eq!(result.series[0].values, vec![1.0, f64::INFINITY]);

        let result = wire_result(Value::Scalar { t_ms: 7, v: 0.25 });
        assert_eq!(result.result_type(), ResultType::Scalar);
        assert_eq!((result.time_ms, result.scalar), (7, 0.25));

        let result = wire_result(Value::String {
            t_ms: 8,
            s: "hi".into(),
        });
        assert_eq!(result.result_type(), ResultType::String);
        assert_eq!((result.time_ms, result.string.as_str()), (8, "hi"));
    }
}
