//! The forwarding log in the `forward` family (key layout in [`crate::keys`], record format
//! in [`vigil_store::forward`]): what remote write sends from.
//!
//! While forwarding is on, `append` puts one record holding all the samples of the call
//! into the very `WriteBatch` that stores them ([`Forward::stage`]), so a sample is in the
//! log if and only if it is stored. A record's number comes from the durable sequence of
//! recent runs (meta "recent_seq"), so numbers only grow, across restarts too; they are
//! not contiguous (runs take numbers in between).
//!
//! Appends run on several threads at once and their batches commit in any order. A reader
//! that saw record N+1 before N committed would move its cursor past N for good, so
//! readers stop at [`vigil_store::ForwardBounds::readable`]: every number is allocated,
//! with its byte offset, under one short lock and kept in an in-flight set until its batch
//! is written; `readable` is one below the smallest number in flight (the highest number
//! allocated when none is). No lock is held across the RocksDB write, and with forwarding
//! off an append pays one atomic load.
//!
//! Trims and `set_forwarding(false)` are single range deletes. They are not synced: a crash
//! can bring trimmed records back, which readers skip by their cursors.

use crate::keys::{CF_FORWARD, CF_SERIES_BY_ID, after, decode_labelset, decode_u64, family};
use crate::windows::Windows;
use crate::{RocksStore, corrupt, engine};
use rocksdb::{DB, IteratorMode, ReadOptions, WriteBatch};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use vigil_store::forward::{self, ForwardBounds, ForwardRecord};
use vigil_store::{Labels, SeriesId, SeriesSamples, StoreResult};

/// Where the `offset` field sits in a record's header (`vigil_store::forward`, version 1:
/// after the version byte and `written_ms`). It is outside the checksum, so it is filled in
/// once the offset is allocated and the body can be encoded before taking the lock.
const OFFSET_AT: std::ops::Range<usize> = 9..17;

/// The forwarding log's state in memory (the records are on disk).
pub(super) struct Forward {
    /// Whether appends write records: the only thing an append reads when it is off.
    on: AtomicBool,
    state: Mutex<State>,
    /// Signalled when the in-flight set empties (`set_forwarding(false)` waits for it).
    drained: Condvar,
}

struct State {
    /// The authoritative switch (`on` mirrors it for the append path's quick look).
    on: bool,
    /// The highest number given to a record; at open, every number in use before.
    highest: u64,
    /// Numbers allocated whose batch is not written yet.
    in_flight: BTreeSet<u64>,
    /// Bytes of every record allocated since the log was last empty (the next offset).
    bytes: u64,
    /// Records at or below this are deleted: reads and bounds seek from above it.
    trimmed: u64,
}

impl State {
    fn readable(&self) -> u64 {
        self.in_flight.first().map_or(self.highest, |&seq| seq - 1)
    }
}

/// A record allocated and put in a batch; dropping it (once the batch is written, or has
/// failed) takes it out of the in-flight set.
pub(super) struct InFlight<'a> {
    forward: &'a Forward,
    seq: u64,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut state = self.forward.lock();
        state.in_flight.remove(&self.seq);
        if state.in_flight.is_empty() {
            self.forward.drained.notify_all();
        }
    }
}

fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// Just past every key of the family.
fn end_of_log() -> Vec<u8> {
    after(&seq_key(u64::MAX))
}

impl Forward {
    /// The state of the log in `db` at open: off, with the records already there kept.
    /// `reserved_seq` is the sequence reserved durably before this start: every number
    /// below it may have been used, so it is all readable now.
    pub(super) fn recover(db: &DB, reserved_seq: u64) -> StoreResult<Self> {
        let last = db
            .iterator_cf(family(db, CF_FORWARD)?, IteratorMode::End)
            .next();
        let (highest, bytes) = match last {
            Some(item) => {
                let (key, value) = item.map_err(engine)?;
                let seq = decode_u64(&key, "forwarding log key")?;
                let record = forward::decode(seq, &value);
                (seq, record.offset.saturating_add(record.len))
            }
            None => (0, 0),
        };
        Ok(Self {
            on: AtomicBool::new(false),
            state: Mutex::new(State {
                on: false,
                highest: highest.max(reserved_seq.saturating_sub(1)),
                in_flight: BTreeSet::new(),
                bytes,
                trimmed: 0,
            }),
            drained: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When forwarding is on, puts the record of `samples` (nothing for a call without
    /// samples) into `batch`; the caller writes the batch, then drops the returned guard.
    pub(super) fn stage(
        &self,
        db: &DB,
        windows: &Windows,
        samples: &[SeriesSamples],
        batch: &mut WriteBatch,
    ) -> StoreResult<Option<InFlight<'_>>> {
        if !self.on.load(Ordering::Acquire) || samples.iter().all(|s| s.samples.is_empty()) {
            return Ok(None);
        }
        let mut value = Vec::new();
        forward::encode(samples, vigil_store::clock::now_ms(), 0, &mut value);
        let (seq, offset) = {
            let mut state = self.lock();
            if !state.on {
                return Ok(None);
            }
            let mut seq = windows.take_seq(db)?;
            if seq == 0 {
                // 0 is the cursor of "nothing sent yet": no record may have it.
                seq = windows.take_seq(db)?;
            }
            debug_assert!(seq > state.highest, "record numbers only grow");
            let offset = state.bytes;
            state.bytes += value.len() as u64;
            state.highest = seq;
            state.in_flight.insert(seq);
            (seq, offset)
        };
        let guard = InFlight { forward: self, seq };
        value[OFFSET_AT].copy_from_slice(&offset.to_be_bytes());
        batch.put_cf(family(db, CF_FORWARD)?, seq_key(seq), &value);
        Ok(Some(guard))
    }

    /// [`vigil_store::Store::set_forwarding`]. Turning it off waits for the records in
    /// flight, then deletes every record.
    pub(super) fn set(&self, db: &DB, on: bool) -> StoreResult<()> {
        let mut state = self.lock();
        state.on = on;
        self.on.store(on, Ordering::Release);
        if on {
            return Ok(());
        }
        while !state.in_flight.is_empty() {
            state = self.drained.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        db.delete_range_cf(
            family(db, CF_FORWARD)?,
            seq_key(0).as_slice(),
            end_of_log().as_slice(),
        )
        .map_err(engine)?;
        state.bytes = 0;
        state.trimmed = state.highest;
        Ok(())
    }

    /// [`vigil_store::Store::forward_bounds`].
    pub(super) fn bounds(&self, db: &DB) -> StoreResult<ForwardBounds> {
        let (readable, bytes, trimmed) = {
            let state = self.lock();
            (state.readable(), state.bytes, state.trimmed)
        };
        let mut iter = db.raw_iterator_cf(family(db, CF_FORWARD)?);
        iter.seek(seq_key(trimmed.saturating_add(1)));
        let first = match iter.key() {
            Some(key) => Some(decode_u64(key, "forwarding log key")?),
            None => {
                iter.status().map_err(engine)?;
                None
            }
        };
        Ok(ForwardBounds {
            first,
            readable,
            bytes,
        })
    }

    /// [`vigil_store::Store::forward_read`].
    pub(super) fn read(
        &self,
        db: &DB,
        after_seq: u64,
        max_samples: u64,
        max_records: usize,
    ) -> StoreResult<Vec<ForwardRecord>> {
        let (readable, trimmed) = {
            let state = self.lock();
            (state.readable(), state.trimmed)
        };
        let mut out = Vec::new();
        if after_seq >= readable {
            return Ok(out);
        }
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(match readable.checked_add(1) {
            Some(end) => seq_key(end).to_vec(),
            None => end_of_log(),
        });
        let mut iter = db.raw_iterator_cf_opt(family(db, CF_FORWARD)?, ro);
        iter.seek(seq_key(after_seq.max(trimmed).saturating_add(1)));
        let mut samples = 0u64;
        while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
            if samples >= max_samples || out.len() >= max_records {
                break;
            }
            let record = forward::decode(decode_u64(key, "forwarding log key")?, value);
            samples += record.samples.max(1);
            out.push(record);
            iter.next();
        }
        iter.status().map_err(engine)?;
        Ok(out)
    }

    /// [`vigil_store::Store::forward_trim`]: one range delete of every record numbered up
    /// to `through` (at most `readable`: a record still in flight would be written after
    /// the delete); the byte count restarts at 0 when that empties the log.
    pub(super) fn trim(&self, db: &DB, through: u64) -> StoreResult<()> {
        let through = {
            let state = self.lock();
            let through = through.min(state.readable());
            if through <= state.trimmed {
                return Ok(());
            }
            through
        };
        let end = match through.checked_add(1) {
            Some(end) => seq_key(end).to_vec(),
            None => end_of_log(),
        };
        db.delete_range_cf(
            family(db, CF_FORWARD)?,
            seq_key(0).as_slice(),
            end.as_slice(),
        )
        .map_err(engine)?;
        let mut state = self.lock();
        state.trimmed = state.trimmed.max(through);
        if state.in_flight.is_empty() && state.highest <= through {
            state.bytes = 0;
        }
        Ok(())
    }
}

impl RocksStore {
    /// [`vigil_store::Store::series_labels`]: one multi-get on `series_by_id`.
    pub(super) fn labels_of(&self, ids: &[SeriesId]) -> StoreResult<Vec<Option<Labels>>> {
        let keys: Vec<[u8; 8]> = ids.iter().map(|id| id.to_be_bytes()).collect();
        self.db
            .batched_multi_get_cf(self.cf(CF_SERIES_BY_ID), &keys, false)
            .into_iter()
            .map(|value| match value.map_err(engine)? {
                Some(bytes) => decode_labelset(&bytes).map(Some),
                None => Ok(None),
            })
            .collect()
    }

    /// [`vigil_store::Store::series_after`]: a walk over `series_by_id` from above `after`.
    pub(super) fn series_from(
        &self,
        after_id: Option<SeriesId>,
        limit: usize,
    ) -> StoreResult<Vec<(SeriesId, Labels)>> {
        let start = match after_id {
            None => 0,
            Some(id) => match id.checked_add(1) {
                Some(next) => next,
                None => return Ok(Vec::new()),
            },
        };
        let mut out = Vec::new();
        let mut iter = self.db.raw_iterator_cf(self.cf(CF_SERIES_BY_ID));
        iter.seek(start.to_be_bytes());
        while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
            if out.len() >= limit {
                break;
            }
            let id = key
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| corrupt("series id key"))?;
            out.push((id, decode_labelset(value)?));
            iter.next();
        }
        iter.status().map_err(engine)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
