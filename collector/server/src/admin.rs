//! Admin: the `vigil.v1.Admin` gRPC service behind `vigil backup` and `vigil status`: a
//! thin adapter over [`crate::backup`] (one backup runs at a time) and the store's figures
//! ([`Store::stats`]), the host registry, and the counters of ingest and the notifier.

use crate::backup::backup;
use crate::config::Config;
use crate::ingest::Counters;
use crate::notify::metrics::NotifyMetrics;
use crate::registry::Registry;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tonic::{Request, Response, Status};
use tracing::{info, warn};
use vigil_proto::v1::admin_server::{Admin, AdminServer};
use vigil_proto::v1::{
    BackupRequest, BackupResponse, HostSeries, ReceiverOutbox, StatusRequest, StatusResponse,
    StoragePart,
};
use vigil_store::clock::now_ms;
use vigil_store::{Store, StoreStats};

/// The service as the server mounts it.
pub fn server(
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    counters: Arc<Counters>,
    notify: Arc<NotifyMetrics>,
    config: &Config,
) -> AdminServer<AdminService> {
    AdminServer::new(AdminService {
        store,
        registry,
        counters,
        notify,
        data_dir: config.storage.data_dir.clone(),
        backup_dir: config.storage.backup_dir.clone(),
        started_ms: now_ms(),
        one_backup: tokio::sync::Mutex::new(()),
    })
}

/// The Admin service.
pub struct AdminService {
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    counters: Arc<Counters>,
    notify: Arc<NotifyMetrics>,
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
        Ok(Response::new(response))
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
