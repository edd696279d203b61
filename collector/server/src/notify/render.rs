//! What a notification says: the email subject and bodies (Vigil's defaults, or the
//! operator's templates), the Alertmanager webhook JSON, and times as RFC 3339.
//!
//! Defaults follow Alertmanager's, which ops teams recognise:
//!
//! ```text
//! subject:  [FIRING:2] HighCpu (host=a severity=page)
//!           [RESOLVED] HighCpu
//! text:     the subject, a count line, a link to Vigil, then every alert (firing first)
//!           with its labels, annotations, start and end, and its source link.
//! html:     the same as a small table per alert.
//! ```
//!
//! Templates (`subject`, `text`, `html` in `[[notify.receivers.email]]`) use the Go
//! template syntax of rule annotations, with Alertmanager's notification data; see
//! [`vigil_rules::template::expand_notification`].

use super::model::{Alert, Notification};
use std::time::{Duration, UNIX_EPOCH};
use vigil_rules::template;

mod defaults;
pub mod incident;

pub use defaults::{default_html, default_subject, default_text, escape_html};

/// Go's zero time as Alertmanager writes the `endsAt` of a firing alert.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Unix milliseconds as RFC 3339 in UTC, with milliseconds when there are any
/// (`2026-11-21T10:42:30Z`, `2026-11-21T10:42:30.5Z`), as Go writes `time.Time`.
pub fn rfc3339(ms: i64) -> String {
    let t = if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms as u64)
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    };
    let text = humantime::format_rfc3339_millis(t).to_string();
    // "…:30.500Z" → "…:30.5Z"; "…:30.000Z" → "…:30Z".
    match text.strip_suffix('Z').and_then(|t| t.split_once('.')) {
        Some((head, fraction)) => {
            let fraction = fraction.trim_end_matches('0');
            if fraction.is_empty() {
                format!("{head}Z")
            } else {
                format!("{head}.{fraction}Z")
            }
        }
        None => text,
    }
}

/// Alertmanager's webhook body (version 4). Status and common labels describe every
/// alert; `alerts` holds at most `max_alerts` of them (0: all), the rest counted in
/// `truncatedAlerts`. An incident's body is Vigil's own ([`incident::webhook_json`]),
/// its alerts bounded the same way.
pub fn webhook_json(n: &Notification, max_alerts: usize) -> serde_json::Value {
    if let Some(notice) = &n.incident {
        return incident::webhook_json(n, notice, max_alerts);
    }
    let keep = if max_alerts == 0 {
        n.alerts.len()
    } else {
        max_alerts.min(n.alerts.len())
    };
    let alerts: Vec<serde_json::Value> = n.alerts[..keep].iter().map(webhook_alert).collect();
    serde_json::json!({
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": n.alerts.len() - keep,
        "status": n.status(),
        "receiver": n.receiver,
        "groupLabels": n.group_labels,
        "commonLabels": n.common_labels(),
        "commonAnnotations": n.common_annotations(),
        "externalURL": n.external_url,
        "alerts": alerts,
    })
}

fn webhook_alert(a: &Alert) -> serde_json::Value {
    serde_json::json!({
        "status": if a.resolved() { "resolved" } else { "firing" },
        "labels": a.labels,
        "annotations": a.annotations,
        "startsAt": rfc3339(a.starts_at_ms),
        "endsAt": a.ends_at_ms.map_or_else(|| ZERO_TIME.to_owned(), rfc3339),
        "generatorURL": a.generator_url,
        "fingerprint": a.fingerprint(),
    })
}

/// The subject and bodies of an email integration: the operator's templates where set,
/// else Vigil's defaults. A template that fails when run (such as a `printf` error) falls
/// back to the default, with a warning: a notification is never lost to a template.
#[derive(Debug, Clone, Default)]
pub struct EmailTemplates {
    subject: Option<String>,
    text: Option<String>,
    html: Option<String>,
}

impl EmailTemplates {
    /// Checks the templates; the error names the key. `html = ""` sends no HTML part.
    pub fn new(
        subject: Option<&str>,
        text: Option<&str>,
        html: Option<&str>,
    ) -> Result<Self, String> {
        // Fields are only known when a template runs: run each on a sample with a firing
        // and a resolved alert, so a misspelt field fails at start, not at 3 a.m.
        let sample = template_data(&sample_notification());
        for (key, template, is_html) in [
            ("subject", subject, false),
            ("text", text, false),
            ("html", html, true),
        ] {
            if let Some(t) = template {
                template::check_notification(t).map_err(|e| format!("{key}: {e}"))?;
                template::expand_notification(t, &sample, is_html)
                    .map_err(|e| format!("{key}: {e} (on a sample notification)"))?;
            }
        }
        Ok(Self {
            subject: subject.map(str::to_owned),
            text: text.map(str::to_owned),
            html: html.map(str::to_owned),
        })
    }

    /// The subject, on one line.
    pub fn subject(&self, n: &Notification) -> String {
        let subject = expand_or(self.subject.as_deref(), n, "subject", false, any_subject);
        subject.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The plain-text body.
    pub fn text(&self, n: &Notification) -> String {
        expand_or(self.text.as_deref(), n, "text", false, any_text)
    }

    /// The HTML body; `None` when turned off with `html = ""`.
    pub fn html(&self, n: &Notification) -> Option<String> {
        match self.html.as_deref() {
            Some("") => None,
            html => Some(expand_or(html, n, "html", true, any_html)),
        }
    }
}

/// The default subject of an alert group or of an incident.
fn any_subject(n: &Notification) -> String {
    match &n.incident {
        Some(notice) => incident::subject(n, notice),
        None => default_subject(n),
    }
}

/// The default text body of an alert group or of an incident.
fn any_text(n: &Notification) -> String {
    match &n.incident {
        Some(notice) => incident::text(n, notice),
        None => default_text(n),
    }
}

/// The default HTML body: an incident's is its text, preformatted.
fn any_html(n: &Notification) -> String {
    match &n.incident {
        Some(notice) => format!(
            "<!DOCTYPE html>\n<html><body><pre>{}</pre></body></html>\n",
            escape_html(&incident::text(n, notice))
        ),
        None => default_html(n),
    }
}

/// A notification with one firing and one resolved alert, for checking templates.
fn sample_notification() -> Notification {
    let alert = |host: &str, ends_at_ms| Alert {
        labels: [("alertname", "Sample"), ("host", host)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        annotations: [("summary".to_owned(), "a sample".to_owned())].into(),
        starts_at_ms: 0,
        ends_at_ms,
        generator_url: String::new(),
    };
    Notification {
        receiver: "sample".into(),
        group_key: "{}".into(),
        group_labels: [("alertname".to_owned(), "Sample".to_owned())].into(),
        alerts: vec![alert("a", None), alert("b", Some(1000))],
        external_url: String::new(),
        created_ms: 0,
        test: true,
        refresh: false,
        group_interval_ms: 0,
        incident: None,
    }
}

fn expand_or(
    template: Option<&str>,
    n: &Notification,
    key: &str,
    html: bool,
    default: fn(&Notification) -> String,
) -> String {
    let Some(template) = template else {
        return default(n);
    };
    match template::expand_notification(template, &template_data(n), html) {
        Ok(text) => text,
        Err(e) => {
            tracing::warn!(receiver = %n.receiver, template = key, error = %e,
                "notification template failed; sending Vigil's default instead");
            default(n)
        }
    }
}

/// What notification templates see: Alertmanager's template data.
pub fn template_data(n: &Notification) -> template::NotificationData {
    template::NotificationData {
        receiver: n.receiver.clone(),
        status: n.status().to_owned(),
        group_labels: n.group_labels.clone(),
        common_labels: n.common_labels(),
        common_annotations: n.common_annotations(),
        external_url: n.external_url.clone(),
        group_key: n.group_key.clone(),
        alerts: n
            .alerts
            .iter()
            .map(|a| template::AlertData {
                status: if a.resolved() { "resolved" } else { "firing" }.to_owned(),
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at: rfc3339(a.starts_at_ms),
                ends_at: a.ends_at_ms.map_or_else(|| ZERO_TIME.to_owned(), rfc3339),
                generator_url: a.generator_url.clone(),
                fingerprint: a.fingerprint(),
            })
            .collect(),
        incident: incident_fields(n),
    }
}

/// `.Incident` of the templates (see [`template::NotificationData::incident`]).
fn incident_fields(n: &Notification) -> std::collections::BTreeMap<String, String> {
    let Some(notice) = &n.incident else {
        return Default::default();
    };
    let i = &notice.incident;
    let fp_name = |fp: &str| {
        i.alerts
            .iter()
            .find(|a| a.fingerprint == fp)
            .and_then(|a| a.labels.get("alertname").cloned())
            .unwrap_or_default()
    };
    [
        ("ID", i.id.to_string()),
        ("Title", i.title.clone()),
        (
            "Severity",
            crate::incidents::service::severity_name(i.severity).to_owned(),
        ),
        (
            "Status",
            crate::incidents::service::status_name(i.status).to_owned(),
        ),
        ("Event", notice.step.as_str().to_owned()),
        ("URL", incident::link(&n.external_url, i.id)),
        ("Correlation", notice.correlation.clone()),
        ("Hosts", i.hosts().len().to_string()),
        ("Cause", i.cause.as_deref().map(fp_name).unwrap_or_default()),
        ("OpenedAt", rfc3339(i.opened_ms)),
        ("ResolvedAt", i.resolved_ms.map(rfc3339).unwrap_or_default()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn labels(pairs: &[(&str, &str)]) -> crate::notify::model::LabelMap {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    /// Two HighCpu alerts on host a (one resolved), grouped by alertname.
    pub(crate) fn sample() -> Notification {
        let alert = |instance: &str, ends: Option<i64>| Alert {
            labels: labels(&[
                ("alertname", "HighCpu"),
                ("host", "a"),
                ("instance", instance),
                ("severity", "page"),
            ]),
            annotations: labels(&[("summary", "CPU <busy> on a")]),
            starts_at_ms: 1_700_000_000_000,
            ends_at_ms: ends,
            generator_url: "http://vigil/graph?g0.expr=cpu".into(),
        };
        Notification {
            receiver: "ops".into(),
            group_key: "{}:{alertname=\"HighCpu\"}".into(),
            group_labels: labels(&[("alertname", "HighCpu")]),
            alerts: vec![alert("a:1", None), alert("a:2", Some(1_700_000_060_500))],
            external_url: "https://vigil.example.com".into(),
            created_ms: 1_700_000_100_000,
            test: false,
            refresh: false,
            group_interval_ms: 300_000,
            incident: None,
        }
    }

    #[test]
    fn times_are_rfc3339_like_go() {
        assert_eq!(rfc3339(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(1_700_000_000_500), "2023-11-14T22:13:20.5Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn webhook_json_is_alertmanagers_version_4() {
        let n = sample();
        let body = webhook_json(&n, 0);
        assert_eq!(body["version"], "4");
        assert_eq!(body["status"], "firing");
        assert_eq!(body["receiver"], "ops");
        assert_eq!(body["groupKey"], n.group_key);
        assert_eq!(body["truncatedAlerts"], 0);
        assert_eq!(body["groupLabels"]["alertname"], "HighCpu");
        assert_eq!(body["commonLabels"]["host"], "a");
        assert!(body["commonLabels"].get("instance").is_none());
        assert_eq!(body["commonAnnotations"]["summary"], "CPU <busy> on a");
        assert_eq!(body["externalURL"], "https://vigil.example.com");
        let a = &body["alerts"];
        assert_eq!(a[0]["status"], "firing");
        assert_eq!(a[0]["endsAt"], ZERO_TIME);
        assert_eq!(a[0]["startsAt"], "2023-11-14T22:13:20Z");
        assert_eq!(a[0]["fingerprint"], n.alerts[0].fingerprint());
        assert_eq!(a[1]["status"], "resolved");
        assert_eq!(a[1]["endsAt"], "2023-11-14T22:14:20.5Z");
        assert_eq!(a[1]["generatorURL"], "http://vigil/graph?g0.expr=cpu");

        let cut = webhook_json(&n, 1);
        assert_eq!(cut["alerts"].as_array().unwrap().len(), 1);
        assert_eq!(cut["truncatedAlerts"], 1);
        // Status and common labels still describe every alert.
        assert_eq!(cut["commonLabels"], body["commonLabels"]);
    }

    #[test]
    fn an_incident_webhook_keeps_its_first_max_alerts_and_counts_the_rest() {
        use crate::incidents::IncidentAlert;
        use crate::notify::model::Step;
        let mut n = crate::notify::tickets::test_notification(
            "ops",
            "https://vigil.example.com",
            1_700_000_000_000,
            "vigil-test-1",
            Step::Opened,
        );
        let notice = n.incident.as_mut().unwrap();
        let first = notice.incident.alerts[0].clone();
        for k in 1..5 {
            notice.incident.alerts.push(IncidentAlert {
                fingerprint: format!("{k:016x}"),
                ..first.clone()
            });
        }
        let whole = webhook_json(&n, 0);
        assert_eq!(whole["kind"], "incident");
        assert_eq!(whole["truncatedAlerts"], 0);
        assert_eq!(whole["incident"]["alerts"].as_array().unwrap().len(), 5);
        let cut = webhook_json(&n, 2);
        assert_eq!(cut["truncatedAlerts"], 3);
        let kept = cut["incident"]["alerts"].as_array().unwrap();
        assert_eq!(kept.len(), 2);
        assert_eq!(
            kept[0]["fingerprint"], first.fingerprint,
            "the cause is kept"
        );
        assert_eq!(
            kept[1]["fingerprint"],
            whole["incident"]["alerts"][1]["fingerprint"]
        );
        assert_eq!(cut["incident"]["timeline"], whole["incident"]["timeline"]);
        assert_eq!(webhook_json(&n, 9)["truncatedAlerts"], 0);
    }
}
