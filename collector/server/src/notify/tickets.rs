//! Ticket integrations: one service-desk ticket follows each incident, from opening to
//! resolution, and never a second one.
//!
//! ```text
//!  incident step ──outbox entry (group "incident:<id>", in order)──► deliver
//!     opened      ticket in the book? ─no─► find by correlation ─none─► create, read back
//!                     │ yes                   │ found (a retry after a timeout, a crash)
//!                     ▼                       ▼
//!                 record in the book (durable before anything else is sent to the desk)
//!     updated / escalated / acknowledged / reopened ──► comment (escalated: priority too)
//!     resolved    ──► set the desk's resolved status, read back
//! ```
//!
//! - **Exactly one ticket.** The id a desk returns is written to the [`book`] at once, and
//!   every later step of the incident goes to it. Before any create the desk is searched
//!   for the incident's correlation value (`vigil-<installation>-<id>`, in a custom or
//!   correlation field, or sent as the desk's idempotency key): a create whose answer was
//!   lost to a timeout, or to `kill -9` before the book was written, is found, not
//!   repeated. The outbox hands an incident's steps over one at a time, oldest first, so
//!   an update never overtakes the create.
//! - **Refusals.** A 4xx is a refusal (not retried, logged with the desk's own message).
//!   A desk that answers 2xx but did not make the change (RT's messages, a status that did
//!   not change) is read back and treated as a refusal too. 5xx, 408, 429 and network
//!   errors are retried with the outbox's backoff.
//! - **Categorised and assigned.** Title, queue, category, priority and assignee are
//!   templates over the incident (`.Incident.Severity`, `.CommonLabels.team`, …);
//!   `.Incident.Priority` is the desk's value for the severity (`priorities`).
//!
//! # Layout
//! - [`config`]: `[[notify.receivers.rt]]`, `.servicenow`, `.znuny`, `.jsm`, `.ticket`.
//! - [`book`]: which ticket follows which incident, in the store.
//! - [`rt`]: Request Tracker 5 (REST 2.0); [`servicenow`]: the Table API on `incident`;
//!   [`znuny`]: Znuny's GenericInterface; [`jsm`]: Jira Service Management Cloud;
//!   [`generic`]: any desk, by templates.
//! - [`http`]: requests and answers every desk client shares.

pub mod book;
pub mod config;
pub mod generic;
pub mod http;
pub mod jsm;
pub mod rt;
pub mod servicenow;
pub mod znuny;

use super::model::{IncidentNotice, Notification, Outcome, Step};
use super::render;
use crate::incidents::Ticket;
use book::TicketBook;
use std::collections::BTreeMap;
use std::sync::Arc;
use vigil_rules::template;

/// Why a request to a desk did not do what it should.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Worth trying again later (network, timeout, 5xx, 408, 429).
    Retry(String),
    /// Refused (4xx, or a change the desk says it did not make).
    Refused(String),
}

impl From<Failure> for Outcome {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Retry(error) => Outcome::Retry { error },
            Failure::Refused(error) => Outcome::Rejected { error },
        }
    }
}

/// What a ticket says, rendered for one step of one incident.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// Title / subject.
    pub title: String,
    /// The whole story: summary, alerts, timeline (a new ticket's description).
    pub description: String,
    /// What this step adds (a comment's text).
    pub update: String,
    /// Queue or group.
    pub queue: String,
    /// Category.
    pub category: String,
    /// The desk's priority.
    pub priority: String,
    /// Assignee.
    pub assignee: String,
    /// The correlation value.
    pub correlation: String,
    /// The step.
    pub step: Option<Step>,
    /// Template data for request templates (generic desks), `.Incident` filled in.
    pub data: template::NotificationData,
}

/// The templates every desk shares.
#[derive(Debug, Clone)]
pub struct Fields {
    /// Title.
    pub title: String,
    /// Queue.
    pub queue: String,
    /// Category.
    pub category: String,
    /// Assignee.
    pub assignee: String,
    /// Priority.
    pub priority: String,
    /// Severity → the desk's priority.
    pub priorities: BTreeMap<String, String>,
}

impl Fields {
    /// Checks each template on a sample incident; the error names the key.
    pub fn check(&self, keys: [&str; 5]) -> Result<(), String> {
        let sample = test_notification("sample", "", 0, "vigil-00000000-0", Step::Opened);
        let notice = sample.incident.as_deref().expect("a test notice");
        let data = self.data(&sample, notice, None);
        for (key, t) in keys.iter().zip(self.templates()) {
            template::check_notification(t).map_err(|e| format!("{key}: {e}"))?;
            template::expand_notification(t, &data, false)
                .map_err(|e| format!("{key}: {e} (on a sample incident)"))?;
        }
        Ok(())
    }

    fn templates(&self) -> [&str; 5] {
        [
            &self.title,
            &self.queue,
            &self.category,
            &self.assignee,
            &self.priority,
        ]
    }

    fn data(
        &self,
        n: &Notification,
        notice: &IncidentNotice,
        ticket: Option<&Ticket>,
    ) -> template::NotificationData {
        let mut data = render::template_data(n);
        let severity = crate::incidents::service::severity_name(notice.incident.severity);
        let priority = self.priorities.get(severity).cloned().unwrap_or_default();
        data.incident.insert("Priority".into(), priority);
        data.incident.insert(
            "TicketID".into(),
            ticket.map(|t| t.id.clone()).unwrap_or_default(),
        );
        data
    }

    /// Renders every field for one step; a template that fails (it was checked at start,
    /// so only on odd data) leaves the field empty, logged: a ticket is never lost to a
    /// template.
    pub fn render(
        &self,
        n: &Notification,
        notice: &IncidentNotice,
        ticket: Option<&Ticket>,
    ) -> Rendered {
        let mut data = self.data(n, notice, ticket);
        let [title, queue, category, assignee, priority] =
            self.templates()
                .map(|t| match template::expand_notification(t, &data, false) {
                    Ok(text) => text.trim().to_owned(),
                    Err(e) => {
                        tracing::warn!(receiver = %n.receiver, template = t, error = %e,
                        "ticket template failed; the field is left empty");
                        String::new()
                    }
                });
        let title = if title.is_empty() {
            notice.incident.title.clone()
        } else {
            title.split_whitespace().collect::<Vec<_>>().join(" ")
        };
        let description = render::incident::text(n, notice);
        let update = render::incident::step_text(notice);
        for (k, v) in [
            ("TicketTitle", &title),
            ("Queue", &queue),
            ("Category", &category),
            ("Assignee", &assignee),
            ("Priority", &priority),
            ("Description", &description),
            ("Update", &update),
        ] {
            data.incident.insert(k.to_owned(), v.clone());
        }
        Rendered {
            title,
            description,
            update,
            queue,
            category,
            priority,
            assignee,
            correlation: notice.correlation.clone(),
            step: Some(notice.step),
            data,
        }
    }
}

/// One desk's client.
#[derive(Debug)]
pub enum Desk {
    /// Request Tracker 5.
    Rt(Box<rt::Rt>),
    /// ServiceNow.
    ServiceNow(Box<servicenow::ServiceNow>),
    /// Znuny.
    Znuny(Box<znuny::Znuny>),
    /// Jira Service Management.
    Jsm(Box<jsm::Jsm>),
    /// Any desk, by templates.
    Generic(Box<generic::Generic>),
}

/// `$then` with `$d` bound to the desk's client, whichever desk it is: every client has
/// the same methods and fields (`describe`, `find`, `create`, `update`, `resolve`,
/// `fields`, `settle`).
macro_rules! on_desk {
    ($desk:expr, $d:ident => $then:expr) => {
        match $desk {
            Desk::Rt($d) => $then,
            Desk::ServiceNow($d) => $then,
            Desk::Znuny($d) => $then,
            Desk::Jsm($d) => $then,
            Desk::Generic($d) => $then,
        }
    };
}

impl Desk {
    /// Its table under `[[notify.receivers]]`: `rt`, `servicenow`, `znuny`, `jsm` or
    /// `ticket`.
    pub fn kind(&self) -> &'static str {
        match self {
            Desk::Rt(_) => "rt",
            Desk::ServiceNow(_) => "servicenow",
            Desk::Znuny(_) => "znuny",
            Desk::Jsm(_) => "jsm",
            Desk::Generic(_) => "ticket",
        }
    }

    /// Where it delivers (never a secret).
    pub fn describe(&self) -> String {
        on_desk!(self, d => d.describe())
    }

    fn fields(&self) -> &Fields {
        on_desk!(self, d => &d.fields)
    }

    async fn find(&self, r: &Rendered) -> Result<Option<Ticket>, Failure> {
        on_desk!(self, d => d.find(r).await)
    }

    async fn create(&self, r: &Rendered) -> Result<Ticket, Failure> {
        on_desk!(self, d => d.create(r).await)
    }

    /// How long a create whose answer was lost (a timeout, a crash) is given to be
    /// stored, and to show in the desk's search, before another create may be sent: the
    /// desk may still be working on it (`settle` in each desk's configuration; for Jira
    /// Service Management `search_lag` too).
    fn search_lag(&self) -> std::time::Duration {
        on_desk!(self, d => d.settle)
    }

    /// Checks a new ticket can be found again (its correlation field holds the value).
    async fn verify(&self, t: &Ticket, r: &Rendered) -> Result<(), Failure> {
        match self {
            Desk::Rt(d) => d.check_correlation(t, r).await,
            Desk::ServiceNow(d) => d.verify(t, r).await,
            Desk::Znuny(d) => d.verify(t, r).await,
            // Jira refuses a field the request type does not offer, so a request it
            // stored holds its label.
            Desk::Jsm(_) | Desk::Generic(_) => Ok(()),
        }
    }

    async fn update(&self, t: &Ticket, r: &Rendered, c: &Comment<'_>) -> Result<String, Failure> {
        on_desk!(self, d => d.update(t, r, c).await)
    }

    async fn resolve(&self, t: &Ticket, r: &Rendered, c: &Comment<'_>) -> Result<String, Failure> {
        on_desk!(self, d => d.resolve(t, r, c).await)
    }
}

/// A step's comment, for desks that add it in a request of its own before changing the
/// ticket (RT, Jira): when a later request of the step fails, the step is tried again,
/// and its comment must not be added twice.
pub struct Comment<'a> {
    /// An earlier attempt of this step added it already.
    pub added: bool,
    /// Notes, durably, that it was added.
    pub note: &'a (dyn Fn() -> Result<(), Failure> + Sync),
}

impl Comment<'_> {
    /// Adds the comment with `add` unless an earlier attempt did, then notes it; what
    /// `add` answered, or `None` when it was not called.
    pub async fn once<T, F: std::future::Future<Output = Result<T, Failure>>>(
        &self,
        add: impl FnOnce() -> F,
    ) -> Result<Option<T>, Failure> {
        if self.added {
            return Ok(None);
        }
        let said = add().await?;
        (self.note)()?;
        Ok(Some(said))
    }
}

/// A ticket integration of one receiver: a desk and the book its tickets are kept in.
#[derive(Debug)]
pub struct TicketIntegration {
    /// The desk.
    pub desk: Desk,
    /// The receiver it belongs to.
    pub receiver: String,
    /// Its index among the receiver's integrations.
    pub index: usize,
    /// Where tickets are kept.
    pub book: Arc<TicketBook>,
}

impl TicketIntegration {
    /// Takes one step of an incident to the desk. A notification about alerts (not an
    /// incident) is not for tickets and is accepted without a request.
    /// `delivery` is the id every attempt of this notification carries.
    pub async fn deliver(&self, n: &Notification, delivery: &str) -> Outcome {
        let Some(notice) = n.incident.as_deref() else {
            return Outcome::Accepted {
                answer: "not an incident: tickets follow incidents only".into(),
            };
        };
        match self.step(n, notice, delivery).await {
            Ok(answer) => Outcome::Accepted { answer },
            Err(f) => f.into(),
        }
    }

    async fn step(
        &self,
        n: &Notification,
        notice: &IncidentNotice,
        delivery: &str,
    ) -> Result<String, Failure> {
        let id = notice.incident.id;
        let fields = self.desk.fields();
        let known = self.book.get(id, &self.receiver, self.index);
        let (ticket, created) = match known {
            Some(t) => (t, false),
            None => {
                let rendered = fields.render(n, notice, None);
                match self.desk.find(&rendered).await? {
                    Some(t) => {
                        self.keep(id, &t)?;
                        (t, false)
                    }
                    None if notice.step == Step::Resolved => {
                        return Ok(format!(
                            "no ticket was opened for incident {id}; nothing to resolve"
                        ));
                    }
                    None => {
                        let now = vigil_store::clock::now_ms();
                        let lag = i64::try_from(self.desk.search_lag().as_millis()).unwrap_or(0);
                        if let Some(at) = self.book.created_at(id, &self.receiver, self.index)
                            && now.saturating_sub(at) < lag
                        {
                            // An earlier create's answer was lost, and the desk's search
                            // may not show that ticket yet: look again later.
                            return Err(Failure::Retry(format!(
                                "a create for incident {id} was sent {}s ago and the desk's \
                                 search may lag behind it; searching again before creating",
                                (now - at) / 1000
                            )));
                        }
                        self.book
                            .creating(id, &self.receiver, self.index, now)
                            .map_err(Failure::Retry)?;
                        let t = match self.desk.create(&rendered).await {
                            Ok(t) => t,
                            Err(refused @ Failure::Refused(_)) => {
                                self.book.refused(id, &self.receiver, self.index);
                                return Err(refused);
                            }
                            Err(retry) => return Err(retry),
                        };
                        self.keep(id, &t)?;
                        self.desk.verify(&t, &rendered).await?;
                        (t, true)
                    }
                }
            }
        };
        let rendered = fields.render(n, notice, Some(&ticket));
        let (book, receiver, index) = (&self.book, self.receiver.as_str(), self.index);
        let note = move || {
            book.note_commented(id, receiver, index, delivery)
                .map_err(Failure::Retry)
        };
        let comment = Comment {
            added: book.commented(id, receiver, index, delivery),
            note: &note,
        };
        match notice.step {
            Step::Opened if created => Ok(format!("opened ticket {}", ticket.id)),
            Step::Opened => Ok(format!("ticket {} was already open", ticket.id)),
            Step::Resolved => self.desk.resolve(&ticket, &rendered, &comment).await,
            _ => self.desk.update(&ticket, &rendered, &comment).await,
        }
    }

    fn keep(&self, incident: u64, t: &Ticket) -> Result<(), Failure> {
        self.book
            .record(incident, &self.receiver, self.index, t)
            .map_err(Failure::Retry)
    }

    /// `vigil notify test`: opens a test ticket and resolves it; the answer names it.
    pub async fn test(&self, external_url: &str, now_ms: i64) -> Outcome {
        let correlation = format!("{}-test-{now_ms}", self.book.correlation(0));
        let opened = test_notification(
            &self.receiver,
            external_url,
            now_ms,
            &correlation,
            Step::Opened,
        );
        let notice = opened.incident.as_deref().expect("a test notice");
        let fields = self.desk.fields();
        let ticket = match self
            .desk
            .create(&fields.render(&opened, notice, None))
            .await
        {
            Ok(t) => t,
            Err(f) => return f.into(),
        };
        let resolved = test_notification(
            &self.receiver,
            external_url,
            now_ms,
            &correlation,
            Step::Resolved,
        );
        let notice = resolved.incident.as_deref().expect("a test notice");
        // One attempt, nothing to note: a test is not retried.
        let comment = Comment {
            added: false,
            note: &|| Ok(()),
        };
        let rendered = fields.render(&resolved, notice, Some(&ticket));
        match self.desk.resolve(&ticket, &rendered, &comment).await {
            Ok(answer) => Outcome::Accepted {
                answer: format!(
                    "opened and resolved test ticket {} {}: {answer}",
                    ticket.id, ticket.url
                )
                .replace("  ", " "),
            },
            Err(f) => {
                let mut outcome: Outcome = f.into();
                if let Outcome::Rejected { error } | Outcome::Retry { error } = &mut outcome {
                    *error = format!(
                        "opened test ticket {} but could not resolve it: {error}",
                        ticket.id
                    );
                }
                outcome
            }
        }
    }
}

/// A test incident (id 0, one firing `VigilTest` alert) at `step`.
pub fn test_notification(
    receiver: &str,
    external_url: &str,
    now_ms: i64,
    correlation: &str,
    step: Step,
) -> Notification {
    use crate::incidents::{Entry, Event, Grouping, Incident, IncidentAlert, Severity, Status};
    let mut n = super::test_send::test_notification(receiver, external_url, now_ms);
    let alert = &n.alerts[0];
    let fingerprint = alert.fingerprint();
    let resolved = step == Step::Resolved;
    let mut timeline = vec![Entry {
        at_ms: now_ms,
        event: Event::Opened {
            alerts: vec![fingerprint.clone()],
        },
    }];
    if resolved {
        timeline.push(Entry {
            at_ms: now_ms,
            event: Event::Resolved,
        });
    }
    let incident = Incident {
        id: 0,
        grouping: Grouping::Alert {
            fingerprint: fingerprint.clone(),
        },
        title: format!("Test incident from Vigil to receiver {receiver}"),
        severity: Severity::Info,
        status: if resolved {
            Status::Resolved
        } else {
            Status::Open
        },
        opened_ms: now_ms,
        resolved_ms: resolved.then_some(now_ms),
        active_ms: now_ms,
        quiet_since_ms: None,
        cause: Some(fingerprint.clone()),
        alerts: vec![IncidentAlert {
            fingerprint,
            labels: alert.labels.clone(),
            annotations: alert.annotations.clone(),
            starts_at_ms: now_ms,
            joined_ms: now_ms,
            resolved_ms: resolved.then_some(now_ms),
        }],
        timeline: timeline.clone(),
        tickets: BTreeMap::new(),
        notified: Default::default(),
    };
    n.group_key = format!("incident:test:{correlation}");
    n.incident = Some(Box::new(IncidentNotice {
        step,
        added: timeline.split_off(timeline.len() - 1),
        incident,
        correlation: correlation.to_owned(),
    }));
    n
}

#[cfg(test)]
mod tests;
