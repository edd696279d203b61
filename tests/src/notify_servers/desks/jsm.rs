//! A Jira Service Management Cloud site: the `servicedeskapi` customer-request calls, and
//! the Jira platform calls a ticket client needs beside them (Atlassian's REST references
//! for Jira Service Management Cloud and the Jira Cloud platform v3).
//!
//! ```text
//! lookup   POST /rest/api/3/search/jql {"jql": "labels = \"vigil-incident-42\"",
//!               "fields": ["summary", "status", "labels", "priority"], "maxResults": 2,
//!               "reconcileIssues": [10001]}            → 200 {"issues": [...], "isLast": true}
//! create   POST /rest/servicedeskapi/request {"serviceDeskId": "1", "requestTypeId": "10",
//!               "requestFieldValues": {"summary", "description", "priority": {"name"},
//!               "labels": ["vigil-incident-42"]}}      → 201 {"issueId", "issueKey", "_links", ...}
//! comment  POST /rest/servicedeskapi/request/<key>/comment {"body", "public": false} → 201
//! escalate PUT  /rest/api/3/issue/<key> {"fields": {"priority": {"name": "Highest"}}} → 204
//! resolve  GET  /rest/api/3/issue/<key>/transitions, then
//!          POST /rest/api/3/issue/<key>/transitions {"transition": {"id": "761"}} → 204
//!          (or the customer transitions: GET/POST /rest/servicedeskapi/request/<key>/transition
//!          {"id": "761", "additionalComment": {"body"}} → 204)
//! errors   servicedeskapi: {"errorMessage": "...", "i18nErrorMessage": {"i18nKey", "parameters"}}
//!          platform:       {"errorMessages": [...], "errors": {"field": "..."}}
//! ```
//!
//! Auth is `Authorization: Basic base64(email:api_token)`; anything else is a 401.
//!
//! `servicedeskapi` has no correlation field, so the incident id travels as a label set at
//! creation (the request type must offer the Labels field) and is found with JQL. Jira
//! Cloud's JQL search is eventually consistent: an issue created a moment ago may be
//! missing from the results unless its id is passed in `reconcileIssues`.
//! [`Jsm::search_lag`] reproduces that, so a client's lookup after a lost create answer can
//! be tested against it. The `i18nKey` values are this test desk's own; a client should
//! not depend on them.

use super::{Answer, DeskRequest, Listening, Note, Stall, Switches, Ticket, basic_auth, timestamp};
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Statuses and their Jira status categories.
const STATUSES: &[(&str, &str)] = &[
    ("Waiting for support", "new"),
    ("In progress", "indeterminate"),
    ("Resolved", "done"),
];

/// The workflow's transitions: (id, name, target status, offered to customers).
const TRANSITIONS: &[(&str, &str, &str, bool)] = &[
    ("11", "Start progress", "In progress", false),
    ("761", "Resolve this issue", "Resolved", true),
    ("771", "Reopen", "Waiting for support", true),
];

/// Priority names and ids Jira ships.
const PRIORITIES: &[(&str, &str)] = &[
    ("1", "Highest"),
    ("2", "High"),
    ("3", "Medium"),
    ("4", "Low"),
    ("5", "Lowest"),
];

/// The site's configuration.
#[derive(Debug, Clone)]
pub struct JsmOptions {
    /// The Atlassian account e-mail Vigil authenticates as.
    pub email: String,
    /// Its API token.
    pub api_token: String,
    /// The project key: issues are `<key>-<n>`.
    pub project_key: String,
    /// The service desk's id.
    pub service_desk_id: String,
    /// The request type Vigil raises.
    pub request_type_id: String,
    /// Fields that request type offers (Jira field ids); others are refused.
    pub request_type_fields: Vec<String>,
    /// Labels starting with this hold the incident id ([`Ticket::correlation`]).
    pub correlation_prefix: String,
}

impl Default for JsmOptions {
    fn default() -> Self {
        Self {
            email: "vigil@example.com".into(),
            api_token: "jsm-test-api-token".into(),
            project_key: "VIG".into(),
            service_desk_id: "1".into(),
            request_type_id: "10".into(),
            request_type_fields: ["summary", "description", "priority", "labels"]
                .map(String::from)
                .to_vec(),
            correlation_prefix: "vigil-incident-".into(),
        }
    }
}

/// How the next write is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 403: the account lacks the permission.
    Forbidden,
    /// 400: the site rejects the content.
    BadRequest,
}

/// A Jira Service Management site on 127.0.0.1 with in-memory requests; stopped when
/// dropped.
pub struct Jsm {
    listening: Listening,
    desk: Arc<Desk>,
}

struct Desk {
    options: JsmOptions,
    switches: Switches<Refusal>,
    search_lag: Mutex<Duration>,
    issues: Mutex<Vec<Issue>>,
}

#[derive(Debug, Clone)]
struct Issue {
    id: u64,
    key: String,
    summary: String,
    description: String,
    priority: String,
    labels: Vec<String>,
    status: String,
    comments: Vec<Comment>,
    created: String,
    created_at: Instant,
}

#[derive(Debug, Clone)]
struct Comment {
    id: u64,
    body: String,
    public: bool,
    created: String,
}

/// Which API family a path belongs to: it decides the error shape.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    ServiceDesk,
    Platform,
}

impl Jsm {
    /// Starts a site with the default [`JsmOptions`].
    pub fn start() -> Self {
        Self::start_with(JsmOptions::default())
    }

    /// Starts a site with `options`.
    pub fn start_with(options: JsmOptions) -> Self {
        let desk = Arc::new(Desk {
            options,
            switches: Switches::default(),
            search_lag: Mutex::new(Duration::ZERO),
            issues: Mutex::new(Vec::new()),
        });
        let handler_desk = desk.clone();
        let listening = Listening::start(move |request| {
            let desk = handler_desk.clone();
            async move { desk.handle(request).await }
        });
        Self { listening, desk }
    }

    /// The site URL: `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.listening.url()
    }

    /// The `Authorization` header the site accepts.
    pub fn authorization(&self) -> String {
        basic_auth(&self.desk.options.email, &self.desk.options.api_token)
    }

    /// The next create waits `wait`, then is stored and answered.
    pub fn stall_first_create(&self, wait: Duration) {
        self.desk.switches.set_stall(Stall::StoreAfter(wait));
    }

    /// The next create is stored at once, but answered only after `wait`.
    pub fn delay_first_create_answer(&self, wait: Duration) {
        self.desk.switches.set_stall(Stall::AnswerAfter(wait));
    }

    /// The next write (create, comment, transition, edit) is refused.
    pub fn refuse_next(&self, refusal: Refusal) {
        self.desk.switches.set_refusal(refusal);
    }

    /// JQL search leaves out issues created less than `lag` ago, unless their id is in
    /// `reconcileIssues`, as Jira Cloud's eventually consistent search does.
    pub fn search_lag(&self, lag: Duration) {
        *self.desk.search_lag.lock().unwrap() = lag;
    }

    /// Every request (issue), in creation order.
    pub fn tickets(&self) -> Vec<Ticket> {
        let issues = self.desk.issues.lock().unwrap();
        issues
            .iter()
            .map(|issue| Ticket {
                id: issue.id.to_string(),
                number: issue.key.clone(),
                correlation: issue
                    .labels
                    .iter()
                    .find(|l| l.starts_with(&self.desk.options.correlation_prefix))
                    .cloned()
                    .unwrap_or_default(),
                title: issue.summary.clone(),
                state: issue.status.clone(),
                group: self.desk.options.request_type_id.clone(),
                priority: issue.priority.clone(),
                assignee: String::new(),
                notes: issue
                    .comments
                    .iter()
                    .map(|c| Note {
                        body: c.body.clone(),
                        internal: !c.public,
                    })
                    .collect(),
                fields: self.desk.fields(issue, "localhost", false),
            })
            .collect()
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<DeskRequest> {
        self.listening.requests()
    }
}

/// A `servicedeskapi` error.
fn sd_error(status: u16, message: &str, key: &str) -> Answer {
    Answer::json(
        status,
        &json!({
            "errorMessage": message,
            "i18nErrorMessage": {"i18nKey": format!("sd.vigil-test-desk.{key}"), "parameters": []},
        }),
    )
}

/// A Jira platform error.
fn platform_error(status: u16, messages: &[&str], errors: &Value) -> Answer {
    Answer::json(
        status,
        &json!({"errorMessages": messages, "errors": errors}),
    )
}

fn refused(family: Family, refusal: Refusal) -> Answer {
    match (family, refusal) {
        (Family::ServiceDesk, Refusal::Forbidden) => sd_error(
            403,
            "You do not have permission to perform this operation on this service desk.",
            "permission",
        ),
        (Family::ServiceDesk, Refusal::BadRequest) => sd_error(
            400,
            "The request was refused by a validator of this service desk.",
            "validation",
        ),
        (Family::Platform, Refusal::Forbidden) => platform_error(
            403,
            &["You do not have permission to edit issues in this project."],
            &json!({}),
        ),
        (Family::Platform, Refusal::BadRequest) => platform_error(
            400,
            &["The operation was refused by a workflow validator."],
            &json!({}),
        ),
    }
}

fn not_found(family: Family) -> Answer {
    match family {
        Family::ServiceDesk => sd_error(
            404,
            "Request does not exist or you do not have permission to see it.",
            "request.not-found",
        ),
        Family::Platform => platform_error(
            404,
            &["Issue does not exist or you do not have permission to see it."],
            &json!({}),
        ),
    }
}

fn category(status: &str) -> &'static str {
    STATUSES
        .iter()
        .find(|(s, _)| *s == status)
        .map_or("undefined", |(_, c)| *c)
}

fn date(text: &str) -> Value {
    json!({"iso8601": text.replace(' ', "T") + "+0000", "jira": text.replace(' ', "T") + ".000+0000", "friendly": text})
}

impl Desk {
    async fn handle(&self, request: DeskRequest) -> Answer {
        let expected = basic_auth(&self.options.email, &self.options.api_token);
        if request.header("authorization") != Some(expected.as_str()) {
            return platform_error(
                401,
                &["Client must be authenticated to access this resource."],
                &json!({}),
            );
        }
        let parts: Vec<&str> = request.path.split('/').filter(|p| !p.is_empty()).collect();
        let method = request.method.as_str();
        match (method, parts.as_slice()) {
            ("POST", ["rest", "servicedeskapi", "request"]) => self.create(&request).await,
            ("GET", ["rest", "servicedeskapi", "request", key]) => {
                self.with_issue(key, Family::ServiceDesk, |issue| {
                    Answer::json(200, &self.customer_request(issue, &request))
                })
            }
            (_, ["rest", "servicedeskapi", "request", key, "comment"]) => {
                self.comment(&request, key)
            }
            (_, ["rest", "servicedeskapi", "request", key, "transition"]) => {
                self.transition(&request, key, Family::ServiceDesk)
            }
            ("GET" | "POST", ["rest", "api", "2" | "3", "search", "jql"]) => self.search(&request),
            (_, ["rest", "api", "2" | "3", "search"]) => platform_error(
                410,
                &[
                    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API.",
                ],
                &json!({}),
            ),
            ("PUT", ["rest", "api", "2" | "3", "issue", key]) => self.edit(&request, key),
            (_, ["rest", "api", "2" | "3", "issue", key, "transitions"]) => {
                self.transition(&request, key, Family::Platform)
            }
            _ => platform_error(404, &["No such resource on this test site."], &json!({})),
        }
    }

    fn with_issue(
        &self,
        key: &str,
        family: Family,
        answer: impl FnOnce(&mut Issue) -> Answer,
    ) -> Answer {
        let mut issues = self.issues.lock().unwrap();
        match issues
            .iter_mut()
            .find(|i| i.key == key || i.id.to_string() == key)
        {
            Some(issue) => answer(issue),
            None => not_found(family),
        }
    }

    async fn create(&self, request: &DeskRequest) -> Answer {
        let Some(Value::Object(body)) = request.json() else {
            return sd_error(400, "The request body is not a JSON object.", "json");
        };
        let given = |name: &str| {
            body.get(name).and_then(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .or_else(|| v.as_u64().map(|n| n.to_string()))
            })
        };
        if given("serviceDeskId").as_deref() != Some(self.options.service_desk_id.as_str()) {
            return sd_error(
                404,
                "The service desk does not exist or you do not have permission to access it.",
                "servicedesk.not-found",
            );
        }
        if given("requestTypeId").as_deref() != Some(self.options.request_type_id.as_str()) {
            return sd_error(
                400,
                "The request type does not exist in this service desk.",
                "requesttype.invalid",
            );
        }
        let values = body
            .get("requestFieldValues")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Some(unknown) = values
            .keys()
            .find(|k| !self.options.request_type_fields.contains(k))
        {
            return sd_error(
                400,
                &format!(
                    "Your request could not be created. Please check the fields have been correctly filled in. Field '{unknown}' is not on this request type."
                ),
                "request.create.fields",
            );
        }
        let invalid = |field: &str| {
            sd_error(
                400,
                &format!(
                    "Your request could not be created. Please check the fields have been correctly filled in. Please provide a valid value for field '{field}'"
                ),
                "request.create.fields",
            )
        };
        let summary = values
            .get("summary")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_owned();
        if summary.is_empty() {
            return invalid("Summary");
        }
        let priority = match values.get("priority") {
            None => "Medium".to_owned(),
            Some(p) => match priority(p) {
                Some(name) => name,
                None => return invalid("Priority"),
            },
        };
        let labels = match values.get("labels") {
            None => Vec::new(),
            Some(Value::Array(items)) => {
                let labels: Vec<String> = items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect();
                if labels.len() != items.len()
                    || labels.iter().any(|l| l.is_empty() || l.contains(' '))
                {
                    return invalid("Labels");
                }
                labels
            }
            Some(_) => return invalid("Labels"),
        };
        let description = values
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if let Some(refusal) = self.switches.take_refusal() {
            return refused(Family::ServiceDesk, refusal);
        }
        let issue = self
            .switches
            .create(|| {
                let mut issues = self.issues.lock().unwrap();
                let n = issues.len() as u64 + 1;
                let issue = Issue {
                    id: 10_000 + n,
                    key: format!("{}-{n}", self.options.project_key),
                    summary,
                    description,
                    priority,
                    labels,
                    status: STATUSES[0].0.to_owned(),
                    comments: Vec::new(),
                    created: timestamp(),
                    created_at: Instant::now(),
                };
                issues.push(issue.clone());
                issue
            })
            .await;
        Answer::json(201, &self.customer_request(&issue, request))
    }

    /// A request as `servicedeskapi` shows it.
    fn customer_request(&self, issue: &Issue, request: &DeskRequest) -> Value {
        let base = format!("http://{}", request.header("host").unwrap_or("localhost"));
        let mut values = vec![
            json!({"fieldId": "summary", "label": "Summary", "value": issue.summary}),
            json!({"fieldId": "description", "label": "Description", "value": issue.description}),
        ];
        if !issue.labels.is_empty() {
            values.push(json!({"fieldId": "labels", "label": "Labels", "value": issue.labels}));
        }
        json!({
            "_expands": ["participant", "status", "sla", "requestType", "serviceDesk", "attachment", "action", "comment"],
            "issueId": issue.id.to_string(),
            "issueKey": issue.key,
            "requestTypeId": self.options.request_type_id,
            "serviceDeskId": self.options.service_desk_id,
            "createdDate": date(&issue.created),
            "reporter": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "emailAddress": self.options.email, "displayName": "Vigil", "active": true, "timeZone": "Etc/UTC"},
            "requestFieldValues": values,
            "currentStatus": {"status": issue.status, "statusCategory": category(&issue.status).to_uppercase(), "statusDate": date(&issue.created)},
            "_links": {
                "jiraRest": format!("{base}/rest/api/2/issue/{}", issue.id),
                "web": format!("{base}/servicedesk/customer/portal/{}/{}", self.options.service_desk_id, issue.key),
                "agent": format!("{base}/browse/{}", issue.key),
                "self": format!("{base}/rest/servicedeskapi/request/{}", issue.id),
            },
        })
    }

    fn comment(&self, request: &DeskRequest, key: &str) -> Answer {
        let family = Family::ServiceDesk;
        self.with_issue(key, family, |issue| match request.method.as_str() {
            "GET" => {
                let values: Vec<Value> = issue.comments.iter().map(render_comment).collect();
                Answer::json(200, &json!({"size": values.len(), "start": 0, "limit": 50, "isLastPage": true, "values": values}))
            }
            "POST" => {
                let body = request.json().unwrap_or(Value::Null);
                let Some(text) = body.get("body").and_then(Value::as_str).filter(|t| !t.trim().is_empty()) else {
                    return sd_error(400, "The comment body must not be empty.", "comment.body");
                };
                if let Some(refusal) = self.switches.take_refusal() {
                    return refused(family, refusal);
                }
                let public = body.get("public").and_then(Value::as_bool).unwrap_or(true);
                let comment = add_comment(issue, text, public);
                Answer::json(201, &render_comment(&comment))
            }
            _ => sd_error(405, "Method not allowed.", "method"),
        })
    }

    /// Customer transitions (`servicedeskapi`) or agent transitions (platform).
    fn transition(&self, request: &DeskRequest, key: &str, family: Family) -> Answer {
        self.with_issue(key, family, |issue| {
            let done = category(&issue.status) == "done";
            let offered: Vec<_> = TRANSITIONS
                .iter()
                .filter(|(_, _, to, customer)| (family == Family::Platform || *customer) && (category(to) == "done") != done)
                .collect();
            if request.method == "GET" {
                return match family {
                    Family::ServiceDesk => {
                        let values: Vec<Value> = offered.iter().map(|(id, name, _, _)| json!({"id": id, "name": name})).collect();
                        Answer::json(200, &json!({"size": values.len(), "start": 0, "limit": 50, "isLastPage": true, "values": values}))
                    }
                    Family::Platform => {
                        let values: Vec<Value> = offered
                            .iter()
                            .map(|(id, name, to, _)| json!({"id": id, "name": name, "to": {"name": to, "statusCategory": {"key": category(to)}}, "isAvailable": true}))
                            .collect();
                        Answer::json(200, &json!({"expand": "transitions", "transitions": values}))
                    }
                };
            }
            if request.method != "POST" {
                return platform_error(405, &["Method not allowed."], &json!({}));
            }
            let body = request.json().unwrap_or(Value::Null);
            let id = match family {
                Family::ServiceDesk => &body["id"],
                Family::Platform => &body["transition"]["id"],
            };
            let id = id.as_str().map(str::to_owned).or_else(|| id.as_u64().map(|n| n.to_string())).unwrap_or_default();
            let Some((_, _, to, _)) = offered.iter().find(|(tid, _, _, _)| *tid == id) else {
                return match family {
                    Family::ServiceDesk => sd_error(400, &format!("The transition '{id}' is not available for this request."), "transition.invalid"),
                    Family::Platform => platform_error(400, &[&format!("Transition id '{id}' is not valid for this issue.")], &json!({})),
                };
            };
            if let Some(refusal) = self.switches.take_refusal() {
                return refused(family, refusal);
            }
            issue.status = (*to).to_owned();
            if let Some(text) = body["additionalComment"]["body"].as_str().filter(|t| !t.is_empty()) {
                add_comment(issue, text, true);
            }
            Answer::empty(204)
        })
    }

    /// `PUT /rest/api/{2,3}/issue/<key>`: priority, labels and summary may change.
    fn edit(&self, request: &DeskRequest, key: &str) -> Answer {
        self.with_issue(key, Family::Platform, |issue| {
            let Some(fields) = request.json().and_then(|b| b.get("fields").and_then(Value::as_object).cloned()) else {
                return platform_error(400, &["Expected a JSON object with \"fields\"."], &json!({}));
            };
            let mut errors = Map::new();
            for name in fields.keys().filter(|k| !["priority", "labels", "summary"].contains(&k.as_str())) {
                errors.insert(name.clone(), format!("Field '{name}' cannot be set. It is not on the appropriate screen, or unknown.").into());
            }
            let new_priority = fields.get("priority").map(priority);
            if new_priority == Some(None) {
                errors.insert("priority".into(), "The priority selected is invalid.".into());
            }
            if !errors.is_empty() {
                return platform_error(400, &[], &Value::Object(errors));
            }
            if let Some(refusal) = self.switches.take_refusal() {
                return refused(Family::Platform, refusal);
            }
            if let Some(Some(name)) = new_priority {
                issue.priority = name;
            }
            if let Some(Value::Array(labels)) = fields.get("labels") {
                issue.labels = labels.iter().filter_map(Value::as_str).map(str::to_owned).collect();
            }
            if let Some(summary) = fields.get("summary").and_then(Value::as_str) {
                issue.summary = summary.to_owned();
            }
            Answer::empty(204)
        })
    }

    fn search(&self, request: &DeskRequest) -> Answer {
        let body = if request.method == "POST" {
            request.json().unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        let jql = body["jql"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| request.param("jql"))
            .unwrap_or_default();
        let fields: Vec<String> = match &body["fields"] {
            Value::Array(f) => f
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => request
                .param("fields")
                .map(|f| f.split(',').map(|s| s.trim().to_owned()).collect())
                .unwrap_or_default(),
        };
        let max: usize = body["maxResults"]
            .as_u64()
            .map(|n| n as usize)
            .or_else(|| request.param("maxResults").and_then(|m| m.parse().ok()))
            .unwrap_or(50);
        let reconcile: Vec<u64> = match &body["reconcileIssues"] {
            Value::Array(ids) => ids.iter().filter_map(Value::as_u64).collect(),
            _ => request
                .param("reconcileIssues")
                .map(|r| r.split(',').filter_map(|n| n.trim().parse().ok()).collect())
                .unwrap_or_default(),
        };
        let clauses = match parse_jql(&jql) {
            Ok(clauses) if clauses.is_empty() => {
                return platform_error(
                    400,
                    &[
                        "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.",
                    ],
                    &json!({}),
                );
            }
            Ok(clauses) => clauses,
            Err(message) => {
                return platform_error(
                    400,
                    &[&format!("Error in the JQL Query: {message}")],
                    &json!({}),
                );
            }
        };
        let lag = *self.search_lag.lock().unwrap();
        let host = request.header("host").unwrap_or("localhost").to_owned();
        let v3 = request.path.starts_with("/rest/api/3/");
        let issues = self.issues.lock().unwrap();
        let found: Vec<Value> = issues
            .iter()
            .rev()
            .filter(|i| i.created_at.elapsed() >= lag || reconcile.contains(&i.id))
            .filter(|i| clauses.iter().all(|c| self.clause_matches(i, c)))
            .take(max)
            .map(|issue| {
                if fields.is_empty() {
                    return json!({"id": issue.id.to_string()});
                }
                let all = self.fields(issue, &host, v3);
                let shown: Map<String, Value> = fields.iter().filter_map(|f| Some((f.clone(), all.get(f)?.clone()))).collect();
                json!({"id": issue.id.to_string(), "key": issue.key, "self": format!("http://{host}/rest/api/3/issue/{}", issue.id), "fields": shown})
            })
            .collect();
        Answer::json(200, &json!({"issues": found, "isLast": true}))
    }

    /// Platform fields of `issue` (`description` as a document in v3, as text in v2).
    fn fields(&self, issue: &Issue, host: &str, v3: bool) -> Value {
        let priority_id = PRIORITIES
            .iter()
            .find(|(_, n)| *n == issue.priority)
            .map_or("3", |(id, _)| *id);
        let description = if v3 {
            json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": issue.description}]}]})
        } else {
            json!(issue.description)
        };
        json!({
            "summary": issue.summary,
            "description": description,
            "labels": issue.labels,
            "status": {"name": issue.status, "statusCategory": {"key": category(&issue.status)}},
            "priority": {"id": priority_id, "name": issue.priority, "self": format!("http://{host}/rest/api/3/priority/{priority_id}")},
            "project": {"key": self.options.project_key},
            "assignee": null,
            "created": issue.created.replace(' ', "T") + ".000+0000",
            "comment": {"comments": issue.comments.iter().map(|c| json!({"id": c.id.to_string(), "body": c.body, "jsdPublic": c.public})).collect::<Vec<_>>()},
        })
    }

    fn clause_matches(&self, issue: &Issue, clause: &Clause) -> bool {
        let found = match clause.field.as_str() {
            "labels" => issue.labels.contains(&clause.value),
            "project" => self.options.project_key.eq_ignore_ascii_case(&clause.value),
            "key" | "issuekey" => issue.key.eq_ignore_ascii_case(&clause.value),
            "status" => issue.status.eq_ignore_ascii_case(&clause.value),
            "statuscategory" => {
                let key = category(&issue.status);
                let name = match key {
                    "new" => "To Do",
                    "indeterminate" => "In Progress",
                    _ => "Done",
                };
                key.eq_ignore_ascii_case(&clause.value) || name.eq_ignore_ascii_case(&clause.value)
            }
            _ => false,
        };
        found == clause.equal
    }
}

fn add_comment(issue: &mut Issue, body: &str, public: bool) -> Comment {
    let comment = Comment {
        id: issue.id * 100 + issue.comments.len() as u64 + 1,
        body: body.to_owned(),
        public,
        created: timestamp(),
    };
    issue.comments.push(comment.clone());
    comment
}

fn render_comment(comment: &Comment) -> Value {
    json!({
        "id": comment.id.to_string(),
        "body": comment.body,
        "public": comment.public,
        "author": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Vigil", "active": true},
        "created": date(&comment.created),
    })
}

/// A priority given as `{"name": ...}` or `{"id": ...}`: its name, or None when unknown.
fn priority(value: &Value) -> Option<String> {
    let by = |key: &str| value.get(key).and_then(Value::as_str);
    PRIORITIES
        .iter()
        .find(|(id, name)| by("name") == Some(*name) || by("id") == Some(*id))
        .map(|(_, name)| (*name).to_owned())
}

/// One `field = value` or `field != value` condition of a JQL query.
#[derive(Debug, PartialEq)]
struct Clause {
    field: String,
    value: String,
    equal: bool,
}

/// The conditions of a JQL query joined by AND (ORDER BY is ignored). The test site
/// knows `labels`, `project`, `key`, `status` and `statusCategory`; anything else is an
/// error rather than a silent match.
fn parse_jql(jql: &str) -> Result<Vec<Clause>, String> {
    // ASCII lowering keeps byte offsets, so the position found is valid in `jql`.
    let lower = jql.to_ascii_lowercase();
    let jql = match lower.find("order by") {
        Some(at) => &jql[..at],
        None => jql,
    };
    let mut clauses = Vec::new();
    for part in split_and(jql) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (field, value, equal) = if let Some((f, v)) = part.split_once("!=") {
            (f, v, false)
        } else if let Some((f, v)) = part.split_once('=') {
            (f, v, true)
        } else {
            return Err(format!("the test site does not support '{part}'"));
        };
        let field = field.trim().to_lowercase();
        if ![
            "labels",
            "project",
            "key",
            "issuekey",
            "status",
            "statuscategory",
        ]
        .contains(&field.as_str())
        {
            return Err(format!(
                "the test site does not support the field '{field}'"
            ));
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value)
            .replace("\\\"", "\"");
        clauses.push(Clause {
            field,
            value,
            equal,
        });
    }
    Ok(clauses)
}

/// Splits on the keyword AND outside quotes.
fn split_and(jql: &str) -> Vec<String> {
    let chars: Vec<char> = jql.chars().collect();
    let mut parts = vec![String::new()];
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
        } else if c == '"' || c == '\'' {
            quote = Some(c);
        } else if (i == 0 || chars[i - 1].is_whitespace())
            && i + 4 <= chars.len()
            && chars[i..i + 3]
                .iter()
                .collect::<String>()
                .eq_ignore_ascii_case("and")
            && chars[i + 3].is_whitespace()
        {
            parts.push(String::new());
            i += 4;
            continue;
        }
        if let Some(last) = parts.last_mut() {
            last.push(c);
        }
        i += 1;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jql_clauses_parse() {
        let clauses =
            parse_jql(r#"project = VIG AND labels = "vigil-incident-42" ORDER BY created DESC"#)
                .unwrap();
        assert_eq!(
            clauses,
            [
                Clause {
                    field: "project".into(),
                    value: "VIG".into(),
                    equal: true
                },
                Clause {
                    field: "labels".into(),
                    value: "vigil-incident-42".into(),
                    equal: true
                },
            ]
        );
        let clauses = parse_jql(r#"labels = "a and b" and statusCategory != Done"#).unwrap();
        assert_eq!(clauses.len(), 2);
        assert_eq!(clauses[0].value, "a and b");
        assert!(!clauses[1].equal);
        assert!(parse_jql("summary ~ disk").is_err());
        assert!(parse_jql("").unwrap().is_empty());
    }

    #[test]
    fn priorities_by_name_or_id() {
        assert_eq!(priority(&json!({"name": "High"})).as_deref(), Some("High"));
        assert_eq!(priority(&json!({"id": "1"})).as_deref(), Some("Highest"));
        assert_eq!(priority(&json!({"name": "Urgent"})), None);
    }
}
