//! Incidents in the store (`Space::Incidents`): each incident as JSON under its id, and
//! the next id, written with every change, so that `kill -9` loses none and never reuses
//! an id.

use vigil_store::{KvOp, Space, Store};

use super::Incident;

const NEXT_ID: &[u8] = b"next";
const INCIDENT: u8 = b'i';

fn key(id: u64) -> Vec<u8> {
    let mut key = vec![INCIDENT];
    key.extend_from_slice(&id.to_be_bytes());
    key
}

/// What the store holds.
#[derive(Debug, Default)]
pub struct Saved {
    /// Every incident kept, by id.
    pub incidents: Vec<Incident>,
    /// The first id never used.
    pub next_id: u64,
}

/// Reads every incident and the next id. A record that cannot be read is skipped and
/// reported in `unreadable` (its id stays used).
pub fn load(store: &dyn Store) -> Result<(Saved, usize), String> {
    let records = store
        .kv_scan(Space::Incidents)
        .map_err(|e| format!("reading incidents: {e}"))?;
    let mut saved = Saved {
        incidents: Vec::new(),
        next_id: 1,
    };
    let mut unreadable = 0;
    for (k, value) in records {
        if crate::notify::tickets::book::is_book_key(&k) {
            continue;
        }
        if k == NEXT_ID {
            if let Ok(bytes) = <[u8; 8]>::try_from(value.as_slice()) {
                saved.next_id = saved.next_id.max(u64::from_be_bytes(bytes));
            }
            continue;
        }
        match serde_json::from_slice::<Incident>(&value) {
            Ok(incident) => {
                saved.next_id = saved.next_id.max(incident.id + 1);
                saved.incidents.push(incident);
            }
            Err(_) => {
                unreadable += 1;
                if let Some(id) = k.get(1..9).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                    saved.next_id = saved.next_id.max(u64::from_be_bytes(id) + 1);
                }
            }
        }
    }
    saved.incidents.sort_by_key(|i| i.id);
    Ok((saved, unreadable))
}

/// The writes that store `incidents` and the next id (one batch).
pub fn save_ops(incidents: &[&Incident], next_id: u64) -> Result<Vec<KvOp>, String> {
    let mut ops = Vec::with_capacity(incidents.len() + 1);
    for incident in incidents {
        let json = serde_json::to_vec(incident).map_err(|e| e.to_string())?;
        ops.push(KvOp::put(Space::Incidents, key(incident.id), json));
    }
    ops.push(KvOp::put(
        Space::Incidents,
        NEXT_ID,
        next_id.to_be_bytes().to_vec(),
    ));
    Ok(ops)
}

/// Writes `incidents` and the next id in one batch.
pub fn save(store: &dyn Store, incidents: &[&Incident], next_id: u64) -> Result<(), String> {
    store
        .kv_write(&save_ops(incidents, next_id)?)
        .map_err(|e| format!("saving incidents: {e}"))
}

/// Deletes the incidents resolved before `before_ms`.
pub fn prune(store: &dyn Store, incidents: &[Incident], before_ms: i64) -> Result<usize, String> {
    let ops: Vec<KvOp> = incidents
        .iter()
        .filter(|i| i.resolved_ms.is_some_and(|r| r < before_ms))
        .map(|i| KvOp::delete(Space::Incidents, key(i.id)))
        .collect();
    if !ops.is_empty() {
        store
            .kv_write(&ops)
            .map_err(|e| format!("deleting old incidents: {e}"))?;
    }
    Ok(ops.len())
}
