//! The background thread that compacts closed windows into blocks every
//! `compaction_interval`, and stops (finishing its current chunk) when the store drops.

use super::windows::{self, Windows};
use rocksdb::DB;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::warn;

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
                    if let Err(e) =
                        windows::compact(&db, &windows, vigil_store::clock::now_ms(), &keep_going)
                    {
                        warn!(error = %e, "block compaction failed; retrying at the next interval");
                    }
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
