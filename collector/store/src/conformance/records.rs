//! Conformance cases on the small records beside the samples: hosts, alert state, and the
//! key-value spaces of other parts.

use super::labels;
use crate::{AlertKey, Store, StoredAlert};
use vigil_proto::v1::{Hello, Host};

pub(super) fn hosts_round_trip(store: &dyn Store) {
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

pub(super) fn alert_state_round_trips(store: &dyn Store) {
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

pub(super) fn small_records_are_kept_per_space(store: &dyn Store) {
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
