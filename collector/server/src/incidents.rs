//! Incidents: the firing alerts that belong together, as one object with a title, a
//! severity, a probable cause, a timeline and a lifecycle of its own.
//!
//! When a switch fails, fifty hosts go down and each fires three alerts; people want one
//! incident (and one ticket) from that. The [`correlate`] engine groups alerts by:
//!
//! 1. **An incident they already belong to** (the same alert firing again).
//! 2. **A host that is down**: while `HostDown{host=h}` (any of `absorbing`) fires, every
//!    other alert of host h joins its incident.
//! 3. **Shared topology labels** (`topology_labels`, e.g. `site`, `rack`, `service`): an
//!    alert joins an open incident that has an alert with the same value of one of them
//!    and was active within `window`.
//! 4. **The same host** within `window`: the host's own incident, else one where another
//!    alert of the host fires (a fleet incident its stale-metrics alert opened before its
//!    `HostDown` fired).
//! 5. **The same alert on many hosts**: alerts not placed by the above wait `open_after`
//!    (so that what fails together is seen together), then the same `alertname` on at
//!    least `fleet_hosts` hosts opens one fleet incident, which later hosts with that
//!    alert join while it was active within `window`. What is left opens an incident per
//!    topology value, else per host, else per alert.
//!
//! An incident's severity is its alerts' highest `severity` label (`critical` > `error` >
//! `warning` > `info`); a rise is an escalation. Its probable cause is the alert the others
//! depend on through the topology: one carrying a topology label but no host (the switch
//! of a rack), else an absorbing alert (the host is down), else the earliest. Once every
//! alert has resolved it waits `quiet_period`; an alert that fires again in that time
//! reopens it, otherwise it resolves. `acknowledge` marks it as being handled.
//!
//! The engine is pure: time is passed in, and what changed comes back as [`Change`]s for
//! the caller to store and to notify.

pub mod correlate;
pub mod notices;
pub mod runtime;
pub mod service;
pub mod store;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::notify::model::LabelMap;

/// How alerts are grouped into incidents and when an incident ends (`[incidents]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// How long an incident stays open to related alerts after its last alert joined or
    /// fired (same host, same topology value, same alert across the fleet).
    pub window: Duration,
    /// How long an alert that joins no incident waits before one is opened for it.
    pub open_after: Duration,
    /// Hosts with the same alert, within `window`, that make one fleet incident.
    pub fleet_hosts: usize,
    /// Labels that say where something is (`site`, `rack`, `service`): alerts sharing a
    /// value of one of them belong together.
    pub topology_labels: Vec<String>,
    /// Alerts that absorb every other alert of their host while they fire.
    pub absorbing: Vec<String>,
    /// How long an incident whose alerts have all resolved waits before it resolves.
    pub quiet_period: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(600),
            open_after: Duration::from_secs(30),
            fleet_hosts: 5,
            topology_labels: Vec::new(),
            absorbing: vec!["HostDown".to_owned()],
            quiet_period: Duration::from_secs(600),
        }
    }
}

/// Where an incident stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Alerts fire (or resolved less than the quiet period ago); nobody took it.
    Open,
    /// Someone is on it; it still resolves by itself.
    Acknowledged,
    /// Over.
    Resolved,
}

/// How bad, from the alerts' `severity` labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// No alert says.
    None,
    /// `info`.
    Info,
    /// `warning`.
    Warning,
    /// `error`.
    Error,
    /// `critical`, `page` or `emergency`.
    Critical,
}

impl Severity {
    /// The severity an alert's labels give.
    pub fn of(labels: &LabelMap) -> Self {
        match labels
            .get("severity")
            .map(|s| s.to_ascii_lowercase())
            .as_deref()
        {
            Some("critical" | "page" | "emergency" | "fatal") => Severity::Critical,
            Some("error" | "major" | "high") => Severity::Error,
            Some("warning" | "warn" | "minor" | "medium") => Severity::Warning,
            Some("info" | "informational" | "low" | "none") => Severity::Info,
            _ => Severity::None,
        }
    }
}

/// What grouped an incident's alerts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by")]
pub enum Grouping {
    /// One host's alerts.
    Host {
        /// The host.
        host: String,
    },
    /// The same alert on many hosts.
    Fleet {
        /// The alert's name.
        alertname: String,
    },
    /// A topology label's value.
    Topology {
        /// The label.
        label: String,
        /// Its value.
        value: String,
    },
    /// One alert with neither host nor topology.
    Alert {
        /// Its fingerprint.
        fingerprint: String,
    },
}

impl Grouping {
    /// Its kind (`host`, `fleet`, `topology`, `alert`) and value (`web-1`, `HostDown`,
    /// `rack=r7`, a fingerprint), as the APIs write them.
    pub fn parts(&self) -> (&'static str, String) {
        match self {
            Grouping::Host { host } => ("host", host.clone()),
            Grouping::Fleet { alertname } => ("fleet", alertname.clone()),
            Grouping::Topology { label, value } => ("topology", format!("{label}={value}")),
            Grouping::Alert { fingerprint } => ("alert", fingerprint.clone()),
        }
    }
}

/// One alert of an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentAlert {
    /// Alertmanager's fingerprint of its labels.
    pub fingerprint: String,
    /// Its labels.
    pub labels: LabelMap,
    /// Its annotations, as last seen.
    pub annotations: LabelMap,
    /// When it started firing.
    pub starts_at_ms: i64,
    /// When it joined the incident.
    pub joined_ms: i64,
    /// When it resolved; `None` while it fires.
    pub resolved_ms: Option<i64>,
}

/// What happened to an incident, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum Event {
    /// It opened with these alerts.
    Opened {
        /// Fingerprints.
        alerts: Vec<String>,
    },
    /// Alerts joined.
    Joined {
        /// Fingerprints.
        alerts: Vec<String>,
    },
    /// An alert resolved.
    AlertResolved {
        /// Fingerprint.
        alert: String,
    },
    /// Its severity rose.
    Escalated {
        /// Before.
        from: Severity,
        /// After.
        to: Severity,
    },
    /// Someone took it.
    Acknowledged {
        /// Who (the token's name).
        by: String,
        /// What they said.
        comment: String,
    },
    /// Every alert resolved; it resolves after the quiet period unless one fires again.
    Quiet,
    /// An alert fired again within the quiet period.
    Reopened,
    /// Over.
    Resolved,
}

/// One entry of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// When (Unix ms).
    pub at_ms: i64,
    /// What.
    #[serde(flatten)]
    pub event: Event,
}

/// An incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Its number, from 1, never reused.
    pub id: u64,
    /// What grouped it.
    pub grouping: Grouping,
    /// A line for people.
    pub title: String,
    /// Its alerts' highest severity.
    pub severity: Severity,
    /// Where it stands.
    pub status: Status,
    /// When it opened.
    pub opened_ms: i64,
    /// When it resolved.
    pub resolved_ms: Option<i64>,
    /// When an alert last joined or fired (the window counts from here).
    pub active_ms: i64,
    /// When its last alert resolved, while none fires (the quiet period counts from here).
    pub quiet_since_ms: Option<i64>,
    /// The alert the others depend on, by fingerprint.
    pub cause: Option<String>,
    /// Its alerts, in the order they joined.
    pub alerts: Vec<IncidentAlert>,
    /// What happened, in order.
    pub timeline: Vec<Entry>,
    /// Tickets opened for it: receiver name → the desk's id and link (filled in from the
    /// ticket book when read; not stored with the incident).
    #[serde(default, skip_serializing)]
    pub tickets: BTreeMap<String, Ticket>,
    /// The receivers (of `mode = "incident"` routes) told it opened; they hear of its
    /// escalation and resolution.
    #[serde(default)]
    pub notified: std::collections::BTreeSet<String>,
}

/// A service-desk ticket that follows an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    /// The desk's id.
    pub id: String,
    /// A link to it, when the desk gives one.
    pub url: String,
}

impl Incident {
    /// Whether it is still open (acknowledged or not).
    pub fn is_open(&self) -> bool {
        self.status != Status::Resolved
    }

    /// Its alerts that fire now.
    pub fn firing(&self) -> impl Iterator<Item = &IncidentAlert> {
        self.alerts.iter().filter(|a| a.resolved_ms.is_none())
    }

    /// The hosts its alerts name.
    pub fn hosts(&self) -> std::collections::BTreeSet<&str> {
        self.alerts
            .iter()
            .filter_map(|a| a.labels.get("host").map(String::as_str))
            .collect()
    }
}

/// What changed in one step of the engine: the incidents to store and to notify about.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The incident as it is now.
    pub incident: Incident,
    /// The timeline entries added in this step (empty when only an alert's annotations
    /// changed).
    pub added: Vec<Entry>,
}

#[cfg(test)]
mod tests;
