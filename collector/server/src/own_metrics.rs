//! The collector's own metrics: one list of series that housekeeping stores (under the
//! `vigil-collector` host) and `GET /metrics` serves in Prometheus' text format 0.0.4,
//! with the type and help of each name from [`METADATA`] (also served by
//! `/api/v1/metadata`).
//!
//! ```text
//!   # HELP vigil_collector_batches_total Batches from agents acknowledged.
//!   # TYPE vigil_collector_batches_total counter
//!   vigil_collector_batches_total 1234
//!   vigil_collector_rejected_total{reason="bad_label"} 2
//! ```
//!
//! `/metrics` adds the process's basics read from `/proc/self` ([`process_series`]):
//! resident memory, CPU seconds, start time, open file descriptors.

use crate::auth::Auth;
use crate::ingest::Counters;
use crate::notify::metrics::NotifyMetrics;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// One series: its metric name, its labels (no `host`), its value.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnSeries {
    /// Metric name.
    pub name: &'static str,
    /// Labels beyond the name, in order.
    pub labels: Vec<(String, String)>,
    /// Current value.
    pub value: f64,
}

impl OwnSeries {
    fn new(name: &'static str, labels: &[(&str, &str)], value: f64) -> Self {
        Self {
            name,
            labels: labels
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            value,
        }
    }
}

/// Type and help of every name the collector exports about itself, sorted by name.
pub const METADATA: &[(&str, &str, &str)] = &[
    (
        "process_cpu_seconds_total",
        "counter",
        "CPU time the collector process has used, user and system, in seconds.",
    ),
    (
        "process_open_fds",
        "gauge",
        "File descriptors the collector process has open.",
    ),
    (
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory of the collector process, in bytes.",
    ),
    (
        "process_start_time_seconds",
        "gauge",
        "When the collector process started, in Unix seconds.",
    ),
    (
        "vigil_collector_auth_refused_total",
        "counter",
        "Calls refused by authentication or authorization, by reason.",
    ),
    (
        "vigil_collector_batches_total",
        "counter",
        "Batches from agents acknowledged.",
    ),
    (
        "vigil_collector_connections_accepted_total",
        "counter",
        "Connections accepted, by listener.",
    ),
    (
        "vigil_collector_connections_max",
        "gauge",
        "Most connections a listener keeps open at once.",
    ),
    (
        "vigil_collector_connections_open",
        "gauge",
        "Connections open now, by listener.",
    ),
    (
        "vigil_collector_connections_refused_total",
        "counter",
        "Connections refused, by listener and reason.",
    ),
    (
        "vigil_collector_connections_timed_out_total",
        "counter",
        "Connections closed because the client did not send in time, by listener.",
    ),
    (
        "vigil_collector_ingest_ack_seconds",
        "histogram",
        "Time from a batch's arrival from an agent to its acknowledgement, in seconds.",
    ),
    (
        "vigil_collector_ingest_batches_waiting",
        "gauge",
        "Batches received from agents and not yet acknowledged.",
    ),
    (
        "vigil_collector_memory_budget_bytes",
        "gauge",
        "The memory budget (limits.max_memory_bytes; 0: none): past 90 % of it new series are refused.",
    ),
    (
        "vigil_collector_memory_bytes",
        "gauge",
        "Memory of the collector by part (series_index, head, block_cache, table_readers, other), in bytes; the parts add up to its resident memory.",
    ),
    (
        "vigil_collector_metadata_ignored_total",
        "counter",
        "Metric metadata entries from agents ignored, by reason.",
    ),
    (
        "vigil_collector_metadata_names",
        "gauge",
        "Metric names whose metadata the collector holds.",
    ),
    (
        "vigil_collector_rejected_total",
        "counter",
        "Samples and series definitions from agents refused, by reason.",
    ),
    (
        "vigil_collector_relabel_dropped_total",
        "counter",
        "Samples discarded because a [[relabel]] entry dropped their series.",
    ),
    (
        "vigil_collector_remote_write_received_samples_total",
        "counter",
        "Samples received over remote write (POST /api/v1/write) and stored.",
    ),
    (
        "vigil_collector_remote_write_requests_total",
        "counter",
        "Remote write requests (POST /api/v1/write) answered, by HTTP status code.",
    ),
    (
        "vigil_collector_samples_accepted_total",
        "counter",
        "Samples from agents stored.",
    ),
    (
        "vigil_collector_series_created_total",
        "counter",
        "Series created since the collector started (by agents, imports, remote write and the collector itself).",
    ),
    (
        "vigil_collector_storage_damaged_parts",
        "gauge",
        "Damaged parts of the data directory (a checksum mismatch, a truncated table) the last scrub found; reads leave them out and say so. Run vigil-collector repair while stopped.",
    ),
    (
        "vigil_collector_storage_damaged_reads_total",
        "counter",
        "Reads since start that left a damaged part of the data directory out.",
    ),
    (
        "vigil_collector_storage_damaged_samples",
        "gauge",
        "Samples in the damaged parts the last scrub found (counted without checksums; never served).",
    ),
    (
        "vigil_collector_storage_damaged_series",
        "gauge",
        "Series with samples in the damaged parts the last scrub found (at most).",
    ),
    (
        "vigil_collector_storage_errors_total",
        "counter",
        "Times ingest stopped because of storage, by kind: disk_full (the free-space guard tripped), enospc and io (a write failed), corruption (a damaged file stopped RocksDB's writes).",
    ),
    (
        "vigil_collector_storage_free_bytes",
        "gauge",
        "Free bytes on the data directory's filesystem at the last check (every second).",
    ),
    (
        "vigil_collector_storage_min_free_bytes",
        "gauge",
        "Free bytes the storage guard keeps: storage.min_free_bytes, or what a flush and compaction need if more (0: off).",
    ),
    (
        "vigil_collector_storage_state",
        "gauge",
        "1 for the storage state now (writable, read_only, failed), 0 for the others; ingest is refused unless writable.",
    ),
    (
        "vigil_collector_streams_failed_total",
        "counter",
        "Agent streams ended with an error, by reason.",
    ),
    (
        "vigil_notifications_total",
        "counter",
        "Notifications handled, by receiver and result.",
    ),
    (
        "vigil_notify_outbox_depth",
        "gauge",
        "Notifications waiting in the outbox, by receiver.",
    ),
    (
        "vigil_remote_write_cursor_resets_total",
        "counter",
        "Times a remote's damaged cursor was reset to the oldest record of the forwarding log, by remote.",
    ),
    (
        "vigil_remote_write_highest_sent_timestamp_seconds",
        "gauge",
        "Newest sample time delivered to a remote, in Unix seconds, by remote.",
    ),
    (
        "vigil_remote_write_lag_seconds",
        "gauge",
        "Age of the oldest record not yet sent to a remote (0 when caught up), by remote.",
    ),
    (
        "vigil_remote_write_queue_bytes",
        "gauge",
        "Bytes of forwarding log not yet sent to a remote, by remote.",
    ),
    (
        "vigil_remote_write_requests_total",
        "counter",
        "Remote write requests sent, by remote and answer (2xx, 4xx, 429, 5xx, error).",
    ),
    (
        "vigil_remote_write_retries_total",
        "counter",
        "Remote write requests retried, by remote.",
    ),
    (
        "vigil_remote_write_samples_dropped_total",
        "counter",
        "Samples not sent to a remote, by remote and reason (max_lag, max_bytes, damaged, out_of_order).",
    ),
    (
        "vigil_remote_write_samples_failed_total",
        "counter",
        "Samples a remote refused (4xx), counted and not sent again, by remote.",
    ),
    (
        "vigil_remote_write_samples_sent_total",
        "counter",
        "Samples a remote accepted, by remote.",
    ),
];

/// Type and help of one of the collector's own names (a histogram's `_bucket`, `_sum`
/// and `_count` series have their histogram's).
pub fn lookup(name: &str) -> Option<(&'static str, &'static str)> {
    let family = family(name);
    METADATA
        .binary_search_by(|(n, _, _)| (*n).cmp(family))
        .ok()
        .map(|i| (METADATA[i].1, METADATA[i].2))
}

/// The name `# HELP` and `# TYPE` use for a series name: the histogram's for one of its
/// `_bucket`, `_sum` and `_count` series, else the name itself.
fn family(name: &str) -> &str {
    let exact = |n: &str| METADATA.binary_search_by(|(m, _, _)| (*m).cmp(n)).ok();
    if exact(name).is_some() {
        return name;
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && let Some(i) = exact(base)
            && METADATA[i].1 == "histogram"
        {
            return base;
        }
    }
    name
}

/// Where the collector's own counters live.
#[derive(Clone)]
pub struct OwnMetrics {
    /// Ingest's counters (and the metric metadata it keeps).
    pub counters: Arc<Counters>,
    /// The notifier's counters.
    pub notify: Arc<NotifyMetrics>,
    /// Authentication refusals.
    pub auth: Arc<Auth>,
    /// The forwarders of `[[remote_write]]` (`vigil_remote_write_*`), when running.
    pub remote_write: Option<Arc<crate::remote_write::RemoteWrite>>,
}

impl OwnMetrics {
    /// Every own series as it is now (without the process basics).
    pub fn series(&self) -> Vec<OwnSeries> {
        let mut out = series(&self.counters, &self.notify, &self.auth);
        if let Some(remote_write) = &self.remote_write {
            out.extend(remote_write.own_series());
        }
        out
    }
}

/// Every own series as it is now (without the process basics): what housekeeping stores
/// and `/metrics` serves.
pub fn series(counters: &Counters, notify: &NotifyMetrics, auth: &Auth) -> Vec<OwnSeries> {
    let count = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed) as f64;
    let mut out = vec![
        OwnSeries::new(
            "vigil_collector_samples_accepted_total",
            &[],
            count(&counters.samples_accepted),
        ),
        OwnSeries::new(
            "vigil_collector_batches_total",
            &[],
            count(&counters.batches),
        ),
        OwnSeries::new(
            "vigil_collector_relabel_dropped_total",
            &[],
            count(&counters.relabel_dropped),
        ),
    ];
    let locked = |m: &std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>| {
        m.lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(r, n)| (*r, *n))
            .collect::<Vec<_>>()
    };
    for (reason, n) in locked(&counters.rejected) {
        out.push(OwnSeries::new(
            "vigil_collector_rejected_total",
            &[("reason", reason)],
            n as f64,
        ));
    }
    out.push(OwnSeries::new(
        "vigil_collector_remote_write_received_samples_total",
        &[],
        count(&counters.remote_write.samples),
    ));
    for (code, n) in counters.remote_write.requests() {
        out.push(OwnSeries::new(
            "vigil_collector_remote_write_requests_total",
            &[("code", &code.to_string())],
            n as f64,
        ));
    }
    let storage = counters.storage.snapshot();
    for state in ["writable", "read_only", "failed"] {
        out.push(OwnSeries::new(
            "vigil_collector_storage_state",
            &[("state", state)],
            f64::from(u8::from(storage.state == state)),
        ));
    }
    out.push(OwnSeries::new(
        "vigil_collector_storage_free_bytes",
        &[],
        storage.free_bytes as f64,
    ));
    out.push(OwnSeries::new(
        "vigil_collector_storage_min_free_bytes",
        &[],
        storage.need_bytes as f64,
    ));
    out.push(OwnSeries::new(
        "vigil_collector_memory_budget_bytes",
        &[],
        counters.memory.bytes() as f64,
    ));
    let damage = counters.scale.store_damage();
    for (name, value) in [
        ("vigil_collector_storage_damaged_parts", damage.regions),
        ("vigil_collector_storage_damaged_reads_total", damage.reads),
        ("vigil_collector_storage_damaged_samples", damage.samples),
        ("vigil_collector_storage_damaged_series", damage.series),
    ] {
        out.push(OwnSeries::new(name, &[], value as f64));
    }
    for (kind, n) in crate::storage_guard::ERROR_KINDS
        .into_iter()
        .zip(counters.storage.errors())
    {
        out.push(OwnSeries::new(
            "vigil_collector_storage_errors_total",
            &[("kind", kind)],
            n as f64,
        ));
    }
    for (reason, n) in locked(&counters.streams_failed) {
        out.push(OwnSeries::new(
            "vigil_collector_streams_failed_total",
            &[("reason", reason)],
            n as f64,
        ));
    }
    for (reason, n) in auth.refused() {
        out.push(OwnSeries::new(
            "vigil_collector_auth_refused_total",
            &[("reason", reason)],
            n as f64,
        ));
    }
    out.push(OwnSeries::new(
        "vigil_collector_metadata_names",
        &[],
        counters.metadata.len() as f64,
    ));
    for (reason, n) in counters.metadata.ignored() {
        out.push(OwnSeries::new(
            "vigil_collector_metadata_ignored_total",
            &[("reason", reason)],
            n as f64,
        ));
    }
    scale_series(&counters.scale, &mut out);
    for (name, extra, value) in crate::transport::stats::series() {
        out.push(OwnSeries::new(name, &extra, value));
    }
    for (name, labels, value) in notify.series() {
        out.push(OwnSeries {
            name,
            labels,
            value,
        });
    }
    out
}

/// Ack times (a histogram), batches waiting, series created and memory by part.
fn scale_series(scale: &crate::ingest::scale::Scale, out: &mut Vec<OwnSeries>) {
    let histogram = scale.ack.histogram();
    for (le, n) in &histogram.buckets {
        out.push(OwnSeries::new(
            "vigil_collector_ingest_ack_seconds_bucket",
            &[("le", &text_value(*le))],
            *n as f64,
        ));
    }
    out.push(OwnSeries::new(
        "vigil_collector_ingest_ack_seconds_sum",
        &[],
        histogram.sum,
    ));
    out.push(OwnSeries::new(
        "vigil_collector_ingest_ack_seconds_count",
        &[],
        histogram.count as f64,
    ));
    out.push(OwnSeries::new(
        "vigil_collector_ingest_batches_waiting",
        &[],
        scale.ack.waiting() as f64,
    ));
    out.push(OwnSeries::new(
        "vigil_collector_series_created_total",
        &[],
        scale.series.created() as f64,
    ));
    let resident = resident_bytes().unwrap_or(0.0) as u64;
    for (part, bytes) in scale.memory(resident) {
        out.push(OwnSeries::new(
            "vigil_collector_memory_bytes",
            &[("part", part)],
            bytes as f64,
        ));
    }
}

/// The process basics from `/proc/self`: whatever of them can be read (none off Linux).
pub fn process_series() -> Vec<OwnSeries> {
    // The kernel reports CPU times and the start time in USER_HZ ticks, which is 100 on
    // every architecture Linux exposes to user space.
    const TICKS_PER_SECOND: f64 = 100.0;
    let mut out = Vec::new();
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // /proc/[pid]/stat fields 14 (utime), 15 (stime), 22 (starttime) and 24 (rss, pages):
    // `fields[0]` is field 3.
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<f64>().ok());
    if let (Some(user), Some(system)) = (field(14), field(15)) {
        out.push(OwnSeries::new(
            "process_cpu_seconds_total",
            &[],
            (user + system) / TICKS_PER_SECOND,
        ));
    }
    if let Some(bytes) = resident_bytes() {
        out.push(OwnSeries::new("process_resident_memory_bytes", &[], bytes));
    }
    if let (Some(start), Some(boot)) = (field(22), boot_time()) {
        out.push(OwnSeries::new(
            "process_start_time_seconds",
            &[],
            boot + start / TICKS_PER_SECOND,
        ));
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        // One of them is the directory being read.
        let open = dir.count().saturating_sub(1);
        out.push(OwnSeries::new("process_open_fds", &[], open as f64));
    }
    out
}

/// `VmRSS` of `/proc/self/status`, in bytes (`None` off Linux).
pub fn resident_bytes() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// `btime` of `/proc/stat`: when the machine booted, in Unix seconds.
fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// `series` in Prometheus' text format 0.0.4: each name's `# HELP` and `# TYPE` lines
/// once, before its first series; series of one name kept together.
pub fn write_text(series: &[OwnSeries]) -> String {
    let mut sorted: Vec<&OwnSeries> = series.iter().collect();
    // Stable: the series of one name stay in the order they came, and a histogram's
    // series stay together.
    sorted.sort_by_key(|s| family(s.name));
    let mut out = String::with_capacity(64 * series.len());
    let mut last = "";
    for s in sorted {
        let name = family(s.name);
        if name != last {
            let (kind, help) = lookup(name).unwrap_or(("untyped", ""));
            out.push_str("# HELP ");
            out.push_str(name);
            out.push(' ');
            escape_into(&mut out, help, false);
            out.push_str("\n# TYPE ");
            out.push_str(name);
            out.push(' ');
            out.push_str(kind);
            out.push('\n');
            last = name;
        }
        out.push_str(s.name);
        if !s.labels.is_empty() {
            out.push('{');
            for (i, (name, value)) in s.labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(name);
                out.push_str("=\"");
                escape_into(&mut out, value, true);
                out.push('"');
            }
            out.push('}');
        }
        out.push(' ');
        out.push_str(&text_value(s.value));
        out.push('\n');
    }
    out
}

/// A sample value as the text format writes it (as Go does: NaN, +Inf, 1e+21).
fn text_value(v: f64) -> String {
    let mut out = Vec::new();
    vigil_promql::go_float::write_sample_value(&mut out, v);
    String::from_utf8_lossy(&out).into_owned()
}

/// Escapes `\` and newlines (help texts), and `"` too in label values.
fn escape_into(out: &mut String, s: &str, quotes: bool) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quotes => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_covers_every_series() {
        assert!(METADATA.windows(2).all(|w| w[0].0 < w[1].0));
        let counters = Arc::new(Counters::default());
        counters.rejected("bad_label", 2);
        counters.stream_failed("protocol");
        let notify = Arc::new(NotifyMetrics::default());
        notify.count("ops", "sent");
        notify.set_depth("ops", 1);
        let own = OwnMetrics {
            counters,
            notify,
            auth: Arc::new(Auth::from_config(&crate::config::Config::default()).unwrap()),
            remote_write: Some(crate::remote_write::RemoteWrite::none()),
        };
        let mut all = own.series();
        let remote =
            crate::remote_write::metrics::RemoteMetrics::new("r", "http://r/", Arc::new(|| 0));
        remote.series(&mut all);
        all.extend(process_series());
        for s in &all {
            assert!(lookup(s.name).is_some(), "{} has no metadata", s.name);
        }
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_start_time_seconds",
            "process_open_fds",
            "vigil_collector_rejected_total",
            "vigil_notifications_total",
            "vigil_collector_ingest_ack_seconds_bucket",
            "vigil_collector_ingest_ack_seconds_sum",
            "vigil_collector_ingest_ack_seconds_count",
            "vigil_collector_ingest_batches_waiting",
            "vigil_collector_series_created_total",
            "vigil_collector_memory_bytes",
        ] {
            assert!(all.iter().any(|s| s.name == name), "{name} missing");
        }
    }

    #[test]
    fn scale_series_move_with_the_counters() {
        let counters = Counters::default();
        let now = 1_800_000_000_000;
        counters.scale.ack.observe(0.004, now);
        counters.scale.ack.observe(0.3, now);
        let _waiting = counters.scale.ack.arrived();
        let mut stats = vigil_store::StoreStats {
            series: 10,
            ..Default::default()
        };
        counters.scale.observe_store(&stats, now);
        stats.series = 25;
        stats.memory.block_cache = 4096;
        counters.scale.observe_store(&stats, now + 10_000);
        let mut out = Vec::new();
        scale_series(&counters.scale, &mut out);
        let value = |name: &str, label: Option<(&str, &str)>| {
            out.iter()
                .find(|s| {
                    s.name == name
                        && label.is_none_or(|(n, v)| s.labels.contains(&(n.into(), v.into())))
                })
                .map(|s| s.value)
        };
        let bucket = "vigil_collector_ingest_ack_seconds_bucket";
        assert_eq!(value(bucket, Some(("le", "0.005"))), Some(1.0));
        assert_eq!(value(bucket, Some(("le", "0.5"))), Some(2.0));
        assert_eq!(value(bucket, Some(("le", "+Inf"))), Some(2.0));
        assert_eq!(
            value("vigil_collector_ingest_ack_seconds_count", None),
            Some(2.0)
        );
        let sum = value("vigil_collector_ingest_ack_seconds_sum", None).unwrap();
        assert!((sum - 0.304).abs() < 1e-9, "{sum}");
        assert_eq!(
            value("vigil_collector_ingest_batches_waiting", None),
            Some(1.0)
        );
        assert_eq!(
            value("vigil_collector_series_created_total", None),
            Some(15.0)
        );
        let memory = "vigil_collector_memory_bytes";
        assert_eq!(value(memory, Some(("part", "block_cache"))), Some(4096.0));
        for part in ["series_index", "head", "table_readers", "other"] {
            assert!(value(memory, Some(("part", part))).is_some(), "{part}");
        }
        // One HELP and TYPE for the histogram's series, under its own name.
        let text = write_text(&out);
        assert!(
            text.contains(
                "# TYPE vigil_collector_ingest_ack_seconds histogram\n\
                 vigil_collector_ingest_ack_seconds_bucket{le=\"0.001\"} 0\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "vigil_collector_ingest_ack_seconds_bucket{le=\"+Inf\"} 2\n\
                 vigil_collector_ingest_ack_seconds_sum 0.304\n\
                 vigil_collector_ingest_ack_seconds_count 2\n\
                 # HELP vigil_collector_ingest_batches_waiting"
            ),
            "{text}"
        );
        assert_eq!(text.matches("# TYPE vigil_collector_ingest_ack").count(), 1);
    }

    #[test]
    fn text_format_groups_names_and_escapes() {
        let text = write_text(&[
            OwnSeries::new("vigil_collector_rejected_total", &[("reason", "a\"b")], 2.0),
            OwnSeries::new("vigil_collector_batches_total", &[], 1e21),
            OwnSeries::new("vigil_collector_rejected_total", &[("reason", "c\\d")], 0.5),
        ]);
        assert_eq!(
            text,
            "# HELP vigil_collector_batches_total Batches from agents acknowledged.\n\
             # TYPE vigil_collector_batches_total counter\n\
             vigil_collector_batches_total 1e+21\n\
             # HELP vigil_collector_rejected_total Samples and series definitions from agents \
             refused, by reason.\n\
             # TYPE vigil_collector_rejected_total counter\n\
             vigil_collector_rejected_total{reason=\"a\\\"b\"} 2\n\
             vigil_collector_rejected_total{reason=\"c\\\\d\"} 0.5\n"
        );
    }
}
