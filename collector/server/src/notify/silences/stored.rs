//! The store's `Silences` space: one record per silence, read at start and written
//! through on every change.
//!
//! ```text
//! key    the silence id: 16 lowercase hex digits (ASCII)
//! value  JSON, versioned: {"v":1,"id":"…","matchers":["host=\"db-1\""],"starts_at_ms":…,
//!        "ends_at_ms":…,"created_by":"ann","comment":"disk swap"}
//! ```

use super::Silence;
use serde::{Deserialize, Serialize};
use tracing::error;
use vigil_rules::matchers::Matchers;
use vigil_store::{KvOp, Space};

/// The value format written now.
const FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Stored {
    v: u32,
    #[serde(flatten)]
    silence: Silence,
}

/// A stored record as a silence and its parsed matchers; `None` (logged) when this
/// collector cannot read it.
pub(super) fn decode(key: &[u8], value: &[u8]) -> Option<(Silence, Matchers)> {
    let stored: Stored = match serde_json::from_slice(value) {
        Ok(s) => s,
        Err(e) => {
            error!(key = %String::from_utf8_lossy(key), error = %e, "skipping a stored silence this collector cannot read");
            return None;
        }
    };
    if stored.v != FORMAT_VERSION {
        error!(id = %stored.silence.id, version = stored.v, "skipping a silence in an unknown format (written by a newer collector?)");
        return None;
    }
    match Matchers::parse(&stored.silence.matchers) {
        Ok(m) => Some((stored.silence, m)),
        Err(e) => {
            error!(id = %stored.silence.id, error = %e, "skipping a stored silence with bad matchers");
            None
        }
    }
}

/// The write that stores `silence` (or replaces its record).
pub(super) fn put(silence: &Silence) -> KvOp {
    let stored = Stored {
        v: FORMAT_VERSION,
        silence: silence.clone(),
    };
    // Serializing strings and numbers into a Vec cannot fail.
    let value = serde_json::to_vec(&stored).unwrap_or_default();
    KvOp::put(Space::Silences, silence.id.as_bytes().to_vec(), value)
}

/// The write that removes silence `id`'s record.
pub(super) fn delete(id: &str) -> KvOp {
    KvOp::delete(Space::Silences, id.as_bytes().to_vec())
}
