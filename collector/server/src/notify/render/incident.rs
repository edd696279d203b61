//! What a notification about an incident says (routes with `mode = "incident"`, and the
//! text of tickets): the subject, a plain-text body listing the alerts and the timeline,
//! and the webhook JSON.
//!
//! ```text
//! subject:  [OPENED] Incident #12 (critical): 20 hosts down (HostDown)
//! text:     the subject; status, severity, opened, probable cause, link; the alerts
//!           (firing first) with their labels and times; the timeline.
//! webhook:  {"version":"1","kind":"incident","event":"opened","receiver":"ops",
//!            "externalURL":"…","correlation":"vigil-3f2b7c1e-12","test":false,
//!            "truncatedAlerts":0,"incident":<as GET /api/v1/incidents/12 answers, its
//!            alerts cut to the webhook's max_alerts>}
//! ```

use super::rfc3339;
use crate::incidents::service::{event_text, severity_name, status_name};
use crate::incidents::{Incident, IncidentAlert};
use crate::notify::model::{IncidentNotice, Notification};
use std::fmt::Write as _;

/// `[OPENED] Incident #12 (critical): 20 hosts down (HostDown)`.
pub fn subject(n: &Notification, notice: &IncidentNotice) -> String {
    let i = &notice.incident;
    let prefix = if n.test { "[TEST] " } else { "" };
    format!(
        "{prefix}[{}] Incident #{} ({}): {}",
        notice.step.as_str().to_uppercase(),
        i.id,
        severity_name(i.severity),
        i.title
    )
}

/// Where people see incident `id` in Vigil (empty without `notify.external_url`).
pub fn link(external_url: &str, id: u64) -> String {
    if external_url.is_empty() {
        String::new()
    } else {
        format!(
            "{}/api/v1/incidents/{id}",
            external_url.trim_end_matches('/')
        )
    }
}

/// The plain-text body: the subject, a summary, the alerts and the timeline.
pub fn text(n: &Notification, notice: &IncidentNotice) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", subject(n, notice));
    summary(&mut out, &notice.incident, &n.external_url);
    if n.test {
        let _ = writeln!(
            out,
            "This is a test sent by `vigil notify test`; no incident is open."
        );
    }
    alerts(&mut out, &notice.incident);
    timeline(&mut out, &notice.incident);
    out
}

/// What a ticket comment says about one step: what the step added, then the alerts
/// firing now.
pub fn step_text(notice: &IncidentNotice) -> String {
    let i = &notice.incident;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Incident #{} {}: {} ({}, {} of {} alerts firing).",
        i.id,
        notice.step.as_str(),
        i.title,
        severity_name(i.severity),
        i.firing().count(),
        i.alerts.len()
    );
    for e in &notice.added {
        let (event, detail) = event_text(&e.event);
        let detail = describe_alerts(i, &detail);
        let _ = writeln!(out, "  {}  {event} {detail}", rfc3339(e.at_ms));
    }
    out
}

fn summary(out: &mut String, i: &Incident, external_url: &str) {
    let _ = writeln!(out, "Status:    {}", status_name(i.status));
    let _ = writeln!(out, "Severity:  {}", severity_name(i.severity));
    let _ = writeln!(out, "Opened:    {}", rfc3339(i.opened_ms));
    if let Some(r) = i.resolved_ms {
        let _ = writeln!(out, "Resolved:  {}", rfc3339(r));
    }
    let (kind, value) = i.grouping.parts();
    let _ = writeln!(out, "Grouped:   {kind} {value}");
    let hosts = i.hosts();
    if !hosts.is_empty() {
        let _ = writeln!(out, "Hosts:     {}", hosts.len());
    }
    if let Some(cause) = i.cause.as_deref().and_then(|fp| find(i, fp)) {
        let _ = writeln!(out, "Cause:     {}", name(cause));
    }
    let link = link(external_url, i.id);
    if !link.is_empty() {
        let _ = writeln!(out, "Vigil:     {link}");
    }
}

fn alerts(out: &mut String, i: &Incident) {
    let firing: Vec<&IncidentAlert> = i.firing().collect();
    let resolved: Vec<&IncidentAlert> = i
        .alerts
        .iter()
        .filter(|a| a.resolved_ms.is_some())
        .collect();
    for (title, list) in [("Firing", firing), ("Resolved", resolved)] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "\n{title} ({})\n{}",
            list.len(),
            "=".repeat(title.len())
        );
        for a in list {
            let _ = write!(out, "- {}  since {}", name(a), rfc3339(a.starts_at_ms));
            if let Some(r) = a.resolved_ms {
                let _ = write!(out, ", resolved {}", rfc3339(r));
            }
            let _ = writeln!(out);
            if let Some(summary) = a.annotations.get("summary") {
                let _ = writeln!(out, "  {summary}");
            }
        }
    }
}

fn timeline(out: &mut String, i: &Incident) {
    let _ = writeln!(out, "\nTimeline\n========");
    for e in &i.timeline {
        let (event, detail) = event_text(&e.event);
        let detail = describe_alerts(i, &detail);
        let _ = writeln!(out, "{}  {event} {detail}", rfc3339(e.at_ms));
    }
}

/// `HostDown{host="web-1"}`: the alert's name and its other labels.
fn name(a: &IncidentAlert) -> String {
    let alertname = a.labels.get("alertname").map_or("alert", String::as_str);
    let rest: Vec<String> = a
        .labels
        .iter()
        .filter(|(k, _)| *k != "alertname")
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{alertname}{{{}}}", rest.join(", "))
}

fn find<'a>(i: &'a Incident, fingerprint: &str) -> Option<&'a IncidentAlert> {
    i.alerts.iter().find(|a| a.fingerprint == fingerprint)
}

/// A timeline detail with fingerprints replaced by alert names (at most five, then a count).
fn describe_alerts(i: &Incident, detail: &str) -> String {
    let parts: Vec<&str> = detail.split(", ").collect();
    let names: Vec<String> = parts
        .iter()
        .filter_map(|fp| find(i, fp).map(name))
        .collect();
    if names.is_empty() || names.len() != parts.len() {
        return detail.to_owned();
    }
    if names.len() > 5 {
        format!("{} and {} more", names[..5].join(", "), names.len() - 5)
    } else {
        names.join(", ")
    }
}

/// The webhook body for an incident notification (see the module's documentation).
pub fn webhook_json(
    n: &Notification,
    notice: &IncidentNotice,
    max_alerts: usize,
) -> serde_json::Value {
    let mut incident = crate::http::incidents::incident_json(&notice.incident);
    // An incident of a whole fleet holds thousands of alerts, and every step sends it
    // again: `max_alerts` keeps the first ones (the cause joins first) and counts the rest.
    let mut truncated = 0;
    if max_alerts > 0
        && let Some(alerts) = incident
            .get_mut("alerts")
            .and_then(serde_json::Value::as_array_mut)
        && alerts.len() > max_alerts
    {
        truncated = alerts.len() - max_alerts;
        alerts.truncate(max_alerts);
    }
    serde_json::json!({
        "version": "1",
        "kind": "incident",
        "event": notice.step.as_str(),
        "receiver": n.receiver,
        "externalURL": n.external_url,
        "correlation": notice.correlation,
        "test": n.test,
        "truncatedAlerts": truncated,
        "incident": incident,
    })
}
