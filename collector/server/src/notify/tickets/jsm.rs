//! Jira Service Management Cloud: customer requests through `servicedeskapi`, with the Jira
//! platform calls beside it that a request needs (JQL search, priority, transitions).
//!
//! ```text
//! find     POST /rest/api/3/search/jql {"jql":"project = \"OPS\" AND labels = \"<label>\"
//!               ORDER BY created ASC","fields":["labels","status"],"maxResults":2}
//!                                                   → 200 {"issues":[{"key",…}]}
//! create   POST /rest/servicedeskapi/request {"serviceDeskId","requestTypeId",
//!               "requestFieldValues":{"summary","description","priority":{"name"},
//!               "labels":[<label>]}}                → 201 {"issueId","issueKey",…}
//! update   POST /rest/servicedeskapi/request/<key>/comment {"body","public":false};
//!          an escalation also PUT /rest/api/3/issue/<key> {"fields":{"priority":{"name"}}}
//! resolve  the comment, GET /rest/api/3/issue/<key>/transitions, the one named
//!          `resolve_transition` (without case) POSTed {"transition":{"id"}} → 204, then
//!          GET /rest/servicedeskapi/request/<key>: currentStatus must be its target
//! errors   servicedeskapi {"errorMessage"}; platform {"errorMessages":[…],"errors":{…}}
//! ```
//!
//! `servicedeskapi` has no correlation field: the incident travels as a label,
//! `vigil-incident-<installation>-<incident id>`, set at creation (the request type must
//! offer Labels; Jira refuses a field it does not offer, so a stored request holds it).
//! Jira Cloud's JQL search is eventually consistent, so a request created moment ago can
//! be missing from it: after a create whose answer was lost, the driver searches again
//! until `settle` and `search_lag` have passed before raising another. The ticket's id is the issue
//! key (`OPS-12`).

use super::config::JsmConfig;
use super::http::{Answer, Auth, call, quote, request};
use super::{Comment, Failure, Fields, Rendered};
use crate::incidents::Ticket;
use crate::notify::model::Step;
use serde_json::{Value, json};
use std::time::Duration;

/// Jira refuses a longer summary.
const MAX_SUMMARY: usize = 255;

/// A Jira Service Management site.
#[derive(Debug)]
pub struct Jsm {
    /// The site, without a trailing `/`.
    base: String,
    auth: Auth,
    client: reqwest::Client,
    service_desk_id: String,
    request_type_id: String,
    project: String,
    resolve_transition: String,
    /// How long a create whose answer was lost is given before another is sent: `settle`
    /// and `search_lag` of the configuration.
    pub settle: Duration,
    /// The templates.
    pub fields: Fields,
}

/// Both error shapes: `{"errorMessage"}` (servicedeskapi) and `{"errorMessages": […],
/// "errors": {field: message}}` (platform).
fn message(v: &Value) -> Option<String> {
    if let Some(said) = v.get("errorMessage").and_then(Value::as_str) {
        return Some(said.to_owned());
    }
    let mut parts: Vec<String> = v
        .get("errorMessages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str().map(str::to_owned))
        .collect();
    if let Some(errors) = v.get("errors").and_then(Value::as_object) {
        parts.extend(errors.iter().map(|(field, m)| match m.as_str() {
            Some(m) => format!("{field}: {m}"),
            None => format!("{field}: {m}"),
        }));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The label that holds correlation value `vigil-<installation>-<id>`:
/// `vigil-incident-<installation>-<id>` (a Jira label has no spaces).
pub fn label(correlation: &str) -> String {
    let rest = correlation.strip_prefix("vigil-").unwrap_or(correlation);
    let rest: String = rest
        .chars()
        .map(|c| if c.is_whitespace() { '-' } else { c })
        .collect();
    format!("vigil-incident-{rest}")
}

impl Jsm {
    /// Builds the client, reading the API token; the error names the key.
    pub fn new(c: &JsmConfig) -> Result<Self, String> {
        c.validate()?;
        let token = c.api_token.load().map_err(|e| format!("api_token: {e}"))?;
        let fields = Fields {
            title: c.summary.clone(),
            queue: String::new(),
            category: String::new(),
            assignee: String::new(),
            priority: c.priority.clone(),
            priorities: c.priorities.clone(),
        };
        fields.check(["summary", "queue", "category", "assignee", "priority"])?;
        Ok(Self {
            base: c.url.trim_end_matches('/').to_owned(),
            auth: Auth::Basic(c.email.clone(), token),
            client: crate::notify::http_client::client(c.ca_file.as_deref(), c.timeout)?,
            service_desk_id: c.service_desk_id.clone(),
            request_type_id: c.request_type_id.clone(),
            project: c.project.clone(),
            resolve_transition: c.resolve_transition.clone(),
            settle: c.settle + c.search_lag,
            fields,
        })
    }

    /// `jsm at https://acme.atlassian.net`.
    pub fn describe(&self) -> String {
        format!("jsm at {}", self.base)
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Answer, Failure> {
        let url = format!("{}{path}", self.base);
        let mut request = self.auth.apply(request(&self.client, method, &url));
        if let Some(body) = body {
            request = request.json(body);
        }
        call(request, what, &[self.auth.secret()], message).await
    }

    fn ticket(&self, key: &str) -> Ticket {
        Ticket {
            id: key.to_owned(),
            url: format!("{}/browse/{key}", self.base),
        }
    }

    /// The oldest request of the project labelled with `r.correlation`.
    pub async fn find(&self, r: &Rendered) -> Result<Option<Ticket>, Failure> {
        let what = "searching Jira for the incident's request";
        let label = label(&r.correlation);
        let body = json!({
            "jql": format!(
                "project = \"{}\" AND labels = \"{label}\" ORDER BY created ASC",
                self.project
            ),
            "fields": ["labels", "status"],
            "maxResults": 2,
        });
        let answer = self
            .send(
                reqwest::Method::POST,
                "/rest/api/3/search/jql",
                Some(&body),
                what,
            )
            .await?;
        let found = answer.json(what)?;
        let Some(issues) = found.get("issues").and_then(Value::as_array) else {
            return Err(Failure::Refused(format!(
                "{what}: no \"issues\" in the answer: {}",
                quote(&answer.body)
            )));
        };
        let labelled = issues.iter().find(|issue| {
            issue["fields"]["labels"]
                .as_array()
                .is_some_and(|labels| labels.iter().any(|l| l == label.as_str()))
        });
        Ok(labelled
            .and_then(|issue| issue.get("key").and_then(Value::as_str))
            .map(|key| self.ticket(key)))
    }

    /// Raises a request labelled with the correlation value.
    pub async fn create(&self, r: &Rendered) -> Result<Ticket, Failure> {
        let summary: String = r.title.chars().take(MAX_SUMMARY).collect();
        let mut values = json!({
            "summary": summary,
            "description": r.description,
            "labels": [label(&r.correlation)],
        });
        if !r.priority.is_empty() {
            values["priority"] = json!({ "name": r.priority });
        }
        let body = json!({
            "serviceDeskId": self.service_desk_id,
            "requestTypeId": self.request_type_id,
            "requestFieldValues": values,
        });
        let what = format!(
            "raising a request of type {} in service desk {}",
            self.request_type_id, self.service_desk_id
        );
        let answer = self
            .send(
                reqwest::Method::POST,
                "/rest/servicedeskapi/request",
                Some(&body),
                &what,
            )
            .await?;
        let created = answer.json(&what)?;
        match created.get("issueKey").and_then(Value::as_str) {
            Some(key) if !key.is_empty() => Ok(self.ticket(key)),
            _ => Err(Failure::Refused(format!(
                "{what}: Jira answered HTTP {} without an issueKey: {}",
                answer.status,
                quote(&answer.body)
            ))),
        }
    }

    /// Adds an internal comment (agents only).
    async fn comment(&self, t: &Ticket, text: &str) -> Result<(), Failure> {
        let what = format!("adding an internal comment to {}", t.id);
        let path = format!("/rest/servicedeskapi/request/{}/comment", t.id);
        let body = json!({ "body": text, "public": false });
        self.send(reqwest::Method::POST, &path, Some(&body), &what)
            .await
            .map(drop)
    }

    /// Adds the step's text as an internal comment; an escalation also sets the priority.
    pub async fn update(
        &self,
        t: &Ticket,
        r: &Rendered,
        c: &Comment<'_>,
    ) -> Result<String, Failure> {
        c.once(|| self.comment(t, &r.update)).await?;
        if r.step != Some(Step::Escalated) || r.priority.is_empty() {
            return Ok(format!("{}: comment added", t.id));
        }
        let what = format!("setting the priority of {} to {:?}", t.id, r.priority);
        let body = json!({ "fields": { "priority": { "name": r.priority } } });
        let path = format!("/rest/api/3/issue/{}", t.id);
        self.send(reqwest::Method::PUT, &path, Some(&body), &what)
            .await?;
        Ok(format!("{}: comment added; priority {}", t.id, r.priority))
    }

    /// The request's status and its category (`NEW`, `INDETERMINATE`, `DONE`).
    async fn status(&self, t: &Ticket, what: &str) -> Result<(String, String), Failure> {
        let path = format!("/rest/servicedeskapi/request/{}", t.id);
        let answer = self.send(reqwest::Method::GET, &path, None, what).await?;
        let request = answer.json(what)?;
        let status = &request["currentStatus"];
        let text = |key: &str| status[key].as_str().unwrap_or("").to_owned();
        Ok((text("status"), text("statusCategory")))
    }

    /// Comments, then takes the request through the resolve transition, checked.
    pub async fn resolve(
        &self,
        t: &Ticket,
        r: &Rendered,
        c: &Comment<'_>,
    ) -> Result<String, Failure> {
        c.once(|| self.comment(t, &r.update)).await?;
        let what = format!(
            "resolving {} by the transition {:?}",
            t.id, self.resolve_transition
        );
        let path = format!("/rest/api/3/issue/{}/transitions", t.id);
        let answer = self.send(reqwest::Method::GET, &path, None, &what).await?;
        let offered = answer.json(&what)?;
        let offered: Vec<&Value> = offered["transitions"]
            .as_array()
            .map(|list| list.iter().collect())
            .unwrap_or_default();
        let name = |tr: &Value| tr["name"].as_str().unwrap_or("").to_owned();
        let Some(transition) = offered
            .iter()
            .find(|tr| name(tr).eq_ignore_ascii_case(&self.resolve_transition))
        else {
            let (status, category) = self.status(t, &what).await?;
            if category.eq_ignore_ascii_case("done") {
                return Ok(format!("{} was already {status}", t.id));
            }
            let names: Vec<String> = offered.iter().map(|tr| format!("{:?}", name(tr))).collect();
            return Err(Failure::Refused(format!(
                "{what}: {} (status {status:?}) offers no such transition; it offers {}: set \
                 resolve_transition to one of them",
                t.id,
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            )));
        };
        let id = match &transition["id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let target = transition["to"]["name"].as_str().unwrap_or("").to_owned();
        let body = json!({ "transition": { "id": id } });
        self.send(reqwest::Method::POST, &path, Some(&body), &what)
            .await?;
        let (status, category) = self.status(t, &what).await?;
        let reached = if target.is_empty() {
            category.eq_ignore_ascii_case("done")
        } else {
            status.eq_ignore_ascii_case(&target)
        };
        if !reached {
            return Err(Failure::Refused(format!(
                "{what}: Jira accepted the transition but {} is in status {status:?}, not {:?}",
                t.id,
                if target.is_empty() { "done" } else { &target }
            )));
        }
        Ok(format!("{} {status}", t.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_hold_the_correlation_value_without_spaces() {
        assert_eq!(label("vigil-0a0b0c0d-42"), "vigil-incident-0a0b0c0d-42");
        assert_eq!(
            label("vigil-0a0b0c0d-test-1700000000000"),
            "vigil-incident-0a0b0c0d-test-1700000000000"
        );
        assert_eq!(label("odd value"), "vigil-incident-odd-value");
    }

    #[test]
    fn both_error_shapes_are_read() {
        let sd = json!({"errorMessage": "You do not have permission.",
            "i18nErrorMessage": {"i18nKey": "x", "parameters": []}});
        assert_eq!(message(&sd).as_deref(), Some("You do not have permission."));
        let platform = json!({"errorMessages": ["Refused."],
            "errors": {"priority": "The priority selected is invalid."}});
        assert_eq!(
            message(&platform).as_deref(),
            Some("Refused.; priority: The priority selected is invalid.")
        );
        assert_eq!(message(&json!({"errorMessages": [], "errors": {}})), None);
    }
}
