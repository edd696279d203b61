//! `[server]`: the gRPC and HTTP listeners, agent tokens, and the HTTP API's query limits.

use super::ConfigError;
use serde::Deserialize;
use std::net::SocketAddr;
use std::time::Duration;

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

impl ServerConfig {
    /// A listener leaves loopback only over TLS (`tls_enabled`, gRPC only) or with
    /// `allow_insecure`; the HTTP API's limits must let a query run.
    pub(super) fn validate(&self, tls_enabled: bool) -> Result<(), ConfigError> {
        if !self.grpc_listen.ip().is_loopback() && !self.allow_insecure && !tls_enabled {
            return Err(ConfigError::at(
                "server.grpc_listen",
                format!(
                    "{} is not a loopback address and TLS is not configured; set tls.cert_file \
                     and tls.key_file, or server.allow_insecure = true (--allow-insecure) to \
                     serve it in clear text",
                    self.grpc_listen
                ),
            ));
        }
        if let Some(http) = self.http_listen
            && !http.ip().is_loopback()
            && !self.allow_insecure
        {
            return Err(ConfigError::at(
                "server.http_listen",
                format!(
                    "{http} is not a loopback address and the HTTP API has no TLS; listen on \
                     127.0.0.1 behind a TLS proxy, or set server.allow_insecure = true \
                     (--allow-insecure) to serve it in clear text"
                ),
            ));
        }
        if self.http_query_timeout.is_zero() {
            return Err(ConfigError::at(
                "server.http_query_timeout",
                "must be positive, like 2m",
            ));
        }
        if self.http_max_concurrent_queries == 0 {
            return Err(ConfigError::at(
                "server.http_max_concurrent_queries",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}
