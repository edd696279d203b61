//! Streaming: keep one gRPC stream open to the collector and drain the spool into it.
//!
//! A stream starts with a Hello and waits for the Welcome; then it sends spooled rounds
//! oldest first, at most `max_in_flight` unacknowledged, and removes a round from the spool
//! only when its Ack arrives. Any failure (connection refused, stream reset, no Ack within
//! `ack_timeout`) ends the stream; the next one starts after an exponential backoff with
//! jitter and re-sends everything still spooled, re-defining series from scratch.
//!
//! The TLS settings come through a watch channel: an enrolled agent's renewal
//! ([`crate::enroll::renew`]) sends new ones, and the stream then ends and reconnects with
//! them at once. For an `https://` collector, delivery waits until the first arrive (an
//! agent that is still joining).

use crate::config::{Compression, DeliveryConfig, TlsConfig};
use crate::encode;
use crate::shared::Shared;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use tracing::{debug, info, warn};
use vigil_proto::v1::agent_message::Kind as AgentKind;
use vigil_proto::v1::collector_message::Kind as CollectorKind;
use vigil_proto::v1::ingest_client::IngestClient;
use vigil_proto::v1::{AgentMessage, Hello};

/// Why a stream ended.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Could not connect.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// Collector URL.
        url: String,
        /// Transport error.
        source: tonic::transport::Error,
    },
    /// The collector answered with an error status.
    #[error("collector said {}: {}", crate::check::code_name(.0.code()), .0.message())]
    Status(#[from] tonic::Status),
    /// The stream broke the protocol or went quiet.
    #[error("{0}")]
    Protocol(String),
}

/// The TLS settings for the collector connection, read from the files `tls` names.
pub fn client_tls(tls: &TlsConfig) -> Result<ClientTlsConfig, String> {
    let read = |key: &str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| format!("{key}: cannot read {}: {e}", path.display()))
    };
    let mut config = ClientTlsConfig::new();
    if let Some(ca) = &tls.ca_file {
        config = config.ca_certificate(Certificate::from_pem(read("tls.ca_file", ca)?));
    }
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        config = config.identity(Identity::from_pem(
            read("tls.cert_file", cert)?,
            read("tls.key_file", key)?,
        ));
    }
    if let Some(name) = &tls.server_name {
        config = config.domain_name(name.clone());
    }
    Ok(config)
}

/// `Bearer TOKEN` as gRPC metadata, marked sensitive (HTTP/2 never indexes it); `None`
/// when the token cannot go in a header (the configuration refuses such a token).
pub fn bearer(token: &str) -> Option<MetadataValue<Ascii>> {
    let printable = token.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
    if !printable || token.trim() != token {
        return None;
    }
    let mut value = MetadataValue::try_from(format!("Bearer {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// The Ingest call's request: the outbound stream, with `authorization: Bearer` metadata
/// when the Hello carries a token (the Hello keeps it too, for collectors from before
/// `[[auth.tokens]]`).
pub(crate) fn ingest_request<S>(outbound: S, hello: &Hello) -> tonic::Request<S> {
    let mut request = tonic::Request::new(outbound);
    if !hello.token.is_empty()
        && let Some(value) = bearer(&hello.token)
    {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// The endpoint for `url` with `tls` (none for `http://`).
fn endpoint(
    url: &str,
    tls: Option<ClientTlsConfig>,
    config: &DeliveryConfig,
) -> Result<Endpoint, tonic::transport::Error> {
    let endpoint = Endpoint::from_shared(url.to_owned())?;
    let endpoint = match tls {
        Some(tls) => endpoint.tls_config(tls)?,
        None => endpoint,
    };
    Ok(endpoint
        .connect_timeout(config.connect_timeout)
        .tcp_keepalive(Some(Duration::from_secs(30)))
        .http2_keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true))
}

/// How a stream ended without an error.
enum Ended {
    /// `shutdown` turned true.
    Shutdown,
    /// New TLS settings arrived (a renewed certificate).
    NewTls,
}

/// Delivers until `shutdown` turns true, with the TLS settings `tls` holds (`None` for an
/// `http://` collector; for an `https://` one, delivery waits for the first).
pub async fn deliver(
    url: String,
    mut tls: watch::Receiver<Option<ClientTlsConfig>>,
    hello: Hello,
    config: DeliveryConfig,
    shared: Arc<Shared>,
    interval_tx: watch::Sender<Duration>,
    mut shutdown: watch::Receiver<bool>,
) {
    if url.starts_with("https://") && tls.borrow().is_none() {
        tokio::select! {
            ready = tls.wait_for(Option::is_some) => if ready.is_err() { return },
            _ = shutdown.changed() => return,
        }
    }
    let mut delay = config.backoff_initial;
    let mut rng = Jitter::seeded();
    let mut first = true;
    loop {
        let endpoint = match endpoint(&url, tls.borrow_and_update().clone(), &config) {
            Ok(e) => e,
            Err(e) => {
                warn!(url = %url, error = %e, "invalid collector URL; not delivering");
                return;
            }
        };
        if !first {
            shared.stats.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        first = false;
        let mut acked = false;
        let result = stream_once(
            &endpoint,
            &url,
            &hello,
            &config,
            &shared,
            &interval_tx,
            &mut shutdown,
            &mut tls,
            &mut acked,
        )
        .await;
        shared.stats.connected.store(false, Ordering::Relaxed);
        match result {
            Ok(Ended::Shutdown) => return,
            Ok(Ended::NewTls) => {
                info!(collector = %url, "new client certificate; reconnecting with it");
                delay = config.backoff_initial;
                continue;
            }
            Err(e) => warn!(collector = %url, error = %e, "stream ended; will reconnect"),
        }
        if acked {
            delay = config.backoff_initial;
        }
        let wait = rng.spread(delay);
        debug!(wait_ms = wait.as_millis() as u64, "reconnect backoff");
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            // A new certificate (say, after the old one expired): try it at once.
            _ = tls_changed(&mut tls) => {
                delay = config.backoff_initial;
                continue;
            }
            _ = shutdown.changed() => return,
        }
        delay = (delay * 2).min(config.backoff_max);
    }
}

/// Resolves when new TLS settings arrive; never when their sender is gone.
async fn tls_changed(tls: &mut watch::Receiver<Option<ClientTlsConfig>>) {
    if tls.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn stream_once(
    endpoint: &Endpoint,
    url: &str,
    hello: &Hello,
    config: &DeliveryConfig,
    shared: &Shared,
    interval_tx: &watch::Sender<Duration>,
    shutdown: &mut watch::Receiver<bool>,
    tls: &mut watch::Receiver<Option<ClientTlsConfig>>,
    acked: &mut bool,
) -> Result<Ended, StreamError> {
    let channel = endpoint
        .connect()
        .await
        .map_err(|source| StreamError::Connect {
            url: url.to_owned(),
            source,
        })?;
    let mut client = IngestClient::new(channel).accept_compressed(CompressionEncoding::Gzip);
    if config.compression == Compression::Gzip {
        client = client.send_compressed(CompressionEncoding::Gzip);
    }
    let (tx, rx) = mpsc::channel::<AgentMessage>(config.max_in_flight + 2);
    let _ = tx
        .send(AgentMessage {
            kind: Some(AgentKind::Hello(hello.clone())),
        })
        .await;
    let mut inbound = client
        .stream(ingest_request(ReceiverStream::new(rx), hello))
        .await?
        .into_inner();
    let welcome = tokio::time::timeout(config.ack_timeout, inbound.message())
        .await
        .map_err(|_| StreamError::Protocol("no Welcome within ack_timeout".into()))??;
    let collector_protocol = match welcome.and_then(|m| m.kind) {
        Some(CollectorKind::Welcome(w)) => {
            info!(collector = %url, host = %w.host, version = %w.collector_version, "connected");
            if let Some(s) = w.settings {
                apply_interval(s.interval_ms, interval_tx);
            }
            w.protocol
        }
        other => {
            return Err(StreamError::Protocol(format!(
                "expected a Welcome, got {other:?}"
            )));
        }
    };
    shared.stats.connected.store(true, Ordering::Relaxed);

    let mut encoder = encode::Encoder::new(encode::understands_compact(collector_protocol));
    let mut next_seq = 0u64;
    let mut in_flight: VecDeque<(u64, Instant)> = VecDeque::new();
    loop {
        while in_flight.len() < config.max_in_flight {
            // Collection in progress: it wakes us when it has spooled its round. (Lock
            // order: sink, then spool, as the collection takes them.)
            let next = {
                let Some(sink) = shared.sink_if_free() else {
                    break;
                };
                let round = shared.spool().first_from(next_seq);
                round.map(|round| {
                    let mut batch = encoder.batch(&round, &sink);
                    // When it leaves, for the collector's estimate of this clock's skew.
                    batch.sent_ms = crate::run::unix_ms();
                    (batch, round.seq)
                })
            };
            let Some((batch, seq)) = next else { break };
            next_seq = seq + 1;
            in_flight.push_back((seq, Instant::now()));
            if tx
                .send(AgentMessage {
                    kind: Some(AgentKind::Batch(batch)),
                })
                .await
                .is_err()
            {
                return Err(StreamError::Protocol("stream closed while sending".into()));
            }
            shared.stats.sent_batches.fetch_add(1, Ordering::Relaxed);
        }
        let deadline = in_flight
            .front()
            .map(|(_, sent)| *sent + config.ack_timeout);
        tokio::select! {
            message = inbound.message() => match message?.and_then(|m| m.kind) {
                Some(CollectorKind::Ack(ack)) => {
                    *acked = true;
                    while in_flight.front().is_some_and(|(seq, _)| *seq <= ack.seq) {
                        in_flight.pop_front();
                    }
                    let mut spool = shared.spool();
                    spool.ack(ack.seq);
                    shared.note_spool(&spool);
                    drop(spool);
                    shared.stats.acked_samples.fetch_add(ack.accepted_samples, Ordering::Relaxed);
                    shared.stats.rejected_samples.fetch_add(ack.rejected_samples, Ordering::Relaxed);
                    if let Some(r) = ack.rejection {
                        warn!(seq = ack.seq, rejected = ack.rejected_samples, code = r.code, reason = %r.message, "collector refused samples");
                    }
                }
                Some(CollectorKind::Settings(s)) => apply_interval(s.interval_ms, interval_tx),
                Some(CollectorKind::Welcome(_)) | None => {
                    return Err(StreamError::Protocol("collector closed the stream".into()));
                }
            },
            _ = shared.wake.notified() => {}
            _ = sleep_until(deadline) => {
                return Err(StreamError::Protocol(format!(
                    "no acknowledgement within {:?}; reopening the stream", config.ack_timeout
                )));
            }
            _ = tls_changed(tls) => return Ok(Ended::NewTls),
            _ = shutdown.changed() => return Ok(Ended::Shutdown),
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn apply_interval(interval_ms: u64, tx: &watch::Sender<Duration>) {
    if (1_000..=3_600_000).contains(&interval_ms) {
        let interval = Duration::from_millis(interval_ms);
        if *tx.borrow() != interval {
            info!(interval_ms, "collector set the collection interval");
            let _ = tx.send(interval);
        }
    }
}

/// Spreads reconnects of many agents over time: a delay becomes a uniform pick from
/// [delay/2, delay] (xorshift; no cryptographic quality needed).
struct Jitter(u64);

impl Jitter {
    fn seeded() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u64)
            .unwrap_or(1);
        Self((nanos ^ ((std::process::id() as u64) << 32)) | 1)
    }

    fn spread(&mut self, delay: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let fraction = (self.0 % 1_000) as f64 / 1_000.0;
        delay.mul_f64(0.5 + fraction / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_goes_in_the_metadata_and_the_hello() {
        let hello = Hello {
            token: "s3cret".into(),
            ..Hello::default()
        };
        let request = ingest_request((), &hello);
        let value = request.metadata().get("authorization").unwrap();
        assert_eq!(value.to_str().unwrap(), "Bearer s3cret");
        assert!(value.is_sensitive());
        let request = ingest_request((), &Hello::default());
        assert!(request.metadata().get("authorization").is_none());
        assert!(bearer("two\nlines").is_none());
        assert!(bearer(" padded").is_none());
    }

    #[test]
    fn jitter_stays_within_half_to_full_delay() {
        let mut j = Jitter(12345);
        let d = Duration::from_secs(8);
        let picks: Vec<Duration> = (0..200).map(|_| j.spread(d)).collect();
        assert!(picks.iter().all(|p| *p >= d / 2 && *p <= d));
        let distinct: std::collections::HashSet<u128> =
            picks.iter().map(|p| p.as_millis()).collect();
        assert!(distinct.len() > 50, "picks are spread, not constant");
    }
}
