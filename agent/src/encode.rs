//! Encoding: a spooled round becomes a `vigil.v1.Batch`, defining on the way every series
//! the current stream has not seen yet; host facts and settings become the `Hello`.

use crate::collect::{HostFacts, Sink};
use crate::spool::Round;
use std::collections::{BTreeMap, HashSet};
use vigil_proto::v1::{Batch, Hello, Label, Scrape, SeriesDefinition};

/// Builds the Batch for `round`, adding definitions for ids not in `defined` (and noting them).
pub fn batch(round: &Round, sink: &Sink, defined: &mut HashSet<u64>) -> Batch {
    let mut definitions = Vec::new();
    for &id in &round.ids {
        if defined.insert(id)
            && let Some(key) = sink.series(id)
        {
            definitions.push(SeriesDefinition {
                id,
                name: key.name.clone(),
                labels: key
                    .labels
                    .iter()
                    .map(|(name, value)| Label {
                        name: name.clone(),
                        value: value.clone(),
                    })
                    .collect(),
            });
        }
    }
    Batch {
        seq: round.seq,
        definitions,
        scrapes: vec![Scrape {
            timestamp_ms: round.timestamp_ms,
            series_ids: round.ids.clone(),
            values: round.values.clone(),
        }],
    }
}

/// Builds the Hello from host facts and configuration.
pub fn hello(
    facts: &HostFacts,
    hostname_override: &str,
    labels: &BTreeMap<String, String>,
    interval_ms: u64,
    token: &str,
) -> Hello {
    Hello {
        hostname: if hostname_override.is_empty() {
            facts.hostname.clone()
        } else {
            hostname_override.to_owned()
        },
        machine_id: facts.machine_id.clone(),
        os: facts.os.clone(),
        kernel: facts.kernel.clone(),
        arch: facts.arch.clone(),
        cpu_model: facts.cpu_model.clone(),
        logical_cores: facts.logical_cores,
        memory_bytes: facts.memory_bytes,
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        labels: labels
            .iter()
            .map(|(n, v)| Label {
                name: n.clone(),
                value: v.clone(),
            })
            .collect(),
        interval_ms,
        protocol: vigil_proto::PROTOCOL_REVISION,
        token: token.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn series_are_defined_once_per_stream_and_round_trip() {
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
        let mut defined = HashSet::new();
        let first = batch(&round, &sink, &mut defined);
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
        let again = batch(&round, &sink, &mut defined);
        assert!(
            again.definitions.is_empty(),
            "already defined on this stream"
        );
        let bytes = first.encode_to_vec();
        let decoded = Batch::decode(bytes.as_slice()).unwrap();
        assert_eq!(decoded, first);
        assert_eq!(decoded.scrapes[0].values, vec![0.5, 12.25]);
        assert_eq!(decoded.scrapes[0].timestamp_ms, 1_700_000_000_123);
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
}
