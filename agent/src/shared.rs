//! The state the collection loop and the delivery loop share: the spool between them, the
//! sink whose series table both use, and the agent's own counters.

use crate::collect::Sink;
use crate::own::Stats;
use crate::spool::Spool;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard};
use tokio::sync::Notify;

/// State the collection and delivery loops share. It has a module of its own so that both
/// [`run`](crate::run) (which fills it) and [`stream`](crate::stream) (which drains it)
/// depend on it, and neither on the other: the dependency points one way.
#[derive(Debug)]
pub struct Shared {
    spool: Mutex<Spool>,
    sink: Mutex<Sink>,
    /// Signalled when a round is spooled.
    pub wake: Notify,
    /// Counters reported as `vigil_agent_*`.
    pub stats: Stats,
}

impl Shared {
    /// A fresh state around `spool`, and a `sink` (which knows the series of the rounds
    /// the spool recovered).
    pub fn new(spool: Spool, sink: Sink) -> Self {
        Self {
            spool: Mutex::new(spool),
            sink: Mutex::new(sink),
            wake: Notify::new(),
            stats: Stats::default(),
        }
    }

    /// The spool, locked.
    pub fn spool(&self) -> MutexGuard<'_, Spool> {
        self.spool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The sink (and its series table), locked.
    pub fn sink(&self) -> MutexGuard<'_, Sink> {
        self.sink.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The sink if no collection round holds it now. A round can hold it for as long as a
    /// hung filesystem's statvfs timeout; the stream must not block on it meanwhile (the
    /// runtime would stop reading acks), so it sends again when the round is spooled.
    pub fn sink_if_free(&self) -> Option<MutexGuard<'_, Sink>> {
        match self.sink.try_lock() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Copies the spool's gauges and counters into the stats.
    pub fn note_spool(&self, spool: &Spool) {
        let s = &self.stats;
        let c = &spool.counters;
        s.queue_rounds.store(spool.len() as u64, Ordering::Relaxed);
        s.queue_bytes.store(spool.bytes() as u64, Ordering::Relaxed);
        s.spool_bytes.store(spool.disk_bytes(), Ordering::Relaxed);
        s.spool_on_disk.store(spool.on_disk(), Ordering::Relaxed);
        s.spool_oldest_ms
            .store(spool.oldest_ms().unwrap_or(0), Ordering::Relaxed);
        s.dropped_rounds.store(c.dropped_rounds, Ordering::Relaxed);
        s.dropped_samples
            .store(c.dropped_samples, Ordering::Relaxed);
        s.spool_write_errors
            .store(c.write_errors, Ordering::Relaxed);
        s.spool_damaged_bytes
            .store(c.damaged_bytes, Ordering::Relaxed);
        s.spool_damaged_segments
            .store(c.damaged_segments, Ordering::Relaxed);
        s.spool_lost_samples
            .store(c.undefined_samples + c.damaged_rounds, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_never_waits_for_a_round_in_progress() {
        let shared = Shared::new(Spool::new(1 << 20), Sink::new());
        let round = shared.sink();
        assert!(
            shared.sink_if_free().is_none(),
            "a round holds the sink: do not block"
        );
        drop(round);
        assert!(shared.sink_if_free().is_some());
    }
}
