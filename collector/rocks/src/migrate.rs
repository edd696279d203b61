//! The on-disk format version, checked (or recorded) on open, and the migration from
//! format 1.
//!
//! Opening a data directory of format 1 (one key per sample in the `samples` family): its
//! samples move into `recent` in batches, each batch's puts and the range delete of what it
//! moved in one atomic write, so a crash mid-way resumes where it stopped. The compactor
//! then turns closed windows into blocks as it does for fresh samples.

use crate::keys::{
    BLOCK_MS_KEY, CF_META, CF_RECENT, CF_SAMPLES_V1, FORMAT_KEY, FORMAT_VERSION, SEQ_KEY,
    decode_u64, family, unflip,
};
use crate::windows::{put_run, recent_key, reserved_seq};
use crate::{corrupt, engine};
use rocksdb::{DB, WriteBatch, WriteOptions};
use std::path::Path;
use std::time::{Duration, Instant};
use tracing::{info, warn};
use vigil_store::{StoreError, StoreResult};

/// Samples of one series in one window, gathered into one run: id, window, samples.
type Run = (u64, i64, Vec<(i64, f64)>);

/// Samples moved per atomic write.
const BATCH: usize = 100_000;

/// Moves every format-1 sample into `recent` (windows of `block_ms`), then records format
/// `to`. The caller drops the emptied family afterwards.
pub(super) fn from_format_1(db: &DB, block_ms: i64, to: u32) -> StoreResult<u64> {
    let legacy = family(db, CF_SAMPLES_V1)?;
    let recent = family(db, CF_RECENT)?;
    let started = Instant::now();
    let mut moved = 0u64;
    let meta = family(db, CF_META)?;
    // Runs get sequence numbers from the durable counter, advanced in each batch, so a
    // migration resumed after a crash never reuses a key.
    let mut seq = reserved_seq(db)?;
    info!("data directory is in format 1 (a key per sample); moving samples to format {to}");
    loop {
        let mut iter = db.raw_iterator_cf(legacy);
        iter.seek_to_first();
        let mut batch = WriteBatch::default();
        let mut first: Option<Vec<u8>> = None;
        let mut last: Option<Vec<u8>> = None;
        let mut n = 0;
        let mut run: Option<Run> = None;
        let mut value_buf = Vec::new();
        let mut flush = |run: Run, batch: &mut WriteBatch| {
            value_buf.clear();
            put_run(&mut value_buf, &run.2);
            batch.put_cf(recent, recent_key(run.1, run.0, seq), &value_buf);
            seq += 1;
        };
        while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
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
                        flush(done, &mut batch);
                    }
                    run = Some((id, w, vec![sample]));
                }
            }
            if first.is_none() {
                first = Some(key.to_vec());
            }
            last = Some(key.to_vec());
            n += 1;
            if n >= BATCH {
                break;
            }
            iter.next();
        }
        iter.status().map_err(engine)?;
        drop(iter);
        if let Some(done) = run.take() {
            flush(done, &mut batch);
        }
        let (Some(first), Some(mut last)) = (first, last) else {
            break;
        };
        batch.put_cf(meta, SEQ_KEY, seq.to_be_bytes());
        last.push(0);
        batch.delete_range_cf(legacy, first, last);
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
    let mut wo = WriteOptions::default();
    wo.set_sync(true);
    db.put_cf_opt(meta, FORMAT_KEY, to.to_be_bytes(), &wo)
        .map_err(engine)?;
    info!(
        moved,
        elapsed_s = started.elapsed().as_secs(),
        "format migration done; closed windows are compacted into blocks in the background"
    );
    Ok(moved)
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
    match db.get_cf(meta, FORMAT_KEY).map_err(engine)? {
        None => db
            .put_cf(meta, FORMAT_KEY, FORMAT_VERSION.to_be_bytes())
            .map_err(engine)?,
        Some(v) if v.as_slice() == FORMAT_VERSION.to_be_bytes() => {}
        Some(v) if v.as_slice() == 1u32.to_be_bytes() => {
            from_format_1(db, block_ms, FORMAT_VERSION)?;
        }
        Some(v) if v.as_slice() == 2u32.to_be_bytes() => {
            let mut wo = rocksdb::WriteOptions::default();
            wo.set_sync(true);
            db.put_cf_opt(meta, FORMAT_KEY, FORMAT_VERSION.to_be_bytes(), &wo)
                .map_err(engine)?;
            info!(
                "data directory upgraded from format 2 to {FORMAT_VERSION} (new blocks may use                  sparse integer packing; a Vigil that knows only format 2 refuses it now)"
            );
        }
        Some(v) => {
            return Err(StoreError::Corrupt {
                what: format!(
                    "on-disk format {v:?} in {} is not format 1, 2 or {FORMAT_VERSION}, which \
                     this version reads; was it written by a newer Vigil?",
                    dir.display()
                ),
            });
        }
    }
    Ok(block_ms)
}
