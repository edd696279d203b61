use super::*;
use crate::RocksOptions;
use std::path::Path;
use std::sync::Arc;
use vigil_store::Store;

fn open(dir: &Path) -> RocksStore {
    RocksStore::open(dir, RocksOptions::with_sync(false)).unwrap()
}

fn series(store: &RocksStore, n: usize) -> Vec<SeriesId> {
    let labels: Vec<Labels> = (0..n)
        .map(|i| Labels::from_pairs(&[("__name__", "fw"), ("i", &i.to_string())]))
        .collect();
    store.resolve_series("h", &labels, 1000).unwrap()
}

fn one(id: SeriesId, ts: i64, value: f64) -> Vec<SeriesSamples> {
    vec![SeriesSamples {
        id,
        samples: vec![(ts, value)],
    }]
}

fn read_all(store: &RocksStore, after: u64) -> Vec<ForwardRecord> {
    store.forward_read(after, u64::MAX, usize::MAX).unwrap()
}

#[test]
fn the_offset_is_filled_in_where_encode_puts_it() {
    let samples = one(3, 1_000, 2.5);
    let (mut direct, mut patched) = (Vec::new(), Vec::new());
    forward::encode(&samples, 77, 123_456_789, &mut direct);
    forward::encode(&samples, 77, 0, &mut patched);
    patched[OFFSET_AT].copy_from_slice(&123_456_789u64.to_be_bytes());
    assert_eq!(patched, direct);
    assert_eq!(forward::decode(1, &patched).offset, 123_456_789);
}

#[test]
fn records_survive_reopen_and_numbers_keep_growing() {
    let dir = tempfile::tempdir().unwrap();
    let (records, bounds) = {
        let store = open(dir.path());
        let ids = series(&store, 2);
        store.set_forwarding(true).unwrap();
        store.append(&one(ids[0], 1_000, 1.0)).unwrap();
        store.append(&one(ids[1], 2_000, 2.0)).unwrap();
        (read_all(&store, 0), store.forward_bounds().unwrap())
    };
    assert_eq!(records.len(), 2);
    let store = open(dir.path());
    assert_eq!(read_all(&store, 0), records, "kept, and readable while off");
    let reopened = store.forward_bounds().unwrap();
    assert_eq!(reopened.first, bounds.first);
    assert_eq!(
        reopened.bytes, bounds.bytes,
        "recovered from the last record"
    );
    assert!(
        reopened.readable >= bounds.readable,
        "{reopened:?} {bounds:?}"
    );
    assert!(
        store
            .forward_read(reopened.readable, u64::MAX, 10)
            .unwrap()
            .is_empty()
    );

    store.set_forwarding(true).unwrap();
    let id = series(&store, 1)[0];
    store.append(&one(id, 3_000, 3.0)).unwrap();
    let now = read_all(&store, 0);
    assert_eq!(now.len(), 3);
    assert_eq!(now[..2], records[..]);
    assert!(now[2].seq > reopened.readable, "{now:?} {reopened:?}");
    assert_eq!(
        now[2].offset, bounds.bytes,
        "offsets go on from the recovered bytes"
    );
    drop(store);

    // A restart without remotes turns it off, which empties the log.
    let store = open(dir.path());
    store.set_forwarding(false).unwrap();
    let bounds = store.forward_bounds().unwrap();
    assert_eq!((bounds.first, bounds.bytes), (None, 0));
    drop(store);
    let store = open(dir.path());
    assert!(read_all(&store, 0).is_empty());
    assert_eq!(store.forward_bounds().unwrap().bytes, 0);
}

#[test]
fn a_damaged_value_reads_as_a_damaged_record() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        let id = series(&store, 1)[0];
        store.set_forwarding(true).unwrap();
        for i in 0..3 {
            store.append(&one(id, i, i as f64)).unwrap();
        }
        let records = read_all(&store, 0);
        let cf = store.cf(CF_FORWARD);
        store
            .db
            .put_cf(cf, seq_key(records[0].seq), b"junk")
            .unwrap();
        let mut flipped = store
            .db
            .get_cf(cf, seq_key(records[2].seq))
            .unwrap()
            .unwrap();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x40;
        store
            .db
            .put_cf(cf, seq_key(records[2].seq), &flipped)
            .unwrap();
    }
    // The last record is damaged too: opening must not fail on it.
    let store = open(dir.path());
    let records = read_all(&store, 0);
    assert_eq!(records.len(), 3);
    assert!(
        records[0]
            .body
            .as_ref()
            .unwrap_err()
            .contains("shorter than its header")
    );
    assert_eq!(records[1].body.as_ref().unwrap()[0].samples, vec![(1, 1.0)]);
    assert!(records[2].body.as_ref().unwrap_err().contains("checksum"));
    assert_eq!(records[2].samples, 1, "the header still says what was lost");
    store.forward_trim(records[2].seq).unwrap();
    assert!(read_all(&store, 0).is_empty());
}

/// Several threads append at once while a reader follows the log with a cursor: it must
/// see every record exactly once, none appearing later below its cursor.
#[test]
fn concurrent_appends_never_expose_a_gap() {
    const WRITERS: usize = 4;
    const CALLS: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let ids = series(&store, WRITERS);
    store.set_forwarding(true).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (store, done) = (Arc::clone(&store), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut cursor = 0;
            let mut seen = Vec::new();
            loop {
                // Read `done` first: once it is set, a read sees every record.
                let finished = done.load(Ordering::Acquire);
                let batch = store.forward_read(cursor, 50, 7).unwrap();
                for record in &batch {
                    assert!(record.seq > cursor, "{} after cursor {cursor}", record.seq);
                    cursor = record.seq;
                }
                let caught_up = batch.is_empty();
                seen.extend(batch);
                if finished && caught_up {
                    return seen;
                }
                std::thread::yield_now();
            }
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, id) = (Arc::clone(&store), ids[w]);
            std::thread::spawn(move || {
                for i in 0..CALLS {
                    store
                        .append(&one(id, i as i64, (w * CALLS + i) as f64))
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    done.store(true, Ordering::Release);
    let seen = reader.join().unwrap();
    assert_eq!(
        seen,
        read_all(&store, 0),
        "the follower saw the whole log, in order"
    );
    let mut values: Vec<usize> = seen
        .iter()
        .map(|r| r.body.as_ref().unwrap()[0].samples[0].1 as usize)
        .collect();
    values.sort_unstable();
    assert_eq!(
        values,
        (0..WRITERS * CALLS).collect::<Vec<_>>(),
        "each append once"
    );
    // Offsets add up in number order whatever order the batches committed in.
    for pair in seen.windows(2) {
        assert_eq!(pair[1].offset, pair[0].offset + pair[0].len);
    }
    let last = seen.last().unwrap();
    assert_eq!(
        store.forward_bounds().unwrap().bytes,
        last.offset + last.len
    );
}

#[test]
fn turning_off_under_load_leaves_the_log_empty() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let ids = series(&store, 3);
    store.set_forwarding(true).unwrap();
    let writers: Vec<_> = ids
        .iter()
        .map(|&id| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..300 {
                    store.append(&one(id, i, 1.0)).unwrap();
                }
            })
        })
        .collect();
    while store.forward_bounds().unwrap().first.is_none() {
        std::thread::yield_now();
    }
    store.set_forwarding(false).unwrap();
    for writer in writers {
        writer.join().unwrap();
    }
    assert!(read_all(&store, 0).is_empty());
    assert_eq!(store.forward_bounds().unwrap().bytes, 0);
}

#[test]
fn stats_list_the_forward_family() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let names: Vec<String> = store
        .stats()
        .unwrap()
        .parts
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert!(names.iter().any(|n| n == CF_FORWARD), "{names:?}");
}

/// Record N+1 committed before N stays unreadable until N is written (or its write fails).
#[test]
fn a_record_is_readable_only_once_every_lower_one_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let id = series(&store, 1)[0];
    store.set_forwarding(true).unwrap();
    let start = store.forward_bounds().unwrap().readable;
    let stage = |ts: i64, batch: &mut WriteBatch| {
        store
            .forward
            .stage(&store.db, &store.windows, &one(id, ts, 1.0), batch)
            .unwrap()
            .unwrap()
    };
    let (mut first, mut second, mut third) = Default::default();
    let one_in_flight = stage(1, &mut first);
    let two_in_flight = stage(2, &mut second);
    store.db.write(second).unwrap();
    drop(two_in_flight);
    assert!(
        read_all(&store, start).is_empty(),
        "record 2 waits for record 1"
    );
    let bounds = store.forward_bounds().unwrap();
    assert_eq!(bounds.readable, one_in_flight.seq - 1, "{bounds:?}");
    store.db.write(first).unwrap();
    assert!(
        read_all(&store, start).is_empty(),
        "written, but not out of flight yet"
    );
    drop(one_in_flight);
    let seqs: Vec<u64> = read_all(&store, start).iter().map(|r| r.seq).collect();
    assert_eq!(seqs.len(), 2);

    // A batch that is never written (its write failed) does not hold readers back.
    let lost = stage(3, &mut third);
    let lost_seq = lost.seq;
    drop(lost);
    let mut fourth = WriteBatch::default();
    let written = stage(4, &mut fourth);
    store.db.write(fourth).unwrap();
    drop(written);
    let after_lost = read_all(&store, seqs[1]);
    assert_eq!(after_lost.len(), 1);
    assert!(after_lost[0].seq > lost_seq);
}
