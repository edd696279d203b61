//! The storage guard: ingest stops, with a refusal that says why, before the data
//! directory's filesystem is full, and starts again by itself when there is room.
//!
//! # States
//! - **writable**: ingest, import and the remote-write receiver store what they get.
//! - **read-only**: free space on the data directory's filesystem is under the guard's
//!   `need` (below). Agent streams, imports and remote writes are refused as unavailable
//!   (gRPC `UNAVAILABLE`, HTTP 503 with `Retry-After`), naming the directory and its free
//!   space; agents keep their rounds in their spool and retry. Queries, rules, alert
//!   state, silences, the outbox and the collector's own metrics keep working: their
//!   writes are small and are not refused, and `need` is the margin they use.
//!   Retention and compaction keep running and free what they can. Writable again once
//!   free space is back above `need` plus a tenth of it (hysteresis, at least 1 MiB).
//! - **failed**: a store write failed (ENOSPC that got past the guard, another I/O
//!   error). Ingest is refused for [`RETRY_AFTER_MS`]; then the next write is let
//!   through as a probe: when it succeeds the store is writable again (RocksDB resumes
//!   by itself after ENOSPC once space returns), when it fails the wait starts over.
//!
//! `need` is the larger of `storage.min_free_bytes` and what a flush and the compactions
//! after it may write before they free anything: the memtables' bytes (a flush writes at
//! most what they hold) plus the bytes compaction still has to rewrite (RocksDB's
//! estimate). Unset, `storage.min_free_bytes` is 1 GiB or 5 % of the filesystem,
//! whichever is smaller; 0 turns the guard off (write errors are still tracked).
//!
//! Free space is read with `statvfs` (the blocks available to unprivileged users) every
//! [`CHECK_EVERY`]; ingest reads the state from an atomic, so the check costs a batch
//! nothing. Each transition is logged once and counted in
//! `vigil_collector_storage_errors_total{kind}` (`disk_full`: the guard tripped;
//! `enospc`, `io`: a write failed).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use tracing::{info, warn};
use vigil_store::StoreError;

/// How often free space is read.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// After a failed write, how long ingest is refused before a write is tried again.
pub const RETRY_AFTER_MS: i64 = 5_000;

/// Default `storage.min_free_bytes`: 1 GiB, or 5 % of a smaller filesystem.
const DEFAULT_MIN_FREE: u64 = 1 << 30;
const DEFAULT_MIN_FREE_SHARE: u64 = 20;

/// The `kind` label values of `vigil_collector_storage_errors_total`, in counter order.
pub const ERROR_KINDS: [&str; 4] = ["disk_full", "enospc", "io", "corruption"];

const WRITABLE: u8 = 0;
const READ_ONLY: u8 = 1;
const FAILED: u8 = 2;

/// The guard. Lives in [`crate::ingest::Counters`], shared by everything that writes.
#[derive(Debug, Default)]
pub struct StorageGuard {
    /// [`WRITABLE`], [`READ_ONLY`] or [`FAILED`].
    state: AtomicU8,
    /// When a failed store may be written again (ms since the epoch).
    retry_at_ms: AtomicI64,
    /// Last free bytes read, and the need they were compared with.
    free: AtomicU64,
    need: AtomicU64,
    /// What the memtables and pending compactions may write (see the module docs).
    reserve: AtomicU64,
    /// Transitions counted by [`ERROR_KINDS`].
    errors: [AtomicU64; 4],
    /// Whether the last free-space read failed (logged once, not every second).
    unreadable: std::sync::atomic::AtomicBool,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The data directory; `None` until configured (tests, the memory store).
    dir: Option<PathBuf>,
    /// `storage.min_free_bytes`: `None` for the default.
    min_free: Option<u64>,
    /// Why ingest is refused, for refusals, `/-/ready` and `vigil status`.
    reason: String,
}

/// The storage state as `vigil status` and the self-metrics show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// `writable`, `read_only` or `failed`.
    pub state: &'static str,
    /// Why, when not writable.
    pub reason: String,
    /// Free bytes on the data directory's filesystem at the last check.
    pub free_bytes: u64,
    /// The free space the guard keeps (0: off).
    pub need_bytes: u64,
}

impl StorageGuard {
    /// Watches `dir` with `storage.min_free_bytes` = `min_free` (`None`: the default).
    pub fn configure(&self, dir: &Path, min_free: Option<u64>) {
        let mut inner = self.lock();
        inner.dir = Some(dir.to_path_buf());
        inner.min_free = min_free;
    }

    /// What the store's memtables and pending compactions may write, from its stats.
    pub fn set_reserve(&self, bytes: u64) {
        self.reserve.store(bytes, Ordering::Relaxed);
    }

    /// Reads free space now and updates the state; returns the free bytes read.
    pub fn check_disk(&self, now_ms: i64) -> Option<u64> {
        let dir = self.lock().dir.clone()?;
        match free_space(&dir) {
            Ok((free, total)) => {
                self.unreadable.store(false, Ordering::Relaxed);
                self.observe(free, total, now_ms);
                Some(free)
            }
            Err(e) => {
                if !self.unreadable.swap(true, Ordering::Relaxed) {
                    warn!(dir = %dir.display(), error = %e, "cannot read the data directory's free space; the guard keeps its last reading");
                }
                None
            }
        }
    }

    /// Updates the state from `free` of `total` bytes on the data directory's filesystem.
    pub fn observe(&self, free: u64, total: u64, now_ms: i64) {
        let min_free = {
            let inner = self.lock();
            match inner.min_free {
                Some(n) => n,
                None => DEFAULT_MIN_FREE.min(total / DEFAULT_MIN_FREE_SHARE),
            }
        };
        let need = if min_free == 0 {
            0
        } else {
            min_free.max(self.reserve.load(Ordering::Relaxed))
        };
        self.free.store(free, Ordering::Relaxed);
        self.need.store(need, Ordering::Relaxed);
        let resume = need.saturating_add((need / 10).max(1 << 20));
        match self.state.load(Ordering::Acquire) {
            WRITABLE if free < need => {
                let reason = self.full_reason(free, need);
                warn!(free_bytes = free, need_bytes = need, "{reason}");
                self.lock().reason = reason;
                self.errors[0].fetch_add(1, Ordering::Relaxed);
                self.state.store(READ_ONLY, Ordering::Release);
            }
            READ_ONLY if need == 0 || free >= resume => {
                info!(
                    free_bytes = free,
                    need_bytes = need,
                    "storage is writable again: the data directory has room, ingest resumes"
                );
                self.lock().reason.clear();
                self.state.store(WRITABLE, Ordering::Release);
            }
            READ_ONLY => {
                // Keep the figures in the refusal current.
                let reason = self.full_reason(free, need);
                self.lock().reason = reason;
            }
            FAILED if free < need => {
                // Out of room and failing: wait for room, as read-only does.
                let reason = self.full_reason(free, need);
                self.lock().reason = reason;
                self.retry_at_ms.store(i64::MAX, Ordering::Relaxed);
            }
            FAILED if self.retry_at_ms.load(Ordering::Relaxed) == i64::MAX && free >= resume => {
                self.retry_at_ms.store(now_ms, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    /// `Ok` when ingest may write now; else why not, in words for the refusal.
    pub fn check(&self, now_ms: i64) -> Result<(), String> {
        match self.state.load(Ordering::Acquire) {
            WRITABLE => Ok(()),
            FAILED if now_ms >= self.retry_at_ms.load(Ordering::Relaxed) => Ok(()),
            _ => Err(self.lock().reason.clone()),
        }
    }

    /// A store write failed with `e`: refuse ingest for a while (logged and counted once
    /// per failure, not per write).
    pub fn write_failed(&self, e: &StoreError, now_ms: i64) {
        if matches!(
            e,
            StoreError::SeriesLimit { .. } | StoreError::TooLarge { .. }
        ) {
            return;
        }
        let text = e.to_string();
        let enospc = text.contains("No space left") || text.contains("ENOSPC");
        // RocksDB stops writing for good once a compaction reads a damaged table.
        let damaged = text.contains("Corruption");
        let kind = match (enospc, damaged) {
            (true, _) => 1,
            (false, true) => 3,
            (false, false) => 2,
        };
        let dir = self.lock().dir.clone().unwrap_or_default();
        let advice = if enospc {
            format!(
                ": the filesystem of {} is full; free space there (agents keep their data \
                 meanwhile)",
                dir.display()
            )
        } else if damaged {
            format!(
                ": a file of the data directory is damaged and RocksDB stopped writing; stop \
                 the collector and run `vigil-collector repair --data-dir {}` (agents keep \
                 their data meanwhile)",
                dir.display()
            )
        } else {
            String::new()
        };
        let reason = format!(
            "storage failed a write ({text}); ingest is refused and retried every {} s{advice}",
            RETRY_AFTER_MS / 1000,
        );
        self.retry_at_ms
            .store(now_ms.saturating_add(RETRY_AFTER_MS), Ordering::Relaxed);
        let before = self.state.swap(FAILED, Ordering::AcqRel);
        if before != FAILED {
            warn!(error = %text, "{reason}");
            self.errors[kind].fetch_add(1, Ordering::Relaxed);
        }
        self.lock().reason = reason;
    }

    /// A store write succeeded: a failed store is writable again.
    pub fn write_ok(&self) {
        if self.state.load(Ordering::Acquire) != FAILED {
            return;
        }
        if self
            .state
            .compare_exchange(FAILED, WRITABLE, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            info!("storage writes succeed again: ingest resumes");
            self.lock().reason.clear();
        }
    }

    /// The state now.
    pub fn snapshot(&self) -> Snapshot {
        let state = match self.state.load(Ordering::Acquire) {
            WRITABLE => "writable",
            READ_ONLY => "read_only",
            _ => "failed",
        };
        Snapshot {
            state,
            reason: self.lock().reason.clone(),
            free_bytes: self.free.load(Ordering::Relaxed),
            need_bytes: self.need.load(Ordering::Relaxed),
        }
    }

    /// Transitions counted per kind, in [`ERROR_KINDS`] order.
    pub fn errors(&self) -> [u64; 4] {
        std::array::from_fn(|i| self.errors[i].load(Ordering::Relaxed))
    }

    fn full_reason(&self, free: u64, need: u64) -> String {
        let dir = self.lock().dir.clone().unwrap_or_default();
        format!(
            "storage is read-only for ingest: the filesystem of the data directory {} has {} \
             free, under the {} the collector keeps free (storage.min_free_bytes, or what a \
             flush and compaction need); free space there or move the data directory. Agents \
             keep their data and retry; queries and alerts keep working",
            dir.display(),
            human(free),
            human(need)
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// (free bytes available to unprivileged users, total bytes) of the filesystem of `dir`.
/// (statvfs's counts are 32 bits wide on some targets: the casts are no-ops only where
/// they are 64.)
#[allow(unsafe_code, clippy::unnecessary_cast)]
pub fn free_space(dir: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut out = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `path` is a valid C string and `out` a writable statvfs.
    let rc = unsafe { libc::statvfs(path.as_ptr(), out.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled `out`.
    let s = unsafe { out.assume_init() };
    // The fields are 32 bits wide on some targets: the casts are no-ops only on 64-bit Linux.
    #[allow(clippy::unnecessary_cast)]
    let unit = s.f_frsize as u64;
    Ok((
        (s.f_bavail as u64).saturating_mul(unit),
        (s.f_blocks as u64).saturating_mul(unit),
    ))
}

/// Bytes in binary units with one decimal ("12.5 MiB").
fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests;
