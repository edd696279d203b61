//! TCP ports for the servers a test starts (collectors, Prometheus, SMTP, webhook
//! receivers), chosen so that nothing else takes one between the moment it is chosen and
//! the moment the server binds it.
//!
//! ```text
//! 1024        10000                     32768 (ip_local_port_range)   60999      65535
//!  |  services  |  pool: free_port()        |  ephemeral: the kernel's    |  (pool if the
//!  |            |  block of this process    |  `:0` binds, outgoing       |  ephemeral range
//!  |            |  starts at pid % blocks   |  connections                |  is moved down)
//! ```

use std::net::TcpListener;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// Pool ports start here: below it sit many registered services (PostgreSQL, 8080,
/// Prometheus's 9090, Alertmanager's 9093) that may run on a developer's machine.
const POOL_FLOOR: u32 = 10_000;
/// The smallest pool worth having; with less, the ephemeral range is in the way.
const POOL_MIN: u32 = 1_024;
/// Ports one process is expected to use: every e2e test in one binary takes a few each.
/// Processes whose ids differ by less than the number of blocks start in different blocks.
const BLOCK: u32 = 256;

/// A TCP port on 127.0.0.1 for a server the caller is about to start, which no other
/// socket takes in the meantime.
///
/// Why not bind `127.0.0.1:0` and pass the port on: the listener has to be closed before
/// the server can bind the port, and in that gap the kernel may give the same port to any
/// socket that asks for an ephemeral one — another test's `:0` listener, or just an
/// outgoing connection (every gRPC client, every `vigil` run, the collector's webhooks).
/// The server then fails to start, or another test talks to it.
///
/// So ports come from a pool outside Linux's ephemeral range
/// (`/proc/sys/net/ipv4/ip_local_port_range`, 32768–60999 by default), which the kernel
/// never picks by itself: only a program asking for that very port can take it. A
/// process-wide counter hands each port out once (a server restarted on its port keeps
/// it); the counter starts at a block chosen by the process id, so test processes running
/// at the same time (several test binaries, nextest) draw from different blocks; and a
/// port something already listens on is skipped.
///
/// Panics once every port of the pool has been handed out.
pub fn free_port() -> u16 {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::new(ephemeral_range(), std::process::id()))
        .next()
}

/// Ports `first..first + len`, handed out in order from `start`, wrapping around.
#[derive(Debug)]
struct Pool {
    first: u32,
    len: u32,
    start: u32,
    handed_out: AtomicU32,
}

impl Pool {
    /// The pool below the ephemeral range `low..=high` (above it when the range leaves too
    /// little room below), starting in the block of process `pid`.
    fn new((low, high): (u32, u32), pid: u32) -> Self {
        let (first, end) = if low >= POOL_FLOOR + POOL_MIN {
            (POOL_FLOOR, low)
        } else if high < 65_536 - POOL_MIN {
            (high + 1, 65_536)
        } else {
            panic!(
                "the ephemeral port range {low}-{high} leaves no room for test ports; narrow it \
                 in /proc/sys/net/ipv4/ip_local_port_range"
            )
        };
        let len = end - first;
        let blocks = len / BLOCK;
        Self {
            first,
            len,
            start: (pid % blocks) * BLOCK,
            handed_out: AtomicU32::new(0),
        }
    }

    /// The next port of the pool that nothing listens on.
    fn next(&self) -> u16 {
        loop {
            let n = self.handed_out.fetch_add(1, Ordering::Relaxed);
            assert!(
                n < self.len,
                "all {} test ports from {} were handed out in this process",
                self.len,
                self.first
            );
            let port = (self.first + (self.start + n) % self.len) as u16;
            // On all addresses: a server on 0.0.0.0 or on 127.0.0.1 makes this fail.
            if TcpListener::bind(("0.0.0.0", port)).is_ok() {
                return port;
            }
        }
    }
}

/// The range the kernel picks ephemeral ports from (Linux's default when unreadable).
fn ephemeral_range() -> (u32, u32) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut bounds = text.split_whitespace().map(|n| n.parse::<u32>().ok());
            Some((bounds.next()??, bounds.next()??))
        })
        .unwrap_or((32_768, 60_999))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ports_are_below_the_ephemeral_range_and_never_repeat() {
        let (low, high) = ephemeral_range();
        let mut seen = HashSet::new();
        for _ in 0..300 {
            let port = u32::from(free_port());
            assert!(port >= 1024 && !(low..=high).contains(&port), "{port}");
            assert!(seen.insert(port), "{port} handed out twice");
        }
    }

    #[test]
    fn a_port_in_use_is_skipped() {
        let pool = Pool::new((32_768, 60_999), 7);
        let first = pool.next();
        // Taken here, or by something else already: either way it is not handed out.
        let _taken = TcpListener::bind(("127.0.0.1", first + 1));
        assert!(pool.next() > first + 1);
    }

    #[test]
    fn processes_start_in_different_blocks_and_wrap_around() {
        let a = Pool::new((32_768, 60_999), 100);
        let b = Pool::new((32_768, 60_999), 101);
        assert_eq!((a.first, a.len), (10_000, 22_768));
        assert_eq!(b.start - a.start, BLOCK);
        // 88 blocks of 256 fit in 22768 ports: process 88 starts where process 0 does.
        assert_eq!(Pool::new((32_768, 60_999), 87).start, 87 * BLOCK);
        assert_eq!(Pool::new((32_768, 60_999), 88).start, 0);
        let moved = Pool::new((1_024, 40_000), 0);
        assert_eq!((moved.first, moved.len), (40_001, 25_535));
    }
}
