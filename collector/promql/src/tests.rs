//! Engine tests on the in-memory store (every engine passes the same conformance suite,
//! so the engine sees the same answers from RocksDB), with values worked out by hand from
//! Prometheus's documented semantics.

use std::sync::Arc;

mod functions;
mod subquery;

use super::{Engine, EngineOptions, QueryError, Value};
use vigil_store::memory::MemoryStore;
use vigil_store::{Labels, SeriesSamples, Store};

const MIN: i64 = 60_000;

struct Fixture {
    store: Arc<dyn Store>,
}

impl Fixture {
    fn new() -> Self {
        Self {
            store: Arc::new(MemoryStore::new()),
        }
    }

    /// Adds a series `name{labels}` with `(minute, value)` samples.
    fn add(&self, name: &str, labels: &[(&str, &str)], samples: &[(i64, f64)]) {
        let mut pairs = vec![("__name__".to_owned(), name.to_owned())];
        pairs.extend(labels.iter().map(|(a, b)| (a.to_string(), b.to_string())));
        let host = labels
            .iter()
            .find(|(n, _)| *n == "host")
            .map_or("test", |(_, v)| v);
        let ids = self
            .store
            .resolve_series(host, &[Labels::new(pairs)], u64::MAX)
            .expect("resolve");
        let samples = samples.iter().map(|(m, v)| (m * MIN, *v)).collect();
        self.store
            .append(&[SeriesSamples {
                id: ids[0],
                samples,
            }])
            .expect("append");
    }

    fn engine(&self) -> Engine {
        Engine::new(self.store.clone(), EngineOptions::default())
    }

    /// An instant query at minute `at`: `(labels as {a="b"} text, value)` sorted.
    fn instant(&self, query: &str, at: i64) -> Vec<(String, f64)> {
        match self.engine().instant(query, at * MIN) {
            Ok(Value::Vector(v)) => {
                let mut out: Vec<(String, f64)> = v
                    .into_iter()
                    .map(|s| (super::eval::format_labels(&s.labels), s.v))
                    .collect();
                out.sort_by(|a, b| a.0.cmp(&b.0));
                out
            }
            Ok(Value::Scalar { v, .. }) => vec![("scalar".into(), v)],
            other => panic!("{query}: unexpected {other:?}"),
        }
    }

    fn error(&self, query: &str) -> QueryError {
        self.engine()
            .instant(query, 10 * MIN)
            .expect_err("query should fail")
    }
}

fn one(f: &Fixture, query: &str, at: i64) -> f64 {
    let r = f.instant(query, at);
    assert_eq!(r.len(), 1, "{query}: {r:?}");
    r[0].1
}

fn cpu_fixture() -> Fixture {
    let f = Fixture::new();
    for (host, scale) in [("a", 1.0), ("b", 2.0)] {
        for (mode, share) in [("idle", 0.5), ("user", 0.3), ("system", 0.2)] {
            let samples: Vec<(i64, f64)> = (0..=20)
                .map(|m| (m, m as f64 * 60.0 * share * scale))
                .collect();
            f.add(
                "node_cpu_seconds_total",
                &[("host", host), ("cpu", "0"), ("mode", mode)],
                &samples,
            );
        }
        f.add(
            "node_load1",
            &[("host", host)],
            &[(0, scale), (10, scale * 3.0)],
        );
    }
    f
}

#[test]
fn instant_selector_uses_the_latest_sample_within_five_minutes() {
    let f = cpu_fixture();
    assert_eq!(one(&f, r#"node_load1{host="a"}"#, 4), 1.0);
    assert_eq!(one(&f, r#"node_load1{host="a"}"#, 5), 1.0);
    assert!(
        f.instant(r#"node_load1{host="a"}"#, 6).is_empty(),
        "older than 5m"
    );
    assert_eq!(one(&f, r#"node_load1{host="a"}"#, 10), 3.0);
    assert_eq!(
        one(&f, r#"node_load1{host="a"}"#, 15),
        3.0,
        "lookback edge is inclusive"
    );
    assert!(
        f.instant(r#"node_load1{host="a"}"#, 16).is_empty(),
        "stale after 5m"
    );
    assert!(
        f.instant("node_load1", -1).is_empty(),
        "nothing before the first sample"
    );
    assert_eq!(one(&f, r#"node_load1{host="a"} offset 5m"#, 9), 1.0);
    assert_eq!(one(&f, r#"node_load1{host="a"} @ 300"#, 20), 1.0);
}

#[test]
fn rate_sum_by_host() {
    let f = cpu_fixture();
    let r = f.instant(
        r#"sum by (host) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))"#,
        20,
    );
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].0, r#"{host="a"}"#);
    assert!((r[0].1 - 0.5).abs() < 1e-12, "{r:?}");
    assert!((r[1].1 - 1.0).abs() < 1e-12, "{r:?}");
}

#[test]
fn arithmetic_and_comparison() {
    let f = cpu_fixture();
    assert_eq!(one(&f, r#"node_load1{host="b"} * 2 + 1"#, 10), 13.0);
    assert_eq!(one(&f, "2 ^ 3 % 5", 0), 3.0);
    let r = f.instant("node_load1 > 3", 10);
    assert_eq!(
        r,
        vec![(r#"{__name__="node_load1", host="b"}"#.into(), 6.0)]
    );
    let r = f.instant("node_load1 > bool 3", 10);
    assert_eq!(
        r,
        vec![(r#"{host="a"}"#.into(), 0.0), (r#"{host="b"}"#.into(), 1.0)]
    );
    assert_eq!(
        f.instant("1 < node_load1", 0),
        vec![(r#"{__name__="node_load1", host="b"}"#.into(), 2.0)]
    );
}

#[test]
fn vector_matching() {
    let f = cpu_fixture();
    let r = f.instant(
        r#"node_cpu_seconds_total{mode="user"} / ignoring(mode) group_left node_cpu_seconds_total{mode="idle"}"#,
        10,
    );
    assert_eq!(r.len(), 2);
    assert!((r[0].1 - 0.6).abs() < 1e-12);
    assert!(r[0].0.contains(r#"mode="user""#), "{r:?}");
    let r = f.instant(
        r#"node_load1 - on(host) node_cpu_seconds_total{mode="idle"}"#,
        0,
    );
    assert_eq!(
        r,
        vec![(r#"{host="a"}"#.into(), 1.0), (r#"{host="b"}"#.into(), 2.0)]
    );
    let err = f.error(r#"node_load1 + on(host) node_cpu_seconds_total"#);
    assert!(err.to_string().contains("many-to-many"), "{err}");
    assert_eq!(err.kind(), "execution");
}

#[test]
fn set_operators() {
    let f = cpu_fixture();
    assert_eq!(
        f.instant(r#"node_load1 and node_load1{host="a"}"#, 10)
            .len(),
        1
    );
    assert_eq!(
        f.instant(r#"node_load1 unless node_load1{host="a"}"#, 10)
            .len(),
        1
    );
    let r = f.instant(r#"node_load1{host="a"} or vector(7)"#, 10);
    assert_eq!(r.len(), 2);
    let r = f.instant(r#"node_load1 or on(host) node_cpu_seconds_total"#, 10);
    assert_eq!(r.len(), 2, "right side hidden where host matches: {r:?}");
}

#[test]
fn aggregations() {
    let f = cpu_fixture();
    assert_eq!(one(&f, "count(node_cpu_seconds_total)", 10), 6.0);
    assert_eq!(one(&f, "avg(node_load1)", 10), 4.5);
    assert_eq!(one(&f, "max(node_load1)", 10), 6.0);
    assert_eq!(one(&f, "stddev(node_load1)", 10), 1.5);
    assert_eq!(one(&f, "quantile(0.5, node_load1)", 10), 4.5);
    let r = f.instant("topk(1, node_load1)", 10);
    assert_eq!(
        r,
        vec![(r#"{__name__="node_load1", host="b"}"#.into(), 6.0)]
    );
    let r = f.instant(
        "count without (cpu, mode, host) (node_cpu_seconds_total)",
        10,
    );
    assert_eq!(r, vec![("{}".into(), 6.0)]);
    let r = f.instant(r#"count_values("v", node_load1)"#, 0);
    assert_eq!(
        r,
        vec![(r#"{v="1"}"#.into(), 1.0), (r#"{v="2"}"#.into(), 1.0)]
    );
}

/// NaN ranks below every number in `topk` and `bottomk`, and is still a value to return
/// when nothing else is left; `clamp` with its bounds crossed returns nothing.
#[test]
fn nan_in_topk_bottomk_and_crossed_clamp_bounds() {
    let f = Fixture::new();
    for (host, v) in [("a", f64::NAN), ("b", 1.0), ("c", 3.0), ("d", 2.0)] {
        f.add("x", &[("host", host)], &[(10, v)]);
    }
    f.add("y", &[("host", "a")], &[(10, f64::NAN)]);
    f.add("y", &[("host", "b")], &[(10, f64::NAN)]);
    let hosts = |query: &str| -> Vec<String> {
        f.instant(query, 10)
            .into_iter()
            .map(|(labels, _)| labels)
            .collect()
    };
    let x = |host: &str| format!(r#"{{__name__="x", host="{host}"}}"#);
    assert_eq!(hosts("topk(2, x)"), [x("c"), x("d")]);
    assert_eq!(hosts("bottomk(2, x)"), [x("b"), x("d")]);
    assert_eq!(hosts("topk(4, x)").len(), 4);
    let nan = f.instant("topk(1, y)", 10);
    assert!(nan.len() == 1 && nan[0].1.is_nan(), "{nan:?}");
    assert!(f.instant("clamp(x, 3, 1)", 10).is_empty());
    let clamped = f.instant("clamp(x, 1.5, 2.5)", 10);
    let values: Vec<f64> = clamped[1..].iter().map(|(_, v)| *v).collect();
    assert!(clamped[0].1.is_nan(), "{clamped:?}");
    assert_eq!(values, [1.5, 2.5, 2.0]);
}

#[test]
fn functions() {
    let f = cpu_fixture();
    assert_eq!(one(&f, "time()", 10), 600.0);
    assert_eq!(one(&f, r#"timestamp(node_load1{host="a"})"#, 12), 600.0);
    assert_eq!(one(&f, r#"clamp_max(node_load1{host="b"}, 4)"#, 10), 4.0);
    assert_eq!(one(&f, r#"scalar(node_load1{host="b"})"#, 10), 6.0);
    assert!(one(&f, "scalar(node_load1)", 10).is_nan());
    let r = f.instant(r#"absent(nope{job="x", env=~"p.*"})"#, 10);
    assert_eq!(r, vec![(r#"{job="x"}"#.into(), 1.0)]);
    assert!(f.instant("absent(node_load1)", 10).is_empty());
}

#[test]
fn range_query_steps() {
    let f = cpu_fixture();
    let Value::Matrix(m) = f
        .engine()
        .range(r#"node_load1{host="a"}"#, 8 * MIN, 16 * MIN, 2 * MIN)
        .expect("range")
    else {
        panic!("matrix expected")
    };
    assert_eq!(m.len(), 1);
    let values: Vec<(i64, f64)> = m[0].points.iter().map(|(t, v)| (t / MIN, *v)).collect();
    assert_eq!(values, vec![(10, 3.0), (12, 3.0), (14, 3.0)]);
}

#[test]
fn clear_errors() {
    let f = cpu_fixture();
    assert_eq!(f.error("sum(").kind(), "bad_data");
    let err = f.error("mad_over_time(node_load1[5m])");
    assert_eq!(err.kind(), "bad_data");
    assert!(err.to_string().contains("unknown function"), "{err}");
    let err = f
        .engine()
        .range("node_load1[5m]", 0, MIN, 1000)
        .expect_err("matrix in a range query");
    assert_eq!(err.kind(), "bad_data");
    f.add("other_total", &[("host", "a")], &[(9, 1.0), (10, 2.0)]);
    f.add("more_total", &[("host", "a")], &[(9, 1.0), (10, 2.0)]);
    let err = f.error(r#"rate({__name__=~"other_total|more_total"}[5m])"#);
    assert!(err.to_string().contains("same labelset"), "{err}");
}

/// Many series are read and evaluated on several threads, each series while it is read:
/// every series' result is the one it has alone, in the same order.
#[test]
fn many_series_evaluate_as_each_alone() {
    let f = Fixture::new();
    for i in 0..150 {
        let host = format!("h{:03}", i % 40);
        let samples: Vec<(i64, f64)> = (0..40)
            .filter(|m| (m + i) % 9 != 0)
            .map(|m| {
                (
                    m,
                    (m * (i % 5 + 1)) as f64 + if m > 20 && i % 3 == 0 { -50.0 } else { 0.0 },
                )
            })
            .collect();
        f.add("c", &[("host", &host), ("i", &i.to_string())], &samples);
    }
    let engine = f.engine();
    let range = |q: &str| match engine.range(q, 5 * MIN, 39 * MIN, MIN) {
        Ok(Value::Matrix(m)) => m,
        other => panic!("{q}: unexpected {other:?}"),
    };
    for query in [
        "rate(SEL[5m])",
        "SEL",
        "timestamp(SEL)",
        "last_over_time(SEL[3m])",
    ] {
        let all = range(&query.replace("SEL", "c"));
        assert_eq!(all.len(), 150, "{query}");
        for series in &all {
            let one = format!("c{{i=\"{}\"}}", series.labels.get("i"));
            let alone = range(&query.replace("SEL", &one));
            assert_eq!(alone.len(), 1, "{query}");
            assert_eq!(alone[0], *series, "{query}");
        }
    }
    // Grouped over them: one series per host.
    assert_eq!(range("sum by (host) (rate(c[5m]))").len(), 40);
}
