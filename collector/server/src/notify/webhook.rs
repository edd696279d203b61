//! The webhook integration: Alertmanager's webhook JSON (version 4, see
//! [`render::webhook_json`]) POSTed with `Content-Type: application/json` and
//! `User-Agent: vigil/<version>`, optionally signed, with custom headers.
//!
//! # Signature
//!
//! With `secret` set, every attempt carries two headers, computed when it is sent (so a
//! retry has a fresh timestamp):
//!
//! ```text
//! X-Vigil-Timestamp: 1763721750                     (unix seconds)
//! X-Vigil-Signature: sha256=<hex>                   (lowercase hex)
//!     <hex> = HMAC-SHA256(key = secret, message = "<timestamp>.<body>")
//! ```
//!
//! where `<body>` is the exact bytes of the request body. A receiver verifies by:
//! 1. reading both headers, refusing the request when either is missing;
//! 2. refusing a timestamp more than 5 minutes from its own clock (a captured request
//!    replayed later fails here; the timestamp is inside the signed message, so it cannot
//!    be changed);
//! 3. computing HMAC-SHA256 over the timestamp, a `.`, and the raw body as received
//!    (before any JSON parsing), and comparing it with the header's hex in constant time.
//!
//! A receiver that must refuse every replay, even within the 5 minutes, also remembers the
//! signatures it saw in that window.
//!
//! # Secrets
//!
//! The URL (it often carries a token), the header values and the key are secrets: they
//! are redacted from every error and answer, and [`Webhook::describe`] shows only the
//! scheme, host and port.

use super::config::WebhookConfig;
use super::http_client;
use super::model::{Notification, Outcome};
use super::render;
use super::secret::{Secret, SecretSource};
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};

/// Header with the unix time (seconds) the request was signed at.
pub const TIMESTAMP_HEADER: &str = "X-Vigil-Timestamp";
/// Header with `sha256=<lowercase hex HMAC>`.
pub const SIGNATURE_HEADER: &str = "X-Vigil-Signature";

/// One configured webhook, secrets loaded.
pub struct Webhook {
    url: Secret,
    /// Parts of the URL that may be tokens on their own (query values, the password,
    /// long path segments), redacted too: a server may echo one without the rest.
    url_parts: Vec<Secret>,
    key: Option<Secret>,
    headers: Vec<(HeaderName, Secret)>,
    max_alerts: usize,
    client: reqwest::Client,
    target: String,
}

impl Webhook {
    /// Loads the secrets and checks the URL and header names; the error names the key
    /// (never a value).
    pub fn new(config: &WebhookConfig) -> Result<Self, String> {
        let url = config.url.load().map_err(|e| format!("url: {e}"))?;
        let parsed =
            reqwest::Url::parse(url.expose()).map_err(|e| format!("url: not a valid URL ({e})"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!(
                "url: the scheme must be http or https, not {:?}",
                parsed.scheme()
            ));
        }
        let key = match &config.secret {
            Some(source) => Some(source.load().map_err(|e| format!("secret: {e}"))?),
            None => None,
        };
        if key.as_ref().is_some_and(|k| k.expose().is_empty()) {
            return Err("secret: is empty; remove it to send unsigned requests".into());
        }
        let mut headers = Vec::new();
        for (name, source) in &config.headers {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("headers: {name:?} is not a valid header name"))?;
            let value = source.load().map_err(|e| format!("headers.{name}: {e}"))?;
            HeaderValue::from_str(value.expose()).map_err(|_| {
                format!("headers.{name}: the value has characters a header cannot carry")
            })?;
            headers.push((header, value));
        }
        let client = http_client::client(config.ca_file.as_deref(), config.timeout)?;
        let target = format!("webhook to {}", public_part(&parsed));
        Ok(Self {
            url_parts: token_like_parts(&parsed),
            url,
            key,
            headers,
            max_alerts: config.max_alerts,
            client,
            target,
        })
    }

    /// `webhook to https://hooks.example.com/…`: no path, query or credentials.
    pub fn describe(&self) -> String {
        self.target.clone()
    }

    /// POSTs the notification once.
    pub async fn send(&self, notification: &Notification) -> Outcome {
        let body = match serde_json::to_vec(&render::webhook_json(notification, self.max_alerts)) {
            Ok(b) => b,
            Err(e) => {
                return Outcome::Rejected {
                    error: format!("cannot encode the webhook body: {e}"),
                };
            }
        };
        let mut request = self
            .client
            .post(self.url.expose())
            .header(CONTENT_TYPE, "application/json");
        for (name, value) in &self.headers {
            if let Ok(mut v) = HeaderValue::from_str(value.expose()) {
                v.set_sensitive(true);
                request = request.header(name.clone(), v);
            }
        }
        if let Some(key) = &self.key {
            let now = u64::try_from(vigil_store::clock::now_ms() / 1000).unwrap_or(0);
            request = request.header(TIMESTAMP_HEADER, now.to_string()).header(
                SIGNATURE_HEADER,
                signature(key.expose().as_bytes(), now, &body),
            );
        }
        let mut secrets: Vec<&Secret> = vec![&self.url];
        secrets.extend(self.url_parts.iter());
        secrets.extend(self.key.iter());
        secrets.extend(self.headers.iter().map(|(_, v)| v));
        http_client::send(request.body(body), &secrets).await
    }
}

/// `sha256=<lowercase hex HMAC-SHA256(key, "<timestamp>.<body>")>`.
pub fn signature(key: &[u8], timestamp: u64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let mut context = ring::hmac::Context::with_key(&key);
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    let tag = context.sign();
    let mut hex = String::with_capacity(7 + 64);
    hex.push_str("sha256=");
    for byte in tag.as_ref() {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// Query values, the password and path segments of 16 characters or more.
fn token_like_parts(url: &reqwest::Url) -> Vec<Secret> {
    let mut parts: Vec<String> = url.query_pairs().map(|(_, v)| v.into_owned()).collect();
    parts.extend(url.password().map(str::to_owned));
    parts.extend(
        url.path_segments()
            .into_iter()
            .flatten()
            .filter(|s| s.len() >= 16)
            .map(str::to_owned),
    );
    parts
        .into_iter()
        .filter_map(|p| SecretSource::Inline(p).load().ok())
        .collect()
}

/// Scheme, host and port of a URL, with `/…` when it has a path or query.
fn public_part(url: &reqwest::Url) -> String {
    let mut out = format!("{}://{}", url.scheme(), url.host_str().unwrap_or("?"));
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    if url.path() != "/" || url.query().is_some() {
        out.push_str("/…");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // The expected value comes from Python's hmac module:
        // hmac.new(b"key", b'1700000000.{"version":"4"}', hashlib.sha256).hexdigest()
        assert_eq!(
            signature(b"key", 1_700_000_000, br#"{"version":"4"}"#),
            "sha256=a0a7b6107590b8abf6dabb1d22c5b0d2be3911da07ac51d5453ffe6309ec3921"
        );
    }

    #[test]
    fn describe_hides_path_query_and_credentials() {
        let url = reqwest::Url::parse("https://user:pw@hooks.example.com:8443/T0/abc?x=1").unwrap();
        assert_eq!(public_part(&url), "https://hooks.example.com:8443/…");
        let url = reqwest::Url::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(public_part(&url), "http://127.0.0.1:9000");
        let url = reqwest::Url::parse(
            "https://u:pw-1234@h/services/T0/B0/0123456789abcdefXYZ?key=k3y-value",
        )
        .unwrap();
        let text = "k3y-value pw-1234 0123456789abcdefXYZ services";
        let redacted = token_like_parts(&url)
            .iter()
            .fold(text.to_owned(), |t, s| s.redact(&t));
        assert_eq!(redacted, "<secret> <secret> <secret> services");
    }
}
