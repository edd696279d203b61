//! What a store can say about itself for `vigil status` and `vigil backup`: disk usage per
//! part, series per host, and where a checkpoint went.

use super::Labels;
use std::path::{Path, PathBuf};

/// A consistent copy of the store made by [`Store::checkpoint`](crate::Store::checkpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointInfo {
    /// The directory holding the copy; a collector started with this as its data
    /// directory serves it.
    pub dir: PathBuf,
    /// Bytes of every file in the copy. Files hard-linked to the live data directory count
    /// in full, though they take no extra disk until the live copy drops them.
    pub bytes: u64,
    /// Files in the copy.
    pub files: u64,
    /// Files shared with the live data directory through hard links (0 when the copy is
    /// on another filesystem and every file was copied).
    pub linked_files: u64,
    /// The engine and its on-disk format, for the backup's manifest (`"RocksDB format 1"`).
    pub format: String,
}

/// Disk usage and contents of a store, from the engine's cheap counters (no data scan).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreStats {
    /// The engine (`"RocksDB"`, `"memory"`).
    pub engine: String,
    /// The data directory, when the store has one.
    pub data_dir: Option<PathBuf>,
    /// Bytes of every file under the data directory: tables, write-ahead log, manifests.
    pub disk_bytes: u64,
    /// Bytes of the write-ahead log: acknowledged writes not yet flushed into tables.
    pub wal_bytes: u64,
    /// Usage per part of the store (a RocksDB column family; a map for the memory store).
    pub parts: Vec<PartStats>,
    /// Series in the store (the sum of `series_by_host`).
    pub series: u64,
    /// Series per host that ever created one, sorted by host name.
    pub series_by_host: Vec<(String, u64)>,
    /// Samples stored, when the engine knows without reading them (the memory store);
    /// `None` when it would take a scan.
    pub samples: Option<u64>,
    /// Memory the engine holds, by what for (zeros when the engine cannot say).
    pub memory: StoreMemory,
    /// Bytes compaction still has to rewrite (RocksDB's estimate, every part; 0 when the
    /// engine has none): room it needs on disk before it frees the inputs.
    pub pending_compaction_bytes: u64,
    /// Damaged data met by reads and found by the scrub (zeros when none).
    pub damage: DamageStats,
}

/// Damaged data the engine has met: parts of files it cannot read (a checksum mismatch, a
/// truncated table), which reads leave out and name instead of failing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DamageStats {
    /// Reads since start that left a damaged part out.
    pub reads: u64,
    /// Damaged parts the last scrub (a read of every table, at start and daily) found.
    pub regions: u64,
    /// Of those, the keys (blocks, index entries, …) lost, as counted in the damaged parts
    /// read without their checksums (so an estimate; values from them are never served).
    pub keys: u64,
    /// Of those, the samples in lost sample blocks and recent frames, counted the same way.
    pub samples: u64,
    /// Series with samples lost (at most).
    pub series: u64,
    /// When the last scrub finished (unix ms); 0 before the first one.
    pub scrubbed_ms: i64,
}

/// Memory an engine holds, from its own counters (RocksDB's properties), in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreMemory {
    /// Written data waiting in memory to be flushed to tables (RocksDB's memtables, every
    /// part: `rocksdb.cur-size-all-mem-tables`); already in the write-ahead log.
    pub memtables: u64,
    /// Of `memtables`, the series index's parts (series, ids, postings).
    pub index_memtables: u64,
    /// Decompressed table blocks cached for reads (`rocksdb.block-cache-usage`; one cache
    /// shared by every part, so it cannot be split between them).
    pub block_cache: u64,
    /// Of `block_cache`, the blocks pinned by readers (`rocksdb.block-cache-pinned-usage`).
    pub block_cache_pinned: u64,
    /// Index and filter blocks of open table files held outside the block cache
    /// (`rocksdb.estimate-table-readers-mem`, every part).
    pub table_readers: u64,
    /// Of `table_readers`, the series index's parts.
    pub index_table_readers: u64,
}

/// Usage of one part of a store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartStats {
    /// The part's name (`"series"`, `"blocks"`, `"posting_lists"`, …).
    pub name: String,
    /// Bytes of its table files on disk (live and not yet deleted).
    pub disk_bytes: u64,
    /// The engine's estimate of the bytes of live data in it, after compaction would drop
    /// overwritten and deleted entries.
    pub live_bytes: u64,
    /// Bytes held in memory waiting to be flushed to tables (already in the write-ahead
    /// log, so durable).
    pub memory_bytes: u64,
    /// The engine's estimate of the number of keys in it.
    pub keys: u64,
}

/// Bytes and files under `dir` (recursively), and how many files have other hard links.
pub fn dir_usage(dir: &Path) -> std::io::Result<(u64, u64, u64)> {
    let (mut bytes, mut files, mut linked) = (0, 0, 0);
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            // RocksDB deletes obsolete files at any time: one gone since the listing
            // counts as nothing, not as a failure.
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.is_file() {
                bytes += meta.len();
                files += 1;
                if hard_links(&meta) > 1 {
                    linked += 1;
                }
            }
        }
    }
    Ok((bytes, files, linked))
}

#[cfg(unix)]
fn hard_links(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::nlink(meta)
}

#[cfg(not(unix))]
fn hard_links(_: &std::fs::Metadata) -> u64 {
    1
}

/// Rough heap bytes of a label set, for the memory store's usage figures.
pub(super) fn labels_bytes(labels: &Labels) -> u64 {
    labels
        .pairs()
        .iter()
        .map(|(n, v)| (n.len() + v.len() + 48) as u64)
        .sum()
}
