//! Revoked hosts and certificates, checked on every connection.
//!
//! The enrollment service ([`crate::enroll`]) keeps the durable record in the store and
//! mirrors it here; the gRPC auth layer refuses any call whose client certificate is
//! revoked (by serial, or because its host is), and open agent streams watch
//! [`Revocations::subscribe`] to end themselves when their host is revoked.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use tokio::sync::watch;

/// What is revoked now.
pub struct Revocations {
    inner: RwLock<Inner>,
    changed: watch::Sender<u64>,
    /// Open agent streams by host.
    streams: std::sync::Mutex<HashMap<String, u32>>,
}

/// Counts one open stream of a host while it lives.
pub struct StreamGuard {
    revocations: std::sync::Arc<Revocations>,
    host: String,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let mut streams = self
            .revocations
            .streams
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = streams.get_mut(&self.host) {
            *n -= 1;
            if *n == 0 {
                streams.remove(&self.host);
            }
        }
    }
}

#[derive(Default)]
struct Inner {
    /// Revoked hosts, with when (ms since the epoch).
    hosts: HashMap<String, i64>,
    /// Serials (lowercase hex) of revoked certificates.
    serials: HashSet<String>,
}

impl Default for Revocations {
    fn default() -> Self {
        Self::new()
    }
}

impl Revocations {
    /// Nothing revoked.
    pub fn new() -> Self {
        Revocations {
            inner: RwLock::new(Inner::default()),
            changed: watch::channel(0).0,
            streams: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Counts an open stream of `host` until the guard drops.
    pub fn stream_opened(self: &std::sync::Arc<Self>, host: &str) -> StreamGuard {
        *self
            .streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(host.to_owned())
            .or_default() += 1;
        StreamGuard {
            revocations: self.clone(),
            host: host.to_owned(),
        }
    }

    /// How many streams of `host` are open.
    pub fn open_streams(&self, host: &str) -> u32 {
        self.streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(host)
            .copied()
            .unwrap_or(0)
    }

    /// Revokes `host` (from `at_ms`) and the certificates `serials`.
    pub fn revoke(&self, host: &str, at_ms: i64, serials: impl IntoIterator<Item = String>) {
        {
            let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
            inner.hosts.insert(host.to_owned(), at_ms);
            inner.serials.extend(serials);
        }
        self.changed.send_modify(|generation| *generation += 1);
    }

    /// Lets `host` in again; its revoked certificates stay revoked.
    pub fn unrevoke(&self, host: &str) {
        self.inner
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .hosts
            .remove(host);
        self.changed.send_modify(|generation| *generation += 1);
    }

    /// When `host` was revoked, if it is.
    pub fn host(&self, host: &str) -> Option<i64> {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .hosts
            .get(host)
            .copied()
    }

    /// Why a client certificate for `host` with `serial` is refused, if it is.
    pub fn refuses(&self, host: Option<&str>, serial: &str) -> Option<String> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        if inner.serials.contains(serial) {
            return Some(format!(
                "client certificate {serial} was revoked; to bring its host back: `vigil hosts \
                 unrevoke HOST`, a new join token (`vigil enroll create`), then `vigil-agent \
                 --join`"
            ));
        }
        let host = host?;
        inner.hosts.contains_key(host).then(|| {
            format!(
                "host {host:?} is revoked (`vigil hosts revoke`); `vigil hosts unrevoke {host}` \
                 lets it join again with a new token"
            )
        })
    }

    /// A receiver that changes whenever something is revoked or un-revoked.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoking_a_host_refuses_its_certificates_and_unrevoking_keeps_old_serials_out() {
        let r = Revocations::new();
        let mut changes = r.subscribe();
        assert_eq!(r.refuses(Some("web-1"), "aa"), None);
        r.revoke("web-1", 1_000, ["aa".to_owned()]);
        assert!(changes.has_changed().unwrap());
        changes.mark_unchanged();
        assert!(r.refuses(Some("web-1"), "bb").unwrap().contains("unrevoke"));
        assert!(r.refuses(None, "aa").unwrap().contains("revoked"));
        assert_eq!(r.host("web-1"), Some(1_000));
        r.unrevoke("web-1");
        assert!(changes.has_changed().unwrap());
        assert_eq!(r.refuses(Some("web-1"), "bb"), None);
        assert!(r.refuses(Some("web-1"), "aa").is_some());
        assert_eq!(r.refuses(Some("web-2"), "cc"), None);
    }
}
