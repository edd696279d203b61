//! Damaged files: reading around a part RocksDB cannot read, and finding every such part.
//!
//! RocksDB checks a checksum on every block it reads (`ReadOptions::verify_checksums` is on
//! by default and Vigil never turns it off on a read that serves a value), so a flipped
//! byte makes the read fail with `Corruption`; a truncated table fails to open. Vigil then:
//!
//! - **Reads around it.** A read of one series skips the windows whose block or frames it
//!   cannot read, leaves them out, and notes the loss ([`vigil_store::damage::note`]) so
//!   the query answers with what is intact and names what is missing in its `warnings`.
//!   [`DamageLog`] counts such reads and logs each damaged window once.
//! - **Scrubs.** [`scrub`] reads every key of every family (at start and then daily, on a
//!   thread of its own) and records the damaged parts it finds, with the keys and samples
//!   in them, in the store's statistics (`vigil_collector_storage_damaged_*`).
//! - **Salvages.** `vigil-collector repair` ([`crate::repair`]) copies every readable key
//!   into a fresh directory with [`walk`], which steps over the damaged parts.
//!
//! A damaged part is skipped by seeking past it: for a series' blocks, window by window;
//! for a whole family ([`walk`]), by an exponential then binary search over the key space
//! for the first key RocksDB can position on again.

use crate::keys::{CF_BLOCKS, CF_RECENT, CF_ROLLUP, FAMILIES, unflip};
use crate::{codec, rollup};
use rocksdb::{DB, DBRawIterator, ErrorKind, ReadOptions};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::{info, warn};
use vigil_store::damage::Loss;
use vigil_store::{DamageStats, SeriesId, StoreResult};

/// Damaged windows remembered (to log each once); past it, damage is counted, not logged.
const MAX_REMEMBERED: usize = 10_000;

/// Narrowest key, in bytes, of [`walk`]'s search for the end of a damaged part.
const MIN_SEARCH_WIDTH: usize = 16;

/// Whether a RocksDB error means the data itself is damaged (not a passing I/O failure).
pub(crate) fn is_damage(e: &rocksdb::Error) -> bool {
    matches!(e.kind(), ErrorKind::Corruption)
        || (e.kind() == ErrorKind::IOError && e.to_string().contains("truncated"))
}

/// Damage met by reads since start, and what the last scrub found.
#[derive(Debug, Default)]
pub(crate) struct DamageLog {
    reads: AtomicU64,
    logged: Mutex<HashSet<(&'static str, SeriesId, i64)>>,
    scrub: Mutex<DamageStats>,
}

impl DamageLog {
    /// Records that a read of series `id` left windows `w_first..=w_last` of `family`
    /// out, because of `error`; logs it the first time; notes it for the running query.
    pub fn left_out(
        &self,
        family: &'static str,
        id: SeriesId,
        (w_first, w_last): (i64, i64),
        block_ms: i64,
        error: &str,
    ) {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let from_ms = w_first.saturating_mul(block_ms);
        let to_ms = w_last.saturating_add(1).saturating_mul(block_ms) - 1;
        let first_time = self.logged.lock().is_ok_and(|mut seen| {
            seen.len() < MAX_REMEMBERED && seen.insert((family, id, w_first))
        });
        if first_time {
            warn!(
                family,
                series_id = id,
                from_ms,
                to_ms,
                error,
                "damaged data: this part cannot be read (checksum or truncated file); reads \
                 leave it out and say so; run `vigil-collector repair` while stopped to \
                 salvage the rest of the file"
            );
        }
        vigil_store::damage::note(Loss {
            series: Some(id),
            from_ms,
            to_ms,
            detail: error.to_owned(),
        });
    }

    /// Reads that left damage out, and the last scrub's findings.
    pub fn stats(&self) -> DamageStats {
        let mut stats = self.scrub.lock().map(|s| *s).unwrap_or_default();
        stats.reads = self.reads.load(Ordering::Relaxed);
        stats
    }

    fn record_scrub(&self, found: DamageStats) {
        if let Ok(mut s) = self.scrub.lock() {
            *s = found;
        }
    }
}

/// After `iter` failed on damage while reading windows from `next`, seeks window by window
/// (`key` builds the key a window starts at) until it can position again, each time with a
/// fresh iterator from `fresh` (one that met damage may keep failing after a seek).
/// Returns the first window it could seek to (`last + 1` when none up to `last` could).
pub(crate) fn skip_windows<'a>(
    iter: &mut DBRawIterator<'a>,
    fresh: &dyn Fn() -> DBRawIterator<'a>,
    key: impl Fn(i64) -> Vec<u8>,
    mut next: i64,
    last: i64,
) -> i64 {
    loop {
        next += 1;
        if next > last {
            return next;
        }
        *iter = fresh();
        iter.seek(key(next));
        if iter.status().is_ok() {
            return next;
        }
    }
}

/// A damaged part of a family found by [`walk`]: the keys between `after` (exclusive; the
/// start when `None`) and `before` (exclusive; the end when `None`) could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedRange {
    /// The column family.
    pub family: String,
    /// The last key read before the damage (`None`: the damage starts the family).
    pub after: Option<Vec<u8>>,
    /// The first key read after it (`None`: nothing readable follows).
    pub before: Option<Vec<u8>>,
    /// RocksDB's words for it (names the file).
    pub error: String,
    /// Keys in it, read without checksums to count them (values never used); 0 when even
    /// that failed.
    pub keys: u64,
    /// Samples in those keys (sample blocks, recent frames, buckets), counted alike.
    pub samples: u64,
    /// Series ids the lost keys belong to (sample families only).
    pub series: Vec<SeriesId>,
}

/// Calls `each` with every readable key and value of `name`, in order, stepping over the
/// parts RocksDB cannot read; returns those parts. `each` returning `false` stops.
pub fn walk(
    db: &DB,
    name: &str,
    mut each: impl FnMut(&[u8], &[u8]) -> bool,
) -> StoreResult<Vec<DamagedRange>> {
    let cf = db.cf_handle(name).ok_or_else(|| {
        vigil_store::StoreError::Engine(format!("column family {name} is missing"))
    })?;
    let mut ro = ReadOptions::default();
    ro.fill_cache(false);
    let mut iter = db.raw_iterator_cf_opt(cf, ro);
    let mut damaged = Vec::new();
    let mut last: Option<Vec<u8>> = None;
    iter.seek_to_first();
    loop {
        while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
            if !each(key, value) {
                return Ok(damaged);
            }
            last = Some(key.to_vec());
            iter.next();
        }
        let error = match iter.status() {
            Ok(()) => return Ok(damaged),
            Err(e) if is_damage(&e) => e.into_string(),
            Err(e) => return Err(crate::engine(e)),
        };
        let fresh = || {
            let mut ro = ReadOptions::default();
            ro.fill_cache(false);
            db.raw_iterator_cf_opt(cf, ro)
        };
        let before = resume_after(&fresh, last.as_deref());
        let mut range = DamagedRange {
            family: name.to_owned(),
            after: last.clone(),
            before: before.clone(),
            error,
            keys: 0,
            samples: 0,
            series: Vec::new(),
        };
        count_unverified(db, &mut range);
        damaged.push(range);
        match before {
            // Read on from the first readable key after the damage, with an iterator of
            // its own: one that met damage may keep failing after a seek.
            Some(before) => {
                iter = fresh();
                iter.seek(before);
            }
            None => return Ok(damaged),
        }
    }
}

/// Positions `iter` on the first key past the damage that follows `last` (the start when
/// `None`), and returns that key; `None` when nothing readable follows. Seeking to a
/// target positions on the first key at or after it, reading the block that holds it; so
/// the targets whose seek fails form a run starting just after `last`. Targets are numbers
/// one byte wider than `last` (so no key between `last` and the damage is stepped over):
/// an exponential search finds one past the run, then a binary search the run's end.
fn resume_after<'a>(fresh: &dyn Fn() -> DBRawIterator<'a>, last: Option<&[u8]>) -> Option<Vec<u8>> {
    // Each probe with a fresh iterator: one that met damage may keep failing.
    let ok = |target: &[u8]| {
        let mut iter = fresh();
        iter.seek(target);
        iter.status().is_ok()
    };
    let width = last.map_or(0, <[u8]>::len).max(MIN_SEARCH_WIDTH) + 1;
    // `last` padded with zeros: just above it, where the failed step began.
    let mut low = vec![0u8; width];
    if let Some(last) = last {
        low[..last.len()].copy_from_slice(last);
    }
    // Exponential: add 1, 2, 4, … until a seek succeeds or the targets run out.
    let mut high = None;
    for bit in 0..width * 8 {
        let mut probe = low.clone();
        if !add_power_of_two(&mut probe, bit) {
            break;
        }
        if ok(&probe) {
            high = Some(probe);
            break;
        }
        low = probe;
    }
    let mut high = match high {
        Some(high) => high,
        None => {
            let top = vec![0xFF; width];
            if !ok(&top) {
                return None;
            }
            top
        }
    };
    // Binary search between `low` (fails) and `high` (succeeds) for the first success.
    while let Some(mid) = midpoint(&low, &high) {
        if ok(&mid) {
            high = mid;
        } else {
            low = mid;
        }
    }
    let mut iter = fresh();
    iter.seek(&high);
    iter.status().ok()?;
    iter.key().map(<[u8]>::to_vec)
}

/// Adds 2^`bit` to the big-endian number `n`; `false` when it overflows.
fn add_power_of_two(n: &mut [u8], bit: usize) -> bool {
    let Some(mut i) = (n.len()).checked_sub(1 + bit / 8) else {
        return false;
    };
    let mut carry = 1u16 << (bit % 8);
    loop {
        let sum = u16::from(n[i]) + carry;
        n[i] = sum as u8;
        carry = sum >> 8;
        if carry == 0 {
            return true;
        }
        if i == 0 {
            return false;
        }
        i -= 1;
    }
}

/// The number halfway between `low` and `high` (big-endian, equal widths), or `None` when
/// nothing lies strictly between them.
fn midpoint(low: &[u8], high: &[u8]) -> Option<Vec<u8>> {
    let mut sum = vec![0u8; low.len()];
    let mut carry = 0u16;
    for i in (0..low.len()).rev() {
        let s = u16::from(low[i]) + u16::from(high[i]) + carry;
        sum[i] = s as u8;
        carry = s >> 8;
    }
    let mut top = carry as u8;
    let mid: Vec<u8> = sum
        .iter()
        .map(|&b| {
            let m = (top << 7) | (b >> 1);
            top = b & 1;
            m
        })
        .collect();
    (mid.as_slice() != low && mid.as_slice() != high).then_some(mid)
}

/// Counts the keys (and samples, series) in `range` by reading it without checksums. The
/// values are used for counting only: a damaged value is never served or copied.
fn count_unverified(db: &DB, range: &mut DamagedRange) {
    let Some(cf) = db.cf_handle(&range.family) else {
        return;
    };
    let mut ro = ReadOptions::default();
    ro.set_verify_checksums(false);
    ro.fill_cache(false);
    if let Some(before) = &range.before {
        ro.set_iterate_upper_bound(before.clone());
    }
    let mut iter = db.raw_iterator_cf_opt(cf, ro);
    match &range.after {
        Some(after) => {
            iter.seek(after);
            if iter.key() == Some(after.as_slice()) {
                iter.next();
            }
        }
        None => iter.seek_to_first(),
    }
    let mut series = HashSet::new();
    while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
        range.keys += 1;
        let (id, samples) = sample_count(&range.family, key, value);
        if let Some(id) = id {
            series.insert(id);
        }
        range.samples += samples;
        iter.next();
    }
    let mut series: Vec<SeriesId> = series.into_iter().collect();
    series.sort_unstable();
    range.series = series;
}

/// The series and sample count of one key of a sample family (`None`, 0 for others).
fn sample_count(family: &str, key: &[u8], value: &[u8]) -> (Option<SeriesId>, u64) {
    let id_at = |at: usize| {
        key.get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
    };
    match family {
        CF_BLOCKS => (
            id_at(0),
            codec::bounds(value).map_or(0, |(n, _, _)| n as u64),
        ),
        CF_ROLLUP => (
            id_at(1),
            rollup::format::decode(value).map_or(0, |b| b.len() as u64),
        ),
        CF_RECENT => {
            let mut n = 0;
            let _ = crate::windows::frame::for_each(value, |_, _, _| n += 1);
            (None, n)
        }
        _ => (None, 0),
    }
}

/// What a scrub of every family found.
#[derive(Debug, Default)]
pub struct ScrubReport {
    /// Keys read intact.
    pub keys_read: u64,
    /// The damaged parts, family by family.
    pub damaged: Vec<DamagedRange>,
    /// Whether the scrub stopped before the end (the store was closing).
    pub stopped: bool,
}

/// Reads every key of every family, stepping over damage, and records what it found in
/// `log` (logging each damaged part). `progress` is called every million keys.
pub(crate) fn scrub(
    db: &DB,
    log: &DamageLog,
    now_ms: i64,
    keep_going: &dyn Fn() -> bool,
) -> StoreResult<ScrubReport> {
    let mut report = ScrubReport::default();
    for name in FAMILIES {
        let mut n = 0u64;
        let damaged = walk(db, name, |_, _| {
            n += 1;
            // Checked every 4,096 keys: a closing store waits for little.
            !n.is_multiple_of(4096) || keep_going()
        })?;
        report.keys_read += n;
        report.damaged.extend(damaged);
        if !keep_going() {
            report.stopped = true;
            return Ok(report);
        }
    }
    let mut found = DamageStats {
        scrubbed_ms: now_ms,
        ..DamageStats::default()
    };
    let mut series = HashSet::new();
    for range in &report.damaged {
        warn!(
            keys = range.keys,
            samples = range.samples,
            series = range.series.len(),
            family = %range.family,
            after = %describe_key(&range.family, range.after.as_deref()),
            before = %describe_key(&range.family, range.before.as_deref()),
            error = %range.error,
            "scrub: damaged data: this part of the data directory cannot be read; reads leave \
             it out; stop the collector and run `vigil-collector repair --data-dir DIR` to \
             salvage the rest of the file"
        );
        found.regions += 1;
        found.keys += range.keys;
        found.samples += range.samples;
        series.extend(range.series.iter().copied());
    }
    found.series = series.len() as u64;
    if report.damaged.is_empty() {
        info!(
            keys = report.keys_read,
            "scrub: every key of the data directory reads intact"
        );
    }
    log.record_scrub(found);
    Ok(report)
}

/// A key as a person reads it in a log: series and window for the sample families, hex
/// for the others.
pub fn describe_key(family: &str, key: Option<&[u8]>) -> String {
    let Some(key) = key else {
        return "(the family's end)".to_owned();
    };
    let id_window = |at: usize| -> Option<String> {
        let id = u64::from_be_bytes(key.get(at..at + 8)?.try_into().ok()?);
        let w = unflip(key.get(at + 8..at + 16)?)?;
        Some(format!("series {id}, window {w}"))
    };
    let described = match family {
        CF_BLOCKS => id_window(0),
        CF_ROLLUP => id_window(1),
        _ => None,
    };
    described.unwrap_or_else(|| {
        key.iter()
            .take(24)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    })
}

/// Handle of the background scrub; dropping it stops the thread (within a few thousand
/// keys) and waits for it.
pub(crate) struct Scrubber {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Scrubber {
    /// Scrubs `db` after `first` and then every `every` (never when `every` is zero).
    pub fn start(
        db: Arc<DB>,
        windows: Arc<crate::windows::Windows>,
        first: Duration,
        every: Duration,
    ) -> std::io::Result<Self> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let thread = (!every.is_zero())
            .then(|| {
                std::thread::Builder::new()
                    .name("vigil-scrub".into())
                    .spawn(move || {
                        let (flag, wake) = &*signal;
                        let mut wait = first;
                        loop {
                            let stopped = flag.lock().unwrap_or_else(|p| p.into_inner());
                            let (stopped, _) = wake
                                .wait_timeout_while(stopped, wait, |s| !*s)
                                .unwrap_or_else(|p| p.into_inner());
                            if *stopped {
                                return;
                            }
                            drop(stopped);
                            wait = every;
                            let keep_going = || !*flag.lock().unwrap_or_else(|p| p.into_inner());
                            let now = vigil_store::clock::now_ms();
                            if let Err(e) = scrub(&db, &windows.damage, now, &keep_going) {
                                warn!(error = %e, "scrub failed; retrying at the next interval");
                            }
                        }
                    })
            })
            .transpose()?;
        Ok(Self { stop, thread })
    }
}

impl Drop for Scrubber {
    fn drop(&mut self) {
        let (flag, wake) = &*self.stop;
        *flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl crate::RocksStore {
    /// Reads every key of every family now, as the background scrub does, records what it
    /// found in the store's statistics and returns it.
    pub fn scrub(&self) -> StoreResult<ScrubReport> {
        scrub(
            &self.db,
            &self.windows.damage,
            vigil_store::clock::now_ms(),
            &|| true,
        )
    }
}

#[cfg(test)]
mod tests;
