//! Agent configuration: defaults, then the TOML file, then `VIGIL_AGENT__<SECTION>__<KEY>`
//! environment variables, then command-line flags; then validation. Every setting is
//! documented in `deploy/agent.example.toml`.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Prefix of environment variables that set configuration keys (`VIGIL_AGENT__INTERVAL=5s`,
/// `VIGIL_AGENT__DELIVERY__QUEUE_MAX_BYTES=1048576`).
pub const ENV_PREFIX: &str = "VIGIL_AGENT__";

/// The whole agent configuration. Its `Debug` output shows `token` and `enroll.token` as
/// `<secret>`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Collector URL, `http://host:port` (or `https://` with TLS).
    pub collector: String,
    /// Time between collections (1s to 1h).
    #[serde(with = "vigil_config::duration")]
    pub interval: Duration,
    /// Host name to report; empty means the kernel's host name.
    pub hostname: String,
    /// Labels added to every series of this host, e.g. `{ env = "prod", dc = "fra1" }`.
    pub labels: BTreeMap<String, String>,
    /// Prometheus' `job` label of every series (and of `up`); `"node"` as node_exporter's
    /// usual scrape job.
    pub job: String,
    /// Prometheus' `instance` label of every series; empty means the host name.
    pub instance: String,
    /// Token to present to the collector, when it requires one: sent as `authorization:
    /// Bearer` metadata and in the Hello. Only over `https://` or to a loopback address.
    pub token: String,
    /// Address serving the agent's own `vigil_agent_*` series at `/metrics` for a
    /// Prometheus scraper, e.g. `127.0.0.1:9101`; empty (the default) serves nothing. Flag
    /// `--metrics-listen`.
    pub metrics_listen: String,
    /// `[collect]`.
    pub collect: CollectConfig,
    /// `[delivery]`.
    pub delivery: DeliveryConfig,
    /// `[log]`.
    pub log: LogConfig,
    /// `[tls]`: for an `https://` collector.
    pub tls: TlsConfig,
    /// `[enroll]`: joining with a token, and the identity directory.
    pub enroll: EnrollConfig,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let token = if self.token.is_empty() {
            ""
        } else {
            "<secret>"
        };
        f.debug_struct("Config")
            .field("collector", &self.collector)
            .field("interval", &self.interval)
            .field("hostname", &self.hostname)
            .field("labels", &self.labels)
            .field("job", &self.job)
            .field("instance", &self.instance)
            .field("token", &token)
            .field("metrics_listen", &self.metrics_listen)
            .field("collect", &self.collect)
            .field("delivery", &self.delivery)
            .field("log", &self.log)
            .field("tls", &self.tls)
            .field("enroll", &self.enroll)
            .finish()
    }
}

/// `[tls]`: how to trust the collector and, for mTLS, who this agent is.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM CA certificate that signed the collector's certificate.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (mTLS); its name must be this host's name.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    pub key_file: Option<PathBuf>,
    /// Name to expect in the collector's certificate, when it differs from the URL's host.
    pub server_name: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            collector: "http://127.0.0.1:7070".into(),
            interval: Duration::from_secs(10),
            hostname: String::new(),
            labels: BTreeMap::new(),
            job: "node".to_owned(),
            instance: String::new(),
            token: String::new(),
            metrics_listen: String::new(),
            collect: CollectConfig::default(),
            delivery: DeliveryConfig::default(),
            log: LogConfig::default(),
            tls: TlsConfig::default(),
            enroll: EnrollConfig::default(),
        }
    }
}

/// `[enroll]`: zero-touch enrollment. With a join token the agent makes its own key pair,
/// gets a short-lived client certificate from the collector and renews it (see
/// [`crate::enroll`]). Its `Debug` output shows `token` as `<secret>`.
#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct EnrollConfig {
    /// Join token from `vigil enroll create` (`vjt.<id>.<secret>`); flag `--join`, env
    /// `VIGIL_AGENT__ENROLL__TOKEN`. Only used when there is no valid certificate yet.
    pub token: String,
    /// File holding the join token, read at start (whitespace trimmed); instead of `token`.
    pub token_file: Option<PathBuf>,
    /// The collector CA's fingerprint, `SHA256:<hex>` (`vigil ca show`); flag
    /// `--ca-fingerprint`. Required with a token: the collector is trusted only by it.
    pub ca_fingerprint: String,
    /// Identity directory (key.pem, cert.pem, ca.pem). Unset: `$STATE_DIRECTORY/identity`
    /// under systemd, else `vigil-agent-identity` in the working directory. Flag
    /// `--identity-dir`.
    pub dir: Option<PathBuf>,
}

impl std::fmt::Debug for EnrollConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let token = if self.token.is_empty() {
            ""
        } else {
            "<secret>"
        };
        f.debug_struct("EnrollConfig")
            .field("token", &token)
            .field("token_file", &self.token_file)
            .field("ca_fingerprint", &self.ca_fingerprint)
            .field("dir", &self.dir)
            .finish()
    }
}

impl EnrollConfig {
    /// The identity directory in use: `dir`, else `$STATE_DIRECTORY/identity`, else
    /// `vigil-agent-identity` in the working directory.
    pub fn identity_dir(&self) -> PathBuf {
        self.identity_dir_with(std::env::var_os("STATE_DIRECTORY"))
    }

    fn identity_dir_with(&self, state_directory: Option<std::ffi::OsString>) -> PathBuf {
        match (&self.dir, state_directory) {
            (Some(dir), _) => dir.clone(),
            // systemd passes a colon-separated list when several are set.
            (None, Some(list)) if !list.is_empty() => {
                let list = list.to_string_lossy().into_owned();
                PathBuf::from(list.split(':').next().unwrap_or_default()).join("identity")
            }
            (None, _) => PathBuf::from("vigil-agent-identity"),
        }
    }

    /// Reads `token_file` into `token` (whitespace trimmed), leaving `token_file` unset: call
    /// once flags are applied (`--join` clears `token_file`). Both set is an error.
    pub fn load_token(&mut self) -> Result<(), ConfigError> {
        let Some(path) = self.token_file.take() else {
            return Ok(());
        };
        let bad = |why: String| Err(ConfigError(format!("enroll.token_file: {why}")));
        if !self.token.is_empty() {
            return bad(format!(
                "{} is set, and so is enroll.token (or VIGIL_AGENT__ENROLL__TOKEN): set one",
                path.display()
            ));
        }
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => return bad(format!("cannot read {}: {e}", path.display())),
        };
        self.token = text.trim().to_owned();
        if self.token.is_empty() {
            return bad(format!(
                "{} is empty: it should hold a join token from `vigil enroll create`",
                path.display()
            ));
        }
        Ok(())
    }
}

/// Whether `token` is shaped as a join token: `vjt.<12 hex>.<32 hex>`, lowercase.
fn is_join_token(token: &str) -> bool {
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let mut parts = token.split('.');
    parts.next() == Some("vjt")
        && parts.next().is_some_and(|id| hex(id, 12))
        && parts.next().is_some_and(|secret| hex(secret, 32))
        && parts.next().is_none()
}

/// `[collect]`: where the kernel's trees are, how long a filesystem may take, and which
/// sources run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectConfig {
    /// procfs mount (`/host/proc` when the host's is mounted into a container).
    pub proc_path: PathBuf,
    /// sysfs mount.
    pub sys_path: PathBuf,
    /// Host root filesystem.
    pub rootfs_path: PathBuf,
    /// Longest a filesystem's statvfs may take before it is skipped and counted.
    #[serde(with = "vigil_config::duration")]
    pub statfs_timeout: Duration,
    /// Sources switched off, by name (`crate::collect::SOURCES`), e.g. `["hwmon"]`.
    pub disable: Vec<String>,
    /// Sources that are off by default switched on (`crate::collect::OFF_BY_DEFAULT`),
    /// e.g. `["interrupts"]`.
    pub enable: Vec<String>,
    /// `[collect.processes]`: process groups.
    pub processes: crate::collect::processes::ProcessesConfig,
    /// `[collect.systemd]`: how often `systemctl` runs, and which.
    pub systemd: crate::collect::systemd::SystemdConfig,
}

impl Default for CollectConfig {
    fn default() -> Self {
        Self {
            proc_path: "/proc".into(),
            sys_path: "/sys".into(),
            rootfs_path: "/".into(),
            statfs_timeout: Duration::from_secs(5),
            disable: Vec::new(),
            enable: Vec::new(),
            processes: Default::default(),
            systemd: Default::default(),
        }
    }
}

impl CollectConfig {
    /// Checks that `disable` and `enable` name known sources.
    fn validate(&self) -> Result<(), ConfigError> {
        use crate::collect::SOURCES;
        for (key, list) in [
            ("collect.disable", &self.disable),
            ("collect.enable", &self.enable),
        ] {
            if let Some(unknown) = list.iter().find(|n| !SOURCES.contains(&n.as_str())) {
                return Err(ConfigError(format!(
                    "{key}: {unknown:?} is not a source; the sources are {}",
                    SOURCES.join(", ")
                )));
            }
        }
        self.processes.validate().map_err(ConfigError)?;
        self.systemd.validate().map_err(ConfigError)?;
        Ok(())
    }
}

/// `[delivery]`: queueing and reconnecting.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Most memory the rounds not yet on disk may use (all rounds, when there is no spool
    /// directory or it cannot be written); past it the oldest are dropped (and counted).
    /// 8 MiB holds about three hours of a typical host at 10 s.
    pub queue_max_bytes: usize,
    /// Directory of the disk spool, which keeps every round until the collector
    /// acknowledges it, across restarts and `kill -9`. Unset: `$STATE_DIRECTORY/spool`
    /// under systemd, else `vigil-agent-spool` in the working directory. Set to `""` to
    /// keep rounds in memory only (a restart then loses the backlog; the agent says so).
    pub spool_dir: Option<PathBuf>,
    /// Most bytes the spool's files may hold; past it the oldest rounds are dropped (and
    /// counted). 256 MiB holds about ten days of a typical host at 10 s.
    pub spool_max_bytes: u64,
    /// How often spooled rounds are flushed to stable storage (fdatasync): a power loss
    /// loses at most this much; `0s` syncs every round. A `kill -9` loses nothing written.
    #[serde(with = "vigil_config::duration")]
    pub spool_sync: Duration,
    /// Most batches sent and not yet acknowledged.
    pub max_in_flight: usize,
    /// First reconnect delay; doubles per failure up to `backoff_max`, with jitter.
    #[serde(with = "vigil_config::duration")]
    pub backoff_initial: Duration,
    /// Longest reconnect delay.
    #[serde(with = "vigil_config::duration")]
    pub backoff_max: Duration,
    /// Longest wait for a TCP/TLS connection.
    #[serde(with = "vigil_config::duration")]
    pub connect_timeout: Duration,
    /// Longest wait for an acknowledgement before the stream is judged dead and reopened.
    #[serde(with = "vigil_config::duration")]
    pub ack_timeout: Duration,
    /// gRPC compression of batches: `none` (the default: a collector of protocol 2 or later
    /// gets packed scrapes, under a byte a sample, which gzip only makes larger) or `gzip`
    /// (about half the bytes to an older collector, which gets plain scrapes).
    pub compression: Compression,
}

impl DeliveryConfig {
    /// The spool directory in use: the configured one, else `$STATE_DIRECTORY/spool` (set
    /// by systemd's `StateDirectory=`), else `vigil-agent-spool` in the working directory;
    /// `None` when `spool_dir = ""` asks for memory only.
    pub fn spool_path(&self) -> Option<PathBuf> {
        self.spool_path_with(std::env::var_os("STATE_DIRECTORY"))
    }

    fn spool_path_with(&self, state_directory: Option<std::ffi::OsString>) -> Option<PathBuf> {
        match &self.spool_dir {
            Some(dir) if dir.as_os_str().is_empty() => None,
            Some(dir) => Some(dir.clone()),
            None => Some(match state_directory {
                // systemd passes a colon-separated list when several are set.
                Some(list) if !list.is_empty() => {
                    let list = list.to_string_lossy().into_owned();
                    PathBuf::from(list.split(':').next().unwrap_or_default()).join("spool")
                }
                _ => PathBuf::from("vigil-agent-spool"),
            }),
        }
    }
}

/// Compression of the agent's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// gzip every message.
    Gzip,
    /// Send messages as they are.
    None,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            queue_max_bytes: 8 << 20,
            spool_dir: None,
            spool_max_bytes: 256 << 20,
            spool_sync: Duration::from_secs(1),
            max_in_flight: 32,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            ack_timeout: Duration::from_secs(30),
            compression: Compression::None,
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter such as `info` or `debug`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

/// A configuration that could not be used; names the key and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Defaults, then `file` (if any), then the environment `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        vigil_config::load(file, ENV_PREFIX, env).map_err(ConfigError)
    }

    /// Checks settings that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: String| Err(ConfigError(format!("{key}: {why}")));
        if !(self.collector.starts_with("http://") || self.collector.starts_with("https://")) {
            return bad(
                "collector",
                format!(
                    "{:?} must be a URL like http://collector.example:7070",
                    self.collector
                ),
            );
        }
        let https = self.collector.starts_with("https://");
        // An https:// collector without tls.ca_file needs an enrolled identity: whether
        // there is one is known at start (crate::enroll::plan), not here.
        let any_tls = self.tls.ca_file.is_some()
            || self.tls.cert_file.is_some()
            || self.tls.key_file.is_some();
        if any_tls && !https {
            return bad(
                "collector",
                format!(
                    "{:?} must be an https:// URL when [tls] is set",
                    self.collector
                ),
            );
        }
        if !self.token.is_empty() {
            if crate::stream::bearer(&self.token).is_none() {
                return bad(
                    "token",
                    "has a character a gRPC header cannot carry; it must be printable ASCII \
                     without spaces at its ends"
                        .into(),
                );
            }
            if !https && !is_loopback_url(&self.collector) {
                return bad(
                    "collector",
                    format!(
                        "{:?} is clear text to an address that is not loopback, and token is \
                         set: the token would cross the network unencrypted; use an https:// \
                         URL (with tls.ca_file), or a loopback address",
                        self.collector
                    ),
                );
            }
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            return bad(
                "tls.key_file",
                "tls.cert_file and tls.key_file go together".into(),
            );
        }
        self.validate_enroll(https)?;
        if self.interval < Duration::from_secs(1) || self.interval > Duration::from_secs(3600) {
            return bad(
                "interval",
                format!("{:?} must be between 1s and 1h", self.interval),
            );
        }
        for (key, value) in [("job", &self.job), ("instance", &self.instance)] {
            if self.labels.contains_key(key) {
                return bad(
                    &format!("labels.{key}"),
                    format!("set the `{key}` key instead of labels.{key}"),
                );
            }
            if value.len() > 1024 || value.chars().any(char::is_control) {
                return bad(
                    key,
                    "must be at most 1024 bytes, without control characters".into(),
                );
            }
        }
        if self.job.is_empty() {
            return bad(
                "job",
                "must not be empty (node_exporter's is \"node\")".into(),
            );
        }
        for (name, value) in &self.labels {
            let valid = !name.is_empty()
                && !name.starts_with("__")
                && name != "host"
                && name.bytes().enumerate().all(|(i, b)| {
                    b.is_ascii_alphabetic() || b == b'_' || (i > 0 && b.is_ascii_digit())
                });
            if !valid {
                return bad(
                    &format!("labels.{name}"),
                    "label names must match [a-zA-Z_][a-zA-Z0-9_]*, not start with __ and not be \"host\"".into(),
                );
            }
            if value.len() > 1024 {
                return bad(
                    &format!("labels.{name}"),
                    "value is longer than 1024 bytes".into(),
                );
            }
        }
        self.collect.validate()?;
        if !self.metrics_listen.is_empty() {
            crate::metrics_listen::parse_addr(&self.metrics_listen).map_err(ConfigError)?;
        }
        if self.delivery.queue_max_bytes < 64 << 10 {
            return bad("delivery.queue_max_bytes", "must be at least 65536".into());
        }
        if self.delivery.spool_max_bytes < 64 << 10 {
            return bad("delivery.spool_max_bytes", "must be at least 65536".into());
        }
        if self.delivery.spool_sync > Duration::from_secs(3600) {
            return bad(
                "delivery.spool_sync",
                format!("{:?} must be at most 1h", self.delivery.spool_sync),
            );
        }
        if self.delivery.max_in_flight == 0 {
            return bad("delivery.max_in_flight", "must be at least 1".into());
        }
        if self.delivery.backoff_initial.is_zero()
            || self.delivery.backoff_max < self.delivery.backoff_initial
        {
            return bad(
                "delivery.backoff_max",
                "must be at least delivery.backoff_initial, which must be above 0".into(),
            );
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return bad(
                "log.format",
                format!("{:?} must be text or json", self.log.format),
            );
        }
        Ok(())
    }
}

impl Config {
    fn validate_enroll(&self, https: bool) -> Result<(), ConfigError> {
        let bad = |key: &str, why: String| Err(ConfigError(format!("{key}: {why}")));
        let e = &self.enroll;
        if !e.ca_fingerprint.is_empty()
            && let Err(why) = vigil_proto::pin::parse(&e.ca_fingerprint)
        {
            return bad("enroll.ca_fingerprint", why);
        }
        if e.token.is_empty() {
            return Ok(());
        }
        if !is_join_token(&e.token) {
            return bad(
                "enroll.token",
                "is not a join token: expected vjt.<12 hex>.<32 hex>, as `vigil enroll create` \
                 prints it (from --join, enroll.token, VIGIL_AGENT__ENROLL__TOKEN or \
                 enroll.token_file)"
                    .into(),
            );
        }
        if !https {
            return bad(
                "collector",
                format!(
                    "{:?} must be an https:// URL to join with a token (--join / enroll.token): \
                     the agent trusts the collector by its CA's fingerprint over TLS",
                    self.collector
                ),
            );
        }
        if e.ca_fingerprint.is_empty() {
            return bad(
                "enroll.ca_fingerprint",
                "is required with a join token (--join / enroll.token): the fingerprint of the \
                 collector's CA, SHA256:..., as `vigil ca init` and `vigil ca show` print it; \
                 flag --ca-fingerprint"
                    .into(),
            );
        }
        if self.tls.cert_file.is_some() || self.tls.key_file.is_some() {
            return bad(
                "tls.cert_file",
                "cannot be set with a join token (--join / enroll.token): an enrolled agent \
                 gets its certificate from the collector; remove tls.cert_file and \
                 tls.key_file, or the token"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Whether `url`'s host is `localhost` or a loopback address (`127.0.0.0/8`, `::1`).
fn is_loopback_url(url: &str) -> bool {
    let Ok(uri) = url.parse::<tonic::transport::Uri>() else {
        return false;
    };
    let host = uri.host().unwrap_or_default();
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

#[cfg(test)]
mod tests;
