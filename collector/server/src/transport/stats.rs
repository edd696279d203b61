//! A listener's connection cap and what it counts: connections open, accepted, refused
//! (cap reached, accept errors) and timed out; warnings about refusals are rate-limited.
//!
//! The listeners register their limits here, process-wide, and the collector's
//! housekeeping writes [`series`] as its own metrics (`vigil_collector_connections_*`).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// At most one warning of each kind per listener this often; it says how many happened.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// The registered limits, one per listener name (the last one registered wins).
static REGISTERED: Mutex<Vec<Arc<ConnectionLimit>>> = Mutex::new(Vec::new());

/// One listener's cap on open connections, and its counters.
#[derive(Debug)]
pub struct ConnectionLimit {
    listener: &'static str,
    key: &'static str,
    max: usize,
    slots: Arc<Semaphore>,
    accepted: AtomicU64,
    refused: AtomicU64,
    accept_errors: AtomicU64,
    timed_out: AtomicU64,
    refusals_to_warn: RateLimited,
    errors_to_warn: RateLimited,
}

impl ConnectionLimit {
    /// A cap of `max` open connections for `listener` ("grpc", "http"), whose setting is
    /// `key` (named in warnings). Not registered: see [`ConnectionLimit::register`].
    pub fn new(listener: &'static str, key: &'static str, max: usize) -> Arc<Self> {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        Arc::new(Self {
            listener,
            key,
            max,
            slots: Arc::new(Semaphore::new(max)),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
            refusals_to_warn: RateLimited::default(),
            errors_to_warn: RateLimited::default(),
        })
    }

    /// A new limit, registered so that its counters are written as metrics.
    pub fn register(listener: &'static str, key: &'static str, max: usize) -> Arc<Self> {
        let limit = Self::new(listener, key, max);
        let mut all = REGISTERED.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|l| l.listener != listener);
        all.push(limit.clone());
        limit
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.max - self.slots.available_permits()
    }

    /// Connections closed at once because the listener was full, so far.
    pub fn refused_total(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Connections closed because their client was too slow, so far.
    pub fn timed_out_total(&self) -> u64 {
        self.timed_out.load(Ordering::Relaxed)
    }

    /// A slot for one more connection, or None when all are taken.
    pub(super) fn admit(self: &Arc<Self>) -> Option<OwnedSemaphorePermit> {
        let slot = self.slots.clone().try_acquire_owned().ok()?;
        self.accepted.fetch_add(1, Ordering::Relaxed);
        Some(slot)
    }

    /// Counts a connection from `peer` closed because the listener was full; warns now and
    /// then.
    pub(super) fn refused(&self, peer: SocketAddr) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        if let Some(n) = self.refusals_to_warn.tick() {
            tracing::warn!(
                listener = self.listener,
                max = self.max,
                refused = n,
                last_peer = %peer,
                "connections closed at once: {} = {} connections are already open; raise it \
                 (and the open-file limit) if these are real clients",
                self.key,
                self.max,
            );
        }
    }

    /// Counts an error from accept itself (such as running out of file descriptors).
    pub(super) fn accept_failed(&self, e: &io::Error) {
        self.accept_errors.fetch_add(1, Ordering::Relaxed);
        if let Some(n) = self.errors_to_warn.tick() {
            tracing::warn!(
                listener = self.listener,
                errors = n,
                error = %e,
                "cannot accept connections; if it says too many open files, raise the \
                 open-file limit (LimitNOFILE, ulimit -n) or lower {}",
                self.key,
            );
        }
    }

    /// Counts a connection closed because its client did not send in time.
    pub(super) fn timed_out(&self, peer: SocketAddr, what: &str) {
        self.timed_out.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(listener = self.listener, %peer, "closed a connection: {what}");
    }

    /// This listener's metrics.
    fn series(&self) -> Vec<Series> {
        let listener = ("listener", self.listener);
        let count = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        vec![
            (
                "vigil_collector_connections_open",
                vec![listener],
                self.open() as f64,
            ),
            (
                "vigil_collector_connections_max",
                vec![listener],
                self.max as f64,
            ),
            (
                "vigil_collector_connections_accepted_total",
                vec![listener],
                count(&self.accepted),
            ),
            (
                "vigil_collector_connections_refused_total",
                vec![listener, ("reason", "max_connections")],
                count(&self.refused),
            ),
            (
                "vigil_collector_connections_refused_total",
                vec![listener, ("reason", "accept_error")],
                count(&self.accept_errors),
            ),
            (
                "vigil_collector_connections_timed_out_total",
                vec![listener],
                count(&self.timed_out),
            ),
        ]
    }
}

/// One metric: its name, its labels beyond `host`, its value.
pub type Series = (&'static str, Vec<(&'static str, &'static str)>, f64);

/// The registered listeners' metrics, for the collector's own series.
pub fn series() -> Vec<Series> {
    let all = REGISTERED.lock().unwrap_or_else(|p| p.into_inner()).clone();
    all.iter().flat_map(|limit| limit.series()).collect()
}

/// Lets an event through at most once per [`WARN_EVERY`], with the count since the last.
#[derive(Debug, Default)]
struct RateLimited(Mutex<(Option<Instant>, u64)>);

impl RateLimited {
    /// Counts one event; Some(events since the last report) when it is time to report.
    fn tick(&self) -> Option<u64> {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (last, pending) = &mut *state;
        *pending += 1;
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < WARN_EVERY) {
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(pending))
    }
}
