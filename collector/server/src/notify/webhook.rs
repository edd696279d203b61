//! The webhook integration: Alertmanager's webhook JSON (version 4, see
//! [`render::webhook_json`]) POSTed with `Content-Type: application/json` and
//! `User-Agent: vigil/<version>`, optionally signed, with custom headers.
//!
//! # Delivery id
//!
//! Every request carries `X-Vigil-Delivery`, an id the receiver can drop duplicates by:
//!
//! ```text
//! X-Vigil-Delivery: 3f2b7c1e-9a4d-4e6b-8c1f-0d2e4a6b8c9d
//! ```
//!
//! It is the same on every attempt of one delivery (one notification to one webhook),
//! retries after a collector restart included: it is made once, when the notification
//! enters the durable outbox, and stored with it (see `outbox::entry`). Two deliveries
//! never share one, even across collectors or after a data directory was restored from a
//! backup (it is random, not a counter). Each `vigil notify test` is a new delivery.
//! Receivers should treat it as an opaque string of at most 64 characters. One that must
//! not act twice remembers the ids it accepted for a while (a day covers the default
//! `notify.delivery.give_up_after`) and answers 2xx to a repeat without acting on it.
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
//!    (before any JSON parsing), and comparing it in constant time with each
//!    `sha256=<hex>` value of the signature header (see rotation below), accepting the
//!    request when one matches.
//!
//! A receiver that must refuse every replay, even within the 5 minutes, also remembers the
//! delivery ids (or signatures) it saw in that window.
//!
//! ## Rotating the key
//!
//! `previous_secret` keeps a second key active: then the signature header holds two
//! values, separated by a comma and a space, the one made with `secret` first:
//!
//! ```text
//! X-Vigil-Signature: sha256=<hex with secret>, sha256=<hex with previous_secret>
//! ```
//!
//! Each value is the HMAC above with its own key, over the same timestamp and body. A
//! receiver splits the header on `,`, trims spaces, and accepts the request when any value
//! matches the signature it computes with its key; so it may hold the old key or the new
//! one. To rotate: set the new key as `secret` and the old one as `previous_secret`;
//! give the receiver the new key; then remove `previous_secret`. With one key the header
//! holds one value, exactly as before.
//!
//! # Secrets
//!
//! The URL (it often carries a token), the header values and the keys are secrets: they
//! are redacted from every error and answer, and [`Webhook::describe`] shows only the
//! scheme, host and port. An `Authorization` header or URL credentials over `http://` to a
//! host that is not loopback are refused at load, unless `allow_insecure = true`
//! ([`check_cleartext`]).

use super::config::{WebhookConfig, check_cleartext};
use super::http_client;
use super::model::{Notification, Outcome};
use super::render;
use super::secret::{Secret, SecretSource};
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use std::sync::atomic::{AtomicU64, Ordering};

/// Header with the unix time (seconds) the request was signed at.
pub const TIMESTAMP_HEADER: &str = "X-Vigil-Timestamp";
/// Header with `sha256=<lowercase hex HMAC>`, one value per active key, `, ` between them.
pub const SIGNATURE_HEADER: &str = "X-Vigil-Signature";
/// Header with the delivery id, the same on every attempt of one delivery.
pub const DELIVERY_HEADER: &str = "X-Vigil-Delivery";

/// The longest delivery id a receiver has to expect.
pub const MAX_DELIVERY_ID: usize = 64;

/// One configured webhook, secrets loaded.
pub struct Webhook {
    url: Secret,
    /// Parts of the URL that may be tokens on their own (query values, the password,
    /// long path segments), redacted too: a server may echo one without the rest.
    url_parts: Vec<Secret>,
    /// HMAC keys: `secret`, then `previous_secret`; empty for unsigned requests.
    keys: Vec<Secret>,
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
        // Checked again here: `validate` cannot see a URL that comes from a file or the
        // environment.
        check_cleartext(
            &parsed,
            config.headers.keys().map(String::as_str),
            config.allow_insecure,
            "webhook",
        )
        .map_err(|e| format!("url: {e}"))?;
        let mut keys = Vec::new();
        for (name, source) in [
            ("secret", &config.secret),
            ("previous_secret", &config.previous_secret),
        ] {
            let Some(source) = source else { continue };
            let key = source.load().map_err(|e| format!("{name}: {e}"))?;
            if key.expose().is_empty() {
                return Err(format!(
                    "{name}: is empty; remove it (without `secret`, requests are not signed)"
                ));
            }
            keys.push(key);
        }
        if keys.len() == 2 && keys[0] == keys[1] {
            return Err(
                "previous_secret: is the same key as secret; remove previous_secret, or set \
                 it to the key being replaced"
                    .into(),
            );
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
            keys,
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

    /// POSTs the notification once, as attempt of the delivery `delivery` (its
    /// `X-Vigil-Delivery`; see [`new_delivery_id`]).
    pub async fn send(&self, notification: &Notification, delivery: &str) -> Outcome {
        let Some(delivery) = HeaderValue::from_str(delivery)
            .ok()
            .filter(|_| is_delivery_id(delivery))
        else {
            return Outcome::Rejected {
                error: format!("the delivery id {delivery:?} cannot be sent in a header"),
            };
        };
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
            .header(CONTENT_TYPE, "application/json")
            .header(DELIVERY_HEADER, delivery);
        for (name, value) in &self.headers {
            if let Ok(mut v) = HeaderValue::from_str(value.expose()) {
                v.set_sensitive(true);
                request = request.header(name.clone(), v);
            }
        }
        if !self.keys.is_empty() {
            let now = u64::try_from(vigil_store::clock::now_ms() / 1000).unwrap_or(0);
            let keys: Vec<&[u8]> = self.keys.iter().map(|k| k.expose().as_bytes()).collect();
            request = request
                .header(TIMESTAMP_HEADER, now.to_string())
                .header(SIGNATURE_HEADER, signature_header(&keys, now, &body));
        }
        let mut secrets: Vec<&Secret> = vec![&self.url];
        secrets.extend(self.url_parts.iter());
        secrets.extend(self.keys.iter());
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

/// The `X-Vigil-Signature` value: [`signature`] with each key, in order, joined by `, `.
pub fn signature_header(keys: &[&[u8]], timestamp: u64, body: &[u8]) -> String {
    keys.iter()
        .map(|key| signature(key, timestamp, body))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A new delivery id: a random (version 4) UUID, such as
/// `3f2b7c1e-9a4d-4e6b-8c1f-0d2e4a6b8c9d`.
pub fn new_delivery_id() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_ok() {
        return uuid_text(bytes, 4);
    }
    // The system's random source failed (it does not on Linux): the clock, the process
    // and a counter still make the id unique.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = format!(
        "{}.{}.{}",
        vigil_store::clock::now_ms(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    derived_delivery_id(seed.as_bytes())
}

/// A delivery id derived from `seed` (its SHA-256 as a version 8 UUID): the same seed
/// always gives the same id.
pub fn derived_delivery_id(seed: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, seed);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    uuid_text(bytes, 8)
}

/// Whether `id` can be sent as a delivery id: 1 to [`MAX_DELIVERY_ID`] ASCII letters,
/// digits and `-`.
pub fn is_delivery_id(id: &str) -> bool {
    (1..=MAX_DELIVERY_ID).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// RFC 9562's text form, with the version and variant bits set.
fn uuid_text(mut bytes: [u8; 16], version: u8) -> String {
    bytes[6] = (bytes[6] & 0x0f) | (version << 4);
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
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
    use axum::body::Bytes;
    use axum::http::HeaderMap;

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
    fn two_keys_give_two_signatures_new_key_first() {
        let body = br#"{"version":"4"}"#;
        let (new, old) = (b"new-key".as_slice(), b"old-key".as_slice());
        assert_eq!(
            signature_header(&[new], 1_700_000_000, body),
            signature(new, 1_700_000_000, body)
        );
        let header = signature_header(&[new, old], 1_700_000_000, body);
        let values: Vec<&str> = header.split(',').map(str::trim).collect();
        assert_eq!(
            values,
            [
                signature(new, 1_700_000_000, body),
                signature(old, 1_700_000_000, body)
            ]
        );
        assert_ne!(values[0], values[1]);
    }

    #[test]
    fn delivery_ids_are_uuids_new_ones_random_derived_ones_stable() {
        let a = new_delivery_id();
        let b = new_delivery_id();
        assert_ne!(a, b);
        for id in [&a, &b] {
            assert!(is_delivery_id(id), "{id}");
            assert_eq!(id.len(), 36, "{id}");
            assert_eq!(&id[14..15], "4", "{id}");
        }
        let derived = derived_delivery_id(b"seed");
        assert_eq!(derived, derived_delivery_id(b"seed"));
        assert_ne!(derived, derived_delivery_id(b"seed2"));
        assert_eq!(&derived[14..15], "8", "{derived}");
        assert!(
            matches!(&derived[19..20], "8" | "9" | "a" | "b"),
            "{derived}"
        );
        assert!(!is_delivery_id(""));
        assert!(!is_delivery_id("a b"));
        assert!(!is_delivery_id(&"a".repeat(MAX_DELIVERY_ID + 1)));
    }

    fn config(text: &str) -> WebhookConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn credentials_in_clear_text_to_a_remote_host_are_refused_even_from_a_file() {
        // `validate` cannot see a URL kept in a file; the webhook checks it once loaded.
        let dir = tempfile::tempdir().unwrap();
        let (url, token) = (dir.path().join("url"), dir.path().join("token"));
        std::fs::write(&url, "http://hooks.example.com/x\n").unwrap();
        std::fs::write(&token, "Bearer tok-3x4mpl3\n").unwrap();
        let text = format!(
            "url = {{ file = {:?} }}\nheaders = {{ Authorization = {{ file = {:?} }} }}",
            url.display().to_string(),
            token.display().to_string()
        );
        let err = Webhook::new(&config(&text)).err().unwrap();
        assert!(err.starts_with("url: "), "{err}");
        assert!(err.contains("Authorization header"), "{err}");
        assert!(err.contains("https://"), "{err}");
        assert!(err.contains("allow_insecure = true"), "{err}");
        assert!(!err.contains("tok-3x4mpl3"), "{err}");
        let allowed = format!("{text}\nallow_insecure = true");
        assert!(Webhook::new(&config(&allowed)).is_ok());
        // Loopback stays allowed.
        std::fs::write(&url, "http://127.0.0.1:9/x").unwrap();
        assert!(Webhook::new(&config(&text)).is_ok());
    }

    #[test]
    fn previous_secret_must_differ_and_no_key_may_be_empty() {
        let err = Webhook::new(&config(
            r#"url = "http://127.0.0.1:9/"
               secret = "k3y-one"
               previous_secret = "k3y-one""#,
        ))
        .err()
        .unwrap();
        assert!(err.starts_with("previous_secret: "), "{err}");
        assert!(!err.contains("k3y-one"), "{err}");
        let err = Webhook::new(&config(
            r#"url = "http://127.0.0.1:9/"
               secret = "k3y-one"
               previous_secret = """#,
        ))
        .err()
        .unwrap();
        assert!(err.starts_with("previous_secret: is empty"), "{err}");
    }

    type Seen = std::sync::Arc<std::sync::Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

    /// Starts a receiver on loopback that answers 200 and keeps each request's headers and
    /// body; returns its URL.
    async fn recorder() -> (String, Seen) {
        let seen = Seen::default();
        let record = seen.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let record = record.clone();
            async move {
                record.lock().unwrap().push((headers, body.to_vec()));
                "ok"
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, seen)
    }

    #[tokio::test]
    async fn each_attempt_carries_its_delivery_id_and_a_signature_per_key() {
        let (url, seen) = recorder().await;
        let webhook = Webhook::new(&config(&format!(
            "url = {url:?}\nsecret = \"n3w-key\"\nprevious_secret = \"0ld-key\""
        )))
        .unwrap();
        let notification = crate::notify::test_send::test_notification("ops", "", 0);
        let id = new_delivery_id();
        for _ in 0..2 {
            let outcome = webhook.send(&notification, &id).await;
            assert!(matches!(outcome, Outcome::Accepted { .. }), "{outcome:?}");
        }
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2);
        for (headers, body) in seen.iter() {
            let header = |name: &str| headers.get(name).unwrap().to_str().unwrap();
            assert_eq!(header(DELIVERY_HEADER), id);
            let timestamp: u64 = header(TIMESTAMP_HEADER).parse().unwrap();
            let values: Vec<&str> = header(SIGNATURE_HEADER).split(", ").collect();
            assert_eq!(
                values,
                [
                    signature(b"n3w-key", timestamp, body),
                    signature(b"0ld-key", timestamp, body)
                ]
            );
        }
        // A delivery id a header cannot carry is refused, not retried forever.
        let outcome = webhook.send(&notification, "bad id\n").await;
        assert!(matches!(outcome, Outcome::Rejected { .. }), "{outcome:?}");
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
