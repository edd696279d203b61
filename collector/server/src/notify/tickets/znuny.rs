//! Znuny (and OTRS 6) through the GenericInterface REST web service of
//! `deploy/znuny/Vigil.yml`, under `url` (`…/nph-genericinterface.pl/Webservice/Vigil`).
//!
//! ```text
//! find     POST  /TicketSearch {"DynamicField":{"Name":<field>,"Equals":<corr>},"Limit":10}
//!                                                   → {"TicketID":["9","3"]} or {}
//!          then GET /Ticket/9,3?DynamicFields=1: the oldest whose field holds the value
//!          (Znuny drops a condition on a field it does not know and matches every ticket)
//! create   POST  /Ticket {"Ticket":{"Title","Queue","State","Priority","CustomerUser",
//!                 "Owner","Type"},"Article":{…},"DynamicField":[{"Name","Value":<corr>}]}
//!                                                   → {"TicketID","TicketNumber",…}
//!          then GET /Ticket/<id>?DynamicFields=1: the field must hold the value
//! update   PATCH /Ticket/<id> {"Article":{…}}; an escalation also {"Ticket":{"Priority"}}
//! resolve  PATCH /Ticket/<id> {"Ticket":{"State":<resolved_state>},"Article":{…}}; the
//!          ticket in the answer (or read back) must be in that state
//! article  {"CommunicationChannel":"Internal","SenderType":"system",
//!           "IsVisibleForCustomer":0,"Subject","Body","ContentType":"text/plain; charset=utf8"}
//! ```
//!
//! The agent's login and password go in the `X-OTRS-Header-UserLogin` and
//! `X-OTRS-Header-Password` headers, which the REST transport reads for every operation
//! (never in the query string, which web servers log). Znuny answers a refusal (wrong
//! password, a missing field, no permission) with HTTP 200 and `{"Error": {"ErrorCode",
//! "ErrorMessage"}}`: any `Error` in an answer is a refusal. A 500 (the operation failed
//! outright, `faultstring`) is retried.

use super::config::ZnunyConfig;
use super::http::{call, quote, request, text_of};
use super::{Comment, Failure, Fields, Rendered};
use crate::incidents::Ticket;
use crate::notify::model::Step;
use crate::notify::secret::Secret;
use serde_json::{Value, json};
use std::time::Duration;
use vigil_rules::template;

/// A Znuny web service.
#[derive(Debug)]
pub struct Znuny {
    /// The web service's URL, without a trailing `/`.
    base: String,
    login: String,
    password: Secret,
    client: reqwest::Client,
    customer_user: String,
    state: String,
    resolved_state: String,
    dynamic_field: String,
    /// A template, or empty to derive the agent interface's link from `base`.
    ticket_url: String,
    /// How long a create whose answer was lost is given before another is sent.
    pub settle: Duration,
    /// The templates.
    pub fields: Fields,
}

/// Znuny's error bodies: a provider fault (`faultstring`) or an operation's `Error`.
fn message(v: &Value) -> Option<String> {
    v.get("faultstring")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| error(v))
}

/// `ErrorCode: ErrorMessage` of an answer's `Error`, if it has one.
fn error(v: &Value) -> Option<String> {
    let e = v.get("Error")?;
    let text = |key: &str| e.get(key).and_then(Value::as_str).unwrap_or("");
    Some(format!("{}: {}", text("ErrorCode"), text("ErrorMessage")))
}

impl Znuny {
    /// Builds the client, reading the password and checking templates; the error names the
    /// key.
    pub fn new(c: &ZnunyConfig) -> Result<Self, String> {
        c.validate()?;
        let password = c.password.load().map_err(|e| format!("password: {e}"))?;
        let fields = Fields {
            title: c.title.clone(),
            queue: c.queue.clone(),
            category: c.ticket_type.clone(),
            assignee: c.owner.clone(),
            priority: c.priority.clone(),
            priorities: c.priorities.clone(),
        };
        fields.check(["title", "queue", "type", "owner", "priority"])?;
        template::check_notification(&c.ticket_url).map_err(|e| format!("ticket_url: {e}"))?;
        Ok(Self {
            base: c.url.trim_end_matches('/').to_owned(),
            login: c.username.clone(),
            password,
            client: crate::notify::http_client::client(c.ca_file.as_deref(), c.timeout)?,
            customer_user: c.customer_user.clone(),
            state: c.state.clone(),
            resolved_state: c.resolved_state.clone(),
            dynamic_field: c.dynamic_field.clone(),
            ticket_url: c.ticket_url.clone(),
            settle: c.settle,
            fields,
        })
    }

    /// `znuny at https://desk.example.com/otrs/nph-genericinterface.pl/Webservice/Vigil`.
    pub fn describe(&self) -> String {
        format!("znuny at {}", self.base)
    }

    /// Sends an operation's request and reads its answer; an `Error` in it is a refusal.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Value, Failure> {
        let url = format!("{}{path}", self.base);
        let mut request = request(&self.client, method, &url)
            .header("X-OTRS-Header-UserLogin", &self.login)
            .header("X-OTRS-Header-Password", self.password.expose());
        if let Some(body) = body {
            request = request.json(body);
        }
        let answer = call(request, what, &[&self.password], message).await?;
        let v = answer.json(what)?;
        match error(&v) {
            Some(said) => Err(Failure::Refused(
                self.password
                    .redact(&format!("{what}: Znuny answered {said}")),
            )),
            None => Ok(v),
        }
    }

    fn ticket(&self, id: &str, r: &Rendered) -> Ticket {
        let url = if self.ticket_url.is_empty() {
            match self.base.split_once("/nph-genericinterface.pl/") {
                Some((site, _)) => format!("{site}/index.pl?Action=AgentTicketZoom;TicketID={id}"),
                None => String::new(),
            }
        } else {
            let mut data = r.data.clone();
            data.incident.insert("TicketID".into(), id.to_owned());
            template::expand_notification(&self.ticket_url, &data, false)
                .unwrap_or_default()
                .trim()
                .to_owned()
        };
        Ticket {
            id: id.to_owned(),
            url,
        }
    }

    /// Tickets `ids` as TicketGet shows them, with their dynamic fields.
    async fn read(&self, ids: &[String], what: &str) -> Result<Vec<Value>, Failure> {
        let path = format!("/Ticket/{}?DynamicFields=1", ids.join(","));
        let answer = self.send(reqwest::Method::GET, &path, None, what).await?;
        match answer.get("Ticket") {
            Some(Value::Array(tickets)) => Ok(tickets.clone()),
            Some(ticket @ Value::Object(_)) => Ok(vec![ticket.clone()]),
            _ => Err(Failure::Refused(format!(
                "{what}: no \"Ticket\" in Znuny's answer: {}",
                quote(&answer.to_string())
            ))),
        }
    }

    /// Whether `ticket` (as TicketGet shows it) holds `value` in the dynamic field.
    fn holds(&self, ticket: &Value, value: &str) -> bool {
        let fields = match ticket.get("DynamicField") {
            Some(Value::Array(list)) => list.clone(),
            Some(one @ Value::Object(_)) => vec![one.clone()],
            _ => Vec::new(),
        };
        fields.iter().any(|f| {
            f.get("Name").and_then(Value::as_str) == Some(&self.dynamic_field)
                && match f.get("Value") {
                    Some(Value::Array(values)) => values.iter().any(|v| v == value),
                    Some(v) => v == value,
                    None => false,
                }
        })
    }

    /// The oldest ticket whose dynamic field holds `r.correlation`.
    pub async fn find(&self, r: &Rendered) -> Result<Option<Ticket>, Failure> {
        let what = "searching Znuny for the incident's ticket";
        let body = json!({
            "DynamicField": { "Name": self.dynamic_field, "Equals": r.correlation },
            "Limit": 10,
        });
        let found = self
            .send(reqwest::Method::POST, "/TicketSearch", Some(&body), what)
            .await?;
        let ids: Vec<String> = match found.get("TicketID") {
            Some(Value::Array(ids)) => ids.iter().filter_map(text_of).collect(),
            Some(id) => text_of(id).into_iter().collect(),
            None => Vec::new(),
        };
        if ids.is_empty() {
            return Ok(None);
        }
        let tickets = self.read(&ids, what).await?;
        let oldest = tickets
            .iter()
            .filter(|t| self.holds(t, &r.correlation))
            .filter_map(|t| t.get("TicketID").and_then(text_of))
            .min_by_key(|id| id.parse::<u64>().unwrap_or(u64::MAX));
        match oldest {
            Some(id) => Ok(Some(self.ticket(&id, r))),
            None => Err(Failure::Refused(format!(
                "{what}: TicketSearch by dynamic field {:?} answered tickets {} that do not \
                 hold {:?}: create the dynamic field (Text, for tickets) in Admin → Dynamic \
                 Fields, or set dynamic_field to its name",
                self.dynamic_field,
                ids.join(", "),
                r.correlation
            ))),
        }
    }

    /// The article every request adds: internal, plain text.
    fn article(subject: &str, body: &str) -> Value {
        let subject: String = subject
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(200)
            .collect();
        json!({
            "CommunicationChannel": "Internal",
            "SenderType": "system",
            "IsVisibleForCustomer": 0,
            "Subject": subject,
            "Body": body,
            "ContentType": "text/plain; charset=utf8",
        })
    }

    /// Opens a ticket holding the correlation value in the dynamic field.
    pub async fn create(&self, r: &Rendered) -> Result<Ticket, Failure> {
        let mut ticket = json!({
            "Title": r.title,
            "Queue": r.queue,
            "State": self.state,
            "CustomerUser": self.customer_user,
        });
        for (name, value) in [
            ("Priority", &r.priority),
            ("Owner", &r.assignee),
            ("Type", &r.category),
        ] {
            if !value.is_empty() {
                ticket[name] = value.clone().into();
            }
        }
        let body = json!({
            "Ticket": ticket,
            "Article": Self::article(&r.title, &r.description),
            "DynamicField": [{ "Name": self.dynamic_field, "Value": r.correlation }],
        });
        let what = format!("creating a Znuny ticket in queue {:?}", r.queue);
        let created = self
            .send(reqwest::Method::POST, "/Ticket", Some(&body), &what)
            .await?;
        match created.get("TicketID").and_then(text_of) {
            Some(id) => Ok(self.ticket(&id, r)),
            None => Err(Failure::Refused(format!(
                "{what}: Znuny answered without a TicketID: {}",
                quote(&created.to_string())
            ))),
        }
    }

    /// Checks that ticket `t` holds the correlation value (after a create).
    pub async fn verify(&self, t: &Ticket, r: &Rendered) -> Result<(), Failure> {
        let what = format!("reading Znuny ticket {}", t.id);
        let tickets = self.read(std::slice::from_ref(&t.id), &what).await?;
        if tickets
            .iter()
            .any(|ticket| self.holds(ticket, &r.correlation))
        {
            return Ok(());
        }
        Err(Failure::Refused(format!(
            "Znuny ticket {} was created, but its dynamic field {:?} does not hold the \
             incident ({}): check that the field is valid for tickets and that the web \
             service's TicketGet shows it, or Vigil cannot find the ticket again after a timeout",
            t.id, self.dynamic_field, r.correlation
        )))
    }

    /// PATCHes ticket `t` with an article and `changes`: the ticket as it is now (from the
    /// answer, or read back when the web service does not include it) and its number.
    async fn update_ticket(
        &self,
        t: &Ticket,
        changes: Option<Value>,
        r: &Rendered,
        what: &str,
    ) -> Result<(Value, String), Failure> {
        let mut body = json!({ "Article": Self::article(&r.update, &r.update) });
        if let Some(changes) = changes {
            body["Ticket"] = changes;
        }
        let path = format!("/Ticket/{}", t.id);
        let answer = self
            .send(reqwest::Method::PATCH, &path, Some(&body), what)
            .await?;
        let number = answer
            .get("TicketNumber")
            .and_then(text_of)
            .unwrap_or_else(|| t.id.clone());
        let ticket = match answer.get("Ticket") {
            Some(ticket @ Value::Object(_)) => ticket.clone(),
            _ => {
                let read = self.read(std::slice::from_ref(&t.id), what).await?;
                read.into_iter().next().unwrap_or(Value::Null)
            }
        };
        Ok((ticket, number))
    }

    /// Adds the step's text as an internal article; an escalation also sets the priority.
    pub async fn update(
        &self,
        t: &Ticket,
        r: &Rendered,
        _: &Comment<'_>,
    ) -> Result<String, Failure> {
        let escalate = r.step == Some(Step::Escalated) && !r.priority.is_empty();
        let changes = escalate.then(|| json!({ "Priority": r.priority }));
        let what = format!("adding an article to Znuny ticket {}", t.id);
        let (ticket, number) = self.update_ticket(t, changes, r, &what).await?;
        if !escalate {
            return Ok(format!("ticket {number}: article added"));
        }
        let now = ticket.get("Priority").and_then(Value::as_str).unwrap_or("");
        if now != r.priority {
            return Err(Failure::Refused(format!(
                "raising the priority of Znuny ticket {number}: Znuny kept priority {now:?} \
                 instead of {:?}",
                r.priority
            )));
        }
        Ok(format!("ticket {number}: article added; priority {now}"))
    }

    /// Adds the resolution's text and sets the resolved state, checked.
    pub async fn resolve(
        &self,
        t: &Ticket,
        r: &Rendered,
        _: &Comment<'_>,
    ) -> Result<String, Failure> {
        let what = format!(
            "setting Znuny ticket {} to state {:?}",
            t.id, self.resolved_state
        );
        let changes = json!({ "State": self.resolved_state });
        let (ticket, number) = self.update_ticket(t, Some(changes), r, &what).await?;
        let text = |key: &str| ticket.get(key).and_then(Value::as_str).unwrap_or("");
        if text("State") != self.resolved_state {
            return Err(Failure::Refused(format!(
                "{what}: Znuny kept ticket {number} in state {:?} (type {:?})",
                text("State"),
                text("StateType")
            )));
        }
        Ok(format!(
            "ticket {number} {} ({})",
            text("State"),
            text("StateType")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_faults_are_read() {
        let refused = json!({"Error": {"ErrorCode": "TicketCreate.AccessDenied",
            "ErrorMessage": "TicketCreate: Can not create tickets in given Queue or QueueID!"}});
        assert_eq!(
            error(&refused).as_deref(),
            Some(
                "TicketCreate.AccessDenied: TicketCreate: Can not create tickets in given \
                 Queue or QueueID!"
            )
        );
        assert_eq!(
            message(&json!({"faultcode": "Server", "faultstring": "could not be created"}))
                .as_deref(),
            Some("could not be created")
        );
        assert_eq!(error(&json!({"TicketID": "1"})), None);
    }

    #[test]
    fn the_agent_link_is_derived_from_the_web_service_url() {
        let config: ZnunyConfig = toml::from_str(
            r#"
            url = "https://desk.example.com/otrs/nph-genericinterface.pl/Webservice/Vigil/"
            username = "vigil"
            password = "znuny-unit-password"
            customer_user = "monitoring"
            "#,
        )
        .unwrap();
        let znuny = Znuny::new(&config).unwrap();
        let t = znuny.ticket("42", &Rendered::default());
        assert_eq!(
            t.url,
            "https://desk.example.com/otrs/index.pl?Action=AgentTicketZoom;TicketID=42"
        );
        assert!(!format!("{znuny:?}").contains("znuny-unit-password"));
        let ticket = json!({"TicketID": "42", "DynamicField": [
            {"Name": "Other", "Value": "vigil-1-2"},
            {"Name": "VigilIncident", "Value": "vigil-1-2"}]});
        assert!(znuny.holds(&ticket, "vigil-1-2"));
        assert!(!znuny.holds(&ticket, "vigil-1-3"));
    }
}
