//! The `statvfs` workers: long-lived threads that size the mounts, so a round starts none.
//!
//! A hung mount (a dead NFS server) blocks `statvfs` indefinitely. A round queues one call
//! per mount and waits at most `Options::statfs_timeout` for all the answers:
//!
//! - Normally one worker makes every call of the round, one after another.
//! - When calls are waiting in the queue, every worker is inside a call, and no answer has
//!   come for a short stall (a quarter of the timeout, at most 20 ms), another worker is
//!   started for them: a hung call holds up only its own worker, never the other mounts.
//! - A mount whose call has not returned is stuck: it is reported as an error and not
//!   queued again until that call returns, so at most one call per mount point is ever
//!   outstanding (node_exporter's `stuckMounts`). Every worker inside a call is therefore on
//!   a different mount: there are at most (stuck mounts + 1) workers, and never more than
//!   [`MAX_WORKERS`].
//! - A worker whose call returns when another worker is already free ends: after a hung
//!   mount recovers, the pool is back to one thread.
//! - At the deadline, each call not answered counts as one timeout: those in progress
//!   (hung), and those still queued (only when every worker is stuck and [`MAX_WORKERS`]
//!   is reached), which are taken back and asked again next round.

use std::collections::{HashSet, VecDeque};
use std::io;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::stat::FsStats;

/// The call that sizes one path, shared with the workers: `statvfs`, or a fake in tests.
pub(super) type StatfsFn = Arc<dyn Fn(&Path) -> io::Result<FsStats> + Send + Sync>;

/// Most workers alive at once, stuck ones included: a safety net, since one stuck worker
/// per hung mount is already the bound.
pub(super) const MAX_WORKERS: usize = 64;

/// Longest wait for an answer, while calls are queued, before starting another worker.
const MAX_STALL: Duration = Duration::from_millis(20);

/// One mount to size.
#[derive(Debug, Clone)]
pub(super) struct Target {
    /// Its mount point as reported; at most one call per key is outstanding.
    pub key: Arc<str>,
    /// Where the agent calls `statvfs`: the mount point below the configured rootfs.
    pub path: Arc<Path>,
}

struct Job {
    round: u64,
    index: usize,
    target: Target,
}

/// What the round and the workers share, under one lock.
#[derive(Default)]
struct State {
    /// Calls not yet taken by a worker.
    queue: VecDeque<Job>,
    /// Keys of the calls queued or in progress. A worker removes its key before it answers,
    /// so a key still here at the start of a round means that mount is stuck.
    in_flight: HashSet<Arc<str>>,
    /// The round waiting for answers, 0 between rounds: a later answer is dropped.
    round: u64,
    /// That round's answers by target, `None` until answered (or when the call failed).
    answers: Vec<Option<FsStats>>,
    /// That round's calls not answered yet, and those answered so far.
    pending: usize,
    answered: usize,
    /// Workers alive, and those of them inside a call.
    live: usize,
    busy: usize,
    /// Workers started since the pool was made.
    started: u64,
    /// The pool is gone: free workers end.
    closed: bool,
}

impl State {
    /// Drops the calls no worker has taken yet; their mounts are asked again next round.
    fn take_back_queued(&mut self) {
        for job in self.queue.drain(..) {
            self.in_flight.remove(&job.target.key);
        }
    }
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when calls are queued or the pool closes.
    wake: Condvar,
    /// Signalled when the round's last answer is in.
    done: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The workers of one filesystem source, and the timeouts they have had.
pub(super) struct Pool {
    shared: Arc<Shared>,
    statfs: StatfsFn,
    timeout: Duration,
    /// [`MAX_WORKERS`], lower in tests.
    max_workers: usize,
    round: u64,
    /// When the round started last gives up on its calls.
    deadline: Instant,
    timeouts: u64,
}

impl Pool {
    /// A pool calling `statfs`, waiting at most `timeout` per round; no thread yet.
    pub fn new(statfs: StatfsFn, timeout: Duration) -> Self {
        Self {
            shared: Arc::default(),
            statfs,
            timeout,
            max_workers: MAX_WORKERS,
            round: 0,
            deadline: Instant::now(),
            timeouts: 0,
        }
    }

    /// Calls that have timed out since the pool was made.
    pub fn timeouts_total(&self) -> u64 {
        self.timeouts
    }

    /// Sizes every target, waiting at most the timeout in all. `results[i]` is `None` where
    /// the call failed, timed out, or is still stuck from an earlier round.
    #[cfg(test)]
    pub fn stat_all(&mut self, targets: &[Target], results: &mut Vec<Option<FsStats>>) {
        self.start(targets);
        self.finish(results);
    }

    /// Queues a call for every target not stuck and wakes a worker; the timeout runs from
    /// now. [`finish`](Self::finish) collects the answers.
    pub fn start(&mut self, targets: &[Target]) {
        self.round += 1;
        self.deadline = Instant::now() + self.timeout;
        let mut state = self.shared.lock();
        state.take_back_queued(); // Left by an earlier round that was not finished.
        state.round = self.round;
        state.answers.clear();
        state.answers.resize(targets.len(), None);
        state.answered = 0;
        for (index, target) in targets.iter().enumerate() {
            if state.in_flight.contains(&*target.key) {
                tracing::debug!(mountpoint = %target.key, "statvfs still hung, skipping");
                continue;
            }
            state.in_flight.insert(Arc::clone(&target.key));
            let (round, target) = (self.round, target.clone());
            state.queue.push_back(Job {
                round,
                index,
                target,
            });
        }
        state.pending = state.queue.len();
        if state.pending > 0 {
            if state.live == state.busy {
                self.start_worker(&mut state);
            }
            self.shared.wake.notify_all();
        }
    }

    /// Waits until every call of the round started last is answered or its deadline has
    /// passed, and puts the answers in `results`, by target: `None` where the call failed,
    /// timed out, or is still stuck from an earlier round.
    pub fn finish(&mut self, results: &mut Vec<Option<FsStats>>) {
        let deadline = self.deadline;
        let mut state = self.shared.lock();
        if state.round == 0 {
            results.clear(); // No round started: nothing to answer.
            return;
        }
        let stall = (self.timeout / 4).min(MAX_STALL);
        let mut answered = 0;
        while state.pending > 0 {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            // With calls still queued, look again after a stall; with none, every call left
            // is in progress and only the deadline is left to wait for.
            let wait = if state.queue.is_empty() {
                deadline - now
            } else {
                stall.min(deadline - now)
            };
            state = self
                .shared
                .done
                .wait_timeout(state, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            // No answer for a stall, calls queued, and every worker inside a call (slow or
            // hung): another worker takes the queued calls.
            let stalled = state.answered == answered;
            answered = state.answered;
            if stalled && !state.queue.is_empty() && state.live == state.busy {
                self.start_worker(&mut state);
            }
        }
        let unanswered = state.pending;
        if unanswered > 0 {
            // The calls in progress stay in flight (stuck).
            state.take_back_queued();
            state.pending = 0;
        }
        state.round = 0;
        std::mem::swap(results, &mut state.answers);
        drop(state);
        if unanswered > 0 {
            tracing::warn!(
                hung = unanswered,
                timeout = ?self.timeout,
                "statvfs timed out; those filesystems are reported with device_error 1"
            );
            self.timeouts += unanswered as u64;
        }
    }

    /// Starts one more worker unless [`MAX_WORKERS`] are alive; called with the lock held,
    /// so the worker sees the state only once the caller is done with it.
    fn start_worker(&self, state: &mut State) {
        if state.live >= self.max_workers {
            // Said once a round, by the warning about the calls that timed out.
            tracing::debug!(workers = state.live, "every statvfs worker is stuck");
            return;
        }
        let shared = Arc::clone(&self.shared);
        let statfs = Arc::clone(&self.statfs);
        let spawned = std::thread::Builder::new()
            .name("vigil-statfs".into())
            .spawn(move || work(&shared, &*statfs));
        match spawned {
            Ok(_) => {
                state.live += 1;
                state.started += 1;
            }
            Err(error) => tracing::warn!(
                %error,
                "cannot start a statvfs worker; the filesystems left time out this round"
            ),
        }
    }

    /// Workers alive, workers inside a call, workers started so far, and calls queued or
    /// in progress (for tests).
    #[cfg(test)]
    pub fn census(&self) -> (usize, usize, u64, usize) {
        let state = self.shared.lock();
        (state.live, state.busy, state.started, state.in_flight.len())
    }
}

impl Drop for Pool {
    /// Free workers end now; stuck ones when their call returns.
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closed = true;
        state.queue.clear();
        drop(state);
        self.shared.wake.notify_all();
    }
}

/// One worker: takes calls from the queue until the pool closes or another worker is free.
fn work(shared: &Shared, statfs: &(dyn Fn(&Path) -> io::Result<FsStats> + Send + Sync)) {
    let mut state = shared.lock();
    loop {
        if let Some(job) = state.queue.pop_front() {
            state.busy += 1;
            drop(state);
            let result = statfs(&job.target.path);
            state = shared.lock();
            state.busy -= 1;
            state.in_flight.remove(&job.target.key);
            // An answer after its round gave up is dropped.
            if job.round == state.round {
                match result {
                    Ok(stats) => state.answers[job.index] = Some(stats),
                    Err(error) => tracing::debug!(
                        mountpoint = %job.target.key, %error, "statvfs failed"
                    ),
                }
                state.answered += 1;
                state.pending -= 1;
                if state.pending == 0 {
                    shared.done.notify_one();
                }
            }
            continue;
        }
        // One free worker is enough.
        if state.closed || state.live - state.busy > 1 {
            state.live -= 1;
            return;
        }
        state = shared
            .wake
            .wait(state)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

#[cfg(test)]
pub(super) mod tests;
