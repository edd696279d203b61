//! `vigil host NAME`: one host's facts (from the registry) and its current usage: the
//! figures of `vigil top`, then each filesystem, disk and network interface, then what
//! its agent reports about itself (version, cost, disk spool).
//!
//! `--output json` prints one object: the keys of `vigil hosts --output json` (facts,
//! first/last seen, up), then `usage` (the keys of `vigil top`'s rows), `filesystems`
//! (`mountpoint`, `fstype`, `device`, `size_bytes`, `used_percent`), `disks` (`device`,
//! `read_bytes_per_second`, `write_bytes_per_second`) and `interfaces` (`device`,
//! `receive_bytes_per_second`, `transmit_bytes_per_second`); `null` for a missing figure.
//! `agent` holds the agent's own figures, from its `vigil_agent_*` series: `version`,
//! `resident_memory_bytes`, `collection_seconds` (the last round), `spool_on_disk` (`true`
//! when rounds go to the disk spool, `false` when memory only: a restart loses the
//! backlog), `spool_rounds` (rounds waiting for acknowledgement), `spool_bytes` (the spool
//! files), `spool_oldest_age_seconds` (0 when none waits), `dropped_rounds_total`,
//! `spool_write_errors_total`, `spool_damaged_segments_total` and
//! `spool_lost_samples_total`; `null` for a figure an old agent (or a host without an
//! agent) does not report. `process_groups` lists the agent's process groups (`group`,
//! `cpu_percent` of one core over the window, `memory_bytes`, `processes`, `threads`),
//! busiest first and `other` last; `systemd_units` the failed and activating units (`unit`,
//! `state`, `type`). Both are empty where the agent does not report them.
//! `--output csv` has the columns `section,name,field,value`, one row per figure
//! (`usage,,cpu_percent,12.5`, `filesystem,/,used_percent,71.2`, `fact,,os,Debian ...`,
//! `agent,,spool_rounds,3`, `process_group,postgres,cpu_percent,12.5`,
//! `systemd_unit,nginx.service,state,failed`; an empty value for a missing figure).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use serde::Serialize;
use vigil_proto::v1::{Host, QueryResult};

use super::client::{Collector, Target};
use super::error::Error;
use super::output::{self, Output};
use super::time;
use super::usage::{self, Scope, Usage};

mod processes;
mod render;

pub use processes::{ProcessGroup, Unit};

/// Arguments of `vigil host`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  vigil host web-1\n  vigil host web-1 --output json")]
pub struct HostArgs {
    /// Host name, as `vigil hosts` lists it
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Window of the rates (CPU, disk, network), e.g. 1m, 5m
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = time::parse_duration)]
    pub window: Duration,
}

/// Everything `vigil host` shows about one host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostReport {
    /// The registry's entry; `None` for a host that has data but never connected.
    pub host: Option<Host>,
    /// The host's name.
    pub name: String,
    /// The summary figures.
    pub usage: Usage,
    /// Filesystems by mount point.
    pub filesystems: Vec<Filesystem>,
    /// Block devices by name.
    pub disks: Vec<Disk>,
    /// Network interfaces by name.
    pub interfaces: Vec<Interface>,
    /// The agent's own figures.
    pub agent: Agent,
    /// The agent's process groups, busiest first, `other` last.
    pub process_groups: Vec<ProcessGroup>,
    /// systemd units in the failed or activating state, failed first.
    pub systemd_units: Vec<Unit>,
}

/// What the host's agent reports about itself: its version, cost and disk spool. `None`
/// for a figure it does not report (an older agent, or no agent at all).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Agent {
    /// Its version (`vigil_agent_info{version}`).
    pub version: Option<String>,
    /// Its resident set.
    pub resident_memory_bytes: Option<u64>,
    /// How long its last collection round took.
    pub collection_seconds: Option<f64>,
    /// Whether rounds go to the disk spool (`false`: memory only, or the disk failed).
    pub spool_on_disk: Option<bool>,
    /// Rounds waiting for the collector's acknowledgement, on disk or in memory.
    pub spool_rounds: Option<u64>,
    /// Bytes of the spool's files on disk.
    pub spool_bytes: Option<u64>,
    /// Age of the oldest waiting round; 0 when none waits.
    pub spool_oldest_age_seconds: Option<f64>,
    /// Rounds dropped because the spool was full.
    pub dropped_rounds_total: Option<u64>,
    /// Failed writes to the spool directory.
    pub spool_write_errors_total: Option<u64>,
    /// Spool files in which damage was found.
    pub spool_damaged_segments_total: Option<u64>,
    /// Samples of spooled rounds lost to damage.
    pub spool_lost_samples_total: Option<u64>,
}

/// One mounted filesystem.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Filesystem {
    /// Where it is mounted.
    pub mountpoint: String,
    /// Its type (`ext4`, `xfs`, ...).
    pub fstype: String,
    /// The device it lives on.
    pub device: String,
    /// Its size.
    pub size_bytes: Option<f64>,
    /// Space used (not available to unprivileged users), percent of the size.
    pub used_percent: Option<f64>,
}

/// One block device.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Disk {
    /// Device name (`sda`, `nvme0n1`).
    pub device: String,
    /// Bytes read per second.
    pub read_bytes_per_second: Option<f64>,
    /// Bytes written per second.
    pub write_bytes_per_second: Option<f64>,
}

/// One network interface.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Interface {
    /// Interface name (`eth0`).
    pub device: String,
    /// Bytes received per second.
    pub receive_bytes_per_second: Option<f64>,
    /// Bytes sent per second.
    pub transmit_bytes_per_second: Option<f64>,
}

/// Fetches the host's facts and usage, and prints them.
pub async fn run(target: &Target, args: &HostArgs, output: Output) -> Result<(), Error> {
    let collector = Collector::connect(target).await?;
    let report = fetch(&collector, &args.name, args.window, time::now_ms()).await?;
    let mut out = output::stdout();
    render::render(&report, output, time::now_ms(), &mut out)?;
    Ok(out.flush()?)
}

/// The PromQL of the per-device figures, in the order [`details`] reads them, then the
/// agent's own series (one selector for all, read by [`agent`]).
fn detail_exprs(host: &str, window: Duration) -> [String; 7] {
    let w = usage::promql_duration(window);
    let sel = |name: &str| format!("{name}{{host=\"{}\"}}", usage::escape(host));
    let rate = |name: &str| format!("rate({}[{w}])", sel(name));
    let size = sel("node_filesystem_size_bytes");
    [
        size.clone(),
        format!(
            "100 * (1 - {} / ({size} > 0))",
            sel("node_filesystem_avail_bytes")
        ),
        rate("node_disk_read_bytes_total"),
        rate("node_disk_written_bytes_total"),
        rate("node_network_receive_bytes_total"),
        rate("node_network_transmit_bytes_total"),
        format!(
            "{{__name__=~\"{AGENT_SERIES}\",host=\"{}\"}}",
            usage::escape(host)
        ),
    ]
}

/// The names of the agent's series that [`agent`] reads, as a regular expression.
const AGENT_SERIES: &str = "vigil_agent_(info|spool_.*|dropped_rounds_total|resident_memory_bytes|collection_duration_seconds)";

/// Reads the registry entry and every figure of host `name` at `time_ms`.
pub async fn fetch(
    collector: &Collector,
    name: &str,
    window: Duration,
    time_ms: i64,
) -> Result<HostReport, Error> {
    let hosts = collector.clone().hosts().await?;
    let host = hosts.into_iter().find(|h| h.host == name);
    let mut summary = usage::summary(collector, Scope::Host(name), window, time_ms).await?;
    let usage = summary.remove(name);
    if host.is_none() && usage.is_none() {
        return Err(Error::UnknownHost {
            host: name.to_owned(),
        });
    }
    let results = usage::evaluate_all(collector, &detail_exprs(name, window), time_ms).await?;
    let mut report = details(&results);
    let registry_version = host
        .as_ref()
        .and_then(|h| h.facts.as_ref())
        .map_or("", |f| f.agent_version.as_str());
    report.agent = agent(results.get(6), registry_version);
    (report.process_groups, report.systemd_units) =
        processes::fetch(collector, name, window, time_ms).await?;
    report.host = host;
    report.name = name.to_owned();
    report.usage = usage.unwrap_or_default();
    Ok(report)
}

/// The per-device figures from the results of [`detail_exprs`], sorted by name.
fn details(results: &[QueryResult]) -> HostReport {
    let by = |index: usize, key: &str| -> BTreeMap<String, (f64, Vec<(String, String)>)> {
        let mut found = BTreeMap::new();
        for series in results.get(index).map_or(&[][..], |r| &r.series[..]) {
            if let Some(value) = usage::value(series) {
                let labels = series
                    .labels
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect();
                let name = usage::label(series, key).unwrap_or_default().to_owned();
                found.insert(name, (value, labels));
            }
        }
        found
    };
    let label = |labels: &[(String, String)], name: &str| {
        labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (sizes, used) = (by(0, "mountpoint"), by(1, "mountpoint"));
    let mut mountpoints: Vec<&String> = sizes.keys().chain(used.keys()).collect();
    mountpoints.sort();
    mountpoints.dedup();
    let filesystems = mountpoints
        .into_iter()
        .map(|mp| {
            let labels = &sizes.get(mp).or_else(|| used.get(mp)).map(|e| &e.1);
            let labels = labels.map_or(&[][..], |l| &l[..]);
            Filesystem {
                mountpoint: mp.clone(),
                fstype: label(labels, "fstype"),
                device: label(labels, "device"),
                size_bytes: sizes.get(mp).map(|e| e.0),
                used_percent: used.get(mp).map(|e| e.0),
            }
        })
        .collect();
    let pairs = |a: usize, b: usize| {
        let (first, second) = (by(a, "device"), by(b, "device"));
        let mut devices: Vec<String> = first.keys().chain(second.keys()).cloned().collect();
        devices.sort();
        devices.dedup();
        devices
            .into_iter()
            .map(|d| {
                let (x, y) = (first.get(&d).map(|e| e.0), second.get(&d).map(|e| e.0));
                (d, x, y)
            })
            .collect::<Vec<_>>()
    };
    HostReport {
        filesystems,
        disks: pairs(2, 3)
            .into_iter()
            .map(|(device, read, write)| Disk {
                device,
                read_bytes_per_second: read,
                write_bytes_per_second: write,
            })
            .collect(),
        interfaces: pairs(4, 5)
            .into_iter()
            .map(|(device, rx, tx)| Interface {
                device,
                receive_bytes_per_second: rx,
                transmit_bytes_per_second: tx,
            })
            .collect(),
        ..HostReport::default()
    }
}

/// The agent's figures from the result of its selector (the last of [`detail_exprs`]).
/// Should an upgrade leave two `vigil_agent_info` series within the lookback, the version
/// the registry has from the agent's last hello wins.
fn agent(result: Option<&QueryResult>, registry_version: &str) -> Agent {
    let mut values: BTreeMap<&str, f64> = BTreeMap::new();
    let mut versions: Vec<&str> = Vec::new();
    for series in result.map_or(&[][..], |r| &r.series[..]) {
        let (Some(name), Some(value)) = (usage::label(series, "__name__"), usage::value(series))
        else {
            continue;
        };
        if name == "vigil_agent_info" {
            versions.extend(usage::label(series, "version").filter(|v| !v.is_empty()));
        } else {
            values.entry(name).or_insert(value);
        }
    }
    let get = |suffix: &str| {
        values
            .get(format!("vigil_agent_{suffix}").as_str())
            .copied()
    };
    // Counters and sizes are whole non-negative numbers; anything else is no figure.
    let count = |suffix: &str| {
        get(suffix)
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| v.round() as u64)
    };
    let version = versions
        .iter()
        .find(|v| **v == registry_version)
        .or(versions.first())
        .map(|v| (*v).to_owned());
    Agent {
        version,
        resident_memory_bytes: count("resident_memory_bytes"),
        collection_seconds: get("collection_duration_seconds"),
        spool_on_disk: get("spool_on_disk").map(|v| v != 0.0),
        spool_rounds: count("spool_rounds"),
        spool_bytes: count("spool_bytes"),
        spool_oldest_age_seconds: get("spool_oldest_age_seconds"),
        dropped_rounds_total: count("dropped_rounds_total"),
        spool_write_errors_total: count("spool_write_errors_total"),
        spool_damaged_segments_total: count("spool_damaged_segments_total"),
        spool_lost_samples_total: count("spool_lost_samples_total"),
    }
}

#[cfg(test)]
mod tests;
