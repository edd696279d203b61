//! Samples by time window: the append path into the `recent` family and the read that
//! merges `recent` with the compressed `blocks` (layout in [`crate::keys`], policy in [`crate`]; the
//! compaction of closed windows and retention in [`compaction`]).
//!
//! Locking: every append holds [`Windows::gate`] shared while it registers its windows and
//! writes; compaction holds it exclusively for one chunk of series at a time (read the
//! chunk's recent samples, write their blocks and range-delete the samples in one
//! `WriteBatch`). So no acknowledged sample can land between the read and the delete, and
//! ingest pauses for at most one chunk. Reads take no lock: they read `recent` and `blocks`
//! from one RocksDB snapshot, so a concurrent compaction is seen entirely or not at all.

use crate::codec;
use crate::forward::Forward;
use crate::keys::{
    CF_BLOCKS, CF_META, CF_RECENT, CF_TIMESTAMPS, SEQ_KEY, after, decode_u64, family, flip, unflip,
};
use crate::{corrupt, damage, engine};
use foldhash::HashMap;
use rocksdb::{DB, ReadOptions, WriteBatch, WriteOptions};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use vigil_store::{SeriesId, SeriesSamples, StoreResult};

mod compaction;
pub(crate) mod frame;
mod many;
pub use compaction::CompactionReport;
pub(super) use compaction::{block_expired, compact};
pub(crate) use many::read_many;

/// Sequence numbers reserved per durable write of the reservation.
const SEQ_RESERVATION: u64 = 1 << 20;

/// Which windows may still hold recent samples, and the gate between appends and compaction.
pub(crate) struct Windows {
    /// Window length in milliseconds (fixed when the data directory was created).
    pub block_ms: i64,
    /// A window is compacted once its end is this far in the past (late samples still
    /// arrive then, and would make compaction rewrite the block).
    pub grace_ms: i64,
    /// Windows (by index) that may have keys in `recent`. Every window with a key there is
    /// in the set; compaction removes one only after finding it empty under the gate.
    recent: Mutex<BTreeSet<i64>>,
    /// The window last registered, so that most appends skip the set's mutex.
    last_registered: AtomicI64,
    /// Samples appended so far: the compactor compares it between passes to tell a store
    /// that (nearly) stopped receiving samples.
    arrived: AtomicU64,
    /// The last window compacted while still open (see `compaction::compact`): each open
    /// window is compacted early at most once.
    pub(super) early: AtomicI64,
    /// Shared by appends, exclusive for a compaction chunk.
    gate: RwLock<()>,
    /// Windows compacted into blocks whose part of `recent` RocksDB has not rewritten yet
    /// (first, last): see `compaction::compact`.
    untidy: Mutex<Option<(i64, i64)>>,
    /// The next write sequence number for a frame of recent samples.
    next_seq: AtomicU64,
    /// Sequence numbers below this are reserved durably (meta "recent_seq"): a restart
    /// continues above every number used before it. Held while reserving more.
    reserved_seq: Mutex<u64>,
    /// The same bound, read without the lock; raised only once the reservation is durable.
    reserved_fast: AtomicU64,
    /// How long samples are kept, in milliseconds (0: forever).
    retention_ms: i64,
    /// Windows before this one are past retention: reads skip them, the blocks family's
    /// compaction filter drops their blocks, and each pass range-deletes their recent
    /// samples and timestamp columns. Shared with the compaction filter.
    expired_before: Arc<AtomicI64>,
    /// Retention of the downsampled tiers (see `rollup.rs`).
    pub tiers: crate::rollup::TierRetention,
    /// Damage met by reads, and what the scrub found (see `damage.rs`).
    pub damage: crate::damage::DamageLog,
}

impl Windows {
    /// State for a store whose `recent` family holds samples in `windows`, keeping samples
    /// `retention_ms` (0: forever); `expired_before` is shared with the compaction filter.
    pub fn new(
        block_ms: i64,
        windows: BTreeSet<i64>,
        retention_ms: i64,
        expired_before: Arc<AtomicI64>,
        now_ms: i64,
        reserved_seq: u64,
        tiers: crate::rollup::TierRetention,
    ) -> Self {
        let state = Self {
            tiers,
            next_seq: AtomicU64::new(reserved_seq),
            reserved_seq: Mutex::new(reserved_seq),
            reserved_fast: AtomicU64::new(reserved_seq),
            retention_ms,
            expired_before,
            block_ms,
            grace_ms: (block_ms / 4).min(5 * 60 * 1000),
            recent: Mutex::new(windows),
            last_registered: AtomicI64::new(i64::MIN),
            arrived: AtomicU64::new(0),
            early: AtomicI64::new(i64::MIN),
            gate: RwLock::new(()),
            untidy: Mutex::new(None),
            damage: crate::damage::DamageLog::default(),
        };
        state.advance_retention(now_ms);
        state
    }

    /// Notes that a read of series `id` left windows `first..=last` of `family` out
    /// (damaged data, RocksDB's `error`).
    pub(crate) fn left_out(
        &self,
        family: &'static str,
        id: SeriesId,
        windows: (i64, i64),
        error: &str,
    ) {
        self.damage
            .left_out(family, id, windows, self.block_ms, error);
    }

    /// A fresh write sequence number, above every one used before (also before a restart):
    /// for frames, and for records of the forwarding log.
    pub(super) fn take_seq(&self, db: &DB) -> StoreResult<u64> {
        let seq = self.next_seq.fetch_add(1, Ordering::AcqRel);
        if seq < self.reserved_fast.load(Ordering::Acquire) {
            return Ok(seq);
        }
        let mut reserved = self.reserved_seq.lock().unwrap_or_else(|p| p.into_inner());
        if seq >= *reserved {
            let upto = seq + SEQ_RESERVATION;
            let mut wo = WriteOptions::default();
            wo.set_sync(true);
            db.put_cf_opt(family(db, CF_META)?, SEQ_KEY, upto.to_be_bytes(), &wo)
                .map_err(engine)?;
            *reserved = upto;
            self.reserved_fast.store(upto, Ordering::Release);
        }
        Ok(seq)
    }

    /// Moves the retention cutoff to `now_ms`; returns the first window still kept.
    fn advance_retention(&self, now_ms: i64) -> i64 {
        self.tiers.advance(now_ms, self.block_ms);
        if self.retention_ms <= 0 {
            return i64::MIN;
        }
        let kept = self.window(now_ms.saturating_sub(self.retention_ms));
        self.expired_before.fetch_max(kept, Ordering::AcqRel);
        self.expired_before.load(Ordering::Acquire)
    }

    /// The first window not past retention.
    pub(super) fn first_kept(&self) -> i64 {
        self.expired_before.load(Ordering::Acquire)
    }

    /// The window (index) holding timestamp `ts`.
    pub fn window(&self, ts: i64) -> i64 {
        ts.div_euclid(self.block_ms)
    }

    fn closed(&self, window: i64, now_ms: i64) -> bool {
        let end = (i128::from(window) + 1) * i128::from(self.block_ms);
        end + i128::from(self.grace_ms) <= i128::from(now_ms)
    }

    fn register(&self, window: i64) {
        if self.last_registered.load(Ordering::Acquire) == window {
            return;
        }
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(window);
        self.last_registered.store(window, Ordering::Release);
    }

    fn recent_in(&self, w0: i64, w1: i64) -> Vec<i64> {
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .range(w0..=w1)
            .copied()
            .collect()
    }

    /// Samples appended since the store opened.
    pub fn arrived(&self) -> u64 {
        self.arrived.load(Ordering::Relaxed)
    }

    /// Windows that may hold recent samples, oldest first.
    pub fn recent_windows(&self) -> Vec<i64> {
        self.recent_in(i64::MIN, i64::MAX)
    }
}

/// Key of a frame of recent samples: window, group of series ids ([`frame::group`]),
/// write sequence (big-endian).
pub(super) fn recent_key(window: i64, group: u64, seq: u64) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..8].copy_from_slice(&flip(window));
    key[8..16].copy_from_slice(&group.to_be_bytes());
    key[16..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// Orders samples gathered from runs (in write order) by time, keeping the last written
/// of each timestamp: the sort is stable, so that is the last of each equal run.
pub(super) fn settle(samples: &mut Vec<(i64, f64)>) {
    samples.sort_by_key(|s| s.0);
    let mut kept = 0;
    for i in 0..samples.len() {
        if kept > 0 && samples[kept - 1].0 == samples[i].0 {
            samples[kept - 1] = samples[i];
        } else {
            samples[kept] = samples[i];
            kept += 1;
        }
    }
    samples.truncate(kept);
}

/// Key of a block: series, window.
pub(super) fn block_key(id: SeriesId, window: i64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&id.to_be_bytes());
    key[8..].copy_from_slice(&flip(window));
    key
}

/// Key of a shared timestamp column: window, column id.
pub(super) fn column_key(window: i64, column: &codec::ColumnId) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..8].copy_from_slice(&flip(window));
    key[8..].copy_from_slice(column);
    key
}

/// Decodes one block of window `w` (fetching its shared timestamp column, if it names one)
/// into `out`, keeping `start..=end`.
/// Returns RocksDB's words when the block's timestamp column cannot be read (damaged data):
/// the block is then left out.
fn decode_block(
    db: &DB,
    options: &dyn Fn() -> ReadOptions,
    w: i64,
    block: &[u8],
    start: i64,
    end: i64,
    out: &mut Vec<(i64, f64)>,
) -> StoreResult<Option<String>> {
    let damaged = || corrupt("sample block");
    let column = match codec::column_of(block).ok_or_else(damaged)? {
        Some(id) => {
            match db.get_pinned_cf_opt(family(db, CF_TIMESTAMPS)?, column_key(w, &id), &options()) {
                Ok(column) => Some(
                    column
                        .ok_or_else(|| corrupt("sample block (its timestamp column is missing)"))?,
                ),
                Err(e) if damage::is_damage(&e) => return Ok(Some(e.into_string())),
                Err(e) => return Err(engine(e)),
            }
        }
        None => None,
    };
    codec::decode(block, column.as_deref(), start, end, out).ok_or_else(damaged)?;
    Ok(None)
}

/// The window of a block from its key.
fn block_window(key: &[u8]) -> StoreResult<i64> {
    key.get(8..16)
        .and_then(unflip)
        .ok_or_else(|| corrupt("block key"))
}

/// Writes `samples` to `recent_frames`: one frame per window and group of series ids touched
/// (each series' samples as one entry, in the order given), each frame with a fresh
/// sequence number, so later writes win on reads. While forwarding is on, the same batch
/// holds the call's record of the forwarding log.
pub(super) fn append(
    db: &DB,
    windows: &Windows,
    forward: &Forward,
    samples: &[SeriesSamples],
    options: &WriteOptions,
) -> StoreResult<()> {
    let cf = family(db, CF_RECENT)?;
    let _shared = windows.gate.read().unwrap_or_else(|p| p.into_inner());
    // Frames in the order first touched, found by (window, group).
    let mut frames: Vec<((i64, u64), frame::FrameBuf)> = Vec::new();
    let mut index: HashMap<(i64, u64), usize> = HashMap::default();
    let mut last_window = None;
    let mut count = 0;
    for series in samples {
        let g = frame::group(series.id);
        let mut rest = series.samples.as_slice();
        while let Some(&(ts, _)) = rest.first() {
            let w = windows.window(ts);
            if last_window != Some(w) {
                windows.register(w);
                last_window = Some(w);
            }
            let len = rest
                .iter()
                .position(|s| windows.window(s.0) != w)
                .unwrap_or(rest.len());
            let at = match frames.last() {
                Some((key, _)) if *key == (w, g) => frames.len() - 1,
                _ => *index.entry((w, g)).or_insert_with(|| {
                    frames.push(((w, g), frame::FrameBuf::default()));
                    frames.len() - 1
                }),
            };
            frames[at].1.push(series.id, &rest[..len]);
            rest = &rest[len..];
        }
        count += series.samples.len() as u64;
    }
    let mut batch = WriteBatch::default();
    for ((w, g), frame) in &frames {
        batch.put_cf(cf, recent_key(*w, *g, windows.take_seq(db)?), &frame.bytes);
    }
    windows.arrived.fetch_add(count, Ordering::Relaxed);
    // Out of the in-flight set once the write has returned (committed or failed).
    let _record = forward.stage(db, windows, samples, &mut batch)?;
    db.write_opt(batch, options).map_err(engine)
}

/// Appends the samples of series `id` with `start <= t <= end` to `out`, oldest first:
/// blocks merged with recent samples, a recent sample replacing a block's at the same time.
pub(super) fn read(
    db: &DB,
    windows: &Windows,
    id: SeriesId,
    start: i64,
    end: i64,
    out: &mut Vec<(i64, f64)>,
) -> StoreResult<()> {
    if end < start {
        return Ok(());
    }
    let w0 = windows.window(start).max(windows.first_kept());
    let w1 = windows.window(end);
    if w1 < w0 {
        return Ok(());
    }
    let recent = windows.recent_in(w0, w1);
    let snapshot = (!recent.is_empty()).then(|| db.snapshot());
    let options = || {
        let mut ro = ReadOptions::default();
        if let Some(s) = &snapshot {
            ro.set_snapshot(s);
        }
        ro
    };
    let base = out.len();
    let cf = family(db, CF_BLOCKS)?;
    let fresh = || {
        let mut ro = options();
        ro.set_iterate_upper_bound(after(&block_key(id, w1)));
        db.raw_iterator_cf_opt(cf, ro)
    };
    let mut iter = fresh();
    iter.seek(block_key(id, w0));
    let mut next = w0;
    loop {
        while let (Some(key), Some(block)) = (iter.key(), iter.value()) {
            let w = block_window(key)?;
            if let Some(error) = decode_block(db, &options, w, block, start, end, out)? {
                windows.left_out(CF_TIMESTAMPS, id, (w, w), &error);
            }
            next = w + 1;
            iter.next();
        }
        // A block that cannot be read: leave its windows out, read on after them.
        match iter.status() {
            Ok(()) => break,
            Err(e) if damage::is_damage(&e) => {
                let key = |w| block_key(id, w).to_vec();
                let resumed = damage::skip_windows(&mut iter, &fresh, key, next, w1);
                windows.left_out(CF_BLOCKS, id, (next, resumed - 1), &e.into_string());
                if resumed > w1 {
                    break;
                }
                next = resumed;
            }
            Err(e) => return Err(engine(e)),
        }
    }
    if recent.is_empty() {
        return Ok(());
    }
    let mut fresh = Vec::new();
    let cf = family(db, CF_RECENT)?;
    let (g, offset) = frame::place(id);
    for w in recent {
        let mut ro = options();
        ro.set_iterate_upper_bound(after(&recent_key(w, g, u64::MAX)));
        let mut iter = db.raw_iterator_cf_opt(cf, ro);
        iter.seek(recent_key(w, g, 0));
        let before = fresh.len();
        while let Some(value) = iter.value() {
            frame::get(value, offset, start, end, &mut fresh)?;
            iter.next();
        }
        match iter.status() {
            Ok(()) => {}
            // Without every frame a replaced value could show: the whole window goes.
            Err(e) if damage::is_damage(&e) => {
                fresh.truncate(before);
                windows.left_out(CF_RECENT, id, (w, w), &e.into_string());
            }
            Err(e) => return Err(engine(e)),
        }
    }
    settle(&mut fresh);
    if !fresh.is_empty() {
        let blocks = out.split_off(base);
        merge(&blocks, &fresh, out);
    }
    Ok(())
}

/// Whether series `id` has a sample in `[start, end]`, reading as little as possible.
pub(super) fn any(
    db: &DB,
    windows: &Windows,
    id: SeriesId,
    start: i64,
    end: i64,
) -> StoreResult<bool> {
    if end < start {
        return Ok(false);
    }
    let w0 = windows.window(start).max(windows.first_kept());
    let w1 = windows.window(end);
    if w1 < w0 {
        return Ok(false);
    }
    let cf = family(db, CF_RECENT)?;
    let mut fresh = Vec::new();
    let (g, offset) = frame::place(id);
    for w in windows.recent_in(w0, w1) {
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(after(&recent_key(w, g, u64::MAX)));
        let mut iter = db.raw_iterator_cf_opt(cf, ro);
        iter.seek(recent_key(w, g, 0));
        while let Some(value) = iter.value() {
            frame::get(value, offset, start, end, &mut fresh)?;
            if !fresh.is_empty() {
                return Ok(true);
            }
            iter.next();
        }
        match iter.status() {
            Ok(()) => {}
            Err(e) if damage::is_damage(&e) => {
                windows.left_out(CF_RECENT, id, (w, w), &e.into_string())
            }
            Err(e) => return Err(engine(e)),
        }
    }
    let cf = family(db, CF_BLOCKS)?;
    let fresh = || {
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(after(&block_key(id, w1)));
        db.raw_iterator_cf_opt(cf, ro)
    };
    let mut iter = fresh();
    iter.seek(block_key(id, w0));
    let mut scratch = Vec::new();
    let mut next = w0;
    loop {
        while let (Some(key), Some(block)) = (iter.key(), iter.value()) {
            let (_, first, last) = codec::bounds(block).ok_or_else(|| corrupt("sample block"))?;
            let w = block_window(key)?;
            if first <= end && last >= start {
                if first >= start || last <= end {
                    return Ok(true);
                }
                scratch.clear();
                let options = ReadOptions::default;
                if let Some(e) = decode_block(db, &options, w, block, start, end, &mut scratch)? {
                    windows.left_out(CF_TIMESTAMPS, id, (w, w), &e);
                }
                if !scratch.is_empty() {
                    return Ok(true);
                }
            }
            next = w + 1;
            iter.next();
        }
        match iter.status() {
            Ok(()) => return Ok(false),
            Err(e) if damage::is_damage(&e) => {
                let key = |w| block_key(id, w).to_vec();
                let resumed = damage::skip_windows(&mut iter, &fresh, key, next, w1);
                windows.left_out(CF_BLOCKS, id, (next, resumed - 1), &e.into_string());
                if resumed > w1 {
                    return Ok(false);
                }
                next = resumed;
            }
            Err(e) => return Err(engine(e)),
        }
    }
}

/// Merges two time-ordered runs into `out`; at equal timestamps `newer` wins.
pub(super) fn merge(older: &[(i64, f64)], newer: &[(i64, f64)], out: &mut Vec<(i64, f64)>) {
    out.reserve(older.len() + newer.len());
    let (mut i, mut j) = (0, 0);
    while i < older.len() && j < newer.len() {
        let (a, b) = (older[i], newer[j]);
        if a.0 < b.0 {
            out.push(a);
            i += 1;
        } else {
            out.push(b);
            j += 1;
            if a.0 == b.0 {
                i += 1;
            }
        }
    }
    out.extend_from_slice(&older[i..]);
    out.extend_from_slice(&newer[j..]);
}

/// Sequence numbers of recent runs below this one may be in use (meta "recent_seq").
pub(super) fn reserved_seq(db: &DB) -> StoreResult<u64> {
    match db.get_cf(family(db, CF_META)?, SEQ_KEY).map_err(engine)? {
        Some(v) => decode_u64(&v, "recent sequence"),
        None => Ok(0),
    }
}

/// The windows that have keys in `recent`: one seek per window.
pub(super) fn scan_recent_windows(db: &DB) -> StoreResult<BTreeSet<i64>> {
    let mut found = BTreeSet::new();
    let mut iter = db.raw_iterator_cf(family(db, CF_RECENT)?);
    iter.seek_to_first();
    while let Some(key) = iter.key() {
        let w = key
            .get(..8)
            .and_then(unflip)
            .ok_or_else(|| corrupt("recent sample key"))?;
        found.insert(w);
        match w.checked_add(1) {
            Some(next) => iter.seek(flip(next)),
            None => break,
        }
    }
    iter.status().map_err(engine)?;
    Ok(found)
}

#[cfg(test)]
mod tests;
