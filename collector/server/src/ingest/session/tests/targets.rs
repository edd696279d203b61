//! Prometheus' target labels (`job`, `instance`), `up` and `[[relabel]]` on ingest.

use super::*;
use crate::relabel::RelabelConfig;
use crate::up::stored;

#[test]
fn series_carry_job_and_instance_and_each_round_writes_up_1() {
    let (mut session, store, _) = session(Limits::default());
    let ack = session
        .handle(
            Batch {
                metadata: Vec::new(),
                seq: 1,
                definitions: vec![def(1, "node_load1")],
                scrapes: vec![scrape(NOW - 10_000, &[1]), scrape(NOW, &[1])],
                sent_ms: 0,
            },
            NOW,
        )
        .unwrap();
    assert_eq!((ack.accepted_samples, ack.rejected_samples), (2, 0));
    let load = stored(store.as_ref(), "node_load1");
    assert_eq!(
        load[0].0,
        Labels::from_pairs(&[
            ("__name__", "node_load1"),
            ("env", "prod"),
            ("host", "web-1"),
            ("instance", "web-1"),
            ("job", "node"),
        ])
    );
    let up = stored(store.as_ref(), "up");
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].0.get("job"), "node");
    assert_eq!(up[0].1, vec![(NOW - 10_000, 1.0), (NOW, 1.0)]);
}

#[test]
fn the_agents_job_and_instance_win() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let mut hello = good_hello("web-1");
    for (name, value) in [("job", "edge"), ("instance", "web-1.example:9100")] {
        hello.labels.push(Label {
            name: name.into(),
            value: value.into(),
        });
    }
    let mut session = Session::new(
        "web-1".into(),
        &hello,
        store.clone(),
        Arc::new(Limits::default()),
        Arc::new(Counters::default()),
    );
    session
        .handle(
            Batch {
                metadata: Vec::new(),
                seq: 1,
                definitions: vec![def(1, "node_load1")],
                scrapes: vec![scrape(NOW, &[1])],
                sent_ms: 0,
            },
            NOW,
        )
        .unwrap();
    let up = stored(store.as_ref(), "up{job=\"edge\"}");
    assert_eq!(up[0].0.get("instance"), "web-1.example:9100");
}

#[test]
fn relabelling_renames_drops_and_refuses_by_name() {
    let (session, store, counters) = session(Limits::default());
    let relabel = crate::relabel::Relabeler::new(&[
        RelabelConfig {
            source_labels: vec!["env".into()],
            target_label: "environment".into(),
            ..RelabelConfig::default()
        },
        RelabelConfig {
            action: crate::relabel::Action::Labeldrop,
            regex: "env".into(),
            ..RelabelConfig::default()
        },
        RelabelConfig {
            action: crate::relabel::Action::Drop,
            source_labels: vec!["__name__".into()],
            regex: "node_scrape_.*".into(),
            ..RelabelConfig::default()
        },
        RelabelConfig {
            source_labels: vec!["__name__".into()],
            regex: "bad_(.*)".into(),
            target_label: "__name__".into(),
            replacement: "".into(),
            ..RelabelConfig::default()
        },
    ])
    .unwrap();
    let mut session = session.with_relabel(Arc::new(relabel));
    let ack = session
        .handle(
            Batch {
                metadata: Vec::new(),
                seq: 1,
                definitions: vec![
                    def(1, "node_load1"),
                    def(2, "node_scrape_collector_success"),
                    def(3, "bad_metric"),
                ],
                scrapes: vec![scrape(NOW, &[1, 2, 3])],
                sent_ms: 0,
            },
            NOW,
        )
        .unwrap();
    // The dropped series' sample is taken (the agent did nothing wrong); the one relabelling
    // left without a name is refused, naming the series as the agent defined it and
    // [[relabel]].
    assert_eq!((ack.accepted_samples, ack.rejected_samples), (2, 1));
    let message = ack.rejection.unwrap().message;
    assert!(
        message.contains("[[relabel]]") && message.contains("\"bad_metric\""),
        "the refusal names the series and says where to look: {message}"
    );
    assert_eq!(
        counters.relabel_dropped.load(Ordering::Relaxed),
        1,
        "dropped samples are counted"
    );
    let load = stored(store.as_ref(), "node_load1");
    assert_eq!(load[0].0.get("environment"), "prod");
    assert_eq!(load[0].0.get("env"), "");
    assert!(stored(store.as_ref(), "node_scrape_collector_success").is_empty());
    assert_eq!(stored(store.as_ref(), "up")[0].0.get("environment"), "prod");
}

#[test]
fn up_is_created_with_the_first_definitions_within_the_hosts_limit() {
    // A new stream's first batch, its three series and `up` under a limit of `max`.
    let first_batch = |max| {
        let (mut s, store, counters) = session(Limits {
            max_series_per_host: max,
            ..Limits::default()
        });
        let batch = Batch {
            metadata: Vec::new(),
            seq: 1,
            definitions: vec![def(1, "a"), def(2, "b"), def(3, "c")],
            scrapes: vec![scrape(NOW, &[1, 2, 3])],
            sent_ms: 0,
        };
        let ack = s.handle(batch, NOW).unwrap();
        let up = stored(store.as_ref(), "up");
        let count = store.series_count("web-1").unwrap();
        (
            (ack.accepted_samples, ack.rejected_samples),
            up,
            count,
            counters,
        )
    };
    // Room for the three series and `up`: all four, in one creation.
    let (acked, up, count, _) = first_batch(4);
    assert_eq!(acked, (3, 0));
    assert_eq!(up[0].1, vec![(NOW, 1.0)]);
    assert_eq!(count, 4);
    // Room for two: the first two series, and neither the third nor `up` (as when `up`
    // came after the series on its own).
    let (acked, up, count, counters) = first_batch(2);
    assert_eq!(acked, (2, 1));
    assert_eq!(rejected(&counters, "series_limit"), 2);
    assert!(up.is_empty());
    assert_eq!(count, 2);
    // Room for exactly the three series: `up` does not take the place of one.
    let (acked, up, count, _) = first_batch(3);
    assert_eq!(acked, (3, 0));
    assert!(up.is_empty());
    assert_eq!(count, 3);
}
