//! Wires the collector together and serves it until `shutdown` resolves.

use crate::auth::Auth;
use crate::auth::grpc::AuthLayer;
use crate::config::Config;
use crate::error::Error;
use crate::ingest::{Counters, IngestService};
use crate::notify::metrics::NotifyMetrics;
use crate::notify::notifier::Notifier;
use crate::query::QueryService;
use crate::registry::Registry;
use crate::remote_write::RemoteWrite;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;
use tracing::{info, warn};
use vigil_promql::Engine;
use vigil_proto::v1::ingest_server::IngestServer;
use vigil_proto::v1::query_server::QueryServer;
use vigil_rocks::{BlockOptions, RocksOptions, RocksStore};
use vigil_store::clock::now_ms;
use vigil_store::{Labels, SeriesSamples, Store};

/// How often host last-seen times and the collector's own counters are written.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(10);

/// Opens the store and serves gRPC on `config.server.grpc_listen` until `shutdown`.
pub async fn run(
    mut config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    config.validate()?;
    // The memory budget: from here on `limits.max_memory_bytes` holds it (0: none), and
    // RocksDB's caches and a query's samples are shares of it.
    let budget = crate::memory_budget::budget(config.limits.max_memory_bytes);
    tracing::info!(bytes = budget.bytes, source = %budget.source, "memory budget");
    config.limits.max_memory_bytes = Some(budget.bytes);
    config.limits.max_query_samples =
        crate::memory_budget::query_samples(config.limits.max_query_samples, budget.bytes);
    let (block_cache_bytes, memtable_bytes) =
        crate::memory_budget::cache_sizes(budget.bytes, config.storage.block_cache_bytes)
            .map_err(Error::Serve)?;
    // The HTTP address answers "starting" (503) while the store opens.
    let early = match config.server.http_listen {
        Some(addr) => {
            let listener = std::net::TcpListener::bind(addr).map_err(|e| {
                Error::Serve(format!(
                    "cannot listen on {addr} (server.http_listen / --http-listen): {e}"
                ))
            })?;
            let starting =
                crate::http::starting::Starting::serve(&listener, &config.storage.data_dir)
                    .map_err(|e| Error::Serve(format!("serving {addr} while starting: {e}")))?;
            Some((listener, starting))
        }
        None => None,
    };
    let store: Arc<dyn Store> = {
        let dir = config.storage.data_dir.clone();
        let sync = config.storage.sync;
        let blocks = BlockOptions {
            block_duration: config.storage.block_duration,
            compaction_interval: config.storage.compaction_interval,
            retention: config.storage.retention,
            retention_5m: config.storage.retention_5m,
            retention_1h: config.storage.retention_1h,
            scrub_interval: config.storage.scrub_interval,
        };
        tokio::task::spawn_blocking(move || {
            let options = RocksOptions {
                sync,
                block_cache_bytes,
                memtable_bytes,
            };
            RocksStore::open_with_blocks(&dir, options, blocks)
        })
        .await
        .map_err(|e| Error::Serve(format!("opening store: {e}")))??
        .into_arc()
    };
    let listener = TcpListener::bind(config.server.grpc_listen)
        .await
        .map_err(|e| {
            Error::Serve(format!(
                "cannot listen on {} (server.grpc_listen / --grpc-listen): {e}",
                config.server.grpc_listen
            ))
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Serve(e.to_string()))?;
    serve(config, store, listener, shutdown, addr, early).await
}

trait IntoArc {
    fn into_arc(self) -> Arc<dyn Store>;
}

impl IntoArc for RocksStore {
    fn into_arc(self) -> Arc<dyn Store> {
        Arc::new(self)
    }
}

async fn serve(
    config: Config,
    store: Arc<dyn Store>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    addr: std::net::SocketAddr,
    early: Option<(std::net::TcpListener, crate::http::starting::Starting)>,
) -> Result<(), Error> {
    let limits = Arc::new(config.limits.clone());
    let auth = Arc::new(Auth::from_config(&config).map_err(Error::Serve)?);
    log_exposure(&config, &auth, addr);
    // Before anything appends (listeners, rules, housekeeping): every sample stored from
    // here on is in the forwarding log.
    let remote_write = RemoteWrite::start(store.clone(), &config.remote_write, Arc::new(now_ms))
        .await
        .map_err(Error::Serve)?;
    let enrollment = Arc::new(
        crate::enroll::Enrollment::open(&config.enroll, store.clone(), auth.clone())
            .map_err(Error::Serve)?,
    );
    let registry = Arc::new(Registry::new(
        store.clone(),
        config.hosts.down_after,
        config.limits.max_hosts,
    ));
    let counters = Arc::new(Counters::default());
    counters
        .memory
        .set_budget(config.limits.max_memory_bytes.unwrap_or(0));
    counters
        .storage
        .configure(&config.storage.data_dir, config.storage.min_free_bytes);
    counters.storage.check_disk(now_ms());
    let disk_watch = tokio::spawn(watch_disk(counters.clone()));
    let memory_watch = tokio::spawn(watch_memory(counters.clone()));
    let relabel = Arc::new(crate::relabel::Relabeler::new(&config.relabel).map_err(Error::Serve)?);
    let ingest = IngestService::new(
        store.clone(),
        registry.clone(),
        limits.clone(),
        auth.clone(),
        counters.clone(),
    )
    .with_relabel(relabel.clone());
    let silence = crate::up::Silence::new(relabel, now_ms(), config.limits.max_series_per_host);
    // One cap on PromQL work for HTTP queries, gRPC queries and forecasts alike.
    let slots = crate::slots::QuerySlots::new(
        config.server.http_max_concurrent_queries,
        config.server.http_query_timeout,
    );
    let query = QueryService::new(
        store.clone(),
        registry.clone(),
        limits.clone(),
        slots.clone(),
    );
    let notifier = start_notifier(&config, &store).await?;
    let housekeeping = tokio::spawn(housekeeping(
        store.clone(),
        registry.clone(),
        counters.clone(),
        notifier.metrics.clone(),
        auth.clone(),
        remote_write.clone(),
        silence,
    ));
    let engine = Engine::new(store.clone(), limits.engine_options());
    let rules_runtime = start_rules(&config, &engine, &store, &registry, &notifier).await?;
    // The running rules, for the Rules service and /api/v1/{alerts,rules}.
    let rules: Option<Arc<dyn crate::rules::status::RulesView>> =
        Some(Arc::new(rules_runtime.clone()));
    let hangups = tokio::spawn(crate::rules::runtime::reload_on_hangup(Arc::new(
        rules_runtime.clone(),
    )));
    let bound = match early {
        Some((listener, starting)) => {
            starting.stop().await;
            Some(listener)
        }
        None => None,
    };
    let (shutdown, http) = crate::http::start(
        &config,
        engine,
        store.clone(),
        rules.clone(),
        notifier.incidents.clone(),
        auth.clone(),
        slots.clone(),
        crate::own_metrics::OwnMetrics {
            counters: counters.clone(),
            notify: notifier.metrics.clone(),
            auth: auth.clone(),
            remote_write: Some(remote_write.clone()),
        },
        bound,
        shutdown,
    )
    .await?;

    info!(
        grpc = %addr,
        tls = config.tls.enabled(),
        mtls = config.tls.client_ca_file.is_some(),
        data_dir = %config.storage.data_dir.display(),
        version = env!("CARGO_PKG_VERSION"),
        "vigil-collector listening"
    );
    let result = crate::transport::grpc_server(&config)?
        .layer(AuthLayer::new(auth.clone()))
        .add_service(
            IngestServer::new(ingest)
                .max_decoding_message_size(limits.max_message_bytes)
                // Acks are a few bytes: compressing them would cost each of ten thousand
                // streams a compressor's buffers, for nothing.
                .accept_compressed(CompressionEncoding::Gzip),
        )
        .add_service(
            QueryServer::new(query)
                .max_encoding_message_size(256 << 20)
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip),
        )
        .add_service(crate::import::server(
            store.clone(),
            &config,
            auth.clone(),
            counters.clone(),
        ))
        .add_service(crate::rules::service::server(rules, Some(notifier.clone())))
        .add_service(crate::notify::service::server(notifier.clone()))
        .add_service(crate::incidents::service::server(
            notifier.incidents.clone(),
        ))
        .add_service(crate::admin::server_with_remote_write(
            store.clone(),
            registry.clone(),
            counters.clone(),
            notifier.metrics.clone(),
            &config,
            Some(remote_write.clone()),
        ))
        .add_service(crate::enroll::service::server(enrollment))
        .add_service(crate::forecast::server(
            Engine::new(store.clone(), limits.engine_options()),
            slots,
        ))
        .serve_with_incoming_shutdown(crate::transport::grpc_incoming(listener, &config), shutdown)
        .await;
    housekeeping.abort();
    disk_watch.abort();
    memory_watch.abort();
    hangups.abort();
    // Waits for evaluations in progress, but not for long: saved state is current anyway.
    let stopping = tokio::task::spawn_blocking(move || rules_runtime.stop());
    let _ = tokio::time::timeout(Duration::from_secs(5), stopping).await;
    if let Some(http) = http {
        let _ = http.await;
    }
    // A round in flight keeps its persisted end and is sent again at the next start.
    let _ = tokio::time::timeout(Duration::from_secs(5), remote_write.shutdown()).await;
    let _ = tokio::task::spawn_blocking(move || registry.flush()).await;
    info!("vigil-collector stopped");
    result.map_err(|e| Error::Serve(format!("serving gRPC on {addr}: {e}")))
}

/// Says at start-up who may call: an open collector is for development only.
fn log_exposure(config: &Config, auth: &Auth, addr: std::net::SocketAddr) {
    if auth.is_open() {
        warn!(
            grpc = %addr,
            "no [[auth.tokens]] and no tls.client_ca_file: this collector is OPEN, anyone who \
             reaches it may query, write and administer it (fine for development on loopback; \
             add tokens before leaving it)"
        );
    } else {
        info!(
            tokens = config.auth.tokens.len(),
            client_certificates = config.tls.client_ca_file.is_some(),
            "callers must present a token or a client certificate"
        );
    }
    if !config.server.agent_tokens.is_empty() {
        warn!(
            "server.agent_tokens is deprecated: each is now an agent token for any host named \
             server.agent_tokens[N]; write [[auth.tokens]] entries with role = \"agent\" (and \
             hosts = [...]) instead"
        );
    }
}

/// Starts the notifier (receivers, silences, outbox delivery, grouping).
/// Incidents, when on, are fed the same alerts and ticked on their own task.
async fn start_notifier(config: &Config, store: &Arc<dyn Store>) -> Result<Notifier, Error> {
    let (notify, incidents, store) = (
        config.notify.clone(),
        config.incidents.clone(),
        store.clone(),
    );
    let notifier = tokio::task::spawn_blocking(move || {
        let mut notifier = Notifier::start(&notify, store.clone())?;
        if incidents.enabled {
            let sink = notifier.incident_sink();
            notifier.incidents = Some(Arc::new(
                crate::incidents::runtime::Incidents::open(&incidents, store, sink)
                    .map_err(|e| format!("incidents: {e}"))?,
            ));
        }
        Ok::<_, String>(notifier)
    })
    .await
    .map_err(|e| Error::Serve(format!("starting the notifier: {e}")))?
    .map_err(|e| Error::Serve(format!("notify: {e}")))?;
    if let Some(incidents) = &notifier.incidents {
        // Ends with the process (it holds only a weak reference).
        drop(incidents.spawn_ticker());
    }
    Ok(notifier)
}

/// Starts the rules engine (saved alert state, rule files, one task per group).
async fn start_rules(
    config: &Config,
    engine: &Engine,
    store: &Arc<dyn Store>,
    registry: &Arc<Registry>,
    notifier: &Notifier,
) -> Result<crate::rules::runtime::RulesRuntime, Error> {
    let settings = crate::rules::runtime::RulesSettings::from_config(&config.rules);
    let (engine, store, registry) = (engine.clone(), store.clone(), registry.clone());
    let notifier = notifier.clone();
    tokio::task::spawn_blocking(move || {
        crate::rules::runtime::RulesRuntime::start(
            settings,
            engine,
            store,
            registry,
            Some(notifier),
        )
    })
    .await
    .map_err(|e| Error::Serve(format!("starting rules: {e}")))?
    .map_err(|e| Error::Serve(format!("loading saved alert state: {e}")))
}

/// Periodically saves host last-seen times, writes `up` 0 for silent hosts and writes the
/// collector's counters as series.
async fn housekeeping(
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    counters: Arc<Counters>,
    notify: Arc<NotifyMetrics>,
    auth: Arc<Auth>,
    remote_write: Arc<RemoteWrite>,
    silence: crate::up::Silence,
) {
    let silence = Arc::new(silence);
    let mut tick = tokio::time::interval(HOUSEKEEPING_EVERY);
    loop {
        tick.tick().await;
        let (store, registry) = (store.clone(), registry.clone());
        let writer = counters.clone();
        let (notify, auth, silence) = (notify.clone(), auth.clone(), silence.clone());
        let remote = remote_write.own_series();
        let done = tokio::task::spawn_blocking(move || {
            registry.flush()?;
            silence.write(store.as_ref(), &registry, now_ms())?;
            silence.write_skews(store.as_ref(), &registry, now_ms())?;
            let written = write_own_metrics(store.as_ref(), &writer, &notify, &auth, remote);
            crate::memory::release();
            written
        })
        .await;
        match done {
            Ok(Ok(())) => counters.storage.write_ok(),
            Ok(Err(e)) => {
                counters.storage.write_failed(&e, now_ms());
                warn!(error = %e, "housekeeping failed");
            }
            Err(_) => {}
        }
    }
}

/// Reads the data directory's free space every [`CHECK_EVERY`](crate::storage_guard::CHECK_EVERY)
/// for the storage guard.
async fn watch_disk(counters: Arc<Counters>) {
    let mut tick = tokio::time::interval(crate::storage_guard::CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let counters = counters.clone();
        let _ = tokio::task::spawn_blocking(move || counters.storage.check_disk(now_ms())).await;
    }
}

/// Reads the resident memory every [`CHECK_EVERY`](crate::memory_budget::CHECK_EVERY) for
/// the memory budget (a read of `/proc/self/status`, some microseconds).
async fn watch_memory(counters: Arc<Counters>) {
    let mut tick = tokio::time::interval(crate::memory_budget::CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Some(resident) = crate::own_metrics::resident_bytes() {
            counters.memory.observe(resident as u64);
        }
    }
}

fn write_own_metrics(
    store: &dyn Store,
    counters: &Counters,
    notify: &NotifyMetrics,
    auth: &Auth,
    remote_write: Vec<crate::own_metrics::OwnSeries>,
) -> Result<(), vigil_store::StoreError> {
    if let Ok(stats) = store.stats() {
        counters.scale.observe_store(&stats, now_ms());
        counters
            .storage
            .set_reserve(stats.memory.memtables + stats.pending_compaction_bytes);
    }
    let series: Vec<(Labels, f64)> = crate::own_metrics::series(counters, notify, auth)
        .into_iter()
        .chain(remote_write)
        .map(|s| {
            let mut pairs = vec![
                ("__name__".to_owned(), s.name.to_owned()),
                ("host".to_owned(), crate::registry::SELF_HOST.to_owned()),
            ];
            pairs.extend(s.labels);
            (Labels::new(pairs), s.value)
        })
        .collect();
    let (labelsets, values): (Vec<Labels>, Vec<f64>) = series.into_iter().unzip();
    let ids = store.resolve_series(crate::registry::SELF_HOST, &labelsets, u64::MAX)?;
    let now = now_ms();
    let samples: Vec<SeriesSamples> = ids
        .into_iter()
        .zip(values)
        .map(|(id, v)| SeriesSamples {
            id,
            samples: vec![(now, v)],
        })
        .collect();
    store.append(&samples)
}
