//! Sending one remote write request, and the waits between attempts.
//!
//! [`Sender::send_once`] makes one attempt and classifies the answer as the protocol asks:
//! 2xx accepted; 5xx, 429, 408, connection errors and timeouts retried (honouring
//! `Retry-After`, in seconds or as an HTTP date); any other status refused, with the
//! receiver's message (its first 512 bytes, secrets redacted) — the caller counts and logs
//! it and never sends that request again. Redirects are not followed: the URL comes from
//! configuration. [`Backoff`] spaces the attempts.

use super::config::RemoteWriteConfig;
use super::wire;
use crate::notify::http_client::{self, Identity};
use crate::notify::secret::{Secret, SecretSource};
use base64::Engine;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use std::time::{Duration, SystemTime};

/// The longest wait a receiver's `Retry-After` can ask for.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Most of a successful answer's body read (so the connection can be reused).
const DRAIN_BYTES: usize = 64 * 1024;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver took the request (2xx).
    Accepted,
    /// The receiver refused it for good (4xx but 408 and 429, or 3xx): do not retry.
    Refused {
        /// The HTTP status.
        status: u16,
        /// The receiver's message (first 512 bytes of its answer), secrets redacted.
        message: String,
    },
    /// Try again later (5xx, 429, 408, no connection, timeout).
    Retry {
        /// The HTTP status, when the receiver answered.
        status: Option<u16>,
        /// What the receiver's `Retry-After` asked for, if anything.
        after: Option<Duration>,
        /// What went wrong, for logs and `vigil status`; secrets redacted.
        why: String,
    },
}

/// The HTTP side of one remote: its client (TLS, timeout), URL and headers.
#[derive(Debug)]
pub struct Sender {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    secrets: Vec<Secret>,
}

impl Sender {
    /// Reads the entry's secrets and TLS files and builds its client. The error names
    /// `remote_write[...]`'s key and what to do.
    pub fn new(config: &RemoteWriteConfig) -> Result<Sender, String> {
        let at = |key: &str| format!("remote_write ({:?}).{key}", config.name());
        let url = reqwest::Url::parse(&config.url)
            .map_err(|e| format!("{}: not a URL: {e}", at("url")))?;
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("snappy"));
        headers.insert(
            HeaderName::from_static("x-prometheus-remote-write-version"),
            HeaderValue::from_static(wire::VERSION_HEADER.1),
        );
        let mut secrets = Vec::new();
        let sensitive = |value: String, key: &str| {
            let mut value = HeaderValue::from_str(&value)
                .map_err(|_| format!("{}: the value cannot be sent in an HTTP header", at(key)))?;
            value.set_sensitive(true);
            Ok::<_, String>(value)
        };
        if let Some(token) = &config.bearer_token {
            let token = token
                .load()
                .map_err(|e| format!("{}: {e}", at("bearer_token")))?;
            let value = sensitive(format!("Bearer {}", token.expose()), "bearer_token")?;
            headers.insert(header::AUTHORIZATION, value);
            secrets.push(token);
        }
        if let Some(basic) = &config.basic_auth {
            let password = basic
                .password
                .load()
                .map_err(|e| format!("{}: {e}", at("basic_auth.password")))?;
            let pair = format!("{}:{}", basic.username, password.expose());
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            headers.insert(
                header::AUTHORIZATION,
                sensitive(format!("Basic {encoded}"), "basic_auth")?,
            );
            secrets.push(password);
            // A receiver echoing the header would show the pair encoded.
            secrets.push(SecretSource::Inline(encoded).load()?);
        }
        for (name, source) in &config.headers {
            let key = format!("headers.{name:?}");
            let value = source.load().map_err(|e| format!("{}: {e}", at(&key)))?;
            let header_name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("{}: not a valid HTTP header name", at(&key)))?;
            headers.insert(header_name, sensitive(value.expose().to_owned(), &key)?);
            secrets.push(value);
        }
        let identity = match (&config.tls_cert_file, &config.tls_key_file) {
            (Some(cert_file), Some(key_file)) => Some(Identity {
                cert_file,
                key_file,
            }),
            _ => None,
        };
        let client = http_client::client_with_identity(
            config.tls_ca_file.as_deref(),
            identity,
            config.timeout,
        )
        .map_err(|e| {
            // "ca_file …", "cert_file …", "key_file …" name the tls_ keys.
            if ["ca_file", "cert_file", "key_file"]
                .iter()
                .any(|k| e.starts_with(k))
            {
                format!("{}{e}", at("tls_"))
            } else {
                format!("remote_write ({:?}): {e}", config.name())
            }
        })?;
        Ok(Sender {
            client,
            url,
            headers,
            secrets,
        })
    }

    /// The URL without credentials or query, for logs and status.
    pub fn url(&self) -> String {
        redacted_url(self.url.as_str())
    }

    /// POSTs `body` (an encoded [`wire::WriteRequest`]) once and classifies the answer.
    pub async fn send_once(&self, body: &[u8]) -> Attempt {
        let request = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .body(body.to_vec());
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                let what = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "cannot connect"
                } else {
                    "request failed"
                };
                return Attempt::Retry {
                    status: None,
                    after: None,
                    why: self.redact(format!("{what}: {}", http_client::chain(&e))),
                };
            }
        };
        let status = response.status();
        let code = status.as_u16();
        if status.is_success() {
            drain(response).await;
            return Attempt::Accepted;
        }
        let after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, SystemTime::now()));
        let body = self.redact(http_client::excerpt(response).await);
        let line = match status.canonical_reason() {
            Some(reason) => format!("HTTP {code} {reason}"),
            None => format!("HTTP {code}"),
        };
        if code == 408 || code == 429 || status.is_server_error() {
            let why = if body.is_empty() {
                line
            } else {
                format!("{line}: {body}")
            };
            return Attempt::Retry {
                status: Some(code),
                after,
                why,
            };
        }
        let mut message = if body.is_empty() { line } else { body };
        if status.is_redirection() {
            message.push_str(" (redirects are not followed; configure the final URL)");
        }
        Attempt::Refused {
            status: code,
            message,
        }
    }

    fn redact(&self, text: String) -> String {
        self.secrets.iter().fold(text, |t, s| s.redact(&t))
    }
}

/// Reads what is left of a successful answer, up to a bound, so the connection is reused.
async fn drain(mut response: reqwest::Response) {
    let mut read = 0;
    while read < DRAIN_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            _ => break,
        }
    }
}

/// A `Retry-After` value: delta-seconds or an HTTP date (then relative to `now`; a date
/// in the past is zero). `None` when it is neither.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Exponential backoff: `min`, then doubling up to `max`; a receiver's `Retry-After` is
/// honoured beyond `max`, up to [`MAX_RETRY_AFTER`].
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    last: Option<Duration>,
}

impl Backoff {
    /// A backoff that starts at `min` and doubles up to `max`.
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            last: None,
        }
    }

    /// The wait before the next attempt: the next step of the doubling, or what the
    /// receiver asked for when that is longer (at most [`MAX_RETRY_AFTER`]).
    pub fn next(&mut self, retry_after: Option<Duration>) -> Duration {
        let step = match self.last {
            None => self.min,
            Some(last) => last.saturating_mul(2).min(self.max),
        };
        self.last = Some(step);
        match retry_after {
            Some(asked) => step.max(asked.min(MAX_RETRY_AFTER)),
            None => step,
        }
    }

    /// Back to `min`, after a success.
    pub fn reset(&mut self) {
        self.last = None;
    }
}

/// `url` without user information, query or fragment, for logs and `vigil status`; text
/// that does not parse is cut at `?` and after any `@`.
pub fn redacted_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.set_query(None);
            parsed.set_fragment(None);
            parsed.to_string()
        }
        Err(_) => {
            let cut = url.split(['?', '#']).next().unwrap_or_default();
            match cut.split_once("://") {
                Some((scheme, rest)) => match rest.rsplit_once('@') {
                    Some((_, host)) => format!("{scheme}://{host}"),
                    None => cut.to_owned(),
                },
                None => cut.rsplit('@').next().unwrap_or_default().to_owned(),
            }
        }
    }
}

#[cfg(test)]
mod tests;
