//! Requests to a desk and the reading of its answers, shared by every desk client: how a
//! desk is logged in to ([`Auth`]), a request with the headers every desk gets
//! ([`request`]), and the classification of answers ([`call`]).

use super::Failure;
use crate::notify::http_client::{chain, status_line, worth_retrying};
use crate::notify::secret::Secret;

/// How a desk is logged in to, by the `Authorization` header.
#[derive(Debug)]
pub enum Auth {
    /// HTTP Basic with a user name (or e-mail) and a password (or API token).
    Basic(String, Secret),
    /// `Authorization: <scheme> <token>`: `Bearer` (OAuth), `token` (RT).
    Token(&'static str, Secret),
}

impl Auth {
    /// Adds the header to `request`.
    pub fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::Basic(user, secret) => request.basic_auth(user, Some(secret.expose())),
            Auth::Token(scheme, token) => {
                request.header("Authorization", format!("{scheme} {}", token.expose()))
            }
        }
    }

    /// The secret, to redact from errors.
    pub fn secret(&self) -> &Secret {
        match self {
            Auth::Basic(_, secret) | Auth::Token(_, secret) => secret,
        }
    }
}

/// A request to `url` that asks for JSON and names Vigil as the client.
pub fn request(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
) -> reqwest::RequestBuilder {
    client
        .request(method, url)
        .header("Accept", "application/json")
        .header("User-Agent", concat!("vigil/", env!("CARGO_PKG_VERSION")))
}

/// `path?a=1&b=2` with the parameters form-encoded.
pub fn with_query(path: &str, params: &[(&str, &str)]) -> String {
    let query = reqwest::Url::parse_with_params("http://x/", params)
        .ok()
        .and_then(|u| u.query().map(str::to_owned))
        .unwrap_or_default();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// A JSON value as an id or a field's text: a non-empty string, or a number written out.
pub fn text_of(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Most of a desk's answer that is read (a search answer, a ticket).
const MAX_BODY: usize = 1 << 20;
/// How much of an answer an error quotes.
const QUOTE: usize = 300;

/// A desk's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body as text (at most 1 MiB).
    pub body: String,
}

impl Answer {
    /// The body as JSON; a refusal naming `what` when it is not.
    pub fn json(&self, what: &str) -> Result<serde_json::Value, Failure> {
        serde_json::from_str(&self.body).map_err(|e| {
            Failure::Refused(format!(
                "{what}: the desk answered HTTP {} with a body that is not JSON ({e}): {}",
                self.status,
                quote(&self.body)
            ))
        })
    }
}

/// The first few hundred characters of `text`, on one line.
pub fn quote(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(QUOTE) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// Sends `request` (described as `what`, like "creating the ticket") and reads the answer.
/// 2xx comes back; 408, 429, 5xx and network errors are [`Failure::Retry`]; any other
/// status is [`Failure::Refused`], quoting the desk's own message (`message` picks it out
/// of a JSON error body; the body itself is quoted otherwise). `secrets` are redacted.
pub async fn call(
    request: reqwest::RequestBuilder,
    what: &str,
    secrets: &[&Secret],
    message: fn(&serde_json::Value) -> Option<String>,
) -> Result<Answer, Failure> {
    let redact = |text: String| secrets.iter().fold(text, |t, s| s.redact(&t));
    let mut response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            let how = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "cannot connect"
            } else {
                "request failed"
            };
            return Err(Failure::Retry(redact(format!(
                "{what}: {how}: {}",
                chain(&e)
            ))));
        }
    };
    let status = response.status();
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if bytes.len() < MAX_BODY => bytes.extend_from_slice(&chunk),
            Ok(Some(_)) | Ok(None) => break,
            Err(e) => {
                return Err(Failure::Retry(redact(format!(
                    "{what}: reading the answer failed: {}",
                    chain(&e)
                ))));
            }
        }
    }
    bytes.truncate(MAX_BODY);
    let body = String::from_utf8_lossy(&bytes).into_owned();
    let code = status.as_u16();
    if status.is_success() {
        return Ok(Answer { status: code, body });
    }
    let said = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| message(&v))
        .unwrap_or_else(|| quote(&body));
    let line = status_line(status);
    let error = redact(if said.is_empty() {
        format!("{what}: {line}")
    } else {
        format!("{what}: {line}: {said}")
    });
    if worth_retrying(status) {
        Err(Failure::Retry(error))
    } else {
        Err(Failure::Refused(error))
    }
}
