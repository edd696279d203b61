//! Sending the fleet to a collector over the real `vigil.v1.Ingest` protocol: one gRPC
//! connection and stream per host, a Hello, then batches whose Acks are awaited.
//!
//! Backfill: a host sends its past steps as fast as the collector acknowledges them, in
//! batches of about `batch_samples` samples with up to `in_flight` batches unacknowledged;
//! at most `concurrency` hosts backfill at once (the others wait with their stream open).
//! Live: after its backfill a host makes one scrape when the scrape's time comes, as an
//! agent does, and sends it as one batch (at once, unless `in_flight` batches wait for
//! their Acks). A batch defines the series it uses that the stream has not defined yet.
//!
//! Every batch stays in the host's spool ([`super::spool`]) until acknowledged. With
//! reconnects on (the default), a stream that fails — the connection refused or reset, the
//! collector ending it, no Ack within `ack_timeout` — is followed by another after the
//! agent's backoff with jitter ([`super::backoff`]): Hello again, the series defined
//! afresh, the spooled batches re-sent in order, then on. Live scrapes keep being made
//! when due meanwhile, into the spool, as the agent's collection goes on while its stream
//! is down. A host that has had no stream for `give_up` stops with an error. Without
//! reconnects the first failure ends that host's run with an error naming it; the other
//! hosts go on.
//!
//! With a ramp (`--ramp R`), host `i` of `n` opens its stream `R × i / n` after the start
//! and sends each live scrape that much after the scrape's time, so that streams start
//! spread over R and their sends stay spread over the interval afterwards (scrape
//! timestamps are unchanged: the data is the same as without a ramp, sent up to R later).
//! Without one every stream connects at once and every host sends at the same instants.
//!
//! Latency to acknowledgement is measured per batch, from when it could first be sent on
//! the stream that delivered it to reading its Ack: a live batch from when its scrape was
//! due, or the stream opened if later (so a batch held back by `in_flight` counts its
//! wait, and one re-sent counts from the new stream's Welcome), a backfill batch from its
//! making, or the stream opened if later.

use super::agent::Agent;
use super::backoff::Backoff;
use super::fleet::Fleet;
use super::report::Stats;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;
use tonic::codec::CompressionEncoding;
use tonic::transport::Endpoint;
use vigil_proto::v1::agent_message::Kind as AgentKind;
use vigil_proto::v1::collector_message::Kind as CollectorKind;
use vigil_proto::v1::ingest_client::IngestClient;
use vigil_proto::v1::{AgentMessage, CollectorMessage, Hello};

#[cfg(test)]
mod tests;

/// How to drive the collector.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Where the collector listens, with its TLS settings.
    pub endpoint: Endpoint,
    /// The hosts and their samples.
    pub fleet: Fleet,
    /// Steps sent as fast as acknowledged, before the live ones.
    pub backfill_steps: i64,
    /// Steps sent in real time after the backfill.
    pub live_steps: i64,
    /// Hosts backfilling at once.
    pub concurrency: usize,
    /// Batches sent ahead of their Acks, per stream.
    pub in_flight: usize,
    /// Samples per backfill batch (whole scrapes; at least one).
    pub batch_samples: usize,
    /// Token for the Hello, when the collector requires one.
    pub token: String,
    /// Compress messages with gzip, as the agent does by default.
    pub gzip: bool,
    /// Streams start spread over this long (see the module documentation).
    pub ramp: Duration,
    /// Longest wait for the Welcome, and for the Ack of the oldest batch in flight; past it
    /// the stream counts as failed.
    pub ack_timeout: Duration,
    /// Reconnecting after a failed stream; None: a failure ends the host's run.
    pub reconnect: Option<Reconnect>,
    /// The index of the first host sent (`--first-host`): runs with different first hosts
    /// send different hosts, so one of them can stop as a scripted outage.
    pub first_host: u32,
}

/// How hosts reconnect (see [`super::backoff`]).
#[derive(Debug, Clone, Copy)]
pub struct Reconnect {
    /// First delay.
    pub backoff_initial: Duration,
    /// Longest delay.
    pub backoff_max: Duration,
    /// A host without a stream for this long gives up.
    pub give_up: Duration,
}

/// How long after the start host `index` of `hosts` begins, with a ramp of `ramp`.
pub fn ramp_delay(ramp: Duration, index: u32, hosts: u32) -> Duration {
    ramp.mul_f64(f64::from(index) / f64::from(hosts.max(1)))
}

/// Runs every host of the plan; returns the errors of hosts whose stream failed (and did
/// not, or could not, reconnect).
pub async fn run(plan: Arc<Plan>, stats: Arc<Stats>) -> Vec<String> {
    let permits = Arc::new(Semaphore::new(plan.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let first = plan.first_host;
    for index in first..first.saturating_add(plan.fleet.spec().hosts) {
        let (plan, stats, permits) = (plan.clone(), stats.clone(), permits.clone());
        tasks.spawn(async move {
            let delay = ramp_delay(plan.ramp, index - first, plan.fleet.spec().hosts);
            tokio::time::sleep(delay).await;
            let mut agent = Agent::new(plan, stats, permits, index, delay);
            drive(&mut agent)
                .await
                .map_err(|e| format!("{}: {e}", agent.host_name()))
        });
    }
    errors_of(tasks).await
}

/// Waits for every host task; what went wrong, one line per failed host.
pub(crate) async fn errors_of(mut tasks: tokio::task::JoinSet<Result<(), String>>) -> Vec<String> {
    let mut errors = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(format!("a host task failed: {e}")),
        }
    }
    errors
}

/// One host from its first Hello to its last Ack, over as many streams as it takes (the
/// agent's `deliver` loop in agent/src/stream.rs).
pub(crate) async fn drive(agent: &mut Agent) -> Result<(), String> {
    let plan = agent.plan().clone();
    let mut backoff = plan.reconnect.map(|r| {
        Backoff::new(
            r.backoff_initial,
            r.backoff_max,
            plan.fleet.spec().seed,
            agent.index(),
        )
    });
    let mut down_since: Option<Instant> = None;
    let mut first = true;
    loop {
        if !first {
            agent.stats().reconnect_attempt();
        }
        first = false;
        let mut acked = false;
        let error = match agent.stream_once(&mut acked).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        agent.failed();
        let (Some(backoff), Some(reconnect)) = (&mut backoff, plan.reconnect) else {
            return Err(error);
        };
        if agent.had_stream() {
            down_since = None;
        }
        let down = *down_since.get_or_insert_with(Instant::now);
        if down.elapsed() >= reconnect.give_up {
            return Err(format!(
                "{error}; gave up after {:?} without a stream (--reconnect-for)",
                reconnect.give_up
            ));
        }
        let wait = backoff.next(acked);
        agent.collecting(tokio::time::sleep(wait)).await;
    }
}

/// A stream after its Welcome: the batches to send into it and the messages from it.
pub(crate) struct Opened {
    pub tx: mpsc::Sender<AgentMessage>,
    pub inbound: Streaming<CollectorMessage>,
}

/// Connects, sends `hello` and waits up to `plan.ack_timeout` for the Welcome.
pub(crate) async fn open(plan: Arc<Plan>, hello: Hello) -> Result<Opened, String> {
    let channel = plan.endpoint.connect().await.map_err(|e| {
        format!(
            "cannot connect to {}: {e} (is the collector running? with many hosts, raise `ulimit -n`)",
            plan.endpoint.uri()
        )
    })?;
    let mut client = IngestClient::new(channel)
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(64 << 20);
    if plan.gzip {
        client = client.send_compressed(CompressionEncoding::Gzip);
    }
    let (tx, rx) = mpsc::channel::<AgentMessage>(plan.in_flight + 2);
    send(&tx, AgentKind::Hello(hello)).await?;
    let welcome = async {
        let mut inbound = client
            .stream(ReceiverStream::new(rx))
            .await
            .map_err(|s| {
                format!(
                    "the collector refused the stream: {}: {}",
                    s.code(),
                    s.message()
                )
            })?
            .into_inner();
        match next(&mut inbound).await? {
            Some(CollectorKind::Welcome(_)) => Ok(inbound),
            other => Err(format!("expected a Welcome, got {other:?}")),
        }
    };
    let inbound = tokio::time::timeout(plan.ack_timeout, welcome)
        .await
        .map_err(|_| format!("no Welcome within {:?} (--ack-timeout)", plan.ack_timeout))??;
    Ok(Opened { tx, inbound })
}

/// Queues one message on the stream.
pub(crate) async fn send(tx: &mpsc::Sender<AgentMessage>, kind: AgentKind) -> Result<(), String> {
    tx.send(AgentMessage { kind: Some(kind) })
        .await
        .map_err(|_| "the stream closed while sending (the collector ended it)".to_owned())
}

/// The next message's kind; Err when the collector ended or closed the stream.
pub(crate) async fn next(
    inbound: &mut Streaming<CollectorMessage>,
) -> Result<Option<CollectorKind>, String> {
    match inbound.message().await {
        Err(s) => Err(format!(
            "the collector ended the stream: {}: {}",
            s.code(),
            s.message()
        )),
        Ok(None) => Err("the collector closed the stream".into()),
        Ok(Some(m)) => Ok(m.kind),
    }
}

/// The instant at which wall-clock time `ts_ms` comes (now, if it has passed).
pub fn due_at(ts_ms: i64) -> Instant {
    let wait_ms = ts_ms.saturating_sub(crate::now_ms()).max(0);
    Instant::now() + Duration::from_millis(wait_ms as u64)
}

/// The instant of wall-clock time `ts_ms`, past or future (now, if it is further back
/// than the monotonic clock goes).
pub fn instant_of(ts_ms: i64) -> Instant {
    let now = Instant::now();
    let ahead_ms = ts_ms - crate::now_ms();
    if ahead_ms >= 0 {
        now + Duration::from_millis(ahead_ms as u64)
    } else {
        now.checked_sub(Duration::from_millis(ahead_ms.unsigned_abs()))
            .unwrap_or(now)
    }
}
