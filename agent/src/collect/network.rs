//! Network interface counters from `/proc/net/dev`, link state from `/sys/class/net`.
//!
//! ```text
//! Inter-|   Receive                                                |  Transmit
//!  face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
//!   eth0: 128260813    5237    0    0    0     0          0         0   330349    3179 ...
//! ```
//!
//! The two header lines are skipped; after `name:` come 8 receive and 8 transmit counters
//! (old kernels print no space after the colon once the byte count gets wide).

use std::path::PathBuf;

use super::{CollectError, Paths, Sink, TextFile};

/// Metric names of the 16 columns, in order (node_exporter's netdev collector).
const COLUMNS: [&str; 16] = [
    "node_network_receive_bytes_total",
    "node_network_receive_packets_total",
    "node_network_receive_errs_total",
    "node_network_receive_drop_total",
    "node_network_receive_fifo_total",
    "node_network_receive_frame_total",
    "node_network_receive_compressed_total",
    "node_network_receive_multicast_total",
    "node_network_transmit_bytes_total",
    "node_network_transmit_packets_total",
    "node_network_transmit_errs_total",
    "node_network_transmit_drop_total",
    "node_network_transmit_fifo_total",
    "node_network_transmit_colls_total",
    "node_network_transmit_carrier_total",
    "node_network_transmit_compressed_total",
];

/// Devices whose `operstate` file stays open between rounds; the files of any further
/// devices are opened every round, so a host with thousands of interfaces cannot use up the
/// agent's file descriptors.
const KEPT_OPERSTATES: usize = 64;

/// The network source: `<proc>/net/dev` and each device's `operstate`, read into the same
/// buffers every round.
#[derive(Debug)]
pub struct Network {
    dev: TextFile,
    /// `<sys>/class/net`.
    class_net: PathBuf,
    /// The devices of the last round in order, each with its `operstate` file. They are
    /// opened again, all of them, only when the list changes (a device added, removed or
    /// renamed), so a file never answers for a device that took another's name.
    operstates: Vec<(String, TextFile)>,
}

impl Network {
    /// The source for the trees at `paths`.
    pub fn new(paths: &Paths) -> Self {
        Self {
            dev: TextFile::new(paths.proc.join("net/dev")),
            class_net: paths.sys.join("class/net"),
            operstates: Vec::new(),
        }
    }

    /// Reads `<proc>/net/dev` and writes the `node_network_*_total` counters per device,
    /// plus `node_network_up` from `<sys>/class/net/<device>/operstate` where that file is
    /// readable.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        self.dev.read()?;
        let text = self.dev.text();
        let parse_error = |reason| CollectError::Parse {
            path: self.dev.path().to_owned(),
            reason,
        };
        let devices = || {
            text.lines()
                .skip(2)
                .filter_map(|line| Some(line.split_once(':')?.0.trim()))
        };
        let same = devices().count() == self.operstates.len()
            && devices()
                .zip(&self.operstates)
                .all(|(device, (seen, _))| device == seen);
        if !same {
            self.operstates.clear();
            for (i, device) in devices().enumerate() {
                let path = self.class_net.join(device).join("operstate");
                let file = if i < KEPT_OPERSTATES {
                    TextFile::new(path)
                } else {
                    TextFile::reopened(path)
                };
                self.operstates.push((device.to_owned(), file));
            }
        }
        let lines = text.lines().skip(2).filter_map(|line| line.split_once(':'));
        for ((device, counters), (_, operstate)) in lines.zip(&mut self.operstates) {
            let device = device.trim();
            let labels = [("device", device)];
            let mut n = 0;
            for (name, field) in COLUMNS.iter().zip(counters.split_ascii_whitespace()) {
                let value: u64 = field
                    .parse()
                    .map_err(|_| parse_error(format!("{device}: {field:?} is not a number")))?;
                sink.push(name, &labels, value as f64);
                n += 1;
            }
            if n != COLUMNS.len() {
                let reason = format!("{device}: {n} counters, expected {}", COLUMNS.len());
                return Err(parse_error(reason));
            }
            if operstate.read().is_ok() {
                let up = operstate.text().trim() == "up";
                sink.push("node_network_up", &labels, f64::from(u8::from(up)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testdata_paths;

    #[test]
    fn recorded_net_dev_gives_every_counter_per_device() {
        let mut sink = Sink::new();
        Network::new(&testdata_paths())
            .collect(&mut sink)
            .expect("collects");
        let eth0 = [("device", "eth0")];
        assert_eq!(
            sink.value_of("node_network_receive_bytes_total", &eth0),
            Some(128260813.0)
        );
        assert_eq!(
            sink.value_of("node_network_transmit_packets_total", &eth0),
            Some(3179.0)
        );
        assert_eq!(sink.value_of("node_network_up", &eth0), Some(1.0));
        // No space after the colon, and every column in its place.
        let eth1 = [("device", "eth1")];
        assert_eq!(
            sink.value_of("node_network_receive_bytes_total", &eth1),
            Some(4294967296.0)
        );
        let want = [
            4294967296u64,
            12,
            1,
            2,
            3,
            4,
            5,
            6,
            9000,
            7,
            8,
            9,
            10,
            11,
            12,
            13,
        ];
        for (name, want) in COLUMNS.iter().zip(want) {
            assert_eq!(sink.value_of(name, &eth1), Some(want as f64), "{name}");
        }
        // lo's operstate is "unknown", ifb0's "down"; ifb1 and eth1 have no sysfs entry.
        assert_eq!(
            sink.value_of("node_network_up", &[("device", "lo")]),
            Some(0.0)
        );
        assert_eq!(
            sink.value_of("node_network_up", &[("device", "ifb0")]),
            Some(0.0)
        );
        assert_eq!(sink.value_of("node_network_up", &eth1), None);
        assert_eq!(sink.len(), 5 * 16 + 3);
    }
}
