//! Each remote's durable cursor over the forwarding log: one record in
//! [`Space::RemoteWrite`], keyed by the remote's name, rewritten whole by a single
//! `kv_write` (so a crash leaves either the old record or the new one, never half).
//!
//! ```text
//!   u8        version (1)
//!   u64 BE    done: every record numbered at or below it is delivered (or counted lost)
//!   u64 BE    round_end: the last record of the round being sent (0: none in flight)
//!   i64 BE    configured_ms: when the remote was first configured (unix ms)
//!   u8        1 when a backfill is still to do, else 0; then, only when 1:
//!   i64 BE    backfill from_ms (inclusive)
//!   i64 BE    backfill until_ms (exclusive)
//!   u8        1 when after_series follows meaningfully, else 0
//!   u64 BE    after_series: the last series whose history is sent
//! ```

use vigil_store::{KvOp, SeriesId, Space, Store, StoreResult};

const VERSION: u8 = 1;
/// Bytes of a record without a backfill.
const PLAIN_BYTES: usize = 1 + 8 + 8 + 8 + 1;
/// Bytes of a record with a backfill.
const BACKFILL_BYTES: usize = PLAIN_BYTES + 8 + 8 + 1 + 8;

/// Where one remote stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
        let mut out = Vec::with_capacity(BACKFILL_BYTES);
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
        out
    }

    /// Reads a record back; what is wrong with it otherwise.
    pub fn decode(value: &[u8]) -> Result<Cursor, String> {
        if value.first() != Some(&VERSION) {
            return Err(format!(
                "unknown version {:?}",
                value.first().copied().unwrap_or_default()
            ));
        }
        let u64_at = |at: usize| {
            value
                .get(at..at + 8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .unwrap_or_default()
        };
        let with_backfill = match (value.len(), value.get(25)) {
            (PLAIN_BYTES, Some(0)) => false,
            (BACKFILL_BYTES, Some(1)) => true,
            (len, flag) => return Err(format!("{len} bytes with backfill flag {flag:?}")),
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
        };
        if cursor.round_end != 0 && cursor.round_end <= cursor.done {
            return Err(format!(
                "round end {} is not after done {}",
                cursor.round_end, cursor.done
            ));
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
        };
        let started = Cursor {
            backfill: Some(BackfillState {
                after_series: None,
                ..backfill.backfill.unwrap()
            }),
            ..backfill
        };
        for cursor in [plain, backfill, started] {
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
            ..plain
        };
        assert!(Cursor::decode(&inverted.encode()).is_err());
    }
}
