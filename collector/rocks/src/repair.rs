//! `vigil-collector repair`: salvages a damaged data directory while the collector is
//! stopped.
//!
//! 1. Opens the directory tolerating damage: a table that does not open (truncated, its
//!    footer damaged) is left aside instead of failing the open, and write-ahead log
//!    records that do not read back are skipped, the ones after them replayed. When even
//!    that fails (the manifest, the list of table files, is damaged), RocksDB's own repair
//!    rebuilds the manifest from the table files first.
//! 2. Copies every key that reads back intact, family by family, into a fresh directory
//!    beside it ([`damage::walk`] steps over damaged parts), with progress.
//! 3. Moves the damaged directory aside (`DIR.damaged-UNIXTIME`, kept until the operator
//!    deletes it) and the fresh one into its place, and reports what was lost: the damaged
//!    parts with their keys, samples and series, counted by reading them without checksums.
//!
//! Nothing damaged is copied: every key copied passed its checksum.

use crate::damage::{self, DamagedRange};
use crate::engine;
use crate::keys::CF_POSTINGS;
use crate::postings;
use rocksdb::{ColumnFamilyDescriptor, DB, DBRecoveryMode, Options, WriteBatch, WriteOptions};
use std::path::{Path, PathBuf};
use vigil_store::{StoreError, StoreResult};

/// Keys per write into the fresh directory.
const BATCH_KEYS: usize = 10_000;

/// What a repair did.
#[derive(Debug, Default)]
pub struct RepairReport {
    /// Keys copied intact, per family.
    pub copied: Vec<(String, u64)>,
    /// The damaged parts left behind.
    pub damaged: Vec<DamagedRange>,
    /// Whether the manifest had to be rebuilt from the table files.
    pub manifest_rebuilt: bool,
    /// Table files RocksDB's manifest rebuild could not read at all (moved to `lost/` in
    /// the damaged copy).
    pub lost_files: Vec<String>,
    /// Where the damaged directory was moved.
    pub damaged_dir: PathBuf,
    /// Why the collector's own open failed, if it did (names the damaged file).
    pub open_error: Option<String>,
}

impl RepairReport {
    /// Keys, samples and series (at most) lost in the damaged parts.
    pub fn lost(&self) -> (u64, u64, u64) {
        let mut series: Vec<u64> = self.damaged.iter().flat_map(|d| d.series.clone()).collect();
        series.sort_unstable();
        series.dedup();
        let keys = self.damaged.iter().map(|d| d.keys).sum();
        let samples = self.damaged.iter().map(|d| d.samples).sum();
        (keys, samples, series.len() as u64)
    }
}

/// Salvages `dir` (see the module); `progress` hears what is happening, a line at a time.
pub fn repair(dir: &Path, progress: &mut dyn FnMut(&str)) -> StoreResult<RepairReport> {
    let dir = &std::fs::canonicalize(dir).map_err(|e| io(dir, e))?;
    if !dir.join("CURRENT").is_file() {
        return Err(StoreError::Engine(format!(
            "{} is not a Vigil data directory (no CURRENT file); name the directory the \
             collector's storage.data_dir points at",
            dir.display()
        )));
    }
    let names = DB::list_cf(&Options::default(), dir).unwrap_or_else(|_| {
        crate::keys::FAMILIES
            .iter()
            .map(|f| (*f).to_owned())
            .chain(["default".to_owned()])
            .collect()
    });
    let mut report = RepairReport::default();
    // What the collector itself would say: names the file when a table, the log or the
    // manifest cannot be read.
    let strict = crate::RocksStore::open_with_blocks(
        dir,
        crate::RocksOptions::with_sync(true),
        crate::BlockOptions {
            compaction_interval: std::time::Duration::from_secs(86_400),
            scrub_interval: std::time::Duration::ZERO,
            ..crate::BlockOptions::default()
        },
    );
    if let Err(e) = strict {
        let text = e.to_string();
        if text.contains("in use by another process") {
            return Err(e);
        }
        progress(&format!("the collector's own open fails: {text}"));
        report.open_error = Some(text);
    } else {
        drop(strict);
    }
    let old = match open_tolerant(dir, &names) {
        Ok(db) => db,
        Err(e) => {
            progress(&format!(
                "cannot open even when tolerating damage ({e}); rebuilding the manifest from \
                 the table files"
            ));
            DB::repair(&tolerant_options(), dir).map_err(engine)?;
            report.manifest_rebuilt = true;
            report.lost_files = lost_files(dir);
            open_tolerant(dir, &names)?
        }
    };
    let fresh_dir = sibling(dir, "repairing");
    if fresh_dir.exists() {
        std::fs::remove_dir_all(&fresh_dir).map_err(|e| io(&fresh_dir, e))?;
    }
    let fresh = {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let families: Vec<ColumnFamilyDescriptor> = names.iter().map(|n| descriptor(n)).collect();
        DB::open_cf_descriptors(&opts, &fresh_dir, families).map_err(engine)?
    };
    let mut unsynced = WriteOptions::default();
    unsynced.disable_wal(true);
    for name in &names {
        let target = fresh.cf_handle(name).ok_or_else(|| {
            StoreError::Engine(format!("the fresh directory lacks family {name}"))
        })?;
        let mut batch = WriteBatch::default();
        let mut copied = 0u64;
        let mut failed = None;
        let damaged = damage::walk(&old, name, |key, value| {
            batch.put_cf(target, key, value);
            copied += 1;
            if batch.len() >= BATCH_KEYS {
                if let Err(e) = fresh.write_opt(std::mem::take(&mut batch), &unsynced) {
                    failed = Some(e);
                    return false;
                }
                if copied.is_multiple_of(1_000_000) {
                    progress(&format!("{name}: {copied} keys copied"));
                }
            }
            true
        })?;
        if let Some(e) = failed {
            return Err(StoreError::Engine(format!(
                "writing the fresh copy in {} failed ({e}); the damaged directory is untouched",
                fresh_dir.display()
            )));
        }
        fresh.write_opt(batch, &unsynced).map_err(engine)?;
        for d in &damaged {
            progress(&format!(
                "{name}: damaged part after {} and before {}: {} keys, {} samples lost ({})",
                damage::describe_key(name, d.after.as_deref()),
                damage::describe_key(name, d.before.as_deref()),
                d.keys,
                d.samples,
                d.error
            ));
        }
        progress(&format!("{name}: {copied} keys copied"));
        report.copied.push((name.clone(), copied));
        report.damaged.extend(damaged);
    }
    // Written without the log: flush every family, so the copy is on disk before the swap.
    let handles: Vec<_> = names.iter().filter_map(|n| fresh.cf_handle(n)).collect();
    fresh
        .flush_cfs_opt(&handles, &rocksdb::FlushOptions::default())
        .map_err(engine)?;
    drop(handles);
    drop(fresh);
    drop(old);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    report.damaged_dir = sibling(dir, &format!("damaged-{now}"));
    std::fs::rename(dir, &report.damaged_dir).map_err(|e| io(dir, e))?;
    std::fs::rename(&fresh_dir, dir).map_err(|e| io(&fresh_dir, e))?;
    Ok(report)
}

fn tolerant_options() -> Options {
    let mut opts = Options::default();
    // A family with no table file left (after the manifest is rebuilt) starts empty.
    opts.create_missing_column_families(true);
    // A table that does not open is left aside instead of failing the open.
    opts.set_paranoid_checks(false);
    // Log records that do not read back are skipped; the ones after them still replay.
    opts.set_wal_recovery_mode(DBRecoveryMode::SkipAnyCorruptedRecord);
    opts
}

fn open_tolerant(dir: &Path, names: &[String]) -> StoreResult<DB> {
    let families: Vec<ColumnFamilyDescriptor> = names.iter().map(|n| descriptor(n)).collect();
    DB::open_cf_descriptors(&tolerant_options(), dir, families).map_err(engine)
}

/// A family as repair opens it: the posting lists need their merge operator to be read.
fn descriptor(name: &str) -> ColumnFamilyDescriptor {
    let mut cf = Options::default();
    if name == CF_POSTINGS {
        cf.set_merge_operator_associative(postings::MERGE_OPERATOR, postings::merge);
    }
    ColumnFamilyDescriptor::new(name, cf)
}

/// `DIR` → `DIR.suffix`, beside it.
fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_owned();
    name.push(format!(".{suffix}"));
    dir.with_file_name(name)
}

/// The table files RocksDB's rebuild could not read (it also moves the old manifest and
/// the logs it converted into tables to `lost/`: those are not losses).
fn lost_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("lost"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".sst"))
                .collect()
        })
        .unwrap_or_default()
}

fn io(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Engine(format!("{}: {e}", path.display()))
}
