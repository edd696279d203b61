//! What an operator watches at fleet scale, kept by ingest with cheap counters: how late
//! batches are acknowledged ([`AckTimes`]), how fast series are created
//! ([`SeriesTally`]), and what the streams hold in memory ([`StreamMemory`]).
//!
//! `vigil status` shows them over the last minute; `/metrics` and the stored self-metrics
//! export them as `vigil_collector_ingest_ack_seconds` (a histogram),
//! `vigil_collector_ingest_batches_waiting`, `vigil_collector_series_created_total` and
//! `vigil_collector_memory_bytes{part}`.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use vigil_store::stats::StoreMemory;
use vigil_store::{DamageStats, StoreStats};

/// Everything of this module that ingest's [`Counters`](super::Counters) keep.
#[derive(Debug, Default)]
pub struct Scale {
    /// Ack times and batches waiting.
    pub ack: AckTimes,
    /// Series created.
    pub series: SeriesTally,
    /// What the open streams hold.
    pub streams: StreamMemory,
    /// The store's memory as last read.
    store_memory: Mutex<StoreMemory>,
    /// Damaged data the store has met, as last read.
    store_damage: Mutex<DamageStats>,
}

impl Scale {
    /// Takes in the store's figures, read at `now_ms` (by `vigil status` or housekeeping):
    /// its series count and its memory.
    pub fn observe_store(&self, stats: &StoreStats, now_ms: i64) {
        self.series.observe(stats.series, now_ms);
        *self.store_memory.lock().unwrap_or_else(|p| p.into_inner()) = stats.memory;
        *self.store_damage.lock().unwrap_or_else(|p| p.into_inner()) = stats.damage;
    }

    /// Damaged data the store has met, as last read.
    pub fn store_damage(&self) -> DamageStats {
        *self.store_damage.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The store's memory as last read.
    pub fn store_memory(&self) -> StoreMemory {
        *self.store_memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Memory by part, in bytes, in the order `vigil status` shows them (see
    /// `MemoryPart` in admin.proto): the parts do not overlap, and `other` is what is
    /// left of `resident` (0 when the estimates add up to more).
    pub fn memory(&self, resident: u64) -> Vec<(&'static str, u64)> {
        let store = self.store_memory();
        let ids = self.streams.ids.load(Ordering::Relaxed);
        let scrapes = self.streams.scrapes.load(Ordering::Relaxed);
        let mut parts = vec![
            (
                "series_index",
                store.index_memtables + store.index_table_readers + ids,
            ),
            (
                "head",
                store.memtables.saturating_sub(store.index_memtables) + scrapes,
            ),
            ("block_cache", store.block_cache),
            (
                "table_readers",
                store
                    .table_readers
                    .saturating_sub(store.index_table_readers),
            ),
        ];
        let counted: u64 = parts.iter().map(|(_, n)| n).sum();
        parts.push(("other", resident.saturating_sub(counted)));
        parts
    }
}

/// Upper bounds (seconds) of the ack-time histogram's buckets; `+Inf` comes after them.
pub const ACK_BUCKETS: [f64; 16] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0,
];

/// Buckets with `+Inf`.
const SLOTS: usize = ACK_BUCKETS.len() + 1;

/// The last minute, in slices of this many milliseconds.
const SLICE_MS: i64 = 10_000;

/// Slices making up the last minute.
const SLICES: usize = 6;

/// How long ingest took from a batch's arrival to its acknowledgement.
#[derive(Debug, Default)]
pub struct AckTimes {
    /// Acknowledgements per bucket since start (not cumulative: the `+Inf` slot holds only
    /// those above the last bound).
    counts: [AtomicU64; SLOTS],
    /// Sum of every ack time since start, in microseconds.
    sum_micros: AtomicU64,
    /// Batches received and not yet acknowledged (or failed).
    waiting: AtomicU64,
    /// The same buckets for each slice of the last minute.
    recent: Mutex<[Slice; SLICES]>,
}

/// One slice of the last minute: which slice of time it is, and its counts.
#[derive(Debug, Clone, Copy, Default)]
struct Slice {
    index: i64,
    counts: [u64; SLOTS],
}

/// Counts a batch as waiting until dropped (acknowledged, refused or abandoned).
#[derive(Debug)]
pub struct Waiting<'a>(&'a AtomicU64);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An ack-time histogram as Prometheus exposes one.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// `(le, acknowledgements at or under it)`, cumulative, `+Inf` last.
    pub buckets: Vec<(f64, u64)>,
    /// Sum of the ack times, in seconds.
    pub sum: f64,
    /// Acknowledgements.
    pub count: u64,
}

impl AckTimes {
    /// A batch arrived: it counts as waiting until the returned guard drops.
    pub fn arrived(&self) -> Waiting<'_> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        Waiting(&self.waiting)
    }

    /// Batches received and not yet acknowledged.
    pub fn waiting(&self) -> u64 {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Records one acknowledgement `seconds` after its batch arrived, at `now_ms`.
    pub fn observe(&self, seconds: f64, now_ms: i64) {
        let seconds = seconds.max(0.0);
        let slot = ACK_BUCKETS
            .iter()
            .position(|&le| seconds <= le)
            .unwrap_or(ACK_BUCKETS.len());
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        let index = now_ms.div_euclid(SLICE_MS);
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let slice = &mut recent[index.rem_euclid(SLICES as i64) as usize];
        if slice.index != index {
            *slice = Slice {
                index,
                counts: [0; SLOTS],
            };
        }
        slice.counts[slot] += 1;
    }

    /// Everything since start, as a cumulative histogram.
    pub fn histogram(&self) -> Histogram {
        let mut total = 0;
        let buckets = self
            .counts
            .iter()
            .zip(ACK_BUCKETS.iter().copied().chain([f64::INFINITY]))
            .map(|(n, le)| {
                total += n.load(Ordering::Relaxed);
                (le, total)
            })
            .collect();
        Histogram {
            buckets,
            sum: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
            count: total,
        }
    }

    /// Acknowledgements in the minute up to `now_ms` (whole 10 s slices: 50 to 60 s).
    pub fn recent_count(&self, now_ms: i64) -> u64 {
        self.recent_counts(now_ms).iter().sum()
    }

    /// The `q` quantile (0 to 1) of the ack times of the last minute, estimated from the
    /// buckets as PromQL's `histogram_quantile` does (linearly within a bucket; the highest
    /// bound when it falls above it); `None` when nothing was acknowledged.
    pub fn recent_quantile(&self, q: f64, now_ms: i64) -> Option<f64> {
        quantile(q, &self.recent_counts(now_ms))
    }

    fn recent_counts(&self, now_ms: i64) -> [u64; SLOTS] {
        let now = now_ms.div_euclid(SLICE_MS);
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = [0; SLOTS];
        for slice in recent
            .iter()
            .filter(|s| now - s.index < SLICES as i64 && s.index <= now)
        {
            for (o, n) in out.iter_mut().zip(slice.counts) {
                *o += n;
            }
        }
        out
    }
}

/// The `q` quantile of per-bucket (not cumulative) `counts`.
fn quantile(q: f64, counts: &[u64; SLOTS]) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let mut below = 0u64;
    for (slot, &n) in counts.iter().enumerate() {
        if n > 0 && (below + n) as f64 >= rank {
            let Some(&upper) = ACK_BUCKETS.get(slot) else {
                return ACK_BUCKETS.last().copied();
            };
            let lower = if slot == 0 {
                0.0
            } else {
                ACK_BUCKETS[slot - 1]
            };
            let within = ((rank - below as f64) / n as f64).clamp(0.0, 1.0);
            return Some(lower + (upper - lower) * within);
        }
        below += n;
    }
    ACK_BUCKETS.last().copied()
}

/// Series created, from the store's series count as `vigil status` and housekeeping read
/// it: the count at the first reading is the baseline. (Vigil never deletes a series, so
/// the count only grows.)
#[derive(Debug, Default)]
pub struct SeriesTally {
    inner: Mutex<Tally>,
}

#[derive(Debug, Default)]
struct Tally {
    baseline: Option<u64>,
    /// `(time_ms, series)` readings of the last two minutes, oldest first.
    readings: VecDeque<(i64, u64)>,
}

impl SeriesTally {
    /// Records the store's series count at `now_ms`.
    pub fn observe(&self, series: u64, now_ms: i64) {
        let mut t = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        t.baseline.get_or_insert(series);
        if t.readings.back().is_some_and(|&(at, _)| at > now_ms) {
            return;
        }
        t.readings.push_back((now_ms, series));
        // Keep one reading at least a minute old, to measure the last minute from.
        while t.readings.len() > 2 && t.readings[1].0 <= now_ms - 60_000 {
            t.readings.pop_front();
        }
    }

    /// Series created since the first reading.
    pub fn created(&self) -> u64 {
        let t = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match (t.baseline, t.readings.back()) {
            (Some(base), Some(&(_, last))) => last.saturating_sub(base),
            _ => 0,
        }
    }

    /// New series per second over about the last minute: from the newest reading at least
    /// a minute old (else the oldest) to the newest; 0 with fewer than two readings.
    pub fn per_second(&self) -> f64 {
        let t = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (Some(&(t0, s0)), Some(&(t1, s1))) = (t.readings.front(), t.readings.back()) else {
            return 0.0;
        };
        if t1 <= t0 {
            return 0.0;
        }
        s1.saturating_sub(s0) as f64 * 1000.0 / (t1 - t0) as f64
    }
}

/// Bytes the open agent streams hold (estimates from the sizes of their maps): the
/// per-stream series id maps, and the previous compact scrape each keeps.
#[derive(Debug, Default)]
pub struct StreamMemory {
    /// Series id maps of every stream.
    pub ids: AtomicU64,
    /// Previous compact scrapes of every stream.
    pub scrapes: AtomicU64,
}

/// One stream's share of [`StreamMemory`], taken back when the stream ends.
#[derive(Debug)]
pub struct StreamShare<'a> {
    memory: &'a StreamMemory,
    ids: u64,
    scrapes: u64,
}

impl StreamMemory {
    /// A share for a new stream, holding nothing yet.
    pub fn share(&self) -> StreamShare<'_> {
        StreamShare {
            memory: self,
            ids: 0,
            scrapes: 0,
        }
    }
}

impl StreamShare<'_> {
    /// The stream now holds `ids` bytes of id maps and `scrapes` bytes of scrape.
    pub fn set(&mut self, ids: u64, scrapes: u64) {
        let apply = |total: &AtomicU64, old: u64, new: u64| {
            if new >= old {
                total.fetch_add(new - old, Ordering::Relaxed);
            } else {
                total.fetch_sub(old - new, Ordering::Relaxed);
            }
        };
        apply(&self.memory.ids, self.ids, ids);
        apply(&self.memory.scrapes, self.scrapes, scrapes);
        (self.ids, self.scrapes) = (ids, scrapes);
    }
}

impl Drop for StreamShare<'_> {
    fn drop(&mut self) {
        self.set(0, 0);
    }
}

#[cfg(test)]
mod tests;
