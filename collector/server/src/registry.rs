//! The host registry: which hosts exist (stored), which are connected now (in memory).
//!
//! Facts and first/last seen are kept in the store so they survive restarts; the
//! connection state is in memory because it dies with the process anyway. `last_seen` is
//! kept in memory on every batch and written to the store on connect, on disconnect and
//! by [`Registry::flush`], which the server calls periodically, so the hot path adds no write.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vigil_proto::v1::{Hello, Host};
use vigil_store::{Store, StoreResult};

#[derive(Debug, Clone)]
struct Live {
    /// Open streams for this host (normally 0 or 1; 2 while a reconnect overlaps).
    streams: u32,
    last_seen_ms: i64,
    interval_ms: u64,
    peer: String,
    dirty: bool,
}

/// Registry of hosts over a store.
pub struct Registry {
    store: Arc<dyn Store>,
    live: Mutex<HashMap<String, Live>>,
    down_after: Duration,
}

impl Registry {
    /// A registry over `store`; a connected host silent for `down_after` counts as down.
    pub fn new(store: Arc<dyn Store>, down_after: Duration) -> Self {
        Self {
            store,
            live: Mutex::new(HashMap::new()),
            down_after,
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Live>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a Hello: stores the facts and marks the host connected.
    pub fn connect(&self, host: &str, hello: &Hello, peer: &str, now_ms: i64) -> StoreResult<()> {
        let first_seen_ms = match self.store.host(host)? {
            Some(h) if h.first_seen_ms > 0 => h.first_seen_ms,
            _ => now_ms,
        };
        let mut facts = hello.clone();
        facts.token.clear();
        self.store.put_host(&Host {
            host: host.to_owned(),
            facts: Some(facts),
            first_seen_ms,
            last_seen_ms: now_ms,
            up: false,
            series: 0,
            peer: peer.to_owned(),
        })?;
        let mut live = self.live();
        let entry = live.entry(host.to_owned()).or_insert(Live {
            streams: 0,
            last_seen_ms: now_ms,
            interval_ms: hello.interval_ms,
            peer: peer.to_owned(),
            dirty: false,
        });
        entry.streams += 1;
        entry.last_seen_ms = now_ms;
        entry.interval_ms = hello.interval_ms;
        entry.peer = peer.to_owned();
        Ok(())
    }

    /// Records that the host was heard from.
    pub fn seen(&self, host: &str, now_ms: i64) {
        if let Some(entry) = self.live().get_mut(host) {
            entry.last_seen_ms = entry.last_seen_ms.max(now_ms);
            entry.dirty = true;
        }
    }

    /// Records the end of one of the host's streams.
    pub fn disconnect(&self, host: &str) -> StoreResult<()> {
        if let Some(entry) = self.live().get_mut(host) {
            entry.streams = entry.streams.saturating_sub(1);
            entry.dirty = true;
        }
        self.flush()
    }

    /// Writes changed last-seen times to the store.
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
        for (host, seen) in changed {
            if let Some(mut stored) = self.store.host(&host)? {
                stored.last_seen_ms = stored.last_seen_ms.max(seen);
                self.store.put_host(&stored)?;
            }
        }
        Ok(())
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
            }
            host.series = self.store.series_count(&host.host)?;
        }
        Ok(hosts)
    }
}
