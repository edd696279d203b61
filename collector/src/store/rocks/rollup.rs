//! Downsampled tiers: per-series aggregates over 5-minute and 1-hour buckets, written by the
//! compactor next to each block and read where raw samples have passed retention (layout in
//! `rocks.rs`).
//!
//! A bucket keeps the min, max, sum and count of its samples and its last sample (value
//! and timestamp). `min` and `max` skip NaN (NaN when every sample is NaN); `sum` is the
//! plain sum in time order, so one NaN makes it NaN; `count` counts every sample. A bucket
//! is stored per block window: when a window's length is not a multiple of the bucket
//! length, a bucket crossing a window boundary is kept as two parts, which a read combines.

use super::codec;
use super::codec::bits::{get_varint, put_varint};
use super::windows::{after, flip, unflip};
use super::{corrupt, engine};
use crate::store::{SeriesId, StoreResult};
use rocksdb::{ColumnFamily, DB, WriteBatch};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// One downsampled tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    /// The first byte of its keys.
    pub tag: u8,
    /// Bucket length in milliseconds.
    pub bucket_ms: i64,
    /// Its name in logs and configuration (`retention_5m`).
    pub name: &'static str,
}

/// The tiers, finest first.
pub const TIERS: [Tier; 2] = [
    Tier {
        tag: 1,
        bucket_ms: 5 * 60 * 1000,
        name: "5m",
    },
    Tier {
        tag: 2,
        bucket_ms: 3600 * 1000,
        name: "1h",
    },
];

/// The aggregates of one bucket (or of a part of one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Timestamp of the bucket's last sample.
    pub last_ts: i64,
    /// Value of the bucket's last sample.
    pub last: f64,
    /// Smallest value, NaN skipped.
    pub min: f64,
    /// Largest value, NaN skipped.
    pub max: f64,
    /// Sum of the values in time order.
    pub sum: f64,
    /// Number of samples.
    pub count: u64,
}

impl Bucket {
    fn of(ts: i64, v: f64) -> Self {
        Self {
            last_ts: ts,
            last: v,
            min: v,
            max: v,
            sum: v,
            count: 1,
        }
    }

    /// Adds a later part (or sample) of the same bucket.
    fn absorb(&mut self, later: &Bucket) {
        self.last_ts = later.last_ts;
        self.last = later.last;
        self.min = self.min.min(later.min);
        self.max = self.max.max(later.max);
        self.sum += later.sum;
        self.count += later.count;
    }
}

/// The buckets of `samples` (oldest first, distinct timestamps) for buckets of `bucket_ms`.
pub fn aggregate(samples: &[(i64, f64)], bucket_ms: i64) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = Vec::new();
    for &(ts, v) in samples {
        let sample = Bucket::of(ts, v);
        match out.last_mut() {
            Some(b) if b.last_ts.div_euclid(bucket_ms) == ts.div_euclid(bucket_ms) => {
                b.absorb(&sample)
            }
            _ => out.push(sample),
        }
    }
    out
}

/// Appends the encoding of `buckets` (at least one): five codec blocks, each after its
/// varint length: last (timestamped with the buckets' last sample times), then min, max,
/// sum and count, timestamped 0, 1, 2, … (which costs a few bytes).
pub fn encode(buckets: &[Bucket], out: &mut Vec<u8>) {
    let mut block = Vec::new();
    let mut put = |column: &[(i64, f64)], out: &mut Vec<u8>| {
        block.clear();
        codec::encode(column, &mut block);
        put_varint(out, block.len() as u64);
        out.extend_from_slice(&block);
    };
    let timed: Vec<(i64, f64)> = buckets.iter().map(|b| (b.last_ts, b.last)).collect();
    put(&timed, out);
    let fields: [fn(&Bucket) -> f64; 4] = [|b| b.min, |b| b.max, |b| b.sum, |b| b.count as f64];
    for field in fields {
        let column: Vec<(i64, f64)> = buckets
            .iter()
            .enumerate()
            .map(|(i, b)| (i as i64, field(b)))
            .collect();
        put(&column, out);
    }
}

/// Decodes what [`encode`] wrote; `None` if damaged.
pub fn decode(mut bytes: &[u8]) -> Option<Vec<Bucket>> {
    let mut columns: Vec<Vec<(i64, f64)>> = Vec::with_capacity(5);
    for _ in 0..5 {
        let mut at = 0;
        let len = usize::try_from(get_varint(bytes, &mut at)?).ok()?;
        let block = bytes.get(at..at.checked_add(len)?)?;
        let mut column = Vec::new();
        codec::decode(block, None, i64::MIN, i64::MAX, &mut column)?;
        columns.push(column);
        bytes = &bytes[at + len..];
    }
    let n = columns[0].len();
    if !bytes.is_empty() || columns.iter().any(|c| c.len() != n) {
        return None;
    }
    Some(
        (0..n)
            .map(|i| Bucket {
                last_ts: columns[0][i].0,
                last: columns[0][i].1,
                min: columns[1][i].1,
                max: columns[2][i].1,
                sum: columns[3][i].1,
                count: columns[4][i].1 as u64,
            })
            .collect(),
    )
}

/// Key of a series' buckets of one tier in one block window: tier tag, series, window.
pub fn rollup_key(tag: u8, id: SeriesId, window: i64) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[0] = tag;
    key[1..9].copy_from_slice(&id.to_be_bytes());
    key[9..].copy_from_slice(&flip(window));
    key
}

/// Retention of the tiers: per tier (as in [`TIERS`]) how long it is kept and the first
/// block window it still keeps (shared with the rollup family's compaction filter).
#[derive(Debug)]
pub struct TierRetention {
    /// Whether tiers are built at all: only when raw samples expire, since reads use a
    /// tier only where raw samples are gone.
    build: bool,
    retention_ms: [i64; 2],
    first_kept: [Arc<AtomicI64>; 2],
}

impl TierRetention {
    /// Tiers kept `retention_ms` each (0: forever), nothing expired yet; built only when
    /// `build` (raw samples have a retention).
    pub fn new(build: bool, retention_ms: [i64; 2]) -> Self {
        Self {
            build,
            retention_ms,
            first_kept: [
                Arc::new(AtomicI64::new(i64::MIN)),
                Arc::new(AtomicI64::new(i64::MIN)),
            ],
        }
    }

    /// The cutoffs, for the compaction filter.
    pub fn cutoffs(&self) -> [Arc<AtomicI64>; 2] {
        self.first_kept.clone()
    }

    /// Moves every tier's cutoff to `now_ms` (windows of `block_ms`).
    pub fn advance(&self, now_ms: i64, block_ms: i64) {
        for (retention, kept) in self.retention_ms.iter().zip(&self.first_kept) {
            if *retention > 0 {
                let w = now_ms.saturating_sub(*retention).div_euclid(block_ms);
                kept.fetch_max(w, Ordering::AcqRel);
            }
        }
    }

    /// The first block window tier `i` keeps.
    pub fn first_kept(&self, i: usize) -> i64 {
        self.first_kept[i].load(Ordering::Acquire)
    }
}

/// Whether a rollup key is past its tier's retention: the compaction filter's test.
pub fn rollup_expired(key: &[u8], cutoffs: &[Arc<AtomicI64>; 2]) -> bool {
    let Some(i) = key
        .first()
        .and_then(|tag| TIERS.iter().position(|t| t.tag == *tag))
    else {
        return false;
    };
    key.get(9..17)
        .and_then(unflip)
        .is_some_and(|w| w < cutoffs[i].load(Ordering::Relaxed))
}

/// Adds to `batch` the buckets of every tier still kept for window `w` of series `id`,
/// whose samples (all of them, oldest first) are `samples`.
pub fn put(
    batch: &mut WriteBatch,
    cf: &ColumnFamily,
    tiers: &TierRetention,
    id: SeriesId,
    w: i64,
    samples: &[(i64, f64)],
    scratch: &mut Vec<u8>,
) {
    if samples.is_empty() || !tiers.build {
        return;
    }
    for (i, tier) in TIERS.iter().enumerate() {
        if w < tiers.first_kept(i) {
            continue;
        }
        scratch.clear();
        encode(&aggregate(samples, tier.bucket_ms), scratch);
        batch.put_cf(cf, rollup_key(tier.tag, id, w), &*scratch);
    }
}

/// Appends to `out` the buckets of tier `i` for series `id` whose last sample is in
/// `[start, end]`, from block windows `w0..=w1`, oldest first; parts of one bucket in
/// neighbouring windows are combined.
#[allow(clippy::too_many_arguments)]
pub fn read(
    db: &DB,
    cf: &ColumnFamily,
    i: usize,
    id: SeriesId,
    w0: i64,
    w1: i64,
    start: i64,
    end: i64,
    out: &mut Vec<Bucket>,
) -> StoreResult<()> {
    let tier = TIERS[i];
    let mut ro = rocksdb::ReadOptions::default();
    ro.set_iterate_upper_bound(after(&rollup_key(tier.tag, id, w1)));
    let mut iter = db.raw_iterator_cf_opt(cf, ro);
    iter.seek(rollup_key(tier.tag, id, w0));
    let mut all: Vec<Bucket> = Vec::new();
    while let Some(value) = iter.value() {
        for b in decode(value).ok_or_else(|| corrupt("downsampled buckets"))? {
            match all.last_mut() {
                Some(prev)
                    if prev.last_ts.div_euclid(tier.bucket_ms)
                        == b.last_ts.div_euclid(tier.bucket_ms) =>
                {
                    prev.absorb(&b)
                }
                _ => all.push(b),
            }
        }
        iter.next();
    }
    iter.status().map_err(engine)?;
    out.extend(
        all.into_iter()
            .filter(|b| b.last_ts >= start && b.last_ts <= end),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::rocks::{BlockOptions, CF_ROLLUP, RocksOptions, RocksStore, compactor};
    use crate::store::{Labels, SeriesSamples, Store};
    use rocksdb::IteratorMode;
    use std::time::Duration;

    const HOUR: i64 = 3_600_000;

    fn open(dir: &std::path::Path, block: Duration, retention: [u64; 3]) -> RocksStore {
        let blocks = BlockOptions {
            block_duration: block,
            // Tests compact by hand.
            compaction_interval: Duration::from_secs(86_400),
            retention: Duration::from_secs(retention[0]),
            retention_5m: Duration::from_secs(retention[1]),
            retention_1h: Duration::from_secs(retention[2]),
        };
        RocksStore::open_with_blocks(dir, RocksOptions { sync: false }, blocks).unwrap()
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
            store.compact_windows(compactor::now_ms()).unwrap();
            store
                .append(&[SeriesSamples {
                    id,
                    samples: late.to_vec(),
                }])
                .unwrap();
            let report = store.compact_windows(compactor::now_ms()).unwrap();
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
                read(&store.db, cf, i, id, i64::MIN, i64::MAX, from, to, &mut got).unwrap();
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
        let store = open(
            dir.path(),
            Duration::from_secs(7200),
            [day, 2 * day, 3 * day],
        );
        let id = series(&store, "c");
        let now = compactor::now_ms();
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
        let samples: Vec<(i64, f64)> = (0..2000)
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
        for tier in TIERS {
            let buckets = aggregate(&samples, tier.bucket_ms);
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
}
