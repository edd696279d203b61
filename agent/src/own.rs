//! The agent's own cost and delivery health, reported as `vigil_agent_*` series so the
//! fleet's monitoring watches the monitor too.

use crate::collect::Sink;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

/// Counters the delivery and collection loops update.
#[derive(Debug, Default)]
pub struct Stats {
    /// Collection rounds taken by this process (the round being taken included).
    pub rounds: AtomicU64,
    /// Batches written to a stream (re-sends included).
    pub sent_batches: AtomicU64,
    /// Samples the collector acknowledged as stored.
    pub acked_samples: AtomicU64,
    /// Samples the collector refused (see the agent's log for why).
    pub rejected_samples: AtomicU64,
    /// Streams opened after the first.
    pub reconnects: AtomicU64,
    /// Whether a stream is open now.
    pub connected: AtomicBool,
    /// Duration of the last collection round, nanoseconds.
    pub last_collect_ns: AtomicU64,
    /// Sources that failed, summed over rounds.
    pub collect_errors: AtomicU64,
    /// Filesystems whose statvfs timed out, summed over rounds.
    pub statfs_timeouts: AtomicU64,
    /// Rounds dropped because the spool was full.
    pub dropped_rounds: AtomicU64,
    /// Samples in those rounds.
    pub dropped_samples: AtomicU64,
    /// Rounds waiting for acknowledgement, on disk or in memory.
    pub queue_rounds: AtomicU64,
    /// Memory the waiting rounds hold.
    pub queue_bytes: AtomicU64,
    /// Bytes of the spool's files.
    pub spool_bytes: AtomicU64,
    /// Whether rounds go to the spool directory now.
    pub spool_on_disk: AtomicBool,
    /// When the oldest waiting round was taken (unix ms), 0 when none waits.
    pub spool_oldest_ms: AtomicI64,
    /// Failed writes to the spool directory.
    pub spool_write_errors: AtomicU64,
    /// Bytes of spool files in no intact record.
    pub spool_damaged_bytes: AtomicU64,
    /// Spool files in which damage was found.
    pub spool_damaged_segments: AtomicU64,
    /// Samples of spooled rounds lost to damage.
    pub spool_lost_samples: AtomicU64,
    /// `/proc/self/statm` and `/proc/self/stat`, kept open between rounds.
    #[cfg(target_os = "linux")]
    process: std::sync::Mutex<ProcessFiles>,
}

/// The files this process's memory and CPU time are read from.
#[cfg(target_os = "linux")]
#[derive(Debug)]
struct ProcessFiles {
    statm: crate::collect::TextFile,
    stat: crate::collect::TextFile,
}

#[cfg(target_os = "linux")]
impl Default for ProcessFiles {
    fn default() -> Self {
        Self {
            statm: crate::collect::TextFile::new("/proc/self/statm"),
            stat: crate::collect::TextFile::new("/proc/self/stat"),
        }
    }
}

/// Writes the agent's own series into `sink`; `now_ms` ages the spool.
pub fn collect(stats: &Stats, sink: &mut Sink, now_ms: i64) {
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
    sink.push(
        "vigil_agent_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    sink.push("vigil_agent_rounds_total", &[], get(&stats.rounds));
    sink.push(
        "vigil_agent_sent_batches_total",
        &[],
        get(&stats.sent_batches),
    );
    sink.push(
        "vigil_agent_acked_samples_total",
        &[],
        get(&stats.acked_samples),
    );
    sink.push(
        "vigil_agent_rejected_samples_total",
        &[],
        get(&stats.rejected_samples),
    );
    sink.push("vigil_agent_reconnects_total", &[], get(&stats.reconnects));
    sink.push(
        "vigil_agent_connected",
        &[],
        f64::from(u8::from(stats.connected.load(Ordering::Relaxed))),
    );
    sink.push(
        "vigil_agent_collection_duration_seconds",
        &[],
        get(&stats.last_collect_ns) / 1e9,
    );
    sink.push(
        "vigil_agent_collect_errors_total",
        &[],
        get(&stats.collect_errors),
    );
    sink.push(
        "vigil_agent_filesystem_timeouts_total",
        &[],
        get(&stats.statfs_timeouts),
    );
    sink.push(
        "vigil_agent_dropped_rounds_total",
        &[],
        get(&stats.dropped_rounds),
    );
    sink.push(
        "vigil_agent_dropped_samples_total",
        &[],
        get(&stats.dropped_samples),
    );
    sink.push("vigil_agent_queue_rounds", &[], get(&stats.queue_rounds));
    sink.push("vigil_agent_queue_bytes", &[], get(&stats.queue_bytes));
    sink.push("vigil_agent_spool_rounds", &[], get(&stats.queue_rounds));
    sink.push("vigil_agent_spool_bytes", &[], get(&stats.spool_bytes));
    let oldest = stats.spool_oldest_ms.load(Ordering::Relaxed);
    let age = if oldest > 0 {
        (now_ms - oldest).max(0) as f64 / 1000.0
    } else {
        0.0
    };
    sink.push("vigil_agent_spool_oldest_age_seconds", &[], age);
    sink.push(
        "vigil_agent_spool_on_disk",
        &[],
        f64::from(u8::from(stats.spool_on_disk.load(Ordering::Relaxed))),
    );
    sink.push(
        "vigil_agent_spool_write_errors_total",
        &[],
        get(&stats.spool_write_errors),
    );
    sink.push(
        "vigil_agent_spool_damaged_bytes_total",
        &[],
        get(&stats.spool_damaged_bytes),
    );
    sink.push(
        "vigil_agent_spool_damaged_segments_total",
        &[],
        get(&stats.spool_damaged_segments),
    );
    sink.push(
        "vigil_agent_spool_lost_samples_total",
        &[],
        get(&stats.spool_lost_samples),
    );
    #[cfg(target_os = "linux")]
    if let Some((rss, cpu)) = stats.process_usage() {
        sink.push("vigil_agent_resident_memory_bytes", &[], rss);
        sink.push("vigil_agent_cpu_seconds_total", &[], cpu);
    }
}

#[cfg(target_os = "linux")]
impl Stats {
    /// This process's resident memory (bytes) and CPU time (seconds), from /proc/self.
    pub fn process_usage(&self) -> Option<(f64, f64)> {
        let mut files = self.process.lock().unwrap_or_else(|p| p.into_inner());
        files.statm.read().ok()?;
        files.stat.read().ok()?;
        parse_usage(
            files.statm.text(),
            files.stat.text(),
            page_size(),
            clock_ticks(),
        )
    }
}

#[cfg(target_os = "linux")]
fn parse_usage(statm: &str, stat: &str, page: f64, hz: f64) -> Option<(f64, f64)> {
    let resident: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields count from the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    // After ')' come field 3 (state) onwards; utime and stime are fields 14 and 15.
    let utime: f64 = fields.nth(11)?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((resident * page, (utime + stime) / hz))
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn page_size() -> f64 {
    // SAFETY: sysconf has no preconditions and only reads a system constant.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n as f64 } else { 4096.0 }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions and only reads a system constant.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 { n as f64 } else { 100.0 }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn parses_statm_and_stat_with_a_hostile_command_name() {
        let statm = "5000 1200 300 10 0 400 0\n";
        let stat = "4242 (vigil) agent) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 3 0 100 10000 1200 18446744073709551615";
        let (rss, cpu) = parse_usage(statm, stat, 4096.0, 100.0).unwrap();
        assert_eq!(rss, 1200.0 * 4096.0);
        assert_eq!(cpu, 3.0);
    }

    #[test]
    fn own_series_are_written() {
        let stats = Stats::default();
        stats.acked_samples.store(7, Ordering::Relaxed);
        stats.spool_oldest_ms.store(1_000, Ordering::Relaxed);
        let mut sink = Sink::new();
        collect(&stats, &mut sink, 31_000);
        assert_eq!(
            sink.value_of("vigil_agent_spool_oldest_age_seconds", &[]),
            Some(30.0)
        );
        assert_eq!(
            sink.value_of("vigil_agent_acked_samples_total", &[]),
            Some(7.0)
        );
        assert!(
            sink.value_of("vigil_agent_resident_memory_bytes", &[])
                .unwrap()
                > 0.0
        );
    }
}
