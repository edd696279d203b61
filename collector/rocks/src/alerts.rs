//! Alert instances' durable state in the `alerts` family (layout in [`crate::keys`]).
//!
//! ```text
//!   key    lp(file) lp(group) lp(rule) labelset
//!   value  u8  version (1)
//!          u8  flags: 1 = firing, 2 = firing_since present, 4 = last_notified present
//!          i64 active_since_ms   i64 firing_since_ms (0 when absent)
//!          i64 last_active_ms    i64 last_notified_ms (0 when absent)
//!          f64 value (IEEE bits)                       all big-endian; 42 bytes
//! ```
//! A later version appends fields and bumps the version byte; this one reads version 1.

use crate::keys::{CF_ALERTS, decode_labelset, encode_labelset, get_lp, put_lp};
use crate::{RocksStore, corrupt, engine};
use rocksdb::{IteratorMode, WriteBatch};
use vigil_store::{AlertKey, StoreResult, StoredAlert};

const VERSION: u8 = 1;
const FIRING: u8 = 1;
const HAS_FIRING_SINCE: u8 = 2;
const HAS_LAST_NOTIFIED: u8 = 4;
const VALUE_LEN: usize = 2 + 5 * 8;

impl RocksStore {
    pub(super) fn write_alert_records(
        &self,
        put: &[StoredAlert],
        remove: &[AlertKey],
    ) -> StoreResult<()> {
        if put.is_empty() && remove.is_empty() {
            return Ok(());
        }
        let cf = self.cf(CF_ALERTS);
        let mut batch = WriteBatch::default();
        for key in remove {
            batch.delete_cf(cf, encode_key(key));
        }
        for alert in put {
            batch.put_cf(cf, encode_key(&alert.key), encode_value(alert));
        }
        self.db
            .write_opt(batch, &self.write_options(self.sync))
            .map_err(engine)
    }

    pub(super) fn read_alert_records(&self) -> StoreResult<Vec<StoredAlert>> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_ALERTS), IteratorMode::Start) {
            let (key, value) = item.map_err(engine)?;
            out.push(decode(&key, &value)?);
        }
        Ok(out)
    }
}

fn encode_key(key: &AlertKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    put_lp(&mut out, key.file.as_bytes());
    put_lp(&mut out, key.group.as_bytes());
    put_lp(&mut out, key.rule.as_bytes());
    out.extend_from_slice(&encode_labelset(&key.labels));
    out
}

fn encode_value(alert: &StoredAlert) -> Vec<u8> {
    let mut flags = 0;
    if alert.firing {
        flags |= FIRING;
    }
    if alert.firing_since_ms.is_some() {
        flags |= HAS_FIRING_SINCE;
    }
    if alert.last_notified_ms.is_some() {
        flags |= HAS_LAST_NOTIFIED;
    }
    let mut out = Vec::with_capacity(VALUE_LEN);
    out.push(VERSION);
    out.push(flags);
    for n in [
        alert.active_since_ms,
        alert.firing_since_ms.unwrap_or(0),
        alert.last_active_ms,
        alert.last_notified_ms.unwrap_or(0),
    ] {
        out.extend_from_slice(&n.to_be_bytes());
    }
    out.extend_from_slice(&alert.value.to_bits().to_be_bytes());
    out
}

fn decode(key: &[u8], value: &[u8]) -> StoreResult<StoredAlert> {
    let mut rest = key;
    let mut text = || -> StoreResult<String> {
        let (field, used) = get_lp(rest).ok_or_else(|| corrupt("alert key"))?;
        rest = &rest[used..];
        String::from_utf8(field.to_vec()).map_err(|_| corrupt("alert key"))
    };
    let (file, group, rule) = (text()?, text()?, text()?);
    let labels = decode_labelset(rest)?;
    if value.len() < VALUE_LEN || value[0] != VERSION {
        return Err(corrupt("alert state (unknown version or truncated)"));
    }
    let flags = value[1];
    let word = |i: usize| {
        let at = 2 + 8 * i;
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&value[at..at + 8]);
        u64::from_be_bytes(bytes)
    };
    Ok(StoredAlert {
        key: AlertKey {
            file,
            group,
            rule,
            labels,
        },
        firing: flags & FIRING != 0,
        active_since_ms: word(0) as i64,
        firing_since_ms: (flags & HAS_FIRING_SINCE != 0).then_some(word(1) as i64),
        last_active_ms: word(2) as i64,
        last_notified_ms: (flags & HAS_LAST_NOTIFIED != 0).then_some(word(3) as i64),
        value: f64::from_bits(word(4)),
    })
}
