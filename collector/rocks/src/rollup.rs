//! Downsampled tiers: per-series aggregates over 5-minute and 1-hour buckets, written by the
//! compactor next to each block and read where raw samples have passed retention (layout in
//! [`crate::keys`]).
//!
//! A bucket keeps the min, max, sum and count of its samples and its last sample (value
//! and timestamp). `min` and `max` skip NaN (NaN when every sample is NaN); `sum` is the
//! plain sum in time order, so one NaN makes it NaN; `count` counts every sample. A bucket
//! is stored per block window: when a window's length is not a multiple of the bucket
//! length, a bucket crossing a window boundary is kept as two parts, which a read combines.

pub mod format;
#[cfg(feature = "engine")]
mod retention;
#[cfg(test)]
#[cfg(feature = "engine")]
mod tests;

// Without the `engine` feature only the buckets and their encoding build.
#[cfg(feature = "engine")]
pub(crate) use retention::{TierRetention, rollup_expired};
#[cfg(feature = "engine")]
use {
    crate::keys::{CF_ROLLUP, after, flip, unflip},
    crate::{corrupt, engine},
    format::{decode, encode},
    rocksdb::{ColumnFamily, DB, WriteBatch},
    vigil_store::{SeriesId, StoreResult},
};

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

/// Key of a series' buckets of one tier in one block window: tier tag, series, window.
#[cfg(feature = "engine")]
pub fn rollup_key(tag: u8, id: SeriesId, window: i64) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[0] = tag;
    key[1..9].copy_from_slice(&id.to_be_bytes());
    key[9..].copy_from_slice(&flip(window));
    key
}

/// Adds to `batch` the buckets of every tier still kept for window `w` of series `id`,
/// whose samples (all of them, oldest first) are `samples`.
#[cfg(feature = "engine")]
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
#[cfg(feature = "engine")]
#[allow(clippy::too_many_arguments)]
pub fn read(
    db: &DB,
    windows: &crate::windows::Windows,
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
    let fresh = || {
        let mut ro = rocksdb::ReadOptions::default();
        ro.set_iterate_upper_bound(after(&rollup_key(tier.tag, id, w1)));
        db.raw_iterator_cf_opt(cf, ro)
    };
    let mut iter = fresh();
    iter.seek(rollup_key(tier.tag, id, w0));
    let mut all: Vec<Bucket> = Vec::new();
    let mut next = w0;
    loop {
        while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
            next = key.get(9..17).and_then(unflip).map_or(next, |w| w + 1);
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
        // Buckets that cannot be read: leave their windows out, read on after them.
        match iter.status() {
            Ok(()) => break,
            Err(e) if crate::damage::is_damage(&e) => {
                let key = |w| rollup_key(tier.tag, id, w).to_vec();
                let resumed = crate::damage::skip_windows(&mut iter, &fresh, key, next, w1);
                windows.left_out(CF_ROLLUP, id, (next, resumed - 1), &e.into_string());
                if resumed > w1 {
                    break;
                }
                next = resumed;
            }
            Err(e) => return Err(engine(e)),
        }
    }
    out.extend(
        all.into_iter()
            .filter(|b| b.last_ts >= start && b.last_ts <= end),
    );
    Ok(())
}
