//! Reconnect delays, as the agent's: `agent/src/stream.rs` `deliver` and `Jitter`, with the
//! defaults of `agent/src/config.rs` (`delivery.backoff_initial` 500 ms,
//! `delivery.backoff_max` 30 s).
//!
//! The agent waits `spread(delay)` after a stream ends, a uniform pick from
//! `[delay/2, delay]`, then doubles `delay` up to the cap; a stream that had at least one
//! Ack starts the delay over from the initial one. The picks come from the agent's
//! xorshift; the agent seeds it from the clock and its PID, the load generator from
//! `--seed` and the host's index, so that a run's waits can be replayed.

use std::time::Duration;

/// The agent's first reconnect delay (`delivery.backoff_initial`).
pub const AGENT_BACKOFF_INITIAL: Duration = Duration::from_millis(500);
/// The agent's longest reconnect delay (`delivery.backoff_max`).
pub const AGENT_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// The agent's longest wait for a TCP connection (`delivery.connect_timeout`).
pub const AGENT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The agent's longest wait for an Ack before it reopens the stream
/// (`delivery.ack_timeout`).
pub const AGENT_ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// One host's reconnect delays.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    delay: Duration,
    rng: u64,
}

impl Backoff {
    /// Delays from `initial` doubling to `max`, jittered by a generator seeded from `seed`
    /// and `host` (never zero, as xorshift needs).
    pub fn new(initial: Duration, max: Duration, seed: u64, host: u32) -> Self {
        let rng = (seed.rotate_left(17) ^ (u64::from(host) << 32) ^ u64::from(host)) | 1;
        Self {
            initial,
            max: max.max(initial),
            delay: initial,
            rng,
        }
    }

    /// The wait before the next attempt, after a stream (or an attempt to open one) ended;
    /// `acked`: that stream had an Ack, so the delay starts over.
    pub fn next(&mut self, acked: bool) -> Duration {
        if acked {
            self.delay = self.initial;
        }
        let wait = self.spread(self.delay);
        self.delay = (self.delay * 2).min(self.max);
        wait
    }

    /// A uniform pick from `[delay/2, delay]`, in thousandths (the agent's `Jitter::spread`).
    fn spread(&mut self, delay: Duration) -> Duration {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let fraction = (self.rng % 1_000) as f64 / 1_000.0;
        delay.mul_f64(0.5 + fraction / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_to_the_cap_within_half_to_full() {
        let mut b = Backoff::new(AGENT_BACKOFF_INITIAL, AGENT_BACKOFF_MAX, 1, 7);
        let nominal_ms = [
            500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000,
        ];
        for ms in nominal_ms {
            let wait = b.next(false);
            let full = Duration::from_millis(ms);
            assert!(
                wait >= full / 2 && wait <= full,
                "{wait:?} not in [{:?}, {full:?}]",
                full / 2
            );
        }
    }

    #[test]
    fn a_stream_with_an_ack_starts_the_delay_over() {
        let mut b = Backoff::new(AGENT_BACKOFF_INITIAL, AGENT_BACKOFF_MAX, 1, 7);
        for _ in 0..6 {
            b.next(false);
        }
        assert!(b.next(true) <= AGENT_BACKOFF_INITIAL);
        let second = b.next(false);
        assert!(second >= AGENT_BACKOFF_INITIAL && second <= 2 * AGENT_BACKOFF_INITIAL);
    }

    #[test]
    fn hosts_spread_their_waits_and_a_seed_replays_them() {
        let waits = |seed, host| {
            let mut b = Backoff::new(Duration::from_secs(8), Duration::from_secs(8), seed, host);
            (0..50).map(|_| b.next(false)).collect::<Vec<_>>()
        };
        assert_eq!(waits(1, 3), waits(1, 3));
        assert_ne!(waits(1, 3), waits(1, 4));
        assert_ne!(waits(1, 3), waits(2, 3));
        let first: std::collections::HashSet<u128> =
            (0..200).map(|h| waits(1, h)[0].as_millis()).collect();
        assert!(first.len() > 100, "first waits of 200 hosts are spread");
    }
}
