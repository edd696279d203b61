//! Anomaly rules on a real in-memory store and engine at made-up times: learning from
//! history, firing on a shift and not on noise, the score series, and detectors that
//! survive a restart with exactly the scores they would have given without it.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use vigil_anomaly::synth::Rng;
use vigil_promql::EngineOptions;
use vigil_rules::spec::{AnomalyModel, RuleKind};
use vigil_store::memory::MemoryStore;

const T0: i64 = 1_700_000_000_000;
const MIN: i64 = 60_000;

fn spec(expr: &str) -> AnomalySpec {
    AnomalySpec {
        expr: expr.to_owned(),
        model: AnomalyModel::Auto,
        threshold: 0.5,
        step: Duration::from_secs(60),
        warmup: Duration::from_secs(6 * 3600),
        alerting: true,
    }
}

fn rule(spec: &AnomalySpec) -> Rule {
    Rule {
        name: "Unusual".into(),
        kind: RuleKind::Anomaly(spec.clone()),
        for_: Duration::ZERO,
        keep_firing_for: Duration::ZERO,
        labels: BTreeMap::new(),
        annotations: BTreeMap::from([(
            "summary".into(),
            "{{ $labels.host }} at {{ $value }}, expected {{ $lower }} to {{ $upper }}, score {{ $score }}"
                .into(),
        )]),
        line: 1,
    }
}

/// `load{host=h}` every 15 s from T0 for `minutes`: noise around 10, and from minute
/// `shift_at` on host "b" 8 higher.
fn write_load(store: &dyn Store, from_min: i64, to_min: i64, shift_at: i64) {
    for host in ["a", "b"] {
        let labels = Labels::from_pairs(&[("__name__", "load"), ("host", host)]);
        let id = store.resolve_series(host, &[labels], 100).unwrap()[0];
        let mut rng = Rng::new(if host == "a" { 1 } else { 2 });
        // The same draws whatever the range written, so a store filled in two parts
        // holds what one filled at once does.
        let samples: Vec<(i64, f64)> = (0..to_min * 4)
            .map(|i| {
                let m = i / 4;
                let shift = if host == "b" && m >= shift_at {
                    8.0
                } else {
                    0.0
                };
                (T0 + i * 15_000, 10.0 + rng.gauss() + shift)
            })
            .filter(|(t, _)| *t >= T0 + from_min * MIN)
            .collect();
        store.append(&[SeriesSamples { id, samples }]).unwrap();
    }
}

fn outcome(
    engine: &Engine,
    store: &dyn Store,
    spec: &AnomalySpec,
    watch: &Mutex<Watch>,
    now: i64,
) -> Vec<Labels> {
    match evaluate(engine, store, &rule(spec), spec, watch, None, now) {
        Ok(Outcome::Alerts {
            observed, error, ..
        }) => {
            assert_eq!(error, None);
            observed.into_iter().map(|o| o.labels).collect()
        }
        Ok(other) => panic!("{other:?}"),
        Err(e) => panic!("{e}"),
    }
}

fn scores(engine: &Engine, host: &str, from: i64, to: i64) -> Vec<(i64, f64)> {
    let expr = format!("vigil_anomaly_score{{host=\"{host}\"}}");
    match engine.range(&expr, from, to, MIN).unwrap() {
        Value::Matrix(m) if m.len() == 1 => m[0].points.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn learns_from_history_fires_on_a_shift_and_not_on_noise() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    write_load(store.as_ref(), 0, 300, 295);
    let engine = Engine::new(store.clone(), EngineOptions::default());
    let spec = spec("load");
    let r = rule(&spec);
    let watch = Mutex::new(Watch::new("f.yml", "g", &r, &spec));
    let now = T0 + 300 * MIN;
    let Outcome::Alerts { observed, .. } =
        evaluate(&engine, store.as_ref(), &r, &spec, &watch, None, now).unwrap()
    else {
        panic!()
    };
    assert_eq!(observed.len(), 1, "{observed:?}");
    let alert = &observed[0];
    assert_eq!(alert.labels.get("host"), "b");
    assert_eq!(alert.labels.get("alertname"), "Unusual");
    let summary = &alert.annotations["summary"];
    assert!(summary.starts_with("b at 1"), "{summary}");
    assert!(summary.contains(", expected "), "{summary}");
    let score: f64 = summary.rsplit("score ").next().unwrap().parse().unwrap();
    assert!((0.5..=1.0).contains(&score), "{summary}");

    // Every grid point of the history was scored and written, with its band.
    let a = scores(&engine, "a", T0, now);
    assert_eq!(
        a.len(),
        300,
        "minutes 0..299 (now − 10 s settles to minute 299)"
    );
    assert!(a.iter().all(|(_, s)| *s < 0.5), "host a is noise");
    let name = |n: &str| format!("{n}{{host=\"b\",metric=\"load\",anomaly_rule=\"Unusual\"}}");
    for n in OUTPUT_NAMES {
        assert!(
            matches!(engine.instant(&name(n), now).unwrap(), Value::Vector(v) if v.len() == 1),
            "{n}"
        );
    }
    let Value::Vector(v) = engine
        .instant(
            &format!(
                "{} > {}",
                name("vigil_anomaly_value"),
                name("vigil_anomaly_upper")
            ),
            now,
        )
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(v.len(), 1, "the shifted value is above the band");
}

#[test]
fn restored_detectors_score_exactly_as_if_never_stopped() {
    let spec = spec("load");
    let r = rule(&spec);
    // One store evaluated every minute without a stop.
    let steady: Arc<dyn Store> = Arc::new(MemoryStore::new());
    write_load(steady.as_ref(), 0, 400, 395);
    let engine = Engine::new(steady.clone(), EngineOptions::default());
    let watch = Mutex::new(Watch::new("f.yml", "g", &r, &spec));
    for m in 200..=400 {
        outcome(&engine, steady.as_ref(), &spec, &watch, T0 + m * MIN);
    }

    // Another with the same data, whose collector "dies" at minute 255 and comes back at
    // 330: a new Watch takes the checkpoint back and catches up from the store.
    let restarted: Arc<dyn Store> = Arc::new(MemoryStore::new());
    write_load(restarted.as_ref(), 0, 400, 395);
    let engine2 = Engine::new(restarted.clone(), EngineOptions::default());
    let first = Mutex::new(Watch::new("f.yml", "g", &r, &spec));
    for m in 200..=255 {
        outcome(&engine2, restarted.as_ref(), &spec, &first, T0 + m * MIN);
    }
    let checkpointed = first.lock().unwrap().last_checkpoint_ms;
    assert!(
        checkpointed.is_some_and(|at| at < T0 + 255 * MIN),
        "{checkpointed:?}"
    );
    drop(first); // kill -9: what was not checkpointed is lost
    let second = Mutex::new(Watch::new("f.yml", "g", &r, &spec));
    for m in 330..=400 {
        let fired = outcome(&engine2, restarted.as_ref(), &spec, &second, T0 + m * MIN);
        if m == 400 {
            assert_eq!(
                fired.len(),
                1,
                "the shift at 395 fires after the restart too"
            );
        }
    }
    assert_eq!(second.lock().unwrap().watched(), 2);
    for host in ["a", "b"] {
        assert_eq!(
            scores(&engine, host, T0 + 200 * MIN, T0 + 400 * MIN),
            scores(&engine2, host, T0 + 200 * MIN, T0 + 400 * MIN),
            "host {host}"
        );
    }

    // A changed definition starts afresh instead of misreading another's detectors.
    let other = AnomalySpec {
        step: Duration::from_secs(120),
        ..spec.clone()
    };
    let mut fresh = Watch::new("f.yml", "g", &rule(&other), &other);
    assert_eq!(fresh.load(restarted.as_ref()).unwrap(), 0);
    let mut same = Watch::new("f.yml", "g", &r, &spec);
    assert_eq!(same.load(restarted.as_ref()).unwrap(), 2);
}

#[test]
fn a_series_gone_for_an_hour_is_forgotten_and_its_detector_deleted() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    write_load(store.as_ref(), 0, 120, 1_000);
    // Host a goes on alone for two more hours.
    let labels = Labels::from_pairs(&[("__name__", "load"), ("host", "a")]);
    let id = store.resolve_series("a", &[labels], 100).unwrap()[0];
    let samples = (120 * 4..240 * 4)
        .map(|i| (T0 + i * 15_000, 10.0))
        .collect();
    store.append(&[SeriesSamples { id, samples }]).unwrap();
    let engine = Engine::new(store.clone(), EngineOptions::default());
    let spec = spec("load");
    let watch = Mutex::new(Watch::new("f.yml", "g", &rule(&spec), &spec));
    outcome(&engine, store.as_ref(), &spec, &watch, T0 + 120 * MIN);
    assert_eq!(store.kv_scan(Space::Anomaly).unwrap().len(), 2);
    for m in (130..=240).step_by(10) {
        outcome(&engine, store.as_ref(), &spec, &watch, T0 + m * MIN);
    }
    assert_eq!(watch.lock().unwrap().watched(), 1);
    let saved = store.kv_scan(Space::Anomaly).unwrap();
    assert_eq!(saved.len(), 1);
    let (key, _) = &saved[0];
    let rest = key.strip_prefix(watch.lock().unwrap().key()).unwrap();
    assert_eq!(decode_labels(rest).unwrap().get("host"), "a");
}

#[test]
fn an_expression_that_cannot_be_graphed_fails_the_rule() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let engine = Engine::new(store.clone(), EngineOptions::default());
    let spec = spec("load[5m]");
    let watch = Mutex::new(Watch::new("f.yml", "g", &rule(&spec), &spec));
    let err = evaluate(
        &engine,
        store.as_ref(),
        &rule(&spec),
        &spec,
        &watch,
        None,
        T0,
    )
    .expect_err("a range vector");
    assert!(err.starts_with("anomaly expr: "), "{err}");
}

#[test]
fn saved_keys_round_trip_any_label_text() {
    let labels = Labels::from_pairs(&[("__name__", "x"), ("host", "a\u{0}b"), ("odd", "é\"}")]);
    let spec = spec("x");
    let w = Watch::new("f", "g", &rule(&spec), &spec);
    let key = w.series_key(&labels);
    assert_eq!(
        decode_labels(key.strip_prefix(w.key()).unwrap()),
        Some(labels)
    );
    assert_eq!(decode_labels(&[0, 0, 0, 9, b'a']), None, "truncated");
}
