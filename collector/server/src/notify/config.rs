//! `[notify]` in the collector's config: receivers, the route tree, inhibition rules and
//! delivery settings. Documented with examples in `deploy/collector.example.toml`.
//!
//! ```toml
//! [notify]
//! external_url = "https://vigil.example.com"
//!
//! [[notify.receivers]]
//! name = "ops"
//! [[notify.receivers.email]]
//! to = ["ops@example.com"]
//! from = "vigil@example.com"
//! host = "smtp.example.com"
//! port = 587
//! tls = "starttls"
//! username = "vigil"
//! password = { file = "/etc/vigil/smtp.pass" }
//!
//! [[notify.receivers]]
//! name = "pager"
//! [[notify.receivers.webhook]]
//! url = "https://hooks.example.com/vigil"
//! secret = { env = "VIGIL_WEBHOOK_SECRET" }
//!
//! [notify.route]
//! receiver = "ops"
//! group_by = ["alertname", "host"]
//! [[notify.route.routes]]
//! matchers = ['severity="critical"']
//! receiver = "pager"
//! continue = true
//!
//! [[notify.inhibit_rules]]
//! source_matchers = ['alertname="HostDown"']
//! target_matchers = ['alertname!="HostDown"']
//! equal = ["host"]
//! ```

use super::secret::SecretSource;
use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;
use vigil_rules::matchers::Matchers;

/// `[notify]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Where people reach Vigil (`externalURL` in webhooks, links in emails).
    pub external_url: String,
    /// Receivers by name.
    pub receivers: Vec<ReceiverConfig>,
    /// The root of the route tree; required once there is a receiver.
    pub route: Option<RouteConfig>,
    /// Alerts that mute others while they fire.
    pub inhibit_rules: Vec<InhibitRuleConfig>,
    /// Retries, timeouts and bounds of the outbox.
    pub delivery: DeliveryConfig,
}

/// `[[notify.receivers]]`: a name and the integrations a notification goes to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    /// Unique name, used by routes, `vigil notify test` and metrics.
    pub name: String,
    /// Also notify when a group's alerts resolve.
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// Email integrations.
    #[serde(default)]
    pub email: Vec<EmailConfig>,
    /// Webhook integrations.
    #[serde(default)]
    pub webhook: Vec<WebhookConfig>,
    /// Alertmanager integrations.
    #[serde(default)]
    pub alertmanager: Vec<AlertmanagerConfig>,
    /// Request Tracker 5 ticket integrations (incidents only).
    #[serde(default)]
    pub rt: Vec<super::tickets::config::RtConfig>,
    /// Generic ticket integrations (incidents only).
    #[serde(default)]
    pub ticket: Vec<super::tickets::config::GenericTicketConfig>,
    /// ServiceNow incident integrations (incidents only).
    #[serde(default)]
    pub servicenow: Vec<super::tickets::config::ServiceNowConfig>,
    /// Znuny ticket integrations (incidents only).
    #[serde(default)]
    pub znuny: Vec<super::tickets::config::ZnunyConfig>,
    /// Jira Service Management request integrations (incidents only).
    #[serde(default)]
    pub jsm: Vec<super::tickets::config::JsmConfig>,
}

impl ReceiverConfig {
    /// Whether it has a ticket integration.
    pub fn has_tickets(&self) -> bool {
        !(self.rt.is_empty()
            && self.ticket.is_empty()
            && self.servicenow.is_empty()
            && self.znuny.is_empty()
            && self.jsm.is_empty())
    }
}

fn yes() -> bool {
    true
}

/// How an email integration secures its SMTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required), usually port 587.
    #[default]
    Starttls,
    /// TLS from the first byte, usually port 465.
    Tls,
    /// No TLS: only allowed to a loopback host.
    None,
}

/// `[[notify.receivers.email]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// Recipients.
    pub to: Vec<String>,
    /// Sender address.
    pub from: String,
    /// SMTP server host name (also the name checked in its certificate).
    pub host: String,
    /// SMTP port.
    #[serde(default = "smtp_port")]
    pub port: u16,
    /// `starttls` (default), `tls` or `none` (loopback only).
    #[serde(default)]
    pub tls: SmtpTls,
    /// Extra CA certificate (PEM) to trust for the server, beside the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// SMTP AUTH user name.
    #[serde(default)]
    pub username: Option<String>,
    /// SMTP AUTH password.
    #[serde(default)]
    pub password: Option<SecretSource>,
    /// Subject template (default names the status, count, alert name and group labels).
    #[serde(default)]
    pub subject: Option<String>,
    /// Plain-text body template.
    #[serde(default)]
    pub text: Option<String>,
    /// HTML body template.
    #[serde(default)]
    pub html: Option<String>,
    /// Extra headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Bound on one attempt (connect, TLS, send).
    #[serde(default = "attempt_timeout", with = "vigil_config::duration")]
    pub timeout: Duration,
}

fn smtp_port() -> u16 {
    587
}

fn attempt_timeout() -> Duration {
    Duration::from_secs(10)
}

/// `[[notify.receivers.webhook]]`: Alertmanager's webhook JSON (version 4), POSTed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST (a secret, since such URLs often carry a token).
    pub url: SecretSource,
    /// HMAC-SHA256 key: when set, each request is signed (see `notify::webhook`).
    #[serde(default)]
    pub secret: Option<SecretSource>,
    /// A second HMAC-SHA256 key, active beside `secret` while receivers move to it: each
    /// request then carries a signature with each key (see `notify::webhook`).
    #[serde(default)]
    pub previous_secret: Option<SecretSource>,
    /// Extra headers (values may be secrets, such as `Authorization`).
    #[serde(default)]
    pub headers: BTreeMap<String, SecretSource>,
    /// Allow an `Authorization` header or URL credentials over `http://` to a host that is
    /// not loopback (refused otherwise: they would cross the network in clear text).
    #[serde(default)]
    pub allow_insecure: bool,
    /// Bound on one attempt.
    #[serde(default = "attempt_timeout", with = "vigil_config::duration")]
    pub timeout: Duration,
    /// Most alerts in one body, an incident's too (0: all); the rest are counted in
    /// `truncatedAlerts`.
    #[serde(default)]
    pub max_alerts: usize,
    /// Extra CA certificate (PEM) to trust, beside the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// `[[notify.receivers.alertmanager]]`: forwards alerts to an existing Alertmanager.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Alertmanager's base URL, such as `http://127.0.0.1:9093`; alerts go to
    /// `<url>/api/v2/alerts`.
    pub url: String,
    /// Extra headers (values may be secrets).
    #[serde(default)]
    pub headers: BTreeMap<String, SecretSource>,
    /// Bound on one attempt.
    #[serde(default = "attempt_timeout", with = "vigil_config::duration")]
    pub timeout: Duration,
    /// Extra CA certificate (PEM) to trust, beside the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Allow an `Authorization` header or URL credentials over `http://` to a host that is
    /// not loopback (as for webhooks).
    #[serde(default)]
    pub allow_insecure: bool,
}

/// `[notify.route]` and its `routes`: Alertmanager's route tree. Unset fields inherit
/// from the parent; the root's defaults are Alertmanager's.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RouteConfig {
    /// Receiver of alerts this route takes (inherited when unset; required at the root).
    pub receiver: Option<String>,
    /// Label matchers an alert must satisfy to take this route (the root takes all).
    pub matchers: Vec<String>,
    /// Labels that split alerts into groups; `["..."]` groups by every label.
    pub group_by: Option<Vec<String>>,
    /// How long a new group waits for more alerts before its first notification.
    #[serde(deserialize_with = "opt_duration")]
    pub group_wait: Option<Duration>,
    /// How long a group waits before notifying about new or resolved alerts.
    #[serde(deserialize_with = "opt_duration")]
    pub group_interval: Option<Duration>,
    /// How long before a notification that changed nothing is sent again.
    #[serde(deserialize_with = "opt_duration")]
    pub repeat_interval: Option<Duration>,
    /// Go on matching the following sibling routes after this one matched.
    #[serde(rename = "continue")]
    pub continue_matching: bool,
    /// `alerts` (notify per alert group, the default) or `incident` (notify when the
    /// incident the alerts belong to opens, escalates and resolves; needs
    /// `[incidents] enabled`). Inherited when unset.
    pub mode: Option<RouteMode>,
    /// Child routes, tried in order.
    pub routes: Vec<RouteConfig>,
}

/// What a route's receiver is told of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RouteMode {
    /// Each alert group, as Alertmanager does.
    #[default]
    Alerts,
    /// The incident: one notification when it opens, one on escalation, one on
    /// resolution; ticket integrations follow it from opening to resolution.
    Incident,
}

/// `[[notify.inhibit_rules]]`: while an alert matching `source_matchers` fires, alerts
/// matching `target_matchers` with the same values of the `equal` labels are not sent.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct InhibitRuleConfig {
    /// What the muting alert matches.
    pub source_matchers: Vec<String>,
    /// What the muted alerts match.
    pub target_matchers: Vec<String>,
    /// Labels that must be equal in both.
    pub equal: Vec<String>,
}

/// `[notify.delivery]`: how the outbox retries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// First retry delay; doubles each attempt, with full jitter.
    #[serde(with = "vigil_config::duration")]
    pub backoff_initial: Duration,
    /// Longest retry delay.
    #[serde(with = "vigil_config::duration")]
    pub backoff_max: Duration,
    /// A notification still not accepted this long after it was made is dropped, with an
    /// error log and `vigil_notifications_total{result="expired"}`.
    #[serde(with = "vigil_config::duration")]
    pub give_up_after: Duration,
    /// Attempts in flight per receiver.
    pub max_in_flight: usize,
    /// Most notifications waiting in the outbox; beyond it the oldest of the fullest
    /// receiver is dropped (logged and counted as `result="dropped"`).
    pub max_outbox: usize,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            give_up_after: Duration::from_secs(24 * 3600),
            max_in_flight: 4,
            max_outbox: 100_000,
        }
    }
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    vigil_config::duration::deserialize(d).map(Some)
}

impl NotifyConfig {
    /// Checks what parses but cannot work; the error names the key. Secrets are not read
    /// here (the notifier reads them at start and says which one failed).
    pub fn validate(&self) -> Result<(), String> {
        let mut names = HashSet::new();
        for (i, r) in self.receivers.iter().enumerate() {
            let at = format!("notify.receivers[{i}]");
            if r.name.trim().is_empty() {
                return Err(format!("{at}.name: must not be empty"));
            }
            if !names.insert(r.name.as_str()) {
                return Err(format!("{at}.name: {:?} is used twice", r.name));
            }
            if r.email.is_empty()
                && r.webhook.is_empty()
                && r.alertmanager.is_empty()
                && !r.has_tickets()
            {
                return Err(format!(
                    "{at} ({:?}): has no email, webhook, alertmanager, rt, servicenow, znuny, \
                     jsm or ticket integration",
                    r.name
                ));
            }
            let desks = [
                ("rt", r.rt.iter().map(|c| c.validate()).collect::<Vec<_>>()),
                (
                    "servicenow",
                    r.servicenow.iter().map(|c| c.validate()).collect(),
                ),
                ("znuny", r.znuny.iter().map(|c| c.validate()).collect()),
                ("jsm", r.jsm.iter().map(|c| c.validate()).collect()),
                ("ticket", r.ticket.iter().map(|c| c.validate()).collect()),
            ];
            for (kind, checks) in desks {
                for (j, checked) in checks.into_iter().enumerate() {
                    checked.map_err(|e| format!("{at} ({:?}).{kind}[{j}].{e}", r.name))?;
                }
            }
            for (j, e) in r.email.iter().enumerate() {
                let at = format!("{at}.email[{j}]");
                if e.to.is_empty() {
                    return Err(format!("{at}.to: give at least one recipient"));
                }
                if e.from.trim().is_empty() {
                    return Err(format!("{at}.from: must not be empty"));
                }
                if e.host.trim().is_empty() {
                    return Err(format!("{at}.host: must not be empty"));
                }
                if e.tls == SmtpTls::None && !is_loopback_host(&e.host) {
                    return Err(format!(
                        "{at}.tls: \"none\" sends mail and passwords in clear text and is only \
                         allowed to a loopback host; use \"starttls\" or \"tls\""
                    ));
                }
            }
            for (j, w) in r.webhook.iter().enumerate() {
                let at = format!("{at} ({:?}).webhook[{j}]", r.name);
                if w.previous_secret.is_some() && w.secret.is_none() {
                    return Err(format!(
                        "{at}.previous_secret: set `secret` to the new key too; \
                         previous_secret only keeps the old key's signature during a rotation"
                    ));
                }
                // A URL from a file or the environment is checked when it is read.
                if let SecretSource::Inline(url) = &w.url
                    && let Ok(url) = reqwest::Url::parse(url)
                {
                    let headers = w.headers.keys().map(String::as_str);
                    check_cleartext(&url, headers, w.allow_insecure, "webhook")
                        .map_err(|e| format!("{at}.url: {e}"))?;
                }
            }
            for (j, a) in r.alertmanager.iter().enumerate() {
                let at = format!("{at} ({:?}).alertmanager[{j}]", r.name);
                if !(a.url.starts_with("http://") || a.url.starts_with("https://")) {
                    return Err(format!(
                        "{at}.url: {:?} is not an http:// or https:// URL",
                        a.url
                    ));
                }
                if let Ok(url) = reqwest::Url::parse(&a.url) {
                    let headers = a.headers.keys().map(String::as_str);
                    check_cleartext(&url, headers, a.allow_insecure, "alertmanager")
                        .map_err(|e| format!("{at}.url: {e}"))?;
                }
            }
        }
        match &self.route {
            None if !self.receivers.is_empty() => {
                return Err(
                    "notify.route: set a root route (receiver = \"...\") so alerts reach a \
                     receiver"
                        .into(),
                );
            }
            None => {}
            Some(root) => {
                if root.receiver.is_none() {
                    return Err("notify.route.receiver: the root route needs a receiver".into());
                }
                if !root.matchers.is_empty() {
                    return Err("notify.route.matchers: the root route takes every alert; \
                                put matchers on child routes"
                        .into());
                }
                check_route(root, "notify.route", &names)?;
                let mut incident_receivers = HashSet::new();
                incident_routes(root, false, &mut incident_receivers);
                if let Some(r) = self
                    .receivers
                    .iter()
                    .find(|r| r.has_tickets() && !incident_receivers.contains(r.name.as_str()))
                {
                    return Err(format!(
                        "notify.receivers ({:?}): has a ticket integration, but no route with \
                         mode = \"incident\" sends to it (tickets follow incidents, not alert \
                         groups); add one, like [[notify.route.routes]] receiver = {:?} \
                         mode = \"incident\" continue = true",
                        r.name, r.name
                    ));
                }
            }
        }
        for (i, rule) in self.inhibit_rules.iter().enumerate() {
            let at = format!("notify.inhibit_rules[{i}]");
            Matchers::parse(&rule.source_matchers)
                .map_err(|e| format!("{at}.source_matchers: {e}"))?;
            Matchers::parse(&rule.target_matchers)
                .map_err(|e| format!("{at}.target_matchers: {e}"))?;
        }
        let d = &self.delivery;
        if d.backoff_initial.is_zero() || d.backoff_max < d.backoff_initial {
            return Err(
                "notify.delivery.backoff_initial: must be positive and at most backoff_max".into(),
            );
        }
        if d.max_in_flight == 0 {
            return Err("notify.delivery.max_in_flight: must be at least 1".into());
        }
        if d.max_outbox == 0 {
            return Err("notify.delivery.max_outbox: must be at least 1".into());
        }
        Ok(())
    }
}

/// Adds the receivers of the routes in `mode = "incident"` (inherited from `parent`).
fn incident_routes<'a>(route: &'a RouteConfig, parent: bool, out: &mut HashSet<&'a str>) {
    let incident = route.mode.map_or(parent, |m| m == RouteMode::Incident);
    if incident && let Some(r) = &route.receiver {
        out.insert(r.as_str());
    }
    for child in &route.routes {
        incident_routes(child, incident, out);
    }
}

impl NotifyConfig {
    /// Whether any route is in `mode = "incident"` (which needs `[incidents] enabled`).
    pub fn has_incident_routes(&self) -> bool {
        let mut found = HashSet::new();
        if let Some(root) = &self.route {
            incident_routes(root, false, &mut found);
        }
        !found.is_empty()
    }
}

fn check_route(route: &RouteConfig, at: &str, receivers: &HashSet<&str>) -> Result<(), String> {
    if let Some(receiver) = &route.receiver
        && !receivers.contains(receiver.as_str())
    {
        return Err(format!(
            "{at}.receiver: no receiver is named {receiver:?} (define it under \
             [[notify.receivers]])"
        ));
    }
    Matchers::parse(&route.matchers).map_err(|e| format!("{at}.matchers: {e}"))?;
    for (name, value) in [
        ("group_wait", route.group_wait),
        ("group_interval", route.group_interval),
        ("repeat_interval", route.repeat_interval),
    ] {
        if value.is_some_and(|v| v.is_zero()) && name != "group_wait" {
            return Err(format!("{at}.{name}: must be positive"));
        }
    }
    for (i, child) in route.routes.iter().enumerate() {
        check_route(child, &format!("{at}.routes[{i}]"), receivers)?;
    }
    Ok(())
}

/// Refuses a request to `url` that would carry a credential across the network in clear
/// text: an `http://` URL to a host that is not loopback, with an `Authorization` header
/// (among `header_names`) or a user name or password in the URL; unless `allow_insecure`.
/// `kind` (`webhook`, `alertmanager`) names the table the opt-in goes in. The error names
/// the host, never a secret, and says what to do.
pub fn check_cleartext<'a>(
    url: &reqwest::Url,
    mut header_names: impl Iterator<Item = &'a str>,
    allow_insecure: bool,
    kind: &str,
) -> Result<(), String> {
    let host = url.host_str().unwrap_or_default();
    if allow_insecure || url.scheme() != "http" || is_loopback_host(host) {
        return Ok(());
    }
    let what = if header_names.any(|name| name.eq_ignore_ascii_case("authorization")) {
        "an Authorization header"
    } else if !url.username().is_empty() || url.password().is_some() {
        "the credentials in the URL"
    } else {
        return Ok(());
    };
    Err(format!(
        "http:// would send {what} in clear text to {host}, which is not a loopback host; \
         use an https:// URL, or set allow_insecure = true on this {kind} to accept that"
    ))
}

/// `localhost`, `127.x.y.z` or `::1`.
pub fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
pub(crate) mod tests;
