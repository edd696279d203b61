//! What the dispatcher holds — the alerts, their aggregation groups and the notification
//! log — and the two things it does with them: take alerts in, and plan the flush of the
//! groups that are due. No clock, store or network here: every call takes `now_ms`, and
//! writes come back as [`KvOp`]s for the caller to make durable, so the rules are tested
//! with made-up times.
//!
//! - An alert is held once (by fingerprint) and sits in one group per route that takes it;
//!   a group is a route and the values of its `group_by` labels.
//! - A new group is flushed `group_wait` after it was made (at once when its alert started
//!   longer ago than that, as after a restart), then every `group_interval`.
//! - At a flush, silenced and inhibited alerts are left out, the log decides
//!   ([`log::decide`]), and resolved alerts leave the group. An alert in no group any more
//!   is forgotten; so is a group with no alerts, and its log entry.
//! - A firing alert the rules stop reporting without resolving it (a crash between the
//!   rules' write and ours lost its resolution, say) is resolved once it has not been
//!   reported for an hour or four times the longest gap seen between two reports,
//!   whichever is longer (Alertmanager's `resolve_timeout`, sized for rule groups
//!   evaluated as rarely as every 15 minutes). The clock starts again at a restart.

mod flush;

pub use flush::Plan;

use super::inhibit::{InhibitRule, Inhibitor};
use super::log::{self, LogEntry};
use super::route::{RouteTree, group_key};
use crate::notify::model::{Alert, LabelMap, fingerprint};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tracing::{error, warn};
use vigil_store::KvOp;

/// A firing alert not reported for this long (at least) is resolved.
const STALE_MIN_MS: i64 = 3600 * 1000;
/// Between two "too many alerts" errors.
const OVER_CAP_LOG_EVERY_MS: i64 = 60_000;

/// A group's identity: its route's index and its group key.
pub type GroupId = (usize, String);

/// What the dispatcher needs to know of a receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReceiverTraits {
    /// It wants resolved alerts.
    pub send_resolved: bool,
    /// It gets the firing alerts again at every group interval (alertmanager).
    pub needs_refresh: bool,
}

/// One alert the dispatcher holds.
#[derive(Debug, Clone)]
struct Held {
    alert: Alert,
    groups: BTreeSet<GroupId>,
    /// When the rules last reported it (or when it was loaded).
    last_seen_ms: i64,
    /// The longest gap seen between two reports.
    gap_ms: i64,
}

/// An aggregation group.
#[derive(Debug, Clone)]
struct Group {
    labels: LabelMap,
    alerts: BTreeSet<u64>,
    next_flush_ms: i64,
}

/// The dispatcher's state.
pub struct State {
    tree: RouteTree,
    inhibit_rules: Vec<InhibitRule>,
    external_url: String,
    max_alerts: usize,
    alerts: HashMap<u64, Held>,
    groups: BTreeMap<GroupId, Group>,
    log: HashMap<(String, String), LogEntry>,
    /// Built from the firing alerts when asked, dropped when they change.
    inhibitor: Option<Inhibitor>,
    over_cap_logged_ms: Option<i64>,
}

impl State {
    /// Nothing held yet.
    pub fn new(
        tree: RouteTree,
        inhibit_rules: Vec<InhibitRule>,
        external_url: String,
        max_alerts: usize,
    ) -> Self {
        Self {
            tree,
            inhibit_rules,
            external_url,
            max_alerts,
            alerts: HashMap::new(),
            groups: BTreeMap::new(),
            log: HashMap::new(),
            inhibitor: None,
            over_cap_logged_ms: None,
        }
    }

    /// Number of alerts held.
    pub fn alert_count(&self) -> usize {
        self.alerts.len()
    }

    /// Loads what was saved before a restart: alerts are routed again into groups and log
    /// entries kept for groups that exist. Returns deletes for records that could not be
    /// read or belong to nothing.
    pub fn load(
        &mut self,
        alerts: Vec<(Vec<u8>, Vec<u8>)>,
        entries: Vec<(Vec<u8>, Vec<u8>)>,
        now_ms: i64,
    ) -> Vec<KvOp> {
        let mut ops = Vec::new();
        for (key, value) in alerts {
            match serde_json::from_slice::<Alert>(&value) {
                Ok(alert) if log::alert_key(fingerprint(&alert.labels)) == key => {
                    if self.alerts.len() >= self.max_alerts {
                        self.over_cap(now_ms);
                        ops.push(KvOp::delete(vigil_store::Space::NotifyAlerts, key));
                        continue;
                    }
                    self.insert(alert, now_ms);
                }
                _ => {
                    warn!(
                        key = %String::from_utf8_lossy(&key),
                        "a saved notifier alert could not be read; dropping it"
                    );
                    ops.push(KvOp::delete(vigil_store::Space::NotifyAlerts, key));
                }
            }
        }
        let groups: BTreeSet<(String, String)> = self
            .groups
            .keys()
            .map(|(route, key)| (self.tree.routes[*route].receiver.clone(), key.clone()))
            .collect();
        for (key, value) in entries {
            let parsed = log::parse_log_key(&key).and_then(|k| {
                serde_json::from_slice::<LogEntry>(&value)
                    .ok()
                    .map(|e| (k, e))
            });
            match parsed {
                Some((k, entry)) if groups.contains(&k) => {
                    self.log.insert(k, entry);
                }
                _ => ops.push(KvOp::delete(vigil_store::Space::NotifyLog, key)),
            }
        }
        ops
    }

    /// Takes the alerts of one rule evaluation at `now_ms`: firing ones join their groups
    /// (a new group waits `group_wait`), resolved ones are marked so for the next flush.
    /// Returns the writes that keep the held alerts across a restart (a new alert, a start
    /// or a resolution; a firing alert only refreshed is not written again).
    pub fn observe(&mut self, alerts: Vec<Alert>, now_ms: i64) -> Vec<KvOp> {
        let mut ops = Vec::new();
        for alert in alerts {
            let fp = fingerprint(&alert.labels);
            let resolved = alert.resolved();
            match self.alerts.get_mut(&fp) {
                Some(held) if !held.alert.resolved() => {
                    held.gap_ms = held.gap_ms.max(now_ms.saturating_sub(held.last_seen_ms));
                    held.last_seen_ms = now_ms;
                    let saved_changes = resolved
                        || held.alert.starts_at_ms != alert.starts_at_ms
                        || held.alert.generator_url != alert.generator_url;
                    let annotations = std::mem::take(&mut held.alert.annotations);
                    held.alert = Alert {
                        annotations: if alert.annotations.is_empty() {
                            annotations
                        } else {
                            alert.annotations
                        },
                        ..alert
                    };
                    if saved_changes {
                        ops.push(log::alert_op(fp, Some(&held.alert)));
                    }
                    if resolved {
                        self.inhibitor = None;
                    }
                }
                // Resolved and never seen firing (or already resolved): nothing to tell.
                _ if resolved => {}
                Some(held) => {
                    // Fires again before its resolution was flushed: a new start.
                    held.alert = alert;
                    held.last_seen_ms = now_ms;
                    held.gap_ms = 0;
                    ops.push(log::alert_op(fp, Some(&held.alert)));
                    let alert = held.alert.clone();
                    let joined = self.route(fp, &alert, now_ms);
                    if let Some(held) = self.alerts.get_mut(&fp) {
                        held.groups.extend(joined);
                    }
                    self.inhibitor = None;
                }
                None => {
                    if self.alerts.len() >= self.max_alerts {
                        self.over_cap(now_ms);
                        continue;
                    }
                    ops.push(log::alert_op(fp, Some(&alert)));
                    self.insert(alert, now_ms);
                }
            }
        }
        ops
    }

    /// Resolves firing alerts the rules have stopped reporting (see the module's docs).
    pub fn expire_stale(&mut self, now_ms: i64) -> Vec<KvOp> {
        let mut ops = Vec::new();
        for (fp, held) in &mut self.alerts {
            let quiet = now_ms.saturating_sub(held.last_seen_ms);
            if held.alert.resolved() || quiet < STALE_MIN_MS.max(held.gap_ms.saturating_mul(4)) {
                continue;
            }
            warn!(
                alert = %super::inhibit::alert_name(&held.alert.labels),
                quiet_s = quiet / 1000,
                "the rules stopped reporting a firing alert; resolving it"
            );
            held.alert.ends_at_ms = Some(now_ms);
            ops.push(log::alert_op(*fp, Some(&held.alert)));
            self.inhibitor = None;
        }
        ops
    }

    fn over_cap(&mut self, now_ms: i64) {
        if self
            .over_cap_logged_ms
            .is_none_or(|at| now_ms - at >= OVER_CAP_LOG_EVERY_MS)
        {
            self.over_cap_logged_ms = Some(now_ms);
            error!(
                limit = self.max_alerts,
                "the notifier holds as many alerts as it may; new alerts are not notified \
                 until some resolve (fix the rules that fire this many)"
            );
        }
    }

    fn insert(&mut self, alert: Alert, now_ms: i64) {
        let fp = fingerprint(&alert.labels);
        let groups = self.route(fp, &alert, now_ms);
        self.alerts.insert(
            fp,
            Held {
                alert,
                groups,
                last_seen_ms: now_ms,
                gap_ms: 0,
            },
        );
        self.inhibitor = None;
    }

    /// Puts the alert into the group of each route that takes it; returns those groups.
    fn route(&mut self, fp: u64, alert: &Alert, now_ms: i64) -> BTreeSet<GroupId> {
        let mut joined = BTreeSet::new();
        for index in self.tree.matching(&alert.labels) {
            let route = &self.tree.routes[index];
            if route.incident {
                // Its receiver hears of the incident instead (`incidents::notices`).
                continue;
            }
            let labels = route.group_by.group_labels(&alert.labels);
            let id = (index, group_key(&route.key, &labels));
            // Alertmanager's rule: an alert that started longer ago than group_wait (as
            // after a restart) does not make a new group wait.
            let first_flush = if alert.starts_at_ms.saturating_add(route.group_wait_ms) <= now_ms {
                now_ms
            } else {
                now_ms.saturating_add(route.group_wait_ms)
            };
            let group = self.groups.entry(id.clone()).or_insert_with(|| Group {
                labels,
                alerts: BTreeSet::new(),
                next_flush_ms: first_flush,
            });
            group.alerts.insert(fp);
            joined.insert(id);
        }
        joined
    }

    fn inhibitor(&mut self) -> &Inhibitor {
        let (rules, alerts) = (&self.inhibit_rules, &self.alerts);
        self.inhibitor.get_or_insert_with(|| {
            Inhibitor::new(
                rules,
                alerts
                    .values()
                    .filter(|h| !h.alert.resolved())
                    .map(|h| &h.alert.labels),
            )
        })
    }

    /// The firing alerts that mute an alert with `labels`, as `alertname{labels}`.
    pub fn inhibited_by(&mut self, labels: &LabelMap) -> Vec<String> {
        self.inhibitor().inhibited_by(labels)
    }
}

#[cfg(test)]
mod tests;
