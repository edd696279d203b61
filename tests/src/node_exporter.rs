//! Debian's `prometheus-node-exporter` (1.5) as the reference for the agent's metrics:
//! installs it when missing, runs it on a loopback port, scrapes `/metrics` with the time
//! each scrape started and ended, parses the text format, and sorts series by the
//! node_exporter collector that writes them; [`compare`] sets an agent round beside two
//! scrapes.

pub mod compare;

use crate::{Running, free_port, wait_for};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Where Debian's package puts the binary.
pub const BINARY: &str = "/usr/bin/prometheus-node-exporter";

/// Installs Debian's `prometheus-node-exporter` package when the binary is missing.
pub fn ensure_installed() {
    crate::packages::ensure_package("prometheus-node-exporter", Path::new(BINARY));
}

/// One sample of a scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name.
    pub name: String,
    /// Labels, by name.
    pub labels: BTreeMap<String, String>,
    /// Value.
    pub value: f64,
}

/// One scrape of `/metrics`: its samples, the `# TYPE` of each name, and when the request
/// started and the answer was read to the end (Unix milliseconds), which bound the moment
/// node_exporter read the kernel.
#[derive(Debug, Clone)]
pub struct Scrape {
    /// Every sample, in the order served.
    pub samples: Vec<Sample>,
    /// `# TYPE` lines: name → counter, gauge, untyped…
    pub types: BTreeMap<String, String>,
    /// When the request was sent.
    pub start_ms: i64,
    /// When the answer had been read.
    pub end_ms: i64,
}

/// A running node_exporter, killed when dropped.
pub struct NodeExporter {
    /// The process.
    pub process: Running,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl NodeExporter {
    /// Starts node_exporter on a free loopback port with its default collectors and
    /// `extra` flags (e.g. `--collector.interrupts`), logging to `dir/node_exporter.log`,
    /// and waits until `/metrics` answers.
    pub fn start(dir: &Path, extra: &[&str]) -> Self {
        let port = free_port();
        let mut cmd = Command::new(BINARY);
        cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra);
        let mut process = Running::spawn(cmd, dir.join("node_exporter.log"));
        wait_for(Duration::from_secs(30), "node_exporter to serve", || {
            assert!(process.alive(), "node_exporter exited:\n{}", process.log());
            crate::prometheus::http_ok(port, "/metrics").then_some(())
        });
        Self { process, port }
    }

    /// Scrapes `/metrics` once.
    pub fn scrape(&self) -> Scrape {
        let start_ms = crate::now_ms();
        let body = get(self.port, "/metrics");
        let end_ms = crate::now_ms();
        let (samples, types) = parse(&body);
        Scrape {
            samples,
            types,
            start_ms,
            end_ms,
        }
    }
}

/// `GET path` on 127.0.0.1:`port` with HTTP/1.0 (no chunking, closed at the end); the body.
fn get(port: u16, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("cannot connect to node_exporter on {port}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:.300}"));
    assert!(
        head.starts_with("HTTP/1.") && head[9..].starts_with("200"),
        "{head}"
    );
    body.to_owned()
}

/// Parses the Prometheus text format (0.0.4): samples (labels with empty values left out,
/// as Prometheus stores them) and `# TYPE` lines. A line that is
/// not a sample is a panic naming it (node_exporter writes nothing else).
pub fn parse(text: &str) -> (Vec<Sample>, BTreeMap<String, String>) {
    let mut samples = Vec::new();
    let mut types = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some((name, kind)) = rest.split_once(' ') {
                types.insert(name.to_owned(), kind.to_owned());
            }
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        samples.push(parse_sample(line).unwrap_or_else(|| panic!("unparsable: {line}")));
    }
    (samples, types)
}

fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_owned();
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices();
        let mut key = String::new();
        loop {
            // label name up to '=', then a quoted value with \\ \" \n escapes.
            key.clear();
            let (i, c) = chars.next()?;
            if c == '}' {
                rest = &inner[i + 1..];
                break;
            }
            if c == ',' {
                continue;
            }
            key.push(c);
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            if chars.next()?.1 != '"' {
                return None;
            }
            let mut value = String::new();
            loop {
                match chars.next()?.1 {
                    '"' => break,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    other => value.push(other),
                }
            }
            // An empty value is no label, as Prometheus stores a scrape.
            if !value.is_empty() {
                labels.insert(key.clone(), value);
            }
        }
    }
    let value = rest.split_ascii_whitespace().next()?;
    let value = match value {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// node_exporter's collectors, the Vigil source that covers each (`None`: none does, so it
/// is reported but not required) and the names each writes: `prefix*` or an exact name.
/// The first group with a matching pattern is a name's group.
pub const COLLECTORS: &[(&str, Option<&str>, &[&str])] = &[
    ("cpu", Some("cpu"), &["node_cpu_*"]),
    (
        "stat",
        Some("cpu"),
        &[
            "node_boot_time_seconds",
            "node_context_switches_total",
            "node_forks_total",
            "node_intr_total",
            "node_procs_blocked",
            "node_procs_running",
        ],
    ),
    ("meminfo", Some("memory"), &["node_memory_*"]),
    (
        "loadavg",
        Some("load"),
        &["node_load1", "node_load5", "node_load15"],
    ),
    ("diskstats", Some("disk"), &["node_disk_*"]),
    (
        "netclass",
        Some("netclass"),
        &[
            "node_network_address_assign_type",
            "node_network_carrier",
            "node_network_carrier_changes_total",
            "node_network_carrier_down_changes_total",
            "node_network_carrier_up_changes_total",
            "node_network_device_id",
            "node_network_dormant",
            "node_network_flags",
            "node_network_iface_id",
            "node_network_iface_link",
            "node_network_iface_link_mode",
            "node_network_info",
            "node_network_mtu_bytes",
            "node_network_name_assign_type",
            "node_network_net_dev_group",
            "node_network_protocol_type",
            "node_network_speed_bytes",
            "node_network_transmit_queue_length",
            "node_network_up",
        ],
    ),
    ("netdev", Some("network"), &["node_network_*"]),
    ("arp", Some("arp"), &["node_arp_entries"]),
    ("udp_queues", Some("udp_queues"), &["node_udp_queues"]),
    ("filesystem", Some("filesystem"), &["node_filesystem_*"]),
    ("uname", Some("host"), &["node_uname_info"]),
    ("os", Some("host"), &["node_os_*"]),
    ("pressure", Some("pressure"), &["node_pressure_*"]),
    ("vmstat", Some("vmstat"), &["node_vmstat_*"]),
    ("netstat", Some("netstat"), &["node_netstat_*"]),
    ("sockstat", Some("sockstat"), &["node_sockstat_*"]),
    ("softnet", Some("softnet"), &["node_softnet_*"]),
    ("conntrack", Some("conntrack"), &["node_nf_conntrack_*"]),
    ("filefd", Some("filefd"), &["node_filefd_*"]),
    ("entropy", Some("entropy"), &["node_entropy_*"]),
    ("timex", Some("timex"), &["node_timex_*"]),
    ("time", Some("time"), &["node_time_*"]),
    ("hwmon", Some("hwmon"), &["node_hwmon_*"]),
    (
        "thermal_zone",
        Some("thermal_zone"),
        &["node_thermal_zone_*", "node_cooling_device_*"],
    ),
    ("schedstat", Some("schedstat"), &["node_schedstat_*"]),
    ("interrupts", Some("interrupts"), &["node_interrupts_total"]),
    ("systemd", Some("systemd"), &["node_systemd_*"]),
];

/// node_exporter's own series, outside the comparison.
const OWN: &[&str] = &[
    "go_*",
    "process_*",
    "promhttp_*",
    "node_scrape_*",
    "node_exporter_build_info",
];

/// Whether `name` matches `pattern`: `prefix*`, or the exact name.
fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    }
}

/// The node_exporter collector that writes `name` and the Vigil source covering it;
/// `("other", None)` for the rest of node_exporter's `node_*` series (selinux,
/// textfile…), `None` for node_exporter's own series and anything not `node_*`.
pub fn collector_of(name: &str) -> Option<(&'static str, Option<&'static str>)> {
    if OWN.iter().any(|p| matches(p, name)) || !name.starts_with("node_") {
        return None;
    }
    let group = COLLECTORS
        .iter()
        .find(|(_, _, patterns)| patterns.iter().any(|p| matches(p, name)));
    Some(group.map_or(("other", None), |(c, source, _)| (*c, *source)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_parses_with_escapes_and_special_values() {
        let text = "# HELP a_total Something.\n# TYPE a_total counter\n\
                    a_total{cpu=\"0\",info=\"x \\\"y\\\" \\\\z\"} 3.5e+06\n\
                    b NaN\nc{} -Inf\n";
        let (samples, types) = parse(text);
        assert_eq!(types["a_total"], "counter");
        assert_eq!(samples.len(), 3);
        assert_eq!(samples[0].labels["info"], "x \"y\" \\z");
        assert_eq!(samples[0].labels["cpu"], "0");
        assert_eq!(samples[0].value, 3.5e6);
        assert!(samples[1].value.is_nan() && samples[1].labels.is_empty());
        assert_eq!(samples[2].value, f64::NEG_INFINITY);
    }

    #[test]
    fn names_fall_in_their_collector() {
        assert_eq!(
            collector_of("node_timex_offset_seconds").unwrap().0,
            "timex"
        );
        assert_eq!(collector_of("node_time_seconds").unwrap().0, "time");
        assert_eq!(collector_of("node_network_up").unwrap().0, "netclass");
        assert_eq!(
            collector_of("node_network_receive_bytes_total").unwrap(),
            ("netdev", Some("network"))
        );
        assert_eq!(collector_of("node_procs_running").unwrap().1, Some("cpu"));
        assert_eq!(
            collector_of("node_arp_entries").unwrap(),
            ("arp", Some("arp"))
        );
        assert_eq!(
            collector_of("node_selinux_enabled").unwrap(),
            ("other", None)
        );
        assert_eq!(collector_of("node_scrape_collector_success"), None);
        assert_eq!(collector_of("go_goroutines"), None);
    }
}
