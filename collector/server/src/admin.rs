//! Admin: the `vigil.v1.Admin` gRPC service behind `vigil backup` and `vigil status`: a
//! thin adapter over [`crate::backup`] (one backup runs at a time) and the store's figures
//! ([`Store::stats`]), the host registry, the counters of ingest and the notifier, and the
//! state of every `[[remote_write]]` remote ([`RemoteWrite::statuses`]).

use crate::backup::backup;
use crate::config::Config;
use crate::ingest::Counters;
use crate::notify::metrics::NotifyMetrics;
use crate::registry::Registry;
use crate::remote_write::{RemoteStatus, RemoteWrite};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tonic::{Request, Response, Status};
use tracing::{info, warn};
use vigil_proto::v1::admin_server::{Admin, AdminServer};
use vigil_proto::v1::{
    BackupRequest, BackupResponse, HostSeries, MemoryPart, ReceiverOutbox, RemoteWriteStatus,
    StatusRequest, StatusResponse, StoragePart,
};
use vigil_store::clock::now_ms;
use vigil_store::{Store, StoreStats};

/// The service as the server mounts it, without remotes in its status.
pub fn server(
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    counters: Arc<Counters>,
    notify: Arc<NotifyMetrics>,
    config: &Config,
) -> AdminServer<AdminService> {
    server_with_remote_write(store, registry, counters, notify, config, None)
}

/// The service as the server mounts it; Status lists the remotes of `remote_write` (the
/// running forwarders of `[[remote_write]]`; None or no remotes: an empty list).
pub fn server_with_remote_write(
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    counters: Arc<Counters>,
    notify: Arc<NotifyMetrics>,
    config: &Config,
    remote_write: Option<Arc<RemoteWrite>>,
) -> AdminServer<AdminService> {
    AdminServer::new(service(
        store,
        registry,
        counters,
        notify,
        config,
        remote_write,
    ))
}

/// The service itself.
fn service(
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    counters: Arc<Counters>,
    notify: Arc<NotifyMetrics>,
    config: &Config,
    remote_write: Option<Arc<RemoteWrite>>,
) -> AdminService {
    AdminService {
        store,
        registry,
        counters,
        notify,
        remote_write,
        data_dir: config.storage.data_dir.clone(),
        backup_dir: config.storage.backup_dir.clone(),
        started_ms: now_ms(),
        one_backup: tokio::sync::Mutex::new(()),
    }
}

/// The Admin service.
pub struct AdminService {
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    counters: Arc<Counters>,
    notify: Arc<NotifyMetrics>,
    /// The forwarders of `[[remote_write]]`, when the server runs them.
    remote_write: Option<Arc<RemoteWrite>>,
    data_dir: PathBuf,
    /// `storage.backup_dir`: every backup goes under it.
    backup_dir: PathBuf,
    started_ms: i64,
    /// Held while a backup runs: two checkpoints at once would only compete for the disk.
    one_backup: tokio::sync::Mutex<()>,
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn backup(
        &self,
        request: Request<BackupRequest>,
    ) -> Result<Response<BackupResponse>, Status> {
        let caller = crate::auth::Caller::of(&request);
        let dir = PathBuf::from(request.into_inner().dir);
        let _one = self.one_backup.lock().await;
        let (store, source) = (self.store.clone(), self.data_dir.clone());
        let backup_dir = self.backup_dir.clone();
        let started = Instant::now();
        let target = dir.clone();
        let result = tokio::task::spawn_blocking(move || {
            backup(store.as_ref(), &target, &backup_dir, &source)
        })
        .await
        .map_err(|e| Status::internal(format!("backup task failed: {e}")))?;
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Ok(mut response) => {
                response.seconds = seconds;
                info!(
                    target: "audit",
                    caller = %caller.name,
                    peer = %caller.peer_text(),
                    dir = %response.dir,
                    bytes = response.bytes,
                    files = response.files,
                    linked_files = response.linked_files,
                    seconds,
                    "backup written"
                );
                Ok(Response::new(response))
            }
            Err(e) => {
                warn!(target: "audit", caller = %caller.name, peer = %caller.peer_text(), dir = %dir.display(), error = %e, "backup refused or failed");
                Err(e.into())
            }
        }
    }

    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let (store, registry) = (self.store.clone(), self.registry.clone());
        let now = now_ms();
        let (stats, hosts) = tokio::task::spawn_blocking(move || {
            Ok::<_, crate::error::Error>((store.stats()?, registry.hosts(now)?))
        })
        .await
        .map_err(|e| Status::internal(format!("status task failed: {e}")))?
        .map_err(Status::from)?;
        self.counters.scale.observe_store(&stats, now);
        let rejected: u64 = self
            .counters
            .rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .sum();
        let outbox = self
            .notify
            .outbox_depth
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(receiver, waiting)| ReceiverOutbox {
                receiver: receiver.clone(),
                waiting: *waiting,
            })
            .collect();
        let mut response = status_of(stats, &self.data_dir);
        response.started_ms = self.started_ms;
        response.now_ms = now;
        response.hosts = hosts.len() as u64;
        response.hosts_up = hosts.iter().filter(|h| h.up).count() as u64;
        response.samples_ingested = self.counters.samples_accepted.load(Ordering::Relaxed);
        response.batches_acked = self.counters.batches.load(Ordering::Relaxed);
        response.samples_rejected = rejected;
        response.outbox = outbox;
        response.remotes = self
            .remote_write
            .as_ref()
            .map(|r| r.statuses().into_iter().map(remote_status).collect())
            .unwrap_or_default();
        let resident = crate::own_metrics::resident_bytes().unwrap_or(0.0) as u64;
        scale_status(&self.counters.scale, now, resident, &mut response);
        let storage = self.counters.storage.snapshot();
        response.storage_state = storage.state.to_owned();
        response.storage_reason = storage.reason;
        response.storage_free_bytes = storage.free_bytes;
        response.storage_min_free_bytes = storage.need_bytes;
        let damage = self.counters.scale.store_damage();
        response.storage_damaged_parts = damage.regions;
        response.storage_damaged_samples = damage.samples;
        response.storage_damaged_reads = damage.reads;
        response.memory_budget_bytes = self.counters.memory.bytes();
        response.streams_refused = self
            .counters
            .streams_failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .sum();
        Ok(Response::new(response))
    }
}

/// Ingest lag, series creation and memory by part, as of `now_ms`.
fn scale_status(
    scale: &crate::ingest::scale::Scale,
    now_ms: i64,
    resident: u64,
    response: &mut StatusResponse,
) {
    response.acks_last_minute = scale.ack.recent_count(now_ms);
    response.ack_p50_seconds = scale.ack.recent_quantile(0.5, now_ms).unwrap_or(0.0);
    response.ack_p99_seconds = scale.ack.recent_quantile(0.99, now_ms).unwrap_or(0.0);
    response.batches_waiting = scale.ack.waiting();
    response.series_created = scale.series.created();
    response.series_created_per_second = scale.series.per_second();
    response.memory = scale
        .memory(resident)
        .into_iter()
        .map(|(part, bytes)| MemoryPart {
            part: part.to_owned(),
            bytes,
        })
        .collect();
    response.resident_bytes = resident;
    response.block_cache_pinned_bytes = scale.store_memory().block_cache_pinned;
}

/// One remote as Status answers it.
fn remote_status(s: RemoteStatus) -> RemoteWriteStatus {
    RemoteWriteStatus {
        name: s.name,
        url: s.url,
        state: s.state,
        lag_seconds: s.lag_seconds,
        queue_bytes: s.queue_bytes,
        samples_sent: s.samples_sent,
        samples_failed: s.samples_failed,
        samples_dropped: s.samples_dropped,
        last_error: s.last_error,
        last_success_ms: s.last_success_ms,
    }
}

/// The store's part of a status answer.
fn status_of(stats: StoreStats, data_dir: &Path) -> StatusResponse {
    StatusResponse {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        data_dir: stats
            .data_dir
            .unwrap_or_else(|| data_dir.to_owned())
            .display()
            .to_string(),
        engine: stats.engine,
        disk_bytes: stats.disk_bytes,
        wal_bytes: stats.wal_bytes,
        parts: stats
            .parts
            .into_iter()
            .map(|p| StoragePart {
                name: p.name,
                disk_bytes: p.disk_bytes,
                live_bytes: p.live_bytes,
                memory_bytes: p.memory_bytes,
                keys: p.keys,
            })
            .collect(),
        series: stats.series,
        series_by_host: stats
            .series_by_host
            .into_iter()
            .map(|(host, series)| HostSeries { host, series })
            .collect(),
        samples_stored: stats.samples,
        ..StatusResponse::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote_write::config::RemoteWriteConfig;
    use std::time::Duration;
    use vigil_store::memory::MemoryStore;

    fn service_over(store: Arc<dyn Store>, remote_write: Option<Arc<RemoteWrite>>) -> AdminService {
        let registry = Arc::new(Registry::new(store.clone(), Duration::from_secs(60), 100));
        service(
            store,
            registry,
            Arc::new(Counters::default()),
            Arc::new(NotifyMetrics::default()),
            &Config::default(),
            remote_write,
        )
    }

    async fn status_of_service(service: &AdminService) -> StatusResponse {
        service
            .status(Request::new(StatusRequest {}))
            .await
            .expect("status")
            .into_inner()
    }

    #[tokio::test]
    async fn status_lists_every_remote_in_configuration_order() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let configs = [
            RemoteWriteConfig {
                name: Some("central".into()),
                url: "http://vigil:secret@127.0.0.1:9/api/v1/write?tenant=a".into(),
                ..RemoteWriteConfig::default()
            },
            RemoteWriteConfig {
                url: "http://127.0.0.1:19/push".into(),
                ..RemoteWriteConfig::default()
            },
        ];
        // The log stays empty: nothing is appended, so nothing is sent.
        let remote_write =
            RemoteWrite::start(store.clone(), &configs, Arc::new(|| 1_800_000_000_000))
                .await
                .expect("forwarders");
        let status = status_of_service(&service_over(store, Some(remote_write.clone()))).await;
        remote_write.shutdown().await;

        let names: Vec<&str> = status.remotes.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["central", "127.0.0.1:19"]);
        let central = &status.remotes[0];
        assert_eq!(central.url, "http://127.0.0.1:9/api/v1/write");
        assert_eq!(central.state, "idle");
        assert_eq!(
            (
                central.samples_sent,
                central.samples_failed,
                central.samples_dropped
            ),
            (0, 0, 0)
        );
        assert_eq!(central.lag_seconds, 0.0);
        assert_eq!(central.last_error, "");
        assert_eq!(central.last_success_ms, 0);
    }

    #[tokio::test]
    async fn no_forwarders_no_remotes() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        assert!(
            status_of_service(&service_over(store.clone(), None))
                .await
                .remotes
                .is_empty()
        );
        let none = Some(RemoteWrite::none());
        assert!(
            status_of_service(&service_over(store, none))
                .await
                .remotes
                .is_empty()
        );
    }

    #[test]
    fn scale_figures_are_carried() {
        let scale = crate::ingest::scale::Scale::default();
        let now = 1_800_000_000_000;
        for seconds in [0.003, 0.004, 0.3] {
            scale.ack.observe(seconds, now - 5_000);
        }
        // Older than a minute: not in the quantiles.
        scale.ack.observe(90.0, now - 120_000);
        let _waiting = scale.ack.arrived();
        let mut stats = StoreStats {
            series: 100,
            ..StoreStats::default()
        };
        scale.observe_store(&stats, now - 60_000);
        stats.series = 700;
        stats.memory = vigil_store::stats::StoreMemory {
            memtables: 1000,
            index_memtables: 100,
            block_cache: 5000,
            block_cache_pinned: 50,
            table_readers: 300,
            index_table_readers: 30,
        };
        scale.observe_store(&stats, now);
        let mut status = StatusResponse::default();
        scale_status(&scale, now, 10_000, &mut status);
        assert_eq!(status.acks_last_minute, 3);
        assert!(
            (0.002..=0.005).contains(&status.ack_p50_seconds),
            "{status:?}"
        );
        assert!((0.2..=0.5).contains(&status.ack_p99_seconds), "{status:?}");
        assert_eq!(status.batches_waiting, 1);
        assert_eq!(status.series_created, 600);
        assert_eq!(status.series_created_per_second, 10.0);
        let memory: Vec<(&str, u64)> = status
            .memory
            .iter()
            .map(|p| (p.part.as_str(), p.bytes))
            .collect();
        assert_eq!(
            memory,
            [
                ("series_index", 130),
                ("head", 900),
                ("block_cache", 5000),
                ("table_readers", 270),
                ("other", 10_000 - 6300),
            ]
        );
        assert_eq!(status.resident_bytes, 10_000);
        assert_eq!(status.block_cache_pinned_bytes, 50);
    }

    #[test]
    fn every_field_is_carried() {
        let status = remote_status(RemoteStatus {
            name: "central".into(),
            url: "https://vm.example:8428/api/v1/write".into(),
            state: "retrying".into(),
            lag_seconds: 12.5,
            queue_bytes: 4096,
            samples_sent: 1,
            samples_failed: 2,
            samples_dropped: 3,
            last_error: "HTTP 503".into(),
            last_success_ms: 1_800_000_000_000,
        });
        assert_eq!(
            status,
            RemoteWriteStatus {
                name: "central".into(),
                url: "https://vm.example:8428/api/v1/write".into(),
                state: "retrying".into(),
                lag_seconds: 12.5,
                queue_bytes: 4096,
                samples_sent: 1,
                samples_failed: 2,
                samples_dropped: 3,
                last_error: "HTTP 503".into(),
                last_success_ms: 1_800_000_000_000,
            }
        );
    }
}
