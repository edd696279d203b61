//! The spool: collected rounds not yet acknowledged by the collector (in memory for now).
//!
//! Design constraints:
//! - Collection never waits for delivery: while the collector is away, rounds pile up here.
//! - Memory is bounded by bytes (`delivery.queue_max_bytes`); when a new round would pass
//!   the bound, the oldest rounds are dropped and counted, never the newest.
//! - A round leaves the queue only when the collector acknowledged its sequence number, so
//!   everything unacknowledged is re-sent after a reconnect (at-least-once delivery; the
//!   collector makes a replay harmless).
//!
//! Each entry is one collection round: a timestamp and parallel columns of series ids and
//! values, about 16 bytes a sample. It becomes one `Batch` on the wire.

use std::collections::VecDeque;

/// One collection round awaiting acknowledgement.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    /// Sequence number of the batch that carries this round; unique per agent process.
    pub seq: u64,
    /// When the samples were taken, unix milliseconds.
    pub timestamp_ms: i64,
    /// Agent-local series ids.
    pub ids: Vec<u64>,
    /// One value per id.
    pub values: Vec<f64>,
}

impl Round {
    /// Approximate memory the round holds.
    pub fn bytes(&self) -> usize {
        64 + self.ids.capacity() * 8 + self.values.capacity() * 8
    }
}

/// Bounded FIFO of rounds, oldest first.
#[derive(Debug)]
pub struct Spool {
    rounds: VecDeque<Round>,
    bytes: usize,
    max_bytes: usize,
    next_seq: u64,
    /// Rounds dropped because the queue was full.
    pub dropped_rounds: u64,
    /// Samples in those rounds.
    pub dropped_samples: u64,
}

impl Spool {
    /// An empty queue holding at most `max_bytes`.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            rounds: VecDeque::new(),
            bytes: 0,
            max_bytes,
            next_seq: 1,
            dropped_rounds: 0,
            dropped_samples: 0,
        }
    }

    /// Adds a round, numbering it; drops the oldest rounds if the bound is passed.
    /// Returns its sequence number.
    pub fn push(&mut self, timestamp_ms: i64, ids: Vec<u64>, values: Vec<f64>) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let round = Round {
            seq,
            timestamp_ms,
            ids,
            values,
        };
        self.bytes += round.bytes();
        self.rounds.push_back(round);
        while self.bytes > self.max_bytes && self.rounds.len() > 1 {
            if let Some(old) = self.rounds.pop_front() {
                self.bytes -= old.bytes();
                self.dropped_rounds += 1;
                self.dropped_samples += old.ids.len() as u64;
            }
        }
        seq
    }

    /// Removes every round up to and including `seq` (acks arrive in order).
    /// Returns how many samples left the queue.
    pub fn ack(&mut self, seq: u64) -> u64 {
        let mut samples = 0;
        while self.rounds.front().is_some_and(|r| r.seq <= seq) {
            if let Some(r) = self.rounds.pop_front() {
                self.bytes -= r.bytes();
                samples += r.ids.len() as u64;
            }
        }
        samples
    }

    /// The oldest round with a sequence number of at least `seq`.
    pub fn first_from(&self, seq: u64) -> Option<&Round> {
        // Sequence numbers are consecutive in the queue, so this is an index computation.
        let front = self.rounds.front()?.seq;
        let at = seq.saturating_sub(front) as usize;
        self.rounds.get(at)
    }

    /// Rounds waiting.
    pub fn len(&self) -> usize {
        self.rounds.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.rounds.is_empty()
    }

    /// Memory held, approximately.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Sequence number of the oldest waiting round.
    pub fn oldest_seq(&self) -> Option<u64> {
        self.rounds.front().map(|r| r.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(n: usize) -> (Vec<u64>, Vec<f64>) {
        ((0..n as u64).collect(), vec![1.0; n])
    }

    #[test]
    fn acks_remove_in_order_and_resend_starts_at_oldest() {
        let mut q = Spool::new(1 << 20);
        for t in 0..5 {
            let (ids, values) = round(10);
            assert_eq!(q.push(t, ids, values), t as u64 + 1);
        }
        assert_eq!(q.ack(2), 20);
        assert_eq!(q.len(), 3);
        assert_eq!(
            q.first_from(0).unwrap().seq,
            3,
            "a new stream resends from the oldest"
        );
        assert_eq!(q.first_from(4).unwrap().seq, 4);
        assert!(q.first_from(6).is_none());
        assert_eq!(q.ack(1), 0, "an old ack changes nothing");
        assert_eq!(q.ack(5), 30);
        assert!(q.is_empty());
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn full_queue_drops_oldest_and_counts() {
        let (ids, values) = round(100);
        let one = Round {
            seq: 0,
            timestamp_ms: 0,
            ids: ids.clone(),
            values: values.clone(),
        }
        .bytes();
        let mut q = Spool::new(one * 3);
        for t in 0..5 {
            q.push(t, ids.clone(), values.clone());
        }
        assert_eq!(q.len(), 3);
        assert_eq!(q.oldest_seq(), Some(3), "the newest rounds are kept");
        assert_eq!(q.dropped_rounds, 2);
        assert_eq!(q.dropped_samples, 200);
        assert!(q.bytes() <= one * 3);
    }
}
