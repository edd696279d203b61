//! Backups: a checkpoint of the store ([`Store::checkpoint`]) in a new directory on the
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
//! not exist or be empty, and the collector must be able to create it.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};
use vigil_proto::v1::BackupResponse;
use vigil_store::clock::now_ms;
use vigil_store::{Store, StoreError};

/// The manifest written inside every backup.
pub const MANIFEST: &str = "VIGIL_BACKUP.json";

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
    use tonic::Status;
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
