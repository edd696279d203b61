//! `POST /api/v1/write`: Prometheus remote write 1.0 into Vigil, so that a Prometheus,
//! vmagent, Grafana Alloy or Telegraf already running can point at the collector.
//!
//! ```text
//!   POST /api/v1/write
//!   Content-Encoding: snappy                  (required: anything else is 415)
//!   Content-Type: application/x-protobuf      (may be left out; anything else is 415)
//!   Authorization: Bearer <agent or admin token>
//!   body: prometheus.WriteRequest, snappy block format
//! ```
//!
//! A request becomes one import ([`crate::import::backfill::Backfill`]), so the checks,
//! limits, host accounts and messages are those of `vigil import` and agent ingest: the
//! series are listed in request order, each series' samples after each other; a sample at
//! a timestamp its series already has replaces it (a replayed request adds nothing), an
//! older one is stored. Series without a `host` label count against the `(import)`
//! account; who may write them is decided by the import's rule (an admin, an open
//! collector, or an agent token without host patterns).
//!
//! Answers, as senders expect them:
//! - 204: every sample stored;
//! - 400: bad data, in plain text naming the series and the rule; the samples before the
//!   first refused one are stored, the rest not (senders do not retry a 4xx). Quotas used
//!   up (series per host, hosts) are 400 too: retrying would not help;
//! - 401/403: credentials (the middleware, or a host the token may not write);
//! - 413: the body is over `limits.max_message_bytes`, compressed or decompressed;
//! - 415: a Content-Encoding other than snappy, or a Content-Type other than protobuf;
//! - 500: the store failed; senders retry.
//!
//! Metadata entries in the request (type, help, unit) go to the same table as the agents'
//! ([`crate::metadata`]), served by `/api/v1/metadata`.

use super::{Api, DRAIN_BYTES};
use crate::auth::Caller;
use crate::import::backfill::{Backfill, BackfillError};
use crate::ingest::Counters;
use crate::limits::{self, Refusal};
use crate::remote_write::wire::{self, DecodeError, WriteRequest};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio_stream::StreamExt;
use vigil_proto::v1::{ImportRequest, ImportSeries, Label};
use vigil_store::clock::now_ms;

/// What the receiver counts, for `vigil_collector_remote_write_*` (kept in
/// [`Counters::remote_write`]).
#[derive(Debug, Default)]
pub struct WriteCounters {
    /// Samples received over remote write and stored.
    pub samples: AtomicU64,
    /// Requests answered, by HTTP status.
    pub requests: Mutex<BTreeMap<u16, u64>>,
}

impl WriteCounters {
    /// Requests answered so far, by status code.
    pub fn requests(&self) -> Vec<(u16, u64)> {
        let requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        requests.iter().map(|(c, n)| (*c, *n)).collect()
    }

    fn answered(&self, status: StatusCode) {
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *requests.entry(status.as_u16()).or_default() += 1;
    }
}

/// The receiver: where requests are stored and counted.
pub struct Receiver {
    backfill: Backfill,
    /// `limits.max_message_bytes`: the body, compressed and decompressed.
    max_bytes: usize,
    counters: Arc<Counters>,
    /// Unix milliseconds now, for the timestamp limits.
    clock: fn() -> i64,
}

impl Receiver {
    /// Stores through `backfill`, refusing bodies over `max_bytes` (compressed or not), and
    /// counts in `counters` (stored and refused samples with the agents', and its own).
    pub fn new(backfill: Backfill, max_bytes: usize, counters: Arc<Counters>) -> Self {
        Self {
            backfill,
            max_bytes,
            counters,
            clock: now_ms,
        }
    }

    /// The same receiver, judging timestamps by `clock` instead of the wall clock.
    pub fn with_clock(mut self, clock: fn() -> i64) -> Self {
        self.clock = clock;
        self
    }
}

/// An answer: its status and plain-text reason.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    message: String,
    /// An authorization refusal's reason, for `vigil_collector_auth_refused_total`.
    refused: Option<&'static str>,
    /// Seconds for `Retry-After`, when the sender should come back later.
    retry_after: Option<u64>,
}

impl Answer {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            refused: None,
            retry_after: None,
        }
    }
}

/// `Retry-After` of a 503: the storage guard checks free space every second, and a failed
/// store is tried again after a few.
const RETRY_AFTER_SECONDS: u64 = 10;

/// `POST /api/v1/write`.
pub async fn write(State(api): State<Api>, request: Request) -> Response {
    let Some(receiver) = api.write.clone() else {
        return (
            StatusCode::NOT_FOUND,
            "remote write is not enabled on this listener",
        )
            .into_response();
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let caller = request
        .extensions()
        .get::<Caller>()
        .cloned()
        .unwrap_or_else(|| Caller::anonymous(peer));
    let answer = match receive(&receiver, &caller, request).await {
        Ok(stored) => {
            tracing::debug!(caller = %caller.name, peer = %caller.peer_text(), samples = stored, "remote write");
            Answer::new(StatusCode::NO_CONTENT, "")
        }
        Err(answer) => {
            if let (Some(reason), Some(auth)) = (answer.refused, &api.auth) {
                auth.count(reason);
            }
            let logged = api.auth.as_ref().map_or(Some(0), |a| a.may_log());
            if let Some(left_out) = logged {
                let status = answer.status.as_u16();
                if answer.status.is_server_error() {
                    tracing::warn!(caller = %caller.name, peer = %caller.peer_text(), status, error = %answer.message, left_out, "remote write failed");
                } else {
                    tracing::info!(caller = %caller.name, peer = %caller.peer_text(), status, error = %answer.message, left_out, "remote write refused");
                }
            }
            answer
        }
    };
    if answer.status == StatusCode::NO_CONTENT {
        return StatusCode::NO_CONTENT.into_response();
    }
    let mut response = (answer.status, format!("{}\n", answer.message)).into_response();
    if let Some(seconds) = answer.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    }
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Counts the answers to `/api/v1/write` by status, those of the authentication in front
/// of it included: the outermost layer of the API.
pub async fn count_answers(
    State(receiver): State<Option<Arc<Receiver>>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let counted = receiver.filter(|_| request.uri().path() == "/api/v1/write");
    let response = next.run(request).await;
    if let Some(receiver) = counted {
        receiver.counters.remote_write.answered(response.status());
    }
    response
}

/// Reads, decodes and stores one request; the samples stored, or the answer saying why not.
async fn receive(
    receiver: &Arc<Receiver>,
    caller: &Caller,
    request: Request,
) -> Result<u64, Answer> {
    check_headers(request.headers())?;
    if let Err(why) = receiver.counters.storage.check((receiver.clock)()) {
        receiver.counters.rejected("storage_unavailable", 1);
        let mut answer = Answer::new(StatusCode::SERVICE_UNAVAILABLE, why);
        answer.retry_after = Some(RETRY_AFTER_SECONDS);
        return Err(answer);
    }
    let body = read_body(request.into_body(), receiver.max_bytes).await?;
    let work = receiver.clone();
    let who = caller.clone();
    tokio::task::spawn_blocking(move || store(&work, &body, &who, (work.clock)()))
        .await
        .map_err(|e| {
            Answer::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the remote write task failed: {e}; send the request again"),
            )
        })?
}

/// Refuses a Content-Encoding other than snappy and a Content-Type other than protobuf.
/// A request without Content-Encoding is read as snappy all the same: the body is snappy
/// or it is refused as unreadable.
fn check_headers(headers: &HeaderMap) -> Result<(), Answer> {
    let text = |name: header::HeaderName| {
        headers.get(name).map(|v| {
            v.to_str()
                .unwrap_or("(not text)")
                .trim()
                .to_ascii_lowercase()
        })
    };
    if let Some(encoding) = text(header::CONTENT_ENCODING)
        && encoding != "snappy"
    {
        return Err(Answer::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Encoding {encoding:?} is not supported: remote write 1.0 bodies are \
                 snappy-compressed (block format), sent with Content-Encoding: snappy"
            ),
        ));
    }
    if let Some(kind) = text(header::CONTENT_TYPE) {
        let (essence, params) = kind.split_once(';').unwrap_or((&kind, ""));
        let proto = params
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("proto="))
            .next();
        let v1 = matches!(proto, None | Some("prometheus.writerequest"));
        if essence.trim() != "application/x-protobuf" || !v1 {
            return Err(Answer::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "Content-Type {kind:?} is not supported: this receiver speaks remote write \
                     1.0 (Content-Type: application/x-protobuf, a prometheus.WriteRequest); \
                     configure the sender for remote write 1.0"
                ),
            ));
        }
    }
    Ok(())
}

/// Reads a body of at most `max` bytes. A larger one is refused with 413, but read on
/// (and dropped) for up to [`DRAIN_BYTES`] more, so that the client gets the answer rather
/// than a reset connection.
async fn read_body(body: Body, max: usize) -> Result<Vec<u8>, Answer> {
    let mut stream = body.into_data_stream();
    let mut kept = Vec::new();
    let mut seen = 0usize;
    let give_up = max.saturating_add(DRAIN_BYTES);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            Answer::new(
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {e}"),
            )
        })?;
        seen = seen.saturating_add(chunk.len());
        if seen <= max {
            kept.extend_from_slice(&chunk);
        } else if seen > give_up {
            break;
        }
    }
    if seen > max {
        return Err(Answer::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is over the limit of {max} bytes (limits.max_message_bytes); \
                 have the sender send smaller batches (Prometheus: \
                 queue_config.max_samples_per_send)"
            ),
        ));
    }
    Ok(kept)
}

/// Decodes `body` and stores it as `caller`, on a blocking thread: the samples stored, or
/// the answer saying why not all were.
fn store(receiver: &Receiver, body: &[u8], caller: &Caller, now_ms: i64) -> Result<u64, Answer> {
    let decoded = wire::decode(body, receiver.max_bytes).map_err(|e| match e {
        DecodeError::TooLarge { .. } => Answer::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        DecodeError::Snappy(_) | DecodeError::Protobuf(_) => Answer::new(
            StatusCode::BAD_REQUEST,
            format!("{e}; remote write 1.0 sends a prometheus.WriteRequest, snappy-compressed"),
        ),
    })?;
    let counters = &receiver.counters;
    counters.metadata.record(&metadata(&decoded));
    let (request, columns) = to_import(decoded);
    let total = request.values.len() as u64;
    if total == 0 {
        return Ok(0);
    }
    match receiver.backfill.write(request, caller, now_ms) {
        Ok(response) => {
            counters.storage.write_ok();
            let stored = response.accepted_samples;
            counters.accepted(stored);
            counters
                .remote_write
                .samples
                .fetch_add(stored, Ordering::Relaxed);
            match response.rejection {
                None => Ok(stored),
                Some(r) => {
                    counters.rejected("remote_write_refused", total - stored);
                    let sample = usize::try_from(r.line.saturating_sub(1)).unwrap_or(usize::MAX);
                    let series = columns.describe(sample);
                    Err(Answer::new(
                        StatusCode::BAD_REQUEST,
                        format!(
                            "series {series} refused ({}): {}; {stored} sample(s) before it \
                             were stored, {} from it on were not",
                            r.reason,
                            r.message,
                            total - stored
                        ),
                    ))
                }
            }
        }
        Err(BackfillError::Refused(v)) => {
            counters.rejected(v.reason, total);
            let status = match v.kind {
                Refusal::Forbidden => StatusCode::FORBIDDEN,
                Refusal::Unauthenticated => StatusCode::UNAUTHORIZED,
                _ => StatusCode::BAD_REQUEST,
            };
            let mut answer = Answer::new(
                status,
                format!("{} (nothing of this request was stored)", v.message),
            );
            if v.kind == Refusal::Forbidden {
                answer.refused = Some(v.reason);
            }
            Err(answer)
        }
        Err(BackfillError::Store(e)) => {
            counters.storage.write_failed(&e, now_ms);
            let mut answer = Answer::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("storing the samples failed: {e}; the sender should retry"),
            );
            answer.retry_after = Some(RETRY_AFTER_SECONDS);
            Err(answer)
        }
    }
}

/// The request's metadata as the agents send it.
fn metadata(request: &WriteRequest) -> Vec<vigil_proto::v1::MetricMetadata> {
    use vigil_proto::v1::MetricType;
    request
        .metadata
        .iter()
        .map(|m| {
            // Remote write's MetricType numbers: 1 counter, 2 gauge, 3 histogram,
            // 4 gaugehistogram, 5 summary, 6 info, 7 stateset.
            let kind = match m.r#type {
                1 => MetricType::Counter,
                2 => MetricType::Gauge,
                3 => MetricType::Histogram,
                5 => MetricType::Summary,
                6 => MetricType::Info,
                7 => MetricType::Stateset,
                _ => MetricType::Unspecified,
            };
            vigil_proto::v1::MetricMetadata {
                name: m.metric_family_name.clone(),
                r#type: kind as i32,
                help: m.help.clone(),
                unit: m.unit.clone(),
            }
        })
        .collect()
}

/// What is needed to name the series of a refused sample once the import request is gone.
struct Columns {
    series: Vec<Vec<Label>>,
    series_index: Vec<u32>,
}

impl Columns {
    /// The series of sample `i`, as `{__name__="…", …}`.
    fn describe(&self, i: usize) -> String {
        let Some(labels) = self
            .series_index
            .get(i)
            .and_then(|&k| self.series.get(k as usize))
        else {
            return "(unknown)".into();
        };
        let pairs: Vec<String> = labels
            .iter()
            .map(|l| {
                format!(
                    "{}={:?}",
                    limits::shorten(&l.name),
                    limits::shorten(&l.value)
                )
            })
            .collect();
        format!("{{{}}}", pairs.join(", "))
    }
}

/// The import request for `request`: series in the order they first come (a series
/// listed twice is one series), each entry's samples after each other, every sample on
/// its own "line" so that a rejection's line is the refused sample's index + 1.
fn to_import(request: WriteRequest) -> (ImportRequest, Columns) {
    let mut import = ImportRequest::default();
    let mut known: HashMap<Vec<(String, String)>, u32> = HashMap::new();
    for ts in request.timeseries {
        if ts.samples.is_empty() {
            continue;
        }
        let mut key: Vec<(String, String)> = ts
            .labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        key.sort();
        let next = import.series.len() as u32;
        let k = *known.entry(key).or_insert(next);
        if k == next {
            import.series.push(ImportSeries {
                labels: ts
                    .labels
                    .into_iter()
                    .map(|l| Label {
                        name: l.name,
                        value: l.value,
                    })
                    .collect(),
            });
        }
        for s in ts.samples {
            import.series_index.push(k);
            import.timestamps_ms.push(s.timestamp);
            import.values.push(s.value);
            import.line_deltas.push(1);
        }
    }
    let columns = Columns {
        series: import.series.iter().map(|s| s.labels.clone()).collect(),
        series_index: import.series_index.clone(),
    };
    (import, columns)
}

#[cfg(test)]
#[cfg(feature = "rocks")]
mod tests;
