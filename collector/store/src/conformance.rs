//! Cases every [`Store`] implementation must pass; each engine's tests call [`run_all`].

use super::{AlertKey, Labels, SeriesSamples, Store, StoreError, StoredAlert};
use crate::selector::Selector;
use vigil_proto::v1::{Hello, Host};

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

/// Runs every case against `store`, which must be empty.
pub fn run_all(store: &dyn Store) {
    resolve_is_stable_and_limited(store);
    replayed_samples_are_harmless(store);
    ranges_are_inclusive_and_ordered(store);
    select_honours_every_matcher_kind(store);
    hosts_round_trip(store);
    label_names_and_values(store);
    alert_state_round_trips(store);
    small_records_are_kept_per_space(store);
    the_last_write_at_a_timestamp_wins(store);
    series_do_not_see_each_others_samples(store);
    stats_count_series_per_host(store);
    reads_for_a_step_are_raw_while_raw_is_kept(store);
}

/// Without retention, [`Store::samples_for_step`] returns exactly what `samples` does,
/// whatever the step.
fn reads_for_a_step_are_raw_while_raw_is_kept(store: &dyn Store) {
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

fn resolve_is_stable_and_limited(store: &dyn Store) {
    let a = labels(&[("__name__", "r_a"), ("host", "lim")]);
    let b = labels(&[("__name__", "r_b"), ("host", "lim")]);
    let c = labels(&[("__name__", "r_c"), ("host", "lim")]);
    let ids = store
        .resolve_series("lim", &[a.clone(), b.clone(), a.clone()], 2)
        .unwrap();
    assert_eq!(
        ids[0], ids[2],
        "the same label set twice in one call gets one id"
    );
    assert_ne!(ids[0], ids[1]);
    assert_eq!(
        store
            .resolve_series("lim", &[b.clone(), a.clone()], 2)
            .unwrap(),
        vec![ids[1], ids[0]]
    );
    assert_eq!(store.series_count("lim").unwrap(), 2);
    let err = store
        .resolve_series("lim", std::slice::from_ref(&c), 2)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::SeriesLimit { limit: 2, .. }),
        "{err}"
    );
    assert_eq!(
        store.series_count("lim").unwrap(),
        2,
        "a refused series is not counted"
    );
    assert!(
        store
            .select(&Selector::metric("r_c"), 10)
            .unwrap()
            .0
            .is_empty()
    );
}

fn replayed_samples_are_harmless(store: &dyn Store) {
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

fn ranges_are_inclusive_and_ordered(store: &dyn Store) {
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

fn select_honours_every_matcher_kind(store: &dyn Store) {
    let mut all = Vec::new();
    for host in ["web-1", "web-2", "db-1"] {
        for cpu in ["0", "1"] {
            for mode in ["idle", "user"] {
                all.push(labels(&[
                    ("__name__", "cpu_s"),
                    ("host", host),
                    ("cpu", cpu),
                    ("mode", mode),
                ]));
            }
        }
        all.push(labels(&[("__name__", "load1"), ("host", host)]));
    }
    store.resolve_series("many", &all, 1000).unwrap();
    let count = |sel: &str| {
        store
            .select(&Selector::parse(sel).unwrap(), 1000)
            .unwrap()
            .0
            .len()
    };
    assert_eq!(count("cpu_s"), 12);
    assert_eq!(count(r#"cpu_s{host="web-1"}"#), 4);
    assert_eq!(count(r#"cpu_s{host!="web-1"}"#), 8);
    assert_eq!(count(r#"cpu_s{host=~"web-.*",mode!="idle"}"#), 4);
    assert_eq!(count(r#"cpu_s{host!~"web-.*",cpu="1"}"#), 2);
    assert_eq!(count(r#"{__name__=~"cpu_s|load1",host="db-1"}"#), 5);
    assert_eq!(count(r#"load1{cpu=""}"#), 3);
    assert_eq!(count(r#"nothing_like_this"#), 0);
    let (first, truncated) = store.select(&Selector::parse("cpu_s").unwrap(), 5).unwrap();
    assert!(truncated);
    assert_eq!(first.len(), 5);
    let mut sorted = first.clone();
    sorted.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(first, sorted, "results are sorted by labels");
    let (_, truncated) = store.select(&Selector::parse("load1").unwrap(), 3).unwrap();
    assert!(!truncated);
}

fn hosts_round_trip(store: &dyn Store) {
    let host = |name: &str, seen: i64| Host {
        host: name.into(),
        facts: Some(Hello {
            hostname: name.into(),
            os: "TestOS".into(),
            ..Default::default()
        }),
        first_seen_ms: 1,
        last_seen_ms: seen,
        ..Default::default()
    };
    store.put_host(&host("b", 5)).unwrap();
    store.put_host(&host("a", 5)).unwrap();
    store.put_host(&host("b", 9)).unwrap();
    let hosts = store.hosts().unwrap();
    assert_eq!(
        hosts.iter().map(|h| h.host.as_str()).collect::<Vec<_>>(),
        vec!["a", "b"]
    );
    assert_eq!(hosts[1].last_seen_ms, 9);
    assert_eq!(
        store.host("a").unwrap().unwrap().facts.unwrap().os,
        "TestOS"
    );
    assert!(store.host("zz").unwrap().is_none());
}

fn label_names_and_values(store: &dyn Store) {
    let series = [
        labels(&[("__name__", "lv_up"), ("host", "lv-a"), ("lv_job", "node")]),
        labels(&[("__name__", "lv_up"), ("host", "lv-b"), ("lv_job", "agent")]),
        labels(&[
            ("__name__", "lv_load"),
            ("host", "lv-a"),
            ("lv_zone", "z\0\u{1F600}"),
        ]),
        labels(&[("__name__", "lv_load"), ("host", "lv-c"), ("lv_zone", "")]),
    ];
    let ids = store.resolve_series("lv", &series, 100).unwrap();
    store
        .append(&[SeriesSamples {
            id: ids[0],
            samples: vec![(5_000, 1.0)],
        }])
        .unwrap();
    let sel = |s: &str| Selector::parse(s).unwrap();

    let names = store.label_names(&[], None, 100).unwrap();
    for name in ["__name__", "host", "lv_job", "lv_zone"] {
        assert!(
            names.contains(&name.to_owned()),
            "{name} missing from {names:?}"
        );
    }
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(names, sorted, "names are sorted and distinct");
    assert_eq!(
        store.label_values("lv_job", &[], None, 100).unwrap(),
        vec!["agent", "node"]
    );
    assert_eq!(
        store.label_values("lv_zone", &[], None, 100).unwrap(),
        vec!["z\0\u{1F600}"],
        "empty values are not listed"
    );
    let metric_names = store.label_values("__name__", &[], None, 100).unwrap();
    assert!(
        metric_names.contains(&"lv_up".to_owned()) && metric_names.contains(&"lv_load".to_owned())
    );
    assert!(
        store
            .label_values("lv_nothing", &[], None, 100)
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        store.label_names(&[sel("lv_up")], None, 100).unwrap(),
        vec!["__name__", "host", "lv_job"]
    );
    assert_eq!(
        store
            .label_values(
                "host",
                &[sel("lv_load"), sel(r#"lv_up{lv_job="node"}"#)],
                None,
                100
            )
            .unwrap(),
        vec!["lv-a", "lv-c"],
        "selectors are a union"
    );
    assert_eq!(
        store
            .label_values(
                "host",
                &[sel(r#"{__name__=~"lv_.*"}"#)],
                Some((4_000, 6_000)),
                100
            )
            .unwrap(),
        vec!["lv-a"],
        "a window keeps series with a sample in it"
    );
    assert!(
        store
            .label_values("host", &[sel("lv_up")], Some((5_001, 9_000)), 100)
            .unwrap()
            .is_empty()
    );
    let err = store
        .label_values("host", &[sel(r#"{__name__=~"lv_.*"}"#)], None, 3)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::TooLarge { limit: 3, .. }),
        "{err}"
    );

    let found = store
        .select_any(&[sel("lv_up"), sel(r#"{host="lv-b"}"#)], None, 100)
        .unwrap();
    assert_eq!(
        found.iter().map(|(_, l)| l.get("host")).collect::<Vec<_>>(),
        vec!["lv-a", "lv-b"],
        "overlapping selectors give each series once, sorted by labels"
    );
    assert!(store.has_samples(ids[0], 5_000, 5_000).unwrap());
    assert!(!store.has_samples(ids[0], 5_001, i64::MAX).unwrap());
    assert!(!store.has_samples(ids[1], i64::MIN, i64::MAX).unwrap());
}

fn alert_state_round_trips(store: &dyn Store) {
    assert!(
        store.alerts().unwrap().is_empty(),
        "a new store has no alerts"
    );
    let key = |file: &str, rule: &str, host: &str| AlertKey {
        file: file.into(),
        group: "g".into(),
        rule: rule.into(),
        labels: labels(&[("alertname", rule), ("host", host)]),
    };
    let firing = StoredAlert {
        key: key("b.yml", "HighCpu", "web-1"),
        firing: true,
        active_since_ms: -5,
        firing_since_ms: Some(60_000),
        last_active_ms: 90_000,
        last_notified_ms: Some(61_000),
        value: f64::INFINITY,
    };
    let pending = StoredAlert {
        key: key("a.yml", "HighCpu", "web\0-2"),
        firing: false,
        active_since_ms: 1_000,
        firing_since_ms: None,
        last_active_ms: 1_000,
        last_notified_ms: None,
        value: 0.5,
    };
    store
        .write_alerts(&[firing.clone(), pending.clone()], &[])
        .unwrap();
    assert_eq!(
        store.alerts().unwrap(),
        vec![pending.clone(), firing.clone()],
        "sorted by file first"
    );
    let mut later = firing.clone();
    later.last_active_ms = 120_000;
    later.value = f64::NAN;
    store
        .write_alerts(
            std::slice::from_ref(&later),
            std::slice::from_ref(&pending.key),
        )
        .unwrap();
    let stored = store.alerts().unwrap();
    assert_eq!(
        stored.len(),
        1,
        "the pending one is removed, the firing one replaced"
    );
    assert_eq!(stored[0].key, firing.key);
    assert_eq!(stored[0].last_active_ms, 120_000);
    assert_eq!(stored[0].firing_since_ms, Some(60_000));
    assert!(stored[0].value.is_nan());
    store
        .write_alerts(&[], std::slice::from_ref(&firing.key))
        .unwrap();
    assert!(store.alerts().unwrap().is_empty());
}

fn small_records_are_kept_per_space(store: &dyn Store) {
    use crate::{KvOp, Space};
    assert!(store.kv_scan(Space::Outbox).unwrap().is_empty());
    store
        .kv_write(&[
            KvOp::put(Space::Outbox, b"b".to_vec(), b"2".to_vec()),
            KvOp::put(Space::Outbox, b"a".to_vec(), b"1".to_vec()),
            KvOp::put(Space::Silences, b"a".to_vec(), b"s".to_vec()),
            KvOp::put(Space::NotifyLog, Vec::new(), b"empty key".to_vec()),
        ])
        .unwrap();
    assert_eq!(
        store.kv_scan(Space::Outbox).unwrap(),
        vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"2".to_vec())
        ],
        "sorted by key, only this space"
    );
    assert_eq!(
        store.kv_scan(Space::NotifyLog).unwrap(),
        vec![(Vec::new(), b"empty key".to_vec())]
    );
    store
        .kv_write(&[
            KvOp::delete(Space::Outbox, b"a".to_vec()),
            KvOp::put(Space::Outbox, b"b".to_vec(), b"3".to_vec()),
            KvOp::delete(Space::NotifyAlerts, b"never written".to_vec()),
        ])
        .unwrap();
    assert_eq!(
        store.kv_scan(Space::Outbox).unwrap(),
        vec![(b"b".to_vec(), b"3".to_vec())]
    );
    assert_eq!(store.kv_scan(Space::Silences).unwrap().len(), 1);
    assert!(store.kv_scan(Space::NotifyAlerts).unwrap().is_empty());
}

/// The out-of-order and duplicate policy: samples may come in any order, and a sample at a
/// timestamp the series already has replaces the stored one (last write wins).
fn the_last_write_at_a_timestamp_wins(store: &dyn Store) {
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

fn series_do_not_see_each_others_samples(store: &dyn Store) {
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

fn stats_count_series_per_host(store: &dyn Store) {
    let series: Vec<Labels> = ["a", "b", "c"]
        .iter()
        .map(|n| labels(&[("__name__", n), ("host", "stats-host")]))
        .collect();
    store.resolve_series("stats-host", &series, 3).unwrap();
    let extra = labels(&[("__name__", "d"), ("host", "stats-host")]);
    assert!(store.resolve_series("stats-host", &[extra], 3).is_err());
    let stats = store.stats().unwrap();
    assert!(
        stats.series_by_host.contains(&("stats-host".to_owned(), 3)),
        "{:?}",
        stats.series_by_host
    );
    let hosts: Vec<&str> = stats
        .series_by_host
        .iter()
        .map(|(h, _)| h.as_str())
        .collect();
    assert!(
        hosts.windows(2).all(|w| w[0] < w[1]),
        "sorted by host, each once: {hosts:?}"
    );
    assert_eq!(
        stats.series,
        stats.series_by_host.iter().map(|(_, n)| n).sum::<u64>()
    );
    assert!(
        !stats.engine.is_empty() && !stats.parts.is_empty(),
        "{stats:?}"
    );
}
