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
//! - Results are counted in `vigil_notifications_total{receiver,result}`: `sent`,
//!   `retried` (one per failed attempt), `rejected` (4xx, SMTP 5xx), `expired` (not
//!   accepted within `give_up_after`) and `dropped` (the outbox was full, or the receiver
//!   is no longer configured). Only `sent` is quiet; every other result is logged.

pub mod backoff;
pub mod entry;
mod state;

use super::config::DeliveryConfig;
use super::metrics::NotifyMetrics;
use super::model::{Notification, Outcome};
use super::receivers::Receivers;
use backoff::XorShift;
use entry::Entry;
use state::State;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tracing::{debug, error, info, warn};
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
                if n.refresh && !integration.takes_refresh() {
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

    /// The planner: starts the attempts that are due and allowed, expires what is too old,
    /// then sleeps until the next entry is due or something changes.
    async fn run(self: Arc<Self>) {
        loop {
            let now = now_ms();
            let (due, expired, wake_at) = self.plan(now);
            if !expired.is_empty() {
                let this = self.clone();
                let _ = tokio::task::spawn_blocking(move || this.expire(expired)).await;
            }
            for (id, entry) in due {
                let this = self.clone();
                tokio::spawn(async move { this.attempt(id, entry).await });
            }
            let idle = Duration::from_millis(wake_at.saturating_sub(now).max(0) as u64);
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(idle.min(MAX_IDLE)) => {}
            }
        }
    }

    /// Picks, oldest first, the entries to attempt now, and those to expire; marks them
    /// busy. Also returns when the next entry will be due. Costs the expired entries plus,
    /// per lane, the entries looked at until the lane is full, not the whole outbox.
    fn plan(&self, now: i64) -> (Vec<(u64, Entry)>, Vec<u64>, i64) {
        let give_up_ms = self.settings.give_up_after.as_millis() as i64;
        let max_in_flight = self.settings.max_in_flight.max(1);
        let mut state = self.lock();
        let state = &mut *state;
        let (mut due, mut expired, mut wake_at) = (Vec::new(), HashSet::new(), i64::MAX);
        // Ids grow with creation time, so the entries to expire come first.
        for (id, e) in &state.entries {
            let deadline = e.created_ms.saturating_add(give_up_ms);
            if deadline > now {
                wake_at = wake_at.min(deadline);
                break;
            }
            if !state.busy.contains(id) {
                expired.insert(*id);
            }
        }
        for lane in state.lanes.values_mut() {
            let limit = if lane.failures > 0 { 1 } else { max_in_flight };
            if lane.in_flight >= limit {
                continue; // a finishing attempt wakes the planner
            }
            if lane.failures > 0 && lane.not_before_ms > now {
                wake_at = wake_at.min(lane.not_before_ms);
                continue;
            }
            // Groups with an older entry still waiting: a group's notifications go out in
            // order, one at a time, so a resolution never overtakes its firing.
            let mut queued: HashSet<&str> = HashSet::new();
            for id in &lane.ids {
                if lane.in_flight >= limit {
                    break;
                }
                let Some(e) = state.entries.get(id) else {
                    continue;
                };
                if expired.contains(id) {
                    continue;
                }
                let first_of_group = queued.insert(e.notification.group_key.as_str());
                if !first_of_group || state.busy.contains(id) {
                    continue;
                }
                if e.next_attempt_ms > now {
                    wake_at = wake_at.min(e.next_attempt_ms);
                    continue;
                }
                lane.in_flight += 1;
                due.push((*id, e.clone()));
            }
        }
        for (id, _) in &due {
            state.busy.insert(*id);
        }
        state.busy.extend(expired.iter().copied());
        (due, expired.into_iter().collect(), wake_at)
    }

    /// One attempt, then its result settled on a blocking thread (it writes the store).
    async fn attempt(self: Arc<Self>, id: u64, entry: Entry) {
        let integration = self
            .receivers
            .get(&entry.receiver)
            .and_then(|r| r.integrations.get(entry.integration))
            .filter(|i| i.kind() == entry.kind);
        let outcome = match integration {
            None => Outcome::Rejected {
                error: "the receiver or this integration is no longer configured".into(),
            },
            Some(integration) => {
                let guard = integration.timeout() + ATTEMPT_GUARD_SLACK;
                match tokio::time::timeout(guard, integration.send(&entry.notification)).await {
                    Ok(outcome) => outcome,
                    Err(_) => Outcome::Retry {
                        error: format!("no answer within {}s", guard.as_secs()),
                    },
                }
            }
        };
        let this = self.clone();
        let settled = tokio::task::spawn_blocking(move || this.settle(id, entry, outcome)).await;
        if let Err(e) = settled {
            error!(id, error = %e, "outbox: settling a delivery attempt failed");
        }
        self.wake.notify_one();
    }

    /// Records an attempt's outcome: removes the entry once accepted or rejected, or
    /// writes its next attempt.
    fn settle(&self, id: u64, mut entry: Entry, outcome: Outcome) {
        let now = now_ms();
        let mut state = self.lock();
        state.busy.remove(&id);
        let lane_key = (entry.receiver.clone(), entry.integration);
        let was_failing = {
            let lane = state.lanes.entry(lane_key.clone()).or_default();
            lane.in_flight = lane.in_flight.saturating_sub(1);
            lane.failures > 0
        };
        let (receiver, kind, attempt) = (&entry.receiver, &entry.kind, entry.attempts + 1);
        match outcome {
            Outcome::Accepted { answer } => {
                if !self.forget(&mut state, id) {
                    return;
                }
                debug!(receiver = %receiver, kind = %kind, attempt, answer = %answer, "notification sent");
                self.metrics.count(receiver, "sent");
                if was_failing {
                    info!(receiver = %receiver, kind = %kind, "receiver accepts notifications again; delivering what waited");
                    state.recovered(&lane_key, now);
                }
            }
            Outcome::Rejected { error } => {
                if !self.forget(&mut state, id) {
                    return;
                }
                error!(
                    receiver = %receiver,
                    kind = %kind,
                    attempt,
                    group_key = %entry.notification.group_key,
                    answer = %error,
                    "notification rejected by the receiver; not retried"
                );
                self.metrics.count(receiver, "rejected");
                // The receiver answered: it is up, so the lane is not failing.
                if was_failing {
                    state.recovered(&lane_key, now);
                }
            }
            Outcome::Retry { error } => {
                let give_up_ms = self.settings.give_up_after.as_millis() as i64;
                let failures = {
                    let lane = state.lanes.entry(lane_key.clone()).or_default();
                    lane.failures = lane.failures.saturating_add(1);
                    lane.failures
                };
                let delay = backoff::delay(
                    &mut state.rng,
                    self.settings.backoff_initial,
                    self.settings.backoff_max,
                    failures.max(attempt),
                );
                let next = now.saturating_add(delay.as_millis() as i64);
                if entry.created_ms.saturating_add(give_up_ms) <= next {
                    if !self.forget(&mut state, id) {
                        return;
                    }
                    error!(
                        receiver = %receiver,
                        kind = %kind,
                        attempts = attempt,
                        group_key = %entry.notification.group_key,
                        error = %error,
                        "notification expired: not accepted within notify.delivery.give_up_after"
                    );
                    self.metrics.count(receiver, "expired");
                } else {
                    entry.attempts = attempt;
                    entry.next_attempt_ms = next;
                    entry.last_error = error.clone();
                    if let Some(lane) = state.lanes.get_mut(&lane_key) {
                        lane.not_before_ms = next;
                    }
                    if !state.entries.contains_key(&id) {
                        return;
                    }
                    let put = KvOp::put(Space::Outbox, entry::key(id), entry.encode());
                    if let Err(e) = self.store.kv_write(&[put]) {
                        error!(id, error = %e, "outbox: cannot store a retry (kept in memory)");
                    }
                    warn!(
                        receiver = %entry.receiver,
                        kind = %entry.kind,
                        attempt,
                        next_try_in_s = delay.as_secs_f64(),
                        error = %error,
                        "notification not delivered; will retry"
                    );
                    self.metrics.count(&entry.receiver, "retried");
                    state.entries.insert(id, entry);
                }
            }
        }
        self.publish_depth(&state);
    }

    /// Removes entry `id` from the store and memory; false when it was already gone or the
    /// store refused (then it stays, to be sent again rather than lost).
    fn forget(&self, state: &mut State, id: u64) -> bool {
        if !state.entries.contains_key(&id) {
            return false;
        }
        if let Err(e) = self
            .store
            .kv_write(&[KvOp::delete(Space::Outbox, entry::key(id))])
        {
            error!(id, error = %e, "outbox: cannot remove a finished entry; it will be sent again");
            return false;
        }
        state.remove(id);
        true
    }

    /// Removes entries older than `give_up_after` that were marked for it by the planner.
    fn expire(&self, ids: Vec<u64>) {
        let mut state = self.lock();
        for id in ids {
            state.busy.remove(&id);
            let Some(e) = state.entries.get(&id).cloned() else {
                continue;
            };
            if !self.forget(&mut state, id) {
                continue;
            }
            error!(
                receiver = %e.receiver,
                kind = %e.kind,
                attempts = e.attempts,
                group_key = %e.notification.group_key,
                error = %e.last_error,
                "notification expired: not accepted within notify.delivery.give_up_after"
            );
            self.metrics.count(&e.receiver, "expired");
        }
        self.publish_depth(&state);
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

#[cfg(test)]
mod tests;
