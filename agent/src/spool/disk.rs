//! The spool directory: segment files, the index of the rounds they hold, appends, syncs,
//! deletion of acknowledged segments, the byte bound, and reading rounds back.

use super::format::{self, Record, Records};
use super::{Counters, Round};
use crate::collect::Sink;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Suffix of segment files; the name before it is the first sequence number, 20 digits.
const SEGMENT_SUFFIX: &str = ".seg";
/// Name of the lock file that keeps a second agent out of the directory.
const LOCK_FILE: &str = "lock";

/// A round on disk and not yet acknowledged: enough to count and age it without reading.
#[derive(Debug, Clone, Copy)]
struct Entry {
    seq: u64,
    timestamp_ms: i64,
    samples: u32,
}

/// One segment file.
#[derive(Debug)]
struct Segment {
    path: PathBuf,
    /// Sequence number of its first round (its name).
    first_seq: u64,
    /// Highest sequence number of a round in it.
    last_seq: u64,
    bytes: u64,
    /// Ids of an earlier process → this process's ids; `None` for segments this process
    /// wrote, whose ids are already the sink's.
    translate: Option<HashMap<u64, u64>>,
}

/// The segment being appended to.
#[derive(Debug)]
struct Active {
    file: File,
    /// Ids already defined in this segment.
    defined: HashSet<u64>,
    unsynced: bool,
}

/// A segment's bytes loaded for reading, with where the last read ended.
#[derive(Debug)]
struct Cursor {
    first_seq: u64,
    data: Vec<u8>,
    pos: usize,
    /// Sequence number of the round that ends at `pos`.
    last: u64,
}

/// What start-up found in the directory.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Recovery {
    /// Segment files read.
    pub segments: usize,
    /// Rounds not yet acknowledged, to be delivered.
    pub rounds: u64,
    /// Samples in them.
    pub samples: u64,
    /// Bytes in no intact record (skipped damage and torn tails).
    pub damaged_bytes: u64,
    /// Segments in which damage was found.
    pub damaged_segments: u64,
    /// Highest sequence number seen, acknowledged or not.
    pub max_seq: u64,
}

/// The on-disk part of the spool.
#[derive(Debug)]
pub struct Disk {
    dir: PathBuf,
    _lock: File,
    segments: VecDeque<Segment>,
    index: VecDeque<Entry>,
    active: Option<Active>,
    acked: u64,
    /// An acknowledgement not yet written to the active segment.
    ack_pending: bool,
    segment_bytes: u64,
    max_bytes: u64,
    total_bytes: u64,
    sync_every: Duration,
    last_sync: Instant,
    cursor: Option<Cursor>,
    buf: Vec<u8>,
}

impl Disk {
    /// Opens (creating) `dir`, locks it, and reads every segment: damage is skipped and
    /// counted, acknowledged segments are deleted, and the rest is indexed. Ids of series
    /// in earlier processes' segments are interned into `sink`.
    pub fn open(
        dir: &Path,
        max_bytes: u64,
        sync_every: Duration,
        sink: &mut Sink,
    ) -> io::Result<(Self, Recovery)> {
        std::fs::create_dir_all(dir)?;
        let lock = lock(dir)?;
        let mut names: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)?
            .filter_map(|e| {
                let path = e.ok()?.path();
                let name = path.file_name()?.to_str()?;
                let seq = name.strip_suffix(SEGMENT_SUFFIX)?.parse().ok()?;
                Some((seq, path))
            })
            .collect();
        names.sort();
        let mut disk = Self {
            dir: dir.to_owned(),
            _lock: lock,
            segments: VecDeque::new(),
            index: VecDeque::new(),
            active: None,
            acked: 0,
            ack_pending: false,
            segment_bytes: (max_bytes / 16).clamp(64 << 10, 4 << 20).min(max_bytes / 4),
            max_bytes,
            total_bytes: 0,
            sync_every,
            last_sync: Instant::now(),
            cursor: None,
            buf: Vec::new(),
        };
        let mut recovery = Recovery::default();
        let mut found = Vec::new();
        for (first_seq, path) in names {
            let data = match std::fs::read(&path) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(segment = %path.display(), error = %e, "cannot read a spool segment; skipping it");
                    recovery.damaged_segments += 1;
                    continue;
                }
            };
            recovery.segments += 1;
            let mut translate = HashMap::new();
            let mut entries = Vec::new();
            let mut records = Records::new(&data);
            for record in records.by_ref() {
                match record {
                    Record::Ack(seq) => disk.acked = disk.acked.max(seq),
                    Record::Round(r) => {
                        for (id, key) in &r.definitions {
                            translate.insert(*id, sink.intern(key));
                        }
                        recovery.max_seq = recovery.max_seq.max(r.seq);
                        entries.push(Entry {
                            seq: r.seq,
                            timestamp_ms: r.timestamp_ms,
                            samples: r.ids.len() as u32,
                        });
                    }
                }
            }
            let lost = records.damaged_bytes + records.torn_bytes;
            let intact = records.position() as u64 - records.torn_bytes;
            if lost > 0 {
                recovery.damaged_bytes += lost;
                recovery.damaged_segments += 1;
                tracing::warn!(
                    segment = %path.display(),
                    damaged_bytes = lost,
                    intact_rounds = entries.len(),
                    "spool segment damaged; delivering its intact rounds"
                );
            }
            // Cut a torn tail so the file ends at its last intact record.
            if records.torn_bytes > 0 && intact >= format::HEADER_BYTES as u64 {
                let _ = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_len(intact));
            }
            found.push((first_seq, path, entries, translate));
        }
        for (first_seq, path, entries, translate) in found {
            let last_seq = entries.iter().map(|e| e.seq).max().unwrap_or(0);
            if last_seq <= disk.acked {
                remove(&path);
                continue;
            }
            let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            disk.total_bytes += bytes;
            disk.segments.push_back(Segment {
                path,
                first_seq,
                last_seq,
                bytes,
                translate: Some(translate),
            });
            for e in entries.into_iter().filter(|e| e.seq > disk.acked) {
                recovery.rounds += 1;
                recovery.samples += u64::from(e.samples);
                disk.index.push_back(e);
            }
        }
        disk.index.make_contiguous().sort_by_key(|e| e.seq);
        Ok((disk, recovery))
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Rounds on disk not yet acknowledged.
    pub fn rounds(&self) -> usize {
        self.index.len()
    }

    /// Bytes of the segment files.
    pub fn bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Timestamp of the oldest round on disk not yet acknowledged.
    pub fn oldest_ms(&self) -> Option<i64> {
        self.index.front().map(|e| e.timestamp_ms)
    }

    /// Writes a round (and any pending acknowledgement) to the active segment, syncing if
    /// the sync interval has passed; then keeps the directory within its byte bound.
    /// On an error nothing of the round stays on disk.
    pub fn append(
        &mut self,
        round: &Round,
        sink: &Sink,
        counters: &mut Counters,
    ) -> io::Result<()> {
        if self.active.is_none() {
            self.start_segment(round.seq)?;
        }
        let Some(active) = self.active.as_mut() else {
            return Err(io::Error::other("no active segment"));
        };
        self.buf.clear();
        if self.ack_pending {
            format::put_ack(&mut self.buf, self.acked);
        }
        let new: Vec<u64> = round
            .ids
            .iter()
            .copied()
            .filter(|id| !active.defined.contains(id))
            .collect();
        format::put_round(
            &mut self.buf,
            round.seq,
            round.timestamp_ms,
            &new,
            |id| sink.series(id),
            &round.ids,
            &round.values,
        );
        let Some(segment) = self.segments.back_mut() else {
            return Err(io::Error::other("no active segment"));
        };
        if let Err(e) = active.file.write_all(&self.buf) {
            // Take back a partial write so the segment ends at a record boundary.
            let _ = active.file.set_len(segment.bytes);
            return Err(e);
        }
        active.defined.extend(new);
        active.unsynced = true;
        self.ack_pending = false;
        let written = self.buf.len() as u64;
        segment.bytes += written;
        segment.last_seq = segment.last_seq.max(round.seq);
        let full = segment.bytes >= self.segment_bytes;
        self.total_bytes += written;
        self.index.push_back(Entry {
            seq: round.seq,
            timestamp_ms: round.timestamp_ms,
            samples: round.ids.len() as u32,
        });
        if self.sync_every.is_zero() || self.last_sync.elapsed() >= self.sync_every {
            self.sync()?;
        }
        if full {
            self.seal()?;
        }
        self.bound(counters);
        Ok(())
    }

    /// Flushes the active segment to stable storage if anything was written since the
    /// last sync.
    pub fn sync(&mut self) -> io::Result<()> {
        self.last_sync = Instant::now();
        if let Some(active) = self.active.as_mut()
            && active.unsynced
        {
            active.file.sync_data()?;
            active.unsynced = false;
        }
        Ok(())
    }

    /// Notes that every round up to `seq` is acknowledged: their segments are deleted
    /// (except the one being appended to), and the acknowledgement is written with the
    /// next round.
    pub fn ack(&mut self, seq: u64) {
        if seq <= self.acked {
            return;
        }
        self.acked = seq;
        self.ack_pending = true;
        while self.index.front().is_some_and(|e| e.seq <= seq) {
            self.index.pop_front();
        }
        while self.segments.len() > 1 && self.segments.front().is_some_and(|s| s.last_seq <= seq) {
            if let Some(s) = self.segments.pop_front() {
                self.delete(s);
            }
        }
    }

    /// Writes a pending acknowledgement and syncs: for a clean stop.
    pub fn close(&mut self) -> io::Result<()> {
        if self.ack_pending
            && let Some(active) = self.active.as_mut()
        {
            self.buf.clear();
            format::put_ack(&mut self.buf, self.acked);
            active.file.write_all(&self.buf)?;
            active.unsynced = true;
            self.ack_pending = false;
            if let Some(s) = self.segments.back_mut() {
                s.bytes += self.buf.len() as u64;
                self.total_bytes += self.buf.len() as u64;
            }
        }
        self.sync()
    }

    /// The first round on disk with a sequence number of at least `seq` that is not yet
    /// acknowledged, with ids in this process's numbering. Damage met on the way is
    /// skipped (and counted in `counters`).
    pub fn read_from(&mut self, seq: u64, counters: &mut Counters) -> Option<Round> {
        let seq = seq.max(self.acked + 1);
        let at = self.index.partition_point(|e| e.seq < seq);
        let want = self.index.get(at)?.seq;
        let segment = self
            .segments
            .iter()
            .position(|s| s.first_seq <= want && want <= s.last_seq)?;
        let first_seq = self.segments[segment].first_seq;
        let reuse = self
            .cursor
            .as_ref()
            .is_some_and(|c| c.first_seq == first_seq && c.last < want);
        if !reuse {
            let data = match std::fs::read(&self.segments[segment].path) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(segment = %self.segments[segment].path.display(), error = %e, "cannot read a spool segment; skipping it");
                    counters.damaged_segments += 1;
                    self.forget(segment, counters);
                    return self.read_from(seq, counters);
                }
            };
            self.cursor = Some(Cursor {
                first_seq,
                data,
                pos: format::HEADER_BYTES,
                last: 0,
            });
        }
        let path = &self.segments[segment].path;
        let cursor = self.cursor.as_mut()?;
        let mut found = None;
        let mut damaged = 0;
        for attempt in 0..2 {
            if attempt == 1 {
                // The active segment grew since it was loaded: it is only ever appended
                // to, so what was read stays valid and reading goes on where it ended.
                match std::fs::read(path) {
                    Ok(data) if data.len() > cursor.data.len() => cursor.data = data,
                    _ => break,
                }
            }
            let mut records = Records::resume(&cursor.data, cursor.pos);
            for record in records.by_ref() {
                if let Record::Round(r) = record
                    && r.seq >= want
                {
                    found = Some(r);
                    break;
                }
            }
            damaged += records.damaged_bytes;
            if found.is_some() {
                cursor.pos = records.position();
                break;
            }
            // A tail that is not yet a whole record may still be being written: read it
            // again from its start.
            cursor.pos = records.position() - records.torn_bytes as usize;
        }
        let Some(r) = found else {
            // The index promised a round the file does not hold intact (damage since
            // start-up): forget the segment's rounds and go on with the next.
            tracing::warn!(segment = %self.segments[segment].path.display(), "spool segment changed on disk; skipping the rest of it");
            counters.damaged_bytes += damaged;
            counters.damaged_segments += 1;
            self.cursor = None;
            self.forget(segment, counters);
            return self.read_from(seq, counters);
        };
        counters.damaged_bytes += damaged;
        cursor.last = r.seq;
        let mut ids = r.ids;
        let mut values = r.values;
        if let Some(map) = &self.segments[segment].translate {
            let mut kept = 0;
            for i in 0..ids.len() {
                if let Some(&id) = map.get(&ids[i]) {
                    ids[kept] = id;
                    values[kept] = values[i];
                    kept += 1;
                }
            }
            counters.undefined_samples += (ids.len() - kept) as u64;
            ids.truncate(kept);
            values.truncate(kept);
        }
        Some(Round {
            seq: r.seq,
            timestamp_ms: r.timestamp_ms,
            ids,
            values,
        })
    }

    /// Drops the index entries of segment `at` that are still to be read (unreadable).
    fn forget(&mut self, at: usize, counters: &mut Counters) {
        let (first, last) = (self.segments[at].first_seq, self.segments[at].last_seq);
        let before = self.index.len();
        self.index.retain(|e| e.seq < first || e.seq > last);
        counters.damaged_rounds += (before - self.index.len()) as u64;
        // An older process's segment is never appended to again; delete it.
        if self.segments[at].translate.is_some()
            && let Some(s) = self.segments.remove(at)
        {
            self.delete(s);
        }
    }

    fn start_segment(&mut self, first_seq: u64) -> io::Result<()> {
        let path = self.dir.join(format!("{first_seq:020}{SEGMENT_SUFFIX}"));
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)?;
        if let Err(e) = file.write_all(&format::header()) {
            drop(file);
            remove(&path);
            return Err(e);
        }
        // The new name must survive a power loss as well as the data in it.
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        let bytes = format::HEADER_BYTES as u64;
        self.total_bytes += bytes;
        self.segments.push_back(Segment {
            path,
            first_seq,
            last_seq: 0,
            bytes,
            translate: None,
        });
        self.active = Some(Active {
            file,
            defined: HashSet::new(),
            unsynced: true,
        });
        Ok(())
    }

    /// Syncs and closes the active segment; the next round starts a new one.
    fn seal(&mut self) -> io::Result<()> {
        let result = self.sync();
        self.active = None;
        // A fully acknowledged segment is not needed once closed.
        if self
            .segments
            .back()
            .is_some_and(|s| s.last_seq <= self.acked)
            && let Some(s) = self.segments.pop_back()
        {
            self.delete(s);
        }
        result
    }

    /// Deletes the oldest segments while the files pass `max_bytes`, counting the rounds
    /// in them that were not yet acknowledged.
    fn bound(&mut self, counters: &mut Counters) {
        while self.total_bytes > self.max_bytes && !self.segments.is_empty() {
            if self.segments.len() == 1 {
                // Only the active segment is left and alone it passes the bound.
                let _ = self.seal();
                if self.segments.is_empty() {
                    break;
                }
            }
            let Some(oldest) = self.segments.pop_front() else {
                break;
            };
            while self.index.front().is_some_and(|e| e.seq <= oldest.last_seq) {
                if let Some(e) = self.index.pop_front() {
                    counters.dropped_rounds += 1;
                    counters.dropped_samples += u64::from(e.samples);
                }
            }
            counters.dropped_through = counters.dropped_through.max(oldest.last_seq);
            if self.segments.is_empty() {
                self.active = None;
            }
            self.delete(oldest);
        }
    }

    fn delete(&mut self, segment: Segment) {
        self.total_bytes = self.total_bytes.saturating_sub(segment.bytes);
        if self
            .cursor
            .as_ref()
            .is_some_and(|c| c.first_seq == segment.first_seq)
        {
            self.cursor = None;
        }
        remove(&segment.path);
    }
}

fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(segment = %path.display(), error = %e, "cannot delete a spool segment");
    }
}

/// Takes the directory's lock, so two agents never share a spool.
#[cfg(unix)]
#[allow(unsafe_code)]
fn lock(dir: &Path) -> io::Result<File> {
    use std::os::fd::AsRawFd;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))?;
    // SAFETY: flock only reads the descriptor, which `file` keeps open.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(if e.kind() == io::ErrorKind::WouldBlock {
            io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "{} is locked by another vigil-agent; give each agent its own delivery.spool_dir",
                    dir.display()
                ),
            )
        } else {
            e
        });
    }
    Ok(file)
}

/// Elsewhere the lock file is only created: one agent per directory is up to the operator.
#[cfg(not(unix))]
fn lock(dir: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))
}
