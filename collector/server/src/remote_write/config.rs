//! `[[remote_write]]`: one entry per receiver the collector forwards everything it stores
//! to (VictoriaMetrics, Mimir, Thanos Receive, Cortex, Prometheus…).
//!
//! ```toml
//! [[remote_write]]
//! name = "central"                                   # default: the URL's host:port
//! url = "https://vm.example:8428/api/v1/write"
//! bearer_token = { file = "/etc/vigil/remote.token" } # or basic_auth = { username, password }
//! headers = { "X-Scope-OrgID" = "site-a" }
//! tls_ca_file = "/etc/vigil/remote-ca.pem"
//! external_labels = { site = "a" }
//! match = ['{__name__=~"node_.*"}']
//! ```
//!
//! [`RemoteWriteConfig::validate`] checks an entry without reading its secrets (files and
//! variables are read when forwarding starts, by [`super::send::Sender::new`]); its errors
//! name `remote_write[i].key`. Which series go, with which labels, is
//! [`super::filter::SeriesFilter`].

use crate::notify::secret::SecretSource;
use crate::relabel::RelabelConfig;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Header names the sender sets itself: not allowed in `headers`.
const RESERVED_HEADERS: [&str; 8] = [
    "content-type",
    "content-encoding",
    "content-length",
    "transfer-encoding",
    "connection",
    "host",
    "user-agent",
    "x-prometheus-remote-write-version",
];

/// The longest `name`.
const MAX_NAME: usize = 64;

/// One `[[remote_write]]` entry.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteWriteConfig {
    /// What the remote is called in logs, metrics (`remote` label) and `vigil status`, and
    /// the key its cursor is kept under; the URL's host:port when not set.
    pub name: Option<String>,
    /// The receiver's write endpoint, `http://` or `https://`; required.
    pub url: String,
    /// Sent as `Authorization: Bearer …`.
    pub bearer_token: Option<SecretSource>,
    /// Sent as `Authorization: Basic …`; not with `bearer_token`.
    pub basic_auth: Option<BasicAuth>,
    /// More request headers (`X-Scope-OrgID` for multi-tenant receivers); values are
    /// secrets.
    pub headers: BTreeMap<String, SecretSource>,
    /// CAs trusted besides the system's roots (PEM).
    pub tls_ca_file: Option<PathBuf>,
    /// A client certificate (PEM) shown to the receiver; with `tls_key_file`.
    pub tls_cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM); with `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// Labels added to every series sent; a label the series has itself wins.
    pub external_labels: BTreeMap<String, String>,
    /// Series selectors: only series matching one of them are sent (all when empty).
    pub r#match: Vec<String>,
    /// Relabelling of the series sent, as `[[relabel]]`, after `external_labels` and
    /// before `match`.
    pub write_relabel: Vec<RelabelConfig>,
    /// Samples per request at most.
    pub batch_size: usize,
    /// Requests in flight (shards); a series always goes through the same shard.
    pub concurrency: usize,
    /// Bound on one request, connecting included.
    #[serde(with = "vigil_config::duration")]
    pub timeout: Duration,
    /// The first wait after a failed attempt; doubled after each.
    #[serde(with = "vigil_config::duration")]
    pub min_backoff: Duration,
    /// The longest wait between attempts (a receiver's `Retry-After` may ask for more,
    /// up to 5 minutes).
    #[serde(with = "vigil_config::duration")]
    pub max_backoff: Duration,
    /// Unsent data older than this is skipped and counted (reason `max_lag`).
    #[serde(with = "vigil_config::duration")]
    pub max_lag: Duration,
    /// Unsent data beyond this many bytes of log is skipped, oldest first, and counted
    /// (reason `max_bytes`). Written as bytes or like `4GiB`, `512MiB`, `1GB`.
    #[serde(deserialize_with = "byte_size")]
    pub max_queue_bytes: u64,
    /// On first configuration only: also send this much history first (`0s`: none).
    #[serde(with = "vigil_config::duration")]
    pub backfill: Duration,
}

/// `basic_auth = { username = "…", password = … }`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// The user name.
    pub username: String,
    /// The password, a secret.
    pub password: SecretSource,
}

impl Default for RemoteWriteConfig {
    fn default() -> Self {
        Self {
            name: None,
            url: String::new(),
            bearer_token: None,
            basic_auth: None,
            headers: BTreeMap::new(),
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            external_labels: BTreeMap::new(),
            r#match: Vec::new(),
            write_relabel: Vec::new(),
            batch_size: 2000,
            concurrency: 4,
            timeout: Duration::from_secs(30),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            max_lag: Duration::from_secs(24 * 3600),
            max_queue_bytes: 4 << 30,
            backfill: Duration::ZERO,
        }
    }
}

impl RemoteWriteConfig {
    /// The remote's name: `name`, or the URL's `host:port` (IPv6 without brackets).
    pub fn name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        match reqwest::Url::parse(&self.url) {
            Ok(url) => {
                let host = url.host_str().unwrap_or_default();
                let host = host.trim_start_matches('[').trim_end_matches(']');
                match url.port_or_known_default() {
                    Some(port) => format!("{host}:{port}"),
                    None => host.to_owned(),
                }
            }
            Err(_) => self.url.clone(),
        }
    }

    /// Checks this entry, the `index`-th; the error names `remote_write[index].key` and
    /// what to do. Secrets are not read here; TLS files must be readable.
    pub fn validate(&self, index: usize) -> Result<(), String> {
        let at = |key: &str| format!("remote_write[{index}].{key}");
        self.validate_url(&at("url"))?;
        let name = self.name();
        let name_ok = (1..=MAX_NAME).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'));
        if !name_ok {
            let what = if self.name.is_some() {
                "name"
            } else {
                "name (taken from the URL's host:port)"
            };
            return Err(format!(
                "{}: {name:?} is not a valid {what}: use 1 to {MAX_NAME} of A-Z a-z 0-9 _ . : -",
                at("name")
            ));
        }
        if self.bearer_token.is_some() && self.basic_auth.is_some() {
            return Err(format!(
                "{}: set either bearer_token or basic_auth, not both",
                at("basic_auth")
            ));
        }
        if let Some(basic) = &self.basic_auth
            && (basic.username.is_empty() || basic.username.contains(':'))
        {
            return Err(format!(
                "{}: give a user name without ':'",
                at("basic_auth.username")
            ));
        }
        self.validate_headers(index)?;
        self.validate_tls(index)?;
        let bounded = |key: &str, value: usize, max: usize| {
            if (1..=max).contains(&value) {
                Ok(())
            } else {
                Err(format!(
                    "{}: {value} is out of range; use 1 to {max}",
                    at(key)
                ))
            }
        };
        bounded("batch_size", self.batch_size, 100_000)?;
        bounded("concurrency", self.concurrency, 64)?;
        if self.timeout < Duration::from_millis(100) {
            return Err(format!(
                "{}: must be at least 100ms, like 30s",
                at("timeout")
            ));
        }
        if self.min_backoff.is_zero() {
            return Err(format!(
                "{}: must be more than 0s, like 30ms",
                at("min_backoff")
            ));
        }
        if self.min_backoff > self.max_backoff {
            return Err(format!(
                "{}: {} is less than min_backoff ({}); raise it or lower min_backoff",
                at("max_backoff"),
                humantime::format_duration(self.max_backoff),
                humantime::format_duration(self.min_backoff)
            ));
        }
        if self.max_lag < Duration::from_secs(60) {
            return Err(format!(
                "{}: must be at least 1m, like 24h: data older than this is skipped",
                at("max_lag")
            ));
        }
        if self.max_queue_bytes < 1 << 20 {
            return Err(format!(
                "{}: {} bytes is below the minimum of 1MiB; give a size like 4GiB",
                at("max_queue_bytes"),
                self.max_queue_bytes
            ));
        }
        // Selectors, relabelling and external labels, as forwarding will build them.
        super::filter::SeriesFilter::new(self)
            .map(|_| ())
            .map_err(|e| format!("remote_write[{index}].{e}"))
    }

    fn validate_url(&self, at: &str) -> Result<(), String> {
        if self.url.is_empty() {
            return Err(format!(
                "{at}: required; give the receiver's write endpoint, like \
                 \"https://vm.example:8428/api/v1/write\""
            ));
        }
        let url = reqwest::Url::parse(&self.url).map_err(|e| {
            format!(
                "{at}: {:?} is not a URL: {e}",
                super::send::redacted_url(&self.url)
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "{at}: the scheme {:?} is not supported; use http:// or https://",
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("{at}: the URL has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "{at}: do not put credentials in the URL; use basic_auth = {{ username = \"…\", \
                 password = {{ file = \"…\" }} }}"
            ));
        }
        Ok(())
    }

    fn validate_headers(&self, index: usize) -> Result<(), String> {
        for name in self.headers.keys() {
            let at = format!("remote_write[{index}].headers.{name:?}");
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(format!("{at}: not a valid HTTP header name"));
            }
            let lower = name.to_ascii_lowercase();
            if RESERVED_HEADERS.contains(&lower.as_str()) {
                return Err(format!(
                    "{at}: set by the sender itself (remote write protocol); remove it"
                ));
            }
            if lower == "authorization"
                && (self.bearer_token.is_some() || self.basic_auth.is_some())
            {
                return Err(format!(
                    "{at}: bearer_token or basic_auth already sets Authorization; keep one"
                ));
            }
        }
        Ok(())
    }

    fn validate_tls(&self, index: usize) -> Result<(), String> {
        let at = |key: &str| format!("remote_write[{index}].{key}");
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(_), None) => {
                return Err(format!(
                    "{}: tls_cert_file is set; give the client certificate's key too",
                    at("tls_key_file")
                ));
            }
            (None, Some(_)) => {
                return Err(format!(
                    "{}: tls_key_file is set; give the client certificate too",
                    at("tls_cert_file")
                ));
            }
            _ => {}
        }
        let files = [
            ("tls_ca_file", &self.tls_ca_file),
            ("tls_cert_file", &self.tls_cert_file),
            ("tls_key_file", &self.tls_key_file),
        ];
        for (key, path) in files {
            if let Some(path) = path {
                readable(path).map_err(|e| format!("{}: {e}", at(key)))?;
            }
        }
        if let Ok(url) = reqwest::Url::parse(&self.url)
            && url.scheme() == "http"
            && (self.tls_ca_file.is_some() || self.tls_cert_file.is_some())
        {
            return Err(format!(
                "{}: TLS files are set but the URL is http://; use https://",
                at("url")
            ));
        }
        Ok(())
    }
}

/// Whether `path` can be opened for reading.
fn readable(path: &Path) -> Result<(), String> {
    std::fs::File::open(path)
        .map(|_| ())
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Parses a size: bytes, or a number with `KiB`, `MiB`, `GiB`, `TiB` (powers of 1024) or
/// `KB`, `MB`, `GB`, `TB` (powers of 1000), or `B`.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a size like 4GiB, 512MiB, 1GB or 1048576 (bytes)");
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let unit: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        _ => return Err(bad()),
    };
    let bytes = (number * unit).round();
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// Serde helper: a size written as an integer (bytes) or a string for [`parse_bytes`].
fn byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct Size;
    impl serde::de::Visitor<'_> for Size {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a size in bytes, or a string like \"4GiB\" or \"512MiB\"")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom(format!("{v} is not a size; give bytes >= 0")))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<u64, E> {
            parse_bytes(v).map_err(E::custom)
        }
    }
    d.deserialize_any(Size)
}

#[cfg(test)]
mod tests;
