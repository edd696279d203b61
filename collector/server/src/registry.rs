//! The host registry: which hosts exist (stored), which are connected now (in memory).
//!
//! Facts and first/last seen are kept in the store so they survive restarts; the
//! connection state is in memory because it dies with the process anyway. `last_seen` is
//! kept in memory on every batch and written to the store on connect, on disconnect and
//! by [`Registry::flush`], which the server calls periodically, so the hot path adds no write.
//!
//! The number of hosts is bounded by `limits.max_hosts`: a host the store does not know yet
//! is refused once it knows that many ([`host_limit`]); known hosts always reconnect.

use crate::limits::{Refusal, Violation, shorten};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vigil_proto::v1::{Hello, Host};
use vigil_store::{Store, StoreError, StoreResult};

/// Host account that imported series without a `host` label count against: not a host,
/// and not counted against `limits.max_hosts`.
pub const UNHOSTED: &str = "(import)";

/// Host account of the collector's own `vigil_collector_*` series: not counted against
/// `limits.max_hosts` either.
pub const SELF_HOST: &str = "vigil-collector";

/// Why a host could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The host is new and the collector has as many hosts as it may keep.
    #[error("{0}")]
    Refused(Violation),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone)]
struct Live {
    /// Open streams for this host (normally 0 or 1; 2 while a reconnect overlaps).
    streams: u32,
    last_seen_ms: i64,
    interval_ms: u64,
    peer: String,
    dirty: bool,
    /// The host's clock minus the collector's at its latest batch that said when it was
    /// sent (ms).
    skew_ms: Option<i64>,
    /// Samples refused since the collector started.
    refused: u64,
}

/// Registry of hosts over a store.
pub struct Registry {
    store: Arc<dyn Store>,
    live: Mutex<HashMap<String, Live>>,
    down_after: Duration,
    max_hosts: u64,
    /// Held while a new host is counted, so two at once cannot both take the last place.
    admitting: Mutex<Admitting>,
}

/// What admitting new hosts needs: the hosts the store knows, as last counted (see
/// [`Known`]), and the hosts admitted whose records are still being written (counted too,
/// so a recount meanwhile does not miss them).
#[derive(Default)]
struct Admitting {
    known: Option<Known>,
    unwritten: BTreeSet<String>,
}

/// Every host the store knows, counted once and then kept up to date by [`Registry::connect`]
/// itself, so that admitting the ten-thousandth new host does not count ten thousand
/// others again. Hosts can also appear through imports (and go, when forgotten), so the
/// count is redone before any refusal and when it is older than [`Known::FRESH`].
struct Known {
    hosts: BTreeSet<String>,
    counted: std::time::Instant,
}

impl Known {
    /// How long a count is trusted for admitting (never for refusing).
    const FRESH: Duration = Duration::from_secs(10);

    /// The hosts the store knows, and `unwritten`.
    fn count(store: &dyn Store, unwritten: &BTreeSet<String>) -> StoreResult<Self> {
        let mut hosts = known_hosts(store)?;
        hosts.extend(unwritten.iter().cloned());
        Ok(Self {
            hosts,
            counted: std::time::Instant::now(),
        })
    }
}

impl Registry {
    /// A registry over `store` keeping at most `max_hosts` hosts (`limits.max_hosts`); a
    /// connected host silent for `down_after` counts as down.
    pub fn new(store: Arc<dyn Store>, down_after: Duration, max_hosts: u64) -> Self {
        Self {
            store,
            live: Mutex::new(HashMap::new()),
            down_after,
            max_hosts,
            admitting: Mutex::new(Admitting::default()),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Live>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a Hello: stores the facts and marks the host connected. A host the store
    /// does not know is refused when it already knows `max_hosts`.
    pub fn connect(
        &self,
        host: &str,
        hello: &Hello,
        peer: &str,
        now_ms: i64,
    ) -> Result<(), ConnectError> {
        let stored = self.store.host(host)?;
        // Only the admission of a new host is one at a time: it counts the host among the
        // known ones before its record is written, so the record's (synced) write is not
        // under the lock, nor is anything for a host the store knows.
        let new = stored.is_none() && is_host(host) && self.store.series_count(host)? == 0;
        if new {
            self.admit(host)?;
        }
        let first_seen_ms = match stored {
            Some(h) if h.first_seen_ms > 0 => h.first_seen_ms,
            _ => now_ms,
        };
        let mut facts = hello.clone();
        facts.token.clear();
        let written = self.store.put_host(&Host {
            host: host.to_owned(),
            facts: Some(facts),
            first_seen_ms,
            last_seen_ms: now_ms,
            up: false,
            series: 0,
            peer: peer.to_owned(),
            clock_skew_ms: 0,
            clock_skew_known: false,
            samples_refused: 0,
        });
        if new {
            self.admitting().unwritten.remove(host);
        }
        written?;
        let mut live = self.live();
        let entry = live.entry(host.to_owned()).or_insert(Live {
            streams: 0,
            last_seen_ms: now_ms,
            interval_ms: hello.interval_ms,
            peer: peer.to_owned(),
            dirty: false,
            skew_ms: None,
            refused: 0,
        });
        entry.streams += 1;
        entry.last_seen_ms = now_ms;
        entry.interval_ms = hello.interval_ms;
        entry.peer = peer.to_owned();
        Ok(())
    }

    /// Counts `host`, new to the store, among the known hosts, or refuses it when they are
    /// `max_hosts` already (counted afresh before refusing).
    fn admit(&self, host: &str) -> Result<(), ConnectError> {
        let store = self.store.as_ref();
        let mut admitting = self.admitting();
        let Admitting { known, unwritten } = &mut *admitting;
        let k = match known {
            Some(k) if k.counted.elapsed() <= Known::FRESH => k,
            _ => known.insert(Known::count(store, unwritten)?),
        };
        if !k.hosts.contains(host) && k.hosts.len() as u64 >= self.max_hosts {
            *k = Known::count(store, unwritten)?;
            if let Some(v) = host_limit(store, &[host], self.max_hosts)? {
                return Err(ConnectError::Refused(v.1));
            }
            if !k.hosts.contains(host) && k.hosts.len() as u64 >= self.max_hosts {
                // Full once the hosts being admitted right now are counted too.
                return Err(ConnectError::Refused(full(
                    host,
                    self.max_hosts,
                    k.hosts.len(),
                )));
            }
        }
        k.hosts.insert(host.to_owned());
        unwritten.insert(host.to_owned());
        Ok(())
    }

    fn admitting(&self) -> std::sync::MutexGuard<'_, Admitting> {
        self.admitting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that the host was heard from.
    pub fn seen(&self, host: &str, now_ms: i64) {
        if let Some(entry) = self.live().get_mut(host) {
            entry.last_seen_ms = entry.last_seen_ms.max(now_ms);
            entry.dirty = true;
        }
    }

    /// Records what a handled batch said about the host: the agent's clock when it sent
    /// it (`sent_ms`, 0 when not said) against the collector's when it arrived, and the
    /// samples refused.
    pub fn batch(&self, host: &str, arrived_ms: i64, sent_ms: i64, refused: u64) {
        if let Some(entry) = self.live().get_mut(host) {
            if sent_ms > 0 {
                // Whatever a hostile or broken agent says, no overflow.
                entry.skew_ms = Some(sent_ms.saturating_sub(arrived_ms));
            }
            entry.refused += refused;
        }
    }

    /// The clock skew of every host that has one, in ms (host's clock minus the
    /// collector's), sorted by host.
    pub fn skews(&self) -> Vec<(String, i64)> {
        let mut out: Vec<(String, i64)> = self
            .live()
            .iter()
            .filter_map(|(h, l)| Some((h.clone(), l.skew_ms?)))
            .collect();
        out.sort();
        out
    }

    /// Records the end of one of the host's streams and writes the host's last-seen time
    /// (only its own: the others wait for
    /// [`Registry::flush`], so that ten thousand agents leaving at once do not each write
    /// every host's record).
    pub fn disconnect(&self, host: &str) -> StoreResult<()> {
        let seen = match self.live().get_mut(host) {
            Some(entry) => {
                entry.streams = entry.streams.saturating_sub(1);
                entry.dirty = false;
                entry.last_seen_ms
            }
            None => return Ok(()),
        };
        self.write_seen(host, seen)
    }

    /// Writes changed last-seen times to the store, in one write.
    pub fn flush(&self) -> StoreResult<()> {
        let changed: Vec<(String, i64)> = self
            .live()
            .iter_mut()
            .filter(|(_, l)| l.dirty)
            .map(|(h, l)| {
                l.dirty = false;
                (h.clone(), l.last_seen_ms)
            })
            .collect();
        let mut updated = Vec::new();
        for (host, seen) in changed {
            if let Some(mut stored) = self.store.host(&host)?
                && stored.last_seen_ms < seen
            {
                stored.last_seen_ms = seen;
                updated.push(stored);
            }
        }
        self.store.put_hosts(&updated)
    }

    fn write_seen(&self, host: &str, seen_ms: i64) -> StoreResult<()> {
        if let Some(mut stored) = self.store.host(host)?
            && stored.last_seen_ms < seen_ms
        {
            stored.last_seen_ms = seen_ms;
            self.store.put_host(&stored)?;
        }
        Ok(())
    }

    /// Registered hosts not heard from for two of their intervals and 5 seconds more, as of
    /// `now_ms`, counting silence from `since_ms` at the earliest (the collector's start: a
    /// collector that was down itself does not call every host silent at once). Hosts
    /// without a known interval (imported ones) are never silent.
    pub fn silent(&self, now_ms: i64, since_ms: i64) -> StoreResult<Vec<Host>> {
        let mut hosts = self.store.hosts()?;
        let live = self.live();
        hosts.retain_mut(|host| {
            let interval = host.facts.as_ref().map_or(0, |f| f.interval_ms) as i64;
            if let Some(l) = live.get(&host.host) {
                host.last_seen_ms = host.last_seen_ms.max(l.last_seen_ms);
            }
            interval > 0 && now_ms - host.last_seen_ms.max(since_ms) > 2 * interval + 5_000
        });
        Ok(hosts)
    }

    /// Every host, with `up`, `last_seen_ms` and `series` filled in as of `now_ms`.
    pub fn hosts(&self, now_ms: i64) -> StoreResult<Vec<Host>> {
        let mut hosts = self.store.hosts()?;
        let live = self.live();
        for host in &mut hosts {
            if let Some(l) = live.get(&host.host) {
                host.last_seen_ms = host.last_seen_ms.max(l.last_seen_ms);
                let grace = (self.down_after.as_millis() as i64).max(3 * l.interval_ms as i64);
                host.up = l.streams > 0 && now_ms - host.last_seen_ms <= grace;
                host.peer = l.peer.clone();
                host.clock_skew_known = l.skew_ms.is_some();
                host.clock_skew_ms = l.skew_ms.unwrap_or(0);
                host.samples_refused = l.refused;
            }
            host.series = self.store.series_count(&host.host)?;
        }
        Ok(hosts)
    }
}

/// Whether `host` is known to the store: registered by an agent, or owning series.
fn known(store: &dyn Store, host: &str) -> StoreResult<bool> {
    Ok(store.series_count(host)? > 0 || store.host(host)?.is_some())
}

/// Whether series stored under `account` belong to a host: not the collector's own, nor a
/// pseudo-host in parentheses ([`UNHOSTED`], rule output without a `host` label).
fn is_host(account: &str) -> bool {
    account != SELF_HOST && !(account.starts_with('(') && account.ends_with(')'))
}

/// Every host the store knows: registered by an agent, or owning series (imported ones
/// too).
fn known_hosts(store: &dyn Store) -> StoreResult<BTreeSet<String>> {
    let mut hosts: BTreeSet<String> = store.hosts()?.into_iter().map(|h| h.host).collect();
    hosts.extend(store.stats()?.series_by_host.into_iter().map(|(h, _)| h));
    hosts.retain(|h| is_host(h));
    Ok(hosts)
}

/// The first of `hosts` (in order) that would be a host past `max_hosts`, with its index
/// and why it is refused; `None` when all fit. Counts the store only when one is new.
pub fn host_limit(
    store: &dyn Store,
    hosts: &[&str],
    max_hosts: u64,
) -> StoreResult<Option<(usize, Violation)>> {
    let mut all: Option<BTreeSet<String>> = None;
    for (i, &host) in hosts.iter().enumerate() {
        if !is_host(host) || all.as_ref().is_some_and(|a| a.contains(host)) {
            continue;
        }
        if all.is_none() && known(store, host)? {
            continue;
        }
        let all = match &mut all {
            Some(all) => all,
            None => all.insert(known_hosts(store)?),
        };
        if all.contains(host) {
            continue;
        }
        if all.len() as u64 >= max_hosts {
            return Ok(Some((i, full(host, max_hosts, all.len()))));
        }
        all.insert(host.to_owned());
    }
    Ok(None)
}

/// The refusal of new host `host` when the collector keeps `have` hosts of `max_hosts`.
fn full(host: &str, max_hosts: u64, have: usize) -> Violation {
    Violation {
        kind: Refusal::Exhausted,
        reason: "host_limit",
        message: format!(
            "host {:?} refused: the collector keeps at most {max_hosts} hosts \
             (limits.max_hosts) and has {have}; hosts it knows keep working (raise \
             limits.max_hosts to add hosts)",
            shorten(host),
        ),
    }
}

#[cfg(test)]
mod tests;
