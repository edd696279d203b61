//! Malformed, oversized and hostile input gets a clear error naming what was wrong, and
//! costs nothing else: valid samples beside it are stored, and another agent keeps streaming.

#![allow(clippy::unwrap_used, clippy::type_complexity)]

use prost::Message;
use std::io::Write;
use std::time::Duration;
use tonic::Code;
use vigil_proto::v1::agent_message::Kind;
use vigil_proto::v1::{AgentMessage, Batch};
use vigil_tests::client::{batch, hello, numbered_series};
use vigil_tests::{
    Agent, Collector, TestAgent, now_ms, series_values, vigil_json, wait_for, wait_for_host,
};

fn encoded(b: Batch) -> Vec<u8> {
    AgentMessage {
        kind: Some(Kind::Batch(b)),
    }
    .encode_to_vec()
}

async fn stream_error(agent: &mut TestAgent) -> tonic::Status {
    loop {
        match agent.next().await {
            Err(status) => return status,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the stream ended without an error status"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_and_costs_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(
        &dir.path().join("data"),
        &[
            ("VIGIL_COLLECTOR__LIMITS__MAX_MESSAGE_BYTES", "1048576"),
            ("VIGIL_COLLECTOR__LIMITS__MAX_SERIES_PER_HOST", "3000"),
        ],
    );
    let url = collector.url();
    let _steady = Agent::start(&url, "1s", "steady", dir.path());
    wait_for_host(&url, "steady", true, Duration::from_secs(30));

    // Bytes that are not a protobuf message at all.
    let err = TestAgent::open(&url, vec![0xff, 0xff, 0xff, 0xff, 0x0f, 0x01], false)
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), Code::Internal, "{err:?}");
    assert!(err.message().contains("decode"), "{err:?}");

    // A stream that does not start with a Hello.
    let first = encoded(batch(1, &[], now_ms(), &[]));
    let err = TestAgent::open(&url, first, false).await.err().unwrap();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("first message"), "{err:?}");

    // A Hello with no host name.
    let err = TestAgent::connect(&url, "").await.err().unwrap();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("hostname"), "{err:?}");

    // Garbage after a good Hello.
    let mut agent = TestAgent::connect(&url, "hostile").await.unwrap();
    agent
        .send_raw(vec![0x12, 0xff, 0xff, 0xff, 0xff, 0xff])
        .await;
    let err = stream_error(&mut agent).await;
    assert_eq!(err.code(), Code::Internal, "{err:?}");

    // An oversized message (2 MiB over a 1 MiB limit), sent uncompressed.
    let mut agent = TestAgent::open(&url, hello("hostile").encode_to_vec(), false)
        .await
        .unwrap();
    agent.next().await.unwrap();
    let big = "x".repeat(2 << 20);
    agent
        .send_raw(encoded(batch(
            1,
            &[(1, "big", &[("v", big.as_str())])],
            now_ms(),
            &[(1, 1.0)],
        )))
        .await;
    let err = stream_error(&mut agent).await;
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    assert!(err.message().contains("too large"), "{err:?}");

    // A decompression bomb: 64 MiB of zeros, which the gzip channel shrinks to a few tens of KiB.
    let bomb_value = "\0".repeat(64 << 20);
    let bomb = encoded(batch(
        1,
        &[(1, "bomb", &[("v", bomb_value.as_str())])],
        now_ms(),
        &[(1, 1.0)],
    ));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&bomb).unwrap();
    let gz = gz.finish().unwrap();
    assert!(
        gz.len() < 1 << 20,
        "the bomb must fit under the limit compressed ({} bytes)",
        gz.len()
    );
    drop(bomb_value);
    let mut agent = TestAgent::open(&url, hello("hostile").encode_to_vec(), true)
        .await
        .unwrap();
    agent.next().await.unwrap();
    agent.send_raw(bomb).await;
    let err = stream_error(&mut agent).await;
    assert!(
        matches!(err.code(), Code::ResourceExhausted | Code::OutOfRange),
        "{err:?}"
    );
    assert!(err.message().contains("limit"), "{err:?}");

    // Sample-level problems: refused with a reason, the rest of the batch stored, stream open.
    let mut agent = TestAgent::connect(&url, "hostile").await.unwrap();
    let hostile_value = "quote\" backslash\\ newline\n nul\0 emoji\u{1F525} {braces}=,";
    let ts = now_ms();
    let ack = agent
        .batch(batch(
            1,
            &[
                (1, "good_metric", &[("kind", hostile_value)]),
                (2, "bad_metric", &[("1bad", "x")]),
                (3, "sneaky_metric", &[("host", "someone-else")]),
                (4, "bad-name", &[]),
                (5, "long_metric", &[("v", &"y".repeat(5000))]),
            ],
            ts,
            &[(1, 1.5), (2, 2.0), (3, 3.0), (4, 4.0), (5, 5.0), (99, 9.0)],
        ))
        .await
        .unwrap();
    assert_eq!(ack.accepted_samples, 1, "{ack:?}");
    assert_eq!(ack.rejected_samples, 5, "{ack:?}");
    let rejection = ack.rejection.unwrap();
    assert_eq!(rejection.code, Code::InvalidArgument as i32);
    assert!(rejection.message.contains("\"1bad\""), "{rejection:?}");

    let ack = agent
        .batch(batch(2, &[], now_ms() + 3_600_000, &[(1, 7.0)]))
        .await
        .unwrap();
    assert_eq!((ack.accepted_samples, ack.rejected_samples), (0, 1));
    assert_eq!(
        ack.rejection.as_ref().unwrap().code,
        Code::OutOfRange as i32
    );
    assert!(ack.rejection.unwrap().message.contains("ahead"));

    let ack = agent
        .batch(batch(3, &[], ts + 1000, &[(1, 2.5)]))
        .await
        .unwrap();
    assert_eq!(
        (ack.accepted_samples, ack.rejected_samples),
        (1, 0),
        "the stream still works"
    );

    // Over the series limit: existing series keep working, new ones are refused.
    let names: Vec<String> = (0..3100).map(|i| format!("s{i}")).collect();
    let samples: Vec<(u64, f64)> = (100..100 + names.len() as u64)
        .map(|id| (id, 1.0))
        .chain([(1, 3.5)])
        .collect();
    let mut many = batch(4, &[], ts + 2000, &samples);
    many.definitions = numbered_series(100, "many_series", "n", &names);
    let ack = agent.batch(many).await.unwrap();
    assert_eq!(
        ack.rejection.as_ref().unwrap().code,
        Code::ResourceExhausted as i32,
        "{ack:?}"
    );
    assert!(
        ack.rejection
            .as_ref()
            .unwrap()
            .message
            .contains("limit of 3000"),
        "{ack:?}"
    );
    assert_eq!(ack.accepted_samples + ack.rejected_samples, 3101);
    assert!(ack.accepted_samples >= 2000, "{ack:?}");

    // The hostile label value is stored and read back byte for byte; the good samples are there.
    let to = (ts / 1000 + 60).to_string();
    let r = vigil_json(&url, &["query", "good_metric[2m]", "--at", &to]);
    let s = series_values(&r);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].0["kind"], hostile_value);
    assert_eq!(s[0].0["host"], "hostile");
    assert_eq!(
        s[0].1.iter().map(|p| p.1).collect::<Vec<_>>(),
        vec![1.5, 2.5, 3.5]
    );
    let r = vigil_json(
        &url,
        &[
            "series",
            r#"{__name__=~"bad_metric|sneaky_metric|long_metric"}"#,
        ],
    );
    assert_eq!(
        r.as_array().unwrap().len(),
        0,
        "refused series were not created: {r}"
    );

    // Meanwhile the steady agent never stopped: a sample every second, none missing.
    let times = wait_for(
        Duration::from_secs(10),
        "fresh samples from the steady agent",
        || {
            let r = vigil_json(&url, &["query", r#"node_load1{host="steady"}[1m]"#]);
            let s = series_values(&r);
            let times: Vec<f64> = s.first()?.1.iter().map(|p| p.0).collect();
            (now_ms() as f64 / 1000.0 - times.last()? < 2.0 && times.len() >= 3).then_some(times)
        },
    );
    let widest = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    assert!(
        widest < 2.5,
        "the steady agent's series has a {widest:.1} s gap: {times:?}"
    );
    let log = collector.process.log();
    assert!(log.contains("refused samples"), "refusals are logged");
}
