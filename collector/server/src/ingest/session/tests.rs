//! The bounds a stream keeps: its Hello's fields and interval, its series ids, and how old
//! a live sample may be; each refusal names its limit, and the stream goes on.

use super::*;
use tonic::Code;
use vigil_proto::v1::{Label, Scrape, SeriesDefinition};
use vigil_store::memory::MemoryStore;

const NOW: i64 = 1_800_000_000_000;

fn good_hello(host: &str) -> Hello {
    Hello {
        hostname: host.to_owned(),
        os: "Debian GNU/Linux 12 (bookworm)".into(),
        agent_version: "0.1.0".into(),
        interval_ms: 10_000,
        labels: vec![Label {
            name: "env".into(),
            value: "prod".into(),
        }],
        ..Hello::default()
    }
}

fn check(hello: &Hello, limits: &Limits) -> Result<String, Violation> {
    check_hello(hello, &Caller::anonymous(None), limits)
}

fn refused(hello: &Hello, limits: &Limits) -> Violation {
    check(hello, limits).expect_err("the hello must be refused")
}

#[test]
fn hello_fields_are_bounded_and_named() {
    let l = Limits::default();
    assert_eq!(check(&good_hello(" web-1 "), &l).unwrap(), "web-1");

    let v = refused(&good_hello(&"h".repeat(100_000)), &l);
    assert_eq!((v.code(), v.reason), (Code::InvalidArgument, "bad_hello"));
    assert!(
        v.message.contains("100000 bytes, over the limit of 253") && v.message.len() < 300,
        "{}",
        v.message
    );
    assert!(check(&good_hello(&"h".repeat(253)), &l).is_ok());
    assert!(
        refused(&good_hello("a b"), &l)
            .message
            .contains("not a valid host name")
    );

    for field in [
        "agent_version",
        "os",
        "kernel",
        "arch",
        "cpu_model",
        "machine_id",
    ] {
        let mut hello = good_hello("web-1");
        let big = "x".repeat(l.max_label_value_bytes + 1);
        match field {
            "agent_version" => hello.agent_version = big,
            "os" => hello.os = big,
            "kernel" => hello.kernel = big,
            "arch" => hello.arch = big,
            "cpu_model" => hello.cpu_model = big,
            _ => hello.machine_id = big,
        }
        let v = refused(&hello, &l);
        assert!(
            v.message
                .contains(&format!("hello field {field} is 2049 bytes"))
                && v.message.contains("limits.max_label_value_bytes"),
            "{}",
            v.message
        );
    }

    let mut hello = good_hello("web-1");
    hello.labels = (0..31)
        .map(|i| Label {
            name: format!("l{i}"),
            value: "v".into(),
        })
        .collect();
    let v = refused(&hello, &l);
    assert_eq!(v.reason, "too_many_labels");
    assert!(
        v.message.contains("limits.max_labels_per_series (32)"),
        "{}",
        v.message
    );
    hello.labels.truncate(30);
    assert!(check(&hello, &l).is_ok());

    let mut hello = good_hello("web-1");
    hello.labels[0].value = "v".repeat(l.max_label_value_bytes + 1);
    assert_eq!(refused(&hello, &l).reason, "label_too_long");
    let mut hello = good_hello("web-1");
    hello.labels[0].name = "n".repeat(l.max_label_name_bytes + 1);
    assert_eq!(refused(&hello, &l).reason, "label_too_long");
    let mut hello = good_hello("web-1");
    hello.labels.push(hello.labels[0].clone());
    assert_eq!(refused(&hello, &l).reason, "duplicate_label");
}

#[test]
fn the_announced_interval_must_be_in_range() {
    let l = Limits::default();
    for bad in [0, 99, 86_400_001, u64::MAX] {
        let mut hello = good_hello("web-1");
        hello.interval_ms = bad;
        let v = refused(&hello, &l);
        assert_eq!((v.code(), v.reason), (Code::OutOfRange, "bad_interval"));
        assert!(
            v.message.contains(&format!("{bad} ms")) && v.message.contains("accepts 100ms to 1d"),
            "{}",
            v.message
        );
    }
    for good in [100, 1000, 3_600_000, 86_400_000] {
        let mut hello = good_hello("web-1");
        hello.interval_ms = good;
        assert!(check(&hello, &l).is_ok(), "{good}");
    }
}

fn session(limits: Limits) -> (Session, Arc<dyn Store>, Arc<Counters>) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let counters = Arc::new(Counters::default());
    let session = Session::new(
        "web-1".into(),
        &good_hello("web-1"),
        store.clone(),
        Arc::new(limits),
        counters.clone(),
    );
    (session, store, counters)
}

fn def(id: u64, name: &str) -> SeriesDefinition {
    SeriesDefinition {
        id,
        name: name.into(),
        labels: Vec::new(),
    }
}

fn scrape(ts: i64, ids: &[u64]) -> Scrape {
    Scrape {
        timestamp_ms: ts,
        series_ids: ids.to_vec(),
        values: ids.iter().map(|&id| id as f64).collect(),
        packed: Vec::new(),
    }
}

fn rejected(counters: &Counters, reason: &str) -> u64 {
    counters
        .rejected
        .lock()
        .unwrap()
        .get(reason)
        .copied()
        .unwrap_or(0)
}

#[test]
fn series_ids_per_stream_are_capped_and_the_stream_goes_on() {
    let (mut session, store, counters) = session(Limits {
        max_series_ids_per_stream: 10,
        ..Limits::default()
    });
    // A client defining new ids for one series, without end.
    let ids: Vec<u64> = (1..=25).collect();
    let ack = session
        .handle(
            Batch {
                metadata: Vec::new(),
                seq: 1,
                definitions: ids.iter().map(|&id| def(id, "churn")).collect(),
                scrapes: vec![scrape(NOW, &ids)],
                sent_ms: 0,
            },
            NOW,
        )
        .unwrap();
    assert_eq!((ack.accepted_samples, ack.rejected_samples), (10, 15));
    let rejection = ack.rejection.unwrap();
    assert_eq!(rejection.code, Code::ResourceExhausted as i32);
    assert!(
        rejection
            .message
            .contains("defined 10 series ids, limits.max_series_ids_per_stream"),
        "{}",
        rejection.message
    );
    assert_eq!(
        session.ids.len() + session.refused.len(),
        10,
        "memory stays bounded"
    );
    assert!(rejected(&counters, "series_ids_per_stream") >= 15);

    // More new ids: still refused, still bounded; known ids keep working and may be
    // redefined.
    let ack = session
        .handle(
            Batch {
                metadata: Vec::new(),
                seq: 2,
                definitions: vec![def(100, "more"), def(3, "renamed")],
                scrapes: vec![scrape(NOW + 1000, &[1, 3, 100])],
                sent_ms: 0,
            },
            NOW,
        )
        .unwrap();
    assert_eq!((ack.accepted_samples, ack.rejected_samples), (2, 1));
    assert_eq!(session.ids.len() + session.refused.len(), 10);
    assert_eq!(
        store.series_count("web-1").unwrap(),
        3,
        "churn, renamed, and the host's up"
    );
}

#[test]
fn live_samples_older_than_max_past_are_refused_by_name() {
    let (mut session, _store, counters) = session(Limits {
        max_past: std::time::Duration::from_secs(3600),
        ..Limits::default()
    });
    let ack = session
        .handle(
            Batch {
                metadata: Vec::new(),
                seq: 1,
                definitions: vec![def(1, "up")],
                scrapes: vec![
                    scrape(NOW - 3_600_001, &[1]),
                    scrape(NOW - 3_600_000, &[1]),
                    scrape(NOW, &[1]),
                ],
                sent_ms: 0,
            },
            NOW,
        )
        .unwrap();
    assert_eq!((ack.accepted_samples, ack.rejected_samples), (2, 1));
    let rejection = ack.rejection.unwrap();
    assert_eq!(rejection.code, Code::OutOfRange as i32);
    assert!(
        rejection
            .message
            .contains("older than limits.max_past (1h)"),
        "{}",
        rejection.message
    );
    assert_eq!(rejected(&counters, "old_timestamp"), 1);
}

fn compact(ts: i64, ids: &[u64], packed: &[u8]) -> Scrape {
    Scrape {
        timestamp_ms: ts,
        series_ids: ids.to_vec(),
        values: Vec::new(),
        packed: packed.to_vec(),
    }
}

fn stored(session: &Session, store: &Arc<dyn Store>, local: u64) -> Vec<(i64, u64)> {
    let mut out = Vec::new();
    store
        .samples(session.ids[&local], 0, i64::MAX, &mut out)
        .unwrap();
    out.into_iter().map(|(t, v)| (t, v.to_bits())).collect()
}

#[test]
fn compact_scrapes_are_stored_exactly_beside_plain_ones() {
    let (mut session, store, _counters) = session(Limits::default());
    // The example of ingest.proto: 0.5, 1024, -0.0, then 0.75, 9216, -0.0.
    let first = compact(
        NOW,
        &[1, 2, 3],
        &[
            0x00, 0x03, 0x00, 0x0b, 0x0a, 0x07, 0x80, 0x10, 0x03, 0, 0, 0, 0, 0, 0, 0, 0x80,
        ],
    );
    let ack = session
        .handle(
            Batch {
                metadata: Vec::new(),
                seq: 1,
                definitions: vec![def(1, "a"), def(2, "b"), def(3, "c")],
                scrapes: vec![first],
                sent_ms: 0,
            },
            NOW,
        )
        .unwrap();
    assert_eq!((ack.accepted_samples, ack.rejected_samples), (3, 0));
    // A plain scrape in between neither uses nor changes the compact state.
    let ack = session
        .handle(
            Batch {
                metadata: Vec::new(),
                seq: 2,
                definitions: Vec::new(),
                scrapes: vec![
                    scrape(NOW + 500, &[1]),
                    compact(NOW + 1000, &[], &[0x01, 0x03, 0x04, 0x0f, 0x32, 0x11]),
                ],
                sent_ms: 0,
            },
            NOW,
        )
        .unwrap();
    assert_eq!((ack.accepted_samples, ack.rejected_samples), (4, 0));
    assert_eq!(
        stored(&session, &store, 1),
        vec![
            (NOW, 0.5f64.to_bits()),
            (NOW + 500, 1f64.to_bits()),
            (NOW + 1000, 0.75f64.to_bits())
        ]
    );
    assert_eq!(
        stored(&session, &store, 3),
        vec![
            (NOW, (-0.0f64).to_bits()),
            (NOW + 1000, (-0.0f64).to_bits())
        ]
    );
    assert_eq!(
        stored(&session, &store, 2)[1],
        (NOW + 1000, 9216f64.to_bits())
    );
}

#[test]
fn refused_samples_of_a_compact_scrape_still_move_its_state_on() {
    let (mut session, store, counters) = session(Limits::default());
    let ids = [1, 2];
    let batch = |seq, ts, scrape| Batch {
        metadata: Vec::new(),
        seq,
        definitions: vec![def(1, "a")],
        scrapes: vec![compact(ts, if seq == 1 { &ids } else { &[] }, scrape)],
        sent_ms: 0,
    };
    // Series 2 is never defined, and the second scrape is too old: refused, but read.
    let ack = session
        .handle(
            batch(1, NOW, &[0x00, 0x02, 0x00, 0x07, 0x02, 0x07, 0x04]),
            NOW,
        )
        .unwrap();
    assert_eq!((ack.accepted_samples, ack.rejected_samples), (1, 1));
    let ack = session
        .handle(batch(2, 0, &[0x01, 0x02, 0x02, 0x04]), NOW)
        .unwrap();
    assert_eq!((ack.accepted_samples, ack.rejected_samples), (0, 2));
    assert_eq!(rejected(&counters, "old_timestamp"), 2);
    // +1 on top of batch 2's +1: 3.
    let ack = session
        .handle(batch(3, NOW + 2000, &[0x01, 0x02, 0x02, 0x04]), NOW)
        .unwrap();
    assert_eq!(ack.accepted_samples, 1);
    assert_eq!(
        stored(&session, &store, 1),
        vec![(NOW, 1f64.to_bits()), (NOW + 2000, 3f64.to_bits())]
    );
}

#[test]
fn a_garbled_compact_scrape_is_refused_and_the_stream_goes_on() {
    let (mut session, store, counters) = session(Limits::default());
    let ack = session
        .handle(
            Batch {
                metadata: Vec::new(),
                seq: 1,
                definitions: vec![def(1, "a")],
                scrapes: vec![compact(NOW, &[1], &[0x00, 0x01, 0x00, 0x07])],
                sent_ms: 0,
            },
            NOW,
        )
        .unwrap();
    assert_eq!((ack.accepted_samples, ack.rejected_samples), (0, 1));
    let rejection = ack.rejection.unwrap();
    assert_eq!(rejection.code, Code::InvalidArgument as i32);
    assert!(
        rejection
            .message
            .starts_with("batch 1 scrape 0: Scrape.packed is cut short at sample 0 (series id 1)"),
        "{}",
        rejection.message
    );
    assert_eq!(rejected(&counters, "bad_packed_scrape"), 1);
    // Later compact scrapes cannot be trusted; plain ones are stored as ever.
    let ack = session
        .handle(
            Batch {
                metadata: Vec::new(),
                seq: 2,
                definitions: Vec::new(),
                scrapes: vec![
                    compact(NOW + 1000, &[], &[0x01, 0x01, 0x01]),
                    scrape(NOW + 1000, &[1]),
                ],
                sent_ms: 0,
            },
            NOW,
        )
        .unwrap();
    assert_eq!((ack.accepted_samples, ack.rejected_samples), (1, 1));
    assert!(
        ack.rejection
            .unwrap()
            .message
            .contains("compact state was lost at batch 1")
    );
    assert_eq!(
        stored(&session, &store, 1),
        vec![(NOW + 1000, 1f64.to_bits())]
    );
}

#[test]
fn compact_scrapes_are_bounded_by_the_ids_a_stream_may_have() {
    let (mut session, _store, _counters) = session(Limits {
        max_series_ids_per_stream: 4,
        ..Limits::default()
    });
    let ids: Vec<u64> = (1..=5).collect();
    let mut packed = vec![0x00, 0x05, 0x00];
    for id in &ids {
        packed.extend([0x07, (*id as u8) << 1]);
    }
    let ack = session
        .handle(
            Batch {
                metadata: Vec::new(),
                seq: 3,
                definitions: Vec::new(),
                scrapes: vec![compact(NOW, &ids, &packed)],
                sent_ms: 0,
            },
            NOW,
        )
        .unwrap();
    assert_eq!((ack.accepted_samples, ack.rejected_samples), (0, 5));
    let rejection = ack.rejection.unwrap();
    assert_eq!(rejection.code, Code::ResourceExhausted as i32);
    assert!(
        rejection
            .message
            .contains("declares 5 samples, over limits.max_series_ids_per_stream (4)"),
        "{}",
        rejection.message
    );
}

mod metadata;
mod targets;

#[test]
fn an_empty_label_value_is_stored_as_no_label_as_prometheus_does() {
    let (mut session, store, _counters) = session(Limits::default());
    let label = |name: &str, value: &str| vigil_proto::v1::Label {
        name: name.into(),
        value: value.into(),
    };
    let mut info = def(1, "node_disk_info");
    info.labels = vec![label("device", "vda"), label("model", "")];
    let mut twice = def(2, "node_disk_info");
    twice.labels = vec![label("model", ""), label("model", "x")];
    let ack = session
        .handle(
            Batch {
                metadata: Vec::new(),
                seq: 1,
                definitions: vec![info, twice],
                scrapes: vec![scrape(NOW, &[1])],
                sent_ms: 0,
            },
            NOW,
        )
        .unwrap();
    assert_eq!(ack.accepted_samples, 1);
    // A label given twice is refused even when the first value is empty.
    assert!(ack.rejection.unwrap().message.contains("twice"));
    let labels = store.series_labels(&[session.ids[&1]]).unwrap();
    let labels = labels[0].as_ref().unwrap();
    assert_eq!(labels.get("device"), "vda");
    assert!(
        labels.pairs().iter().all(|(n, _)| n != "model"),
        "{labels:?}"
    );
}

#[test]
fn samples_are_grouped_by_series_in_id_order_keeping_each_series_order() {
    // Two scrapes of three series, given as a batch gives them (the second scrape after
    // the first), with one series twice in a scrape.
    let taken = vec![
        (7, 1_000, 1.0),
        (3, 1_000, 2.0),
        (5, 1_000, 3.0),
        (3, 1_000, 4.0),
        (7, 2_000, 5.0),
        (3, 2_000, 6.0),
        (5, 2_000, 7.0),
    ];
    let grouped: Vec<(SeriesId, Vec<(i64, f64)>)> = group_by_series(taken)
        .into_iter()
        .map(|s| (s.id, s.samples))
        .collect();
    assert_eq!(
        grouped,
        vec![
            (3, vec![(1_000, 2.0), (1_000, 4.0), (2_000, 6.0)]),
            (5, vec![(1_000, 3.0), (2_000, 7.0)]),
            (7, vec![(1_000, 1.0), (2_000, 5.0)]),
        ]
    );
    assert!(group_by_series(Vec::new()).is_empty());
}
