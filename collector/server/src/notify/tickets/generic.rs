//! A desk by templates (`[[notify.receivers.ticket]]`): each lifecycle step is a request
//! whose URL and body are templates over the incident, with the ticket's id found by JSON
//! pointers in the answers.
//!
//! ```toml
//! [[notify.receivers.ticket]]
//! headers = { Authorization = { env = "DESK_TOKEN" } }
//! find = { method = "GET", url = "https://desk.example.com/api/tickets?ref={{ .Incident.Correlation }}" }
//! found_id = "/tickets/0/id"
//! create = { url = "https://desk.example.com/api/tickets", body = '''
//!   {"title": {{ .Incident.TicketTitle | toJson }}, "ref": {{ .Incident.Correlation | toJson }},
//!    "priority": {{ .Incident.Priority | toJson }}, "text": {{ .Incident.Description | toJson }}}''' }
//! ticket_id = "/id"
//! update = { url = "https://desk.example.com/api/tickets/{{ .Incident.TicketID }}/notes",
//!            body = '{"text": {{ .Incident.Update | toJson }}}' }
//! resolve = { method = "PATCH", url = "https://desk.example.com/api/tickets/{{ .Incident.TicketID }}",
//!             body = '{"state": "resolved", "note": {{ .Incident.Update | toJson }}}' }
//! ```
//!
//! A create is made only after `find` found nothing; with `idempotency_header`, the
//! correlation value also goes with the create as the desk's idempotency key.

use super::config::{GenericTicketConfig, RequestConfig};
use super::http::{call, quote};
use super::{Comment, Failure, Fields, Rendered};
use crate::incidents::Ticket;
use crate::notify::secret::Secret;
use vigil_rules::template;

/// A templated desk.
#[derive(Debug)]
pub struct Generic {
    headers: Vec<(String, Secret)>,
    client: reqwest::Client,
    find: Option<RequestConfig>,
    found_id: Option<String>,
    create: RequestConfig,
    ticket_id: String,
    idempotency_header: Option<String>,
    update: Option<RequestConfig>,
    resolve: Option<RequestConfig>,
    ticket_url: String,
    /// How long a create whose answer was lost is given before another is sent.
    pub settle: std::time::Duration,
    /// The templates.
    pub fields: Fields,
}

/// Common error bodies: `{"message"}`, `{"error": "…"}`, `{"error": {"message"}}`,
/// `{"errorMessage"}`, `{"errors": […]}`.
fn message(v: &serde_json::Value) -> Option<String> {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    v.get("message")
        .and_then(text)
        .or_else(|| v.get("errorMessage").and_then(text))
        .or_else(|| {
            v.get("error")
                .and_then(|e| text(e).or_else(|| e.get("message").and_then(text)))
        })
        .or_else(|| Some(v.get("errors")?.to_string()))
}

impl Generic {
    /// Builds the client, reading secrets and checking templates; the error names the key.
    pub fn new(c: &GenericTicketConfig) -> Result<Self, String> {
        c.validate()?;
        let mut headers = Vec::new();
        for (name, source) in &c.headers {
            let value = source.load().map_err(|e| format!("headers.{name}: {e}"))?;
            reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("headers.{name}: not a header name"))?;
            headers.push((name.clone(), value));
        }
        let fields = Fields {
            title: c.title.clone(),
            queue: c.queue.clone(),
            category: c.category.clone(),
            assignee: c.assignee.clone(),
            priority: c.priority.clone(),
            priorities: c.priorities.clone(),
        };
        fields.check(["title", "queue", "category", "assignee", "priority"])?;
        for (key, request) in [
            ("find", c.find.as_ref()),
            ("create", Some(&c.create)),
            ("update", c.update.as_ref()),
            ("resolve", c.resolve.as_ref()),
        ] {
            if let Some(r) = request {
                for (part, t) in [("url", Some(&r.url)), ("body", r.body.as_ref())] {
                    if let Some(t) = t {
                        template::check_notification(t)
                            .map_err(|e| format!("{key}.{part}: {e}"))?;
                    }
                }
            }
        }
        template::check_notification(&c.ticket_url).map_err(|e| format!("ticket_url: {e}"))?;
        Ok(Self {
            headers,
            client: crate::notify::http_client::client(c.ca_file.as_deref(), c.timeout)?,
            find: c.find.clone(),
            found_id: c.found_id.clone(),
            create: c.create.clone(),
            ticket_id: c.ticket_id.clone(),
            idempotency_header: c.idempotency_header.clone(),
            update: c.update.clone(),
            resolve: c.resolve.clone(),
            ticket_url: c.ticket_url.clone(),
            settle: c.settle,
            fields,
        })
    }

    /// `ticket desk at https://desk.example.com` (the create URL's host).
    pub fn describe(&self) -> String {
        let fixed = self.create.url.split("{{").next().unwrap_or_default();
        match reqwest::Url::parse(fixed) {
            Ok(u) => format!(
                "ticket desk at {}://{}",
                u.scheme(),
                u.host_str().unwrap_or_default()
            ),
            Err(_) => "ticket desk".into(),
        }
    }

    fn secrets(&self) -> Vec<&Secret> {
        self.headers.iter().map(|(_, s)| s).collect()
    }

    fn expand(&self, t: &str, r: &Rendered, what: &str) -> Result<String, Failure> {
        template::expand_notification(t, &r.data, false)
            .map_err(|e| Failure::Refused(format!("{what}: the template failed: {e}")))
    }

    async fn send(
        &self,
        step: &RequestConfig,
        r: &Rendered,
        what: &str,
        extra: Option<(&str, &str)>,
    ) -> Result<super::http::Answer, Failure> {
        let url = self.expand(&step.url, r, what)?;
        let method = reqwest::Method::from_bytes(step.method.as_bytes())
            .map_err(|_| Failure::Refused(format!("{what}: bad method {:?}", step.method)))?;
        let mut request = self
            .client
            .request(method, url.trim())
            .header("Accept", "application/json")
            .header("User-Agent", concat!("vigil/", env!("CARGO_PKG_VERSION")));
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.expose());
        }
        if let Some((name, value)) = extra {
            request = request.header(name, value);
        }
        if let Some(body) = &step.body {
            let body = self.expand(body, r, what)?;
            request = request
                .header("Content-Type", step.content_type.as_str())
                .body(body);
        }
        call(request, what, &self.secrets(), message).await
    }

    fn ticket(&self, id: String, r: &Rendered) -> Ticket {
        let mut data = r.data.clone();
        data.incident.insert("TicketID".into(), id.clone());
        let url = template::expand_notification(&self.ticket_url, &data, false)
            .unwrap_or_default()
            .trim()
            .to_owned();
        Ticket { id, url }
    }

    /// The ticket `find` points at, if any.
    pub async fn find(&self, r: &Rendered) -> Result<Option<Ticket>, Failure> {
        let (Some(find), Some(pointer)) = (&self.find, &self.found_id) else {
            return Ok(None);
        };
        let what = "looking the incident's ticket up";
        let answer = self.send(find, r, what, None).await?;
        let found = answer.json(what)?;
        Ok(id_at(&found, pointer).map(|id| self.ticket(id, r)))
    }

    /// Opens a ticket; its id is where `ticket_id` points.
    pub async fn create(&self, r: &Rendered) -> Result<Ticket, Failure> {
        let what = "creating the ticket";
        let key = self
            .idempotency_header
            .as_deref()
            .map(|h| (h, r.correlation.as_str()));
        let answer = self.send(&self.create, r, what, key).await?;
        let created = answer.json(what)?;
        match id_at(&created, &self.ticket_id) {
            Some(id) => Ok(self.ticket(id, r)),
            None => Err(Failure::Refused(format!(
                "{what}: no ticket id at {:?} in the answer (HTTP {}): {}",
                self.ticket_id,
                answer.status,
                quote(&answer.body)
            ))),
        }
    }

    /// Sends `update` (when configured).
    pub async fn update(
        &self,
        t: &Ticket,
        r: &Rendered,
        _: &Comment<'_>,
    ) -> Result<String, Failure> {
        match &self.update {
            None => Ok(format!("ticket {}: no update request configured", t.id)),
            Some(step) => {
                let what = format!("updating ticket {}", t.id);
                let answer = self.send(step, r, &what, None).await?;
                Ok(format!("ticket {}: HTTP {}", t.id, answer.status))
            }
        }
    }

    /// Sends `resolve` (when configured).
    pub async fn resolve(
        &self,
        t: &Ticket,
        r: &Rendered,
        _: &Comment<'_>,
    ) -> Result<String, Failure> {
        match &self.resolve {
            None => Ok(format!("ticket {}: no resolve request configured", t.id)),
            Some(step) => {
                let what = format!("resolving ticket {}", t.id);
                let answer = self.send(step, r, &what, None).await?;
                Ok(format!("ticket {} resolved: HTTP {}", t.id, answer.status))
            }
        }
    }
}

/// The id at JSON pointer `pointer`: a string, or a number written out.
fn id_at(v: &serde_json::Value, pointer: &str) -> Option<String> {
    match v.pointer(pointer)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
