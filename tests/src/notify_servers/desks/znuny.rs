//! A Znuny GenericInterface provider with the REST transport, serving the web service an
//! operator imports from `deploy/znuny/Vigil.yml`: the routes and operations come from that
//! file, so the test server and the shipped definition cannot drift apart.
//!
//! What it copies from Znuny's source (`znuny/Znuny`, `Kernel/GenericInterface/`):
//!
//! ```text
//! Provider.pm            /otrs/nph-genericinterface.pl/Webservice/<name>/<route>; an
//!                        unknown web service is an HTTP 500 from the web server
//! Transport/HTTP/REST.pm routes tried in sorted operation order, first match wins,
//!                        ":Name" segments become data; query parameters merged in (the
//!                        route's win); X-OTRS-Header-UserLogin / -Password headers override
//!                        both; no body is read on GET; no route or an undecodable body →
//!                        500 text/plain
//! Operation/Common.pm    ReturnError: HTTP 200 {"Error": {"ErrorCode", "ErrorMessage"}}
//!                        (wrong password, missing field, no permission: all of them)
//! Provider →             an operation failing outright (Success 0) → 500 with
//!   ProviderGenerateResponse {"faultcode": "Server", "faultstring": ...} as text/plain
//! Ticket/TicketCreate.pm Title, CustomerUser, Queue, State, Priority; Article Subject, Body,
//!                        ContentType with a charset; DynamicField [{Name, Value}]
//!                        → {"TicketID", "TicketNumber", "ArticleID"} (+ "Ticket" when the
//!                        operation has IncludeTicketData)
//! Ticket/TicketUpdate.pm TicketID; optional Ticket {State, Priority, ...}; Article (one or a
//!                        list) → {"TicketID", "TicketNumber", "ArticleID"|"ArticleIDs"}
//! Ticket/TicketSearch.pm DynamicField {Name, Equals|Like|Empty} (a hash: a plain string is
//!                        ignored and the search matches everything) → {"TicketID": [..]}
//!                        newest first, or {} when nothing matches
//! Ticket/TicketGet.pm    TicketID (comma list), DynamicFields, AllArticles → {"Ticket": [..]}
//! ```
//!
//! A client must treat an HTTP 200 whose body has an `Error` key as a refusal; the only
//! non-200 answers are transport failures (500) and oversized bodies (413).

use super::{
    Answer, DeskRequest, Listening, Note, Stall, Switches, Ticket, percent_decode, query_pairs,
    timestamp,
};
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// State names Znuny ships, with their state types.
const STATES: &[(&str, &str)] = &[
    ("new", "new"),
    ("open", "open"),
    ("closed successful", "closed"),
    ("closed unsuccessful", "closed"),
    ("pending reminder", "pending reminder"),
    ("pending auto close+", "pending auto"),
    ("pending auto close-", "pending auto"),
    ("removed", "removed"),
    ("merged", "merged"),
];

/// Priority names Znuny ships.
const PRIORITIES: &[&str] = &["1 very low", "2 low", "3 normal", "4 high", "5 very high"];

/// Charsets the test desk accepts in an article's content type.
const CHARSETS: &[&str] = &["utf-8", "utf8", "iso-8859-1", "iso-8859-15", "us-ascii"];

/// The instance's configuration: who may log in, and what names exist.
#[derive(Debug, Clone)]
pub struct ZnunyOptions {
    /// The web service's name, the URL segment after `/Webservice/`.
    pub webservice: String,
    /// The web service definition (YAML), as imported.
    pub definition: String,
    /// The agent Vigil logs in as.
    pub user: String,
    /// Its password.
    pub password: String,
    /// Valid queues; a queue's id is its position here, from 1.
    pub queues: Vec<String>,
    /// Customer user logins; an e-mail address is accepted as a customer as well.
    pub customer_users: Vec<String>,
    /// Agent logins that may own tickets (the login user too).
    pub agents: Vec<String>,
    /// Ticket dynamic fields; the first holds the incident id in [`Ticket::correlation`].
    pub dynamic_fields: Vec<String>,
    /// Valid ticket types.
    pub types: Vec<String>,
    /// Whether a ticket needs a type (the `Ticket::Type` setting).
    pub type_required: bool,
}

impl Default for ZnunyOptions {
    fn default() -> Self {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/znuny/Vigil.yml");
        let definition = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("reading the Znuny web service {path}: {e}"));
        Self {
            webservice: "Vigil".into(),
            definition,
            user: "vigil".into(),
            password: "znuny-test-password".into(),
            queues: vec!["Raw".into(), "Misc".into(), "Monitoring".into()],
            customer_users: vec!["monitoring".into()],
            agents: vec!["oncall".into()],
            dynamic_fields: vec!["VigilIncident".into()],
            types: vec!["Unclassified".into(), "Incident".into()],
            type_required: false,
        }
    }
}

/// How the next TicketCreate or TicketUpdate is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The permission check fails: HTTP 200 with `{"Error": {"ErrorCode":
    /// "TicketCreate.AccessDenied" | "TicketUpdate.AccessDenied", ...}}`.
    AccessDenied,
    /// The operation fails outright: HTTP 500 with a `faultstring`.
    Fault,
}

/// A Znuny GenericInterface on 127.0.0.1 with in-memory tickets; stopped when dropped.
pub struct Znuny {
    listening: Listening,
    desk: Arc<Desk>,
}

struct Desk {
    options: ZnunyOptions,
    routes: Vec<Route>,
    switches: Switches<Refusal>,
    tickets: Mutex<Vec<ZTicket>>,
}

/// One route of the web service.
#[derive(Debug)]
struct Route {
    operation: String,
    kind: String,
    include_ticket_data: bool,
    methods: Vec<String>,
    pattern: String,
}

#[derive(Debug, Clone)]
struct ZTicket {
    id: u64,
    number: String,
    title: String,
    queue: String,
    state: String,
    priority: String,
    kind: String,
    owner: String,
    customer_user: String,
    dynamic_fields: Vec<(String, String)>,
    articles: Vec<Article>,
    created: String,
    changed: String,
}

#[derive(Debug, Clone)]
struct Article {
    id: u64,
    subject: String,
    body: String,
    content_type: String,
    channel: String,
    visible: bool,
    sender_type: String,
    created: String,
}

/// What an operation answers: success data, an `Error` (still HTTP 200), or a fault.
enum Outcome {
    Data(Value),
    Error(String, String),
    Fault(String),
}

impl Znuny {
    /// Starts a desk serving `deploy/znuny/Vigil.yml` with the default [`ZnunyOptions`].
    pub fn start() -> Self {
        Self::start_with(ZnunyOptions::default())
    }

    /// Starts a desk with `options` (panics when the definition has no REST routes).
    pub fn start_with(options: ZnunyOptions) -> Self {
        let routes = routes(&options.definition);
        assert!(
            !routes.is_empty(),
            "the web service definition has no REST routes"
        );
        let desk = Arc::new(Desk {
            options,
            routes,
            switches: Switches::default(),
            tickets: Mutex::new(Vec::new()),
        });
        let handler_desk = desk.clone();
        let listening = Listening::start(move |request| {
            let desk = handler_desk.clone();
            async move { desk.handle(request).await }
        });
        Self { listening, desk }
    }

    /// The web service's base URL:
    /// `http://127.0.0.1:<port>/otrs/nph-genericinterface.pl/Webservice/<name>`.
    pub fn url(&self) -> String {
        format!(
            "{}/otrs/nph-genericinterface.pl/Webservice/{}",
            self.listening.url(),
            self.desk.options.webservice
        )
    }

    /// The agent login and password the desk accepts.
    pub fn credentials(&self) -> (String, String) {
        (
            self.desk.options.user.clone(),
            self.desk.options.password.clone(),
        )
    }

    /// The next TicketCreate waits `wait`, then is stored and answered.
    pub fn stall_first_create(&self, wait: Duration) {
        self.desk.switches.set_stall(Stall::StoreAfter(wait));
    }

    /// The next TicketCreate is stored at once, but answered only after `wait`.
    pub fn delay_first_create_answer(&self, wait: Duration) {
        self.desk.switches.set_stall(Stall::AnswerAfter(wait));
    }

    /// The next TicketCreate or TicketUpdate that passes validation is refused.
    pub fn refuse_next(&self, refusal: Refusal) {
        self.desk.switches.set_refusal(refusal);
    }

    /// Every ticket, in creation order.
    pub fn tickets(&self) -> Vec<Ticket> {
        let field = self
            .desk
            .options
            .dynamic_fields
            .first()
            .cloned()
            .unwrap_or_default();
        let tickets = self.desk.tickets.lock().unwrap();
        tickets
            .iter()
            .map(|t| Ticket {
                id: t.id.to_string(),
                number: t.number.clone(),
                correlation: t
                    .dynamic_fields
                    .iter()
                    .find(|(name, _)| *name == field)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default(),
                title: t.title.clone(),
                state: t.state.clone(),
                group: t.queue.clone(),
                priority: t.priority.clone(),
                assignee: t.owner.clone(),
                notes: t
                    .articles
                    .iter()
                    .map(|a| Note {
                        body: a.body.clone(),
                        internal: !a.visible,
                    })
                    .collect(),
                fields: self.desk.render(t, true, true),
            })
            .collect()
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<DeskRequest> {
        self.listening.requests()
    }
}

/// The REST routes of a web service definition.
fn routes(definition: &str) -> Vec<Route> {
    let config: serde_yaml_ng::Value = serde_yaml_ng::from_str(definition)
        .unwrap_or_else(|e| panic!("the web service definition is not YAML: {e}"));
    let provider = &config["Provider"];
    assert_eq!(
        provider["Transport"]["Type"].as_str(),
        Some("HTTP::REST"),
        "the provider transport must be HTTP::REST"
    );
    let Some(mapping) = provider["Transport"]["Config"]["RouteOperationMapping"].as_mapping()
    else {
        return Vec::new();
    };
    let mut routes: Vec<Route> = mapping
        .iter()
        .filter_map(|(name, route)| {
            let operation = name.as_str()?.to_owned();
            let op = &provider["Operation"][operation.as_str()];
            Some(Route {
                kind: op["Type"].as_str()?.to_owned(),
                include_ticket_data: op["IncludeTicketData"].as_str() == Some("1"),
                methods: route["RequestMethod"]
                    .as_sequence()
                    .map(|m| {
                        m.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
                pattern: route["Route"].as_str()?.to_owned(),
                operation,
            })
        })
        .collect();
    // REST.pm tries the operations in sorted order and takes the first route that matches.
    routes.sort_by(|a, b| a.operation.cmp(&b.operation));
    routes
}

/// Matches `path` against a route like `/Ticket/:TicketID`: the route's parameters, or None.
fn route_params(pattern: &str, path: &str) -> Option<Vec<(String, String)>> {
    let want: Vec<&str> = pattern.split('/').collect();
    let got: Vec<&str> = path.split('/').collect();
    if want.len() != got.len() {
        return None;
    }
    let mut params = Vec::new();
    for (w, g) in want.iter().zip(&got) {
        if let Some(name) = w.strip_prefix(':') {
            if g.is_empty() {
                return None;
            }
            params.push((name.to_owned(), percent_decode(g)));
        } else if w != g {
            return None;
        }
    }
    Some(params)
}

/// An error as `ReturnError` answers it: HTTP 200.
fn error(code: &str, message: &str) -> Outcome {
    Outcome::Error(code.to_owned(), message.to_owned())
}

/// A JSON value as the text Perl would see: strings as they are, numbers printed.
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A field that must be a hash or a list of hashes when present: its items, or None when
/// the shape is wrong.
fn hashes(value: &Value) -> Option<Vec<Map<String, Value>>> {
    match value {
        Value::Object(o) if !o.is_empty() => Some(vec![o.clone()]),
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .map(|v| v.as_object().filter(|o| !o.is_empty()).cloned())
            .collect(),
        _ => None,
    }
}

impl Desk {
    async fn handle(&self, request: DeskRequest) -> Answer {
        let prefix = format!(
            "/otrs/nph-genericinterface.pl/Webservice/{}",
            self.options.webservice
        );
        let Some(uri) = request
            .path
            .strip_prefix(&prefix)
            .filter(|r| r.starts_with('/'))
        else {
            // Provider.pm bails out; the web server answers 500.
            return Answer::text(500, "Internal Server Error");
        };
        let Some((route, params)) = self.routes.iter().find_map(|route| {
            let method_ok = route.methods.is_empty() || route.methods.contains(&request.method);
            let params = route_params(&route.pattern, uri).filter(|_| method_ok)?;
            Some((route, params))
        }) else {
            return Answer::text(
                500,
                &format!("HTTP::REST Error while determine Operation for request URI '{uri}'."),
            );
        };
        let data = match transport_data(&request, params) {
            Ok(data) => data,
            Err(message) => return Answer::text(500, message),
        };
        let outcome = match route.kind.as_str() {
            "Ticket::TicketCreate" => self.create(&data, route.include_ticket_data).await,
            "Ticket::TicketUpdate" => self.update(&data, route.include_ticket_data),
            "Ticket::TicketSearch" => self.search(&data),
            "Ticket::TicketGet" => self.get(&data),
            other => Outcome::Fault(format!("the test desk has no operation {other}")),
        };
        match outcome {
            Outcome::Data(value) => Answer::json(200, &value),
            Outcome::Error(code, message) => Answer::json(
                200,
                &json!({"Error": {"ErrorCode": code, "ErrorMessage": message}}),
            ),
            Outcome::Fault(message) => Answer::text(
                500,
                &json!({"faultcode": "Server", "faultstring": message}).to_string(),
            ),
        }
    }

    /// Checks the login the way `Operation::Common::Auth` does for create and update.
    fn login_for_write(&self, data: &Map<String, Value>, op: &str) -> Option<Outcome> {
        let login = text(data.get("UserLogin")).filter(|l| !l.is_empty());
        let session = text(data.get("SessionID")).filter(|s| !s.is_empty());
        let customer = text(data.get("CustomerUserLogin")).filter(|c| !c.is_empty());
        if login.is_none() && session.is_none() && customer.is_none() {
            return Some(error(
                &format!("{op}.MissingParameter"),
                &format!("{op}: UserLogin, CustomerUserLogin or SessionID is required!"),
            ));
        }
        if (login.is_some() || customer.is_some())
            && text(data.get("Password")).is_none_or(|p| p.is_empty())
        {
            return Some(error(
                &format!("{op}.MissingParameter"),
                &format!("{op}: Password or SessionID is required!"),
            ));
        }
        (!self.authenticated(data)).then(|| {
            error(
                &format!("{op}.AuthFail"),
                &format!("{op}: User could not be authenticated!"),
            )
        })
    }

    /// Whether the request carries the agent's login and password. The test desk issues no
    /// sessions, so a SessionID never authenticates.
    fn authenticated(&self, data: &Map<String, Value>) -> bool {
        text(data.get("SessionID")).is_none_or(|s| s.is_empty())
            && text(data.get("UserLogin")).as_deref() == Some(self.options.user.as_str())
            && data.get("Password").and_then(Value::as_str) == Some(self.options.password.as_str())
    }

    fn queue(&self, ticket: &Map<String, Value>) -> Option<Option<String>> {
        if let Some(name) = text(ticket.get("Queue")).filter(|q| !q.is_empty()) {
            return Some(self.options.queues.iter().find(|q| **q == name).cloned());
        }
        let id: usize = text(ticket.get("QueueID"))?.parse().ok()?;
        Some(
            id.checked_sub(1)
                .and_then(|i| self.options.queues.get(i))
                .cloned(),
        )
    }

    /// `_CheckTicket` of TicketCreate (`create`) or TicketUpdate: the first problem found.
    fn check_ticket(&self, ticket: &Map<String, Value>, op: &str, create: bool) -> Option<Outcome> {
        let missing = |what: &str| {
            error(
                &format!("{op}.MissingParameter"),
                &format!("{op}: Ticket->{what} parameter is missing!"),
            )
        };
        let invalid = |what: &str| {
            error(
                &format!("{op}.InvalidParameter"),
                &format!("{op}: Ticket->{what} parameter is invalid!"),
            )
        };
        let given = |name: &str| text(ticket.get(name)).filter(|v| !v.is_empty());
        if create {
            for needed in ["Title", "CustomerUser"] {
                if given(needed).is_none() {
                    return Some(missing(needed));
                }
            }
        }
        if let Some(customer) = given("CustomerUser") {
            let email = customer.contains('@')
                && customer.rsplit('@').next().is_some_and(|d| d.contains('.'));
            if !email && !self.options.customer_users.contains(&customer) {
                return Some(invalid("CustomerUser"));
            }
        }
        match self.queue(ticket) {
            None if create => {
                return Some(error(
                    &format!("{op}.MissingParameter"),
                    &format!("{op}: Ticket->QueueID or Ticket->Queue parameter is required!"),
                ));
            }
            Some(None) => return Some(invalid("QueueID or Ticket->Queue")),
            _ => {}
        }
        match given("Type") {
            None if create && self.options.type_required && given("TypeID").is_none() => {
                return Some(error(
                    &format!("{op}.MissingParameter"),
                    &format!(
                        "{op}: Ticket->TypeID or Ticket->Type parameter is required by sysconfig option!"
                    ),
                ));
            }
            Some(t) if !self.options.types.contains(&t) => {
                return Some(invalid("TypeID or Ticket->Type"));
            }
            _ => {}
        }
        for (field, valid) in [
            (
                "State",
                STATES
                    .iter()
                    .any(|(s, _)| Some(*s) == given("State").as_deref()),
            ),
            (
                "Priority",
                PRIORITIES
                    .iter()
                    .any(|p| Some(*p) == given("Priority").as_deref()),
            ),
        ] {
            if given(field).is_none() && create {
                return Some(error(
                    &format!("{op}.MissingParameter"),
                    &format!("{op}: Ticket->{field}ID or Ticket->{field} parameter is required!"),
                ));
            }
            if given(field).is_some() && !valid {
                return Some(invalid(&format!("{field}ID or Ticket->{field}")));
            }
        }
        if let Some(owner) = given("Owner")
            && owner != self.options.user
            && !self.options.agents.contains(&owner)
        {
            return Some(invalid("OwnerID or Ticket->Owner"));
        }
        None
    }

    /// `_CheckArticle`: the article with Znuny's defaults filled in, or the first problem.
    fn check_article(&self, article: &Map<String, Value>, op: &str) -> Result<Article, Outcome> {
        let given = |name: &str| text(article.get(name)).filter(|v| !v.is_empty());
        for needed in ["Subject", "Body"] {
            if given(needed).is_none() {
                return Err(error(
                    &format!("{op}.MissingParameter"),
                    &format!("{op}: Article->{needed} parameter is missing!"),
                ));
            }
        }
        let channel = given("CommunicationChannel").unwrap_or_else(|| "Internal".into());
        if !["Internal", "Phone", "Email", "Chat"].contains(&channel.as_str()) {
            return Err(error(
                &format!("{op}.InvalidParameter"),
                &format!(
                    "{op}: Article->CommunicationChannel or Article->CommunicationChannelID parameter is invalid or not supported!"
                ),
            ));
        }
        let content_type = match (given("ContentType"), given("MimeType"), given("Charset")) {
            (Some(ct), _, _) => ct.to_lowercase(),
            (None, Some(mime), Some(charset)) => {
                format!("{mime}; charset={charset}").to_lowercase()
            }
            (None, None, None) => {
                return Err(error(
                    &format!("{op}.MissingParameter"),
                    &format!(
                        "{op}: Article->ContentType or Ticket->MimeType and Article->Charset parameters are required!"
                    ),
                ));
            }
            (None, Some(_), None) => {
                return Err(error(
                    &format!("{op}.MissingParameter"),
                    &format!("{op}: Article->Charset is required!"),
                ));
            }
            (None, None, Some(_)) => {
                return Err(error(
                    &format!("{op}.MissingParameter"),
                    &format!("{op}: Article->MimeType is required!"),
                ));
            }
        };
        // TicketCreate.pm reads the charset after "charset=" and the MIME type before ';':
        // a content type without a known charset is invalid.
        let charset = content_type
            .split_once("charset=")
            .map(|(_, c)| {
                c.trim_matches(|ch| ch == '"' || ch == '\'')
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_owned()
            })
            .unwrap_or_default();
        let mime = content_type.split(';').next().unwrap_or("").trim();
        let mime_ok = mime.split_once('/').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && (a.to_owned() + b)
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_')
        });
        if !CHARSETS.contains(&charset.as_str()) || !mime_ok {
            return Err(error(
                &format!("{op}.InvalidParameter"),
                &format!("{op}: Article->ContentType is invalid!"),
            ));
        }
        let visible = match article.get("IsVisibleForCustomer") {
            None | Some(Value::Null) => true,
            Some(v) => {
                text(Some(v)).is_some_and(|v| v != "0" && !v.is_empty()) || *v == Value::Bool(true)
            }
        };
        Ok(Article {
            id: 0,
            subject: given("Subject").unwrap_or_default(),
            body: text(article.get("Body")).unwrap_or_default(),
            content_type,
            channel,
            visible,
            sender_type: given("SenderType").unwrap_or_else(|| "agent".into()),
            created: timestamp(),
        })
    }

    /// The `DynamicField` list of a request, checked: (name, value) pairs or the problem.
    fn check_dynamic_fields(
        &self,
        data: &Map<String, Value>,
        op: &str,
    ) -> Result<Vec<(String, String)>, Outcome> {
        let Some(value) = data.get("DynamicField") else {
            return Ok(Vec::new());
        };
        let Some(items) = hashes(value) else {
            return Err(error(
                &format!("{op}.MissingParameter"),
                &format!("{op}: DynamicField parameter is missing or not valid!"),
            ));
        };
        let mut fields = Vec::new();
        for item in items {
            for needed in ["Name", "Value"] {
                if !matches!(
                    item.get(needed),
                    Some(Value::String(_) | Value::Number(_) | Value::Array(_))
                ) {
                    return Err(error(
                        &format!("{op}.MissingParameter"),
                        &format!("{op}: DynamicField->{needed}  parameter is missing!"),
                    ));
                }
            }
            let name = text(item.get("Name")).unwrap_or_default();
            if !self.options.dynamic_fields.contains(&name) {
                return Err(error(
                    &format!("{op}.InvalidParameter"),
                    &format!("{op}: DynamicField->Name parameter is invalid!"),
                ));
            }
            let value = match &item["Value"] {
                Value::Array(values) => values
                    .iter()
                    .filter_map(|v| text(Some(v)))
                    .collect::<Vec<_>>()
                    .join(","),
                other => text(Some(other)).unwrap_or_default(),
            };
            fields.push((name, value));
        }
        Ok(fields)
    }

    async fn create(&self, data: &Map<String, Value>, include: bool) -> Outcome {
        const OP: &str = "TicketCreate";
        if let Some(problem) = self.login_for_write(data, OP) {
            return problem;
        }
        for needed in ["Ticket", "Article"] {
            if data
                .get(needed)
                .and_then(Value::as_object)
                .is_none_or(Map::is_empty)
            {
                return error(
                    "TicketCreate.MissingParameter",
                    &format!("TicketCreate: {needed} parameter is missing or not valid!"),
                );
            }
        }
        let fields = data["Ticket"].as_object().cloned().unwrap_or_default();
        if let Some(problem) = self.check_ticket(&fields, OP, true) {
            return problem;
        }
        match self.switches.take_refusal() {
            Some(Refusal::AccessDenied) => {
                return error(
                    "TicketCreate.AccessDenied",
                    "TicketCreate: Can not create tickets in given Queue or QueueID!",
                );
            }
            Some(Refusal::Fault) => {
                return Outcome::Fault(
                    "Ticket could not be created, please contact the system administrator".into(),
                );
            }
            None => {}
        }
        let article =
            match self.check_article(data["Article"].as_object().unwrap_or(&Map::new()), OP) {
                Ok(article) => article,
                Err(problem) => return problem,
            };
        let dynamic_fields = match self.check_dynamic_fields(data, OP) {
            Ok(fields) => fields,
            Err(problem) => return problem,
        };
        let given = |name: &str| text(fields.get(name)).filter(|v| !v.is_empty());
        let stored = self
            .switches
            .create(|| {
                let mut tickets = self.tickets.lock().unwrap();
                let id = tickets.len() as u64 + 1;
                let article_id = tickets.iter().map(|t| t.articles.len() as u64).sum::<u64>() + 1;
                let now = timestamp();
                let ticket = ZTicket {
                    id,
                    number: format!("{}", 2_024_000_000_000_u64 + id),
                    title: given("Title").unwrap_or_default(),
                    queue: self.queue(&fields).flatten().unwrap_or_default(),
                    state: given("State").unwrap_or_default(),
                    priority: given("Priority").unwrap_or_default(),
                    kind: given("Type").unwrap_or_else(|| "Unclassified".into()),
                    owner: given("Owner").unwrap_or_else(|| self.options.user.clone()),
                    customer_user: given("CustomerUser").unwrap_or_default(),
                    dynamic_fields,
                    articles: vec![Article {
                        id: article_id,
                        ..article
                    }],
                    created: now.clone(),
                    changed: now,
                };
                tickets.push(ticket.clone());
                ticket
            })
            .await;
        let mut answer = json!({
            "TicketID": stored.id.to_string(),
            "TicketNumber": stored.number,
            "ArticleID": stored.articles[0].id,
        });
        if include {
            let mut shown = self.render(&stored, true, false);
            shown["Article"] = render_article(&stored.articles[0]);
            answer["Ticket"] = shown;
        }
        Outcome::Data(answer)
    }

    fn update(&self, data: &Map<String, Value>, include: bool) -> Outcome {
        const OP: &str = "TicketUpdate";
        let id = text(data.get("TicketID")).filter(|v| !v.is_empty());
        let number = text(data.get("TicketNumber")).filter(|v| !v.is_empty());
        if id.is_none() && number.is_none() {
            return error(
                "TicketUpdate.MissingParameter",
                "TicketUpdate: TicketID or TicketNumber is required!",
            );
        }
        if let Some(problem) = self.login_for_write(data, OP) {
            return problem;
        }
        let mut tickets = self.tickets.lock().unwrap();
        let Some(index) = tickets.iter().position(|t| match &number {
            Some(n) => t.number == *n,
            None => Some(t.id.to_string()) == id,
        }) else {
            return error(
                "TicketUpdate.AccessDenied",
                "TicketUpdate: User does not have access to the ticket!",
            );
        };
        match self.switches.take_refusal() {
            Some(Refusal::AccessDenied) => {
                return error(
                    "TicketUpdate.AccessDenied",
                    "TicketUpdate: User does not have access to the ticket!",
                );
            }
            Some(Refusal::Fault) => {
                return Outcome::Fault(
                    "Ticket could not be updated, please contact the system administrator".into(),
                );
            }
            None => {}
        }
        let changes = match data.get("Ticket") {
            None => Map::new(),
            Some(Value::Object(o)) if !o.is_empty() => o.clone(),
            Some(_) => {
                return error(
                    "TicketUpdate.InvalidParameter",
                    "TicketUpdate: Ticket parameter is not valid!",
                );
            }
        };
        if let Some(problem) = self.check_ticket(&changes, OP, false) {
            return problem;
        }
        let mut articles = Vec::new();
        if let Some(value) = data.get("Article").filter(|v| !v.is_null()) {
            let Some(items) = hashes(value) else {
                return error(
                    "TicketUpdate.InvalidParameter",
                    "TicketUpdate: Article parameter is not valid!",
                );
            };
            for item in items {
                match self.check_article(&item, OP) {
                    Ok(article) => articles.push(article),
                    Err(problem) => return problem,
                }
            }
        }
        let dynamic_fields = match self.check_dynamic_fields(data, OP) {
            Ok(fields) => fields,
            // TicketUpdate passes these on with Success 0: the provider answers 500.
            Err(Outcome::Error(_, message)) => return Outcome::Fault(message),
            Err(other) => return other,
        };
        let mut next_article = tickets.iter().map(|t| t.articles.len() as u64).sum::<u64>() + 1;
        let ticket = &mut tickets[index];
        let given = |name: &str| text(changes.get(name)).filter(|v| !v.is_empty());
        if let Some(title) = given("Title") {
            ticket.title = title;
        }
        if let Some(Some(queue)) = self.queue(&changes) {
            ticket.queue = queue;
        }
        for (field, slot) in [
            ("State", &mut ticket.state),
            ("Priority", &mut ticket.priority),
            ("Type", &mut ticket.kind),
            ("Owner", &mut ticket.owner),
            ("CustomerUser", &mut ticket.customer_user),
        ] {
            if let Some(value) = given(field) {
                *slot = value;
            }
        }
        for (name, value) in dynamic_fields {
            match ticket.dynamic_fields.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = value,
                None => ticket.dynamic_fields.push((name, value)),
            }
        }
        let mut ids = Vec::new();
        for article in articles {
            ids.push(next_article);
            ticket.articles.push(Article {
                id: next_article,
                ..article
            });
            next_article += 1;
        }
        ticket.changed = timestamp();
        let mut answer = json!({"TicketID": ticket.id.to_string(), "TicketNumber": ticket.number});
        match ids.as_slice() {
            [] => {}
            [one] => answer["ArticleID"] = json!(one),
            many => answer["ArticleIDs"] = json!(many),
        }
        if include {
            let mut shown = self.render(ticket, true, false);
            let added = &ticket.articles[ticket.articles.len() - ids.len()..];
            match added {
                [] => {}
                [one] => shown["Article"] = render_article(one),
                many => shown["Articles"] = many.iter().map(render_article).collect(),
            }
            answer["Ticket"] = shown;
        }
        Outcome::Data(answer)
    }

    fn search(&self, data: &Map<String, Value>) -> Outcome {
        if !self.authenticated(data) {
            return error(
                "TicketSearch.AuthFail",
                "TicketSearch: Authorization failing!",
            );
        }
        // _GetDynamicFields: the DynamicField parameter, or (only without it) the older
        // DynamicField_<Name> keys; either way only hashes of operators count.
        let mut conditions: Vec<(String, Map<String, Value>)> = Vec::new();
        match data.get("DynamicField") {
            Some(Value::Object(o)) => {
                conditions.extend(text(o.get("Name")).map(|n| (n, o.clone())))
            }
            Some(Value::Array(items)) => conditions.extend(
                items
                    .iter()
                    .filter_map(Value::as_object)
                    .filter_map(|o| text(o.get("Name")).map(|n| (n, o.clone()))),
            ),
            Some(_) => {}
            None => conditions.extend(data.iter().filter_map(|(key, value)| {
                let name = key.strip_prefix("DynamicField_")?;
                Some((name.to_owned(), value.as_object()?.clone()))
            })),
        }
        conditions.retain(|(name, _)| self.options.dynamic_fields.contains(name));
        let limit: usize = text(data.get("Limit"))
            .and_then(|l| l.parse().ok())
            .unwrap_or(500);
        let states = list(data.get("States"));
        let queues = list(data.get("Queues"));
        let tickets = self.tickets.lock().unwrap();
        let ids: Vec<String> = tickets
            .iter()
            .rev()
            .filter(|t| {
                conditions
                    .iter()
                    .all(|(name, ops)| dynamic_field_matches(t, name, ops))
            })
            .filter(|t| states.is_empty() || states.contains(&t.state))
            .filter(|t| queues.is_empty() || queues.contains(&t.queue))
            .take(limit)
            .map(|t| t.id.to_string())
            .collect();
        if ids.is_empty() {
            Outcome::Data(json!({}))
        } else {
            Outcome::Data(json!({ "TicketID": ids }))
        }
    }

    fn get(&self, data: &Map<String, Value>) -> Outcome {
        if !self.authenticated(data) {
            return error("TicketGet.AuthFail", "TicketGet: Authorization failing!");
        }
        let ids: Vec<String> = match data.get("TicketID") {
            None => {
                return error(
                    "TicketGet.MissingParameter",
                    "TicketGet: TicketID parameter is missing!",
                );
            }
            Some(Value::Array(a)) => a.iter().filter_map(|v| text(Some(v))).collect(),
            Some(v) => text(Some(v))
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_owned())
                .collect(),
        };
        if ids.is_empty()
            || ids
                .iter()
                .any(|id| id.parse::<u64>().map_or(true, |n| n == 0))
        {
            return error(
                "TicketGet.WrongStructure",
                "TicketGet: Invalid ticket ID parameter(s) found!",
            );
        }
        let flag = |name: &str| text(data.get(name)).is_some_and(|v| v == "1");
        let tickets = self.tickets.lock().unwrap();
        let mut shown = Vec::new();
        for id in ids {
            let Some(ticket) = tickets.iter().find(|t| t.id.to_string() == id) else {
                return error(
                    "TicketGet.AccessDenied",
                    "TicketGet: User does not have access to the ticket!",
                );
            };
            shown.push(self.render(ticket, flag("DynamicFields"), flag("AllArticles")));
        }
        Outcome::Data(json!({ "Ticket": shown }))
    }

    /// A ticket as TicketGet shows it.
    fn render(&self, ticket: &ZTicket, dynamic_fields: bool, articles: bool) -> Value {
        let state_type = STATES
            .iter()
            .find(|(s, _)| *s == ticket.state)
            .map_or("", |(_, t)| *t);
        let queue_id = self
            .options
            .queues
            .iter()
            .position(|q| *q == ticket.queue)
            .map_or(0, |i| i + 1);
        let mut shown = json!({
            "TicketID": ticket.id.to_string(),
            "TicketNumber": ticket.number,
            "Title": ticket.title,
            "State": ticket.state,
            "StateType": state_type,
            "Priority": ticket.priority,
            "Queue": ticket.queue,
            "QueueID": queue_id.to_string(),
            "Type": ticket.kind,
            "Owner": ticket.owner,
            "Responsible": ticket.owner,
            "CustomerUserID": ticket.customer_user,
            "Lock": "unlock",
            "Created": ticket.created,
            "Changed": ticket.changed,
        });
        if dynamic_fields {
            shown["DynamicField"] = self
                .options
                .dynamic_fields
                .iter()
                .map(|name| {
                    let value = ticket
                        .dynamic_fields
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v);
                    json!({"Name": name, "Value": value})
                })
                .collect();
        }
        if articles {
            shown["Article"] = ticket.articles.iter().map(render_article).collect();
        }
        shown
    }
}

fn render_article(article: &Article) -> Value {
    let (mime, charset) = article
        .content_type
        .split_once(';')
        .map_or((article.content_type.as_str(), ""), |(m, c)| {
            (m.trim(), c.trim())
        });
    json!({
        "ArticleID": article.id.to_string(),
        "Subject": article.subject,
        "Body": article.body,
        "ContentType": article.content_type,
        "MimeType": mime,
        "Charset": charset.trim_start_matches("charset="),
        "CommunicationChannel": article.channel,
        "IsVisibleForCustomer": u8::from(article.visible).to_string(),
        "SenderType": article.sender_type,
        "CreateTime": article.created,
    })
}

/// A search parameter that may be a string or a list of strings.
fn list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(a)) => a.iter().filter_map(|v| text(Some(v))).collect(),
        Some(v) => text(Some(v)).into_iter().collect(),
        None => Vec::new(),
    }
}

/// Whether `ticket`'s dynamic field `name` satisfies every operator in `ops`.
fn dynamic_field_matches(ticket: &ZTicket, name: &str, ops: &Map<String, Value>) -> bool {
    let value = ticket
        .dynamic_fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str());
    ops.iter()
        .filter(|(op, _)| *op != "Name")
        .all(|(op, wanted)| {
            let wanted = list(Some(wanted));
            match op.as_str() {
                "Equals" => value.is_some_and(|v| wanted.iter().any(|w| w == v)),
                "Like" => value.is_some_and(|v| wanted.iter().any(|w| like(w, v))),
                "Empty" => {
                    let empty = value.is_none_or(str::is_empty);
                    wanted.iter().any(|w| (w == "1") == empty)
                }
                // Other operators compare dates and numbers; the test desk does not need them.
                _ => false,
            }
        })
}

/// Znuny's `Like`: `*` is any run of characters, the rest compares exactly.
fn like(pattern: &str, value: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = value;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else {
                return false;
            };
            rest = &rest[at + part.len()..];
        }
    }
    rest.is_empty()
}

/// The data the REST transport hands the operation: the body's JSON object (not on GET),
/// with the query's parameters and the route's merged in over it, and the login headers
/// over all.
fn transport_data(
    request: &DeskRequest,
    params: Vec<(String, String)>,
) -> Result<Map<String, Value>, &'static str> {
    let mut uri: Map<String, Value> = Map::new();
    for (name, value) in query_pairs(&request.query) {
        match uri.get_mut(&name) {
            None => {
                uri.insert(name, value.into());
            }
            Some(Value::Array(values)) => values.push(value.into()),
            Some(first) => *first = json!([first.clone(), value]),
        }
    }
    uri.extend(params.into_iter().map(|(k, v)| (k, Value::from(v))));
    for (header, key) in [
        ("x-otrs-header-userlogin", "UserLogin"),
        ("x-otrs-header-customeruserlogin", "CustomerUserLogin"),
        ("x-otrs-header-sessionid", "SessionID"),
        ("x-otrs-header-password", "Password"),
    ] {
        if let Some(value) = request.header(header).filter(|v| !v.is_empty()) {
            uri.insert(key.into(), value.into());
        }
    }
    if request.method == "GET" || request.body.is_empty() {
        return Ok(uri);
    }
    match serde_json::from_slice::<Value>(&request.body) {
        Ok(Value::Object(mut body)) if !body.is_empty() => {
            body.extend(uri);
            Ok(body)
        }
        Ok(_) => Err("Unsupported request content structure."),
        Err(_) => Err("Error while decoding request content."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_definition_routes_the_four_operations() {
        let routes = routes(&ZnunyOptions::default().definition);
        let seen: Vec<(&str, &str, &str)> = routes
            .iter()
            .map(|r| {
                (
                    r.operation.as_str(),
                    r.methods[0].as_str(),
                    r.pattern.as_str(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("TicketCreate", "POST", "/Ticket"),
                ("TicketGet", "GET", "/Ticket/:TicketID"),
                ("TicketSearch", "POST", "/TicketSearch"),
                ("TicketUpdate", "PATCH", "/Ticket/:TicketID"),
            ]
        );
        assert!(
            routes
                .iter()
                .any(|r| r.kind == "Ticket::TicketUpdate" && r.include_ticket_data)
        );
    }

    #[test]
    fn routes_match_whole_segments() {
        assert_eq!(
            route_params("/Ticket/:TicketID", "/Ticket/17"),
            Some(vec![("TicketID".into(), "17".into())])
        );
        assert_eq!(route_params("/Ticket", "/Ticket/"), None);
        assert_eq!(route_params("/Ticket/:TicketID", "/Ticket/"), None);
        assert_eq!(route_params("/Ticket", "/TicketSearch"), None);
    }

    #[test]
    fn like_uses_star_wildcards() {
        assert!(like("vigil-*", "vigil-42"));
        assert!(like("*42", "vigil-42"));
        assert!(like("v*-*2", "vigil-42"));
        assert!(!like("vigil-4", "vigil-42"));
    }
}
