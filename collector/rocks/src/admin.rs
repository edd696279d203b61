//! Looking after the RocksDB engine: checkpoints (for `vigil backup`) and usage figures
//! (for `vigil status`), from the engine's own properties rather than a scan of the data.
//!
//! Every family of [`crate::keys::FAMILIES`] is a part; series per host come from the `meta`
//! family's `series_count/<host>` records (layout in [`crate::keys`]).

use crate::keys::{
    CF_META, CF_POSTINGS, CF_SERIES, CF_SERIES_BY_ID, FAMILIES, FORMAT_VERSION, count_key,
    decode_u64,
};
use crate::{RocksStore, engine};
use rocksdb::checkpoint::Checkpoint;
use rocksdb::{DEFAULT_COLUMN_FAMILY_NAME, Direction, IteratorMode};
use std::path::Path;
use vigil_store::stats::{PartStats, StoreMemory, StoreStats, dir_usage};
use vigil_store::{CheckpointInfo, StoreError, StoreResult};

/// Per-family properties read for [`PartStats`].
const SST_BYTES: &str = "rocksdb.total-sst-files-size";
const LIVE_BYTES: &str = "rocksdb.estimate-live-data-size";
const MEMTABLE_BYTES: &str = "rocksdb.cur-size-all-mem-tables";
const PENDING_COMPACTION_BYTES: &str = "rocksdb.estimate-pending-compaction-bytes";
const KEYS: &str = "rocksdb.estimate-num-keys";
const TABLE_READERS_BYTES: &str = "rocksdb.estimate-table-readers-mem";
/// Properties of the block cache, which every family of `FAMILIES` shares (asked of one of
/// them: RocksDB's `default` family, which the database-wide property would ask, has a
/// small cache of its own).
const BLOCK_CACHE_BYTES: &str = "rocksdb.block-cache-usage";
const BLOCK_CACHE_PINNED_BYTES: &str = "rocksdb.block-cache-pinned-usage";
/// The families of the series index, whose memory `StoreMemory` also shows apart.
const INDEX_FAMILIES: [&str; 3] = [CF_SERIES, CF_SERIES_BY_ID, CF_POSTINGS];

impl RocksStore {
    /// A checkpoint in `dir` (which must not exist): memtables are flushed first, then
    /// every live table file is hard-linked (copied when `dir` is on another filesystem)
    /// and a new manifest written, all at one sequence number, while writes go on.
    pub(super) fn create_checkpoint(&self, dir: &Path) -> StoreResult<CheckpointInfo> {
        let fail = |what: String| {
            StoreError::Engine(format!(
                "cannot make a checkpoint in {}: {what}",
                dir.display()
            ))
        };
        let checkpoint = Checkpoint::new(&*self.db).map_err(|e| fail(e.into_string()))?;
        checkpoint
            .create_checkpoint(dir)
            .map_err(|e| fail(e.into_string()))?;
        let (bytes, files, linked_files) = dir_usage(dir).map_err(|e| fail(e.to_string()))?;
        Ok(CheckpointInfo {
            dir: dir.to_owned(),
            bytes,
            files,
            linked_files,
            format: format!("RocksDB format {FORMAT_VERSION}"),
        })
    }

    /// Disk usage of the data directory and of each column family, series counts, and
    /// the engine's memory.
    pub(super) fn usage(&self) -> StoreResult<StoreStats> {
        let dir = self.db.path().to_owned();
        let mut parts = Vec::with_capacity(FAMILIES.len() + 1);
        let database = |property: &str| -> StoreResult<u64> {
            Ok(self
                .db
                .property_int_value(property)
                .map_err(engine)?
                .unwrap_or(0))
        };
        let shared_cache = |property: &str| -> StoreResult<u64> {
            match FAMILIES.iter().find_map(|name| self.db.cf_handle(name)) {
                Some(cf) => Ok(self
                    .db
                    .property_int_value_cf(cf, property)
                    .map_err(engine)?
                    .unwrap_or(0)),
                None => database(property),
            }
        };
        let mut memory = StoreMemory {
            block_cache: shared_cache(BLOCK_CACHE_BYTES)?,
            block_cache_pinned: shared_cache(BLOCK_CACHE_PINNED_BYTES)?,
            ..StoreMemory::default()
        };
        let mut pending_compaction_bytes = 0;
        for name in [DEFAULT_COLUMN_FAMILY_NAME].into_iter().chain(FAMILIES) {
            let Some(cf) = self.db.cf_handle(name) else {
                continue;
            };
            let property = |property: &str| -> StoreResult<u64> {
                Ok(self
                    .db
                    .property_int_value_cf(cf, property)
                    .map_err(engine)?
                    .unwrap_or(0))
            };
            let part = PartStats {
                disk_bytes: property(SST_BYTES)?,
                live_bytes: property(LIVE_BYTES)?,
                memory_bytes: property(MEMTABLE_BYTES)?,
                keys: property(KEYS)?,
                name: name.to_owned(),
            };
            let readers = property(TABLE_READERS_BYTES)?;
            pending_compaction_bytes += property(PENDING_COMPACTION_BYTES)?;
            memory.memtables += part.memory_bytes;
            memory.table_readers += readers;
            if INDEX_FAMILIES.contains(&name) {
                memory.index_memtables += part.memory_bytes;
                memory.index_table_readers += readers;
            }
            // RocksDB always has a `default` family; Vigil keeps nothing in it.
            let unused = part.name == "default" && part.keys == 0 && part.disk_bytes == 0;
            if !unused {
                parts.push(part);
            }
        }
        let unreadable = |e: std::io::Error| {
            StoreError::Engine(format!("cannot measure {}: {e}", dir.display()))
        };
        let (disk_bytes, _, _) = dir_usage(&dir).map_err(unreadable)?;
        let mut wal_bytes = 0;
        for entry in std::fs::read_dir(&dir).map_err(unreadable)? {
            let entry = entry.map_err(unreadable)?;
            // Write-ahead log files are `<number>.log`; RocksDB's own text log is `LOG`.
            if entry.path().extension().is_some_and(|e| e == "log") {
                // A log RocksDB deleted since the listing counts as nothing.
                match entry.metadata() {
                    Ok(meta) => wal_bytes += meta.len(),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(unreadable(e)),
                }
            }
        }
        let series_by_host = self.series_per_host()?;
        Ok(StoreStats {
            engine: "RocksDB".to_owned(),
            data_dir: Some(dir),
            disk_bytes,
            wal_bytes,
            parts,
            series: series_by_host.iter().map(|(_, n)| n).sum(),
            series_by_host,
            samples: None,
            memory,
            pending_compaction_bytes,
            damage: self.windows.damage.stats(),
        })
    }

    /// Every host that created a series, with its count, sorted by host name: one short
    /// scan of the per-host counters, exact whatever labels the series carry.
    fn series_per_host(&self) -> StoreResult<Vec<(String, u64)>> {
        let prefix = count_key("");
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf(CF_META),
            IteratorMode::From(&prefix, Direction::Forward),
        );
        for item in iter {
            let (key, value) = item.map_err(engine)?;
            let Some(host) = key.strip_prefix(prefix.as_slice()) else {
                break;
            };
            let host = String::from_utf8_lossy(host).into_owned();
            let count = decode_u64(&value, "series count")?;
            if count > 0 {
                out.push((host, count));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RocksOptions;
    use vigil_store::{Labels, SeriesSamples, Store};

    fn filled(dir: &Path) -> (RocksStore, u64) {
        let store = RocksStore::open(dir, RocksOptions::with_sync(false)).unwrap();
        let labels = Labels::from_pairs(&[("__name__", "up"), ("host", "web-1")]);
        let id = store.resolve_series("web-1", &[labels], 10).unwrap()[0];
        let samples = (0..1000).map(|i| (i * 1000, i as f64)).collect();
        store.append(&[SeriesSamples { id, samples }]).unwrap();
        (store, id)
    }

    #[test]
    fn checkpoint_opens_as_a_store_with_every_sample() {
        let live = tempfile::tempdir().unwrap();
        let (store, id) = filled(live.path());
        let backups = tempfile::tempdir().unwrap();
        let copy = backups.path().join("copy");
        let info = store.checkpoint(&copy).unwrap();
        assert_eq!(info.dir, copy);
        assert!(info.files >= 3 && info.bytes > 0, "{info:?}");
        assert_eq!(info.format, format!("RocksDB format {FORMAT_VERSION}"));
        // Writes after the checkpoint stay out of it.
        store
            .append(&[SeriesSamples {
                id,
                samples: vec![(5_000_000, 1.0)],
            }])
            .unwrap();
        let reopened = RocksStore::open(&copy, RocksOptions::default()).unwrap();
        let mut out = Vec::new();
        reopened.samples(id, i64::MIN, i64::MAX, &mut out).unwrap();
        assert_eq!(out.len(), 1000);
        assert_eq!(out[999], (999_000, 999.0));
        assert_eq!(reopened.series_count("web-1").unwrap(), 1);
    }

    #[test]
    fn checkpoint_into_an_existing_dir_fails_naming_it() {
        let live = tempfile::tempdir().unwrap();
        let (store, _) = filled(live.path());
        let taken = tempfile::tempdir().unwrap();
        std::fs::write(taken.path().join("x"), b"x").unwrap();
        let err = store.checkpoint(taken.path()).unwrap_err().to_string();
        assert!(err.contains(&taken.path().display().to_string()), "{err}");
    }

    #[test]
    fn stats_show_families_wal_and_series() {
        let live = tempfile::tempdir().unwrap();
        let (store, id) = filled(live.path());
        // Imported series without a host label count against "(import)".
        let unlabelled = Labels::from_pairs(&[("__name__", "imported")]);
        store.resolve_series("(import)", &[unlabelled], 10).unwrap();
        let stats = store.stats().unwrap();
        assert_eq!(stats.engine, "RocksDB");
        assert_eq!(stats.data_dir.as_deref(), Some(live.path()));
        assert_eq!(stats.series, 2);
        assert_eq!(
            stats.series_by_host,
            vec![("(import)".to_owned(), 1), ("web-1".to_owned(), 1)]
        );
        assert!(
            stats.parts.len() >= 2,
            "one part per column family: {stats:?}"
        );
        assert!(
            stats.wal_bytes > 0,
            "unflushed writes are in the WAL: {stats:?}"
        );
        assert!(stats.disk_bytes >= stats.wal_bytes, "{stats:?}");
        let in_memory: u64 = stats.parts.iter().map(|p| p.memory_bytes).sum();
        assert!(in_memory > 0, "{stats:?}");
        let memory = stats.memory;
        // The parts leave out RocksDB's empty `default` family; the memory counts it.
        assert!(memory.memtables >= in_memory, "{memory:?}");
        assert!(
            memory.index_memtables > 0 && memory.index_memtables < memory.memtables,
            "the new series is in the index's memtables, its samples elsewhere: {memory:?}"
        );
        assert!(
            memory.block_cache_pinned <= memory.block_cache,
            "{memory:?}"
        );
        // Reading the flushed tables opens them: their readers and blocks take memory.
        for name in FAMILIES {
            store.db.flush_cf(store.cf(name)).unwrap();
        }
        let before = store.stats().unwrap().memory;
        let mut out = Vec::new();
        store.samples(id, i64::MIN, i64::MAX, &mut out).unwrap();
        let read = store.stats().unwrap().memory;
        assert!(read.table_readers > 0, "{read:?}");
        // The blocks read stay in the block cache the families share, and are counted
        // there (not in the `default` family's own cache).
        assert!(
            read.block_cache > before.block_cache,
            "{before:?} then {read:?}"
        );
    }
}
