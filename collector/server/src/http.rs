//! The Prometheus-compatible HTTP API, so that promtool, Grafana's Prometheus data source
//! and scripts written for Prometheus can read Vigil as they are.
//!
//! Every endpoint answers GET and POST (form body), in Prometheus's JSON envelope. The
//! handlers are thin: read parameters, call the engine or the store on a blocking thread
//! (they read RocksDB), write the data shape; every failure goes through [`ApiError`].
//!
//! # Layout
//! - [`params`]: parameters from the URL and the form body; times and durations.
//! - [`query`]: `/api/v1/query`, `/api/v1/query_range`, `/api/v1/query_exemplars`.
//! - [`series`]: `/api/v1/series`, `/api/v1/labels`, `/api/v1/label/<name>/values`.
//! - [`rules`]: `/api/v1/alerts` and `/api/v1/rules`, from the running rules.
//! - [`write`]: `POST /api/v1/write`, Prometheus remote write 1.0 in (its own body limit,
//!   `limits.max_message_bytes`, instead of [`MAX_BODY_BYTES`]).
//! - [`status`]: build info, metadata, the collector's own `/metrics`, and the `/-/ready`
//!   and `/-/healthy` probes.
//! - [`json`]: the success envelope and the result shapes.
//! - numbers in the exact text Prometheus (Go) writes come from [`vigil_promql::go_float`].
//! - [`error`]: the error envelope and the HTTP status of each error type.

pub mod error;
pub mod incidents;
pub mod json;
pub mod params;
pub mod query;
pub mod rules;
pub mod series;
pub mod starting;
pub mod status;
pub mod write;

pub use error::ApiError;

use crate::rules::status::RulesView;
use crate::slots::{QuerySlots, SlotError};
use crate::transport::http::HttpSettings;
use axum::Router;
use axum::routing::{get, post};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use vigil_promql::Engine;
use vigil_store::Store;

/// Largest request body accepted: a form with a query and its `match[]` selectors.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// How much of a refused, oversized body is still read (and dropped) so that the client
/// gets the answer rather than a reset connection; past it the connection is cut.
pub const DRAIN_BYTES: usize = 16 << 20;

/// How long in-flight requests may finish after shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the API may spend on one request.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// Queries evaluated at once and their timeout (a query without a `timeout`
    /// parameter gets it, and none may ask for more); shared with gRPC queries and
    /// forecasts.
    pub slots: QuerySlots,
    /// Most series `/api/v1/series` and matcher-restricted label lookups may read.
    pub max_series: usize,
    /// Bounds on `query` and `match[]` text (`limits.max_query_bytes`,
    /// `limits.max_query_depth`).
    pub parse: vigil_promql::ParseLimits,
}

impl Default for ApiOptions {
    fn default() -> Self {
        Self {
            slots: QuerySlots::new(20, Duration::from_secs(120)),
            max_series: 100_000,
            parse: vigil_promql::ParseLimits::default(),
        }
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct Api {
    engine: Engine,
    store: Arc<dyn Store>,
    options: Arc<ApiOptions>,
    /// One slot per running query, held by the blocking task itself, so a query that
    /// timed out for its client keeps its slot until it really stops.
    slots: QuerySlots,
    /// The running rules, for `/api/v1/alerts` and `/api/v1/rules`; `None` when the
    /// collector runs none (both then answer with empty lists).
    rules: Option<Arc<dyn RulesView>>,
    /// Who may call; `None` admits everyone (tests of the handlers themselves).
    auth: Option<Arc<crate::auth::Auth>>,
    /// Incidents, for `/api/v1/incidents`; `None` when off.
    incidents: Option<Arc<crate::incidents::runtime::Incidents>>,
    /// The collector's own counters and the metric metadata agents sent, for `/metrics`
    /// and `/api/v1/metadata`; `None` serves only the process basics and own metadata.
    own: Option<Arc<crate::own_metrics::OwnMetrics>>,
    /// Where `POST /api/v1/write` stores; `None` answers it 404.
    write: Option<Arc<write::Receiver>>,
}

impl Api {
    /// An API over `engine` and the `store` it reads.
    pub fn new(engine: Engine, store: Arc<dyn Store>, options: ApiOptions) -> Self {
        let slots = options.slots.clone();
        Self {
            engine,
            store,
            options: Arc::new(options),
            slots,
            rules: None,
            auth: None,
            incidents: None,
            own: None,
            write: None,
        }
    }

    /// The same API, serving `own` at `/metrics` and its metadata at `/api/v1/metadata`.
    pub fn with_own_metrics(mut self, own: crate::own_metrics::OwnMetrics) -> Self {
        self.own = Some(Arc::new(own));
        self
    }

    /// The same API, admitting only callers `auth` admits (see [`crate::auth::http`]).
    pub fn with_auth(mut self, auth: Arc<crate::auth::Auth>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The same API, accepting remote write at `POST /api/v1/write` into `receiver`.
    pub fn with_remote_write(mut self, receiver: write::Receiver) -> Self {
        self.write = Some(Arc::new(receiver));
        self
    }

    /// The same API, showing `incidents` at `/api/v1/incidents`.
    pub fn with_incidents(
        mut self,
        incidents: Option<Arc<crate::incidents::runtime::Incidents>>,
    ) -> Self {
        self.incidents = incidents;
        self
    }

    /// The same API, showing `rules` at `/api/v1/alerts` and `/api/v1/rules`.
    pub fn with_rules(mut self, rules: Option<Arc<dyn RulesView>>) -> Self {
        self.rules = rules;
        self
    }

    /// Runs `work` on a blocking thread within `timeout` (waiting for a slot included).
    /// On timeout the client gets its answer at once; the work finishes in the background.
    async fn run<T: Send + 'static>(
        &self,
        timeout: Duration,
        what: &str,
        work: impl FnOnce(&Api) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let timed_out = || {
            ApiError::timeout(format!(
                "{what} timed out after {timeout:?}; narrow it, or raise the timeout parameter \
                 (at most server.http_query_timeout)"
            ))
        };
        let api = self.clone();
        match self.slots.run(timeout, move || work(&api)).await {
            Ok(result) => result,
            Err(SlotError::TimedOut(_)) => Err(timed_out()),
            Err(SlotError::Failed(e)) => Err(ApiError::internal(format!("{what} failed: {e}"))),
        }
    }

    /// The timeout for a request: its `timeout` parameter, capped by the configured one.
    fn timeout(&self, params: &params::Params) -> Result<Duration, ApiError> {
        let configured = self.slots.timeout();
        Ok(match params.duration("timeout")? {
            Some(ms) if ms > 0 => configured.min(Duration::from_millis(ms.unsigned_abs())),
            Some(_) => {
                return Err(ApiError::bad_param("timeout", "must be positive, like 30s"));
            }
            None => configured,
        })
    }
}

/// The API's routes, under `/api/v1` and `/-/`, and `/metrics`, behind the API's
/// authentication.
pub fn router(api: Api) -> Router {
    let auth = api.auth.clone();
    let receiver = api.write.clone();
    let routes = Router::new()
        .route("/api/v1/query", get(query::instant).post(query::instant))
        .route("/api/v1/query_range", get(query::range).post(query::range))
        .route(
            "/api/v1/query_exemplars",
            get(query::exemplars).post(query::exemplars),
        )
        .route("/api/v1/series", get(series::series).post(series::series))
        .route("/api/v1/labels", get(series::labels).post(series::labels))
        .route("/api/v1/label/{name}/values", get(series::label_values))
        .route("/api/v1/status/buildinfo", get(status::buildinfo))
        .route("/api/v1/metadata", get(status::metadata))
        .route("/api/v1/alerts", get(rules::alerts))
        .route("/api/v1/rules", get(rules::rules))
        .route("/api/v1/incidents", get(incidents::list))
        .route("/api/v1/incidents/{id}", get(incidents::one))
        .route("/api/v1/incidents/{id}/ack", post(incidents::ack))
        .route("/api/v1/write", post(write::write))
        .route("/-/ready", get(status::ready))
        .route("/-/healthy", get(status::healthy))
        .route("/metrics", get(status::own_metrics))
        .with_state(api);
    let routes = match auth {
        Some(auth) => routes.layer(axum::middleware::from_fn_with_state(
            auth,
            crate::auth::http::middleware,
        )),
        None => routes,
    };
    routes.layer(axum::middleware::from_fn_with_state(
        receiver,
        write::count_answers,
    ))
}

/// Serves `api` on `listener` under the transport limits `settings` until `shutdown`
/// resolves, then lets requests in progress finish (see [`crate::transport::http`]).
pub async fn serve(
    listener: TcpListener,
    api: Api,
    settings: HttpSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    crate::transport::http::serve(listener, router(api), settings, shutdown).await
}

/// Binds `server.http_listen`, if set (or takes `bound`, that address bound before the
/// store opened: see [`starting`]), and serves the API there until `shutdown`.
///
/// Returns the future the caller should wait on for its own shutdown (it resolves when
/// `shutdown` does, and stops the HTTP server too; dropping it also stops it), and the
/// HTTP server's task to await after that. Without `http_listen`, `shutdown` comes back
/// as it was and there is no task.
// Each argument is one of the collector's shared parts; a struct of them would be built
// only to be taken apart here.
#[allow(clippy::too_many_arguments)]
pub async fn start(
    config: &crate::config::Config,
    engine: Engine,
    store: Arc<dyn Store>,
    rules: Option<Arc<dyn RulesView>>,
    incidents: Option<Arc<crate::incidents::runtime::Incidents>>,
    auth: Arc<crate::auth::Auth>,
    slots: QuerySlots,
    own: crate::own_metrics::OwnMetrics,
    bound: Option<std::net::TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<
    (
        std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
        Option<tokio::task::JoinHandle<()>>,
    ),
    crate::error::Error,
> {
    let Some(addr) = config.server.http_listen else {
        return Ok((Box::pin(shutdown), None));
    };
    let cannot = |e: std::io::Error| {
        crate::error::Error::Serve(format!(
            "cannot listen on {addr} (server.http_listen / --http-listen): {e}"
        ))
    };
    let listener = match bound {
        // Bound before the store opened (see `starting`).
        Some(bound) => {
            bound.set_nonblocking(true).map_err(cannot)?;
            TcpListener::from_std(bound).map_err(cannot)?
        }
        None => TcpListener::bind(addr).await.map_err(cannot)?,
    };
    let local = listener.local_addr().unwrap_or(addr);
    let receiver = write::Receiver::new(
        crate::import::backfill::Backfill::new(store.clone(), Arc::new(config.limits.clone()))
            .with_retention(config.storage.retention)
            .with_memory_budget(own.counters.clone()),
        config.limits.max_message_bytes,
        own.counters.clone(),
    );
    let api = Api::new(
        engine,
        store,
        ApiOptions {
            slots,
            max_series: usize::try_from(config.limits.max_query_series).unwrap_or(usize::MAX),
            parse: config.limits.parse_limits(),
        },
    )
    .with_rules(rules)
    .with_incidents(incidents)
    .with_auth(auth)
    .with_own_metrics(own)
    .with_remote_write(receiver);
    let settings = HttpSettings::from_config(&config.server);
    let (stop, stopped) = tokio::sync::watch::channel(());
    let task = tokio::spawn(async move {
        // Each resolves on the signal and when the sender is dropped alike.
        let mut graceful = stopped.clone();
        let mut deadline = stopped;
        let serving = serve(listener, api, settings, async move {
            let _ = graceful.changed().await;
        });
        let given_up = async move {
            let _ = deadline.changed().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        tokio::select! {
            () = serving => {}
            () = given_up => {
                tracing::warn!(http = %local, grace = ?SHUTDOWN_GRACE, "HTTP API: requests still running at shutdown were cut off");
            }
        }
    });
    tracing::info!(http = %local, "HTTP API listening");
    let shutdown = Box::pin(async move {
        shutdown.await;
        let _ = stop.send(());
    });
    Ok((shutdown, Some(task)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_promql::EngineOptions;
    use vigil_store::memory::MemoryStore;

    fn api(options: ApiOptions) -> Api {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let engine = Engine::new(store.clone(), EngineOptions::default());
        Api::new(engine, store, options)
    }

    #[tokio::test]
    async fn a_slow_call_times_out_and_keeps_its_slot_until_done() {
        let api = api(ApiOptions {
            slots: QuerySlots::new(1, Duration::from_secs(120)),
            ..ApiOptions::default()
        });
        let slow = |_: &Api| {
            std::thread::sleep(Duration::from_millis(300));
            Ok(1)
        };
        let err = api
            .run(Duration::from_millis(50), "query", slow)
            .await
            .unwrap_err();
        assert_eq!(err.kind, "timeout");
        assert!(
            err.message.contains("query timed out after 50ms"),
            "{}",
            err.message
        );
        // The abandoned call still holds the only slot, so a quick one waits for it.
        let err = api
            .run(Duration::from_millis(50), "query", |_| Ok(2))
            .await
            .unwrap_err();
        assert_eq!(err.kind, "timeout");
        let ok = api.run(Duration::from_secs(5), "query", |_| Ok(3)).await;
        assert_eq!(ok, Ok(3));
    }

    #[tokio::test]
    async fn timeout_parameter_only_shortens() {
        let api = api(ApiOptions {
            slots: QuerySlots::new(20, Duration::from_secs(10)),
            ..ApiOptions::default()
        });
        let params = |t: &str| params::Params(vec![("timeout".into(), t.into())]);
        assert_eq!(api.timeout(&params("2s")), Ok(Duration::from_secs(2)));
        assert_eq!(api.timeout(&params("1h")), Ok(Duration::from_secs(10)));
        assert_eq!(
            api.timeout(&params::Params::default()),
            Ok(Duration::from_secs(10))
        );
        assert_eq!(api.timeout(&params("0")).unwrap_err().kind, "bad_data");
        assert!(
            api.timeout(&params("soon"))
                .unwrap_err()
                .message
                .contains("\"soon\"")
        );
    }
}
