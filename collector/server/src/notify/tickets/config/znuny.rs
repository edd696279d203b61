//! `[[notify.receivers.znuny]]`: tickets in Znuny (or OTRS 6) through the GenericInterface
//! web service operators import from `deploy/znuny/Vigil.yml`.
//!
//! ```toml
//! [[notify.receivers.znuny]]
//! url = "https://desk.example.com/otrs/nph-genericinterface.pl/Webservice/Vigil"
//! username = "vigil"
//! password = { file = "/etc/vigil/znuny.pass" }
//! queue = '{{ if eq .CommonLabels.team "db" }}Databases{{ else }}Monitoring{{ end }}'
//! customer_user = "monitoring"
//! priorities = { critical = "5 very high", error = "4 high", warning = "3 normal", info = "2 low", none = "1 very low" }
//! ```

use super::super::super::config::is_loopback_host;
use super::super::super::secret::SecretSource;
use super::{
    attempt_timeout, check_priorities, check_url, default_priority, default_settle, default_title,
    severity_map,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The priorities Znuny ships, critical the highest.
fn priorities() -> BTreeMap<String, String> {
    severity_map([
        ("critical", "5 very high"),
        ("error", "4 high"),
        ("warning", "3 normal"),
        ("info", "2 low"),
        ("none", "1 very low"),
    ])
}

fn raw() -> String {
    "Raw".to_owned()
}

fn new() -> String {
    "new".to_owned()
}

fn closed_successful() -> String {
    "closed successful".to_owned()
}

fn vigil_incident() -> String {
    "VigilIncident".to_owned()
}

/// `[[notify.receivers.znuny]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZnunyConfig {
    /// The web service's URL: `https://<host>/otrs/nph-genericinterface.pl/Webservice/<name>`.
    pub url: String,
    /// The agent Vigil logs in as (rw on the queues used); sent as
    /// `X-OTRS-Header-UserLogin`.
    pub username: String,
    /// Its password, sent as `X-OTRS-Header-Password` (never in the URL).
    pub password: SecretSource,
    /// The queue (template).
    #[serde(default = "raw")]
    pub queue: String,
    /// The ticket's title (template).
    #[serde(default = "default_title")]
    pub title: String,
    /// The priority's name (template; `.Incident.Priority` is `priorities` of the
    /// severity). An escalation sets it again.
    #[serde(default = "default_priority")]
    pub priority: String,
    /// Znuny's priority name for each severity.
    #[serde(default = "priorities")]
    pub priorities: BTreeMap<String, String>,
    /// The owner's login (template; empty: the login user).
    #[serde(default)]
    pub owner: String,
    /// The ticket type (template; empty: Znuny's default).
    #[serde(default, rename = "type")]
    pub ticket_type: String,
    /// The customer user of new tickets (a login or an e-mail address): Znuny requires one.
    pub customer_user: String,
    /// The state of new tickets.
    #[serde(default = "new")]
    pub state: String,
    /// The state a resolved incident's ticket is set to (of state type "closed").
    #[serde(default = "closed_successful")]
    pub resolved_state: String,
    /// The ticket dynamic field (type Text) that holds the incident's correlation value:
    /// how the ticket is found again after a timeout or a crash.
    #[serde(default = "vigil_incident")]
    pub dynamic_field: String,
    /// A link to a ticket for people (template with `.Incident.TicketID`); by default
    /// `<site>/otrs/index.pl?Action=AgentTicketZoom;TicketID=<id>`, derived from `url`.
    #[serde(default)]
    pub ticket_url: String,
    /// After a create whose answer was lost (a timeout, a crash), how long the desk is
    /// given to store it before it is looked up again and, only if still absent, created
    /// anew.
    #[serde(default = "default_settle", with = "vigil_config::duration")]
    pub settle: Duration,
    /// Bound on one request.
    #[serde(default = "attempt_timeout", with = "vigil_config::duration")]
    pub timeout: Duration,
    /// Extra CA certificate (PEM) to trust, beside the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Allow the password over `http://` to a host that is not loopback.
    #[serde(default)]
    pub allow_insecure: bool,
}

impl ZnunyConfig {
    /// What parses but cannot work; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        check_url(&self.url, "url")?;
        if !self.url.contains("/Webservice/") && !self.url.contains("/WebserviceID/") {
            return Err(format!(
                "url: {:?} does not name a web service; use the GenericInterface URL, like \
                 https://desk.example.com/otrs/nph-genericinterface.pl/Webservice/Vigil",
                self.url
            ));
        }
        for (key, value) in [
            ("username", &self.username),
            ("customer_user", &self.customer_user),
            ("state", &self.state),
            ("resolved_state", &self.resolved_state),
        ] {
            if value.trim().is_empty() {
                return Err(format!("{key}: must not be empty"));
            }
        }
        if self.dynamic_field.is_empty()
            || !self
                .dynamic_field
                .chars()
                .all(|c| c.is_ascii_alphanumeric())
        {
            return Err(format!(
                "dynamic_field: {:?} is not a dynamic field name (letters and digits only, \
                 like \"VigilIncident\")",
                self.dynamic_field
            ));
        }
        check_priorities(&self.priorities)?;
        // The password goes in a header of its own, not `Authorization`.
        let host = reqwest::Url::parse(&self.url)
            .ok()
            .filter(|u| u.scheme() == "http")
            .and_then(|u| u.host_str().map(str::to_owned));
        match host {
            Some(host) if !self.allow_insecure && !is_loopback_host(&host) => Err(format!(
                "url: http:// would send the agent's password in clear text to {host}, which \
                 is not a loopback host; use an https:// URL, or set allow_insecure = true on \
                 this znuny receiver to accept that"
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::notify::config::tests::parse;

    const DESK: &str = r#"
        [[receivers]]
        name = "desk"
        [[receivers.znuny]]
        url = "https://desk.example.com/otrs/nph-genericinterface.pl/Webservice/Vigil"
        username = "vigil"
        password = { env = "ZNUNY_PASSWORD" }
        customer_user = "monitoring"
        [route]
        receiver = "desk"
        mode = "incident"
    "#;

    #[test]
    fn parses_with_defaults() {
        let c = parse(DESK).unwrap();
        assert!(c.receivers[0].has_tickets());
        let z = &c.receivers[0].znuny[0];
        assert_eq!(z.priorities["critical"], "5 very high");
        assert_eq!(z.queue, "Raw");
        assert_eq!(z.state, "new");
        assert_eq!(z.resolved_state, "closed successful");
        assert_eq!(z.dynamic_field, "VigilIncident");
        let typed = parse(&DESK.replace("username", "type = \"Incident\"\nusername")).unwrap();
        assert_eq!(typed.receivers[0].znuny[0].ticket_type, "Incident");
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (
                DESK.replace("customer_user = \"monitoring\"", "customer_user = \" \""),
                "znuny[0].customer_user: must not be empty",
            ),
            (
                DESK.replace("customer_user = \"monitoring\"", ""),
                "missing field `customer_user`",
            ),
            (
                DESK.replace("/Webservice/Vigil", ""),
                "znuny[0].url: \"https://desk.example.com/otrs/nph-genericinterface.pl\" does \
                 not name a web service",
            ),
            (
                DESK.replace("https://desk", "http://desk"),
                "znuny[0].url: http:// would send the agent's password in clear text",
            ),
            (
                DESK.replace("username", "dynamic_field = \"Vigil Incident\"\nusername"),
                "znuny[0].dynamic_field: \"Vigil Incident\" is not a dynamic field name",
            ),
            (
                DESK.replace(
                    "username",
                    "priorities = { urgent = \"5 very high\" }\nusername",
                ),
                "znuny[0].priorities: \"urgent\" is not a severity",
            ),
        ];
        for (text, want) in cases {
            let e = parse(&text).unwrap_err();
            assert!(e.contains(want), "want {want:?} in {e}");
        }
    }
}
