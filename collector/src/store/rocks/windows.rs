//! Samples by time window: the append path into the `recent` family, the read that merges
//! `recent` with the compressed `blocks`, and the compaction of closed windows (layout and
//! policy in [`super`]).
//!
//! Locking: every append holds [`Windows::gate`] shared while it registers its windows and
//! writes; compaction holds it exclusively for one chunk of series at a time (read the
//! chunk's recent samples, write their blocks and range-delete the samples in one
//! `WriteBatch`). So no acknowledged sample can land between the read and the delete, and
//! ingest pauses for at most one chunk. Reads take no lock: they read `recent` and `blocks`
//! from one RocksDB snapshot, so a concurrent compaction is seen entirely or not at all.

use super::codec;
use super::{CF_BLOCKS, CF_RECENT, CF_TIMESTAMPS, corrupt, engine};
use crate::store::{SeriesId, SeriesSamples, StoreError, StoreResult};
use rocksdb::{ColumnFamily, DB, ReadOptions, WriteBatch, WriteOptions};
use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tracing::{debug, info};

/// Recent samples read into one compaction chunk (then the chunk's series are finished).
const CHUNK_SAMPLES: usize = 50_000;

/// Which windows may still hold recent samples, and the gate between appends and compaction.
pub(super) struct Windows {
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
    /// Shared by appends, exclusive for a compaction chunk.
    gate: RwLock<()>,
    /// How long samples are kept, in milliseconds (0: forever).
    retention_ms: i64,
    /// Windows before this one are past retention: reads skip them, the blocks family's
    /// compaction filter drops their blocks, and each pass range-deletes their recent
    /// samples and timestamp columns. Shared with the compaction filter.
    expired_before: Arc<AtomicI64>,
}

/// What one compaction pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CompactionReport {
    /// Windows emptied of recent samples.
    pub windows: u64,
    /// Blocks written (new or rewritten with late samples).
    pub blocks: u64,
    /// Recent samples moved into blocks.
    pub samples: u64,
    /// Windows of recent samples dropped as past retention.
    pub expired_windows: u64,
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
    ) -> Self {
        let state = Self {
            retention_ms,
            expired_before,
            block_ms,
            grace_ms: (block_ms / 4).min(5 * 60 * 1000),
            recent: Mutex::new(windows),
            last_registered: AtomicI64::new(i64::MIN),
            gate: RwLock::new(()),
        };
        state.advance_retention(now_ms);
        state
    }

    /// Moves the retention cutoff to `now_ms`; returns the first window still kept.
    fn advance_retention(&self, now_ms: i64) -> i64 {
        if self.retention_ms <= 0 {
            return i64::MIN;
        }
        let kept = self.window(now_ms.saturating_sub(self.retention_ms));
        self.expired_before.fetch_max(kept, Ordering::AcqRel);
        self.expired_before.load(Ordering::Acquire)
    }

    /// The first window not past retention.
    fn first_kept(&self) -> i64 {
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

    /// Windows that may hold recent samples, oldest first.
    pub fn recent_windows(&self) -> Vec<i64> {
        self.recent_in(i64::MIN, i64::MAX)
    }
}

/// Key of a recent sample: window, series, timestamp (signs flipped, big-endian).
pub(super) fn recent_key(window: i64, id: SeriesId, ts: i64) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..8].copy_from_slice(&flip(window));
    key[8..16].copy_from_slice(&id.to_be_bytes());
    key[16..].copy_from_slice(&flip(ts));
    key
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
fn decode_block(
    db: &DB,
    options: &dyn Fn() -> ReadOptions,
    w: i64,
    block: &[u8],
    start: i64,
    end: i64,
    out: &mut Vec<(i64, f64)>,
) -> StoreResult<()> {
    let damaged = || corrupt("sample block");
    let column = match codec::column_of(block).ok_or_else(damaged)? {
        Some(id) => Some(
            db.get_pinned_cf_opt(family(db, CF_TIMESTAMPS)?, column_key(w, &id), &options())
                .map_err(engine)?
                .ok_or_else(|| corrupt("sample block (its timestamp column is missing)"))?,
        ),
        None => None,
    };
    codec::decode(block, column.as_deref(), start, end, out).ok_or_else(damaged)
}

/// The window of a block from its key.
fn block_window(key: &[u8]) -> StoreResult<i64> {
    key.get(8..16)
        .and_then(unflip)
        .ok_or_else(|| corrupt("block key"))
}

/// An i64 as big-endian bytes with the sign bit flipped, so negatives sort first.
pub(super) fn flip(x: i64) -> [u8; 8] {
    ((x as u64) ^ (1 << 63)).to_be_bytes()
}

pub(super) fn unflip(bytes: &[u8]) -> Option<i64> {
    let raw: [u8; 8] = bytes.try_into().ok()?;
    Some((u64::from_be_bytes(raw) ^ (1 << 63)) as i64)
}

/// Just past every key that starts with `key` when keys have `key`'s length.
fn after(key: &[u8]) -> Vec<u8> {
    let mut bound = key.to_vec();
    bound.push(0);
    bound
}

pub(super) fn family<'a>(db: &'a DB, name: &str) -> StoreResult<&'a ColumnFamily> {
    db.cf_handle(name)
        .ok_or_else(|| StoreError::Engine(format!("column family {name} is missing")))
}

/// Writes `samples` to `recent`: one key per sample, so a replayed sample overwrites itself.
pub(super) fn append(
    db: &DB,
    windows: &Windows,
    samples: &[SeriesSamples],
    options: &WriteOptions,
) -> StoreResult<()> {
    let cf = family(db, CF_RECENT)?;
    let _shared = windows.gate.read().unwrap_or_else(|p| p.into_inner());
    let mut batch = WriteBatch::default();
    let mut last = None;
    for series in samples {
        for &(ts, value) in &series.samples {
            let w = windows.window(ts);
            if last != Some(w) {
                windows.register(w);
                last = Some(w);
            }
            batch.put_cf(
                cf,
                recent_key(w, series.id, ts),
                value.to_bits().to_be_bytes(),
            );
        }
    }
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
    let mut ro = options();
    ro.set_iterate_upper_bound(after(&block_key(id, w1)));
    let mut iter = db.raw_iterator_cf_opt(family(db, CF_BLOCKS)?, ro);
    iter.seek(block_key(id, w0));
    while let (Some(key), Some(block)) = (iter.key(), iter.value()) {
        decode_block(db, &options, block_window(key)?, block, start, end, out)?;
        iter.next();
    }
    iter.status().map_err(engine)?;
    if recent.is_empty() {
        return Ok(());
    }
    let mut fresh = Vec::new();
    let cf = family(db, CF_RECENT)?;
    for w in recent {
        let mut ro = options();
        ro.set_iterate_upper_bound(after(&recent_key(w, id, end)));
        let mut iter = db.raw_iterator_cf_opt(cf, ro);
        iter.seek(recent_key(w, id, start));
        while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
            fresh.push(decode_recent(key, value)?);
            iter.next();
        }
        iter.status().map_err(engine)?;
    }
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
    for w in windows.recent_in(w0, w1) {
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(after(&recent_key(w, id, end)));
        let mut iter = db.raw_iterator_cf_opt(cf, ro);
        iter.seek(recent_key(w, id, start));
        let found = iter.valid();
        iter.status().map_err(engine)?;
        if found {
            return Ok(true);
        }
    }
    let mut ro = ReadOptions::default();
    ro.set_iterate_upper_bound(after(&block_key(id, w1)));
    let mut iter = db.raw_iterator_cf_opt(family(db, CF_BLOCKS)?, ro);
    iter.seek(block_key(id, w0));
    let mut scratch = Vec::new();
    while let (Some(key), Some(block)) = (iter.key(), iter.value()) {
        let (_, first, last) = codec::bounds(block).ok_or_else(|| corrupt("sample block"))?;
        if first <= end && last >= start {
            if first >= start || last <= end {
                return Ok(true);
            }
            scratch.clear();
            let w = block_window(key)?;
            decode_block(
                db,
                &ReadOptions::default,
                w,
                block,
                start,
                end,
                &mut scratch,
            )?;
            if !scratch.is_empty() {
                return Ok(true);
            }
        }
        iter.next();
    }
    iter.status().map_err(engine)?;
    Ok(false)
}

fn decode_recent(key: &[u8], value: &[u8]) -> StoreResult<(i64, f64)> {
    let ts = key.get(16..).and_then(unflip);
    let bits = <[u8; 8]>::try_from(value).ok().map(u64::from_be_bytes);
    match (ts, bits, key.len()) {
        (Some(ts), Some(bits), 24) => Ok((ts, f64::from_bits(bits))),
        _ => Err(corrupt("recent sample")),
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

/// Compacts every window that closed before `now_ms` and may hold recent samples.
/// `keep_going` is asked between chunks; when it says no, the pass stops early.
pub(super) fn compact(
    db: &DB,
    windows: &Windows,
    now_ms: i64,
    keep_going: &dyn Fn() -> bool,
) -> StoreResult<CompactionReport> {
    let mut report = CompactionReport::default();
    expire(db, windows, now_ms, &mut report)?;
    let closed: Vec<i64> = windows
        .recent_windows()
        .into_iter()
        .filter(|&w| windows.closed(w, now_ms))
        .collect();
    if closed.is_empty() {
        return Ok(report);
    }
    info!(
        windows = closed.len(),
        "compacting closed windows into blocks"
    );
    for w in closed {
        compact_window(db, windows, w, &mut report, keep_going)?;
    }
    if report.blocks > 0 {
        info!(
            windows = report.windows,
            blocks = report.blocks,
            samples = report.samples,
            "compacted recent samples into blocks"
        );
    }
    Ok(report)
}

/// Applies retention: windows before the cutoff lose their recent samples and timestamp
/// columns by one range delete each (their blocks go through the compaction filter).
fn expire(
    db: &DB,
    windows: &Windows,
    now_ms: i64,
    report: &mut CompactionReport,
) -> StoreResult<()> {
    let before = windows.first_kept();
    let kept = windows.advance_retention(now_ms);
    let had_expired_recent = windows.recent_windows().first().is_some_and(|&w| w < kept);
    if kept == before && !had_expired_recent {
        return Ok(());
    }
    let _exclusive = windows.gate.write().unwrap_or_else(|p| p.into_inner());
    let mut batch = WriteBatch::default();
    let (from, to) = (flip(i64::MIN).to_vec(), flip(kept).to_vec());
    batch.delete_range_cf(family(db, CF_RECENT)?, &from, &to);
    batch.delete_range_cf(family(db, CF_TIMESTAMPS)?, &from, &to);
    db.write(batch).map_err(engine)?;
    let mut set = windows.recent.lock().unwrap_or_else(|p| p.into_inner());
    let expired: Vec<i64> = set.range(..kept).copied().collect();
    for w in &expired {
        set.remove(w);
    }
    windows.last_registered.store(i64::MIN, Ordering::Release);
    report.expired_windows += expired.len() as u64;
    info!(
        first_kept_ms = kept.saturating_mul(windows.block_ms),
        "dropped samples past retention"
    );
    Ok(())
}

/// Whether a block (by its key in the blocks family) is past retention: the compaction
/// filter's test.
pub(super) fn block_expired(key: &[u8], expired_before: &AtomicI64) -> bool {
    key.get(8..16)
        .and_then(unflip)
        .is_some_and(|w| w < expired_before.load(Ordering::Relaxed))
}

fn compact_window(
    db: &DB,
    windows: &Windows,
    w: i64,
    report: &mut CompactionReport,
    keep_going: &dyn Fn() -> bool,
) -> StoreResult<()> {
    let (recent_cf, blocks_cf) = (family(db, CF_RECENT)?, family(db, CF_BLOCKS)?);
    let columns_cf = family(db, CF_TIMESTAMPS)?;
    // Columns already written for this window (most series of a host share one).
    let mut written: HashSet<codec::ColumnId> = HashSet::new();
    let mut column = Vec::new();
    let window_end = after(&recent_key(w, u64::MAX, i64::MAX));
    let mut from = 0u64;
    let mut no_sync = WriteOptions::default();
    no_sync.set_sync(false);
    let mut block = Vec::new();
    let mut old = Vec::new();
    let mut merged = Vec::new();
    while keep_going() {
        let _exclusive = windows.gate.write().unwrap_or_else(|p| p.into_inner());
        let chunk = read_chunk(db, recent_cf, w, from, &window_end)?;
        let (Some(first), Some(last)) = (chunk.first(), chunk.last()) else {
            if window_is_empty(db, recent_cf, w, &window_end)? {
                let mut set = windows.recent.lock().unwrap_or_else(|p| p.into_inner());
                set.remove(&w);
                windows.last_registered.store(i64::MIN, Ordering::Release);
                report.windows += 1;
            }
            break;
        };
        let (first_id, last_id) = (first.0, last.0);
        let mut batch = WriteBatch::default();
        for (id, fresh) in &chunk {
            let key = block_key(*id, w);
            old.clear();
            if let Some(bytes) = db.get_pinned_cf(blocks_cf, key).map_err(engine)? {
                let all = (i64::MIN, i64::MAX);
                decode_block(db, &ReadOptions::default, w, &bytes, all.0, all.1, &mut old)?;
            }
            merged.clear();
            merge(&old, fresh, &mut merged);
            block.clear();
            if let Some(id) = codec::encode_sharing(&merged, &mut block, &mut column) {
                // In the same batch as the block, so no block ever names a missing column.
                if written.insert(id) {
                    batch.put_cf(columns_cf, column_key(w, &id), &column);
                }
            }
            batch.put_cf(blocks_cf, key, &block);
            report.blocks += 1;
            report.samples += fresh.len() as u64;
        }
        batch.delete_range_cf(
            recent_cf,
            recent_key(w, first_id, i64::MIN).to_vec(),
            after(&recent_key(w, last_id, i64::MAX)),
        );
        db.write_opt(batch, &no_sync).map_err(engine)?;
        debug!(window = w, first_id, last_id, "compacted a chunk");
        match last_id.checked_add(1) {
            Some(next) => from = next,
            None => break,
        }
    }
    // Drop the range tombstones and the samples they cover from disk now rather than
    // whenever RocksDB next compacts that part of the key space.
    db.compact_range_cf(recent_cf, Some(flip(w)), Some(window_end));
    Ok(())
}

/// The recent samples of window `w` from series `from` on, whole series at a time, until
/// about [`CHUNK_SAMPLES`].
fn read_chunk(
    db: &DB,
    cf: &ColumnFamily,
    w: i64,
    from: SeriesId,
    window_end: &[u8],
) -> StoreResult<Vec<(SeriesId, Vec<(i64, f64)>)>> {
    let mut ro = ReadOptions::default();
    ro.set_iterate_upper_bound(window_end.to_vec());
    let mut iter = db.raw_iterator_cf_opt(cf, ro);
    iter.seek(recent_key(w, from, i64::MIN));
    let mut chunk: Vec<(SeriesId, Vec<(i64, f64)>)> = Vec::new();
    let mut total = 0;
    while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
        let id = key
            .get(8..16)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| corrupt("recent sample key"))?;
        let sample = decode_recent(key, value)?;
        match chunk.last_mut() {
            Some((last, samples)) if *last == id => samples.push(sample),
            _ => {
                if total >= CHUNK_SAMPLES {
                    break;
                }
                chunk.push((id, vec![sample]));
            }
        }
        total += 1;
        iter.next();
    }
    iter.status().map_err(engine)?;
    Ok(chunk)
}

fn window_is_empty(db: &DB, cf: &ColumnFamily, w: i64, window_end: &[u8]) -> StoreResult<bool> {
    let mut ro = ReadOptions::default();
    ro.set_iterate_upper_bound(window_end.to_vec());
    let mut iter = db.raw_iterator_cf_opt(cf, ro);
    iter.seek(flip(w));
    let empty = !iter.valid();
    iter.status().map_err(engine)?;
    Ok(empty)
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
