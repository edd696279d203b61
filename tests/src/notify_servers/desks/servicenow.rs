//! A ServiceNow instance's Table API on the `incident` table, as documented in ServiceNow's
//! REST API reference ("Table API", `ServiceNow/ServiceNowDocs`:
//! `markdown/api-reference/rest-apis/c_TableAPI.md`).
//!
//! ```text
//! lookup   GET   /api/now/table/incident?sysparm_query=correlation_id=<id>
//!                    &sysparm_fields=sys_id,number,state,priority&sysparm_limit=1
//!                → 200 {"result": [ {...}, ... ]}        (empty array when none; /v1/ → 404)
//! create   POST  /api/now/table/incident   {"short_description", "description", "urgency",
//!                    "impact", "assignment_group", "category", "caller_id",
//!                    "correlation_id", "correlation_display"}
//!                → 201 {"result": {...}} + Location       (priority is computed, not taken)
//! note     PATCH /api/now/table/incident/<sys_id> {"work_notes": "..."}   → 200 {"result": {...}}
//! escalate PATCH same, {"urgency": "1", "impact": "1", "work_notes": "..."}
//! resolve  PATCH same, {"state": "6", "close_code": "Solution provided",
//!                    "close_notes": "...", "work_notes": "..."}
//! notes    GET   /api/now/table/sys_journal_field?sysparm_query=element_id=<sys_id>^element=work_notes
//! errors   4xx   {"error": {"message": "...", "detail": "..."}, "status": "failure"}
//!                401 bad credentials, 403 ACL / business rule / data policy, 404 no record,
//!                400 unreadable body or unknown table
//! ```
//!
//! Auth: `Authorization: Basic …` with the configured user, or `Bearer <token>` when a token
//! is configured (OAuth). What the real instance does and this server copies:
//!
//! - A `sysparm_query` clause naming a field the table does not have is ignored (the
//!   instance's default unless `glide.invalid_query.returns_no_rows` is set), so a misspelt
//!   correlation lookup matches every incident: a client checks `correlation_id` on what
//!   comes back. Only `=` and `!=` are implemented here; other operators answer 400 so a
//!   test notices.
//! - Resolving (`state` 6) or closing (7) without `close_code` and `close_notes` is refused
//!   by the data policy instances commonly enforce (403 "Data Policy Exception: … The
//!   following fields are mandatory: Resolution code, Close notes"); this server always
//!   enforces it, and likewise a mandatory `short_description` on create.
//! - Journal fields (`work_notes`, `comments`) read back as `""`; their entries are rows of
//!   `sys_journal_field`.
//! - Reference fields (`assignment_group`, `caller_id`, `assigned_to`) read back as
//!   `{"link", "value"}` unless `sysparm_exclude_reference_link=true`.
//! - [`ServiceNow::ignore_resolves`] plays a business rule that quietly keeps the state: the
//!   PATCH still answers 200, and the record it returns shows the unchanged `state`. A
//!   client confirms a resolve by reading `result.state` in the PATCH answer.

use super::{Answer, DeskRequest, Listening, Note, Stall, Switches, Ticket, basic_auth, timestamp};
use serde_json::{Map, Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every field an incident shows, with its value on a new record.
const INCIDENT_FIELDS: &[(&str, &str)] = &[
    ("sys_id", ""),
    ("number", ""),
    ("short_description", ""),
    ("description", ""),
    ("state", "1"),
    ("incident_state", "1"),
    ("active", "true"),
    ("impact", "3"),
    ("urgency", "3"),
    ("priority", "5"),
    ("category", "inquiry"),
    ("subcategory", ""),
    ("assignment_group", ""),
    ("assigned_to", ""),
    ("caller_id", ""),
    ("opened_by", ""),
    ("correlation_id", ""),
    ("correlation_display", ""),
    ("close_code", ""),
    ("close_notes", ""),
    ("resolved_at", ""),
    ("resolved_by", ""),
    ("closed_at", ""),
    ("work_notes", ""),
    ("comments", ""),
    ("contact_type", ""),
    ("opened_at", ""),
    ("sys_created_on", ""),
    ("sys_created_by", ""),
    ("sys_updated_on", ""),
    ("sys_updated_by", ""),
    ("sys_mod_count", "0"),
    ("sys_class_name", "incident"),
];

/// Reference fields and the table each points into.
const REFERENCES: &[(&str, &str)] = &[
    ("assignment_group", "sys_user_group"),
    ("assigned_to", "sys_user"),
    ("caller_id", "sys_user"),
    ("opened_by", "sys_user"),
    ("resolved_by", "sys_user"),
];

/// Fields the instance sets itself: a write to them is ignored.
const SYSTEM_FIELDS: &[&str] = &[
    "sys_id",
    "number",
    "priority",
    "incident_state",
    "active",
    "resolved_at",
    "resolved_by",
    "closed_at",
    "opened_at",
    "opened_by",
    "sys_created_on",
    "sys_created_by",
    "sys_updated_on",
    "sys_updated_by",
    "sys_mod_count",
    "sys_class_name",
];

/// Who may call the API.
#[derive(Debug, Clone)]
pub struct ServiceNowOptions {
    /// The integration user (Basic auth).
    pub user: String,
    /// Its password.
    pub password: String,
    /// An OAuth access token accepted as `Authorization: Bearer <token>`, if any.
    pub token: Option<String>,
}

impl Default for ServiceNowOptions {
    fn default() -> Self {
        Self {
            user: "vigil.integration".into(),
            password: "sn-test-password".into(),
            token: None,
        }
    }
}

/// How the next write is refused (each one is a 403 the instance really gives).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// An ACL denies the write: "ACL Exception Insert/Update Failed due to security
    /// constraints".
    Acl,
    /// A before business rule aborts it: "Operation against file 'incident' was aborted by
    /// Business Rule …".
    BusinessRule,
}

/// A ServiceNow Table API on 127.0.0.1 with in-memory incidents; stopped when dropped.
pub struct ServiceNow {
    listening: Listening,
    desk: Arc<Desk>,
}

struct Desk {
    options: ServiceNowOptions,
    switches: Switches<Refusal>,
    ignore_resolves: AtomicBool,
    records: Mutex<Records>,
}

#[derive(Default)]
struct Records {
    incidents: Vec<Map<String, Value>>,
    journal: Vec<Map<String, Value>>,
    created: u64,
}

impl ServiceNow {
    /// Starts an instance that accepts the default [`ServiceNowOptions`].
    pub fn start() -> Self {
        Self::start_with(ServiceNowOptions::default())
    }

    /// Starts an instance that accepts `options`' credentials.
    pub fn start_with(options: ServiceNowOptions) -> Self {
        let desk = Arc::new(Desk {
            options,
            switches: Switches::default(),
            ignore_resolves: AtomicBool::new(false),
            records: Mutex::new(Records::default()),
        });
        let handler_desk = desk.clone();
        let listening = Listening::start(move |request| {
            let desk = handler_desk.clone();
            async move { desk.handle(request).await }
        });
        Self { listening, desk }
    }

    /// The instance URL: `http://127.0.0.1:<port>` (the API is under `/api/now/`).
    pub fn url(&self) -> String {
        self.listening.url()
    }

    /// The `Authorization` header the instance accepts (Basic).
    pub fn authorization(&self) -> String {
        basic_auth(&self.desk.options.user, &self.desk.options.password)
    }

    /// The next create waits `wait`, then is stored and answered.
    pub fn stall_first_create(&self, wait: Duration) {
        self.desk.switches.set_stall(Stall::StoreAfter(wait));
    }

    /// The next create is stored at once, but answered only after `wait`.
    pub fn delay_first_create_answer(&self, wait: Duration) {
        self.desk.switches.set_stall(Stall::AnswerAfter(wait));
    }

    /// The next POST, PATCH or PUT is refused with `refusal`'s 403.
    pub fn refuse_next(&self, refusal: Refusal) {
        self.desk.switches.set_refusal(refusal);
    }

    /// While on, a PATCH that resolves or closes answers 200 but keeps the state (and the
    /// close fields), as a business rule resetting them would; the rest of it is applied.
    pub fn ignore_resolves(&self, on: bool) {
        self.desk.ignore_resolves.store(on, Ordering::SeqCst);
    }

    /// Every incident, in creation order.
    pub fn tickets(&self) -> Vec<Ticket> {
        let records = self.desk.records.lock().unwrap();
        records
            .incidents
            .iter()
            .map(|incident| ticket(incident, &records.journal))
            .collect()
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<DeskRequest> {
        self.listening.requests()
    }
}

fn ticket(incident: &Map<String, Value>, journal: &[Map<String, Value>]) -> Ticket {
    let field = |name: &str| {
        incident
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let sys_id = field("sys_id");
    Ticket {
        notes: journal
            .iter()
            .filter(|entry| entry["element_id"] == sys_id.as_str())
            .map(|entry| Note {
                body: entry["value"].as_str().unwrap_or("").to_owned(),
                internal: entry["element"] == "work_notes",
            })
            .collect(),
        id: sys_id,
        number: field("number"),
        correlation: field("correlation_id"),
        title: field("short_description"),
        state: field("state"),
        group: field("assignment_group"),
        priority: field("priority"),
        assignee: field("assigned_to"),
        fields: Value::Object(incident.clone()),
    }
}

/// ServiceNow's error envelope.
fn failure(status: u16, message: &str, detail: &str) -> Answer {
    Answer::json(
        status,
        &json!({"error": {"message": message, "detail": detail}, "status": "failure"}),
    )
}

fn no_record() -> Answer {
    failure(
        404,
        "No Record found",
        "Record doesn't exist or ACL restricts the record retrieval",
    )
}

fn data_policy(missing: &[&str]) -> Answer {
    failure(
        403,
        "Operation Failed",
        &format!(
            "Data Policy Exception: \n\tThe following fields are mandatory: {}",
            missing.join(", ")
        ),
    )
}

fn refused(refusal: Refusal, insert: bool) -> Answer {
    match refusal {
        Refusal::Acl => failure(
            403,
            "Operation Failed",
            &format!(
                "ACL Exception {} Failed due to security constraints",
                if insert { "Insert" } else { "Update" }
            ),
        ),
        Refusal::BusinessRule => failure(
            403,
            "Operation Failed",
            "Operation against file 'incident' was aborted by Business Rule \
             'Vigil test abort^5d1f3a0e2b7c4e6f8a9b0c1d2e3f4a5b'. Business Rule Stack:Vigil test abort",
        ),
    }
}

/// Which resource a path names: the API version, the table and the record, if any.
struct Resource {
    version: Option<String>,
    table: String,
    sys_id: Option<String>,
}

fn resource(path: &str) -> Option<Resource> {
    let rest = path.strip_prefix("/api/now/")?;
    let mut parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let version = match parts.first() {
        Some(v) if v.starts_with('v') && v[1..].chars().all(|c| c.is_ascii_digit()) => {
            Some(parts.remove(0).to_owned())
        }
        _ => None,
    };
    match parts.as_slice() {
        ["table", table] => Some(Resource {
            version,
            table: (*table).to_owned(),
            sys_id: None,
        }),
        ["table", table, sys_id] => Some(Resource {
            version,
            table: (*table).to_owned(),
            sys_id: Some((*sys_id).to_owned()),
        }),
        _ => None,
    }
}

impl Desk {
    async fn handle(&self, request: DeskRequest) -> Answer {
        if !self.authorized(&request) {
            return failure(
                401,
                "User Not Authenticated",
                "Required to provide Auth information",
            );
        }
        let Some(resource) = resource(&request.path) else {
            return failure(400, "Requested URI does not represent any resource", "");
        };
        match (
            request.method.as_str(),
            resource.table.as_str(),
            &resource.sys_id,
        ) {
            ("GET", "incident" | "sys_journal_field", None) => self.list(&request, &resource),
            ("GET", "incident", Some(sys_id)) => self.get(&request, sys_id),
            ("POST", "incident", None) => self.create(&request).await,
            ("PATCH" | "PUT", "incident", Some(sys_id)) => self.update(&request, sys_id),
            (_, "incident" | "sys_journal_field", _) => failure(
                405,
                "Method not Supported",
                "The HTTP method is not allowed here",
            ),
            (_, table, _) => failure(
                400,
                &format!("Invalid table {table}"),
                &format!("Table {table} does not exist or is not served by this test instance"),
            ),
        }
    }

    fn authorized(&self, request: &DeskRequest) -> bool {
        let Some(given) = request.header("authorization") else {
            return false;
        };
        given == basic_auth(&self.options.user, &self.options.password)
            || self
                .options
                .token
                .as_ref()
                .is_some_and(|token| given == format!("Bearer {token}"))
    }

    fn list(&self, request: &DeskRequest, resource: &Resource) -> Answer {
        let records = self.records.lock().unwrap();
        let rows = if resource.table == "incident" {
            &records.incidents
        } else {
            &records.journal
        };
        let query = request.param("sysparm_query").unwrap_or_default();
        let mut matched = Vec::new();
        for row in rows {
            match matches(row, &query) {
                Ok(true) => matched.push(row),
                Ok(false) => {}
                Err(clause) => {
                    return failure(
                        400,
                        "Unsupported query",
                        &format!("the test instance implements only = and != (clause {clause:?})"),
                    );
                }
            }
        }
        let total = matched.len();
        let offset: usize = request
            .param("sysparm_offset")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let limit: usize = request
            .param("sysparm_limit")
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000);
        let result: Vec<Value> = matched
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|row| render(row, request))
            .collect();
        // Version 1 of the endpoint answers a query without results with a 404.
        if result.is_empty() && resource.version.as_deref() == Some("v1") {
            return no_record();
        }
        Answer::json(200, &json!({ "result": result }))
            .with_header("X-Total-Count", total.to_string())
    }

    fn get(&self, request: &DeskRequest, sys_id: &str) -> Answer {
        let records = self.records.lock().unwrap();
        match records.incidents.iter().find(|i| i["sys_id"] == sys_id) {
            Some(incident) => Answer::json(200, &json!({ "result": render(incident, request) })),
            None => no_record(),
        }
    }

    async fn create(&self, request: &DeskRequest) -> Answer {
        let Some(Value::Object(body)) = request.json() else {
            return failure(
                400,
                "Exception while reading request",
                "The payload is not a JSON object.",
            );
        };
        if let Some(refusal) = self.switches.take_refusal() {
            return refused(refusal, true);
        }
        let mut incident: Map<String, Value> = INCIDENT_FIELDS
            .iter()
            .map(|(name, value)| ((*name).to_owned(), Value::from(*value)))
            .collect();
        let (fields, notes) = writable(&body);
        incident.extend(fields);
        let mut missing = Vec::new();
        if incident["short_description"] == "" {
            missing.push("Short description");
        }
        missing.extend(missing_close_fields(&incident));
        if !missing.is_empty() {
            return data_policy(&missing);
        }
        let user = self.options.user.clone();
        let incident = self
            .switches
            .create(|| {
                let mut records = self.records.lock().unwrap();
                records.created += 1;
                let n = records.created;
                let now = timestamp();
                let sys_id = format!("9d385017c611228701d2{n:012x}");
                for (name, value) in [
                    ("sys_id", sys_id.clone()),
                    ("number", format!("INC{:07}", 10_000 + n)),
                    ("opened_at", now.clone()),
                    ("opened_by", user.clone()),
                    ("sys_created_on", now.clone()),
                    ("sys_created_by", user.clone()),
                    ("sys_updated_on", now),
                    ("sys_updated_by", user.clone()),
                ] {
                    incident.insert(name.into(), value.into());
                }
                derive(&mut incident, &user);
                for (element, value) in notes {
                    journal(&mut records, &sys_id, element, value, &user);
                }
                records.incidents.push(incident.clone());
                incident
            })
            .await;
        let host = request.header("host").unwrap_or("127.0.0.1");
        let location = format!(
            "http://{host}/api/now/table/incident/{}",
            incident["sys_id"].as_str().unwrap_or("")
        );
        Answer::json(201, &json!({ "result": render(&incident, request) }))
            .with_header("Location", location)
    }

    fn update(&self, request: &DeskRequest, sys_id: &str) -> Answer {
        let Some(Value::Object(body)) = request.json() else {
            return failure(
                400,
                "Exception while reading request",
                "The payload is not a JSON object.",
            );
        };
        let mut records = self.records.lock().unwrap();
        let Some(index) = records.incidents.iter().position(|i| i["sys_id"] == sys_id) else {
            return no_record();
        };
        if let Some(refusal) = self.switches.take_refusal() {
            return refused(refusal, false);
        }
        let (mut fields, notes) = writable(&body);
        let closing = fields.get("state").is_some_and(|s| *s == "6" || *s == "7");
        if closing && self.ignore_resolves.load(Ordering::SeqCst) {
            // A business rule sets them back before the record is saved.
            for name in ["state", "close_code", "close_notes"] {
                fields.remove(name);
            }
        }
        let mut incident = records.incidents[index].clone();
        incident.extend(fields);
        let missing = missing_close_fields(&incident);
        if !missing.is_empty() {
            return data_policy(&missing);
        }
        let user = self.options.user.clone();
        let count = incident["sys_mod_count"]
            .as_str()
            .and_then(|c| c.parse::<u64>().ok())
            .unwrap_or(0);
        incident.insert("sys_mod_count".into(), (count + 1).to_string().into());
        incident.insert("sys_updated_on".into(), timestamp().into());
        incident.insert("sys_updated_by".into(), user.clone().into());
        derive(&mut incident, &user);
        for (element, value) in notes {
            journal(&mut records, sys_id, element, value, &user);
        }
        records.incidents[index] = incident.clone();
        Answer::json(200, &json!({ "result": render(&incident, request) }))
    }
}

/// The fields of `body` a client may set, as strings, and the journal entries it adds
/// (`work_notes`, `comments`) in the order given. Unknown and system fields are ignored,
/// as the instance ignores them.
fn writable(body: &Map<String, Value>) -> (Map<String, Value>, Vec<(&'static str, String)>) {
    let mut fields = Map::new();
    let mut notes = Vec::new();
    for (name, value) in body {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        match name.as_str() {
            "work_notes" if !text.is_empty() => notes.push(("work_notes", text)),
            "comments" if !text.is_empty() => notes.push(("comments", text)),
            "work_notes" | "comments" => {}
            name if SYSTEM_FIELDS.contains(&name) => {}
            name if INCIDENT_FIELDS.iter().any(|(f, _)| *f == name) => {
                fields.insert(name.to_owned(), text.into());
            }
            _ => {}
        }
    }
    (fields, notes)
}

/// The close fields the data policy wants and `incident` lacks, by their labels.
fn missing_close_fields(incident: &Map<String, Value>) -> Vec<&'static str> {
    let state = incident["state"].as_str().unwrap_or("");
    if state != "6" && state != "7" {
        return Vec::new();
    }
    let mut missing = Vec::new();
    if incident["close_code"] == "" {
        missing.push("Resolution code");
    }
    if incident["close_notes"] == "" {
        missing.push("Close notes");
    }
    missing
}

/// Sets what the instance computes: priority from impact and urgency (the default
/// lookup), `incident_state` and `active` from `state`, and the resolve and close stamps.
fn derive(incident: &mut Map<String, Value>, user: &str) {
    let level = |name: &str| {
        incident[name]
            .as_str()
            .and_then(|v| v.parse::<u8>().ok())
            .unwrap_or(3)
            .clamp(1, 3)
    };
    let priority = level("impact") + level("urgency") - 1;
    incident.insert("priority".into(), priority.to_string().into());
    let state = incident["state"].as_str().unwrap_or("1").to_owned();
    incident.insert("incident_state".into(), state.clone().into());
    let active = if state == "7" || state == "8" {
        "false"
    } else {
        "true"
    };
    incident.insert("active".into(), active.into());
    if (state == "6" || state == "7") && incident["resolved_at"] == "" {
        incident.insert("resolved_at".into(), timestamp().into());
        incident.insert("resolved_by".into(), user.into());
    }
    if state == "7" && incident["closed_at"] == "" {
        incident.insert("closed_at".into(), timestamp().into());
    }
}

fn journal(records: &mut Records, sys_id: &str, element: &str, value: String, user: &str) {
    let n = records.journal.len() + 1;
    let mut entry = Map::new();
    for (name, v) in [
        ("sys_id", format!("a1b2c3d4e5f6a7b8c9d0{n:012x}")),
        ("element", element.to_owned()),
        ("element_id", sys_id.to_owned()),
        ("name", "incident".to_owned()),
        ("value", value),
        ("sys_created_on", timestamp()),
        ("sys_created_by", user.to_owned()),
    ] {
        entry.insert(name.into(), v.into());
    }
    records.journal.push(entry);
}

/// Whether `row` matches the encoded query `query`. Clauses on fields the row does not
/// have are ignored, as the instance ignores them; `Err` names a clause whose operator the
/// test instance does not implement.
fn matches(row: &Map<String, Value>, query: &str) -> Result<bool, String> {
    for clause in query.split('^').filter(|c| !c.is_empty()) {
        if clause.starts_with("ORDERBY") {
            continue;
        }
        let (field, wanted, equal) = if let Some((f, v)) = clause.split_once("!=") {
            (f, v, false)
        } else if let Some((f, v)) = clause.split_once('=') {
            (f, v, true)
        } else {
            return Err(clause.to_owned());
        };
        if field.starts_with("OR") || field.starts_with("NQ") || field.contains(' ') {
            return Err(clause.to_owned());
        }
        let Some(value) = row.get(field) else {
            continue;
        };
        if (value.as_str().unwrap_or("") == wanted) != equal {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `row` as the API shows it: reference fields as `{"link", "value"}` (unless
/// `sysparm_exclude_reference_link=true`), only `sysparm_fields` when given.
fn render(row: &Map<String, Value>, request: &DeskRequest) -> Value {
    let host = request.header("host").unwrap_or("127.0.0.1");
    let exclude_links = request.param("sysparm_exclude_reference_link").as_deref() == Some("true");
    let wanted: Option<Vec<String>> = request
        .param("sysparm_fields")
        .filter(|f| !f.is_empty())
        .map(|f| f.split(',').map(|s| s.trim().to_owned()).collect());
    let mut out = Map::new();
    for (name, value) in row {
        if wanted.as_ref().is_some_and(|w| !w.contains(name)) {
            continue;
        }
        let reference = REFERENCES.iter().find(|(f, _)| f == name);
        let shown = match (reference, value.as_str()) {
            (Some((_, table)), Some(v)) if !v.is_empty() && !exclude_links => json!({
                "link": format!("http://{host}/api/now/table/{table}/{v}"),
                "value": v,
            }),
            _ => value.clone(),
        };
        out.insert(name.clone(), shown);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, &str)]) -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect()
    }

    #[test]
    fn queries_match_like_the_instance() {
        let incident = row(&[("correlation_id", "42"), ("active", "true")]);
        assert_eq!(matches(&incident, "correlation_id=42"), Ok(true));
        assert_eq!(matches(&incident, "correlation_id=43"), Ok(false));
        assert_eq!(
            matches(&incident, "correlation_id=42^active!=true"),
            Ok(false)
        );
        // A field the table lacks is ignored: a misspelt lookup matches everything.
        assert_eq!(matches(&incident, "correlaton_id=43"), Ok(true));
        assert_eq!(
            matches(&incident, "correlation_id=42^ORDERBYnumber"),
            Ok(true)
        );
        assert!(matches(&incident, "short_descriptionLIKEdisk").is_err());
    }

    #[test]
    fn priority_follows_the_default_lookup() {
        for (impact, urgency, priority) in [("1", "1", "1"), ("2", "2", "3"), ("3", "3", "5")] {
            let mut incident = row(&[
                ("impact", impact),
                ("urgency", urgency),
                ("state", "1"),
                ("resolved_at", ""),
                ("closed_at", ""),
            ]);
            derive(&mut incident, "u");
            assert_eq!(incident["priority"], priority, "{impact}/{urgency}");
        }
    }

    #[test]
    fn resource_paths_parse() {
        let r = resource("/api/now/v1/table/incident/abc").unwrap();
        assert_eq!(
            (r.version.as_deref(), r.table.as_str(), r.sys_id.as_deref()),
            (Some("v1"), "incident", Some("abc"))
        );
        let r = resource("/api/now/table/incident").unwrap();
        assert_eq!((r.version, r.sys_id), (None, None));
        assert!(resource("/api/now/import/x").is_none());
    }
}
