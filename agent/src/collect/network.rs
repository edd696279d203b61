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

use super::{CollectError, Paths, Sink, read_file};

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

/// Reads `<proc>/net/dev` and writes the `node_network_*_total` counters per device, plus
/// `node_network_up` from `<sys>/class/net/<device>/operstate` where that file is readable.
pub fn collect(paths: &Paths, sink: &mut Sink) -> Result<(), CollectError> {
    let path = paths.proc.join("net/dev");
    let text = read_file(&path)?;
    for line in text.lines().skip(2) {
        let Some((device, counters)) = line.split_once(':') else {
            continue;
        };
        let device = device.trim();
        let labels = [("device", device)];
        let mut n = 0;
        for (name, field) in COLUMNS.iter().zip(counters.split_ascii_whitespace()) {
            let value: u64 = field.parse().map_err(|_| CollectError::Parse {
                path: path.clone(),
                reason: format!("{device}: {field:?} is not a number"),
            })?;
            sink.push(name, &labels, value as f64);
            n += 1;
        }
        if n != COLUMNS.len() {
            let reason = format!("{device}: {n} counters, expected {}", COLUMNS.len());
            return Err(CollectError::Parse { path, reason });
        }
        let operstate = paths.sys.join("class/net").join(device).join("operstate");
        if let Ok(state) = std::fs::read_to_string(operstate) {
            sink.push(
                "node_network_up",
                &labels,
                f64::from(u8::from(state.trim() == "up")),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testdata_paths;

    #[test]
    fn recorded_net_dev_gives_every_counter_per_device() {
        let mut sink = Sink::new();
        collect(&testdata_paths(), &mut sink).expect("collects");
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
