//! One simulated agent: its host's scrapes, its spool, and one stream at a time (see
//! [`super::send`] for the protocol and timing, [`super::storm`] for recovery).
//!
//! The stream loop follows the agent's `stream_once` (agent/src/stream.rs): send spooled
//! batches oldest first while fewer than `in_flight` wait for an Ack, always read the
//! collector's messages (so a stream the collector drops fails at once), and fail the
//! stream when the oldest batch in flight has had no Ack for `ack_timeout`. Live scrapes
//! are made into the spool when due whether or not a stream is open ([`Agent::collecting`]).

use super::fleet::Host;
use super::report::{Phase, Stats};
use super::send::{Opened, Plan, due_at, instant_of, next, open, send};
use super::spool::Spool;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;
use tonic::Streaming;
use vigil_proto::v1::agent_message::Kind as AgentKind;
use vigil_proto::v1::collector_message::Kind as CollectorKind;
use vigil_proto::v1::{AgentMessage, CollectorMessage, Hello, Scrape};

/// One host's agent.
pub struct Agent {
    plan: Arc<Plan>,
    stats: Arc<Stats>,
    permits: Arc<Semaphore>,
    /// Held while the host backfills.
    permit: Option<OwnedSemaphorePermit>,
    index: u32,
    host: Host,
    spool: Spool,
    /// Live scrapes are sent this long after their time (the ramp).
    delay_ms: i64,
    /// The first Ack came (the host's series exist).
    created: bool,
    /// Some attempt got a Welcome.
    ever_connected: bool,
    /// The last attempt got a Welcome.
    had_stream: bool,
    /// A stream failed and the host has not caught up since (see [`super::storm`]).
    recovering: bool,
    /// When recovering with a stream open: the last batch spooled before it opened.
    recover_through: Option<u64>,
}

impl Agent {
    /// Host `index` of the plan's fleet, starting `delay` after the run.
    pub fn new(
        plan: Arc<Plan>,
        stats: Arc<Stats>,
        permits: Arc<Semaphore>,
        index: u32,
        delay: Duration,
    ) -> Self {
        let host = plan.fleet.host(index);
        Self {
            plan,
            stats,
            permits,
            permit: None,
            index,
            host,
            spool: Spool::default(),
            delay_ms: delay.as_millis() as i64,
            created: false,
            ever_connected: false,
            had_stream: false,
            recovering: false,
            recover_through: None,
        }
    }

    /// The plan.
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// The shared counts.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The host's index in the fleet.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The host's name.
    pub fn host_name(&self) -> &str {
        self.host.name()
    }

    /// The last attempt got as far as a Welcome.
    pub fn had_stream(&self) -> bool {
        self.had_stream
    }

    fn hello(&self) -> Hello {
        Hello {
            hostname: self.host.name().to_owned(),
            machine_id: format!("loadgen-{}", self.host.name()),
            os: "Debian GNU/Linux 12 (bookworm)".into(),
            kernel: "6.1.0-18-amd64".into(),
            arch: "x86_64".into(),
            cpu_model: "vigil-loadgen".into(),
            logical_cores: 4,
            memory_bytes: 8 << 30,
            agent_version: concat!("loadgen-", env!("CARGO_PKG_VERSION")).into(),
            labels: Vec::new(),
            interval_ms: self.plan.fleet.spec().interval_ms as u64,
            protocol: 1,
            token: self.plan.token.clone(),
        }
    }

    /// When the next live scrape is due (with the ramp delay); None during the backfill
    /// and after the last step.
    fn next_due(&self) -> Option<Instant> {
        let step = self.host.step();
        let end = self.plan.backfill_steps + self.plan.live_steps;
        (step >= self.plan.backfill_steps && step < end)
            .then(|| due_at(self.host.nominal_ms(step) + self.delay_ms))
    }

    /// Makes the next live scrape into the spool.
    fn collect(&mut self) {
        let due_ms = self.host.nominal_ms(self.host.step()) + self.delay_ms;
        let (ts, ids, values) = self.host.next_scrape();
        let scrape = Scrape {
            timestamp_ms: ts,
            series_ids: ids.to_vec(),
            values: values.to_vec(),
            packed: Vec::new(),
        };
        self.stats.generated(Phase::Live, ids.len() as u64);
        self.spool
            .push(vec![scrape], Phase::Live, instant_of(due_ms));
    }

    /// Makes the next backfill batch into the spool: whole scrapes until `batch_samples`
    /// samples or the end of the backfill.
    fn backfill(&mut self) {
        let mut scrapes = Vec::new();
        let mut count = 0;
        while self.host.step() < self.plan.backfill_steps
            && (count == 0 || count < self.plan.batch_samples)
        {
            let (ts, ids, values) = self.host.next_scrape();
            count += ids.len();
            scrapes.push(Scrape {
                timestamp_ms: ts,
                series_ids: ids.to_vec(),
                values: values.to_vec(),
                packed: Vec::new(),
            });
        }
        self.stats.generated(Phase::Backfill, count as u64);
        self.spool.push(scrapes, Phase::Backfill, Instant::now());
    }

    /// Awaits `fut` while making live scrapes when they are due.
    pub async fn collecting<F: Future>(&mut self, fut: F) -> F::Output {
        tokio::pin!(fut);
        loop {
            let due = self.next_due();
            tokio::select! {
                out = &mut fut => return out,
                _ = sleep_until(due), if due.is_some() => self.collect(),
            }
        }
    }

    /// The attempt that just ended failed: the spool goes back to unsent, and the host
    /// recovers from here when it will reconnect (see [`super::storm`]).
    pub fn failed(&mut self) {
        self.spool.rewind();
        self.stats.stream_failed();
        self.recover_through = None;
        if !self.recovering && self.plan.reconnect.is_some() {
            self.recovering = true;
            self.stats.recovery_begins();
        }
    }

    /// One stream, from connecting to the end of the run (Ok) or its failure (Err);
    /// `acked`: whether an Ack came on it.
    pub async fn stream_once(&mut self, acked: &mut bool) -> Result<(), String> {
        self.had_stream = false;
        self.stats.connecting();
        let Opened { tx, mut inbound } = self
            .collecting(open(self.plan.clone(), self.hello()))
            .await?;
        self.on_welcome();
        self.stats.stream_opened();
        let result = self.stream_loop(&tx, &mut inbound, acked).await;
        self.stats.stream_closed();
        result
    }

    fn on_welcome(&mut self) {
        if !self.ever_connected {
            self.ever_connected = true;
            self.stats.connected();
        }
        self.had_stream = true;
        if self.recovering {
            self.stats.reconnected();
            self.recover_through = self.spool.last_seq();
            if self.recover_through.is_none() {
                self.recovered();
            }
        }
    }

    fn recovered(&mut self) {
        self.recovering = false;
        self.recover_through = None;
        self.stats.recovered();
    }

    async fn stream_loop(
        &mut self,
        tx: &mpsc::Sender<AgentMessage>,
        inbound: &mut Streaming<CollectorMessage>,
        acked: &mut bool,
    ) -> Result<(), String> {
        let plan = self.plan.clone();
        let opened = Instant::now();
        let end = plan.backfill_steps + plan.live_steps;
        let mut defined = HashSet::new();
        loop {
            while self.spool.in_flight() < plan.in_flight {
                if let Some(sent) = self
                    .spool
                    .send_next(&mut defined, &self.host, Instant::now())
                {
                    self.stats.sent(sent.phase, sent.samples);
                    if sent.resent {
                        self.stats.resent(sent.samples);
                    }
                    if let Err(e) = send(tx, AgentKind::Batch(sent.batch)).await {
                        self.drain(inbound, opened, acked).await;
                        return Err(e);
                    }
                } else if self.host.step() < plan.backfill_steps {
                    if self.permit.is_none() {
                        let permit = self.permits.clone().acquire_owned().await;
                        self.permit =
                            Some(permit.map_err(|_| "the backfill semaphore closed".to_owned())?);
                    }
                    self.backfill();
                } else {
                    break;
                }
            }
            if self.permit.is_some()
                && self.host.step() >= plan.backfill_steps
                && !self.spool.has_backfill()
            {
                self.permit = None;
            }
            if self.host.step() >= end && self.spool.is_empty() {
                return Ok(());
            }
            let deadline = self.spool.oldest_sent().map(|t| t + plan.ack_timeout);
            let due = self.next_due();
            tokio::select! {
                message = next(inbound) => {
                    if self.on_message(message?, opened)? {
                        *acked = true;
                    }
                }
                _ = sleep_until(deadline), if deadline.is_some() => {
                    return Err(format!(
                        "no Ack within {:?} (--ack-timeout); reopening the stream",
                        plan.ack_timeout
                    ));
                }
                _ = sleep_until(due), if due.is_some() => self.collect(),
            }
        }
    }

    /// The stream broke while sending: reads what the collector sent before it ended it,
    /// so every batch it stored and acknowledged is counted (and not sent again), until
    /// the stream ends or [`DRAIN_FOR`] passes.
    async fn drain(
        &mut self,
        inbound: &mut Streaming<CollectorMessage>,
        opened: Instant,
        acked: &mut bool,
    ) {
        let until = Instant::now() + DRAIN_FOR;
        while let Ok(Ok(kind)) = tokio::time::timeout_at(until, next(inbound)).await {
            match self.on_message(kind, opened) {
                Ok(true) => *acked = true,
                Ok(false) => {}
                Err(_) => break,
            }
        }
    }

    /// Takes in a message from the collector; true for an Ack (which must answer the
    /// oldest batch in flight), false for Settings.
    fn on_message(&mut self, kind: Option<CollectorKind>, opened: Instant) -> Result<bool, String> {
        let ack = match kind {
            Some(CollectorKind::Ack(ack)) => ack,
            Some(CollectorKind::Settings(_)) => return Ok(false),
            other => return Err(format!("expected an Ack, got {other:?}")),
        };
        let entry = self.spool.ack(ack.seq)?;
        if ack.accepted_samples + ack.rejected_samples != entry.samples {
            return Err(format!(
                "batch {} had {} samples but the Ack counts {} accepted and {} rejected",
                entry.seq, entry.samples, ack.accepted_samples, ack.rejected_samples
            ));
        }
        if !self.created {
            self.created = true;
            self.stats.created();
        }
        let why = ack
            .rejection
            .map(|r| format!("code {}: {}", r.code, r.message));
        self.stats.acked(
            entry.phase,
            entry.due.max(opened).elapsed(),
            ack.accepted_samples,
            ack.rejected_samples,
            why,
        );
        if self.recovering && self.recover_through.is_some_and(|s| entry.seq >= s) {
            self.recovered();
        }
        Ok(true)
    }
}

/// How long a broken stream's last Acks are waited for.
const DRAIN_FOR: Duration = Duration::from_secs(5);

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
