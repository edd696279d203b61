//! Counting what was sent and acknowledged, and the summary the load generator prints.
//!
//! Samples per second of a phase are its acknowledged samples divided by the time from its
//! first batch sent to its last Ack, so connecting and waiting for the first live scrape do
//! not count. Latency is per batch, from sending it (a live batch: from when its scrape was
//! due) to reading its Ack.
//!
//! Besides the per-phase totals, [`Stats`] keeps a window of what happened since the last
//! interval report ([`super::intervals`]), and when the streams connected and had their
//! first batch (the one defining their series) acknowledged.
//!
//! Samples *generated* are those a host made (its spool's input); *sent* counts every
//! sending, so a batch re-sent after a broken stream counts twice there; a sample is *lost*
//! when it was generated and neither acknowledged nor refused by the end of the run.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Which part of a run a batch belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Past data sent as fast as acknowledged.
    Backfill = 0,
    /// Scrapes sent when their time comes.
    Live = 1,
}

/// One phase's counts.
#[derive(Debug, Default)]
struct PhaseStats {
    generated: AtomicU64,
    sent: AtomicU64,
    acked: AtomicU64,
    batches: AtomicU64,
    /// Per batch, microseconds.
    latencies_us: Mutex<Vec<u64>>,
    first_send: Mutex<Option<Instant>>,
    last_ack: Mutex<Option<Instant>>,
}

/// What happened since the last interval report.
#[derive(Debug, Default)]
pub(super) struct Window {
    /// Samples generated.
    pub generated: u64,
    /// Samples sent.
    pub sent: u64,
    /// Samples acknowledged as stored.
    pub acked: u64,
    /// Latency of each batch acknowledged, microseconds.
    pub latencies_us: Vec<u64>,
    /// Streams, or attempts to open one, that failed.
    pub failures: u64,
    /// Streams opened after a failure.
    pub reconnects: u64,
    /// Batches sent again on a new stream.
    pub resent_batches: u64,
}

/// Counts shared by every host's stream.
#[derive(Debug, Default)]
pub struct Stats {
    phases: [PhaseStats; 2],
    rejected: AtomicU64,
    first_rejection: Mutex<Option<String>>,
    /// When the run started (see [`Stats::begin`]).
    begun: Mutex<Option<Instant>>,
    /// Streams open (gRPC: Welcome received; VictoriaMetrics: host started).
    connected: AtomicU64,
    /// Streams whose first batch was acknowledged: their series exist.
    created: AtomicU64,
    first_connect: Mutex<Option<Instant>>,
    last_created: Mutex<Option<Instant>>,
    pub(super) window: Mutex<Window>,
    pub(super) reconnect: super::storm::Reconnects,
    pub(super) intervals: Mutex<Vec<super::intervals::IntervalReport>>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Stats {
    /// The run starts now: interval reports count from here.
    pub fn begin(&self) {
        lock(&self.begun).get_or_insert_with(Instant::now);
    }

    /// Seconds since [`Stats::begin`].
    pub fn since_begin(&self, at: Instant) -> f64 {
        lock(&self.begun).map_or(0.0, |b| at.saturating_duration_since(b).as_secs_f64())
    }

    /// A host is about to connect (the first one starts the series-creation clock).
    pub fn connecting(&self) {
        lock(&self.first_connect).get_or_insert_with(Instant::now);
    }

    /// A host's stream is open.
    pub fn connected(&self) {
        self.connected.fetch_add(1, Ordering::Relaxed);
    }

    /// A host's first batch was acknowledged: its series exist.
    pub fn created(&self) {
        self.created.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_created) = Some(Instant::now());
    }

    /// Streams open and streams whose series exist.
    pub fn streams(&self) -> (u64, u64) {
        (
            self.connected.load(Ordering::Relaxed),
            self.created.load(Ordering::Relaxed),
        )
    }

    /// Seconds from the first connection to the last first batch acknowledged (so far).
    pub fn create_seconds(&self) -> f64 {
        match (*lock(&self.first_connect), *lock(&self.last_created)) {
            (Some(a), Some(b)) => b.saturating_duration_since(a).as_secs_f64(),
            _ => 0.0,
        }
    }

    /// Samples generated and not yet acknowledged nor refused, over both phases (sent or
    /// waiting in a spool).
    pub fn outstanding(&self) -> u64 {
        let (mut generated, mut done) = (0, self.rejected.load(Ordering::Relaxed));
        for p in &self.phases {
            generated += p.generated.load(Ordering::Relaxed);
            done += p.acked.load(Ordering::Relaxed);
        }
        generated.saturating_sub(done)
    }

    /// A host made a batch of `samples` samples (before sending it).
    pub fn generated(&self, phase: Phase, samples: u64) {
        self.phases[phase as usize]
            .generated
            .fetch_add(samples, Ordering::Relaxed);
        lock(&self.window).generated += samples;
    }

    /// A batch of `samples` samples was sent.
    pub fn sent(&self, phase: Phase, samples: u64) {
        let p = &self.phases[phase as usize];
        p.sent.fetch_add(samples, Ordering::Relaxed);
        lock(&p.first_send).get_or_insert_with(Instant::now);
        lock(&self.window).sent += samples;
    }

    /// A batch was acknowledged after `latency`.
    pub fn acked(
        &self,
        phase: Phase,
        latency: Duration,
        accepted: u64,
        rejected: u64,
        why: Option<String>,
    ) {
        let p = &self.phases[phase as usize];
        p.acked.fetch_add(accepted, Ordering::Relaxed);
        p.batches.fetch_add(1, Ordering::Relaxed);
        lock(&p.latencies_us).push(latency.as_micros() as u64);
        *lock(&p.last_ack) = Some(Instant::now());
        {
            let mut w = lock(&self.window);
            w.acked += accepted;
            w.latencies_us.push(latency.as_micros() as u64);
        }
        self.storm_latency(latency.as_micros() as u64);
        if rejected > 0 {
            self.rejected.fetch_add(rejected, Ordering::Relaxed);
            let mut first = lock(&self.first_rejection);
            if first.is_none() {
                *first = why;
            }
        }
    }

    /// Samples acknowledged so far in `phase`, and seconds since its first batch.
    pub fn progress(&self, phase: Phase) -> (u64, f64) {
        let p = &self.phases[phase as usize];
        let since = lock(&p.first_send).map_or(0.0, |t| t.elapsed().as_secs_f64());
        (p.acked.load(Ordering::Relaxed), since)
    }

    /// The summary of one phase.
    fn phase(&self, phase: Phase) -> PhaseReport {
        let p = &self.phases[phase as usize];
        let mut latencies = lock(&p.latencies_us).clone();
        latencies.sort_unstable();
        let seconds = match (*lock(&p.first_send), *lock(&p.last_ack)) {
            (Some(a), Some(b)) => b.saturating_duration_since(a).as_secs_f64(),
            _ => 0.0,
        };
        let acked = p.acked.load(Ordering::Relaxed);
        PhaseReport {
            generated: p.generated.load(Ordering::Relaxed),
            sent: p.sent.load(Ordering::Relaxed),
            acked,
            batches: p.batches.load(Ordering::Relaxed),
            seconds,
            samples_per_s: if seconds > 0.0 {
                acked as f64 / seconds
            } else {
                0.0
            },
            p50_ms: percentile(&latencies, 0.50),
            p90_ms: percentile(&latencies, 0.90),
            p99_ms: percentile(&latencies, 0.99),
            max_ms: latencies.last().map_or(0.0, |&us| us as f64 / 1000.0),
            histogram: histogram(&latencies),
        }
    }

    /// The run's summary.
    pub fn report(&self, errors: Vec<String>) -> Report {
        Report {
            backfill: self.phase(Phase::Backfill),
            live: self.phase(Phase::Live),
            rejected: self.rejected.load(Ordering::Relaxed),
            first_rejection: lock(&self.first_rejection).clone(),
            errors,
            streams: self.streams(),
            create_seconds: self.create_seconds(),
            intervals: lock(&self.intervals).clone(),
            reconnect: self.reconnect_report(),
        }
    }
}

/// Upper bounds of the latency histogram's buckets, milliseconds (then +Inf).
pub const HISTOGRAM_MS: [f64; 16] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5,
];

/// Batches per bucket of [`HISTOGRAM_MS`] (not cumulative), the last one for slower ones.
pub fn histogram(sorted_us: &[u64]) -> Vec<u64> {
    let mut counts = vec![0; HISTOGRAM_MS.len() + 1];
    for &us in sorted_us {
        let ms = us as f64 / 1000.0;
        let i = HISTOGRAM_MS
            .iter()
            .position(|&le| ms <= le)
            .unwrap_or(HISTOGRAM_MS.len());
        counts[i] += 1;
    }
    counts
}

/// The `q` quantile of sorted microseconds, in milliseconds (nearest rank).
pub fn percentile(sorted_us: &[u64], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    sorted_us[rank - 1] as f64 / 1000.0
}

/// One phase of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseReport {
    /// Samples generated.
    pub generated: u64,
    /// Samples sent (re-sent ones again).
    pub sent: u64,
    /// Samples the collector acknowledged as stored.
    pub acked: u64,
    /// Batches acknowledged.
    pub batches: u64,
    /// From the first batch sent to the last Ack.
    pub seconds: f64,
    /// `acked / seconds`.
    pub samples_per_s: f64,
    /// Median latency to acknowledgement, milliseconds.
    pub p50_ms: f64,
    /// 90th percentile latency to acknowledgement, milliseconds.
    pub p90_ms: f64,
    /// 99th percentile latency to acknowledgement, milliseconds.
    pub p99_ms: f64,
    /// Slowest acknowledgement, milliseconds.
    pub max_ms: f64,
    /// Batches per latency bucket ([`histogram`]).
    pub histogram: Vec<u64>,
}

impl PhaseReport {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "generated_samples": self.generated,
            "sent_samples": self.sent,
            "acked_samples": self.acked,
            "batches": self.batches,
            "seconds": self.seconds,
            "samples_per_s": self.samples_per_s,
            "ack_latency_ms": {"p50": self.p50_ms, "p90": self.p90_ms, "p99": self.p99_ms, "max": self.max_ms},
            "ack_latency_histogram": HISTOGRAM_MS.iter().map(|&le| serde_json::json!(le))
                .chain([serde_json::json!("+Inf")])
                .zip(&self.histogram)
                .map(|(le, n)| serde_json::json!({"le_ms": le, "batches": n}))
                .collect::<Vec<_>>(),
        })
    }

    fn line(&self, name: &str) -> String {
        format!(
            "{name:<8}  {:>13} samples acked of {:>13} sent in {:>8.1} s = {:>12.0} samples/s;  ack latency p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} batches)",
            self.acked,
            self.sent,
            self.seconds,
            self.samples_per_s,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.max_ms,
            self.batches
        )
    }
}

/// What a run achieved.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The backfill phase.
    pub backfill: PhaseReport,
    /// The live phase.
    pub live: PhaseReport,
    /// Samples the collector refused.
    pub rejected: u64,
    /// The first refusal's code and message.
    pub first_rejection: Option<String>,
    /// Hosts whose stream failed, with why.
    pub errors: Vec<String>,
    /// Streams opened, and streams whose first batch was acknowledged.
    pub streams: (u64, u64),
    /// Seconds from the first connection to the last first batch acknowledged.
    pub create_seconds: f64,
    /// The interval reports (with `--report-every`).
    pub intervals: Vec<super::intervals::IntervalReport>,
    /// Broken streams, reconnects and storms.
    pub reconnect: super::storm::ReconnectReport,
}

impl Report {
    /// Samples generated and neither acknowledged nor refused.
    pub fn lost(&self) -> u64 {
        (self.backfill.generated + self.live.generated)
            .saturating_sub(self.backfill.acked + self.live.acked + self.rejected)
    }

    /// The report as JSON, with `context` (the run's settings) merged in.
    pub fn json(&self, context: serde_json::Value) -> serde_json::Value {
        let mut out = context;
        out["backfill"] = self.backfill.json();
        out["live"] = self.live.json();
        out["generated_samples"] = (self.backfill.generated + self.live.generated).into();
        out["acked_samples"] = (self.backfill.acked + self.live.acked).into();
        out["lost_samples"] = self.lost().into();
        out["all_acknowledged"] = (self.lost() == 0).into();
        out["reconnects"] = self.reconnect.json();
        out["rejected_samples"] = self.rejected.into();
        out["first_rejection"] = self.first_rejection.clone().into();
        out["errors"] = self.errors.clone().into();
        out["streams"] = serde_json::json!({
            "connected": self.streams.0,
            "created": self.streams.1,
            "create_seconds": self.create_seconds,
        });
        if !self.intervals.is_empty() {
            out["intervals"] = self.intervals.iter().map(|i| i.json()).collect();
        }
        out
    }

    /// The report as lines of text.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (name, phase) in [("backfill", &self.backfill), ("live", &self.live)] {
            if phase.sent > 0 {
                out.push_str(&phase.line(name));
                out.push('\n');
            }
        }
        out.push_str(&format!(
            "acknowledged {} samples, rejected {}; generated {}, lost {}{}\n",
            self.backfill.acked + self.live.acked,
            self.rejected,
            self.backfill.generated + self.live.generated,
            self.lost(),
            if self.lost() == 0 {
                " (every generated round acknowledged or refused)"
            } else {
                " (NOT every generated round was acknowledged)"
            }
        ));
        out.push_str(&self.reconnect.text());
        if let Some(why) = &self.first_rejection {
            out.push_str(&format!("first rejection: {why}\n"));
        }
        if self.streams.0 > 0 {
            out.push_str(&format!(
                "streams: {} connected, {} with their series created; first connection to last first batch acknowledged {:.1} s\n",
                self.streams.0, self.streams.1, self.create_seconds
            ));
        }
        for e in &self.errors {
            out.push_str(&format!("error: {e}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let us: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile(&us, 0.5), 50.0);
        assert_eq!(percentile(&us, 0.99), 99.0);
        assert_eq!(percentile(&[7000], 0.99), 7.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn histogram_buckets_by_upper_bound() {
        let counts = histogram(&[500, 1000, 1001, 3_000_000, 200_000_000]);
        assert_eq!(counts.len(), HISTOGRAM_MS.len() + 1);
        assert_eq!(counts[0], 2); // ≤ 1 ms
        assert_eq!(counts[1], 1); // ≤ 2 ms
        assert_eq!(counts[11], 1); // ≤ 5 s
        assert_eq!(counts[HISTOGRAM_MS.len()], 1); // over 100 s
        assert_eq!(counts.iter().sum::<u64>(), 5);
    }
}
