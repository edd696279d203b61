//! Silences: matchers and a time window during which matching alerts are not sent.
//! Kept durably in the store's `Silences` space (format in `stored`); `vigil silence
//! add|list|expire`.
//!
//! Every silence, expired ones included, is also held in memory: the dispatcher asks
//! [`Silences::silenced_by`] for every alert it routes, and that must not touch the disk.
//! An expired silence is kept [`RETENTION`] after its end, so `vigil silence list --all`
//! can show it, then removed.
//!
//! # Layout
//! - This module: [`Silences`], the in-memory index written through to the store.
//! - `silence`: one [`Silence`], its [`SilenceState`], a [`NewSilence`] and its checks,
//!   [`SilenceError`].
//! - `stored`: the records in the store and their format.
//! - `tests`: silences on an in-memory store.

mod silence;
mod stored;

pub use silence::{NewSilence, Silence, SilenceError, SilenceState};

use super::model::LabelMap;
use super::outbox::backoff::XorShift;
use silence::parse_matchers;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tracing::info;
use vigil_rules::matchers::Matchers;
use vigil_store::{KvOp, Space, Store, StoreResult};

/// How long an expired silence stays listed before it is removed.
pub const RETENTION: Duration = Duration::from_secs(5 * 24 * 3600);

/// Most silences kept at once (active, pending and recently expired), so a script gone
/// wrong cannot fill memory.
pub const MAX_SILENCES: usize = 10_000;

/// The silences, cached in memory, written through to the store.
pub struct Silences {
    store: Arc<dyn Store>,
    /// Every silence kept, with its parsed matchers.
    active: RwLock<Vec<(Silence, Matchers)>>,
    /// Serializes changes (store write, then cache), and makes ids.
    writer: Mutex<XorShift>,
}

impl Silences {
    /// Loads the stored silences, removing those that expired longer than [`RETENTION`]
    /// before `now_ms`.
    pub fn open(store: Arc<dyn Store>, now_ms: i64) -> StoreResult<Self> {
        let mut all = Vec::new();
        for (key, value) in store.kv_scan(Space::Silences)? {
            all.extend(stored::decode(&key, &value));
        }
        let silences = Self {
            store,
            active: RwLock::new(all),
            writer: Mutex::new(XorShift::seeded(0x5115)),
        };
        silences.collect_garbage(now_ms)?;
        Ok(silences)
    }

    /// Checks and stores a new silence; returns it with its id.
    pub fn add(&self, new: NewSilence, now_ms: i64) -> Result<Silence, SilenceError> {
        let matchers = parse_matchers(&new.matchers)?;
        let starts_at_ms = if new.starts_at_ms == 0 {
            now_ms
        } else {
            new.starts_at_ms
        };
        if new.ends_at_ms <= starts_at_ms {
            return Err(SilenceError::Invalid(format!(
                "the silence would end ({}) before it starts ({}); give a positive duration \
                 (--for 2h)",
                new.ends_at_ms, starts_at_ms
            )));
        }
        if new.ends_at_ms <= now_ms {
            return Err(SilenceError::Invalid(
                "the silence would end in the past; give an end after now".into(),
            ));
        }
        if new.comment.trim().is_empty() {
            return Err(SilenceError::Invalid(
                "give a comment saying why the alerts are silenced (--comment)".into(),
            ));
        }
        if new.created_by.trim().is_empty() {
            return Err(SilenceError::Invalid(
                "give the silence's author (--author)".into(),
            ));
        }
        let mut rng = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        self.collect_garbage(now_ms)?;
        if self.read().len() >= MAX_SILENCES {
            return Err(SilenceError::Invalid(format!(
                "there are already {MAX_SILENCES} silences; expire some (`vigil silence list`) \
                 or use broader matchers"
            )));
        }
        let silence = Silence {
            id: format!("{:016x}", rng.next_u64()),
            matchers: matchers.0.iter().map(ToString::to_string).collect(),
            starts_at_ms,
            ends_at_ms: new.ends_at_ms,
            created_by: new.created_by.trim().to_owned(),
            comment: new.comment.trim().to_owned(),
        };
        self.store.kv_write(&[stored::put(&silence)])?;
        info!(id = %silence.id, matchers = %matchers, ends_at_ms = silence.ends_at_ms, created_by = %silence.created_by, "silence added");
        self.write().push((silence.clone(), matchers));
        Ok(silence)
    }

    /// Ends silence `id` now (a pending one never starts).
    pub fn expire(&self, id: &str, now_ms: i64) -> Result<Silence, SilenceError> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let id = id.trim();
        let Some(mut silence) = self
            .read()
            .iter()
            .find(|(s, _)| s.id == id)
            .map(|(s, _)| s.clone())
        else {
            return Err(SilenceError::NotFound(id.to_owned()));
        };
        if silence.state(now_ms) == SilenceState::Expired {
            return Err(SilenceError::AlreadyExpired(silence.id));
        }
        silence.ends_at_ms = now_ms;
        silence.starts_at_ms = silence.starts_at_ms.min(now_ms);
        self.store.kv_write(&[stored::put(&silence)])?;
        info!(id = %silence.id, "silence expired");
        if let Some(slot) = self.write().iter_mut().find(|(s, _)| s.id == silence.id) {
            slot.0 = silence.clone();
        }
        Ok(silence)
    }

    /// Silences newest first (by start, then id); expired ones (within [`RETENTION`]) only
    /// with `include_expired`.
    pub fn list(&self, include_expired: bool, now_ms: i64) -> Vec<Silence> {
        let cutoff = now_ms - RETENTION.as_millis() as i64;
        let mut out: Vec<Silence> = self
            .read()
            .iter()
            .map(|(s, _)| s)
            .filter(|s| s.ends_at_ms >= cutoff)
            .filter(|s| include_expired || s.state(now_ms) != SilenceState::Expired)
            .cloned()
            .collect();
        out.sort_by(|a, b| {
            b.starts_at_ms
                .cmp(&a.starts_at_ms)
                .then_with(|| a.id.cmp(&b.id))
        });
        out
    }

    /// Ids of the silences muting an alert with `labels` at `now_ms` (empty: not silenced).
    pub fn silenced_by(&self, labels: &LabelMap, now_ms: i64) -> Vec<String> {
        self.read()
            .iter()
            .filter(|(s, m)| s.state(now_ms) == SilenceState::Active && m.matches(labels))
            .map(|(s, _)| s.id.clone())
            .collect()
    }

    /// Removes silences that ended more than [`RETENTION`] before `now_ms`.
    fn collect_garbage(&self, now_ms: i64) -> StoreResult<()> {
        let cutoff = now_ms - RETENTION.as_millis() as i64;
        let old: Vec<String> = self
            .read()
            .iter()
            .filter(|(s, _)| s.ends_at_ms < cutoff)
            .map(|(s, _)| s.id.clone())
            .collect();
        if old.is_empty() {
            return Ok(());
        }
        let ops: Vec<KvOp> = old.iter().map(|id| stored::delete(id)).collect();
        self.store.kv_write(&ops)?;
        self.write().retain(|(s, _)| !old.contains(&s.id));
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<(Silence, Matchers)>> {
        self.active.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<(Silence, Matchers)>> {
        self.active.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests;
