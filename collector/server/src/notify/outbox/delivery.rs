//! The delivery workers: the planner picks what is due in each lane, each attempt runs on
//! its own task, and its outcome is settled (removed, or its next attempt written); entries
//! older than `give_up_after` are expired.

use super::backoff;
use super::entry::{self, Entry};
use super::state::State;
use super::{ATTEMPT_GUARD_SLACK, MAX_IDLE, Outbox};
use crate::notify::model::Outcome;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, error, info, warn};
use vigil_store::clock::now_ms;
use vigil_store::{KvOp, Space};

impl Outbox {
    /// The planner: starts the attempts that are due and allowed, expires what is too old,
    /// then sleeps until the next entry is due or something changes.
    pub(super) async fn run(self: Arc<Self>) {
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
    pub(super) fn plan(&self, now: i64) -> (Vec<(u64, Entry)>, Vec<u64>, i64) {
        let give_up_ms = self.settings.give_up_after.as_millis() as i64;
        let max_in_flight = self.settings.max_in_flight.max(1);
        // No retry waits longer than the longest backoff: a time further ahead means the
        // clock went back since it was set, and the wait is cut to the longest backoff
        // from now instead of lasting as long as the jump.
        let latest = now.saturating_add(self.settings.backoff_max.as_millis() as i64);
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
            lane.not_before_ms = lane.not_before_ms.min(latest);
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
                let next_attempt_ms = e.next_attempt_ms.min(latest);
                if next_attempt_ms > now {
                    wake_at = wake_at.min(next_attempt_ms);
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
                let delivery = entry.delivery_id(id);
                let attempt = integration.deliver(&entry.notification, &delivery);
                match tokio::time::timeout(guard, attempt).await {
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
}
