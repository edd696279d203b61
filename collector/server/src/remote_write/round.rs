//! One round: its samples split into shards of requests ([`plan`]), and each shard sent
//! in order, every request retried until the receiver accepts or refuses it
//! ([`send_shard`]).
//!
//! A plan depends only on the round's records, the labels of their series and what was
//! sent before (the last-sent time per series): the same round always gives the same
//! requests, so after a restart a shard goes on after the requests the cursor says were
//! finished ([`Plan::resume`]), and the receiver sees the rest as they were.

use super::filter::SeriesFilter;
use super::metrics::{Code, RemoteMetrics, State};
use super::send::{Attempt, Backoff, Sender};
use super::state::{self, Sent};
use super::wire;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tracing::warn;
use vigil_store::{Labels, SeriesId};

/// Most series whose labels (and last-sent time) are remembered; past it the memory is
/// cleared and filled again from the store.
const MAX_REMEMBERED: usize = 1_000_000;

/// How often refusals are logged at most (each is counted).
const REFUSAL_LOG_EVERY_MS: i64 = 10_000;

/// The clock: unix milliseconds.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The labels a remote gets for each series, remembered by id.
pub struct Labeler {
    filter: SeriesFilter,
    known: HashMap<SeriesId, Known>,
}

/// What is known of one series.
enum Known {
    /// Sent with these labels.
    Sent(Arc<[wire::Label]>),
    /// Not for this remote (`write_relabel`, `match`).
    Filtered,
    /// The store does not know the id.
    Unknown,
}

impl Known {
    fn of(sent: Option<Vec<wire::Label>>) -> Known {
        sent.map_or(Known::Filtered, |labels| Known::Sent(Arc::from(labels)))
    }
}

impl Labeler {
    /// A labeler applying `filter`.
    pub fn new(filter: SeriesFilter) -> Self {
        Self {
            filter,
            known: HashMap::new(),
        }
    }

    /// Forgets everything when the memory is full (before learning a round's labels).
    pub fn trim_memory(&mut self) {
        if self.known.len() > MAX_REMEMBERED {
            self.known.clear();
        }
    }

    /// The ids among `ids` whose labels are not remembered, each once (clearing the
    /// memory first when it is full).
    pub fn missing(&mut self, ids: impl Iterator<Item = SeriesId>) -> Vec<SeriesId> {
        self.trim_memory();
        let mut out: Vec<SeriesId> = ids.filter(|id| !self.known.contains_key(id)).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Remembers what is sent for each of `ids` with the labels the store gave (`None`:
    /// the store does not know the id).
    pub fn learn(&mut self, ids: &[SeriesId], labels: Vec<Option<Labels>>) {
        for (id, labels) in ids.iter().zip(labels) {
            let known = match labels {
                Some(labels) => Known::of(self.filter.apply(&labels)),
                None => Known::Unknown,
            };
            self.known.insert(*id, known);
        }
    }

    /// Whether series `id` is sent (as learned).
    pub fn sends(&self, id: SeriesId) -> bool {
        matches!(self.known.get(&id), Some(Known::Sent(_)))
    }

    /// Applies the filter to labels given directly (backfill pages), remembering them.
    pub fn learn_one(&mut self, id: SeriesId, labels: &Labels) {
        let known = Known::of(self.filter.apply(labels));
        self.known.insert(id, known);
    }
}

/// The newest sample time sent per series: older samples are not sent again.
#[derive(Debug, Default)]
pub struct LastSent(HashMap<SeriesId, i64>);

impl LastSent {
    /// Remembers what `request` delivered (or what the receiver refused for good).
    pub fn record(&mut self, request: &Request) {
        if self.0.len() > MAX_REMEMBERED {
            self.0.clear();
        }
        for &(id, ts) in &request.newest {
            let last = self.0.entry(id).or_insert(ts);
            *last = (*last).max(ts);
        }
    }
}

/// One request of a shard.
#[derive(Debug, Clone)]
pub struct Request {
    /// The encoded [`wire::WriteRequest`].
    pub body: Vec<u8>,
    /// Samples in it.
    pub samples: u64,
    /// Each series' newest sample time in it.
    pub newest: Vec<(SeriesId, i64)>,
    /// The newest sample time in it.
    pub newest_ms: i64,
}

/// A round split into shards.
#[derive(Debug, Default)]
pub struct Plan {
    /// Per shard, its requests in the order they go.
    pub shards: Vec<Vec<Request>>,
    /// Samples older than one already sent of their series: not sent.
    pub out_of_order: u64,
    /// Samples of series the store does not know: not sent.
    pub unknown: u64,
}

impl Plan {
    /// Takes out of each shard the requests `progress` (from the cursor) says were
    /// finished before a restart, when the shard's first requests are those very ones (the
    /// same digest); a shard planned otherwise (a changed configuration) keeps all its
    /// requests and is sent again from its first. Returns where each shard starts (what
    /// was kept of `progress`, or nothing) and the requests taken out.
    pub fn resume(&mut self, progress: &[Sent]) -> (Vec<Sent>, Vec<Request>) {
        let mut starts = vec![Sent::default(); self.shards.len()];
        let mut finished = Vec::new();
        for ((requests, start), sent) in self.shards.iter_mut().zip(&mut starts).zip(progress) {
            let n = sent.requests as usize;
            if n == 0 || n > requests.len() {
                continue;
            }
            let digest = requests[..n]
                .iter()
                .fold(0, |d, r| state::digest(d, &r.body));
            if digest == sent.digest {
                *start = *sent;
                finished.extend(requests.drain(..n));
            }
        }
        (starts, finished)
    }
}

/// Where a shard stands in the round in flight, for the cursor: its requests from the
/// round's first are chained on from `start` as they finish.
#[derive(Debug, Clone)]
pub struct Progress {
    /// The shard's index in the plan.
    pub shard: usize,
    /// Finished before this run (after a restart), else nothing.
    pub start: Sent,
    /// Tells the forwarder each time one more of this run's requests is finished.
    pub tell: mpsc::UnboundedSender<(usize, Sent)>,
}

impl Progress {
    fn finished(&mut self, request: &Request) {
        self.start = Sent {
            requests: self.start.requests.saturating_add(1),
            digest: state::digest(self.start.digest, &request.body),
        };
        // The forwarder stops listening only once every shard has ended.
        let _ = self.tell.send((self.shard, self.start));
    }
}

/// The shard of series `id` among `shards`: a fixed mix of the id (the same on every
/// run), so one series always goes through one shard.
pub fn shard_of(id: SeriesId, shards: usize) -> usize {
    let mut x = id.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    (x % shards.max(1) as u64) as usize
}

/// Splits samples into shards of requests of at most `batch_size` samples. `series`
/// comes in log order and may name a series several times; each series' samples are
/// sorted by time (the later written wins at equal times, as in the store) and those at
/// or before its last-sent time are left out. Series `labeler` does not send are left
/// out; their labels must be learned before.
pub fn plan<'a>(
    series: impl Iterator<Item = (SeriesId, &'a [(i64, f64)])>,
    labeler: &Labeler,
    last_sent: &LastSent,
    shards: usize,
    batch_size: usize,
) -> Plan {
    let mut order: Vec<(SeriesId, Vec<(i64, f64)>)> = Vec::new();
    let mut index: HashMap<SeriesId, usize> = HashMap::new();
    for (id, samples) in series {
        let at = *index.entry(id).or_insert_with(|| {
            order.push((id, Vec::new()));
            order.len() - 1
        });
        order[at].1.extend_from_slice(samples);
    }
    let mut plan = Plan {
        shards: (0..shards.max(1)).map(|_| Vec::new()).collect(),
        ..Plan::default()
    };
    let mut builders: Vec<Builder> = (0..shards.max(1)).map(|_| Builder::default()).collect();
    for (id, mut samples) in order {
        let labels = match labeler.known.get(&id) {
            Some(Known::Sent(labels)) => labels,
            Some(Known::Filtered) => continue,
            Some(Known::Unknown) | None => {
                plan.unknown += samples.len() as u64;
                continue;
            }
        };
        samples.sort_by_key(|s| s.0);
        samples.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                *earlier = *later;
            }
            same
        });
        if let Some(&last) = last_sent.0.get(&id) {
            let before = samples.partition_point(|s| s.0 < last);
            plan.out_of_order += before as u64;
            let upto = samples.partition_point(|s| s.0 <= last);
            samples.drain(..upto);
        }
        let shard = shard_of(id, shards);
        let mut rest = &samples[..];
        while !rest.is_empty() {
            let room = batch_size.max(1) - builders[shard].samples;
            let (now, later) = rest.split_at(room.min(rest.len()));
            builders[shard].add(id, labels, now);
            rest = later;
            if builders[shard].samples >= batch_size.max(1) {
                plan.shards[shard].push(builders[shard].finish());
            }
        }
    }
    for (shard, builder) in builders.iter_mut().enumerate() {
        if builder.samples > 0 {
            plan.shards[shard].push(builder.finish());
        }
    }
    plan
}

#[derive(Default)]
struct Builder {
    timeseries: Vec<wire::TimeSeries>,
    newest: Vec<(SeriesId, i64)>,
    samples: usize,
}

impl Builder {
    fn add(&mut self, id: SeriesId, labels: &Arc<[wire::Label]>, samples: &[(i64, f64)]) {
        self.samples += samples.len();
        self.newest
            .push((id, samples.last().map_or(i64::MIN, |s| s.0)));
        self.timeseries.push(wire::TimeSeries {
            labels: labels.to_vec(),
            samples: samples
                .iter()
                .map(|&(timestamp, value)| wire::Sample { value, timestamp })
                .collect(),
        });
    }

    fn finish(&mut self) -> Request {
        let request = wire::WriteRequest {
            timeseries: std::mem::take(&mut self.timeseries),
            metadata: Vec::new(),
        };
        let newest = std::mem::take(&mut self.newest);
        Request {
            body: wire::encode(&request),
            samples: std::mem::take(&mut self.samples) as u64,
            newest_ms: newest.iter().map(|n| n.1).max().unwrap_or(i64::MIN),
            newest,
        }
    }
}

/// What a shard needs to send.
#[derive(Clone)]
pub struct ShardContext {
    /// The remote's HTTP side.
    pub sender: Arc<Sender>,
    /// The remote's counters.
    pub metrics: Arc<RemoteMetrics>,
    /// Backoff bounds.
    pub min_backoff: Duration,
    /// Backoff bounds.
    pub max_backoff: Duration,
    /// The clock.
    pub clock: Clock,
    /// Turns true (or closes) when the collector stops.
    pub stop: watch::Receiver<bool>,
    /// When refusals were last logged (shared by the shards of a remote).
    pub refusal_logged_ms: Arc<AtomicI64>,
    /// The state shown while requests go through ([`State::Sending`] or
    /// [`State::Backfilling`]); [`State::Retrying`] while one is retried.
    pub busy: State,
    /// Set while a round is retried and the unsent log has grown past
    /// `max_queue_bytes`: the shards give the round up at their next retry.
    pub over_bytes: Arc<AtomicBool>,
}

/// How a shard ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Every request was accepted or refused.
    Done,
    /// Still retrying when the round passed its deadline.
    GaveUp,
    /// The collector is stopping.
    Stopped,
}

/// Sends `requests` one after the other, each until accepted or refused; gives up when a
/// retry finds the clock past `give_up_after_ms` or the log past its byte bound
/// ([`ShardContext::over_bytes`]). With `progress`, tells each finished request as it
/// goes. Returns the requests and how many of them are finished (accepted or refused).
pub async fn send_shard(
    mut ctx: ShardContext,
    requests: Vec<Request>,
    give_up_after_ms: Option<i64>,
    mut progress: Option<Progress>,
) -> (Vec<Request>, usize, Ending) {
    let mut backoff = Backoff::new(ctx.min_backoff, ctx.max_backoff);
    for (done, request) in requests.iter().enumerate() {
        loop {
            if stopping(&ctx.stop) {
                return (requests, done, Ending::Stopped);
            }
            let attempt = tokio::select! {
                attempt = ctx.sender.send_once(&request.body) => attempt,
                _ = wait_stop(&mut ctx.stop) => return (requests, done, Ending::Stopped),
            };
            let m = &ctx.metrics;
            match attempt {
                Attempt::Accepted => {
                    m.request(Code::Success);
                    m.sent(request.samples, request.newest_ms, (ctx.clock)());
                    m.set_state(ctx.busy);
                    backoff.reset();
                    if let Some(p) = &mut progress {
                        p.finished(request);
                    }
                    break;
                }
                Attempt::Refused { status, message } => {
                    m.request(Code::of(Some(status)));
                    m.failed(request.samples);
                    let error = format!("HTTP {status}: {message}");
                    m.set_error(&error);
                    log_refusal(&ctx, request.samples, &error);
                    if let Some(p) = &mut progress {
                        p.finished(request);
                    }
                    break;
                }
                Attempt::Retry { status, after, why } => {
                    m.request(Code::of(status));
                    m.retry();
                    m.set_error(&why);
                    m.set_state(State::Retrying);
                    if give_up_after_ms.is_some_and(|at| (ctx.clock)() > at)
                        || ctx.over_bytes.load(Ordering::Relaxed)
                    {
                        return (requests, done, Ending::GaveUp);
                    }
                    let wait = backoff.next(after);
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = wait_stop(&mut ctx.stop) => return (requests, done, Ending::Stopped),
                    }
                }
            }
        }
    }
    let done = requests.len();
    (requests, done, Ending::Done)
}

/// Logs a refusal with the receiver's message, at most once per
/// [`REFUSAL_LOG_EVERY_MS`] per remote (every refusal is counted regardless).
fn log_refusal(ctx: &ShardContext, samples: u64, error: &str) {
    let now = (ctx.clock)();
    let last = ctx.refusal_logged_ms.load(Ordering::Relaxed);
    if now.saturating_sub(last) >= REFUSAL_LOG_EVERY_MS
        && ctx
            .refusal_logged_ms
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        warn!(
            remote = %ctx.metrics.name,
            samples,
            error,
            "the receiver refused a request: its samples are counted as failed and not sent \
             again (further refusals within 10s are counted, not logged)"
        );
    }
}

/// Whether the collector is stopping.
pub fn stopping(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

/// Resolves when the collector stops.
pub async fn wait_stop(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

#[cfg(test)]
mod tests;
