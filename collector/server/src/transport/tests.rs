//! The transport limits against real loopback sockets, and their configuration keys.
//!
//! Clients are plain blocking sockets on blocking threads; their read timeouts only keep a
//! broken test from hanging, nothing asserts how long anything took.

#![allow(clippy::unwrap_used)]

use super::http::{HttpSettings, serve_within};
use super::*;
use axum::routing::get;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use tokio::sync::{Notify, oneshot};
use tokio_stream::StreamExt;

/// Longest a client here waits for an answer before the test fails.
const PATIENCE: Duration = Duration::from_secs(30);

fn settings() -> HttpSettings {
    HttpSettings::from_config(&crate::config::ServerConfig::default())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s
}

/// Reads until the server closes the connection; what it sent first. Panics if it stays
/// open past [`PATIENCE`].
fn read_until_closed(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server kept the connection open ({e}); got {got:?}"),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// One HTTP/1.1 GET on a kept-alive connection; the status line.
fn get_status(s: &mut TcpStream, path: &str) -> String {
    write!(s, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    // The routes answer "ok" with a content-length, so the whole answer ends in "ok".
    while !got.ends_with(b"ok") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed before answering: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    text.lines().next().unwrap().to_owned()
}

/// One read from the server's side of a connection: how many bytes came.
async fn read_some(conn: &mut Conn) -> std::io::Result<usize> {
    let mut buf = [0u8; 64];
    std::future::poll_fn(|cx| {
        let mut read = tokio::io::ReadBuf::new(&mut buf);
        let pinned = std::pin::Pin::new(&mut *conn);
        std::task::ready!(tokio::io::AsyncRead::poll_read(pinned, cx, &mut read))?;
        std::task::Poll::Ready(Ok(read.filled().len()))
    })
    .await
}

/// A running test server.
struct TestServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    /// Notified when a `/slow` request has started.
    slow_started: Arc<Notify>,
}

/// An API with `/` (answers "ok") and `/slow` (says it started, waits a little, answers
/// "ok").
async fn start_http(settings: HttpSettings, limit: Arc<ConnectionLimit>) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let slow_started = Arc::new(Notify::new());
    let started = slow_started.clone();
    let app = axum::Router::new()
        .route("/", get(|| async { "ok" }))
        .route(
            "/slow",
            get(move || async move {
                started.notify_one();
                tokio::time::sleep(Duration::from_millis(300)).await;
                "ok"
            }),
        );
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_within(listener, app, settings, limit, async move {
        let _ = stopped.await;
    }));
    TestServer {
        addr,
        stop,
        task,
        slow_started,
    }
}

#[test]
fn the_open_file_limit_is_read_from_proc() {
    let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                Max cpu time              unlimited            unlimited            seconds   \n\
                Max open files            1024                 524288               files     \n";
    assert_eq!(parse_open_file_limit(text), Some(1024));
    let unlimited = "Max open files            unlimited            unlimited            files\n";
    assert_eq!(parse_open_file_limit(unlimited), None);
    assert_eq!(parse_open_file_limit(""), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_past_the_cap_is_closed_and_counted_while_others_work() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limit = ConnectionLimit::new("test", "test.max", 1);
    let mut incoming = Incoming::new(listener, limit.clone());

    let mut first = blocking(move || connect(addr)).await;
    let held = incoming.next().await.unwrap().unwrap();
    assert_eq!(limit.open(), 1);
    let info = tonic::transport::server::Connected::connect_info(&held);
    assert_eq!(info.remote_addr(), Some(held.peer()));

    // The second is accepted by the kernel, then closed by the server at once.
    let accepting = tokio::spawn(async move {
        let next = incoming.next().await.unwrap().unwrap();
        (incoming, next)
    });
    let said = blocking(move || read_until_closed(&mut connect(addr))).await;
    assert_eq!(said, "");
    assert_eq!(limit.refused_total(), 1);

    // The first still carries data.
    let mut held = held;
    blocking(move || first.write_all(b"ping").unwrap()).await;
    assert!(read_some(&mut held).await.unwrap() > 0);

    // Once it closes, its slot takes the next connection.
    drop(held);
    let _third = blocking(move || connect(addr)).await;
    let (_incoming, third) = accepting.await.unwrap();
    assert_eq!(limit.open(), 1);
    drop(third);
    assert_eq!(limit.open(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_silent_past_its_limit_fails_to_read() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limit = ConnectionLimit::new("test", "test.max", 4);
    let mut incoming =
        Incoming::new(listener, limit.clone()).with_silence_limit(Duration::from_millis(300));

    let _silent = blocking(move || connect(addr)).await;
    let mut silent = incoming.next().await.unwrap().unwrap();
    let e = read_some(&mut silent).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    assert_eq!(limit.timed_out_total(), 1);

    // One that has talked is read.
    let _talker = blocking(move || {
        let mut s = connect(addr);
        s.write_all(b"hello").unwrap();
        s
    })
    .await;
    let mut talking = incoming.next().await.unwrap().unwrap();
    assert_eq!(read_some(&mut talking).await.unwrap(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_slow_http_clients_are_closed_by_the_header_read_timeout() {
    let settings = HttpSettings {
        header_read_timeout: Duration::from_millis(300),
        ..settings()
    };
    let limit = ConnectionLimit::new("http", "server.http_max_connections", 8);
    let server = start_http(settings, limit.clone()).await;
    let addr = server.addr;

    // Says nothing at all: the protocol is never known.
    blocking(move || read_until_closed(&mut connect(addr))).await;
    // Starts an HTTP/2 preface and stops.
    blocking(move || {
        let mut s = connect(addr);
        s.write_all(b"PRI * HTTP/2.0\r\n").unwrap();
        read_until_closed(&mut s)
    })
    .await;
    // Trickles an HTTP/1 request that never ends, a byte at a time.
    blocking(move || {
        let mut s = connect(addr);
        s.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let deadline = std::time::Instant::now() + PATIENCE;
        let mut buf = [0u8; 64];
        loop {
            assert!(std::time::Instant::now() < deadline, "still open");
            if s.write_all(b"X").is_err() {
                break;
            }
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => panic!("answered an unfinished request"),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
                Err(_) => {} // read timed out: keep trickling
            }
        }
    })
    .await;
    // After an answered request, hyper's own timeout covers the next request's headers.
    blocking(move || {
        let mut s = connect(addr);
        assert_eq!(get_status(&mut s, "/"), "HTTP/1.1 200 OK");
        s.write_all(b"GET / HTTP/1.1\r\nHost: te").unwrap();
        read_until_closed(&mut s)
    })
    .await;
    assert_eq!(limit.timed_out_total(), 4);

    // A client that sends its request gets the answer, twice on one connection.
    blocking(move || {
        let mut s = connect(addr);
        assert_eq!(get_status(&mut s, "/"), "HTTP/1.1 200 OK");
        assert_eq!(get_status(&mut s, "/"), "HTTP/1.1 200 OK");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_http1_headers_get_431() {
    let settings = HttpSettings {
        max_header_bytes: 16 << 10,
        ..settings()
    };
    let limit = ConnectionLimit::new("http", "server.http_max_connections", 8);
    let server = start_http(settings, limit).await;
    let addr = server.addr;
    let answer = blocking(move || {
        let mut s = connect(addr);
        let big = "a".repeat(32 << 10);
        let request = format!("GET / HTTP/1.1\r\nHost: test\r\nX-Big: {big}\r\n\r\n");
        // The server answers and closes once its limit is read: the rest may not go out.
        let _ = s.write_all(request.as_bytes());
        read_until_closed(&mut s)
    })
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "expected 431, got {answer:?}"
    );
    blocking(move || assert_eq!(get_status(&mut connect(addr), "/"), "HTTP/1.1 200 OK")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_requests_in_progress_finish_and_stops_accepting() {
    let limit = ConnectionLimit::new("http", "server.http_max_connections", 8);
    let server = start_http(settings(), limit).await;
    let addr = server.addr;
    let slow = tokio::spawn(blocking(move || get_status(&mut connect(addr), "/slow")));
    server.slow_started.notified().await;
    server.stop.send(()).unwrap();
    assert_eq!(slow.await.unwrap(), "HTTP/1.1 200 OK");
    server.task.await.unwrap();
    assert!(TcpStream::connect(addr).is_err(), "still accepting");
}

/// Spoils one setting of a config.
type Spoil = fn(&mut crate::config::Config);

#[test]
fn transport_keys_are_checked_and_named() {
    let mut c = crate::config::Config::default();
    c.validate().unwrap();
    let cases: [(&str, Spoil); 8] = [
        ("server.grpc_max_connections", |c| {
            c.server.grpc_max_connections = 0
        }),
        ("server.http_max_connections", |c| {
            c.server.http_max_connections = 0
        }),
        ("server.tls_handshake_timeout", |c| {
            c.server.tls_handshake_timeout = Duration::ZERO
        }),
        ("server.http_header_read_timeout", |c| {
            c.server.http_header_read_timeout = Duration::ZERO
        }),
        ("server.max_header_bytes", |c| {
            c.server.max_header_bytes = 4096
        }),
        ("server.http2_max_concurrent_streams", |c| {
            c.server.http2_max_concurrent_streams = 0
        }),
        ("server.http2_max_pending_accept_reset_streams", |c| {
            c.server.http2_max_pending_accept_reset_streams = 0
        }),
        ("server.http2_max_local_error_reset_streams", |c| {
            c.server.http2_max_local_error_reset_streams = 0
        }),
    ];
    for (key, spoil) in cases {
        let mut bad = crate::config::Config::default();
        spoil(&mut bad);
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.starts_with(key), "{key}: {e}");
    }
    c.server.max_header_bytes = MIN_HEADER_BYTES;
    c.validate().unwrap();
}

#[test]
fn the_example_config_documents_the_transport_defaults() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/collector.example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let c = crate::config::Config::load(Some(&path), vec![]).unwrap();
    let (s, d) = (&c.server, &crate::config::ServerConfig::default());
    assert_eq!(s.grpc_max_connections, d.grpc_max_connections);
    assert_eq!(s.http_max_connections, d.http_max_connections);
    assert_eq!(s.tls_handshake_timeout, d.tls_handshake_timeout);
    assert_eq!(s.http_header_read_timeout, d.http_header_read_timeout);
    assert_eq!(s.max_header_bytes, d.max_header_bytes);
    assert_eq!(
        s.http2_max_concurrent_streams,
        d.http2_max_concurrent_streams
    );
    assert_eq!(
        s.http2_max_pending_accept_reset_streams,
        d.http2_max_pending_accept_reset_streams
    );
    assert_eq!(
        s.http2_max_local_error_reset_streams,
        d.http2_max_local_error_reset_streams
    );
    for key in [
        "grpc_max_connections",
        "http_max_connections",
        "tls_handshake_timeout",
        "http_header_read_timeout",
        "max_header_bytes",
        "http2_max_concurrent_streams",
        "http2_max_pending_accept_reset_streams",
        "http2_max_local_error_reset_streams",
    ] {
        assert!(
            text.contains(&format!("\n{key} = ")),
            "{key} is not in the example"
        );
    }
}
