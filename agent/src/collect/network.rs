//! Network interface counters from `/proc/net/dev`, plus `rx_nohandler` from
//! `/sys/class/net/<device>/statistics` (node_exporter 1.5 reads all of them over netlink,
//! where that counter is included).
//!
//! ```text
//! Inter-|   Receive                                                |  Transmit
//!  face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
//!   eth0: 128260813    5237    0    0    0     0          0         0   330349    3179 ...
//! ```
//!
//! The two header lines are skipped; after `name:` come 8 receive and 8 transmit counters
//! (old kernels print no space after the colon once the byte count gets wide).
//!
//! Link state (`node_network_up`, `node_network_info`…) is the `netclass` source's.

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

/// Devices whose `rx_nohandler` file stays open between rounds; the files of any further
/// devices are opened every round, so a host with thousands of interfaces cannot use up the
/// agent's file descriptors.
const KEPT_NOHANDLER: usize = 64;

/// The network source: `<proc>/net/dev` and each device's `statistics/rx_nohandler`, read
/// into the same buffers every round.
#[derive(Debug)]
pub struct Network {
    dev: TextFile,
    /// `<sys>/class/net`.
    class_net: PathBuf,
    /// The devices of the last round in order, each with its `rx_nohandler` file. They are
    /// opened again, all of them, only when the list changes (a device added, removed or
    /// renamed), so a file never answers for a device that took another's name.
    nohandler: Vec<(String, TextFile)>,
}

impl Network {
    /// The source for the trees at `paths`.
    pub fn new(paths: &Paths) -> Self {
        Self {
            dev: TextFile::new(paths.proc.join("net/dev")),
            class_net: paths.sys.join("class/net"),
            nohandler: Vec::new(),
        }
    }

    /// Reads `<proc>/net/dev` and writes the `node_network_*_total` counters per device,
    /// plus `node_network_receive_nohandler_total` from
    /// `<sys>/class/net/<device>/statistics/rx_nohandler` where that file is readable
    /// (Linux 4.6+).
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
        let same = devices().count() == self.nohandler.len()
            && devices()
                .zip(&self.nohandler)
                .all(|(device, (seen, _))| device == seen);
        if !same {
            self.nohandler.clear();
            for (i, device) in devices().enumerate() {
                let path = self.class_net.join(device).join("statistics/rx_nohandler");
                let file = if i < KEPT_NOHANDLER {
                    TextFile::new(path)
                } else {
                    TextFile::reopened(path)
                };
                self.nohandler.push((device.to_owned(), file));
            }
        }
        let lines = text.lines().skip(2).filter_map(|line| line.split_once(':'));
        for ((device, counters), (_, nohandler)) in lines.zip(&mut self.nohandler) {
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
            if nohandler.read().is_ok()
                && let Ok(value) = nohandler.text().trim().parse::<u64>()
            {
                sink.push(
                    "node_network_receive_nohandler_total",
                    &labels,
                    value as f64,
                );
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
        // The recorded tree has no statistics directories.
        assert_eq!(
            sink.value_of("node_network_receive_nohandler_total", &eth0),
            None
        );
        assert_eq!(sink.len(), 5 * 16);
    }

    #[test]
    fn rx_nohandler_comes_from_sysfs_statistics_where_there() {
        let root = std::env::temp_dir().join(format!("vigil-nohandler-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let stats = root.join("sys/class/net/eth0/statistics");
        std::fs::create_dir_all(&stats).expect("mkdir");
        std::fs::create_dir_all(root.join("proc/net")).expect("mkdir");
        std::fs::copy(
            testdata_paths().proc.join("net/dev"),
            root.join("proc/net/dev"),
        )
        .expect("copy");
        std::fs::write(stats.join("rx_nohandler"), "17\n").expect("write");
        let paths = Paths {
            proc: root.join("proc"),
            sys: root.join("sys"),
            rootfs: root.clone(),
        };
        let mut network = Network::new(&paths);
        let mut sink = Sink::new();
        network.collect(&mut sink).expect("collects");
        let nohandler = |sink: &Sink, d| {
            sink.value_of("node_network_receive_nohandler_total", &[("device", d)])
        };
        assert_eq!(nohandler(&sink, "eth0"), Some(17.0));
        assert_eq!(nohandler(&sink, "lo"), None);
        std::fs::write(stats.join("rx_nohandler"), "18\n").expect("write");
        let mut sink = Sink::new();
        network.collect(&mut sink).expect("collects");
        assert_eq!(nohandler(&sink, "eth0"), Some(18.0));
        std::fs::remove_dir_all(&root).expect("clean up");
    }
}
