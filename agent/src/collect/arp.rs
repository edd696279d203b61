//! ARP table entries per device from `/proc/net/arp` (node_exporter's `arp`).
//!
//! ```text
//! IP address       HW type     Flags       HW address            Mask     Device
//! 192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0
//! ```
//!
//! The header line is skipped; every other line is one entry of the device in its last
//! column. `node_arp_entries{device}` counts them.

use super::{CollectError, Paths, Sink, TextFile};

/// Columns of every line, header included.
const COLUMNS: usize = 6;

/// The arp source: `<proc>/net/arp`, read into the same buffer every round.
#[derive(Debug)]
pub struct Arp {
    arp: TextFile,
}

impl Arp {
    /// The source for the tree at `paths`.
    pub fn new(paths: &Paths) -> Self {
        Self {
            arp: TextFile::new(paths.proc.join("net/arp")),
        }
    }

    /// Reads `<proc>/net/arp` and writes `node_arp_entries` per device with entries.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        self.arp.read()?;
        let counts = count(self.arp.text()).map_err(|reason| CollectError::Parse {
            path: self.arp.path().to_owned(),
            reason,
        })?;
        for (device, n) in counts {
            sink.push("node_arp_entries", &[("device", device)], f64::from(n));
        }
        Ok(())
    }
}

/// Entries per device, in the order the devices first appear.
fn count(text: &str) -> Result<Vec<(&str, u32)>, String> {
    let mut counts: Vec<(&str, u32)> = Vec::new();
    for line in text.lines() {
        let mut columns = line.split_ascii_whitespace();
        let first = columns.next();
        let (n, last) = columns.fold((1, first), |(n, _), c| (n + 1, Some(c)));
        if n < COLUMNS {
            return Err(format!("{line:?} has fewer than {COLUMNS} columns"));
        }
        if first == Some("IP") {
            continue;
        }
        let Some(device) = last else { continue };
        match counts.iter_mut().find(|(d, _)| *d == device) {
            Some((_, n)) => *n += 1,
            None => counts.push((device, 1)),
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testdata_paths;

    #[test]
    fn recorded_arp_table_counts_entries_per_device() {
        let mut sink = Sink::new();
        Arp::new(&testdata_paths())
            .collect(&mut sink)
            .expect("collects");
        let entries = |d| sink.value_of("node_arp_entries", &[("device", d)]);
        assert_eq!(entries("eth0"), Some(3.0));
        assert_eq!(entries("br0"), Some(1.0));
        assert_eq!(sink.len(), 2);
    }

    #[test]
    fn an_empty_table_writes_nothing_and_short_lines_are_errors() {
        let header =
            "IP address       HW type     Flags       HW address            Mask     Device\n";
        assert_eq!(count(header), Ok(vec![]));
        assert_eq!(count(""), Ok(vec![]));
        assert!(count("10.0.0.1 0x1 0x2 eth0\n").is_err());
    }
}
