//! The outbox on a real store, delivering to a real HTTP server on loopback through the
//! webhook integration.

use super::*;
use crate::notify::config::NotifyConfig;
use crate::notify::model::{Alert, LabelMap};
use axum::extract::State as AxumState;
use axum::http::StatusCode;
use axum::routing::post;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::Instant;
use vigil_rocks::{RocksOptions, RocksStore};

/// A webhook receiver: answers every POST with the status it is set to, remembers the
/// bodies, and how many requests it had in flight at most.
#[derive(Default)]
struct Hook {
    status: AtomicU16,
    bodies: Mutex<Vec<serde_json::Value>>,
    /// The `X-Vigil-Delivery` of each request, in the order of `bodies`.
    deliveries: Mutex<Vec<String>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl Hook {
    async fn start(status: u16) -> (Arc<Hook>, String) {
        let hook = Arc::new(Hook::default());
        hook.status.store(status, Ordering::SeqCst);
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(hook.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (hook, url)
    }

    fn requests(&self) -> usize {
        self.bodies.lock().unwrap().len()
    }

    /// The group key of every body received, oldest first.
    fn group_keys(&self) -> Vec<String> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .map(|b| b["groupKey"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

async fn receive(
    AxumState(hook): AxumState<Arc<Hook>>,
    headers: axum::http::HeaderMap,
    body: String,
) -> StatusCode {
    let now = hook.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    hook.max_in_flight.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let status = hook.status.load(Ordering::SeqCst);
    let delivery = headers
        .get(crate::notify::webhook::DELIVERY_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut bodies = hook.bodies.lock().unwrap_or_else(|p| p.into_inner());
    bodies.push(serde_json::from_str(&body).unwrap_or_default());
    let mut deliveries = hook.deliveries.lock().unwrap_or_else(|p| p.into_inner());
    deliveries.push(delivery);
    drop(deliveries);
    drop(bodies);
    hook.in_flight.fetch_sub(1, Ordering::SeqCst);
    StatusCode::from_u16(status).unwrap()
}

fn receivers(toml_text: &str) -> Arc<Receivers> {
    let config: NotifyConfig = toml::from_str(toml_text).unwrap();
    config.validate().unwrap();
    Arc::new(Receivers::from_config(&config).unwrap())
}

fn webhook_receivers(url: &str) -> Arc<Receivers> {
    receivers(&format!(
        "[[receivers]]\nname = \"ops\"\n[[receivers.webhook]]\nurl = \"{url}\"\ntimeout = \"2s\"\n\
         [route]\nreceiver = \"ops\"\n"
    ))
}

fn fast() -> DeliveryConfig {
    DeliveryConfig {
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(150),
        give_up_after: Duration::from_secs(3600),
        max_in_flight: 4,
        max_outbox: 1000,
    }
}

fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RocksStore::open(dir.path(), RocksOptions::with_sync(false)).unwrap());
    (dir, store)
}

fn notification(receiver: &str, group: &str) -> Notification {
    let labels: LabelMap = [("alertname".to_owned(), group.to_owned())].into();
    Notification {
        receiver: receiver.into(),
        group_key: group.into(),
        group_labels: labels.clone(),
        alerts: vec![Alert {
            labels,
            annotations: LabelMap::new(),
            starts_at_ms: 1_700_000_000_000,
            ends_at_ms: None,
            generator_url: String::new(),
        }],
        external_url: String::new(),
        created_ms: 1_700_000_000_000,
        test: false,
        refresh: false,
        group_interval_ms: 300_000,
        incident: None,
    }
}

fn count(metrics: &NotifyMetrics, receiver: &str, result: &str) -> u64 {
    metrics
        .notifications
        .lock()
        .unwrap()
        .get(&(receiver.to_owned(), result.to_owned()))
        .copied()
        .unwrap_or(0)
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn entries_are_stored_before_any_attempt_and_ids_continue_after_reopen() {
    let (_dir, store) = store();
    let receivers = receivers(
        "[[receivers]]\nname = \"ops\"\n[[receivers.webhook]]\nurl = \"http://127.0.0.1:9/x\"\n\
         [[receivers.alertmanager]]\nurl = \"http://127.0.0.1:9\"\n[route]\nreceiver = \"ops\"\n",
    );
    let metrics = Arc::new(NotifyMetrics::default());
    let open = || Outbox::open(store.clone(), receivers.clone(), fast(), metrics.clone()).unwrap();
    let outbox = open();
    let mut refresh = notification("ops", "b");
    refresh.refresh = true;
    outbox
        .enqueue(&[notification("ops", "a"), refresh], Vec::new())
        .unwrap();
    // A refresh goes only to the alertmanager integration.
    let kinds: Vec<(u64, String, String)> = outbox
        .waiting()
        .into_iter()
        .map(|w| (w.id, w.entry.kind, w.entry.notification.group_key))
        .collect();
    assert_eq!(
        kinds,
        [
            (1, "webhook".into(), "a".into()),
            (2, "alertmanager".into(), "a".into()),
            (3, "alertmanager".into(), "b".into())
        ]
    );
    assert_eq!(store.kv_scan(Space::Outbox).unwrap().len(), 3);
    assert_eq!(metrics.outbox_depth.lock().unwrap()["ops"], 3);
    drop(outbox);

    let outbox = open();
    assert_eq!(outbox.waiting().len(), 3);
    outbox
        .enqueue(&[notification("ops", "c")], Vec::new())
        .unwrap();
    let ids: Vec<u64> = outbox.waiting().iter().map(|w| w.id).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5]);
}

#[test]
fn the_dispatchers_ops_share_the_write() {
    let (_dir, store) = store();
    let outbox = Outbox::open(
        store.clone(),
        webhook_receivers("http://127.0.0.1:9/x"),
        fast(),
        Arc::default(),
    )
    .unwrap();
    let log = KvOp::put(Space::NotifyLog, b"group".to_vec(), b"sent".to_vec());
    outbox
        .enqueue(&[notification("ops", "a")], vec![log])
        .unwrap();
    assert_eq!(store.kv_scan(Space::NotifyLog).unwrap().len(), 1);
    assert_eq!(store.kv_scan(Space::Outbox).unwrap().len(), 1);
}

#[test]
fn a_full_outbox_drops_the_oldest_of_the_fullest_receiver() {
    let (_dir, store) = store();
    let receivers = receivers(
        "[[receivers]]\nname = \"a\"\n[[receivers.webhook]]\nurl = \"http://127.0.0.1:9/x\"\n\
         [[receivers]]\nname = \"b\"\n[[receivers.webhook]]\nurl = \"http://127.0.0.1:9/y\"\n\
         [route]\nreceiver = \"a\"\n",
    );
    let metrics = Arc::new(NotifyMetrics::default());
    let settings = DeliveryConfig {
        max_outbox: 3,
        ..fast()
    };
    let outbox = Outbox::open(store.clone(), receivers, settings, metrics.clone()).unwrap();
    for (receiver, group) in [("a", "a1"), ("b", "b1"), ("a", "a2"), ("a", "a3")] {
        outbox
            .enqueue(&[notification(receiver, group)], Vec::new())
            .unwrap();
    }
    let groups: Vec<String> = outbox
        .waiting()
        .into_iter()
        .map(|w| w.entry.notification.group_key)
        .collect();
    assert_eq!(groups, ["b1", "a2", "a3"]);
    assert_eq!(store.kv_scan(Space::Outbox).unwrap().len(), 3);
    assert_eq!(count(&metrics, "a", "dropped"), 1);
    assert_eq!(count(&metrics, "b", "dropped"), 0);
    assert_eq!(metrics.outbox_depth.lock().unwrap()["a"], 2);

    // An unknown receiver is dropped and counted too, never silently.
    outbox
        .enqueue(&[notification("nobody", "x")], Vec::new())
        .unwrap();
    assert_eq!(count(&metrics, "nobody", "dropped"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_fails_then_recovers_gets_everything_without_a_storm() {
    let (hook, url) = Hook::start(503).await;
    let (_dir, store) = store();
    let metrics = Arc::new(NotifyMetrics::default());
    let outbox = Arc::new(
        Outbox::open(
            store.clone(),
            webhook_receivers(&url),
            fast(),
            metrics.clone(),
        )
        .unwrap(),
    );
    outbox.start();
    let groups: Vec<String> = (0..12).map(|i| format!("g{i}")).collect();
    let batch: Vec<Notification> = groups.iter().map(|g| notification("ops", g)).collect();
    outbox.enqueue(&batch, Vec::new()).unwrap();

    wait_until("several failed attempts", || hook.requests() >= 8).await;
    // After the first failures the lane probes one at a time; the first attempts may
    // overlap up to max_in_flight.
    assert!(hook.max_in_flight.load(Ordering::SeqCst) <= 4);
    let before = hook.requests();
    hook.max_in_flight.store(0, Ordering::SeqCst);
    wait_until("more probes", || hook.requests() >= before + 4).await;
    assert_eq!(
        hook.max_in_flight.load(Ordering::SeqCst),
        1,
        "probes overlap"
    );
    // Failed attempts are stored with their count and error.
    let stored: Vec<Entry> = store
        .kv_scan(Space::Outbox)
        .unwrap()
        .iter()
        .map(|(_, v)| Entry::decode(v).unwrap())
        .collect();
    assert_eq!(stored.len(), 12);
    assert!(
        stored
            .iter()
            .any(|e| e.attempts > 0 && e.last_error.contains("503"))
    );

    hook.status.store(200, Ordering::SeqCst);
    wait_until("the outbox to drain", || outbox.waiting().is_empty()).await;
    let answered: HashSet<String> = hook.group_keys().into_iter().collect();
    assert_eq!(answered, groups.iter().cloned().collect::<HashSet<_>>());
    assert!(store.kv_scan(Space::Outbox).unwrap().is_empty());
    assert_eq!(count(&metrics, "ops", "sent"), 12);
    assert!(count(&metrics, "ops", "retried") >= 8);
    assert_eq!(metrics.outbox_depth.lock().unwrap()["ops"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4xx_is_not_retried() {
    let (hook, url) = Hook::start(400).await;
    let (_dir, store) = store();
    let metrics = Arc::new(NotifyMetrics::default());
    let outbox = Arc::new(
        Outbox::open(
            store.clone(),
            webhook_receivers(&url),
            fast(),
            metrics.clone(),
        )
        .unwrap(),
    );
    outbox.start();
    outbox
        .enqueue(&[notification("ops", "a")], Vec::new())
        .unwrap();
    wait_until("the rejection", || count(&metrics, "ops", "rejected") == 1).await;
    assert!(outbox.waiting().is_empty());
    assert!(store.kv_scan(Space::Outbox).unwrap().is_empty());
    // Give a wrong retry every chance to happen before counting.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(hook.requests(), 1);
    assert_eq!(count(&metrics, "ops", "retried"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_left_by_a_previous_run_are_delivered() {
    let (hook, url) = Hook::start(200).await;
    let (_dir, store) = store();
    let receivers = webhook_receivers(&url);
    let first = Outbox::open(store.clone(), receivers.clone(), fast(), Arc::default()).unwrap();
    first
        .enqueue(
            &[notification("ops", "a"), notification("ops", "b")],
            Vec::new(),
        )
        .unwrap();
    drop(first); // never started: as if the collector died before any attempt

    let metrics = Arc::new(NotifyMetrics::default());
    let second = Arc::new(Outbox::open(store.clone(), receivers, fast(), metrics.clone()).unwrap());
    assert_eq!(metrics.outbox_depth.lock().unwrap()["ops"], 2);
    second.start();
    wait_until("delivery", || second.waiting().is_empty()).await;
    let mut keys = hook.group_keys();
    keys.sort();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(count(&metrics, "ops", "sent"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_not_accepted_in_time_expires() {
    let (_hook, url) = Hook::start(503).await;
    let (_dir, store) = store();
    let metrics = Arc::new(NotifyMetrics::default());
    let settings = DeliveryConfig {
        give_up_after: Duration::from_millis(300),
        ..fast()
    };
    let outbox = Arc::new(
        Outbox::open(
            store.clone(),
            webhook_receivers(&url),
            settings,
            metrics.clone(),
        )
        .unwrap(),
    );
    outbox.start();
    outbox
        .enqueue(&[notification("ops", "a")], Vec::new())
        .unwrap();
    wait_until("expiry", || count(&metrics, "ops", "expired") == 1).await;
    assert!(outbox.waiting().is_empty());
    assert!(store.kv_scan(Space::Outbox).unwrap().is_empty());
    assert_eq!(count(&metrics, "ops", "sent"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_groups_notifications_go_out_in_order_one_at_a_time() {
    let (hook, url) = Hook::start(200).await;
    let (_dir, store) = store();
    let outbox = Arc::new(
        Outbox::open(
            store.clone(),
            webhook_receivers(&url),
            fast(),
            Arc::default(),
        )
        .unwrap(),
    );
    let firing = notification("ops", "a");
    let mut resolved = notification("ops", "a");
    resolved.alerts[0].ends_at_ms = Some(1_700_000_060_000);
    let mut batch = Vec::new();
    for _ in 0..3 {
        batch.push(firing.clone());
        batch.push(resolved.clone());
    }
    outbox.enqueue(&batch, Vec::new()).unwrap();
    outbox.start();
    wait_until("delivery", || outbox.waiting().is_empty()).await;
    let statuses: Vec<String> = hook
        .bodies
        .lock()
        .unwrap()
        .iter()
        .map(|b| b["status"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        statuses,
        [
            "firing", "resolved", "firing", "resolved", "firing", "resolved"
        ]
    );
    assert_eq!(hook.max_in_flight.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attempt_of_an_entry_carries_its_stored_delivery_id_after_a_restart_too() {
    let (hook, url) = Hook::start(503).await;
    let (_dir, store) = store();
    let receivers = webhook_receivers(&url);
    let first = Outbox::open(store.clone(), receivers.clone(), fast(), Arc::default()).unwrap();
    first
        .enqueue(
            &[notification("ops", "a"), notification("ops", "b")],
            Vec::new(),
        )
        .unwrap();
    let stored: HashMap<String, String> = store
        .kv_scan(Space::Outbox)
        .unwrap()
        .iter()
        .map(|(_, v)| Entry::decode(v).unwrap())
        .map(|e| (e.notification.group_key.clone(), e.delivery))
        .collect();
    assert_ne!(stored["a"], stored["b"]);
    drop(first); // the collector stops before any attempt

    let second = Arc::new(Outbox::open(store.clone(), receivers, fast(), Arc::default()).unwrap());
    second.start();
    // A failing lane probes with its oldest entry, so "a" is the one retried.
    wait_until("two failed attempts of a", || {
        hook.group_keys().iter().filter(|k| *k == "a").count() >= 2
    })
    .await;
    hook.status.store(200, Ordering::SeqCst);
    wait_until("delivery", || second.waiting().is_empty()).await;
    let deliveries = hook.deliveries.lock().unwrap().clone();
    let keys = hook.group_keys();
    assert_eq!(keys.len(), deliveries.len());
    for (group, delivery) in keys.iter().zip(&deliveries) {
        assert_eq!(delivery, &stored[group], "group {group}");
    }
}

#[test]
fn a_wait_set_before_the_clock_went_back_an_hour_lasts_no_longer_than_the_backoff() {
    let (_dir, store) = store();
    let receivers = webhook_receivers("http://127.0.0.1:9/x");
    let outbox = Outbox::open(store, receivers, fast(), Arc::default()).unwrap();
    outbox
        .enqueue(&[notification("ops", "a")], Vec::new())
        .unwrap();
    // Due now by the clock that set it; planned by a clock an hour behind it.
    let behind = vigil_store::clock::now_ms() - 3_600_000;
    let (due, expired, wake_at) = outbox.plan(behind);
    assert!(due.is_empty() && expired.is_empty());
    assert!(
        wake_at <= behind + fast().backoff_max.as_millis() as i64,
        "it would wait {} s",
        (wake_at - behind) / 1000
    );
}
