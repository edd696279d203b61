//! The correlation engine: firing and resolved alerts in, incidents out (see the parent
//! module for the rules). Pure: time is passed in; the caller stores the [`Change`]s.

use std::collections::{BTreeMap, BTreeSet};

use super::{Change, Entry, Event, Grouping, Incident, IncidentAlert, Settings, Severity, Status};
use crate::notify::model::Alert;

/// An alert that joined no incident yet, waiting for `open_after`.
#[derive(Debug, Clone)]
struct Pending {
    alert: Alert,
    since_ms: i64,
}

/// The open incidents and the alerts waiting for one.
#[derive(Debug)]
pub struct Engine {
    settings: Settings,
    next_id: u64,
    /// Open incidents by id.
    open: BTreeMap<u64, Incident>,
    /// Which open incident each alert (by fingerprint) belongs to.
    member: BTreeMap<String, u64>,
    pending: BTreeMap<String, Pending>,
    /// Timeline entries added since the last [`Engine::take_changes`], by incident.
    touched: BTreeMap<u64, Vec<Entry>>,
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Engine {
    /// An engine with the incidents that were open when the collector stopped; `next_id`
    /// is the first id never used.
    pub fn new(settings: Settings, open: Vec<Incident>, next_id: u64) -> Self {
        let mut engine = Self {
            settings,
            next_id: next_id.max(1),
            open: BTreeMap::new(),
            member: BTreeMap::new(),
            pending: BTreeMap::new(),
            touched: BTreeMap::new(),
        };
        for incident in open.into_iter().filter(Incident::is_open) {
            engine.next_id = engine.next_id.max(incident.id + 1);
            for alert in &incident.alerts {
                engine.member.insert(alert.fingerprint.clone(), incident.id);
            }
            engine.open.insert(incident.id, incident);
        }
        engine
    }

    /// The open incidents.
    pub fn open(&self) -> impl Iterator<Item = &Incident> {
        self.open.values()
    }

    /// The first id not used yet.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Alerts waiting for `open_after` before an incident opens for them.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Takes in one evaluation's alerts (firing, and just resolved), then does what time
    /// asks for ([`Engine::tick`]).
    pub fn observe(&mut self, alerts: &[Alert], now_ms: i64) -> Vec<Change> {
        for alert in alerts {
            let fp = alert.fingerprint();
            if alert.resolved() {
                self.pending.remove(&fp);
                if let Some(&id) = self.member.get(&fp) {
                    self.alert_resolved(id, &fp, alert.ends_at_ms.unwrap_or(now_ms), now_ms);
                }
                continue;
            }
            if let Some(&id) = self.member.get(&fp) {
                self.fires_again(id, &fp, alert, now_ms);
            } else if let Some(id) = self.place(alert, now_ms) {
                self.join(id, vec![alert.clone()], now_ms);
            } else {
                self.pending
                    .entry(fp)
                    .and_modify(|p| p.alert = alert.clone())
                    .or_insert(Pending {
                        alert: alert.clone(),
                        since_ms: now_ms,
                    });
            }
        }
        self.tick(now_ms)
    }

    /// Opens incidents for the alerts that waited long enough, and resolves the incidents
    /// whose quiet period is over. Call it now and then even without alerts.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Change> {
        let due = self
            .pending
            .values()
            .any(|p| now_ms - p.since_ms >= ms(self.settings.open_after));
        if due {
            let waiting: Vec<Alert> = std::mem::take(&mut self.pending)
                .into_values()
                .map(|p| p.alert)
                .collect();
            self.open_for(waiting, now_ms);
        }
        let quiet = ms(self.settings.quiet_period);
        let over: Vec<u64> = self
            .open
            .values()
            .filter(|i| i.quiet_since_ms.is_some_and(|q| now_ms - q >= quiet))
            .map(|i| i.id)
            .collect();
        for id in over {
            self.record(id, now_ms, Event::Resolved);
            if let Some(incident) = self.open.get_mut(&id) {
                incident.status = Status::Resolved;
                incident.resolved_ms = Some(now_ms);
            }
        }
        self.take_changes()
    }

    /// Notes that `receivers` were told incident `id` opened.
    pub fn mark_notified(&mut self, id: u64, receivers: &std::collections::BTreeSet<String>) {
        if let Some(incident) = self.open.get_mut(&id) {
            incident.notified.extend(receivers.iter().cloned());
        }
    }

    /// Marks incident `id` as taken by `by`.
    pub fn acknowledge(
        &mut self,
        id: u64,
        by: &str,
        comment: &str,
        now_ms: i64,
    ) -> Result<Change, String> {
        let Some(incident) = self.open.get_mut(&id) else {
            return Err(format!(
                "incident {id} is not open (resolved, or no such incident); see vigil incidents"
            ));
        };
        incident.status = Status::Acknowledged;
        self.record(
            id,
            now_ms,
            Event::Acknowledged {
                by: by.to_owned(),
                comment: comment.to_owned(),
            },
        );
        self.take_changes()
            .into_iter()
            .next()
            .ok_or_else(|| "nothing changed".to_owned())
    }

    /// The incidents changed since the last call; resolved ones leave the engine.
    fn take_changes(&mut self) -> Vec<Change> {
        let touched = std::mem::take(&mut self.touched);
        let mut changes = Vec::with_capacity(touched.len());
        for (id, added) in touched {
            let Some(incident) = self.open.get(&id) else {
                continue;
            };
            changes.push(Change {
                incident: incident.clone(),
                added,
            });
            if !incident.is_open() {
                for alert in &incident.alerts {
                    self.member.remove(&alert.fingerprint);
                }
                self.open.remove(&id);
            }
        }
        changes
    }

    fn record(&mut self, id: u64, at_ms: i64, event: Event) {
        let entry = Entry { at_ms, event };
        if let Some(incident) = self.open.get_mut(&id) {
            incident.timeline.push(entry.clone());
        }
        self.touched.entry(id).or_default().push(entry);
    }

    /// The open incident `alert` belongs with, if any: its host is down, a topology value
    /// it shares, the same alert across the fleet, its host (its own incident, or one where
    /// another of its alerts fires).
    fn place(&self, alert: &Alert, now_ms: i64) -> Option<u64> {
        let window = ms(self.settings.window);
        let recent = |i: &&Incident| now_ms - i.active_ms <= window;
        let host = alert.labels.get("host");
        if let Some(h) = host {
            let down = self.open.values().find(|i| {
                i.firing().any(|a| {
                    a.labels.get("host") == Some(h)
                        && self.is_absorbing(&a.labels)
                        && a.fingerprint != alert.fingerprint()
                })
            });
            if let Some(i) = down {
                return Some(i.id);
            }
        }
        for label in &self.settings.topology_labels {
            let Some(value) = alert.labels.get(label) else {
                continue;
            };
            let shared = self
                .open
                .values()
                .filter(recent)
                .find(|i| i.alerts.iter().any(|a| a.labels.get(label) == Some(value)));
            if let Some(i) = shared {
                return Some(i.id);
            }
        }
        let name = alert.labels.get("alertname");
        let fleet = self.open.values().filter(recent).find(
            |i| matches!(&i.grouping, Grouping::Fleet { alertname } if Some(alertname) == name),
        );
        if let Some(i) = fleet {
            return Some(i.id);
        }
        // The same host: its own incident, else one where another alert of the host fires
        // (a fleet incident its stale-metrics alert opened before its HostDown fired).
        let h = host?;
        self.open
            .values()
            .filter(recent)
            .find(|i| matches!(&i.grouping, Grouping::Host { host } if host == h))
            .or_else(|| {
                self.open.values().filter(recent).find(|i| {
                    i.firing().any(|a| {
                        a.labels.get("host") == Some(h) && a.fingerprint != alert.fingerprint()
                    })
                })
            })
            .map(|i| i.id)
    }

    fn is_absorbing(&self, labels: &crate::notify::model::LabelMap) -> bool {
        labels
            .get("alertname")
            .is_some_and(|n| self.settings.absorbing.iter().any(|a| a == n))
    }

    /// Opens incidents for alerts that waited: the same alert on many hosts first (those
    /// that absorb their hosts' alerts before the others), then a topology value, a host,
    /// or the alert alone.
    fn open_for(&mut self, mut waiting: Vec<Alert>, now_ms: i64) {
        waiting.sort_by(|a, b| {
            (a.starts_at_ms, a.fingerprint()).cmp(&(b.starts_at_ms, b.fingerprint()))
        });
        let mut by_name: BTreeMap<(bool, String), BTreeSet<String>> = BTreeMap::new();
        for alert in &waiting {
            if let (Some(name), Some(host)) =
                (alert.labels.get("alertname"), alert.labels.get("host"))
            {
                by_name
                    .entry((!self.is_absorbing(&alert.labels), name.clone()))
                    .or_default()
                    .insert(host.clone());
            }
        }
        let fleets: Vec<String> = by_name
            .into_iter()
            .filter(|(_, hosts)| hosts.len() >= self.settings.fleet_hosts.max(2))
            .map(|((_, name), _)| name)
            .collect();
        for name in fleets {
            let (mine, rest): (Vec<Alert>, Vec<Alert>) = waiting.into_iter().partition(|a| {
                a.labels.get("alertname") == Some(&name) && a.labels.contains_key("host")
            });
            waiting = rest;
            if !mine.is_empty() {
                self.create(Grouping::Fleet { alertname: name }, mine, now_ms);
                waiting = self.place_all(waiting, now_ms);
            }
        }
        while let Some(first) = waiting.first().cloned() {
            let grouping = self.grouping_of(&first);
            let (mine, rest): (Vec<Alert>, Vec<Alert>) = waiting
                .into_iter()
                .partition(|a| self.grouping_of(a) == grouping);
            self.create(grouping, mine, now_ms);
            waiting = self.place_all(rest, now_ms);
        }
    }

    /// Joins the alerts an open incident now takes; returns the others.
    fn place_all(&mut self, alerts: Vec<Alert>, now_ms: i64) -> Vec<Alert> {
        let mut rest = Vec::new();
        for alert in alerts {
            match self.place(&alert, now_ms) {
                Some(id) => self.join(id, vec![alert], now_ms),
                None => rest.push(alert),
            }
        }
        rest
    }

    fn grouping_of(&self, alert: &Alert) -> Grouping {
        for label in &self.settings.topology_labels {
            if let Some(value) = alert.labels.get(label) {
                return Grouping::Topology {
                    label: label.clone(),
                    value: value.clone(),
                };
            }
        }
        match alert.labels.get("host") {
            Some(host) => Grouping::Host { host: host.clone() },
            None => Grouping::Alert {
                fingerprint: alert.fingerprint(),
            },
        }
    }

    fn create(&mut self, grouping: Grouping, alerts: Vec<Alert>, now_ms: i64) {
        let id = self.next_id;
        self.next_id += 1;
        let members: Vec<IncidentAlert> = alerts.iter().map(|a| member(a, now_ms)).collect();
        let mut incident = Incident {
            id,
            grouping,
            title: String::new(),
            severity: Severity::None,
            status: Status::Open,
            opened_ms: now_ms,
            resolved_ms: None,
            active_ms: now_ms,
            quiet_since_ms: None,
            cause: None,
            alerts: members,
            timeline: Vec::new(),
            tickets: BTreeMap::new(),
            notified: Default::default(),
        };
        for a in &incident.alerts {
            self.member.insert(a.fingerprint.clone(), id);
        }
        incident.severity = incident
            .alerts
            .iter()
            .map(|a| Severity::of(&a.labels))
            .max()
            .unwrap_or(Severity::None);
        self.describe(&mut incident);
        let opened = Event::Opened {
            alerts: incident
                .alerts
                .iter()
                .map(|a| a.fingerprint.clone())
                .collect(),
        };
        self.open.insert(id, incident);
        self.record(id, now_ms, opened);
    }

    fn join(&mut self, id: u64, alerts: Vec<Alert>, now_ms: i64) {
        let Some(incident) = self.open.get_mut(&id) else {
            return;
        };
        let before = incident.severity;
        let was_quiet = incident.quiet_since_ms.take().is_some();
        let mut joined = Vec::new();
        for alert in &alerts {
            let m = member(alert, now_ms);
            joined.push(m.fingerprint.clone());
            self.member.insert(m.fingerprint.clone(), id);
            incident.severity = incident.severity.max(Severity::of(&m.labels));
            incident.alerts.push(m);
        }
        incident.active_ms = now_ms;
        let after = incident.severity;
        let mut copy = incident.clone();
        self.describe(&mut copy);
        let (title, cause) = (copy.title, copy.cause);
        if let Some(incident) = self.open.get_mut(&id) {
            incident.title = title;
            incident.cause = cause;
        }
        if was_quiet {
            self.record(id, now_ms, Event::Reopened);
        }
        self.record(id, now_ms, Event::Joined { alerts: joined });
        if after > before {
            self.record(
                id,
                now_ms,
                Event::Escalated {
                    from: before,
                    to: after,
                },
            );
        }
    }

    fn fires_again(&mut self, id: u64, fp: &str, alert: &Alert, now_ms: i64) {
        let Some(incident) = self.open.get_mut(&id) else {
            return;
        };
        let Some(member) = incident.alerts.iter_mut().find(|a| a.fingerprint == fp) else {
            return;
        };
        member.annotations = alert.annotations.clone();
        if member.resolved_ms.take().is_none() {
            return;
        }
        // It had resolved: it is active again.
        member.starts_at_ms = alert.starts_at_ms;
        incident.active_ms = now_ms;
        let was_quiet = incident.quiet_since_ms.take().is_some();
        if was_quiet {
            self.record(id, now_ms, Event::Reopened);
        }
        self.record(
            id,
            now_ms,
            Event::Joined {
                alerts: vec![fp.to_owned()],
            },
        );
    }

    fn alert_resolved(&mut self, id: u64, fp: &str, at_ms: i64, now_ms: i64) {
        let Some(incident) = self.open.get_mut(&id) else {
            return;
        };
        let Some(member) = incident.alerts.iter_mut().find(|a| a.fingerprint == fp) else {
            return;
        };
        if member.resolved_ms.is_some() {
            return;
        }
        member.resolved_ms = Some(at_ms);
        let quiet = incident.firing().next().is_none();
        if quiet {
            incident.quiet_since_ms = Some(now_ms);
        }
        self.record(
            id,
            now_ms,
            Event::AlertResolved {
                alert: fp.to_owned(),
            },
        );
        if quiet {
            self.record(id, now_ms, Event::Quiet);
        }
    }

    /// Sets the probable cause and the title.
    fn describe(&self, incident: &mut Incident) {
        let topology = |a: &&IncidentAlert| {
            !a.labels.contains_key("host")
                && self
                    .settings
                    .topology_labels
                    .iter()
                    .any(|l| a.labels.contains_key(l))
        };
        let earliest = |a: &&IncidentAlert, b: &&IncidentAlert| {
            (a.starts_at_ms, &a.fingerprint).cmp(&(b.starts_at_ms, &b.fingerprint))
        };
        // A topology alert or one that absorbs its host's alerts explains the others: it is
        // the cause, and names a fleet's incident when it joined one opened by another alert.
        let explaining = incident
            .alerts
            .iter()
            .filter(topology)
            .min_by(earliest)
            .or_else(|| {
                incident
                    .alerts
                    .iter()
                    .filter(|a| self.is_absorbing(&a.labels))
                    .min_by(earliest)
            });
        let cause = explaining.or_else(|| incident.alerts.iter().min_by(earliest));
        incident.cause = cause.map(|a| a.fingerprint.clone());
        let cause_name = cause
            .and_then(|a| a.labels.get("alertname"))
            .cloned()
            .unwrap_or_else(|| "alert".to_owned());
        let hosts = incident.hosts().len();
        let more = incident.alerts.len().saturating_sub(1);
        let more = match more {
            0 => String::new(),
            1 => " and 1 more alert".to_owned(),
            n => format!(" and {n} more alerts"),
        };
        incident.title = match &incident.grouping {
            Grouping::Fleet { alertname } if explaining.is_some() && cause_name != *alertname => {
                format!("{cause_name} on {hosts} hosts, after {alertname}")
            }
            Grouping::Fleet { alertname } => format!("{alertname} on {hosts} hosts"),
            Grouping::Host { host } => format!("{cause_name} on {host}{more}"),
            Grouping::Topology { label, value } if hosts > 1 => {
                format!("{cause_name} at {label}={value} ({hosts} hosts){more}")
            }
            Grouping::Topology { label, value } => {
                format!("{cause_name} at {label}={value}{more}")
            }
            Grouping::Alert { .. } => format!("{cause_name}{more}"),
        };
    }
}

fn member(alert: &Alert, now_ms: i64) -> IncidentAlert {
    IncidentAlert {
        fingerprint: alert.fingerprint(),
        labels: alert.labels.clone(),
        annotations: alert.annotations.clone(),
        starts_at_ms: alert.starts_at_ms,
        joined_ms: now_ms,
        resolved_ms: None,
    }
}
