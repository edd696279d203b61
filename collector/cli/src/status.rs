//! `vigil status`: what the collector is and holds: version, uptime, data directory, disk
//! usage in total and per part of the store, series in total and per host, and what was
//! ingested since it started, and where forwarding to each `[[remote_write]]` remote stands
//! (state, lag, bytes waiting, samples sent, refused and dropped, the last error).
//!
//! `--output json` writes one object:
//!
//! ```text
//!   {"version":"0.1.0","started":1795240200,"uptime_seconds":11520,
//!    "data_dir":"/var/lib/vigil","engine":"RocksDB",
//!    "storage_state":"writable","storage_reason":"",   or read_only, failed, and why
//!    "storage_free_bytes":…,"storage_min_free_bytes":…,
//!    "storage_damaged_parts":0,"storage_damaged_samples":0,"storage_damaged_reads":0,
//!    "disk_bytes":…,"wal_bytes":…,
//!    "parts":[{"name":"samples","disk_bytes":…,"live_bytes":…,"memory_bytes":…,"keys":…}],
//!    "series":…,"series_by_host":{"web-1":312,…},
//!    "hosts":…,"hosts_up":…,
//!    "samples_ingested":…,"batches_acked":…,"samples_rejected":…,   since the start
//!    "streams_refused":…,
//!    "samples_stored":null,                    when the engine knows without a scan
//!    "outbox_waiting":0,"outbox":{"ops-mail":0},
//!    "remotes":[{"name":"central","url":"https://vm.example:8428/api/v1/write",
//!      "state":"idle","lag_seconds":0.0,"queue_bytes":0,"samples_sent":…,
//!      "samples_failed":0,"samples_dropped":0,"last_error":"","last_success_ms":…}],
//!    "acks_last_minute":…,"ack_p50_seconds":…,"ack_p99_seconds":…,   ingest lag
//!    "batches_waiting":…,"series_created":…,"series_created_per_second":…,
//!    "memory":{"block_cache":…,"head":…,"other":…,"series_index":…,"table_readers":…},
//!    "resident_bytes":…,"block_cache_pinned_bytes":…,"memory_budget_bytes":…}   0: none
//! ```
//!
//! `--output csv` writes `key,value` rows with the same names (`parts.<name>.<field>`,
//! `series_by_host.<host>`, `outbox.<receiver>`, `remotes.<name>.<field>`,
//! `memory.<part>`).

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;
use vigil_proto::v1::admin_client::AdminClient;
use vigil_proto::v1::{RemoteWriteStatus, StatusRequest, StatusResponse};

use super::backup::refused;
use super::client::{Collector, Target};
use super::error::Error;
use super::output::{self, Output};
use super::{time, units};

/// Hosts listed in the table (the ones with the most series); JSON and CSV list all.
const TABLE_HOSTS: usize = 15;

/// Characters of a remote's last error shown in the table; JSON and CSV carry all of it.
const TABLE_ERROR_CHARS: usize = 60;

/// Fetches the collector's status and prints it.
pub async fn run(target: &Target, output: Output) -> Result<(), Error> {
    let collector = Collector::connect(target).await?;
    let mut client = AdminClient::new(collector.channel());
    let status = client
        .status(StatusRequest {})
        .await
        .map_err(|s| refused(target, s))?
        .into_inner();
    let mut out = output::stdout();
    render(&status, output, &mut out)?;
    Ok(out.flush()?)
}

/// The status as `--output json` writes it (fields in this order).
#[derive(Serialize)]
struct StatusRecord<'a> {
    version: &'a str,
    started: serde_json::Number,
    uptime_seconds: i64,
    data_dir: &'a str,
    engine: &'a str,
    storage_state: &'a str,
    storage_reason: &'a str,
    storage_free_bytes: u64,
    storage_min_free_bytes: u64,
    storage_damaged_parts: u64,
    storage_damaged_samples: u64,
    storage_damaged_reads: u64,
    disk_bytes: u64,
    wal_bytes: u64,
    parts: Vec<PartRecord<'a>>,
    series: u64,
    series_by_host: BTreeMap<&'a str, u64>,
    hosts: u64,
    hosts_up: u64,
    samples_ingested: u64,
    batches_acked: u64,
    samples_rejected: u64,
    streams_refused: u64,
    samples_stored: Option<u64>,
    outbox_waiting: u64,
    outbox: BTreeMap<&'a str, u64>,
    remotes: Vec<RemoteRecord<'a>>,
    acks_last_minute: u64,
    ack_p50_seconds: f64,
    ack_p99_seconds: f64,
    batches_waiting: u64,
    series_created: u64,
    series_created_per_second: f64,
    memory: BTreeMap<&'a str, u64>,
    resident_bytes: u64,
    block_cache_pinned_bytes: u64,
    memory_budget_bytes: u64,
}

/// One `[[remote_write]]` remote, with the proto's field names.
#[derive(Serialize)]
struct RemoteRecord<'a> {
    name: &'a str,
    url: &'a str,
    state: &'a str,
    lag_seconds: f64,
    queue_bytes: u64,
    samples_sent: u64,
    samples_failed: u64,
    samples_dropped: u64,
    last_error: &'a str,
    last_success_ms: i64,
}

impl<'a> RemoteRecord<'a> {
    fn new(r: &'a RemoteWriteStatus) -> Self {
        RemoteRecord {
            name: &r.name,
            url: &r.url,
            state: &r.state,
            lag_seconds: r.lag_seconds,
            queue_bytes: r.queue_bytes,
            samples_sent: r.samples_sent,
            samples_failed: r.samples_failed,
            samples_dropped: r.samples_dropped,
            last_error: &r.last_error,
            last_success_ms: r.last_success_ms,
        }
    }
}

/// One part of the store.
#[derive(Serialize)]
struct PartRecord<'a> {
    name: &'a str,
    disk_bytes: u64,
    live_bytes: u64,
    memory_bytes: u64,
    keys: u64,
}

impl<'a> StatusRecord<'a> {
    fn new(s: &'a StatusResponse) -> Self {
        StatusRecord {
            version: &s.version,
            started: output::unix_seconds(s.started_ms),
            uptime_seconds: (s.now_ms - s.started_ms).max(0) / 1000,
            data_dir: &s.data_dir,
            engine: &s.engine,
            storage_state: &s.storage_state,
            storage_reason: &s.storage_reason,
            storage_free_bytes: s.storage_free_bytes,
            storage_min_free_bytes: s.storage_min_free_bytes,
            storage_damaged_parts: s.storage_damaged_parts,
            storage_damaged_samples: s.storage_damaged_samples,
            storage_damaged_reads: s.storage_damaged_reads,
            disk_bytes: s.disk_bytes,
            wal_bytes: s.wal_bytes,
            parts: s
                .parts
                .iter()
                .map(|p| PartRecord {
                    name: &p.name,
                    disk_bytes: p.disk_bytes,
                    live_bytes: p.live_bytes,
                    memory_bytes: p.memory_bytes,
                    keys: p.keys,
                })
                .collect(),
            series: s.series,
            series_by_host: s
                .series_by_host
                .iter()
                .map(|h| (h.host.as_str(), h.series))
                .collect(),
            hosts: s.hosts,
            hosts_up: s.hosts_up,
            samples_ingested: s.samples_ingested,
            batches_acked: s.batches_acked,
            samples_rejected: s.samples_rejected,
            streams_refused: s.streams_refused,
            samples_stored: s.samples_stored,
            outbox_waiting: s.outbox.iter().map(|o| o.waiting).sum(),
            outbox: s
                .outbox
                .iter()
                .map(|o| (o.receiver.as_str(), o.waiting))
                .collect(),
            remotes: s.remotes.iter().map(RemoteRecord::new).collect(),
            acks_last_minute: s.acks_last_minute,
            ack_p50_seconds: s.ack_p50_seconds,
            ack_p99_seconds: s.ack_p99_seconds,
            batches_waiting: s.batches_waiting,
            series_created: s.series_created,
            series_created_per_second: s.series_created_per_second,
            memory: s
                .memory
                .iter()
                .map(|m| (m.part.as_str(), m.bytes))
                .collect(),
            resident_bytes: s.resident_bytes,
            block_cache_pinned_bytes: s.block_cache_pinned_bytes,
            memory_budget_bytes: s.memory_budget_bytes,
        }
    }

    /// `key,value` rows for `--output csv`.
    fn csv_rows(&self) -> Vec<Vec<String>> {
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut row = |k: &str, v: String| rows.push(vec![k.to_owned(), v]);
        row("version", self.version.to_owned());
        row("started", self.started.to_string());
        row("uptime_seconds", self.uptime_seconds.to_string());
        row("data_dir", self.data_dir.to_owned());
        row("engine", self.engine.to_owned());
        row("storage_state", self.storage_state.to_owned());
        row("storage_reason", self.storage_reason.to_owned());
        row("storage_free_bytes", self.storage_free_bytes.to_string());
        let keeps = self.storage_min_free_bytes.to_string();
        row("storage_min_free_bytes", keeps);
        row(
            "storage_damaged_parts",
            self.storage_damaged_parts.to_string(),
        );
        row(
            "storage_damaged_samples",
            self.storage_damaged_samples.to_string(),
        );
        row(
            "storage_damaged_reads",
            self.storage_damaged_reads.to_string(),
        );
        row("disk_bytes", self.disk_bytes.to_string());
        row("wal_bytes", self.wal_bytes.to_string());
        for p in &self.parts {
            let name = p.name;
            row(
                &format!("parts.{name}.disk_bytes"),
                p.disk_bytes.to_string(),
            );
            row(
                &format!("parts.{name}.live_bytes"),
                p.live_bytes.to_string(),
            );
            let memory = p.memory_bytes.to_string();
            row(&format!("parts.{name}.memory_bytes"), memory);
            row(&format!("parts.{name}.keys"), p.keys.to_string());
        }
        row("series", self.series.to_string());
        for (host, n) in &self.series_by_host {
            row(&format!("series_by_host.{host}"), n.to_string());
        }
        row("hosts", self.hosts.to_string());
        row("hosts_up", self.hosts_up.to_string());
        row("samples_ingested", self.samples_ingested.to_string());
        row("batches_acked", self.batches_acked.to_string());
        row("samples_rejected", self.samples_rejected.to_string());
        row("streams_refused", self.streams_refused.to_string());
        let stored = self.samples_stored.map(|n| n.to_string());
        row("samples_stored", stored.unwrap_or_default());
        row("outbox_waiting", self.outbox_waiting.to_string());
        for (receiver, n) in &self.outbox {
            row(&format!("outbox.{receiver}"), n.to_string());
        }
        for r in &self.remotes {
            let key = |field: &str| format!("remotes.{}.{field}", r.name);
            row(&key("url"), r.url.to_owned());
            row(&key("state"), r.state.to_owned());
            row(&key("lag_seconds"), output::format_value(r.lag_seconds));
            row(&key("queue_bytes"), r.queue_bytes.to_string());
            row(&key("samples_sent"), r.samples_sent.to_string());
            row(&key("samples_failed"), r.samples_failed.to_string());
            row(&key("samples_dropped"), r.samples_dropped.to_string());
            row(&key("last_error"), r.last_error.to_owned());
            row(&key("last_success_ms"), r.last_success_ms.to_string());
        }
        row("acks_last_minute", self.acks_last_minute.to_string());
        let value = output::format_value;
        row("ack_p50_seconds", value(self.ack_p50_seconds));
        row("ack_p99_seconds", value(self.ack_p99_seconds));
        row("batches_waiting", self.batches_waiting.to_string());
        row("series_created", self.series_created.to_string());
        let per_second = value(self.series_created_per_second);
        row("series_created_per_second", per_second);
        for (part, bytes) in &self.memory {
            row(&format!("memory.{part}"), bytes.to_string());
        }
        row("resident_bytes", self.resident_bytes.to_string());
        let pinned = self.block_cache_pinned_bytes.to_string();
        row("block_cache_pinned_bytes", pinned);
        let budget = self.memory_budget_bytes.to_string();
        row("memory_budget_bytes", budget);
        rows
    }
}

/// The storage line: whether ingest is storing, the free space and what is kept, and
/// why not when it is not (an older collector sends no state).
fn storage(r: &StatusRecord<'_>) -> String {
    let room = if r.storage_min_free_bytes == 0 {
        format!(
            "{} free, no guard",
            units::bytes(r.storage_free_bytes as f64)
        )
    } else {
        format!(
            "{} free, keeps {}",
            units::bytes(r.storage_free_bytes as f64),
            units::bytes(r.storage_min_free_bytes as f64)
        )
    };
    let state = match r.storage_state {
        "" => "unknown (the collector does not say)".to_owned(),
        "writable" => format!("writable ({room})"),
        "read_only" => format!(
            "READ-ONLY for ingest ({room}): {}",
            r.storage_reason
                .strip_prefix("storage is read-only for ingest: ")
                .unwrap_or(r.storage_reason)
        ),
        other => format!("{} ({room}): {}", other.to_uppercase(), r.storage_reason),
    };
    if r.storage_damaged_parts == 0 && r.storage_damaged_reads == 0 {
        return state;
    }
    format!(
        "{state}; DAMAGED: {} parts ({} samples) unreadable, left out of {} reads; stop the \
         collector and run `vigil-collector repair --data-dir DIR`",
        r.storage_damaged_parts, r.storage_damaged_samples, r.storage_damaged_reads
    )
}

/// Writes the status in the chosen format.
pub fn render(s: &StatusResponse, output: Output, w: &mut dyn Write) -> std::io::Result<()> {
    let record = StatusRecord::new(s);
    match output {
        Output::Json => output::write_json(w, &record),
        Output::Csv => output::write_csv(w, &["key", "value"], record.csv_rows()),
        Output::Table => table(s, &record, w),
    }
}

/// The summary, then the parts of the store, then the hosts with the most series.
fn table(s: &StatusResponse, r: &StatusRecord<'_>, w: &mut dyn Write) -> std::io::Result<()> {
    let line = |w: &mut dyn Write, key: &str, value: String| writeln!(w, "{key:<12} {value}");
    line(w, "VERSION", r.version.to_owned())?;
    line(w, "STORAGE", storage(r))?;
    line(
        w,
        "UPTIME",
        format!(
            "{} (since {} UTC)",
            uptime(r.uptime_seconds),
            time::format_utc(s.started_ms - s.started_ms % 1000).trim_end_matches(".000")
        ),
    )?;
    line(w, "DATA DIR", r.data_dir.to_owned())?;
    line(w, "ENGINE", r.engine.to_owned())?;
    line(
        w,
        "DISK",
        format!(
            "{} (write-ahead log {})",
            units::bytes(r.disk_bytes as f64),
            units::bytes(r.wal_bytes as f64)
        ),
    )?;
    line(
        w,
        "SERIES",
        format!(
            "{} from {}; {} known, {} up",
            group(r.series),
            plural(r.series_by_host.len() as u64, "host"),
            plural(r.hosts, "host"),
            group(r.hosts_up)
        ),
    )?;
    if let Some(stored) = r.samples_stored {
        line(w, "STORED", format!("{} samples", group(stored)))?;
    }
    line(
        w,
        "INGESTED",
        format!(
            "{} samples in {} batches since the start; {} refused; {} refused or failed",
            group(r.samples_ingested),
            group(r.batches_acked),
            group(r.samples_rejected),
            plural(r.streams_refused, "stream")
        ),
    )?;
    line(w, "INGEST LAG", ingest_lag(r))?;
    line(
        w,
        "NEW SERIES",
        format!(
            "{}/s over the last minute; {} since the start",
            units::compact(r.series_created_per_second),
            group(r.series_created)
        ),
    )?;
    if r.resident_bytes > 0 || !s.memory.is_empty() {
        line(w, "MEMORY", memory(s))?;
    }
    if !r.outbox.is_empty() {
        line(
            w,
            "OUTBOX",
            format!("{} notifications waiting", group(r.outbox_waiting)),
        )?;
    }
    if !r.remotes.is_empty() {
        line(w, "REMOTE WRITE", remote_summary(&s.remotes))?;
    }

    writeln!(w)?;
    let mut parts = output::table(
        &[
            "PART",
            "ON DISK",
            "LIVE DATA (EST.)",
            "IN MEMORY",
            "KEYS (EST.)",
        ],
        &[1, 2, 3, 4],
    );
    for p in &r.parts {
        parts.add_row(vec![
            p.name.to_owned(),
            units::bytes(p.disk_bytes as f64),
            units::bytes(p.live_bytes as f64),
            units::bytes(p.memory_bytes as f64),
            group(p.keys),
        ]);
    }
    output::write_table(w, &parts)?;

    if !r.remotes.is_empty() {
        writeln!(w)?;
        output::write_table(w, &remote_table(&s.remotes))?;
    }

    if r.series_by_host.is_empty() {
        return Ok(());
    }
    writeln!(w)?;
    let mut hosts: Vec<(&str, u64)> = r.series_by_host.iter().map(|(h, n)| (*h, *n)).collect();
    hosts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut table = output::table(&["HOST", "SERIES"], &[1]);
    for (host, n) in hosts.iter().take(TABLE_HOSTS) {
        table.add_row(vec![(*host).to_owned(), group(*n)]);
    }
    output::write_table(w, &table)?;
    if hosts.len() > TABLE_HOSTS {
        writeln!(
            w,
            "... and {} more hosts (--output json lists every one)",
            hosts.len() - TABLE_HOSTS
        )?;
    }
    Ok(())
}

/// `p50 4ms, p99 310ms over 1,234 batches in the last minute; 3 waiting`.
fn ingest_lag(r: &StatusRecord<'_>) -> String {
    let waiting = format!("{} waiting", group(r.batches_waiting));
    if r.acks_last_minute == 0 {
        return format!("no batch acknowledged in the last minute; {waiting}");
    }
    format!(
        "p50 {}, p99 {} over {} in the last minute; {waiting}",
        latency(r.ack_p50_seconds),
        latency(r.ack_p99_seconds),
        plural(r.acks_last_minute, "batch"),
    )
}

/// `0.4ms`, `12ms`, `1.5s`, `1m 30s`.
fn latency(seconds: f64) -> String {
    let ms = seconds * 1000.0;
    if ms < 9.95 {
        format!("{ms:.1}ms")
    } else if ms < 999.5 {
        format!("{ms:.0}ms")
    } else {
        units::duration(seconds)
    }
}

/// `1.2 GiB resident: series index 3.0 MiB, head 40.0 MiB, block cache 8.0 MiB (1.0 MiB
/// pinned), table readers 2.0 MiB, other 1.1 GiB`, the parts in the collector's order.
fn memory(s: &StatusResponse) -> String {
    let parts: Vec<String> = s
        .memory
        .iter()
        .map(|m| {
            let mut part = format!(
                "{} {}",
                m.part.replace('_', " "),
                units::bytes(m.bytes as f64)
            );
            if m.part == "block_cache" && s.block_cache_pinned_bytes > 0 {
                let pinned = units::bytes(s.block_cache_pinned_bytes as f64);
                part.push_str(&format!(" ({pinned} pinned)"));
            }
            part
        })
        .collect();
    let budget = match s.memory_budget_bytes {
        0 => String::new(),
        b => format!(" of a {} budget", units::bytes(b as f64)),
    };
    format!(
        "{} resident{budget}: {}",
        units::bytes(s.resident_bytes as f64),
        parts.join(", ")
    )
}

/// `2 remotes, largest lag 5m 12s`, and how many are retrying when any is.
fn remote_summary(remotes: &[RemoteWriteStatus]) -> String {
    let lag = remotes.iter().map(|r| r.lag_seconds).fold(0.0, f64::max);
    let mut summary = format!(
        "{}, largest lag {}",
        plural(remotes.len() as u64, "remote"),
        units::duration(lag)
    );
    let retrying = remotes.iter().filter(|r| r.state == "retrying").count();
    if retrying > 0 {
        summary.push_str(&format!("; {retrying} retrying"));
    }
    summary
}

/// One row per remote, in configuration order.
fn remote_table(remotes: &[RemoteWriteStatus]) -> comfy_table::Table {
    let mut table = output::table(
        &[
            "REMOTE",
            "URL",
            "STATE",
            "LAG",
            "QUEUE",
            "SENT",
            "FAILED",
            "DROPPED",
            "LAST ERROR",
        ],
        &[3, 4, 5, 6, 7],
    );
    for r in remotes {
        table.add_row(vec![
            r.name.clone(),
            r.url.clone(),
            r.state.clone(),
            units::duration(r.lag_seconds),
            units::bytes(r.queue_bytes as f64),
            group(r.samples_sent),
            group(r.samples_failed),
            group(r.samples_dropped),
            shortened(&r.last_error, TABLE_ERROR_CHARS),
        ]);
    }
    table
}

/// The first line of `text`, cut to `max` characters with `...` when longer; `-` when empty.
fn shortened(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        "-".to_owned()
    } else if line.chars().count() > max || line.len() < text.trim().len() {
        let cut: String = line.chars().take(max.saturating_sub(3)).collect();
        format!("{}...", cut.trim_end())
    } else {
        line.to_owned()
    }
}

/// `3d 4h`, `5h 12m`, `12m 5s`, `42s`: the two largest units.
fn uptime(seconds: i64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// `1 host`, `2 hosts`, `1,000 hosts`, `2 batches`.
fn plural(n: u64, what: &str) -> String {
    let s = match (n, what.ends_with("ch")) {
        (1, _) => "",
        (_, true) => "es",
        _ => "s",
    };
    format!("{} {what}{s}", group(n))
}

/// `1234567` as `1,234,567`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests;
