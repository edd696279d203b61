//! A simulated host's spool, as the agent's (`agent/src/spool.rs`): every batch made and
//! not yet acknowledged, oldest first, numbered by a sequence that goes on across streams.
//!
//! A stream sends from the front: the first `in_flight()` entries have been sent on it.
//! An Ack must answer the oldest of them and removes it. When a stream ends, [`Spool::rewind`]
//! marks everything as not sent, and the next stream sends it all again in order (the
//! agent's `first_from(0)` on a new stream), defining its series afresh: series ids are
//! local to a stream.

use super::fleet::Host;
use super::report::Phase;
use std::collections::{HashSet, VecDeque};
use tokio::time::Instant;
use vigil_proto::v1::{Batch, Label, Scrape, SeriesDefinition};

/// One batch waiting for its Ack.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Sequence number (the Batch's `seq`).
    pub seq: u64,
    /// Its scrapes (definitions are added per stream when sent).
    pub scrapes: Vec<Scrape>,
    /// Samples in the scrapes.
    pub samples: u64,
    /// The phase it belongs to.
    pub phase: Phase,
    /// When it could first be sent: a live scrape's due time, a backfill batch's making.
    pub due: Instant,
    /// When it was last sent (on the current stream, when it is in flight).
    pub sent_at: Option<Instant>,
    /// Times it was sent, over every stream.
    pub sends: u32,
}

/// The batches not yet acknowledged.
#[derive(Debug, Default)]
pub struct Spool {
    entries: VecDeque<Entry>,
    next_seq: u64,
    /// `entries[..in_flight]` have been sent on the current stream.
    in_flight: usize,
}

/// A batch handed to a stream.
#[derive(Debug)]
pub struct Sent {
    /// The message.
    pub batch: Batch,
    /// Its samples.
    pub samples: u64,
    /// Its phase.
    pub phase: Phase,
    /// It was sent before, on a stream that ended without its Ack.
    pub resent: bool,
}

impl Spool {
    /// Adds a batch of `scrapes` at the back; returns its sequence number.
    pub fn push(&mut self, scrapes: Vec<Scrape>, phase: Phase, due: Instant) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let samples = scrapes.iter().map(|s| s.values.len() as u64).sum();
        self.entries.push_back(Entry {
            seq,
            scrapes,
            samples,
            phase,
            due,
            sent_at: None,
            sends: 0,
        });
        seq
    }

    /// Batches waiting, sent or not.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Batches sent on the current stream and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Some batch waits that the current stream has not sent.
    pub fn has_unsent(&self) -> bool {
        self.in_flight < self.entries.len()
    }

    /// Some backfill batch waits.
    pub fn has_backfill(&self) -> bool {
        self.entries.iter().any(|e| e.phase == Phase::Backfill)
    }

    /// The newest batch's sequence number.
    pub fn last_seq(&self) -> Option<u64> {
        self.entries.back().map(|e| e.seq)
    }

    /// When the oldest batch in flight was sent.
    pub fn oldest_sent(&self) -> Option<Instant> {
        self.entries
            .front()
            .filter(|_| self.in_flight > 0)
            .and_then(|e| e.sent_at)
    }

    /// The oldest batch the current stream has not sent, as a Batch defining the series
    /// that `defined` (the stream's) lacks, which are added to it; the batch counts as in
    /// flight from `now`.
    pub fn send_next(
        &mut self,
        defined: &mut HashSet<u64>,
        host: &Host,
        now: Instant,
    ) -> Option<Sent> {
        let entry = self.entries.get_mut(self.in_flight)?;
        self.in_flight += 1;
        let resent = entry.sends > 0;
        entry.sends += 1;
        entry.sent_at = Some(now);
        let mut batch = Batch {
            seq: entry.seq,
            scrapes: entry.scrapes.clone(),
            ..Default::default()
        };
        for scrape in &entry.scrapes {
            for &id in &scrape.series_ids {
                if defined.insert(id) {
                    batch.definitions.push(definition(host, id));
                }
            }
        }
        Some(Sent {
            batch,
            samples: entry.samples,
            phase: entry.phase,
            resent,
        })
    }

    /// The Ack of batch `seq`: removes and returns the oldest batch in flight, which it
    /// must answer.
    pub fn ack(&mut self, seq: u64) -> Result<Entry, String> {
        match self.entries.front() {
            Some(e) if self.in_flight > 0 && e.seq == seq => {}
            Some(e) if self.in_flight > 0 => {
                return Err(format!("expected the Ack of batch {}, got {seq}", e.seq));
            }
            _ => return Err(format!("an Ack for batch {seq} that was not sent")),
        }
        self.in_flight -= 1;
        self.entries
            .pop_front()
            .ok_or_else(|| format!("an Ack for batch {seq} that was not sent"))
    }

    /// The stream ended: nothing is in flight, every batch waiting will be sent again.
    pub fn rewind(&mut self) {
        self.in_flight = 0;
        for e in &mut self.entries {
            e.sent_at = None;
        }
    }
}

/// The definition of series `id` of `host`.
fn definition(host: &Host, id: u64) -> SeriesDefinition {
    let (name, labels) = host.series(id);
    SeriesDefinition {
        id,
        name: name.to_owned(),
        labels: labels
            .into_iter()
            .map(|(name, value)| Label {
                name: name.to_owned(),
                value,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::fleet::{Fleet, FleetSpec};

    fn host() -> Host {
        Fleet::new(FleetSpec {
            hosts: 1,
            series_per_host: 20,
            interval_ms: 10_000,
            jitter_ms: 0,
            seed: 1,
            start_ms: 1_763_700_000_000,
        })
        .host(0)
    }

    fn round(host: &mut Host) -> Vec<Scrape> {
        let (ts, ids, values) = host.next_scrape();
        vec![Scrape {
            timestamp_ms: ts,
            series_ids: ids.to_vec(),
            values: values.to_vec(),
            packed: Vec::new(),
        }]
    }

    #[test]
    fn acks_remove_in_order_and_a_new_stream_resends_the_rest_with_definitions() {
        let mut h = host();
        let mut spool = Spool::default();
        let now = Instant::now();
        for _ in 0..3 {
            let r = round(&mut h);
            spool.push(r, Phase::Live, now);
        }
        let mut defined = HashSet::new();
        let first = spool.send_next(&mut defined, &h, now).unwrap();
        assert_eq!((first.batch.seq, first.batch.definitions.len()), (0, 20));
        assert!(!first.resent);
        let second = spool.send_next(&mut defined, &h, now).unwrap();
        assert!(
            second.batch.definitions.is_empty(),
            "defined on this stream"
        );
        assert_eq!(spool.in_flight(), 2);
        assert!(spool.ack(1).is_err(), "batch 0 is answered first");
        assert_eq!(spool.ack(0).unwrap().samples, 20);

        // The stream breaks with batch 1 in flight and batch 2 not sent.
        spool.rewind();
        assert_eq!((spool.len(), spool.in_flight()), (2, 0));
        assert_eq!(spool.oldest_sent(), None);
        let mut defined = HashSet::new();
        let again = spool.send_next(&mut defined, &h, now).unwrap();
        assert_eq!(again.batch.seq, 1);
        assert!(again.resent);
        assert_eq!(
            again.batch.definitions.len(),
            20,
            "a new stream defines afresh"
        );
        let next = spool.send_next(&mut defined, &h, now).unwrap();
        assert_eq!((next.batch.seq, next.resent), (2, false));
        assert!(spool.send_next(&mut defined, &h, now).is_none());
        assert_eq!(
            spool.push(round(&mut h), Phase::Live, now),
            3,
            "seq goes on"
        );
        assert!(spool.ack(1).is_ok() && spool.ack(2).is_ok());
        assert!(spool.ack(3).is_err(), "batch 3 was not sent");
        assert_eq!(spool.last_seq(), Some(3));
    }
}
