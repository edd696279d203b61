//! Ingest: the `vigil.v1.Ingest` gRPC service, a thin adapter over [`session::Session`].
//!
//! Per stream: the first message must be a Hello; the host is registered and welcomed;
//! then every Batch is handled on a blocking thread (the store writes durably) and
//! answered with an Ack in arrival order.
//!
//! However many agents are connected, at most [`workers`] batches (and host
//! registrations) are handled at once: the others wait their turn, first come first
//! served, as cheap async tasks. Ten thousand streams never become ten thousand blocking
//! threads fighting over the store's locks, each holding its decoded batch and its own
//! allocator arena.
//!
//! New streams are let in a few at a time too ([`joining`]): a stream is welcomed once it
//! has a place, and keeps it until its first batch (which defines its series, the heavy
//! part) is handled, or for [`JOIN_IDLE`] if that batch does not come at once. Agents
//! send nothing but their Hello before the Welcome, so the first batches of a whole fleet
//! starting at once wait in the agents, not decoded in the collector's memory. A stream that breaks the protocol, or whose
//! bytes cannot be decoded or are over the size limit, is ended with a gRPC status; other
//! streams are never affected.

pub mod scale;
pub mod session;

use crate::auth::{Auth, Caller, Need};
use crate::limits::{self, Limits, Violation};
use crate::registry::Registry;
use session::Session;
use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};
use tracing::{info, warn};
use vigil_proto::v1::agent_message::Kind as AgentKind;
use vigil_proto::v1::collector_message::Kind as CollectorKind;
use vigil_proto::v1::ingest_server::Ingest;
use vigil_proto::v1::{AgentMessage, CollectorMessage, Settings, Welcome};
use vigil_store::Store;
use vigil_store::clock::now_ms;

/// Counts of what ingest accepted and refused, exported as `vigil_collector_*` series.
#[derive(Debug, Default)]
pub struct Counters {
    /// Samples stored.
    pub samples_accepted: AtomicU64,
    /// Batches acknowledged.
    pub batches: AtomicU64,
    /// Refused samples (and series definitions, counted with 0 samples) by reason.
    pub rejected: Mutex<BTreeMap<&'static str, u64>>,
    /// Streams ended with an error, by reason.
    pub streams_failed: Mutex<BTreeMap<&'static str, u64>>,
    /// Samples discarded because `[[relabel]]` dropped their series.
    pub relabel_dropped: AtomicU64,
    /// The latest metric metadata agents sent, for `/api/v1/metadata`.
    pub metadata: crate::metadata::Metadata,
    /// What `POST /api/v1/write` received.
    pub remote_write: crate::http::write::WriteCounters,
    /// Ack times, series creation and memory, for watching a large fleet.
    pub scale: scale::Scale,
    /// Whether the store may be written: the disk-space guard and write failures.
    pub storage: crate::storage_guard::StorageGuard,
    /// The memory budget: whether new series are refused for memory.
    pub memory: crate::memory_budget::MemoryBudget,
}

impl Counters {
    /// Counts `n` refused samples for `reason` (a refused definition counts as one event).
    pub fn rejected(&self, reason: &'static str, n: u64) {
        *self
            .rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(reason)
            .or_default() += n.max(1);
    }

    /// Counts stored samples and one acknowledged batch.
    pub fn accepted(&self, n: u64) {
        self.samples_accepted.fetch_add(n, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a stream that ended with an error.
    pub fn stream_failed(&self, reason: &'static str) {
        *self
            .streams_failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(reason)
            .or_default() += 1;
    }
}

/// The Ingest service.
pub struct IngestService {
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    limits: Arc<Limits>,
    auth: Arc<Auth>,
    counters: Arc<Counters>,
    relabel: Arc<crate::relabel::Relabeler>,
    /// Turns to handle a batch or register a host; see [`workers`].
    turns: Arc<Semaphore>,
    /// Places for new streams; see [`joining`].
    joins: Arc<Semaphore>,
}

/// How many new streams may be between their Hello and their first handled batch: two
/// per [`workers`] turn.
pub fn joining() -> usize {
    workers() * 2
}

/// How long a new stream keeps its place among the [`joining`] ones waiting for its first
/// batch. An agent with rounds spooled sends them as soon as it is welcomed; one with
/// nothing spooled sends its first round only when it is due, and must not hold a place
/// meanwhile (at 1 s, 10,000 newcomers whose first round was not yet due took four
/// minutes to join).
pub const JOIN_IDLE: std::time::Duration = std::time::Duration::from_millis(100);

/// How many batches are handled at once: four per core (a batch waits on the disk for part
/// of its time), at least four.
pub fn workers() -> usize {
    let cores = vigil_store::cores();
    (cores * 4).max(4)
}

impl IngestService {
    /// A service writing to `store` and registering hosts in `registry`. Agents prove who
    /// they are to `auth`: by the token or certificate the gRPC layer admitted, else by the
    /// token in their Hello.
    pub fn new(
        store: Arc<dyn Store>,
        registry: Arc<Registry>,
        limits: Arc<Limits>,
        auth: Arc<Auth>,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            store,
            registry,
            limits,
            auth,
            counters,
            relabel: Arc::new(crate::relabel::Relabeler::default()),
            turns: Arc::new(Semaphore::new(workers())),
            joins: Arc::new(Semaphore::new(joining())),
        }
    }

    /// Runs `relabel` (`[[relabel]]`) over every series agents define.
    pub fn with_relabel(mut self, relabel: Arc<crate::relabel::Relabeler>) -> Self {
        self.relabel = relabel;
        self
    }
}

fn status(v: &Violation) -> Status {
    Status::from(v.clone())
}

/// Waits for a turn to use a blocking thread (see [`workers`]), or a place to join.
async fn take_turn(turns: &Arc<Semaphore>) -> Result<tokio::sync::OwnedSemaphorePermit, Status> {
    // The semaphore is never closed; say so rather than panic if that ever changes.
    turns
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| Status::unavailable("the collector is shutting down; retry later"))
}

type Outbound = Pin<Box<dyn Stream<Item = Result<CollectorMessage, Status>> + Send>>;

#[tonic::async_trait]
impl Ingest for IngestService {
    type StreamStream = Outbound;

    async fn stream(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let peer = request
            .remote_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        // Set by the auth layer when the call carried a token or a certificate.
        let admitted = request.extensions().get::<Caller>().cloned();
        let remote = request.remote_addr();
        let mut inbound = request.into_inner();
        let hello = match inbound.next().await {
            Some(Ok(AgentMessage {
                kind: Some(AgentKind::Hello(hello)),
            })) => hello,
            Some(Ok(_)) => {
                self.counters.stream_failed("no_hello");
                warn!(peer = %peer, "stream did not start with a hello");
                return Err(Status::invalid_argument(
                    "the first message of a stream must be a Hello",
                ));
            }
            Some(Err(e)) => {
                self.counters.stream_failed("undecodable");
                warn!(peer = %peer, error = %e.message(), "unreadable first message");
                return Err(e);
            }
            None => return Err(Status::cancelled("stream ended before its Hello")),
        };
        let refused = |v: Violation| {
            self.counters.stream_failed(v.reason);
            warn!(peer = %peer, host = %limits::shorten(&hello.hostname), error = %v, "refused hello");
            status(&v)
        };
        let caller = match admitted {
            Some(caller) => caller,
            None => self
                .auth
                .admit_message_token(&hello.token, None, remote, Need::Ingest)
                .map_err(refused)?,
        };
        let host = session::check_hello(&hello, &caller, &self.limits).map_err(|v| {
            if v.reason == "host_not_allowed" || v.reason == "identity_mismatch" {
                self.auth.count(v.reason);
            }
            refused(v)
        })?;
        if let Some(at) = self.auth.revocations().host(&host) {
            self.auth.count("host_revoked");
            return Err(refused(Violation {
                kind: crate::limits::Refusal::Forbidden,
                reason: "host_revoked",
                message: format!(
                    "host {host:?} was revoked (at {at} ms since the epoch) with `vigil hosts                      revoke`; `vigil hosts unrevoke {host}` lets it in again"
                ),
            }));
        }
        if let Err(why) = self.counters.storage.check(now_ms()) {
            self.counters.stream_failed("storage_unavailable");
            warn!(peer = %peer, host = %host, "refused stream: {why}");
            return Err(Status::unavailable(why));
        }
        let registry = self.registry.clone();
        let join = take_turn(&self.joins).await?;
        {
            let (registry, host, hello, peer) =
                (registry.clone(), host.clone(), hello.clone(), peer.clone());
            let turn = take_turn(&self.turns).await?;
            tokio::task::spawn_blocking(move || {
                let _turn = turn;
                registry.connect(&host, &hello, &peer, now_ms())
            })
            .await
            .map_err(|e| Status::internal(format!("registering host: {e}")))?
            .map_err(|e| match e {
                crate::registry::ConnectError::Refused(v) => refused(v),
                crate::registry::ConnectError::Store(e) => {
                    self.counters.storage.write_failed(&e, now_ms());
                    Status::unavailable(format!("registering host: {e}"))
                }
            })?;
        }
        info!(host = %host, peer = %peer, caller = %caller.name, agent = %limits::shorten(&hello.agent_version), "agent connected");

        let (tx, rx) = mpsc::channel(16);
        let welcome = CollectorMessage {
            kind: Some(CollectorKind::Welcome(Welcome {
                host: host.clone(),
                collector_version: env!("CARGO_PKG_VERSION").to_owned(),
                settings: Some(Settings::default()),
                protocol: vigil_proto::PROTOCOL_REVISION,
            })),
        };
        let _ = tx.send(Ok(welcome)).await;
        let session = Session::new(
            host,
            &hello,
            self.store.clone(),
            self.limits.clone(),
            self.counters.clone(),
        )
        .with_relabel(self.relabel.clone());
        let revoked = Revoked {
            guard: self.auth.revocations().stream_opened(&session.host),
            changes: self.auth.revocations().subscribe(),
            revocations: self.auth.revocations().clone(),
        };
        tokio::spawn(serve_stream(
            session,
            inbound,
            tx,
            registry,
            self.counters.clone(),
            revoked,
            self.turns.clone(),
            join,
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// What a stream watches to end itself when its host is revoked.
struct Revoked {
    /// Counts the stream as open while it lives.
    guard: crate::auth::revoked::StreamGuard,
    changes: tokio::sync::watch::Receiver<u64>,
    revocations: Arc<crate::auth::revoked::Revocations>,
}

/// Handles batches until the stream ends (or its host is revoked), then marks the host
/// disconnected. (The stream's whole context: a struct of these would only be unpacked.)
#[allow(clippy::too_many_arguments)]
async fn serve_stream(
    mut session: Session,
    mut inbound: Streaming<AgentMessage>,
    tx: mpsc::Sender<Result<CollectorMessage, Status>>,
    registry: Arc<Registry>,
    counters: Arc<Counters>,
    mut revoked: Revoked,
    turns: Arc<Semaphore>,
    join: tokio::sync::OwnedSemaphorePermit,
) {
    let host = session.host.clone();
    // This stream's part of the memory figures, given back when it ends.
    let mut share = counters.scale.streams.share();
    let mut join = Some(join);
    let reason = loop {
        let next = tokio::select! {
            next = inbound.next() => next,
            () = tokio::time::sleep(JOIN_IDLE), if join.is_some() => {
                join = None;
                continue;
            }
            changed = revoked.changes.changed(), if revoked.revocations.host(&host).is_none() => {
                if changed.is_ok() && revoked.revocations.host(&host).is_some() {
                    counters.stream_failed("host_revoked");
                    let e = Status::permission_denied(format!(
                        "host {host:?} was revoked with `vigil hosts revoke`: this stream ends \
                         and its certificates are refused from now on"
                    ));
                    let _ = tx.send(Err(e)).await;
                    break "host revoked".to_owned();
                }
                continue;
            }
        };
        let message = match next {
            None => break "agent closed the stream".to_owned(),
            Some(Err(e)) => {
                let kind = if e.code() == tonic::Code::Cancelled {
                    "cancelled"
                } else {
                    "undecodable"
                };
                counters.stream_failed(kind);
                warn!(host = %host, code = ?e.code(), error = %e.message(), "stream failed");
                let _ = tx.send(Err(e.clone())).await;
                break e.message().to_owned();
            }
            Some(Ok(m)) => m,
        };
        // Timing only: from here to the Ack's send, and counted as waiting until then.
        let arrived = std::time::Instant::now();
        let _waiting = counters.scale.ack.arrived();
        let batch = match message.kind {
            Some(AgentKind::Batch(batch)) => batch,
            _ => {
                counters.stream_failed("protocol");
                let e = Status::invalid_argument("only Batch messages may follow the Hello");
                warn!(host = %host, error = %e.message(), "protocol violation");
                let _ = tx.send(Err(e)).await;
                break "protocol violation".to_owned();
            }
        };
        let seq = batch.seq;
        let (sent_ms, arrived_ms) = (batch.sent_ms, now_ms());
        if let Err(why) = counters.storage.check(now_ms()) {
            // Not acknowledged: the agent keeps the batch and sends it again later.
            counters.stream_failed("storage_unavailable");
            warn!(host = %host, seq, "refused batch: {why}");
            let _ = tx.send(Err(Status::unavailable(why))).await;
            break "storage unavailable".to_owned();
        }
        let turn = match take_turn(&turns).await {
            Ok(turn) => turn,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                break "collector shutting down".to_owned();
            }
        };
        let handled = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let ack = session.handle(batch, now_ms());
            (session, ack)
        })
        .await;
        let ack = match handled {
            Ok((back, ack)) => {
                session = back;
                join = None;
                let (ids, scrapes) = session.memory_bytes();
                share.set(ids, scrapes);
                ack
            }
            Err(e) => {
                let _ = tx
                    .send(Err(Status::internal(format!("batch {seq}: {e}"))))
                    .await;
                break format!("batch handler failed: {e}");
            }
        };
        match ack {
            Ok(ack) => {
                counters.storage.write_ok();
                if let Some(r) = &ack.rejection {
                    warn!(host = %host, seq, rejected = ack.rejected_samples, error = %r.message, "refused samples");
                }
                registry.seen(&host, now_ms());
                registry.batch(&host, arrived_ms, sent_ms, ack.rejected_samples);
                let msg = CollectorMessage {
                    kind: Some(CollectorKind::Ack(ack)),
                };
                if tx.send(Ok(msg)).await.is_err() {
                    break "agent went away".to_owned();
                }
                counters
                    .scale
                    .ack
                    .observe(arrived.elapsed().as_secs_f64(), now_ms());
            }
            Err(e) => {
                // Not acknowledged: the agent keeps the batch and re-sends it.
                warn!(host = %host, seq, error = %e, "store write failed");
                counters.storage.write_failed(&e, now_ms());
                let _ = tx
                    .send(Err(Status::unavailable(format!(
                        "storing batch {seq}: {e}"
                    ))))
                    .await;
                break e.to_string();
            }
        }
    };
    info!(host = %host, reason = %reason, "agent disconnected");
    drop(share);
    drop(revoked.guard);
    if let Ok(turn) = take_turn(&turns).await {
        let _ = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            registry.disconnect(&host)
        })
        .await;
    }
}
