//! Subqueries: step alignment, offset, `@`, nesting, default step, top-level matrices,
//! range queries and limits. Expected values worked out by hand; the instant ones were
//! also checked against Prometheus 2.42 (`promtool test rules` on the same series).

use super::{Fixture, MIN, one};
use crate::{EngineOptions, QueryError, Value};

/// `counter_total{host="a"}` = 10 × minute, at every minute 0..=20.
fn counter() -> Fixture {
    let f = Fixture::new();
    let samples: Vec<(i64, f64)> = (0..=20).map(|m| (m, 10.0 * m as f64)).collect();
    f.add("counter_total", &[("host", "a")], &samples);
    f
}

#[test]
fn windows_hold_the_steps_at_multiples_of_the_step() {
    let f = counter();
    // At 10m, [5m:1m] evaluates at 5, 6, …, 10 (both ends included).
    assert_eq!(one(&f, "max_over_time(counter_total[5m:1m])", 10), 100.0);
    assert_eq!(one(&f, "min_over_time(counter_total[5m:1m])", 10), 50.0);
    assert_eq!(one(&f, "count_over_time(counter_total[5m:1m])", 10), 6.0);
    // At 11m, [5m:2m] evaluates at 6, 8, 10: absolute multiples of 2m, not 11 - 2k.
    assert_eq!(one(&f, "count_over_time(counter_total[5m:2m])", 11), 3.0);
    assert_eq!(one(&f, "min_over_time(counter_total[5m:2m])", 11), 60.0);
    // At 10m30s, [5m:1m] covers 6..=10.
    let at = 10 * MIN + 30_000;
    let Value::Vector(v) = f
        .engine()
        .instant("count_over_time(counter_total[5m:1m])", at)
        .expect("query")
    else {
        panic!("vector expected")
    };
    assert_eq!(v[0].v, 5.0);
    assert_eq!(v[0].t_ms, at);
    // Without a step: the default (1m, Prometheus' default evaluation interval).
    assert_eq!(one(&f, "count_over_time(counter_total[5m:])", 10), 6.0);
}

#[test]
fn offset_and_at_move_the_window() {
    let f = counter();
    // offset 2m: window [3m, 8m].
    assert_eq!(
        one(&f, "min_over_time(counter_total[5m:1m] offset 2m)", 10),
        30.0
    );
    assert_eq!(
        one(&f, "max_over_time(counter_total[5m:1m] offset 2m)", 10),
        80.0
    );
    // A negative offset looks ahead: [7m, 12m].
    assert_eq!(
        one(&f, "max_over_time(counter_total[5m:1m] offset -2m)", 10),
        120.0
    );
    // @ 300 (5m): window [0m, 5m] whatever the evaluation time.
    assert_eq!(
        one(&f, "count_over_time(counter_total[5m:1m] @ 300)", 10),
        6.0
    );
    assert_eq!(
        one(&f, "max_over_time(counter_total[5m:1m] @ 300)", 17),
        50.0
    );
    // @ and offset together: [0m, 3m].
    assert_eq!(
        one(
            &f,
            "max_over_time(counter_total[3m:1m] @ 300 offset 2m)",
            10
        ),
        30.0
    );
}

#[test]
fn nested_subqueries_and_range_functions() {
    let f = counter();
    // Outer window [5m, 9m] at 2m steps: 6m and 8m; inner max over [3m] at 8m is 80.
    assert_eq!(
        one(
            &f,
            "max_over_time(max_over_time(counter_total[3m:1m])[4m:2m] offset 1m)",
            10
        ),
        80.0
    );
    // rate over subquery points 50..100 at 5..10m: 50 / 300 s.
    // 50 × (1 / 300 s): Prometheus 2.42 gives 0.16666666666666669, not 50 / 300.
    assert_eq!(
        one(&f, "rate(counter_total[5m:1m])", 10),
        0.166_666_666_666_666_69
    );
    let r = one(&f, "max_over_time(rate(counter_total[2m])[4m:1m])", 10);
    assert!((r - 1.0 / 6.0).abs() < 1e-15, "{r}");
    assert_eq!(one(&f, "changes(counter_total[5m:1m])", 10), 5.0);
    assert_eq!(one(&f, "resets(counter_total[5m:1m])", 10), 0.0);
    assert_eq!(one(&f, "delta(counter_total[5m:1m])", 10), 50.0);
    assert_eq!(one(&f, "idelta(counter_total[5m:1m])", 10), 10.0);
    let d = one(&f, "deriv(counter_total[5m:1m])", 10);
    assert!((d - 1.0 / 6.0).abs() < 1e-12, "{d}");
    // 100 + 60 s × 1/6 per second.
    let p = one(&f, "predict_linear(counter_total[5m:1m], 60)", 10);
    assert!((p - 110.0).abs() < 1e-9, "{p}");
    assert_eq!(
        one(&f, "quantile_over_time(0.5, counter_total[5m:1m])", 10),
        75.0
    );
    // last_over_time keeps the metric name; the others drop it.
    let r = f.instant("last_over_time(counter_total[5m:1m])", 10);
    assert_eq!(
        r,
        vec![(r#"{__name__="counter_total", host="a"}"#.into(), 100.0)]
    );
    let r = f.instant("sum_over_time(counter_total[2m:1m])", 10);
    assert_eq!(r, vec![(r#"{host="a"}"#.into(), 80.0 + 90.0 + 100.0)]);
}

#[test]
fn a_subquery_alone_is_a_matrix_of_its_steps() {
    let f = counter();
    let Value::Matrix(m) = f
        .engine()
        .instant("counter_total[3m:1m]", 10 * MIN)
        .expect("query")
    else {
        panic!("matrix expected")
    };
    assert_eq!(m.len(), 1);
    let points: Vec<(i64, f64)> = m[0].points.iter().map(|&(t, v)| (t / MIN, v)).collect();
    assert_eq!(points, vec![(7, 70.0), (8, 80.0), (9, 90.0), (10, 100.0)]);
    assert_eq!(m[0].labels.get("__name__"), "counter_total");
    // A range query cannot return one.
    let err = f
        .engine()
        .range("counter_total[3m:1m]", 0, 10 * MIN, MIN)
        .expect_err("range vector");
    assert_eq!(err.kind(), "bad_data");
    assert!(
        err.to_string()
            .contains(r#"invalid expression type "range vector""#),
        "{err}"
    );
}

fn range(f: &Fixture, query: &str, from: i64, to: i64) -> Vec<(i64, f64)> {
    let Value::Matrix(m) = f
        .engine()
        .range(query, from * MIN, to * MIN, MIN)
        .expect("range query")
    else {
        panic!("matrix expected")
    };
    assert_eq!(m.len(), 1, "{query}: {m:?}");
    m[0].points.iter().map(|&(t, v)| (t / MIN, v)).collect()
}

#[test]
fn range_queries_and_start_end() {
    let f = counter();
    assert_eq!(
        range(&f, "min_over_time(counter_total[2m:1m])", 5, 8),
        vec![(5, 30.0), (6, 40.0), (7, 50.0), (8, 60.0)]
    );
    // @ start() / @ end() are the range query's, also inside a subquery.
    assert_eq!(
        range(&f, "min_over_time(counter_total[2m:1m] @ start())", 5, 7),
        vec![(5, 30.0), (6, 30.0), (7, 30.0)]
    );
    assert_eq!(
        range(&f, "max_over_time((counter_total @ end())[2m:1m])", 5, 7),
        vec![(5, 70.0), (6, 70.0), (7, 70.0)]
    );
    assert_eq!(
        range(&f, "counter_total @ end() - counter_total @ start()", 5, 7),
        vec![(5, 20.0), (6, 20.0), (7, 20.0)]
    );
    // time() inside a subquery is the inner step's time.
    assert_eq!(
        range(&f, "max_over_time(vector(time())[2m:1m])", 5, 6),
        vec![(5, 300.0), (6, 360.0)]
    );
}

#[test]
fn absurd_steps_fail_clearly_before_using_memory() {
    let f = counter();
    let err = f.error("max_over_time(counter_total[1y:1ms])");
    assert!(matches!(err, QueryError::TooLarge(_)), "{err:?}");
    assert_eq!(err.kind(), "execution");
    assert!(err.to_string().contains("raise its resolution"), "{err}");
    // Points a subquery holds count toward max_samples.
    let engine = crate::Engine::new(
        f.store.clone(),
        EngineOptions {
            max_samples: 40,
            ..EngineOptions::default()
        },
    );
    let err = engine
        .instant("max_over_time(counter_total[1h:10s])", 20 * MIN)
        .expect_err("over max_samples");
    assert!(matches!(err, QueryError::TooLarge(_)), "{err:?}");
    assert!(
        engine
            .instant("max_over_time(counter_total[5m:1m])", 20 * MIN)
            .is_ok()
    );
}
