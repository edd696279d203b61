//! Printing a [`HostReport`] as a table (facts, then one block per kind of figure, then
//! the agent's own figures), JSON or CSV; the shapes are described in the parent module.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;
use vigil_proto::v1::Hello;

use super::{Agent, Disk, Filesystem, HostReport, Interface, ProcessGroup, Unit, processes};
use crate::output::{self, Output};
use crate::time;
use crate::units::{self, or_dash};
use crate::usage::Usage;

/// Writes `report` in the chosen format; `now_ms` anchors "last seen" in tables.
pub fn render(
    report: &HostReport,
    output: Output,
    now_ms: i64,
    w: &mut dyn Write,
) -> io::Result<()> {
    let record = Record::new(report);
    match output {
        Output::Json => output::write_json(w, &record),
        Output::Csv => write_csv(&record, w),
        Output::Table => write_table(report, &record, now_ms, w),
    }
}

/// The JSON object: `vigil hosts`' keys, then the figures.
#[derive(Serialize)]
struct Record<'a> {
    host: &'a str,
    last_seen: Option<serde_json::Number>,
    up: Option<bool>,
    os: String,
    kernel: String,
    arch: String,
    cpu_model: String,
    logical_cores: u32,
    memory_bytes: u64,
    agent_version: String,
    machine_id: String,
    first_seen: Option<serde_json::Number>,
    series: Option<u64>,
    labels: BTreeMap<String, String>,
    peer: Option<&'a str>,
    clock_skew_seconds: Option<f64>,
    samples_refused: Option<u64>,
    usage: Usage,
    filesystems: &'a [Filesystem],
    disks: &'a [Disk],
    interfaces: &'a [Interface],
    agent: &'a Agent,
    process_groups: &'a [ProcessGroup],
    systemd_units: &'a [Unit],
}

impl<'a> Record<'a> {
    fn new(report: &'a HostReport) -> Self {
        let host = report.host.as_ref();
        let facts = host.and_then(|h| h.facts.clone()).unwrap_or_default();
        let Hello {
            os,
            kernel,
            arch,
            cpu_model,
            logical_cores,
            memory_bytes,
            agent_version,
            machine_id,
            labels,
            ..
        } = facts;
        Record {
            host: &report.name,
            last_seen: host.map(|h| output::unix_seconds(h.last_seen_ms)),
            up: host.map(|h| h.up),
            os,
            kernel,
            arch,
            cpu_model,
            logical_cores,
            memory_bytes,
            agent_version,
            machine_id,
            first_seen: host.map(|h| output::unix_seconds(h.first_seen_ms)),
            series: host.map(|h| h.series),
            labels: labels.into_iter().map(|l| (l.name, l.value)).collect(),
            peer: host.map(|h| h.peer.as_str()),
            clock_skew_seconds: host
                .filter(|h| h.clock_skew_known)
                .map(|h| h.clock_skew_ms as f64 / 1000.0),
            samples_refused: host.map(|h| h.samples_refused),
            usage: report.usage,
            filesystems: &report.filesystems,
            disks: &report.disks,
            interfaces: &report.interfaces,
            agent: &report.agent,
            process_groups: &report.process_groups,
            systemd_units: &report.systemd_units,
        }
    }
}

/// `section,name,field,value` rows: every key of the JSON object, flattened.
fn write_csv(record: &Record<'_>, w: &mut dyn Write) -> io::Result<()> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    // `name` is the key of the section's entry (mount point or device), not repeated.
    let mut add = |section: &str, name: &str, key: &str, value: serde_json::Value| {
        let serde_json::Value::Object(fields) = value else {
            return;
        };
        for (field, value) in fields {
            let value = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => String::new(),
                serde_json::Value::Number(n) => match n.as_i64() {
                    Some(i) => i.to_string(),
                    None => n.as_f64().map(output::format_value).unwrap_or_default(),
                },
                serde_json::Value::Object(map) => map
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(";"),
                other => other.to_string(),
            };
            if field == key {
                continue;
            }
            rows.push(vec![section.into(), name.into(), field, value]);
        }
    };
    let mut facts = serde_json::to_value(record)?;
    if let Some(map) = facts.as_object_mut() {
        for key in [
            "usage",
            "filesystems",
            "disks",
            "interfaces",
            "agent",
            "process_groups",
            "systemd_units",
        ] {
            map.remove(key);
        }
    }
    add("fact", "", "", facts);
    add("usage", "", "", serde_json::to_value(record.usage)?);
    for fs in record.filesystems {
        add(
            "filesystem",
            &fs.mountpoint,
            "mountpoint",
            serde_json::to_value(fs)?,
        );
    }
    for disk in record.disks {
        add("disk", &disk.device, "device", serde_json::to_value(disk)?);
    }
    for nic in record.interfaces {
        add(
            "interface",
            &nic.device,
            "device",
            serde_json::to_value(nic)?,
        );
    }
    add("agent", "", "", serde_json::to_value(record.agent)?);
    for group in record.process_groups {
        add(
            "process_group",
            &group.group,
            "group",
            serde_json::to_value(group)?,
        );
    }
    for unit in record.systemd_units {
        add(
            "systemd_unit",
            &unit.unit,
            "unit",
            serde_json::to_value(unit)?,
        );
    }
    output::write_csv(w, &["section", "name", "field", "value"], rows)
}

fn write_table(
    report: &HostReport,
    record: &Record<'_>,
    now_ms: i64,
    w: &mut dyn Write,
) -> io::Result<()> {
    let state = match &report.host {
        Some(h) => format!(
            "{}, last seen {}",
            if h.up { "up" } else { "down" },
            time::format_ago(h.last_seen_ms, now_ms)
        ),
        None => "never connected (data only)".to_owned(),
    };
    writeln!(w, "{}   {state}", record.host)?;
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_owned()
        } else {
            s.to_owned()
        }
    };
    let cpu = match (record.cpu_model.as_str(), record.logical_cores) {
        ("", 0) => "-".to_owned(),
        (model, cores) => format!("{}, {cores} cores", dash(model)),
    };
    let labels: Vec<String> = record
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let facts = [
        ("OS", dash(&record.os)),
        ("KERNEL", dash(&record.kernel)),
        ("ARCH", dash(&record.arch)),
        ("CPU", cpu),
        (
            "MEMORY",
            or_dash(
                (record.memory_bytes > 0).then_some(record.memory_bytes as f64),
                units::bytes,
            ),
        ),
        ("AGENT", dash(&record.agent_version)),
        ("LABELS", dash(&labels.join(", "))),
        ("ADDRESS", dash(record.peer.unwrap_or_default())),
        ("CLOCK", clock_line(record)),
        (
            "FIRST SEEN",
            report
                .host
                .as_ref()
                .map_or("-".to_owned(), |h| time::format_utc(h.first_seen_ms)),
        ),
    ];
    for (name, value) in facts {
        writeln!(w, "{name:<12}{value}")?;
    }

    let mut table = output::table(&Usage::HEADINGS, &[0, 1, 2, 3, 4, 5, 6, 7]);
    table.add_row(report.usage.cells());
    writeln!(w)?;
    output::write_table(w, &table)?;

    if !report.filesystems.is_empty() {
        let mut table = output::table(&["FILESYSTEM", "TYPE", "DEVICE", "SIZE", "USED"], &[3, 4]);
        for fs in &report.filesystems {
            table.add_row(vec![
                fs.mountpoint.clone(),
                dash(&fs.fstype),
                dash(&fs.device),
                or_dash(fs.size_bytes, units::bytes),
                or_dash(fs.used_percent, units::percent),
            ]);
        }
        writeln!(w)?;
        output::write_table(w, &table)?;
    }
    if !report.disks.is_empty() {
        let mut table = output::table(&["DISK", "READ", "WRITE"], &[1, 2]);
        for d in &report.disks {
            table.add_row(vec![
                d.device.clone(),
                or_dash(d.read_bytes_per_second, units::bytes_per_second),
                or_dash(d.write_bytes_per_second, units::bytes_per_second),
            ]);
        }
        writeln!(w)?;
        output::write_table(w, &table)?;
    }
    if !report.interfaces.is_empty() {
        let mut table = output::table(&["INTERFACE", "RX", "TX"], &[1, 2]);
        for i in &report.interfaces {
            table.add_row(vec![
                i.device.clone(),
                or_dash(i.receive_bytes_per_second, units::bytes_per_second),
                or_dash(i.transmit_bytes_per_second, units::bytes_per_second),
            ]);
        }
        writeln!(w)?;
        output::write_table(w, &table)?;
    }
    processes::write_tables(&report.process_groups, &report.systemd_units, w)?;
    writeln!(w)?;
    write_agent(&report.agent, w)
}

/// The agent's block: one line per figure, `-` for a figure it does not report.
fn write_agent(agent: &Agent, w: &mut dyn Write) -> io::Result<()> {
    let count = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    let lines = [
        ("AGENT", agent.version.clone().unwrap_or_else(|| "-".into())),
        (
            "RSS",
            or_dash(agent.resident_memory_bytes.map(|b| b as f64), units::bytes),
        ),
        ("COLLECTION", or_dash(agent.collection_seconds, seconds)),
        (
            "SPOOL",
            match agent.spool_on_disk {
                Some(true) => "on disk".to_owned(),
                Some(false) => "memory only — a restart loses the backlog".to_owned(),
                None => "-".to_owned(),
            },
        ),
        ("WAITING ROUNDS", count(agent.spool_rounds)),
        (
            "SPOOL BYTES",
            or_dash(agent.spool_bytes.map(|b| b as f64), units::bytes),
        ),
        (
            "OLDEST WAITING",
            or_dash(agent.spool_oldest_age_seconds, age),
        ),
        ("DROPPED ROUNDS", count(agent.dropped_rounds_total)),
        ("WRITE ERRORS", count(agent.spool_write_errors_total)),
        (
            "DAMAGED SEGMENTS",
            count(agent.spool_damaged_segments_total),
        ),
    ];
    for (name, value) in lines {
        writeln!(w, "{name:<18}{value}")?;
    }
    Ok(())
}

/// A short duration: `1.7 ms` below a second, `2.35 s` above.
pub(super) fn seconds(value: f64) -> String {
    if !value.is_finite() {
        output::format_value(value)
    } else if value.abs() < 1.0 {
        format!("{:.1} ms", value * 1000.0)
    } else {
        format!("{value:.2} s")
    }
}

/// An age in its two largest units: `42s`, `5m 12s`, `3h 4m`, `2d 5h`.
pub(super) fn age(value: f64) -> String {
    if !value.is_finite() || value < 0.0 {
        return output::format_value(value);
    }
    let secs = value.round() as u64;
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {}s", secs / 60, secs % 60),
        3600..86_400 => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

/// The CLOCK line: the clock skew (see `vigil hosts`), and the samples refused since the
/// collector started when there are any.
fn clock_line(record: &Record<'_>) -> String {
    let skew = match record.clock_skew_seconds {
        None => "skew unknown".to_owned(),
        Some(s) if s.abs() < 1.0 => format!("ok ({:+.3} s)", s),
        Some(s) => format!(
            "{} {}",
            units::duration(s.abs()),
            if s > 0.0 { "ahead" } else { "behind" }
        ),
    };
    match record.samples_refused {
        Some(n) if n > 0 => format!("{skew}; {n} samples refused since the collector started"),
        _ => skew,
    }
}
