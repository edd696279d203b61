//! The RocksDB engine behind [`Store`].
//!
//! ```text
//! Column families and key layout (all integers big-endian so keys sort numerically)
//!
//!   lp(x)       = LEB128 varint of x's byte length, then x's bytes (so any bytes, NUL
//!                 included, can sit in a label value without making keys ambiguous)
//!   labelset    = lp(name1) lp(value1) lp(name2) lp(value2) …   pairs sorted by name,
//!                 `__name__` included
//!   id          = SeriesId, u64
//!   ts          = unix milliseconds, i64 with the sign bit flipped (negatives sort first)
//!
//!   series        labelset                 → id           which id a label set has
//!   series_by_id  id                       → labelset     labels of an id
//!   postings      lp(name) lp(value) id    → (empty)      ids having name=value
//!   samples       id ts                    → f64 bits     one sample
//!   hosts         host name                → vigil.v1.Host (protobuf)
//!   alerts        lp(file) lp(group) lp(rule) labelset
//!                                          → alert state (42 bytes, see `alerts.rs`)
//!   state         space tag (u8) key       → value        small records of other parts
//!                                                         (outbox, silences; `Space::tag`)
//!   meta          "series_count/" host     → u64          series per host
//!                 "format"                 → u32          on-disk format version
//! ```
//!
//! A sample is one key, written with the WAL on, so an acknowledged batch survives
//! `kill -9` (and with `sync`, power loss); a replayed sample overwrites itself. Series are
//! created under a mutex (ids are allocated once, counts stay exact) and synced before any
//! sample refers to them. Compressed per-series blocks replace sample keys in a later format.

mod admin;
mod alerts;
mod labels;
mod state;

use super::{Labels, SeriesId, SeriesSamples, Store, StoreError, StoreResult};
use crate::selector::Selector;
use promql_parser::label::MatchOp;
use prost::Message;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType,
    Direction, IteratorMode, Options, ReadOptions, WriteBatch, WriteOptions,
};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use vigil_proto::v1::Host;

const CF_SERIES: &str = "series";
const CF_SERIES_BY_ID: &str = "series_by_id";
const CF_POSTINGS: &str = "postings";
const CF_SAMPLES: &str = "samples";
const CF_HOSTS: &str = "hosts";
const CF_META: &str = "meta";
/// Alert instances' state; added after format 1 shipped, created on open when missing.
const CF_ALERTS: &str = "alerts";
/// Small records of the notifier (outbox, silences, …); created on open when missing.
const CF_STATE: &str = "state";
const FAMILIES: [&str; 8] = [
    CF_SERIES,
    CF_SERIES_BY_ID,
    CF_POSTINGS,
    CF_SAMPLES,
    CF_HOSTS,
    CF_META,
    CF_ALERTS,
    CF_STATE,
];

/// On-disk format written by this version.
const FORMAT_VERSION: u32 = 1;
const FORMAT_KEY: &[u8] = b"format";

/// Size of the block cache shared by all column families (decompressed blocks).
const BLOCK_CACHE_BYTES: usize = 256 << 20;

/// Store settings.
#[derive(Debug, Clone)]
pub struct RocksOptions {
    /// fsync the WAL before acknowledging a write (survives power loss, not only a crash).
    pub sync: bool,
}

impl Default for RocksOptions {
    fn default() -> Self {
        Self { sync: true }
    }
}

/// A [`Store`] on an embedded RocksDB database.
pub struct RocksStore {
    db: DB,
    path: PathBuf,
    sync: bool,
    next_id: AtomicU64,
    /// Held while creating series; caches per-host series counts.
    creating: Mutex<HashMap<String, u64>>,
}

impl std::fmt::Debug for RocksStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn engine(e: rocksdb::Error) -> StoreError {
    StoreError::Engine(e.into_string())
}

impl RocksStore {
    /// Opens (creating if needed) the database in `dir`.
    pub fn open(dir: &Path, options: RocksOptions) -> StoreResult<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Engine(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_keep_log_file_num(5);
        db_opts.increase_parallelism(2);
        // One block cache for every family: queries re-read recent samples again and
        // again (dashboards, rules), and a cached block is already decompressed.
        let cache = Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let families = FAMILIES.iter().map(|name| {
            let mut table = BlockBasedOptions::default();
            table.set_block_cache(&cache);
            if *name == CF_SAMPLES {
                // Samples are read in long runs of one series: bigger blocks mean fewer
                // index lookups and decompressions per sample.
                table.set_block_size(32 << 10);
            }
            let mut cf = Options::default();
            cf.set_block_based_table_factory(&table);
            cf.set_compression_type(DBCompressionType::Lz4);
            cf.set_bottommost_compression_type(DBCompressionType::Zstd);
            ColumnFamilyDescriptor::new(*name, cf)
        });
        let db = DB::open_cf_descriptors(&db_opts, dir, families).map_err(|e| {
            let text = e.into_string();
            if text.contains("lock") || text.contains("Resource temporarily unavailable") {
                StoreError::Engine(format!(
                    "data directory {} is in use by another process (is a vigil-collector already \
                     running on it?): {text}",
                    dir.display()
                ))
            } else {
                StoreError::Engine(format!("cannot open {}: {text}", dir.display()))
            }
        })?;
        let store = Self {
            db,
            path: dir.to_owned(),
            sync: options.sync,
            next_id: AtomicU64::new(1),
            creating: Mutex::new(HashMap::new()),
        };
        store.check_format()?;
        let last = store
            .db
            .iterator_cf(store.cf(CF_SERIES_BY_ID), IteratorMode::End)
            .next();
        if let Some(item) = last {
            let (key, _) = item.map_err(engine)?;
            store
                .next_id
                .store(decode_u64(&key, "series id")? + 1, Ordering::SeqCst);
        }
        Ok(store)
    }

    fn check_format(&self) -> StoreResult<()> {
        let meta = self.cf(CF_META);
        match self.db.get_cf(meta, FORMAT_KEY).map_err(engine)? {
            None => self
                .db
                .put_cf(meta, FORMAT_KEY, FORMAT_VERSION.to_be_bytes())
                .map_err(engine),
            Some(v) if v.as_slice() == FORMAT_VERSION.to_be_bytes() => Ok(()),
            Some(v) => Err(StoreError::Corrupt {
                what: format!(
                    "on-disk format {v:?} in {} is not format {FORMAT_VERSION}, which this \
                     version reads",
                    self.path.display()
                ),
            }),
        }
    }

    fn cf(&self, name: &str) -> &ColumnFamily {
        // Every family in FAMILIES is created at open, so this cannot fail.
        #[allow(clippy::expect_used)]
        self.db
            .cf_handle(name)
            .expect("column family created at open")
    }

    fn write_options(&self, sync: bool) -> WriteOptions {
        let mut wo = WriteOptions::default();
        wo.set_sync(sync);
        wo
    }

    fn count_key(host: &str) -> Vec<u8> {
        [b"series_count/".as_slice(), host.as_bytes()].concat()
    }

    fn stored_count(&self, host: &str) -> StoreResult<u64> {
        match self
            .db
            .get_cf(self.cf(CF_META), Self::count_key(host))
            .map_err(engine)?
        {
            Some(v) => decode_u64(&v, "series count"),
            None => Ok(0),
        }
    }

    /// Ids of the series with `name="value"`: one seek, then only their keys.
    fn postings_equal(&self, name: &str, value: &str) -> StoreResult<BTreeSet<u64>> {
        let mut prefix = Vec::new();
        put_lp(&mut prefix, name.as_bytes());
        put_lp(&mut prefix, value.as_bytes());
        let mut ids = BTreeSet::new();
        let mut iter = self.db.raw_iterator_cf(self.cf(CF_POSTINGS));
        iter.seek(&prefix);
        while let Some(key) = iter.key() {
            let Some(id) = key.strip_prefix(prefix.as_slice()) else {
                break;
            };
            ids.insert(decode_u64(id, "postings id")?);
            iter.next();
        }
        iter.status().map_err(engine)?;
        Ok(ids)
    }

    /// Ids whose label `name` has a value accepted by `accept`.
    fn postings(&self, name: &str, accept: impl Fn(&str) -> bool) -> StoreResult<BTreeSet<u64>> {
        let mut prefix = Vec::new();
        put_lp(&mut prefix, name.as_bytes());
        let mut ids = BTreeSet::new();
        let iter = self.db.iterator_cf(
            self.cf(CF_POSTINGS),
            IteratorMode::From(&prefix, Direction::Forward),
        );
        for item in iter {
            let (key, _) = item.map_err(engine)?;
            if !key.starts_with(&prefix) {
                break;
            }
            let rest = &key[prefix.len()..];
            let (value, used) = get_lp(rest).ok_or_else(|| corrupt("postings key"))?;
            let id = decode_u64(&rest[used..], "postings id")?;
            let value = std::str::from_utf8(value).map_err(|_| corrupt("postings label value"))?;
            if accept(value) {
                ids.insert(id);
            }
        }
        Ok(ids)
    }
}

impl Store for RocksStore {
    fn resolve_series(
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
            batch.put_cf(
                self.cf(CF_META),
                Self::count_key(host),
                new_count.to_be_bytes(),
            );
            self.db
                .write_opt(batch, &self.write_options(true))
                .map_err(engine)?;
        }
        counts.insert(host.to_owned(), new_count);
        Ok(ids)
    }

    fn append(&self, samples: &[SeriesSamples]) -> StoreResult<()> {
        let cf = self.cf(CF_SAMPLES);
        let mut batch = WriteBatch::default();
        for series in samples {
            for &(ts, value) in &series.samples {
                batch.put_cf(cf, sample_key(series.id, ts), value.to_bits().to_be_bytes());
            }
        }
        self.db
            .write_opt(batch, &self.write_options(self.sync))
            .map_err(engine)
    }

    fn select(
        &self,
        selector: &Selector,
        limit: usize,
    ) -> StoreResult<(Vec<(SeriesId, Labels)>, bool)> {
        let mut found: BTreeSet<u64> = BTreeSet::new();
        for alternative in selector.alternatives() {
            let mut candidates: Option<BTreeSet<u64>> = None;
            for m in alternative.iter().filter(|m| !m.is_match("")) {
                let ids = match &m.op {
                    MatchOp::Equal => self.postings_equal(&m.name, &m.value)?,
                    _ => self.postings(&m.name, |v| m.is_match(v))?,
                };
                candidates = Some(match candidates {
                    None => ids,
                    Some(c) => c.intersection(&ids).copied().collect(),
                });
            }
            let candidates = candidates.ok_or_else(|| {
                StoreError::BadSelector("selector has no matcher that narrows the series".into())
            })?;
            found.extend(candidates);
        }
        let mut out = Vec::new();
        let ids: Vec<u64> = found.into_iter().collect();
        let keys: Vec<[u8; 8]> = ids.iter().map(|id| id.to_be_bytes()).collect();
        let values = self
            .db
            .batched_multi_get_cf(self.cf(CF_SERIES_BY_ID), &keys, true);
        for (id, value) in ids.into_iter().zip(values) {
            if let Some(bytes) = value.map_err(engine)? {
                let labels = decode_labelset(&bytes)?;
                if selector.matches(&labels) {
                    out.push((id, labels));
                }
            }
        }
        out.sort_by(|a, b| a.1.cmp(&b.1));
        let truncated = out.len() > limit;
        out.truncate(limit);
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
        let mut ro = ReadOptions::default();
        match end_ms.checked_add(1) {
            Some(after) => ro.set_iterate_upper_bound(sample_key(id, after)),
            None => ro.set_iterate_upper_bound((id + 1).to_be_bytes().to_vec()),
        }
        let start = sample_key(id, start_ms);
        // The raw iterator lends keys and values instead of allocating a copy of each:
        // reading a series is a tight loop over millions of tiny entries.
        let mut iter = self.db.raw_iterator_cf_opt(self.cf(CF_SAMPLES), ro);
        iter.seek(&start);
        while iter.valid() {
            let (Some(key), Some(value)) = (iter.key(), iter.value()) else {
                break;
            };
            let (Ok(ts), Ok(bits)) = (
                <[u8; 8]>::try_from(key.get(8..16).unwrap_or_default()),
                <[u8; 8]>::try_from(value),
            ) else {
                return Err(corrupt("sample"));
            };
            if key.len() != 16 {
                return Err(corrupt("sample"));
            }
            let ts = (u64::from_be_bytes(ts) ^ (1 << 63)) as i64;
            out.push((ts, f64::from_bits(u64::from_be_bytes(bits))));
            iter.next();
        }
        iter.status().map_err(engine)?;
        Ok(())
    }

    fn put_host(&self, host: &Host) -> StoreResult<()> {
        self.db
            .put_cf_opt(
                self.cf(CF_HOSTS),
                host.host.as_bytes(),
                host.encode_to_vec(),
                &self.write_options(self.sync),
            )
            .map_err(engine)
    }

    fn host(&self, name: &str) -> StoreResult<Option<Host>> {
        match self
            .db
            .get_cf(self.cf(CF_HOSTS), name.as_bytes())
            .map_err(engine)?
        {
            Some(bytes) => Host::decode(bytes.as_slice())
                .map(Some)
                .map_err(|_| corrupt("host")),
            None => Ok(None),
        }
    }

    fn hosts(&self) -> StoreResult<Vec<Host>> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_HOSTS), IteratorMode::Start) {
            let (_, bytes) = item.map_err(engine)?;
            out.push(Host::decode(&bytes[..]).map_err(|_| corrupt("host"))?);
        }
        Ok(out)
    }

    fn series_count(&self, host: &str) -> StoreResult<u64> {
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

    fn label_names(
        &self,
        selectors: &[Selector],
        window: Option<(i64, i64)>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        let mut names = if selectors.is_empty() {
            self.scan_label_names()?
        } else {
            let series = self.select_any(selectors, window, limit)?;
            let names: BTreeSet<&str> = series
                .iter()
                .flat_map(|(_, labels)| labels.pairs().iter().map(|(n, _)| n.as_str()))
                .collect();
            names.into_iter().map(str::to_owned).collect()
        };
        names.sort_unstable();
        Ok(names)
    }

    fn label_values(
        &self,
        name: &str,
        selectors: &[Selector],
        window: Option<(i64, i64)>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        let mut values = if selectors.is_empty() {
            self.scan_label_values(name)?
        } else {
            let series = self.select_any(selectors, window, limit)?;
            let values: BTreeSet<&str> = series
                .iter()
                .map(|(_, labels)| labels.get(name))
                .filter(|v| !v.is_empty())
                .collect();
            values.into_iter().map(str::to_owned).collect()
        };
        values.sort_unstable();
        Ok(values)
    }

    fn has_samples(&self, id: SeriesId, start_ms: i64, end_ms: i64) -> StoreResult<bool> {
        self.seek_sample(id, start_ms, end_ms)
    }

    fn write_alerts(
        &self,
        put: &[super::StoredAlert],
        remove: &[super::AlertKey],
    ) -> StoreResult<()> {
        self.write_alert_records(put, remove)
    }

    fn alerts(&self) -> StoreResult<Vec<super::StoredAlert>> {
        self.read_alert_records()
    }

    fn kv_write(&self, ops: &[super::KvOp]) -> StoreResult<()> {
        self.write_state(ops)
    }

    fn kv_scan(&self, space: super::Space) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>> {
        self.scan_state(space)
    }

    fn checkpoint(&self, dir: &Path) -> StoreResult<super::CheckpointInfo> {
        self.create_checkpoint(dir)
    }

    fn stats(&self) -> StoreResult<super::StoreStats> {
        self.usage()
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt {
        what: format!("undecodable {what}"),
    }
}

fn decode_u64(bytes: &[u8], what: &str) -> StoreResult<u64> {
    bytes
        .try_into()
        .map(u64::from_be_bytes)
        .map_err(|_| corrupt(what))
}

fn sample_key(id: SeriesId, ts: i64) -> Vec<u8> {
    let mut key = Vec::with_capacity(16);
    key.extend_from_slice(&id.to_be_bytes());
    key.extend_from_slice(&((ts as u64) ^ (1 << 63)).to_be_bytes());
    key
}

fn put_lp(out: &mut Vec<u8>, bytes: &[u8]) {
    prost::encoding::encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// Reads one length-prefixed field; returns it and the bytes used.
fn get_lp(mut input: &[u8]) -> Option<(&[u8], usize)> {
    let before = input.len();
    let len = usize::try_from(prost::encoding::decode_varint(&mut input).ok()?).ok()?;
    let used = before - input.len();
    let field = input.get(..len)?;
    Some((field, used + len))
}

fn encode_labelset(labels: &Labels) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    for (name, value) in labels.pairs() {
        put_lp(&mut out, name.as_bytes());
        put_lp(&mut out, value.as_bytes());
    }
    out
}

fn decode_labelset(mut bytes: &[u8]) -> StoreResult<Labels> {
    let mut pairs = Vec::new();
    while !bytes.is_empty() {
        let (name, used) = get_lp(bytes).ok_or_else(|| corrupt("label set"))?;
        bytes = &bytes[used..];
        let (value, used) = get_lp(bytes).ok_or_else(|| corrupt("label set"))?;
        bytes = &bytes[used..];
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| corrupt("label set"));
        pairs.push((text(name)?, text(value)?));
    }
    Ok(Labels::new(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labelset_round_trips_hostile_values() {
        let labels = Labels::new(vec![
            ("__name__".into(), "m".into()),
            ("a".into(), "with\0nul and \u{1F600}".into()),
            ("b".into(), String::new()),
        ]);
        assert_eq!(decode_labelset(&encode_labelset(&labels)).unwrap(), labels);
    }

    #[test]
    fn sample_keys_sort_by_time_including_negative() {
        assert!(sample_key(1, -5) < sample_key(1, 0));
        assert!(sample_key(1, 0) < sample_key(1, i64::MAX));
        assert!(sample_key(1, i64::MAX) < sample_key(2, i64::MIN));
    }

    #[test]
    fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        let store = RocksStore::open(dir.path(), RocksOptions::default()).unwrap();
        super::super::conformance::run_all(&store);
    }

    #[test]
    fn survives_reopen_and_keeps_allocating_fresh_ids() {
        let dir = tempfile::tempdir().unwrap();
        let a = Labels::new(vec![("__name__".into(), "a".into())]);
        let b = Labels::new(vec![("__name__".into(), "b".into())]);
        let first = {
            let store = RocksStore::open(dir.path(), RocksOptions::default()).unwrap();
            let ids = store
                .resolve_series("h", std::slice::from_ref(&a), 10)
                .unwrap();
            store
                .append(&[SeriesSamples {
                    id: ids[0],
                    samples: vec![(1000, 1.5)],
                }])
                .unwrap();
            ids[0]
        };
        let store = RocksStore::open(dir.path(), RocksOptions::default()).unwrap();
        assert_eq!(store.resolve_series("h", &[a], 10).unwrap(), vec![first]);
        let second = store.resolve_series("h", &[b], 10).unwrap()[0];
        assert_ne!(second, first);
        assert_eq!(store.series_count("h").unwrap(), 2);
        let mut out = Vec::new();
        store.samples(first, 0, 2000, &mut out).unwrap();
        assert_eq!(out, vec![(1000, 1.5)]);
    }

    #[test]
    fn second_open_of_the_same_dir_says_it_is_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let _first = RocksStore::open(dir.path(), RocksOptions::default()).unwrap();
        let err = RocksStore::open(dir.path(), RocksOptions::default()).unwrap_err();
        assert!(err.to_string().contains("in use"), "{err}");
    }
}
