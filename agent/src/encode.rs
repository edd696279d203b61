//! Encoding: a spooled round becomes a `vigil.v1.Batch`, defining on the way every series
//! the current stream has not seen yet and describing (type, help, unit from
//! [`metadata`]) each metric name the first time one of its series is defined; host facts
//! and settings become the `Hello`.
//!
//! An [`Encoder`] lives as long as one stream: what it remembers (the series defined, the
//! names described, and for compact scrapes each series' last value) is what the
//! collector's session for that stream remembers, so a new stream starts with a new
//! encoder. Definitions and descriptions are looked at only when a round brings series
//! the previous one did not have; the descriptions themselves are static data. Rounds go
//! out as compact
//! scrapes (see [`packed`]) only when the collector's Welcome says it reads them
//! ([`understands_compact`]); to an older collector they go plain, as before.

pub mod packed;

use crate::collect::{HostFacts, Sink, metadata};
use crate::spool::Round;
use packed::Packer;
use std::collections::{BTreeMap, HashSet};
use vigil_proto::v1::{Batch, Hello, Label, MetricMetadata, Scrape, SeriesDefinition};

/// The first protocol revision whose collectors read compact scrapes (`Scrape.packed`).
pub const COMPACT_SINCE: u32 = 2;

/// Whether a collector that announced `protocol` in its Welcome reads compact scrapes. A
/// collector from before revision 2 sends no protocol (0) and would store nothing of one.
pub fn understands_compact(protocol: u32) -> bool {
    protocol >= COMPACT_SINCE
}

/// Turns the rounds sent on one stream into Batches.
#[derive(Debug)]
pub struct Encoder {
    /// Series ids defined on this stream.
    defined: HashSet<u64>,
    /// Metric names this stream has been told the type, unit and help of (or looked up
    /// and found none for).
    described: HashSet<String>,
    /// The previous round's ids, all in `defined`: a round with the same ids (the steady
    /// state) defines nothing and skips the lookups.
    last_ids: Vec<u64>,
    /// The compact state, when the collector reads compact scrapes.
    packer: Option<Packer>,
}

impl Encoder {
    /// An encoder for a new stream; `compact` when the collector reads compact scrapes.
    pub fn new(compact: bool) -> Self {
        Self {
            defined: HashSet::new(),
            described: HashSet::new(),
            last_ids: Vec::new(),
            packer: compact.then(Packer::new),
        }
    }

    /// The Batch for `round`, with definitions for the series this stream has not defined
    /// yet, and the metadata of each metric name those definitions bring to this stream
    /// first. Rounds must be encoded in the order they are sent.
    pub fn batch(&mut self, round: &Round, sink: &Sink) -> Batch {
        let mut definitions = Vec::new();
        let mut metadata = Vec::new();
        if self.last_ids != round.ids {
            for &id in &round.ids {
                if self.defined.insert(id)
                    && let Some(key) = sink.series(id)
                {
                    if !self.described.contains(key.name.as_str()) {
                        self.described.insert(key.name.clone());
                        if let Some(meta) = metadata::lookup(&key.name) {
                            metadata.push(MetricMetadata {
                                name: key.name.clone(),
                                r#type: meta.kind.into(),
                                help: meta.help.to_owned(),
                                unit: meta.unit.to_owned(),
                            });
                        }
                    }
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
            self.last_ids.clone_from(&round.ids);
        }
        let scrape = match &mut self.packer {
            Some(packer) => {
                // A round has one value per id; should one ever not, both columns are cut
                // to the same length, so that the count and the series agree.
                let n = round.ids.len().min(round.values.len());
                let packed = packer.pack(&round.ids[..n], &round.values[..n]);
                Scrape {
                    timestamp_ms: round.timestamp_ms,
                    series_ids: if packed.repeat {
                        Vec::new()
                    } else {
                        round.ids[..n].to_vec()
                    },
                    values: Vec::new(),
                    packed: packed.bytes,
                }
            }
            None => Scrape {
                timestamp_ms: round.timestamp_ms,
                series_ids: round.ids.clone(),
                values: round.values.clone(),
                packed: Vec::new(),
            },
        };
        Batch {
            metadata,
            seq: round.seq,
            definitions,
            scrapes: vec![scrape],
            sent_ms: 0,
        }
    }
}

/// Adds Prometheus' target labels to a Hello: `job`, and `instance` (the Hello's host name
/// when empty), so every series the collector stores for it carries both.
pub fn add_target_labels(hello: &mut Hello, job: &str, instance: &str) {
    let instance = if instance.is_empty() {
        hello.hostname.clone()
    } else {
        instance.to_owned()
    };
    for (name, value) in [("job", job.to_owned()), ("instance", instance)] {
        hello.labels.retain(|l| l.name != name);
        hello.labels.push(Label {
            name: name.to_owned(),
            value,
        });
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
mod tests;
