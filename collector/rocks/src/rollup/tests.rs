//! The tiers against raw samples, through compaction, expiry and PromQL; the bucket
//! encoding round trip.

use super::*;
use crate::keys::{CF_ROLLUP, unflip};
use crate::{BlockOptions, RocksOptions, RocksStore};
use rocksdb::IteratorMode;
use std::time::Duration;
use vigil_store::{Labels, SeriesSamples, Store};

const HOUR: i64 = 3_600_000;

fn open(dir: &std::path::Path, block: Duration, retention: [u64; 3]) -> RocksStore {
    let blocks = BlockOptions {
        block_duration: block,
        // Tests compact by hand.
        compaction_interval: Duration::from_secs(86_400),
        retention: Duration::from_secs(retention[0]),
        retention_5m: Duration::from_secs(retention[1]),
        retention_1h: Duration::from_secs(retention[2]),
        ..BlockOptions::default()
    };
    RocksStore::open_with_blocks(dir, RocksOptions::with_sync(false), blocks).unwrap()
}

fn series(store: &RocksStore, name: &str) -> SeriesId {
    let labels = Labels::from_pairs(&[("__name__", name)]);
    store.resolve_series("h", &[labels], 100).unwrap()[0]
}

/// A counter in integer steps with resets every 1,000 samples, jittered 10 s
/// timestamps, and a NaN now and then.
fn counter(from: i64, n: i64) -> Vec<(i64, f64)> {
    (0..n)
        .map(|i| {
            let ts = from + i * 10_000 + (i * 37) % 11;
            let v = if i % 613 == 5 {
                f64::NAN
            } else {
                ((i % 1000) * 7) as f64
            };
            (ts, v)
        })
        .collect()
}

/// The buckets of `samples`, computed the obvious way.
fn expected(samples: &[(i64, f64)], bucket_ms: i64) -> Vec<Bucket> {
    let mut groups: std::collections::BTreeMap<i64, Vec<(i64, f64)>> = Default::default();
    for &s in samples {
        groups.entry(s.0.div_euclid(bucket_ms)).or_default().push(s);
    }
    groups
        .values()
        .map(|g| {
            let values: Vec<f64> = g.iter().map(|s| s.1).collect();
            let numbers: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
            let (last_ts, last) = g[g.len() - 1];
            Bucket {
                last_ts,
                last,
                min: numbers.iter().copied().reduce(f64::min).unwrap_or(f64::NAN),
                max: numbers.iter().copied().reduce(f64::max).unwrap_or(f64::NAN),
                sum: values.iter().sum(),
                count: g.len() as u64,
            }
        })
        .collect()
}

fn same(a: &[Bucket], b: &[Bucket]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.last_ts == y.last_ts
                && x.count == y.count
                && [
                    (x.last, y.last),
                    (x.min, y.min),
                    (x.max, y.max),
                    (x.sum, y.sum),
                ]
                .iter()
                .all(|(p, q)| p.to_bits() == q.to_bits())
        })
}

fn bits(v: &[(i64, f64)]) -> Vec<(i64, u64)> {
    v.iter().map(|&(t, x)| (t, x.to_bits())).collect()
}

#[test]
fn tiers_are_exact_against_raw_samples() {
    // 2 h windows hold whole buckets; 25 min windows split 1 h buckets in parts.
    for block in [Duration::from_secs(7200), Duration::from_secs(1500)] {
        let dir = tempfile::tempdir().unwrap();
        // Tiers are built only when raw samples expire (ten years on).
        let store = open(dir.path(), block, [10 * 365 * 86_400, 0, 0]);
        let id = series(&store, "c");
        let base = 1_700_000_000_000 - 1_700_000_000_000 % (2 * HOUR) + 123_456;
        let raw = counter(base, 9 * HOUR / 10_000);
        // In two calls, the second after a first compaction (so blocks are rewritten).
        let (early, late) = raw.split_at(raw.len() / 3);
        store
            .append(&[SeriesSamples {
                id,
                samples: early.to_vec(),
            }])
            .unwrap();
        store.compact_windows(vigil_store::clock::now_ms()).unwrap();
        store
            .append(&[SeriesSamples {
                id,
                samples: late.to_vec(),
            }])
            .unwrap();
        let report = store.compact_windows(vigil_store::clock::now_ms()).unwrap();
        assert!(report.blocks > 0, "{report:?}");
        let mut stored = Vec::new();
        store.samples(id, i64::MIN, i64::MAX, &mut stored).unwrap();
        assert_eq!(bits(&stored), bits(&raw));
        for (i, tier) in TIERS.iter().enumerate() {
            let want = expected(&raw, tier.bucket_ms);
            assert!(want.iter().any(|b| b.sum.is_nan()));
            assert!(want.iter().any(|b| !b.sum.is_nan() && b.min == 0.0));
            let mut got = Vec::new();
            let cf = store.cf(CF_ROLLUP);
            read(
                &store.db,
                &store.windows,
                cf,
                i,
                id,
                i64::MIN,
                i64::MAX,
                i64::MIN,
                i64::MAX,
                &mut got,
            )
            .unwrap();
            assert!(
                same(&got, &want),
                "tier {} with {block:?} windows",
                tier.name
            );
            // A range picks the buckets whose last sample is in it.
            let (from, to) = (base + 2 * HOUR, base + 5 * HOUR);
            got.clear();
            read(
                &store.db,
                &store.windows,
                cf,
                i,
                id,
                i64::MIN,
                i64::MAX,
                from,
                to,
                &mut got,
            )
            .unwrap();
            let part: Vec<Bucket> = want
                .iter()
                .copied()
                .filter(|b| b.last_ts >= from && b.last_ts <= to)
                .collect();
            assert!(same(&got, &part));
        }
    }
}

#[test]
fn without_a_raw_retention_no_tier_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Duration::from_secs(7200), [0, 0, 0]);
    let id = series(&store, "c");
    let samples = counter(1_700_000_000_000, 2000);
    store.append(&[SeriesSamples { id, samples }]).unwrap();
    let report = store.compact_windows(i64::MAX).unwrap();
    assert!(report.blocks > 0, "{report:?}");
    let cf = store.cf(CF_ROLLUP);
    assert_eq!(store.db.iterator_cf(cf, IteratorMode::Start).count(), 0);
}

#[test]
fn expired_raw_spans_are_read_from_the_finest_tier_kept_then_tiers_expire() {
    let dir = tempfile::tempdir().unwrap();
    let day = 86_400;
    let store = std::sync::Arc::new(open(
        dir.path(),
        Duration::from_secs(7200),
        [day, 2 * day, 3 * day],
    ));
    let id = series(&store, "c");
    let now = vigil_store::clock::now_ms();
    let base = (now - 8 * HOUR).div_euclid(2 * HOUR) * 2 * HOUR;
    let raw = counter(base, 6 * HOUR / 10_000);
    store
        .append(&[SeriesSamples {
            id,
            samples: raw.clone(),
        }])
        .unwrap();
    store.compact_windows(now).unwrap();
    let read_step = |start: i64, end: i64| {
        let mut out = Vec::new();
        store
            .samples_for_step(id, start, end, 60_000, &mut out)
            .unwrap();
        out
    };
    let lasts = |tier: usize| -> Vec<(i64, f64)> {
        expected(&raw, TIERS[tier].bucket_ms)
            .iter()
            .map(|b| (b.last_ts, b.last))
            .collect()
    };
    // Raw kept: exact.
    assert_eq!(bits(&read_step(base, now)), bits(&raw));
    // Raw expired, newer raw samples after it: the 5 m tier, then the raw samples.
    let later = now + day as i64 * 1000 + 8 * HOUR;
    let fresh = vec![(later + 1000, 1.0), (later + 11_000, 2.0)];
    store
        .append(&[SeriesSamples {
            id,
            samples: fresh.clone(),
        }])
        .unwrap();
    store.compact_windows(later).unwrap();
    let mut plain = Vec::new();
    store.samples(id, base, later, &mut plain).unwrap();
    assert!(plain.is_empty(), "raw samples expired");
    let mut want = lasts(0);
    assert_eq!(want.len(), 72);
    assert_eq!(bits(&read_step(base, base + 6 * HOUR)), bits(&want));
    // PromQL reads them too: every hour, the last 5 m bucket within the lookback.
    let engine = vigil_promql::Engine::new(store.clone(), Default::default());
    let (from, to) = (base + HOUR, base + 5 * HOUR);
    let Ok(vigil_promql::Value::Matrix(series)) = engine.range("c", from, to, HOUR) else {
        panic!("a range query answers with a matrix");
    };
    let lookback = vigil_promql::EngineOptions::default().lookback_ms;
    let expect: Vec<(i64, f64)> = (0..=4)
        .filter_map(|k| {
            let t = from + k * HOUR;
            want.iter()
                .rev()
                .find(|s| s.0 <= t && s.0 > t - lookback)
                .map(|s| (t, s.1))
        })
        .collect();
    assert_eq!(expect.len(), 5);
    assert_eq!(series.len(), 1);
    assert_eq!(bits(&series[0].points), bits(&expect));
    want.extend_from_slice(&fresh);
    assert_eq!(bits(&read_step(i64::MIN, i64::MAX)), bits(&want));
    // The 5 m tier expired: the 1 h tier.
    store
        .compact_windows(now + 2 * day as i64 * 1000 + 8 * HOUR)
        .unwrap();
    let want = lasts(1);
    assert_eq!(want.len(), 6);
    assert_eq!(bits(&read_step(base - HOUR, base + 6 * HOUR)), bits(&want));
    // Every tier expired: nothing, and once RocksDB rewrites the files, no keys.
    store
        .compact_windows(now + 3 * day as i64 * 1000 + 8 * HOUR)
        .unwrap();
    assert!(read_step(base, base + 6 * HOUR).is_empty());
    let cf = store.cf(CF_ROLLUP);
    store.db.compact_range_cf(cf, None::<&[u8]>, None::<&[u8]>);
    let left: Vec<i64> = store
        .db
        .iterator_cf(cf, IteratorMode::Start)
        .map(|item| unflip(&item.unwrap().0[9..17]).unwrap())
        .collect();
    assert!(left.iter().all(|&w| w > base / (2 * HOUR)), "{left:?}");
}

#[test]
fn buckets_round_trip_bit_exact() {
    let arbitrary: Vec<(i64, f64)> = (0..2000)
        .map(|i| {
            (
                i * 10_007,
                if i % 97 == 0 {
                    f64::NAN
                } else {
                    i as f64 * 0.3
                },
            )
        })
        .collect();
    // Short decimals of mixed exponents (min/max/sum differ from last's), large ones.
    let decimals: Vec<(i64, f64)> = (0..2000)
        .map(|i| {
            (
                i * 9_973,
                ((i * 7919) % 1000) as f64 / 1000.0 + (i / 500) as f64,
            )
        })
        .collect();
    let large: Vec<(i64, f64)> = (0..2000)
        .map(|i| (i * 10_000, 4.5e14 + (i % 13) as f64 * 0.5))
        .collect();
    for (samples, tier) in [&arbitrary, &decimals, &large]
        .into_iter()
        .flat_map(|s| TIERS.iter().map(move |t| (s, *t)))
    {
        let buckets = aggregate(samples, tier.bucket_ms);
        let mut bytes = Vec::new();
        encode(&buckets, &mut bytes);
        let back = decode(&bytes).unwrap();
        assert_eq!(back.len(), buckets.len());
        for (a, b) in back.iter().zip(&buckets) {
            assert_eq!(a.last_ts, b.last_ts);
            assert_eq!(a.count, b.count);
            for (x, y) in [
                (a.last, b.last),
                (a.min, b.min),
                (a.max, b.max),
                (a.sum, b.sum),
            ] {
                assert_eq!(x.to_bits(), y.to_bits());
            }
        }
        assert!(decode(&bytes[..bytes.len() - 1]).is_none());
    }
}
