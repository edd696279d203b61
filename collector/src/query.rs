//! Query: the `vigil.v1.Query` gRPC service the CLI uses; a thin adapter over the store and
//! the host registry.

use crate::error::Error;
use crate::ingest::now_ms;
use crate::limits::Limits;
use crate::registry::Registry;
use crate::selector::Selector;
use crate::store::{Labels, Store, StoreError};
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use vigil_proto::v1::query_server::Query;
use vigil_proto::v1::{
    HostsRequest, HostsResponse, Label, SamplesRequest, SeriesLabels, SeriesRequest,
    SeriesResponse, SeriesSamples,
};

/// The Query service.
pub struct QueryService {
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    limits: Arc<Limits>,
}

impl QueryService {
    /// A service reading `store`.
    pub fn new(store: Arc<dyn Store>, registry: Arc<Registry>, limits: Arc<Limits>) -> Self {
        Self {
            store,
            registry,
            limits,
        }
    }
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
        let selector = Selector::parse(&request.selector).map_err(Error::from)?;
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

    type SamplesStream = Pin<Box<dyn Stream<Item = Result<SeriesSamples, Status>> + Send>>;

    async fn samples(
        &self,
        request: Request<SamplesRequest>,
    ) -> Result<Response<Self::SamplesStream>, Status> {
        let request = request.into_inner();
        if request.end_ms < request.start_ms {
            return Err(Status::invalid_argument(format!(
                "end ({} ms) is before start ({} ms)",
                request.end_ms, request.start_ms
            )));
        }
        let selector = Selector::parse(&request.selector).map_err(Error::from)?;
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
