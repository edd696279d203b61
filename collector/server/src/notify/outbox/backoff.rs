//! Retry delays: exponential backoff with full jitter, from a small xorshift generator (no
//! need for a cryptographic one: the jitter only spreads retries over time).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// xorshift64* seeded from the clock and the process id.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator seeded from the time, the process id and `salt`.
    pub fn seeded(salt: u64) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mut seed = nanos ^ (u64::from(std::process::id()) << 32) ^ salt;
        // splitmix64 finalizer, so that close seeds give unrelated streams; never zero.
        seed = (seed ^ (seed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        seed = (seed ^ (seed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        seed ^= seed >> 31;
        Self(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// The next pseudo-random number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..=max`.
    pub fn below_or_equal(&mut self, max: u64) -> u64 {
        match max.checked_add(1) {
            Some(bound) => self.next_u64() % bound,
            None => self.next_u64(),
        }
    }
}

/// The cap of the delay after `failed` failed attempts (1 for the first failure):
/// min(max, initial × 2^(failed − 1)).
pub fn ceiling(initial: Duration, max: Duration, failed: u32) -> Duration {
    let shift = failed.saturating_sub(1).min(30);
    initial.saturating_mul(1 << shift).min(max)
}

/// A delay drawn uniformly from zero to [`ceiling`] ("full jitter"), so receivers that
/// failed together do not all retry at the same moment.
pub fn delay(rng: &mut XorShift, initial: Duration, max: Duration, failed: u32) -> Duration {
    let cap = ceiling(initial, max, failed).as_millis() as u64;
    Duration::from_millis(rng.below_or_equal(cap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_up_to_the_max() {
        let (initial, max) = (Duration::from_secs(1), Duration::from_secs(300));
        let caps: Vec<u64> = (1..=11)
            .map(|n| ceiling(initial, max, n).as_secs())
            .collect();
        assert_eq!(caps, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(ceiling(initial, max, u32::MAX), max);
    }

    #[test]
    fn delays_stay_under_the_ceiling_and_spread() {
        let mut rng = XorShift::seeded(7);
        let (initial, max) = (Duration::from_millis(100), Duration::from_secs(10));
        let delays: Vec<Duration> = (0..1000)
            .map(|_| delay(&mut rng, initial, max, 5))
            .collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(1600)));
        let low = delays
            .iter()
            .filter(|d| **d < Duration::from_millis(800))
            .count();
        assert!((300..700).contains(&low), "{low} of 1000 in the lower half");
    }

    #[test]
    fn seeds_differ() {
        assert_ne!(
            XorShift::seeded(1).next_u64(),
            XorShift::seeded(2).next_u64()
        );
    }
}
