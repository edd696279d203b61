//! Damaged files: a flipped byte in a table, a truncated table, a damaged or torn
//! write-ahead log. Reads leave damage out and name it, the scrub finds it, the open
//! refuses what it cannot read and names the file, and `repair` salvages every intact key.

use crate::keys::{CF_BLOCKS, FAMILIES};
use crate::{BlockOptions, RocksOptions, RocksStore, repair};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use vigil_store::damage::collect;
use vigil_store::{Labels, SeriesId, SeriesSamples, Store};

const HOUR: i64 = 3_600_000;
const SERIES: usize = 200;
const HOURS: i64 = 12;
/// One sample a minute.
const STEP: i64 = 60_000;

fn open(dir: &Path, sync: bool) -> RocksStore {
    let blocks = BlockOptions {
        block_duration: Duration::from_secs(3600),
        compaction_interval: Duration::from_secs(86_400),
        scrub_interval: Duration::ZERO,
        ..BlockOptions::default()
    };
    RocksStore::open_with_blocks(dir, RocksOptions::with_sync(sync), blocks).unwrap()
}

/// Why opening `dir` as the collector does fails (it must).
fn open_error(dir: &Path, sync: bool) -> String {
    let blocks = BlockOptions {
        scrub_interval: Duration::ZERO,
        ..BlockOptions::default()
    };
    RocksStore::open_with_blocks(dir, RocksOptions::with_sync(sync), blocks)
        .unwrap_err()
        .to_string()
}

/// A value no two samples share and no codec shortens much, so the blocks fill many of
/// RocksDB's 16 KiB data blocks.
fn value(i: usize, t: i64) -> f64 {
    let x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (t as u64).wrapping_mul(0xBF58_476D);
    (x % 1_000_003) as f64 / 7.0
}

/// 200 series × 12 hours, a sample a minute, compacted into hourly blocks and flushed to
/// table files.
fn filled(dir: &Path) -> Vec<SeriesId> {
    let store = open(dir, false);
    let labels: Vec<Labels> = (0..SERIES)
        .map(|i| Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())]))
        .collect();
    let ids = store.resolve_series("h", &labels, 1_000_000).unwrap();
    for h in 0..HOURS {
        let batch: Vec<SeriesSamples> = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| SeriesSamples {
                id,
                samples: (0..60)
                    .map(|m| {
                        let t = h * HOUR + m * STEP;
                        (t, value(i, t))
                    })
                    .collect(),
            })
            .collect();
        store.append(&batch).unwrap();
    }
    store.compact_windows(i64::MAX).unwrap();
    for name in FAMILIES {
        store.db.flush_cf(store.cf(name)).unwrap();
    }
    ids
}

/// The table files of `family`, largest first.
fn tables(store: &RocksStore, family: &str) -> Vec<PathBuf> {
    let mut files: Vec<_> = store
        .db
        .live_files()
        .unwrap()
        .into_iter()
        .filter(|f| f.column_family_name == family)
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.size));
    files
        .into_iter()
        .map(|f| store.path.join(f.name.trim_start_matches('/')))
        .collect()
}

fn flip_byte(path: &Path, at: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at as usize] ^= 0x5A;
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.write_all(&bytes).unwrap();
}

/// Every series read whole: samples served, and the losses noted.
fn read_all(
    store: &RocksStore,
    ids: &[SeriesId],
) -> (Vec<Vec<(i64, f64)>>, Vec<vigil_store::damage::Loss>) {
    let (outs, losses, _) = collect(|| {
        ids.iter()
            .map(|&id| {
                let mut out = Vec::new();
                store.samples(id, 0, HOURS * HOUR, &mut out).unwrap();
                out
            })
            .collect::<Vec<_>>()
    });
    (outs, losses)
}

/// Asserts that two reads of every series served the same samples (saying where not,
/// without printing thousands of samples).
fn same(a: &[Vec<(i64, f64)>], b: &[Vec<(i64, f64)>], what_a: &str, what_b: &str) {
    for (i, (a, b)) in a.iter().zip(b).enumerate() {
        let windows = |s: &[(i64, f64)]| {
            let mut w: Vec<i64> = s.iter().map(|&(t, _)| t / HOUR).collect();
            w.dedup();
            w
        };
        assert!(
            a == b,
            "series {i}: {} samples in windows {:?} {what_a}, {} in {:?} {what_b}",
            a.len(),
            windows(a),
            b.len(),
            windows(b)
        );
    }
}

/// Checks that every sample served is the one written, and returns how many series lost
/// some and how many samples were lost in all.
fn check_served(outs: &[Vec<(i64, f64)>]) -> (usize, usize) {
    let (mut series, mut samples) = (0, 0);
    for (i, out) in outs.iter().enumerate() {
        for &(t, v) in out {
            assert_eq!(
                v,
                value(i, t),
                "series {i} at {t}: a wrong value was served"
            );
        }
        let missing = (HOURS * 60) as usize - out.len();
        if missing > 0 {
            series += 1;
            samples += missing;
        }
    }
    (series, samples)
}

#[test]
fn a_flipped_byte_in_a_table_loses_only_its_block_names_it_and_repair_salvages_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let ids = filled(dir.path());
    let table = {
        let store = open(dir.path(), false);
        tables(&store, CF_BLOCKS).remove(0)
    };
    let size = std::fs::metadata(&table).unwrap().len();
    assert!(
        size > 200_000,
        "the blocks table is {size} bytes: too few data blocks"
    );
    flip_byte(&table, size / 3);

    // The store opens (the file's index and footer are intact) and reads around the damage.
    let store = open(dir.path(), false);
    let (outs, losses) = read_all(&store, &ids);
    let (series_hit, samples_lost) = check_served(&outs);
    assert!(
        (1..SERIES / 4).contains(&series_hit),
        "{series_hit} series hit"
    );
    assert!(!losses.is_empty());
    for loss in &losses {
        assert!(
            loss.detail.contains("Corruption") || loss.detail.contains("checksum"),
            "{loss:?}"
        );
        let i = ids.iter().position(|&id| Some(id) == loss.series).unwrap();
        // The loss names the windows the series is missing.
        for &(t, _) in &outs[i] {
            assert!(
                t < loss.from_ms || t > loss.to_ms,
                "served {t} inside {loss:?}"
            );
        }
    }
    assert!(store.stats().unwrap().damage.reads >= losses.len() as u64);
    // A read of many series at once leaves out the same samples.
    let (many, _, _) = collect(|| {
        store
            .samples_for_step_many(&ids, 0, HOURS * HOUR, 0)
            .unwrap()
    });
    same(&many, &outs, "read with the others", "alone");

    // The scrub finds the damaged part and counts its samples, read without checksums.
    let report = store.scrub().unwrap();
    assert_eq!(report.damaged.len(), 1, "{:?}", report.damaged);
    let found = store.stats().unwrap().damage;
    assert_eq!(found.regions, 1);
    assert!(found.keys >= 1 && found.samples >= 60, "{found:?}");
    assert!(
        found.series as usize >= series_hit,
        "{found:?} against {series_hit} series"
    );
    drop(store);

    // Repair copies every intact key; the copy serves exactly what the damaged one did.
    let mut lines = Vec::new();
    let repaired = repair::repair(dir.path(), &mut |l: &str| lines.push(l.to_owned())).unwrap();
    for d in &repaired.damaged {
        eprintln!(
            "damaged {}: after {} before {} keys {} series {:?}",
            d.family,
            super::describe_key(&d.family, d.after.as_deref()),
            super::describe_key(&d.family, d.before.as_deref()),
            d.keys,
            d.series
        );
    }
    eprintln!("copied {:?}", repaired.copied);
    let (keys, samples, series) = repaired.lost();
    assert!(
        keys >= 1 && samples as usize >= samples_lost / 2 && series >= 1,
        "{repaired:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("damaged part")),
        "{lines:?}"
    );
    assert!(repaired.damaged_dir.exists());
    let store = open(dir.path(), false);
    let (after, losses) = read_all(&store, &ids);
    assert!(losses.is_empty(), "{losses:?}");
    same(&after, &outs, "after repair", "before");
    assert!(store.scrub().unwrap().damaged.is_empty());
    // And it takes new samples.
    store
        .append(&[SeriesSamples {
            id: ids[0],
            samples: vec![(HOURS * HOUR, 1.0)],
        }])
        .unwrap();
}

#[test]
fn a_truncated_table_stops_the_open_naming_it_and_repair_keeps_every_other_file() {
    let dir = tempfile::tempdir().unwrap();
    let ids = filled(dir.path());
    let (table, others) = {
        let store = open(dir.path(), false);
        let mut all = tables(&store, CF_BLOCKS);
        (all.remove(0), all.len())
    };
    let size = std::fs::metadata(&table).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&table)
        .unwrap();
    f.set_len(size / 2).unwrap();
    drop(f);

    let e = open_error(dir.path(), false);
    let name = table.file_name().unwrap().to_string_lossy().into_owned();
    assert!(e.contains(&format!("{name} (a table file)")), "{e}");
    assert!(e.contains("vigil-collector repair --data-dir"), "{e}");

    let repaired = repair::repair(dir.path(), &mut |_| {}).unwrap();
    assert!(!repaired.damaged.is_empty());
    let store = open(dir.path(), false);
    let (outs, losses) = read_all(&store, &ids);
    assert!(losses.is_empty(), "{losses:?}");
    check_served(&outs);
    // The series index survived whole: every series is still found by its labels.
    let labels = Labels::from_pairs(&[("__name__", "m"), ("i", "7")]);
    assert_eq!(
        store.resolve_series("h", &[labels], 1_000_000).unwrap(),
        vec![ids[7]]
    );
    let served: usize = outs.iter().map(Vec::len).sum();
    if others == 0 {
        // The only blocks table: what survives is what the torn file still held before
        // its cut, at most.
        assert!(served < SERIES * (HOURS * 60) as usize);
    }
}

/// A directory like the one a `kill -9` leaves: the appends are in the log only.
fn logged(dir: &Path, appends: i64) -> (PathBuf, Vec<SeriesId>) {
    let live = dir.join("live");
    let store = open(&live, true);
    let labels = [Labels::from_pairs(&[("__name__", "m")])];
    let ids = store.resolve_series("h", &labels, 10).unwrap();
    // 20 samples an append: a record of about 400 bytes, so the log spans many of its
    // 32 KiB blocks.
    for n in 0..appends {
        let samples = (0..20)
            .map(|k| ((n * 20 + k) * STEP, (n * 20 + k) as f64))
            .collect();
        store
            .append(&[SeriesSamples {
                id: ids[0],
                samples,
            }])
            .unwrap();
    }
    let copy = dir.join("crashed");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(&live).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    drop(store);
    (copy, ids)
}

fn log_file(dir: &Path) -> PathBuf {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs.pop().unwrap()
}

fn stored(dir: &Path, id: SeriesId) -> Vec<(i64, f64)> {
    let store = open(dir, true);
    let mut out = Vec::new();
    store.samples(id, 0, i64::MAX / 2, &mut out).unwrap();
    out
}

#[test]
fn a_torn_log_tail_is_cut_off_and_everything_before_it_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (crashed, ids) = logged(dir.path(), 400);
    let log = log_file(&crashed);
    let len = std::fs::metadata(&log).unwrap().len();
    // The last write only half on disk, as after a power loss during it.
    let f = std::fs::OpenOptions::new().write(true).open(&log).unwrap();
    f.set_len(len - 10).unwrap();
    drop(f);
    let out = stored(&crashed, ids[0]);
    assert_eq!(out.len(), 399 * 20, "only the torn last append is gone");
    assert!(
        out.iter()
            .enumerate()
            .all(|(n, &(t, v))| t == n as i64 * STEP && v == n as f64)
    );
}

#[test]
fn damage_inside_the_log_stops_the_open_naming_it_and_repair_replays_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (crashed, ids) = logged(dir.path(), 400);
    let log = log_file(&crashed);
    let len = std::fs::metadata(&log).unwrap().len();
    assert!(len > 3 * 32 * 1024, "the log is {len} bytes");
    flip_byte(&log, len / 2);
    let e = open_error(&crashed, true);
    assert!(e.contains("is damaged"), "{e}");
    assert!(e.contains("vigil-collector repair --data-dir"), "{e}");

    let report = repair::repair(&crashed, &mut |_| {}).unwrap();
    assert!(
        report
            .open_error
            .as_deref()
            .is_some_and(|e| e.contains("Corruption")),
        "{report:?}"
    );
    let out = stored(&crashed, ids[0]);
    // The rest of the damaged record's 32 KiB block of the log is skipped (RocksDB cannot
    // find where the next record starts in it); every record after it is replayed.
    let appends = out.len() / 20;
    assert!((250..400).contains(&appends), "{appends} of 400 appends");
    assert_eq!(
        out.last(),
        Some(&((400 * 20 - 1) * STEP, (400 * 20 - 1) as f64))
    );
    assert!(out.iter().all(|&(t, v)| v == (t / STEP) as f64));
}

#[test]
fn the_search_past_damage_steps_over_nothing_readable() {
    use super::{add_power_of_two, midpoint};
    let mut n = vec![0u8, 0xFF, 0xFF];
    assert!(add_power_of_two(&mut n, 0));
    assert_eq!(n, vec![1, 0, 0]);
    let mut top = vec![0xFF, 0xFF];
    assert!(!add_power_of_two(&mut top, 3));
    assert!(!add_power_of_two(&mut [0u8; 2], 16));
    assert_eq!(midpoint(&[0, 2], &[0, 6]), Some(vec![0, 4]));
    assert_eq!(midpoint(&[0xFF, 0xFE], &[0xFF, 0xFF]), None);
    assert_eq!(midpoint(&[0x80, 0], &[0xFF, 0]), Some(vec![0xBF, 0x80]));
}

#[test]
fn a_damaged_manifest_stops_the_open_naming_it_and_repair_rebuilds_it_from_the_tables() {
    let dir = tempfile::tempdir().unwrap();
    let ids = filled(dir.path());
    let manifest = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("MANIFEST-")
        })
        .unwrap();
    let size = std::fs::metadata(&manifest).unwrap().len();
    flip_byte(&manifest, size / 2);
    let e = open_error(dir.path(), false);
    assert!(e.contains("MANIFEST-") && e.contains("is damaged"), "{e}");
    assert!(e.contains("vigil-collector repair --data-dir"), "{e}");

    let mut lines = Vec::new();
    let report = repair::repair(dir.path(), &mut |l: &str| lines.push(l.to_owned())).unwrap();
    assert!(report.manifest_rebuilt, "{lines:?}");
    // Every table was intact: nothing is lost.
    assert!(
        report.damaged.is_empty() && report.lost_files.is_empty(),
        "{report:?}"
    );
    let store = open(dir.path(), false);
    let (outs, losses) = read_all(&store, &ids);
    assert!(losses.is_empty());
    assert_eq!(check_served(&outs), (0, 0));
}

#[test]
fn repair_refuses_what_is_not_a_data_directory_and_one_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let e = repair::repair(&dir.path().join("nowhere"), &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("nowhere"), "{e}");
    let e = repair::repair(dir.path(), &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("not a Vigil data directory"), "{e}");
    // A directory a running store holds: refused, and left as it was.
    let data = dir.path().join("data");
    let store = open(&data, false);
    let e = repair::repair(&data, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("in use by another process"), "{e}");
    drop(store);
    assert!(open(&data, false).stats().is_ok());
}
