//! `--report-every`: what happened in each interval of the run, so that a growing backlog
//! shows while it grows rather than only in the end-of-run percentiles.
//!
//! Each report covers the batches acknowledged within the interval (both phases): samples
//! sent and acknowledged, samples still unacknowledged at its end, the latency percentiles
//! of those Acks, and how many streams were open and had their series created by then;
//! with reconnects, also the streams that failed and reopened within it, the batches
//! re-sent, and the hosts still recovering (see [`super::storm`]) at its end.
//! Printed to stderr as one line each; with `--output json` they are also in the final
//! report under `intervals`.

use super::report::{Stats, lock, percentile};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// One interval of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalReport {
    /// End of the interval, seconds since the run began.
    pub end_s: f64,
    /// Length of the interval, seconds.
    pub seconds: f64,
    /// Hosts that had connected (at least once) by its end.
    pub connected: u64,
    /// Streams open at its end.
    pub open: u64,
    /// Streams whose series existed at its end (first batch acknowledged).
    pub created: u64,
    /// Samples generated within it.
    pub generated: u64,
    /// Samples sent within it (re-sent ones again).
    pub sent: u64,
    /// Samples acknowledged within it.
    pub acked: u64,
    /// Samples generated and not yet acknowledged at its end (in flight or spooled).
    pub outstanding: u64,
    /// Streams, or attempts to open one, that failed within it.
    pub failures: u64,
    /// Streams opened again after a failure within it.
    pub reconnects: u64,
    /// Batches sent again on a new stream within it.
    pub resent_batches: u64,
    /// Hosts recovering at its end: without a stream, or with batches spooled before it
    /// reopened still unacknowledged.
    pub recovering: u64,
    /// Batches acknowledged within it.
    pub batches: u64,
    /// Latency percentiles of those batches, milliseconds.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

impl IntervalReport {
    /// The report as a JSON object.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "end_s": self.end_s,
            "seconds": self.seconds,
            "connected": self.connected,
            "open": self.open,
            "created": self.created,
            "generated_samples": self.generated,
            "sent_samples": self.sent,
            "acked_samples": self.acked,
            "acked_per_s": self.acked as f64 / self.seconds.max(1e-9),
            "outstanding_samples": self.outstanding,
            "stream_failures": self.failures,
            "reconnects": self.reconnects,
            "resent_batches": self.resent_batches,
            "recovering": self.recovering,
            "batches": self.batches,
            "ack_latency_ms": {"p50": self.p50_ms, "p90": self.p90_ms, "p99": self.p99_ms, "max": self.max_ms},
        })
    }

    /// The report as one line of text.
    pub fn line(&self) -> String {
        let reconnects = if self.failures + self.reconnects + self.recovering > 0 {
            format!(
                ";  {} open, {} failed, {} reopened, {} batches re-sent, {} hosts recovering",
                self.open, self.failures, self.reconnects, self.resent_batches, self.recovering
            )
        } else {
            String::new()
        };
        format!(
            "t={:>6.1}s  streams {:>6} open {:>6} created;  sent {:>9} acked {:>9} ({:>8.0}/s) outstanding {:>9};  ack p50 {:.0} ms p90 {:.0} ms p99 {:.0} ms max {:.0} ms ({} batches){reconnects}",
            self.end_s,
            self.connected,
            self.created,
            self.sent,
            self.acked,
            self.acked as f64 / self.seconds.max(1e-9),
            self.outstanding,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.max_ms,
            self.batches
        )
    }
}

impl Stats {
    /// Closes the current interval at `now`: its report, kept for the final JSON.
    pub fn close_interval(&self, previous_end_s: f64, now: Instant) -> IntervalReport {
        let window = std::mem::take(&mut *lock(&self.window));
        let mut latencies = window.latencies_us;
        latencies.sort_unstable();
        let (connected, created) = self.streams();
        let end_s = self.since_begin(now);
        let report = IntervalReport {
            end_s,
            seconds: end_s - previous_end_s,
            connected,
            open: self.open(),
            created,
            generated: window.generated,
            sent: window.sent,
            acked: window.acked,
            outstanding: self.outstanding(),
            failures: window.failures,
            reconnects: window.reconnects,
            resent_batches: window.resent_batches,
            recovering: self.recovering(),
            batches: latencies.len() as u64,
            p50_ms: percentile(&latencies, 0.50),
            p90_ms: percentile(&latencies, 0.90),
            p99_ms: percentile(&latencies, 0.99),
            max_ms: latencies.last().map_or(0.0, |&us| us as f64 / 1000.0),
        };
        lock(&self.intervals).push(report.clone());
        report
    }
}

/// Reports every `period` until aborted; the caller closes the last, partial interval with
/// [`finish`].
pub async fn report_every(period: Duration, stats: Arc<Stats>) {
    let mut tick = tokio::time::interval(period);
    tick.tick().await;
    let mut end_s = 0.0;
    loop {
        tick.tick().await;
        let report = stats.close_interval(end_s, Instant::now());
        end_s = report.end_s;
        eprintln!("{}", report.line());
    }
}

/// Closes the last interval (from the end of the last full one) when anything happened in
/// it.
pub fn finish(stats: &Stats) {
    let end_s = lock(&stats.intervals).last().map_or(0.0, |r| r.end_s);
    let busy = {
        let w = lock(&stats.window);
        w.sent > 0 || w.generated > 0 || w.failures > 0 || !w.latencies_us.is_empty()
    };
    if busy {
        eprintln!("{}", stats.close_interval(end_s, Instant::now()).line());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::report::Phase;

    #[test]
    fn an_interval_holds_only_what_happened_since_the_last() {
        let stats = Stats::default();
        stats.begin();
        stats.connected();
        stats.generated(Phase::Live, 600);
        stats.sent(Phase::Live, 300);
        stats.acked(Phase::Live, Duration::from_millis(20), 300, 0, None);
        stats.sent(Phase::Live, 300);
        let first = stats.close_interval(0.0, Instant::now());
        assert_eq!(
            (first.sent, first.acked, first.outstanding),
            (600, 300, 300)
        );
        assert_eq!((first.batches, first.p99_ms), (1, 20.0));
        assert_eq!(first.connected, 1);
        stats.acked(Phase::Live, Duration::from_millis(40), 300, 0, None);
        let second = stats.close_interval(first.end_s, Instant::now());
        assert_eq!((second.sent, second.acked, second.outstanding), (0, 300, 0));
        assert_eq!(second.max_ms, 40.0);
        assert_eq!(lock(&stats.intervals).len(), 2);
    }
}
