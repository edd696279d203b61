//! ServiceNow over the Table API on `incident` (`<instance>/api/now/table/incident`).
//!
//! ```text
//! find     GET   /incident?sysparm_query=correlation_id=<corr>^ORDERBYsys_created_on
//!                &sysparm_fields=sys_id,number,state,correlation_id&sysparm_limit=2
//!                                                   → 200 {"result":[{"sys_id",…}]}
//!          only results whose correlation_id is the value count: the instance ignores a
//!          query clause on a field it does not know and would match every incident
//! create   POST  /incident {"short_description","description","urgency","impact",
//!                 "assignment_group","category","assigned_to","caller_id",
//!                 "correlation_id":<corr>,"correlation_display":"Vigil"}
//!                                                   → 201 {"result":{"sys_id","number",…}}
//!          then GET /incident/<sys_id>: correlation_id must hold the value
//! update   PATCH /incident/<sys_id> {"work_notes"}; an escalation also sets "urgency" and
//!          "impact", checked in the answer's record
//! resolve  PATCH /incident/<sys_id> {"state":<resolved_state>,"close_code","close_notes",
//!          "work_notes"}; the answer's result.state must be the state asked for (a business
//!          rule can keep the state and still answer 200)
//! errors   4xx {"error":{"message","detail"},"status":"failure"}
//! ```
//!
//! Priority is not written: the instance computes it from urgency and impact, which
//! `priorities` gives per severity as `"urgency,impact"`. The ticket's id is the record's
//! `sys_id`; answers name its `number` (INC0010001) too.

use super::config::servicenow::{ServiceNowConfig, urgency_impact};
use super::http::{Answer, Auth, call, quote, request, with_query};
use super::{Comment, Failure, Fields, Rendered};
use crate::incidents::Ticket;
use crate::notify::model::Step;
use serde_json::{Map, Value, json};
use std::time::Duration;

/// The fields asked back from every write: enough to check it and name the incident.
const ANSWER_FIELDS: &str = "sys_id,number,state,urgency,impact,correlation_id";

/// A ServiceNow instance.
#[derive(Debug)]
pub struct ServiceNow {
    /// The instance URL, without a trailing `/`.
    base: String,
    auth: Auth,
    client: reqwest::Client,
    caller_id: String,
    close_code: String,
    resolved_state: String,
    /// How long a create whose answer was lost is given before another is sent.
    pub settle: Duration,
    /// The templates.
    pub fields: Fields,
}

/// ServiceNow's error bodies: `{"error": {"message", "detail"}}`.
fn message(v: &Value) -> Option<String> {
    let error = v.get("error")?;
    let text = |key: &str| error.get(key).and_then(Value::as_str).unwrap_or("").trim();
    match (text("message"), text("detail")) {
        ("", "") => None,
        (message, "") => Some(message.to_owned()),
        ("", detail) => Some(detail.to_owned()),
        (message, detail) => Some(format!("{message}: {detail}")),
    }
}

/// A field of a record as text (`""` when missing; a reference's `value`).
fn field(record: &Map<String, Value>, name: &str) -> String {
    match record.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(reference)) => reference
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

impl ServiceNow {
    /// Builds the client, reading secrets; the error names the key.
    pub fn new(c: &ServiceNowConfig) -> Result<Self, String> {
        c.validate()?;
        let auth = match (&c.token, &c.username, &c.password) {
            (Some(t), _, _) => Auth::Token("Bearer", t.load().map_err(|e| format!("token: {e}"))?),
            (None, Some(user), Some(p)) => Auth::Basic(
                user.clone(),
                p.load().map_err(|e| format!("password: {e}"))?,
            ),
            _ => return Err("username: give username and password, or a token".into()),
        };
        let fields = Fields {
            title: c.short_description.clone(),
            queue: c.assignment_group.clone(),
            category: c.category.clone(),
            assignee: c.assigned_to.clone(),
            priority: c.priority.clone(),
            priorities: c.priorities.clone(),
        };
        fields.check([
            "short_description",
            "assignment_group",
            "category",
            "assigned_to",
            "priority",
        ])?;
        Ok(Self {
            base: c.instance_url.trim_end_matches('/').to_owned(),
            auth,
            client: crate::notify::http_client::client(c.ca_file.as_deref(), c.timeout)?,
            caller_id: c.caller_id.clone(),
            close_code: c.close_code.clone(),
            resolved_state: c.resolved_state.clone(),
            settle: c.settle,
            fields,
        })
    }

    /// `servicenow at https://acme.service-now.com`.
    pub fn describe(&self) -> String {
        format!("servicenow at {}", self.base)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let url = format!("{}/api/now/table/{path}", self.base);
        self.auth.apply(request(&self.client, method, &url))
    }

    async fn send(&self, request: reqwest::RequestBuilder, what: &str) -> Result<Answer, Failure> {
        call(request, what, &[self.auth.secret()], message).await
    }

    fn ticket(&self, sys_id: &str) -> Ticket {
        Ticket {
            id: sys_id.to_owned(),
            url: format!("{}/nav_to.do?uri=incident.do?sys_id={sys_id}", self.base),
        }
    }

    /// The oldest incident whose correlation_id is `r.correlation`.
    pub async fn find(&self, r: &Rendered) -> Result<Option<Ticket>, Failure> {
        let what = "looking the incident's ServiceNow incident up by correlation_id";
        let query = format!("correlation_id={}^ORDERBYsys_created_on", r.correlation);
        let path = with_query(
            "incident",
            &[
                ("sysparm_query", query.as_str()),
                ("sysparm_fields", "sys_id,number,state,correlation_id"),
                ("sysparm_limit", "2"),
                ("sysparm_exclude_reference_link", "true"),
            ],
        );
        let answer = self
            .send(self.request(reqwest::Method::GET, &path), what)
            .await?;
        let found = answer.json(what)?;
        let Some(results) = found.get("result").and_then(Value::as_array) else {
            return Err(Failure::Refused(format!(
                "{what}: no \"result\" list in the answer: {}",
                quote(&answer.body)
            )));
        };
        Ok(results
            .iter()
            .filter_map(Value::as_object)
            .find(|record| field(record, "correlation_id") == r.correlation)
            .map(|record| field(record, "sys_id"))
            .filter(|sys_id| !sys_id.is_empty())
            .map(|sys_id| self.ticket(&sys_id)))
    }

    /// Opens an incident holding the correlation value.
    pub async fn create(&self, r: &Rendered) -> Result<Ticket, Failure> {
        let mut body = json!({
            "short_description": r.title,
            "description": r.description,
            "correlation_id": r.correlation,
            "correlation_display": "Vigil",
        });
        for (name, value) in [
            ("assignment_group", &r.queue),
            ("category", &r.category),
            ("assigned_to", &r.assignee),
            ("caller_id", &self.caller_id),
        ] {
            if !value.is_empty() {
                body[name] = value.clone().into();
            }
        }
        if let Some((urgency, impact)) = self.levels(r) {
            body["urgency"] = urgency.to_string().into();
            body["impact"] = impact.to_string().into();
        }
        let what = "creating a ServiceNow incident";
        let path = with_query(
            "incident",
            &[
                ("sysparm_fields", ANSWER_FIELDS),
                ("sysparm_exclude_reference_link", "true"),
            ],
        );
        let answer = self
            .send(self.request(reqwest::Method::POST, &path).json(&body), what)
            .await?;
        let record = result(&answer, what)?;
        match field(&record, "sys_id") {
            sys_id if sys_id.is_empty() => Err(Failure::Refused(format!(
                "{what}: ServiceNow answered HTTP {} without a sys_id: {}",
                answer.status,
                quote(&answer.body)
            ))),
            sys_id => Ok(self.ticket(&sys_id)),
        }
    }

    /// Checks that incident `t` holds the correlation value (after a create).
    pub async fn verify(&self, t: &Ticket, r: &Rendered) -> Result<(), Failure> {
        let what = format!("reading ServiceNow incident {}", t.id);
        let path = with_query(
            &format!("incident/{}", t.id),
            &[
                ("sysparm_fields", ANSWER_FIELDS),
                ("sysparm_exclude_reference_link", "true"),
            ],
        );
        let answer = self
            .send(self.request(reqwest::Method::GET, &path), &what)
            .await?;
        let record = result(&answer, &what)?;
        let held = field(&record, "correlation_id");
        if held == r.correlation {
            return Ok(());
        }
        Err(Failure::Refused(format!(
            "ServiceNow incident {} ({}) was created, but its correlation_id is {held:?}, not \
             {:?}: let the integration user write correlation_id on incident (ACL, data \
             policy, business rules), or Vigil cannot find the incident again after a timeout",
            field(&record, "number"),
            t.id,
            r.correlation
        )))
    }

    /// Urgency and impact from the rendered priority; a value that is not
    /// `"urgency,impact"` (a template's odd output) is left out, logged.
    fn levels(&self, r: &Rendered) -> Option<(u8, u8)> {
        if r.priority.is_empty() {
            return None;
        }
        let levels = urgency_impact(&r.priority);
        if levels.is_none() {
            tracing::warn!(desk = %self.describe(), priority = %r.priority,
                "priority is not \"urgency,impact\"; urgency and impact are left as they are");
        }
        levels
    }

    /// PATCHes incident `t` with `body`: the record as it is now.
    async fn patch(
        &self,
        t: &Ticket,
        body: &Value,
        what: &str,
    ) -> Result<Map<String, Value>, Failure> {
        let path = with_query(
            &format!("incident/{}", t.id),
            &[
                ("sysparm_fields", ANSWER_FIELDS),
                ("sysparm_exclude_reference_link", "true"),
            ],
        );
        let answer = self
            .send(self.request(reqwest::Method::PATCH, &path).json(body), what)
            .await?;
        result(&answer, what)
    }

    /// Adds the step's text as a work note; an escalation also sets urgency and impact.
    pub async fn update(
        &self,
        t: &Ticket,
        r: &Rendered,
        _: &Comment<'_>,
    ) -> Result<String, Failure> {
        let mut body = json!({ "work_notes": r.update });
        let levels = (r.step == Some(Step::Escalated))
            .then(|| self.levels(r))
            .flatten();
        if let Some((urgency, impact)) = levels {
            body["urgency"] = urgency.to_string().into();
            body["impact"] = impact.to_string().into();
        }
        let what = format!("adding a work note to ServiceNow incident {}", t.id);
        let record = self.patch(t, &body, &what).await?;
        let number = field(&record, "number");
        let Some((urgency, impact)) = levels else {
            return Ok(format!("{number}: work note added"));
        };
        let now = (field(&record, "urgency"), field(&record, "impact"));
        if now != (urgency.to_string(), impact.to_string()) {
            return Err(Failure::Refused(format!(
                "raising urgency and impact of ServiceNow incident {number}: the instance kept \
                 urgency {} and impact {} instead of {urgency} and {impact}",
                now.0, now.1
            )));
        }
        Ok(format!(
            "{number}: work note added; urgency {urgency}, impact {impact}"
        ))
    }

    /// Sets the resolved state with close code and notes; the answer must show the state.
    pub async fn resolve(
        &self,
        t: &Ticket,
        r: &Rendered,
        _: &Comment<'_>,
    ) -> Result<String, Failure> {
        let body = json!({
            "state": self.resolved_state,
            "close_code": self.close_code,
            "close_notes": r.update,
            "work_notes": r.update,
        });
        let what = format!(
            "setting ServiceNow incident {} to state {:?}",
            t.id, self.resolved_state
        );
        let record = self.patch(t, &body, &what).await?;
        let number = field(&record, "number");
        let state = field(&record, "state");
        if state != self.resolved_state {
            return Err(Failure::Refused(format!(
                "{what}: ServiceNow answered 200 but incident {number} kept state {state:?} (a \
                 business rule or an ACL on state dropped the change)"
            )));
        }
        Ok(format!("{number} state {state}"))
    }
}

/// The `result` record of an answer; a refusal naming `what` when there is none.
fn result(answer: &Answer, what: &str) -> Result<Map<String, Value>, Failure> {
    let mut found = answer.json(what)?;
    match found.get_mut("result").map(Value::take) {
        Some(Value::Object(record)) => Ok(record),
        _ => Err(Failure::Refused(format!(
            "{what}: no \"result\" record in the answer (HTTP {}): {}",
            answer.status,
            quote(&answer.body)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_join_message_and_detail() {
        let said = json!({"error": {"message": "Operation Failed", "detail": "ACL Exception"}});
        assert_eq!(
            message(&said).as_deref(),
            Some("Operation Failed: ACL Exception")
        );
        let said = json!({"error": {"message": "No Record found", "detail": ""}});
        assert_eq!(message(&said).as_deref(), Some("No Record found"));
        assert_eq!(message(&json!({"status": "failure"})), None);
    }

    #[test]
    fn fields_read_references_and_plain_values() {
        let record = json!({"state": "6", "assigned_to": {"link": "x", "value": "abc"}, "n": 3});
        let record = record.as_object().unwrap();
        assert_eq!(field(record, "state"), "6");
        assert_eq!(field(record, "assigned_to"), "abc");
        assert_eq!(field(record, "n"), "3");
        assert_eq!(field(record, "missing"), "");
    }
}
