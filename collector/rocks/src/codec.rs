//! The compressed block of one series over one time window.
//!
//! ```text
//!   u8      layout: 1 timestamps inline, 2 timestamps in a shared column
//!   varint  n, the number of samples (≥ 1), timestamps strictly increasing
//!   zigzag varint  first timestamp (unix ms)      varint  last - first
//!   layout 1: ints   the n timestamps                          (see `ints.rs`)
//!   layout 2: [u8; 16] the column's id: the first 16 bytes of the SHA-256 of the column,
//!             whose bytes are `ints` of the n timestamps, stored once per window for every
//!             series with exactly those timestamps (see `keys.rs`)
//!   u8      value kind
//!             0 decimal: u8 e, then ints of the n mantissas m; value = m / 10^e
//!             1 xor:     Gorilla's XOR stream of the n values to the end (see `gorilla.rs`)
//! ```
//!
//! Host metrics are mostly short decimals (CPU seconds in hundredths, bytes, load with two
//! places), so a block whose every value is exactly `m / 10^e` with |m| < 2^53 stores the
//! integers m; anything else (NaN, ±Inf, -0.0, arbitrary floats) takes the XOR stream.
//! Both ways are bit-exact. Integers go through the best of four transforms (raw, delta,
//! delta of delta, distance from a straight line) and frame-of-reference bit packing in
//! groups of 64, so a 10 s series with millisecond jitter pays about 4 bits per timestamp
//! and a steady counter a few bits per value; a gauge that holds its value at many scrapes
//! (temperatures, CPU frequencies) pays one bit for each unchanged step (the sparse modes
//! of `ints.rs`). Every series of one host is scraped at the same instants, so jittered
//! timestamps are worth sharing: a block whose inline timestamps would take more than
//! [`SHARE_ABOVE`] bytes names a shared column instead.
//!
//! # Why this and not Gorilla or pco
//!
//! Measured with `cargo run --release -p vigil-rocks --example codec_bench -- codec J`
//! on 51.8 M samples (20 hosts × 300 node_exporter-like series × 24 h at 10 s, 2-hour
//! blocks; values from integer ticks as the kernel counts them: CPU seconds in hundredths,
//! bytes from KiB and sectors, counters with resets, wandering gauges, constants; every
//! scrape stamped with 0..=J ms of jitter), on this 2-core machine:
//!
//! ```text
//!   jitter       Gorilla (dod + XOR)      this codec, inline       this codec, shared
//!                bytes/sample  ns/sample  bytes/sample  ns/sample  bytes/sample  ns/sample
//!   none         2.247         12.1       0.818         11.0       0.818         10.5
//!   0..=20 ms    3.220         13.6       1.523         16.4       0.812         17.1
//!   0..=999 ms   3.966         20.6       2.108         13.5       0.814         13.8
//! ```
//! ("ns/sample": decoding every block; "shared" counts each distinct timestamp column
//! once, as the store keeps it.) On disk, through the whole store (RocksDB's own
//! compression on top), 100 hosts × 300 series × 6 h took 0.813 bytes/sample without
//! jitter and 0.811 with 0..=20 ms (`codec_bench -- store 100 6 J`).
//!
//! With the sparse modes (issue 17; same command, load average 5–6 from other builds, so
//! the decode times of every column are higher than above):
//!
//! ```text
//!   none         2.247         11.8       0.686         16.4       0.686         22.5
//!   0..=20 ms    3.220         23.0       1.391         16.0       0.680         22.8
//! ```
//! On `vigil-loadgen`'s fleet (100 hosts × 300 series × 6 h, `tests/bench/storage_peers.sh`'s
//! data), blocks went from 0.97 to 0.76 bytes/sample: 27 % of their bytes were CPU
//! frequencies and temperatures, gauges that move at half the scrapes by up to ±300,000 Hz
//! or ±1 °C, paying 21 and 11 bits for every unchanged step before.
//!
//! Gorilla's XOR stream spends 20–40 bits on every changing value of a counter in
//! hundredths; the decimal mantissas' deltas take a fraction of that. Decoding stays far
//! below the read budget (24 h of one series at 10 s is 8,640 samples: about 0.2–0.4 ms).
//! `pco` was not measured: it is not among the workspace's dependencies, and adding a
//! crate to compare against was ruled out for this change.

pub mod bits;
pub mod gorilla;
pub mod ints;
#[cfg(test)]
mod props;
pub mod reuse;

use bits::{get_varint, put_varint, unzigzag, zigzag};

const INLINE: u8 = 1;
const SHARED: u8 = 2;
/// Timestamps encoded in more bytes than this go to a shared column (a reference costs 16).
pub const SHARE_ABOVE: usize = 32;

/// The id of a shared timestamp column.
pub type ColumnId = [u8; 16];
const DECIMAL: u8 = 0;
const XOR: u8 = 1;
/// Largest decimal exponent tried: 10^15 is exact in f64 and leaves room in 2^53.
const MAX_EXP: usize = 15;
const POW10: [f64; MAX_EXP + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];
const MANTISSA_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53

/// Appends the block of `samples` (sorted by timestamp, no duplicates, at least one), its
/// timestamps inline.
pub fn encode(samples: &[(i64, f64)], out: &mut Vec<u8>) {
    let mut timestamps = Vec::new();
    ints::encode(
        &samples.iter().map(|s| s.0).collect::<Vec<_>>(),
        &mut timestamps,
    );
    write(samples, &timestamps, None, out);
}

/// Like [`encode`], but when the timestamps take more than [`SHARE_ABOVE`] bytes the block
/// names a shared column instead: its bytes are left in `column` and its id returned, and
/// the caller stores the column (under the block's window and that id).
pub fn encode_sharing(
    samples: &[(i64, f64)],
    out: &mut Vec<u8>,
    column: &mut Vec<u8>,
) -> Option<ColumnId> {
    column.clear();
    ints::encode(&samples.iter().map(|s| s.0).collect::<Vec<_>>(), column);
    if column.len() <= SHARE_ABOVE {
        write(samples, column, None, out);
        return None;
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, column);
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest.as_ref()[..16]);
    write(samples, column, Some(&id), out);
    Some(id)
}

fn write(samples: &[(i64, f64)], timestamps: &[u8], shared: Option<&ColumnId>, out: &mut Vec<u8>) {
    let n = samples.len();
    let (first, last) = match (samples.first(), samples.last()) {
        (Some(f), Some(l)) => (f.0, l.0),
        _ => (0, 0),
    };
    out.push(if shared.is_some() { SHARED } else { INLINE });
    put_varint(out, n as u64);
    put_varint(out, zigzag(first));
    put_varint(out, last.wrapping_sub(first) as u64);
    match shared {
        Some(id) => out.extend_from_slice(id),
        None => out.extend_from_slice(timestamps),
    }
    match decimal(samples) {
        Some((e, mantissas)) => {
            out.push(DECIMAL);
            out.push(e as u8);
            ints::encode(&mantissas, out);
        }
        None => {
            out.push(XOR);
            gorilla::encode_values(samples.iter().map(|s| s.1), out);
        }
    }
}

/// The shared timestamp column a block needs: `Some(None)` when its timestamps are
/// inline, `None` when the block is damaged.
pub fn column_of(block: &[u8]) -> Option<Option<ColumnId>> {
    let mut at = 0;
    header(block, &mut at)?;
    if block[0] == INLINE {
        return Some(None);
    }
    block.get(at..at + 16)?.try_into().ok().map(Some)
}

/// Number of samples, first and last timestamp of a block, from its header alone.
pub fn bounds(block: &[u8]) -> Option<(usize, i64, i64)> {
    let mut at = 0;
    header(block, &mut at)
}

/// Appends the samples of `block` with `start <= t <= end` to `out`; `column` is the shared
/// timestamp column the block names (see [`column_of`]). `None` if the block is damaged or
/// the column missing (then `out` may hold part of it).
pub fn decode(
    block: &[u8],
    column: Option<&[u8]>,
    start: i64,
    end: i64,
    out: &mut Vec<(i64, f64)>,
) -> Option<()> {
    let mut at = 0;
    let (n, first, last) = header(block, &mut at)?;
    if last < start || first > end {
        return Some(());
    }
    let base = out.len();
    out.reserve(n);
    if block[0] == SHARED {
        let column = column?;
        at += 16;
        let mut column_at = 0;
        ints::decode(column, &mut column_at, n, |t| out.push((t, 0.0)))?;
        if column_at != column.len() {
            return None;
        }
    } else {
        ints::decode(block, &mut at, n, |t| out.push((t, 0.0)))?;
    }
    let values = &mut out[base..];
    each_value(block, at, n, |i, v| {
        if let Some(s) = values.get_mut(i) {
            s.1 = v;
        }
    })?;
    if start > first || end < last {
        let values = &out[base..];
        let lo = values.partition_point(|s| s.0 < start);
        let hi = values.partition_point(|s| s.0 <= end);
        out.truncate(base + hi);
        out.drain(base..base + lo);
    }
    Some(())
}

/// Calls `emit(i, value)` for each of the `n` values of a block, whose value kind is at
/// `at`; `None` if they are damaged.
fn each_value(block: &[u8], at: usize, n: usize, mut emit: impl FnMut(usize, f64)) -> Option<()> {
    let mut i = 0;
    match *block.get(at)? {
        DECIMAL => {
            let e = usize::from(*block.get(at + 1)?);
            let scale = *POW10.get(e)?;
            let mut at = at + 2;
            ints::decode(block, &mut at, n, |m| {
                emit(i, m as f64 / scale);
                i += 1;
            })
        }
        XOR => gorilla::decode_values(block.get(at + 1..)?, n, |v| {
            emit(i, v);
            i += 1;
        }),
        _ => None,
    }
}

fn header(block: &[u8], at: &mut usize) -> Option<(usize, i64, i64)> {
    if !matches!(block.first()?, &INLINE | &SHARED) {
        return None;
    }
    *at = 1;
    let n = usize::try_from(get_varint(block, at)?).ok()?;
    // A block never holds more samples than it has bytes times eight (one bit each at best)
    // plus a constant run; refuse absurd counts before allocating for them.
    if n == 0 || n > block.len().saturating_mul(64) + 64 {
        return None;
    }
    let first = unzigzag(get_varint(block, at)?);
    let last = first.wrapping_add(get_varint(block, at)? as i64);
    Some((n, first, last))
}

/// The value `m / 10^e` as the decimal kind decodes it; `None` when `e` is out of range.
pub fn from_decimal(m: i64, e: usize) -> Option<f64> {
    Some(m as f64 / *POW10.get(e)?)
}

/// The common decimal exponent and the mantissas, when every value is a short decimal
/// (`samples`' timestamps are not looked at).
pub fn decimal(samples: &[(i64, f64)]) -> Option<(usize, Vec<i64>)> {
    let mut e = 0;
    for &(_, v) in samples {
        e = e.max(exponent(v)?);
    }
    let scale = POW10[e];
    let mut mantissas = Vec::with_capacity(samples.len());
    for &(_, v) in samples {
        let m = (v * scale).round();
        if m.abs() >= MANTISSA_LIMIT || ((m as i64) as f64 / scale).to_bits() != v.to_bits() {
            return None;
        }
        mantissas.push(m as i64);
    }
    Some((e, mantissas))
}

/// The smallest e with `v == m / 10^e` exactly for an integer m below 2^53.
fn exponent(v: f64) -> Option<usize> {
    if !v.is_finite() {
        return None;
    }
    (0..=MAX_EXP).find(|&e| {
        let m = (v * POW10[e]).round();
        m.abs() < MANTISSA_LIMIT && ((m as i64) as f64 / POW10[e]).to_bits() == v.to_bits()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(samples: &[(i64, f64)]) -> usize {
        let mut block = Vec::new();
        encode(samples, &mut block);
        let mut back = Vec::new();
        decode(&block, None, i64::MIN, i64::MAX, &mut back).unwrap();
        let bits = |s: &[(i64, f64)]| s.iter().map(|p| (p.0, p.1.to_bits())).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(samples));
        let mut shared = Vec::new();
        let mut column = Vec::new();
        let id = encode_sharing(samples, &mut shared, &mut column);
        assert_eq!(column_of(&shared), Some(id));
        back.clear();
        decode(
            &shared,
            id.map(|_| column.as_slice()),
            i64::MIN,
            i64::MAX,
            &mut back,
        )
        .unwrap();
        assert_eq!(bits(&back), bits(samples));
        if id.is_some() {
            assert!(decode(&shared, None, i64::MIN, i64::MAX, &mut back).is_none());
            assert!(shared.len() < block.len());
        }
        assert_eq!(
            bounds(&block),
            Some((samples.len(), samples[0].0, samples[samples.len() - 1].0))
        );
        block.len()
    }

    #[test]
    fn blocks_round_trip_bit_exactly() {
        round_trip(&[(5, 1.0)]);
        round_trip(&[
            (-5, -0.0),
            (0, f64::NAN),
            (1, f64::INFINITY),
            (2, 0.1 + 0.2),
        ]);
        round_trip(&[(i64::MIN, 1e300), (i64::MAX, -1e-300)]);
        let cpu: Vec<(i64, f64)> = (0..720)
            .map(|i| {
                (
                    1_700_000_000_000 + i * 10_000 + i % 7,
                    (i * 983) as f64 / 100.0,
                )
            })
            .collect();
        let size = round_trip(&cpu);
        assert!(
            size < 720,
            "a CPU counter in hundredths fits in a byte a sample: {size}"
        );
        let constant: Vec<(i64, f64)> = (0..720).map(|i| (i * 10_000, 8.0e9)).collect();
        assert!(round_trip(&constant) < 64);
    }

    #[test]
    fn ranges_cut_the_block() {
        let samples: Vec<(i64, f64)> = (0..100).map(|i| (i * 10, i as f64)).collect();
        let mut block = Vec::new();
        encode(&samples, &mut block);
        let mut out = vec![(-1, -1.0)];
        decode(&block, None, 15, 40, &mut out).unwrap();
        assert_eq!(out, vec![(-1, -1.0), (20, 2.0), (30, 3.0), (40, 4.0)]);
        out.clear();
        decode(&block, None, 991, 2000, &mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn damaged_blocks_are_refused() {
        let samples: Vec<(i64, f64)> = (0..300).map(|i| (i * 10, i as f64 * 0.5)).collect();
        let mut block = Vec::new();
        encode(&samples, &mut block);
        for cut in 0..block.len() {
            let mut out = Vec::new();
            assert!(
                decode(&block[..cut], None, i64::MIN, i64::MAX, &mut out).is_none(),
                "cut at {cut}"
            );
        }
        assert!(decode(&[3, 1, 0, 0], None, 0, 1, &mut Vec::new()).is_none());
    }
}
