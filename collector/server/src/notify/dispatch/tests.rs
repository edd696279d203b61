//! The dispatcher on a store and a real outbox: a flush writes its outbox entries and its log
//! together, and a reopened dispatcher does not send them again.

use super::*;
use crate::notify::metrics::NotifyMetrics;
use vigil_store::memory::MemoryStore;

const CONFIG: &str = r#"
    [[receivers]]
    name = "ops"
    [[receivers.webhook]]
    url = "http://127.0.0.1:9/hook"
    [route]
    receiver = "ops"
    group_wait = "0s"
"#;

struct Opened {
    store: Arc<dyn Store>,
    outbox: Arc<Outbox>,
    dispatcher: Dispatcher,
}

/// Opens everything on `store`, as a collector starting would; the outbox's workers are
/// not started, so entries stay.
fn open(store: &Arc<dyn Store>) -> Opened {
    let config: NotifyConfig = toml::from_str(CONFIG).unwrap();
    config.validate().unwrap();
    let store = store.clone();
    let receivers = Arc::new(Receivers::from_config(&config).unwrap());
    let silences = Arc::new(Silences::open(store.clone(), now_ms()).unwrap());
    let outbox = Arc::new(
        Outbox::open(
            store.clone(),
            receivers.clone(),
            config.delivery.clone(),
            Arc::new(NotifyMetrics::default()),
        )
        .unwrap(),
    );
    let dispatcher =
        Dispatcher::open(&config, store.clone(), silences, outbox.clone(), receivers).unwrap();
    Opened {
        store,
        outbox,
        dispatcher,
    }
}

fn records(store: &dyn Store, space: Space) -> usize {
    store.kv_scan(space).unwrap().len()
}

#[test]
fn notifications_and_their_log_are_written_together_and_not_repeated_after_a_reopen() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    // Flushes are asked for a little ahead of the clock `observe` reads.
    let now = now_ms() + 1000;
    let alert = Alert {
        labels: [("alertname", "CpuHigh"), ("host", "a")]
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        annotations: LabelMap::new(),
        starts_at_ms: now - 3_600_000,
        ends_at_ms: None,
        generator_url: String::new(),
    };
    {
        let o = open(&store);
        o.dispatcher.observe(vec![alert.clone()]);
        assert_eq!(records(o.store.as_ref(), Space::NotifyAlerts), 1);
        o.dispatcher.flush_due(now);
        assert_eq!(o.outbox.waiting().len(), 1);
        assert_eq!(records(o.store.as_ref(), Space::NotifyLog), 1);
        // Flushed: not due again before the group interval.
        o.dispatcher.flush_due(now + 1000);
        assert_eq!(o.outbox.waiting().len(), 1);
    }
    {
        let o = open(&store);
        o.dispatcher.observe(vec![alert.clone()]);
        o.dispatcher.flush_due(now + 2000);
        let waiting = o.outbox.waiting();
        assert_eq!(
            waiting.len(),
            1,
            "the firing alert is not sent again: {waiting:?}"
        );
        o.dispatcher.observe(vec![Alert {
            ends_at_ms: Some(now + 3000),
            ..alert.clone()
        }]);
        o.dispatcher.flush_due(now + 2000 + 300_000);
        assert_eq!(o.outbox.waiting().len(), 2);
        assert_eq!(records(o.store.as_ref(), Space::NotifyAlerts), 0);
        assert_eq!(records(o.store.as_ref(), Space::NotifyLog), 0);
    }
}

#[test]
fn without_a_route_alerts_are_dropped() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let config = NotifyConfig::default();
    let receivers = Arc::new(Receivers::from_config(&config).unwrap());
    let outbox = Arc::new(
        Outbox::open(
            store.clone(),
            receivers.clone(),
            config.delivery.clone(),
            Arc::new(NotifyMetrics::default()),
        )
        .unwrap(),
    );
    let silences = Arc::new(Silences::open(store.clone(), now_ms()).unwrap());
    let d = Dispatcher::open(&config, store.clone(), silences, outbox, receivers).unwrap();
    d.observe(vec![Alert {
        labels: LabelMap::from([("alertname".to_owned(), "X".to_owned())]),
        annotations: LabelMap::new(),
        starts_at_ms: 0,
        ends_at_ms: None,
        generator_url: String::new(),
    }]);
    d.flush_due(now_ms());
    assert_eq!(records(store.as_ref(), Space::NotifyAlerts), 0);
    assert!(d.inhibited_by(&LabelMap::new(), 0).is_empty());
}
