//! The notifier as the rest of the collector sees it: built from `[notify]`, fed by the
//! rules engine, read by the Notify gRPC service and the housekeeping metrics.

use super::config::NotifyConfig;
use super::dispatch::Dispatcher;
use super::dispatch::route::RouteTree;
use super::metrics::NotifyMetrics;
use super::model::Alert;
use super::outbox::Outbox;
use super::receivers::Receivers;
use super::silences::Silences;
use super::tickets::book::TicketBook;
use crate::incidents::notices::Sink;
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
    /// The tickets that follow incidents.
    pub book: Arc<TicketBook>,
    /// The route tree (none without a route).
    tree: Option<RouteTree>,
}

impl Notifier {
    /// Reads secrets, loads silences, the outbox and the dispatcher's saved state, and
    /// starts delivery and flushing on the current tokio runtime. Blocks on the store
    /// (call it from `spawn_blocking` or before serving).
    pub fn start(config: &NotifyConfig, store: Arc<dyn Store>) -> Result<Self, String> {
        let book = Arc::new(TicketBook::open(store.clone())?);
        let receivers = Arc::new(Receivers::with_book(config, book.clone())?);
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
        let tree = match &config.route {
            Some(root) => Some(RouteTree::new(root)?),
            None => None,
        };
        Ok(Self {
            book,
            tree,
            receivers,
            silences,
            outbox,
            dispatcher,
            metrics,
            external_url: config.external_url.clone(),
            incidents: None,
        })
    }

    /// Where incidents send their notifications and tickets: the `mode = "incident"`
    /// routes (none without a route).
    pub fn incident_sink(&self) -> Option<Sink> {
        Some(Sink {
            tree: self.tree.clone()?,
            receivers: self.receivers.clone(),
            outbox: self.outbox.clone(),
            book: self.book.clone(),
            external_url: self.external_url.clone(),
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
