//! The detector's state as bytes, so the collector can keep it across a restart.
//!
//! A fixed little-endian layout behind a version byte: [`Detector::to_bytes`] writes
//! [`ENCODED_BYTES`] bytes; [`Detector::from_bytes`] refuses anything else (another
//! version, another length, a value that could not have been written), so a state from an
//! older or newer collector is rebuilt from history instead of being misread.

use crate::detector::Detector;

/// The layout's version: bump it whenever a field is added, removed or changes meaning.
const VERSION: u8 = 2;

/// Length of an encoded detector.
pub const ENCODED_BYTES: usize = 1 + 8 * 3 + 8 * 18 + 4 + 1 + 4 * (24 + 168);

struct Writer(Vec<u8>);

impl Writer {
    fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_at_checked(N)?;
        self.0 = rest;
        head.try_into().ok()
    }
    fn f64(&mut self) -> Option<f64> {
        self.take().map(f64::from_le_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_le_bytes)
    }
}

impl Detector {
    /// The whole state, [`ENCODED_BYTES`] long.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(ENCODED_BYTES));
        w.0.push(VERSION);
        w.0.extend_from_slice(&self.seen.to_le_bytes());
        w.0.extend_from_slice(&self.first_ms.to_le_bytes());
        w.0.extend_from_slice(&self.last_ms.to_le_bytes());
        for v in [
            self.last_value,
            self.step_ms,
            self.level,
            self.base,
            self.scale,
            self.innovation_scale,
            self.fast_scale,
            self.last_z,
            self.autocov,
            self.autovar,
            self.cusum_up,
            self.cusum_down,
            self.change,
            self.quantum,
            self.change_before_run,
            self.error_plain,
            self.error_daily,
            self.error_both,
        ] {
            w.f64(v);
        }
        w.0.extend_from_slice(&self.unchanged.to_le_bytes());
        w.0.push(self.profiles);
        for v in self.daily.iter().chain(&self.weekly) {
            w.0.extend_from_slice(&v.to_le_bytes());
        }
        debug_assert_eq!(w.0.len(), ENCODED_BYTES);
        w.0
    }

    /// A detector from [`Detector::to_bytes`]; `None` for bytes it did not write.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != ENCODED_BYTES || bytes[0] != VERSION {
            return None;
        }
        let mut r = Reader(&bytes[1..]);
        let mut d = Detector::new();
        d.seen = u64::from_le_bytes(r.take()?);
        d.first_ms = r.i64()?;
        d.last_ms = r.i64()?;
        let mut floats = [0.0; 18];
        for f in &mut floats {
            *f = r.f64()?;
        }
        [
            d.last_value,
            d.step_ms,
            d.level,
            d.base,
            d.scale,
            d.innovation_scale,
            d.fast_scale,
            d.last_z,
            d.autocov,
            d.autovar,
            d.cusum_up,
            d.cusum_down,
            d.change,
            d.quantum,
            d.change_before_run,
            d.error_plain,
            d.error_daily,
            d.error_both,
        ] = floats;
        d.unchanged = u32::from_le_bytes(r.take()?);
        d.profiles = r.take::<1>()?[0];
        for slot in d.daily.iter_mut().chain(d.weekly.iter_mut()) {
            *slot = f32::from_le_bytes(r.take()?);
        }
        // `last_value` is NaN before the first sample; every other number is finite.
        let finite = floats[1..].iter().all(|f| f.is_finite())
            && d.daily.iter().chain(&d.weekly).all(|f| f.is_finite());
        (finite && d.profiles <= 2 && d.last_ms >= d.first_ms).then_some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::Rng;

    #[test]
    fn a_restored_detector_scores_exactly_as_the_one_it_came_from() {
        let mut rng = Rng::new(7);
        let mut a = Detector::new();
        let t = |i: i64| 1_700_000_000_000 + i * 60_000;
        for i in 0..4_000 {
            a.update(t(i), 50.0 + 10.0 * rng.gauss());
        }
        let bytes = a.to_bytes();
        assert_eq!(bytes.len(), ENCODED_BYTES);
        let mut b = Detector::from_bytes(&bytes).expect("its own bytes");
        for i in 4_000..6_000 {
            let v = 50.0 + 10.0 * rng.gauss() + if i > 5_000 { 40.0 } else { 0.0 };
            assert_eq!(a.update(t(i), v), b.update(t(i), v), "sample {i}");
        }
    }

    #[test]
    fn a_new_detector_round_trips() {
        let d = Detector::new();
        let back = Detector::from_bytes(&d.to_bytes()).expect("round trip");
        assert_eq!(back.seen(), 0);
        assert!(back.to_bytes() == d.to_bytes());
    }

    #[test]
    fn bytes_it_did_not_write_are_refused() {
        let good = Detector::new().to_bytes();
        assert!(Detector::from_bytes(&[]).is_none());
        assert!(Detector::from_bytes(&good[..good.len() - 1]).is_none());
        let mut other_version = good.clone();
        other_version[0] = 99;
        assert!(Detector::from_bytes(&other_version).is_none());
        let mut bad_profiles = good.clone();
        bad_profiles[ENCODED_BYTES - 4 * 192 - 1] = 7;
        assert!(Detector::from_bytes(&bad_profiles).is_none());
        let mut nan_level = good;
        nan_level[1 + 24 + 16..1 + 24 + 24].copy_from_slice(&f64::NAN.to_le_bytes());
        assert!(Detector::from_bytes(&nan_level).is_none());
    }
}
