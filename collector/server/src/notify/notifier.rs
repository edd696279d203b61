//! The notifier as the rest of the collector sees it: built from `[notify]`, fed by the
//! rules engine, read by the Notify gRPC service and the housekeeping metrics.

use super::config::NotifyConfig;
use super::dispatch::Dispatcher;
use super::metrics::NotifyMetrics;
use super::model::Alert;
use super::outbox::Outbox;
use super::receivers::Receivers;
use super::silences::Silences;
use std::sync::Arc;
use vigil_store::Store;
use vigil_store::clock::now_ms;

/// The running notifier. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    /// Configured receivers.
    pub receivers: Arc<Receivers>,
    /// Silences.
    pub silences: Arc<Silences>,
    /// The outbox and delivery workers.
    pub outbox: Arc<Outbox>,
    /// Routing and grouping.
    pub dispatcher: Arc<Dispatcher>,
    /// Counters.
    pub metrics: Arc<NotifyMetrics>,
    /// `notify.external_url`.
    pub external_url: String,
    /// Incidents, fed with the same alerts (none with `incidents.enabled = false`).
    pub incidents: Option<Arc<crate::incidents::runtime::Incidents>>,
}

impl Notifier {
    /// Reads secrets, loads silences, the outbox and the dispatcher's saved state, and
    /// starts delivery and flushing on the current tokio runtime. Blocks on the store
    /// (call it from `spawn_blocking` or before serving).
    pub fn start(config: &NotifyConfig, store: Arc<dyn Store>) -> Result<Self, String> {
        let receivers = Arc::new(Receivers::from_config(config)?);
        let metrics = Arc::new(NotifyMetrics::default());
        let silences = Arc::new(
            Silences::open(store.clone(), now_ms())
                .map_err(|e| format!("loading silences: {e}"))?,
        );
        let outbox = Arc::new(
            Outbox::open(
                store.clone(),
                receivers.clone(),
                config.delivery.clone(),
                metrics.clone(),
            )
            .map_err(|e| format!("opening the notification outbox: {e}"))?,
        );
        let dispatcher = Arc::new(
            Dispatcher::open(
                config,
                store,
                silences.clone(),
                outbox.clone(),
                receivers.clone(),
            )
            .map_err(|e| format!("loading notification state: {e}"))?,
        );
        outbox.start();
        dispatcher.start();
        Ok(Self {
            receivers,
            silences,
            outbox,
            dispatcher,
            metrics,
            external_url: config.external_url.clone(),
            incidents: None,
        })
    }

    /// Hands over the alerts of one rule evaluation (firing, and just resolved).
    pub fn observe(&self, alerts: Vec<Alert>) {
        if let Some(incidents) = &self.incidents {
            incidents.observe(&alerts, now_ms());
        }
        self.dispatcher.observe(alerts);
    }
}
