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

impl RocksStore {
    /// [`vigil_store::Store::resolve_series`]: one multi-get for the known label sets; the
    /// missing ones are created in one write, under the lock that keeps per-host counts.
    pub(crate) fn find_or_create_ids(
        &self,
        host: &str,
        series: &[Labels],
        max_series: u64,
    ) -> StoreResult<Vec<SeriesId>> {
        let cf = self.cf(CF_SERIES);
        let keys: Vec<Vec<u8>> = series.iter().map(encode_labelset).collect();
        let mut ids = Vec::with_capacity(series.len());
        let found = self.db.batched_multi_get_cf(cf, &keys, false);
        let mut missing = Vec::new();
        for (i, got) in found.into_iter().enumerate() {
            match got.map_err(engine)? {
                Some(v) => ids.push(decode_u64(&v, "series id")?),
                None => {
                    ids.push(0);
                    missing.push(i);
                }
            }
        }
        if missing.is_empty() {
            return Ok(ids);
        }
        let mut counts = self.creating.lock().unwrap_or_else(|p| p.into_inner());
        let count = match counts.get(host) {
            Some(&n) => n,
            None => self.stored_count(host)?,
        };
        let mut batch = WriteBatch::default();
        let mut created: HashMap<&[u8], u64> = HashMap::new();
        for i in missing {
            // Another stream may have created it since the lookup above.
            if let Some(v) = self.db.get_cf(cf, &keys[i]).map_err(engine)? {
                ids[i] = decode_u64(&v, "series id")?;
                continue;
            }
            if let Some(&id) = created.get(keys[i].as_slice()) {
                ids[i] = id;
                continue;
            }
            let id = self.next_id.fetch_add(1, Ordering::SeqCst);
            created.insert(&keys[i], id);
            ids[i] = id;
            batch.put_cf(cf, &keys[i], id.to_be_bytes());
            batch.put_cf(self.cf(CF_SERIES_BY_ID), id.to_be_bytes(), &keys[i]);
            for (name, value) in series[i].pairs() {
                let mut posting = Vec::new();
                put_lp(&mut posting, name.as_bytes());
                put_lp(&mut posting, value.as_bytes());
                posting.extend_from_slice(&id.to_be_bytes());
                batch.put_cf(self.cf(CF_POSTINGS), posting, []);
            }
        }
        let new_count = count + created.len() as u64;
        if new_count > max_series {
            return Err(StoreError::SeriesLimit {
                host: host.to_owned(),
                limit: max_series,
            });
        }
        if !created.is_empty() {
            batch.put_cf(self.cf(CF_META), count_key(host), new_count.to_be_bytes());
            self.db
                .write_opt(batch, &self.write_options(true))
                .map_err(engine)?;
        }
        counts.insert(host.to_owned(), new_count);
        Ok(ids)
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
