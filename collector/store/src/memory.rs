//! An in-memory [`Store`] for tests: the same behaviour as the RocksDB engine (it passes
//! the same `conformance` cases), nothing on disk, everything lost
//! when it is dropped.
//!
//! One `RwLock` guards all of it: tests want obvious correctness, not concurrency.

use super::forward::{self, ForwardBounds, ForwardRecord};
use super::stats::{PartStats, StoreMemory, StoreStats, labels_bytes};
use super::{
    AlertKey, CheckpointInfo, KvOp, Labels, SeriesId, SeriesSamples, Space, Store, StoreError,
    StoreResult, StoredAlert,
};
use crate::selector::Selector;
use prost::Message;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use vigil_proto::v1::Host;

/// A [`Store`] held in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    ids: BTreeMap<Labels, SeriesId>,
    labels: HashMap<SeriesId, Labels>,
    /// Series per host, counted when created.
    counts: HashMap<String, u64>,
    samples: HashMap<SeriesId, BTreeMap<i64, f64>>,
    hosts: BTreeMap<String, Host>,
    alerts: BTreeMap<AlertKey, StoredAlert>,
    records: BTreeMap<(Space, Vec<u8>), Vec<u8>>,
    /// The forwarding log, while forwarding is on.
    forward: Option<ForwardLog>,
    /// Sequence numbers of forwarding records; only grows.
    forward_seq: u64,
}

/// The forwarding log in memory: encoded records by sequence number.
#[derive(Debug, Default)]
struct ForwardLog {
    records: BTreeMap<u64, Vec<u8>>,
    /// Bytes written since the log was last empty.
    bytes: u64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Overwrites forwarding record `seq` with `value`, as damage on disk would: for tests
    /// of readers. Does nothing when there is no such record.
    pub fn damage_forward_record(&self, seq: u64, value: &[u8]) {
        if let Some(record) = self
            .write()
            .forward
            .as_mut()
            .and_then(|log| log.records.get_mut(&seq))
        {
            *record = value.to_vec();
        }
    }
}

impl Store for MemoryStore {
    fn resolve_series(
        &self,
        host: &str,
        series: &[Labels],
        max_series: u64,
    ) -> StoreResult<Vec<SeriesId>> {
        let mut inner = self.write();
        let new: BTreeSet<&Labels> = series
            .iter()
            .filter(|l| !inner.ids.contains_key(*l))
            .collect();
        let count = inner.counts.get(host).copied().unwrap_or(0);
        if count + new.len() as u64 > max_series {
            return Err(StoreError::SeriesLimit {
                host: host.to_owned(),
                limit: max_series,
            });
        }
        if !new.is_empty() {
            *inner.counts.entry(host.to_owned()).or_default() += new.len() as u64;
        }
        let mut ids = Vec::with_capacity(series.len());
        for labels in series {
            let next = inner.labels.len() as SeriesId + 1;
            let id = *inner.ids.entry(labels.clone()).or_insert(next);
            inner.labels.entry(id).or_insert_with(|| labels.clone());
            ids.push(id);
        }
        Ok(ids)
    }

    fn append(&self, samples: &[SeriesSamples]) -> StoreResult<()> {
        let mut inner = self.write();
        for series in samples {
            let stored = inner.samples.entry(series.id).or_default();
            stored.extend(series.samples.iter().copied());
        }
        let inner = &mut *inner;
        if let Some(log) = inner.forward.as_mut() {
            inner.forward_seq += 1;
            let mut value = Vec::new();
            forward::encode(samples, crate::clock::now_ms(), log.bytes, &mut value);
            log.bytes += value.len() as u64;
            log.records.insert(inner.forward_seq, value);
        }
        Ok(())
    }

    fn select(
        &self,
        selector: &Selector,
        limit: usize,
    ) -> StoreResult<(Vec<(SeriesId, Labels)>, bool)> {
        // `ids` is sorted by labels, so the first `limit` matches are the answer.
        let inner = self.read();
        let mut found = inner
            .ids
            .iter()
            .filter(|(labels, _)| selector.matches(labels))
            .map(|(labels, id)| (*id, labels.clone()));
        let out: Vec<_> = found.by_ref().take(limit).collect();
        let truncated = found.next().is_some();
        Ok((out, truncated))
    }

    fn samples(
        &self,
        id: SeriesId,
        start_ms: i64,
        end_ms: i64,
        out: &mut Vec<(i64, f64)>,
    ) -> StoreResult<()> {
        if end_ms < start_ms {
            return Ok(());
        }
        if let Some(stored) = self.read().samples.get(&id) {
            out.extend(stored.range(start_ms..=end_ms).map(|(t, v)| (*t, *v)));
        }
        Ok(())
    }

    fn put_host(&self, host: &Host) -> StoreResult<()> {
        // Stored as the RocksDB engine stores it (encoded, then decoded on read) so that
        // a test cannot depend on anything the wire form would lose.
        let copy = Host::decode(host.encode_to_vec().as_slice()).map_err(|e| {
            StoreError::Engine(format!("host {:?} does not round-trip: {e}", host.host))
        })?;
        self.write().hosts.insert(host.host.clone(), copy);
        Ok(())
    }

    fn host(&self, name: &str) -> StoreResult<Option<Host>> {
        Ok(self.read().hosts.get(name).cloned())
    }

    fn hosts(&self) -> StoreResult<Vec<Host>> {
        Ok(self.read().hosts.values().cloned().collect())
    }

    fn series_count(&self, host: &str) -> StoreResult<u64> {
        Ok(self.read().counts.get(host).copied().unwrap_or(0))
    }

    fn write_alerts(&self, put: &[StoredAlert], remove: &[AlertKey]) -> StoreResult<()> {
        let mut inner = self.write();
        for key in remove {
            inner.alerts.remove(key);
        }
        for alert in put {
            inner.alerts.insert(alert.key.clone(), alert.clone());
        }
        Ok(())
    }

    fn alerts(&self) -> StoreResult<Vec<StoredAlert>> {
        Ok(self.read().alerts.values().cloned().collect())
    }

    fn kv_write(&self, ops: &[KvOp]) -> StoreResult<()> {
        let mut inner = self.write();
        for op in ops {
            let key = (op.space, op.key.clone());
            match &op.value {
                Some(value) => inner.records.insert(key, value.clone()),
                None => inner.records.remove(&key),
            };
        }
        Ok(())
    }

    fn set_forwarding(&self, on: bool) -> StoreResult<()> {
        let mut inner = self.write();
        match (on, inner.forward.is_some()) {
            (true, false) => inner.forward = Some(ForwardLog::default()),
            (false, _) => inner.forward = None,
            (true, true) => {}
        }
        Ok(())
    }

    fn forward_bounds(&self) -> StoreResult<ForwardBounds> {
        let inner = self.read();
        let log = inner.forward.as_ref();
        Ok(ForwardBounds {
            first: log.and_then(|l| l.records.keys().next().copied()),
            readable: inner.forward_seq,
            bytes: log.map_or(0, |l| l.bytes),
        })
    }

    fn forward_read(
        &self,
        after: u64,
        max_samples: u64,
        max_records: usize,
    ) -> StoreResult<Vec<ForwardRecord>> {
        let inner = self.read();
        let mut out = Vec::new();
        let mut samples = 0;
        let Some(log) = inner.forward.as_ref() else {
            return Ok(out);
        };
        for (&seq, value) in log.records.range(after.saturating_add(1)..) {
            if samples >= max_samples || out.len() >= max_records {
                break;
            }
            let record = forward::decode(seq, value);
            samples += record.samples.max(1);
            out.push(record);
        }
        Ok(out)
    }

    fn forward_trim(&self, through: u64) -> StoreResult<()> {
        let mut inner = self.write();
        if let Some(log) = inner.forward.as_mut() {
            log.records = log.records.split_off(&through.saturating_add(1));
            if log.records.is_empty() {
                log.bytes = 0;
            }
        }
        Ok(())
    }

    fn series_labels(&self, ids: &[SeriesId]) -> StoreResult<Vec<Option<Labels>>> {
        let inner = self.read();
        Ok(ids.iter().map(|id| inner.labels.get(id).cloned()).collect())
    }

    fn series_after(
        &self,
        after: Option<SeriesId>,
        limit: usize,
    ) -> StoreResult<Vec<(SeriesId, Labels)>> {
        let inner = self.read();
        let mut ids: Vec<SeriesId> = inner
            .labels
            .keys()
            .copied()
            .filter(|id| after.is_none_or(|a| *id > a))
            .collect();
        ids.sort_unstable();
        ids.truncate(limit);
        Ok(ids
            .into_iter()
            .map(|id| (id, inner.labels[&id].clone()))
            .collect())
    }

    fn kv_scan(&self, space: Space) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>> {
        let inner = self.read();
        Ok(inner
            .records
            .range((space, Vec::new())..)
            .take_while(|((s, _), _)| *s == space)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect())
    }

    fn label_names(
        &self,
        selectors: &[Selector],
        window: Option<(i64, i64)>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        let names: BTreeSet<String> = if selectors.is_empty() {
            let inner = self.read();
            inner
                .ids
                .keys()
                .flat_map(|l| l.pairs().iter().map(|(n, _)| n.clone()))
                .collect()
        } else {
            self.select_any(selectors, window, limit)?
                .iter()
                .flat_map(|(_, l)| l.pairs().iter().map(|(n, _)| n.clone()))
                .collect()
        };
        Ok(names.into_iter().collect())
    }

    fn label_values(
        &self,
        name: &str,
        selectors: &[Selector],
        window: Option<(i64, i64)>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        let values: BTreeSet<String> = if selectors.is_empty() {
            let inner = self.read();
            inner.ids.keys().map(|l| l.get(name).to_owned()).collect()
        } else {
            self.select_any(selectors, window, limit)?
                .iter()
                .map(|(_, l)| l.get(name).to_owned())
                .collect()
        };
        Ok(values.into_iter().filter(|v| !v.is_empty()).collect())
    }

    fn checkpoint(&self, dir: &Path) -> StoreResult<CheckpointInfo> {
        Err(StoreError::Engine(format!(
            "cannot back up to {}: the in-memory store has nothing on disk to copy",
            dir.display()
        )))
    }

    fn stats(&self) -> StoreResult<StoreStats> {
        let inner = self.read();
        let by_host: BTreeMap<String, u64> = inner
            .counts
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(h, n)| (h.clone(), *n))
            .collect();
        let sample_count: u64 = inner.samples.values().map(|s| s.len() as u64).sum();
        let part = |name: &str, memory_bytes: u64, keys: u64| PartStats {
            name: name.to_owned(),
            memory_bytes,
            keys,
            ..PartStats::default()
        };
        let series_bytes: u64 = inner.ids.keys().map(labels_bytes).sum();
        let records_bytes: u64 = inner
            .records
            .iter()
            .map(|((_, k), v)| (k.len() + v.len()) as u64)
            .sum();
        Ok(StoreStats {
            engine: "memory".to_owned(),
            data_dir: None,
            disk_bytes: 0,
            wal_bytes: 0,
            parts: vec![
                part("series", series_bytes, inner.ids.len() as u64),
                part("samples", sample_count * 16, sample_count),
                part("hosts", 0, inner.hosts.len() as u64),
                part("alerts", 0, inner.alerts.len() as u64),
                part("state", records_bytes, inner.records.len() as u64),
            ],
            series: by_host.values().sum(),
            series_by_host: by_host.into_iter().collect(),
            samples: Some(sample_count),
            // No engine caches or memtables: its maps are the parts' `memory_bytes`.
            memory: StoreMemory::default(),
            pending_compaction_bytes: 0,
            damage: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformance() {
        crate::conformance::run_all(&MemoryStore::new());
    }

    #[test]
    fn stats_count_series_per_host_and_samples() {
        let store = MemoryStore::new();
        let a = Labels::from_pairs(&[("__name__", "up"), ("host", "a")]);
        let b = Labels::from_pairs(&[("__name__", "load1"), ("host", "a")]);
        let c = Labels::from_pairs(&[("__name__", "up"), ("host", "b")]);
        let ids = store.resolve_series("a", &[a, b], 10).unwrap();
        store.resolve_series("b", &[c], 10).unwrap();
        store
            .append(&[SeriesSamples {
                id: ids[0],
                samples: vec![(1, 1.0), (2, 2.0), (2, 3.0)],
            }])
            .unwrap();
        let stats = store.stats().unwrap();
        assert_eq!(stats.series, 3);
        assert_eq!(
            stats.series_by_host,
            vec![("a".to_owned(), 2), ("b".to_owned(), 1)]
        );
        assert_eq!(stats.samples, Some(2), "a replaced sample counts once");
        assert_eq!(stats.engine, "memory");
    }

    #[test]
    fn checkpoint_says_there_is_nothing_on_disk() {
        let err = MemoryStore::new()
            .checkpoint(Path::new("/tmp/never-written"))
            .unwrap_err();
        assert!(err.to_string().contains("nothing on disk"), "{err}");
        assert!(err.to_string().contains("/tmp/never-written"), "{err}");
    }
}
