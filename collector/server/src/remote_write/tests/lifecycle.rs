//! Remotes added, backfilled and removed.

use super::*;

#[tokio::test]
async fn a_new_remote_starts_at_the_head_without_history() {
    let store = Arc::new(MemoryStore::new());
    for b in 0..2 {
        append_batch(&store, b, 0);
    }
    let receiver = Receiver::start(Answer::Ok).await;
    let rw = start(
        &store,
        &[config(&receiver.url(), "r")],
        &Arc::new(AtomicI64::new(0)),
    )
    .await;
    append_batch(&store, 2, 0);
    eventually("the new batch arrives", || receiver.samples() == BATCH).await;
    settled(&store, "r").await;
    assert_eq!(receiver.samples(), BATCH, "nothing from before");
    assert_eq!(receiver.series(), stored(&store, 200));
    rw.shutdown().await;
}

#[tokio::test]
async fn with_backfill_a_new_remote_gets_the_history_first_then_live_data_in_order() {
    let store = Arc::new(MemoryStore::new());
    let base = now_ms();
    // Too old for the backfill of 1h, then three batches of history.
    append_batch(&store, 0, base - 3 * 3600 * 1000);
    for (b, ago_min) in [(1, 30), (2, 20), (3, 10)] {
        append_batch(&store, b, base - ago_min * 60 * 1000 - (b as i64) * 100);
    }
    let receiver = Receiver::start(Answer::Ok).await;
    let mut c = config(&receiver.url(), "r");
    c.backfill = Duration::from_secs(3600);
    let rw = start(&store, &[c], &Arc::new(AtomicI64::new(0))).await;
    // Live data, after the configuration time.
    append_batch(&store, 4, base + 60_000);
    append_batch(&store, 5, base + 60_000);
    eventually("history and live data arrive", || {
        receiver.samples() == 5 * BATCH
    })
    .await;
    settled(&store, "r").await;
    let got = receiver.series();
    strictly_in_time_order(&got);
    assert_eq!(got, stored(&store, base - 3600 * 1000));
    assert_eq!(cursor(&store, "r").unwrap().unwrap().backfill, None);
    rw.shutdown().await;
}

#[tokio::test]
async fn a_removed_remote_loses_its_cursor_and_the_log_is_trimmed() {
    let store = Arc::new(MemoryStore::new());
    let up = Receiver::start(Answer::Ok).await;
    let down = Receiver::start(Answer::Status(503, None, "down")).await;
    let offset = Arc::new(AtomicI64::new(0));
    let a = config(&up.url(), "a");
    let rw = start(&store, &[a.clone(), config(&down.url(), "b")], &offset).await;
    append_batch(&store, 0, 0);
    eventually("a gets the batch", || up.samples() == BATCH).await;
    settled(&store, "a").await;
    assert_eq!(
        store.forward_bounds().unwrap().first,
        Some(1),
        "kept for b, which has not got it"
    );
    rw.shutdown().await;

    let rw = start(&store, &[a], &offset).await;
    let names: Vec<Vec<u8>> = state::load_all(store.as_ref())
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(names, vec![b"a".to_vec()]);
    assert_eq!(store.forward_bounds().unwrap().first, None, "trimmed");
    rw.shutdown().await;

    // No remote at all: forwarding off, no cursor, nothing logged.
    let rw = start(&store, &[], &offset).await;
    assert!(state::load_all(store.as_ref()).unwrap().is_empty());
    let readable = store.forward_bounds().unwrap().readable;
    append_batch(&store, 1, 0);
    assert_eq!(store.forward_bounds().unwrap().readable, readable);
    assert!(rw.statuses().is_empty() && rw.own_series().is_empty());
    rw.shutdown().await;
}
