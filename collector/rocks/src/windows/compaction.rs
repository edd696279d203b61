//! Compaction of closed windows into blocks, and retention (see the life of a sample in
//! the crate docs). Runs on the compactor thread; holds the appends' gate exclusively for one
//! chunk of series at a time.

use super::{Windows, block_key, column_key, decode_block, frame, merge, recent_key, settle};
use crate::codec;
use crate::keys::{
    CF_BLOCKS, CF_RECENT, CF_ROLLUP, CF_TIMESTAMPS, FAMILIES, after, family, flip, unflip,
};
use crate::{corrupt, engine, rollup};
use rocksdb::{ColumnFamily, DB, ReadOptions, WriteBatch, WriteOptions};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use tracing::{debug, info};
use vigil_store::{SeriesId, StoreResult};

/// Recent samples read into one compaction chunk (then the chunk's series are finished).
const CHUNK_SAMPLES: usize = 50_000;

/// The recent samples of one series in one window, oldest first.
type SeriesRun = (SeriesId, Vec<(i64, f64)>);

/// The first and last group of ids a chunk read.
type Groups = Option<(u64, u64)>;

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

/// Compacts every window that closed before `now_ms` and may hold recent samples, and
/// with `idle` (few samples arrived since the previous pass) the still-open windows too,
/// each once: a store that stopped receiving samples (a backfill done, agents gone) then
/// keeps none of them uncompressed until the window closes. The samples that come after
/// go to `recent` and are merged into the block when the window closes, as late samples
/// are (so a window's block is rewritten at most once more, and with jittered timestamps
/// at most one shared timestamp column per host is left unused).
///
/// After compacting, the pass has RocksDB rewrite the emptied part of `recent` and flushes
/// the memtables (see [`tidy`]). With `defer_tidy`, a pass that found samples arriving and
/// more than one window to compact (a backfill in progress: more windows follow within
/// seconds) leaves that to a later pass, which covers every window compacted since: each
/// rewrite of `recent` while a backfill writes to it also rewrites the backfill's newest
/// samples, and each flush adds a small file that RocksDB merges again.
/// `keep_going` is asked between chunks; when it says no, the pass stops early.
pub(crate) fn compact(
    db: &DB,
    windows: &Windows,
    now_ms: i64,
    idle: bool,
    defer_tidy: bool,
    keep_going: &dyn Fn() -> bool,
) -> StoreResult<CompactionReport> {
    let mut report = CompactionReport::default();
    expire(db, windows, now_ms, &mut report)?;
    let closed: Vec<i64> = windows
        .recent_windows()
        .into_iter()
        .filter(|&w| {
            windows.closed(w, now_ms) || (idle && w > windows.early.load(Ordering::Acquire))
        })
        .collect();
    if let Some(&last) = closed.last()
        && !windows.closed(last, now_ms)
    {
        windows.early.fetch_max(last, Ordering::AcqRel);
    }
    if !closed.is_empty() {
        info!(
            windows = closed.len(),
            "compacting closed windows into blocks"
        );
    }
    for &w in &closed {
        compact_window(db, windows, w, &mut report, keep_going)?;
    }
    let mut untidy = windows.untidy.lock().unwrap_or_else(|p| p.into_inner());
    if let (Some(&first), Some(&last)) = (closed.first(), closed.last()) {
        *untidy = Some(untidy.map_or((first, last), |(a, b)| (a.min(first), b.max(last))));
    }
    let busy = !idle && closed.len() > 1;
    if let Some(range) = *untidy
        && !(defer_tidy && busy)
    {
        tidy(db, range)?;
        *untidy = None;
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

/// After windows `first..=last` were compacted: drops the range tombstones and the samples
/// they cover from disk now rather than whenever RocksDB next compacts that part of the key
/// space, and releases the write-ahead log.
fn tidy(db: &DB, (first, last): (i64, i64)) -> StoreResult<()> {
    let end = after(&recent_key(last, u64::MAX, u64::MAX));
    db.compact_range_cf(family(db, CF_RECENT)?, Some(flip(first)), Some(end));
    release_write_ahead_log(db);
    Ok(())
}

/// Flushes every family's memtable after a pass that wrote blocks. A write-ahead log file
/// is kept until every family with a write in it has flushed; the samples just moved into
/// blocks are already on disk twice (blocks, and the log of their `recent` writes), and the
/// small families (series, meta, …) would otherwise hold old log files for a long time.
/// Measured on the peer benchmark (259 M samples): the log was 154 MB of a 342 MB store.
fn release_write_ahead_log(db: &DB) {
    for name in FAMILIES {
        if let Some(cf) = db.cf_handle(name)
            && let Err(e) = db.flush_cf(cf)
        {
            debug!(family = name, error = %e, "flushing after compaction failed");
        }
    }
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
pub(crate) fn block_expired(key: &[u8], expired_before: &AtomicI64) -> bool {
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
    let rollup_cf = family(db, CF_ROLLUP)?;
    let mut buckets = Vec::new();
    // Columns already written for this window (most series of a host share one).
    let mut written: HashSet<codec::ColumnId> = HashSet::new();
    let mut column = Vec::new();
    let window_end = after(&recent_key(w, u64::MAX, u64::MAX));
    let mut from = 0u64;
    let mut no_sync = WriteOptions::default();
    no_sync.set_sync(false);
    let mut block = Vec::new();
    let mut old = Vec::new();
    let mut merged = Vec::new();
    while keep_going() {
        let _exclusive = windows.gate.write().unwrap_or_else(|p| p.into_inner());
        let (chunk, groups) = read_chunk(db, recent_cf, w, from, &window_end)?;
        let Some((first_group, last_group)) = groups else {
            if window_is_empty(db, recent_cf, w, &window_end)? {
                let mut set = windows.recent.lock().unwrap_or_else(|p| p.into_inner());
                set.remove(&w);
                windows.last_registered.store(i64::MIN, Ordering::Release);
                report.windows += 1;
            }
            break;
        };
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
            // The downsampled tiers of the whole window, in the same batch as its block.
            rollup::put(
                &mut batch,
                rollup_cf,
                &windows.tiers,
                *id,
                w,
                &merged,
                &mut buckets,
            );
            report.blocks += 1;
            report.samples += fresh.len() as u64;
        }
        batch.delete_range_cf(
            recent_cf,
            recent_key(w, first_group, 0).to_vec(),
            after(&recent_key(w, last_group, u64::MAX)),
        );
        db.write_opt(batch, &no_sync).map_err(engine)?;
        debug!(window = w, first_group, last_group, "compacted a chunk");
        match last_group.checked_add(1) {
            Some(next) => from = next,
            None => break,
        }
    }
    Ok(())
}

/// The recent samples of window `w` from group `from` on, whole groups at a time, until
/// about [`CHUNK_SAMPLES`]: each series' samples in time order (the last written of each
/// timestamp), and the first and last group read (none when the window has no more).
fn read_chunk(
    db: &DB,
    cf: &ColumnFamily,
    w: i64,
    from: u64,
    window_end: &[u8],
) -> StoreResult<(Vec<SeriesRun>, Groups)> {
    let mut ro = ReadOptions::default();
    ro.set_iterate_upper_bound(window_end.to_vec());
    let mut iter = db.raw_iterator_cf_opt(cf, ro);
    iter.seek(recent_key(w, from, 0));
    let mut runs: BTreeMap<SeriesId, Vec<(i64, f64)>> = BTreeMap::new();
    let mut groups: Groups = None;
    let mut total = 0;
    while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
        let g = key
            .get(8..16)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| corrupt("recent sample key"))?;
        match &mut groups {
            Some((_, last)) if *last == g => {}
            Some(_) if total >= CHUNK_SAMPLES => break,
            Some((_, last)) => *last = g,
            None => groups = Some((g, g)),
        }
        let first = frame::first_id(g);
        frame::for_each(value, |offset, ts, v| {
            runs.entry(first + offset).or_default().push((ts, v));
            total += 1;
        })?;
        iter.next();
    }
    iter.status().map_err(engine)?;
    let mut chunk: Vec<SeriesRun> = runs.into_iter().collect();
    for (_, samples) in &mut chunk {
        settle(samples);
    }
    Ok((chunk, groups))
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
