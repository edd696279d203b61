//! Reads of many series over one time span at once ([`read_many`]), for queries over a
//! fleet: one snapshot and one iterator per family and window serve every series, where
//! [`super::read`] makes them anew for each (which costs about as much as the reads
//! themselves when each series has a few samples in the span).

use super::{Windows, block_key, block_window, column_key, frame, merge, recent_key, settle};
use crate::keys::{CF_BLOCKS, CF_RECENT, CF_TIMESTAMPS, family};
use crate::{codec, corrupt, damage, engine};
use rocksdb::{DB, ReadOptions};
use std::collections::HashMap;
use vigil_store::{SeriesId, StoreResult};

/// The samples of each of `ids` with `start <= t <= end`, oldest first, one vector per id
/// in the order given: the same as [`super::read`] for each, from one snapshot.
pub(crate) fn read_many(
    db: &DB,
    windows: &Windows,
    ids: &[SeriesId],
    start: i64,
    end: i64,
) -> StoreResult<Vec<Vec<(i64, f64)>>> {
    let mut outs = vec![Vec::new(); ids.len()];
    if end < start || ids.is_empty() {
        return Ok(outs);
    }
    let w0 = windows.window(start).max(windows.first_kept());
    let w1 = windows.window(end);
    if w1 < w0 {
        return Ok(outs);
    }
    // Ascending ids: every seek moves forward, through blocks the last one just read.
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_unstable_by_key(|&i| ids[i]);
    let recent = windows.recent_in(w0, w1);
    // Always a snapshot: the blocks and the recent runs must be read at one point in time
    // (a compaction moves runs into blocks) for every series alike.
    let snapshot = db.snapshot();
    let options = || {
        let mut ro = ReadOptions::default();
        ro.set_snapshot(&snapshot);
        ro
    };
    let blocks = family(db, CF_BLOCKS)?;
    let fresh = || db.raw_iterator_cf_opt(blocks, options());
    let mut iter = fresh();
    let mut started = false;
    // The series of a window share a few timestamp columns: each is read once; and
    // mostly the same timestamps, decoded once for as long as they repeat.
    let mut columns = Columns::default();
    let mut timestamps = codec::reuse::Timestamps::default();
    for (n, &i) in order.iter().enumerate() {
        if n > 0 && ids[order[n - 1]] == ids[i] {
            continue;
        }
        let (id, last) = (ids[i], block_key(ids[i], w1));
        reach(&mut iter, &block_key(id, w0), &mut started);
        let mut next = w0;
        loop {
            while let (Some(key), Some(block)) = (iter.key(), iter.value()) {
                if key > last.as_slice() {
                    break;
                }
                let w = block_window(key)?;
                next = w + 1;
                let damaged = || corrupt("sample block");
                let column = match codec::column_of(block).ok_or_else(damaged)? {
                    Some(column) => match columns.get(db, &options, w, column)? {
                        Ok(column) => Some(column),
                        Err(error) => {
                            windows.left_out(CF_TIMESTAMPS, id, (w, w), &error);
                            iter.next();
                            continue;
                        }
                    },
                    None => None,
                };
                codec::reuse::decode(block, column, start, end, &mut timestamps, &mut outs[i])
                    .ok_or_else(damaged)?;
                iter.next();
            }
            // A block that cannot be read: leave its windows out, read on after them (and
            // seek afresh for the next series: the iterator is no longer positioned).
            match iter.status() {
                Ok(()) => break,
                Err(e) if damage::is_damage(&e) => {
                    started = false;
                    let key = |w| block_key(id, w).to_vec();
                    let resumed = damage::skip_windows(&mut iter, &fresh, key, next, w1);
                    windows.left_out(CF_BLOCKS, id, (next, resumed - 1), &e.into_string());
                    if resumed > w1 {
                        iter = fresh();
                        break;
                    }
                    next = resumed;
                }
                Err(e) => return Err(engine(e)),
            }
        }
    }
    if recent.is_empty() {
        return Ok(outs);
    }
    let mut fresh: Vec<Vec<(i64, f64)>> = vec![Vec::new(); ids.len()];
    let cf = family(db, CF_RECENT)?;
    for w in recent {
        let mut iter = db.raw_iterator_cf_opt(cf, options());
        let mut started = false;
        let mut n = 0;
        // One group of ids at a time: its frames are read once for every id asked of it.
        while n < order.len() {
            let g = frame::group(ids[order[n]]);
            // Where each series of the group goes: the first place of its id in `order`.
            let mut wanted = [usize::MAX; frame::GROUP_SIZE as usize];
            while let Some(&i) = order.get(n)
                && frame::group(ids[i]) == g
            {
                let slot = &mut wanted[(ids[i] - frame::first_id(g)) as usize];
                if *slot == usize::MAX {
                    *slot = i;
                }
                n += 1;
            }
            let last = recent_key(w, g, u64::MAX);
            reach(&mut iter, &recent_key(w, g, 0), &mut started);
            let before: Vec<usize> = fresh.iter().map(Vec::len).collect();
            while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
                if key > last.as_slice() {
                    break;
                }
                frame::for_each(value, |offset, ts, v| {
                    let i = wanted[offset as usize];
                    if i != usize::MAX && ts >= start && ts <= end {
                        fresh[i].push((ts, v));
                    }
                })?;
                iter.next();
            }
            match iter.status() {
                Ok(()) => {}
                // Without every frame a replaced value could show: the group's samples of
                // this window go, for every series asked of it.
                Err(e) if damage::is_damage(&e) => {
                    // A fresh iterator for the next group: one that met damage may keep failing.
                    iter = db.raw_iterator_cf_opt(cf, options());
                    started = false;
                    let error = e.into_string();
                    for &i in wanted.iter().filter(|&&i| i != usize::MAX) {
                        fresh[i].truncate(before[i]);
                        windows.left_out(CF_RECENT, ids[i], (w, w), &error);
                    }
                }
                Err(e) => return Err(engine(e)),
            }
        }
    }
    for (out, mut fresh) in outs.iter_mut().zip(fresh) {
        // Runs written in time order need no sorting (the usual case).
        if !fresh.is_sorted_by(|a, b| a.0 < b.0) {
            settle(&mut fresh);
        }
        match (out.last(), fresh.first()) {
            (_, None) => {}
            (None, Some(_)) => *out = fresh,
            // Blocks end before the recent samples start (as they do unless late samples
            // arrived for a compacted window): one after the other.
            (Some(&(a, _)), Some(&(b, _))) if a < b => out.extend_from_slice(&fresh),
            _ => {
                let blocks = std::mem::take(out);
                merge(&blocks, &fresh, out);
            }
        }
    }
    // A repeated id was read once, for its first place in `order`.
    for n in 1..order.len() {
        let (before, i) = (order[n - 1], order[n]);
        if ids[before] == ids[i] {
            outs[i] = outs[before].clone();
        }
    }
    Ok(outs)
}

/// The shared timestamp columns one read has fetched, by window and column id.
#[derive(Default)]
struct Columns(HashMap<(i64, codec::ColumnId), Vec<u8>>);

impl Columns {
    /// Column `id` of window `w`, fetched from the store the first time.
    fn get(
        &mut self,
        db: &DB,
        options: &dyn Fn() -> ReadOptions,
        w: i64,
        id: codec::ColumnId,
    ) -> StoreResult<Result<&[u8], String>> {
        use std::collections::hash_map::Entry;
        match self.0.entry((w, id)) {
            Entry::Occupied(e) => Ok(Ok(e.into_mut())),
            Entry::Vacant(e) => {
                let column = match db.get_pinned_cf_opt(
                    family(db, CF_TIMESTAMPS)?,
                    column_key(w, &id),
                    &options(),
                ) {
                    Ok(column) => column,
                    // Damaged: RocksDB's words, and the blocks naming it are left out.
                    Err(error) if damage::is_damage(&error) => return Ok(Err(error.into_string())),
                    Err(error) => return Err(engine(error)),
                };
                let column = column
                    .ok_or_else(|| corrupt("sample block (its timestamp column is missing)"))?;
                Ok(Ok(e.insert(column.to_vec())))
            }
        }
    }
}

/// Keys an iterator steps over before it seeks instead. One: after a series the iterator
/// already sits on the next one's first key when their ids are consecutive; stepping
/// further was measured slower than seeking (`tests/bench/top_scale.sh`: 4 steps cost 10 %
/// more of the collector's CPU, 16 steps 50 % more).
const STEPS_BEFORE_SEEK: usize = 1;

/// Moves `iter` to the first key at or after `target`, which is after every key asked for
/// before: by stepping when it is near, else by seeking (always the first time).
fn reach(iter: &mut rocksdb::DBRawIterator<'_>, target: &[u8], started: &mut bool) {
    if *started {
        for _ in 0..STEPS_BEFORE_SEEK {
            match iter.key() {
                Some(key) if key < target => iter.next(),
                // At or past the target, or at the end: nothing at or after it was skipped.
                _ => return,
            }
        }
        if iter.key().is_none_or(|key| key >= target) {
            return;
        }
    }
    *started = true;
    iter.seek(target);
}

#[cfg(test)]
mod tests {
    use crate::{BlockOptions, RocksOptions, RocksStore};
    use std::time::Duration;
    use vigil_store::{Labels, SeriesSamples, Store};

    const HOUR: i64 = 3_600_000;

    #[test]
    fn many_at_once_reads_what_each_alone_reads() {
        let dir = tempfile::tempdir().unwrap();
        let blocks = BlockOptions {
            block_duration: Duration::from_secs(2 * 3600),
            compaction_interval: Duration::from_secs(3600),
            retention: Duration::ZERO,
            ..BlockOptions::default()
        };
        let store =
            RocksStore::open_with_blocks(dir.path(), RocksOptions::with_sync(false), blocks)
                .unwrap();
        let labels: Vec<Labels> = (0..40)
            .map(|i| Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())]))
            .collect();
        let ids = store.resolve_series("h", &labels, 1_000).unwrap();
        let base = 1_700_000_000_000 - 1_700_000_000_000 % (2 * HOUR);
        // Every third series has nothing; the others span blocks and recent windows.
        let write = |from: i64, n: i64, value: f64| {
            let samples: Vec<SeriesSamples> = ids
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 3 != 0)
                .map(|(i, &id)| SeriesSamples {
                    id,
                    samples: (0..n)
                        .map(|k| (from + k * 60_000 + i as i64, value + k as f64))
                        .collect(),
                })
                .collect();
            store.append(&samples).unwrap();
        };
        write(base, 5 * 60, 0.0);
        store
            .compact_windows(base + 4 * HOUR + 10 * 60_000)
            .unwrap();
        // Late samples replace some in a compacted window; new ones land in recent ones.
        write(base + HOUR, 10, 1000.0);
        write(base + 4 * HOUR + 30 * 60_000, 30, 2000.0);
        // Out of id order, with a repeat and an id the store does not know.
        let mut asked: Vec<u64> = ids.iter().rev().copied().collect();
        asked.push(ids[4]);
        asked.push(999_999);
        for (start, end) in [
            (i64::MIN, i64::MAX),
            (base + HOUR - 1, base + HOUR + 5 * 60_000),
            (base + 3 * HOUR, base + 5 * HOUR),
            (base + 6 * HOUR, base + 7 * HOUR),
            (base + 2 * HOUR, base + HOUR),
        ] {
            let many = store.samples_for_step_many(&asked, start, end, 0).unwrap();
            assert_eq!(many.len(), asked.len());
            for (&id, got) in asked.iter().zip(&many) {
                let mut alone = Vec::new();
                store.samples(id, start, end, &mut alone).unwrap();
                assert_eq!(got, &alone, "series {id} in [{start}, {end}]");
            }
        }
        let all = store
            .samples_for_step_many(&asked, i64::MIN, i64::MAX, 0)
            .unwrap();
        // ids[38] has samples; ids[39] none.
        // The late samples replaced ones at the same times.
        assert_eq!(all[1].len(), 300);
        assert!(all[1].contains(&(base + HOUR + 38, 1000.0)));
        assert!(all[1].contains(&(base + 4 * HOUR + 30 * 60_000 + 38, 2000.0)));
        assert!(all[0].is_empty() && all[asked.len() - 1].is_empty());
    }
}
