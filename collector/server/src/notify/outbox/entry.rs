//! One outbox entry: a notification waiting for one integration of its receiver, and its
//! on-disk form in the store's `Outbox` space.
//!
//! ```text
//! key    u64 id, big-endian (8 bytes): ids grow monotonically, across restarts too, so a
//!        scan returns the entries oldest first
//! value  JSON object, versioned:
//!          {"v":1,                           format version; an unknown one is skipped
//!           "receiver":"ops",                the receiver's name (from configuration)
//!           "integration":0,                 index among the receiver's integrations
//!           "kind":"webhook",                that integration's kind, to notice a config
//!                                            that changed under a waiting entry
//!           "notification":{…},              the Notification as serde writes it
//!           "created_ms":…,                  when it entered the outbox
//!           "attempts":2,                    failed attempts so far
//!           "next_attempt_ms":…,             not before this
//!           "last_error":"HTTP 503 …",       the last failure, "" before any
//!           "delivery":"3f2b7c1e-…"}         the delivery id (webhooks' X-Vigil-Delivery):
//!                                            random, made when the entry is written, so
//!                                            every attempt, after a restart too, sends
//!                                            the same; entries written before it existed
//!                                            have none and use one derived from their id,
//!                                            creation time, receiver and integration
//! ```

use super::super::model::Notification;
use super::super::webhook::{derived_delivery_id, is_delivery_id};
use serde::{Deserialize, Serialize};

/// The value format written now.
pub const FORMAT_VERSION: u32 = 1;

/// A notification waiting for one integration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Format version ([`FORMAT_VERSION`]).
    pub v: u32,
    /// The receiver's name.
    pub receiver: String,
    /// Index of the integration among the receiver's integrations.
    pub integration: usize,
    /// The integration's kind when the entry was written.
    pub kind: String,
    /// What to deliver.
    pub notification: Notification,
    /// When the entry was written (unix milliseconds).
    pub created_ms: i64,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Earliest time of the next attempt (unix milliseconds).
    pub next_attempt_ms: i64,
    /// The last failure, empty before any.
    #[serde(default)]
    pub last_error: String,
    /// The delivery id every attempt of this entry carries ([`Entry::delivery_id`]); empty
    /// in entries written before there was one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub delivery: String,
}

/// The store key of entry `id`.
pub fn key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

/// The id of a store key; `None` for a key that is not 8 bytes.
pub fn id_of(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}

impl Entry {
    /// The delivery id of entry `id`: the one stored with it, or, for an entry written
    /// before ids were stored (or holding one a header cannot carry), one derived from
    /// what identifies it in the store, so it too is the same on every attempt.
    pub fn delivery_id(&self, id: u64) -> String {
        if is_delivery_id(&self.delivery) {
            return self.delivery.clone();
        }
        let seed = format!(
            "vigil-outbox\0{id}\0{}\0{}\0{}",
            self.created_ms, self.receiver, self.integration
        );
        derived_delivery_id(seed.as_bytes())
    }

    /// The stored value.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain structs of strings and numbers into a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a stored value; the error says what is wrong with it.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Version {
            v: u32,
        }
        let version: Version =
            serde_json::from_slice(bytes).map_err(|e| format!("not an outbox entry: {e}"))?;
        if version.v != FORMAT_VERSION {
            return Err(format!(
                "format version {} is not known to this collector (it writes {FORMAT_VERSION}); \
                 a newer collector wrote it",
                version.v
            ));
        }
        serde_json::from_slice(bytes).map_err(|e| format!("bad outbox entry: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_id() {
        assert!(key(255) < key(256));
        assert_eq!(id_of(&key(1 << 40)), Some(1 << 40));
        assert_eq!(id_of(b"short"), None);
    }

    fn entry(delivery: &str) -> Entry {
        let notification =
            crate::notify::test_send::test_notification("ops", "", 1_700_000_000_000);
        Entry {
            v: FORMAT_VERSION,
            receiver: "ops".into(),
            integration: 0,
            kind: "webhook".into(),
            notification,
            created_ms: 1_700_000_000_000,
            attempts: 0,
            next_attempt_ms: 1_700_000_000_000,
            last_error: String::new(),
            delivery: delivery.into(),
        }
    }

    #[test]
    fn the_delivery_id_is_stored_with_the_entry() {
        let stored = entry("3f2b7c1e-9a4d-4e6b-8c1f-0d2e4a6b8c9d");
        let text = String::from_utf8(stored.encode()).unwrap();
        assert!(
            text.contains(r#""delivery":"3f2b7c1e-9a4d-4e6b-8c1f-0d2e4a6b8c9d""#),
            "{text}"
        );
        let read = Entry::decode(text.as_bytes()).unwrap();
        assert_eq!(read, stored);
        assert_eq!(read.delivery_id(7), "3f2b7c1e-9a4d-4e6b-8c1f-0d2e4a6b8c9d");
    }

    #[test]
    fn an_entry_without_a_delivery_id_derives_a_stable_one() {
        // As a collector before delivery ids wrote it: no "delivery" key.
        let old = entry("");
        let text = String::from_utf8(old.encode()).unwrap();
        assert!(!text.contains("delivery"), "{text}");
        let read = Entry::decode(text.as_bytes()).unwrap();
        let id = read.delivery_id(7);
        assert!(is_delivery_id(&id), "{id}");
        assert_eq!(id, Entry::decode(text.as_bytes()).unwrap().delivery_id(7));
        assert_ne!(id, read.delivery_id(8));
        let mut later = read.clone();
        later.created_ms += 1;
        assert_ne!(id, later.delivery_id(7));
        // One a header cannot carry is replaced the same way.
        assert_eq!(entry("bad id").delivery_id(7), id);
    }

    #[test]
    fn unknown_versions_are_refused() {
        let err = Entry::decode(br#"{"v":9}"#).unwrap_err();
        assert!(err.contains("format version 9"), "{err}");
        assert!(Entry::decode(b"garbage").is_err());
    }
}
