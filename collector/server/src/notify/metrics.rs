//! The notifier's own counters, written as series by the collector's housekeeping:
//! `vigil_notifications_total{receiver,result}` and `vigil_notify_outbox_depth{receiver}`.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Counters and gauges of the notifier.
#[derive(Debug, Default)]
pub struct NotifyMetrics {
    /// (receiver, result) → count. Results: `sent`, `retried`, `rejected`, `expired`,
    /// `dropped`.
    pub notifications: Mutex<BTreeMap<(String, String), u64>>,
    /// receiver → notifications waiting in the outbox.
    pub outbox_depth: Mutex<BTreeMap<String, u64>>,
}

/// One series: (metric name, labels, value).
pub type Series = (&'static str, Vec<(String, String)>, f64);

impl NotifyMetrics {
    /// Adds one to `vigil_notifications_total{receiver,result}`.
    pub fn count(&self, receiver: &str, result: &str) {
        *self
            .notifications
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((receiver.to_owned(), result.to_owned()))
            .or_default() += 1;
    }

    /// Sets the outbox depth of `receiver`.
    pub fn set_depth(&self, receiver: &str, depth: u64) {
        self.outbox_depth
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(receiver.to_owned(), depth);
    }

    /// Every series, for the housekeeping writer.
    pub fn series(&self) -> Vec<Series> {
        let mut out = Vec::new();
        for ((receiver, result), n) in self
            .notifications
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            out.push((
                "vigil_notifications_total",
                vec![
                    ("receiver".to_owned(), receiver.clone()),
                    ("result".to_owned(), result.clone()),
                ],
                *n as f64,
            ));
        }
        for (receiver, depth) in self
            .outbox_depth
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            out.push((
                "vigil_notify_outbox_depth",
                vec![("receiver".to_owned(), receiver.clone())],
                *depth as f64,
            ));
        }
        out
    }
}
