//! Series ids: the id of each label set, created (with its postings, under the per-host
//! limit) when missing, and the number of series per host.

use crate::keys::{
    CF_META, CF_POSTINGS, CF_SERIES, CF_SERIES_BY_ID, count_key, decode_u64, series_key,
    series_key_host, series_key_labels,
};
use crate::postings::CreatedPostings;
use crate::{RocksStore, engine};
use foldhash::{HashMap, HashSet};
use rocksdb::WriteBatch;
use std::hash::BuildHasher;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use vigil_store::{Labels, SeriesId, StoreError, StoreResult};

/// Series about to be created: the write, and the id of each (by index into the call's
/// label sets).
struct Creation {
    batch: WriteBatch,
    ids: Vec<(usize, SeriesId)>,
}

/// Who is creating which series: each host's series count, behind the host's own lock
/// (held across that host's creation write, so its counts are written in order), and the
/// label sets some call is writing right now (so no two calls create the same one).
#[derive(Default)]
pub(crate) struct Creating {
    /// Series per host, when known (`None` until read from `meta`).
    hosts: Mutex<HashMap<String, Arc<Mutex<Option<u64>>>>>,
    /// The hashes of encoded label sets being created, from the check that they are missing
    /// until their write returns. Two label sets with one hash only make one call wait for
    /// the other's write, as if they were the same.
    in_flight: Mutex<HashSet<u64>>,
    /// How [`Self::in_flight`] hashes label sets (seeded once per process).
    hasher: foldhash::fast::RandomState,
    /// Signalled whenever label sets leave `in_flight`.
    landed: Condvar,
}

impl Creating {
    /// The count of `host`, added to the map when missing.
    fn host(&self, host: &str) -> Arc<Mutex<Option<u64>>> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = hosts.get(host) {
            return Arc::clone(count);
        }
        Arc::clone(hosts.entry(host.to_owned()).or_default())
    }

    fn in_flight(&self) -> MutexGuard<'_, HashSet<u64>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }
}

/// Label sets claimed in [`Creating::in_flight`] by one call: released when dropped, after
/// the write or on any way out of it, and the waiting calls woken.
struct Claim<'a> {
    creating: &'a Creating,
    hashes: Vec<u64>,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut in_flight = self.creating.in_flight();
        for hash in &self.hashes {
            in_flight.remove(hash);
        }
        drop(in_flight);
        self.creating.landed.notify_all();
    }
}

impl RocksStore {
    /// [`vigil_store::Store::resolve_series`]: one multi-get for the known label sets; the
    /// missing ones are created in one write.
    ///
    /// Calls of different hosts create series at the same time: only the claim of the
    /// call's label sets in `in_flight` is made under one global lock. Then, with no other
    /// call able to write them, they are looked up, and the missing ones written under the
    /// host's own lock, which keeps its count. A call that finds one of its label sets
    /// claimed by another waits for that call to finish and starts again. The creation
    /// write is prepared before the host's lock (ids, postings). It is not synced on its
    /// own: the samples of these series are appended after it through the same write-ahead
    /// log, so the append that acknowledges them (synced when `storage.sync` is on) makes
    /// the creation durable too, and a creation no acknowledged sample depends on may be
    /// lost harmlessly (its id is never reused: ids continue above the highest one stored).
    pub(crate) fn find_or_create_ids(
        &self,
        host: &str,
        series: &[Labels],
        max_series: u64,
    ) -> StoreResult<Vec<SeriesId>> {
        let keys: Vec<Vec<u8>> = series.iter().map(series_key).collect();
        loop {
            if let Some(ids) = self.try_create(host, &keys, series, max_series)? {
                return Ok(ids);
            }
        }
    }

    /// One attempt of [`Self::find_or_create_ids`]: `None` when another call was writing
    /// one of the label sets (after waiting for it).
    ///
    /// The label sets are claimed before they are looked up, so one lookup is enough: a
    /// write of any of them that landed before the claim is seen by it, and no other call
    /// can write them until the claim is dropped.
    fn try_create(
        &self,
        host: &str,
        keys: &[Vec<u8>],
        series: &[Labels],
        max_series: u64,
    ) -> StoreResult<Option<Vec<SeriesId>>> {
        let hashes: Vec<u64> = keys.iter().map(|k| self.creating.hash(k)).collect();
        let mut in_flight = self.creating.in_flight();
        if hashes.iter().any(|h| in_flight.contains(h)) {
            drop(
                self.creating
                    .landed
                    .wait(in_flight)
                    .unwrap_or_else(|p| p.into_inner()),
            );
            return Ok(None);
        }
        in_flight.extend(hashes.iter().copied());
        drop(in_flight);
        let claim = Claim {
            creating: &self.creating,
            hashes,
        };
        // The keys in order once: the lookup reads them so, equal ones (the same label set
        // twice in one call) sit side by side, and the creation writes them so.
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_unstable_by(|&a, &b| keys[a].cmp(&keys[b]).then(a.cmp(&b)));
        let stored = if self.host_has_none(keys)? {
            vec![None; keys.len()]
        } else {
            self.stored_ids(keys, &order)?
        };
        let mut ids: Vec<SeriesId> = stored.iter().map(|got| got.unwrap_or(0)).collect();
        // The missing label sets, in the call's order and in key order, each once; and each
        // repeat of one with the index of its first.
        let mut missing_sorted = Vec::new();
        let mut repeats = Vec::new();
        for (n, &i) in order.iter().enumerate() {
            if stored[i].is_some() {
                continue;
            }
            match n.checked_sub(1).map(|p| order[p]) {
                Some(before) if keys[before] == keys[i] => {
                    let first = repeats
                        .last()
                        .filter(|&&(r, _)| r == before)
                        .map_or(before, |&(_, first)| first);
                    repeats.push((i, first));
                }
                _ => missing_sorted.push(i),
            }
        }
        if missing_sorted.is_empty() {
            return Ok(Some(ids));
        }
        let mut missing = missing_sorted.clone();
        missing.sort_unstable();
        let mut plan = self.plan_creation(keys, series, &missing, &missing_sorted)?;
        let count_of_host = self.creating.host(host);
        let mut count = count_of_host.lock().unwrap_or_else(|p| p.into_inner());
        let known = match *count {
            Some(n) => n,
            None => self.stored_count(host)?,
        };
        let new_count = known + plan.ids.len() as u64;
        if new_count > max_series {
            return Err(StoreError::SeriesLimit {
                host: host.to_owned(),
                limit: max_series,
            });
        }
        let written = if plan.ids.is_empty() {
            Ok(())
        } else {
            plan.batch
                .put_cf(self.cf(CF_META), count_key(host), new_count.to_be_bytes());
            self.db
                .write_opt(plan.batch, &self.write_options(false))
                .map_err(engine)
        };
        if written.is_ok() {
            *count = Some(new_count);
        }
        drop(count);
        drop(claim);
        written?;
        for (i, id) in plan.ids {
            ids[i] = id;
        }
        for (i, first) in repeats {
            ids[i] = ids[first];
        }
        Ok(Some(ids))
    }

    /// Whether nothing is stored under the host every key in `keys` shares: then each of
    /// them is missing, known from one seek instead of a lookup of each (a new host's
    /// first call). False when the keys do not share one host.
    fn host_has_none(&self, keys: &[Vec<u8>]) -> StoreResult<bool> {
        let Some(first) = keys.first() else {
            return Ok(false);
        };
        let host = series_key_host(first)?;
        if !keys.iter().all(|k| k.starts_with(host)) {
            return Ok(false);
        }
        let mut iter = self.db.raw_iterator_cf(self.cf(CF_SERIES));
        iter.seek(host);
        if let Some(key) = iter.key() {
            return Ok(!key.starts_with(host));
        }
        iter.status().map_err(engine)?;
        Ok(true)
    }

    /// The stored id of each encoded label set in `keys`, `order` being their indexes in key
    /// order: one multi-get, in key order (what RocksDB reads fastest), answered in the
    /// order asked.
    fn stored_ids(&self, keys: &[Vec<u8>], order: &[usize]) -> StoreResult<Vec<Option<SeriesId>>> {
        let sorted: Vec<&[u8]> = order.iter().map(|&i| keys[i].as_slice()).collect();
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

    /// Fresh ids for the label sets at `which` (indexes into `keys` and `series`, ascending;
    /// `sorted` holds the same in key order), and the write that creates them: the id both
    /// ways, and one posting merge per label pair and shard the call touches
    /// (`postings.rs`).
    fn plan_creation(
        &self,
        keys: &[Vec<u8>],
        series: &[Labels],
        which: &[usize],
        sorted: &[usize],
    ) -> StoreResult<Creation> {
        // Room for the whole write up front (the label set twice, ids, framing, and about a
        // posting merge per series), where growing it copied it again at each doubling.
        let bytes = which.iter().map(|&i| 2 * keys[i].len() + 64).sum();
        let mut batch = WriteBatch::with_capacity_bytes(bytes);
        let by_id = self.cf(CF_SERIES_BY_ID);
        let mut postings = CreatedPostings::default();
        // One range of consecutive ids for the call, even while other hosts create series:
        // a host's series then share a few groups of recent frames (`windows::frame`).
        let first = self.next_id.fetch_add(which.len() as u64, Ordering::SeqCst);
        let ids: Vec<(usize, SeriesId)> = which.iter().copied().zip(first..).collect();
        // In id order: each new label set's entry by id and its postings; and its id by index
        // (0: not created here) for the key-order pass below, a lookup in a slice where a hash
        // map cost two hashes per series.
        let mut id_at = vec![0; keys.len()];
        for &(i, id) in &ids {
            id_at[i] = id;
            batch.put_cf(by_id, id.to_be_bytes(), series_key_labels(&keys[i])?);
            for (name, value) in series[i].pairs() {
                postings.add(name, value, id);
            }
        }
        // Each family's entries in key order (the ids above already are): RocksDB inserts
        // an entry into a memtable starting from where the one before went, so neighbours
        // cost a few comparisons where entries in random order cost a search each.
        let series_cf = self.cf(CF_SERIES);
        for i in sorted {
            batch.put_cf(series_cf, &keys[*i], id_at[*i].to_be_bytes());
        }
        let cf = self.cf(CF_POSTINGS);
        postings.each_merge(|key, operand| batch.merge_cf(cf, key, operand));
        Ok(Creation { batch, ids })
    }

    /// [`vigil_store::Store::series_count`]: from the cache of counts (after any creation
    /// of the host's under way), else from `meta`.
    pub(crate) fn host_series_count(&self, host: &str) -> StoreResult<u64> {
        let cached = self
            .creating
            .hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(host)
            .map(Arc::clone);
        if let Some(count) = cached
            && let Some(n) = *count.lock().unwrap_or_else(|p| p.into_inner())
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

#[cfg(test)]
mod tests {
    use crate::{RocksOptions, RocksStore};
    use std::collections::{HashMap, HashSet};
    use std::sync::Arc;
    use vigil_store::selector::Selector;
    use vigil_store::{Labels, Store};

    #[test]
    fn concurrent_calls_give_each_label_set_one_id_and_count_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(RocksStore::open(dir.path(), RocksOptions::with_sync(false)).unwrap());
        let (threads, shared, own) = (6usize, 1_500usize, 500usize);
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    // Every thread asks for the shared label sets, from a different start
                    // and in calls of 100, mixed with label sets only it has.
                    let mut sets: Vec<Labels> = (0..shared)
                        .map(|k| (k + t * 250) % shared)
                        .map(|k| {
                            Labels::from_pairs(&[("__name__", "shared"), ("k", &k.to_string())])
                        })
                        .collect();
                    for k in 0..own {
                        let at = (k * 3) % sets.len();
                        let own = Labels::from_pairs(&[
                            ("__name__", "own"),
                            ("t", &t.to_string()),
                            ("k", &k.to_string()),
                        ]);
                        sets.insert(at, own);
                    }
                    let mut got = HashMap::new();
                    for chunk in sets.chunks(100) {
                        let ids = store
                            .resolve_series(&format!("h{t}"), chunk, u64::MAX)
                            .unwrap();
                        got.extend(chunk.iter().cloned().zip(ids));
                    }
                    got
                })
            })
            .collect();
        let results: Vec<HashMap<Labels, u64>> =
            workers.into_iter().map(|w| w.join().unwrap()).collect();
        let mut id_of: HashMap<Labels, u64> = HashMap::new();
        for got in &results {
            for (labels, &id) in got {
                assert_eq!(*id_of.entry(labels.clone()).or_insert(id), id, "{labels:?}");
            }
        }
        let distinct: HashSet<u64> = id_of.values().copied().collect();
        assert_eq!(
            distinct.len(),
            shared + threads * own,
            "one id per label set"
        );
        let (found, _) = store
            .select(
                &Selector::parse(r#"{__name__="shared"}"#).unwrap(),
                usize::MAX,
            )
            .unwrap();
        assert_eq!(found.len(), shared);
        let counted: u64 = (0..threads)
            .map(|t| store.series_count(&format!("h{t}")).unwrap())
            .sum();
        assert_eq!(counted, (shared + threads * own) as u64);
        // The same counts after a reopen, from `meta`.
        drop(found);
        let store = Arc::into_inner(store).unwrap();
        drop(store);
        let store = RocksStore::open(dir.path(), RocksOptions::with_sync(false)).unwrap();
        let counted: u64 = (0..threads)
            .map(|t| store.series_count(&format!("h{t}")).unwrap())
            .sum();
        assert_eq!(counted, (shared + threads * own) as u64);
    }

    #[test]
    fn repeats_in_a_call_share_an_id_and_a_new_host_is_told_from_one_with_a_longer_name() {
        let dir = tempfile::tempdir().unwrap();
        let store = RocksStore::open(dir.path(), RocksOptions::with_sync(false)).unwrap();
        let set = |host: &str, k: u32| {
            Labels::from_pairs(&[("__name__", "m"), ("host", host), ("k", &k.to_string())])
        };
        // "web-10" first: "web-1"'s label sets must not be taken for stored under it.
        let long = store
            .resolve_series("web-10", &[set("web-10", 1), set("web-10", 2)], 10)
            .unwrap();
        let calls = [
            vec![
                set("web-1", 2),
                set("web-1", 1),
                set("web-1", 2),
                set("web-1", 2),
            ],
            // Stored and new mixed, repeats of both.
            vec![
                set("web-1", 1),
                set("web-1", 3),
                set("web-1", 1),
                set("web-1", 3),
            ],
            // Two hosts in one call.
            vec![
                set("web-10", 2),
                set("web-1", 3),
                set("web-1", 4),
                set("web-10", 3),
            ],
        ];
        let mut id_of: HashMap<Labels, u64> = HashMap::new();
        for (labels, id) in [set("web-10", 1), set("web-10", 2)].into_iter().zip(long) {
            id_of.insert(labels, id);
        }
        for call in calls {
            let ids = store.resolve_series("web-1", &call, 10).unwrap();
            for (labels, id) in call.into_iter().zip(ids) {
                assert_ne!(id, 0);
                assert_eq!(*id_of.entry(labels.clone()).or_insert(id), id, "{labels:?}");
            }
        }
        let distinct: HashSet<u64> = id_of.values().copied().collect();
        assert_eq!(distinct.len(), id_of.len(), "{id_of:?}");
        assert_eq!(id_of.len(), 7);
        // Counted under the host each call named.
        assert_eq!(store.series_count("web-10").unwrap(), 2);
        assert_eq!(store.series_count("web-1").unwrap(), 5);
    }
}
