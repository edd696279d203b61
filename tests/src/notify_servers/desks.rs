//! Service-desk test servers: in-memory stand-ins for ServiceNow, Znuny and Jira Service
//! Management that speak each vendor's documented REST API, so the ticket receivers can be
//! driven end to end on 127.0.0.1.
//!
//! Each server keeps real tickets (ids, states, priorities, the incident id in the desk's
//! correlation field, comments and work notes in order), checks credentials and required
//! fields, answers with the vendor's own success and error shapes, and records every
//! request. Two switches cover what an idempotent client has to survive:
//!
//! - `stall_first_create(d)`: the next create is held for `d`, then stored and answered, so
//!   a client with a shorter timeout gives up although the ticket comes to exist; its retry
//!   has to find that ticket by the correlation lookup instead of opening a second one.
//!   `delay_first_create_answer(d)` stores at once and only holds the answer.
//! - `refuse_next(..)`: the next write is refused the way that desk refuses (its 4xx
//!   shape; for Znuny an HTTP 200 whose body is an `Error`).
//!
//! Every request is handled on a task of its own, so a stalled create completes even after
//! the client hung up, as it would on the real desk.
//!
//! # Layout
//! - this file: the recorded [`DeskRequest`], the common [`Ticket`] view, and the loopback
//!   server every desk runs on (a thread with its own runtime, stopped on drop).
//! - [`servicenow`]: the Table API on `incident` (and `sys_journal_field` to read notes).
//! - [`znuny`]: the GenericInterface REST transport, routed by `deploy/znuny/Vigil.yml`.
//! - [`jsm`]: `servicedeskapi` requests, comments and transitions, plus the Jira platform
//!   calls a client needs beside them (JQL search, priority edit, agent transitions).

pub mod jsm;
pub mod servicenow;
pub mod znuny;

use crate::free_port;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request a desk server received.
#[derive(Debug, Clone)]
pub struct DeskRequest {
    /// `GET`, `POST`, `PATCH`, …
    pub method: String,
    /// The path, without the query: `/api/now/table/incident`.
    pub path: String,
    /// The raw query string, without `?` (empty when there is none).
    pub query: String,
    /// Headers as (lowercase name, value), in order.
    pub headers: Vec<(String, String)>,
    /// The body as sent.
    pub body: Vec<u8>,
}

impl DeskRequest {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        super::header(&self.headers, name)
    }

    /// The query's (name, value) pairs, percent-decoded, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        query_pairs(&self.query)
    }

    /// The first query parameter named `name`, percent-decoded.
    pub fn param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON, or `None` when it is not JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// A ticket as a test sees it, the same for every desk. `fields` holds the desk's own full
/// record for assertions on anything else.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    /// The desk's internal id: ServiceNow `sys_id`, Znuny `TicketID`, Jira `issueId`.
    pub id: String,
    /// The id people read: `INC0010001`, a Znuny ticket number, `VIG-1`.
    pub number: String,
    /// The incident id the client stored: ServiceNow `correlation_id`, the Znuny dynamic
    /// field, the Jira label (`vigil-incident-42`).
    pub correlation: String,
    /// ServiceNow `short_description`, Znuny `Title`, Jira `summary`.
    pub title: String,
    /// ServiceNow `state` ("1", "6"), Znuny state name, Jira status name.
    pub state: String,
    /// ServiceNow `assignment_group`, Znuny queue, Jira request type id.
    pub group: String,
    /// ServiceNow `priority` (computed from impact and urgency), Znuny priority name, Jira
    /// priority name.
    pub priority: String,
    /// ServiceNow `assigned_to`, Znuny owner, Jira assignee (empty when none).
    pub assignee: String,
    /// Comments, work notes and articles, oldest first (the first Znuny article too).
    pub notes: Vec<Note>,
    /// The desk's full record as its API would show it.
    pub fields: serde_json::Value,
}

/// One comment, work note or article on a ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    /// Its text.
    pub body: String,
    /// True for what only agents see: ServiceNow work notes, Znuny articles not visible to
    /// the customer, Jira internal comments (`public: false`).
    pub internal: bool,
}

/// What the next create does when a stall is set.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stall {
    /// Wait, then store and answer: the ticket appears only when the wait ends.
    StoreAfter(Duration),
    /// Store at once, then wait before answering: the answer is what is late.
    AnswerAfter(Duration),
}

/// The one-shot switches every desk has.
#[derive(Debug)]
pub(crate) struct Switches<R> {
    stall: Mutex<Option<Stall>>,
    refusal: Mutex<Option<R>>,
}

// Derived, it would ask R for Default, which a refusal has no reason to have.
impl<R> Default for Switches<R> {
    fn default() -> Self {
        Self {
            stall: Mutex::new(None),
            refusal: Mutex::new(None),
        }
    }
}

impl<R> Switches<R> {
    pub(crate) fn set_stall(&self, stall: Stall) {
        *self.stall.lock().unwrap() = Some(stall);
    }

    pub(crate) fn set_refusal(&self, refusal: R) {
        *self.refusal.lock().unwrap() = Some(refusal);
    }

    /// The refusal for this write, if one was set (it applies once).
    pub(crate) fn take_refusal(&self) -> Option<R> {
        self.refusal.lock().unwrap().take()
    }

    /// Runs `store` for a create, honouring (and using up) a stall.
    pub(crate) async fn create<T>(&self, store: impl FnOnce() -> T) -> T {
        let stall = self.stall.lock().unwrap().take();
        match stall {
            None => store(),
            Some(Stall::StoreAfter(wait)) => {
                tokio::time::sleep(wait).await;
                store()
            }
            Some(Stall::AnswerAfter(wait)) => {
                let stored = store();
                tokio::time::sleep(wait).await;
                stored
            }
        }
    }
}

/// An HTTP answer a desk gives.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn json(status: u16, body: &serde_json::Value) -> Self {
        Self {
            status,
            content_type: "application/json;charset=UTF-8",
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        }
    }

    pub(crate) fn text(status: u16, body: &str) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=UTF-8",
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    pub(crate) fn empty(status: u16) -> Self {
        Self {
            status,
            content_type: "",
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// A desk server listening on 127.0.0.1: records every request, hands it to the desk's
/// handler on a task of its own, and stops when dropped.
pub(crate) struct Listening {
    port: u16,
    requests: Arc<Mutex<Vec<DeskRequest>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Listening {
    /// Starts a server on a port from [`free_port`] whose answers come from `handler`.
    pub(crate) fn start<H, F>(handler: H) -> Self
    where
        H: Fn(DeskRequest) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Answer> + Send + 'static,
    {
        let port = free_port();
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let recorded = requests.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
                    let handler = handler.clone();
                    let recorded = recorded.clone();
                    async move { answer(request, handler, recorded).await }
                });
                // Dropping the runtime afterwards cancels whatever is still in flight.
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stopped => {}
                }
            });
        });
        Self {
            port,
            requests,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request so far, oldest first.
    pub(crate) fn requests(&self) -> Vec<DeskRequest> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads and records `request`, then runs the desk's handler on a task of its own: the
/// desk finishes what it started (a stalled create is stored) even when the client left.
async fn answer<H, F>(
    request: axum::extract::Request,
    handler: H,
    recorded: Arc<Mutex<Vec<DeskRequest>>>,
) -> axum::response::Response
where
    H: Fn(DeskRequest) -> F,
    F: Future<Output = Answer> + Send + 'static,
{
    use axum::response::IntoResponse;

    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let request = DeskRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    recorded.lock().unwrap().push(request.clone());
    let answer = match tokio::spawn(handler(request)).await {
        Ok(answer) => answer,
        Err(e) => Answer::text(500, &format!("the test desk's handler failed: {e}")),
    };
    let status = axum::http::StatusCode::from_u16(answer.status)
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, answer.body).into_response();
    let headers = response.headers_mut();
    if !answer.content_type.is_empty() {
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static(answer.content_type),
        );
    }
    for (name, value) in answer.headers {
        if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
            headers.append(name, value);
        }
    }
    response
}

/// `Basic <base64(user:password)>`, the header HTTP Basic authentication sends.
pub(crate) fn basic_auth(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The (name, value) pairs of a query string, percent-decoded (`+` is a space).
pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

/// Decodes `%XX` escapes and `+` (a space in a form-encoded query).
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| char::from(b).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(high), Some(low)) => {
                        out.push((high * 16 + low) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Now as the desks print times: `2024-05-01 12:00:00` (UTC).
pub(crate) fn timestamp() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn query_pairs_decode_escapes_and_plus() {
        let pairs = query_pairs("sysparm_query=correlation_id%3D42%5Eactive%3Dtrue&a=b+c&flag");
        assert_eq!(
            pairs,
            [
                (
                    "sysparm_query".into(),
                    "correlation_id=42^active=true".into()
                ),
                ("a".into(), "b c".into()),
                ("flag".into(), String::new()),
            ]
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
