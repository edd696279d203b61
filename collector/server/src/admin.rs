//! Admin: the `vigil.v1.Admin` gRPC service behind `vigil backup` and `vigil status`.
//!
//! A backup is a checkpoint of the store ([`Store::checkpoint`]) in a new directory on the
//! collector's machine, taken while ingest goes on, with a manifest beside the data:
//!
//! ```text
//!   DIR/                  a data directory: start a collector on it to restore
//!   DIR/VIGIL_BACKUP.json {"vigil_backup": 1, "created": "2026-11-21T10:00:00Z",
//!                          "created_ms": …, "collector_version": "0.1.0",
//!                          "format": <the engine's>, "source_data_dir": "…",
//!                          "bytes": …, "files": …, "restore": "…"}
//! ```
//!
//! The directory is checked before anything is written: it must be an absolute path, must
//! not exist or be empty, and the collector must be able to create it. One backup runs at
//! a time. Status gathers the store's figures ([`Store::stats`]), the host registry, and
//! the counters of ingest and the notifier.

use crate::config::Config;
use crate::ingest::Counters;
use crate::notify::metrics::NotifyMetrics;
use crate::registry::Registry;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, UNIX_EPOCH};
use tonic::{Request, Response, Status};
use tracing::{info, warn};
use vigil_proto::v1::admin_server::{Admin, AdminServer};
use vigil_proto::v1::{
    BackupRequest, BackupResponse, HostSeries, ReceiverOutbox, StatusRequest, StatusResponse,
    StoragePart,
};
use vigil_store::clock::now_ms;
use vigil_store::{Store, StoreError, StoreStats};

/// The manifest written inside every backup.
pub const MANIFEST: &str = "VIGIL_BACKUP.json";

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
    started_ms: i64,
    /// Held while a backup runs: two checkpoints at once would only compete for the disk.
    one_backup: tokio::sync::Mutex<()>,
}

/// Why a backup was refused or failed; each message names the directory.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The path is relative: it would land wherever the collector happens to run.
    #[error(
        "backup directory {0:?} is not an absolute path; give the full path on the collector's machine"
    )]
    Relative(PathBuf),
    /// Something other than a directory is in the way.
    #[error("backup directory {} exists and is not a directory; choose a new path", .0.display())]
    NotADirectory(PathBuf),
    /// The directory holds files already (maybe an earlier backup).
    #[error(
        "backup directory {} exists and is not empty; choose a new directory (vigil backup creates it)",
        .0.display()
    )]
    NotEmpty(PathBuf),
    /// The collector cannot create the directory.
    #[error(
        "cannot create backup directory {}: {reason}; the collector's user must be able to write to its parent",
        dir.display()
    )]
    Unwritable {
        /// The directory.
        dir: PathBuf,
        /// What the filesystem said.
        reason: String,
    },
    /// The store could not make the checkpoint.
    #[error("backup to {} failed: {source}", dir.display())]
    Store {
        /// The directory.
        dir: PathBuf,
        /// The store's error.
        source: StoreError,
    },
    /// The checkpoint was made but its manifest could not be written.
    #[error(
        "the checkpoint in {} is complete but its manifest could not be written ({reason}); the data is usable",
        dir.display()
    )]
    Manifest {
        /// The directory.
        dir: PathBuf,
        /// What failed.
        reason: String,
    },
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn backup(
        &self,
        request: Request<BackupRequest>,
    ) -> Result<Response<BackupResponse>, Status> {
        let dir = PathBuf::from(request.into_inner().dir);
        let _one = self.one_backup.lock().await;
        let (store, source) = (self.store.clone(), self.data_dir.clone());
        let started = Instant::now();
        let target = dir.clone();
        let result = tokio::task::spawn_blocking(move || backup(store.as_ref(), &target, &source))
            .await
            .map_err(|e| Status::internal(format!("backup task failed: {e}")))?;
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Ok(mut response) => {
                response.seconds = seconds;
                info!(
                    dir = %dir.display(),
                    bytes = response.bytes,
                    files = response.files,
                    linked_files = response.linked_files,
                    seconds,
                    "backup written"
                );
                Ok(Response::new(response))
            }
            Err(e) => {
                warn!(dir = %dir.display(), error = %e, "backup refused or failed");
                Err(e.into())
            }
        }
    }

    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let (store, registry) = (self.store.clone(), self.registry.clone());
        let now = now_ms();
        let (stats, hosts) = tokio::task::spawn_blocking(move || {
            Ok::<_, StoreError>((store.stats()?, registry.hosts(now)?))
        })
        .await
        .map_err(|e| Status::internal(format!("status task failed: {e}")))?
        .map_err(crate::error::Error::from)?;
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

/// Checks `dir`, makes the checkpoint and writes the manifest.
pub fn backup(store: &dyn Store, dir: &Path, source: &Path) -> Result<BackupResponse, BackupError> {
    prepare(dir)?;
    let info = store.checkpoint(dir).map_err(|source| BackupError::Store {
        dir: dir.to_owned(),
        source,
    })?;
    let created_ms = now_ms();
    let created = UNIX_EPOCH + Duration::from_millis(u64::try_from(created_ms).unwrap_or(0));
    let manifest = serde_json::json!({
        "vigil_backup": 1,
        "created": humantime::format_rfc3339_seconds(created).to_string(),
        "created_ms": created_ms,
        "collector_version": env!("CARGO_PKG_VERSION"),
        "format": info.format,
        "source_data_dir": source.display().to_string(),
        "bytes": info.bytes,
        "files": info.files,
        "restore": "stop vigil-collector, set [storage] data_dir to this directory (or copy \
                    it over the data directory), start vigil-collector",
    });
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| BackupError::Manifest {
        dir: dir.to_owned(),
        reason: e.to_string(),
    })? + "\n";
    std::fs::write(dir.join(MANIFEST), &text).map_err(|e| BackupError::Manifest {
        dir: dir.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(BackupResponse {
        dir: dir.display().to_string(),
        bytes: info.bytes + text.len() as u64,
        files: info.files + 1,
        seconds: 0.0,
        linked_files: info.linked_files,
        manifest: MANIFEST.to_owned(),
        format: info.format,
    })
}

/// Refuses a directory that cannot take a backup, before anything is written; leaves `dir`
/// absent (its parent created) for the store to create.
fn prepare(dir: &Path) -> Result<(), BackupError> {
    if !dir.is_absolute() {
        return Err(BackupError::Relative(dir.to_owned()));
    }
    let unwritable = |e: std::io::Error| BackupError::Unwritable {
        dir: dir.to_owned(),
        reason: e.to_string(),
    };
    match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => return Err(BackupError::NotADirectory(dir.to_owned())),
        Ok(_) => {
            if std::fs::read_dir(dir).map_err(unwritable)?.next().is_some() {
                return Err(BackupError::NotEmpty(dir.to_owned()));
            }
            // The store creates the directory itself (an empty one is in its way).
            std::fs::remove_dir(dir).map_err(unwritable)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(unwritable(e)),
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(unwritable)?;
    }
    // Try creating it now, so a permission problem is named plainly rather than in the
    // engine's words.
    std::fs::create_dir(dir).map_err(unwritable)?;
    std::fs::remove_dir(dir).map_err(unwritable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_rocks::{RocksOptions, RocksStore};
    use vigil_store::memory::MemoryStore;
    use vigil_store::{Labels, SeriesSamples};

    #[test]
    fn refuses_relative_non_empty_and_file_paths_naming_them() {
        let store = MemoryStore::new();
        let tmp = tempfile::tempdir().unwrap();
        let err = backup(&store, Path::new("backups/today"), tmp.path()).unwrap_err();
        assert!(matches!(err, BackupError::Relative(_)), "{err}");
        assert!(err.to_string().contains("backups/today"), "{err}");

        std::fs::write(tmp.path().join("old"), b"x").unwrap();
        let err = backup(&store, tmp.path(), tmp.path()).unwrap_err();
        assert!(matches!(err, BackupError::NotEmpty(_)), "{err}");
        assert!(err.to_string().contains(&tmp.path().display().to_string()));
        assert!(tmp.path().join("old").exists(), "nothing was touched");

        let err = backup(&store, &tmp.path().join("old"), tmp.path()).unwrap_err();
        assert!(matches!(err, BackupError::NotADirectory(_)), "{err}");
        assert_eq!(Status::from(err).code(), tonic::Code::FailedPrecondition);
    }

    #[test]
    fn an_empty_existing_dir_is_used_and_gets_a_manifest() {
        let live = tempfile::tempdir().unwrap();
        let store = RocksStore::open(live.path(), RocksOptions { sync: false }).unwrap();
        let labels = Labels::from_pairs(&[("__name__", "up"), ("host", "a")]);
        let id = store.resolve_series("a", &[labels], 10).unwrap()[0];
        store
            .append(&[SeriesSamples {
                id,
                samples: vec![(1_000, 1.0), (2_000, 2.0)],
            }])
            .unwrap();
        let backups = tempfile::tempdir().unwrap();
        let response = backup(&store, backups.path(), live.path()).unwrap();
        assert_eq!(response.dir, backups.path().display().to_string());
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(backups.path().join(MANIFEST)).unwrap()).unwrap();
        assert_eq!(manifest["collector_version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(manifest["format"], response.format);
        assert!(!response.format.is_empty());
        let copy = RocksStore::open(backups.path(), RocksOptions::default()).unwrap();
        let mut out = Vec::new();
        copy.samples(id, 0, 10_000, &mut out).unwrap();
        assert_eq!(out, vec![(1_000, 1.0), (2_000, 2.0)]);
    }

    #[test]
    fn a_store_with_nothing_on_disk_says_so() {
        let tmp = tempfile::tempdir().unwrap();
        let err = backup(&MemoryStore::new(), &tmp.path().join("b"), tmp.path()).unwrap_err();
        assert!(err.to_string().contains("nothing on disk"), "{err}");
        assert!(!tmp.path().join("b").exists());
    }
}
