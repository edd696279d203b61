//! The loop of one remote: skip what is past the bounds, read a round after the cursor,
//! persist its end, send it through the shards, move the cursor past it, trim the log.

use super::metrics::{DropReason, RemoteMetrics, State};
use super::round::{self, Ending, Labeler, LastSent, Plan, Progress, ShardContext};
use super::state::{self, Cursor, Sent};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::{info, warn};
use vigil_store::{ForwardRecord, Store, StoreResult};

/// How long a caught-up remote (or one whose store call failed) waits before looking again.
const POLL: Duration = Duration::from_secs(1);

/// Most records in one round.
const MAX_ROUND_RECORDS: usize = 50_000;

/// A remote's sending settings, from its `[[remote_write]]` entry.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Samples per request at most.
    pub batch_size: usize,
    /// Shards.
    pub concurrency: usize,
    /// `max_lag` in ms.
    pub max_lag_ms: i64,
    /// `max_queue_bytes`.
    pub max_queue_bytes: u64,
}

impl Settings {
    /// Samples a round holds at least (whole records), when the log has them.
    pub fn round_samples(&self) -> u64 {
        (self.batch_size * self.concurrency * 8) as u64
    }
}

/// What the remotes have done, so the log is trimmed through the least of it.
#[derive(Debug)]
pub struct Trim {
    dones: Vec<AtomicU64>,
    trimmed: AtomicU64,
}

impl Trim {
    /// The remotes' `done` positions, in the order of their index.
    pub fn new(dones: &[u64]) -> Self {
        Self {
            dones: dones.iter().map(|d| AtomicU64::new(*d)).collect(),
            trimmed: AtomicU64::new(0),
        }
    }

    /// Records remote `index`'s `done` and trims the log through the least of all.
    pub fn done(&self, store: &dyn Store, index: usize, done: u64) -> StoreResult<()> {
        if let Some(d) = self.dones.get(index) {
            d.store(done, Ordering::Relaxed);
        }
        let least = self
            .dones
            .iter()
            .map(|d| d.load(Ordering::Relaxed))
            .min()
            .unwrap_or(0);
        if least > self.trimmed.load(Ordering::Relaxed) {
            store.forward_trim(least)?;
            self.trimmed.fetch_max(least, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// There may be more to send right away.
    More,
    /// Nothing to send now.
    CaughtUp,
    /// The collector is stopping.
    Stopped,
}

/// One remote's forwarding task.
pub struct Forwarder {
    /// The store (log, cursor, labels).
    pub store: Arc<dyn Store>,
    /// The remote's name: its cursor's key.
    pub name: String,
    /// Sending settings.
    pub settings: Settings,
    /// What the shards need.
    pub shard: ShardContext,
    /// The labels sent, by series.
    pub labeler: Labeler,
    /// The newest sample time sent, by series.
    pub last_sent: LastSent,
    /// The cursor as stored.
    pub cursor: Cursor,
    /// Trimming, shared by all remotes.
    pub trim: Arc<Trim>,
    /// This remote's index in `trim`.
    pub index: usize,
}

impl Forwarder {
    fn metrics(&self) -> &RemoteMetrics {
        &self.shard.metrics
    }

    /// Runs until the collector stops: the backfill first if one is left, then rounds.
    pub async fn run(mut self) {
        if self.cursor.backfill.is_some() && super::backfill::run(&mut self).await == Step::Stopped
        {
            return;
        }
        loop {
            if round::stopping(&self.shard.stop) {
                return;
            }
            match self.step().await {
                Ok(Step::More) => tokio::task::yield_now().await,
                Ok(Step::CaughtUp) => {
                    self.metrics().set_state(State::Idle);
                    if !self.pause().await {
                        return;
                    }
                }
                Ok(Step::Stopped) => return,
                Err(e) => {
                    self.failed(&e);
                    if !self.pause().await {
                        return;
                    }
                }
            }
        }
    }

    /// Logs a failed store call and shows it in the status.
    pub fn failed(&self, e: &str) {
        warn!(remote = %self.name, error = %e, "remote write: store call failed; trying again in 1s");
        self.metrics().set_error(e);
    }

    /// Waits [`POLL`]; false when the collector stops meanwhile.
    pub async fn pause(&mut self) -> bool {
        let mut stop = self.shard.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(POLL) => !round::stopping(&stop),
            _ = round::wait_stop(&mut stop) => false,
        }
    }

    /// Runs a store call on the blocking pool.
    pub async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn Store) -> StoreResult<T> + Send + 'static,
    ) -> Result<T, String> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || call(store.as_ref()))
            .await
            .map_err(|e| format!("store call: {e}"))?
            .map_err(|e| e.to_string())
    }

    /// Writes `cursor` durably, then keeps it; trims the log when `done` moved. Without
    /// a round in flight there is no progress to keep.
    pub async fn save(&mut self, mut cursor: Cursor) -> Result<(), String> {
        if cursor.round_end == 0 {
            cursor.progress.clear();
        }
        let (name, moved) = (self.name.clone(), cursor.done != self.cursor.done);
        let (trim, index) = (self.trim.clone(), self.index);
        let saved = cursor.clone();
        self.blocking(move |s| {
            state::save(s, &name, &saved)?;
            if moved {
                trim.done(s, index, cursor.done)?;
            }
            Ok(())
        })
        .await?;
        self.cursor = cursor;
        Ok(())
    }

    /// One round: read, skip by bounds, persist its end, send, move the cursor.
    pub async fn step(&mut self) -> Result<Step, String> {
        let Cursor {
            done, round_end, ..
        } = self.cursor;
        let round_samples = self.settings.round_samples();
        let (bounds, records) = self
            .blocking(move |s| {
                let bounds = s.forward_bounds()?;
                let records = if round_end != 0 {
                    // The round in flight when the collector stopped: the same records (the
                    // same read stops at or after its end; nothing past it is kept).
                    let mut records = s.forward_read(done, round_samples, MAX_ROUND_RECORDS)?;
                    records.retain(|r| r.seq <= round_end);
                    records
                } else {
                    s.forward_read(done, round_samples, MAX_ROUND_RECORDS)?
                };
                Ok((bounds, records))
            })
            .await?;
        let Some(last) = records.last().map(|r| r.seq) else {
            self.metrics().backlog(None, bounds.bytes);
            if round_end != 0 {
                // The round's records are gone: nothing is left to send of it.
                self.save(Cursor {
                    done: round_end,
                    round_end: 0,
                    ..self.cursor.clone()
                })
                .await?;
            }
            return Ok(Step::CaughtUp);
        };
        // A round short of its size reached the end of the log: the next waits a moment,
        // so a steady stream goes in rounds of about a second rather than record by record.
        let read: u64 = records.iter().map(|r| r.samples).sum();
        let full = round_end != 0 || read >= round_samples || records.len() >= MAX_ROUND_RECORDS;
        self.count_damage(&records);
        let now = (self.shard.clock)();
        let skip = self.skip_by_bounds(&records, bounds.bytes, now);
        let round = &records[skip..];
        let skipped_to = skip.checked_sub(1).map(|i| records[i].seq);
        let Some(first) = round.iter().find(|r| r.body.is_ok()) else {
            // All skipped (or damaged): move past them, and on.
            self.save(Cursor {
                done: last,
                round_end: 0,
                ..self.cursor.clone()
            })
            .await?;
            return Ok(Step::More);
        };
        self.metrics()
            .backlog(Some((first.written_ms, first.offset)), bounds.bytes);
        let planned = Cursor {
            done: skipped_to.unwrap_or(done),
            round_end: last,
            ..self.cursor.clone()
        };
        if planned != self.cursor {
            self.save(planned).await?;
        }
        self.learn_labels(round).await?;
        let series = round
            .iter()
            .filter_map(|r| r.body.as_ref().ok())
            .flatten()
            .map(|s| (s.id, &s.samples[..]));
        let mut plan = round::plan(
            series,
            &self.labeler,
            &self.last_sent,
            self.settings.concurrency,
            self.settings.batch_size,
        );
        let starts = self.resume(&mut plan);
        let newest_written = round.iter().map(|r| r.written_ms).max().unwrap_or(now);
        let give_up_after = newest_written.saturating_add(self.settings.max_lag_ms);
        self.metrics().set_state(State::Sending);
        let give_up_bytes = first.offset.saturating_add(self.settings.max_queue_bytes);
        let ending = self
            .send(
                plan,
                State::Sending,
                Some((give_up_after, give_up_bytes)),
                Some(starts),
            )
            .await;
        if ending == Ending::Stopped {
            return Ok(Step::Stopped);
        }
        self.save(Cursor {
            done: last,
            round_end: 0,
            ..self.cursor.clone()
        })
        .await?;
        if full {
            return Ok(Step::More);
        }
        self.metrics().backlog(None, bounds.bytes);
        Ok(Step::CaughtUp)
    }

    /// Takes out of a round rebuilt after a restart the requests its shards had finished
    /// (by the cursor's progress), remembering them as sent; returns where each shard
    /// starts.
    fn resume(&mut self, plan: &mut Plan) -> Vec<Sent> {
        if self.cursor.progress.is_empty() {
            return Vec::new();
        }
        let (starts, finished) = plan.resume(&self.cursor.progress);
        for request in &finished {
            self.last_sent.record(request);
        }
        let samples: u64 = finished.iter().map(|r| r.samples).sum();
        info!(
            remote = %self.name, requests = finished.len(), samples,
            "remote write: going on with the round in flight before the restart; the \
             requests the receiver had answered are not sent again"
        );
        let again = self
            .cursor
            .progress
            .iter()
            .zip(starts.iter().chain(std::iter::repeat(&Sent::default())))
            .filter(|(before, now)| before.requests > 0 && now.requests == 0)
            .count();
        if again > 0 {
            warn!(
                remote = %self.name, shards = again,
                "remote write: the round in flight is planned otherwise than before the \
                 restart (batch_size, concurrency or write_relabel changed?); those shards \
                 are sent again from their first request (at least once)"
            );
        }
        starts
    }

    /// Counts and logs the damaged records of a round.
    fn count_damage(&self, records: &[ForwardRecord]) {
        for record in records {
            if let Err(why) = &record.body {
                self.metrics().dropped(DropReason::Damaged, record.samples);
                warn!(
                    remote = %self.name, seq = record.seq, samples = record.samples, error = %why,
                    "remote write: a damaged record of the forwarding log is skipped, its \
                     samples counted as dropped (reason damaged)"
                );
            }
        }
    }

    /// How many records at the start are past `max_lag` or `max_queue_bytes` (or
    /// damaged between such records); counts and logs them.
    fn skip_by_bounds(&self, records: &[ForwardRecord], bytes: u64, now: i64) -> usize {
        let (mut lag, mut over, mut skip) = (0u64, 0u64, 0);
        for (i, record) in records.iter().enumerate() {
            if record.body.is_err() {
                continue;
            }
            if now.saturating_sub(record.written_ms) > self.settings.max_lag_ms {
                lag += record.samples;
            } else if bytes.saturating_sub(record.offset) > self.settings.max_queue_bytes {
                over += record.samples;
            } else {
                break;
            }
            skip = i + 1;
        }
        for (reason, samples, key) in [
            (DropReason::MaxLag, lag, "max_lag"),
            (DropReason::MaxBytes, over, "max_queue_bytes"),
        ] {
            if samples > 0 {
                self.metrics().dropped(reason, samples);
                warn!(
                    remote = %self.name, samples, bound = key,
                    "remote write: unsent samples past the bound are skipped and counted as \
                     dropped; raise remote_write.{key} to keep more during an outage"
                );
            }
        }
        skip
    }

    /// Learns the labels of the round's series the labeler does not know yet.
    async fn learn_labels(&mut self, round: &[ForwardRecord]) -> Result<(), String> {
        let ids = round
            .iter()
            .filter_map(|r| r.body.as_ref().ok())
            .flatten()
            .map(|s| s.id);
        let missing = self.labeler.missing(ids);
        if missing.is_empty() {
            return Ok(());
        }
        let asked = missing.clone();
        let labels = self.blocking(move |s| s.series_labels(&asked)).await?;
        self.labeler.learn(&missing, labels);
        Ok(())
    }

    /// Sends a plan's shards side by side; remembers what was delivered, counts what was
    /// given up or left out. With `give_up`, a round still retrying once the clock passes
    /// its first value (ms) or the log's bytes its second is given up and counted.
    /// With `progress` (a live round, persisted in the cursor; per shard where it starts,
    /// missing ones at the first request), each shard's finished requests are written
    /// into the cursor as they finish, so a restart does not send them again.
    /// [`Ending::Stopped`] when the collector stops meanwhile.
    pub async fn send(
        &mut self,
        plan: Plan,
        busy: State,
        give_up: Option<(i64, u64)>,
        progress: Option<Vec<Sent>>,
    ) -> Ending {
        if plan.out_of_order > 0 {
            self.metrics()
                .dropped(DropReason::OutOfOrder, plan.out_of_order);
        }
        if plan.unknown > 0 {
            self.metrics().dropped(DropReason::Damaged, plan.unknown);
            warn!(
                remote = %self.name, samples = plan.unknown,
                "remote write: samples of series the store has no labels for are skipped and \
                 counted as dropped (reason damaged)"
            );
        }
        let tracked = progress.is_some();
        let mut sent = progress.unwrap_or_default();
        sent.resize(sent.len().max(plan.shards.len()), Sent::default());
        let (tell, mut told) = mpsc::unbounded_channel();
        let mut shards = JoinSet::new();
        for (shard, requests) in plan.shards.into_iter().enumerate() {
            if requests.is_empty() {
                continue;
            }
            let ctx = ShardContext {
                busy,
                ..self.shard.clone()
            };
            let progress = tracked.then(|| Progress {
                shard,
                start: sent[shard],
                tell: tell.clone(),
            });
            shards.spawn(round::send_shard(
                ctx,
                requests,
                give_up.map(|g| g.0),
                progress,
            ));
        }
        drop(tell);
        self.shard.over_bytes.store(false, Ordering::Relaxed);
        let mut ending = Ending::Done;
        // The queue grows while a receiver is down: keep its gauge current meanwhile, and
        // give the round up once the log is past the byte bound.
        let mut refresh = tokio::time::interval(POLL);
        refresh.tick().await;
        loop {
            let joined = tokio::select! {
                joined = shards.join_next() => joined,
                Some((shard, now)) = told.recv() => {
                    sent[shard] = now;
                    self.save_progress(&mut told, &mut sent).await;
                    continue;
                }
                _ = refresh.tick() => {
                    if let Ok(bounds) = self.blocking(|s| s.forward_bounds()).await {
                        self.metrics().log_bytes(bounds.bytes);
                        if give_up.is_some_and(|g| bounds.bytes > g.1) {
                            self.shard.over_bytes.store(true, Ordering::Relaxed);
                        }
                    }
                    continue;
                }
            };
            let Some(joined) = joined else {
                break;
            };
            let Ok((requests, finished, end)) = joined else {
                ending = Ending::Stopped;
                continue;
            };
            for request in &requests[..finished] {
                self.last_sent.record(request);
            }
            match end {
                Ending::GaveUp => {
                    let samples: u64 = requests[finished..].iter().map(|r| r.samples).sum();
                    let (reason, key) = if self.shard.over_bytes.load(Ordering::Relaxed) {
                        (DropReason::MaxBytes, "max_queue_bytes")
                    } else {
                        (DropReason::MaxLag, "max_lag")
                    };
                    self.metrics().dropped(reason, samples);
                    warn!(
                        remote = %self.name, samples, bound = key,
                        "remote write: the receiver did not take the round before the log \
                         passed the bound; its unsent samples are counted as dropped (raise \
                         remote_write.{key} to keep more during an outage)"
                    );
                    if ending == Ending::Done {
                        ending = Ending::GaveUp;
                    }
                }
                Ending::Stopped => ending = Ending::Stopped,
                Ending::Done => {}
            }
        }
        if ending == Ending::Stopped && tracked {
            // What finished on the way out, so a restart does not send it again.
            self.save_progress(&mut told, &mut sent).await;
        }
        ending
    }

    /// Takes in every shard's progress told so far and writes it into the cursor (one
    /// write for all: while it is written, shards go on and tell more for the next).
    async fn save_progress(
        &mut self,
        told: &mut mpsc::UnboundedReceiver<(usize, Sent)>,
        sent: &mut [Sent],
    ) {
        while let Ok((shard, now)) = told.try_recv() {
            sent[shard] = now;
        }
        if self.cursor.round_end == 0 || self.cursor.progress == sent {
            return;
        }
        let cursor = Cursor {
            progress: sent.to_vec(),
            ..self.cursor.clone()
        };
        if let Err(e) = self.save(cursor).await {
            // Not fatal: a restart sends those requests again (at least once).
            self.failed(&e);
        }
    }
}
