//! The forwarder against a test receiver on 127.0.0.1, over the in-memory store.

mod bounds;
mod lifecycle;
mod receiver;

use super::config::RemoteWriteConfig;
use super::metrics::Code;
use super::state::{self, Cursor};
use super::*;
use receiver::{Answer, Receiver};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::Duration;
use vigil_store::clock::now_ms;
use vigil_store::memory::MemoryStore;
use vigil_store::{Labels, SeriesSamples};

/// Series per batch, samples per series per batch.
const SERIES: usize = 6;
const PER_SERIES: usize = 3;
const BATCH: usize = SERIES * PER_SERIES;

fn config(url: &str, name: &str) -> RemoteWriteConfig {
    RemoteWriteConfig {
        name: Some(name.into()),
        url: url.into(),
        batch_size: 7,
        concurrency: 3,
        timeout: Duration::from_secs(10),
        min_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        external_labels: [("site".to_owned(), "a".to_owned())].into(),
        ..RemoteWriteConfig::default()
    }
}

/// The test clock: the wall clock moved by `offset` ms (the store writes records at
/// the wall clock).
fn clock(offset: &Arc<AtomicI64>) -> Clock {
    let offset = offset.clone();
    Arc::new(move || now_ms() + offset.load(Ordering::Relaxed))
}

async fn start(
    store: &Arc<MemoryStore>,
    configs: &[RemoteWriteConfig],
    offset: &Arc<AtomicI64>,
) -> Arc<RemoteWrite> {
    let store: Arc<dyn Store> = store.clone();
    RemoteWrite::start(store, configs, clock(offset))
        .await
        .unwrap()
}

/// The key the receiver files series `n` under.
fn key(n: usize) -> String {
    format!("__name__=m,host=h,series={n},site=a")
}

/// Appends batch `b` as one call: series 0..SERIES, PER_SERIES samples each at
/// `base + b*100 + k*10` (series 0's in reverse order, as an import may write them).
fn append_batch(store: &MemoryStore, b: usize, base: i64) {
    let labels: Vec<Labels> = (0..SERIES)
        .map(|n| {
            Labels::from_pairs(&[("__name__", "m"), ("host", "h"), ("series", &n.to_string())])
        })
        .collect();
    let ids = store.resolve_series("h", &labels, u64::MAX).unwrap();
    let batch: Vec<SeriesSamples> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| {
            let mut samples: Vec<(i64, f64)> = (0..PER_SERIES)
                .map(|k| {
                    let t = base + (b * 100 + k * 10) as i64;
                    (t, (b * 1000 + n * 10 + k) as f64 + 0.25)
                })
                .collect();
            if n == 0 {
                samples.reverse();
            }
            SeriesSamples { id: *id, samples }
        })
        .collect();
    store.append(&batch).unwrap();
}

/// What the store holds per series (keyed as the receiver keys them), from `from` on.
fn stored(store: &MemoryStore, from: i64) -> BTreeMap<String, Vec<(i64, f64)>> {
    let mut out = BTreeMap::new();
    for (id, labels) in store.series_after(None, 1000).unwrap() {
        let n: usize = labels.get("series").parse().unwrap();
        let mut samples = Vec::new();
        store.samples(id, from, i64::MAX, &mut samples).unwrap();
        out.insert(key(n), samples);
    }
    out
}

/// Waits (polling) until `done` holds; fails naming `what` after a minute.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..6000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

fn cursor(store: &MemoryStore, name: &str) -> Option<Result<Cursor, String>> {
    state::load_all(store)
        .unwrap()
        .into_iter()
        .find(|(k, _)| k.as_slice() == name.as_bytes())
        .map(|(_, c)| c)
}

/// A store with forwarding on and remote `r`'s cursor at the start of the log, so what
/// is appended before the forwarder starts is waiting for it.
pub(super) fn waiting_store() -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    store.set_forwarding(true).unwrap();
    let start = Cursor {
        done: 0,
        round_end: 0,
        configured_ms: now_ms(),
        backfill: None,
        progress: Vec::new(),
    };
    state::save(store.as_ref(), "r", &start).unwrap();
    store
}

/// Waits until remote `name` has everything readable delivered and no round in flight.
async fn settled(store: &MemoryStore, name: &str) {
    eventually("the cursor reaches the end of the log", || {
        let readable = store.forward_bounds().unwrap().readable;
        matches!(cursor(store, name), Some(Ok(c)) if c.done == readable && c.round_end == 0)
    })
    .await;
}

fn strictly_in_time_order(series: &BTreeMap<String, Vec<(i64, f64)>>) {
    for (key, samples) in series {
        assert!(
            samples.windows(2).all(|w| w[0].0 < w[1].0),
            "{key} out of order or doubled: {samples:?}"
        );
    }
}

#[tokio::test]
async fn forwards_exactly_what_is_stored_each_series_in_time_order() {
    let store = Arc::new(MemoryStore::new());
    let receiver = Receiver::start(Answer::Ok).await;
    let offset = Arc::new(AtomicI64::new(0));
    let rw = start(&store, &[config(&receiver.url(), "r")], &offset).await;
    for b in 0..10 {
        append_batch(&store, b, 0);
    }
    eventually("all samples arrive", || receiver.samples() == 10 * BATCH).await;
    let got = receiver.series();
    strictly_in_time_order(&got);
    assert_eq!(got, stored(&store, i64::MIN));
    for request in &receiver.log().accepted {
        let samples: usize = request.timeseries.iter().map(|t| t.samples.len()).sum();
        assert!(samples <= 7, "batch_size is 7, a request held {samples}");
    }
    let m = &rw.metrics()[0];
    assert_eq!(m.samples_sent(), (10 * BATCH) as u64);
    assert_eq!(
        m.requests(Code::Success),
        receiver.log().accepted.len() as u64
    );
    settled(&store, "r").await;
    let status = &rw.statuses()[0];
    assert_eq!((status.name.as_str(), status.samples_sent), ("r", 180));
    assert!(status.last_success_ms > 0);
    let own = rw.own_series();
    let sent = own
        .iter()
        .find(|s| s.name == "vigil_remote_write_samples_sent_total")
        .unwrap();
    assert_eq!((sent.value, &sent.labels[0].1[..]), (180.0, "r"));
    rw.shutdown().await;
}

#[tokio::test]
async fn a_receiver_down_then_up_gets_everything_in_order_without_gaps() {
    let store = Arc::new(MemoryStore::new());
    let offset = Arc::new(AtomicI64::new(0));
    let addr = {
        let probe = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        probe.local_addr().unwrap()
    };
    let url = format!("http://{addr}/api/v1/write");
    let rw = start(&store, &[config(&url, "r")], &offset).await;
    for b in 0..5 {
        append_batch(&store, b, 0);
    }
    let m = rw.metrics()[0].clone();
    eventually("connections are refused and retried", || {
        m.requests(Code::Error) >= 3
    })
    .await;
    // An hour later, still down: the lag shows it, and the queue.
    offset.store(3_600_000, Ordering::Relaxed);
    let status = &rw.statuses()[0];
    assert_eq!(status.state, "retrying");
    assert!(
        status.last_error.contains("connect"),
        "{}",
        status.last_error
    );
    assert!(status.lag_seconds >= 3600.0, "{}", status.lag_seconds);
    assert!(status.queue_bytes > 0);
    offset.store(0, Ordering::Relaxed);
    for b in 5..10 {
        append_batch(&store, b, 0);
    }
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let receiver = Receiver::on(listener, Answer::Ok);
    receiver.log().script.extend([
        Answer::Status(503, None, "starting"),
        Answer::Status(503, None, "starting"),
    ]);
    eventually("all samples arrive", || receiver.samples() == 10 * BATCH).await;
    let got = receiver.series();
    strictly_in_time_order(&got);
    assert_eq!(got, stored(&store, i64::MIN));
    assert_eq!(m.requests(Code::ServerError), 2);
    assert!(m.retries() >= 5);
    assert_eq!(m.samples_dropped(metrics::DropReason::OutOfOrder), 0);
    rw.shutdown().await;
}

#[tokio::test]
async fn after_a_restart_the_round_in_flight_is_resent_as_the_same_requests() {
    let store = Arc::new(MemoryStore::new());
    let receiver = Receiver::start(Answer::Status(503, None, "down")).await;
    let offset = Arc::new(AtomicI64::new(0));
    let mut c = config(&receiver.url(), "r");
    c.batch_size = 1000;
    c.concurrency = 2;
    let rw = start(&store, std::slice::from_ref(&c), &offset).await;
    append_batch(&store, 0, 0);
    eventually("the round is tried", || receiver.log().seen.len() >= 6).await;
    // Written while the round is retried: after the round's end, so not in it.
    append_batch(&store, 1, 0);
    rw.shutdown().await;
    let in_flight = cursor(&store, "r").unwrap().unwrap();
    assert_eq!((in_flight.done, in_flight.round_end), (0, 1));
    let before: HashSet<Vec<u8>> = receiver.log().seen.iter().map(|s| s.1.clone()).collect();
    let seen_before = receiver.log().seen.len();
    receiver.answer(Answer::Ok);

    let rw = start(&store, &[c], &offset).await;
    eventually("all samples arrive", || receiver.samples() == 2 * BATCH).await;
    let after: HashSet<Vec<u8>> = receiver.log().seen[seen_before..]
        .iter()
        .map(|s| s.1.clone())
        .collect();
    assert!(
        before.is_subset(&after),
        "the requests of the round in flight are sent again unchanged"
    );
    let got = receiver.series();
    strictly_in_time_order(&got);
    assert_eq!(got, stored(&store, i64::MIN));
    rw.shutdown().await;
}

/// A round of two batches (each series in two requests), its first `finished` requests
/// answered before a restart and the rest retried; restarted with `batch_size`. What the
/// receiver accepted before and after the restart.
async fn restart_mid_round(finished: usize, batch_size: usize) -> (Receiver, Vec<Vec<u8>>) {
    let store = waiting_store();
    append_batch(&store, 0, 0);
    append_batch(&store, 1, 0);
    let receiver = Receiver::start(Answer::Status(503, None, "down")).await;
    receiver.log().script.extend(vec![Answer::Ok; finished]);
    let offset = Arc::new(AtomicI64::new(0));
    let mut c = config(&receiver.url(), "r");
    c.concurrency = 1;
    let rw = start(&store, std::slice::from_ref(&c), &offset).await;
    eventually("the round is retried", || {
        receiver.log().seen.len() >= finished + 3
    })
    .await;
    rw.shutdown().await;
    let in_flight = cursor(&store, "r").unwrap().unwrap();
    assert_eq!((in_flight.done, in_flight.round_end), (0, 2));
    assert_eq!(in_flight.progress.len(), 1);
    assert_eq!(in_flight.progress[0].requests as usize, finished);
    let before: Vec<Vec<u8>> = receiver.log().seen[..finished]
        .iter()
        .map(|s| s.1.clone())
        .collect();
    receiver.answer(Answer::Ok);

    c.batch_size = batch_size;
    let rw = start(&store, &[c], &offset).await;
    settled(&store, "r").await;
    rw.shutdown().await;
    assert!(
        cursor(&store, "r").unwrap().unwrap().progress.is_empty(),
        "no progress is kept once the round is done"
    );
    let mut expected = stored(&store, i64::MIN);
    for samples in expected.values_mut() {
        samples.sort_by_key(|s| s.0);
    }
    let got = receiver.series();
    let mut arrived = got.clone();
    for samples in arrived.values_mut() {
        samples.sort_by_key(|s| s.0);
        samples.dedup();
    }
    assert_eq!(arrived, expected, "every sample arrives");
    (receiver, before)
}

#[tokio::test]
async fn after_a_restart_the_requests_answered_in_the_round_in_flight_are_not_sent_again() {
    let (receiver, before) = restart_mid_round(2, 7).await;
    let seen = receiver.log().seen.clone();
    for body in &before {
        assert_eq!(
            seen.iter().filter(|s| &s.1 == body).count(),
            1,
            "an answered request is sent once"
        );
    }
    // Each series' samples arrive once and in time order: a Prometheus receiver, which
    // refuses a sample older than its newest, takes them all.
    strictly_in_time_order(&receiver.series());
    assert_eq!(receiver.samples(), 2 * BATCH);
}

#[tokio::test]
async fn a_round_planned_otherwise_after_a_restart_is_sent_again_whole() {
    // batch_size 7 before, 5 after: the first requests are not those answered, so
    // the round goes again from its first (at least once) rather than leaving any out.
    let (receiver, _) = restart_mid_round(2, 5).await;
    assert_eq!(receiver.samples(), 2 * BATCH + 14);
}

#[tokio::test]
async fn a_refusing_receiver_gets_each_batch_once_and_the_count_shows_it() {
    let store = Arc::new(MemoryStore::new());
    let receiver = Receiver::start(Answer::Status(400, None, "out of order sample")).await;
    let offset = Arc::new(AtomicI64::new(0));
    let rw = start(&store, &[config(&receiver.url(), "r")], &offset).await;
    for b in 0..5 {
        append_batch(&store, b, 0);
    }
    let m = rw.metrics()[0].clone();
    eventually("every sample is refused", || {
        m.samples_failed() == (5 * BATCH) as u64
    })
    .await;
    settled(&store, "r").await;
    let seen: Vec<Vec<u8>> = receiver.log().seen.iter().map(|s| s.1.clone()).collect();
    let distinct: HashSet<&Vec<u8>> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "no request is sent twice");
    assert_eq!(m.requests(Code::Refused), seen.len() as u64);
    assert_eq!((m.retries(), m.samples_sent()), (0, 0));
    assert!(rw.statuses()[0].last_error.contains("out of order sample"));
    rw.shutdown().await;
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let store = Arc::new(MemoryStore::new());
    let receiver = Receiver::start(Answer::Ok).await;
    receiver
        .log()
        .script
        .push_back(Answer::Status(429, Some("1"), "slow down"));
    let offset = Arc::new(AtomicI64::new(0));
    let mut c = config(&receiver.url(), "r");
    c.concurrency = 1;
    c.batch_size = 1000;
    let rw = start(&store, &[c], &offset).await;
    append_batch(&store, 0, 0);
    eventually("the batch arrives", || receiver.samples() == BATCH).await;
    let seen = receiver.log().seen.clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].1, seen[1].1, "the same request again");
    let waited = seen[1].0 - seen[0].0;
    assert!(waited >= Duration::from_secs(1), "waited only {waited:?}");
    let m = &rw.metrics()[0];
    assert_eq!((m.requests(Code::TooMany), m.retries()), (1, 1));
    rw.shutdown().await;
}
