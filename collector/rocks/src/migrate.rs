//! The on-disk format version, checked (or recorded) on open, and the migrations from
//! formats 1 to 5.
//!
//! Format 1 kept one key per sample (the `samples` family); formats 2 and 3 one run per
//! series and append (the `recent` family). Opening such a directory moves those samples
//! into frames in `recent_frames` in batches, each batch's puts and the range delete of
//! what it moved in one atomic write, so a crash mid-way resumes where it stopped; the
//! emptied family is dropped after. The compactor then turns closed windows into blocks as
//! it does for fresh samples. Blocks are the same in formats 2 to 5. Formats 1 to 4 kept a
//! postings key per series and label pair (`postings`); they move the same way into
//! `posting_lists` (merges, which a resumed migration may repeat harmlessly: a list is a
//! set). Formats 1 to 5 keyed the `series` family by the label set alone; its keys are
//! re-keyed in place, host first (`keys::series_key`).

use crate::keys::{
    BLOCK_MS_KEY, CF_META, CF_POSTINGS, CF_POSTINGS_V4, CF_RECENT, CF_RECENT_V3, CF_SAMPLES_V1,
    CF_SERIES, FORMAT_KEY, FORMAT_VERSION, SEQ_KEY, SERIES_KEY_MARK, decode_u64, family, get_lp,
    series_key_of_encoded, unflip,
};
use crate::postings::{PostingWrites, posting_key};
use crate::windows::frame::{FrameBuf, group};
use crate::windows::{recent_key, reserved_seq};
use crate::{corrupt, engine};
use rocksdb::{ColumnFamily, DB, WriteBatch, WriteOptions};
use std::path::Path;
use std::time::{Duration, Instant};
use tracing::{info, warn};
use vigil_store::{StoreError, StoreResult};

/// Samples of one series in one window, gathered into one run: id, window, samples.
type Run = (u64, i64, Vec<(i64, f64)>);

/// Format-1 samples moved per atomic write.
const SAMPLES_PER_BATCH: usize = 100_000;

/// Runs of formats 2 and 3 moved per atomic write.
const RUNS_PER_BATCH: usize = 20_000;

/// Postings keys of formats 1 to 4 moved per atomic write.
const POSTINGS_PER_BATCH: usize = 200_000;

/// Label sets of formats 1 to 5 re-keyed per atomic write.
const LABEL_SETS_PER_BATCH: usize = 100_000;

/// Empties family `from` in synced atomic writes of up to `per_batch` keys each: `step`
/// gets every key and value, then `None` once before each write, and puts what they
/// become into the write, which also range-deletes the keys it read. A crash mid-way
/// resumes at the first key not moved. Returns how many keys moved.
fn drain(
    db: &DB,
    from: &ColumnFamily,
    per_batch: usize,
    step: impl FnMut(Option<(&[u8], &[u8])>, &mut WriteBatch) -> StoreResult<()>,
) -> StoreResult<u64> {
    drain_from(db, from, &[], per_batch, step)
}

/// [`drain`] of the keys of `from` at and after `start` only.
fn drain_from(
    db: &DB,
    from: &ColumnFamily,
    start: &[u8],
    per_batch: usize,
    mut step: impl FnMut(Option<(&[u8], &[u8])>, &mut WriteBatch) -> StoreResult<()>,
) -> StoreResult<u64> {
    let started = Instant::now();
    let mut moved = 0u64;
    loop {
        let mut iter = db.raw_iterator_cf(from);
        iter.seek(start);
        let mut batch = WriteBatch::default();
        let mut first: Option<Vec<u8>> = None;
        let mut last = Vec::new();
        let mut n = 0;
        while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
            step(Some((key, value)), &mut batch)?;
            first.get_or_insert_with(|| key.to_vec());
            last.clear();
            last.extend_from_slice(key);
            n += 1;
            if n >= per_batch {
                break;
            }
            iter.next();
        }
        iter.status().map_err(engine)?;
        drop(iter);
        let Some(first) = first else {
            break;
        };
        step(None, &mut batch)?;
        last.push(0);
        batch.delete_range_cf(from, first, last);
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        db.write_opt(batch, &wo).map_err(engine)?;
        moved += n as u64;
        info!(
            moved,
            elapsed_s = started.elapsed().as_secs(),
            "format migration in progress"
        );
    }
    Ok(moved)
}

/// Moves every format-1 sample into `recent_frames` (windows of `block_ms`). The caller
/// records the format and drops the emptied family afterwards.
fn from_format_1(db: &DB, block_ms: i64) -> StoreResult<u64> {
    let recent = family(db, CF_RECENT)?;
    let meta = family(db, CF_META)?;
    // Runs get sequence numbers from the durable counter, advanced in each batch, so a
    // migration resumed after a crash never reuses a key.
    let mut seq = reserved_seq(db)?;
    info!(
        "data directory is in format 1 (a key per sample); moving samples to format {FORMAT_VERSION}"
    );
    let mut run: Option<Run> = None;
    let flush = |run: Run, batch: &mut WriteBatch, seq: &mut u64| {
        let mut frame = FrameBuf::default();
        frame.push(run.0, &run.2);
        batch.put_cf(recent, recent_key(run.1, group(run.0), *seq), &frame.bytes);
        *seq += 1;
    };
    let moved = drain(
        db,
        family(db, CF_SAMPLES_V1)?,
        SAMPLES_PER_BATCH,
        |item, batch| {
            let Some((key, value)) = item else {
                if let Some(done) = run.take() {
                    flush(done, batch, &mut seq);
                }
                batch.put_cf(meta, SEQ_KEY, seq.to_be_bytes());
                return Ok(());
            };
            let (id, ts) = match (key.get(..8), key.get(8..).and_then(unflip)) {
                (Some(id), Some(ts)) if key.len() == 16 => (id, ts),
                _ => return Err(corrupt("format-1 sample key")),
            };
            let id = u64::from_be_bytes(id.try_into().map_err(|_| corrupt("sample id"))?);
            let bits: [u8; 8] = value
                .try_into()
                .map_err(|_| corrupt("format-1 sample value"))?;
            let sample = (ts, f64::from_bits(u64::from_be_bytes(bits)));
            let w = ts.div_euclid(block_ms);
            match &mut run {
                Some((rid, rw, samples)) if *rid == id && *rw == w => samples.push(sample),
                _ => {
                    if let Some(done) = run.take() {
                        flush(done, batch, &mut seq);
                    }
                    run = Some((id, w, vec![sample]));
                }
            }
            Ok(())
        },
    )?;
    info!(
        moved,
        "format migration done; closed windows are compacted into blocks in the background"
    );
    Ok(moved)
}

/// Moves every run of the `recent` family of formats 2 and 3 into `recent_frames`, each as a
/// frame of one entry under the run's own sequence number (unique, so no two runs meet
/// under one key and the order of writes is kept). The caller records the format and
/// drops the emptied family afterwards.
fn from_recent_runs(db: &DB) -> StoreResult<u64> {
    let frames = family(db, CF_RECENT)?;
    let mut samples = Vec::new();
    let moved = drain(
        db,
        family(db, CF_RECENT_V3)?,
        RUNS_PER_BATCH,
        |item, batch| {
            let Some((key, value)) = item else {
                return Ok(());
            };
            let field = |at: usize| -> StoreResult<[u8; 8]> {
                key.get(at..at + 8)
                    .and_then(|b| b.try_into().ok())
                    .filter(|_| key.len() == 24)
                    .ok_or_else(|| corrupt("format-3 recent run key"))
            };
            let (window, id, seq) = (field(0)?, u64::from_be_bytes(field(8)?), field(16)?);
            let w = unflip(&window).ok_or_else(|| corrupt("format-3 recent run key"))?;
            samples.clear();
            get_run(value, &mut samples)?;
            let mut frame = FrameBuf::default();
            frame.push(id, &samples);
            let key = recent_key(w, group(id), u64::from_be_bytes(seq));
            batch.put_cf(frames, key, &frame.bytes);
            Ok(())
        },
    )?;
    if moved > 0 {
        info!(
            runs = moved,
            "recent samples moved from runs (format 3) to frames (format {FORMAT_VERSION})"
        );
    }
    Ok(moved)
}

/// Moves every key of the `postings` family of formats 1 to 4 (`lp(name) lp(value) id`) into
/// the posting lists of `posting_lists`: one merge per pair and shard in each batch. The
/// caller drops the emptied family afterwards.
fn from_postings_keys(db: &DB) -> StoreResult<u64> {
    let lists = family(db, CF_POSTINGS)?;
    let mut writes = PostingWrites::default();
    let moved = drain(
        db,
        family(db, CF_POSTINGS_V4)?,
        POSTINGS_PER_BATCH,
        |item, batch| {
            let Some((key, _)) = item else {
                writes.write(batch, lists);
                return Ok(());
            };
            let bad = || corrupt("format-4 postings key");
            let (_, name_len) = get_lp(key).ok_or_else(bad)?;
            let (_, value_len) = get_lp(&key[name_len..]).ok_or_else(bad)?;
            let (pair, id) = key.split_at(name_len + value_len);
            let id = u64::from_be_bytes(id.try_into().map_err(|_| bad())?);
            writes.add_key(&posting_key(pair, id), id);
            Ok(())
        },
    )?;
    if moved > 0 {
        info!(
            keys = moved,
            "postings moved from a key per series and pair (format 4) to lists (format {FORMAT_VERSION})"
        );
    }
    Ok(moved)
}

/// Re-keys every label set of the `series` family of formats 1 to 5 (the set alone) by
/// [`series_key`](crate::keys::series_key) (its host first). Old keys start with a label name's length, never 0,
/// and new ones with 0, so they sort first and the old ones are drained from byte 1 on: a
/// resumed migration starts at the first key not yet moved. The empty label set (an old
/// key of no bytes) is moved on its own.
fn from_labelset_keys(db: &DB) -> StoreResult<u64> {
    let series = family(db, CF_SERIES)?;
    let mut moved = drain_from(
        db,
        series,
        &[SERIES_KEY_MARK + 1],
        LABEL_SETS_PER_BATCH,
        |item, batch| {
            if let Some((set, id)) = item {
                batch.put_cf(series, series_key_of_encoded(set)?, id);
            }
            Ok(())
        },
    )?;
    if let Some(id) = db.get_cf(series, []).map_err(engine)? {
        let mut batch = WriteBatch::default();
        batch.put_cf(series, series_key_of_encoded(&[])?, id);
        batch.delete_cf(series, []);
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        db.write_opt(batch, &wo).map_err(engine)?;
        moved += 1;
    }
    if moved > 0 {
        info!(
            series = moved,
            "series index re-keyed by host (format {FORMAT_VERSION})"
        );
    }
    Ok(moved)
}

/// The samples of a format-3 run: each as i64 timestamp and f64 bits, big-endian.
fn get_run(value: &[u8], out: &mut Vec<(i64, f64)>) -> StoreResult<()> {
    if !value.len().is_multiple_of(16) {
        return Err(corrupt("format-3 run of recent samples"));
    }
    for sample in value.chunks_exact(16) {
        let (ts, bits) = sample.split_at(8);
        let ts = i64::from_be_bytes(ts.try_into().map_err(|_| corrupt("recent sample"))?);
        let bits = u64::from_be_bytes(bits.try_into().map_err(|_| corrupt("recent sample"))?);
        out.push((ts, f64::from_bits(bits)));
    }
    Ok(())
}

/// Checks (or, for a new directory, records) the on-disk format, migrating format 1, and
/// returns the window length the directory uses.
pub(super) fn prepare_format(db: &DB, dir: &Path, block_duration: Duration) -> StoreResult<i64> {
    let meta = family(db, CF_META)?;
    let wanted_ms = i64::try_from(block_duration.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    let block_ms = match db.get_cf(meta, BLOCK_MS_KEY).map_err(engine)? {
        Some(v) => {
            let stored = decode_u64(&v, "block length")? as i64;
            if stored != wanted_ms {
                warn!(
                    stored_ms = stored,
                    configured_ms = wanted_ms,
                    "storage.block_duration differs from the one this data directory was \
                     created with; keeping the directory's"
                );
            }
            stored.max(1)
        }
        None => {
            db.put_cf(meta, BLOCK_MS_KEY, (wanted_ms as u64).to_be_bytes())
                .map_err(engine)?;
            wanted_ms
        }
    };
    let format = match db.get_cf(meta, FORMAT_KEY).map_err(engine)? {
        None => None,
        Some(v) => match <[u8; 4]>::try_from(v.as_slice()).map(u32::from_be_bytes) {
            Ok(f @ 1..=FORMAT_VERSION) => Some(f),
            _ => {
                return Err(StoreError::Corrupt {
                    what: format!(
                        "on-disk format {v:?} in {} is not one of formats 1 to {FORMAT_VERSION}, \
                         which this version reads; was it written by a newer Vigil?",
                        dir.display()
                    ),
                });
            }
        },
    };
    // A family of an older format is there until its samples have moved (also after a
    // crash between recording the format and dropping the family).
    if db.cf_handle(CF_RECENT_V3).is_some() {
        from_recent_runs(db)?;
    }
    if db.cf_handle(CF_POSTINGS_V4).is_some() {
        from_postings_keys(db)?;
    }
    if format == Some(1) {
        from_format_1(db, block_ms)?;
    }
    if format.is_some_and(|f| f < 6) {
        from_labelset_keys(db)?;
    }
    if format != Some(FORMAT_VERSION) {
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(true);
        db.put_cf_opt(meta, FORMAT_KEY, FORMAT_VERSION.to_be_bytes(), &wo)
            .map_err(engine)?;
        if let Some(from) = format {
            info!("data directory upgraded from format {from} to {FORMAT_VERSION}");
        }
    }
    Ok(block_ms)
}
