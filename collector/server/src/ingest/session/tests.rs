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
                seq: 1,
                definitions: ids.iter().map(|&id| def(id, "churn")).collect(),
                scrapes: vec![scrape(NOW, &ids)],
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
                seq: 2,
                definitions: vec![def(100, "more"), def(3, "renamed")],
                scrapes: vec![scrape(NOW + 1000, &[1, 3, 100])],
            },
            NOW,
        )
        .unwrap();
    assert_eq!((ack.accepted_samples, ack.rejected_samples), (2, 1));
    assert_eq!(session.ids.len() + session.refused.len(), 10);
    assert_eq!(store.series_count("web-1").unwrap(), 2, "churn and renamed");
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
                seq: 1,
                definitions: vec![def(1, "up")],
                scrapes: vec![
                    scrape(NOW - 3_600_001, &[1]),
                    scrape(NOW - 3_600_000, &[1]),
                    scrape(NOW, &[1]),
                ],
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
