//! The durable outbox: a notification is written to the store before its first attempt and
//! removed only once its receiver accepted it (or it was rejected or expired, logged and
//! counted). Delivery workers retry with exponential backoff and full jitter.
//!
//! # Design
//! - One entry per (notification, integration of its receiver), so an email that went out
//!   is not sent again because the receiver's webhook is down. A `refresh` notification
//!   only becomes entries for integrations that take refreshes.
//! - Every entry lives in the store (`Space::Outbox`, format in [`entry`]) and in memory;
//!   memory is the copy the workers plan from, the store the one a restart reads.
//! - A *lane* is one integration of one receiver. It has at most `max_in_flight` attempts
//!   at once. After a failed attempt the lane is *failing*: one probe at a time, no sooner
//!   than the backoff of its consecutive failures; the first success makes everything
//!   waiting in the lane due at once, drained `max_in_flight` at a time. So a receiver
//!   that comes back after an outage gets a steady stream, not a storm.
//! - Within a lane, the notifications of one group go out one at a time, oldest first, so
//!   a resolution never overtakes the firing notification it follows.
//! - Each entry is one *delivery*, with an id made when it is written and stored with it
//!   ([`entry`]); every attempt sends it (webhooks as `X-Vigil-Delivery`), after a restart
//!   too, so a receiver can drop the duplicates a retry may cause.
//! - Results are counted in `vigil_notifications_total{receiver,result}`: `sent`,
//!   `retried` (one per failed attempt), `rejected` (4xx, SMTP 5xx), `expired` (not
//!   accepted within `give_up_after`) and `dropped` (the outbox was full, or the receiver
//!   is no longer configured). Only `sent` is quiet; every other result is logged.
//!
//! # Layout
//! - This module: [`Outbox`] and its API: open (reading what a previous run left),
//!   enqueue, list, start.
//! - [`entry`]: one entry and its on-disk format; [`backoff`]: retry delays.
//! - `state`: what the workers know, behind one lock: entries, lanes, depth per receiver.
//! - `delivery`: the workers: planning what is due, one attempt, settling its outcome,
//!   expiring what waited too long.
//! - `tests`: the outbox on a real store, delivering to a webhook on loopback.

pub mod backoff;
mod delivery;
pub mod entry;
mod state;

use super::config::DeliveryConfig;
use super::metrics::NotifyMetrics;
use super::model::Notification;
use super::receivers::Receivers;
use super::webhook::new_delivery_id;
use backoff::XorShift;
use entry::Entry;
use state::State;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tracing::{error, info};
use vigil_store::clock::now_ms;
use vigil_store::{KvOp, Space, Store, StoreResult};

/// Slack over the integration's own timeout (which is what normally ends a hung attempt)
/// before the outbox gives up on an attempt itself: a bug there must not hold a lane.
const ATTEMPT_GUARD_SLACK: Duration = Duration::from_secs(5);

/// Longest the planner sleeps without a reason to wake, so a clock jump is noticed.
const MAX_IDLE: Duration = Duration::from_secs(30);

/// The outbox and its delivery workers.
pub struct Outbox {
    store: Arc<dyn Store>,
    receivers: Arc<Receivers>,
    settings: DeliveryConfig,
    metrics: Arc<NotifyMetrics>,
    state: Mutex<State>,
    /// Wakes the planner: a new entry, or an attempt that finished.
    wake: tokio::sync::Notify,
}

/// One entry as `vigil notify outbox` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    /// The entry's id.
    pub id: u64,
    /// The entry, with its next attempt as the workers plan it.
    pub entry: Entry,
}

impl Outbox {
    /// Opens the outbox (entries left by a previous run are delivered once started).
    pub fn open(
        store: Arc<dyn Store>,
        receivers: Arc<Receivers>,
        settings: DeliveryConfig,
        metrics: Arc<NotifyMetrics>,
    ) -> StoreResult<Self> {
        let now = now_ms();
        let mut state = State {
            entries: BTreeMap::new(),
            next_id: 1,
            busy: HashSet::new(),
            lanes: HashMap::new(),
            depth: receivers.iter().map(|r| (r.name.clone(), 0)).collect(),
            rng: XorShift::seeded(0x0b0c),
        };
        let mut gone = Vec::new();
        for (key, value) in store.kv_scan(Space::Outbox)? {
            let Some(id) = entry::id_of(&key) else {
                error!(key = ?key, "outbox: skipping a record with a malformed key");
                continue;
            };
            state.next_id = state.next_id.max(id + 1);
            let mut entry = match Entry::decode(&value) {
                Ok(entry) => entry,
                Err(e) => {
                    error!(id, error = %e, "outbox: skipping an entry this collector cannot read");
                    continue;
                }
            };
            let integration = receivers
                .get(&entry.receiver)
                .and_then(|r| r.integrations.get(entry.integration));
            if integration.is_none_or(|i| i.kind() != entry.kind) {
                error!(
                    receiver = %entry.receiver,
                    kind = %entry.kind,
                    id,
                    created_ms = entry.created_ms,
                    "outbox: dropping a notification whose receiver or integration is no \
                     longer configured"
                );
                metrics.count(&entry.receiver, "dropped");
                gone.push(KvOp::delete(Space::Outbox, key));
                continue;
            }
            if entry.attempts > 0 {
                // It failed before the restart: probe the lane once before draining it.
                state
                    .lanes
                    .entry((entry.receiver.clone(), entry.integration))
                    .or_default()
                    .failures = 1;
            }
            entry.next_attempt_ms = entry.next_attempt_ms.min(now);
            state.insert(id, entry);
        }
        if !gone.is_empty() {
            store.kv_write(&gone)?;
        }
        if !state.entries.is_empty() {
            info!(
                entries = state.entries.len(),
                "outbox: delivering notifications left by the previous run"
            );
        }
        for (receiver, depth) in &state.depth {
            metrics.set_depth(receiver, *depth);
        }
        Ok(Self {
            store,
            receivers,
            settings,
            metrics,
            state: Mutex::new(state),
            wake: tokio::sync::Notify::new(),
        })
    }

    /// Writes one entry per integration of each notification's receiver, together with
    /// `also` (the dispatcher's log), in one atomic durable write, then wakes the workers.
    /// When the outbox would hold more than `max_outbox` entries, the oldest entries of the
    /// fullest receiver are dropped in the same write (logged and counted).
    pub fn enqueue(&self, notifications: &[Notification], also: Vec<KvOp>) -> StoreResult<()> {
        let now = now_ms();
        let mut state = self.lock();
        let mut fresh: Vec<(u64, Entry)> = Vec::new();
        let mut unknown = Vec::new();
        for n in notifications {
            let Some(receiver) = self.receivers.get(&n.receiver) else {
                unknown.push(n.receiver.clone());
                continue;
            };
            for (index, integration) in receiver.integrations.iter().enumerate() {
                if !integration.takes(n, receiver.send_resolved) {
                    continue;
                }
                let id = state.next_id;
                state.next_id += 1;
                fresh.push((
                    id,
                    Entry {
                        v: entry::FORMAT_VERSION,
                        receiver: receiver.name.clone(),
                        integration: index,
                        kind: integration.kind().to_owned(),
                        notification: n.clone(),
                        created_ms: now,
                        attempts: 0,
                        next_attempt_ms: now,
                        last_error: String::new(),
                        delivery: new_delivery_id(),
                    },
                ));
            }
        }
        let (drop_old, drop_new) = state.victims(&fresh, self.settings.max_outbox);
        let mut ops = also;
        for (id, e) in &fresh {
            if !drop_new.contains(id) {
                ops.push(KvOp::put(Space::Outbox, entry::key(*id), e.encode()));
            }
        }
        for id in &drop_old {
            ops.push(KvOp::delete(Space::Outbox, entry::key(*id)));
        }
        self.store.kv_write(&ops)?;

        for receiver in unknown {
            error!(
                receiver = %receiver,
                "outbox: dropping a notification for a receiver that is not configured"
            );
            self.metrics.count(&receiver, "dropped");
        }
        for id in drop_old {
            if let Some(e) = state.remove(id) {
                self.log_dropped(id, &e);
            }
        }
        for (id, e) in fresh {
            if drop_new.contains(&id) {
                self.log_dropped(id, &e);
            } else {
                state.insert(id, e);
            }
        }
        self.publish_depth(&state);
        drop(state);
        self.wake.notify_one();
        Ok(())
    }

    /// The entries waiting, oldest first.
    pub fn waiting(&self) -> Vec<Waiting> {
        self.lock()
            .entries
            .iter()
            .map(|(id, entry)| Waiting {
                id: *id,
                entry: entry.clone(),
            })
            .collect()
    }

    /// Starts the delivery workers on the current tokio runtime.
    pub fn start(self: &Arc<Self>) {
        let this = self.clone();
        tokio::spawn(async move { this.run().await });
    }

    fn log_dropped(&self, id: u64, e: &Entry) {
        error!(
            receiver = %e.receiver,
            kind = %e.kind,
            id,
            group_key = %e.notification.group_key,
            max_outbox = self.settings.max_outbox,
            "outbox full: dropped the oldest notification of the receiver with the most waiting"
        );
        self.metrics.count(&e.receiver, "dropped");
    }

    fn publish_depth(&self, state: &State) {
        for (receiver, depth) in &state.depth {
            self.metrics.set_depth(receiver, *depth);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

// The tests run on RocksDB.
#[cfg(test)]
#[cfg(feature = "rocks")]
mod tests;
