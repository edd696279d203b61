//! vigil-rocks' decoders on arbitrary bytes: sample blocks (`codec::decode`, `bounds`,
//! `column_of`), their integer and XOR streams (`codec::ints`, `codec::gorilla`), and the
//! downsampled buckets (`buckets::decode`); and valid blocks with bytes changed.
//!
//! Input: one byte choosing the decoder, two bytes of parameters, then the bytes. Checked
//! beyond "no panic" and bounded memory: a decoded block never holds more samples than its
//! header says, and only samples in the range asked for.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_rocks::buckets;
use vigil_rocks::codec::{self, gorilla, ints};

fuzz_target!(|data: &[u8]| vigil_fuzz::run(|| decode(data)));

fn decode(data: &[u8]) {
    let [mode, a, b, rest @ ..] = data else {
        return;
    };
    let n = usize::from(*a) << 8 | usize::from(*b);
    match mode % 5 {
        0 => block(rest, *a, *b),
        1 => {
            if let Some(buckets) = buckets::decode(rest) {
                assert!(!buckets.is_empty());
            }
        }
        2 => {
            let mut count = 0;
            let mut at = 0;
            if ints::decode(rest, &mut at, n, |_| count += 1).is_some() {
                assert_eq!(count, n);
                assert!(at <= rest.len());
            }
        }
        3 => {
            let mut count = 0;
            if gorilla::decode_values(rest, n, |_| count += 1).is_some() {
                assert_eq!(count, n);
            }
            count = 0;
            if gorilla::decode_timestamps(rest, n, |_| count += 1).is_some() {
                assert_eq!(count, n);
            }
        }
        _ => corrupted(rest, *a, *b),
    }
}

/// A block from raw bytes; `a` splits off a shared timestamp column, `b` picks a range.
fn block(bytes: &[u8], a: u8, b: u8) {
    let split = usize::from(a).min(bytes.len());
    let (column, block) = bytes.split_at(split);
    let column = (a != 0).then_some(column);
    let _ = codec::column_of(block);
    let Some((n, first, last)) = codec::bounds(block) else {
        let mut out = Vec::new();
        assert!(codec::decode(block, column, i64::MIN, i64::MAX, &mut out).is_none());
        return;
    };
    let (start, end) = match b % 3 {
        0 => (i64::MIN, i64::MAX),
        1 => (first, last),
        _ => (
            first.wrapping_add(i64::from(b)),
            last.wrapping_sub(i64::from(a)),
        ),
    };
    let mut out = vec![(i64::MIN, 0.0)];
    if codec::decode(block, column, start, end, &mut out).is_some() {
        assert_eq!(out[0].0, i64::MIN, "what was in `out` stays");
        assert!(
            out.len() - 1 <= n,
            "{} samples from a block of {n}",
            out.len() - 1
        );
    }
}

/// A valid block of samples from `bytes`, then changed: each pair of the last `a % 8`
/// pairs of bytes XORs a byte of the block; decoded with and without its column.
fn corrupted(bytes: &[u8], a: u8, b: u8) {
    let edits = usize::from(a % 8).min(bytes.len() / 2);
    let (samples, changes) = bytes.split_at(bytes.len() - 2 * edits);
    let mut samples: Vec<(i64, f64)> = samples
        .chunks_exact(9)
        .map(|c| {
            let ts = i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]]));
            let bits = u64::from_le_bytes([c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]]);
            (
                ts,
                if c[0] & 1 == 0 {
                    f64::from_bits(bits)
                } else {
                    (bits % 1000) as f64 / 100.0
                },
            )
        })
        .collect();
    samples.sort_by_key(|s| s.0);
    samples.dedup_by_key(|s| s.0);
    if samples.is_empty() {
        return;
    }
    let mut block = Vec::new();
    let mut column = Vec::new();
    let shared = if b & 1 == 0 {
        codec::encode(&samples, &mut block);
        None
    } else {
        codec::encode_sharing(&samples, &mut block, &mut column)
    };
    for pair in changes.chunks_exact(2) {
        let at = usize::from(pair[0]) % block.len();
        block[at] ^= pair[1].max(1);
    }
    let mut out = Vec::new();
    let _ = codec::decode(
        &block,
        shared.map(|_| column.as_slice()),
        i64::MIN,
        i64::MAX,
        &mut out,
    );
    out.clear();
    let _ = codec::decode(&block, None, i64::MIN, i64::MAX, &mut out);
    let _ = codec::bounds(&block);
    let _ = codec::column_of(&block);
}
