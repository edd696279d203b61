//! The life of alert instances: inactive → pending → firing → resolved, per label set.
//!
//! A pure state machine: [`Lifecycle::evaluate`] takes the evaluation time and what the
//! rule's expressions returned, and answers with the transitions. Nothing here reads a
//! clock or the store, so the rules of the lifecycle are tested with made-up times.
//!
//! - A label set the condition returns for the first time is pending since now; it fires at
//!   the first evaluation at least `for` later (at once with `for: 0`).
//! - A pending instance whose condition stops goes back to inactive at once.
//! - A firing instance whose condition stops stays firing while `keep_firing_for` has not
//!   passed since the first evaluation that missed it (as Prometheus counts; after a
//!   restart the window starts again at the first evaluation that misses it).
//! - With Vigil's `clear:` (hysteresis), a firing instance resolves only once the clear
//!   expression returns a series for it as well: a series whose labels (`__name__` aside) all
//!   appear, with the same values, among the alert's labels. A value hovering around the
//!   threshold keeps one firing episode instead of flapping. A series that vanishes
//!   altogether (neither expression returns it) leaves its alert firing: nothing said it
//!   cleared. Both `clear` and `keep_firing_for` must allow a resolution.

use std::collections::{BTreeMap, HashSet};

use super::status::AlertState;
use vigil_store::Labels;

/// A rule's timing and whether it has a clear condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// `for:`, in milliseconds.
    pub for_ms: i64,
    /// `keep_firing_for:`, in milliseconds.
    pub keep_firing_for_ms: i64,
    /// Whether the rule has `clear:`: firing alerts then resolve only when it holds.
    pub hysteresis: bool,
}

/// One series the condition returned at this evaluation, turned into an alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The alert's labels: the series' labels without `__name__`, the rule's labels, and
    /// `alertname`.
    pub labels: Labels,
    /// The value shown with the alert.
    pub value: f64,
    /// Annotations, templates expanded.
    pub annotations: BTreeMap<String, String>,
    /// Forecasts: predicted crossing and its band (unix milliseconds).
    pub eta_ms: Option<(i64, i64, i64)>,
}

/// One pending or firing alert instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// The alert's labels (its identity within the rule).
    pub labels: Labels,
    /// Pending or firing.
    pub state: AlertState,
    /// Since when the condition has held: where the `for` timer started.
    pub active_since_ms: i64,
    /// Since when it has been firing.
    pub firing_since_ms: Option<i64>,
    /// When the condition last held.
    pub last_active_ms: i64,
    /// The first evaluation since then at which the condition did not hold:
    /// `keep_firing_for` counts from here. Not saved across restarts.
    pub keep_firing_since_ms: Option<i64>,
    /// When a notification was last sent about it (the notifier sets it; kept across restarts).
    pub last_notified_ms: Option<i64>,
    /// The value at the last evaluation where the condition held.
    pub value: f64,
    /// Annotations as last expanded.
    pub annotations: BTreeMap<String, String>,
    /// Forecasts: predicted crossing and its band.
    pub eta_ms: Option<(i64, i64, i64)>,
}

/// What happened to an instance at one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// New, waiting for `for`.
    Pending,
    /// Started firing.
    Firing,
    /// Was pending; the condition stopped before `for` passed.
    Inactive,
    /// Was firing; now resolved.
    Resolved,
}

/// A transition of one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The instance's labels.
    pub labels: Labels,
    /// What happened.
    pub change: Change,
}

/// The alert instances of one rule.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    timing: Timing,
    instances: BTreeMap<Labels, Instance>,
}

impl Lifecycle {
    /// No instances yet.
    pub fn new(timing: Timing) -> Self {
        Self {
            timing,
            instances: BTreeMap::new(),
        }
    }

    /// Puts back an instance loaded from the store after a restart; its timers go on from
    /// where they were.
    pub fn restore(&mut self, instance: Instance) {
        self.instances.insert(instance.labels.clone(), instance);
    }

    /// The pending and firing instances, sorted by labels.
    pub fn instances(&self) -> impl Iterator<Item = &Instance> {
        self.instances.values()
    }

    /// Records that a notification about `labels` was sent at `at_ms`.
    pub fn mark_notified(&mut self, labels: &Labels, at_ms: i64) -> bool {
        match self.instances.get_mut(labels) {
            Some(i) => {
                i.last_notified_ms = Some(at_ms);
                true
            }
            None => false,
        }
    }

    /// The clock went back by `by_ms` since the last evaluation (an NTP step, an
    /// operator's `date`): every instance's times move back with it, so `for` and
    /// `keep_firing_for` go on counting the time that really passed, instead of waiting
    /// out the jump.
    pub fn clock_went_back(&mut self, by_ms: i64) {
        let back = |t: &mut i64| *t = t.saturating_sub(by_ms);
        for inst in self.instances.values_mut() {
            back(&mut inst.active_since_ms);
            back(&mut inst.last_active_ms);
            inst.firing_since_ms.as_mut().map(back);
            inst.keep_firing_since_ms.as_mut().map(back);
            inst.last_notified_ms.as_mut().map(back);
        }
    }

    /// One evaluation at `now_ms`: `observed` is what the condition returned; `cleared`
    /// what the clear expression returned (label sets without `__name__`; ignored without
    /// hysteresis). A label set observed twice counts once (the first).
    pub fn evaluate(
        &mut self,
        now_ms: i64,
        observed: Vec<Observation>,
        cleared: &[Labels],
    ) -> Vec<Transition> {
        let mut changes = Vec::new();
        let mut seen = HashSet::new();
        for obs in observed {
            if !seen.insert(obs.labels.clone()) {
                continue;
            }
            match self.instances.get_mut(&obs.labels) {
                Some(inst) => {
                    inst.value = obs.value;
                    inst.annotations = obs.annotations;
                    inst.eta_ms = obs.eta_ms;
                    inst.last_active_ms = now_ms;
                    inst.keep_firing_since_ms = None;
                    if inst.state == AlertState::Pending
                        && now_ms - inst.active_since_ms >= self.timing.for_ms
                    {
                        inst.state = AlertState::Firing;
                        inst.firing_since_ms = Some(now_ms);
                        changes.push(transition(&inst.labels, Change::Firing));
                    }
                }
                None => {
                    let firing = self.timing.for_ms <= 0;
                    let inst = Instance {
                        labels: obs.labels.clone(),
                        state: if firing {
                            AlertState::Firing
                        } else {
                            AlertState::Pending
                        },
                        active_since_ms: now_ms,
                        firing_since_ms: firing.then_some(now_ms),
                        last_active_ms: now_ms,
                        keep_firing_since_ms: None,
                        last_notified_ms: None,
                        value: obs.value,
                        annotations: obs.annotations,
                        eta_ms: obs.eta_ms,
                    };
                    let change = if firing {
                        Change::Firing
                    } else {
                        Change::Pending
                    };
                    changes.push(transition(&inst.labels, change));
                    self.instances.insert(obs.labels, inst);
                }
            }
        }
        let timing = self.timing;
        self.instances.retain(|labels, inst| {
            if seen.contains(labels) {
                return true;
            }
            if inst.state == AlertState::Pending {
                changes.push(transition(labels, Change::Inactive));
                return false;
            }
            let since = *inst.keep_firing_since_ms.get_or_insert(now_ms);
            let kept = now_ms - since < timing.keep_firing_for_ms;
            let clear = !timing.hysteresis || cleared.iter().any(|c| clears(c, labels));
            if kept || !clear {
                return true;
            }
            changes.push(transition(labels, Change::Resolved));
            false
        });
        changes
    }
}

fn transition(labels: &Labels, change: Change) -> Transition {
    Transition {
        labels: labels.clone(),
        change,
    }
}

/// Whether a series the clear expression returned is about this alert: each of its labels
/// (`__name__` aside) is one of the alert's, with the same value.
pub fn clears(cleared: &Labels, alert: &Labels) -> bool {
    cleared
        .pairs()
        .iter()
        .filter(|(name, _)| name != vigil_store::METRIC_NAME)
        .all(|(name, value)| alert.get(name) == value)
}

#[cfg(test)]
mod tests;
