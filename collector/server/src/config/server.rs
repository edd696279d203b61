//! `[server]`: the gRPC and HTTP listeners, agent tokens, the HTTP API's query limits, and
//! the listeners' transport limits (applied by [`crate::transport`]).

use super::ConfigError;
use crate::transport::MIN_HEADER_BYTES;
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
    /// Connections the gRPC listener keeps open at once; one more is closed as soon as it
    /// is accepted (logged, counted). 20,000 leaves room for 10,000 agents (one connection
    /// each) reconnecting while their old connections are still being noticed as gone, and
    /// for CLI users; each costs a file descriptor, so keep it under the process's open-file
    /// limit (the systemd unit sets `LimitNOFILE=65536`).
    pub grpc_max_connections: usize,
    /// Connections the HTTP API keeps open at once; more are closed as soon as accepted.
    /// 1,024 is far above what Grafana, promtool and scripts keep open, and leaves the
    /// open-file limit to the gRPC listener.
    pub http_max_connections: usize,
    /// Longest a TLS handshake on the gRPC listener may take before the connection is
    /// closed, so silent or trickling clients cannot hold connections. 30 s: a handshake
    /// takes milliseconds, but after a collector restart thousands of agents handshake at
    /// once and queue for CPU.
    #[serde(with = "vigil_config::duration")]
    pub tls_handshake_timeout: Duration,
    /// Longest an HTTP API client may take to send a request's line and headers (slowloris),
    /// counted from the connection's start or from the end of the previous response; it
    /// also closes kept-alive HTTP/1 connections idle that long. 10 s: a real client sends
    /// them in one packet, and reconnecting is cheap.
    #[serde(with = "vigil_config::duration")]
    pub http_header_read_timeout: Duration,
    /// Largest request head accepted, in bytes: HTTP/2's header list (both listeners) and
    /// HTTP/1's request line and headers (HTTP API, answered 431). 64 KiB holds a long
    /// PromQL query in a GET URL and any gRPC metadata; at least 8192.
    pub max_header_bytes: usize,
    /// HTTP/2 streams (requests) one connection may have open at once, on both listeners.
    /// 100, the least RFC 9113 advises: an agent uses one, the CLI and Grafana a handful;
    /// query concurrency is capped separately.
    pub http2_max_concurrent_streams: u32,
    /// HTTP/2 streams a client may open and reset before the server accepts them, at once,
    /// on both listeners; past it the connection is closed ("rapid reset", CVE-2023-44487).
    /// 20, the h2 library's own default.
    pub http2_max_pending_accept_reset_streams: usize,
    /// HTTP/2 streams the server may reset for protocol errors on one connection before it
    /// closes the connection (the reset flood of RUSTSEC-2024-0003), on both listeners. 1024,
    /// hyper's default, which tonic otherwise turns off.
    pub http2_max_local_error_reset_streams: usize,
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
            grpc_max_connections: 20_000,
            http_max_connections: 1024,
            tls_handshake_timeout: Duration::from_secs(30),
            http_header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 64 << 10,
            http2_max_concurrent_streams: 100,
            http2_max_pending_accept_reset_streams: 20,
            http2_max_local_error_reset_streams: 1024,
        }
    }
}

impl ServerConfig {
    /// A listener leaves loopback only over TLS (`tls_enabled`, gRPC only) or with
    /// `allow_insecure`; the HTTP API's limits must let a query run.
    pub(super) fn validate(&self, tls_enabled: bool) -> Result<(), ConfigError> {
        self.validate_transport()?;
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

impl ServerConfig {
    /// The transport limits: each must let a connection work at all.
    fn validate_transport(&self) -> Result<(), ConfigError> {
        let at_least_one = [
            ("server.grpc_max_connections", self.grpc_max_connections),
            ("server.http_max_connections", self.http_max_connections),
            (
                "server.http2_max_concurrent_streams",
                self.http2_max_concurrent_streams as usize,
            ),
            (
                "server.http2_max_pending_accept_reset_streams",
                self.http2_max_pending_accept_reset_streams,
            ),
            (
                "server.http2_max_local_error_reset_streams",
                self.http2_max_local_error_reset_streams,
            ),
        ];
        for (key, value) in at_least_one {
            if value == 0 {
                return Err(ConfigError::at(key, "must be at least 1"));
            }
        }
        for (key, value) in [
            ("server.tls_handshake_timeout", self.tls_handshake_timeout),
            (
                "server.http_header_read_timeout",
                self.http_header_read_timeout,
            ),
        ] {
            if value.is_zero() {
                return Err(ConfigError::at(key, "must be positive, like 10s"));
            }
        }
        // hyper's HTTP/1 read buffer may not be smaller than 8 KiB; HTTP/2 takes a u32.
        if !(MIN_HEADER_BYTES..=u32::MAX as usize).contains(&self.max_header_bytes) {
            return Err(ConfigError::at(
                "server.max_header_bytes",
                format!(
                    "{} is out of range: give a size in bytes from {MIN_HEADER_BYTES} to {}, \
                     like 65536",
                    self.max_header_bytes,
                    u32::MAX
                ),
            ));
        }
        Ok(())
    }
}
