//! What the delivery workers know, behind one lock: every entry in memory, the entries
//! under way, and the lanes (one per integration of a receiver) with their failures.

use super::backoff::XorShift;
use super::entry::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// What the workers know, behind one lock.
pub(super) struct State {
    /// Every entry, by id (oldest first).
    pub(super) entries: BTreeMap<u64, Entry>,
    /// The id the next entry gets.
    pub(super) next_id: u64,
    /// Entries with an attempt under way (or being expired).
    pub(super) busy: HashSet<u64>,
    /// (receiver, integration index) → its lane.
    pub(super) lanes: HashMap<(String, usize), Lane>,
    /// receiver → entries waiting.
    pub(super) depth: BTreeMap<String, u64>,
    /// Draws the retry delays' jitter.
    pub(super) rng: XorShift,
}

/// One integration of one receiver.
#[derive(Debug, Default)]
pub(super) struct Lane {
    /// Its entries, oldest first.
    pub(super) ids: BTreeSet<u64>,
    /// Attempts under way.
    pub(super) in_flight: usize,
    /// Consecutive failed attempts; > 0 means failing: one probe at a time.
    pub(super) failures: u32,
    /// A failing lane's next probe is not before this.
    pub(super) not_before_ms: i64,
}

impl State {
    /// Adds entry `id` (in memory only).
    pub(super) fn insert(&mut self, id: u64, e: Entry) {
        *self.depth.entry(e.receiver.clone()).or_default() += 1;
        self.lanes
            .entry((e.receiver.clone(), e.integration))
            .or_default()
            .ids
            .insert(id);
        self.entries.insert(id, e);
    }

    /// Removes entry `id` (in memory only).
    pub(super) fn remove(&mut self, id: u64) -> Option<Entry> {
        let e = self.entries.remove(&id)?;
        if let Some(d) = self.depth.get_mut(&e.receiver) {
            *d = d.saturating_sub(1);
        }
        if let Some(lane) = self.lanes.get_mut(&(e.receiver.clone(), e.integration)) {
            lane.ids.remove(&id);
        }
        Some(e)
    }

    /// A failing lane succeeded: everything waiting in it is due now.
    pub(super) fn recovered(&mut self, lane_key: &(String, usize), now: i64) {
        let Some(lane) = self.lanes.get_mut(lane_key) else {
            return;
        };
        lane.failures = 0;
        lane.not_before_ms = 0;
        for id in &lane.ids {
            if let Some(e) = self.entries.get_mut(id) {
                e.next_attempt_ms = e.next_attempt_ms.min(now);
            }
        }
    }

    /// Which entries to drop so that at most `max` remain once `fresh` is added: the oldest
    /// of the receiver with the most, one at a time. Entries with an attempt under way are
    /// left alone. Returns (stored ids, fresh ids).
    pub(super) fn victims(&self, fresh: &[(u64, Entry)], max: usize) -> (Vec<u64>, HashSet<u64>) {
        let mut old = Vec::new();
        let mut new = HashSet::new();
        let mut total = self.entries.len() + fresh.len();
        if total <= max {
            return (old, new);
        }
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for e in self.entries.values().chain(fresh.iter().map(|(_, e)| e)) {
            *counts.entry(e.receiver.as_str()).or_default() += 1;
        }
        let mut dropped_old = HashSet::new();
        while total > max {
            let Some(fullest) = counts
                .iter()
                .max_by_key(|(_, n)| **n)
                .map(|(r, _)| (*r).to_owned())
            else {
                break;
            };
            let stored = self.entries.iter().find(|(id, e)| {
                e.receiver == fullest && !self.busy.contains(id) && !dropped_old.contains(*id)
            });
            if let Some((id, _)) = stored {
                dropped_old.insert(*id);
                old.push(*id);
            } else if let Some((id, _)) = fresh
                .iter()
                .find(|(id, e)| e.receiver == fullest && !new.contains(id))
            {
                new.insert(*id);
            } else {
                // Everything of that receiver is in flight; leave the rest be.
                break;
            }
            if let Some(n) = counts.get_mut(fullest.as_str()) {
                *n -= 1;
            }
            total -= 1;
        }
        (old, new)
    }
}
