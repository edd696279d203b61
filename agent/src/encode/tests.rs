//! Batches: series defined once per stream, plain scrapes for an older collector, compact
//! ones once the collector said it reads them, and a new stream starting over.

use super::*;
use prost::Message;

fn two_series() -> (Sink, Round) {
    let mut sink = Sink::new();
    sink.push("node_load1", &[], 0.5);
    sink.push(
        "node_cpu_seconds_total",
        &[("mode", "idle"), ("cpu", "0")],
        12.25,
    );
    let (ids, values) = sink.take_round();
    let round = Round {
        seq: 7,
        timestamp_ms: 1_700_000_000_123,
        ids,
        values,
    };
    (sink, round)
}

#[test]
fn series_are_defined_once_per_stream_and_round_trip() {
    let (sink, round) = two_series();
    let mut encoder = Encoder::new(false);
    let first = encoder.batch(&round, &sink);
    assert_eq!(first.seq, 7);
    assert_eq!(first.definitions.len(), 2);
    assert_eq!(first.definitions[1].name, "node_cpu_seconds_total");
    assert_eq!(
        first.definitions[1].labels[0],
        Label {
            name: "cpu".into(),
            value: "0".into()
        }
    );
    let again = encoder.batch(&round, &sink);
    assert!(
        again.definitions.is_empty(),
        "already defined on this stream"
    );
    assert_eq!(
        Encoder::new(false).batch(&round, &sink).definitions.len(),
        2,
        "a new stream defines its series again"
    );
    let bytes = first.encode_to_vec();
    let decoded = Batch::decode(bytes.as_slice()).unwrap();
    assert_eq!(decoded, first);
    assert_eq!(decoded.scrapes[0].values, vec![0.5, 12.25]);
    assert_eq!(decoded.scrapes[0].timestamp_ms, 1_700_000_000_123);
}

#[test]
fn an_older_collector_gets_plain_scrapes_only() {
    assert!(!understands_compact(0), "collectors before revision 2");
    assert!(!understands_compact(1));
    assert!(understands_compact(2));
    assert!(understands_compact(vigil_proto::PROTOCOL_REVISION));
    let (sink, round) = two_series();
    let mut encoder = Encoder::new(false);
    for _ in 0..3 {
        let scrape = &encoder.batch(&round, &sink).scrapes[0];
        assert!(scrape.packed.is_empty());
        assert_eq!(scrape.series_ids, round.ids);
        assert_eq!(scrape.values, round.values);
    }
}

#[test]
fn compact_scrapes_name_their_series_once_then_repeat_them() {
    let (sink, mut round) = two_series();
    let mut encoder = Encoder::new(true);
    let first = encoder.batch(&round, &sink);
    assert_eq!(first.definitions.len(), 2);
    let scrape = &first.scrapes[0];
    assert_eq!(scrape.series_ids, round.ids);
    assert!(scrape.values.is_empty());
    assert_eq!(scrape.packed[0], packed::HEADER_IDS);
    assert_eq!(scrape.timestamp_ms, round.timestamp_ms);

    round.seq += 1;
    round.timestamp_ms += 10_000;
    round.values[1] = 12.26;
    let second = encoder.batch(&round, &sink);
    let scrape = &second.scrapes[0];
    assert!(second.definitions.is_empty());
    assert!(scrape.series_ids.is_empty() && scrape.values.is_empty());
    assert_eq!(scrape.packed[0], packed::HEADER_REPEAT);
    // Header, count, bitmap (load unchanged), one delta of one hundredth.
    assert_eq!(scrape.packed, vec![0x01, 0x02, 0x01, 0x04]);

    let fresh = Encoder::new(true).batch(&round, &sink);
    assert_eq!(fresh.scrapes[0].packed[0], packed::HEADER_IDS);
    assert_eq!(fresh.scrapes[0].series_ids, round.ids);
}

#[test]
fn each_metric_name_is_described_once_per_stream_when_first_defined() {
    use vigil_proto::v1::MetricType;
    let (mut sink, round) = two_series();
    let mut encoder = Encoder::new(true);
    let first = encoder.batch(&round, &sink);
    let described: Vec<_> = first
        .metadata
        .iter()
        .map(|m| (m.name.as_str(), m.r#type(), m.unit.as_str()))
        .collect();
    assert_eq!(
        described,
        [
            ("node_load1", MetricType::Gauge, ""),
            ("node_cpu_seconds_total", MetricType::Counter, "seconds")
        ]
    );
    assert!(first.metadata.iter().all(|m| !m.help.is_empty()));
    assert!(encoder.batch(&round, &sink).metadata.is_empty());

    // A new series of a described name: defined, not described again. A name no source
    // writes (so not in the table) is defined and described by nothing.
    sink.push("node_load1", &[], 0.5);
    sink.push(
        "node_cpu_seconds_total",
        &[("cpu", "1"), ("mode", "idle")],
        3.0,
    );
    sink.push("node_memory_Dirty_bytes", &[], 4096.0);
    sink.push("not_a_vigil_metric", &[], 1.0);
    let (ids, values) = sink.take_round();
    let next = Round {
        seq: 8,
        timestamp_ms: round.timestamp_ms + 1_000,
        ids,
        values,
    };
    let second = encoder.batch(&next, &sink);
    assert_eq!(second.definitions.len(), 3);
    let names: Vec<_> = second.metadata.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["node_memory_Dirty_bytes"]);
    assert_eq!(second.metadata[0].unit, "bytes");
    assert!(encoder.batch(&next, &sink).metadata.is_empty());

    // A new stream starts over, and the field survives the wire.
    let fresh = Encoder::new(false).batch(&next, &sink);
    assert_eq!(fresh.metadata.len(), 3);
    let decoded = Batch::decode(fresh.encode_to_vec().as_slice()).unwrap();
    assert_eq!(decoded.metadata, fresh.metadata);
}

#[test]
fn hello_carries_facts_labels_and_override() {
    let facts = HostFacts {
        hostname: "kernel-name".into(),
        logical_cores: 4,
        ..Default::default()
    };
    let labels = BTreeMap::from([("env".to_owned(), "prod".to_owned())]);
    let h = hello(&facts, "", &labels, 10_000, "");
    assert_eq!(h.hostname, "kernel-name");
    assert_eq!(h.logical_cores, 4);
    assert_eq!(h.protocol, vigil_proto::PROTOCOL_REVISION);
    assert_eq!(
        h.labels,
        vec![Label {
            name: "env".into(),
            value: "prod".into()
        }]
    );
    assert_eq!(
        hello(&facts, "web-1", &labels, 10_000, "").hostname,
        "web-1"
    );
}

/// Not a test: measures this host's own rounds. Collects `VIGIL_WIRE_ROUNDS` rounds (20)
/// every `VIGIL_WIRE_INTERVAL_MS` (1000) with the real collectors and prints the Batch
/// bytes per sample, plain and compact (protobuf only: no gzip, no gRPC/HTTP/2 framing),
/// and the time to encode a round.
///
/// `cargo test -p vigil-agent --release --lib wire_size -- --ignored --nocapture`
#[test]
#[ignore = "a measurement that takes rounds × interval; run by hand"]
fn wire_size_of_this_hosts_rounds() {
    use crate::collect::{Collectors, Options};
    use std::time::{Duration, Instant};
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let rounds = env("VIGIL_WIRE_ROUNDS", 20);
    let interval = Duration::from_millis(env("VIGIL_WIRE_INTERVAL_MS", 1000));
    let mut collectors = Collectors::new(Options::default());
    let mut sink = Sink::new();
    let (mut plain, mut compact) = (Encoder::new(false), Encoder::new(true));
    let (mut plain_bytes, mut compact_bytes, mut samples) = (0usize, 0usize, 0usize);
    let mut took = Vec::new();
    for seq in 0..rounds {
        if seq > 0 {
            std::thread::sleep(interval);
        }
        collectors.collect(&mut sink);
        let (ids, values) = sink.take_round();
        let round = Round {
            seq,
            timestamp_ms: 1_700_000_000_000 + (seq * interval.as_millis() as u64) as i64,
            ids,
            values,
        };
        let p = plain.batch(&round, &sink);
        let started = Instant::now();
        let c = compact.batch(&round, &sink);
        took.push(started.elapsed());
        // Steady state: the first round carries the definitions and absolute values.
        if seq > 0 {
            plain_bytes += p.encoded_len();
            compact_bytes += c.encoded_len();
            samples += round.ids.len();
        }
    }
    took.sort();
    let samples = samples.max(1) as f64;
    println!(
        "{rounds} rounds every {interval:?}, {:.0} samples a round: plain {:.2} B/sample, \
         compact {:.2} B/sample; encoding a compact round took {:?} (median), {:?} (max)",
        samples / (rounds.max(2) - 1) as f64,
        plain_bytes as f64 / samples,
        compact_bytes as f64 / samples,
        took[took.len() / 2],
        took[took.len() - 1],
    );
}
