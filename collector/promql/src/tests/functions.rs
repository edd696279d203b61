//! Functions added for Prometheus 2.42 parity: `holt_winters`, `absent_over_time`,
//! `histogram_quantile` (and the native-only histogram functions), the date functions,
//! trigonometry, `pi()`, and the 2.42 dialect of function names.

use super::{Fixture, cpu_fixture, one};
use crate::QueryError;

fn histogram() -> Fixture {
    let f = Fixture::new();
    for (host, scale) in [("a", 1.0), ("b", 2.0)] {
        for (le, count) in [("0.1", 2.0), ("0.5", 6.0), ("1", 9.0), ("+Inf", 10.0)] {
            f.add(
                "req_bucket",
                &[("host", host), ("le", le)],
                &[(0, 0.0), (10, count * scale)],
            );
        }
        f.add("req_count", &[("host", host)], &[(10, 10.0 * scale)]);
    }
    f
}

#[test]
fn histogram_quantile_over_classic_buckets() {
    let f = histogram();
    let r = f.instant("histogram_quantile(0.5, req_bucket)", 10);
    assert_eq!(r.len(), 2);
    // Rank 5 of 10 (and 10 of 20) in (0.1, 0.5]: 0.1 + 0.4 × 3/4.
    for (labels, v) in &r {
        assert!(labels == r#"{host="a"}"# || labels == r#"{host="b"}"#);
        assert!((v - 0.4).abs() < 1e-15, "{v}");
    }
    // Over rates, grouped with sum by (le): the usual dashboard form.
    let v = one(
        &f,
        "histogram_quantile(0.95, sum by (le) (rate(req_bucket[10m])))",
        10,
    );
    assert_eq!(v, 1.0);
    assert_eq!(
        one(&f, r#"histogram_quantile(-1, req_bucket{host="a"})"#, 10),
        f64::NEG_INFINITY
    );
    assert_eq!(
        one(&f, r#"histogram_quantile(2, req_bucket{host="a"})"#, 10),
        f64::INFINITY
    );
    // Series without le are left out; no buckets, no output.
    assert!(
        f.instant("histogram_quantile(0.5, req_count)", 10)
            .is_empty()
    );
    let r = f.instant(
        r#"histogram_quantile(0.5, {__name__=~"req_.+", host="a"})"#,
        10,
    );
    assert_eq!(r.len(), 1);
    // Native-histogram functions find nothing in classic data (as in 2.42).
    assert!(f.instant("histogram_count(req_bucket)", 10).is_empty());
    assert!(f.instant("histogram_sum(req_bucket)", 10).is_empty());
    assert!(
        f.instant("histogram_fraction(0, 1, req_bucket)", 10)
            .is_empty()
    );
}

#[test]
fn holt_winters_and_absent_over_time() {
    let f = Fixture::new();
    f.add("gauge", &[("host", "a")], &[(0, 1.0), (1, 3.0), (2, 4.0)]);
    // Level 1, trend 2; then 0.5·3 + 0.5·(1 + 2) = 3; trend 0.5·2 + 0.5·2 = 2;
    // then 0.5·4 + 0.5·(3 + 2) = 4.5.
    assert_eq!(one(&f, "holt_winters(gauge[5m], 0.5, 0.5)", 2), 4.5);
    assert_eq!(one(&f, "holt_winters(gauge[5m:1m], 0.5, 0.5)", 2), 4.5);
    // Under two samples: nothing.
    assert!(
        f.instant("holt_winters(gauge[30s], 0.5, 0.5)", 2)
            .is_empty()
    );
    let err = f.error("holt_winters(gauge[20m], 1, 0.5)");
    assert!(matches!(err, QueryError::Execution(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000"
    );
    let err = f.error("holt_winters(gauge[20m], 0.5, 0)");
    assert!(err.to_string().starts_with("invalid trend factor"), "{err}");
    // As in Prometheus, bad factors pass when no series has samples.
    assert!(f.instant("holt_winters(nope[5m], 2, 2)", 2).is_empty());

    let r = f.instant(r#"absent_over_time(nope{job="x"}[5m])"#, 2);
    assert_eq!(r, vec![(r#"{job="x"}"#.into(), 1.0)]);
    assert!(f.instant("absent_over_time(gauge[5m])", 2).is_empty());
    // The window has passed the last sample: absent again.
    assert_eq!(one(&f, "absent_over_time(gauge[5m])", 10), 1.0);
    let r = f.instant("absent_over_time(nope[5m:1m])", 2);
    assert_eq!(r, vec![("{}".into(), 1.0)]);
    assert_eq!(one(&f, "present_over_time(gauge[5m:1m])", 2), 1.0);
}

#[test]
fn date_functions() {
    let f = cpu_fixture();
    // Evaluated at 1970-01-01T00:10:00Z, a Thursday.
    assert_eq!(f.instant("minute()", 10), vec![("{}".into(), 10.0)]);
    assert_eq!(one(&f, "hour()", 10), 0.0);
    assert_eq!(one(&f, "day_of_week()", 10), 4.0);
    assert_eq!(one(&f, "day_of_month()", 10), 1.0);
    assert_eq!(one(&f, "day_of_year()", 10), 1.0);
    assert_eq!(one(&f, "days_in_month()", 10), 31.0);
    assert_eq!(one(&f, "month()", 10), 1.0);
    assert_eq!(one(&f, "year()", 10), 1970.0);
    // 2024-02-29T13:45:10Z.
    assert_eq!(one(&f, "month(vector(1709214310))", 10), 2.0);
    assert_eq!(one(&f, "days_in_month(vector(1709214310))", 10), 29.0);
    assert_eq!(one(&f, "day_of_year(vector(-1))", 10), 365.0);
    // Go's int64(NaN) and its time package, as Prometheus 2.42 answers.
    assert_eq!(one(&f, "year(vector(NaN))", 10), 292_277_026_596.0);
    // With a vector argument the metric name goes, the other labels stay.
    let r = f.instant(r#"hour(node_load1{host="a"})"#, 10);
    assert_eq!(r, vec![(r#"{host="a"}"#.into(), 0.0)]);
}

#[test]
fn trigonometry_and_constants() {
    let f = cpu_fixture();
    assert_eq!(one(&f, "pi()", 10), std::f64::consts::PI);
    assert!((one(&f, "deg(vector(pi()))", 10) - 180.0).abs() < 1e-12);
    assert!((one(&f, "rad(vector(180))", 10) - std::f64::consts::PI).abs() < 1e-15);
    assert_eq!(one(&f, "cos(vector(pi()))", 10), -1.0);
    assert_eq!(one(&f, "sin(vector(0))", 10), 0.0);
    assert_eq!(one(&f, "atan(vector(1)) * 4", 10), std::f64::consts::PI);
    assert_eq!(one(&f, "tanh(vector(0))", 10), 0.0);
    assert!(one(&f, "asin(vector(2))", 10).is_nan());
    assert_eq!(one(&f, "acosh(vector(1))", 10), 0.0);
    assert_eq!(one(&f, "sgn(vector(-3))", 10), -1.0);
    let r = f.instant(r#"sin(node_load1{host="b"} * 0)"#, 10);
    assert_eq!(r, vec![(r#"{host="b"}"#.into(), 0.0)]);
    assert_eq!(one(&f, "2 ^ 10", 10), 1024.0);
    assert_eq!(
        one(&f, "vector(1) atan2 vector(1) * 4", 10),
        std::f64::consts::PI
    );
}

#[test]
fn only_prometheus_2_42_functions_parse() {
    let f = cpu_fixture();
    for q in [
        "double_exponential_smoothing(node_load1[5m], 0.5, 0.5)",
        "sort_by_label(node_load1, \"host\")",
        "limitk(1, node_load1)",
        "mad_over_time(node_load1[5m])",
    ] {
        let err = f.error(q);
        assert!(matches!(err, QueryError::Parse(_)), "{q}: {err:?}");
        assert!(err.to_string().contains("unknown function"), "{q}: {err}");
    }
}

#[test]
fn operator_and_aggregation_details_of_2_42() {
    let f = cpu_fixture();
    // atan2 keeps the metric name (2.42 drops it only for + - * / % ^).
    let r = f.instant(r#"node_load1{host="a"} atan2 node_load1{host="a"}"#, 10);
    assert_eq!(r[0].0, r#"{__name__="node_load1", host="a"}"#);
    let r = f.instant(r#"node_load1{host="a"} atan2 1"#, 10);
    assert_eq!(r[0].0, r#"{__name__="node_load1", host="a"}"#);
    // topk's k must fit an int64, even with nothing to aggregate.
    let err = f.error("topk(NaN, node_load1)");
    assert!(matches!(err, QueryError::Execution(_)), "{err:?}");
    assert_eq!(err.to_string(), "Scalar value NaN overflows int64");
    let err = f.error("bottomk(1e20, nope)");
    assert_eq!(err.to_string(), "Scalar value 1e+20 overflows int64");
    let err = f.error(r#"count_values("1a", node_load1)"#);
    assert!(matches!(err, QueryError::Execution(_)), "{err:?}");
    assert_eq!(err.to_string(), r#"invalid label name "1a""#);
    // holt_winters lets NaN factors through (Go's `sf <= 0 || sf >= 1` is false).
    assert!(
        one(
            &f,
            r#"holt_winters(node_cpu_seconds_total{host="a", mode="idle"}[5m], 0.5, NaN)"#,
            10
        )
        .is_nan()
    );
}
