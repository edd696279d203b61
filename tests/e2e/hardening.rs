//! Bounded state for hostile clients: a stream defining series ids without end, a giant
//! host name, an interval of 0, a sample older than `limits.max_past`, a host past
//! `limits.max_hosts` (by an agent or by an import), each refused with an error naming its
//! limit, while the collector keeps serving a well-behaved agent.

#![allow(clippy::unwrap_used)]

use prost::Message;
use std::path::Path;
use tonic::{Code, Status};
use vigil_proto::v1::agent_message::Kind;
use vigil_proto::v1::{AgentMessage, Batch, Hello, Scrape};
use vigil_tests::client::{batch, numbered_series};
use vigil_tests::{Collector, TestAgent, now_ms, stderr, vigil, vigil_json};

/// A well-behaved agent: one series, one sample a batch, every one acknowledged.
struct Steady {
    agent: TestAgent,
    seq: u64,
}

impl Steady {
    async fn connect(url: &str) -> Self {
        Self {
            agent: TestAgent::connect(url, "steady").await.unwrap(),
            seq: 0,
        }
    }

    /// Sends one sample stamped now; it must be stored.
    async fn still_streams(&mut self, after: &str) {
        self.seq += 1;
        let mut b = batch(self.seq, &[], now_ms(), &[(1, self.seq as f64)]);
        if self.seq == 1 {
            b.definitions = numbered_series(1, "steady_value", "n", &["0".into()]);
        }
        let ack = self.agent.batch(b).await.unwrap();
        assert_eq!(
            (ack.accepted_samples, ack.rejected_samples),
            (1, 0),
            "after {after}: {ack:?}"
        );
    }
}

/// Opens a stream with `hello`; it must be refused. Returns the status.
async fn refused_hello(url: &str, hello: Hello) -> Status {
    let first = AgentMessage {
        kind: Some(Kind::Hello(hello)),
    }
    .encode_to_vec();
    match TestAgent::open(url, first, true).await {
        Err(status) => status,
        Ok(mut agent) => match agent.next().await {
            Err(status) => status,
            Ok(m) => panic!("the hello was not refused: {m:?}"),
        },
    }
}

fn hello(host: &str, interval_ms: u64) -> Hello {
    Hello {
        hostname: host.to_owned(),
        agent_version: "test".into(),
        interval_ms,
        protocol: 1,
        ..Hello::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_agents_are_refused_by_limit_and_the_others_keep_streaming() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(
        &dir.path().join("data"),
        &[
            ("VIGIL_COLLECTOR__LIMITS__MAX_HOSTS", "3"),
            ("VIGIL_COLLECTOR__LIMITS__MAX_SERIES_PER_HOST", "20"),
            ("VIGIL_COLLECTOR__LIMITS__MAX_SERIES_IDS_PER_STREAM", "50"),
            ("VIGIL_COLLECTOR__LIMITS__MAX_PAST", "1h"),
            ("VIGIL_COLLECTOR__STORAGE__SYNC", "false"),
        ],
    );
    let url = collector.url();
    let mut steady = Steady::connect(&url).await;
    steady.still_streams("the start").await;

    // Too many series ids: one series under ever new ids. The first 50 work, the rest are
    // refused by name, and the stream stays open.
    let mut churn = TestAgent::connect(&url, "churn").await.unwrap();
    let ids: Vec<u64> = (1..=60).collect();
    let mut b = batch(1, &[], now_ms(), &[]);
    b.definitions = ids.iter().map(|&id| def(id)).collect();
    b.scrapes = vec![scrape(now_ms(), &ids)];
    let ack = churn.batch(b).await.unwrap();
    assert_eq!((ack.accepted_samples, ack.rejected_samples), (50, 10));
    let rejection = ack.rejection.unwrap();
    assert_eq!(rejection.code, Code::ResourceExhausted as i32);
    assert!(
        rejection
            .message
            .contains("limits.max_series_ids_per_stream"),
        "{}",
        rejection.message
    );
    let more: Vec<u64> = (1000..11_000).collect();
    let b = Batch {
        metadata: Vec::new(),
        seq: 2,
        definitions: more.iter().map(|&id| def(id)).collect(),
        scrapes: vec![scrape(now_ms(), &[1, 1000])],
        sent_ms: 0,
    };
    let ack = churn.batch(b).await.unwrap();
    assert_eq!((ack.accepted_samples, ack.rejected_samples), (1, 1));
    steady
        .still_streams("a stream defining ids without end")
        .await;

    // A giant host name.
    let status = refused_hello(&url, hello(&"h".repeat(100_000), 1000)).await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("over the limit of 253"),
        "{status:?}"
    );
    steady.still_streams("a giant host name").await;

    // An interval of 0, and an absurd one.
    for interval_ms in [0, u64::MAX] {
        let status = refused_hello(&url, hello("zero", interval_ms)).await;
        assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
        assert!(
            status.message().contains("accepts 100ms to 1d"),
            "{status:?}"
        );
    }
    steady.still_streams("an interval of 0").await;

    // A sample two hours old beside a current one: the old one is refused by name.
    steady.seq += 1;
    let b = Batch {
        metadata: Vec::new(),
        seq: steady.seq,
        definitions: Vec::new(),
        scrapes: vec![scrape(now_ms() - 7_200_000, &[1]), scrape(now_ms(), &[1])],
        sent_ms: 0,
    };
    let ack = steady.agent.batch(b).await.unwrap();
    assert_eq!((ack.accepted_samples, ack.rejected_samples), (1, 1));
    let rejection = ack.rejection.unwrap();
    assert_eq!(rejection.code, Code::OutOfRange as i32);
    assert!(
        rejection
            .message
            .contains("older than limits.max_past (1h)"),
        "{}",
        rejection.message
    );
    steady.still_streams("an old sample").await;

    // Hosts: steady and churn are known; a third fits, a fourth does not, known hosts
    // reconnect.
    let _third = TestAgent::connect(&url, "third").await.unwrap();
    let status = TestAgent::connect(&url, "fourth").await.err().unwrap();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("\"fourth\"") && status.message().contains("limits.max_hosts"),
        "{status:?}"
    );
    drop(churn);
    let _churn_again = TestAgent::connect(&url, "churn").await.unwrap();
    steady.still_streams("a host past max_hosts").await;

    // An import of a fifth host is refused the same way.
    let out = import(
        &url,
        dir.path(),
        &format!("fifth_value{{host=\"fifth\"}} 1 {}\n", now_ms() / 1000),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("limits.max_hosts"), "{err}");
    steady
        .still_streams("an import of a host past max_hosts")
        .await;

    let status = vigil_json(&url, &["status"]);
    assert_eq!(status["hosts"], 3, "{status}");
    assert!(status["samples_rejected"].as_u64().unwrap() > 0, "{status}");
    drop(collector);
}

#[test]
fn imports_older_than_max_import_past_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(
        &dir.path().join("data"),
        &[("VIGIL_COLLECTOR__LIMITS__MAX_IMPORT_PAST", "1d")],
    );
    let url = collector.url();
    let now_s = now_ms() / 1000;
    let text = format!(
        "m{{host=\"web-1\"}} 1 {}\nm{{host=\"web-1\"}} 2 {}\n",
        now_s - 3600,
        now_s - 2 * 86_400
    );
    let out = import(&url, dir.path(), &text);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("line 2: ") && err.contains("older than limits.max_import_past (1d)"),
        "{err}"
    );
    assert!(err.contains("imported 1 sample"), "{err}");
    // The collector still takes a good import.
    let out = import(
        &url,
        dir.path(),
        &format!("m{{host=\"web-1\"}} 3 {now_s}\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    drop(collector);
}

fn def(id: u64) -> vigil_proto::v1::SeriesDefinition {
    vigil_proto::v1::SeriesDefinition {
        id,
        name: "churn_value".into(),
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

/// Runs `vigil import` on an OpenMetrics file holding `lines`.
fn import(url: &str, dir: &Path, lines: &str) -> std::process::Output {
    let file = dir.join("import.om");
    std::fs::write(&file, format!("{lines}# EOF\n")).unwrap();
    vigil(url, &["import", file.to_str().unwrap()])
}
