//! The running incidents: the engine fed with the notifier's alerts, every change written
//! to the store before anyone hears of it, and the listing and acknowledgement the CLI
//! and the APIs ask for.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tracing::{info, warn};

use super::correlate::Engine;
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
}

impl Incidents {
    /// Loads the incidents kept in the store; the open ones go on. Blocks on the store.
    pub fn open(config: &IncidentsConfig, store: Arc<dyn Store>) -> Result<Self, String> {
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
        })
    }

    fn engine(&self) -> MutexGuard<'_, Engine> {
        self.engine.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes in one evaluation's alerts; returns what changed (already stored).
    pub fn observe(&self, alerts: &[Alert], now_ms: i64) -> Vec<Change> {
        let mut engine = self.engine();
        let changes = engine.observe(alerts, now_ms);
        self.save(&engine, &changes);
        changes
    }

    /// Opens what waited long enough, resolves what was quiet long enough.
    pub fn tick(&self, now_ms: i64) -> Vec<Change> {
        let mut engine = self.engine();
        let changes = engine.tick(now_ms);
        self.save(&engine, &changes);
        changes
    }

    fn save(&self, engine: &Engine, changes: &[Change]) {
        if changes.is_empty() {
            return;
        }
        let incidents: Vec<&Incident> = changes.iter().map(|c| &c.incident).collect();
        if let Err(e) = store::save(self.store.as_ref(), &incidents, engine.next_id()) {
            warn!(error = %e, "incidents could not be saved; they are kept in memory");
        }
    }

    /// Marks incident `id` as taken by `by`.
    pub fn acknowledge(&self, id: u64, by: &str, comment: &str) -> Result<Incident, String> {
        let mut engine = self.engine();
        let change = engine.acknowledge(id, by, comment, now_ms())?;
        self.save(&engine, std::slice::from_ref(&change));
        Ok(change.incident)
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
            .collect();
        found.sort_by(|a, b| b.opened_ms.cmp(&a.opened_ms).then(b.id.cmp(&a.id)));
        Ok(found)
    }

    /// Incident `id`, if kept.
    pub fn get(&self, id: u64) -> Result<Option<Incident>, String> {
        let (saved, _) = store::load(self.store.as_ref())?;
        Ok(saved.incidents.into_iter().find(|i| i.id == id))
    }

    /// Deletes resolved incidents older than the retention.
    pub fn prune(&self, now_ms: i64) -> Result<usize, String> {
        let (saved, _) = store::load(self.store.as_ref())?;
        let keep_ms = i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        store::prune(
            self.store.as_ref(),
            &saved.incidents,
            now_ms.saturating_sub(keep_ms),
        )
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
                    if now - last_prune >= 86_400_000 {
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
