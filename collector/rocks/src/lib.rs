//! # vigil-rocks
//!
//! The RocksDB engine behind [`Store`]: the only crate of Vigil that names RocksDB. It
//! passes the same conformance suite as the in-memory engine (`vigil_store::conformance`).
//!
//! # Layout
//! - this file: the key layout below, opening, series ids and labels, appends, reads.
//! - `labels`: postings and label lookups; `state`: small records (alerts, notify).
//! - `windows`: recent runs per time window and their compaction into blocks
//!   (`windows/compaction`); `compactor`: the background thread that drives it.
//! - [`codec`]: the block format (integer mantissas, delta and line encodings, Gorilla).
//! - `rollup`: downsampled 5 m and 1 h tiers and retention.
//! - `migrate`: format 1 → 2 on open; `admin`: checkpoints and disk statistics.
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
//!   window      = ts.div_euclid(block_ms), i64 with the sign bit flipped; block_ms is fixed
//!                 when the data directory is created (meta "block_ms")
//!
//!   series        labelset                 → id           which id a label set has
//!   series_by_id  id                       → labelset     labels of an id
//!   postings      lp(name) lp(value) id    → (empty)      ids having name=value
//!   recent        window id seq            → run          samples of one series in one
//!                                                         window from one append, not yet
//!                                                         in a block: n × (i64 ts, f64
//!                                                         bits); seq (u64) grows with every
//!                                                         run written (meta "recent_seq"
//!                                                         reserves ranges of it durably)
//!   blocks        id window                → block        the compressed samples of one
//!                                                         series in one window (format in
//!                                                         `codec.rs`)
//!   timestamps    window column-id (16)    → ints         a timestamp column shared by the
//!                                                         blocks of that window that name it
//!                                                         (`codec.rs`); written in the same
//!                                                         batch as the first block naming it
//!   rollup        tier (u8) id window      → buckets      downsampled tier of one series in
//!                                                         one window (tier 1: 5-minute
//!                                                         buckets, 2: 1-hour), written in
//!                                                         the batch that writes its block:
//!                                                         per bucket (by its last sample's
//!                                                         time) its count and last, min,
//!                                                         max, sum values: `ints` columns
//!                                                         and decimal or XOR value columns
//!                                                         as in blocks (see `rollup.rs`)
//!   hosts         host name                → vigil.v1.Host (protobuf)
//!   alerts        lp(file) lp(group) lp(rule) labelset
//!                                          → alert state (42 bytes, see `alerts.rs`)
//!   state         space tag (u8) key       → value        small records of other parts
//!                                                         (outbox, silences; `Space::tag`)
//!   meta          "series_count/" host     → u64          series per host
//!                 "format"                 → u32          on-disk format version (2)
//!                 "block_ms"               → i64          window length
//!                 "recent_seq"             → u64          run sequence numbers below it may
//!                                                         be in use
//!   samples       id ts                    → f64 bits     format 1 only: moved to `recent`
//!                                                         on open, then the family is dropped
//! ```
//!
//! # Life of a sample
//!
//! `append` writes one `recent` key per series and window of the call (a run: a backfill
//! batch of 10,000 samples is a few hundred keys, a live scrape one key per series) with
//! the WAL on, so a sample is readable when the call returns and survives `kill -9` (and,
//! with `sync`, power loss). Every
//! `compaction_interval` a background thread compacts each window that ended more than
//! `grace` ago (a quarter of the window, at most 5 minutes): per series, it merges the
//! window's recent samples into the window's block (decoding the block if one exists),
//! and writes the new block and one range delete of those recent keys in ONE `WriteBatch`,
//! so a crash leaves either the samples or the block, never neither and never a mix that
//! reads wrong. `recent` is window-major so a compacted window is one contiguous key range:
//! a few range tombstones per window for the whole fleet, never one per sample. A read of
//! series `id` over `[start, end]` decodes the blocks of the windows it covers and merges
//! in the recent samples of those windows (from one RocksDB snapshot).
//!
//! # Out-of-order and duplicate samples: the last write wins
//!
//! A sample is identified by (series, timestamp). Appending a timestamp the series already
//! has replaces the stored value, whether the old one is still recent or already inside a
//! block: the new value waits in `recent` (where reads prefer it over the block, and the
//! run with the higher sequence number over an older run; within one call, the later
//! sample) until the compactor rewrites that window's block with it. Samples may arrive in any order; a
//! replayed batch writes the same values again and changes nothing.
//!
//! # Retention
//!
//! With `[storage] retention`, every compaction pass moves a cutoff to the window holding
//! `now - retention`; windows before it are past retention as a whole. Reads skip them at
//! once. Their recent samples and timestamp columns go by one range delete per family
//! (both families are window-major); their blocks (id-major) are dropped by the blocks
//! family's compaction filter when RocksDB rewrites their files, at least daily. Nothing
//! writes a tombstone per sample or per block.
//!
//! # Downsampled tiers
//!
//! When the compactor writes a window's block it also writes, in the same batch, the
//! window's 5-minute and 1-hour buckets (min and max skipping NaN, sum, count, and the
//! last sample with its timestamp) under `rollup`. Each tier has its own retention
//! (`retention_5m`, `retention_1h`; a coarser tier is kept at least as long as finer
//! ones) and leaves like blocks: reads skip its expired windows at once, and the rollup
//! family's compaction filter drops their keys. `Store::samples_for_step` reads raw
//! samples wherever raw retention keeps them (exactly `samples`), and only before the raw
//! cutoff the finest tier kept there, one sample per bucket: its last value at its last
//! sample's time. Tiers are built only when `retention` is set: with raw samples kept
//! forever no read would use them (and they would cost about 0.3 bytes per raw sample of
//! disk at 10 s scrapes). Windows compacted before tiers existed, or before a retention was
//! set, have none.
//!
//! # Measured
//!
//! `cargo run --release -p vigil-rocks --example codec_bench -- store 100 6 20` and
//! `-- read` on this 2-core machine (one thread, sync off, other work running): 64.8 M
//! samples (100 hosts × 300 node_exporter-like series × 6 h at 10 s, 0..=20 ms jitter,
//! appended like a backfill: calls of about 10,000 samples, 33 scrapes of a host) append
//! at 7.8 M samples/s, take 7.9 bytes/sample on disk as recent runs and 0.80 after
//! compaction into blocks (3.2 M samples/s, one thread). One sample per series per call
//! (live scrapes) makes a key per sample: about 1 M samples/s. One series over 24 h
//! (8,641 samples) reads in 0.17–0.22 ms (median) from blocks, over 7 days in 1.1 ms; as
//! recent keys of one sample each (the layout of format 1) it took 1.1 ms and 6.7–8.2 ms.
//!
//! Downsampled tiers (`-- store 20 6 20 3650`: a retention, so they are built): 8.0 bytes
//! on disk per bucket, 5 m and 1 h together (0.29 bytes per raw sample at 10 s: 1.13
//! bytes/sample in all instead of 0.84; a 1 h bucket costs several times a 5 m one, as a
//! 2 h block has only two of them to share its key and column headers). Compacting 13 M
//! samples took 10–40 % longer with tiers (2.4–2.5 s against 2.1–2.3 s on a quiet machine,
//! 4.8–5.2 s against 3.4–4.7 s on a busy one).
//!
//! # Format versions
//!
//! Format 1 kept every sample as one key in `samples`. Opening a format-1 directory moves
//! those samples into `recent` (logging progress, resumable after a crash; see
//! `migrate.rs`), records format 2 and drops `samples`; the compactor then builds blocks.

mod admin;
mod alerts;
pub mod codec;
mod compactor;
#[cfg(test)]
mod format_tests;
mod labels;
mod migrate;
mod rollup;
mod state;
mod windows;

pub use windows::CompactionReport;

use promql_parser::label::MatchOp;
use prost::Message;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType,
    Direction, IteratorMode, Options, WriteBatch, WriteOptions,
};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tracing::info;
use vigil_proto::v1::Host;
use vigil_store::selector::Selector;
use vigil_store::{Labels, SeriesId, SeriesSamples, Store, StoreError, StoreResult};

const CF_SERIES: &str = "series";
const CF_SERIES_BY_ID: &str = "series_by_id";
const CF_POSTINGS: &str = "postings";
/// Format 1's one key per sample; only opened (then emptied and dropped) to migrate.
const CF_SAMPLES_V1: &str = "samples";
/// Samples not yet compacted into a block, window-major.
const CF_RECENT: &str = "recent";
/// Compressed per-series blocks, one per series and window.
const CF_BLOCKS: &str = "blocks";
/// Timestamp columns shared by the blocks of one window (one per host, typically).
const CF_TIMESTAMPS: &str = "timestamps";
const CF_HOSTS: &str = "hosts";
const CF_META: &str = "meta";
/// Alert instances' state; added after format 1 shipped, created on open when missing.
const CF_ALERTS: &str = "alerts";
/// Small records of the notifier (outbox, silences, …); created on open when missing.
const CF_STATE: &str = "state";
/// Downsampled tiers (5-minute and 1-hour buckets), id-major; created on open when missing.
const CF_ROLLUP: &str = "rollup";
const FAMILIES: [&str; 11] = [
    CF_SERIES,
    CF_SERIES_BY_ID,
    CF_POSTINGS,
    CF_RECENT,
    CF_BLOCKS,
    CF_TIMESTAMPS,
    CF_HOSTS,
    CF_META,
    CF_ALERTS,
    CF_STATE,
    CF_ROLLUP,
];

/// On-disk format written by this version (format 1 is migrated on open).
const FORMAT_VERSION: u32 = 2;
const FORMAT_KEY: &[u8] = b"format";
const BLOCK_MS_KEY: &[u8] = b"block_ms";
const SEQ_KEY: &[u8] = b"recent_seq";

/// Write-ahead log size past which RocksDB flushes the families holding the oldest log.
const WAL_LIMIT_BYTES: u64 = 256 << 20;

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

/// How samples are grouped into compressed blocks (`[storage]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockOptions {
    /// Length of the time window of one block. Used when a data directory is created; an
    /// existing directory keeps the length it was created with.
    pub block_duration: std::time::Duration,
    /// How often the background compactor looks for closed windows.
    pub compaction_interval: std::time::Duration,
    /// How long samples are kept (zero: forever). Whole windows leave at once: their
    /// blocks through a compaction filter, their recent samples and timestamp columns by
    /// range deletes; reads stop returning them as soon as the window is past retention.
    pub retention: std::time::Duration,
    /// How long the 5-minute tier is kept (zero: forever); its buckets leave by window
    /// like blocks, through the rollup family's compaction filter.
    pub retention_5m: std::time::Duration,
    /// How long the 1-hour tier is kept (zero: forever).
    pub retention_1h: std::time::Duration,
}

impl Default for BlockOptions {
    fn default() -> Self {
        Self {
            block_duration: std::time::Duration::from_secs(2 * 3600),
            compaction_interval: std::time::Duration::from_secs(60),
            retention: std::time::Duration::ZERO,
            retention_5m: std::time::Duration::ZERO,
            retention_1h: std::time::Duration::ZERO,
        }
    }
}

/// A [`Store`] on an embedded RocksDB database.
pub struct RocksStore {
    /// Shared with the compactor thread.
    db: Arc<DB>,
    path: PathBuf,
    sync: bool,
    next_id: AtomicU64,
    /// Held while creating series; caches per-host series counts.
    creating: Mutex<HashMap<String, u64>>,
    /// Which windows hold recent samples; the gate between appends and compaction.
    windows: Arc<windows::Windows>,
    /// Stops and joins the compactor thread when the store drops.
    _compactor: compactor::Compactor,
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
    /// Opens (creating if needed) the database in `dir`, with the default block settings.
    pub fn open(dir: &Path, options: RocksOptions) -> StoreResult<Self> {
        Self::open_with_blocks(dir, options, BlockOptions::default())
    }

    /// Opens (creating if needed) the database in `dir`; a directory of format 1 is
    /// migrated first. Starts the background compactor.
    pub fn open_with_blocks(
        dir: &Path,
        options: RocksOptions,
        blocks: BlockOptions,
    ) -> StoreResult<Self> {
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
        // A write-ahead log file lives until every family with data in it has flushed; a
        // family written rarely (hosts, meta) would otherwise keep gigabytes of sample
        // logs on disk long after their samples were compacted into blocks.
        db_opts.set_max_total_wal_size(WAL_LIMIT_BYTES);
        // A format-1 directory still has its `samples` family, which must be opened too.
        let legacy = DB::list_cf(&Options::default(), dir)
            .map(|names| names.iter().any(|n| n == CF_SAMPLES_V1))
            .unwrap_or(false);
        // One block cache for every family: queries re-read recent samples again and
        // again (dashboards, rules), and a cached block is already decompressed.
        let cache = Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let expired_before = Arc::new(std::sync::atomic::AtomicI64::new(i64::MIN));
        let millis = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let tiers = rollup::TierRetention::new(
            !blocks.retention.is_zero(),
            [millis(blocks.retention_5m), millis(blocks.retention_1h)],
        );
        let tier_cutoffs = tiers.cutoffs();
        let names = FAMILIES
            .iter()
            .copied()
            .chain(legacy.then_some(CF_SAMPLES_V1));
        let families = names.map(|name| {
            let mut table = BlockBasedOptions::default();
            table.set_block_cache(&cache);
            if name == CF_BLOCKS || name == CF_SAMPLES_V1 {
                // Samples are read in long runs of one series: bigger blocks mean fewer
                // index lookups and decompressions per sample.
                table.set_block_size(16 << 10);
            }
            let mut cf = Options::default();
            cf.set_block_based_table_factory(&table);
            cf.set_compression_type(DBCompressionType::Lz4);
            cf.set_bottommost_compression_type(DBCompressionType::Zstd);
            if name == CF_BLOCKS {
                // Retention: blocks of expired windows are dropped whenever RocksDB rewrites
                // their files, and every file is rewritten at least daily.
                let expired_before = Arc::clone(&expired_before);
                cf.set_compaction_filter("vigil-retention", move |_, key: &[u8], _: &[u8]| {
                    if windows::block_expired(key, &expired_before) {
                        rocksdb::compaction_filter::Decision::Remove
                    } else {
                        rocksdb::compaction_filter::Decision::Keep
                    }
                });
                cf.set_periodic_compaction_seconds(86_400);
            }
            if name == CF_ROLLUP {
                // Tier retention, the same way as the blocks'.
                let cutoffs = tier_cutoffs.clone();
                cf.set_compaction_filter("vigil-tier-retention", move |_, key: &[u8], _: &[u8]| {
                    if rollup::rollup_expired(key, &cutoffs) {
                        rocksdb::compaction_filter::Decision::Remove
                    } else {
                        rocksdb::compaction_filter::Decision::Keep
                    }
                });
                cf.set_periodic_compaction_seconds(86_400);
            }
            ColumnFamilyDescriptor::new(name, cf)
        });
        let mut db = DB::open_cf_descriptors(&db_opts, dir, families).map_err(|e| {
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
        let block_ms = migrate::prepare_format(&db, dir, &blocks)?;
        if legacy {
            db.drop_cf(CF_SAMPLES_V1).map_err(engine)?;
            info!("dropped the emptied format-1 samples family");
        }
        let db = Arc::new(db);
        let retention_ms = i64::try_from(blocks.retention.as_millis()).unwrap_or(i64::MAX);
        let windows = Arc::new(windows::Windows::new(
            block_ms,
            windows::scan_recent_windows(&db)?,
            retention_ms,
            expired_before,
            vigil_store::clock::now_ms(),
            reserved_seq(&db)?,
            tiers,
        ));
        let compactor = compactor::Compactor::start(
            Arc::clone(&db),
            Arc::clone(&windows),
            blocks.compaction_interval,
        )
        .map_err(|e| StoreError::Engine(format!("cannot start the block compactor: {e}")))?;
        let store = Self {
            db,
            path: dir.to_owned(),
            sync: options.sync,
            next_id: AtomicU64::new(1),
            creating: Mutex::new(HashMap::new()),
            windows,
            _compactor: compactor,
        };
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

    /// Applies retention as of `now_ms` and compacts every window that ended before it
    /// (less the grace period): what the background compactor does every
    /// `compaction_interval`. For tests and benchmarks; `i64::MAX` compacts everything
    /// (and, with a retention, expires everything).
    pub fn compact_windows(&self, now_ms: i64) -> StoreResult<CompactionReport> {
        windows::compact(&self.db, &self.windows, now_ms, &|| true)
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

    /// [`Store::samples_for_step`]: raw samples from the first window raw retention keeps;
    /// before it, the buckets' last samples of the finest tier kept there (each tier
    /// covers the span between its own cutoff and the next finer one's). The step does not
    /// change the choice: raw data, where it exists, is always read in full.
    fn read_with_tiers(
        &self,
        id: SeriesId,
        start: i64,
        end: i64,
        out: &mut Vec<(i64, f64)>,
    ) -> StoreResult<()> {
        if end < start {
            return Ok(());
        }
        let windows = &self.windows;
        let raw_first = windows.first_kept();
        let raw_from = raw_first.saturating_mul(windows.block_ms);
        if start >= raw_from {
            return self.samples(id, start, end, out);
        }
        let first = windows.window(start);
        // (tier, first window, last window) from the newest span back.
        let mut spans = Vec::new();
        let mut upper = raw_first;
        for i in 0..rollup::TIERS.len() {
            let kept = windows.tiers.first_kept(i).max(first);
            if kept < upper {
                spans.push((i, kept, upper - 1));
                upper = kept;
            }
        }
        let cf = self.cf(CF_ROLLUP);
        let mut buckets = Vec::new();
        for (i, w0, w1) in spans.into_iter().rev() {
            buckets.clear();
            rollup::read(&self.db, cf, i, id, w0, w1, start, end, &mut buckets)?;
            out.extend(buckets.iter().map(|b| (b.last_ts, b.last)));
        }
        if end >= raw_from {
            self.samples(id, raw_from, end, out)?;
        }
        Ok(())
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
        windows::append(
            &self.db,
            &self.windows,
            samples,
            &self.write_options(self.sync),
        )
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
        windows::read(&self.db, &self.windows, id, start_ms, end_ms, out)
    }

    fn samples_for_step(
        &self,
        id: SeriesId,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        out: &mut Vec<(i64, f64)>,
    ) -> StoreResult<()> {
        let _ = step_ms;
        self.read_with_tiers(id, start_ms, end_ms, out)
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
        windows::any(&self.db, &self.windows, id, start_ms, end_ms)
    }

    fn write_alerts(
        &self,
        put: &[vigil_store::StoredAlert],
        remove: &[vigil_store::AlertKey],
    ) -> StoreResult<()> {
        self.write_alert_records(put, remove)
    }

    fn alerts(&self) -> StoreResult<Vec<vigil_store::StoredAlert>> {
        self.read_alert_records()
    }

    fn kv_write(&self, ops: &[vigil_store::KvOp]) -> StoreResult<()> {
        self.write_state(ops)
    }

    fn kv_scan(&self, space: vigil_store::Space) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>> {
        self.scan_state(space)
    }

    fn checkpoint(&self, dir: &Path) -> StoreResult<vigil_store::CheckpointInfo> {
        self.create_checkpoint(dir)
    }

    fn stats(&self) -> StoreResult<vigil_store::StoreStats> {
        self.usage()
    }
}

/// Sequence numbers of recent runs below this one may be in use (meta "recent_seq").
fn reserved_seq(db: &DB) -> StoreResult<u64> {
    match db
        .get_cf(windows::family(db, CF_META)?, SEQ_KEY)
        .map_err(engine)?
    {
        Some(v) => decode_u64(&v, "recent sequence"),
        None => Ok(0),
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
        use windows::{block_key, recent_key};
        assert!(recent_key(-1, 1, 5) < recent_key(0, 1, 0));
        assert!(recent_key(0, 1, 0) < recent_key(0, 1, u64::MAX));
        assert!(recent_key(0, 1, u64::MAX) < recent_key(0, 2, 0));
        assert!(recent_key(0, u64::MAX, u64::MAX) < recent_key(1, 0, 0));
        assert!(block_key(1, -1) < block_key(1, 0));
        assert!(block_key(1, i64::MAX) < block_key(2, i64::MIN));
    }

    #[test]
    fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        let store = RocksStore::open(dir.path(), RocksOptions::default()).unwrap();
        vigil_store::conformance::run_all(&store);
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
