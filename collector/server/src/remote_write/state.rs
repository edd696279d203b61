//! Each remote's durable cursor over the forwarding log: one record in
//! [`Space::RemoteWrite`], keyed by the remote's name, rewritten whole by a single
//! `kv_write` (so a crash leaves either the old record or the new one, never half).
//!
//! ```text
//!   u8        version (2; 1 is read as 2 without the progress part)
//!   u64 BE    done: every record numbered at or below it is delivered (or counted lost)
//!   u64 BE    round_end: the last record of the round being sent (0: none in flight)
//!   i64 BE    configured_ms: when the remote was first configured (unix ms)
//!   u8        1 when a backfill is still to do, else 0; then, only when 1:
//!   i64 BE    backfill from_ms (inclusive)
//!   i64 BE    backfill until_ms (exclusive)
//!   u8        1 when after_series follows meaningfully, else 0
//!   u64 BE    after_series: the last series whose history is sent
//!   u8        shards with progress in the round in flight (0 to 64), then for each:
//!   u32 BE    requests of the shard finished (accepted or refused)
//!   u64 BE    digest of those requests' bodies ([`digest`])
//! ```

use vigil_store::{KvOp, SeriesId, Space, Store, StoreResult};

const VERSION: u8 = 2;
/// The version without the progress part.
const VERSION_1: u8 = 1;
/// Bytes of a record without a backfill (and without the progress part).
const PLAIN_BYTES: usize = 1 + 8 + 8 + 8 + 1;
/// Bytes of a record with a backfill (and without the progress part).
const BACKFILL_BYTES: usize = PLAIN_BYTES + 8 + 8 + 1 + 8;
/// Bytes of one shard's progress.
const SHARD_BYTES: usize = 4 + 8;
/// Most shards with progress (`concurrency` is at most 64).
pub const MAX_SHARDS: usize = 64;

/// How far one shard of the round in flight got: its first `requests` requests are
/// finished, and `digest` is theirs, so a restart skips them only when it rebuilds the
/// very same requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    /// Requests finished (accepted or refused), from the shard's first.
    pub requests: u32,
    /// [`digest`] chained over their bodies (0 when none).
    pub digest: u64,
}

/// Chains `body` into `digest` (64-bit FNV-1a over the length and the bytes): the same
/// requests give the same digest on every run and build.
pub fn digest(digest: u64, body: &[u8]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = if digest == 0 {
        0xcbf2_9ce4_8422_2325
    } else {
        digest
    };
    for b in (body.len() as u64).to_le_bytes().iter().chain(body) {
        h = (h ^ u64::from(*b)).wrapping_mul(PRIME);
    }
    h
}

/// Where one remote stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Every log record numbered at or below this is done with.
    pub done: u64,
    /// The last record of the round in flight, persisted before its first request, so a
    /// restart rebuilds and resends the very same round; 0 when no round is in flight.
    pub round_end: u64,
    /// When the remote was first configured (unix ms).
    pub configured_ms: i64,
    /// History still to send before live rounds, if `backfill` asked for it.
    pub backfill: Option<BackfillState>,
    /// Per shard, what of the round in flight is finished (empty when no round is in
    /// flight or nothing of it is finished yet).
    pub progress: Vec<Sent>,
}

/// How far the history of a new remote is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackfillState {
    /// Oldest sample time to send (inclusive, unix ms).
    pub from_ms: i64,
    /// Newest sample time to send (exclusive, unix ms): the configuration time, from
    /// which the log carries the rest.
    pub until_ms: i64,
    /// The last series (in id order) whose history is sent; `None` before the first.
    pub after_series: Option<SeriesId>,
}

impl Cursor {
    /// The record's value.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BACKFILL_BYTES + 1 + self.progress.len() * SHARD_BYTES);
        out.push(VERSION);
        out.extend_from_slice(&self.done.to_be_bytes());
        out.extend_from_slice(&self.round_end.to_be_bytes());
        out.extend_from_slice(&self.configured_ms.to_be_bytes());
        match &self.backfill {
            None => out.push(0),
            Some(b) => {
                out.push(1);
                out.extend_from_slice(&b.from_ms.to_be_bytes());
                out.extend_from_slice(&b.until_ms.to_be_bytes());
                out.push(u8::from(b.after_series.is_some()));
                out.extend_from_slice(&b.after_series.unwrap_or(0).to_be_bytes());
            }
        }
        let progress = &self.progress[..self.progress.len().min(MAX_SHARDS)];
        out.push(progress.len() as u8);
        for sent in progress {
            out.extend_from_slice(&sent.requests.to_be_bytes());
            out.extend_from_slice(&sent.digest.to_be_bytes());
        }
        out
    }

    /// Reads a record back; what is wrong with it otherwise.
    pub fn decode(value: &[u8]) -> Result<Cursor, String> {
        let version = value.first().copied().unwrap_or_default();
        if version != VERSION && version != VERSION_1 {
            return Err(format!("unknown version {version:?}"));
        }
        let u64_at = |at: usize| {
            value
                .get(at..at + 8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .unwrap_or_default()
        };
        let fixed = match value.get(25) {
            Some(0) => PLAIN_BYTES,
            Some(1) => BACKFILL_BYTES,
            flag => {
                return Err(format!("{} bytes with backfill flag {flag:?}", value.len()));
            }
        };
        let with_backfill = fixed == BACKFILL_BYTES;
        let progress = if version == VERSION_1 {
            if value.len() != fixed {
                return Err(format!("{} bytes for a version 1 record", value.len()));
            }
            Vec::new()
        } else {
            let shards = usize::from(value.get(fixed).copied().unwrap_or(u8::MAX));
            if shards > MAX_SHARDS || value.len() != fixed + 1 + shards * SHARD_BYTES {
                return Err(format!(
                    "{} bytes with progress for {shards} shards",
                    value.len()
                ));
            }
            value[fixed + 1..]
                .chunks_exact(SHARD_BYTES)
                .map(|c| {
                    let (requests, digest) = c.split_at(4);
                    Sent {
                        requests: u32::from_be_bytes(requests.try_into().unwrap_or_default()),
                        digest: u64::from_be_bytes(digest.try_into().unwrap_or_default()),
                    }
                })
                .collect()
        };
        let cursor = Cursor {
            done: u64_at(1),
            round_end: u64_at(9),
            configured_ms: u64_at(17) as i64,
            backfill: with_backfill.then(|| BackfillState {
                from_ms: u64_at(26) as i64,
                until_ms: u64_at(34) as i64,
                after_series: (value[42] == 1).then(|| u64_at(43)),
            }),
            progress,
        };
        if cursor.round_end != 0 && cursor.round_end <= cursor.done {
            return Err(format!(
                "round end {} is not after done {}",
                cursor.round_end, cursor.done
            ));
        }
        if cursor.round_end == 0 && !cursor.progress.is_empty() {
            return Err("progress without a round in flight".to_owned());
        }
        if let Some(b) = &cursor.backfill
            && (b.from_ms > b.until_ms || value[42] > 1)
        {
            return Err("backfill range is inverted".to_owned());
        }
        Ok(cursor)
    }
}

/// A stored cursor record: its key (the remote's name) and the cursor, or why it cannot
/// be read.
pub type Stored = (Vec<u8>, Result<Cursor, String>);

/// Every cursor record, by key. A key that is no configured remote's name is deleted at
/// start-up.
pub fn load_all(store: &dyn Store) -> StoreResult<Vec<Stored>> {
    Ok(store
        .kv_scan(Space::RemoteWrite)?
        .into_iter()
        .map(|(key, value)| {
            let cursor = Cursor::decode(&value);
            (key, cursor)
        })
        .collect())
}

/// Writes remote `name`'s cursor (durable when this returns).
pub fn save(store: &dyn Store, name: &str, cursor: &Cursor) -> StoreResult<()> {
    store.kv_write(&[KvOp::put(
        Space::RemoteWrite,
        name.as_bytes(),
        cursor.encode(),
    )])
}

/// Deletes the cursors under `keys`.
pub fn delete(store: &dyn Store, keys: &[Vec<u8>]) -> StoreResult<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let ops: Vec<KvOp> = keys
        .iter()
        .map(|k| KvOp::delete(Space::RemoteWrite, k.clone()))
        .collect();
    store.kv_write(&ops)
}

/// The cursor that replaces an unreadable one: back to the oldest record still in the log
/// (everything kept is sent again: at least once), or the head when the log is empty.
pub fn reset(store: &dyn Store, now_ms: i64) -> StoreResult<Cursor> {
    let bounds = store.forward_bounds()?;
    Ok(Cursor {
        done: bounds
            .first
            .map_or(bounds.readable, |first| first.saturating_sub(1)),
        round_end: 0,
        configured_ms: now_ms,
        backfill: None,
        progress: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_and_damage_is_refused() {
        let plain = Cursor {
            done: 7,
            round_end: 0,
            configured_ms: -3,
            backfill: None,
            progress: Vec::new(),
        };
        let backfill = Cursor {
            done: 1 << 40,
            round_end: (1 << 40) + 5,
            configured_ms: 1_000,
            backfill: Some(BackfillState {
                from_ms: -5,
                until_ms: 1_000,
                after_series: Some(u64::MAX),
            }),
            progress: Vec::new(),
        };
        let started = Cursor {
            backfill: Some(BackfillState {
                after_series: None,
                ..backfill.backfill.unwrap()
            }),
            ..backfill.clone()
        };
        let in_flight = Cursor {
            round_end: 9,
            progress: vec![
                Sent::default(),
                Sent {
                    requests: u32::MAX,
                    digest: digest(digest(0, b"a"), b""),
                },
            ],
            ..plain.clone()
        };
        for cursor in [plain.clone(), backfill, started, in_flight.clone()] {
            let value = cursor.encode();
            assert_eq!(Cursor::decode(&value), Ok(cursor));
            for cut in 0..value.len() {
                assert!(Cursor::decode(&value[..cut]).is_err(), "cut at {cut}");
            }
        }
        let mut value = plain.encode();
        value[0] = 9;
        assert!(Cursor::decode(&value).unwrap_err().contains("version"));
        let inverted = Cursor {
            round_end: 3,
            ..plain.clone()
        };
        assert!(Cursor::decode(&inverted.encode()).is_err());
        let idle = Cursor {
            round_end: 0,
            ..in_flight
        };
        assert!(
            Cursor::decode(&idle.encode())
                .unwrap_err()
                .contains("progress")
        );
        let mut many = plain.encode();
        *many.last_mut().unwrap() = (MAX_SHARDS + 1) as u8;
        many.resize(many.len() + (MAX_SHARDS + 1) * SHARD_BYTES, 0);
        assert!(Cursor::decode(&many).unwrap_err().contains("65 shards"));
    }

    #[test]
    fn a_version_1_record_reads_as_no_progress() {
        let mut value = vec![VERSION_1];
        value.extend_from_slice(&3u64.to_be_bytes());
        value.extend_from_slice(&5u64.to_be_bytes());
        value.extend_from_slice(&1_000i64.to_be_bytes());
        value.push(0);
        let cursor = Cursor::decode(&value).unwrap();
        assert_eq!(
            (cursor.done, cursor.round_end, cursor.configured_ms),
            (3, 5, 1_000)
        );
        assert!(cursor.progress.is_empty() && cursor.backfill.is_none());
        value.push(0);
        assert!(
            Cursor::decode(&value).is_err(),
            "a version 1 record has no progress part"
        );
    }

    #[test]
    fn digests_tell_requests_apart_by_content_and_order() {
        let ab = digest(digest(0, b"a"), b"b");
        assert_eq!(ab, digest(digest(0, b"a"), b"b"));
        assert_ne!(ab, digest(digest(0, b"b"), b"a"));
        assert_ne!(digest(0, b"ab"), digest(digest(0, b"a"), b"b"));
        assert_ne!(digest(0, b""), 0);
    }
}
