//! A running group: its rules' state, one evaluation of all of them, and what it looks
//! like from outside.
//!
//! An evaluation runs the queries without holding the state lock (so `vigil rules` does
//! not wait for slow queries), then applies the results under it: lifecycle transitions,
//! `ALERTS` series, recorded series, and the alert instances' durable state.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::evaluate::anomaly::Watch;
use super::evaluate::{self, Outcome};
use super::handover;
use super::host_anomaly::{self, Board};
use super::host_down;
use super::lifecycle::{Change, Instance, Lifecycle, Timing};
use super::output::{SeriesWriter, alert_series};
use super::status::{ActiveAlert, AlertState, GroupStatus, Health, RuleStatus};
use crate::notify::notifier::Notifier;
use crate::registry::Registry;
use vigil_promql::Engine;
use vigil_rules::spec::{Rule, RuleKind};
use vigil_store::{AlertKey, Labels, Store, StoredAlert};

/// Where a group's rules get their results.
pub(super) enum Source {
    /// Rules from a file, evaluated on the engine.
    Files,
    /// The built-in host-down rule, from the registry.
    HostDown {
        /// The host registry.
        registry: Arc<Registry>,
        /// When a host counts as down.
        down: host_down::Downtime,
    },
    /// The built-in host anomaly rate and its alert, from the board the anomaly rules mark.
    HostAnomaly {
        /// What every anomaly rule last found.
        board: Arc<Board>,
        /// The rate from which `HostAnomalous` is active.
        over: f64,
    },
}

/// One rule and its running state.
pub(super) struct RuleState {
    pub rule: Rule,
    pub lifecycle: Lifecycle,
    pub health: Health,
    pub last_error: Option<String>,
    pub last_evaluation_ms: Option<i64>,
    pub evaluation_seconds: f64,
    writer: SeriesWriter,
    /// Alert instances whose state is in the store (removed there when they end).
    pub persisted: HashSet<AlertKey>,
    /// An anomaly rule's detectors.
    pub watch: Option<Arc<Mutex<Watch>>>,
}

impl RuleState {
    /// A rule not evaluated yet, with the instances of `restored` that belong to it
    /// (taken out of `restored`): same file, group and name, and the rule's fixed labels.
    pub fn new(rule: Rule, file: &str, group: &str, restored: &mut Vec<StoredAlert>) -> Self {
        let mut lifecycle = Lifecycle::new(timing(&rule));
        let mut persisted = HashSet::new();
        let alerting = !matches!(rule.kind, RuleKind::Record { .. });
        let (mine, others): (Vec<StoredAlert>, Vec<StoredAlert>) =
            std::mem::take(restored).into_iter().partition(|a| {
                alerting
                    && a.key.file == file
                    && a.key.group == group
                    && a.key.rule == rule.name
                    && rule
                        .labels
                        .iter()
                        .all(|(n, v)| v.contains("{{") || a.key.labels.get(n) == v)
            });
        *restored = others;
        let watch = match &rule.kind {
            RuleKind::Anomaly(spec) => {
                Some(Arc::new(Mutex::new(Watch::new(file, group, &rule, spec))))
            }
            _ => None,
        };
        for stored in mine {
            persisted.insert(stored.key.clone());
            lifecycle.restore(Instance {
                labels: stored.key.labels,
                state: if stored.firing {
                    AlertState::Firing
                } else {
                    AlertState::Pending
                },
                active_since_ms: stored.active_since_ms,
                firing_since_ms: stored.firing_since_ms,
                last_active_ms: stored.last_active_ms,
                keep_firing_since_ms: None,
                last_notified_ms: stored.last_notified_ms,
                value: stored.value,
                annotations: BTreeMap::new(),
                eta_ms: None,
            });
        }
        Self {
            rule,
            lifecycle,
            health: Health::Unknown,
            last_error: None,
            last_evaluation_ms: None,
            evaluation_seconds: 0.0,
            writer: SeriesWriter::default(),
            persisted,
            watch,
        }
    }

    /// Saves an anomaly rule's detectors (on a clean stop).
    pub fn checkpoint(&self, store: &dyn Store, now_ms: i64) {
        if let Some(watch) = &self.watch {
            lock(watch).checkpoint(store, now_ms);
        }
    }
}

fn timing(rule: &Rule) -> Timing {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    Timing {
        for_ms: ms(rule.for_),
        keep_firing_for_ms: ms(rule.keep_firing_for),
        hysteresis: matches!(rule.kind, RuleKind::Threshold { clear: Some(_), .. }),
    }
}

/// Whether two rules are the same definition (their place in the file aside).
pub(super) fn same_definition(a: &Rule, b: &Rule) -> bool {
    a.name == b.name
        && Rule {
            line: 0,
            ..a.clone()
        } == Rule {
            line: 0,
            ..b.clone()
        }
}

struct GroupState {
    rules: Vec<RuleState>,
    last_evaluation_ms: Option<i64>,
}

/// A group being evaluated every `interval`.
pub(super) struct GroupRun {
    pub file: String,
    pub name: String,
    pub interval: Duration,
    source: Source,
    state: Mutex<GroupState>,
    /// False once stopped; held for the whole of an evaluation, so stopping waits for one
    /// in progress and no evaluation applies results after its rules were handed over.
    running: Mutex<bool>,
    /// The task that evaluates it, aborted on stop so it lets go of the store at once.
    task: Mutex<Option<tokio::task::AbortHandle>>,
    /// Gets the firing and just resolved alerts after each evaluation.
    notifier: Option<Notifier>,
    /// Where anomaly rules mark what they find (for the host anomaly rate).
    board: Option<Arc<Board>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl GroupRun {
    pub fn new(
        file: String,
        name: String,
        interval: Duration,
        source: Source,
        rules: Vec<RuleState>,
    ) -> Self {
        Self {
            file,
            name,
            interval,
            source,
            state: Mutex::new(GroupState {
                rules,
                last_evaluation_ms: None,
            }),
            running: Mutex::new(true),
            task: Mutex::new(None),
            notifier: None,
            board: None,
        }
    }

    /// Has the group's anomaly rules mark what they find on `board`.
    pub fn mark_on(mut self, board: Option<Arc<Board>>) -> Self {
        self.board = board;
        self
    }

    /// The keys of the group's anomaly rules' saved detectors.
    pub fn watch_keys(&self) -> Vec<Vec<u8>> {
        lock(&self.state)
            .rules
            .iter()
            .filter_map(|r| r.watch.as_ref().map(|w| lock(w).key().to_vec()))
            .collect()
    }

    /// Hands the group's alerts to `notifier` after each evaluation.
    pub fn notify_to(mut self, notifier: Option<Notifier>) -> Self {
        self.notifier = notifier;
        self
    }

    fn generator_url(&self, rule: &Rule) -> String {
        self.notifier
            .as_ref()
            .map(|n| handover::generator_url(&n.external_url, rule))
            .unwrap_or_default()
    }

    /// Ends the series the rules wrote (a removed rule's alerts vanish from `ALERTS` at once).
    pub fn end_series(rules: &mut [RuleState], store: &dyn Store, now_ms: i64) {
        for rs in rules {
            if let Err(e) = rs.writer.write(store, now_ms, &[]) {
                warn!(rule = %rs.rule.name, error = %e, "ending a removed rule's series failed");
            }
        }
    }

    /// Stops the group (waiting for an evaluation in progress) and hands over its rules.
    pub fn stop(&self) -> Vec<RuleState> {
        let mut running = lock(&self.running);
        *running = false;
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
        std::mem::take(&mut lock(&self.state).rules)
    }

    /// Remembers the task evaluating the group.
    pub fn set_task(&self, task: tokio::task::AbortHandle) {
        *lock(&self.task) = Some(task);
    }

    /// Records that a notification about an alert of `rule` was sent.
    pub fn mark_notified(&self, rule: &str, labels: &Labels, at_ms: i64) -> bool {
        lock(&self.state)
            .rules
            .iter_mut()
            .filter(|r| r.rule.name == rule)
            .any(|r| r.lifecycle.mark_notified(labels, at_ms))
    }

    /// Evaluates every rule at `now_ms`; false once the group is stopped.
    pub fn evaluate(&self, engine: &Engine, store: &dyn Store, now_ms: i64) -> bool {
        let running = lock(&self.running);
        if !*running {
            return false;
        }
        // Each rule, and the hosts its alerts name (which the host-down rule needs).
        type Planned = (Rule, HashSet<String>, Option<Arc<Mutex<Watch>>>);
        let rules: Vec<Planned> = lock(&self.state)
            .rules
            .iter()
            .map(|r| {
                let hosts = r
                    .lifecycle
                    .instances()
                    .map(|i| i.labels.get("host").to_owned())
                    .collect();
                (r.rule.clone(), hosts, r.watch.clone())
            })
            .collect();
        let outcomes: Vec<(Outcome, f64)> = rules
            .iter()
            .map(|(rule, alerting, watch)| {
                let started = Instant::now();
                let outcome = match (&self.source, &rule.kind, watch) {
                    (Source::Files, RuleKind::Anomaly(spec), Some(watch)) => {
                        evaluate::anomaly::evaluate(
                            engine,
                            store,
                            rule,
                            spec,
                            watch,
                            self.board.as_deref(),
                            now_ms,
                        )
                        .unwrap_or_else(Outcome::Failed)
                    }
                    (Source::Files, _, _) => evaluate::evaluate(engine, rule, now_ms),
                    (Source::HostDown { registry, down }, _, _) => {
                        host_down::evaluate(registry, rule, down, alerting, now_ms)
                    }
                    (Source::HostAnomaly { board, over }, _, _) => {
                        host_anomaly::evaluate(board, rule, *over, now_ms)
                    }
                };
                (outcome, started.elapsed().as_secs_f64())
            })
            .collect();
        let mut state = lock(&self.state);
        let mut put = Vec::new();
        let mut remove = Vec::new();
        let mut now_persisted = Vec::new();
        let mut handed = Vec::new();
        for (rs, (outcome, seconds)) in state.rules.iter_mut().zip(outcomes) {
            if let Some(last) = rs.last_evaluation_ms
                && now_ms < last
            {
                // The clock went back: the alerts' timers move back with it, as if this
                // evaluation came one interval after the last (as it did).
                let interval_ms = i64::try_from(self.interval.as_millis()).unwrap_or(0);
                warn!(
                    group = %self.name,
                    rule = %rs.rule.name,
                    back_ms = last - now_ms,
                    "the clock went back since the last evaluation; alert timers move back \
                     with it, so `for` counts the time that really passed"
                );
                rs.lifecycle
                    .clock_went_back((last - now_ms).saturating_add(interval_ms));
            }
            rs.last_evaluation_ms = Some(now_ms);
            rs.evaluation_seconds = seconds;
            let series = match outcome {
                Outcome::Alerts {
                    observed,
                    cleared,
                    error,
                } => {
                    let url = self.generator_url(&rs.rule);
                    let before = match self.notifier {
                        Some(_) => handover::before(rs.lifecycle.instances(), &url),
                        None => handover::Firing::new(),
                    };
                    let transitions = rs.lifecycle.evaluate(now_ms, observed, &cleared);
                    for t in &transitions {
                        log_transition(&self.name, &rs.rule.name, &t.labels, t.change);
                    }
                    if self.notifier.is_some() {
                        handed.extend(handover::firing(rs.lifecycle.instances(), &url));
                        handed.extend(handover::resolved(&transitions, &before, now_ms));
                    }
                    rs.health = if error.is_some() {
                        Health::Err
                    } else {
                        Health::Ok
                    };
                    rs.last_error = error;
                    let keys = self.records(rs, &mut put);
                    remove.extend(rs.persisted.difference(&keys).cloned());
                    now_persisted.push(keys);
                    rs.lifecycle
                        .instances()
                        .flat_map(|i| {
                            alert_series(
                                &i.labels,
                                i.state == AlertState::Firing,
                                i.active_since_ms,
                            )
                        })
                        .collect()
                }
                Outcome::Recorded(series) => {
                    rs.health = Health::Ok;
                    rs.last_error = None;
                    now_persisted.push(HashSet::new());
                    series
                }
                Outcome::Failed(message) => {
                    warn!(group = %self.name, rule = %rs.rule.name, error = %message, "rule evaluation failed");
                    rs.health = Health::Err;
                    rs.last_error = Some(message);
                    now_persisted.push(rs.persisted.clone());
                    // Its alerts keep their state: the notifier hears they still fire.
                    if self.notifier.is_some() {
                        let url = self.generator_url(&rs.rule);
                        handed.extend(handover::firing(rs.lifecycle.instances(), &url));
                    }
                    continue;
                }
            };
            if let Err(e) = rs.writer.write(store, now_ms, &series) {
                warn!(group = %self.name, rule = %rs.rule.name, error = %e, "writing rule results failed");
                rs.health = Health::Err;
                rs.last_error = Some(format!("writing results to the store: {e}"));
            }
        }
        state.last_evaluation_ms = Some(now_ms);
        if let Some(notifier) = &self.notifier
            && !handed.is_empty()
        {
            notifier.observe(handed);
        }
        match store.write_alerts(&put, &remove) {
            Ok(()) => {
                for (rs, keys) in state.rules.iter_mut().zip(now_persisted) {
                    rs.persisted = keys;
                }
            }
            Err(e) => warn!(group = %self.name, error = %e, "saving alert state failed"),
        }
        true
    }

    /// The durable records of a rule's instances, added to `put`; returns their keys.
    fn records(&self, rs: &RuleState, put: &mut Vec<StoredAlert>) -> HashSet<AlertKey> {
        let mut keys = HashSet::new();
        for i in rs.lifecycle.instances() {
            let key = AlertKey {
                file: self.file.clone(),
                group: self.name.clone(),
                rule: rs.rule.name.clone(),
                labels: i.labels.clone(),
            };
            keys.insert(key.clone());
            put.push(StoredAlert {
                key,
                firing: i.state == AlertState::Firing,
                active_since_ms: i.active_since_ms,
                firing_since_ms: i.firing_since_ms,
                last_active_ms: i.last_active_ms,
                last_notified_ms: i.last_notified_ms,
                value: i.value,
            });
        }
        keys
    }

    /// The group as `vigil rules` shows it.
    pub fn status(&self) -> GroupStatus {
        let state = lock(&self.state);
        GroupStatus {
            name: self.name.clone(),
            file: self.file.clone(),
            interval_seconds: self.interval.as_secs_f64(),
            last_evaluation_ms: state.last_evaluation_ms,
            rules: state
                .rules
                .iter()
                .map(|rs| RuleStatus {
                    watch: rs.watch.as_ref().map(|w| {
                        let w = lock(w);
                        (w.watched(), w.restored())
                    }),
                    rule: rs.rule.clone(),
                    health: rs.health,
                    last_error: rs.last_error.clone(),
                    last_evaluation_ms: rs.last_evaluation_ms,
                    evaluation_seconds: rs.evaluation_seconds,
                    alerts: rs
                        .lifecycle
                        .instances()
                        .map(|i| ActiveAlert {
                            rule: rs.rule.name.clone(),
                            labels: i.labels.pairs().iter().cloned().collect(),
                            annotations: i.annotations.clone(),
                            state: i.state,
                            value: i.value,
                            active_since_ms: i.active_since_ms,
                            firing_since_ms: i.firing_since_ms,
                            eta_ms: i.eta_ms,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

fn log_transition(group: &str, rule: &str, labels: &Labels, change: Change) {
    let labels: Vec<String> = labels
        .pairs()
        .iter()
        .filter(|(n, _)| n != "alertname")
        .map(|(n, v)| format!("{n}={v:?}"))
        .collect();
    let labels = labels.join(",");
    match change {
        Change::Pending => info!(group, rule, labels, "alert pending"),
        Change::Firing => info!(group, rule, labels, "alert firing"),
        Change::Inactive => info!(group, rule, labels, "pending alert went inactive"),
        Change::Resolved => info!(group, rule, labels, "alert resolved"),
    }
}

#[cfg(test)]
mod tests;
