//! Sending the fleet to a collector over the real `vigil.v1.Ingest` protocol: one gRPC
//! connection and stream per host, a Hello, then batches whose Acks are awaited.
//!
//! Backfill: a host sends its past steps as fast as the collector acknowledges them, in
//! batches of about `batch_samples` samples with up to `in_flight` batches unacknowledged;
//! at most `concurrency` hosts backfill at once (the others wait with their stream open).
//! Live: after its backfill a host sends one scrape per batch when the scrape's time comes,
//! as an agent does. A batch defines the series it uses that the stream has not defined yet.
//!
//! With a ramp (`--ramp R`), host `i` of `n` opens its stream `R × i / n` after the start
//! and sends each live scrape that much after the scrape's time, so that streams start
//! spread over R and their sends stay spread over the interval afterwards (scrape
//! timestamps are unchanged: the data is the same as without a ramp, sent up to R later).
//! Without one every stream connects at once and every host sends at the same instants.
//!
//! Latency to acknowledgement is measured per batch, from handing it to the stream (a live
//! batch: from when its scrape was due, or the stream opened if later, so a batch held back
//! by `in_flight` counts its wait) to reading its Ack. A stream that fails ends that host's run with an error naming it; the
//! other hosts go on.

use super::fleet::{Fleet, Host};
use super::report::{Phase, Stats};
use std::collections::{HashSet, VecDeque};
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
use vigil_proto::v1::{
    AgentMessage, Batch, CollectorMessage, Hello, Label, Scrape, SeriesDefinition,
};

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
}

/// How long after the start host `index` of `hosts` begins, with a ramp of `ramp`.
pub fn ramp_delay(ramp: Duration, index: u32, hosts: u32) -> Duration {
    ramp.mul_f64(f64::from(index) / f64::from(hosts.max(1)))
}

/// Runs every host of the plan; returns the errors of hosts whose stream failed.
pub async fn run(plan: Arc<Plan>, stats: Arc<Stats>) -> Vec<String> {
    let permits = Arc::new(Semaphore::new(plan.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..plan.fleet.spec().hosts {
        let (plan, stats, permits) = (plan.clone(), stats.clone(), permits.clone());
        tasks.spawn(async move {
            let mut host = plan.fleet.host(index);
            let delay = ramp_delay(plan.ramp, index, plan.fleet.spec().hosts);
            tokio::time::sleep(delay).await;
            drive(&plan, &mut host, &stats, &permits, delay)
                .await
                .map_err(|e| format!("{}: {e}", host.name()))
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

/// One host's stream from Hello to its last Ack.
async fn drive(
    plan: &Plan,
    host: &mut Host,
    stats: &Stats,
    permits: &Semaphore,
    delay: Duration,
) -> Result<(), String> {
    stats.connecting();
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
    let hello = Hello {
        hostname: host.name().to_owned(),
        machine_id: format!("loadgen-{}", host.name()),
        os: "Debian GNU/Linux 12 (bookworm)".into(),
        kernel: "6.1.0-18-amd64".into(),
        arch: "x86_64".into(),
        cpu_model: "vigil-loadgen".into(),
        logical_cores: 4,
        memory_bytes: 8 << 30,
        agent_version: concat!("loadgen-", env!("CARGO_PKG_VERSION")).into(),
        labels: Vec::new(),
        interval_ms: plan.fleet.spec().interval_ms as u64,
        protocol: 1,
        token: plan.token.clone(),
    };
    send(&tx, AgentKind::Hello(hello)).await?;
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
        Some(CollectorKind::Welcome(_)) => {}
        other => return Err(format!("expected a Welcome, got {other:?}")),
    }
    stats.connected();
    let connected = Instant::now();
    let delay_ms = delay.as_millis() as i64;

    let mut stream = StreamState::default();
    if plan.backfill_steps > 0 {
        let _permit = permits
            .acquire()
            .await
            .map_err(|_| "the backfill semaphore closed".to_owned())?;
        while host.step() < plan.backfill_steps || !stream.pending.is_empty() {
            while stream.pending.len() < plan.in_flight && host.step() < plan.backfill_steps {
                let batch = stream.batch(host, plan.backfill_steps, plan.batch_samples);
                stream
                    .send(&tx, batch, Phase::Backfill, stats, Instant::now())
                    .await?;
            }
            stream.await_ack(&mut inbound, stats).await?;
        }
    }
    let end = plan.backfill_steps + plan.live_steps;
    while host.step() < end || !stream.pending.is_empty() {
        let can_send = host.step() < end && stream.pending.len() < plan.in_flight;
        let due_ms = host.nominal_ms(host.step()) + delay_ms;
        let due = due_at(due_ms);
        tokio::select! {
            message = next(&mut inbound), if !stream.pending.is_empty() => {
                stream.on_message(message?, stats)?;
            }
            _ = tokio::time::sleep_until(due), if can_send => {
                let batch = stream.batch(host, host.step() + 1, 1);
                let since = instant_of(due_ms).max(connected);
                stream.send(&tx, batch, Phase::Live, stats, since).await?;
            }
        }
    }
    Ok(())
}

/// What a stream has defined and what it waits for.
#[derive(Default)]
struct StreamState {
    defined: HashSet<u64>,
    next_seq: u64,
    /// Sent and not yet acknowledged: sequence, when sent, samples, phase.
    pending: VecDeque<(u64, Instant, u64, Phase)>,
}

impl StreamState {
    /// The next batch: whole scrapes from the host's next step, until `samples` samples or
    /// step `end`.
    fn batch(&mut self, host: &mut Host, end: i64, samples: usize) -> Batch {
        let mut batch = Batch {
            seq: self.next_seq,
            ..Default::default()
        };
        self.next_seq += 1;
        let mut count = 0;
        while host.step() < end && (count == 0 || count < samples) {
            let (ts, ids, values) = host.next_scrape();
            let scrape = Scrape {
                timestamp_ms: ts,
                series_ids: ids.to_vec(),
                values: values.to_vec(),
                packed: Vec::new(),
            };
            count += ids.len();
            for &id in &scrape.series_ids {
                if self.defined.insert(id) {
                    let (name, labels) = host.series(id);
                    batch.definitions.push(SeriesDefinition {
                        id,
                        name: name.to_owned(),
                        labels: labels
                            .into_iter()
                            .map(|(name, value)| Label {
                                name: name.to_owned(),
                                value,
                            })
                            .collect(),
                    });
                }
            }
            batch.scrapes.push(scrape);
        }
        batch
    }

    async fn send(
        &mut self,
        tx: &mpsc::Sender<AgentMessage>,
        batch: Batch,
        phase: Phase,
        stats: &Stats,
        since: Instant,
    ) -> Result<(), String> {
        let samples: u64 = batch.scrapes.iter().map(|s| s.values.len() as u64).sum();
        let seq = batch.seq;
        stats.sent(phase, samples);
        send(tx, AgentKind::Batch(batch)).await?;
        self.pending.push_back((seq, since, samples, phase));
        Ok(())
    }

    /// Reads messages until the Ack of the oldest pending batch.
    async fn await_ack(
        &mut self,
        inbound: &mut Streaming<CollectorMessage>,
        stats: &Stats,
    ) -> Result<(), String> {
        while !self.on_message(next(inbound).await?, stats)? {}
        Ok(())
    }

    /// Takes in a message from the collector; true when it was the Ack of the oldest
    /// pending batch (any other Ack is an error), false for Settings.
    fn on_message(&mut self, kind: Option<CollectorKind>, stats: &Stats) -> Result<bool, String> {
        let ack = match kind {
            Some(CollectorKind::Ack(ack)) => ack,
            Some(CollectorKind::Settings(_)) => return Ok(false),
            other => return Err(format!("expected an Ack, got {other:?}")),
        };
        let Some((seq, sent, samples, phase)) = self.pending.pop_front() else {
            return Err(format!("an Ack for batch {} that was not sent", ack.seq));
        };
        if ack.seq != seq {
            return Err(format!("expected the Ack of batch {seq}, got {}", ack.seq));
        }
        if ack.accepted_samples + ack.rejected_samples != samples {
            return Err(format!(
                "batch {seq} had {samples} samples but the Ack counts {} accepted and {} rejected",
                ack.accepted_samples, ack.rejected_samples
            ));
        }
        if seq == 0 {
            stats.created();
        }
        let why = ack
            .rejection
            .map(|r| format!("code {}: {}", r.code, r.message));
        stats.acked(
            phase,
            sent.elapsed(),
            ack.accepted_samples,
            ack.rejected_samples,
            why,
        );
        Ok(true)
    }
}

async fn send(tx: &mpsc::Sender<AgentMessage>, kind: AgentKind) -> Result<(), String> {
    tx.send(AgentMessage { kind: Some(kind) })
        .await
        .map_err(|_| "the stream closed while sending (the collector ended it)".to_owned())
}

/// The next message's kind; None when the collector closed the stream.
async fn next(inbound: &mut Streaming<CollectorMessage>) -> Result<Option<CollectorKind>, String> {
    match tokio::time::timeout(Duration::from_secs(120), inbound.message()).await {
        Err(_) => Err("no message from the collector within 120 s".into()),
        Ok(Err(s)) => Err(format!(
            "the collector ended the stream: {}: {}",
            s.code(),
            s.message()
        )),
        Ok(Ok(None)) => Err("the collector closed the stream".into()),
        Ok(Ok(Some(m))) => Ok(m.kind),
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
