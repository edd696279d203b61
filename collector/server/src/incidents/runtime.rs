//! The running incidents: the engine fed with the notifier's alerts, every change written
//! to the store before anyone hears of it, and the listing and acknowledgement the CLI
//! and the APIs ask for.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tracing::{info, warn};

use super::correlate::Engine;
use super::notices::Sink;
use super::{Change, Incident, store};
use crate::config::IncidentsConfig;
use crate::notify::model::Alert;
use vigil_store::Store;
use vigil_store::clock::now_ms;

/// How often the engine is ticked (pending alerts opened, quiet incidents resolved).
pub const TICK: Duration = Duration::from_secs(5);

/// The incidents of a running collector. Share it with `Arc`.
pub struct Incidents {
    engine: Mutex<Engine>,
    store: Arc<dyn Store>,
    retention: Duration,
    /// Where notifications and tickets of incidents go (none in tests without a notifier).
    sink: Option<Sink>,
}

impl Incidents {
    /// Loads the incidents kept in the store; the open ones go on. Their steps are told to
    /// `sink`'s receivers. Blocks on the store.
    pub fn open(
        config: &IncidentsConfig,
        store: Arc<dyn Store>,
        sink: Option<Sink>,
    ) -> Result<Self, String> {
        let (saved, unreadable) = store::load(store.as_ref())?;
        if unreadable > 0 {
            warn!(
                unreadable,
                "some saved incidents could not be read; they are left out"
            );
        }
        let open: Vec<Incident> = saved
            .incidents
            .into_iter()
            .filter(Incident::is_open)
            .collect();
        if !open.is_empty() {
            info!(open = open.len(), "open incidents restored");
        }
        Ok(Self {
            engine: Mutex::new(Engine::new(config.settings(), open, saved.next_id)),
            store,
            retention: config.retention,
            sink,
        })
    }

    fn engine(&self) -> MutexGuard<'_, Engine> {
        self.engine.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes in one evaluation's alerts; returns what changed (already stored).
    pub fn observe(&self, alerts: &[Alert], now_ms: i64) -> Vec<Change> {
        let mut engine = self.engine();
        let mut changes = engine.observe(alerts, now_ms);
        self.save(&mut engine, &mut changes, now_ms);
        changes
    }

    /// Opens what waited long enough, resolves what was quiet long enough.
    pub fn tick(&self, now_ms: i64) -> Vec<Change> {
        let mut engine = self.engine();
        let mut changes = engine.tick(now_ms);
        self.save(&mut engine, &mut changes, now_ms);
        changes
    }

    /// Stores the changes and, in the same write, the notifications they make.
    fn save(&self, engine: &mut Engine, changes: &mut [Change], now_ms: i64) {
        if changes.is_empty() {
            return;
        }
        let mut notices = Vec::new();
        if let Some(sink) = &self.sink {
            for change in changes.iter_mut() {
                let made = sink.notices(change, now_ms);
                if !made.is_empty() {
                    engine.mark_notified(change.incident.id, &change.incident.notified);
                }
                notices.extend(made);
            }
        }
        let incidents: Vec<&Incident> = changes.iter().map(|c| &c.incident).collect();
        let written = store::save_ops(&incidents, engine.next_id()).and_then(|ops| {
            match (&self.sink, notices.is_empty()) {
                (Some(sink), false) => sink
                    .outbox
                    .enqueue(&notices, ops)
                    .map_err(|e| format!("writing incident notifications: {e}")),
                _ => self
                    .store
                    .kv_write(&ops)
                    .map_err(|e| format!("saving incidents: {e}")),
            }
        });
        if let Err(e) = written {
            warn!(
                error = %e,
                notifications = notices.len(),
                "incidents could not be saved; they are kept in memory (their notifications \
                 are not sent)"
            );
        }
    }

    /// The tickets of `incident`, from the book.
    fn with_tickets(&self, mut incident: Incident) -> Incident {
        if let Some(sink) = &self.sink {
            incident.tickets = sink.book.of(incident.id);
        }
        incident
    }

    /// Marks incident `id` as taken by `by`.
    pub fn acknowledge(&self, id: u64, by: &str, comment: &str) -> Result<Incident, String> {
        let mut engine = self.engine();
        let now = now_ms();
        let mut changes = vec![engine.acknowledge(id, by, comment, now)?];
        self.save(&mut engine, &mut changes, now);
        let change = changes.pop().ok_or("nothing changed")?;
        Ok(self.with_tickets(change.incident))
    }

    /// The incidents opened or still open since `since_ms`, newest first; only the open
    /// ones with `open_only`.
    pub fn list(&self, since_ms: i64, open_only: bool) -> Result<Vec<Incident>, String> {
        let (saved, _) = store::load(self.store.as_ref())?;
        let mut found: Vec<Incident> = saved
            .incidents
            .into_iter()
            .filter(|i| {
                i.is_open()
                    || (!open_only
                        && (i.opened_ms >= since_ms
                            || i.resolved_ms.is_some_and(|r| r >= since_ms)))
            })
            .map(|i| self.with_tickets(i))
            .collect();
        found.sort_by(|a, b| b.opened_ms.cmp(&a.opened_ms).then(b.id.cmp(&a.id)));
        Ok(found)
    }

    /// Incident `id`, if kept.
    pub fn get(&self, id: u64) -> Result<Option<Incident>, String> {
        let (saved, _) = store::load(self.store.as_ref())?;
        Ok(saved
            .incidents
            .into_iter()
            .find(|i| i.id == id)
            .map(|i| self.with_tickets(i)))
    }

    /// Deletes resolved incidents older than the retention.
    pub fn prune(&self, now_ms: i64) -> Result<usize, String> {
        let (saved, _) = store::load(self.store.as_ref())?;
        let keep_ms = i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        let before = now_ms.saturating_sub(keep_ms);
        let pruned = store::prune(self.store.as_ref(), &saved.incidents, before)?;
        if let Some(sink) = &self.sink {
            let gone: Vec<u64> = saved
                .incidents
                .iter()
                .filter(|i| i.resolved_ms.is_some_and(|r| r < before))
                .map(|i| i.id)
                .collect();
            let ops = sink.book.forget(&gone);
            if !ops.is_empty() {
                self.store
                    .kv_write(&ops)
                    .map_err(|e| format!("deleting old tickets: {e}"))?;
            }
        }
        Ok(pruned)
    }

    /// Ticks every [`TICK`] and prunes daily, on the current tokio runtime, until dropped.
    pub fn spawn_ticker(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut last_prune = i64::MIN;
            loop {
                tick.tick().await;
                let Some(incidents) = weak.upgrade() else {
                    break;
                };
                let done = tokio::task::spawn_blocking(move || {
                    let now = now_ms();
                    incidents.tick(now);
                    if prune_due(now, last_prune) {
                        if let Err(e) = incidents.prune(now) {
                            warn!(error = %e, "pruning old incidents failed");
                        }
                        return now;
                    }
                    last_prune
                })
                .await;
                match done {
                    Ok(at) => last_prune = at,
                    Err(e) => warn!(error = %e, "ticking incidents panicked"),
                }
            }
        })
    }
}

/// Runs `f` (which blocks on the store) on a blocking thread: `Err` when the task itself
/// failed, else what `f` answered.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<Result<T, String>, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("incidents task failed: {e}"))
}

/// Whether a day has passed since incidents were last pruned at `last` (`i64::MIN`: never,
/// so the first tick prunes).
fn prune_due(now: i64, last: i64) -> bool {
    now.saturating_sub(last) >= 86_400_000
}

#[cfg(test)]
mod prune_tests {
    use super::prune_due;

    #[test]
    fn the_first_tick_prunes_then_once_a_day() {
        // `now - i64::MIN` overflowed: a debug build's ticker panicked at every tick, and a
        // release build's never pruned.
        let now = 1_796_591_034_638;
        assert!(prune_due(now, i64::MIN));
        assert!(!prune_due(now + 86_399_999, now));
        assert!(prune_due(now + 86_400_000, now));
    }
}
