//! Bounds and damage: what is skipped is counted, and the rest still goes.

use super::*;
use crate::remote_write::metrics::DropReason;
use vigil_store::{KvOp, Space};

const TWO_DAYS_MS: i64 = 2 * 24 * 3600 * 1000;

/// What batch `b` of [`append_batch`] holds, keyed as the receiver keys it.
fn batches(store: &MemoryStore, keep: &[usize]) -> BTreeMap<String, Vec<(i64, f64)>> {
    stored(store, i64::MIN)
        .into_iter()
        .map(|(key, samples)| {
            let kept = samples
                .into_iter()
                .filter(|(t, _)| keep.contains(&(*t as usize / 100)))
                .collect();
            (key, kept)
        })
        .collect()
}

#[tokio::test]
async fn records_past_max_lag_are_skipped_and_counted() {
    let store = waiting_store();
    for b in 0..3 {
        append_batch(&store, b, 0);
    }
    let receiver = Receiver::start(Answer::Ok).await;
    let offset = Arc::new(AtomicI64::new(TWO_DAYS_MS));
    let mut c = config(&receiver.url(), "r");
    c.max_lag = Duration::from_secs(3600);
    let rw = start(&store, &[c], &offset).await;
    let m = rw.metrics()[0].clone();
    eventually("old records are skipped", || {
        m.samples_dropped(DropReason::MaxLag) == (3 * BATCH) as u64
    })
    .await;
    settled(&store, "r").await;
    offset.store(0, Ordering::Relaxed);
    append_batch(&store, 3, 0);
    eventually("the new batch arrives", || receiver.samples() == BATCH).await;
    assert_eq!(receiver.series(), batches(&store, &[3]));
    rw.shutdown().await;
}

#[tokio::test]
async fn a_round_retried_past_max_lag_is_given_up_and_counted() {
    let store = Arc::new(MemoryStore::new());
    let receiver = Receiver::start(Answer::Status(503, None, "down")).await;
    let offset = Arc::new(AtomicI64::new(0));
    let mut c = config(&receiver.url(), "r");
    c.max_lag = Duration::from_secs(3600);
    let rw = start(&store, &[c], &offset).await;
    let m = rw.metrics()[0].clone();
    append_batch(&store, 0, 0);
    eventually("the round is retried", || m.retries() >= 3).await;
    offset.store(TWO_DAYS_MS, Ordering::Relaxed);
    eventually("the round is given up", || {
        m.samples_dropped(DropReason::MaxLag) == BATCH as u64
    })
    .await;
    settled(&store, "r").await;
    offset.store(0, Ordering::Relaxed);
    receiver.answer(Answer::Ok);
    append_batch(&store, 1, 0);
    eventually("the next batch arrives", || receiver.samples() == BATCH).await;
    assert_eq!(receiver.series(), batches(&store, &[1]));
    rw.shutdown().await;
}

#[tokio::test]
async fn the_oldest_records_past_max_queue_bytes_are_skipped_and_counted() {
    let store = waiting_store();
    for b in 0..5 {
        append_batch(&store, b, 0);
    }
    let bounds = store.forward_bounds().unwrap();
    let records = store.forward_read(0, u64::MAX, 100).unwrap();
    assert_eq!(records.len(), 5);
    let receiver = Receiver::start(Answer::Ok).await;
    let mut c = config(&receiver.url(), "r");
    // Room for the last two records only.
    c.max_queue_bytes = bounds.bytes - records[3].offset;
    let rw = start(&store, &[c], &Arc::new(AtomicI64::new(0))).await;
    eventually("the newest records arrive", || {
        receiver.samples() == 2 * BATCH
    })
    .await;
    let m = &rw.metrics()[0];
    assert_eq!(m.samples_dropped(DropReason::MaxBytes), (3 * BATCH) as u64);
    assert_eq!(receiver.series(), batches(&store, &[3, 4]));
    rw.shutdown().await;
}

#[tokio::test]
async fn a_round_retried_while_the_log_passes_max_queue_bytes_is_given_up_and_counted() {
    // The size of one batch's record, from a scratch store.
    let scratch = MemoryStore::new();
    scratch.set_forwarding(true).unwrap();
    append_batch(&scratch, 0, 0);
    let one = scratch.forward_bounds().unwrap().bytes;
    let store = Arc::new(MemoryStore::new());
    let receiver = Receiver::start(Answer::Status(503, None, "down")).await;
    let mut c = config(&receiver.url(), "r");
    // Room for two records and a half.
    c.max_queue_bytes = one * 5 / 2;
    let rw = start(&store, &[c], &Arc::new(AtomicI64::new(0))).await;
    let m = rw.metrics()[0].clone();
    append_batch(&store, 0, 0);
    eventually("the round is retried", || m.retries() >= 2).await;
    for b in 1..4 {
        append_batch(&store, b, 0);
    }
    eventually("the round is given up", || {
        m.samples_dropped(DropReason::MaxBytes) >= BATCH as u64
    })
    .await;
    receiver.answer(Answer::Ok);
    eventually("the newest records arrive", || {
        receiver.samples() == 2 * BATCH
    })
    .await;
    // Batch 0 given up while retried, batch 1 skipped before the next round.
    assert_eq!(m.samples_dropped(DropReason::MaxBytes), (2 * BATCH) as u64);
    assert_eq!(m.samples_dropped(DropReason::MaxLag), 0);
    assert_eq!(receiver.series(), batches(&store, &[2, 3]));
    rw.shutdown().await;
}

#[tokio::test]
async fn a_damaged_record_is_skipped_and_counted() {
    let store = waiting_store();
    for b in 0..3 {
        append_batch(&store, b, 0);
    }
    let mut value = Vec::new();
    let lost = SeriesSamples {
        id: 1,
        samples: vec![(150, 1.0), (160, 2.0), (170, 3.0), (180, 4.0)],
    };
    vigil_store::forward::encode(&[lost], now_ms(), 0, &mut value);
    *value.last_mut().unwrap() ^= 0xff;
    store.damage_forward_record(2, &value);
    let receiver = Receiver::start(Answer::Ok).await;
    let rw = start(
        &store,
        &[config(&receiver.url(), "r")],
        &Arc::new(AtomicI64::new(0)),
    )
    .await;
    eventually("the other records arrive", || {
        receiver.samples() == 2 * BATCH
    })
    .await;
    settled(&store, "r").await;
    assert_eq!(rw.metrics()[0].samples_dropped(DropReason::Damaged), 4);
    let got = receiver.series();
    strictly_in_time_order(&got);
    assert_eq!(got, batches(&store, &[0, 2]));
    rw.shutdown().await;
}

#[tokio::test]
async fn a_damaged_cursor_is_reset_to_the_oldest_record_and_counted() {
    let store = Arc::new(MemoryStore::new());
    store.set_forwarding(true).unwrap();
    for b in 0..2 {
        append_batch(&store, b, 0);
    }
    store
        .kv_write(&[KvOp::put(Space::RemoteWrite, "r", "not a cursor")])
        .unwrap();
    let receiver = Receiver::start(Answer::Ok).await;
    let rw = start(
        &store,
        &[config(&receiver.url(), "r")],
        &Arc::new(AtomicI64::new(0)),
    )
    .await;
    assert_eq!(rw.metrics()[0].cursor_resets(), 1);
    eventually("the kept records are sent", || {
        receiver.samples() == 2 * BATCH
    })
    .await;
    settled(&store, "r").await;
    assert_eq!(receiver.series(), stored(&store, i64::MIN));
    let resets = rw
        .own_series()
        .into_iter()
        .find(|s| s.name == "vigil_remote_write_cursor_resets_total")
        .unwrap();
    assert_eq!(resets.value, 1.0);
    rw.shutdown().await;
}
