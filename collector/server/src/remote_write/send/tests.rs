//! `send_once` against real HTTP servers on 127.0.0.1 (axum; a rustls server for client
//! certificates), `Retry-After`, `Backoff` and `redacted_url`.

use super::*;
use crate::notify::secret::SecretSource;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap as AxumHeaders, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, Mutex};

/// What a test receiver answers, and what it got.
struct Receiver {
    status: u16,
    headers: Vec<(&'static str, &'static str)>,
    body: String,
    /// Echo the request's Authorization header in the answer (a careless receiver).
    echo_auth: bool,
    got: Mutex<Vec<(AxumHeaders, Bytes)>>,
}

async fn handle(State(r): State<Arc<Receiver>>, headers: AxumHeaders, body: Bytes) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    r.got.lock().unwrap().push((headers, body));
    let mut answer = r.body.clone();
    if r.echo_auth {
        answer = format!("{answer} (you sent {auth})");
    }
    let mut response = (StatusCode::from_u16(r.status).unwrap(), answer).into_response();
    for (name, value) in &r.headers {
        response
            .headers_mut()
            .insert(*name, axum::http::HeaderValue::from_static(value));
    }
    response
}

/// Starts a receiver on 127.0.0.1:0; its write URL and its state.
async fn receiver(
    status: u16,
    headers: Vec<(&'static str, &'static str)>,
    body: &str,
) -> (String, Arc<Receiver>) {
    let state = Arc::new(Receiver {
        status,
        headers,
        body: body.to_owned(),
        echo_auth: status == 401,
        got: Mutex::new(Vec::new()),
    });
    let app = axum::Router::new()
        .route("/api/v1/write", axum::routing::post(handle))
        .route("/moved", axum::routing::post(handle))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/api/v1/write"), state)
}

fn config(url: &str) -> RemoteWriteConfig {
    RemoteWriteConfig {
        url: url.to_owned(),
        timeout: Duration::from_secs(10),
        ..RemoteWriteConfig::default()
    }
}

fn request() -> wire::WriteRequest {
    wire::WriteRequest {
        timeseries: vec![wire::TimeSeries {
            labels: vec![
                wire::Label {
                    name: "__name__".into(),
                    value: "node_load1".into(),
                },
                wire::Label {
                    name: "host".into(),
                    value: "web-1".into(),
                },
            ],
            samples: vec![
                wire::Sample {
                    value: 0.5,
                    timestamp: 1_700_000_000_000,
                },
                wire::Sample {
                    value: 0.75,
                    timestamp: 1_700_000_010_000,
                },
            ],
        }],
        metadata: vec![],
    }
}

#[tokio::test]
async fn a_request_carries_the_protocol_headers_auth_and_the_body() {
    let (url, state) = receiver(204, vec![], "").await;
    let mut c = config(&url);
    c.bearer_token = Some(SecretSource::Inline("t0ken-value-123".into()));
    c.headers.insert(
        "X-Scope-OrgID".into(),
        SecretSource::Inline("site-a".into()),
    );
    let sender = Sender::new(&c).unwrap();
    let body = wire::encode(&request());
    assert_eq!(sender.send_once(&body).await, Attempt::Accepted);
    assert_eq!(sender.send_once(&body).await, Attempt::Accepted);
    let got = state.got.lock().unwrap();
    assert_eq!(got.len(), 2);
    let (headers, sent) = &got[0];
    let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
    assert_eq!(header("content-type"), "application/x-protobuf");
    assert_eq!(header("content-encoding"), "snappy");
    assert_eq!(header("x-prometheus-remote-write-version"), "0.1.0");
    assert_eq!(
        header("user-agent"),
        concat!("vigil/", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(header("authorization"), "Bearer t0ken-value-123");
    assert_eq!(header("x-scope-orgid"), "site-a");
    assert_eq!(wire::decode(sent, 1 << 20).unwrap(), request());
    assert!(!format!("{sender:?}").contains("t0ken-value-123"));
}

#[tokio::test]
async fn basic_auth_is_sent_and_redacted_from_answers() {
    let (url, state) = receiver(401, vec![], "bad credentials").await;
    let mut c = config(&url);
    c.basic_auth = Some(super::super::config::BasicAuth {
        username: "vigil".into(),
        password: SecretSource::Inline("pa55word!".into()),
    });
    let sender = Sender::new(&c).unwrap();
    let attempt = sender.send_once(&wire::encode(&request())).await;
    let Attempt::Refused { status, message } = attempt else {
        panic!("{attempt:?}");
    };
    assert_eq!(status, 401);
    assert!(message.starts_with("bad credentials"), "{message}");
    let encoded = base64::engine::general_purpose::STANDARD.encode("vigil:pa55word!");
    assert!(
        !message.contains(&encoded) && message.contains("<secret>"),
        "{message}"
    );
    let got = state.got.lock().unwrap();
    assert_eq!(
        got[0].0.get("authorization").unwrap(),
        &format!("Basic {encoded}")
    );
}

#[tokio::test]
async fn server_errors_and_throttling_are_retried_with_retry_after() {
    let (url, _) = receiver(503, vec![("retry-after", "120")], "overloaded").await;
    let sender = Sender::new(&config(&url)).unwrap();
    let attempt = sender.send_once(b"x").await;
    let Attempt::Retry { after, why, .. } = attempt else {
        panic!("{attempt:?}");
    };
    assert_eq!(after, Some(Duration::from_secs(120)));
    assert!(why.contains("503") && why.contains("overloaded"), "{why}");

    let (url, _) = receiver(429, vec![("retry-after", "3")], "slow down").await;
    let attempt = Sender::new(&config(&url)).unwrap().send_once(b"x").await;
    assert!(
        matches!(&attempt, Attempt::Retry { after: Some(a), .. } if *a == Duration::from_secs(3)),
        "{attempt:?}"
    );
    let (url, _) = receiver(500, vec![], "").await;
    let attempt = Sender::new(&config(&url)).unwrap().send_once(b"x").await;
    assert!(
        matches!(&attempt, Attempt::Retry { after: None, why, .. } if why.contains("500")),
        "{attempt:?}"
    );
    let (url, _) = receiver(408, vec![("retry-after", "soon")], "").await;
    let attempt = Sender::new(&config(&url)).unwrap().send_once(b"x").await;
    assert!(
        matches!(&attempt, Attempt::Retry { after: None, .. }),
        "a Retry-After that is neither seconds nor a date is ignored: {attempt:?}"
    );
}

#[tokio::test]
async fn other_statuses_are_refused_with_the_receivers_message() {
    let long = format!("out of order sample {}", "x".repeat(2000));
    let (url, state) = receiver(400, vec![], &long).await;
    let sender = Sender::new(&config(&url)).unwrap();
    let attempt = sender.send_once(b"x").await;
    let Attempt::Refused { status, message } = attempt else {
        panic!("{attempt:?}");
    };
    assert_eq!(status, 400);
    assert!(message.starts_with("out of order sample xxx"), "{message}");
    assert!(message.len() <= 512 + '…'.len_utf8(), "{}", message.len());
    assert_eq!(state.got.lock().unwrap().len(), 1);

    let (url, _) = receiver(404, vec![], "").await;
    let attempt = Sender::new(&config(&url)).unwrap().send_once(b"x").await;
    assert_eq!(
        attempt,
        Attempt::Refused {
            status: 404,
            message: "HTTP 404 Not Found".into()
        }
    );

    let (url, state) = receiver(307, vec![("location", "/moved")], "").await;
    let attempt = Sender::new(&config(&url)).unwrap().send_once(b"x").await;
    assert!(
        matches!(&attempt, Attempt::Refused { status: 307, message } if message.contains("redirects")),
        "{attempt:?}"
    );
    assert_eq!(
        state.got.lock().unwrap().len(),
        1,
        "the redirect is not followed"
    );
}

#[tokio::test]
async fn no_connection_or_no_answer_is_retried() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sender = Sender::new(&config(&format!(
        "http://127.0.0.1:{port}/api/v1/write?key=abcdef123"
    )))
    .unwrap();
    let attempt = sender.send_once(b"x").await;
    let Attempt::Retry { after, why, .. } = attempt else {
        panic!("{attempt:?}");
    };
    assert_eq!(after, None);
    assert!(why.contains("cannot connect"), "{why}");
    assert!(!why.contains("abcdef123"), "{why}");

    // A listener that never answers: the request times out.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let mut c = config(&format!("http://{addr}/api/v1/write"));
    c.timeout = Duration::from_millis(200);
    let attempt = Sender::new(&c).unwrap().send_once(b"x").await;
    assert!(
        matches!(&attempt, Attempt::Retry { after: None, why, .. } if why.contains("timed out")),
        "{attempt:?}"
    );
    drop(silent);
}

#[test]
fn secrets_are_read_when_the_sender_is_made() {
    let mut c = config("http://127.0.0.1:1/api/v1/write");
    c.name = Some("central".into());
    c.bearer_token = Some(SecretSource::File {
        file: "/nonexistent/vigil-remote.token".into(),
    });
    let e = Sender::new(&c).unwrap_err();
    assert!(
        e.starts_with("remote_write (\"central\").bearer_token: ")
            && e.contains("/nonexistent/vigil-remote.token"),
        "{e}"
    );
    let mut c = config("https://127.0.0.1:1/api/v1/write");
    c.tls_ca_file = Some("/etc/hostname-surely-not-a-pem".into());
    let e = Sender::new(&c).unwrap_err();
    assert!(e.contains(".tls_ca_file"), "{e}");
}

#[test]
fn retry_after_is_seconds_or_an_http_date() {
    // 2023-11-14T22:13:20Z.
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
    assert_eq!(retry_after(" 0 ", now), Some(Duration::ZERO));
    assert_eq!(
        retry_after("Tue, 14 Nov 2023 22:14:20 GMT", now),
        Some(Duration::from_secs(60))
    );
    assert_eq!(
        retry_after("Tuesday, 14-Nov-23 22:13:50 GMT", now),
        Some(Duration::from_secs(30)),
        "the obsolete RFC 850 form"
    );
    assert_eq!(
        retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now),
        Some(Duration::ZERO),
        "a date in the past"
    );
    assert_eq!(retry_after("-5", now), None);
    assert_eq!(retry_after("soon", now), None);
    assert_eq!(retry_after("", now), None);
}

#[test]
fn backoff_doubles_to_max_and_honours_retry_after_up_to_five_minutes() {
    let ms = Duration::from_millis;
    let mut b = Backoff::new(ms(30), ms(200));
    let waits: Vec<_> = (0..5).map(|_| b.next(None)).collect();
    assert_eq!(waits, vec![ms(30), ms(60), ms(120), ms(200), ms(200)]);
    assert_eq!(
        b.next(Some(Duration::from_secs(10))),
        Duration::from_secs(10)
    );
    assert_eq!(b.next(Some(Duration::from_secs(3600))), MAX_RETRY_AFTER);
    assert_eq!(
        b.next(Some(ms(1))),
        ms(200),
        "never sooner than the backoff"
    );
    b.reset();
    assert_eq!(b.next(None), ms(30));
}

#[test]
fn redacted_urls_have_no_credentials_or_query() {
    assert_eq!(
        redacted_url("https://user:pass@vm.example:8428/api/v1/write?token=x#f"),
        "https://vm.example:8428/api/v1/write"
    );
    assert_eq!(
        redacted_url("http://127.0.0.1:9/api/v1/write"),
        "http://127.0.0.1:9/api/v1/write"
    );
    assert_eq!(
        redacted_url("https://u:p@bad host/x?k=v"),
        "https://bad host/x"
    );
}

mod tls;
