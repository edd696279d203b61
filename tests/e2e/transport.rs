//! Transport limits (issue 12, item 7) against the real collector: a slowloris client on the
//! HTTP API is closed by `server.http_header_read_timeout`; a silent client on the TLS gRPC
//! port is closed by `server.tls_handshake_timeout`; past `server.*_max_connections` a new
//! connection is closed at once while open ones keep working; oversized headers are
//! refused. After each, an ordinary query still answers.
//!
//! Raw sockets with read timeouts: the timeouts only keep a broken test from hanging, no
//! assertion is about how long anything took.

#![allow(clippy::unwrap_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};
use vigil_proto::v1::HostsRequest;
use vigil_proto::v1::query_client::QueryClient;
use vigil_tests::certs::TestCa;
use vigil_tests::{Collector, free_port, vigil_ok, wait_for};

/// Longest the test waits for the collector to do something before it fails.
const PATIENCE: Duration = Duration::from_secs(60);

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s
}

/// Reads until the collector closes the connection (end of stream or reset); what it sent.
/// Fails if the connection is still open after [`PATIENCE`].
fn read_until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("the collector kept the connection open: {e}"),
        }
    }
}

/// One HTTP/1.1 request on a kept-alive connection: its status code and body, or None
/// when the collector closed the connection instead of answering.
fn request(s: &mut TcpStream, path: &str) -> Option<(u16, String)> {
    write!(s, "GET {path} HTTP/1.1\r\nHost: vigil\r\n\r\n").ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match s.read(&mut buf) {
            Ok(0) => return None,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return None,
            Err(e) => panic!("no answer: {e}"),
        }
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_lowercase();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    while got.len() < head_end + length {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed in the middle of an answer");
        got.extend_from_slice(&buf[..n]);
    }
    Some((
        status,
        String::from_utf8_lossy(&got[head_end..]).into_owned(),
    ))
}

/// `query=1` on a new connection answers with success.
fn assert_query_answers(http_port: u16) {
    let (status, body) = request(&mut connect(http_port), "/api/v1/query?query=1").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""status":"success""#), "{body}");
}

fn write_config(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("collector.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn start_with_http(dir: &Path, server_keys: &str) -> (Collector, u16) {
    let http_port = free_port();
    let config = write_config(
        dir,
        &format!("[server]\nhttp_listen = \"127.0.0.1:{http_port}\"\n{server_keys}"),
    );
    let collector = Collector::start_with_config(free_port(), &dir.join("data"), &config, &[]);
    wait_for(Duration::from_secs(30), "the HTTP API to listen", || {
        TcpStream::connect(("127.0.0.1", http_port)).ok()
    });
    (collector, http_port)
}

#[test]
fn slow_silent_and_oversized_http_requests_are_refused_and_queries_still_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (_collector, port) = start_with_http(
        dir.path(),
        "http_header_read_timeout = \"1s\"\nmax_header_bytes = 16384\n",
    );
    assert_query_answers(port);

    // Slowloris: a request line and headers that never end, a byte at a time.
    let mut slow = connect(port);
    slow.write_all(b"GET /api/v1/query?query=1 HTTP/1.1\r\nHost: vigil\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 256];
    loop {
        assert!(
            started.elapsed() < PATIENCE,
            "the slow request is still open"
        );
        if slow.write_all(b"X").is_err() {
            break;
        }
        match slow.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => panic!("the collector answered a request that never ended"),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(_) => {} // nothing yet: trickle on
        }
    }
    assert_query_answers(port);

    // A client that connects and says nothing.
    assert_eq!(read_until_closed(&mut connect(port)), b"");
    assert_query_answers(port);

    // Headers over server.max_header_bytes get 431. The collector answers and closes as
    // soon as its limit is read, so the end of the request may meet a closed connection.
    let mut big = connect(port);
    let header = "x".repeat(32 << 10);
    let oversized =
        format!("GET /api/v1/query?query=1 HTTP/1.1\r\nHost: vigil\r\nX-Big: {header}\r\n\r\n");
    let _ = big.write_all(oversized.as_bytes());
    let answer = String::from_utf8_lossy(&read_until_closed(&mut big)).into_owned();
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert_query_answers(port);
}

/// The HTTP/2 client preface and an empty SETTINGS frame.
const H2_START: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

#[test]
fn past_the_connection_caps_new_connections_are_closed_while_open_ones_work() {
    let dir = tempfile::tempdir().unwrap();
    let (collector, port) = start_with_http(
        dir.path(),
        "http_max_connections = 2\ngrpc_max_connections = 2\n\
         http_header_read_timeout = \"5m\"\n",
    );

    // HTTP: two kept-alive connections that have been answered hold both slots (the
    // start-up probe's connection may still hold one for a moment: retry until both do).
    let (mut a, mut b) = wait_for(PATIENCE, "two answered HTTP connections", || {
        let mut a = connect(port);
        request(&mut a, "/api/v1/query?query=1")?;
        let mut b = connect(port);
        request(&mut b, "/api/v1/query?query=1")?;
        Some((a, b))
    });
    assert_eq!(
        read_until_closed(&mut connect(port)),
        b"",
        "a third connection"
    );
    assert_eq!(request(&mut a, "/api/v1/query?query=1").unwrap().0, 200);
    assert_eq!(request(&mut b, "/api/v1/query?query=1").unwrap().0, 200);
    drop(b);
    wait_for(PATIENCE, "a slot freed by a closed connection", || {
        request(&mut connect(port), "/api/v1/query?query=1")
    });

    // gRPC: a client's channel and a raw HTTP/2 connection the collector has answered.
    let url = collector.url();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut client = wait_for(PATIENCE, "a gRPC client", || {
        runtime.block_on(async {
            let channel = tonic::transport::Endpoint::from_shared(url.clone())
                .ok()?
                .connect()
                .await
                .ok()?;
            let mut client = QueryClient::new(channel);
            client.hosts(HostsRequest::default()).await.ok()?;
            Some(client)
        })
    });
    let _raw = wait_for(PATIENCE, "a second gRPC connection", || {
        let mut raw = connect(collector.port);
        raw.write_all(H2_START).ok()?;
        let mut buf = [0u8; 9];
        matches!(raw.read(&mut buf), Ok(n) if n > 0).then_some(raw)
    });
    assert_eq!(
        read_until_closed(&mut connect(collector.port)),
        b"",
        "a third gRPC connection"
    );
    runtime
        .block_on(client.hosts(HostsRequest::default()))
        .unwrap();

    // Metadata within server.max_header_bytes passes; past it the call is refused (h2
    // answers 431, or closes the connection when the header block itself is too large),
    // and the next call still answers (on a new connection if need be).
    let with_metadata = |bytes: usize| {
        let mut request = tonic::Request::new(HostsRequest::default());
        request
            .metadata_mut()
            .insert("x-big", "x".repeat(bytes).parse().unwrap());
        request
    };
    runtime
        .block_on(client.hosts(with_metadata(8 << 10)))
        .unwrap();
    let refused = runtime.block_on(client.hosts(with_metadata(128 << 10)));
    assert!(refused.is_err(), "{refused:?}");
    wait_for(PATIENCE, "a query after the refused one", || {
        runtime.block_on(client.hosts(HostsRequest::default())).ok()
    });
}

#[test]
fn a_silent_client_on_the_tls_port_is_closed_after_the_handshake_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = TestCa::new(d, "Vigil test CA");
    ca.leaf(
        d,
        "collector",
        "vigil-collector",
        &["localhost"],
        "127.0.0.1".parse().ok(),
    );
    let path = |f: &str| d.join(f).to_str().unwrap().to_owned();
    let collector = Collector::start(
        &d.join("data"),
        &[
            ("VIGIL_COLLECTOR__TLS__CERT_FILE", &path("collector.pem")),
            ("VIGIL_COLLECTOR__TLS__KEY_FILE", &path("collector.key")),
            ("VIGIL_COLLECTOR__SERVER__TLS_HANDSHAKE_TIMEOUT", "1s"),
        ],
    );
    let url = format!("https://127.0.0.1:{}", collector.port);
    let ca_file = path("ca.pem");
    let hosts = || vigil_ok(&url, &["--ca-cert", &ca_file, "hosts", "--output", "json"]);
    hosts();

    // Connects and sends nothing.
    assert_eq!(read_until_closed(&mut connect(collector.port)), b"");
    hosts();

    // Starts a ClientHello (a record header announcing 512 bytes) and stops.
    let mut partial = connect(collector.port);
    partial
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    read_until_closed(&mut partial);
    hosts();
}
