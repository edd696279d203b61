//! Arbitrary samples through vigil-rocks' encoders and back, bit for bit: sample blocks
//! (timestamps inline and in a shared column, whole and cut to a range), integer
//! sequences, Gorilla's XOR and delta-of-delta streams, and the downsampled buckets.
//!
//! Input: structured (`arbitrary`): samples as timestamps and raw f64 bits (so NaN
//! payloads, -0.0 and infinities come up), a range, integers, a bucket length.

#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use vigil_rocks::codec::{self, gorilla, ints};
use vigil_rocks::{Bucket, aggregate, buckets};

#[derive(Debug, Arbitrary)]
struct Input {
    /// (timestamp, f64 bits, whether to use a short decimal instead of the bits).
    samples: Vec<(i64, u64, bool)>,
    /// A range to cut the block to.
    start: i64,
    end: i64,
    ints: Vec<i64>,
    bucket_ms: u32,
}

fuzz_target!(|input: Input| vigil_fuzz::run(|| round_trip(input)));

fn bits(samples: &[(i64, f64)]) -> Vec<(i64, u64)> {
    samples.iter().map(|&(t, v)| (t, v.to_bits())).collect()
}

fn round_trip(input: Input) {
    let mut samples: Vec<(i64, f64)> = input
        .samples
        .iter()
        .map(|&(t, b, decimal)| {
            let v = if decimal {
                (b as i64 % 1_000_000) as f64 / 100.0
            } else {
                f64::from_bits(b)
            };
            (t, v)
        })
        .collect();
    samples.sort_by_key(|s| s.0);
    samples.dedup_by_key(|s| s.0);

    let mut decoded = Vec::new();
    let mut at = 0;
    let mut out = Vec::new();
    ints::encode(&input.ints, &mut out);
    ints::decode(&out, &mut at, input.ints.len(), |x| decoded.push(x)).expect("ints decode");
    assert_eq!(decoded, input.ints);
    assert_eq!(at, out.len(), "ints end where they were written");

    let values: Vec<f64> = samples.iter().map(|s| s.1).collect();
    out.clear();
    gorilla::encode_values(values.iter().copied(), &mut out);
    let mut back = Vec::new();
    gorilla::decode_values(&out, values.len(), |v| back.push(v.to_bits())).expect("xor decode");
    assert_eq!(back, values.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    out.clear();
    gorilla::encode_timestamps(&input.ints, &mut out);
    decoded.clear();
    gorilla::decode_timestamps(&out, input.ints.len(), |t| decoded.push(t)).expect("dod decode");
    assert_eq!(decoded, input.ints);

    if samples.is_empty() {
        return;
    }
    let n = samples.len();
    let (first, last) = (samples[0].0, samples[n - 1].0);
    let mut block = Vec::new();
    codec::encode(&samples, &mut block);
    assert_eq!(codec::bounds(&block), Some((n, first, last)));
    assert_eq!(codec::column_of(&block), Some(None));
    let mut back = Vec::new();
    codec::decode(&block, None, i64::MIN, i64::MAX, &mut back).expect("block decodes");
    assert_eq!(bits(&back), bits(&samples));

    let mut shared = Vec::new();
    let mut column = Vec::new();
    let id = codec::encode_sharing(&samples, &mut shared, &mut column);
    assert_eq!(codec::column_of(&shared), Some(id));
    back.clear();
    codec::decode(
        &shared,
        id.map(|_| column.as_slice()),
        i64::MIN,
        i64::MAX,
        &mut back,
    )
    .expect("shared block decodes");
    assert_eq!(bits(&back), bits(&samples));

    let (start, end) = (input.start.min(input.end), input.start.max(input.end));
    back.clear();
    codec::decode(&block, None, start, end, &mut back).expect("block decodes in a range");
    let kept: Vec<(i64, f64)> = samples
        .iter()
        .copied()
        .filter(|s| s.0 >= start && s.0 <= end)
        .collect();
    assert_eq!(bits(&back), bits(&kept));

    let bucket_ms = i64::from(input.bucket_ms.max(1));
    let buckets_in = aggregate(&samples, bucket_ms);
    assert_eq!(
        buckets_in.iter().map(|b| b.count).sum::<u64>(),
        n as u64,
        "every sample is in one bucket"
    );
    out.clear();
    buckets::encode(&buckets_in, &mut out);
    let back = buckets::decode(&out).expect("buckets decode");
    let same = |a: &Bucket, b: &Bucket| {
        a.last_ts == b.last_ts
            && a.count == b.count
            && [a.last, a.min, a.max, a.sum].map(f64::to_bits)
                == [b.last, b.min, b.max, b.sum].map(f64::to_bits)
    };
    assert_eq!(back.len(), buckets_in.len());
    for (a, b) in buckets_in.iter().zip(&back) {
        assert!(same(a, b), "{a:?} came back as {b:?}");
    }
    if let Some(dir) = std::env::var_os("VIGIL_FUZZ_WRITE_SEEDS") {
        write_seeds(
            dir.as_ref(),
            &block,
            &shared,
            id.map(|_| column.as_slice()),
            &out,
        );
    }
}

/// Writes what this input encoded as seeds of the `block_decode` target (its modes 0 and
/// 1), so that target starts from real blocks: `run.sh` does this with the seed corpus.
fn write_seeds(
    dir: &std::path::Path,
    block: &[u8],
    shared: &[u8],
    column: Option<&[u8]>,
    buckets: &[u8],
) {
    let mut seeds = vec![
        [&[0u8, 0, 0][..], block].concat(),
        [&[1u8, 0, 0][..], buckets].concat(),
    ];
    if let Some(column) = column.filter(|c| !c.is_empty() && c.len() < 256) {
        seeds.push([&[0u8, column.len() as u8, 0][..], column, shared].concat());
    }
    for seed in seeds {
        use std::hash::{Hash, Hasher};
        let mut hash = std::collections::hash_map::DefaultHasher::new();
        seed.hash(&mut hash);
        let _ = std::fs::write(dir.join(format!("encoded-{:016x}", hash.finish())), seed);
    }
}
