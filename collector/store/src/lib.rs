//! # vigil-store
//!
//! The storage boundary: everything the collector keeps, behind one trait, and the domain
//! types the trait speaks. Ingest, query, rules, notify and the CLI use these; the RocksDB
//! engine lives in its own crate (`vigil-rocks`), the only one that names RocksDB, so
//! nothing here or above it links RocksDB. Calls block (they may touch disk), so async code
//! runs them on `tokio::task::spawn_blocking`.
//!
//! # Layout
//! - [`Labels`], [`SeriesId`], [`SeriesSamples`]: what a series is and what is appended.
//! - [`selector`]: Prometheus-style series selectors (`name{label=~"re"}`).
//! - [`Store`]: the trait; [`StoreError`] why a call failed.
//! - [`alert_state`], [`stats`]: alert state kept across restarts; what a store holds.
//! - [`damage`]: what a read could not use (damaged data), for a query's warnings.
//! - [`forward`]: the forwarding log remote write sends from, and its record format.
//! - [`memory`]: the in-memory engine that unit tests of the engine, rules and notify use.
//! - `conformance` (feature `conformance`): the cases every engine must pass.
//! - [`clock`]: the wall clock, read in one place.

pub mod alert_state;
pub mod clock;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod damage;
pub mod forward;
pub mod memory;
pub mod selector;
pub mod stats;

use crate::selector::Selector;
pub use alert_state::{AlertKey, StoredAlert};
pub use forward::{ForwardBounds, ForwardRecord};
pub use stats::{CheckpointInfo, DamageStats, PartStats, StoreStats};
use std::path::Path;
use vigil_proto::v1::Host;

/// Collector-wide identity of one series (one metric name plus one label set).
pub type SeriesId = u64;

/// The name of the label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// A full label set, `__name__` included, sorted by label name, no duplicate names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// Builds a label set from pairs in any order; a later pair with the same name wins.
    pub fn new(mut pairs: Vec<(String, String)>) -> Self {
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                std::mem::swap(later, earlier);
                true
            } else {
                false
            }
        });
        Self(pairs)
    }

    /// Builds a label set from borrowed pairs, as tests and literals write them.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self::new(
            pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    /// The value of label `name`, or `""` when absent (Prometheus semantics).
    pub fn get(&self, name: &str) -> &str {
        self.0
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .map(|i| self.0[i].1.as_str())
            .unwrap_or("")
    }

    /// The metric name.
    pub fn name(&self) -> &str {
        self.get(METRIC_NAME)
    }

    /// Pairs sorted by name.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// Number of labels, `__name__` included.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty label set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The same labels without `__name__`, as functions and operators that change a
    /// value leave them.
    pub fn without_name(&self) -> Labels {
        if self.get(METRIC_NAME).is_empty() {
            return self.clone();
        }
        Self(
            self.0
                .iter()
                .filter(|(n, _)| n != METRIC_NAME)
                .cloned()
                .collect(),
        )
    }
}

/// Samples to append for one series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSamples {
    /// The series.
    pub id: SeriesId,
    /// (unix milliseconds, value) pairs.
    pub samples: Vec<(i64, f64)>,
}

/// Errors from a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The engine failed (I/O, corruption, …).
    #[error("storage engine: {0}")]
    Engine(String),
    /// Stored bytes could not be decoded: the data directory is damaged or from a newer version.
    #[error("stored data is damaged ({what}); restore the data directory from a backup")]
    Corrupt {
        /// What could not be decoded.
        what: String,
    },
    /// A host reached its series limit.
    #[error(
        "host {host:?} has reached its limit of {limit} series; raise limits.max_series_per_host or drop churning labels"
    )]
    SeriesLimit {
        /// The host.
        host: String,
        /// The limit.
        limit: u64,
    },
    /// The selector matched more than the caller allowed.
    #[error(
        "the query matched more than {limit} {what}; narrow the selector or time range, or raise the limit"
    )]
    TooLarge {
        /// What overflowed ("series", "samples").
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// The selector cannot be answered efficiently or at all.
    #[error("{0}")]
    BadSelector(String),
}

/// Result of store calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// Which kind of small record a [`KvOp`] touches. Each space is its own sorted key space;
/// the notifier and enrollment own the encoding of keys and values in their spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Space {
    /// Notifications waiting to be delivered (the durable outbox).
    Outbox,
    /// Silences.
    Silences,
    /// What was last sent to each receiver for each alert group (the notification log).
    NotifyLog,
    /// The alerts the notifier is grouping (so a restart does not lose a resolved alert
    /// that was not announced yet).
    NotifyAlerts,
    /// Enrollment join tokens (only their secrets' digests), by token id.
    EnrollTokens,
    /// Host identities: the certificates issued to each host and its revocation, by host.
    Identities,
    /// Remote write: each remote's durable cursor over the forwarding log, by remote name.
    RemoteWrite,
    /// Anomaly rules: each watched series' detector state, by rule and series.
    Anomaly,
    /// Incidents, by id, and the next id.
    Incidents,
}

impl Space {
    /// The byte that prefixes this space's keys on disk. Never reuse or renumber one.
    pub fn tag(self) -> u8 {
        match self {
            Space::Outbox => 1,
            Space::Silences => 2,
            Space::NotifyLog => 3,
            Space::NotifyAlerts => 4,
            Space::EnrollTokens => 5,
            Space::Identities => 6,
            Space::RemoteWrite => 7,
            Space::Anomaly => 8,
            Space::Incidents => 9,
        }
    }
}

/// One write of a small durable record: `value: None` deletes the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvOp {
    /// Which space.
    pub space: Space,
    /// The key within the space.
    pub key: Vec<u8>,
    /// The new value, or `None` to delete.
    pub value: Option<Vec<u8>>,
}

impl KvOp {
    /// Writes `value` at `key`.
    pub fn put(space: Space, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            space,
            key: key.into(),
            value: Some(value.into()),
        }
    }

    /// Deletes `key`.
    pub fn delete(space: Space, key: impl Into<Vec<u8>>) -> Self {
        Self {
            space,
            key: key.into(),
            value: None,
        }
    }
}

/// What the collector keeps: series, samples and the host registry.
pub trait Store: Send + Sync + 'static {
    /// Returns the id of each label set, creating series that do not exist yet. New series
    /// count against `host`'s limit of `max_series` (fails with [`StoreError::SeriesLimit`]
    /// if any would exceed it, creating none). New series are durable when this returns.
    fn resolve_series(
        &self,
        host: &str,
        series: &[Labels],
        max_series: u64,
    ) -> StoreResult<Vec<SeriesId>>;

    /// Appends samples. When this returns they are durable: a crash (even `kill -9` of the
    /// process, and with `sync` also a power loss) cannot lose them. A sample at a
    /// timestamp a series already has replaces it, so a replayed batch adds nothing.
    fn append(&self, samples: &[SeriesSamples]) -> StoreResult<()>;

    /// Series matching the selector, sorted by labels; at most `limit`, with a flag saying
    /// whether more matched.
    fn select(
        &self,
        selector: &Selector,
        limit: usize,
    ) -> StoreResult<(Vec<(SeriesId, Labels)>, bool)>;

    /// Samples of one series with `start_ms <= t <= end_ms`, oldest first, appended to `out`.
    fn samples(
        &self,
        id: SeriesId,
        start_ms: i64,
        end_ms: i64,
        out: &mut Vec<(i64, f64)>,
    ) -> StoreResult<()>;

    /// Samples of one series for a query that looks at `[start_ms, end_ms]` every
    /// `step_ms` (a resolution hint; 0 when there is no step), oldest first, appended to
    /// `out`. Where raw samples are kept this is exactly [`Store::samples`]; where they
    /// have passed retention, an engine with downsampled tiers returns one sample per
    /// bucket of the finest tier still kept there: the bucket's last value, timestamped
    /// at its last sample. The default reads raw samples only.
    fn samples_for_step(
        &self,
        id: SeriesId,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        out: &mut Vec<(i64, f64)>,
    ) -> StoreResult<()> {
        let _ = step_ms;
        self.samples(id, start_ms, end_ms, out)
    }

    /// [`Store::samples_for_step`] for each of `ids` over one span: one vector per id, in
    /// order. Engines override this to share the cost of a read between series (a fleet
    /// query reads thousands with a few samples each); the default reads them one by one.
    fn samples_for_step_many(
        &self,
        ids: &[SeriesId],
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> StoreResult<Vec<Vec<(i64, f64)>>> {
        ids.iter()
            .map(|&id| {
                let mut out = Vec::new();
                self.samples_for_step(id, start_ms, end_ms, step_ms, &mut out)?;
                Ok(out)
            })
            .collect()
    }

    /// Creates or replaces a host registry entry.
    fn put_host(&self, host: &Host) -> StoreResult<()>;

    /// Creates or replaces several host registry entries, in one write where the engine
    /// can (the registry saves every host's last-seen time at once).
    fn put_hosts(&self, hosts: &[Host]) -> StoreResult<()> {
        hosts.iter().try_for_each(|h| self.put_host(h))
    }

    /// One host registry entry.
    fn host(&self, name: &str) -> StoreResult<Option<Host>>;

    /// Every host registry entry, sorted by name.
    fn hosts(&self) -> StoreResult<Vec<Host>>;

    /// Number of series `host` has.
    fn series_count(&self, host: &str) -> StoreResult<u64>;

    /// Stores the state of alert instances: writes every record of `put` (replacing one
    /// with the same key) and removes the records of `remove`, all in one atomic write,
    /// durable when this returns.
    fn write_alerts(&self, put: &[StoredAlert], remove: &[AlertKey]) -> StoreResult<()>;

    /// Every stored alert instance, sorted by key (file, group, rule, labels).
    fn alerts(&self) -> StoreResult<Vec<StoredAlert>>;

    /// Applies every op (puts and deletes, across spaces) in one atomic write, durable
    /// when this returns (the same guarantee as [`Store::append`]).
    fn kv_write(&self, ops: &[KvOp]) -> StoreResult<()>;

    /// Every record of `space`, sorted by key.
    fn kv_scan(&self, space: Space) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>>;

    /// Makes a consistent copy of the whole store in `dir`, which must not exist yet (its
    /// parent must). Writes may go on meanwhile: the copy holds everything acknowledged
    /// before the call and nothing half-written, and a collector started with `dir` as its
    /// data directory opens it as it would after a clean stop. On the same filesystem the
    /// copy shares unchanging files with the live store through hard links, so it is quick
    /// and costs little disk at first. A store with nothing on disk fails with
    /// [`StoreError::Engine`] saying so.
    fn checkpoint(&self, dir: &Path) -> StoreResult<CheckpointInfo>;

    /// Disk usage (in total, of the write-ahead log, and per part) and series counts (in
    /// total and per host), from the engine's counters: cheap enough to ask every few
    /// seconds, and estimates where the engine only keeps estimates.
    fn stats(&self) -> StoreResult<StoreStats>;

    /// Label names in use (`__name__` included), sorted and distinct. With `selectors`,
    /// only the names on series matching at least one of them (and, with `window`, having
    /// a sample in it; see [`Store::select_any`]). Without selectors every name the store
    /// knows is listed and `window` is not consulted: there is no per-name time index.
    fn label_names(
        &self,
        selectors: &[Selector],
        window: Option<(i64, i64)>,
        limit: usize,
    ) -> StoreResult<Vec<String>>;

    /// Values label `name` takes (never `""`), sorted and distinct; `selectors`, `window`
    /// and `limit` as for [`Store::label_names`].
    fn label_values(
        &self,
        name: &str,
        selectors: &[Selector],
        window: Option<(i64, i64)>,
        limit: usize,
    ) -> StoreResult<Vec<String>>;

    /// Whether series `id` has a sample with `start_ms <= t <= end_ms`. Engines override
    /// this with a cheaper check than reading the samples.
    fn has_samples(&self, id: SeriesId, start_ms: i64, end_ms: i64) -> StoreResult<bool> {
        let mut out = Vec::new();
        self.samples(id, start_ms, end_ms, &mut out)?;
        Ok(!out.is_empty())
    }

    /// Starts (`true`) or stops writing every [`Store::append`] into the forwarding log
    /// ([`forward`]). Stopping also empties the log. A store opens with it off.
    fn set_forwarding(&self, on: bool) -> StoreResult<()>;

    /// Where the forwarding log stands.
    fn forward_bounds(&self) -> StoreResult<ForwardBounds>;

    /// Records numbered above `after` and at most [`ForwardBounds::readable`], oldest
    /// first: whole records, stopping once they hold `max_samples` samples or more, or
    /// number `max_records`.
    fn forward_read(
        &self,
        after: u64,
        max_samples: u64,
        max_records: usize,
    ) -> StoreResult<Vec<ForwardRecord>>;

    /// Drops the records numbered at or below `through` (one range delete).
    fn forward_trim(&self, through: u64) -> StoreResult<()>;

    /// The labels of each id, in order (`None` for an id the store does not know).
    fn series_labels(&self, ids: &[SeriesId]) -> StoreResult<Vec<Option<Labels>>>;

    /// Series with ids above `after` (from the first with `None`), in id order, at most
    /// `limit`: a walk over every series in pages.
    fn series_after(
        &self,
        after: Option<SeriesId>,
        limit: usize,
    ) -> StoreResult<Vec<(SeriesId, Labels)>>;

    /// Series matching any of `selectors`, sorted by labels and distinct; at most `limit`
    /// (more fails with [`StoreError::TooLarge`]). With a time window, only series with a
    /// sample in it.
    fn select_any(
        &self,
        selectors: &[Selector],
        window: Option<(i64, i64)>,
        limit: usize,
    ) -> StoreResult<Vec<(SeriesId, Labels)>> {
        let mut found = std::collections::BTreeMap::new();
        for selector in selectors {
            let (series, truncated) = self.select(selector, limit)?;
            if truncated {
                return Err(StoreError::TooLarge {
                    what: "series",
                    limit: limit as u64,
                });
            }
            for (id, labels) in series {
                let keep = match window {
                    Some((start, end)) => self.has_samples(id, start, end)?,
                    None => true,
                };
                if keep {
                    found.insert(labels, id);
                }
            }
            if found.len() > limit {
                return Err(StoreError::TooLarge {
                    what: "series",
                    limit: limit as u64,
                });
            }
        }
        Ok(found.into_iter().map(|(labels, id)| (id, labels)).collect())
    }
}

/// The cores this process may run on (`std::thread::available_parallelism`, at least 1),
/// asked once: the standard library reads the cgroup's CPU quota files on every call (five
/// opens and reads), and a query asked it several times before splitting its work. A
/// quota changed while the process runs is not seen.
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// At most 64 characters of untrusted text (a label value, a line of an import file), for
/// error messages that must name the input without repeating all of it.
pub fn shorten(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}
