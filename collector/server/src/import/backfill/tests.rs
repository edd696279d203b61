use super::*;
use tonic::Code;
use vigil_proto::v1::Label;
use vigil_rocks::{RocksOptions, RocksStore};
use vigil_store::selector::Selector;

const NOW: i64 = 1_800_000_000_000;

mod bounds;

fn backfill(limits: Limits) -> (tempfile::TempDir, Arc<dyn Store>, Backfill) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> =
        Arc::new(RocksStore::open(dir.path(), RocksOptions::with_sync(false)).expect("open"));
    let b = Backfill::new(store.clone(), Arc::new(limits));
    (dir, store, b)
}

/// The caller of an open collector.
fn anyone() -> Caller {
    Caller::anonymous(None)
}

/// Samples of one series on consecutive lines from `line`, for [`request`].
struct Run {
    labels: Vec<Label>,
    line: u64,
    samples: Vec<(i64, f64)>,
}

fn series(labels: &[(&str, &str)], line: u64, samples: &[(i64, f64)]) -> Run {
    Run {
        labels: labels
            .iter()
            .map(|(n, v)| Label {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect(),
        line,
        samples: samples.to_vec(),
    }
}

/// The columnar request `vigil import` would send for these runs, in this order.
fn request(runs: Vec<Run>) -> ImportRequest {
    let mut r = ImportRequest::default();
    let mut last_line = 0;
    for run in runs {
        let k = match r.series.iter().position(|s| s.labels == run.labels) {
            Some(k) => k,
            None => {
                r.series.push(ImportSeries { labels: run.labels });
                r.series.len() - 1
            }
        };
        for (j, (ts, v)) in run.samples.into_iter().enumerate() {
            let line = run.line + j as u64;
            r.series_index.push(k as u32);
            r.timestamps_ms.push(ts);
            r.values.push(v);
            r.line_deltas.push(line - last_line);
            last_line = line;
        }
    }
    r
}

/// Every stored (labels, samples) matching `selector`, as text for easy comparison.
fn stored(store: &Arc<dyn Store>, selector: &str) -> Vec<(String, Vec<(i64, f64)>)> {
    let selector = Selector::parse(selector).expect("selector");
    let (found, _) = store.select(&selector, 1000).expect("select");
    found
        .into_iter()
        .map(|(id, labels)| {
            let mut samples = Vec::new();
            store
                .samples(id, i64::MIN, i64::MAX, &mut samples)
                .expect("samples");
            let text = labels
                .pairs()
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            (text, samples)
        })
        .collect()
}

#[test]
fn stores_everything_and_is_idempotent() {
    let (_dir, store, b) = backfill(Limits::default());
    let req = || {
        request(vec![
            series(
                &[("__name__", "m"), ("host", "web-1"), ("cpu", "0")],
                1,
                &[(1000, 1.0), (2000, 2.0)],
            ),
            series(
                &[("__name__", "m"), ("cpu", "1"), ("empty", "")],
                3,
                &[(1000, f64::INFINITY)],
            ),
        ])
    };
    for _ in 0..2 {
        let r = b.write(req(), &anyone(), NOW).expect("write");
        assert_eq!(r.accepted_samples, 3);
        assert_eq!(r.rejection, None);
    }
    assert_eq!(
        stored(&store, "m"),
        vec![
            (
                "__name__=m,cpu=0,host=web-1".into(),
                vec![(1000, 1.0), (2000, 2.0)]
            ),
            // No host label is added, and the empty label is dropped (Prometheus semantics).
            ("__name__=m,cpu=1".into(), vec![(1000, f64::INFINITY)]),
        ]
    );
    assert_eq!(store.series_count("web-1").expect("count"), 1);
    assert_eq!(store.series_count(UNHOSTED).expect("count"), 1);
}

#[test]
fn a_bad_label_stops_the_request_at_its_line() {
    let limits = Limits {
        max_label_value_bytes: 10,
        ..Limits::default()
    };
    let (_dir, store, b) = backfill(limits);
    let r = b
        .write(
            request(vec![
                series(&[("__name__", "a")], 1, &[(1, 1.0), (2, 2.0)]),
                series(&[("__name__", "b"), ("v", "far too long")], 3, &[(1, 1.0)]),
                series(&[("__name__", "c")], 4, &[(1, 1.0)]),
            ]),
            &anyone(),
            NOW,
        )
        .expect("write");
    assert_eq!(r.accepted_samples, 2);
    let rejection = r.rejection.expect("rejected");
    assert_eq!(rejection.line, 3);
    assert_eq!(rejection.reason, "label_too_long");
    assert_eq!(rejection.code, Code::InvalidArgument as i32);
    assert!(
        rejection.message.contains("over the limit of 10"),
        "{}",
        rejection.message
    );
    assert_eq!(stored(&store, "a").len(), 1);
    assert!(stored(&store, "b").is_empty());
    assert!(stored(&store, "c").is_empty(), "nothing after the bad line");
}

#[test]
fn rules_shared_with_ingest_name_the_input() {
    let (_dir, _store, b) = backfill(Limits::default());
    let reject = |labels: &[(&str, &str)]| {
        let r = b
            .write(
                request(vec![series(labels, 7, &[(1, 1.0)])]),
                &anyone(),
                NOW,
            )
            .expect("write");
        assert_eq!(r.accepted_samples, 0);
        let rejection = r.rejection.expect("rejected");
        assert_eq!(rejection.line, 7);
        (rejection.reason, rejection.message)
    };
    let (reason, message) = reject(&[("__name__", "my-metric")]);
    assert_eq!(reason, "bad_metric_name");
    assert!(message.contains("\"my-metric\" must match"), "{message}");
    assert_eq!(
        reject(&[("__name__", "m"), ("1x", "v")]).0,
        "bad_label_name"
    );
    assert_eq!(
        reject(&[("__name__", "m"), ("__x", "v")]).0,
        "reserved_label"
    );
    assert_eq!(
        reject(&[("__name__", "m"), ("a", "1"), ("a", "2")]).0,
        "duplicate_label"
    );
    assert_eq!(reject(&[("cpu", "0")]).0, "bad_metric_name");
    let (reason, message) = reject(&[("__name__", "m"), ("host", "two words")]);
    assert_eq!(reason, "bad_host");
    assert!(message.contains("not a valid host name"), "{message}");
}

#[test]
fn a_future_sample_cuts_inside_its_series() {
    let (_dir, store, b) = backfill(Limits::default());
    let future = NOW + 3_600_000;
    let r = b
        .write(
            request(vec![series(
                &[("__name__", "m")],
                10,
                &[(1, 1.0), (2, 2.0), (future, 3.0), (4, 4.0)],
            )]),
            &anyone(),
            NOW,
        )
        .expect("write");
    assert_eq!(r.accepted_samples, 2);
    let rejection = r.rejection.expect("rejected");
    assert_eq!(
        (rejection.line, rejection.reason.as_str()),
        (12, "future_timestamp")
    );
    assert_eq!(stored(&store, "m")[0].1, vec![(1, 1.0), (2, 2.0)]);
}

#[test]
fn the_series_limit_is_per_host_and_cuts_at_the_first_series_over_it() {
    let limits = Limits {
        max_series_per_host: 2,
        ..Limits::default()
    };
    let (_dir, store, b) = backfill(limits);
    let s = |name: &str, host: &str, line| {
        series(&[("__name__", name), ("host", host)], line, &[(1, 1.0)])
    };
    let r = b
        .write(
            request(vec![
                s("a", "h1", 1),
                s("b", "h2", 2),
                s("c", "h1", 3),
                s("d", "h1", 4),
                s("e", "h2", 5),
            ]),
            &anyone(),
            NOW,
        )
        .expect("write");
    assert_eq!(r.accepted_samples, 3);
    let rejection = r.rejection.expect("rejected");
    assert_eq!(
        (rejection.line, rejection.reason.as_str()),
        (4, "series_limit")
    );
    assert_eq!(rejection.code, Code::ResourceExhausted as i32);
    assert!(
        rejection.message.contains("\"h1\""),
        "{}",
        rejection.message
    );
    let names: Vec<String> = stored(&store, "{host=~\"h.\"}")
        .into_iter()
        .filter(|(_, samples)| !samples.is_empty())
        .map(|(l, _)| l)
        .collect();
    assert_eq!(
        names,
        vec![
            "__name__=a,host=h1",
            "__name__=b,host=h2",
            "__name__=c,host=h1"
        ]
    );
}

#[test]
fn samples_interleaved_across_series_stop_exactly_at_the_bad_one() {
    let (_dir, store, b) = backfill(Limits::default());
    let future = NOW + 3_600_000;
    let r = b
        .write(
            request(vec![
                series(&[("__name__", "a")], 1, &[(1, 1.0)]),
                series(&[("__name__", "b")], 2, &[(1, 2.0)]),
                series(&[("__name__", "a")], 3, &[(2, 3.0)]),
                series(&[("__name__", "b")], 5, &[(future, 4.0)]),
                series(&[("__name__", "a")], 6, &[(3, 5.0)]),
            ]),
            &anyone(),
            NOW,
        )
        .expect("write");
    assert_eq!(r.accepted_samples, 3);
    assert_eq!(r.rejection.expect("rejected").line, 5);
    assert_eq!(stored(&store, "a")[0].1, vec![(1, 1.0), (2, 3.0)]);
    assert_eq!(stored(&store, "b")[0].1, vec![(1, 2.0)]);
}

#[test]
fn malformed_requests_are_refused_whole() {
    let (_dir, _store, b) = backfill(Limits::default());
    let mut r = request(vec![
        series(&[("__name__", "a")], 1, &[(1, 1.0)]),
        series(&[("__name__", "b")], 2, &[(1, 2.0)]),
    ]);
    r.series_index = vec![1, 0];
    match b.write(r, &anyone(), NOW) {
        Err(BackfillError::Refused(v)) => assert!(
            v.message.contains("order of their first sample"),
            "{}",
            v.message
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let mut r = request(vec![series(&[("__name__", "a")], 1, &[(1, 1.0)])]);
    r.values.push(2.0);
    match b.write(r, &anyone(), NOW) {
        Err(BackfillError::Refused(v)) => {
            assert!(v.message.contains("differ in length"), "{}", v.message)
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn callers_import_only_hosts_they_may_write() {
    let (_dir, _store, b) = backfill(Limits::default());
    let one = |host: &str| {
        request(vec![series(
            &[("__name__", "m"), ("host", host)],
            1,
            &[(1, 1.0)],
        )])
    };
    let agent = Caller {
        name: "web-agents".into(),
        identity: Identity::Token {
            role: Role::Agent,
            hosts: Some(vec!["web-*".into()]),
        },
        certificate_host: None,
        peer: None,
    };
    assert_eq!(
        b.write(one("web-1"), &agent, NOW)
            .expect("write")
            .accepted_samples,
        1
    );
    match b.write(one("db-1"), &agent, NOW) {
        Err(BackfillError::Refused(v)) => {
            assert_eq!(v.code(), Code::PermissionDenied);
            assert!(v.message.contains("\"db-1\""), "{}", v.message);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Nothing of a request with one refused host is stored.
    let mixed = request(vec![
        series(&[("__name__", "m"), ("host", "web-2")], 1, &[(1, 1.0)]),
        series(&[("__name__", "m"), ("host", "db-2")], 2, &[(2, 1.0)]),
    ]);
    assert!(matches!(
        b.write(mixed, &agent, NOW),
        Err(BackfillError::Refused(_))
    ));
    let unhosted = request(vec![series(&[("__name__", "m")], 1, &[(1, 1.0)])]);
    assert!(matches!(
        b.write(unhosted.clone(), &agent, NOW),
        Err(BackfillError::Refused(_))
    ));
    let admin = Caller {
        name: "ops".into(),
        identity: Identity::Token {
            role: Role::Admin,
            hosts: None,
        },
        certificate_host: None,
        peer: None,
    };
    assert_eq!(
        b.write(unhosted, &admin, NOW)
            .expect("write")
            .accepted_samples,
        1
    );

    let certified = Caller {
        name: "cert:db-1".into(),
        identity: Identity::Certificate,
        certificate_host: Some("db-1".into()),
        peer: None,
    };
    match b.write(one("web-1"), &certified, NOW) {
        Err(BackfillError::Refused(v)) => {
            assert_eq!(v.code(), Code::PermissionDenied);
            assert!(v.message.contains("\"db-1\""), "{}", v.message);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        b.write(one("db-1"), &certified, NOW)
            .expect("write")
            .accepted_samples,
        1
    );
}

#[test]
fn series_without_a_host_have_a_limit_of_their_own() {
    let limits = Limits {
        max_series_per_host: 1,
        max_unhosted_series: 3,
        ..Limits::default()
    };
    let (_dir, store, b) = backfill(limits);
    let s = |name: &str, line| series(&[("__name__", name), ("job", "node")], line, &[(1, 1.0)]);
    let r = b
        .write(
            request(vec![s("a", 1), s("b", 2), s("c", 3), s("d", 4)]),
            &anyone(),
            NOW,
        )
        .expect("write");
    // Past max_series_per_host, within max_unhosted_series, then refused at the fourth.
    assert_eq!(r.accepted_samples, 3);
    let rejection = r.rejection.expect("rejected");
    assert_eq!(
        (rejection.line, rejection.reason.as_str()),
        (4, "series_limit")
    );
    assert!(
        rejection.message.contains("limits.max_unhosted_series")
            && rejection.message.contains("limit of 3"),
        "{}",
        rejection.message
    );
    assert_eq!(store.series_count(UNHOSTED).expect("count"), 3);
}
