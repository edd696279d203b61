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
use std::collections::HashMap;
use std::sync::Arc;
use vigil_proto::v1::{Ack, Batch, Hello, Rejection};
use vigil_store::{Labels, METRIC_NAME, SeriesId, SeriesSamples, Store, StoreError};

/// State of one agent stream after its Hello.
pub struct Session {
    /// The host this stream writes for (its `host` label).
    pub host: String,
    /// Operator-set labels from the Hello, added to every series.
    base_labels: Vec<(String, String)>,
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
            host,
            base_labels: hello
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect(),
            ids: HashMap::new(),
            refused: HashMap::new(),
            full: None,
            compact: packed::Compact::default(),
            store,
            limits,
            counters,
        }
    }

    /// Stores what is valid in `batch` and says what happened. Only an engine failure is an
    /// error: then nothing is acknowledged and the agent will re-send the batch.
    pub fn handle(&mut self, batch: Batch, now_ms: i64) -> Result<Ack, StoreError> {
        let mut first: Option<Violation> = None;
        let mut rejected = 0u64;
        let mut refuse = |v: Violation, n: u64, counters: &Counters| {
            counters.rejected(v.reason, n);
            rejected += n;
            if first.is_none() {
                first = Some(v);
            }
        };
        self.define(&batch, &mut refuse)?;

        let mut by_series: HashMap<SeriesId, Vec<(i64, f64)>> = HashMap::new();
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
            for (local, &value) in series_ids.iter().zip(values) {
                match self.ids.get(local) {
                    Some(&id) => by_series
                        .entry(id)
                        .or_default()
                        .push((scrape.timestamp_ms, value)),
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
        let samples: Vec<SeriesSamples> = by_series
            .into_iter()
            .map(|(id, samples)| SeriesSamples { id, samples })
            .collect();
        let accepted: u64 = samples.iter().map(|s| s.samples.len() as u64).sum();
        if accepted > 0 {
            self.store.append(&samples)?;
        }
        self.counters.accepted(accepted);
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

    /// Binds the batch's series definitions to collector series ids.
    fn define(
        &mut self,
        batch: &Batch,
        refuse: &mut impl FnMut(Violation, u64, &Counters),
    ) -> Result<(), StoreError> {
        let mut locals = Vec::new();
        let mut labelsets = Vec::new();
        for def in &batch.definitions {
            let known = self.ids.remove(&def.id).is_some() | self.refused.remove(&def.id).is_some();
            if !known && self.ids.len() + self.refused.len() + locals.len() >= self.max_ids() {
                if self.full.is_none() {
                    self.full = Some(self.ids_exhausted());
                }
                if let Some(v) = &self.full {
                    refuse(v.clone(), 0, &self.counters);
                }
                continue;
            }
            match self.labels_of(def) {
                Ok(labels) => {
                    locals.push(def.id);
                    labelsets.push(labels);
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
        let max = self.limits.max_series_per_host;
        match self.store.resolve_series(&self.host, &labelsets, max) {
            Ok(ids) => self.ids.extend(locals.into_iter().zip(ids)),
            Err(StoreError::SeriesLimit { .. }) => {
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
                            let v = Violation {
                                kind: Refusal::Exhausted,
                                reason: "series_limit",
                                message: format!(
                                    "series {:?} refused: {e}",
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

    /// The full label set of a definition, or why it is refused.
    fn labels_of(&self, def: &vigil_proto::v1::SeriesDefinition) -> Result<Labels, Violation> {
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
        let mut pairs = Vec::with_capacity(total);
        for label in &def.labels {
            limits::check_label(&def.name, &label.name, &label.value, &self.limits)?;
            if pairs
                .iter()
                .any(|(n, _): &(String, String)| n == &label.name)
            {
                return Err(Violation::invalid(
                    "duplicate_label",
                    format!(
                        "series {:?} has label {:?} twice",
                        limits::shorten(&def.name),
                        label.name
                    ),
                ));
            }
            pairs.push((label.name.clone(), label.value.clone()));
        }
        for (name, value) in &self.base_labels {
            if !pairs.iter().any(|(n, _)| n == name) {
                pairs.push((name.clone(), value.clone()));
            }
        }
        pairs.push((METRIC_NAME.to_owned(), def.name.clone()));
        pairs.push(("host".to_owned(), self.host.clone()));
        Ok(Labels::new(pairs))
    }
}

#[cfg(test)]
mod tests;
