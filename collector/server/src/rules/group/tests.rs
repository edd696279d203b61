//! A group evaluated on a real store and engine at made-up times: threshold, forecast and
//! recording rules, the series they write, and the state they save.

use super::*;
use vigil_forecast::{Direction, ModelChoice};
use vigil_promql::{EngineOptions, Value};
use vigil_rules::spec::ForecastSpec;
use vigil_store::SeriesSamples;
use vigil_store::memory::MemoryStore;

const T0: i64 = 1_700_000_000_000;
const MIN: i64 = 60_000;

fn rule(name: &str, kind: RuleKind, for_: Duration) -> Rule {
    Rule {
        name: name.into(),
        kind,
        for_,
        keep_firing_for: Duration::ZERO,
        labels: BTreeMap::from([("severity".into(), "warn".into())]),
        annotations: BTreeMap::from([("summary".into(), "{{ $labels.host }}".into())]),
        line: 1,
    }
}

/// `disk_used{host="a"}` rising by 1 a minute: 0 at T0 … 60 at T0 + 1h.
fn store_with_disk() -> Arc<dyn Store> {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let labels = Labels::new(vec![
        ("__name__".into(), "disk_used".into()),
        ("host".into(), "a".into()),
    ]);
    let id = store.resolve_series("a", &[labels], 100).unwrap()[0];
    let samples = (0..=60).map(|m| (T0 + m * MIN, m as f64)).collect();
    store.append(&[SeriesSamples { id, samples }]).unwrap();
    store
}

fn vector(engine: &Engine, expr: &str, at: i64) -> Vec<(Labels, f64)> {
    match engine.instant(expr, at).unwrap() {
        Value::Vector(v) => v.into_iter().map(|s| (s.labels, s.v)).collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn threshold_forecast_and_recording_rules_write_and_save() {
    let store = store_with_disk();
    let engine = Engine::new(store.clone(), EngineOptions::default());
    let rules = vec![
        rule(
            "DiskBusy",
            RuleKind::Threshold {
                expr: "disk_used > 30".into(),
                clear: None,
            },
            Duration::from_secs(120),
        ),
        rule(
            "DiskFull",
            RuleKind::Forecast(ForecastSpec {
                expr: "disk_used".into(),
                threshold: 100.0,
                direction: Direction::Above,
                lookback: Duration::from_secs(3600),
                horizon: Duration::from_secs(7200),
                model: ModelChoice::Linear,
                season: None,
            }),
            Duration::ZERO,
        ),
        rule(
            "disk_used:doubled",
            RuleKind::Record {
                expr: "disk_used * 2".into(),
            },
            Duration::ZERO,
        ),
    ];
    let mut restored = Vec::new();
    let states = rules
        .into_iter()
        .map(|r| RuleState::new(r, "f.yml", "g", &mut restored))
        .collect();
    let group = GroupRun::new(
        "f.yml".into(),
        "g".into(),
        Duration::from_secs(60),
        Source::Files,
        states,
    );
    let now = T0 + 60 * MIN;
    assert!(group.evaluate(&engine, store.as_ref(), now));
    let status = group.status();
    let busy = &status.rules[0];
    assert_eq!(busy.health, Health::Ok, "{:?}", busy.last_error);
    assert_eq!(busy.alerts.len(), 1);
    assert_eq!(busy.alerts[0].state, AlertState::Pending);
    assert_eq!(busy.alerts[0].labels["severity"], "warn");
    assert_eq!(busy.alerts[0].annotations["summary"], "a");

    let full = &status.rules[1];
    assert_eq!(full.health, Health::Ok, "{:?}", full.last_error);
    assert_eq!(full.alerts.len(), 1, "a crossing at T0 + 100m is within 2h");
    let alert = &full.alerts[0];
    assert_eq!(alert.state, AlertState::Firing);
    let (eta, lower, upper) = alert.eta_ms.unwrap();
    assert!(
        (eta - (now + 40 * MIN)).abs() <= MIN,
        "eta {} min",
        (eta - now) / MIN
    );
    assert!(lower <= eta && eta <= upper);
    assert!(
        (alert.value - 180.0).abs() < 1.0,
        "value at horizon {}",
        alert.value
    );

    let recorded = vector(&engine, "disk_used:doubled", now);
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].1, 120.0);
    assert_eq!(recorded[0].0.get("host"), "a");

    let alerts = vector(&engine, "ALERTS", now);
    let states: Vec<(&str, &str)> = alerts
        .iter()
        .map(|(l, _)| (l.get("alertname"), l.get("alertstate")))
        .collect();
    assert_eq!(
        states,
        vec![("DiskBusy", "pending"), ("DiskFull", "firing")]
    );

    // Two minutes on (the last sample is still within the lookback): DiskBusy fires, and
    // its pending series has ended.
    assert!(group.evaluate(&engine, store.as_ref(), now + 2 * MIN));
    let busy = vector(&engine, r#"ALERTS{alertname="DiskBusy"}"#, now + 2 * MIN);
    assert_eq!(busy.len(), 1);
    assert_eq!(busy[0].0.get("alertstate"), "firing");
    let since = vector(
        &engine,
        r#"ALERTS_FOR_STATE{alertname="DiskBusy"}"#,
        now + 2 * MIN,
    );
    assert_eq!(since[0].1, (now / 1000) as f64);

    // What a restart finds: both alerts, firing, with their times.
    let saved = store.alerts().unwrap();
    assert_eq!(saved.len(), 2);
    let busy = saved.iter().find(|a| a.key.rule == "DiskBusy").unwrap();
    assert!(busy.firing);
    assert_eq!(busy.active_since_ms, now);
    assert_eq!(busy.firing_since_ms, Some(now + 2 * MIN));
    let mut restored = saved.clone();
    let again = RuleState::new(status.rules[0].rule.clone(), "f.yml", "g", &mut restored);
    assert_eq!(
        restored.len(),
        1,
        "the DiskFull record is left for its own rule"
    );
    let instance = again.lifecycle.instances().next().unwrap();
    assert_eq!(instance.state, AlertState::Firing);
    assert_eq!(instance.firing_since_ms, Some(now + 2 * MIN));

    // Stopped: no more evaluations, and the rules are handed over with their state.
    let handed = group.stop();
    assert_eq!(handed.len(), 3);
    assert!(!group.evaluate(&engine, store.as_ref(), now + 3 * MIN));
}

#[test]
fn a_failing_rule_says_why() {
    let store = store_with_disk();
    let engine = Engine::new(store.clone(), EngineOptions::default());
    let mut restored = Vec::new();
    let expr = |e: &str| RuleKind::Threshold {
        expr: e.into(),
        clear: None,
    };
    let group = GroupRun::new(
        "f.yml".into(),
        "g".into(),
        Duration::from_secs(60),
        Source::Files,
        vec![
            RuleState::new(
                rule("Busy", expr("disk_used > 30"), Duration::ZERO),
                "f.yml",
                "g",
                &mut restored,
            ),
            RuleState::new(
                rule("Scalar", expr("1 > bool 0"), Duration::ZERO),
                "f.yml",
                "g",
                &mut restored,
            ),
        ],
    );
    let now = T0 + 60 * MIN;
    group.evaluate(&engine, store.as_ref(), now);
    let status = group.status();
    assert_eq!(status.rules[0].health, Health::Ok);
    assert_eq!(status.rules[1].health, Health::Err);
    let error = status.rules[1].last_error.clone().unwrap();
    assert!(
        error.contains("scalar") && error.contains("instant vector"),
        "{error}"
    );
    assert_eq!(status.last_evaluation_ms, Some(now));
}
