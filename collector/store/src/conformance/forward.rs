//! Conformance cases on the forwarding log ([`crate::forward`]) and the series walks its
//! readers use (`series_labels`, `series_after`).

use super::labels;
use crate::{ForwardRecord, SeriesId, SeriesSamples, Store};

/// Every record after `after` that is readable now.
fn read_all(store: &dyn Store, after: u64) -> Vec<ForwardRecord> {
    store.forward_read(after, u64::MAX, usize::MAX).unwrap()
}

fn body(record: &ForwardRecord) -> &[SeriesSamples] {
    record.body.as_deref().unwrap()
}

/// Two series of the case, created once.
fn two_series(store: &dyn Store, name: &str) -> (SeriesId, SeriesId) {
    let a = labels(&[("__name__", name), ("host", "fw"), ("i", "a")]);
    let b = labels(&[("__name__", name), ("host", "fw"), ("i", "b")]);
    let ids = store.resolve_series("fw", &[a, b], 1000).unwrap();
    (ids[0], ids[1])
}

fn one(id: SeriesId, samples: &[(i64, f64)]) -> SeriesSamples {
    SeriesSamples {
        id,
        samples: samples.to_vec(),
    }
}

pub(super) fn records_hold_each_append_while_on(store: &dyn Store) {
    let (a, b) = two_series(store, "fw_records");
    let before = store.forward_bounds().unwrap();
    assert_eq!(before.first, None, "a store opens with an empty log");
    assert_eq!(before.bytes, 0);
    store.append(&[one(a, &[(1_000, 1.0)])]).unwrap();
    assert!(
        read_all(store, 0).is_empty(),
        "off: appends write no record"
    );
    assert_eq!(store.forward_bounds().unwrap().first, None);

    store.set_forwarding(true).unwrap();
    // One call's samples, as given: out of order, a repeated timestamp, two windows far
    // apart; then a second call.
    let first = vec![
        one(a, &[(5_000, 5.0), (2_000, 2.0), (5_000, 5.5)]),
        one(b, &[(0, -1.0), (10 * 86_400_000, 1e300)]),
    ];
    let second = vec![one(b, &[(20_000, 0.25)])];
    store.append(&first).unwrap();
    store.append(&second).unwrap();
    let records = read_all(store, 0);
    assert_eq!(records.len(), 2, "one record per call: {records:?}");
    assert_eq!(body(&records[0]), first.as_slice());
    assert_eq!(body(&records[1]), second.as_slice());
    assert_eq!((records[0].samples, records[1].samples), (5, 1));
    assert!(records[0].seq > before.readable, "{records:?} {before:?}");
    assert!(records[1].seq > records[0].seq);
    assert_eq!(read_all(store, records[0].seq), records[1..].to_vec());

    let bounds = store.forward_bounds().unwrap();
    assert_eq!(bounds.first, Some(records[0].seq));
    assert_eq!(bounds.readable, records[1].seq);
    assert_eq!(records[0].offset, 0, "the log was empty");
    assert_eq!(records[1].offset, records[0].len);
    assert_eq!(bounds.bytes, records[1].offset + records[1].len);
    assert!(read_all(store, bounds.readable).is_empty());

    // Turning it on again keeps what is there.
    store.set_forwarding(true).unwrap();
    assert_eq!(read_all(store, 0), records);
    assert_eq!(store.forward_bounds().unwrap(), bounds);
    store.set_forwarding(false).unwrap();
}

pub(super) fn reads_stop_at_their_limits(store: &dyn Store) {
    let (a, b) = two_series(store, "fw_limits");
    store.set_forwarding(true).unwrap();
    let start = store.forward_bounds().unwrap().readable;
    for i in 0..4 {
        store
            .append(&[one(a, &[(i * 10, 1.0)]), one(b, &[(i * 10, 2.0)])])
            .unwrap();
    }
    let all = read_all(store, start);
    assert_eq!(all.len(), 4);
    let seqs = |records: Vec<ForwardRecord>| records.iter().map(|r| r.seq).collect::<Vec<_>>();
    assert_eq!(
        seqs(store.forward_read(start, u64::MAX, 1).unwrap()),
        [all[0].seq]
    );
    assert_eq!(
        seqs(store.forward_read(start, 3, usize::MAX).unwrap()),
        [all[0].seq, all[1].seq],
        "whole records until they hold max_samples or more"
    );
    assert_eq!(
        seqs(store.forward_read(start, 4, 3).unwrap()),
        [all[0].seq, all[1].seq]
    );
    assert_eq!(seqs(store.forward_read(start, 1, 3).unwrap()), [all[0].seq]);
    assert!(store.forward_read(start, 0, 3).unwrap().is_empty());
    assert!(store.forward_read(start, 10, 0).unwrap().is_empty());
    assert_eq!(
        seqs(store.forward_read(all[1].seq, 4, 10).unwrap()),
        [all[2].seq, all[3].seq]
    );
    store.set_forwarding(false).unwrap();
}

pub(super) fn trim_drops_through_and_off_empties(store: &dyn Store) {
    let (a, _) = two_series(store, "fw_trim");
    store.set_forwarding(true).unwrap();
    let start = store.forward_bounds().unwrap().readable;
    for i in 0..3 {
        store.append(&[one(a, &[(i, i as f64)])]).unwrap();
    }
    let all = read_all(store, start);
    let bytes = store.forward_bounds().unwrap().bytes;
    assert_eq!(bytes, all[2].offset + all[2].len);

    store.forward_trim(all[0].seq).unwrap();
    assert_eq!(
        read_all(store, 0),
        all[1..].to_vec(),
        "trim drops through its number"
    );
    let bounds = store.forward_bounds().unwrap();
    assert_eq!(bounds.first, Some(all[1].seq));
    assert_eq!(bounds.bytes, bytes, "bytes count trimmed records too");
    store.forward_trim(all[0].seq).unwrap();
    assert_eq!(
        read_all(store, 0),
        all[1..].to_vec(),
        "trimming again changes nothing"
    );

    store.forward_trim(all[2].seq).unwrap();
    let bounds = store.forward_bounds().unwrap();
    assert_eq!(
        (bounds.first, bounds.bytes),
        (None, 0),
        "empty again: {bounds:?}"
    );
    assert_eq!(bounds.readable, all[2].seq, "readable never goes back");
    store.append(&[one(a, &[(10, 10.0)])]).unwrap();
    let next = read_all(store, 0);
    assert_eq!(next.len(), 1);
    assert!(next[0].seq > all[2].seq);
    assert_eq!(next[0].offset, 0, "offsets restart once the log was empty");

    store.set_forwarding(false).unwrap();
    let bounds = store.forward_bounds().unwrap();
    assert_eq!(
        (bounds.first, bounds.bytes),
        (None, 0),
        "off empties: {bounds:?}"
    );
    assert!(read_all(store, 0).is_empty());
    assert!(bounds.readable >= next[0].seq, "{bounds:?}");
    store.append(&[one(a, &[(11, 11.0)])]).unwrap();
    assert!(
        read_all(store, 0).is_empty(),
        "off: appends write no record"
    );

    store.set_forwarding(true).unwrap();
    store.append(&[one(a, &[(12, 12.0)])]).unwrap();
    let again = read_all(store, 0);
    assert_eq!(again.len(), 1);
    assert!(again[0].seq > next[0].seq, "numbers never repeat");
    assert_eq!(body(&again[0]), [one(a, &[(12, 12.0)])].as_slice());
    store.set_forwarding(false).unwrap();
}

pub(super) fn series_are_walked_by_id(store: &dyn Store) {
    let (a, b) = two_series(store, "fw_walk");
    let la = labels(&[("__name__", "fw_walk"), ("host", "fw"), ("i", "a")]);
    let lb = labels(&[("__name__", "fw_walk"), ("host", "fw"), ("i", "b")]);
    assert_eq!(
        store.series_labels(&[b, u64::MAX, a, b]).unwrap(),
        vec![Some(lb.clone()), None, Some(la.clone()), Some(lb.clone())]
    );
    assert!(store.series_labels(&[]).unwrap().is_empty());

    let all = store.series_after(None, usize::MAX).unwrap();
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "in id order");
    assert!(all.contains(&(a, la)) && all.contains(&(b, lb)));
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store.series_after(after, 2).unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.0);
        paged.extend(page);
    }
    assert_eq!(paged, all);
    let last = all.last().unwrap().0;
    assert!(store.series_after(Some(last), 10).unwrap().is_empty());
    assert!(store.series_after(Some(u64::MAX), 10).unwrap().is_empty());
    assert!(store.series_after(None, 0).unwrap().is_empty());
    assert_eq!(
        store.series_after(Some(all[0].0), 1).unwrap(),
        all[1..2].to_vec()
    );
}
