//! The notification log: per receiver and group, which alerts the last notification said
//! were firing and resolved, and when it was made. A flush notifies only when this says
//! the receiver has not heard something yet, or `repeat_interval` has passed: that is what
//! makes a restart neither repeat nor lose a notification, since the log entry is written
//! in the same atomic write as the outbox entries of the notification.
//!
//! ```text
//! space NotifyLog:    key = receiver name, 0x00, group key (UTF-8)
//!                     value = JSON {"firing": {"<fingerprint>": starts_at_ms, …},
//!                                   "resolved": [<fingerprint>, …], "sent_ms": ms}
//! space NotifyAlerts: key = the alert's fingerprint, 16 hex digits
//!                     value = JSON of `model::Alert`
//! ```
//!
//! Fingerprints in the log are the 64-bit numbers (`model::fingerprint`).

use super::super::model::Alert;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use vigil_store::{KvOp, Space};

/// What was last sent to one receiver about one group.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LogEntry {
    /// Firing alerts announced: fingerprint → when the alert started. An alert that
    /// resolved and fired again starts later, so it counts as new.
    pub firing: BTreeMap<u64, i64>,
    /// Resolved alerts announced.
    pub resolved: BTreeSet<u64>,
    /// When the notification was made (unix milliseconds).
    pub sent_ms: i64,
}

/// What a group's flush should do for its receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Notify (the receiver has not heard of something, or the repeat interval passed).
    Notify,
    /// Nothing changed.
    Unchanged,
}

/// Alertmanager's dedup, with firing alerts told apart by their start:
/// - never notified: notify when something fires;
/// - a firing alert the receiver has not heard of (or heard of with another start): notify;
/// - nothing fires any more but something had been announced firing: notify (all resolved;
///   done even when the receiver does not want resolved alerts, to clear the log);
/// - the receiver wants resolved alerts and one it was told fired has resolved since:
///   notify;
/// - otherwise, while something fires, notify once `repeat_ms` has passed since the last
///   notification.
///
/// `resolved` must hold only alerts the receiver was told fired (see [`announced`]).
pub fn decide(
    entry: Option<&LogEntry>,
    firing: &BTreeMap<u64, i64>,
    resolved: &BTreeSet<u64>,
    send_resolved: bool,
    repeat_ms: i64,
    now_ms: i64,
) -> Decision {
    let notify = match entry {
        None => !firing.is_empty(),
        Some(e) => {
            firing
                .iter()
                .any(|(fp, start)| e.firing.get(fp) != Some(start))
                || (firing.is_empty() && !e.firing.is_empty())
                || (send_resolved && !resolved.is_subset(&e.resolved))
                || (!firing.is_empty() && now_ms.saturating_sub(e.sent_ms) >= repeat_ms)
        }
    };
    if notify {
        Decision::Notify
    } else {
        Decision::Unchanged
    }
}

/// The resolved alerts worth telling a receiver about: those its last notification said
/// were firing. An alert that fired and resolved between two notifications is not
/// announced as resolved, since the receiver never heard it fired.
pub fn announced(entry: Option<&LogEntry>, resolved: &BTreeSet<u64>) -> BTreeSet<u64> {
    match entry {
        None => BTreeSet::new(),
        Some(e) => resolved
            .iter()
            .filter(|fp| e.firing.contains_key(fp))
            .copied()
            .collect(),
    }
}

/// The log key of a receiver's group.
pub fn log_key(receiver: &str, group_key: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(receiver.len() + 1 + group_key.len());
    key.extend_from_slice(receiver.as_bytes());
    key.push(0);
    key.extend_from_slice(group_key.as_bytes());
    key
}

/// Splits a log key into receiver and group key; `None` when it is not one.
pub fn parse_log_key(key: &[u8]) -> Option<(String, String)> {
    let at = key.iter().position(|b| *b == 0)?;
    let receiver = std::str::from_utf8(&key[..at]).ok()?;
    let group = std::str::from_utf8(&key[at + 1..]).ok()?;
    Some((receiver.to_owned(), group.to_owned()))
}

/// Writes (or, with `None`, deletes) a log entry.
pub fn log_op(receiver: &str, group_key: &str, entry: Option<&LogEntry>) -> KvOp {
    let key = log_key(receiver, group_key);
    match entry.and_then(|e| serde_json::to_vec(e).ok()) {
        Some(value) => KvOp::put(Space::NotifyLog, key, value),
        None => KvOp::delete(Space::NotifyLog, key),
    }
}

/// The key of a held alert.
pub fn alert_key(fp: u64) -> Vec<u8> {
    format!("{fp:016x}").into_bytes()
}

/// Saves (or, with `None`, deletes) a held alert.
pub fn alert_op(fp: u64, alert: Option<&Alert>) -> KvOp {
    match alert.and_then(|a| serde_json::to_vec(a).ok()) {
        Some(value) => KvOp::put(Space::NotifyAlerts, alert_key(fp), value),
        None => KvOp::delete(Space::NotifyAlerts, alert_key(fp)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(firing: &[(u64, i64)], resolved: &[u64], sent_ms: i64) -> LogEntry {
        LogEntry {
            firing: firing.iter().copied().collect(),
            resolved: resolved.iter().copied().collect(),
            sent_ms,
        }
    }

    fn set(fps: &[u64]) -> BTreeSet<u64> {
        fps.iter().copied().collect()
    }

    fn map(pairs: &[(u64, i64)]) -> BTreeMap<u64, i64> {
        pairs.iter().copied().collect()
    }

    const REPEAT: i64 = 1000;

    #[test]
    fn dedup_like_alertmanager() {
        use Decision::*;
        let d = |e: Option<&LogEntry>, f: &[(u64, i64)], r: &[u64], sr: bool, now: i64| {
            decide(e, &map(f), &set(r), sr, REPEAT, now)
        };
        // Nothing sent yet.
        assert_eq!(d(None, &[(1, 0)], &[], true, 0), Notify);
        assert_eq!(d(None, &[], &[], true, 0), Unchanged);
        let sent = entry(&[(1, 0), (2, 0)], &[], 100);
        // Same alerts, before and after the repeat interval.
        assert_eq!(d(Some(&sent), &[(1, 0), (2, 0)], &[], true, 500), Unchanged);
        assert_eq!(d(Some(&sent), &[(1, 0), (2, 0)], &[], true, 1100), Notify);
        // A new alert, or one that fired again (a later start).
        assert_eq!(d(Some(&sent), &[(1, 0), (3, 0)], &[], true, 500), Notify);
        assert_eq!(d(Some(&sent), &[(1, 50)], &[], false, 500), Notify);
        // One of two resolved: only a receiver that wants it hears now.
        assert_eq!(d(Some(&sent), &[(1, 0)], &[2], true, 500), Notify);
        assert_eq!(d(Some(&sent), &[(1, 0)], &[2], false, 500), Unchanged);
        // Already told it resolved.
        let told = entry(&[(1, 0)], &[2], 100);
        assert_eq!(d(Some(&told), &[(1, 0)], &[2], true, 500), Unchanged);
        // All resolved: notify (even without send_resolved, to clear the log).
        assert_eq!(d(Some(&sent), &[], &[1, 2], false, 500), Notify);
        assert_eq!(
            d(Some(&entry(&[], &[1], 100)), &[], &[], true, 5000),
            Unchanged
        );
    }

    #[test]
    fn only_alerts_announced_firing_are_announced_resolved() {
        let sent = entry(&[(1, 0)], &[], 100);
        assert_eq!(announced(Some(&sent), &set(&[1, 2])), set(&[1]));
        assert_eq!(announced(None, &set(&[1])), set(&[]));
    }

    #[test]
    fn keys_and_values_round_trip() {
        let key = log_key("ops", "{}:{alertname=\"X\"}");
        assert_eq!(
            parse_log_key(&key),
            Some(("ops".to_owned(), "{}:{alertname=\"X\"}".to_owned()))
        );
        let e = entry(&[(u64::MAX, 7)], &[3], 9);
        let op = log_op("ops", "g", Some(&e));
        let back: LogEntry = serde_json::from_slice(op.value.as_deref().unwrap()).unwrap();
        assert_eq!(back, e);
        assert_eq!(log_op("ops", "g", None).value, None);
        assert_eq!(alert_key(0xab), b"00000000000000ab");
    }
}
