//! Transport limits of the two listeners, so that no client can hold the collector's
//! connections, memory or file descriptors by being slow, silent or noisy:
//!
//! | limit | gRPC (tonic) | HTTP API (hyper-util) |
//! |---|---|---|
//! | open connections (`server.*_max_connections`) | [`Incoming`] | [`Incoming`] |
//! | TLS handshake time (`server.tls_handshake_timeout`) | tonic, per handshake task | no TLS |
//! | silence before HTTP/2 starts | [`Conn`]'s silence limit (60 s; pings keep live connections talking) | the first-request deadline in [`http`] |
//! | request head time (`server.http_header_read_timeout`) | none (HTTP/2 only: see silence) | hyper, and [`http`] until the first request |
//! | header bytes (`server.max_header_bytes`) | HTTP/2 header list | HTTP/1 buffer, HTTP/2 header list |
//! | HTTP/2 streams and reset floods (`server.http2_*`) | yes | yes |
//! | HTTP/2 keepalive pings (20 s, 10 s to answer) | yes | yes |
//!
//! # Layout
//! - This module: [`grpc_server`] (tonic's settings) and [`grpc_incoming`].
//! - [`accept`]: [`Incoming`], connections within a cap, and [`Conn`], one of them.
//! - [`stats`]: [`ConnectionLimit`], the cap and its counters, written as metrics.
//! - [`http`]: serving the HTTP API's router under these limits.
//! - `tests`: the limits against real sockets.

pub mod accept;
pub mod http;
pub mod stats;

pub use accept::{Conn, Incoming};
pub use stats::ConnectionLimit;

use crate::config::Config;
use crate::error::Error;
use std::time::Duration;
use tokio::net::TcpListener;
use tonic::transport::Server;

/// Smallest `server.max_header_bytes`: hyper's smallest HTTP/1 read buffer.
pub const MIN_HEADER_BYTES: usize = 8192;

/// HTTP/2 pings on idle gRPC connections this often, so that agents that vanished are
/// noticed and their connections (and slots) freed.
const HTTP2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);

/// An unanswered ping closes the connection after this long.
const HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// A gRPC connection from which nothing arrives for this long is closed. A live HTTP/2
/// client answers the server's pings (one after [`HTTP2_KEEPALIVE_INTERVAL`] without
/// traffic, answered within [`HTTP2_KEEPALIVE_TIMEOUT`]), so this only closes connections
/// that never started HTTP/2: silent after the TLS handshake, or silent in clear text.
const GRPC_SILENCE_LIMIT: Duration = Duration::from_secs(60);

/// File descriptors the collector needs besides client connections: RocksDB's files, rule
/// files, webhooks, logs. Only used to warn when the open-file limit looks too low.
const OTHER_FILES: u64 = 1024;

/// The gRPC server builder with TLS (when `[tls]` has a certificate) and the `[server]`
/// transport limits; the caller adds layers and services, and serves it on
/// [`grpc_incoming`].
pub fn grpc_server(config: &Config) -> Result<Server, Error> {
    warn_if_few_files(config);
    let server = &config.server;
    let mut builder = Server::builder();
    if let Some(tls) = crate::tls::server_config(&config.tls, server.tls_handshake_timeout)? {
        builder = builder
            .tls_config(tls)
            .map_err(|e| Error::Serve(format!("tls: certificate or key unusable: {e}")))?;
    }
    Ok(builder
        .http2_keepalive_interval(Some(HTTP2_KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(HTTP2_KEEPALIVE_TIMEOUT))
        .max_concurrent_streams(server.http2_max_concurrent_streams)
        .http2_max_pending_accept_reset_streams(Some(server.http2_max_pending_accept_reset_streams))
        .http2_max_local_error_reset_streams(Some(server.http2_max_local_error_reset_streams))
        .http2_max_header_list_size(u32::try_from(server.max_header_bytes).unwrap_or(u32::MAX)))
}

/// The gRPC listener's connections, at most `server.grpc_max_connections` open at once,
/// each closed after 60 s without a byte (see `GRPC_SILENCE_LIMIT`), for tonic's
/// `serve_with_incoming_shutdown`.
pub fn grpc_incoming(listener: TcpListener, config: &Config) -> Incoming {
    let limit = ConnectionLimit::register(
        "grpc",
        "server.grpc_max_connections",
        config.server.grpc_max_connections,
    );
    Incoming::new(listener, limit).with_silence_limit(GRPC_SILENCE_LIMIT)
}

/// Warns when the connection caps cannot all be reached within the process's open-file
/// limit: past it, accepting fails with "too many open files" instead.
fn warn_if_few_files(config: &Config) {
    let Some(limit) = open_file_limit() else {
        return;
    };
    let server = &config.server;
    let http = if server.http_listen.is_some() {
        server.http_max_connections
    } else {
        0
    };
    let needed = (server.grpc_max_connections + http) as u64 + OTHER_FILES;
    if needed > limit {
        tracing::warn!(
            open_file_limit = limit,
            needed,
            "the open-file limit is below server.grpc_max_connections + \
             server.http_max_connections + {OTHER_FILES} for the rest: raise it (systemd \
             LimitNOFILE=, ulimit -n) or lower the caps, or connections past it fail to be \
             accepted"
        );
    }
}

/// The process's soft limit on open files, from `/proc/self/limits` (Linux); None when
/// unknown or unlimited.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_file_limit(&limits)
}

/// The soft "Max open files" value of a `/proc/<pid>/limits` text.
fn parse_open_file_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests;
