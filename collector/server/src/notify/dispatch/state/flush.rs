//! A flush of the groups that are due: what to leave out (silenced, inhibited), what the
//! notification log says to send ([`log::decide`]), the notifications and the writes that
//! go with them — planned first, committed once the outbox made them durable, or
//! postponed when that failed.

use super::log::{self, Decision, LogEntry};
use super::{GroupId, ReceiverTraits, State};
use crate::notify::model::{Alert, LabelMap, Notification, fingerprint};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use vigil_store::KvOp;

/// What one flush does to one group once its write is durable.
#[derive(Debug, Clone)]
struct GroupFlush {
    id: GroupId,
    receiver: String,
    /// `Some(None)`: delete the log entry; `None`: leave it.
    entry: Option<Option<LogEntry>>,
    /// Resolved alerts that leave the group.
    leaving: Vec<u64>,
}

/// The flush of the due groups: notifications to enqueue and the writes that go with them
/// (log entries, forgotten alerts), to be made in one atomic write, then committed.
#[derive(Debug, Default)]
pub struct Plan {
    /// Notifications for the outbox.
    pub notifications: Vec<Notification>,
    /// Log and alert records to write with them.
    pub ops: Vec<KvOp>,
    groups: Vec<GroupFlush>,
}

impl Plan {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.notifications.is_empty() && self.ops.is_empty() && self.groups.is_empty()
    }
}

impl State {
    /// The flush of every group due at `now_ms`. `silenced` says whether an alert is
    /// silenced; `receiver` describes a receiver by name.
    pub fn plan(
        &mut self,
        now_ms: i64,
        silenced: &dyn Fn(&LabelMap) -> bool,
        receiver: &dyn Fn(&str) -> ReceiverTraits,
    ) -> Plan {
        // No flush is set further ahead than its route's longest wait: a time beyond it
        // means the clock went back since it was set, and the flush is brought back to
        // that wait from now instead of waiting out the jump.
        for (id, g) in &mut self.groups {
            if let Some(route) = self.tree.routes.get(id.0) {
                let longest = route.group_interval_ms.max(route.group_wait_ms);
                g.next_flush_ms = g.next_flush_ms.min(now_ms.saturating_add(longest));
            }
        }
        let due: Vec<GroupId> = self
            .groups
            .iter()
            .filter(|(_, g)| g.next_flush_ms <= now_ms)
            .map(|(id, _)| id.clone())
            .collect();
        let mut plan = Plan::default();
        if due.is_empty() {
            return plan;
        }
        self.inhibitor();
        let inhibitor = self.inhibitor.take().unwrap_or_default();
        for id in due {
            if let Some(flush) = self.plan_group(
                &id,
                now_ms,
                &mut plan,
                &|labels| silenced(labels) || inhibitor.is_inhibited(labels),
                receiver,
            ) {
                plan.groups.push(flush);
            }
        }
        self.inhibitor = Some(inhibitor);
        // Writes for what the flushes forget: alerts that leave their last group, groups
        // left empty (their log entries go too).
        let mut leaving: HashMap<u64, BTreeSet<&GroupId>> = HashMap::new();
        for flush in &plan.groups {
            for fp in &flush.leaving {
                leaving.entry(*fp).or_default().insert(&flush.id);
            }
        }
        for (fp, from) in &leaving {
            if let Some(held) = self.alerts.get(fp)
                && held.groups.iter().all(|g| from.contains(g))
            {
                plan.ops.push(log::alert_op(*fp, None));
            }
        }
        for flush in &mut plan.groups {
            let leaving: BTreeSet<&u64> = flush.leaving.iter().collect();
            if let Some(group) = self.groups.get(&flush.id)
                && group.alerts.iter().all(|fp| leaving.contains(fp))
            {
                flush.entry = Some(None);
            }
            if let Some(entry) = &flush.entry {
                plan.ops
                    .push(log::log_op(&flush.receiver, &flush.id.1, entry.as_ref()));
            }
        }
        plan
    }

    fn plan_group(
        &self,
        id: &GroupId,
        now_ms: i64,
        plan: &mut Plan,
        muted: &dyn Fn(&LabelMap) -> bool,
        receiver_traits: &dyn Fn(&str) -> ReceiverTraits,
    ) -> Option<GroupFlush> {
        let group = self.groups.get(id)?;
        let route = &self.tree.routes[id.0];
        let receiver = route.receiver.clone();
        let traits = receiver_traits(&receiver);
        let log_key = (receiver.clone(), id.1.clone());
        let entry = self.log.get(&log_key);
        let mut firing: Vec<&Alert> = Vec::new();
        let mut resolved: Vec<&Alert> = Vec::new();
        let mut leaving = Vec::new();
        for fp in &group.alerts {
            let Some(held) = self.alerts.get(fp) else {
                continue;
            };
            if held.alert.resolved() {
                leaving.push(*fp);
            }
            if muted(&held.alert.labels) {
                continue;
            }
            if held.alert.resolved() {
                resolved.push(&held.alert);
            } else {
                firing.push(&held.alert);
            }
        }
        let mut flush = GroupFlush {
            id: id.clone(),
            receiver: receiver.clone(),
            entry: None,
            leaving,
        };
        if firing.is_empty() && resolved.is_empty() {
            // Everything muted or gone: the log stays as it is, as in Alertmanager.
            return Some(flush);
        }
        firing.sort_by(|a, b| a.labels.cmp(&b.labels));
        resolved.sort_by(|a, b| a.labels.cmp(&b.labels));
        let firing_set: BTreeMap<u64, i64> = firing
            .iter()
            .map(|a| (fingerprint(&a.labels), a.starts_at_ms))
            .collect();
        let resolved_set: BTreeSet<u64> = resolved.iter().map(|a| fingerprint(&a.labels)).collect();
        let announced = log::announced(entry, &resolved_set);
        let decision = log::decide(
            entry,
            &firing_set,
            &announced,
            traits.send_resolved,
            route.repeat_interval_ms,
            now_ms,
        );
        let notification = |alerts: Vec<Alert>, refresh: bool| Notification {
            receiver: receiver.clone(),
            group_key: id.1.clone(),
            group_labels: group.labels.clone(),
            alerts,
            external_url: self.external_url.clone(),
            created_ms: now_ms,
            test: false,
            refresh,
            group_interval_ms: route.group_interval_ms,
            incident: None,
        };
        match decision {
            Decision::Notify => {
                let mut alerts: Vec<Alert> = firing.iter().map(|a| (*a).clone()).collect();
                if traits.send_resolved {
                    alerts.extend(
                        resolved
                            .iter()
                            .filter(|a| announced.contains(&fingerprint(&a.labels)))
                            .map(|a| (*a).clone()),
                    );
                }
                if !alerts.is_empty() {
                    plan.notifications.push(notification(alerts, false));
                }
                // Nothing firing any more: the group is done with this receiver.
                let done = firing_set.is_empty();
                flush.entry = Some((!done).then_some(LogEntry {
                    firing: firing_set,
                    resolved: announced,
                    sent_ms: now_ms,
                }));
            }
            Decision::Unchanged if traits.needs_refresh && !firing.is_empty() => {
                let alerts = firing.iter().map(|a| (*a).clone()).collect();
                plan.notifications.push(notification(alerts, true));
            }
            Decision::Unchanged => {}
        }
        Some(flush)
    }

    /// Applies a plan whose writes are durable.
    pub fn commit(&mut self, plan: Plan, now_ms: i64) {
        for flush in plan.groups {
            if let Some(entry) = flush.entry {
                let key = (flush.receiver.clone(), flush.id.1.clone());
                match entry {
                    Some(e) => self.log.insert(key, e),
                    None => self.log.remove(&key),
                };
            }
            for fp in &flush.leaving {
                if let Some(group) = self.groups.get_mut(&flush.id) {
                    group.alerts.remove(fp);
                }
                if let Some(held) = self.alerts.get_mut(fp) {
                    held.groups.remove(&flush.id);
                    if held.groups.is_empty() {
                        self.alerts.remove(fp);
                    }
                }
            }
            let interval = self.tree.routes[flush.id.0].group_interval_ms;
            match self.groups.get_mut(&flush.id) {
                Some(group) if group.alerts.is_empty() => {
                    self.groups.remove(&flush.id);
                }
                Some(group) => group.next_flush_ms = now_ms.saturating_add(interval),
                None => {}
            }
        }
    }

    /// A plan whose write failed: its groups try again at `retry_ms`.
    pub fn postpone(&mut self, plan: &Plan, retry_ms: i64) {
        for flush in &plan.groups {
            if let Some(group) = self.groups.get_mut(&flush.id) {
                group.next_flush_ms = retry_ms;
            }
        }
    }
}
