//! A remote write receiver for tests: answers as told, records every request.

use crate::remote_write::wire;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// 204, the samples kept.
    Ok,
    /// This status, with `Retry-After` when given, and this body.
    Status(u16, Option<&'static str>, &'static str),
}

/// What the receiver saw and will answer.
#[derive(Debug)]
pub struct Log {
    /// Answers for the next requests, then `default`.
    pub script: VecDeque<Answer>,
    /// The answer once the script is used up.
    pub default: Answer,
    /// Every request body as it came, with when.
    pub seen: Vec<(Instant, Vec<u8>)>,
    /// The requests answered with 2xx, decoded, in order.
    pub accepted: Vec<wire::WriteRequest>,
}

/// A running receiver.
pub struct Receiver {
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Log>>,
    task: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    /// A receiver on a free port of 127.0.0.1.
    pub async fn start(default: Answer) -> Receiver {
        Self::on(TcpListener::bind("127.0.0.1:0").await.unwrap(), default)
    }

    /// A receiver on `listener`.
    pub fn on(listener: TcpListener, default: Answer) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Log {
            script: VecDeque::new(),
            default,
            seen: Vec::new(),
            accepted: Vec::new(),
        }));
        let app = axum::Router::new()
            .route("/api/v1/write", axum::routing::post(write))
            .with_state(log.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, log, task }
    }

    /// The URL to configure.
    pub fn url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    /// Locks the log.
    pub fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap()
    }

    /// Sets the answer once the script is used up.
    pub fn answer(&self, answer: Answer) {
        self.log().default = answer;
    }

    /// The samples accepted per series (labels written `name{a="b",…}`), in the order
    /// they arrived.
    pub fn series(&self) -> BTreeMap<String, Vec<(i64, f64)>> {
        let mut out: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
        for request in &self.log().accepted {
            for ts in &request.timeseries {
                let key = ts
                    .labels
                    .iter()
                    .map(|l| format!("{}={}", l.name, l.value))
                    .collect::<Vec<_>>()
                    .join(",");
                out.entry(key)
                    .or_default()
                    .extend(ts.samples.iter().map(|s| (s.timestamp, s.value)));
            }
        }
        out
    }

    /// Samples accepted in all.
    pub fn samples(&self) -> usize {
        self.series().values().map(Vec::len).sum()
    }
}

async fn write(State(log): State<Arc<Mutex<Log>>>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    assert_eq!(header("content-encoding"), "snappy");
    assert_eq!(header("content-type"), "application/x-protobuf");
    assert_eq!(header("x-prometheus-remote-write-version"), "0.1.0");
    let mut log = log.lock().unwrap();
    log.seen.push((Instant::now(), body.to_vec()));
    let answer = log
        .script
        .pop_front()
        .unwrap_or_else(|| log.default.clone());
    match answer {
        Answer::Ok => {
            let request = wire::decode(&body, 64 << 20).expect("a valid request");
            for ts in &request.timeseries {
                assert!(
                    ts.labels.windows(2).all(|w| w[0].name < w[1].name),
                    "labels sorted: {:?}",
                    ts.labels
                );
            }
            log.accepted.push(request);
            StatusCode::NO_CONTENT.into_response()
        }
        Answer::Status(code, retry_after, message) => {
            let mut response = (StatusCode::from_u16(code).unwrap(), message).into_response();
            if let Some(after) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", after.parse().unwrap());
            }
            response
        }
    }
}
