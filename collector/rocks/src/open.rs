//! Opening the database: the settings, every column family's options (one shared block
//! cache, the retention compaction filters of blocks and tiers), the format check, the
//! state of the windows, and the start of the background compactor.

use crate::keys::{
    CF_BLOCKS, CF_POSTINGS, CF_POSTINGS_V4, CF_RECENT_V3, CF_ROLLUP, CF_SAMPLES_V1, CF_SERIES,
    CF_SERIES_BY_ID, FAMILIES, decode_u64,
};
use crate::{RocksStore, compactor, engine, forward, migrate, postings, rollup, windows};
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DB, DBCompressionType, DBRecoveryMode,
    IteratorMode, Options,
};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::info;
use vigil_store::{StoreError, StoreResult};

/// Write-ahead log size past which RocksDB flushes the families holding the oldest log.
const WAL_LIMIT_BYTES: u64 = 256 << 20;

/// Memory for the memtables of all column families together by default: past it, RocksDB
/// flushes the largest. Without it each family could hold two 64 MiB memtables, and a new fleet
/// creating millions of series fills the series, id and postings families at once.
const MEMTABLE_BUDGET_BYTES: usize = 96 << 20;

/// Size of the block cache shared by all column families by default (decompressed blocks).
const BLOCK_CACHE_BYTES: usize = 256 << 20;

/// Store settings.
#[derive(Debug, Clone)]
pub struct RocksOptions {
    /// fsync the WAL before acknowledging a write (survives power loss, not only a crash).
    pub sync: bool,
    /// Size of the block cache shared by all column families (decompressed blocks).
    pub block_cache_bytes: usize,
    /// Memory for the memtables of all column families together: past it, RocksDB
    /// flushes the largest.
    pub memtable_bytes: usize,
}

impl RocksOptions {
    /// The default settings with `sync` as given.
    pub fn with_sync(sync: bool) -> Self {
        Self {
            sync,
            ..Self::default()
        }
    }
}

impl Default for RocksOptions {
    fn default() -> Self {
        Self {
            sync: true,
            block_cache_bytes: BLOCK_CACHE_BYTES,
            memtable_bytes: MEMTABLE_BUDGET_BYTES,
        }
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
    /// How often every table is read through to find damaged data (zero: never); the
    /// first scrub starts a minute after open (or after one interval, if shorter).
    pub scrub_interval: std::time::Duration,
}

impl Default for BlockOptions {
    fn default() -> Self {
        Self {
            block_duration: std::time::Duration::from_secs(2 * 3600),
            compaction_interval: std::time::Duration::from_secs(60),
            retention: std::time::Duration::ZERO,
            retention_5m: std::time::Duration::ZERO,
            retention_1h: std::time::Duration::ZERO,
            scrub_interval: std::time::Duration::from_secs(86_400),
        }
    }
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
        // Writers of one group insert into the memtables while the next group writes (and
        // syncs) the log: creations and appends of many streams at once queue less behind
        // each fsync.
        db_opts.set_enable_pipelined_write(true);
        // A write-ahead log file lives until every family with data in it has flushed; a
        // family written rarely (hosts, meta) would otherwise keep gigabytes of sample
        // logs on disk long after their samples were compacted into blocks.
        db_opts.set_max_total_wal_size(WAL_LIMIT_BYTES);
        db_opts.set_db_write_buffer_size(options.memtable_bytes);
        // A directory of an older format still has its `samples` (format 1), `recent`
        // (formats 2 and 3) or `postings` (1 to 4) family, which must be opened too, to be
        // migrated.
        let existing = DB::list_cf(&Options::default(), dir).unwrap_or_default();
        let legacy: Vec<&str> = [CF_SAMPLES_V1, CF_RECENT_V3, CF_POSTINGS_V4]
            .into_iter()
            .filter(|name| existing.iter().any(|n| n == name))
            .collect();
        // One block cache for every family: queries re-read recent samples again and
        // again (dashboards, rules), and a cached block is already decompressed.
        let cache = Cache::new_lru_cache(options.block_cache_bytes);
        let expired_before = Arc::new(std::sync::atomic::AtomicI64::new(i64::MIN));
        let millis = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let tiers = rollup::TierRetention::new(
            !blocks.retention.is_zero(),
            [millis(blocks.retention_5m), millis(blocks.retention_1h)],
        );
        let tier_cutoffs = tiers.cutoffs();
        let names = FAMILIES.iter().copied().chain(legacy.iter().copied());
        let families = names.map(|name| {
            let mut table = BlockBasedOptions::default();
            table.set_block_cache(&cache);
            if name == CF_BLOCKS || name == CF_SAMPLES_V1 {
                // Samples are read in long runs of one series: bigger blocks mean fewer
                // index lookups and decompressions per sample.
                table.set_block_size(16 << 10);
            }
            if name == CF_SERIES {
                // A new fleet looks up millions of label sets that are not there yet: a
                // bloom filter answers most of those misses without reading a block.
                table.set_bloom_filter(10.0, false);
            }
            let mut cf = Options::default();
            cf.set_block_based_table_factory(&table);
            if name == CF_BLOCKS {
                cf = without_auto_readahead(cf);
            }
            if name == CF_SERIES {
                // The same for the memtables, where a lookup walks a skip list of long keys
                // (cache misses all the way): creating series looks every new label set up
                // twice, and `series_bench` creates 3 M of them 35-40 % faster with it. It
                // costs a tenth of the family's memtable size.
                cf.set_memtable_prefix_bloom_ratio(0.1);
                cf.set_memtable_whole_key_filtering(true);
            }
            if name == CF_POSTINGS {
                // Creating series merges ids into the lists; reads and compactions fold them.
                cf.set_merge_operator_associative(postings::MERGE_OPERATOR, postings::merge);
                cf = with_options_string(
                    cf,
                    POSTING_INSERT_HINTS,
                    "could not give the posting lists' memtable insert hints; creating series \
                     costs more",
                );
            }
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
        // With every write synced, a log record that does not read back can only be a torn
        // tail (the write in flight when power went, never acknowledged): cut it off. Damage
        // anywhere else in the log would drop acknowledged writes after it, so the open fails
        // and names it (`repair` salvages). Without sync a power loss may leave any unsynced
        // suffix damaged: recover up to the first bad record, as RocksDB does by default.
        db_opts.set_wal_recovery_mode(if options.sync {
            DBRecoveryMode::TolerateCorruptedTailRecords
        } else {
            DBRecoveryMode::PointInTime
        });
        let mut db = DB::open_cf_descriptors(&db_opts, dir, families)
            .map_err(|e| open_error(dir, e.into_string()))?;
        let block_ms = migrate::prepare_format(&db, dir, blocks.block_duration)?;
        for name in legacy {
            db.drop_cf(name).map_err(engine)?;
            info!(
                family = name,
                "dropped the emptied family of an older format"
            );
        }
        let db = Arc::new(db);
        let retention_ms = i64::try_from(blocks.retention.as_millis()).unwrap_or(i64::MAX);
        let reserved_seq = windows::reserved_seq(&db)?;
        let forward = forward::Forward::recover(&db, reserved_seq)?;
        let windows = Arc::new(windows::Windows::new(
            block_ms,
            windows::scan_recent_windows(&db)?,
            retention_ms,
            expired_before,
            vigil_store::clock::now_ms(),
            reserved_seq,
            tiers,
        ));
        let compactor = compactor::Compactor::start(
            Arc::clone(&db),
            Arc::clone(&windows),
            blocks.compaction_interval,
        )
        .map_err(|e| StoreError::Engine(format!("cannot start the block compactor: {e}")))?;
        let scrubber = crate::damage::Scrubber::start(
            Arc::clone(&db),
            Arc::clone(&windows),
            // A minute after open (sooner when scrubs are more frequent than that).
            blocks
                .scrub_interval
                .min(std::time::Duration::from_secs(60)),
            blocks.scrub_interval,
        )
        .map_err(|e| StoreError::Engine(format!("cannot start the scrub: {e}")))?;
        let store = Self {
            db,
            path: dir.to_owned(),
            sync: options.sync,
            next_id: AtomicU64::new(1),
            creating: crate::series::Creating::default(),
            windows,
            forward,
            _compactor: compactor,
            _scrubber: scrubber,
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
}

/// `options` with RocksDB's implicit readahead off for its table files. A fleet query
/// seeks to each series' blocks in turn: after two reads of a file RocksDB would call
/// readahead(2) on every further block it reads there (13,000 calls for 21 runs of a
/// 1,000-host `avg`), for data the page cache already holds or that the next seek skips.
/// Sequential reads from disk still get the kernel's own readahead. The crate has no
/// setter for it, so it goes through RocksDB's options string, which keeps the rest of
/// the table options (a clone of the factory with the one field changed).
fn without_auto_readahead(options: Options) -> Options {
    with_options_string(
        options,
        "block_based_table_factory={max_auto_readahead_size=0}",
        "could not turn RocksDB's auto-readahead off; reads keep it",
    )
}

/// The posting lists' memtable keeps an insert hint per key: where that key's last entry
/// went (RocksDB's `memtable_insert_with_hint_prefix_extractor`, with the whole key, a
/// label pair and a shard, as the prefix; keys are capped at 255 bytes for it, which only
/// makes two long keys share a hint). A new host's 250-odd merges go to keys that the
/// other hosts created in the same shard already hold; without the hint, each was a
/// skip-list search from the previous insert across every other host's entries in
/// between, about 4,700 instructions a merge (callgrind, 200 new hosts: posting merges
/// 231 M instructions without, 129 M with; the collector's total 7 % less; 10,000 new
/// hosts created in 18.0–19.8 s against 20–23 s). A hint costs about 250 bytes of the
/// memtable's arena, counted in its size. RocksDB uses hints when one thread writes a
/// write group's memtable entries, and searches as before when several do at once.
const POSTING_INSERT_HINTS: &str =
    "memtable_insert_with_hint_prefix_extractor=rocksdb.CappedPrefix.255";

/// `options` with RocksDB's options string `text` applied (for a setting the crate has no
/// setter for), the rest kept; should RocksDB refuse it, the options as they were, and a
/// warning saying what is lost.
fn with_options_string(mut options: Options, text: &str, lost: &str) -> Options {
    match options.get_options_from_string(text) {
        Ok(changed) => changed,
        Err(e) => {
            tracing::warn!(error = %e, "{lost}");
            options
        }
    }
}

/// Why a data directory did not open, in words that say what to do: another process holds
/// it, or a file in it is damaged (named, with the command that salvages the rest).
pub(crate) fn open_error(dir: &Path, text: String) -> StoreError {
    // "IO error: While lock file: DIR/LOCK: Resource temporarily unavailable".
    if text.contains("LOCK") || text.contains("Resource temporarily unavailable") {
        return StoreError::Engine(format!(
            "data directory {} is in use by another process (is a vigil-collector already \
             running on it?): {text}",
            dir.display()
        ));
    }
    let damaged = ["Corruption", "corrupt", "mismatch", "checksum", "truncated"]
        .iter()
        .any(|w| text.contains(w));
    if !damaged {
        return StoreError::Engine(format!("cannot open {}: {text}", dir.display()));
    }
    let file = damaged_file(&text).map_or_else(
        || "a file in it".to_owned(),
        |f| format!("{f} ({})", what_file(&f)),
    );
    StoreError::Engine(format!(
        "data directory {} is damaged: {file} cannot be read back as written ({text}). The \
         collector does not start on it rather than serve or drop data silently. Stop \
         anything using the directory and run `vigil-collector repair --data-dir {}`: it keeps \
         the damaged directory beside it, copies every readable record into a fresh one, \
         and reports what was lost",
        dir.display(),
        dir.display()
    ))
}

/// The file a RocksDB error names: a table (`…/000123.sst`), a log (`…/000045.log`), or
/// the manifest. "Sst file size mismatch" and manifest errors name the table when they can.
fn damaged_file(text: &str) -> Option<String> {
    let words = text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')'));
    let words: Vec<&str> = words.map(|w| w.trim_end_matches(['.', ':'])).collect();
    let name = |w: &&str| -> Option<String> {
        let base = w.rsplit('/').next()?;
        let numbered = |ext: &str| {
            base.strip_suffix(ext)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        };
        (numbered(".sst") || numbered(".log") || base.starts_with("MANIFEST-"))
            .then(|| base.to_owned())
    };
    // A table or log is the file at fault even when the message also names the manifest.
    words
        .iter()
        .filter_map(name)
        .find(|n| !n.starts_with("MANIFEST-"))
        .or_else(|| words.iter().find_map(name))
}

fn what_file(name: &str) -> &'static str {
    if name.ends_with(".sst") {
        "a table file"
    } else if name.ends_with(".log") {
        "the write-ahead log"
    } else {
        "the manifest, the list of table files"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_store::{Labels, SeriesSamples, Store};

    /// The table options of `family` as RocksDB wrote them to its newest OPTIONS file.
    fn table_options(dir: &Path, family: &str) -> String {
        options_section(dir, &format!("[TableOptions/BlockBasedTable \"{family}\"]"))
    }

    /// The column family options of `family`, the same way.
    fn family_options(dir: &Path, family: &str) -> String {
        options_section(dir, &format!("[CFOptions \"{family}\"]"))
    }

    fn options_section(dir: &Path, header: &str) -> String {
        let newest = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|name| name.starts_with("OPTIONS-"))
            .max_by_key(|name| name["OPTIONS-".len()..].parse::<u64>().unwrap_or(0))
            .unwrap();
        let text = std::fs::read_to_string(dir.join(newest)).unwrap();
        let section = text.split(header).nth(1).unwrap();
        section.split("\n[").next().unwrap().to_string()
    }

    #[test]
    fn blocks_are_read_without_auto_readahead_and_keep_their_table_options() {
        let dir = tempfile::tempdir().unwrap();
        let store = RocksStore::open(dir.path(), RocksOptions::default()).unwrap();
        let blocks = table_options(dir.path(), CF_BLOCKS);
        assert!(blocks.contains("max_auto_readahead_size=0\n"), "{blocks}");
        // The rest survives the options string: the block size, and the shared cache.
        assert!(blocks.contains("block_size=16384\n"), "{blocks}");
        assert!(blocks.contains("no_block_cache=false\n"), "{blocks}");
        // Other families keep RocksDB's readahead, and their own options.
        let series = table_options(dir.path(), CF_SERIES);
        assert!(!series.contains("max_auto_readahead_size=0\n"), "{series}");
        assert!(series.contains("filter_policy=bloomfilter"), "{series}");
        drop(store);
    }

    #[test]
    fn posting_lists_keep_insert_hints_and_their_merge_operator() {
        let dir = tempfile::tempdir().unwrap();
        let store = RocksStore::open(dir.path(), RocksOptions::default()).unwrap();
        let postings = family_options(dir.path(), CF_POSTINGS);
        assert!(
            postings
                .contains("memtable_insert_with_hint_prefix_extractor=rocksdb.CappedPrefix.255\n"),
            "{postings}"
        );
        assert!(
            postings.contains(&format!("merge_operator={}\n", postings::MERGE_OPERATOR)),
            "{postings}"
        );
        // Other families insert without hints.
        let series = family_options(dir.path(), CF_SERIES);
        assert!(
            series.contains("memtable_insert_with_hint_prefix_extractor=nullptr\n"),
            "{series}"
        );
        drop(store);
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
    fn open_errors_name_the_damaged_file_and_the_repair_command() {
        let dir = Path::new("/var/lib/vigil");
        let text = "Corruption: Sst file size mismatch: /var/lib/vigil/000012.sst. Size recorded \
                    in manifest 2043, actual size 1000. The file MANIFEST-000030 may be corrupted.";
        let e = open_error(dir, text.into()).to_string();
        assert!(e.contains("000012.sst (a table file)"), "{e}");
        assert!(
            e.contains("vigil-collector repair --data-dir /var/lib/vigil"),
            "{e}"
        );
        let e = open_error(
            dir,
            "Corruption: checksum mismatch in MANIFEST-000007".into(),
        );
        assert!(
            e.to_string().contains("MANIFEST-000007 (the manifest"),
            "{e}"
        );
        let e = open_error(
            dir,
            "Corruption: truncated record body /var/lib/vigil/000045.log".into(),
        );
        assert!(
            e.to_string().contains("000045.log (the write-ahead log)"),
            "{e}"
        );
        let e = open_error(dir, "Corruption: bad block".into()).to_string();
        assert!(e.contains("a file in it cannot be read"), "{e}");
        let e = open_error(dir, "IO error: Permission denied".into()).to_string();
        assert!(e.contains("cannot open /var/lib/vigil: IO error"), "{e}");
    }

    #[test]
    fn second_open_of_the_same_dir_says_it_is_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let _first = RocksStore::open(dir.path(), RocksOptions::default()).unwrap();
        let err = RocksStore::open(dir.path(), RocksOptions::default()).unwrap_err();
        assert!(err.to_string().contains("in use"), "{err}");
    }
}
