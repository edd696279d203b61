//! Properties of the block formats over generated inputs (proptest): every encoding comes
//! back bit for bit, and no bytes whatever make a decoder panic. The `block_round_trip`
//! and `block_decode` fuzz targets (tests/fuzz) search the same ground for longer.

use super::{bounds, column_of, decode, encode, encode_sharing, gorilla, ints};
use crate::{Bucket, aggregate, buckets};
use proptest::prelude::*;

/// Values as they come: any bit pattern (NaN payloads, subnormals), the special ones, and
/// short decimals (the decimal kind of block).
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        prop::sample::select(vec![
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::from_bits(0x7ff0_0000_0000_0001),
            f64::from_bits(0xfff8_dead_beef_0000),
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            5e-324,
        ]),
        (any::<i32>(), 0..16u32).prop_map(|(m, e)| f64::from(m) / 10f64.powi(e as i32)),
    ]
}

/// Timestamps anywhere in i64, or steady scrapes with jitter (timestamps worth sharing).
fn timestamps() -> impl Strategy<Value = Vec<i64>> {
    prop_oneof![
        prop::collection::vec(any::<i64>(), 1..80),
        (any::<i64>(), 1..100_000i64, 1..300usize, 0..50i64).prop_map(
            |(first, step, n, jitter)| {
                (0..n as i64)
                    .map(|i| {
                        first
                            .wrapping_add(i.wrapping_mul(step))
                            .wrapping_add((i * 37) % (jitter + 1))
                    })
                    .collect()
            }
        ),
    ]
}

/// Sorted samples with distinct timestamps, at least one.
fn samples() -> impl Strategy<Value = Vec<(i64, f64)>> {
    timestamps()
        .prop_flat_map(|ts| {
            let n = ts.len();
            (Just(ts), prop::collection::vec(value(), n))
        })
        .prop_map(|(ts, values)| {
            let mut samples: Vec<(i64, f64)> = ts.into_iter().zip(values).collect();
            samples.sort_by_key(|s| s.0);
            samples.dedup_by_key(|s| s.0);
            samples
        })
}

fn bits(samples: &[(i64, f64)]) -> Vec<(i64, u64)> {
    samples.iter().map(|&(t, v)| (t, v.to_bits())).collect()
}

fn same_bucket(a: &Bucket, b: &Bucket) -> bool {
    a.last_ts == b.last_ts
        && a.count == b.count
        && [a.last, a.min, a.max, a.sum].map(f64::to_bits)
            == [b.last, b.min, b.max, b.sum].map(f64::to_bits)
}

proptest! {
    #[test]
    fn blocks_round_trip_bit_exactly(samples in samples(), a in any::<i64>(), b in any::<i64>()) {
        let n = samples.len();
        let mut block = Vec::new();
        encode(&samples, &mut block);
        prop_assert_eq!(bounds(&block), Some((n, samples[0].0, samples[n - 1].0)));
        prop_assert_eq!(column_of(&block), Some(None));
        let mut back = Vec::new();
        prop_assert!(decode(&block, None, i64::MIN, i64::MAX, &mut back).is_some());
        prop_assert_eq!(bits(&back), bits(&samples));

        let (mut shared, mut column) = (Vec::new(), Vec::new());
        let id = encode_sharing(&samples, &mut shared, &mut column);
        prop_assert_eq!(column_of(&shared), Some(id));
        back.clear();
        let column = id.map(|_| column.as_slice());
        prop_assert!(decode(&shared, column, i64::MIN, i64::MAX, &mut back).is_some());
        prop_assert_eq!(bits(&back), bits(&samples));

        let (start, end) = (a.min(b), a.max(b));
        back.clear();
        prop_assert!(decode(&block, None, start, end, &mut back).is_some());
        let kept: Vec<(i64, f64)> =
            samples.iter().copied().filter(|s| s.0 >= start && s.0 <= end).collect();
        prop_assert_eq!(bits(&back), bits(&kept));
    }

    #[test]
    fn integer_and_xor_streams_round_trip(xs in prop::collection::vec(any::<i64>(), 0..200),
                                          values in prop::collection::vec(value(), 0..100)) {
        let mut out = Vec::new();
        ints::encode(&xs, &mut out);
        let (mut back, mut at) = (Vec::new(), 0);
        prop_assert!(ints::decode(&out, &mut at, xs.len(), |x| back.push(x)).is_some());
        prop_assert_eq!(&back, &xs);
        prop_assert_eq!(at, out.len());

        out.clear();
        gorilla::encode_timestamps(&xs, &mut out);
        back.clear();
        prop_assert!(gorilla::decode_timestamps(&out, xs.len(), |t| back.push(t)).is_some());
        prop_assert_eq!(&back, &xs);

        out.clear();
        gorilla::encode_values(values.iter().copied(), &mut out);
        let mut got = Vec::new();
        prop_assert!(gorilla::decode_values(&out, values.len(), |v| got.push(v.to_bits())).is_some());
        prop_assert_eq!(got, values.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    }

    /// Walks that often hold still (the sparse modes), with steps of any size.
    #[test]
    fn integer_walks_that_hold_still_round_trip(
        start in any::<i64>(),
        steps in prop::collection::vec(prop_oneof![
            3 => Just(0i64),
            1 => -4..4i64,
            1 => (-1000..1000i64).prop_map(|q| q * 4096),
            1 => any::<i64>(),
        ], 0..300)) {
        let xs: Vec<i64> = steps
            .iter()
            .scan(start, |x, &d| { *x = x.wrapping_add(d); Some(*x) })
            .collect();
        let mut out = Vec::new();
        ints::encode(&xs, &mut out);
        let (mut back, mut at) = (Vec::new(), 0);
        prop_assert!(ints::decode(&out, &mut at, xs.len(), |x| back.push(x)).is_some());
        prop_assert_eq!(&back, &xs);
        prop_assert_eq!(at, out.len());
    }

    #[test]
    fn buckets_round_trip_bit_exactly(samples in samples(), bucket_ms in 1..10_000_000i64) {
        let made = aggregate(&samples, bucket_ms);
        prop_assert_eq!(made.iter().map(|b| b.count).sum::<u64>(), samples.len() as u64);
        let mut out = Vec::new();
        buckets::encode(&made, &mut out);
        let back = buckets::decode(&out);
        prop_assert!(back.is_some());
        let back = back.unwrap_or_default();
        prop_assert_eq!(back.len(), made.len());
        for (a, b) in made.iter().zip(&back) {
            prop_assert!(same_bucket(a, b), "{:?} came back as {:?}", a, b);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600),
                                   split in any::<usize>(), n in 0..5_000usize) {
        let split = split % (bytes.len() + 1);
        let (column, block) = bytes.split_at(split);
        let mut out = Vec::new();
        if decode(block, Some(column), i64::MIN, i64::MAX, &mut out).is_some() {
            prop_assert!(bounds(block).is_some_and(|(n, _, _)| out.len() <= n));
        }
        let _ = decode(block, None, -5, 5, &mut out);
        let _ = (bounds(&bytes), column_of(&bytes), buckets::decode(&bytes));
        let _ = ints::decode(&bytes, &mut 0, n, |_| ());
        let _ = gorilla::decode_values(&bytes, n, |_| ());
        let _ = gorilla::decode_timestamps(&bytes, n, |_| ());
    }

    #[test]
    fn damaged_blocks_never_panic(samples in samples(), edits in prop::collection::vec((any::<usize>(), 1..=255u8), 1..6)) {
        let mut block = Vec::new();
        encode(&samples, &mut block);
        let mut buckets_bytes = Vec::new();
        buckets::encode(&aggregate(&samples, 60_000), &mut buckets_bytes);
        for (at, xor) in edits {
            let i = at % block.len();
            block[i] ^= xor;
            let j = at % buckets_bytes.len();
            buckets_bytes[j] ^= xor;
        }
        let mut out = Vec::new();
        let _ = decode(&block, None, i64::MIN, i64::MAX, &mut out);
        let _ = buckets::decode(&buckets_bytes);
    }
}
