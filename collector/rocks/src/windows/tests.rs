//! The sample format: compaction into blocks, reads across blocks and recent samples,
//! late writes into compacted windows, concurrent appends, and opening format 1.

use crate::keys::{
    CF_BLOCKS, CF_HOSTS, CF_META, CF_POSTINGS, CF_POSTINGS_V4, CF_RECENT, CF_SAMPLES_V1, CF_SERIES,
    CF_SERIES_BY_ID, CF_TIMESTAMPS, FORMAT_KEY, FORMAT_VERSION, encode_labelset, flip, put_lp,
    series_key, unflip,
};
use crate::{BlockOptions, CompactionReport, RocksOptions, RocksStore};
use rocksdb::{DB, IteratorMode, Options};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use vigil_store::selector::Selector;
use vigil_store::{Labels, SeriesId, SeriesSamples, Store};

const HOUR: i64 = 3_600_000;

fn open(dir: &Path) -> RocksStore {
    // The background compactor stays out of the way: tests compact explicitly.
    let blocks = BlockOptions {
        block_duration: Duration::from_secs(2 * 3600),
        compaction_interval: Duration::from_secs(3600),
        retention: Duration::ZERO,
        ..BlockOptions::default()
    };
    RocksStore::open_with_blocks(dir, RocksOptions::with_sync(false), blocks).unwrap()
}

fn series(store: &RocksStore, n: usize) -> Vec<SeriesId> {
    let labels: Vec<Labels> = (0..n)
        .map(|i| Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())]))
        .collect();
    store.resolve_series("h", &labels, 1_000_000).unwrap()
}

/// The bare database with families `names` (created when missing), to write what an older
/// format wrote.
fn raw_db(dir: &Path, names: &[&str]) -> DB {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    DB::open_cf(&opts, dir, names).unwrap()
}

fn assert_current_format(store: &RocksStore) {
    let format = store.db.get_cf(store.cf(CF_META), FORMAT_KEY).unwrap();
    assert_eq!(format.unwrap(), FORMAT_VERSION.to_be_bytes());
}

fn read(store: &RocksStore, id: SeriesId, start: i64, end: i64) -> Vec<(i64, f64)> {
    let mut out = Vec::new();
    store.samples(id, start, end, &mut out).unwrap();
    out
}

/// Host-like values: a counter in hundredths with jittered 10 s timestamps.
fn samples(id: SeriesId, from: i64, n: i64) -> Vec<(i64, f64)> {
    (0..n)
        .map(|i| {
            let ts = from + i * 10_000 + (i * 31 + id as i64) % 9;
            (ts, ((i * 137 + id as i64) as f64) / 100.0)
        })
        .collect()
}

#[test]
fn compaction_moves_closed_windows_into_blocks_and_reads_stay_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let ids = series(&store, 3);
    let base = 1_700_000_000_000 - 1_700_000_000_000 % (2 * HOUR);
    let span = 26 * HOUR / 10_000;
    let mut want = Vec::new();
    for &id in &ids {
        let s = samples(id, base, span);
        store
            .append(&[SeriesSamples {
                id,
                samples: s.clone(),
            }])
            .unwrap();
        want.push(s);
    }
    // Windows up to base + 24 h are closed at this "now"; the last one stays recent.
    let now = base + 24 * HOUR + 10 * 60_000;
    let report = store.compact_windows(now).unwrap();
    assert_eq!(report.windows, 12);
    assert_eq!(report.blocks, 36);
    assert_eq!(report.samples, 3 * 24 * HOUR as u64 / 10_000);
    assert_eq!(store.windows.recent_windows().len(), 1);
    for (i, &id) in ids.iter().enumerate() {
        assert_eq!(read(&store, id, i64::MIN, i64::MAX), want[i]);
        let (a, b) = (base + 23 * HOUR + 1234, base + 25 * HOUR);
        let part: Vec<_> = want[i]
            .iter()
            .copied()
            .filter(|s| s.0 >= a && s.0 <= b)
            .collect();
        assert_eq!(
            read(&store, id, a, b),
            part,
            "a range across a block and recent"
        );
        assert!(store.has_samples(id, a, a + 10_000).unwrap());
        assert!(!store.has_samples(id, base - HOUR, base - 1).unwrap());
    }
    // Everything compacts; a second pass finds nothing to do; a reopen reads the same.
    store.compact_windows(i64::MAX).unwrap();
    assert!(store.windows.recent_windows().is_empty());
    assert_eq!(
        store.compact_windows(i64::MAX).unwrap(),
        CompactionReport::default()
    );
    drop(store);
    let store = open(dir.path());
    assert!(store.windows.recent_windows().is_empty());
    for (i, &id) in ids.iter().enumerate() {
        assert_eq!(read(&store, id, i64::MIN, i64::MAX), want[i]);
    }
}

#[test]
fn late_samples_replace_block_samples_before_and_after_the_block_is_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let id = series(&store, 1)[0];
    let original = samples(id, 0, 1000);
    store
        .append(&[SeriesSamples {
            id,
            samples: original.clone(),
        }])
        .unwrap();
    store.compact_windows(i64::MAX).unwrap();
    let late = vec![(original[10].0, -1.0), (5, 0.5), (original[999].0 + 1, 9.0)];
    store
        .append(&[SeriesSamples {
            id,
            samples: late.clone(),
        }])
        .unwrap();
    let mut want: std::collections::BTreeMap<i64, f64> = original.into_iter().collect();
    want.extend(late.iter().copied());
    let want: Vec<(i64, f64)> = want.into_iter().collect();
    assert_eq!(read(&store, id, i64::MIN, i64::MAX), want);
    let report = store.compact_windows(i64::MAX).unwrap();
    assert_eq!(report.samples, 3);
    assert_eq!(read(&store, id, i64::MIN, i64::MAX), want);
    // A replay of everything changes nothing.
    store
        .append(&[SeriesSamples {
            id,
            samples: want.clone(),
        }])
        .unwrap();
    store.compact_windows(i64::MAX).unwrap();
    assert_eq!(read(&store, id, i64::MIN, i64::MAX), want);
}

#[test]
fn conformance_holds_after_compaction_too() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    vigil_store::conformance::run_all(&store);
    store.compact_windows(i64::MAX).unwrap();
    assert_eq!(
        store.windows.recent_windows().len(),
        1,
        "only the window of a sample at i64::MAX ms never closes"
    );
    // The cases' samples read the same from blocks.
    let found = store
        .select(&vigil_store::selector::Selector::metric("lww"), 10)
        .unwrap()
        .0;
    let mut out = Vec::new();
    store
        .samples(found[0].0, i64::MIN, i64::MAX, &mut out)
        .unwrap();
    assert_eq!(out.len(), 17_281);
    assert_eq!(out[5].1, 55.0);
    assert!(out[3].1.is_nan());
}

#[test]
fn appends_during_compaction_are_never_lost() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let ids = series(&store, 200);
    let writer = {
        let store = Arc::clone(&store);
        let ids = ids.clone();
        std::thread::spawn(move || {
            // Rounds of one sample per series, every round into an old (closed) window
            // and the current one, while the main thread compacts.
            for round in 0..300i64 {
                let batch: Vec<SeriesSamples> = ids
                    .iter()
                    .map(|&id| SeriesSamples {
                        id,
                        samples: vec![(round * 1000, round as f64), (3 * HOUR + round, 1.0)],
                    })
                    .collect();
                store.append(&batch).unwrap();
            }
        })
    };
    while !writer.is_finished() {
        store.compact_windows(i64::MAX).unwrap();
    }
    writer.join().unwrap();
    store.compact_windows(i64::MAX).unwrap();
    for &id in &ids {
        let got = read(&store, id, i64::MIN, i64::MAX);
        assert_eq!(got.len(), 600, "series {id}");
        assert_eq!(got[299], (299_000, 299.0));
    }
}

#[test]
fn a_format_1_directory_is_migrated_on_open() {
    let dir = tempfile::tempdir().unwrap();
    // Build what format 1 wrote: the same families, one `samples` key per sample.
    {
        let names = [
            CF_SERIES,
            CF_SERIES_BY_ID,
            CF_POSTINGS_V4,
            CF_SAMPLES_V1,
            CF_HOSTS,
            CF_META,
        ];
        let db = raw_db(dir.path(), &names);
        let labels = encode_labelset(&Labels::from_pairs(&[("__name__", "old")]));
        db.put_cf(
            db.cf_handle(CF_SERIES).unwrap(),
            &labels,
            7u64.to_be_bytes(),
        )
        .unwrap();
        db.put_cf(
            db.cf_handle(CF_SERIES_BY_ID).unwrap(),
            7u64.to_be_bytes(),
            &labels,
        )
        .unwrap();
        let meta = db.cf_handle(CF_META).unwrap();
        db.put_cf(meta, FORMAT_KEY, 1u32.to_be_bytes()).unwrap();
        let samples = db.cf_handle(CF_SAMPLES_V1).unwrap();
        for i in 0..250_000i64 {
            let mut key = 7u64.to_be_bytes().to_vec();
            key.extend_from_slice(&flip(i * 1000 - 5000));
            db.put_cf(samples, key, (i as f64).to_bits().to_be_bytes())
                .unwrap();
        }
    }
    let store = open(dir.path());
    let got = read(&store, 7, i64::MIN, i64::MAX);
    assert_eq!(got.len(), 250_000);
    assert_eq!(got[0], (-5000, 0.0));
    assert_eq!(got[249_999], (249_994_000, 249_999.0));
    assert!(
        store.db.cf_handle(CF_SAMPLES_V1).is_none(),
        "the old family is dropped"
    );
    assert_current_format(&store);
    store.compact_windows(i64::MAX).unwrap();
    assert_eq!(read(&store, 7, i64::MIN, i64::MAX), got);
    assert_eq!(store.next_id.load(Ordering::SeqCst), 8);
}

#[test]
fn a_format_2_directory_is_upgraded_and_an_unknown_format_refused() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let store = open(dir.path());
        let id = series(&store, 1)[0];
        store
            .append(&[SeriesSamples {
                id,
                samples: vec![(1_000, 1.5)],
            }])
            .unwrap();
        store
            .db
            .put_cf(store.cf(CF_META), FORMAT_KEY, 2u32.to_be_bytes())
            .unwrap();
        id
    };
    {
        let store = open(dir.path());
        let format = store.db.get_cf(store.cf(CF_META), FORMAT_KEY).unwrap();
        assert_eq!(format.unwrap(), FORMAT_VERSION.to_be_bytes());
        assert_eq!(read(&store, id, i64::MIN, i64::MAX), vec![(1_000, 1.5)]);
        store
            .db
            .put_cf(store.cf(CF_META), FORMAT_KEY, 99u32.to_be_bytes())
            .unwrap();
    }
    let blocks = BlockOptions::default();
    let err = RocksStore::open_with_blocks(dir.path(), RocksOptions::with_sync(false), blocks)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not one of formats 1 to"), "{err}");
}

/// A directory of format 3: its runs in `recent` (one key per series and append, samples as
/// big-endian i64 time and f64 bits) move into frames on open, the later run still winning.
#[test]
fn a_format_3_directory_has_its_runs_moved_into_frames() {
    use crate::keys::{CF_RECENT_V3, SEQ_KEY};
    let dir = tempfile::tempdir().unwrap();
    let ids = {
        let store = open(dir.path());
        series(&store, 70)
    };
    let base = 1_700_000_000_000 - 1_700_000_000_000 % (2 * HOUR);
    let run = |samples: &[(i64, f64)]| -> Vec<u8> {
        let mut value = Vec::new();
        for &(ts, v) in samples {
            value.extend_from_slice(&ts.to_be_bytes());
            value.extend_from_slice(&v.to_bits().to_be_bytes());
        }
        value
    };
    let run_key = |w: i64, id: u64, seq: u64| -> Vec<u8> {
        [flip(w).as_slice(), &id.to_be_bytes(), &seq.to_be_bytes()].concat()
    };
    let mut want: Vec<Vec<(i64, f64)>> = vec![Vec::new(); ids.len()];
    {
        let mut opts = Options::default();
        opts.create_missing_column_families(true);
        let names = DB::list_cf(&Options::default(), dir.path()).unwrap();
        let names: Vec<&str> = names
            .iter()
            .map(String::as_str)
            .chain([CF_RECENT_V3])
            .collect();
        let db = DB::open_cf(&opts, dir.path(), names).unwrap();
        let runs = db.cf_handle(CF_RECENT_V3).unwrap();
        let mut seq = 10u64;
        // Two windows; each series written twice, the second run replacing one sample.
        for (k, &id) in ids.iter().enumerate() {
            for w in [base / (2 * HOUR), base / (2 * HOUR) + 1] {
                let from = w * 2 * HOUR;
                let first: Vec<(i64, f64)> =
                    (0..5).map(|i| (from + i * 10_000, i as f64)).collect();
                let second = vec![(from + 20_000, 100.0 + k as f64)];
                db.put_cf(runs, run_key(w, id, seq), run(&first)).unwrap();
                db.put_cf(runs, run_key(w, id, seq + 1), run(&second))
                    .unwrap();
                seq += 2;
                let mut kept = first.clone();
                kept[2] = second[0];
                want[k].extend(kept);
            }
        }
        let meta = db.cf_handle(CF_META).unwrap();
        db.put_cf(meta, SEQ_KEY, seq.to_be_bytes()).unwrap();
        db.put_cf(meta, FORMAT_KEY, 3u32.to_be_bytes()).unwrap();
    }
    let store = open(dir.path());
    assert!(
        store.db.cf_handle(CF_RECENT_V3).is_none(),
        "the old family is dropped"
    );
    let format = store.db.get_cf(store.cf(CF_META), FORMAT_KEY).unwrap();
    assert_eq!(format.unwrap(), FORMAT_VERSION.to_be_bytes());
    for (k, &id) in ids.iter().enumerate() {
        assert_eq!(read(&store, id, i64::MIN, i64::MAX), want[k], "series {id}");
    }
    let all = store
        .read_many_with_tiers(&ids, i64::MIN, i64::MAX)
        .unwrap();
    assert_eq!(all, want);
    // New writes continue above the migrated sequence numbers and win over them.
    store
        .append(&[SeriesSamples {
            id: ids[3],
            samples: vec![(base, -1.0)],
        }])
        .unwrap();
    want[3][0] = (base, -1.0);
    store.compact_windows(i64::MAX).unwrap();
    for (k, &id) in ids.iter().enumerate() {
        assert_eq!(read(&store, id, i64::MIN, i64::MAX), want[k], "series {id}");
    }
}

#[test]
fn a_format_5_series_index_is_re_keyed_by_host_also_after_a_crash_midway() {
    let dir = tempfile::tempdir().unwrap();
    let n = 1_000u64;
    let labels = |id: u64| {
        Labels::from_pairs(&[
            ("__name__", &format!("m{}", id % 7)),
            ("host", &format!("h{}", id / 100)),
            ("i", &id.to_string()),
            ("job", "node"),
        ])
    };
    {
        let db = raw_db(dir.path(), &[CF_SERIES, CF_SERIES_BY_ID, CF_META]);
        let cf = |name| db.cf_handle(name).unwrap();
        for id in 1..=n {
            let set = labels(id);
            // A migration cut short by a crash: every other label set is re-keyed already.
            let key = if id % 2 == 0 {
                series_key(&set)
            } else {
                encode_labelset(&set)
            };
            db.put_cf(cf(CF_SERIES), key, id.to_be_bytes()).unwrap();
            db.put_cf(cf(CF_SERIES_BY_ID), id.to_be_bytes(), encode_labelset(&set))
                .unwrap();
        }
        // The empty label set, whose old key has no bytes.
        db.put_cf(cf(CF_SERIES), [], (n + 1).to_be_bytes()).unwrap();
        db.put_cf(cf(CF_SERIES_BY_ID), (n + 1).to_be_bytes(), [])
            .unwrap();
        db.put_cf(cf(CF_META), FORMAT_KEY, 5u32.to_be_bytes())
            .unwrap();
    }
    let store = open(dir.path());
    assert_current_format(&store);
    let mut all: Vec<Labels> = (1..=n).map(labels).collect();
    all.push(Labels::new(vec![]));
    assert_eq!(
        store.resolve_series("h", &all, u64::MAX).unwrap(),
        (1..=n + 1).collect::<Vec<_>>(),
        "every label set keeps its id"
    );
    let keys: Vec<Box<[u8]>> = store
        .db
        .iterator_cf(store.cf(CF_SERIES), IteratorMode::Start)
        .map(|kv| kv.unwrap().0)
        .collect();
    assert_eq!(keys.len() as u64, n + 1, "one key per label set");
    assert!(keys.iter().all(|k| k.first() == Some(&0)), "all re-keyed");
    drop(store);
    // Opening again finds nothing to move.
    let store = open(dir.path());
    assert_eq!(
        store.resolve_series("h", &all[..3], u64::MAX).unwrap(),
        [1, 2, 3]
    );
}

#[test]
fn a_format_4_directory_has_its_postings_moved_into_lists() {
    let dir = tempfile::tempdir().unwrap();
    // What format 4 wrote: a postings key per series and label pair. 10,000 series, so the
    // ids span three shards, and more keys than one migration batch holds per pair.
    let n = 10_000u64;
    let labels = |id: u64| {
        Labels::from_pairs(&[
            ("__name__", &format!("m{}", id % 3)),
            ("host", &format!("h{}", id / 300)),
            ("i", &(id % 300).to_string()),
            ("job", "node"),
        ])
    };
    {
        let names = [
            CF_SERIES,
            CF_SERIES_BY_ID,
            CF_POSTINGS_V4,
            CF_RECENT,
            CF_META,
        ];
        let db = raw_db(dir.path(), &names);
        let cf = |name| db.cf_handle(name).unwrap();
        for id in 1..=n {
            let set = labels(id);
            let key = encode_labelset(&set);
            db.put_cf(cf(CF_SERIES), &key, id.to_be_bytes()).unwrap();
            db.put_cf(cf(CF_SERIES_BY_ID), id.to_be_bytes(), &key)
                .unwrap();
            for (name, value) in set.pairs() {
                let mut posting = Vec::new();
                put_lp(&mut posting, name.as_bytes());
                put_lp(&mut posting, value.as_bytes());
                posting.extend_from_slice(&id.to_be_bytes());
                db.put_cf(cf(CF_POSTINGS_V4), posting, []).unwrap();
            }
        }
        db.put_cf(cf(CF_META), FORMAT_KEY, 4u32.to_be_bytes())
            .unwrap();
    }
    let store = open(dir.path());
    assert!(
        store.db.cf_handle(CF_POSTINGS_V4).is_none(),
        "the old family is dropped"
    );
    let ids_of = |selector: &str| -> Vec<u64> {
        let selector = Selector::parse(selector).unwrap();
        let (found, more) = store.select(&selector, usize::MAX).unwrap();
        assert!(!more);
        let mut ids: Vec<u64> = found.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids
    };
    assert_eq!(ids_of(r#"{job="node"}"#), (1..=n).collect::<Vec<_>>());
    let want: Vec<u64> = (1..=n).filter(|id| id % 3 == 1).collect();
    assert_eq!(ids_of(r#"m1"#), want);
    let want: Vec<u64> = (1..=n).filter(|id| id / 300 == 20 && id % 3 != 1).collect();
    assert_eq!(ids_of(r#"{host="h20", __name__=~"m0|m2"}"#), want);
    let hosts = store.label_values("host", &[], None, usize::MAX).unwrap();
    assert_eq!(hosts.len(), (n / 300 + 1) as usize);
    // Every label set keeps its id: the series index was re-keyed (format 6), not lost.
    let known: Vec<Labels> = (1..=n).step_by(97).map(labels).collect();
    let want: Vec<u64> = (1..=n).step_by(97).collect();
    assert_eq!(
        store.resolve_series("h", &known, u64::MAX).unwrap(),
        want,
        "known label sets resolve to their ids"
    );
    let old_keys = store
        .db
        .iterator_cf(store.cf(CF_SERIES), IteratorMode::Start)
        .filter(|kv| kv.as_ref().unwrap().0.first() != Some(&0))
        .count();
    assert_eq!(old_keys, 0, "no key of the old series index is left");
    // A series created after the move joins the lists.
    let new = store
        .resolve_series("h", &[labels(n + 1)], u64::MAX)
        .unwrap()[0];
    assert_eq!(new, n + 1);
    assert_eq!(ids_of(r#"{job="node"}"#).len() as u64, n + 1);
    // One value per pair and shard (3 shards): 3 names, 34 hosts (two of them across a
    // shard boundary), 300 values of `i`, one job; format 4 had 40,001 keys.
    let keys = store
        .db
        .iterator_cf(store.cf(CF_POSTINGS), IteratorMode::Start)
        .count();
    assert!(keys <= 3 * 3 + 36 + 300 * 3 + 3, "{keys} posting lists");
    assert_current_format(&store);
}

/// A store of 2 h windows keeping a day, compacted by hand.
fn keeping_a_day(dir: &Path) -> RocksStore {
    let blocks = BlockOptions {
        block_duration: Duration::from_secs(2 * 3600),
        compaction_interval: Duration::from_secs(3600),
        retention: Duration::from_secs(86_400),
        ..BlockOptions::default()
    };
    RocksStore::open_with_blocks(dir, RocksOptions::with_sync(false), blocks).unwrap()
}

#[test]
fn retention_drops_whole_windows_without_a_tombstone_per_sample() {
    let dir = tempfile::tempdir().unwrap();
    let store = keeping_a_day(dir.path());
    let ids = series(&store, 2);
    let now = vigil_store::clock::now_ms();
    let cutoff = (now - 24 * HOUR).div_euclid(2 * HOUR) * 2 * HOUR;
    // Three days up to now (jittered, so blocks name shared timestamp columns).
    let mut want = Vec::new();
    for &id in &ids {
        let s = samples(id, now - 72 * HOUR, 72 * HOUR / 10_000);
        store
            .append(&[SeriesSamples {
                id,
                samples: s.clone(),
            }])
            .unwrap();
        want.push(s.into_iter().filter(|s| s.0 >= cutoff).collect::<Vec<_>>());
    }
    // Past retention is invisible at once, before and after compaction.
    assert_eq!(read(&store, ids[0], i64::MIN, i64::MAX), want[0]);
    let report = store.compact_windows(now).unwrap();
    // Twelve 2 h windows since the cutoff; in the first minutes after an even hour the
    // window that just ended is still within its grace period, so at least eleven closed.
    assert!(report.blocks >= 2 * 11, "{report:?}");
    for (i, &id) in ids.iter().enumerate() {
        assert_eq!(read(&store, id, i64::MIN, i64::MAX), want[i]);
        assert!(!store.has_samples(id, i64::MIN, cutoff - 1).unwrap());
        assert!(store.has_samples(id, cutoff, i64::MAX).unwrap());
    }
    // Once RocksDB rewrites the files, expired blocks and columns are gone from disk too.
    for family in [CF_BLOCKS, CF_TIMESTAMPS, CF_RECENT] {
        store
            .db
            .compact_range_cf(store.cf(family), None::<&[u8]>, None::<&[u8]>);
    }
    let first_kept = cutoff.div_euclid(2 * HOUR);
    let windows_of = |family: &str, at: std::ops::Range<usize>| -> Vec<i64> {
        store
            .db
            .iterator_cf(store.cf(family), IteratorMode::Start)
            .map(|item| unflip(&item.unwrap().0[at.clone()]).unwrap())
            .collect()
    };
    let blocks = windows_of(CF_BLOCKS, 8..16);
    assert!(
        !blocks.is_empty() && blocks.iter().all(|&w| w >= first_kept),
        "{blocks:?}"
    );
    let columns = windows_of(CF_TIMESTAMPS, 0..8);
    assert!(!columns.is_empty() && columns.iter().all(|&w| w >= first_kept));
    assert!(windows_of(CF_RECENT, 0..8).iter().all(|&w| w >= first_kept));
}

#[test]
fn reads_during_compaction_see_every_sample_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let ids = series(&store, 300);
    let mut want = Vec::new();
    for &id in &ids {
        let s = samples(id, 0, 2000);
        store
            .append(&[SeriesSamples {
                id,
                samples: s.clone(),
            }])
            .unwrap();
        want.push(s);
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (store, stop, ids) = (Arc::clone(&store), Arc::clone(&stop), ids.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) || reads == 0 {
                for (i, &id) in ids.iter().enumerate().step_by(37) {
                    let got = read(&store, id, i64::MIN, i64::MAX);
                    assert_eq!(got, samples(id, 0, 2000), "series {i} during compaction");
                    assert!(store.has_samples(id, 0, 20_000).unwrap());
                }
                reads += 1;
            }
            reads
        })
    };
    store.compact_windows(i64::MAX).unwrap();
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    for (i, &id) in ids.iter().enumerate() {
        assert_eq!(read(&store, id, i64::MIN, i64::MAX), want[i]);
    }
}

#[test]
fn the_last_write_wins_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let store = open(dir.path());
        let id = series(&store, 1)[0];
        store
            .append(&[SeriesSamples {
                id,
                samples: vec![(1_000, 1.0), (2_000, 2.0)],
            }])
            .unwrap();
        id
    };
    for round in 0..3 {
        let store = open(dir.path());
        let v = 10.0 + f64::from(round);
        store
            .append(&[SeriesSamples {
                id,
                samples: vec![(1_000, v)],
            }])
            .unwrap();
        assert_eq!(read(&store, id, 0, 5_000), vec![(1_000, v), (2_000, 2.0)]);
    }
    let store = open(dir.path());
    assert_eq!(
        read(&store, id, 0, 5_000),
        vec![(1_000, 12.0), (2_000, 2.0)]
    );
    store.compact_windows(i64::MAX).unwrap();
    assert_eq!(
        read(&store, id, 0, 5_000),
        vec![(1_000, 12.0), (2_000, 2.0)]
    );
}

#[test]
fn an_idle_store_compacts_its_open_window_and_later_samples_merge_at_close() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let ids = series(&store, 2);
    let base = 1_700_000_000_000 - 1_700_000_000_000 % (2 * HOUR);
    let first: Vec<_> = ids.iter().map(|&id| samples(id, base, 300)).collect();
    let append = |parts: &[Vec<(i64, f64)>]| {
        let batch: Vec<SeriesSamples> = ids
            .iter()
            .zip(parts)
            .map(|(&id, s)| SeriesSamples {
                id,
                samples: s.clone(),
            })
            .collect();
        store.append(&batch).unwrap();
    };
    append(&first);
    // 50 minutes into the window: a normal pass leaves it alone, an idle one compacts it.
    let now = base + 50 * 60_000;
    assert_eq!(store.compact_windows(now).unwrap().blocks, 0);
    let report = store.compact_idle_windows(now).unwrap();
    assert_eq!((report.windows, report.blocks), (1, 2));
    assert!(store.windows.recent_windows().is_empty());
    for (i, &id) in ids.iter().enumerate() {
        assert_eq!(read(&store, id, i64::MIN, i64::MAX), first[i]);
    }
    // Samples come again: recent until the window closes, then merged into the block.
    let second: Vec<_> = ids
        .iter()
        .map(|&id| samples(id, base + 300 * 10_000, 400))
        .collect();
    append(&second);
    assert_eq!(store.windows.recent_windows().len(), 1);
    let whole = |i: usize| [first[i].clone(), second[i].clone()].concat();
    for (i, &id) in ids.iter().enumerate() {
        assert_eq!(read(&store, id, i64::MIN, i64::MAX), whole(i));
    }
    store.compact_windows(base + 3 * HOUR).unwrap();
    assert!(store.windows.recent_windows().is_empty());
    for (i, &id) in ids.iter().enumerate() {
        assert_eq!(read(&store, id, i64::MIN, i64::MAX), whole(i));
    }
}

#[test]
fn a_clock_going_back_an_hour_makes_retention_delete_nothing_early() {
    let dir = tempfile::tempdir().unwrap();
    let store = keeping_a_day(dir.path());
    let ids = series(&store, 1);
    // The store reads the wall clock when it opens, so the data is placed around it.
    let now = vigil_store::clock::now_ms();
    let s = samples(ids[0], now - 48 * HOUR, 48 * HOUR / 10_000);
    store
        .append(&[SeriesSamples {
            id: ids[0],
            samples: s.clone(),
        }])
        .unwrap();
    store.compact_windows(now).unwrap();
    let kept = read(&store, ids[0], i64::MIN, i64::MAX);
    let first = store.windows.first_kept();
    assert!(!kept.is_empty() && kept.len() < s.len());
    // The clock steps back an hour, and forward again: the cutoff never moves back, and
    // nothing the right clock kept goes early.
    for at in [now - HOUR, now - HOUR + 10 * 60_000, now] {
        store.compact_windows(at).unwrap();
        assert_eq!(store.windows.first_kept(), first);
        assert_eq!(read(&store, ids[0], i64::MIN, i64::MAX), kept);
    }
}
