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
//! are skipped. Devices matching node_exporter's default exclude pattern
//! `^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$` — partitions, RAM and loop
//! devices — are skipped too, matched by hand to keep the agent free of a regex engine.

use super::{CollectError, Paths, Sink, TextFile};

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

/// The disk source: `<proc>/diskstats`, read into the same buffer every round.
#[derive(Debug)]
pub struct Disk {
    diskstats: TextFile,
}

impl Disk {
    /// The source for the tree at `paths`.
    pub fn new(paths: &Paths) -> Self {
        Self {
            diskstats: TextFile::new(paths.proc.join("diskstats")),
        }
    }

    /// Reads `<proc>/diskstats` and writes the `node_disk_*` series per whole device.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        self.diskstats.read()?;
        let text = self.diskstats.text();
        for line in text.lines() {
            let mut fields = line.split_ascii_whitespace().skip(2);
            let Some(device) = fields.next() else {
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

/// Whether `device` matches `^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$`.
fn is_excluded(device: &str) -> bool {
    let fixed = ["ram", "zram", "loop", "fd"]
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
        let mut devices: Vec<String> = sink.round().map(|(k, _)| k.labels[0].1.clone()).collect();
        devices.dedup();
        assert_eq!(devices, ["vda", "sda", "sdb", "nvme0n1", "dm-0"]);

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
        let count = |dev| sink.round().filter(|(k, _)| k.labels[0].1 == dev).count();
        assert_eq!(count("vda"), 17);

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
    fn exclude_pattern_matches_node_exporters() {
        for skipped in [
            "ram0",
            "zram0",
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
        ] {
            assert!(!is_excluded(kept), "{kept}");
        }
    }
}
