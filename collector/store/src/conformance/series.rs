//! Conformance cases on series: ids and the per-host limit, selectors, label names and
//! values, and series counts in the statistics.

use super::labels;
use crate::selector::Selector;
use crate::{Labels, SeriesSamples, Store, StoreError};

pub(super) fn resolve_is_stable_and_limited(store: &dyn Store) {
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

pub(super) fn select_honours_every_matcher_kind(store: &dyn Store) {
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

pub(super) fn label_names_and_values(store: &dyn Store) {
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

pub(super) fn stats_count_series_per_host(store: &dyn Store) {
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
