//! `[[notify.receivers.servicenow]]`: incidents in a ServiceNow instance, over its Table
//! API.
//!
//! ```toml
//! [[notify.receivers.servicenow]]
//! instance_url = "https://acme.service-now.com"
//! username = "vigil.integration"
//! password = { file = "/etc/vigil/servicenow.pass" }   # or token = { env = "SN_TOKEN" }
//! assignment_group = '{{ if eq .CommonLabels.team "db" }}Database{{ else }}Service Desk{{ end }}'
//! category = "software"
//! caller_id = "vigil.integration"
//! # "urgency,impact" per severity (ServiceNow computes the priority from the two)
//! priorities = { critical = "1,1", error = "1,2", warning = "2,2", info = "3,2", none = "3,3" }
//! ```

use super::super::super::secret::SecretSource;
use super::{
    attempt_timeout, check_cleartext, check_priorities, check_url, default_priority,
    default_settle, default_title, severity_map,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Urgency and impact per severity, as `"urgency,impact"` (1 high … 3 low): with
/// ServiceNow's default priority lookup, critical is P1, error P2, warning P3, info P4,
/// none P5.
fn priorities() -> BTreeMap<String, String> {
    severity_map([
        ("critical", "1,1"),
        ("error", "1,2"),
        ("warning", "2,2"),
        ("info", "3,2"),
        ("none", "3,3"),
    ])
}

fn solution_provided() -> String {
    "Solution provided".to_owned()
}

fn resolved() -> String {
    "6".to_owned()
}

/// `[[notify.receivers.servicenow]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceNowConfig {
    /// The instance, such as `https://acme.service-now.com` (the Table API is under
    /// `/api/now/table/`).
    pub instance_url: String,
    /// The integration user (basic authentication), with `password`.
    #[serde(default)]
    pub username: Option<String>,
    /// Its password.
    #[serde(default)]
    pub password: Option<SecretSource>,
    /// An OAuth access token (sent as `Authorization: Bearer …`), instead of a user.
    #[serde(default)]
    pub token: Option<SecretSource>,
    /// `short_description`: the incident's title (template).
    #[serde(default = "default_title")]
    pub short_description: String,
    /// `assignment_group`: a group's name or sys_id (template; empty leaves it unset).
    #[serde(default)]
    pub assignment_group: String,
    /// `category` (template; empty: the instance's default).
    #[serde(default)]
    pub category: String,
    /// `assigned_to`: a user's name or sys_id (template; empty leaves it unassigned).
    #[serde(default)]
    pub assigned_to: String,
    /// Urgency and impact as `"urgency,impact"` (template; `.Incident.Priority` is
    /// `priorities` of the severity). An escalation sets them again.
    #[serde(default = "default_priority")]
    pub priority: String,
    /// `"urgency,impact"` for each severity (`critical`, `error`, `warning`, `info`,
    /// `none`), each 1 (high) to 3 (low).
    #[serde(default = "priorities")]
    pub priorities: BTreeMap<String, String>,
    /// `caller_id` of new incidents: a user's name or sys_id (empty leaves it unset; some
    /// instances require it).
    #[serde(default)]
    pub caller_id: String,
    /// `close_code` of a resolved incident (the usual data policy requires one).
    #[serde(default = "solution_provided")]
    pub close_code: String,
    /// The `state` a resolved incident is set to: "6" (Resolved) by default, "7" to close.
    #[serde(default = "resolved")]
    pub resolved_state: String,
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
    /// Allow credentials over `http://` to a host that is not loopback.
    #[serde(default)]
    pub allow_insecure: bool,
}

/// `"urgency,impact"` as the two numbers, each 1 to 3.
pub fn urgency_impact(text: &str) -> Option<(u8, u8)> {
    let (urgency, impact) = text.split_once(',')?;
    let level = |v: &str| v.trim().parse::<u8>().ok().filter(|n| (1..=3).contains(n));
    Some((level(urgency)?, level(impact)?))
}

impl ServiceNowConfig {
    /// What parses but cannot work; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        check_url(&self.instance_url, "instance_url")?;
        match (&self.token, &self.username, &self.password) {
            (Some(_), None, None) | (None, Some(_), Some(_)) => {}
            (Some(_), _, _) => {
                return Err("token: give a token or username and password, not both".into());
            }
            _ => {
                return Err(
                    "username: give the integration user's username and password, \
                            or an OAuth token (token = { file = \"…\" })"
                        .into(),
                );
            }
        }
        check_priorities(&self.priorities)?;
        for (severity, value) in &self.priorities {
            if urgency_impact(value).is_none() {
                return Err(format!(
                    "priorities: {severity} = {value:?} is not \"urgency,impact\" (each 1 to \
                     3, like \"1,2\")"
                ));
            }
        }
        for (key, value) in [
            ("close_code", &self.close_code),
            ("resolved_state", &self.resolved_state),
        ] {
            if value.trim().is_empty() {
                return Err(format!("{key}: must not be empty"));
            }
        }
        check_cleartext(&self.instance_url, true, self.allow_insecure)
            .map_err(|e| e.replacen("url:", "instance_url:", 1))
    }
}

#[cfg(test)]
mod tests {
    use crate::notify::config::tests::parse;

    const DESK: &str = r#"
        [[receivers]]
        name = "desk"
        [[receivers.servicenow]]
        instance_url = "https://acme.service-now.com"
        username = "vigil.integration"
        password = { env = "SN_PASSWORD" }
        [route]
        receiver = "desk"
        mode = "incident"
    "#;

    #[test]
    fn parses_with_defaults() {
        let c = parse(DESK).unwrap();
        assert!(c.receivers[0].has_tickets());
        let sn = &c.receivers[0].servicenow[0];
        assert_eq!(sn.priorities["critical"], "1,1");
        assert_eq!(sn.close_code, "Solution provided");
        assert_eq!(sn.resolved_state, "6");
        assert_eq!(sn.settle, std::time::Duration::from_secs(60));
        assert_eq!(super::urgency_impact(" 2 , 3"), Some((2, 3)));
        assert_eq!(super::urgency_impact("0,1"), None);
    }

    #[test]
    fn errors_name_the_key() {
        let password = "password = { env = \"SN_PASSWORD\" }";
        let cases = [
            (
                DESK.replace(password, ""),
                "servicenow[0].username: give the integration user's username and password",
            ),
            (
                DESK.replace(password, &format!("{password}\ntoken = \"t0k3n\"")),
                "servicenow[0].token: give a token or username and password, not both",
            ),
            (
                DESK.replace("https://acme", "http://acme"),
                "servicenow[0].instance_url: http:// would send an Authorization header",
            ),
            (
                DESK.replace("https://acme.service-now.com", "acme"),
                "servicenow[0].instance_url: \"acme\" is not a URL",
            ),
            (
                DESK.replace(
                    password,
                    &format!("{password}\npriorities = {{ critical = \"P1\" }}"),
                ),
                "servicenow[0].priorities: critical = \"P1\" is not \"urgency,impact\"",
            ),
            (
                DESK.replace(
                    password,
                    &format!("{password}\npriorities = {{ urgent = \"1,1\" }}"),
                ),
                "servicenow[0].priorities: \"urgent\" is not a severity",
            ),
            (
                DESK.replace(password, &format!("{password}\nclose_code = \"\"")),
                "servicenow[0].close_code: must not be empty",
            ),
            (
                DESK.replace(password, &format!("{password}\nshort_descripton = \"x\"")),
                "unknown field `short_descripton`",
            ),
        ];
        for (text, want) in cases {
            let e = parse(&text).unwrap_err();
            assert!(e.contains(want), "want {want:?} in {e}");
            assert!(!e.contains("t0k3n"), "{e}");
        }
    }
}
