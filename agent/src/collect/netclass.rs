//! Network device properties from `/sys/class/net/<device>/*` (node_exporter's `netclass`).
//!
//! ```text
//! /sys/class/net/eth0/mtu        1500
//! /sys/class/net/eth0/flags      0x1003           (numbers in C notation: 0x…, 0…, decimal)
//! /sys/class/net/eth0/address    02:fc:00:00:00:01
//! /sys/class/net/lo/speed        read fails with EINVAL (no link speed): left out
//! ```
//!
//! Every entry of `/sys/class/net` that is not a regular file (`bonding_masters` is one) is a
//! device. Per device: `node_network_up` (1 when `operstate` is "up"), `node_network_info`
//! with address, broadcast, duplex, operstate and ifalias (empty where unreadable), and one
//! series per numeric file that reads as a number. A file the kernel refuses for a device
//! (EINVAL for `speed` or `carrier` on a device that is down or virtual) is left out for
//! that device this round, as in node_exporter. Like node_exporter, at most the first 128
//! bytes of a file count.
//!
//! The directory is listed every round; the device's files are opened again only when the
//! list changes, and the first [`KEPT_FILES`] stay open between rounds.

use std::path::{Path, PathBuf};

use super::{CollectError, Paths, Sink, TextFile};

/// Files whose first [`KEPT_FILES`] stay open between rounds (over every device); the
/// files of further devices are opened every round, so a host with thousands of interfaces
/// cannot use up the agent's file descriptors.
const KEPT_FILES: usize = 128;

/// How at most node_exporter reads of each file.
const READ_LIMIT: usize = 128;

/// The text files: `node_network_info`'s labels and `operstate`.
const TEXT: [&str; 5] = ["address", "broadcast", "duplex", "operstate", "ifalias"];

/// A numeric file and the metric it becomes.
struct Numeric {
    file: &'static str,
    metric: &'static str,
    /// Mbit/s → bytes/s.
    speed: bool,
}

const fn n(file: &'static str, metric: &'static str) -> Numeric {
    Numeric {
        file,
        metric,
        speed: false,
    }
}

/// The numeric files, in node_exporter's order.
const NUMERIC: [Numeric; 16] = [
    n("addr_assign_type", "node_network_address_assign_type"),
    n("carrier", "node_network_carrier"),
    n("carrier_changes", "node_network_carrier_changes_total"),
    n("carrier_up_count", "node_network_carrier_up_changes_total"),
    n(
        "carrier_down_count",
        "node_network_carrier_down_changes_total",
    ),
    n("dev_id", "node_network_device_id"),
    n("dormant", "node_network_dormant"),
    n("flags", "node_network_flags"),
    n("ifindex", "node_network_iface_id"),
    n("iflink", "node_network_iface_link"),
    n("link_mode", "node_network_iface_link_mode"),
    n("mtu", "node_network_mtu_bytes"),
    n("name_assign_type", "node_network_name_assign_type"),
    n("netdev_group", "node_network_net_dev_group"),
    Numeric {
        file: "speed",
        metric: "node_network_speed_bytes",
        speed: true,
    },
    n("tx_queue_len", "node_network_transmit_queue_length"),
];

/// `type` comes last in node_exporter; it is numeric too.
const PROTOCOL_TYPE: Numeric = n("type", "node_network_protocol_type");

/// One device: its name and, per file of [`TEXT`] then [`NUMERIC`] then `type`, the file
/// when the device has it.
#[derive(Debug)]
struct Device {
    name: String,
    files: Vec<Option<TextFile>>,
}

/// The netclass source: `<sys>/class/net`, listed every round, and each device's files.
#[derive(Debug)]
pub struct NetClass {
    class_net: PathBuf,
    /// The devices of the last round, sorted by name.
    devices: Vec<Device>,
    /// This round's device names, sorted; reused between rounds.
    names: Vec<String>,
}

impl NetClass {
    /// The source for the trees at `paths`.
    pub fn new(paths: &Paths) -> Self {
        Self {
            class_net: paths.sys.join("class/net"),
            devices: Vec::new(),
            names: Vec::new(),
        }
    }

    /// Lists `<sys>/class/net` and writes every device's `node_network_*` properties.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        let read_error = |source| CollectError::Read {
            path: self.class_net.clone(),
            source,
        };
        self.names.clear();
        for entry in std::fs::read_dir(&self.class_net).map_err(read_error)? {
            let entry = entry.map_err(read_error)?;
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            if let Ok(name) = entry.file_name().into_string() {
                self.names.push(name);
            }
        }
        self.names.sort_unstable();
        let same = self.names.len() == self.devices.len()
            && self
                .names
                .iter()
                .zip(&self.devices)
                .all(|(n, d)| *n == d.name);
        if !same {
            self.discover();
        }
        for device in &mut self.devices {
            device.collect(sink);
        }
        Ok(())
    }

    /// Opens the files of every device in `names`.
    fn discover(&mut self) {
        self.devices.clear();
        let mut kept = 0;
        for name in &self.names {
            let dir = self.class_net.join(name);
            let present = regular_files(&dir);
            let all = TEXT
                .iter()
                .copied()
                .chain(NUMERIC.iter().map(|f| f.file))
                .chain([PROTOCOL_TYPE.file]);
            let files = all
                .map(|file| {
                    present.iter().any(|p| p == file).then(|| {
                        let path = dir.join(file);
                        kept += 1;
                        if kept <= KEPT_FILES {
                            TextFile::new(path)
                        } else {
                            TextFile::reopened(path)
                        }
                    })
                })
                .collect();
            self.devices.push(Device {
                name: name.clone(),
                files,
            });
        }
    }
}

/// Names of the regular files in `dir` (none when it cannot be listed).
fn regular_files(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect()
}

impl Device {
    fn collect(&mut self, sink: &mut Sink) {
        let device = self.name.as_str();
        let labels = [("device", device)];
        let (text, numeric) = self.files.split_at_mut(TEXT.len());
        let mut values = [""; TEXT.len()];
        for (value, file) in values.iter_mut().zip(text.iter_mut()) {
            if let Some(file) = file
                && file.read().is_ok()
            {
                *value = trimmed(file.text());
            }
        }
        let [address, broadcast, duplex, operstate, ifalias] = values;
        let up = f64::from(u8::from(operstate == "up"));
        sink.push("node_network_up", &labels, up);
        let info = [
            ("device", device),
            ("address", address),
            ("broadcast", broadcast),
            ("duplex", duplex),
            ("operstate", operstate),
            ("ifalias", ifalias),
        ];
        sink.push("node_network_info", &info, 1.0);
        let kinds = NUMERIC.iter().chain([&PROTOCOL_TYPE]);
        for (kind, file) in kinds.zip(numeric) {
            let Some(file) = file else { continue };
            // Unreadable (EINVAL…) or not a number: left out this round.
            if file.read().is_err() {
                continue;
            }
            let Some(value) = parse_c_int(trimmed(file.text())) else {
                continue;
            };
            let value = if kind.speed {
                // Mbit/s to bytes/s in whole numbers, -1 (unknown) staying negative.
                value.wrapping_mul(1_000_000) / 8
            } else {
                value
            };
            sink.push(kind.metric, &labels, value as f64);
        }
    }
}

/// The file's first [`READ_LIMIT`] bytes, without surrounding white space.
fn trimmed(text: &str) -> &str {
    let mut end = text.len().min(READ_LIMIT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].trim()
}

/// An integer as C (and Go's `ParseInt` with base 0) writes it: optional sign, then `0x`
/// hexadecimal, `0b` binary, `0o` or leading-`0` octal, or decimal.
fn parse_c_int(s: &str) -> Option<i64> {
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = digits.get(..2).map(str::to_ascii_lowercase);
    let (radix, body) = match lower.as_deref() {
        Some("0x") => (16, &digits[2..]),
        Some("0b") => (2, &digits[2..]),
        Some("0o") => (8, &digits[2..]),
        _ if digits.len() > 1 && digits.starts_with('0') => (8, &digits[1..]),
        _ => (10, digits),
    };
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let magnitude = u64::from_str_radix(body, radix).ok()?;
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

#[cfg(test)]
mod tests;
