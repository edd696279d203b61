//! Bytes queued in UDP sockets from `/proc/net/udp` and `/proc/net/udp6` (node_exporter's
//! `udp_queues`).
//!
//! ```text
//!   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
//!  113: 00000000:0044 00000000:0000 07 00000000:00000300 00:00000000 00000000     0        0 17820 2 000000003d9b0a47 0
//! ```
//!
//! The header line is skipped; the fifth column holds each socket's transmit and receive
//! queue sizes in hexadecimal. `node_udp_queues{ip="v4|v6",queue="tx|rx"}` are their sums.
//! A family whose file is missing (no IPv6) is left out; with both missing the source is
//! missing.
//!
//! Every read call of these files makes the kernel walk the whole UDP hash table from its
//! first bucket (tens of µs, sockets or not), so each file is read in as few calls as
//! possible: a read that returns clearly less than the kernel's one-page buffer holds is the
//! end of the file, without the extra call that would return nothing.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use super::{CollectError, Paths, Sink};

/// Columns every socket line has at least.
const COLUMNS: usize = 10;

/// Bytes asked for per read call.
const CHUNK: usize = 64 * 1024;

/// A read of procfs's sequence files returns at most one page (4 KiB at least); one that
/// returns less than this left room for another line (well under 512 bytes), so the file
/// has ended.
const SURELY_SHORT: usize = 4096 - 512;

/// The udp_queues source: both files, read into the same buffer every round.
#[derive(Debug)]
pub struct UdpQueues {
    /// `(ip label, path)`.
    files: [(&'static str, PathBuf); 2],
    buf: Vec<u8>,
}

impl UdpQueues {
    /// The source for the tree at `paths`.
    pub fn new(paths: &Paths) -> Self {
        let file = |name| paths.proc.join("net").join(name);
        Self {
            files: [("v4", file("udp")), ("v6", file("udp6"))],
            buf: Vec::new(),
        }
    }

    /// Reads both files and writes the queue sums of each family present.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        let (mut found, mut missing) = (false, None);
        for (ip, path) in &self.files {
            let len = match read(path, &mut self.buf) {
                Ok(len) => len,
                Err(error) if error.is_missing() => {
                    missing = Some(error);
                    continue;
                }
                Err(error) => return Err(error),
            };
            found = true;
            let parse_error = |reason| CollectError::Parse {
                path: path.clone(),
                reason,
            };
            let text = std::str::from_utf8(&self.buf[..len])
                .map_err(|_| parse_error("the file is not UTF-8 text".to_owned()))?;
            let (tx, rx) = sums(text).map_err(parse_error)?;
            sink.push("node_udp_queues", &[("ip", ip), ("queue", "tx")], tx as f64);
            sink.push("node_udp_queues", &[("ip", ip), ("queue", "rx")], rx as f64);
        }
        match missing {
            Some(error) if !found => Err(error),
            _ => Ok(()),
        }
    }
}

/// Reads the whole file at `path` into `buf` (grown as needed, never shrunk or zeroed
/// again), in as few read calls as possible; the length read.
fn read(path: &PathBuf, buf: &mut Vec<u8>) -> Result<usize, CollectError> {
    let error = |source| CollectError::Read {
        path: path.clone(),
        source,
    };
    let file = File::open(path).map_err(error)?;
    let mut len = 0;
    loop {
        if buf.len() < len + CHUNK {
            buf.resize(len + CHUNK, 0);
        }
        let n = loop {
            match file.read_at(&mut buf[len..], len as u64) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other.map_err(error)?,
            }
        };
        len += n;
        if n < SURELY_SHORT {
            return Ok(len);
        }
    }
}

/// Transmit and receive queue sums over every socket line of one file.
fn sums(text: &str) -> Result<(u64, u64), String> {
    let (mut tx, mut rx) = (0u64, 0u64);
    for line in text.lines().skip(1) {
        if line.split_ascii_whitespace().count() < COLUMNS {
            return Err(format!("{line:?} has fewer than {COLUMNS} columns"));
        }
        let queues = line.split_ascii_whitespace().nth(4).unwrap_or_default();
        let (t, r) = queues
            .split_once(':')
            .ok_or_else(|| format!("{queues:?} is not tx_queue:rx_queue"))?;
        let hex = |s: &str| {
            u64::from_str_radix(s, 16).map_err(|_| format!("{s:?} is not a hexadecimal number"))
        };
        tx = tx.wrapping_add(hex(t)?);
        rx = rx.wrapping_add(hex(r)?);
    }
    Ok((tx, rx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testdata_paths;

    #[test]
    fn recorded_udp_tables_give_queue_sums_per_family() {
        let mut sink = Sink::new();
        UdpQueues::new(&testdata_paths())
            .collect(&mut sink)
            .expect("collects");
        let q = |ip, queue| sink.value_of("node_udp_queues", &[("ip", ip), ("queue", queue)]);
        assert_eq!(q("v4", "tx"), Some(768.0));
        assert_eq!(q("v4", "rx"), Some(4352.0));
        assert_eq!(q("v6", "tx"), Some(0.0));
        assert_eq!(q("v6", "rx"), Some(2304.0));
        assert_eq!(sink.len(), 4);
    }

    #[test]
    fn missing_families_and_garbled_lines() {
        let root = std::env::temp_dir().join(format!("vigil-udp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("proc/net")).expect("mkdir");
        let paths = Paths {
            proc: root.join("proc"),
            sys: root.join("sys"),
            rootfs: root.clone(),
        };
        let mut udp = UdpQueues::new(&paths);
        let error = udp.collect(&mut Sink::new()).expect_err("nothing there");
        assert!(error.is_missing(), "{error}");

        // IPv4 only (a kernel without IPv6).
        std::fs::copy(
            testdata_paths().proc.join("net/udp"),
            root.join("proc/net/udp"),
        )
        .expect("copy");
        let mut sink = Sink::new();
        udp.collect(&mut sink).expect("collects");
        assert_eq!(sink.len(), 2);

        std::fs::write(root.join("proc/net/udp6"), "header\n  0: 0000:0035 x\n").expect("write");
        assert!(udp.collect(&mut Sink::new()).is_err());
        assert!(sums("h\n 1: a b 07 zz:00 00:0 0 0 0 1\n").is_err());
        std::fs::remove_dir_all(&root).expect("clean up");
    }
}
