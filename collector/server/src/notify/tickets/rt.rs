//! Request Tracker 5 over REST 2.0 (`<url>/REST/2.0`).
//!
//! ```text
//! find      GET  /tickets?query='CF.{<field>}' = '<correlation>' AND Status != 'deleted'
//!                &orderby=id&order=ASC                       → {"items":[{"id":"7",…}],…}
//! create    POST /ticket  {"Queue","Subject","Content","ContentType":"text/plain",
//!                          "Priority","Owner","Requestor","CustomFields":{<field>:<corr>}}
//!                                                            → 201 {"id":"7","_url":…}
//!           then GET /ticket/7: the custom field must hold the correlation value, or the
//!           ticket could not be found again (the field is missing or not applied to the
//!           queue): refused, with what to fix
//! update    POST /ticket/7/comment (or /correspond), text/plain; escalation also
//!           PUT /ticket/7 {"Priority":…}
//! resolve   POST /ticket/7/comment, then PUT /ticket/7 {"Status":"resolved"}, then
//!           GET /ticket/7: the status must be the one asked for
//! ```
//!
//! Authentication is an RT auth token (`Authorization: token …`) or basic with a user
//! name and password. RT answers a PUT with 200 and a list of messages even when it
//! refused a field, so a change is read back rather than trusted.

use super::config::{RtConfig, RtUpdate};
use super::http::{Answer, Auth, call, quote, request, text_of, with_query};
use super::{Comment, Failure, Fields, Rendered};
use crate::incidents::Ticket;
use crate::notify::model::Step;

/// An RT 5 desk.
#[derive(Debug)]
pub struct Rt {
    /// RT's base URL, without a trailing `/`.
    base: String,
    auth: Auth,
    client: reqwest::Client,
    correlation_field: String,
    requestors: Vec<String>,
    update_as: RtUpdate,
    resolved_status: String,
    /// How long a create whose answer was lost is given before another is sent.
    pub settle: std::time::Duration,
    /// The templates.
    pub fields: Fields,
}

/// RT's error bodies: `{"message":"…"}`.
fn message(v: &serde_json::Value) -> Option<String> {
    v.get("message").and_then(|m| m.as_str()).map(str::to_owned)
}

impl Rt {
    /// Builds the client, reading secrets; the error names the key.
    pub fn new(c: &RtConfig) -> Result<Self, String> {
        c.validate()?;
        let auth = match (&c.token, &c.username, &c.password) {
            (Some(t), _, _) => Auth::Token("token", t.load().map_err(|e| format!("token: {e}"))?),
            (None, Some(user), Some(p)) => Auth::Basic(
                user.clone(),
                p.load().map_err(|e| format!("password: {e}"))?,
            ),
            _ => return Err("token: give a token, or username and password".into()),
        };
        let fields = Fields {
            title: c.subject.clone(),
            queue: c.queue.clone(),
            category: String::new(),
            assignee: c.owner.clone(),
            priority: c.priority.clone(),
            priorities: c.priorities.clone(),
        };
        fields.check(["subject", "queue", "category", "owner", "priority"])?;
        Ok(Self {
            base: c.url.trim_end_matches('/').to_owned(),
            auth,
            client: crate::notify::http_client::client(c.ca_file.as_deref(), c.timeout)?,
            correlation_field: c.correlation_field.clone(),
            requestors: c.requestors.clone(),
            update_as: c.update_as,
            resolved_status: c.resolved_status.clone(),
            settle: c.settle,
            fields,
        })
    }

    /// `rt at https://rt.example.com`.
    pub fn describe(&self) -> String {
        format!("rt at {}", self.base)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let url = format!("{}/REST/2.0/{path}", self.base);
        self.auth.apply(request(&self.client, method, &url))
    }

    async fn send(&self, request: reqwest::RequestBuilder, what: &str) -> Result<Answer, Failure> {
        call(request, what, &[self.auth.secret()], message).await
    }

    fn ticket(&self, id: &str) -> Ticket {
        Ticket {
            id: id.to_owned(),
            url: format!("{}/Ticket/Display.html?id={id}", self.base),
        }
    }

    /// The ticket whose correlation field holds `r.correlation`, the oldest if several.
    pub async fn find(&self, r: &Rendered) -> Result<Option<Ticket>, Failure> {
        let query = format!(
            "'CF.{{{}}}' = '{}' AND Status != 'deleted'",
            self.correlation_field.replace('\'', "\\'"),
            r.correlation.replace('\'', "\\'")
        );
        let path = with_query(
            "tickets",
            &[
                ("query", query.as_str()),
                ("orderby", "id"),
                ("order", "ASC"),
            ],
        );
        let request = self.request(reqwest::Method::GET, &path);
        let answer = self
            .send(request, "searching RT for the incident's ticket")
            .await?;
        let found = answer.json("searching RT for the incident's ticket")?;
        let Some(items) = found.get("items").and_then(|i| i.as_array()) else {
            return Err(Failure::Refused(format!(
                "searching RT for the incident's ticket: no \"items\" in the answer: {}",
                quote(&answer.body)
            )));
        };
        Ok(items.first().and_then(id_of).map(|id| self.ticket(&id)))
    }

    /// Opens a ticket, then reads it back to check its correlation field.
    pub async fn create(&self, r: &Rendered) -> Result<Ticket, Failure> {
        let mut body = serde_json::json!({
            "Queue": r.queue,
            "Subject": r.title,
            "Content": r.description,
            "ContentType": "text/plain",
            "CustomFields": { self.correlation_field.as_str(): r.correlation },
        });
        if !r.priority.is_empty() {
            body["Priority"] = r.priority.clone().into();
        }
        if !r.assignee.is_empty() {
            body["Owner"] = r.assignee.clone().into();
        }
        if !self.requestors.is_empty() {
            body["Requestor"] = self.requestors.join(", ").into();
        }
        let what = format!("creating an RT ticket in queue {:?}", r.queue);
        let answer = self
            .send(
                self.request(reqwest::Method::POST, "ticket").json(&body),
                &what,
            )
            .await?;
        let created = answer.json(&what)?;
        let Some(id) = id_of(&created) else {
            return Err(Failure::Refused(format!(
                "{what}: RT answered HTTP {} without a ticket id: {}",
                answer.status,
                quote(&answer.body)
            )));
        };
        Ok(self.ticket(&id))
    }

    /// Checks that ticket `t` holds the correlation value (after a create): the error says
    /// what to fix in RT.
    pub async fn check_correlation(&self, t: &Ticket, r: &Rendered) -> Result<(), Failure> {
        let ticket = self.read(t).await?;
        let held = ticket
            .get("CustomFields")
            .and_then(|c| c.as_array())
            .into_iter()
            .flatten()
            .filter(|cf| cf.get("name").and_then(|n| n.as_str()) == Some(&self.correlation_field))
            .flat_map(|cf| {
                cf.get("values")
                    .and_then(|v| v.as_array())
                    .cloned()
                    .unwrap_or_default()
            })
            .any(|v| v.as_str() == Some(&r.correlation));
        if held {
            Ok(())
        } else {
            Err(Failure::Refused(format!(
                "RT ticket {} was created, but its custom field {:?} does not hold the incident \
                 ({}): create that ticket custom field (free-form text) and apply it to queue \
                 {:?}, or Vigil cannot find the ticket again after a timeout",
                t.id, self.correlation_field, r.correlation, r.queue
            )))
        }
    }

    async fn read(&self, t: &Ticket) -> Result<serde_json::Value, Failure> {
        let what = format!("reading RT ticket {}", t.id);
        let answer = self
            .send(
                self.request(reqwest::Method::GET, &format!("ticket/{}", t.id)),
                &what,
            )
            .await?;
        answer.json(&what)
    }

    async fn comment(&self, t: &Ticket, text: &str) -> Result<String, Failure> {
        let verb = match self.update_as {
            RtUpdate::Comment => "comment",
            RtUpdate::Correspond => "correspond",
        };
        let what = format!("adding a {verb} to RT ticket {}", t.id);
        let request = self
            .request(reqwest::Method::POST, &format!("ticket/{}/{verb}", t.id))
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(text.to_owned());
        let answer = self.send(request, &what).await?;
        Ok(messages(&answer))
    }

    async fn set(
        &self,
        t: &Ticket,
        body: serde_json::Value,
        what: &str,
    ) -> Result<String, Failure> {
        let request = self
            .request(reqwest::Method::PUT, &format!("ticket/{}", t.id))
            .json(&body);
        let answer = self.send(request, what).await?;
        Ok(messages(&answer))
    }

    /// Adds the step's text (once, though the step be tried again); an escalation also
    /// sets the new priority.
    pub async fn update(
        &self,
        t: &Ticket,
        r: &Rendered,
        c: &Comment<'_>,
    ) -> Result<String, Failure> {
        let said = c
            .once(|| self.comment(t, &r.update))
            .await?
            .unwrap_or_else(|| "comment added by an earlier attempt".to_owned());
        if r.step == Some(Step::Escalated) && !r.priority.is_empty() {
            let what = format!("raising the priority of RT ticket {}", t.id);
            let set = self
                .set(t, serde_json::json!({ "Priority": r.priority }), &what)
                .await?;
            let ticket = self.read(t).await?;
            let now = ticket.get("Priority").map(|p| match p {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            if now.as_deref() != Some(r.priority.as_str()) {
                return Err(Failure::Refused(format!(
                    "{what}: RT kept priority {} instead of {} ({set})",
                    now.unwrap_or_default(),
                    r.priority
                )));
            }
            return Ok(format!("{said}; {set}"));
        }
        Ok(format!("ticket {}: {said}", t.id))
    }

    /// Adds the resolution's text (once) and sets the resolved status, read back.
    pub async fn resolve(
        &self,
        t: &Ticket,
        r: &Rendered,
        c: &Comment<'_>,
    ) -> Result<String, Failure> {
        c.once(|| self.comment(t, &r.update)).await?;
        let what = format!(
            "setting RT ticket {} to status {:?}",
            t.id, self.resolved_status
        );
        let said = self
            .set(
                t,
                serde_json::json!({ "Status": self.resolved_status }),
                &what,
            )
            .await?;
        let ticket = self.read(t).await?;
        let status = ticket.get("Status").and_then(|s| s.as_str()).unwrap_or("");
        if status != self.resolved_status {
            return Err(Failure::Refused(format!(
                "{what}: RT kept status {status:?}: {said}"
            )));
        }
        Ok(format!("ticket {} {status}: {said}", t.id))
    }
}

/// A ticket id in RT's answers: `"id": "7"` or `7`.
fn id_of(v: &serde_json::Value) -> Option<String> {
    text_of(v.get("id")?)
}

/// RT's answer to a change: a JSON list of messages, joined; else the body.
fn messages(answer: &Answer) -> String {
    match serde_json::from_str::<serde_json::Value>(&answer.body) {
        Ok(serde_json::Value::Array(list)) => list
            .iter()
            .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join("; "),
        _ => quote(&answer.body),
    }
}
