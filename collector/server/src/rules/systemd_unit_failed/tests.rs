//! The built-in rule evaluated as its group runs it, on a real store and engine at made-up
//! times: a failed unit's series appears, the alert goes pending, fires after `for`, and
//! resolves when the agent reports the unit as 0.

use std::sync::Arc;

use super::*;
use crate::rules::group::{GroupRun, RuleState, Source};
use crate::rules::status::AlertState;
use vigil_promql::{Engine, EngineOptions};
use vigil_store::memory::MemoryStore;
use vigil_store::{Labels, SeriesSamples, Store};

const T0: i64 = 1_700_000_000_000;
const MIN: i64 = 60_000;

#[test]
fn a_failed_unit_fires_after_for_and_resolves_when_it_recovers() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let series = |name: &str, state: &str| {
        Labels::new(vec![
            ("__name__".into(), "node_systemd_unit_state".into()),
            ("host".into(), "web-1".into()),
            ("name".into(), name.into()),
            ("state".into(), state.into()),
            ("type".into(), "simple".into()),
        ])
    };
    let ids = store
        .resolve_series(
            "web-1",
            &[
                series("nginx.service", "failed"),
                series("apt-daily.service", "activating"),
            ],
            100,
        )
        .unwrap();
    // nginx failed from T0 to T0 + 3m, then reported as 0; apt-daily activating all along.
    let failed = (0..=5).map(|m| (T0 + m * MIN, if m <= 3 { 1.0 } else { 0.0 }));
    let activating = (0..=5).map(|m| (T0 + m * MIN, 1.0));
    store
        .append(&[
            SeriesSamples {
                id: ids[0],
                samples: failed.collect(),
            },
            SeriesSamples {
                id: ids[1],
                samples: activating.collect(),
            },
        ])
        .unwrap();
    let engine = Engine::new(store.clone(), EngineOptions::default());
    let mut restored = Vec::new();
    let state = RuleState::new(rule(Duration::from_secs(60)), FILE, GROUP, &mut restored);
    let group = GroupRun::new(
        FILE.into(),
        GROUP.into(),
        Duration::from_secs(60),
        Source::Files,
        vec![state],
    );

    let alerts_at = |at: i64| {
        assert!(group.evaluate(&engine, store.as_ref(), at));
        let status = group.status();
        assert_eq!(status.file, "(built-in)");
        let rule = &status.rules[0];
        assert_eq!(rule.last_error, None);
        rule.alerts.clone()
    };
    let alerts = alerts_at(T0);
    assert_eq!(alerts.len(), 1, "only the failed unit: {alerts:?}");
    assert_eq!(alerts[0].state, AlertState::Pending);
    assert_eq!(alerts[0].labels["alertname"], ALERT);
    assert_eq!(alerts[0].labels["name"], "nginx.service");
    assert_eq!(alerts[0].labels["severity"], "warning");
    assert_eq!(
        alerts[0].annotations["summary"],
        "systemd unit nginx.service failed on web-1"
    );
    let alerts = alerts_at(T0 + MIN);
    assert_eq!(alerts[0].state, AlertState::Firing);
    assert!(alerts_at(T0 + 3 * MIN).len() == 1);
    assert!(
        alerts_at(T0 + 4 * MIN).is_empty(),
        "resolved once reported as 0"
    );
}
