//! Conformance cases on samples: replays, inclusive ranges, the last write wins, series
//! isolation, and reads for a step.

use super::labels;
use crate::{SeriesSamples, Store};

pub(super) fn replayed_samples_are_harmless(store: &dyn Store) {
    let s = labels(&[("__name__", "replay"), ("host", "h1")]);
    let id = store.resolve_series("h1", &[s], 100).unwrap()[0];
    let batch = [SeriesSamples {
        id,
        samples: vec![(1_000, 1.0), (2_000, 2.0)],
    }];
    store.append(&batch).unwrap();
    store.append(&batch).unwrap();
    let mut out = Vec::new();
    store.samples(id, 0, 10_000, &mut out).unwrap();
    assert_eq!(out, vec![(1_000, 1.0), (2_000, 2.0)]);
}

pub(super) fn ranges_are_inclusive_and_ordered(store: &dyn Store) {
    let s = labels(&[("__name__", "range"), ("host", "h1")]);
    let id = store.resolve_series("h1", &[s], 100).unwrap()[0];
    let samples = vec![
        (30, 3.0),
        (10, 1.0),
        (-10, -1.0),
        (20, f64::NAN),
        (40, f64::INFINITY),
    ];
    store.append(&[SeriesSamples { id, samples }]).unwrap();
    let mut out = Vec::new();
    store.samples(id, 10, 30, &mut out).unwrap();
    assert_eq!(
        out.iter().map(|s| s.0).collect::<Vec<_>>(),
        vec![10, 20, 30]
    );
    assert!(out[1].1.is_nan());
    out.clear();
    store.samples(id, i64::MIN, i64::MAX, &mut out).unwrap();
    assert_eq!(out.len(), 5);
    assert_eq!(out[0], (-10, -1.0));
    assert_eq!(out[4], (40, f64::INFINITY));
    out.clear();
    store.samples(id, 31, 39, &mut out).unwrap();
    assert!(out.is_empty());
}

/// The out-of-order and duplicate policy: samples may come in any order, and a sample at a
/// timestamp the series already has replaces the stored one (last write wins).
pub(super) fn the_last_write_at_a_timestamp_wins(store: &dyn Store) {
    let s = labels(&[("__name__", "lww"), ("host", "h1")]);
    let id = store.resolve_series("h1", &[s], 100).unwrap()[0];
    let day = 86_400_000i64;
    let at = |i: i64| 1_700_000_000_000 + i * 10_000;
    // Two days at 10 s, written newest first in three batches, then again in one.
    let all: Vec<(i64, f64)> = (0..2 * day / 10_000).map(|i| (at(i), i as f64)).collect();
    for part in all.rchunks(6_000) {
        store
            .append(&[SeriesSamples {
                id,
                samples: part.iter().rev().copied().collect(),
            }])
            .unwrap();
    }
    store
        .append(&[SeriesSamples {
            id,
            samples: all.clone(),
        }])
        .unwrap();
    let read = |start: i64, end: i64| {
        let mut out = Vec::new();
        store.samples(id, start, end, &mut out).unwrap();
        out
    };
    assert_eq!(
        read(i64::MIN, i64::MAX),
        all,
        "in order, each timestamp once"
    );
    // Rewrite an old sample, a recent one and a fresh one, duplicates inside one batch too.
    store
        .append(&[SeriesSamples {
            id,
            samples: vec![(at(5), -5.0), (at(17_000), 0.25), (at(5), 55.0)],
        }])
        .unwrap();
    store
        .append(&[SeriesSamples {
            id,
            samples: vec![(at(17_280), 1e300), (at(3), f64::NAN)],
        }])
        .unwrap();
    let got = read(at(0), at(17_280));
    assert_eq!(got.len(), all.len() + 1);
    assert_eq!(
        got[5],
        (at(5), 55.0),
        "the later of two writes in one batch wins"
    );
    assert!(got[3].1.is_nan());
    assert_eq!(got[17_000], (at(17_000), 0.25));
    assert_eq!(got[17_280], (at(17_280), 1e300));
    assert_eq!(
        read(at(4), at(6)),
        vec![(at(4), 4.0), (at(5), 55.0), (at(6), 6.0)]
    );
    assert!(store.has_samples(id, at(17_280), i64::MAX).unwrap());
    assert!(!store.has_samples(id, at(17_280) + 1, i64::MAX).unwrap());
    assert!(!store.has_samples(id, at(4) + 1, at(5) - 1).unwrap());
}

pub(super) fn series_do_not_see_each_others_samples(store: &dyn Store) {
    let ids = store
        .resolve_series(
            "h1",
            &[
                labels(&[("__name__", "iso"), ("n", "1")]),
                labels(&[("__name__", "iso"), ("n", "2")]),
                labels(&[("__name__", "iso"), ("n", "3")]),
            ],
            100,
        )
        .unwrap();
    store
        .append(&[
            SeriesSamples {
                id: ids[0],
                samples: vec![(1_000, 1.0), (i64::MAX, 1.5)],
            },
            SeriesSamples {
                id: ids[2],
                samples: vec![(i64::MIN, 3.0), (1_000, 3.5)],
            },
        ])
        .unwrap();
    let read = |id| {
        let mut out = Vec::new();
        store.samples(id, i64::MIN, i64::MAX, &mut out).unwrap();
        out
    };
    assert_eq!(read(ids[0]), vec![(1_000, 1.0), (i64::MAX, 1.5)]);
    assert!(read(ids[1]).is_empty());
    assert_eq!(read(ids[2]), vec![(i64::MIN, 3.0), (1_000, 3.5)]);
}

/// Without retention, [`Store::samples_for_step`] returns exactly what `samples` does,
/// whatever the step.
pub(super) fn reads_for_a_step_are_raw_while_raw_is_kept(store: &dyn Store) {
    let id = store
        .resolve_series("step-host", &[labels(&[("__name__", "step_m")])], 10)
        .unwrap()[0];
    let samples: Vec<(i64, f64)> = (0..500)
        .map(|i| {
            (
                i * 15_000 - 3_600_000,
                if i == 7 { f64::NAN } else { i as f64 },
            )
        })
        .collect();
    store.append(&[SeriesSamples { id, samples }]).unwrap();
    let bits = |v: Vec<(i64, f64)>| -> Vec<(i64, u64)> {
        v.into_iter().map(|(t, x)| (t, x.to_bits())).collect()
    };
    for (start, end) in [
        (i64::MIN, i64::MAX),
        (-1_000_000, 2_000_000),
        (0, 0),
        (5, 4),
    ] {
        let mut raw = Vec::new();
        store.samples(id, start, end, &mut raw).unwrap();
        for step in [0, 15_000, 3_600_000, 86_400_000] {
            let mut stepped = Vec::new();
            store
                .samples_for_step(id, start, end, step, &mut stepped)
                .unwrap();
            assert_eq!(
                bits(stepped),
                bits(raw.clone()),
                "{start}..={end} step {step}"
            );
        }
    }
}
