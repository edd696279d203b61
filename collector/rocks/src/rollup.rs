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
use rocksdb::{ColumnFamily, DB, WriteBatch};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use vigil_store::{SeriesId, StoreResult};

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

/// Value column kinds: short decimals (mantissas as `ints`), the same as differences from
/// the `last` column's mantissas at the same exponent (a counter's max is its last), or
/// Gorilla's XOR stream.
const DECIMAL: u8 = 0;
const FROM_LAST: u8 = 1;
const XOR: u8 = 2;

/// Appends the encoding of `buckets` (at least one):
///
/// ```text
///   varint n
///   ints   the n last-sample timestamps          (codec/ints.rs)
///   ints   the n counts
///   then the columns last, min, max, sum, each:
///     u8 0 decimal:   u8 e, ints of the n mantissas; value = m / 10^e
///     u8 1 from last: u8 e, ints of the n differences from last's mantissas (at e)
///     u8 2 xor:       varint length, Gorilla's XOR stream of the n values
/// ```
pub fn encode(buckets: &[Bucket], out: &mut Vec<u8>) {
    put_varint(out, buckets.len() as u64);
    let ints: Vec<i64> = buckets.iter().map(|b| b.last_ts).collect();
    codec::ints::encode(&ints, out);
    let ints: Vec<i64> = buckets.iter().map(|b| b.count as i64).collect();
    codec::ints::encode(&ints, out);
    let fields: [fn(&Bucket) -> f64; 4] = [|b| b.last, |b| b.min, |b| b.max, |b| b.sum];
    let lasts: Vec<(i64, f64)> = buckets.iter().map(|b| (0, b.last)).collect();
    let last_decimal = codec::decimal(&lasts);
    let mut best = Vec::new();
    let mut other = Vec::new();
    for (k, field) in fields.iter().enumerate() {
        let values: Vec<(i64, f64)> = buckets.iter().map(|b| (0, field(b))).collect();
        best.clear();
        match codec::decimal(&values) {
            Some((e, mantissas)) => {
                best.extend([DECIMAL, e as u8]);
                codec::ints::encode(&mantissas, &mut best);
                // With last's exponent (or a finer one), try the difference from last.
                if let Some((le, lm)) = last_decimal.as_ref().filter(|_| k > 0) {
                    let e2 = e.max(*le);
                    let at =
                        |m: i64, from: usize| m.checked_mul(10i64.checked_pow((e2 - from) as u32)?);
                    let diffs: Option<Vec<i64>> = mantissas
                        .iter()
                        .zip(lm)
                        .map(|(&m, &l)| at(m, e)?.checked_sub(at(l, *le)?))
                        .collect();
                    // Kept only if every value decodes bit for bit at the finer exponent.
                    let exact = |diffs: &Vec<i64>| {
                        diffs.iter().zip(lm).zip(&values).all(|((&d, &l), v)| {
                            at(l, *le)
                                .and_then(|l| l.checked_add(d))
                                .and_then(|m| codec::from_decimal(m, e2))
                                .is_some_and(|x| x.to_bits() == v.1.to_bits())
                        })
                    };
                    if let Some(diffs) = diffs.filter(exact) {
                        other.clear();
                        other.extend([FROM_LAST, e2 as u8]);
                        codec::ints::encode(&diffs, &mut other);
                        if other.len() < best.len() {
                            std::mem::swap(&mut best, &mut other);
                        }
                    }
                }
            }
            None => {
                other.clear();
                codec::gorilla::encode_values(values.iter().map(|v| v.1), &mut other);
                best.push(XOR);
                put_varint(&mut best, other.len() as u64);
                best.extend_from_slice(&other);
            }
        }
        out.extend_from_slice(&best);
    }
}

/// Decodes what [`encode`] wrote; `None` if damaged.
pub fn decode(bytes: &[u8]) -> Option<Vec<Bucket>> {
    let mut at = 0;
    let n = usize::try_from(get_varint(bytes, &mut at)?).ok()?;
    // Every bucket takes at least a bit; refuse absurd counts before allocating.
    if n == 0 || n > bytes.len().saturating_mul(8) {
        return None;
    }
    let mut out: Vec<Bucket> = Vec::with_capacity(n);
    codec::ints::decode(bytes, &mut at, n, |t| {
        out.push(Bucket {
            last_ts: t,
            last: 0.0,
            min: 0.0,
            max: 0.0,
            sum: 0.0,
            count: 0,
        })
    })?;
    let mut i = 0;
    codec::ints::decode(bytes, &mut at, n, |c| {
        if let Some(b) = out.get_mut(i) {
            b.count = c as u64;
        }
        i += 1;
    })?;
    if out.len() != n || i != n {
        return None;
    }
    let mut last_mantissas: Option<(usize, Vec<i64>)> = None;
    for k in 0..4 {
        let mut values = Vec::with_capacity(n);
        match *bytes.get(at)? {
            kind @ (DECIMAL | FROM_LAST) => {
                let e = usize::from(*bytes.get(at + 1)?);
                at += 2;
                let mut mantissas = Vec::with_capacity(n);
                codec::ints::decode(bytes, &mut at, n, |m| mantissas.push(m))?;
                if mantissas.len() != n {
                    return None;
                }
                if kind == FROM_LAST {
                    let (le, lm) = last_mantissas.as_ref().filter(|_| k > 0)?;
                    let scale = 10i64.checked_pow(u32::try_from(e.checked_sub(*le)?).ok()?)?;
                    for (m, l) in mantissas.iter_mut().zip(lm) {
                        *m = m.wrapping_add(l.wrapping_mul(scale));
                    }
                }
                for &m in &mantissas {
                    values.push(codec::from_decimal(m, e)?);
                }
                if k == 0 {
                    last_mantissas = Some((e, mantissas));
                }
            }
            XOR => {
                at += 1;
                let len = usize::try_from(get_varint(bytes, &mut at)?).ok()?;
                let stream = bytes.get(at..at.checked_add(len)?)?;
                codec::gorilla::decode_values(stream, n, |v| values.push(v))?;
                at += len;
            }
            _ => return None,
        }
        if values.len() != n {
            return None;
        }
        for (b, v) in out.iter_mut().zip(values) {
            match k {
                0 => b.last = v,
                1 => b.min = v,
                2 => b.max = v,
                _ => b.sum = v,
            }
        }
    }
    (at == bytes.len()).then_some(out)
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
    use crate::{BlockOptions, CF_ROLLUP, RocksOptions, RocksStore};
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
}
