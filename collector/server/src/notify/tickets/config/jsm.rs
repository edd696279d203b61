//! `[[notify.receivers.jsm]]`: requests in Jira Service Management Cloud.
//!
//! ```toml
//! [[notify.receivers.jsm]]
//! url = "https://acme.atlassian.net"
//! email = "vigil@acme.example"
//! api_token = { file = "/etc/vigil/jsm.token" }
//! service_desk_id = "1"
//! request_type_id = "10"
//! project = "OPS"
//! priorities = { critical = "Highest", error = "High", warning = "Medium", info = "Low", none = "Lowest" }
//! resolve_transition = "Resolve this issue"
//! ```

use super::super::super::secret::SecretSource;
use super::{
    attempt_timeout, check_cleartext, check_priorities, check_url, default_priority,
    default_settle, default_title, severity_map,
};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The priorities Jira ships, critical the highest.
fn priorities() -> BTreeMap<String, String> {
    severity_map([
        ("critical", "Highest"),
        ("error", "High"),
        ("warning", "Medium"),
        ("info", "Low"),
        ("none", "Lowest"),
    ])
}

/// How long Jira Cloud's JQL search may take to show a new request.
fn search_lag() -> Duration {
    Duration::from_secs(30)
}

fn resolve() -> String {
    "Resolve".to_owned()
}

/// An id written as `"10"` or `10`.
fn id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(u64),
    }
    Ok(match Id::deserialize(d)? {
        Id::Text(s) => s,
        Id::Number(n) => n.to_string(),
    })
}

/// `[[notify.receivers.jsm]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsmConfig {
    /// The site, such as `https://acme.atlassian.net`.
    pub url: String,
    /// The Atlassian account's e-mail (basic authentication with `api_token`).
    pub email: String,
    /// Its API token.
    pub api_token: SecretSource,
    /// The service desk requests are raised in (its id, not the project key).
    #[serde(deserialize_with = "id")]
    pub service_desk_id: String,
    /// The request type raised; it must offer the Summary, Description, Priority and
    /// Labels fields.
    #[serde(deserialize_with = "id")]
    pub request_type_id: String,
    /// The service desk's project key, such as `OPS`: searches are kept to it.
    pub project: String,
    /// The summary (template).
    #[serde(default = "default_title")]
    pub summary: String,
    /// The priority's name (template; `.Incident.Priority` is `priorities` of the
    /// severity; empty leaves the request type's default). An escalation sets it again.
    #[serde(default = "default_priority")]
    pub priority: String,
    /// Jira's priority name for each severity.
    #[serde(default = "priorities")]
    pub priorities: BTreeMap<String, String>,
    /// The name of the workflow transition that resolves a request (compared without
    /// case), such as "Resolve this issue".
    #[serde(default = "resolve")]
    pub resolve_transition: String,
    /// After a create whose answer was lost (a timeout, a crash), how long Jira is given
    /// to store it; then `search_lag` more for JQL search to show it, before it is
    /// searched for again and, only if still absent, raised anew.
    #[serde(default = "default_settle", with = "vigil_config::duration")]
    pub settle: Duration,
    /// How long a stored request may be missing from JQL search (Jira Cloud's search is
    /// eventually consistent).
    #[serde(default = "search_lag", with = "vigil_config::duration")]
    pub search_lag: Duration,
    /// Bound on one request.
    #[serde(default = "attempt_timeout", with = "vigil_config::duration")]
    pub timeout: Duration,
    /// Extra CA certificate (PEM) to trust, beside the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Allow the API token over `http://` to a host that is not loopback.
    #[serde(default)]
    pub allow_insecure: bool,
}

impl JsmConfig {
    /// What parses but cannot work; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        check_url(&self.url, "url")?;
        for (key, value) in [
            ("email", &self.email),
            ("service_desk_id", &self.service_desk_id),
            ("request_type_id", &self.request_type_id),
            ("resolve_transition", &self.resolve_transition),
        ] {
            if value.trim().is_empty() {
                return Err(format!("{key}: must not be empty"));
            }
        }
        if self.project.is_empty()
            || !self
                .project
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(format!(
                "project: {:?} is not a project key (letters, digits and _, like \"OPS\")",
                self.project
            ));
        }
        check_priorities(&self.priorities)?;
        check_cleartext(&self.url, true, self.allow_insecure)
    }
}

#[cfg(test)]
mod tests {
    use crate::notify::config::tests::parse;

    const DESK: &str = r#"
        [[receivers]]
        name = "desk"
        [[receivers.jsm]]
        url = "https://acme.atlassian.net"
        email = "vigil@acme.example"
        api_token = { env = "JSM_TOKEN" }
        service_desk_id = 1
        request_type_id = "10"
        project = "OPS"
        [route]
        receiver = "desk"
        mode = "incident"
    "#;

    #[test]
    fn parses_with_defaults() {
        let c = parse(DESK).unwrap();
        assert!(c.receivers[0].has_tickets());
        let j = &c.receivers[0].jsm[0];
        assert_eq!(j.service_desk_id, "1");
        assert_eq!(j.request_type_id, "10");
        assert_eq!(j.priorities["critical"], "Highest");
        assert_eq!(j.resolve_transition, "Resolve");
        assert_eq!(j.search_lag, std::time::Duration::from_secs(30));
        assert_eq!(j.settle, std::time::Duration::from_secs(60));
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (
                DESK.replace("project = \"OPS\"", "project = \"OPS desk\""),
                "jsm[0].project: \"OPS desk\" is not a project key",
            ),
            (
                DESK.replace("project = \"OPS\"", ""),
                "missing field `project`",
            ),
            (
                DESK.replace("service_desk_id = 1", "service_desk_id = \"\""),
                "jsm[0].service_desk_id: must not be empty",
            ),
            (
                DESK.replace("https://acme", "http://acme"),
                "jsm[0].url: http:// would send an Authorization header in clear text",
            ),
            (
                DESK.replace("project", "priorities = { urgent = \"Highest\" }\nproject"),
                "jsm[0].priorities: \"urgent\" is not a severity",
            ),
            (
                DESK.replace("project", "search_lag = \"soon\"\nproject"),
                "search_lag",
            ),
        ];
        for (text, want) in cases {
            let e = parse(&text).unwrap_err();
            assert!(e.contains(want), "want {want:?} in {e}");
        }
    }
}
