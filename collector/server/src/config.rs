//! Collector configuration: defaults, then the TOML file, then environment variables, then
//! command-line flags; then validation. Every setting is documented in
//! `deploy/collector.example.toml`.
//!
//! Any key can be set from the environment as `VIGIL_COLLECTOR__<SECTION>__<KEY>` (for
//! example `VIGIL_COLLECTOR__LIMITS__MAX_SERIES_PER_HOST=50000`); the value is read as a TOML
//! value when it parses as one, else as a string.

use crate::limits::Limits;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Prefix of environment variables that set configuration keys.
pub const ENV_PREFIX: &str = "VIGIL_COLLECTOR__";

/// The whole collector configuration.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[server]`: where to listen.
    pub server: ServerConfig,
    /// `[storage]`: where and how to store.
    pub storage: StorageConfig,
    /// `[limits]`: what agents and queries may do.
    pub limits: Limits,
    /// `[hosts]`: when a host counts as down.
    pub hosts: HostsConfig,
    /// `[log]`: logging.
    pub log: LogConfig,
    /// `[tls]`: TLS for the gRPC listener, and client certificates for agents (mTLS).
    pub tls: TlsConfig,
    /// `[rules]`: rule files and how often they are evaluated.
    pub rules: RulesConfig,
    /// `[notify]`: receivers, routing, inhibition and delivery of notifications.
    pub notify: crate::notify::config::NotifyConfig,
}

/// `[rules]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Rule files (Prometheus's format plus Vigil's extensions); globs such as
    /// `/etc/vigil/rules/*.yml` are allowed. Relative paths are relative to the working
    /// directory. Re-read on SIGHUP and `vigil rules reload`.
    pub files: Vec<PathBuf>,
    /// How often a group is evaluated when it does not set its own `interval`.
    #[serde(with = "vigil_config::duration")]
    pub evaluation_interval: Duration,
    /// The built-in `HostDown` alert fires for a host silent this long ("0s" turns it off).
    #[serde(with = "vigil_config::duration")]
    pub host_down_after: Duration,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            files: Vec::new(),
            evaluation_interval: Duration::from_secs(60),
            host_down_after: Duration::from_secs(120),
        }
    }
}

/// `[tls]`. TLS is on when `cert_file` is set.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain the collector presents.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of that certificate.
    pub key_file: Option<PathBuf>,
    /// PEM CA that signs agent certificates. When set, every agent must present a
    /// certificate from it, and the certificate's name (CN, else first DNS name) is the
    /// agent's host: an agent can only write its own host's series.
    pub client_ca_file: Option<PathBuf>,
}

impl TlsConfig {
    /// Whether the listener speaks TLS.
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some()
    }
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address of the gRPC listener (agents' Ingest and the CLI's Query service).
    pub grpc_listen: SocketAddr,
    /// Listen on a non-loopback address without TLS. Off by default: metrics and the query
    /// API would be open to the network in clear text.
    pub allow_insecure: bool,
    /// Tokens agents may present in their Hello; empty means no token is required.
    pub agent_tokens: Vec<String>,
    /// Address of the Prometheus-compatible HTTP API (`/api/v1/query`, …); off when unset.
    /// It has no TLS of its own, so a non-loopback address needs `allow_insecure`.
    pub http_listen: Option<SocketAddr>,
    /// Longest an HTTP API query may run; a request's `timeout` parameter may only shorten it.
    #[serde(with = "vigil_config::duration")]
    pub http_query_timeout: Duration,
    /// HTTP API queries evaluated at once; more wait for a slot within their timeout.
    pub http_max_concurrent_queries: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            grpc_listen: SocketAddr::from(([127, 0, 0, 1], 7070)),
            allow_insecure: false,
            agent_tokens: Vec::new(),
            http_listen: None,
            http_query_timeout: Duration::from_secs(120),
            http_max_concurrent_queries: 20,
        }
    }
}

/// `[storage]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Data directory (RocksDB).
    pub data_dir: PathBuf,
    /// fsync before acknowledging; off survives `kill -9` of the collector but not power loss.
    pub sync: bool,
    /// Time window of one compressed block per series. Fixed when a data directory is
    /// created (a later change is logged and ignored for that directory).
    #[serde(with = "vigil_config::duration")]
    pub block_duration: Duration,
    /// How often closed windows are looked for and compacted into blocks.
    #[serde(with = "vigil_config::duration")]
    pub compaction_interval: Duration,
    /// How long samples are kept ("0s": forever).
    #[serde(with = "vigil_config::duration")]
    pub retention: Duration,
    /// How long the 5-minute downsampled tier is kept ("0s": forever); at least as long
    /// as `retention`. Queries read it where raw samples have expired; tiers are built
    /// only when `retention` is set.
    #[serde(with = "vigil_config::duration")]
    pub retention_5m: Duration,
    /// How long the 1-hour downsampled tier is kept ("0s": forever); at least as long as
    /// `retention` and `retention_5m`.
    #[serde(with = "vigil_config::duration")]
    pub retention_1h: Duration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./vigil-data"),
            sync: true,
            block_duration: Duration::from_secs(2 * 3600),
            compaction_interval: Duration::from_secs(60),
            retention: Duration::ZERO,
            retention_5m: Duration::ZERO,
            retention_1h: Duration::ZERO,
        }
    }
}

/// `[hosts]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostsConfig {
    /// A connected host that has sent nothing for this long (or three of its intervals,
    /// whichever is longer) is shown as down.
    #[serde(with = "vigil_config::duration")]
    pub down_after: Duration,
}

impl Default for HostsConfig {
    fn default() -> Self {
        Self {
            down_after: Duration::from_secs(30),
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `vigil_collector=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// A configuration that could not be used; names the key and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Defaults, then `file` (if any), then the environment `env` (pairs of name and value).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError(format!("cannot read config file {}: {e}", path.display()))
                })?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))?
            }
            None => toml::Table::new(),
        };
        let from_env =
            vigil_config::overlay_env(&mut table, ENV_PREFIX, env).map_err(|e| ConfigError(e.0))?;
        let config: Config = table.try_into().map_err(|e: toml::de::Error| {
            let origin = match (file, from_env) {
                (Some(p), _) => format!("config file {}", p.display()),
                (None, true) => "environment".to_owned(),
                (None, false) => "configuration".to_owned(),
            };
            ConfigError(format!("{origin}: {}", e.message()))
        })?;
        Ok(config)
    }

    /// Checks settings that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: String| Err(ConfigError(format!("{key}: {why}")));
        match (&self.tls.cert_file, &self.tls.key_file) {
            (Some(_), None) => {
                return bad("tls.key_file", "must be set when tls.cert_file is".into());
            }
            (None, Some(_)) => {
                return bad("tls.cert_file", "must be set when tls.key_file is".into());
            }
            _ => {}
        }
        if self.tls.client_ca_file.is_some() && !self.tls.enabled() {
            return bad(
                "tls.client_ca_file",
                "needs tls.cert_file and tls.key_file: client certificates only work over TLS"
                    .into(),
            );
        }
        if !self.server.grpc_listen.ip().is_loopback()
            && !self.server.allow_insecure
            && !self.tls.enabled()
        {
            return bad(
                "server.grpc_listen",
                format!(
                    "{} is not a loopback address and TLS is not configured; set tls.cert_file \
                     and tls.key_file, or server.allow_insecure = true (--allow-insecure) to \
                     serve it in clear text",
                    self.server.grpc_listen
                ),
            );
        }
        if let Some(http) = self.server.http_listen
            && !http.ip().is_loopback()
            && !self.server.allow_insecure
        {
            return bad(
                "server.http_listen",
                format!(
                    "{http} is not a loopback address and the HTTP API has no TLS; listen on \
                     127.0.0.1 behind a TLS proxy, or set server.allow_insecure = true \
                     (--allow-insecure) to serve it in clear text"
                ),
            );
        }
        if self.server.http_query_timeout.is_zero() {
            return bad(
                "server.http_query_timeout",
                "must be positive, like 2m".into(),
            );
        }
        if self.server.http_max_concurrent_queries == 0 {
            return bad(
                "server.http_max_concurrent_queries",
                "must be at least 1".into(),
            );
        }
        if self.limits.max_message_bytes < 64 << 10 {
            return bad("limits.max_message_bytes", "must be at least 65536".into());
        }
        if self.limits.max_series_per_host == 0 {
            return bad("limits.max_series_per_host", "must be at least 1".into());
        }
        if self.limits.max_labels_per_series < 2 {
            return bad(
                "limits.max_labels_per_series",
                "must be at least 2 (name and host)".into(),
            );
        }
        if self.rules.evaluation_interval < Duration::from_secs(1) {
            return bad(
                "rules.evaluation_interval",
                "must be at least 1s, like 1m".into(),
            );
        }
        if self.rules.files.iter().any(|f| f.as_os_str().is_empty()) {
            return bad(
                "rules.files",
                "an entry is empty; give a path or a glob".into(),
            );
        }
        if self.storage.data_dir.as_os_str().is_empty() {
            return bad("storage.data_dir", "must not be empty".into());
        }
        if self.storage.block_duration < Duration::from_secs(1)
            || self.storage.block_duration > Duration::from_secs(7 * 86_400)
        {
            return bad(
                "storage.block_duration",
                "must be between 1s and 7d, like 2h".into(),
            );
        }
        if self.storage.compaction_interval < Duration::from_millis(100) {
            return bad(
                "storage.compaction_interval",
                "must be at least 100ms, like 1m".into(),
            );
        }
        if !self.storage.retention.is_zero() && self.storage.retention < self.storage.block_duration
        {
            return bad(
                "storage.retention",
                "must be 0s (keep forever) or at least storage.block_duration, like 90d".into(),
            );
        }
        // A coarser tier must outlive every finer one (0s: forever, the longest).
        let kept = |d: Duration| if d.is_zero() { Duration::MAX } else { d };
        let s = &self.storage;
        for (key, value, finer) in [
            (
                "storage.retention_5m",
                s.retention_5m,
                vec![("storage.retention", s.retention)],
            ),
            (
                "storage.retention_1h",
                s.retention_1h,
                vec![
                    ("storage.retention", s.retention),
                    ("storage.retention_5m", s.retention_5m),
                ],
            ),
        ] {
            for (finer_key, finer_value) in finer {
                if kept(value) < kept(finer_value) {
                    return bad(
                        key,
                        format!(
                            "must be at least {finer_key} ({}), or 0s to keep it forever",
                            if finer_value.is_zero() {
                                "0s, forever".to_owned()
                            } else {
                                humantime::format_duration(finer_value).to_string()
                            }
                        ),
                    );
                }
            }
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return bad(
                "log.level",
                format!("{:?} is not a valid filter: {e}", self.log.level),
            );
        }
        self.notify.validate().map_err(ConfigError)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn defaults_then_file_then_env() {
        let f = file("[storage]\ndata_dir = \"/tmp/x\"\n[limits]\nmax_series_per_host = 5\n");
        let env = vec![
            (
                "VIGIL_COLLECTOR__LIMITS__MAX_SERIES_PER_HOST".to_owned(),
                "7".to_owned(),
            ),
            (
                "VIGIL_COLLECTOR__HOSTS__DOWN_AFTER".to_owned(),
                "2m".to_owned(),
            ),
            ("UNRELATED".to_owned(), "1".to_owned()),
        ];
        let c = Config::load(Some(f.path()), env).unwrap();
        assert_eq!(c.storage.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.limits.max_series_per_host, 7);
        assert_eq!(c.hosts.down_after, Duration::from_secs(120));
        assert_eq!(c.server.grpc_listen.port(), 7070);
        assert_eq!(c.server.http_listen, None);
        assert_eq!(c.rules.evaluation_interval, Duration::from_secs(60));
        assert_eq!(c.rules.host_down_after, Duration::from_secs(120));
        c.validate().unwrap();
        let env = vec![
            (
                "VIGIL_COLLECTOR__RULES__FILES".to_owned(),
                r#"["/etc/vigil/rules/*.yml", "extra.yml"]"#.to_owned(),
            ),
            (
                "VIGIL_COLLECTOR__RULES__EVALUATION_INTERVAL".to_owned(),
                "15s".to_owned(),
            ),
            (
                "VIGIL_COLLECTOR__RULES__HOST_DOWN_AFTER".to_owned(),
                "0s".to_owned(),
            ),
        ];
        let c = Config::load(None, env).unwrap();
        assert_eq!(
            c.rules.files,
            vec![
                PathBuf::from("/etc/vigil/rules/*.yml"),
                PathBuf::from("extra.yml")
            ]
        );
        assert_eq!(c.rules.evaluation_interval, Duration::from_secs(15));
        assert_eq!(c.rules.host_down_after, Duration::ZERO);
        c.validate().unwrap();
        let mut bad = c.clone();
        bad.rules.evaluation_interval = Duration::from_millis(10);
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.starts_with("rules.evaluation_interval"), "{e}");
        let env = vec![
            (
                "VIGIL_COLLECTOR__SERVER__HTTP_LISTEN".to_owned(),
                "127.0.0.1:9090".to_owned(),
            ),
            (
                "VIGIL_COLLECTOR__SERVER__HTTP_QUERY_TIMEOUT".to_owned(),
                "30s".to_owned(),
            ),
        ];
        let c = Config::load(None, env).unwrap();
        assert_eq!(
            c.server.http_listen,
            Some("127.0.0.1:9090".parse().unwrap())
        );
        assert_eq!(c.server.http_query_timeout, Duration::from_secs(30));
    }

    #[test]
    fn coarser_tiers_must_outlive_finer_ones() {
        let mut c = Config::default();
        c.storage.retention = Duration::from_secs(30 * 86_400);
        c.storage.retention_5m = Duration::from_secs(90 * 86_400);
        c.storage.retention_1h = Duration::ZERO;
        c.validate().unwrap();
        c.storage.retention_1h = Duration::from_secs(60 * 86_400);
        let e = c.validate().unwrap_err().to_string();
        assert!(e.starts_with("storage.retention_1h"), "{e}");
        assert!(e.contains("storage.retention_5m"), "{e}");
        c.storage.retention_1h = Duration::ZERO;
        c.storage.retention = Duration::ZERO;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.starts_with("storage.retention_5m"), "{e}");
        assert!(e.contains("forever"), "{e}");
    }

    #[test]
    fn example_config_loads_with_the_defaults() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/collector.example.toml");
        let c = Config::load(Some(&path), vec![]).unwrap();
        c.validate().unwrap();
        let d = Config::default();
        assert_eq!(c.server.http_listen, d.server.http_listen);
        assert_eq!(c.server.http_query_timeout, d.server.http_query_timeout);
        assert_eq!(
            c.server.http_max_concurrent_queries,
            d.server.http_max_concurrent_queries
        );
        assert_eq!(c.rules.files, d.rules.files);
        assert_eq!(c.rules.evaluation_interval, d.rules.evaluation_interval);
        assert_eq!(c.rules.host_down_after, d.rules.host_down_after);
    }

    #[test]
    fn example_notify_block_is_valid_once_uncommented() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/collector.example.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let start = text.find("# --- notify example ---").unwrap();
        let end = text.find("# --- end of notify example ---").unwrap();
        let block: String = text[start..end]
            .lines()
            .skip(1)
            .map(|l| l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#')))
            .collect::<Vec<_>>()
            .join("\n");
        // Secrets are only named here (files and variables need not exist): the notifier
        // reads them at start.
        let f = file(&block);
        let c = Config::load(Some(f.path()), vec![]).unwrap();
        c.validate().unwrap();
        assert_eq!(c.notify.receivers.len(), 3);
        assert_eq!(c.notify.inhibit_rules.len(), 1);
    }

    #[test]
    fn errors_name_the_key() {
        let f = file("[server]\ngrpc_lisen = \"127.0.0.1:1\"\n");
        let e = Config::load(Some(f.path()), vec![])
            .unwrap_err()
            .to_string();
        assert!(e.contains("grpc_lisen"), "{e}");
        let f = file("[limits]\nmax_series_per_host = \"lots\"\n");
        let e = Config::load(Some(f.path()), vec![])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("max_series_per_host") || e.contains("invalid type"),
            "{e}"
        );
        let f = file("[hosts]\ndown_after = \"soon\"\n");
        let e = Config::load(Some(f.path()), vec![])
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"soon\" is not a duration"), "{e}");
        let mut c = Config::default();
        c.server.grpc_listen = "0.0.0.0:7070".parse().unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.starts_with("server.grpc_listen"), "{e}");
        c.server.allow_insecure = true;
        c.validate().unwrap();
        c.server.allow_insecure = false;
        c.tls.cert_file = Some("/etc/vigil/collector.pem".into());
        let e = c.validate().unwrap_err().to_string();
        assert!(e.starts_with("tls.key_file"), "{e}");
        c.tls.key_file = Some("/etc/vigil/collector.key".into());
        c.validate()
            .expect("TLS makes a non-loopback listener acceptable");
        let mut c = Config::default();
        c.server.http_listen = Some("0.0.0.0:9090".parse().unwrap());
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.starts_with("server.http_listen") && e.contains("0.0.0.0:9090"),
            "{e}"
        );
        c.tls.cert_file = Some("/etc/vigil/collector.pem".into());
        c.tls.key_file = Some("/etc/vigil/collector.key".into());
        assert!(
            c.validate().is_err(),
            "gRPC TLS does not cover the HTTP API"
        );
        c.server.allow_insecure = true;
        c.validate().unwrap();
        let mut c = Config::default();
        c.tls.client_ca_file = Some("/etc/vigil/ca.pem".into());
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .starts_with("tls.client_ca_file")
        );
    }
}
