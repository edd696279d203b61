//! The ticket book: which desk ticket follows which incident, kept in the store
//! (`Space::Incidents`, beside the incidents) the moment a desk returns it, so every later
//! update of the incident goes to that ticket, after a restart too.
//!
//! ```text
//! key    "t" + incident id (u64, big-endian) + receiver + 0x00 + integration index (u32 BE)
//! value  {"id":"42","url":"https://rt.example.com/Ticket/Display.html?id=42"}
//! key    "c" + the same place
//! value  i64 Unix ms (big-endian): a create was sent then and its answer not yet kept
//!        (removed once the ticket is recorded); a desk whose search lags behind its
//!        writes is searched again until the lag has passed before creating again
//! key    "m" + the same place
//! value  the delivery id of the step whose comment (RT, Jira) was last added: a retry
//!        of that step (a later request of it failed) does not add it again
//! key    "installation"   8 random bytes, made once: the `<installation>` of correlation
//!                         values `vigil-<installation>-<incident id>`, so that two
//!                         collectors (or one rebuilt from scratch, whose ids start at 1
//!                         again) never take each other's tickets
//! ```

use crate::incidents::Ticket;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use vigil_store::{KvOp, Space, Store};

const TICKET: u8 = b't';
const CREATING: u8 = b'c';
const COMMENTED: u8 = b'm';
const INSTALLATION: &[u8] = b"installation";

/// Where one ticket belongs: the incident, the receiver and the integration's index.
type Place = (u64, String, usize);

/// The tickets of every incident, in memory and in the store.
pub struct TicketBook {
    store: Option<Arc<dyn Store>>,
    installation: String,
    tickets: Mutex<BTreeMap<Place, Ticket>>,
    creating: Mutex<BTreeMap<Place, i64>>,
    commented: Mutex<BTreeMap<Place, String>>,
}

impl std::fmt::Debug for TicketBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketBook")
            .field("installation", &self.installation)
            .finish_non_exhaustive()
    }
}

fn key(place: &Place) -> Vec<u8> {
    keyed(TICKET, place)
}

fn keyed(prefix: u8, place: &Place) -> Vec<u8> {
    let (incident, receiver, index) = place;
    let mut key = vec![prefix];
    key.extend_from_slice(&incident.to_be_bytes());
    key.extend_from_slice(receiver.as_bytes());
    key.push(0);
    key.extend_from_slice(&(*index as u32).to_be_bytes());
    key
}

fn place_of(key: &[u8]) -> Option<Place> {
    let rest = key.strip_prefix(&[TICKET])?;
    let incident = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
    let rest = &rest[8..];
    let zero = rest.len().checked_sub(5)?;
    if rest[zero] != 0 {
        return None;
    }
    let receiver = std::str::from_utf8(&rest[..zero]).ok()?.to_owned();
    let index = u32::from_be_bytes(rest[zero + 1..].try_into().ok()?) as usize;
    Some((incident, receiver, index))
}

/// The place of a marker's key (`c` or `m` + the place, as a ticket's key is).
fn marker_place(key: &[u8]) -> Option<Place> {
    let mut as_ticket = key.to_vec();
    *as_ticket.first_mut()? = TICKET;
    place_of(&as_ticket)
}

/// Whether `key` of `Space::Incidents` belongs to the book (the incidents' store skips it).
pub fn is_book_key(key: &[u8]) -> bool {
    matches!(key.first(), Some(&TICKET | &CREATING | &COMMENTED)) || key == INSTALLATION
}

impl TicketBook {
    /// Reads the book (making the installation id on first use). Blocks on the store.
    pub fn open(store: Arc<dyn Store>) -> Result<Self, String> {
        let mut tickets = BTreeMap::new();
        let mut creating = BTreeMap::new();
        let mut commented = BTreeMap::new();
        let mut installation = None;
        for (k, v) in store
            .kv_scan(Space::Incidents)
            .map_err(|e| format!("reading the ticket book: {e}"))?
        {
            if k == INSTALLATION {
                installation = Some(hex(&v));
            } else if k.first() == Some(&CREATING) {
                if let (Some(place), Ok(at)) = (marker_place(&k), <[u8; 8]>::try_from(v.as_slice()))
                {
                    creating.insert(place, i64::from_be_bytes(at));
                }
            } else if k.first() == Some(&COMMENTED) {
                if let (Some(place), Ok(delivery)) = (marker_place(&k), String::from_utf8(v)) {
                    commented.insert(place, delivery);
                }
            } else if let Some(place) = place_of(&k)
                && let Ok(ticket) = serde_json::from_slice::<Ticket>(&v)
            {
                tickets.insert(place, ticket);
            }
        }
        let installation = match installation {
            Some(id) => id,
            None => {
                use ring::rand::SecureRandom;
                let mut bytes = [0u8; 4];
                ring::rand::SystemRandom::new()
                    .fill(&mut bytes)
                    .map_err(|_| "making the installation id: no random source".to_owned())?;
                store
                    .kv_write(&[KvOp::put(Space::Incidents, INSTALLATION, bytes.to_vec())])
                    .map_err(|e| format!("saving the installation id: {e}"))?;
                hex(&bytes)
            }
        };
        Ok(Self {
            store: Some(store),
            installation,
            tickets: Mutex::new(tickets),
            creating: Mutex::new(creating),
            commented: Mutex::new(commented),
        })
    }

    /// A book that keeps nothing (for `vigil notify test` outside a collector, and tests).
    pub fn in_memory(installation: &str) -> Self {
        Self {
            store: None,
            installation: installation.to_owned(),
            tickets: Mutex::new(BTreeMap::new()),
            creating: Mutex::new(BTreeMap::new()),
            commented: Mutex::new(BTreeMap::new()),
        }
    }

    /// Writes `value` under `key` in the store, durably (nothing without a store).
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> vigil_store::StoreResult<()> {
        match &self.store {
            Some(store) => store.kv_write(&[KvOp::put(Space::Incidents, key, value)]),
            None => Ok(()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Place, Ticket>> {
        self.tickets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value a desk's correlation field holds for incident `id`.
    pub fn correlation(&self, id: u64) -> String {
        format!("vigil-{}-{id}", self.installation)
    }

    /// The ticket of incident `incident` at integration `index` of `receiver`.
    pub fn get(&self, incident: u64, receiver: &str, index: usize) -> Option<Ticket> {
        self.lock()
            .get(&(incident, receiver.to_owned(), index))
            .cloned()
    }

    /// Keeps a ticket, durably before returning. The error says what failed.
    pub fn record(
        &self,
        incident: u64,
        receiver: &str,
        index: usize,
        ticket: &Ticket,
    ) -> Result<(), String> {
        let place = (incident, receiver.to_owned(), index);
        if let Some(store) = &self.store {
            let value = serde_json::to_vec(ticket).map_err(|e| e.to_string())?;
            store
                .kv_write(&[
                    KvOp::put(Space::Incidents, key(&place), value),
                    KvOp::delete(Space::Incidents, keyed(CREATING, &place)),
                ])
                .map_err(|e| format!("saving ticket {} of incident {incident}: {e}", ticket.id))?;
        }
        self.creating
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&place);
        self.lock().insert(place, ticket.clone());
        Ok(())
    }

    /// Notes, durably, that a create is about to be sent at `now_ms` (its answer may be
    /// lost to a timeout or a crash).
    pub fn creating(
        &self,
        incident: u64,
        receiver: &str,
        index: usize,
        now_ms: i64,
    ) -> Result<(), String> {
        let place = (incident, receiver.to_owned(), index);
        self.put(keyed(CREATING, &place), now_ms.to_be_bytes().to_vec())
            .map_err(|e| format!("noting a create for incident {incident}: {e}"))?;
        self.creating
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(place, now_ms);
        Ok(())
    }

    /// Forgets a create the desk refused (it stored nothing). Best effort: a marker left
    /// behind only delays the next create by the desk's `settle`.
    pub fn refused(&self, incident: u64, receiver: &str, index: usize) {
        let place = (incident, receiver.to_owned(), index);
        if let Some(store) = &self.store {
            let _ = store.kv_write(&[KvOp::delete(Space::Incidents, keyed(CREATING, &place))]);
        }
        self.creating
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&place);
    }

    /// When a create was last sent for this place without its answer being kept.
    pub fn created_at(&self, incident: u64, receiver: &str, index: usize) -> Option<i64> {
        self.creating
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(incident, receiver.to_owned(), index))
            .copied()
    }

    /// Whether the comment of delivery `delivery` was added to this place's ticket (by an
    /// earlier attempt of the same step).
    pub fn commented(&self, incident: u64, receiver: &str, index: usize, delivery: &str) -> bool {
        self.commented
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(incident, receiver.to_owned(), index))
            .is_some_and(|d| d == delivery)
    }

    /// Notes, durably, that the comment of delivery `delivery` was added.
    pub fn note_commented(
        &self,
        incident: u64,
        receiver: &str,
        index: usize,
        delivery: &str,
    ) -> Result<(), String> {
        let place = (incident, receiver.to_owned(), index);
        self.put(keyed(COMMENTED, &place), delivery.as_bytes().to_vec())
            .map_err(|e| format!("noting the comment on incident {incident}'s ticket: {e}"))?;
        self.commented
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(place, delivery.to_owned());
        Ok(())
    }

    /// The tickets of incident `incident`, by receiver (`receiver#2` for a receiver's
    /// second ticket integration and so on).
    pub fn of(&self, incident: u64) -> BTreeMap<String, Ticket> {
        self.lock()
            .range((incident, String::new(), 0)..(incident.saturating_add(1), String::new(), 0))
            .map(|((_, receiver, index), t)| {
                let name = if *index == 0 {
                    receiver.clone()
                } else {
                    format!("{receiver}#{}", index + 1)
                };
                (name, t.clone())
            })
            .collect()
    }

    /// Forgets the tickets of the incidents `ids` (pruned); the store ops to delete them.
    pub fn forget(&self, ids: &[u64]) -> Vec<KvOp> {
        let mut creating = self.creating.lock().unwrap_or_else(|p| p.into_inner());
        let mut ops: Vec<KvOp> = creating
            .keys()
            .filter(|(id, _, _)| ids.contains(id))
            .map(|place| KvOp::delete(Space::Incidents, keyed(CREATING, place)))
            .collect();
        creating.retain(|(id, _, _), _| !ids.contains(id));
        let mut commented = self.commented.lock().unwrap_or_else(|p| p.into_inner());
        ops.extend(
            commented
                .keys()
                .filter(|(id, _, _)| ids.contains(id))
                .map(|place| KvOp::delete(Space::Incidents, keyed(COMMENTED, place))),
        );
        commented.retain(|(id, _, _), _| !ids.contains(id));
        let mut tickets = self.lock();
        let gone: Vec<Place> = tickets
            .keys()
            .filter(|(id, _, _)| ids.contains(id))
            .cloned()
            .collect();
        ops.extend(gone.iter().map(|place| {
            tickets.remove(place);
            KvOp::delete(Space::Incidents, key(place))
        }));
        ops
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_are_told_apart() {
        let place = (42, "desk".to_owned(), 1);
        let k = key(&place);
        assert!(is_book_key(&k));
        assert_eq!(place_of(&k), Some(place));
        assert!(!is_book_key(b"next"));
        assert!(is_book_key(INSTALLATION));
        assert_eq!(place_of(b"t123"), None);
    }

    #[test]
    fn tickets_are_listed_per_incident() {
        let book = TicketBook::in_memory("0a0b0c0d");
        assert_eq!(book.correlation(7), "vigil-0a0b0c0d-7");
        let t = |id: &str| Ticket {
            id: id.into(),
            url: String::new(),
        };
        book.record(7, "rt", 0, &t("1")).unwrap();
        book.record(7, "rt", 1, &t("2")).unwrap();
        book.record(8, "rt", 0, &t("3")).unwrap();
        let of7 = book.of(7);
        assert_eq!(of7.len(), 2);
        assert_eq!(of7["rt"].id, "1");
        assert_eq!(of7["rt#2"].id, "2");
        assert_eq!(book.get(8, "rt", 0).unwrap().id, "3");
        assert_eq!(book.forget(&[7]).len(), 2);
        assert!(book.of(7).is_empty());
    }

    #[test]
    fn an_added_comment_is_remembered_across_a_restart_until_the_incident_goes() {
        let store: Arc<dyn Store> = Arc::new(vigil_store::memory::MemoryStore::new());
        let book = TicketBook::open(store.clone()).unwrap();
        assert!(!book.commented(7, "rt", 0, "d-1"));
        book.note_commented(7, "rt", 0, "d-1").unwrap();
        assert!(is_book_key(&keyed(COMMENTED, &(7, "rt".to_owned(), 0))));
        let book = TicketBook::open(store.clone()).unwrap();
        assert!(book.commented(7, "rt", 0, "d-1"));
        assert!(
            !book.commented(7, "rt", 0, "d-2"),
            "another step's comment is its own"
        );
        assert!(!book.commented(7, "rt", 1, "d-1"));
        let ops = book.forget(&[7]);
        assert_eq!(ops.len(), 1);
        store.kv_write(&ops).unwrap();
        assert!(
            !TicketBook::open(store)
                .unwrap()
                .commented(7, "rt", 0, "d-1")
        );
    }
}
