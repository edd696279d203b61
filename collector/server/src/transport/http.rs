//! Serving an axum [`Router`] with hyper-util's connection builder (HTTP/1 or cleartext
//! HTTP/2, whichever the client speaks), under the `[server]` transport limits that
//! `axum::serve` does not expose: the header-read timeout, header sizes, HTTP/2 stream and
//! reset limits, and the cap on open connections.
//!
//! Each request carries `axum::extract::ConnectInfo<SocketAddr>` with the client's address.

use super::accept::{Conn, Incoming};
use super::stats::ConnectionLimit;
use crate::config::ServerConfig;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming as Body;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio_stream::StreamExt;

/// The HTTP API's transport settings, from `[server]`.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// `server.http_max_connections`.
    pub max_connections: usize,
    /// `server.http_header_read_timeout`; also the time a new connection has to send its
    /// first request.
    pub header_read_timeout: Duration,
    /// `server.max_header_bytes`.
    pub max_header_bytes: usize,
    /// `server.http2_max_concurrent_streams`.
    pub http2_max_concurrent_streams: u32,
    /// `server.http2_max_pending_accept_reset_streams`.
    pub http2_max_pending_accept_reset_streams: usize,
    /// `server.http2_max_local_error_reset_streams`.
    pub http2_max_local_error_reset_streams: usize,
}

impl HttpSettings {
    /// The settings `[server]` gives.
    pub fn from_config(server: &ServerConfig) -> Self {
        Self {
            max_connections: server.http_max_connections,
            header_read_timeout: server.http_header_read_timeout,
            max_header_bytes: server.max_header_bytes,
            http2_max_concurrent_streams: server.http2_max_concurrent_streams,
            http2_max_pending_accept_reset_streams: server.http2_max_pending_accept_reset_streams,
            http2_max_local_error_reset_streams: server.http2_max_local_error_reset_streams,
        }
    }

    fn builder(&self) -> Builder<TokioExecutor> {
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout)
            // hyper answers 431 to a request line and headers that do not fit its read
            // buffer; bodies stream through it and are limited by the handlers.
            .max_buf_size(self.max_header_bytes.max(super::MIN_HEADER_BYTES));
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(super::HTTP2_KEEPALIVE_INTERVAL)
            .keep_alive_timeout(super::HTTP2_KEEPALIVE_TIMEOUT)
            .max_concurrent_streams(self.http2_max_concurrent_streams)
            .max_pending_accept_reset_streams(self.http2_max_pending_accept_reset_streams)
            .max_local_error_reset_streams(self.http2_max_local_error_reset_streams)
            .max_header_list_size(u32::try_from(self.max_header_bytes).unwrap_or(u32::MAX));
        builder
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, lets each
/// connection finish its requests, and returns once all are closed. Dropping the returned
/// future closes every connection at once.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: HttpSettings,
    shutdown: impl Future<Output = ()>,
) {
    let limit = ConnectionLimit::register(
        "http",
        "server.http_max_connections",
        settings.max_connections,
    );
    serve_within(listener, app, settings, limit, shutdown).await;
}

/// [`serve`] with a given (possibly unregistered) limit.
pub(super) async fn serve_within(
    listener: TcpListener,
    app: Router,
    settings: HttpSettings,
    limit: Arc<ConnectionLimit>,
    shutdown: impl Future<Output = ()>,
) {
    let builder = Arc::new(settings.builder());
    let mut incoming = Incoming::new(listener, limit.clone());
    let (stop, stopping) = watch::channel(false);
    // Aborted when dropped: connections do not outlive the server.
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            next = incoming.next() => {
                // `Incoming` handles accept errors itself and never ends.
                if let Some(Ok(conn)) = next {
                    connections.spawn(connection(
                        conn,
                        app.clone(),
                        builder.clone(),
                        settings.header_read_timeout,
                        limit.clone(),
                        stopping.clone(),
                    ));
                }
            }
        }
    }
    drop(incoming); // closes the listening socket
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
}

/// Serves one connection until it closes, the client is too slow, or shutdown has let its
/// requests finish.
async fn connection(
    conn: Conn,
    app: Router,
    builder: Arc<Builder<TokioExecutor>>,
    first_request_within: Duration,
    limit: Arc<ConnectionLimit>,
    mut stopping: watch::Receiver<bool>,
) {
    let peer = conn.peer();
    let requested = Arc::new(Notify::new());
    let service = PerConnection {
        app,
        peer,
        requested: requested.clone(),
    };
    let mut served = pin!(builder.serve_connection(TokioIo::new(conn), service));
    // hyper's own header-read timeout starts only once it knows the protocol, which takes
    // the client's first bytes: until the first request, this deadline covers both.
    let mut first_deadline = pin!(tokio::time::sleep(first_request_within));
    let mut before_first_request = true;
    let mut shutting_down = false;
    loop {
        tokio::select! {
            result = served.as_mut() => {
                if let Err(e) = result {
                    if e.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_timeout) {
                        limit.timed_out(peer, "request headers not received within server.http_header_read_timeout");
                    } else {
                        tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
                    }
                }
                return;
            }
            () = requested.notified(), if before_first_request => before_first_request = false,
            () = &mut first_deadline, if before_first_request => {
                limit.timed_out(peer, "no request within server.http_header_read_timeout");
                return;
            }
            _ = stopping.changed(), if !shutting_down => {
                shutting_down = true;
                served.as_mut().graceful_shutdown();
            }
        }
    }
}

/// The router, for one connection: each request gets the client's address, and the first
/// one ends the connection's first-request deadline.
#[derive(Clone)]
struct PerConnection {
    app: Router,
    peer: SocketAddr,
    requested: Arc<Notify>,
}

impl hyper::service::Service<hyper::Request<Body>> for PerConnection {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = axum::routing::future::RouteFuture<std::convert::Infallible>;

    fn call(&self, mut request: hyper::Request<Body>) -> Self::Future {
        self.requested.notify_one();
        request.extensions_mut().insert(ConnectInfo(self.peer));
        // A Router is always ready: its poll_ready does nothing.
        tower::Service::call(&mut self.app.clone(), request)
    }
}
