//! Silences: matchers and a time window during which matching alerts are not sent.
//! Kept durably in the store's `Silences` space; `vigil silence add|list|expire`.
//!
//! ```text
//! key    the silence id: 16 lowercase hex digits (ASCII)
//! value  JSON, versioned: {"v":1,"id":"…","matchers":["host=\"db-1\""],"starts_at_ms":…,
//!        "ends_at_ms":…,"created_by":"ann","comment":"disk swap"}
//! ```
//!
//! Every silence, expired ones included, is also held in memory: the dispatcher asks
//! [`Silences::silenced_by`] for every alert it routes, and that must not touch the disk.
//! An expired silence is kept [`RETENTION`] after its end, so `vigil silence list --all`
//! can show it, then removed.

use super::model::LabelMap;
use super::outbox::backoff::XorShift;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tracing::{error, info};
use vigil_rules::matchers::Matchers;
use vigil_store::{KvOp, Space, Store, StoreError, StoreResult};

/// How long an expired silence stays listed before it is removed.
pub const RETENTION: Duration = Duration::from_secs(5 * 24 * 3600);

/// Most silences kept at once (active, pending and recently expired), so a script gone
/// wrong cannot fill memory.
pub const MAX_SILENCES: usize = 10_000;

/// The value format written now.
const FORMAT_VERSION: u32 = 1;

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

/// Where a silence stands at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilenceState {
    /// It starts later.
    Pending,
    /// It mutes matching alerts now.
    Active,
    /// It has ended.
    Expired,
}

impl SilenceState {
    /// `"pending"`, `"active"` or `"expired"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

impl Silence {
    /// Its state at `now_ms`.
    pub fn state(&self, now_ms: i64) -> SilenceState {
        if now_ms >= self.ends_at_ms {
            SilenceState::Expired
        } else if now_ms < self.starts_at_ms {
            SilenceState::Pending
        } else {
            SilenceState::Active
        }
    }
}

/// A silence to add.
#[derive(Debug, Clone, Default)]
pub struct NewSilence {
    /// Matchers as written; a text may also be a brace list `{a="x", b=~"y"}`.
    pub matchers: Vec<String>,
    /// Start; 0 means now.
    pub starts_at_ms: i64,
    /// End.
    pub ends_at_ms: i64,
    /// Who makes it.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

/// Why a silence could not be added or expired.
#[derive(Debug, thiserror::Error)]
pub enum SilenceError {
    /// Bad matchers, times, author or comment; the text says which and what to do.
    #[error("{0}")]
    Invalid(String),
    /// No silence has that id.
    #[error("no silence has the id {0:?}; `vigil silence list --all` lists them")]
    NotFound(String),
    /// The silence had already ended.
    #[error("silence {0} has already expired")]
    AlreadyExpired(String),
    /// The store failed.
    #[error("storing the silence failed: {0}")]
    Store(#[from] StoreError),
}

#[derive(Serialize, Deserialize)]
struct Stored {
    v: u32,
    #[serde(flatten)]
    silence: Silence,
}

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
            let stored: Stored = match serde_json::from_slice(&value) {
                Ok(s) => s,
                Err(e) => {
                    error!(key = %String::from_utf8_lossy(&key), error = %e, "skipping a stored silence this collector cannot read");
                    continue;
                }
            };
            if stored.v != FORMAT_VERSION {
                error!(id = %stored.silence.id, version = stored.v, "skipping a silence in an unknown format (written by a newer collector?)");
                continue;
            }
            match Matchers::parse(&stored.silence.matchers) {
                Ok(m) => all.push((stored.silence, m)),
                Err(e) => {
                    error!(id = %stored.silence.id, error = %e, "skipping a stored silence with bad matchers")
                }
            }
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
        self.store.kv_write(&[put(&silence)])?;
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
        self.store.kv_write(&[put(&silence)])?;
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
        let ops: Vec<KvOp> = old
            .iter()
            .map(|id| KvOp::delete(Space::Silences, id.as_bytes().to_vec()))
            .collect();
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

/// Parses a silence's matchers; Alertmanager's rule: at least one must need a label value
/// (a silence whose matchers all match an empty label set would mute every alert).
fn parse_matchers(texts: &[String]) -> Result<Matchers, SilenceError> {
    const HOW: &str = "write matchers as name=\"value\", name!=\"value\", name=~\"regex\" or \
                       name!~\"regex\", such as alertname=\"DiskFull\" host=~\"db-.*\"";
    if texts.iter().all(|t| t.trim().is_empty()) {
        return Err(SilenceError::Invalid(format!(
            "a silence needs at least one matcher; {HOW}"
        )));
    }
    let matchers = Matchers::parse(texts)
        .map_err(|e| SilenceError::Invalid(format!("bad matcher {e}; {HOW}")))?;
    if matchers.0.is_empty() {
        return Err(SilenceError::Invalid(format!(
            "a silence needs at least one matcher; {HOW}"
        )));
    }
    if matchers.matches(&LabelMap::new()) {
        return Err(SilenceError::Invalid(format!(
            "the matchers {matchers} would silence every alert (each also matches a missing \
             label); add one that needs a value, such as alertname=\"DiskFull\""
        )));
    }
    Ok(matchers)
}

fn put(silence: &Silence) -> KvOp {
    let stored = Stored {
        v: FORMAT_VERSION,
        silence: silence.clone(),
    };
    // Serializing strings and numbers into a Vec cannot fail.
    let value = serde_json::to_vec(&stored).unwrap_or_default();
    KvOp::put(Space::Silences, silence.id.as_bytes().to_vec(), value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_store::memory::MemoryStore;

    const NOW: i64 = 1_795_000_000_000;
    const HOUR: i64 = 3_600_000;

    fn new(matchers: &[&str]) -> NewSilence {
        NewSilence {
            matchers: matchers.iter().map(|m| (*m).to_owned()).collect(),
            starts_at_ms: 0,
            ends_at_ms: NOW + HOUR,
            created_by: "ann".into(),
            comment: "disk swap".into(),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> LabelMap {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    fn store() -> Arc<dyn Store> {
        Arc::new(MemoryStore::new())
    }

    /// Opens the silences kept in `store` as a collector starting at `NOW` would.
    fn open(store: &Arc<dyn Store>) -> Silences {
        Silences::open(store.clone(), NOW).unwrap()
    }

    #[test]
    fn add_match_expire_and_reload() {
        let store = store();
        let silences = open(&store);
        let s = silences
            .add(new(&["alertname=DiskFull", r#"host=~"db-.*""#]), NOW)
            .unwrap();
        assert_eq!(s.id.len(), 16);
        assert!(s.id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(s.matchers, [r#"alertname="DiskFull""#, r#"host=~"db-.*""#]);
        assert_eq!((s.starts_at_ms, s.ends_at_ms), (NOW, NOW + HOUR));

        let db1 = labels(&[("alertname", "DiskFull"), ("host", "db-1")]);
        let web1 = labels(&[("alertname", "DiskFull"), ("host", "web-1")]);
        assert_eq!(silences.silenced_by(&db1, NOW + 1), [s.id.clone()]);
        assert!(silences.silenced_by(&web1, NOW + 1).is_empty());
        assert!(silences.silenced_by(&db1, NOW + HOUR).is_empty());

        // A pending one does not mute yet.
        let later = silences
            .add(
                NewSilence {
                    starts_at_ms: NOW + HOUR,
                    ends_at_ms: NOW + 2 * HOUR,
                    ..new(&["host=web-1"])
                },
                NOW,
            )
            .unwrap();
        assert!(silences.silenced_by(&web1, NOW).is_empty());
        assert_eq!(later.state(NOW), SilenceState::Pending);
        let listed: Vec<String> = silences
            .list(false, NOW)
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(listed, [later.id.clone(), s.id.clone()]);

        let expired = silences.expire(&s.id, NOW + 10).unwrap();
        assert_eq!(expired.ends_at_ms, NOW + 10);
        assert!(silences.silenced_by(&db1, NOW + 11).is_empty());
        assert!(matches!(
            silences.expire(&s.id, NOW + 20),
            Err(SilenceError::AlreadyExpired(_))
        ));
        assert!(matches!(
            silences.expire("0123456789abcdef", NOW),
            Err(SilenceError::NotFound(_))
        ));
        assert_eq!(silences.list(false, NOW + 20).len(), 1);
        assert_eq!(silences.list(true, NOW + 20).len(), 2);
        drop(silences);

        // Survives a restart (the expired one is still within its retention).
        let silences = open(&store);
        let mut ids: Vec<String> = silences
            .list(true, NOW + 20)
            .into_iter()
            .map(|s| s.id)
            .collect();
        ids.sort();
        let mut expected = vec![s.id.clone(), later.id.clone()];
        expected.sort();
        assert_eq!(ids, expected);
        assert_eq!(silences.silenced_by(&web1, NOW + HOUR + 1), [later.id]);
    }

    #[test]
    fn expired_silences_are_removed_after_the_retention() {
        let store = store();
        let silences = open(&store);
        let old = silences.add(new(&["host=a"]), NOW).unwrap();
        silences.expire(&old.id, NOW + 1).unwrap();
        let later = NOW + RETENTION.as_millis() as i64 + 10;
        assert!(silences.list(true, later).is_empty());
        silences
            .add(
                NewSilence {
                    ends_at_ms: later + HOUR,
                    ..new(&["host=b"])
                },
                later,
            )
            .unwrap();
        let left: Vec<Vec<String>> = silences
            .list(true, later)
            .into_iter()
            .map(|s| s.matchers)
            .collect();
        assert_eq!(left, [vec![r#"host="b""#.to_owned()]]);
        assert_eq!(silences.store.kv_scan(Space::Silences).unwrap().len(), 1);
    }

    #[test]
    fn bad_silences_say_what_is_wrong() {
        let store = store();
        let silences = open(&store);
        for (silence, says) in [
            (new(&[]), "at least one matcher"),
            (new(&["host"]), "bad matcher \"host\""),
            (new(&[r#"host=~"(""#]), "bad regex"),
            (new(&[r#"host=~".*""#]), "would silence every alert"),
            (new(&["host!=x"]), "would silence every alert"),
            (
                NewSilence {
                    ends_at_ms: NOW - 1,
                    ..new(&["host=a"])
                },
                "before it starts",
            ),
            (
                NewSilence {
                    comment: " ".into(),
                    ..new(&["host=a"])
                },
                "--comment",
            ),
            (
                NewSilence {
                    created_by: String::new(),
                    ..new(&["host=a"])
                },
                "--author",
            ),
        ] {
            let err = silences.add(silence.clone(), NOW).unwrap_err().to_string();
            assert!(err.contains(says), "{silence:?}: {err}");
        }
        assert!(silences.list(true, NOW).is_empty());
    }
}
