//! Tests of `/api/v1/alerts` and `/api/v1/rules`: number, time and string forms, and whole
//! answers compared as text with what Prometheus 2.42 wrote for the same rules.

use super::*;
use crate::rules::service::fixture;
use crate::rules::status::RulesSnapshot;
use std::time::Duration;
use vigil_rules::spec::Rule;

fn text(write: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut out = Vec::new();
    write(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn values_in_go_exponent_form() {
    let cases: [(f64, &str); 14] = [
        (85.5, "8.55e+01"),
        (1.0, "1e+00"),
        (1.5e-7, "1.5e-07"),
        (0.0, "0e+00"),
        (-0.0, "-0e+00"),
        (0.001, "1e-03"),
        (-97.25, "-9.725e+01"),
        (123_456_789.0, "1.23456789e+08"),
        (1e21, "1e+21"),
        (5e-324, "5e-324"),
        (f64::MAX, "1.7976931348623157e+308"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
    ];
    for (v, want) in cases {
        assert_eq!(text(|o| write_exponent(o, v)), want, "{v}");
    }
}

#[test]
fn numbers_as_go_json_writes_them() {
    let cases: [(f64, &str); 8] = [
        (0.0, "0"),
        (3600.0, "3600"),
        (0.000_099_857, "0.000099857"),
        (0.000_001, "0.000001"),
        (5e-7, "5e-7"),
        (1.5e-10, "1.5e-10"),
        (1e21, "1e+21"),
        (f64::NAN, "0"),
    ];
    for (v, want) in cases {
        assert_eq!(text(|o| write_number(o, v)), want, "{v}");
    }
}

#[test]
fn times_as_go_writes_them() {
    let t = fixture::T;
    assert_eq!(text(|o| write_time(o, None)), r#""0001-01-01T00:00:00Z""#);
    assert_eq!(
        text(|o| write_time(o, Some(t))),
        r#""2026-11-21T05:50:00Z""#
    );
    assert_eq!(
        text(|o| write_time(o, Some(t + 120))),
        r#""2026-11-21T05:50:00.12Z""#
    );
    assert_eq!(
        text(|o| write_time(o, Some(t + 7))),
        r#""2026-11-21T05:50:00.007Z""#
    );
    assert_eq!(
        text(|o| write_time(o, Some(0))),
        r#""1970-01-01T00:00:00Z""#
    );
    // 2024-02-29T23:59:59.999Z: a leap day, the last millisecond.
    assert_eq!(
        text(|o| write_time(o, Some(1_709_251_199_999))),
        r#""2024-02-29T23:59:59.999Z""#
    );
    assert_eq!(
        text(|o| write_time(o, Some(-1))),
        r#""0001-01-01T00:00:00Z""#
    );
}

#[test]
fn strings_escaped_as_go_escapes_them() {
    assert_eq!(
        text(|o| write_str(o, "a > b && c < \"d\"\n\u{2028}é")),
        r#""a \u003e b \u0026\u0026 c \u003c \"d\"\n\u2028é""#
    );
    assert_eq!(text(|o| write_str(o, "")), r#""""#);
}

/// The rules Prometheus 2.42 ran for [`PROMETHEUS_RULES`] (rule file in its doc), as Vigil's
/// status types.
fn prometheus_demo() -> RulesSnapshot {
    let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    let rule = |name: &str, kind: RuleKind| Rule {
        name: name.into(),
        kind,
        for_: Duration::ZERO,
        keep_firing_for: Duration::ZERO,
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        line: 1,
    };
    let threshold = |expr: &str| RuleKind::Threshold {
        expr: expr.into(),
        clear: None,
    };
    let record = |expr: &str| RuleKind::Record { expr: expr.into() };
    let (active, group_eval, rule_eval) = (1_795_253_826_529, 1_795_253_829_529, 1_795_253_829_530);
    let status = |rule: Rule, seconds: f64, alerts: Vec<ActiveAlert>| RuleStatus {
        watch: None,
        rule,
        health: Health::Ok,
        last_error: None,
        last_evaluation_ms: Some(rule_eval),
        evaluation_seconds: seconds,
        alerts,
    };
    let mut firing = rule("AlwaysFiring", threshold("vector(85.5) > 0"));
    firing.labels = map(&[("severity", "page")]);
    firing.annotations = map(&[("summary", "value {{ $value }}")]);
    let mut pending = rule("Pending", threshold("vector(1.5e-07)"));
    pending.for_ = Duration::from_secs(3600);
    pending.keep_firing_for = Duration::from_secs(300);
    let mut with_labels = rule("with_labels", record("vector(3)"));
    with_labels.labels = map(&[("a", "b")]);
    let alert = |name: &str, state, value, labels: &[(&str, &str)], annotations| ActiveAlert {
        rule: name.into(),
        labels: map(labels),
        annotations,
        state,
        value,
        active_since_ms: active,
        firing_since_ms: None,
        eta_ms: None,
    };
    let mut rules = vec![
        status(
            firing,
            0.000_652_308,
            vec![alert(
                "AlwaysFiring",
                AlertState::Firing,
                85.5,
                &[("alertname", "AlwaysFiring"), ("severity", "page")],
                map(&[("summary", "value 85.5")]),
            )],
        ),
        status(
            pending,
            0.000_207_007,
            vec![alert(
                "Pending",
                AlertState::Pending,
                1.5e-7,
                &[("alertname", "Pending")],
                BTreeMap::new(),
            )],
        ),
        status(
            rule("Never", threshold("vector(1) < 0")),
            0.000_202_909,
            vec![],
        ),
        status(
            rule("job:up:sum", record("vector(2)")),
            0.000_122_609,
            vec![],
        ),
        status(with_labels, 0.000_099_857, vec![]),
        status(
            rule(
                "Broken",
                threshold(r#"label_replace(vector(1), "x", "$1", "y", "(")"#),
            ),
            0.000_293_578,
            vec![],
        ),
    ];
    rules[0].last_evaluation_ms = Some(group_eval);
    rules[5].health = Health::Err;
    rules[5].last_error = Some("invalid regular expression in label_replace(): (".into());
    RulesSnapshot {
        groups: vec![
            GroupStatus {
                name: "demo".into(),
                file: "/tmp/promrules/rules.yml".into(),
                interval_seconds: 1.0,
                last_evaluation_ms: Some(group_eval),
                rules,
            },
            GroupStatus {
                name: "other".into(),
                file: "/tmp/promrules/rules.yml".into(),
                interval_seconds: 60.0,
                last_evaluation_ms: None,
                rules: vec![RuleStatus {
                    watch: None,
                    rule: rule("r2", record("vector(1)")),
                    health: Health::Unknown,
                    last_error: None,
                    last_evaluation_ms: None,
                    evaluation_seconds: 0.0,
                    alerts: vec![],
                }],
            },
        ],
    }
}

/// Debian's Prometheus 2.42 answering `/api/v1/rules` for this rule file (with
/// `evaluation_interval: 1m`):
///
/// ```yaml
/// groups:
///   - name: demo
///     interval: 1s
///     rules:
///       - alert: AlwaysFiring
///         expr: vector(85.5) > 0
///         labels: {severity: page}
///         annotations: {summary: "value {{ $value }}"}
///       - alert: Pending
///         expr: vector(1.5e-7)
///         for: 1h
///         keep_firing_for: 5m
///       - alert: Never
///         expr: vector(1) < 0
///       - record: job:up:sum
///         expr: vector(2)
///       - record: with_labels
///         expr: vector(3)
///         labels: {a: b}
///       - alert: Broken
///         expr: label_replace(vector(1), "x", "$1", "y", "(")
///   - name: other
///     limit: 3
///     rules:
///       - record: r2
///         expr: vector(1)
/// ```
///
/// Edited where Vigil differs on purpose: times cut to milliseconds (Vigil keeps no more), the
/// group's evaluation time is the sum of its rules' (Prometheus times the group), and
/// `limit` is 0 (Vigil has no alert limit).
const PROMETHEUS_RULES: &str = r#"{"status":"success","data":{"groups":[{"name":"demo","file":"/tmp/promrules/rules.yml","rules":[{"state":"firing","name":"AlwaysFiring","query":"vector(85.5) \u003e 0","duration":0,"keepFiringFor":0,"labels":{"severity":"page"},"annotations":{"summary":"value {{ $value }}"},"alerts":[{"labels":{"alertname":"AlwaysFiring","severity":"page"},"annotations":{"summary":"value 85.5"},"state":"firing","activeAt":"2026-11-21T09:37:06.529Z","value":"8.55e+01"}],"health":"ok","evaluationTime":0.000652308,"lastEvaluation":"2026-11-21T09:37:09.529Z","type":"alerting"},{"state":"pending","name":"Pending","query":"vector(1.5e-07)","duration":3600,"keepFiringFor":300,"labels":{},"annotations":{},"alerts":[{"labels":{"alertname":"Pending"},"annotations":{},"state":"pending","activeAt":"2026-11-21T09:37:06.529Z","value":"1.5e-07"}],"health":"ok","evaluationTime":0.000207007,"lastEvaluation":"2026-11-21T09:37:09.53Z","type":"alerting"},{"state":"inactive","name":"Never","query":"vector(1) \u003c 0","duration":0,"keepFiringFor":0,"labels":{},"annotations":{},"alerts":[],"health":"ok","evaluationTime":0.000202909,"lastEvaluation":"2026-11-21T09:37:09.53Z","type":"alerting"},{"name":"job:up:sum","query":"vector(2)","health":"ok","evaluationTime":0.000122609,"lastEvaluation":"2026-11-21T09:37:09.53Z","type":"recording"},{"name":"with_labels","query":"vector(3)","labels":{"a":"b"},"health":"ok","evaluationTime":0.000099857,"lastEvaluation":"2026-11-21T09:37:09.53Z","type":"recording"},{"state":"inactive","name":"Broken","query":"label_replace(vector(1), \"x\", \"$1\", \"y\", \"(\")","duration":0,"keepFiringFor":0,"labels":{},"annotations":{},"alerts":[],"health":"err","lastError":"invalid regular expression in label_replace(): (","evaluationTime":0.000293578,"lastEvaluation":"2026-11-21T09:37:09.53Z","type":"alerting"}],"interval":1,"limit":0,"evaluationTime":0.0015782680000000003,"lastEvaluation":"2026-11-21T09:37:09.529Z"},{"name":"other","file":"/tmp/promrules/rules.yml","rules":[{"name":"r2","query":"vector(1)","health":"unknown","evaluationTime":0,"lastEvaluation":"0001-01-01T00:00:00Z","type":"recording"}],"interval":60,"limit":0,"evaluationTime":0,"lastEvaluation":"0001-01-01T00:00:00Z"}]}}"#;

#[test]
fn rules_as_prometheus_writes_them() {
    let snapshot = prometheus_demo();
    let body = String::from_utf8(json::success_body(|o| {
        write_groups(o, &snapshot.groups, Kinds::All)
    }))
    .unwrap();
    assert_eq!(body, PROMETHEUS_RULES);
}

#[test]
fn alerts_as_prometheus_writes_them() {
    let snapshot = prometheus_demo();
    let alerts = snapshot
        .groups
        .iter()
        .flat_map(|g| &g.rules)
        .flat_map(|r| &r.alerts);
    // Prometheus's answer to /api/v1/alerts, times to milliseconds.
    assert_eq!(
        text(|o| write_alerts(o, alerts)),
        concat!(
            r#"[{"labels":{"alertname":"AlwaysFiring","severity":"page"},"#,
            r#""annotations":{"summary":"value 85.5"},"state":"firing","#,
            r#""activeAt":"2026-11-21T09:37:06.529Z","value":"8.55e+01"},"#,
            r#"{"labels":{"alertname":"Pending"},"annotations":{},"state":"pending","#,
            r#""activeAt":"2026-11-21T09:37:06.529Z","value":"1.5e-07"}]"#
        )
    );
}

#[test]
fn type_filter_keeps_groups_and_one_kind_of_rule() {
    let snapshot = fixture::snapshot();
    let names = |kinds| {
        let body = text(|o| write_groups(o, &snapshot.groups, kinds));
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                let rules = g["rules"].as_array().unwrap();
                rules
                    .iter()
                    .map(|r| r["name"].as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(Kinds::All),
        [
            vec!["HighCpu", "DiskFull", "host:cpu_busy:avg5m", "Broken"],
            vec!["HostDown"]
        ]
    );
    assert_eq!(
        names(Kinds::Alerting),
        [vec!["HighCpu", "DiskFull", "Broken"], vec!["HostDown"]]
    );
    assert_eq!(
        names(Kinds::Recording),
        [vec!["host:cpu_busy:avg5m"], vec![]]
    );
}

#[test]
fn forecast_rules_are_alerting_rules_on_their_expression() {
    let snapshot = fixture::snapshot();
    let body = text(|o| write_groups(o, &snapshot.groups, Kinds::All));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let disk = &v["groups"][0]["rules"][1];
    assert_eq!(disk["type"], "alerting");
    assert_eq!(disk["query"], "disk_used_ratio");
    assert_eq!(disk["state"], "pending");
    assert_eq!(disk["duration"], 600);
    assert_eq!(disk["alerts"][0]["value"], "9.3e-01");
    assert_eq!(disk["alerts"][0]["activeAt"], "2026-11-21T05:47:59.5Z");
    // 5e-7 s: Go's JSON exponent form.
    assert!(body.contains(r#""evaluationTime":5e-7,"#), "{body}");
}
