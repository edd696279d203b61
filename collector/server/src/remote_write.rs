//! Prometheus remote write 1.0, out (`[[remote_write]]`) and in (`POST /api/v1/write`,
//! [`crate::http`]).
//!
//! # Layout
//!
//! - [`config`]: a `[[remote_write]]` entry; [`filter`]: which series go, with which labels.
//! - [`state`]: each remote's durable cursor over the store's forwarding log.
//! - [`forwarder`]: one task per remote: bounds, rounds, cursor, trimming.
//! - [`round`]: a round split into shards of requests, and each shard sent in order.
//! - [`backfill`]: a new remote's history, when `backfill` asks for it.
//! - [`send`]: one HTTP attempt and the backoff between attempts; [`wire`]: the protocol.
//! - [`metrics`]: each remote's counters and state, for own metrics and `vigil status`.
//!
//! # Design: nothing acknowledged is lost, one series always in time order
//!
//! **The log is in the store.** While a remote is configured, every `Store::append` also
//! writes one record with all its samples into the store's forwarding log, in the same
//! atomic write ([`vigil_store::forward`]): a sample is in the log if and only if it is
//! stored, and both survive `kill -9` alike. Everything stored goes: agents, imports,
//! remote write in, recording rules, `up`, the collector's own metrics. Forwarding is
//! switched on at start-up before any listener accepts, and off (which empties the log)
//! when no remote is configured.
//!
//! **A durable cursor per remote** (a record keyed by the remote's name): `done`, the
//! last log record delivered. The log is trimmed through the least `done` of all
//! configured remotes, so a receiver outage of hours keeps its data in the log (within
//! the bounds below), and a restart goes on from the cursor. A remote configured for the
//! first time starts at the head of the log (no history) unless `backfill` asks for some
//! ([`backfill`]); a remote removed from the configuration has its cursor deleted at
//! start-up, which lets the log trim.
//!
//! **Rounds.** A round is the records after `done` (about `batch_size × concurrency × 8`
//! samples, whole records). Its last sequence number is written into the cursor
//! (`round_end`) before the first request goes; samples are split by a fixed hash of the
//! series id into `concurrency` shards, so one series always goes through one shard; a
//! shard sends its requests one at a time, each retried with backoff (honouring
//! `Retry-After`) until the receiver accepts or refuses it. As requests finish, each
//! shard's count of finished requests and a digest of their bodies go into the cursor
//! (`progress`; one write for whatever finished meanwhile). When every shard is finished,
//! `done = round_end` is written and the log trimmed. A shard's requests are built from
//! the round alone (each series' samples sorted by time, grouped per request in order of
//! first appearance), so after a crash the very same round is rebuilt from `round_end`
//! as the very same requests, and each shard goes on after its finished ones when their
//! digest matches. A receiver that refuses samples older than its newest (Prometheus)
//! thus never sees a series go back in time across a restart. A shard planned otherwise
//! (`batch_size`, `concurrency` or `write_relabel` changed meanwhile) is sent again from
//! its first request, logged: samples are sent again with their values unchanged rather
//! than left out.
//!
//! **Order.** Within a shard requests go one after another, and a series never changes
//! shard, so its samples go in time order. The last time sent per series is kept in
//! memory: a later sample at that time is not sent again (silently), an older one (only
//! imports write such) is counted `dropped{reason="out_of_order"}` rather than sent out
//! of order.
//!
//! **Bounds.** Before a round, records older than `max_lag` (by when they were written)
//! or beyond `max_queue_bytes` of unsent log are skipped: counted
//! (`dropped{reason="max_lag"|"max_bytes"}`) and logged, never silently. A round still
//! retrying when its newest record passes `max_lag` is given up the same way.
//!
//! **Damage.** A damaged log record (checksum) is skipped, its samples counted
//! `dropped{reason="damaged"}` and logged. A cursor record that cannot be read is reset to
//! the oldest record still in the log (sent again: at least once), counted in
//! `vigil_remote_write_cursor_resets_total` and logged. Nothing needs deleting by hand.
//!
//! **Counted** per remote (label `remote`): samples sent, failed (refused by the
//! receiver: 4xx but 429 and 408, never retried, logged with the receiver's message),
//! dropped by reason; requests by code (`2xx`, `4xx`, `429`, `5xx`, `error`); retries;
//! lag (now − written time of the oldest unsent record); queue bytes; the newest sample
//! time sent; cursor resets. `vigil status` shows each remote's state (idle, sending,
//! retrying, backfilling), lag, queue and last error ([`RemoteWrite::statuses`]).
//!
//! **Known limit.** Delivery is at least once. After a crash in the moment between a
//! receiver's 2xx and the cursor write of that request's progress, that request is sent
//! again (and the rest of its shard after it). VictoriaMetrics and Mimir take it as a
//! no-op; a Prometheus receiver refuses those of its samples older than its newest stored
//! with 400 "out of order sample", which is then counted as failed although nothing is
//! lost (the receiver holds them already).

pub mod backfill;
pub mod config;
pub mod filter;
pub mod forwarder;
pub mod metrics;
pub mod round;
pub mod send;
pub mod state;
pub mod wire;

use crate::own_metrics::OwnSeries;
use config::RemoteWriteConfig;
use forwarder::{Forwarder, Settings, Trim};
use metrics::RemoteMetrics;
use round::{Clock, Labeler, LastSent, ShardContext};
use state::{BackfillState, Cursor};
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};
use vigil_store::Store;

/// One remote's state for `vigil status`.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteStatus {
    /// The remote's name.
    pub name: String,
    /// Its URL, without credentials or query.
    pub url: String,
    /// `idle`, `sending`, `retrying` or `backfilling`.
    pub state: String,
    /// Now − written time of the oldest unsent record (0 when caught up).
    pub lag_seconds: f64,
    /// Bytes of log not sent yet.
    pub queue_bytes: u64,
    /// Samples delivered since start.
    pub samples_sent: u64,
    /// Samples refused by the receiver since start.
    pub samples_failed: u64,
    /// Samples skipped since start, every reason.
    pub samples_dropped: u64,
    /// The latest error (empty when none yet).
    pub last_error: String,
    /// When a request was last accepted (unix ms; 0: not yet).
    pub last_success_ms: i64,
}

/// The running forwarders: one task per configured remote.
pub struct RemoteWrite {
    remotes: Vec<Arc<RemoteMetrics>>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl RemoteWrite {
    /// No remotes (forwarding off): for tests and tools that start no forwarders.
    pub fn none() -> Arc<RemoteWrite> {
        Arc::new(RemoteWrite {
            remotes: Vec::new(),
            stop: watch::Sender::new(false),
            tasks: Mutex::new(Vec::new()),
        })
    }

    /// Switches the store's forwarding log on (or off, with no remote), reconciles the
    /// cursors with `configs` and starts one task per remote. Call it before anything
    /// appends (listeners, rules, housekeeping), so every acknowledged sample is logged.
    /// `clock` gives unix ms (the wall clock but in tests).
    pub async fn start(
        store: Arc<dyn Store>,
        configs: &[RemoteWriteConfig],
        clock: Clock,
    ) -> Result<Arc<RemoteWrite>, String> {
        type Prepared<'a> = (
            String,
            send::Sender,
            filter::SeriesFilter,
            Arc<RemoteMetrics>,
            &'a RemoteWriteConfig,
        );
        let mut prepared: Vec<Prepared> = Vec::with_capacity(configs.len());
        for (i, config) in configs.iter().enumerate() {
            let name = config.name();
            if prepared.iter().any(|(n, ..)| *n == name) {
                return Err(format!(
                    "remote_write[{i}].name: {name:?} is used twice; give each entry its own name"
                ));
            }
            let sender = send::Sender::new(config)?;
            let filter = filter::SeriesFilter::new(config)
                .map_err(|e| format!("remote_write ({name:?}).{e}"))?;
            let metrics = Arc::new(RemoteMetrics::new(&name, &sender.url(), clock.clone()));
            prepared.push((name, sender, filter, metrics, config));
        }
        let now = clock();
        let plans: Vec<(String, Arc<RemoteMetrics>, i64)> = prepared
            .iter()
            .map(|(name, _, _, m, c)| {
                let backfill_ms = i64::try_from(c.backfill.as_millis()).unwrap_or(i64::MAX);
                (name.clone(), m.clone(), backfill_ms)
            })
            .collect();
        let db = store.clone();
        let cursors = tokio::task::spawn_blocking(move || reconcile(db.as_ref(), &plans, now))
            .await
            .map_err(|e| format!("starting remote write: {e}"))?
            .map_err(|e| format!("remote write: reading the cursors: {e}"))?;
        let trim = Arc::new(Trim::new(
            &cursors.iter().map(|c| c.done).collect::<Vec<_>>(),
        ));
        if let Some(least) = cursors.iter().map(|c| c.done).min() {
            let db = store.clone();
            let trimmed = tokio::task::spawn_blocking(move || db.forward_trim(least)).await;
            if let Ok(Err(e)) = trimmed {
                warn!(error = %e, "remote write: trimming the forwarding log failed");
            }
        }
        let (stop, _) = watch::channel(false);
        let mut remotes = Vec::new();
        let mut tasks = Vec::new();
        for (index, ((name, sender, filter, metrics, config), cursor)) in
            prepared.into_iter().zip(cursors).enumerate()
        {
            remotes.push(metrics.clone());
            let forwarder = Forwarder {
                store: store.clone(),
                name,
                settings: Settings {
                    batch_size: config.batch_size.max(1),
                    concurrency: config.concurrency.max(1),
                    max_lag_ms: i64::try_from(config.max_lag.as_millis()).unwrap_or(i64::MAX),
                    max_queue_bytes: config.max_queue_bytes,
                },
                shard: ShardContext {
                    sender: Arc::new(sender),
                    metrics,
                    min_backoff: config.min_backoff,
                    max_backoff: config.max_backoff,
                    clock: clock.clone(),
                    stop: stop.subscribe(),
                    refusal_logged_ms: Arc::new(AtomicI64::new(i64::MIN)),
                    busy: metrics::State::Sending,
                    over_bytes: Arc::new(std::sync::atomic::AtomicBool::new(false)),
                },
                labeler: Labeler::new(filter),
                last_sent: LastSent::default(),
                cursor,
                trim: trim.clone(),
                index,
            };
            tasks.push(tokio::spawn(forwarder.run()));
        }
        Ok(Arc::new(RemoteWrite {
            remotes,
            stop,
            tasks: Mutex::new(tasks),
        }))
    }

    /// Each remote's state, in configuration order.
    pub fn statuses(&self) -> Vec<RemoteStatus> {
        self.remotes.iter().map(|m| m.status()).collect()
    }

    /// Each remote's self-metrics.
    pub fn own_series(&self) -> Vec<OwnSeries> {
        let mut out = Vec::new();
        for remote in &self.remotes {
            remote.series(&mut out);
        }
        out
    }

    /// Each remote's counters, in configuration order.
    pub fn metrics(&self) -> &[Arc<RemoteMetrics>] {
        &self.remotes
    }

    /// Stops the forwarders and waits for them: a round in flight is left with its
    /// `round_end` persisted, to be sent again at the next start.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            let _ = task.await;
        }
    }
}

impl Drop for RemoteWrite {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// Switches forwarding on or off and returns each planned remote's cursor (name, metrics,
/// backfill in ms), creating, resetting and deleting cursor records as needed.
fn reconcile(
    store: &dyn Store,
    plans: &[(String, Arc<RemoteMetrics>, i64)],
    now_ms: i64,
) -> vigil_store::StoreResult<Vec<Cursor>> {
    store.set_forwarding(!plans.is_empty())?;
    let stored = state::load_all(store)?;
    let gone: Vec<Vec<u8>> = stored
        .iter()
        .map(|(key, _)| key.clone())
        .filter(|key| {
            !plans
                .iter()
                .any(|(name, ..)| name.as_bytes() == key.as_slice())
        })
        .collect();
    for key in &gone {
        info!(
            remote = %String::from_utf8_lossy(key),
            "remote write: remote no longer configured; its cursor is deleted"
        );
    }
    state::delete(store, &gone)?;
    let bounds = store.forward_bounds()?;
    let mut out = Vec::with_capacity(plans.len());
    for (name, metrics, backfill_ms) in plans {
        let found = stored
            .iter()
            .find(|(key, _)| key.as_slice() == name.as_bytes())
            .map(|(_, cursor)| cursor.clone());
        let cursor = match found {
            Some(Ok(cursor)) if cursor.done <= bounds.readable => cursor,
            Some(Ok(cursor)) => {
                metrics.cursor_reset();
                let reset = state::reset(store, now_ms)?;
                warn!(
                    remote = %name, done = cursor.done, readable = bounds.readable,
                    "remote write: the cursor is past the end of the forwarding log; reset to \
                     the oldest record kept (counted in vigil_remote_write_cursor_resets_total)"
                );
                state::save(store, name, &reset)?;
                reset
            }
            Some(Err(why)) => {
                metrics.cursor_reset();
                let reset = state::reset(store, now_ms)?;
                warn!(
                    remote = %name, error = %why, done = reset.done,
                    "remote write: the cursor record is damaged; reset to the oldest record \
                     still in the forwarding log, which is sent again (counted in \
                     vigil_remote_write_cursor_resets_total)"
                );
                state::save(store, name, &reset)?;
                reset
            }
            None => {
                let cursor = Cursor {
                    done: bounds.readable,
                    round_end: 0,
                    configured_ms: now_ms,
                    backfill: (*backfill_ms > 0).then(|| BackfillState {
                        from_ms: now_ms.saturating_sub(*backfill_ms),
                        until_ms: now_ms,
                        after_series: None,
                    }),
                    progress: Vec::new(),
                };
                info!(
                    remote = %name, backfill_ms,
                    "remote write: new remote; it gets what is stored from now on"
                );
                state::save(store, name, &cursor)?;
                cursor
            }
        };
        out.push(cursor);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
