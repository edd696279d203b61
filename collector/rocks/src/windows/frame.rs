//! Frames: the values of the `recent` family. One append writes one frame per window and
//! group of [`GROUP_SIZE`] consecutive series ids, holding what the append brought for
//! every series of the group. A host's series are created together and get consecutive
//! ids, so a live batch of 300 series is five or six keys rather than 300, and a sample
//! costs about 11 bytes before RocksDB compresses it rather than 40 (a 24-byte key and a
//! 16-byte value each): fewer and smaller keys for RocksDB to write, flush and merge.
//!
//! ```text
//!   frame  = entry*
//!   entry  = varint(id - group's first id) varint(n) n × sample
//!   sample = zigzag varint(ts - previous ts) f64 bits (8 bytes, little-endian)
//! ```
//!
//! "previous ts" starts at 0 in each frame and runs on across its entries, so the samples
//! of one scrape, which share a timestamp, cost one byte of time each.

use crate::corrupt;
use vigil_store::{SeriesId, StoreResult};

/// Bits of a series id that tell series apart within a group.
const GROUP_BITS: u32 = 6;
/// Series ids per group (and so at most the entries of one frame).
pub(crate) const GROUP_SIZE: u64 = 1 << GROUP_BITS;

/// The group of series `id`.
pub(crate) fn group(id: SeriesId) -> u64 {
    id >> GROUP_BITS
}

/// The group of series `id` and its offset there.
pub(crate) fn place(id: SeriesId) -> (u64, u64) {
    (group(id), id & (GROUP_SIZE - 1))
}

/// The first series id of group `g`.
pub(crate) fn first_id(g: u64) -> SeriesId {
    g << GROUP_BITS
}

/// Builds the frames of one write: each entry appended in order.
#[derive(Default)]
pub(crate) struct FrameBuf {
    pub bytes: Vec<u8>,
    previous: i64,
}

impl FrameBuf {
    /// Appends the samples of series `id` (in the frame's group) as one entry.
    pub fn push(&mut self, id: SeriesId, samples: &[(i64, f64)]) {
        let out = &mut self.bytes;
        out.reserve(2 + samples.len() * 10);
        prost::encoding::encode_varint(id & (GROUP_SIZE - 1), out);
        prost::encoding::encode_varint(samples.len() as u64, out);
        for &(ts, value) in samples {
            let delta = ts.wrapping_sub(self.previous);
            prost::encoding::encode_varint(((delta << 1) ^ (delta >> 63)) as u64, out);
            out.extend_from_slice(&value.to_bits().to_le_bytes());
            self.previous = ts;
        }
    }
}

/// Calls `each(offset, ts, value)` for every sample of `frame` in the order written, with
/// `offset` the series' place in its group (below [`GROUP_SIZE`]).
pub(crate) fn for_each(mut frame: &[u8], mut each: impl FnMut(u64, i64, f64)) -> StoreResult<()> {
    let damaged = || corrupt("frame of recent samples");
    let mut previous = 0i64;
    while !frame.is_empty() {
        let offset = prost::encoding::decode_varint(&mut frame).map_err(|_| damaged())?;
        let n = prost::encoding::decode_varint(&mut frame).map_err(|_| damaged())?;
        if offset >= GROUP_SIZE {
            return Err(damaged());
        }
        for _ in 0..n {
            let zigzag = prost::encoding::decode_varint(&mut frame).map_err(|_| damaged())?;
            let delta = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
            let (bits, rest) = frame.split_first_chunk::<8>().ok_or_else(damaged)?;
            frame = rest;
            previous = previous.wrapping_add(delta);
            each(offset, previous, f64::from_bits(u64::from_le_bytes(*bits)));
        }
    }
    Ok(())
}

/// Appends the samples of the series at `offset` in `frame` with `start <= t <= end` to
/// `out`, in the order written.
pub(crate) fn get(
    frame: &[u8],
    offset: u64,
    start: i64,
    end: i64,
    out: &mut Vec<(i64, f64)>,
) -> StoreResult<()> {
    for_each(frame, |o, ts, value| {
        if o == offset && ts >= start && ts <= end {
            out.push((ts, value));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(frame: &[u8]) -> Vec<(u64, i64, u64)> {
        let mut out = Vec::new();
        for_each(frame, |o, t, v| out.push((o, t, v.to_bits()))).unwrap();
        out
    }

    #[test]
    fn entries_round_trip_with_extreme_times_and_values() {
        let mut frame = FrameBuf::default();
        let nan = f64::from_bits(0x7ff8_0000_0000_0001);
        frame.push(64 * 7 + 3, &[(i64::MIN, 1.5), (i64::MAX, nan), (-5, -0.0)]);
        frame.push(64 * 7, &[]);
        frame.push(64 * 7 + 63, &[(1_700_000_000_000, f64::INFINITY)]);
        frame.push(64 * 7 + 3, &[(1_700_000_000_000, 2.0)]);
        assert_eq!(
            decode(&frame.bytes),
            vec![
                (3, i64::MIN, 1.5f64.to_bits()),
                (3, i64::MAX, nan.to_bits()),
                (3, -5, (-0.0f64).to_bits()),
                (63, 1_700_000_000_000, f64::INFINITY.to_bits()),
                (3, 1_700_000_000_000, 2.0f64.to_bits()),
            ]
        );
        let mut got = Vec::new();
        get(&frame.bytes, 3, -10, i64::MAX - 1, &mut got).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, -5);
        assert_eq!(got[1], (1_700_000_000_000, 2.0));
    }

    #[test]
    fn a_scrape_costs_about_eleven_bytes_a_sample() {
        let mut frame = FrameBuf::default();
        for id in 0..64 {
            frame.push(id, &[(1_700_000_000_000, id as f64)]);
        }
        // The first timestamp is a full varint; the rest are one byte each.
        assert!(frame.bytes.len() <= 64 * 11 + 6, "{}", frame.bytes.len());
    }

    #[test]
    fn damaged_frames_are_errors_not_panics() {
        let mut frame = FrameBuf::default();
        frame.push(5, &[(1, 1.0), (2, 2.0)]);
        let good = frame.bytes.clone();
        for cut in 1..good.len() {
            assert!(
                for_each(&good[..cut], |_, _, _| {}).is_err(),
                "cut at {cut}"
            );
        }
        // An offset outside the group, and a count far beyond the bytes there.
        assert!(for_each(&[64, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0], |_, _, _| {}).is_err());
        assert!(for_each(&[1, 0xff, 0xff, 0xff, 0xff, 0x0f], |_, _, _| {}).is_err());
        assert!(for_each(&[0xff; 11], |_, _, _| {}).is_err());
    }

    #[test]
    fn groups_cover_consecutive_ids() {
        assert_eq!(group(0), 0);
        assert_eq!(group(63), 0);
        assert_eq!(group(64), 1);
        assert_eq!(first_id(group(1000)), 960);
        assert_eq!(group(u64::MAX), u64::MAX >> 6);
    }
}
