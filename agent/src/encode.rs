//! Encoding: a spooled round becomes a `vigil.v1.Batch`, defining on the way every series
//! the current stream has not seen yet; host facts and settings become the `Hello`.
//!
//! An [`Encoder`] lives as long as one stream: what it remembers (the series defined, and
//! for compact scrapes each series' last value) is what the collector's session for that
//! stream remembers, so a new stream starts with a new encoder. Rounds go out as compact
//! scrapes (see [`packed`]) only when the collector's Welcome says it reads them
//! ([`understands_compact`]); to an older collector they go plain, as before.

pub mod packed;

use crate::collect::{HostFacts, Sink};
use crate::spool::Round;
use packed::Packer;
use std::collections::{BTreeMap, HashSet};
use vigil_proto::v1::{Batch, Hello, Label, Scrape, SeriesDefinition};

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
            last_ids: Vec::new(),
            packer: compact.then(Packer::new),
        }
    }

    /// The Batch for `round`, with definitions for the series this stream has not defined
    /// yet. Rounds must be encoded in the order they are sent.
    pub fn batch(&mut self, round: &Round, sink: &Sink) -> Batch {
        let mut definitions = Vec::new();
        if self.last_ids != round.ids {
            for &id in &round.ids {
                if self.defined.insert(id)
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
            seq: round.seq,
            definitions,
            scrapes: vec![scrape],
        }
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
