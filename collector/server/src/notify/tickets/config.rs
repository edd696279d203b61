//! The configuration of ticket integrations: `[[notify.receivers.rt]]` (Request Tracker
//! 5) and `[[notify.receivers.ticket]]` (any other desk, templated) here; ServiceNow,
//! Znuny and Jira Service Management in a file each. What every desk shares (title, queue,
//! category, priority, assignee, the attempt's bound and TLS) is repeated in each table
//! rather than flattened, so that a misspelt key is still an error.
//!
//! # Layout
//! - [`servicenow`]: ServiceNow, `[[notify.receivers.servicenow]]`.
//! - [`znuny`]: Znuny, `[[notify.receivers.znuny]]`.
//! - [`jsm`]: Jira Service Management, `[[notify.receivers.jsm]]`.

pub mod jsm;
pub mod servicenow;
pub mod znuny;

pub use jsm::JsmConfig;
pub use servicenow::ServiceNowConfig;
pub use znuny::ZnunyConfig;

use super::super::secret::SecretSource;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

fn attempt_timeout() -> Duration {
    Duration::from_secs(10)
}

/// `priorities` as a map from severity names.
fn severity_map(pairs: [(&str, &str); 5]) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn default_title() -> String {
    "[{{ .Incident.Severity }}] {{ .Incident.Title }}".to_owned()
}

fn default_priority() -> String {
    "{{ .Incident.Priority }}".to_owned()
}

/// RT's own priorities (0 to 100 by default): critical is the highest.
fn rt_priorities() -> BTreeMap<String, String> {
    [
        ("critical", "100"),
        ("error", "75"),
        ("warning", "50"),
        ("info", "25"),
        ("none", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// How long a create whose answer was lost is given before another may be sent.
pub fn default_settle() -> Duration {
    Duration::from_secs(60)
}

fn general() -> String {
    "General".to_owned()
}

fn vigil_incident() -> String {
    "Vigil Incident".to_owned()
}

fn resolved() -> String {
    "resolved".to_owned()
}

/// `[[notify.receivers.rt]]`: Request Tracker 5 over its REST 2.0 API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtConfig {
    /// RT's base URL, such as `https://rt.example.com` (REST 2.0 is under `/REST/2.0`).
    pub url: String,
    /// An RT auth token (sent as `Authorization: token …`); or `username` and `password`.
    #[serde(default)]
    pub token: Option<SecretSource>,
    /// RT user name (basic authentication), with `password`.
    #[serde(default)]
    pub username: Option<String>,
    /// RT password.
    #[serde(default)]
    pub password: Option<SecretSource>,
    /// The queue (a template: `{{ if eq .CommonLabels.team "db" }}Databases{{ else }}General{{ end }}`).
    #[serde(default = "general")]
    pub queue: String,
    /// A ticket custom field (free-form text, applied to the queues used) that holds the
    /// incident's correlation value: how the ticket is found again after a timeout or a
    /// crash.
    #[serde(default = "vigil_incident")]
    pub correlation_field: String,
    /// The ticket's subject (template).
    #[serde(default = "default_title")]
    pub subject: String,
    /// The owner (template; empty leaves the ticket unowned).
    #[serde(default)]
    pub owner: String,
    /// The priority (template; `.Incident.Priority` is `priorities` of the severity).
    #[serde(default = "default_priority")]
    pub priority: String,
    /// RT's priority for each severity (`critical`, `error`, `warning`, `info`, `none`).
    #[serde(default = "rt_priorities")]
    pub priorities: BTreeMap<String, String>,
    /// Requestors of new tickets (email addresses; none by default).
    #[serde(default)]
    pub requestors: Vec<String>,
    /// How updates are added: `comment` (private, the default) or `correspond` (mailed to
    /// the requestors).
    #[serde(default)]
    pub update_as: RtUpdate,
    /// The status a resolved incident's ticket is set to.
    #[serde(default = "resolved")]
    pub resolved_status: String,
    /// After a create whose answer was lost (a timeout, a crash), how long RT is given to
    /// store it before it is searched for again and, only if still absent, created anew.
    #[serde(default = "default_settle", with = "vigil_config::duration")]
    pub settle: Duration,
    /// Bound on one request.
    #[serde(default = "attempt_timeout", with = "vigil_config::duration")]
    pub timeout: Duration,
    /// Extra CA certificate (PEM) to trust, beside the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Allow credentials over `http://` to a host that is not loopback.
    #[serde(default)]
    pub allow_insecure: bool,
}

/// How an RT integration adds updates to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RtUpdate {
    /// A private comment.
    #[default]
    Comment,
    /// Correspondence, mailed to the requestors.
    Correspond,
}

/// One request of a generic ticket integration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestConfig {
    /// HTTP method.
    #[serde(default = "post")]
    pub method: String,
    /// The URL (template: `{{ .Incident.TicketID }}` is the ticket's id once known,
    /// `{{ .Incident.Correlation }}` the correlation value, which is URL-safe).
    pub url: String,
    /// The body (template; `toJson` quotes a value as a JSON string). None sends no body.
    #[serde(default)]
    pub body: Option<String>,
    /// The body's `Content-Type`.
    #[serde(default = "json")]
    pub content_type: String,
}

fn post() -> String {
    "POST".to_owned()
}

fn json() -> String {
    "application/json".to_owned()
}

fn generic_priorities() -> BTreeMap<String, String> {
    [
        ("critical", "1"),
        ("error", "2"),
        ("warning", "3"),
        ("info", "4"),
        ("none", "5"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// `[[notify.receivers.ticket]]`: any desk with an HTTP API, by templates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericTicketConfig {
    /// Headers of every request (values may be secrets, such as `Authorization`).
    #[serde(default)]
    pub headers: BTreeMap<String, SecretSource>,
    /// Looks the incident's ticket up (by the correlation value); answers a JSON document
    /// in which `found_id` points at the ticket's id, or at nothing when there is none.
    #[serde(default)]
    pub find: Option<RequestConfig>,
    /// JSON pointer (RFC 6901) to the ticket id in `find`'s answer, such as `/result/0/id`.
    #[serde(default)]
    pub found_id: Option<String>,
    /// Opens a ticket; answers JSON in which `ticket_id` points at its id.
    pub create: RequestConfig,
    /// JSON pointer to the new ticket's id in `create`'s answer, such as `/id`.
    pub ticket_id: String,
    /// Sent with `create` under this header name with the correlation value (for desks
    /// that take an idempotency key, such as `Idempotency-Key`).
    #[serde(default)]
    pub idempotency_header: Option<String>,
    /// Adds an update (alerts joined, escalation, acknowledgement); none: updates skipped.
    #[serde(default)]
    pub update: Option<RequestConfig>,
    /// Resolves the ticket; none: tickets are left for people to close.
    #[serde(default)]
    pub resolve: Option<RequestConfig>,
    /// A link to the ticket for people (template with `.Incident.TicketID`).
    #[serde(default)]
    pub ticket_url: String,
    /// The title (template).
    #[serde(default = "default_title")]
    pub title: String,
    /// The queue or group (template; `.Incident.Queue` in request templates).
    #[serde(default)]
    pub queue: String,
    /// The category (template).
    #[serde(default)]
    pub category: String,
    /// The assignee (template).
    #[serde(default)]
    pub assignee: String,
    /// The priority (template).
    #[serde(default = "default_priority")]
    pub priority: String,
    /// The desk's priority for each severity.
    #[serde(default = "generic_priorities")]
    pub priorities: BTreeMap<String, String>,
    /// Allow an `Authorization` header over `http://` to a host that is not loopback.
    #[serde(default)]
    pub allow_insecure: bool,
    /// After a create whose answer was lost, how long the desk is given to store it before
    /// it is looked up again and, only if still absent, created anew.
    #[serde(default = "default_settle", with = "vigil_config::duration")]
    pub settle: Duration,
    /// Bound on one request.
    #[serde(default = "attempt_timeout", with = "vigil_config::duration")]
    pub timeout: Duration,
    /// Extra CA certificate (PEM) to trust, beside the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// The severities `priorities` must name.
pub const SEVERITIES: [&str; 5] = ["critical", "error", "warning", "info", "none"];

impl RtConfig {
    /// What parses but cannot work; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        check_url(&self.url, "url")?;
        match (&self.token, &self.username, &self.password) {
            (Some(_), None, None) | (None, Some(_), Some(_)) => {}
            (Some(_), _, _) => {
                return Err("token: give a token or username and password, not both".into());
            }
            _ => {
                return Err(
                    "token: give an RT auth token (token = { file = \"…\" }), or username and \
                     password"
                        .into(),
                );
            }
        }
        if self.correlation_field.trim().is_empty() {
            return Err(
                "correlation_field: name the ticket custom field that holds the \
                        incident id, like \"Vigil Incident\""
                    .into(),
            );
        }
        check_priorities(&self.priorities)?;
        check_cleartext(&self.url, true, self.allow_insecure)
    }
}

impl GenericTicketConfig {
    /// What parses but cannot work; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.find.is_none() && self.idempotency_header.is_none() {
            return Err("find: set a `find` request (with `found_id`) or an \
                        `idempotency_header`, so that a retry after a timeout cannot open a \
                        second ticket"
                .into());
        }
        if self.find.is_some() != self.found_id.is_some() {
            return Err("found_id: `find` and `found_id` go together".into());
        }
        for (key, pointer) in [
            ("ticket_id", Some(&self.ticket_id)),
            ("found_id", self.found_id.as_ref()),
        ] {
            if let Some(p) = pointer
                && !(p.is_empty() || p.starts_with('/'))
            {
                return Err(format!(
                    "{key}: {p:?} is not a JSON pointer; write it like \"/result/id\""
                ));
            }
        }
        for (key, request) in [
            ("find", self.find.as_ref()),
            ("create", Some(&self.create)),
            ("update", self.update.as_ref()),
            ("resolve", self.resolve.as_ref()),
        ] {
            if let Some(r) = request {
                if reqwest::Method::from_bytes(r.method.as_bytes()).is_err() {
                    return Err(format!(
                        "{key}.method: {:?} is not an HTTP method",
                        r.method
                    ));
                }
                // The URL is a template: check its fixed start only.
                let fixed = r.url.split("{{").next().unwrap_or_default();
                if !(fixed.starts_with("http://") || fixed.starts_with("https://")) {
                    return Err(format!(
                        "{key}.url: {:?} does not start with http:// or https://",
                        r.url
                    ));
                }
                let authorization = self
                    .headers
                    .keys()
                    .any(|h| h.eq_ignore_ascii_case("authorization"));
                check_cleartext(fixed, authorization, self.allow_insecure)
                    .map_err(|e| format!("{key}.{e}"))?;
            }
        }
        check_priorities(&self.priorities)
    }
}

fn check_url(url: &str, key: &str) -> Result<(), String> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| format!("{key}: {url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{key}: {url:?} is not an http:// or https:// URL"));
    }
    Ok(())
}

fn check_priorities(priorities: &BTreeMap<String, String>) -> Result<(), String> {
    for key in priorities.keys() {
        if !SEVERITIES.contains(&key.as_str()) {
            return Err(format!(
                "priorities: {key:?} is not a severity; use {}",
                SEVERITIES.join(", ")
            ));
        }
    }
    Ok(())
}

/// Credentials over `http://` to a host that is not loopback are refused unless allowed.
fn check_cleartext(url: &str, credentials: bool, allow_insecure: bool) -> Result<(), String> {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Ok(());
    };
    let header = credentials.then_some("Authorization");
    super::super::config::check_cleartext(&parsed, header.into_iter(), allow_insecure, "ticket")
        .map_err(|e| format!("url: {e}"))
}
