//! The background thread that compacts closed windows into blocks every
//! `compaction_interval` (and the open one too, once, after an interval in which few
//! samples arrived), and stops (finishing its current chunk) when the store drops;
//! [`RocksStore::compact_windows`] runs the same pass by hand.

use crate::RocksStore;
use crate::windows::{self, CompactionReport, Windows};
use rocksdb::DB;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::warn;
use vigil_store::StoreResult;

/// At most this many samples appended since the previous pass ended make the store quiet: its
/// own metrics and a few hosts' live scrapes, not a backfill or a fleet. A quiet pass also
/// compacts the open window (once per window; see `windows::compact`).
const QUIET_SAMPLES: u64 = 10_000;

/// Handle of the running compactor; dropping it stops the thread and waits for it.
pub(super) struct Compactor {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Compactor {
    /// Starts compacting `db` every `interval`.
    pub fn start(db: Arc<DB>, windows: Arc<Windows>, interval: Duration) -> std::io::Result<Self> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("vigil-compactor".into())
            .spawn(move || {
                let (flag, wake) = &*signal;
                // Samples appended before the previous pass ended.
                let mut seen = windows.arrived();
                loop {
                    let stopped = flag.lock().unwrap_or_else(|p| p.into_inner());
                    let (stopped, _) = wake
                        .wait_timeout_while(stopped, interval, |s| !*s)
                        .unwrap_or_else(|p| p.into_inner());
                    if *stopped {
                        return;
                    }
                    drop(stopped);
                    let keep_going = || !*flag.lock().unwrap_or_else(|p| p.into_inner());
                    let idle = windows.arrived().saturating_sub(seen) <= QUIET_SAMPLES;
                    let now = vigil_store::clock::now_ms();
                    if let Err(e) = windows::compact(&db, &windows, now, idle, true, &keep_going) {
                        warn!(error = %e, "block compaction failed; retrying at the next interval");
                    }
                    seen = windows.arrived();
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Compactor {
    fn drop(&mut self) {
        let (flag, wake) = &*self.stop;
        *flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl RocksStore {
    /// Applies retention as of `now_ms` and compacts every window that ended before it
    /// (less the grace period): what the background compactor does every
    /// `compaction_interval`. For tests and benchmarks; `i64::MAX` compacts everything
    /// (and, with a retention, expires everything).
    pub fn compact_windows(&self, now_ms: i64) -> StoreResult<CompactionReport> {
        windows::compact(&self.db, &self.windows, now_ms, false, false, &|| true)
    }

    /// Like [`RocksStore::compact_windows`], but also compacts the windows still open, as
    /// the background compactor does after an interval without samples.
    pub fn compact_idle_windows(&self, now_ms: i64) -> StoreResult<CompactionReport> {
        windows::compact(&self.db, &self.windows, now_ms, true, false, &|| true)
    }
}
