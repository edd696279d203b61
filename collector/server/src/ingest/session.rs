//! One agent's stream, as domain logic: check the Hello, then turn each Batch into stored
//! samples and an Ack. No gRPC here beyond the message types; the service in `ingest.rs`
//! only moves messages in and out.
//!
//! A batch is judged sample by sample: valid samples are stored and acknowledged, invalid
//! ones (bad labels, unknown series ids, timestamps too far ahead or behind, series over
//! the host's limit, ids past the stream's limit) are refused and counted, and the Ack says
//! how many and why, with the first reason. The stream stays open, so one bad series never
//! blocks an agent's other data.
//!
//! What a stream holds is bounded: its ids (`limits.max_series_ids_per_stream`, refused
//! ones included), its Hello's fields (see `hello`), and the previous compact scrape (at
//! most `limits.max_series_ids_per_stream` samples; see `packed`).
//!
//! Scrapes come plain (ids and values) from every agent, or compact (`Scrape.packed`,
//! protocol revision 2) from agents this collector's Welcome told it reads them. A compact
//! scrape is read first, against the stream's previous one, then judged like a plain one.

mod hello;
mod packed;

pub use hello::{MAX_HOSTNAME_BYTES, MAX_INTERVAL, MIN_INTERVAL, check_hostname};
pub use packed::samples_carried;

use super::Counters;
use crate::auth::Caller;
use crate::limits::{self, Limits, Refusal, Violation};
use crate::relabel::{Outcome, Relabeler};
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use vigil_proto::v1::{Ack, Batch, Hello, Rejection};
use vigil_store::{Labels, METRIC_NAME, SeriesId, SeriesSamples, Store, StoreError};

/// State of one agent stream after its Hello.
pub struct Session {
    /// The host this stream writes for (its `host` label).
    pub host: String,
    /// Operator-set labels from the Hello, added to every series, with `job` and
    /// `instance` (see [`target_labels`]).
    base_labels: Vec<(String, String)>,
    /// `[[relabel]]`, run over every series this stream defines.
    relabel: Arc<Relabeler>,
    /// Stream-local ids whose series relabelling dropped: their samples are discarded.
    dropped: HashSet<u64>,
    /// This host's `up` series, once resolved; `Some(None)` when relabelling dropped it.
    up: Option<Option<SeriesId>>,
    /// Stream-local series id → collector series id.
    ids: HashMap<u64, SeriesId>,
    /// Stream-local ids whose definition was refused, with why.
    refused: HashMap<u64, Violation>,
    /// Set once the stream defined `limits.max_series_ids_per_stream` ids: why later new
    /// ids are refused (and not remembered).
    full: Option<Violation>,
    /// The previous compact scrape, which the next one is read against.
    compact: packed::Compact,
    store: Arc<dyn Store>,
    limits: Arc<Limits>,
    counters: Arc<Counters>,
}

/// Checks a Hello against the caller it came from and the bounds on its fields (host name,
/// facts, labels, interval: see `hello`); returns the host name it may write as.
pub fn check_hello(hello: &Hello, caller: &Caller, limits: &Limits) -> Result<String, Violation> {
    let host = hello::check_hostname(&hello.hostname)?;
    hello::check_facts(hello, limits)?;
    caller.may_write(host)?;
    Ok(host.to_owned())
}

impl Session {
    /// A session for a Hello that passed [`check_hello`].
    pub fn new(
        host: String,
        hello: &Hello,
        store: Arc<dyn Store>,
        limits: Arc<Limits>,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            base_labels: target_labels(&host, hello),
            host,
            relabel: Arc::new(Relabeler::default()),
            dropped: HashSet::new(),
            up: None,
            ids: HashMap::new(),
            refused: HashMap::new(),
            full: None,
            compact: packed::Compact::default(),
            store,
            limits,
            counters,
        }
    }

    /// Runs `relabel` over every series this stream defines (and its `up`).
    pub fn with_relabel(mut self, relabel: Arc<Relabeler>) -> Self {
        self.relabel = relabel;
        self
    }

    /// Stores what is valid in `batch` and says what happened. Only an engine failure is an
    /// error: then nothing is acknowledged and the agent will re-send the batch.
    pub fn handle(&mut self, mut batch: Batch, now_ms: i64) -> Result<Ack, StoreError> {
        let mut first: Option<Violation> = None;
        let mut rejected = 0u64;
        let mut refuse = |v: Violation, n: u64, counters: &Counters| {
            counters.rejected(v.reason, n);
            rejected += n;
            if first.is_none() {
                first = Some(v);
            }
        };
        self.define(&mut batch, &mut refuse)?;
        // Bad entries are ignored and counted there; they never fail the batch.
        self.counters.metadata.record(&batch.metadata);

        let up = if batch.scrapes.is_empty() {
            None
        } else {
            self.up_series()?
        };
        let (mut taken, mut discarded) = (0u64, 0u64);
        // Every accepted sample as (series, time, value), grouped by series below: a sort
        // (stable, so a series keeps its scrapes' order) in place of a map, which left the
        // series in random order and cost a hash and an allocation per series.
        let mut taken_samples: Vec<(SeriesId, i64, f64)> = Vec::with_capacity(
            batch
                .scrapes
                .iter()
                .map(|s| samples_carried(s) as usize + 1)
                .sum::<usize>()
                .min(1 << 16),
        );
        for (n, scrape) in batch.scrapes.iter().enumerate() {
            let count = samples_carried(scrape);
            let decoded;
            let (series_ids, values): (&[u64], &[f64]) = if !scrape.packed.is_empty() {
                let max = self.limits.max_series_ids_per_stream;
                match self.compact.read(batch.seq, n, scrape, max) {
                    Ok(values) => {
                        decoded = values;
                        (self.compact.ids(), &decoded)
                    }
                    Err(v) => {
                        refuse(v, count, &self.counters);
                        continue;
                    }
                }
            } else if scrape.series_ids.len() != scrape.values.len() {
                refuse(
                    Violation::invalid(
                        "malformed_scrape",
                        format!(
                            "batch {} scrape {n} has {} series ids but {} values",
                            batch.seq,
                            scrape.series_ids.len(),
                            scrape.values.len()
                        ),
                    ),
                    count,
                    &self.counters,
                );
                continue;
            } else {
                (&scrape.series_ids, &scrape.values)
            };
            if let Err(v) = limits::check_timestamp(scrape.timestamp_ms, now_ms, &self.limits) {
                refuse(v, count, &self.counters);
                continue;
            }
            if let Some(up) = up {
                taken_samples.push((up, scrape.timestamp_ms, 1.0));
            }
            for (local, &value) in series_ids.iter().zip(values) {
                match self.ids.get(local) {
                    Some(&id) => {
                        taken += 1;
                        taken_samples.push((id, scrape.timestamp_ms, value));
                    }
                    None if self.dropped.contains(local) => discarded += 1,
                    None => {
                        let v = self
                            .refused
                            .get(local)
                            .or(self.full.as_ref())
                            .cloned()
                            .unwrap_or_else(|| {
                                Violation::invalid(
                                    "undefined_series",
                                    format!("series id {local} was not defined on this stream"),
                                )
                            });
                        refuse(v, 1, &self.counters);
                    }
                }
            }
        }
        let samples = group_by_series(taken_samples);
        let stored: u64 = samples.iter().map(|s| s.samples.len() as u64).sum();
        if stored > 0 {
            self.store.append(&samples)?;
        }
        // The agent's samples the collector took: stored, or dropped as `[[relabel]]` says
        // (not refusals: the agent did nothing wrong). `up` is the collector's own.
        let accepted = taken + discarded;
        self.counters.accepted(accepted);
        self.counters
            .relabel_dropped
            .fetch_add(discarded, Ordering::Relaxed);
        Ok(Ack {
            seq: batch.seq,
            accepted_samples: accepted,
            rejected_samples: rejected,
            rejection: first.map(|v| Rejection {
                code: v.code() as i32,
                message: v.message,
            }),
        })
    }

    /// Rough bytes this stream holds, for `vigil_collector_memory_bytes`: its series id
    /// maps (from their capacities), and its previous compact scrape (ids and values).
    pub fn memory_bytes(&self) -> (u64, u64) {
        // A hash table entry is its key and value plus a control byte.
        fn table<K, V>(capacity: usize) -> u64 {
            (capacity * (std::mem::size_of::<(K, V)>() + 1)) as u64
        }
        let ids = table::<u64, SeriesId>(self.ids.capacity())
            + table::<u64, Violation>(self.refused.capacity())
            + table::<u64, ()>(self.dropped.capacity());
        (ids, self.compact.ids().len() as u64 * 16)
    }

    /// Binds the batch's series definitions to collector series ids. The label names and
    /// values of the definitions taken are moved out of `batch`, not copied.
    fn define(
        &mut self,
        batch: &mut Batch,
        refuse: &mut impl FnMut(Violation, u64, &Counters),
    ) -> Result<(), StoreError> {
        let mut locals = Vec::new();
        let mut labelsets = Vec::new();
        for def in &mut batch.definitions {
            let known = self.ids.remove(&def.id).is_some()
                | self.refused.remove(&def.id).is_some()
                | self.dropped.remove(&def.id);
            let held = self.ids.len() + self.refused.len() + self.dropped.len() + locals.len();
            if !known && held >= self.max_ids() {
                if self.full.is_none() {
                    self.full = Some(self.ids_exhausted());
                }
                if let Some(v) = &self.full {
                    refuse(v.clone(), 0, &self.counters);
                }
                continue;
            }
            match self.labels_of(def) {
                Ok(Some(labels)) => {
                    locals.push(def.id);
                    labelsets.push(labels);
                }
                Ok(None) => {
                    self.dropped.insert(def.id);
                }
                Err(v) => {
                    refuse(v.clone(), 0, &self.counters);
                    self.refused.insert(def.id, v);
                }
            }
        }
        if labelsets.is_empty() {
            return Ok(());
        }
        // Past the memory budget no series is created: existing ones still resolve.
        let memory = self.counters.memory.refuses_new_series();
        let max = match memory {
            Some(_) => 0,
            None => self.limits.max_series_per_host,
        };
        // A new stream's first batch usually defines its series and carries a scrape: its
        // `up` is resolved with them, in one creation instead of two (see `up_series`).
        let with_up = self.up.is_none() && !batch.scrapes.is_empty();
        let up = match with_up.then(|| self.up_labels()) {
            Some(Outcome::Keep(labels)) => {
                labelsets.push(labels);
                true
            }
            _ => false,
        };
        match self.store.resolve_series(&self.host, &labelsets, max) {
            Ok(mut ids) => {
                if up {
                    self.up = Some(ids.pop());
                }
                self.ids.extend(locals.into_iter().zip(ids));
            }
            Err(StoreError::SeriesLimit { .. }) => {
                if up {
                    // `up_series` tries it again on its own, under the host's limit.
                    labelsets.pop();
                }
                // Some are new and over the limit: resolve one by one so the existing ones work.
                for (local, labels) in locals.into_iter().zip(labelsets) {
                    match self
                        .store
                        .resolve_series(&self.host, std::slice::from_ref(&labels), max)
                    {
                        Ok(ids) => {
                            self.ids.insert(local, ids[0]);
                        }
                        Err(e @ StoreError::SeriesLimit { .. }) => {
                            let (reason, why) = match &memory {
                                Some(why) => ("memory_budget", why.clone()),
                                None => ("series_limit", e.to_string()),
                            };
                            let v = Violation {
                                kind: Refusal::Exhausted,
                                reason,
                                message: format!(
                                    "series {:?} refused: {why}",
                                    limits::shorten(labels.name())
                                ),
                            };
                            refuse(v.clone(), 0, &self.counters);
                            self.refused.insert(local, v);
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    fn max_ids(&self) -> usize {
        self.limits.max_series_ids_per_stream
    }

    /// Why a new series id is refused once the stream has defined as many as it may.
    fn ids_exhausted(&self) -> Violation {
        Violation {
            kind: Refusal::Exhausted,
            reason: "series_ids_per_stream",
            message: format!(
                "this stream of host {:?} has defined {} series ids, \
                 limits.max_series_ids_per_stream; new ids are refused (an agent defines each \
                 series once per stream: reconnect to start over, or raise the limit)",
                limits::shorten(&self.host),
                self.max_ids()
            ),
        }
    }

    /// The full label set of a definition after `[[relabel]]` (`None`: dropped by it), or
    /// why it is refused. Once the definition's labels are checked, their names and values
    /// are moved out of it.
    fn labels_of(
        &self,
        def: &mut vigil_proto::v1::SeriesDefinition,
    ) -> Result<Option<Labels>, Violation> {
        limits::check_metric_name(&def.name, &self.limits)?;
        let total = def.labels.len() + self.base_labels.len() + 2;
        if total > self.limits.max_labels_per_series {
            return Err(Violation::invalid(
                "too_many_labels",
                format!(
                    "series {:?} has {total} labels, over the limit of {}",
                    limits::shorten(&def.name),
                    self.limits.max_labels_per_series
                ),
            ));
        }
        for (i, label) in def.labels.iter().enumerate() {
            limits::check_label(&def.name, &label.name, &label.value, &self.limits)?;
            if def.labels[..i].iter().any(|l| l.name == label.name) {
                return Err(Violation::invalid(
                    "duplicate_label",
                    format!(
                        "series {:?} has label {:?} twice",
                        limits::shorten(&def.name),
                        label.name
                    ),
                ));
            }
        }
        // The metric name first: `__name__` sorts before every label name that starts with a
        // lowercase letter (node_exporter's all do), so `Labels::new`'s sort mostly finds it
        // in place. Moved out of the definition unless
        // `[[relabel]]` may refuse the series and its message must name it.
        let name = if self.relabel.is_empty() {
            std::mem::take(&mut def.name)
        } else {
            def.name.clone()
        };
        let mut pairs = Vec::with_capacity(total);
        pairs.push((METRIC_NAME.to_owned(), name));
        for label in &mut def.labels {
            // Prometheus treats an empty value as an absent label (a scrape drops it, and
            // remote write never sends one): store it that way, as imports do.
            if !label.value.is_empty() {
                pairs.push((
                    std::mem::take(&mut label.name),
                    std::mem::take(&mut label.value),
                ));
            }
        }
        for (name, value) in &self.base_labels {
            if !pairs.iter().any(|(n, _)| n == name) {
                pairs.push((name.clone(), value.clone()));
            }
        }
        pairs.push(("host".to_owned(), self.host.clone()));
        match self.relabel.apply(Labels::new(pairs)) {
            Outcome::Keep(labels) => Ok(Some(labels)),
            Outcome::Dropped => Ok(None),
            Outcome::Invalid(why) => Err(Violation::invalid(
                "relabel",
                format!(
                    "series {:?}: {why}; check the collector's [[relabel]] entries",
                    limits::shorten(&def.name)
                ),
            )),
        }
    }

    /// This host's `up` series (`up{host, job, instance, …}`, relabelled), resolved on the
    /// first batch with scrapes; `None` when relabelling drops it or the host is at its
    /// series limit.
    fn up_series(&mut self) -> Result<Option<SeriesId>, StoreError> {
        if let Some(up) = self.up {
            return Ok(up);
        }
        let up = match self.up_labels() {
            Outcome::Keep(labels) => {
                let max = self.limits.max_series_per_host;
                match self.store.resolve_series(&self.host, &[labels], max) {
                    Ok(ids) => ids.first().copied(),
                    Err(StoreError::SeriesLimit { .. }) => None,
                    Err(e) => return Err(e),
                }
            }
            Outcome::Dropped | Outcome::Invalid(_) => None,
        };
        self.up = Some(up);
        Ok(up)
    }

    /// The labels of this host's `up` series after `[[relabel]]`.
    fn up_labels(&self) -> Outcome {
        let mut pairs = self.base_labels.clone();
        pairs.push((METRIC_NAME.to_owned(), UP.to_owned()));
        pairs.push(("host".to_owned(), self.host.clone()));
        self.relabel.apply(Labels::new(pairs))
    }
}

/// `(series, time, value)` triples as one [`SeriesSamples`] per series, in id order (which
/// puts a host's consecutive ids into the same frames of the store), each series' samples in
/// the order given.
fn group_by_series(mut taken: Vec<(SeriesId, i64, f64)>) -> Vec<SeriesSamples> {
    taken.sort_by_key(|&(id, _, _)| id);
    let mut out: Vec<SeriesSamples> = Vec::new();
    for (id, ts, value) in taken {
        match out.last_mut() {
            Some(last) if last.id == id => last.samples.push((ts, value)),
            _ => out.push(SeriesSamples {
                id,
                samples: vec![(ts, value)],
            }),
        }
    }
    out
}

/// The series the collector writes for every host: 1 at each round it receives, 0 while the
/// host is silent (see [`crate::up`]), as Prometheus writes `up` after each scrape.
pub const UP: &str = "up";

/// Prometheus' target labels: `job` (`"node"` unless the agent says) and `instance` (the
/// host name unless the agent says), then the operator's labels from the Hello.
pub fn target_labels(host: &str, hello: &Hello) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = hello
        .labels
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect();
    for (name, default) in [("job", "node"), ("instance", host)] {
        if !labels.iter().any(|(n, _)| n == name) {
            labels.push((name.to_owned(), default.to_owned()));
        }
    }
    labels
}

#[cfg(test)]
mod tests;
