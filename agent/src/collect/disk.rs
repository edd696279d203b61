//! Block device I/O from `/proc/diskstats`.
//!
//! ```text
//!  major minor name | 1 reads 2 merged 3 sectors 4 ms | 5 writes 6 merged 7 sectors 8 ms |
//!                   | 9 in flight 10 io ms 11 weighted io ms |
//!                   | 12 discards 13 merged 14 sectors 15 ms |      (Linux 4.18+)
//!                   | 16 flushes 17 flush ms |                      (Linux 5.5+)
//! ```
//!
//! Sectors are always 512 bytes here, whatever the device's real sector size; times are in
//! milliseconds. Lines with fewer than 11 counters (partitions on kernels before 2.6.25)
//! are skipped. Devices matching node_exporter 1.5's default exclude pattern
//! `^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$` — partitions, RAM and loop
//! devices — are skipped too, matched by hand to keep the agent free of a regex engine.
//!
//! Each device also gets `node_disk_info` with what udev recorded about it in
//! `<rootfs>/run/udev/data/b<major>:<minor>` (node_exporter's `--path.udev.data`), `E:KEY=value`
//! lines; the labels are empty where udev has no such file (no udev, or a container without
//! `/run`). Where udev names a filesystem, a device-mapper device or ATA facts, the
//! `node_disk_filesystem_info`, `node_disk_device_mapper_info` and `node_disk_ata_*` series
//! follow, as in node_exporter.

use super::{CollectError, Paths, Sink, TextFile};
use std::path::PathBuf;

/// How one diskstats column becomes a metric.
enum Scale {
    /// Reported as read.
    One,
    /// 512-byte sectors → bytes.
    Sectors,
    /// Milliseconds → seconds.
    Millis,
}

/// Metric of each counter column, in order (node_exporter's diskstats collector).
const COLUMNS: [(&str, Scale); 17] = [
    ("node_disk_reads_completed_total", Scale::One),
    ("node_disk_reads_merged_total", Scale::One),
    ("node_disk_read_bytes_total", Scale::Sectors),
    ("node_disk_read_time_seconds_total", Scale::Millis),
    ("node_disk_writes_completed_total", Scale::One),
    ("node_disk_writes_merged_total", Scale::One),
    ("node_disk_written_bytes_total", Scale::Sectors),
    ("node_disk_write_time_seconds_total", Scale::Millis),
    ("node_disk_io_now", Scale::One),
    ("node_disk_io_time_seconds_total", Scale::Millis),
    ("node_disk_io_time_weighted_seconds_total", Scale::Millis),
    ("node_disk_discards_completed_total", Scale::One),
    ("node_disk_discards_merged_total", Scale::One),
    // node_exporter keeps this one in sectors.
    ("node_disk_discarded_sectors_total", Scale::One),
    ("node_disk_discard_time_seconds_total", Scale::Millis),
    ("node_disk_flush_requests_total", Scale::One),
    ("node_disk_flush_requests_time_seconds_total", Scale::Millis),
];

/// Counters every kernel since 2.6.25 prints for every device.
const MIN_COLUMNS: usize = 11;

/// Numeric ATA properties, written when `ID_ATA` is set and the property is a number.
const ATA: [(&str, &str); 3] = [
    ("node_disk_ata_write_cache", "ID_ATA_WRITE_CACHE"),
    (
        "node_disk_ata_write_cache_enabled",
        "ID_ATA_WRITE_CACHE_ENABLED",
    ),
    (
        "node_disk_ata_rotation_rate_rpm",
        "ID_ATA_ROTATION_RATE_RPM",
    ),
];

/// The disk source: `<proc>/diskstats`, read into the same buffer every round, and each
/// device's udev data file.
#[derive(Debug)]
pub struct Disk {
    diskstats: TextFile,
    /// `<rootfs>/run/udev/data`.
    udev_data: PathBuf,
    /// The devices of the last round (`major:minor`) in order, each with its udev data file;
    /// made again only when the list changes.
    udev: Vec<(String, TextFile)>,
}

impl Disk {
    /// The source for the trees at `paths`.
    pub fn new(paths: &Paths) -> Self {
        Self {
            diskstats: TextFile::new(paths.proc.join("diskstats")),
            udev_data: paths.rootfs.join("run/udev/data"),
            udev: Vec::new(),
        }
    }

    /// Reads `<proc>/diskstats` and writes the `node_disk_*` series per whole device.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        self.diskstats.read()?;
        let text = self.diskstats.text();
        let devices = || {
            text.lines().filter_map(|line| {
                let mut fields = line.split_ascii_whitespace();
                let (major, minor, device) = (fields.next()?, fields.next()?, fields.next()?);
                let n = fields.count();
                (n >= MIN_COLUMNS && !is_excluded(device)).then_some((major, minor))
            })
        };
        let same = devices().count() == self.udev.len()
            && devices()
                .zip(&self.udev)
                .all(|((major, minor), (seen, _))| is_numbers(seen, major, minor));
        if !same {
            self.udev.clear();
            for (major, minor) in devices() {
                let path = self.udev_data.join(format!("b{major}:{minor}"));
                // udev rewrites these files (another inode): never kept open.
                self.udev
                    .push((format!("{major}:{minor}"), TextFile::reopened(path)));
            }
        }
        let mut udev = self.udev.iter_mut();
        for line in text.lines() {
            let mut fields = line.split_ascii_whitespace();
            let (Some(major), Some(minor), Some(device)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let mut counters = [""; COLUMNS.len()];
            let mut n = 0;
            for field in fields {
                if let Some(slot) = counters.get_mut(n) {
                    *slot = field;
                }
                n += 1;
            }
            if n < MIN_COLUMNS || is_excluded(device) {
                continue;
            }
            let labels = [("device", device)];
            let properties = match udev.next() {
                // A missing or unreadable file: empty labels, as node_exporter's.
                Some((_, file)) => match file.read() {
                    Ok(()) => file.text(),
                    Err(_) => "",
                },
                None => "",
            };
            udev_series(sink, device, major, minor, properties);
            for ((name, scale), field) in COLUMNS.iter().zip(&counters[..n.min(COLUMNS.len())]) {
                let value: u64 = field.parse().map_err(|_| CollectError::Parse {
                    path: self.diskstats.path().to_owned(),
                    reason: format!("{device}: {field:?} is not a number"),
                })?;
                let value = match scale {
                    Scale::One => value as f64,
                    Scale::Sectors => value as f64 * 512.0,
                    Scale::Millis => value as f64 / 1000.0,
                };
                sink.push(name, &labels, value);
            }
        }
        Ok(())
    }
}

/// Whether `seen` is `major:minor`.
fn is_numbers(seen: &str, major: &str, minor: &str) -> bool {
    seen.split_once(':') == Some((major, minor))
}

/// Writes `node_disk_info` and the udev-derived series of one device from the text of its
/// udev data file (empty when there is none).
fn udev_series(sink: &mut Sink, device: &str, major: &str, minor: &str, properties: &str) {
    let get = |key: &str| udev_value(properties, key).unwrap_or("");
    let info = [
        ("device", device),
        ("major", major),
        ("minor", minor),
        ("path", get("ID_PATH")),
        ("wwn", get("ID_WWN")),
        ("model", get("ID_MODEL")),
        ("serial", get("ID_SERIAL_SHORT")),
        ("revision", get("ID_REVISION")),
    ];
    sink.push("node_disk_info", &info, 1.0);
    if !get("ID_FS_TYPE").is_empty() {
        let labels = [
            ("device", device),
            ("type", get("ID_FS_TYPE")),
            ("usage", get("ID_FS_USAGE")),
            ("uuid", get("ID_FS_UUID")),
            ("version", get("ID_FS_VERSION")),
        ];
        sink.push("node_disk_filesystem_info", &labels, 1.0);
    }
    if !get("DM_NAME").is_empty() {
        let labels = [
            ("device", device),
            ("name", get("DM_NAME")),
            ("uuid", get("DM_UUID")),
            ("vg_name", get("DM_VG_NAME")),
            ("lv_name", get("DM_LV_NAME")),
            ("lv_layer", get("DM_LV_LAYER")),
        ];
        sink.push("node_disk_device_mapper_info", &labels, 1.0);
    }
    if !get("ID_ATA").is_empty() {
        for (name, key) in ATA {
            if let Some(value) = udev_value(properties, key).and_then(|v| v.parse::<f64>().ok()) {
                sink.push(name, &[("device", device)], value);
            }
        }
    }
}

/// The value of udev property `key` (an `E:key=value` line; the last one wins), `None` when
/// there is no such line.
fn udev_value<'a>(properties: &'a str, key: &str) -> Option<&'a str> {
    properties
        .lines()
        .filter_map(|line| line.strip_prefix("E:")?.split_once('='))
        .rfind(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// Whether `device` matches `^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$`.
fn is_excluded(device: &str) -> bool {
    let fixed = ["ram", "loop", "fd"]
        .iter()
        .filter_map(|p| device.strip_prefix(p));
    let lettered = ["hd", "sd", "vd", "xvd"].iter().filter_map(|p| {
        let rest = device.strip_prefix(p)?;
        rest.strip_prefix(|c: char| c.is_ascii_lowercase())
    });
    let nvme = device
        .strip_prefix("nvme")
        .and_then(strip_digits)
        .and_then(|r| r.strip_prefix('n'))
        .and_then(strip_digits)
        .and_then(|r| r.strip_prefix('p'));
    fixed
        .chain(lettered)
        .chain(nvme)
        .any(|rest| strip_digits(rest) == Some(""))
}

/// `s` without its leading run of ASCII digits, or `None` when it does not start with one.
fn strip_digits(s: &str) -> Option<&str> {
    let rest = s.trim_start_matches(|c: char| c.is_ascii_digit());
    (rest.len() < s.len()).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testdata_paths;

    #[test]
    fn recorded_diskstats_gives_whole_devices_only() {
        let mut sink = Sink::new();
        Disk::new(&testdata_paths())
            .collect(&mut sink)
            .expect("collects");
        let mut devices: Vec<String> = sink
            .round()
            .filter_map(|(k, _)| Some(k.labels.iter().find(|(l, _)| l == "device")?.1.clone()))
            .collect();
        devices.dedup();
        assert_eq!(devices, ["vda", "zram0", "sda", "sdb", "nvme0n1", "dm-0"]);

        // A 20-field line: every counter, scaled.
        let vda = [("device", "vda")];
        assert_eq!(
            sink.value_of("node_disk_reads_completed_total", &vda),
            Some(31532.0)
        );
        assert_eq!(
            sink.value_of("node_disk_read_bytes_total", &vda),
            Some(3018282.0 * 512.0)
        );
        assert_eq!(
            sink.value_of("node_disk_read_time_seconds_total", &vda),
            Some(34.572)
        );
        assert_eq!(
            sink.value_of("node_disk_written_bytes_total", &vda),
            Some(2439376.0 * 512.0)
        );
        assert_eq!(
            sink.value_of("node_disk_io_time_seconds_total", &vda),
            Some(13.528)
        );
        assert_eq!(
            sink.value_of("node_disk_io_time_weighted_seconds_total", &vda),
            Some(41.976)
        );
        assert_eq!(
            sink.value_of("node_disk_discarded_sectors_total", &vda),
            Some(273936.0)
        );
        assert_eq!(
            sink.value_of("node_disk_flush_requests_total", &vda),
            Some(364.0)
        );
        assert_eq!(
            sink.value_of("node_disk_flush_requests_time_seconds_total", &vda),
            Some(0.02)
        );
        let count = |dev| {
            sink.round()
                .filter(|(k, _)| k.name != "node_disk_info" && k.labels[0].1 == dev)
                .count()
        };
        assert_eq!(count("vda"), 17);
        assert_eq!(count("zram0"), 17);
        // No udev data in this tree: node_disk_info with empty udev labels, nothing else.
        let info = [
            ("device", "vda"),
            ("major", "254"),
            ("minor", "0"),
            ("path", ""),
            ("wwn", ""),
            ("model", ""),
            ("serial", ""),
            ("revision", ""),
        ];
        assert_eq!(sink.value_of("node_disk_info", &info), Some(1.0));
        let infos = sink.round().filter(|(k, _)| k.name == "node_disk_info");
        assert_eq!(infos.count(), 6);
        assert_eq!(sink.len(), 6 + 17 + 17 + 11 + 15 + 17 + 11);

        // A 14-field line (no discard or flush columns) and an 18-field one (no flush).
        let sda = [("device", "sda")];
        assert_eq!(count("sda"), 11);
        assert_eq!(sink.value_of("node_disk_io_now", &sda), Some(0.0));
        assert_eq!(
            sink.value_of("node_disk_writes_merged_total", &sda),
            Some(6118.0)
        );
        assert_eq!(
            sink.value_of("node_disk_discards_completed_total", &sda),
            None
        );
        assert_eq!(count("sdb"), 15);
        assert_eq!(
            sink.value_of("node_disk_io_now", &[("device", "sdb")]),
            Some(2.0)
        );
        assert_eq!(
            sink.value_of("node_disk_discard_time_seconds_total", &[("device", "sdb")]),
            Some(0.003)
        );
    }

    #[test]
    fn udev_data_gives_identity_filesystem_mapper_and_ata_series() {
        let paths = Paths {
            rootfs: testdata_paths().rootfs.with_file_name("disk-rootfs"),
            ..testdata_paths()
        };
        let mut disk = Disk::new(&paths);
        for _ in 0..2 {
            let mut sink = Sink::new();
            disk.collect(&mut sink).expect("collects");
            let sda = [
                ("device", "sda"),
                ("major", "8"),
                ("minor", "0"),
                ("path", "pci-0000:00:1f.2-ata-1.0"),
                ("wwn", "0x5002538e40a1b2c3"),
                ("model", "Samsung_SSD_860_EVO_500GB"),
                ("serial", "S3Z2NB0K312345X"),
                ("revision", "RVT04B6Q"),
            ];
            assert_eq!(sink.value_of("node_disk_info", &sda), Some(1.0));
            let dev = |d| [("device", d)];
            assert_eq!(
                sink.value_of("node_disk_ata_write_cache", &dev("sda")),
                Some(1.0)
            );
            assert_eq!(
                sink.value_of("node_disk_ata_write_cache_enabled", &dev("sda")),
                Some(1.0)
            );
            assert_eq!(
                sink.value_of("node_disk_ata_rotation_rate_rpm", &dev("sda")),
                Some(0.0)
            );
            let nvme = [
                ("device", "nvme0n1"),
                ("major", "259"),
                ("minor", "0"),
                ("path", "pci-0000:3d:00.0-nvme-1"),
                ("wwn", "eui.002538b911b2c3d4"),
                ("model", "SAMSUNG MZVLB512HBJQ-000L7"),
                ("serial", "S4ENNF0N123456"),
                ("revision", "5M2QEXF7"),
            ];
            assert_eq!(sink.value_of("node_disk_info", &nvme), Some(1.0));
            let fs = [
                ("device", "dm-0"),
                ("type", "ext4"),
                ("usage", "filesystem"),
                ("uuid", "5e2a9d1c-7b3f-4c8e-a1d6-2f9b0c4e8a73"),
                ("version", "1.0"),
            ];
            assert_eq!(sink.value_of("node_disk_filesystem_info", &fs), Some(1.0));
            let dm = [
                ("device", "dm-0"),
                ("name", "vg0-root"),
                (
                    "uuid",
                    "LVM-Xl2lpY7Zs0fHJm3kq5wB9cT4dN6rV8eAu1oPiGs2hKj3yLz4xMc5vNb6QwE7rTy8",
                ),
                ("vg_name", "vg0"),
                ("lv_name", "root"),
                ("lv_layer", ""),
            ];
            assert_eq!(
                sink.value_of("node_disk_device_mapper_info", &dm),
                Some(1.0)
            );
            let only = |name| sink.round().filter(|(k, _)| k.name == name).count();
            assert_eq!(only("node_disk_filesystem_info"), 1);
            assert_eq!(only("node_disk_device_mapper_info"), 1);
            assert_eq!(only("node_disk_ata_write_cache"), 1);
            assert_eq!(only("node_disk_info"), 6);
        }
    }

    #[test]
    fn udev_properties_are_e_lines_the_last_one_winning() {
        let text = "S:disk/by-id/x\nE:ID_MODEL=a=b\nE:ID_WWN=1\nE:ID_WWN=2\nI:5\n";
        assert_eq!(udev_value(text, "ID_MODEL"), Some("a=b"));
        assert_eq!(udev_value(text, "ID_WWN"), Some("2"));
        assert_eq!(udev_value(text, "disk/by-id/x"), None);
        assert_eq!(udev_value("", "ID_WWN"), None);
    }

    #[test]
    fn exclude_pattern_matches_node_exporters() {
        for skipped in [
            "ram0",
            "loop12",
            "fd0",
            "sda1",
            "hdb2",
            "vda15",
            "xvda1",
            "nvme0n1p1",
            "nvme10n2p33",
        ] {
            assert!(is_excluded(skipped), "{skipped}");
        }
        for kept in [
            "sda",
            "vda",
            "xvda",
            "nvme0n1",
            "dm-0",
            "md127",
            "sdaa1",
            "ramdisk",
            "loop",
            "nvme0n1p",
            "mmcblk0p1",
            "sr0",
            "zram0",
        ] {
            assert!(!is_excluded(kept), "{kept}");
        }
    }
}
