//! Backups: a checkpoint of the store ([`Store::checkpoint`]) in a new directory under
//! `storage.backup_dir` on the collector's machine, taken while ingest goes on, with a
//! manifest beside the data:
//!
//! ```text
//!   DIR/                  a data directory: start a collector on it to restore
//!   DIR/VIGIL_BACKUP.json {"vigil_backup": 1, "created": "2026-11-21T10:00:00Z",
//!                          "created_ms": …, "collector_version": "0.1.0",
//!                          "format": <the engine's>, "source_data_dir": "…",
//!                          "bytes": …, "files": …, "restore": "…"}
//! ```
//!
//! The directory a client asks for is taken relative to `storage.backup_dir` (an absolute
//! path must lie inside it) and checked before anything is written (`target`): no `..`,
//! no symbolic link leading out, not inside the data directory, new or empty. The store
//! writes the checkpoint into a staging directory inside it, whose files are then moved
//! up. An existing directory is never removed: when a backup fails, only what it created
//! is.

mod target;

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
    /// The path has a `..` component.
    #[error(
        "backup directory {} has a \"..\" component; give a path inside storage.backup_dir ({}) without \"..\"",
        .path.display(), .backup_dir.display()
    )]
    ParentComponent {
        /// The path asked for.
        path: PathBuf,
        /// `storage.backup_dir`.
        backup_dir: PathBuf,
    },
    /// An absolute path outside `storage.backup_dir`.
    #[error(
        "backup directory {} is outside storage.backup_dir ({}); give a name relative to it, or a path inside it",
        .path.display(), .backup_dir.display()
    )]
    Outside {
        /// The path asked for.
        path: PathBuf,
        /// `storage.backup_dir`.
        backup_dir: PathBuf,
    },
    /// The path names `storage.backup_dir` itself, or nothing.
    #[error(
        "backup directory {:?} names no directory inside storage.backup_dir ({}); give a new directory's name, like today's date",
        .path.display().to_string(), .backup_dir.display()
    )]
    NoName {
        /// The path asked for.
        path: PathBuf,
        /// `storage.backup_dir`.
        backup_dir: PathBuf,
    },
    /// A symbolic link on the way leads out of `storage.backup_dir` (or nowhere).
    #[error(
        "backup directory {}: {} is a symbolic link leading out of storage.backup_dir ({}); choose another path",
        .path.display(), .link.display(), .backup_dir.display()
    )]
    SymlinkOut {
        /// The path asked for.
        path: PathBuf,
        /// The link.
        link: PathBuf,
        /// `storage.backup_dir`.
        backup_dir: PathBuf,
    },
    /// The path is inside the live data directory.
    #[error(
        "backup directory {} is inside the data directory {} (storage.data_dir); choose a path in storage.backup_dir ({}) outside it",
        .path.display(), .data_dir.display(), .backup_dir.display()
    )]
    InsideDataDir {
        /// The path asked for.
        path: PathBuf,
        /// `storage.data_dir`.
        data_dir: PathBuf,
        /// `storage.backup_dir`.
        backup_dir: PathBuf,
    },
    /// Something other than a directory is in the way.
    #[error("backup directory {} exists and is not a directory; choose a new path", .0.display())]
    NotADirectory(PathBuf),
    /// The directory holds files already (maybe an earlier backup).
    #[error(
        "backup directory {} exists and is not empty; choose a new directory in storage.backup_dir (vigil backup creates it)",
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
    /// The checkpoint was made but could not be moved into the directory.
    #[error(
        "backup to {} failed while moving the checkpoint into place ({reason}); what it wrote was removed",
        dir.display()
    )]
    Incomplete {
        /// The directory.
        dir: PathBuf,
        /// What failed.
        reason: String,
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

/// Checks `request` (relative to `backup_dir`, or absolute inside it), makes the checkpoint
/// and writes the manifest; `data_dir` is the live data directory, which the backup must
/// stay out of and which the manifest names.
pub fn backup(
    store: &dyn Store,
    request: &Path,
    backup_dir: &Path,
    data_dir: &Path,
) -> Result<BackupResponse, BackupError> {
    let mut target = target::Target::prepare(request, backup_dir, data_dir)?;
    let dir = target.shown.clone();
    let staging = target.staging();
    let info = store
        .checkpoint(&staging)
        .map_err(|source| BackupError::Store {
            dir: dir.clone(),
            source,
        })?;
    target.move_up(&staging)?;
    // From here the checkpoint is whole: keep it whatever happens to the manifest.
    target.keep();
    let created_ms = now_ms();
    let created = UNIX_EPOCH + Duration::from_millis(u64::try_from(created_ms).unwrap_or(0));
    let manifest = serde_json::json!({
        "vigil_backup": 1,
        "created": humantime::format_rfc3339_seconds(created).to_string(),
        "created_ms": created_ms,
        "collector_version": env!("CARGO_PKG_VERSION"),
        "format": info.format,
        "source_data_dir": data_dir.display().to_string(),
        "bytes": info.bytes,
        "files": info.files,
        "restore": "stop vigil-collector, set [storage] data_dir to this directory (or copy \
                    it over the data directory), start vigil-collector",
    });
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| BackupError::Manifest {
        dir: dir.clone(),
        reason: e.to_string(),
    })? + "\n";
    std::fs::write(target.dir.join(MANIFEST), &text).map_err(|e| BackupError::Manifest {
        dir: dir.clone(),
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

// The tests run on RocksDB.
#[cfg(test)]
#[cfg(feature = "rocks")]
mod tests;
