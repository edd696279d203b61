//! `vigil host NAME`: one host's facts (from the registry) and its current usage: the
//! figures of `vigil top`, then each filesystem, disk and network interface.
//!
//! `--output json` prints one object: the keys of `vigil hosts --output json` (facts,
//! first/last seen, up), then `usage` (the keys of `vigil top`'s rows), `filesystems`
//! (`mountpoint`, `fstype`, `device`, `size_bytes`, `used_percent`), `disks` (`device`,
//! `read_bytes_per_second`, `write_bytes_per_second`) and `interfaces` (`device`,
//! `receive_bytes_per_second`, `transmit_bytes_per_second`); `null` for a missing figure.
//! `--output csv` has the columns `section,name,field,value`, one row per figure
//! (`usage,,cpu_percent,12.5`, `filesystem,/,used_percent,71.2`, `fact,,os,Debian ...`).

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

mod render;

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

/// The PromQL of the per-device figures, in the order [`details`] reads them.
fn detail_exprs(host: &str, window: Duration) -> [String; 6] {
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
    ]
}

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

#[cfg(test)]
mod tests;
