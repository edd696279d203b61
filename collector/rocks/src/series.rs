//! Series ids: the id of each label set, created (with its postings, under the per-host
//! limit) when missing, and the number of series per host.

use crate::keys::{
    CF_META, CF_POSTINGS, CF_SERIES, CF_SERIES_BY_ID, count_key, decode_u64, encode_labelset,
    put_lp,
};
use crate::{RocksStore, engine};
use rocksdb::WriteBatch;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use vigil_store::{Labels, SeriesId, StoreError, StoreResult};

/// Series about to be created: the write, and the id of each (by index into the call's
/// label sets).
struct Creation {
    batch: WriteBatch,
    ids: HashMap<usize, SeriesId>,
}

impl RocksStore {
    /// [`vigil_store::Store::resolve_series`]: one multi-get for the known label sets; the
    /// missing ones are created in one write, under the lock that keeps per-host counts.
    ///
    /// The creation write is prepared outside the lock (ids, postings), so that the lock
    /// covers only a second multi-get of the missing keys (another stream may have created
    /// some meanwhile), the count check and the write. It is not synced on its own: the
    /// samples of these series are appended after it through the same write-ahead log,
    /// so the append that acknowledges them (synced when `storage.sync` is on) makes the
    /// creation durable too, and a creation no acknowledged sample depends on may be lost
    /// harmlessly (its id is never reused: ids continue above the highest one stored).
    pub(crate) fn find_or_create_ids(
        &self,
        host: &str,
        series: &[Labels],
        max_series: u64,
    ) -> StoreResult<Vec<SeriesId>> {
        let keys: Vec<Vec<u8>> = series.iter().map(encode_labelset).collect();
        let mut ids = Vec::with_capacity(series.len());
        let mut missing = Vec::new();
        let all: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        for (i, got) in self.stored_ids(&all)?.into_iter().enumerate() {
            ids.push(got.unwrap_or(0));
            if got.is_none() {
                missing.push(i);
            }
        }
        if missing.is_empty() {
            return Ok(ids);
        }
        // The same label set twice in one call gets one id.
        let mut first_of: HashMap<&[u8], usize> = HashMap::new();
        missing.retain(|&i| *first_of.entry(keys[i].as_slice()).or_insert(i) == i);
        let mut plan = self.plan_creation(&keys, series, &missing);
        let mut counts = self.creating.lock().unwrap_or_else(|p| p.into_inner());
        let count = match counts.get(host) {
            Some(&n) => n,
            None => self.stored_count(host)?,
        };
        // Another stream may have created some of them since the lookup above.
        let again: Vec<&[u8]> = missing.iter().map(|&i| keys[i].as_slice()).collect();
        let mut raced = false;
        for (&i, got) in missing.iter().zip(self.stored_ids(&again)?) {
            if let Some(id) = got {
                plan.ids.remove(&i);
                ids[i] = id;
                raced = true;
            }
        }
        if raced {
            let left: Vec<usize> = missing
                .iter()
                .copied()
                .filter(|i| plan.ids.contains_key(i))
                .collect();
            plan = self.plan_creation(&keys, series, &left);
        }
        let new_count = count + plan.ids.len() as u64;
        if new_count > max_series {
            return Err(StoreError::SeriesLimit {
                host: host.to_owned(),
                limit: max_series,
            });
        }
        if !plan.ids.is_empty() {
            plan.batch
                .put_cf(self.cf(CF_META), count_key(host), new_count.to_be_bytes());
            self.db
                .write_opt(plan.batch, &self.write_options(false))
                .map_err(engine)?;
        }
        counts.insert(host.to_owned(), new_count);
        drop(counts);
        for (i, id) in plan.ids {
            ids[i] = id;
        }
        for (i, key) in keys.iter().enumerate() {
            if ids[i] == 0 {
                ids[i] = ids[first_of[key.as_slice()]];
            }
        }
        Ok(ids)
    }

    /// The stored id of each encoded label set in `keys`: one multi-get, in key order (what
    /// RocksDB reads fastest), answered in the order asked.
    fn stored_ids(&self, keys: &[&[u8]]) -> StoreResult<Vec<Option<SeriesId>>> {
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_unstable_by_key(|&i| keys[i]);
        let sorted: Vec<&[u8]> = order.iter().map(|&i| keys[i]).collect();
        let found = self
            .db
            .batched_multi_get_cf(self.cf(CF_SERIES), &sorted, true);
        let mut out = vec![None; keys.len()];
        for (&i, got) in order.iter().zip(found) {
            if let Some(v) = got.map_err(engine)? {
                out[i] = Some(decode_u64(&v, "series id")?);
            }
        }
        Ok(out)
    }

    /// Fresh ids for the label sets at `which` (indexes into `keys` and `series`), and the
    /// write that creates them: the id both ways and one posting per label pair.
    fn plan_creation(&self, keys: &[Vec<u8>], series: &[Labels], which: &[usize]) -> Creation {
        let mut batch = WriteBatch::default();
        let mut ids = HashMap::with_capacity(which.len());
        let (by_id, postings) = (self.cf(CF_SERIES_BY_ID), self.cf(CF_POSTINGS));
        let mut posting = Vec::new();
        // One range of consecutive ids for the call, even while other hosts create series:
        // a host's series then share a few groups of recent frames (`windows::frame`).
        let first = self.next_id.fetch_add(which.len() as u64, Ordering::SeqCst);
        for (&i, id) in which.iter().zip(first..) {
            ids.insert(i, id);
            batch.put_cf(self.cf(CF_SERIES), &keys[i], id.to_be_bytes());
            batch.put_cf(by_id, id.to_be_bytes(), &keys[i]);
            for (name, value) in series[i].pairs() {
                posting.clear();
                put_lp(&mut posting, name.as_bytes());
                put_lp(&mut posting, value.as_bytes());
                posting.extend_from_slice(&id.to_be_bytes());
                batch.put_cf(postings, &posting, []);
            }
        }
        Creation { batch, ids }
    }

    /// [`vigil_store::Store::series_count`]: from the cache of counts, else from `meta`.
    pub(crate) fn host_series_count(&self, host: &str) -> StoreResult<u64> {
        if let Some(&n) = self
            .creating
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(host)
        {
            return Ok(n);
        }
        self.stored_count(host)
    }

    fn stored_count(&self, host: &str) -> StoreResult<u64> {
        match self
            .db
            .get_cf(self.cf(CF_META), count_key(host))
            .map_err(engine)?
        {
            Some(v) => decode_u64(&v, "series count"),
            None => Ok(0),
        }
    }
}
