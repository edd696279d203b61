//! `up`: 1 at every round a host sends (written by the ingest session beside the round's
//! samples), 0 while it is silent (written here, by housekeeping), so `up{job="node"} == 0`
//! and dashboards' "targets up" panels work as they do over Prometheus' scrapes.
//!
//! A host counts as silent once it has not been heard from for two of its intervals and
//! 5 seconds more ([`Registry::silent`]). Its `up` carries the labels its last Hello gave:
//! `host`, `job`, `instance` and the operator's labels, through `[[relabel]]` like every
//! other series.

use crate::ingest::session::{UP, target_labels};
use crate::registry::Registry;
use crate::relabel::{Outcome, Relabeler};
use std::sync::Arc;
use vigil_store::{Labels, METRIC_NAME, SeriesSamples, Store, StoreError};

/// Writes `up` 0 for silent hosts.
pub struct Silence {
    relabel: Arc<Relabeler>,
    /// When the collector started (unix ms): silence is counted from then at the earliest.
    started_ms: i64,
    max_series_per_host: u64,
}

impl Silence {
    /// Writes through `relabel`; silence counts from `started_ms` at the earliest; an `up`
    /// series that would be new past `max_series_per_host` is not made.
    pub fn new(relabel: Arc<Relabeler>, started_ms: i64, max_series_per_host: u64) -> Self {
        Self {
            relabel,
            started_ms,
            max_series_per_host,
        }
    }

    /// Writes `up` 0 at `now_ms` for every silent host; returns how many.
    pub fn write(
        &self,
        store: &dyn Store,
        registry: &Registry,
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        let mut samples = Vec::new();
        for host in registry.silent(now_ms, self.started_ms)? {
            let Some(hello) = host.facts.as_ref() else {
                continue;
            };
            let mut pairs = target_labels(&host.host, hello);
            pairs.push((METRIC_NAME.to_owned(), UP.to_owned()));
            pairs.push(("host".to_owned(), host.host.clone()));
            let Outcome::Keep(labels) = self.relabel.apply(Labels::new(pairs)) else {
                continue;
            };
            self.sample(store, &host.host, labels, (now_ms, 0.0), &mut samples)?;
        }
        append(store, samples)
    }

    /// Adds `sample` of the series `labels` of `host` to `samples`, unless the series
    /// would be new past `max_series_per_host`.
    fn sample(
        &self,
        store: &dyn Store,
        host: &str,
        labels: Labels,
        sample: (i64, f64),
        samples: &mut Vec<SeriesSamples>,
    ) -> Result<(), StoreError> {
        let ids = match store.resolve_series(host, &[labels], self.max_series_per_host) {
            Ok(ids) => ids,
            Err(StoreError::SeriesLimit { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        samples.extend(ids.into_iter().map(|id| SeriesSamples {
            id,
            samples: vec![sample],
        }));
        Ok(())
    }
}

/// Writes `samples` (when any); returns how many series they were.
fn append(store: &dyn Store, samples: Vec<SeriesSamples>) -> Result<usize, StoreError> {
    if !samples.is_empty() {
        store.append(&samples)?;
    }
    Ok(samples.len())
}

/// The series of a host's clock skew, written by housekeeping every 10 s for every host
/// whose agent says when it sends: its clock minus the collector's, in seconds.
pub const CLOCK_SKEW: &str = "vigil_host_clock_skew_seconds";

impl Silence {
    /// Writes [`CLOCK_SKEW`]`{host}` at `now_ms` for every host with a known skew; returns
    /// how many.
    pub fn write_skews(
        &self,
        store: &dyn Store,
        registry: &Registry,
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        let mut samples = Vec::new();
        for (host, skew_ms) in registry.skews() {
            let labels = Labels::new(vec![
                (METRIC_NAME.to_owned(), CLOCK_SKEW.to_owned()),
                ("host".to_owned(), host.clone()),
            ]);
            let skew = (now_ms, skew_ms as f64 / 1000.0);
            self.sample(store, &host, labels, skew, &mut samples)?;
        }
        append(store, samples)
    }
}

/// Every series `selector` matches in `store`, with all its samples (for tests).
#[cfg(test)]
pub(crate) fn stored(store: &dyn Store, selector: &str) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let selector = vigil_store::selector::Selector::parse(selector).expect("selector");
    let (series, _) = store.select(&selector, 100).expect("select");
    series
        .into_iter()
        .map(|(id, labels)| {
            let mut samples = Vec::new();
            store
                .samples(id, 0, i64::MAX, &mut samples)
                .expect("samples");
            (labels, samples)
        })
        .collect()
}

#[cfg(test)]
mod tests;
