//! Counting broken streams, reconnects and re-sent batches, and the reconnection storms they
//! make.
//!
//! A host is *recovering* from the moment its stream (or an attempt to open one) fails
//! until it has a stream again and every batch it had spooled when that stream opened is
//! acknowledged. A *storm* runs from the first host starting to recover to the moment no
//! host is recovering any more; the Acks read within it give its latency percentiles (from
//! when each batch could first be sent on the stream that delivered it). After a collector
//! restart the storm's end is when the fleet has caught up.

use super::report::{Stats, lock, percentile};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::time::Instant;

/// Reconnect counters shared by every host.
#[derive(Debug, Default)]
pub(super) struct Reconnects {
    /// Streams open now.
    open: AtomicU64,
    /// Streams, or attempts to open one, that failed.
    failures: AtomicU64,
    /// Attempts to connect after a host's first.
    attempts: AtomicU64,
    /// Streams opened after a failure.
    reconnects: AtomicU64,
    /// Batches sent again on a new stream, and their samples.
    resent_batches: AtomicU64,
    resent_samples: AtomicU64,
    storms: Mutex<Storms>,
}

#[derive(Debug, Default)]
struct Storms {
    recovering: u64,
    current: Option<Storm>,
    done: Vec<Storm>,
}

#[derive(Debug)]
struct Storm {
    start: Instant,
    start_unix_ms: i64,
    end: Option<(Instant, i64)>,
    hosts: u64,
    failures: u64,
    reconnects: u64,
    resent_batches: u64,
    latencies_us: Vec<u64>,
}

/// One reconnection storm.
#[derive(Debug, Clone, PartialEq)]
pub struct StormReport {
    /// When the first host started recovering, seconds since the run began.
    pub start_s: f64,
    /// When the last host recovered (None: some host never did), seconds since the run began.
    pub end_s: Option<f64>,
    /// The same as Unix milliseconds, to line up with events outside the load generator.
    pub start_unix_ms: i64,
    /// End as Unix milliseconds.
    pub end_unix_ms: Option<i64>,
    /// Hosts that had to recover.
    pub hosts: u64,
    /// Stream failures and failed attempts within it.
    pub failures: u64,
    /// Streams opened again within it.
    pub reconnects: u64,
    /// Batches sent again within it.
    pub resent_batches: u64,
    /// Batches acknowledged within it.
    pub batches: u64,
    /// Their latency percentiles, milliseconds: p50, p90, p99, max.
    pub latency_ms: [f64; 4],
}

/// The reconnect totals of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReconnectReport {
    /// Streams or attempts that failed.
    pub failures: u64,
    /// Attempts to connect after a host's first.
    pub attempts: u64,
    /// Streams opened after a failure.
    pub reconnects: u64,
    /// Batches sent again, and their samples.
    pub resent_batches: u64,
    /// Samples in them.
    pub resent_samples: u64,
    /// Hosts still recovering at the end.
    pub recovering: u64,
    /// The storms, oldest first.
    pub storms: Vec<StormReport>,
}

impl ReconnectReport {
    /// As JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "stream_failures": self.failures,
            "reconnect_attempts": self.attempts,
            "reconnects": self.reconnects,
            "resent_batches": self.resent_batches,
            "resent_samples": self.resent_samples,
            "recovering_at_end": self.recovering,
            "storms": self.storms.iter().map(|s| serde_json::json!({
                "start_s": s.start_s,
                "end_s": s.end_s,
                "start_unix_ms": s.start_unix_ms,
                "end_unix_ms": s.end_unix_ms,
                "seconds": s.end_s.map(|e| e - s.start_s),
                "hosts": s.hosts,
                "stream_failures": s.failures,
                "reconnects": s.reconnects,
                "resent_batches": s.resent_batches,
                "batches": s.batches,
                "ack_latency_ms": {"p50": s.latency_ms[0], "p90": s.latency_ms[1],
                    "p99": s.latency_ms[2], "max": s.latency_ms[3]},
            })).collect::<Vec<_>>(),
        })
    }

    /// As lines of text (nothing when no stream failed).
    pub fn text(&self) -> String {
        if self.failures == 0 {
            return String::new();
        }
        let mut out = format!(
            "reconnects: {} stream failures, {} attempts after a host's first, {} streams reopened, {} batches ({} samples) re-sent; {} hosts still recovering\n",
            self.failures,
            self.attempts,
            self.reconnects,
            self.resent_batches,
            self.resent_samples,
            self.recovering
        );
        for s in &self.storms {
            let end = s
                .end_s
                .map_or("not over".to_owned(), |e| format!("{:.1} s", e - s.start_s));
            out.push_str(&format!(
                "storm at t={:.1}s: {} hosts, {} reopened, {} batches re-sent, lasted {end}; ack p50 {:.0} ms p90 {:.0} ms p99 {:.0} ms max {:.0} ms ({} batches)\n",
                s.start_s, s.hosts, s.reconnects, s.resent_batches,
                s.latency_ms[0], s.latency_ms[1], s.latency_ms[2], s.latency_ms[3], s.batches
            ));
        }
        out
    }
}

impl Stats {
    /// A stream is open (Welcome received).
    pub fn stream_opened(&self) {
        self.reconnect.open.fetch_add(1, Ordering::Relaxed);
    }

    /// An open stream ended, failed or done.
    pub fn stream_closed(&self) {
        self.reconnect.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// Streams open now.
    pub fn open(&self) -> u64 {
        self.reconnect.open.load(Ordering::Relaxed)
    }

    /// A stream, or an attempt to open one, failed.
    pub fn stream_failed(&self) {
        self.reconnect.failures.fetch_add(1, Ordering::Relaxed);
        lock(&self.window).failures += 1;
        if let Some(s) = &mut lock(&self.reconnect.storms).current {
            s.failures += 1;
        }
    }

    /// A host tries to connect again.
    pub fn reconnect_attempt(&self) {
        self.reconnect.attempts.fetch_add(1, Ordering::Relaxed);
    }

    /// A host lost its stream and starts recovering (the first one starts a storm).
    pub fn recovery_begins(&self) {
        let mut storms = lock(&self.reconnect.storms);
        storms.recovering += 1;
        let storm = storms.current.get_or_insert_with(|| Storm {
            start: Instant::now(),
            start_unix_ms: crate::now_ms(),
            end: None,
            hosts: 0,
            failures: 1,
            reconnects: 0,
            resent_batches: 0,
            latencies_us: Vec::new(),
        });
        storm.hosts += 1;
    }

    /// A recovering host has a stream again.
    pub fn reconnected(&self) {
        self.reconnect.reconnects.fetch_add(1, Ordering::Relaxed);
        lock(&self.window).reconnects += 1;
        if let Some(s) = &mut lock(&self.reconnect.storms).current {
            s.reconnects += 1;
        }
    }

    /// A recovering host had everything it spooled acknowledged (the last one ends the
    /// storm).
    pub fn recovered(&self) {
        let mut storms = lock(&self.reconnect.storms);
        storms.recovering = storms.recovering.saturating_sub(1);
        if storms.recovering == 0
            && let Some(mut storm) = storms.current.take()
        {
            storm.end = Some((Instant::now(), crate::now_ms()));
            storms.done.push(storm);
        }
    }

    /// Hosts recovering now.
    pub fn recovering(&self) -> u64 {
        lock(&self.reconnect.storms).recovering
    }

    /// A batch of `samples` samples was sent again on a new stream.
    pub fn resent(&self, samples: u64) {
        self.reconnect
            .resent_batches
            .fetch_add(1, Ordering::Relaxed);
        self.reconnect
            .resent_samples
            .fetch_add(samples, Ordering::Relaxed);
        lock(&self.window).resent_batches += 1;
        if let Some(s) = &mut lock(&self.reconnect.storms).current {
            s.resent_batches += 1;
        }
    }

    /// An Ack's latency, for the storm going on (if any).
    pub(super) fn storm_latency(&self, us: u64) {
        if let Some(s) = &mut lock(&self.reconnect.storms).current {
            s.latencies_us.push(us);
        }
    }

    /// The reconnect totals and storms so far.
    pub fn reconnect_report(&self) -> ReconnectReport {
        let storms = lock(&self.reconnect.storms);
        let r = &self.reconnect;
        ReconnectReport {
            failures: r.failures.load(Ordering::Relaxed),
            attempts: r.attempts.load(Ordering::Relaxed),
            reconnects: r.reconnects.load(Ordering::Relaxed),
            resent_batches: r.resent_batches.load(Ordering::Relaxed),
            resent_samples: r.resent_samples.load(Ordering::Relaxed),
            recovering: storms.recovering,
            storms: storms
                .done
                .iter()
                .chain(&storms.current)
                .map(|s| self.storm_report(s))
                .collect(),
        }
    }

    fn storm_report(&self, s: &Storm) -> StormReport {
        let mut latencies = s.latencies_us.clone();
        latencies.sort_unstable();
        StormReport {
            start_s: self.since_begin(s.start),
            end_s: s.end.map(|(at, _)| self.since_begin(at)),
            start_unix_ms: s.start_unix_ms,
            end_unix_ms: s.end.map(|(_, ms)| ms),
            hosts: s.hosts,
            failures: s.failures,
            reconnects: s.reconnects,
            resent_batches: s.resent_batches,
            batches: latencies.len() as u64,
            latency_ms: [
                percentile(&latencies, 0.50),
                percentile(&latencies, 0.90),
                percentile(&latencies, 0.99),
                latencies.last().map_or(0.0, |&us| us as f64 / 1000.0),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::report::Phase;
    use std::time::Duration;

    #[test]
    fn a_storm_lasts_until_the_last_host_recovers_and_holds_its_acks() {
        let stats = Stats::default();
        stats.begin();
        stats.acked(Phase::Live, Duration::from_millis(5), 10, 0, None);
        stats.stream_failed();
        stats.recovery_begins();
        stats.stream_failed();
        stats.recovery_begins();
        stats.reconnected();
        stats.resent(10);
        stats.acked(Phase::Live, Duration::from_millis(900), 10, 0, None);
        stats.recovered();
        assert_eq!(stats.recovering(), 1);
        stats.reconnected();
        stats.acked(Phase::Live, Duration::from_millis(100), 10, 0, None);
        stats.recovered();
        stats.acked(Phase::Live, Duration::from_millis(7), 10, 0, None);
        let r = stats.reconnect_report();
        assert_eq!(
            (r.failures, r.reconnects, r.resent_batches, r.recovering),
            (2, 2, 1, 0)
        );
        assert_eq!(r.storms.len(), 1);
        let s = &r.storms[0];
        assert_eq!((s.hosts, s.failures, s.reconnects, s.batches), (2, 2, 2, 2));
        assert_eq!(s.latency_ms[3], 900.0);
        assert!(s.end_s.is_some() && s.end_unix_ms.is_some());

        // A second failure later is a second storm, still going at the end.
        stats.stream_failed();
        stats.recovery_begins();
        let r = stats.reconnect_report();
        assert_eq!(r.storms.len(), 2);
        assert_eq!((r.storms[1].end_s, r.recovering), (None, 1));
        assert!(r.text().contains("not over"));
    }
}
