//! Dispatch: the route tree, aggregation groups with group_wait / group_interval /
//! repeat_interval, inhibition and silences, and the notification log that makes a restart
//! neither repeat nor lose a notification. Flushed groups become outbox entries.
//!
//! ```text
//!  rules ──observe──► State (held alerts ─route─► groups)      saved: NotifyAlerts
//!                        │ every 250 ms: due groups
//!                        ▼
//!                     plan: mute (silences, inhibition) → log::decide → Notification
//!                        │
//!                        ▼
//!                     Outbox::enqueue(notifications, log entries + forgotten alerts)
//!                        one atomic write; then the state commits the flush
//! ```
//!
//! The parts: [`route`] (the tree), [`inhibit`], [`log`] (the notification log and the
//! record formats), [`state`] (alerts and groups, with the clock passed in) and its
//! `flush` (planning a flush of the due groups). This module adds the store, the clock
//! and the timer task.

pub mod inhibit;
pub mod log;
pub mod route;
pub mod state;

use super::config::NotifyConfig;
use super::model::{Alert, LabelMap};
use super::outbox::Outbox;
use super::receivers::Receivers;
use super::silences::Silences;
use state::{ReceiverTraits, State};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tracing::{error, warn};
use vigil_store::clock::now_ms;
use vigil_store::{Space, Store};

/// Most alerts held at once; beyond it new alerts are not notified (logged as an error).
pub const MAX_ALERTS: usize = 100_000;
/// How often due groups are looked for.
const TICK: Duration = Duration::from_millis(250);
/// A flush whose write failed is tried again this much later.
const RETRY_AFTER_MS: i64 = 5_000;

/// Routes alerts into groups and flushes them to the outbox.
pub struct Dispatcher {
    store: Arc<dyn Store>,
    silences: Arc<Silences>,
    outbox: Arc<Outbox>,
    receivers: Arc<Receivers>,
    /// `None` without a route (no receivers): alerts are dropped.
    state: Option<Mutex<State>>,
}

impl Dispatcher {
    /// Builds the route tree and loads the alerts and log saved before a restart. Blocks
    /// on the store. The error says what could not be built or read.
    pub fn open(
        config: &NotifyConfig,
        store: Arc<dyn Store>,
        silences: Arc<Silences>,
        outbox: Arc<Outbox>,
        receivers: Arc<Receivers>,
    ) -> Result<Self, String> {
        let state = match &config.route {
            None => None,
            Some(root) => {
                let tree = route::RouteTree::new(root)?;
                let rules = config
                    .inhibit_rules
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        inhibit::InhibitRule::new(r)
                            .map_err(|e| format!("notify.inhibit_rules[{i}].{e}"))
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                let mut state = State::new(tree, rules, config.external_url.clone(), MAX_ALERTS);
                let alerts = store
                    .kv_scan(Space::NotifyAlerts)
                    .map_err(|e| format!("reading the notifier's alerts: {e}"))?;
                let entries = store
                    .kv_scan(Space::NotifyLog)
                    .map_err(|e| format!("reading the notification log: {e}"))?;
                let cleanup = state.load(alerts, entries, now_ms());
                if !cleanup.is_empty() {
                    store
                        .kv_write(&cleanup)
                        .map_err(|e| format!("cleaning the notification log: {e}"))?;
                }
                Some(Mutex::new(state))
            }
        };
        Ok(Self {
            store,
            silences,
            outbox,
            receivers,
            state,
        })
    }

    fn state(&self) -> Option<MutexGuard<'_, State>> {
        self.state
            .as_ref()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Takes the alerts of one rule evaluation: firing ones (`ends_at_ms: None`) and those
    /// that just resolved. Blocks on the store when an alert is new or resolved (call it
    /// from a blocking-safe thread, as rule evaluations are).
    pub fn observe(&self, alerts: Vec<Alert>) {
        let Some(mut state) = self.state() else {
            return;
        };
        let ops = state.observe(alerts, now_ms());
        if !ops.is_empty()
            && let Err(e) = self.store.kv_write(&ops)
        {
            // Kept in memory and notified; only a restart before the next change loses it.
            warn!(error = %e, "saving the notifier's alerts failed");
        }
    }

    /// The firing alerts that mute an alert with `labels` by an inhibition rule, as
    /// `alertname{labels}` (empty: not inhibited). As of the alerts last reported;
    /// `now_ms` is when the caller asks.
    pub fn inhibited_by(&self, labels: &LabelMap, now_ms: i64) -> Vec<String> {
        let _ = now_ms;
        match self.state() {
            Some(mut state) => state.inhibited_by(labels),
            None => Vec::new(),
        }
    }

    /// Starts the timer task that flushes groups when due, on the current tokio runtime.
    pub fn start(self: &Arc<Self>) {
        if self.state.is_none() {
            return;
        }
        let dispatcher = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let d = dispatcher.clone();
                if let Err(e) = tokio::task::spawn_blocking(move || d.flush_due(now_ms())).await {
                    error!(error = %e, "flushing notification groups panicked");
                }
            }
        });
    }

    /// Flushes every group due at `now_ms`: notifications and log in one write to the
    /// outbox. Blocks on the store.
    pub fn flush_due(&self, now_ms: i64) {
        let Some(mut state) = self.state() else {
            return;
        };
        let stale = state.expire_stale(now_ms);
        if !stale.is_empty()
            && let Err(e) = self.store.kv_write(&stale)
        {
            warn!(error = %e, "saving the notifier's alerts failed");
        }
        let silenced = |labels: &LabelMap| !self.silences.silenced_by(labels, now_ms).is_empty();
        let traits = |name: &str| {
            self.receivers
                .get(name)
                .map(|r| ReceiverTraits {
                    send_resolved: r.send_resolved,
                    needs_refresh: r.needs_refresh(),
                })
                .unwrap_or_default()
        };
        let plan = state.plan(now_ms, &silenced, &traits);
        if plan.is_empty() {
            return;
        }
        match self.outbox.enqueue(&plan.notifications, plan.ops.clone()) {
            Ok(()) => state.commit(plan, now_ms),
            Err(e) => {
                error!(
                    error = %e,
                    notifications = plan.notifications.len(),
                    "writing notifications to the outbox failed; trying again in 5 s"
                );
                state.postpone(&plan, now_ms + RETRY_AFTER_MS);
            }
        }
    }
}

#[cfg(test)]
mod tests;
