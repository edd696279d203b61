//! # vigil-rocks
//!
//! The RocksDB engine behind [`Store`](vigil_store::Store): the only crate of Vigil that names RocksDB. It
//! passes the same conformance suite as the in-memory engine (`vigil_store::conformance`).
//!
//! # Layout
//! - `open`: settings, column family options, opening, and starting the compactor.
//! - `migrate`: the on-disk format check on open, and formats 1 to 5 → 6.
//! - `keys`: the column families, the key layout of each, and the encodings they share.
//! - `store`: `impl Store for RocksStore`, handing each method to the module below.
//! - `series`: series ids for label sets, created with their postings; series per host.
//! - `postings`: posting lists per label pair and shard of ids, and their merge operator.
//! - `windows`: appends into recent frames per time window (`windows/frame`); raw reads
//!   merging them with blocks.
//! - `compactor`: the background thread compacting closed windows (`windows/compaction`).
//! - [`codec`]: the block format (integer mantissas, delta and line encodings, Gorilla).
//! - `rollup`: downsampled 5 m and 1 h tiers, written beside each block, and their retention.
//! - `tiered_read`: reads for a step: raw samples where kept, the finest tier before.
//! - `select`: series matching a selector, from the postings.
//! - `labels`: label names and values, from the postings or the selected series.
//! - `hosts`: host records.
//! - `alerts`: alert instances' state.
//! - `state`: small records of other parts (outbox, silences).
//! - `forward`: the forwarding log remote write sends from; series by id for its readers.
//! - `admin`: checkpoints and disk statistics.
//! - [`repair`]: `vigil-collector repair`, salvaging a damaged data directory.
//! - [`damage`]: reading around damaged files, the scrub that finds them, and the walk
//!   `repair` salvages with.
//!
//! The column families and the key layout of each are written down in `keys.rs`, with the
//! encodings every family's keys are built from.
//!
//! # Life of a sample
//!
//! `append` writes one `recent_frames` key per window and group of 64 consecutive series
//! ids of the call (a frame: each series' samples of the call as one entry; a live scrape
//! of a host's 300 series, created together with consecutive ids, is five or six keys) with
//! the WAL on, so a sample is readable when the call returns and survives `kill -9` (and,
//! with `sync`, power loss). Every
//! `compaction_interval` a background thread compacts each window that ended more than
//! `grace` ago (a quarter of the window, at most 5 minutes): per series, it merges the
//! window's recent samples into the window's block (decoding the block if one exists),
//! and writes the new blocks of a chunk of whole groups and one range delete of those
//! groups' frames in ONE `WriteBatch`,
//! so a crash leaves either the samples or the block, never neither and never a mix that
//! reads wrong. `recent` is window-major so a compacted window is one contiguous key range:
//! a few range tombstones per window for the whole fleet, never one per sample. A read of
//! series `id` over `[start, end]` decodes the blocks of the windows it covers and merges
//! in its samples from its group's frames of those windows (from one RocksDB snapshot).
//!
//! # The forwarding log
//!
//! While forwarding is on (remote write configured; `Store::set_forwarding`), `append` also
//! puts ONE record holding every sample of the call into the `forward` family, in the same
//! `WriteBatch` as the frames: a sample is in the log if and only if it is stored, and both
//! survive `kill -9` alike. Records are numbered from the frames' durable sequence, so numbers
//! only grow, across restarts too. Batches of concurrent appends commit in any order, so
//! readers stop at `readable`, below the lowest number still being written: no record can
//! appear later below a reader's cursor. Remote write keeps one cursor per remote and trims
//! the log through the lowest (one range delete); turning forwarding off empties it. With
//! forwarding off an append pays one atomic load. See `forward.rs`.
//!
//! # Out-of-order and duplicate samples: the last write wins
//!
//! A sample is identified by (series, timestamp). Appending a timestamp the series already
//! has replaces the stored value, whether the old one is still recent or already inside a
//! block: the new value waits in `recent_frames` (where reads prefer it over the block, and
//! the frame with the higher sequence number over an older frame; within one call, the
//! later sample) until the compactor rewrites that window's block with it. Samples may arrive in any order; a
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
//! compaction into blocks (3.2 M samples/s, one thread). Those figures are format 3's: one
//! sample per series per call (live scrapes) then made a key per sample, about 1 M
//! samples/s. Format 4's frames make it a key per 64 series: at 10,000 live hosts
//! (`tests/bench/fleet_scale.sh`, 300,000 samples/s) RocksDB went from 0.71 of the 2 cores
//! and write stalls every minute to no stall, the whole collector using 0.80 cores, and a
//! backfill (`tests/bench/storage_peers.sh`) from 2.5 M to 3.7 M samples/s end to end. One series over 24 h
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
//! Forwarding log (`FORWARD=1`, `SCRAPES_PER_CALL=1` for the live-scrape shape; one
//! thread, sync off, a busy machine, so rates vary ±15 % run to run): live scrapes
//! (`store 10 6 20`) append at 0.69–0.73 M samples/s with it on against 0.69–0.80 off,
//! 1.42–1.47 µs of process CPU per sample against 1.33–1.46 (about +7 %: the run key per
//! sample dominates). Backfill-sized calls (`store 100 6 20`) cost 0.27 µs of CPU per
//! sample against 0.17 (+55 %: the record is one more value of 11.2 bytes per sample
//! beside 16 in the runs). Live records take 12 bytes per sample before RocksDB's
//! compression (the value's 8 bytes, the id, a count and a one-byte time difference, since
//! a scrape's series share one time), until trimmed.
//!
//! # Format versions
//!
//! Format 1 kept every sample as one key in `samples`; formats 2 and 3 kept one run per
//! series and append in `recent`. Opening such a directory moves those samples into
//! `recent_frames` (logging progress, resumable after a crash; see `migrate.rs`), records
//! the current format and drops the old family; the compactor then builds blocks.

// Without the `engine` feature only the block formats build: `codec` and the bucket
// encoding of `rollup` (the fuzz targets' decoders), with no RocksDB to compile.
#[cfg(feature = "engine")]
mod admin;
#[cfg(feature = "engine")]
mod alerts;
pub mod codec;
#[cfg(feature = "engine")]
mod compactor;
#[cfg(feature = "engine")]
pub mod damage;
#[cfg(feature = "engine")]
mod forward;
#[cfg(feature = "engine")]
mod hosts;
#[cfg(feature = "engine")]
mod keys;
#[cfg(feature = "engine")]
mod labels;
#[cfg(feature = "engine")]
mod migrate;
#[cfg(feature = "engine")]
mod open;
#[cfg(feature = "engine")]
mod postings;
#[cfg(feature = "engine")]
pub mod repair;
#[cfg_attr(not(feature = "engine"), allow(dead_code))]
mod rollup;
#[cfg(feature = "engine")]
mod select;
#[cfg(feature = "engine")]
mod series;
#[cfg(feature = "engine")]
mod state;
#[cfg(feature = "engine")]
mod store;
#[cfg(feature = "engine")]
mod tiered_read;
#[cfg(feature = "engine")]
mod windows;

#[cfg(feature = "engine")]
pub use open::{BlockOptions, RocksOptions};
/// The downsampled tiers' bucket and its encoding in the `rollup` family
/// (`buckets::encode`, `buckets::decode`).
pub use rollup::{Bucket, aggregate, format as buckets};
#[cfg(feature = "engine")]
pub use windows::CompactionReport;

#[cfg(feature = "engine")]
use {
    rocksdb::{ColumnFamily, DB, WriteOptions},
    std::path::PathBuf,
    std::sync::Arc,
    std::sync::atomic::AtomicU64,
    vigil_store::StoreError,
};

/// A [`Store`](vigil_store::Store) on an embedded RocksDB database.
#[cfg(feature = "engine")]
pub struct RocksStore {
    /// Shared with the compactor thread.
    db: Arc<DB>,
    path: PathBuf,
    sync: bool,
    next_id: AtomicU64,
    /// Per-host series counts and the label sets being created (`series.rs`).
    creating: series::Creating,
    /// Which windows hold recent samples; the gate between appends and compaction.
    windows: Arc<windows::Windows>,
    /// The forwarding log's switch, readable bound and byte count.
    forward: forward::Forward,
    /// Stops and joins the compactor thread when the store drops.
    _compactor: compactor::Compactor,
    /// Stops and joins the scrub thread when the store drops (declared after the
    /// compactor, so dropped after it).
    _scrubber: damage::Scrubber,
}

#[cfg(feature = "engine")]
impl std::fmt::Debug for RocksStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "engine")]
fn engine(e: rocksdb::Error) -> StoreError {
    StoreError::Engine(e.into_string())
}

#[cfg(feature = "engine")]
impl RocksStore {
    fn cf(&self, name: &str) -> &ColumnFamily {
        // Every family in `keys::FAMILIES` is created at open, so this cannot fail.
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
}

#[cfg(feature = "engine")]
fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt {
        what: format!("undecodable {what}"),
    }
}
