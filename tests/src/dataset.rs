//! The synthetic dataset that the PromQL differential test loads into both Prometheus and
//! Vigil: node_exporter-like series for a handful of hosts over three hours, deterministic
//! for a given end time (seeded generator, no clock reads).
//!
//! What it exercises, host by host (`host`, `instance` and `job` labels on every series):
//!
//! ```text
//! web-1    every 15 s; env="prod"; mountpoints with a quote, a backslash, `,}=`, `ü`
//!          and a newline in them
//! web-2    every 15 s; env="prod"; reboots at start+95m: counters reset, boot time moves
//! db-1     every 15 s; stops for good at end-40m (staleness, lookback edge)
//! cache-1  every 15 s with a 12-minute gap (longer than the lookback) and a 2-minute one
//! edge-1   irregular intervals (10–20 s, quarter seconds); network counters every 60 s;
//!          app_sensor_value with NaN, +Inf and -Inf among its values; app_bytes_total
//!          near 4.5e15, with a dip of 0.5 and a reset to 0
//! ```
//!
//! A classic histogram, `http_request_duration_seconds` (`_bucket{le}`, `_count`, `_sum`,
//! labels `handler` and the target labels), on web-1 and web-2 (handlers `/api`, `/login`)
//! and db-1 (`/api`): cumulative buckets 0.05 … 1 and +Inf, reset to zero by web-2's reboot,
//! ending with db-1. `/api` starts from earlier history, `/login` from zero. Its generator
//! has its own seed, so the other series are the same with or without it.
//!
//! Every host has node_cpu_seconds_total{cpu,mode} (2 × 8), node_memory_{MemTotal,
//! MemAvailable}_bytes, node_load1/5, node_boot_time_seconds, node_uname_info{release}
//! (db-1 runs another kernel, for joins), node_filesystem_{size,avail,free}_bytes and
//! node_network_{receive,transmit}_bytes_total{device}. Values are unrounded random walks,
//! so no two series tie (`topk` breaks ties in an unspecified order).
//!
//! Output format: OpenMetrics text, one family after another, each series' samples in time
//! order, timestamps in seconds (quarter seconds at most, so that seconds × 1000 is exact in
//! binary floating point for every parser), ending with `# EOF`.

use crate::rng::Rng;
use std::fmt::Write as _;

mod histogram;
pub use histogram::{HISTOGRAM, HISTOGRAM_BUCKETS};

/// Regular scrape interval, in milliseconds.
pub const STEP_MS: i64 = 15_000;
/// Length of the dataset, in milliseconds.
pub const SPAN_MS: i64 = 3 * 3600 * 1000;
/// When web-2 reboots, after the start.
pub const REBOOT_AFTER_MS: i64 = 95 * 60 * 1000;
/// When db-1 stops, before the end.
pub const DB_STOPS_BEFORE_END_MS: i64 = 40 * 60 * 1000;
/// cache-1's long gap (offset from the start, length).
pub const LONG_GAP_MS: (i64, i64) = (60 * 60 * 1000, 12 * 60 * 1000);
/// cache-1's short gap (offset from the start, length).
pub const SHORT_GAP_MS: (i64, i64) = (150 * 60 * 1000, 2 * 60 * 1000);

/// CPU modes, as node_exporter names them.
pub const CPU_MODES: [&str; 8] = [
    "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
];

/// The dataset's time range and its text.
pub struct Dataset {
    /// First sample, in milliseconds since the epoch (a multiple of 5 minutes).
    pub start_ms: i64,
    /// Last regular sample, in milliseconds since the epoch.
    pub end_ms: i64,
    /// The OpenMetrics text.
    pub text: String,
    /// How many samples the text holds.
    pub samples: usize,
}

/// One series: name, labels (without the name), samples in time order.
struct Series {
    name: String,
    labels: Vec<(String, String)>,
    samples: Vec<(i64, f64)>,
}

/// Which hosts exist and how each one's samples are spaced.
fn hosts() -> [&'static str; 5] {
    ["web-1", "web-2", "db-1", "cache-1", "edge-1"]
}

/// Builds the dataset whose last regular sample is the last 5-minute boundary at least
/// 5 minutes before `now_ms`.
pub fn generate(now_ms: i64) -> Dataset {
    let end_ms = (now_ms / 300_000) * 300_000 - 300_000;
    let start_ms = end_ms - SPAN_MS;
    let mut rng = Rng::from_state(0x05EE_D0F7_1611);
    let mut all = Vec::new();
    for host in hosts() {
        let times = schedule(host, start_ms, end_ms, &mut rng);
        all.extend(host_series(host, &times, start_ms, end_ms, &mut rng));
    }
    all.push(sensor(start_ms, end_ms, &mut rng));
    all.push(huge_counter(start_ms, end_ms, &mut rng));
    all.extend(histogram::series(start_ms, end_ms));
    let (text, samples) = render(&mut all);
    Dataset {
        start_ms,
        end_ms,
        text,
        samples,
    }
}

/// The scrape times of one host.
fn schedule(host: &str, start: i64, end: i64, rng: &mut Rng) -> Vec<i64> {
    let regular = (0..=SPAN_MS / STEP_MS).map(|k| start + k * STEP_MS);
    match host {
        "db-1" => regular
            .filter(|&t| t <= end - DB_STOPS_BEFORE_END_MS)
            .collect(),
        "cache-1" => regular
            .filter(|&t| {
                let off = t - start;
                let in_gap = |(at, len): (i64, i64)| off >= at && off < at + len;
                !in_gap(LONG_GAP_MS) && !in_gap(SHORT_GAP_MS)
            })
            .collect(),
        "edge-1" => {
            let mut t = start + 3_250;
            let mut out = Vec::new();
            while t <= end {
                out.push(t);
                t += 10_000 + 250 * (rng.next_u64() % 41) as i64;
            }
            out
        }
        _ => regular.collect(),
    }
}

fn target_labels(host: &str) -> Vec<(String, String)> {
    let mut labels = vec![
        ("host".to_owned(), host.to_owned()),
        ("instance".to_owned(), format!("{host}:9100")),
        ("job".to_owned(), "node".to_owned()),
    ];
    if host.starts_with("web") {
        labels.push(("env".to_owned(), "prod".to_owned()));
    }
    labels
}

fn with(base: &[(String, String)], extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut labels = base.to_vec();
    labels.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    labels
}

/// A counter sampled at `times`, growing by about `per_s` a second; for web-2 it restarts
/// from near zero at the reboot.
fn counter(times: &[i64], per_s: f64, reboot_at: Option<i64>, rng: &mut Rng) -> Vec<(i64, f64)> {
    let mut value = rng.range(1000.0, 50_000.0) * per_s.max(0.01);
    let mut prev = times.first().copied().unwrap_or_default();
    let mut out = Vec::with_capacity(times.len());
    for &t in times {
        if reboot_at.is_some_and(|r| prev < r && t >= r) {
            value = rng.range(0.0, 3.0) * per_s;
        } else {
            value += per_s * (t - prev) as f64 / 1000.0 * rng.range(0.5, 1.5);
        }
        prev = t;
        out.push((t, value));
    }
    out
}

/// A gauge doing a random walk within `spread` of `mid`.
fn gauge(times: &[i64], mid: f64, spread: f64, rng: &mut Rng) -> Vec<(i64, f64)> {
    let mut value = mid;
    times
        .iter()
        .map(|&t| {
            // Reflect at the bounds rather than clamp: clamped values would tie.
            value += rng.range(-spread, spread) / 8.0;
            let (lo, hi) = (mid - spread, mid + spread);
            if value > hi {
                value = 2.0 * hi - value;
            } else if value < lo {
                value = 2.0 * lo - value;
            }
            (t, value)
        })
        .collect()
}

fn host_series(host: &str, times: &[i64], start: i64, end: i64, rng: &mut Rng) -> Vec<Series> {
    let base = target_labels(host);
    let reboot = (host == "web-2").then_some(start + REBOOT_AFTER_MS);
    let mut out = Vec::new();
    let mut push = |name: &str, labels: Vec<(String, String)>, samples| {
        out.push(Series {
            name: name.to_owned(),
            labels,
            samples,
        });
    };
    for cpu in ["0", "1"] {
        for (i, mode) in CPU_MODES.iter().enumerate() {
            let per_s = if *mode == "idle" {
                0.7
            } else {
                0.3 / (i as f64 + 1.0)
            };
            let samples = counter(times, per_s, reboot, rng);
            push(
                "node_cpu_seconds_total",
                with(&base, &[("cpu", cpu), ("mode", mode)]),
                samples,
            );
        }
    }
    let total = 8.0 * 1024.0 * 1024.0 * 1024.0;
    push(
        "node_memory_MemTotal_bytes",
        base.clone(),
        times.iter().map(|&t| (t, total)).collect(),
    );
    push(
        "node_memory_MemAvailable_bytes",
        base.clone(),
        gauge(times, total / 2.0, total / 4.0, rng),
    );
    push("node_load1", base.clone(), gauge(times, 1.0, 0.9, rng));
    push("node_load5", base.clone(), gauge(times, 0.8, 0.5, rng));
    let boot = |t: i64| {
        let since = if reboot.is_some_and(|r| t >= r) {
            reboot.unwrap_or(start)
        } else {
            start - 86_400_000
        };
        (since / 1000) as f64
    };
    push(
        "node_boot_time_seconds",
        base.clone(),
        times.iter().map(|&t| (t, boot(t))).collect(),
    );
    let release = if host == "db-1" {
        "6.1.0-18-amd64"
    } else {
        "6.1.0-25-amd64"
    };
    push(
        "node_uname_info",
        with(
            &base,
            &[
                ("sysname", "Linux"),
                ("release", release),
                ("nodename", host),
            ],
        ),
        times.iter().map(|&t| (t, 1.0)).collect(),
    );
    let mut mounts = vec![
        ("/", "/dev/vda1", "ext4"),
        ("/var/lib/data dir", "/dev/vdb", "xfs"),
    ];
    if host == "web-1" {
        mounts.push((r#"/mnt/q"uo\te,}=ü"#, "tmpfs", "tmpfs"));
        mounts.push(("/mnt/two\nlines", "/dev/vdc", "ext4"));
    }
    for (mountpoint, device, fstype) in mounts {
        let labels = with(
            &base,
            &[
                ("device", device),
                ("fstype", fstype),
                ("mountpoint", mountpoint),
            ],
        );
        let size = 100.0 * 1024.0 * 1024.0 * 1024.0;
        let mut avail = size * rng.range(0.2, 0.9);
        let leak = rng.range(0.0, 200_000.0);
        let avail_samples: Vec<(i64, f64)> = times
            .iter()
            .map(|&t| {
                avail = (avail - leak * rng.range(0.0, 2.0)).max(0.0);
                (t, avail.round())
            })
            .collect();
        let free = avail_samples
            .iter()
            .map(|&(t, v)| (t, v + 4096.0))
            .collect();
        push(
            "node_filesystem_size_bytes",
            labels.clone(),
            times.iter().map(|&t| (t, size)).collect(),
        );
        push("node_filesystem_avail_bytes", labels.clone(), avail_samples);
        push("node_filesystem_free_bytes", labels, free);
    }
    let net_times: Vec<i64> = if host == "edge-1" {
        (0..=SPAN_MS / 60_000)
            .map(|k| start + k * 60_000)
            .filter(|&t| t <= end)
            .collect()
    } else {
        times.to_vec()
    };
    for device in ["eth0", "lo"] {
        let labels = with(&base, &[("device", device)]);
        let scale = if device == "lo" { 1_000.0 } else { 250_000.0 };
        push(
            "node_network_receive_bytes_total",
            labels.clone(),
            counter(&net_times, scale, reboot, rng),
        );
        push(
            "node_network_transmit_bytes_total",
            labels,
            counter(&net_times, scale / 3.0, reboot, rng),
        );
    }
    out
}

/// A gauge with NaN and infinities among its values, on edge-1 every 30 s.
fn sensor(start: i64, end: i64, rng: &mut Rng) -> Series {
    let mut samples = Vec::new();
    let mut t = start;
    while t <= end {
        let roll = rng.next_u64() % 40;
        let value = match roll {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => f64::NEG_INFINITY,
            _ => rng.range(-20.0, 40.0),
        };
        samples.push((t, value));
        t += 30_000;
    }
    Series {
        name: "app_sensor_value".to_owned(),
        labels: with(&target_labels("edge-1"), &[("sensor", "temp")]),
        samples,
    }
}

/// A counter near 4.5e15 on edge-1 every 15 s (floating-point cancellation in rate and
/// regression), which dips by 0.5 at start+45m (a decrease, so a reset to Prometheus) and
/// drops to exactly 0 at start+130m.
fn huge_counter(start: i64, end: i64, rng: &mut Rng) -> Series {
    let mut value = 4.5e15;
    let samples = (0..)
        .map(|k| start + k * STEP_MS)
        .take_while(|&t| t <= end)
        .map(|t| {
            value = match t - start {
                off if off == 45 * 60_000 => value - 0.5,
                off if off == 130 * 60_000 => 0.0,
                _ => value + 15_000.0 * rng.range(0.5, 1.5),
            };
            (t, value)
        })
        .collect();
    Series {
        name: "app_bytes_total".to_owned(),
        labels: target_labels("edge-1"),
        samples,
    }
}

/// The family a series belongs to and its OpenMetrics type.
fn family_of(name: &str) -> (&str, &'static str) {
    let histogram_part = name
        .strip_prefix(HISTOGRAM)
        .is_some_and(|rest| ["_bucket", "_count", "_sum"].contains(&rest));
    if histogram_part {
        return (HISTOGRAM, "histogram");
    }
    match name.strip_suffix("_total") {
        Some(base) => (base, "counter"),
        None => (name, "gauge"),
    }
}

/// OpenMetrics text for all series, families in first-seen order.
fn render(all: &mut [Series]) -> (String, usize) {
    all.sort_by(|a, b| a.name.cmp(&b.name));
    let mut text = String::new();
    let mut samples = 0;
    let mut family = "";
    for series in all.iter() {
        let (base, kind) = family_of(&series.name);
        if base != family {
            family = base;
            let _ = writeln!(text, "# TYPE {base} {kind}");
        }
        let labels: Vec<String> = series
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        let labels = labels.join(",");
        for &(t, v) in &series.samples {
            let _ = writeln!(
                text,
                "{}{{{labels}}} {} {}",
                series.name,
                number(v),
                seconds(t)
            );
            samples += 1;
        }
    }
    text.push_str("# EOF\n");
    (text, samples)
}

/// A label value escaped for OpenMetrics.
fn escape(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// A sample value in OpenMetrics spelling.
pub fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v}")
    }
}

/// Milliseconds as decimal seconds, `1700000000` or `1700000000.25`.
pub fn seconds(ms: i64) -> String {
    let (s, frac) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    if frac == 0 {
        format!("{s}")
    } else {
        format!("{s}.{frac:03}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FNV-1a: a fingerprint of the text, to notice any change in it.
    fn fnv1a(bytes: &[u8]) -> u64 {
        bytes.iter().fold(0xCBF2_9CE4_8422_2325, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
        })
    }

    /// The dataset is a fixed function of the end time: Prometheus and Vigil answers are
    /// compared across runs and machines. A change to the generator or to this module shows
    /// here; update the fingerprints only when the change to the data is meant.
    #[test]
    fn the_same_end_time_gives_the_same_dataset() {
        let d = generate(1_763_700_000_000);
        assert_eq!(
            (d.start_ms, d.end_ms),
            (1_763_688_900_000, 1_763_699_700_000)
        );
        // Without the histogram, the text is the one from before the histogram was added.
        let without: String = d
            .text
            .split_inclusive('\n')
            .filter(|line| !line.contains(HISTOGRAM))
            .collect();
        assert_eq!(without.len(), 14_583_839);
        assert_eq!(fnv1a(without.as_bytes()), 0x4353_3FF3_6AB2_6061);
        assert_eq!(d.samples, 139_228);
        assert_eq!(d.text.len(), 18_239_036);
        assert_eq!(fnv1a(d.text.as_bytes()), 0x32CA_FD92_5EFC_EA14);
        let other = generate(1_700_000_123_456);
        assert_eq!(fnv1a(other.text.as_bytes()), 0x83CA_5B66_5FC1_C237);
        let without: String = other
            .text
            .split_inclusive('\n')
            .filter(|line| !line.contains(HISTOGRAM))
            .collect();
        assert_eq!(fnv1a(without.as_bytes()), 0x1689_89CE_8884_CB30);
    }
}
