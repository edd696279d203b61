//! One silence: what it mutes and when, where it stands at a given time, a silence to
//! add, and why adding or expiring one failed.

use crate::notify::model::LabelMap;
use serde::{Deserialize, Serialize};
use vigil_rules::matchers::Matchers;
use vigil_store::StoreError;

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

/// Parses a silence's matchers; Alertmanager's rule: at least one must need a label value
/// (a silence whose matchers all match an empty label set would mute every alert).
pub(super) fn parse_matchers(texts: &[String]) -> Result<Matchers, SilenceError> {
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
