//! The spool: every collected round until the collector acknowledges it, on disk so that
//! a restart, a `kill -9`, an OOM kill or a reboot loses nothing of a collector outage.
//!
//! # Promises
//! - Collection never waits for delivery: while the collector is away, rounds pile up here.
//! - A round leaves only when the collector acknowledged its sequence number
//!   (at-least-once delivery; the collector makes a replay harmless).
//! - Sequence numbers never repeat across restarts: a process starts numbering above both
//!   the highest number in the spool and the wall clock in microseconds, so an
//!   acknowledgement meant for an earlier process cannot remove a round it did not see.
//! - Bounded: the files by `delivery.spool_max_bytes`, memory by `delivery.queue_max_bytes`.
//!   Past a bound the oldest rounds go first, counted exactly (`dropped_rounds`,
//!   `dropped_samples`).
//! - A torn or corrupt record is skipped and counted, and the intact records around it are
//!   delivered; nothing found on disk ever stops the agent from starting.
//! - A disk that fails (full, read-only, directory gone) is logged once and counted; rounds
//!   then stay in memory, within `queue_max_bytes`, and go to disk again once it works.
//! - After a restart the backlog goes out in sequence (so time) order, then live rounds.
//!
//! # Directory
//! `delivery.spool_dir` holds a `lock` file (an exclusive `flock` while an agent uses the
//! directory) and segment files named by the sequence number of their first round,
//! zero-padded to 20 digits, with the suffix `.seg`: name order is sequence order. Rounds
//! are appended to one active segment; at `spool_max_bytes / 16` (64 KiB to 4 MiB, and at
//! most a quarter of `spool_max_bytes`) it is
//! synced and closed, and the next round starts a new one. A segment is deleted once every
//! round in it is acknowledged and it is closed. Every process starts a new segment.
//!
//! # Segment file
//! ```text
//! header   "VGSP" (4 bytes), format version 1 (1 byte), 3 zero bytes
//! record*  length  u32 LE   bytes of the body
//!          crc     u32 LE   CRC-32 (IEEE, as zlib) of the body
//!          body    kind u8, then by kind:
//!            1 round  seq varint, timestamp_ms zigzag varint,
//!                     definitions: count varint, then per series first used in this
//!                       segment: id varint, name (len varint, UTF-8),
//!                       label count varint, labels (name, value as len + UTF-8),
//!                     samples: count varint, ids as zigzag varint deltas from the
//!                       previous id (from 0), then the values, f64 LE each
//!            2 ack    seq varint: every round up to it is acknowledged
//! ```
//! A segment defines every series it uses, so each file can be read alone: ids are those
//! of the process that wrote it, translated on start-up into the new process's ids. An
//! acknowledgement is written in front of the next round (no write of its own); one lost
//! in a crash only means re-sending rounds the collector already has.
//!
//! Reading walks records from the header on. A record whose length is absurd, whose body
//! runs past the end, whose checksum fails or whose body does not decode exactly is
//! damage: the reader searches forward for the next offset where a whole record with a
//! good checksum starts, and counts the bytes passed over. Bytes at the end holding no
//! intact record are a torn tail, cut off at start-up.
//!
//! # Sync policy
//! Each round is one `write` to the active segment, so a `kill -9` loses at most the round
//! being written. Against power loss the segment is flushed (`fdatasync`) when a round is
//! written at least `delivery.spool_sync` (default 1 s) after the last flush, and when it
//! is closed; `0s` flushes every round. New segment names are made durable by syncing the
//! directory.
//!
//! # Memory
//! Rounds also stay in memory while they are young (up to 256 KiB of them when on disk), so
//! a connected agent never reads its own spool; a backlog is read back one segment at a
//! time. Without a spool directory (`spool_dir = ""`) or while the disk fails, memory holds
//! every round, up to `queue_max_bytes`.

mod disk;
mod format;
#[cfg(test)]
mod tests;

pub use disk::Recovery;

use crate::collect::Sink;
use disk::Disk;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Memory kept for young rounds that are safely on disk too.
const CACHE_BYTES: usize = 256 << 10;
/// How often a directory that could not be opened is tried again.
const REOPEN_EVERY: Duration = Duration::from_secs(60);

/// One collection round awaiting acknowledgement.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    /// Sequence number of the batch that carries this round; never repeats.
    pub seq: u64,
    /// When the samples were taken, unix milliseconds.
    pub timestamp_ms: i64,
    /// Agent-local series ids.
    pub ids: Vec<u64>,
    /// One value per id.
    pub values: Vec<f64>,
}

impl Round {
    /// Approximate memory the round holds.
    pub fn bytes(&self) -> usize {
        64 + self.ids.capacity() * 8 + self.values.capacity() * 8
    }
}

/// What the spool counts, reported as `vigil_agent_*` series.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counters {
    /// Rounds dropped because a bound was reached.
    pub dropped_rounds: u64,
    /// Samples in those rounds.
    pub dropped_samples: u64,
    /// Bytes of spool files in no intact record.
    pub damaged_bytes: u64,
    /// Segment files in which damage was found (or that could not be read).
    pub damaged_segments: u64,
    /// Rounds the index knew of but their file no longer held intact.
    pub damaged_rounds: u64,
    /// Samples of recovered rounds whose series definition was lost to damage.
    pub undefined_samples: u64,
    /// Writes to the spool directory that failed.
    pub write_errors: u64,
    /// Every round up to this one was dropped from disk (memory must not deliver them).
    dropped_through: u64,
}

#[derive(Debug)]
struct Slot {
    round: Round,
    on_disk: bool,
}

/// Rounds awaiting acknowledgement: on disk when there is a spool directory, and the
/// young ones in memory.
#[derive(Debug)]
pub struct Spool {
    memory: VecDeque<Slot>,
    memory_bytes: usize,
    /// Rounds in memory that are not on disk.
    memory_only: usize,
    max_memory: usize,
    next_seq: u64,
    acked: u64,
    disk: Option<Disk>,
    /// The directory to use, while it could not be opened.
    reopen: Option<(PathBuf, Instant)>,
    max_bytes: u64,
    sync_every: Duration,
    disk_failing: bool,
    /// What the spool counted.
    pub counters: Counters,
}

impl Spool {
    /// A spool in memory only, holding at most `max_memory` bytes.
    pub fn new(max_memory: usize) -> Self {
        Self {
            memory: VecDeque::new(),
            memory_bytes: 0,
            memory_only: 0,
            max_memory,
            next_seq: wall_clock_micros().max(1),
            acked: 0,
            disk: None,
            reopen: None,
            max_bytes: 0,
            sync_every: Duration::ZERO,
            disk_failing: false,
            counters: Counters::default(),
        }
    }

    /// A spool on disk in `dir`, recovering what earlier processes left there (series of
    /// their rounds are interned into `sink`). A directory that cannot be created or read
    /// is logged and counted, and the spool starts in memory and tries it again every
    /// minute; one locked by another agent is an error.
    pub fn open(
        dir: &Path,
        max_bytes: u64,
        sync_every: Duration,
        max_memory: usize,
        sink: &mut Sink,
    ) -> Result<(Self, Recovery), String> {
        let mut spool = Self::new(max_memory);
        spool.max_bytes = max_bytes;
        spool.sync_every = sync_every;
        let recovery = match Disk::open(dir, max_bytes, sync_every, sink) {
            Ok((disk, recovery)) => {
                spool.counters.damaged_bytes += recovery.damaged_bytes;
                spool.counters.damaged_segments += recovery.damaged_segments;
                spool.next_seq = spool.next_seq.max(recovery.max_seq + 1);
                spool.disk = Some(disk);
                recovery
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Err(format!("delivery.spool_dir: {e}"));
            }
            Err(e) => {
                spool.fail(&format!("cannot open {}: {e}", dir.display()));
                spool.reopen = Some((dir.to_owned(), Instant::now()));
                Recovery::default()
            }
        };
        Ok((spool, recovery))
    }

    /// The spool directory in use, when the disk works.
    pub fn dir(&self) -> Option<&Path> {
        self.disk.as_ref().map(|d| d.dir())
    }

    /// Adds a round (series definitions come from `sink`), numbering it, and applies the
    /// bounds. Returns its sequence number.
    pub fn push(
        &mut self,
        timestamp_ms: i64,
        ids: Vec<u64>,
        values: Vec<f64>,
        sink: &mut Sink,
    ) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let round = Round {
            seq,
            timestamp_ms,
            ids,
            values,
        };
        self.try_reopen(sink);
        let mut on_disk = false;
        if let Some(disk) = self.disk.as_mut() {
            match disk.append(&round, sink, &mut self.counters) {
                Ok(()) => {
                    on_disk = true;
                    if self.disk_failing {
                        self.disk_failing = false;
                        tracing::info!(dir = %disk.dir().display(), "spool directory writable again");
                    }
                }
                Err(e) => {
                    let why = format!("cannot write to {}: {e}", disk.dir().display());
                    self.fail(&why);
                }
            }
        }
        // Rounds the disk bound dropped must not be delivered from memory either.
        let through = self.counters.dropped_through;
        while self
            .memory
            .front()
            .is_some_and(|s| s.on_disk && s.round.seq <= through)
        {
            self.pop_front();
        }
        self.memory_bytes += round.bytes();
        self.memory_only += usize::from(!on_disk);
        self.memory.push_back(Slot { round, on_disk });
        while self.memory.len() > 1
            && self.memory.front().is_some_and(|front| {
                self.memory_bytes > self.max_memory
                    || (front.on_disk && self.memory_bytes > CACHE_BYTES)
            })
        {
            if let Some(old) = self.pop_front()
                && !old.on_disk
            {
                self.counters.dropped_rounds += 1;
                self.counters.dropped_samples += old.round.ids.len() as u64;
            }
        }
        seq
    }

    fn pop_front(&mut self) -> Option<Slot> {
        let slot = self.memory.pop_front()?;
        self.memory_bytes -= slot.round.bytes();
        self.memory_only -= usize::from(!slot.on_disk);
        Some(slot)
    }

    /// Logs a disk failure once until the disk works again, and counts every one.
    fn fail(&mut self, why: &str) {
        self.counters.write_errors += 1;
        if !self.disk_failing {
            self.disk_failing = true;
            tracing::error!(
                error = why,
                "spool directory failing (delivery.spool_dir); keeping rounds in memory, \
                 up to delivery.queue_max_bytes, until it works"
            );
        }
    }

    fn try_reopen(&mut self, sink: &mut Sink) {
        let Some((dir, since)) = &self.reopen else {
            return;
        };
        if since.elapsed() < REOPEN_EVERY {
            return;
        }
        let dir = dir.clone();
        match Disk::open(&dir, self.max_bytes, self.sync_every, sink) {
            Ok((disk, recovery)) => {
                self.counters.damaged_bytes += recovery.damaged_bytes;
                self.counters.damaged_segments += recovery.damaged_segments;
                tracing::info!(dir = %dir.display(), rounds = recovery.rounds, "spool directory opened");
                self.disk = Some(disk);
                self.disk_failing = false;
                self.reopen = None;
            }
            Err(e) => {
                self.counters.write_errors += 1;
                tracing::debug!(dir = %dir.display(), error = %e, "spool directory still unusable");
                self.reopen = Some((dir, Instant::now()));
            }
        }
    }

    /// Removes every round up to and including `seq` (acks arrive in order). Returns how
    /// many samples left memory.
    pub fn ack(&mut self, seq: u64) -> u64 {
        self.acked = self.acked.max(seq);
        let mut samples = 0;
        while self.memory.front().is_some_and(|s| s.round.seq <= seq) {
            if let Some(s) = self.pop_front() {
                samples += s.round.ids.len() as u64;
            }
        }
        if let Some(disk) = self.disk.as_mut() {
            disk.ack(seq);
        }
        samples
    }

    /// The oldest round not yet acknowledged with a sequence number of at least `seq`:
    /// from memory when it is there, else read from disk.
    pub fn first_from(&mut self, seq: u64) -> Option<Round> {
        let seq = seq.max(self.acked.saturating_add(1));
        let at = self.memory.partition_point(|s| s.round.seq < seq);
        let in_memory = self.memory.get(at).map(|s| &s.round);
        if in_memory.is_none_or(|r| r.seq > seq)
            && let Some(disk) = self.disk.as_mut()
            && let Some(r) = disk.read_from(seq, &mut self.counters)
            && in_memory.is_none_or(|m| r.seq < m.seq)
        {
            return Some(r);
        }
        self.memory.get(at).map(|s| s.round.clone())
    }

    /// Rounds waiting, on disk or in memory.
    pub fn len(&self) -> usize {
        self.memory_only + self.disk.as_ref().map_or(0, |d| d.rounds())
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Memory the rounds hold, approximately.
    pub fn bytes(&self) -> usize {
        self.memory_bytes
    }

    /// Bytes of the spool files.
    pub fn disk_bytes(&self) -> u64 {
        self.disk.as_ref().map_or(0, |d| d.bytes())
    }

    /// Whether rounds are going to disk now.
    pub fn on_disk(&self) -> bool {
        self.disk.is_some() && !self.disk_failing
    }

    /// When the oldest round waiting was taken, unix milliseconds.
    pub fn oldest_ms(&self) -> Option<i64> {
        let memory = self
            .memory
            .iter()
            .find(|s| !s.on_disk)
            .map(|s| s.round.timestamp_ms);
        let disk = self.disk.as_ref().and_then(|d| d.oldest_ms());
        match (memory, disk) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Writes what is pending and flushes: for a clean stop.
    pub fn close(&mut self) {
        if let Some(disk) = self.disk.as_mut()
            && let Err(e) = disk.close()
        {
            tracing::warn!(dir = %disk.dir().display(), error = %e, "cannot flush the spool");
        }
    }
}

fn wall_clock_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
