//! Requests to a desk and the reading of its answers, shared by every desk client.

use super::Failure;
use crate::notify::http_client::chain;
use crate::notify::secret::Secret;

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
    let line = match status.canonical_reason() {
        Some(reason) => format!("HTTP {code} {reason}"),
        None => format!("HTTP {code}"),
    };
    let error = redact(if said.is_empty() {
        format!("{what}: {line}")
    } else {
        format!("{what}: {line}: {said}")
    });
    if code == 408 || code == 429 || status.is_server_error() {
        Err(Failure::Retry(error))
    } else {
        Err(Failure::Refused(error))
    }
}
