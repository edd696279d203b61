//! One import request, as domain logic: judge its series and samples in file order with
//! the same checks agent ingest uses ([`crate::limits`], [`check_hostname`] for host names,
//! `limits.max_hosts`, the store's per-host series limit), store everything before the
//! first refused sample, and say how much was stored and why it stopped.
//!
//! The cut is a sample index in the request. Four things can set it, and the earliest
//! wins:
//! 1. a series whose labels are refused (cut at its first sample);
//! 2. a sample stamped too far in the future, or further in the past than
//!    `limits.max_import_past` or `storage.retention` (cut at that sample);
//! 3. a series of a new host past `limits.max_hosts` (cut at its first sample);
//! 4. a new series over its host's series limit (cut at its first sample).
//!
//! The request lists its series in the order of their first sample, so the series used
//! before the cut are a prefix of that list, and only they are created (except when a
//! host's series limit is hit: then other hosts' valid series of the request may be
//! created without samples).

use crate::auth::{Caller, Identity, Role};
use crate::ingest::session::check_hostname;
use crate::limits::{self, Limits, Refusal, Violation};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use vigil_proto::v1::{ImportRejection, ImportRequest, ImportResponse, ImportSeries};
use vigil_store::{Labels, METRIC_NAME, SeriesId, SeriesSamples, Store, StoreError};

pub use crate::registry::UNHOSTED;

/// Why a whole request failed: nothing of it is acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// The client may not import this request (a host it may not write, no host label
    /// with an agent identity).
    #[error("{0}")]
    Refused(Violation),
    /// The store failed; the request may be sent again.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Judges and stores import requests.
pub struct Backfill {
    store: Arc<dyn Store>,
    limits: Arc<Limits>,
    /// `storage.retention` ("0s": forever): older samples are refused.
    retention: Duration,
    /// The collector's counters, whose memory budget refuses new series when it is full
    /// (`None`: no budget).
    counters: Option<Arc<crate::ingest::Counters>>,
}

/// A series that passed the label checks: the host account it counts against and its labels.
struct Checked {
    account: String,
    labels: Labels,
}

/// Series ids for a prefix of the checked series, and when a series limit cut it short,
/// the index of the series refused and why.
type Resolved = (Vec<SeriesId>, Option<(usize, Violation)>);

/// Where a request stops: the index of the first sample not stored, and why.
struct Cut {
    sample: usize,
    violation: Violation,
}

impl Backfill {
    /// Imports into `store` under `limits`. Who may import is decided before
    /// ([`crate::auth`]); which hosts the caller may write, here.
    pub fn new(store: Arc<dyn Store>, limits: Arc<Limits>) -> Self {
        Self {
            store,
            limits,
            retention: Duration::ZERO,
            counters: None,
        }
    }

    /// Refuses new series while `counters`' memory budget is full.
    pub fn with_memory_budget(mut self, counters: Arc<crate::ingest::Counters>) -> Self {
        self.counters = Some(counters);
        self
    }

    /// Refuses samples older than `retention` (`storage.retention`; zero keeps all), which
    /// the store would delete at once.
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Stores `request` up to its first refused sample; blocks on the store.
    pub fn write(
        &self,
        request: ImportRequest,
        caller: &Caller,
        now_ms: i64,
    ) -> Result<ImportResponse, BackfillError> {
        authorize(&request, caller).map_err(BackfillError::Refused)?;
        let first = first_samples(&request).map_err(BackfillError::Refused)?;
        let total = request.values.len();
        let mut cut: Option<Cut> = None;
        let mut checked = Vec::with_capacity(request.series.len());
        for (k, s) in request.series.iter().enumerate() {
            match self.check_series(s) {
                Ok(c) => checked.push(c),
                Err(violation) => {
                    cut = Some(Cut {
                        sample: first[k],
                        violation,
                    });
                    break;
                }
            }
        }
        let end = cut.as_ref().map_or(total, |c| c.sample);
        if let Some(c) = self.out_of_range_sample(&request.timestamps_ms[..end], now_ms) {
            cut = Some(c);
        }
        let end = cut.as_ref().map_or(total, |c| c.sample);
        checked.truncate(first.partition_point(|&f| f < end));
        let accounts: Vec<&str> = checked.iter().map(|c| c.account.as_str()).collect();
        let over =
            crate::registry::host_limit(self.store.as_ref(), &accounts, self.limits.max_hosts)?;
        if let Some((k, violation)) = over {
            cut = Some(Cut {
                sample: first[k],
                violation,
            });
            checked.truncate(k);
        }
        let (ids, refused) = self.resolve(&checked)?;
        if let Some((k, violation)) = refused {
            cut = Some(Cut {
                sample: first[k],
                violation,
            });
        }
        let end = cut.as_ref().map_or(total, |c| c.sample);
        let mut appends: Vec<SeriesSamples> = ids
            .iter()
            .map(|&id| SeriesSamples {
                id,
                samples: Vec::new(),
            })
            .collect();
        for i in 0..end {
            let k = request.series_index[i] as usize;
            appends[k]
                .samples
                .push((request.timestamps_ms[i], request.values[i]));
        }
        if end > 0 {
            self.store.append(&appends)?;
        }
        Ok(ImportResponse {
            accepted_samples: end as u64,
            rejection: cut.map(|c| ImportRejection {
                line: request.line_deltas[..=c.sample]
                    .iter()
                    .fold(0u64, |line, d| line.saturating_add(*d)),
                code: c.violation.code() as i32,
                reason: c.violation.reason.to_owned(),
                message: c.violation.message,
            }),
        })
    }

    /// The labels of one series, checked as agent ingest checks a series definition.
    fn check_series(&self, s: &ImportSeries) -> Result<Checked, Violation> {
        let limits = &self.limits;
        let name = s
            .labels
            .iter()
            .find(|l| l.name == METRIC_NAME)
            .map(|l| l.value.as_str())
            .ok_or_else(|| {
                Violation::invalid(
                    "bad_metric_name",
                    "the series has no metric name (__name__)".into(),
                )
            })?;
        limits::check_metric_name(name, limits)?;
        if s.labels.len() > limits.max_labels_per_series {
            return Err(Violation::invalid(
                "too_many_labels",
                format!(
                    "series {:?} has {} labels, over the limit of {}",
                    limits::shorten(name),
                    s.labels.len(),
                    limits.max_labels_per_series
                ),
            ));
        }
        let mut account = None;
        let mut pairs: Vec<(String, String)> = Vec::with_capacity(s.labels.len());
        for label in &s.labels {
            if pairs.iter().any(|(n, _)| n == &label.name) {
                return Err(Violation::invalid(
                    "duplicate_label",
                    format!(
                        "series {:?} has label {:?} twice",
                        limits::shorten(name),
                        label.name
                    ),
                ));
            }
            match label.name.as_str() {
                METRIC_NAME => {}
                "host" => account = Some(self.check_host(name, &label.value)?),
                other => limits::check_label(name, other, &label.value, limits)?,
            }
            // Prometheus treats an empty value as an absent label; store it that way.
            if !label.value.is_empty() {
                pairs.push((label.name.clone(), label.value.clone()));
            }
        }
        let account = account.unwrap_or_else(|| UNHOSTED.to_owned());
        Ok(Checked {
            account,
            labels: Labels::new(pairs),
        })
    }

    /// A `host` label value, checked as an agent's host name is.
    fn check_host(&self, series: &str, host: &str) -> Result<String, Violation> {
        let checked = check_hostname(host).map_err(|v| {
            Violation::invalid(
                "bad_host",
                format!(
                    "host label of series {:?}: {}",
                    limits::shorten(series),
                    v.message
                ),
            )
        })?;
        if checked != host {
            return Err(Violation::invalid(
                "bad_host",
                format!(
                    "host label {:?} of series {:?} has spaces around it",
                    limits::shorten(host),
                    limits::shorten(series)
                ),
            ));
        }
        Ok(checked.to_owned())
    }

    /// The first sample stamped further ahead of `now_ms` than `limits.max_future`, or
    /// further behind than `limits.max_import_past` or `storage.retention`.
    fn out_of_range_sample(&self, timestamps_ms: &[i64], now_ms: i64) -> Option<Cut> {
        timestamps_ms.iter().enumerate().find_map(|(i, &ts)| {
            limits::check_import_timestamp(ts, now_ms, &self.limits, self.retention)
                .err()
                .map(|violation| Cut {
                    sample: i,
                    violation,
                })
        })
    }

    /// Series ids for `checked`, creating new series under each host's limit. When a limit
    /// is reached, resolves one by one in order and stops at the first series refused:
    /// the ids returned are for the series before it, and the index and why come with them.
    fn resolve(&self, checked: &[Checked]) -> Result<Resolved, StoreError> {
        // Past the memory budget no series is created: existing ones still resolve.
        let memory = self
            .counters
            .as_ref()
            .and_then(|c| c.memory.refuses_new_series());
        let max = |account: &str| {
            if memory.is_some() {
                0
            } else if account == UNHOSTED {
                self.limits.max_unhosted_series
            } else {
                self.limits.max_series_per_host
            }
        };
        let mut by_host: HashMap<&str, (Vec<usize>, Vec<Labels>)> = HashMap::new();
        for (i, c) in checked.iter().enumerate() {
            let entry = by_host.entry(c.account.as_str()).or_default();
            entry.0.push(i);
            entry.1.push(c.labels.clone());
        }
        let mut ids = vec![0; checked.len()];
        let mut over_limit = false;
        for (host, (indices, labelsets)) in &by_host {
            match self.store.resolve_series(host, labelsets, max(host)) {
                Ok(found) => indices.iter().zip(found).for_each(|(&i, id)| ids[i] = id),
                Err(StoreError::SeriesLimit { .. }) => over_limit = true,
                Err(e) => return Err(e),
            }
        }
        if !over_limit {
            return Ok((ids, None));
        }
        // Some host is full: find, in file order, the first series that does not fit. The
        // other hosts' series are already created, which is harmless: they are valid.
        for (i, c) in checked.iter().enumerate() {
            match self.store.resolve_series(
                &c.account,
                std::slice::from_ref(&c.labels),
                max(&c.account),
            ) {
                Ok(found) => ids[i] = found[0],
                Err(e @ StoreError::SeriesLimit { .. }) => {
                    let why = if let Some(why) = &memory {
                        why.clone()
                    } else if c.account == UNHOSTED {
                        format!(
                            "the series without a host label have reached their limit of {}; \
                             raise limits.max_unhosted_series or give the series host labels",
                            max(&c.account)
                        )
                    } else {
                        e.to_string()
                    };
                    let violation = Violation {
                        kind: Refusal::Exhausted,
                        reason: if memory.is_some() {
                            "memory_budget"
                        } else {
                            "series_limit"
                        },
                        message: format!(
                            "series {:?} refused: {why}",
                            limits::shorten(c.labels.name())
                        ),
                    };
                    ids.truncate(i);
                    return Ok((ids, Some((i, violation))));
                }
                Err(e) => return Err(e),
            }
        }
        Ok((ids, None))
    }
}

/// The index of each series' first sample, checking that the columns line up and that
/// series are listed in the order of their first sample (which `vigil import` does, and
/// which makes "the series used before sample i" a prefix of the list).
fn first_samples(request: &ImportRequest) -> Result<Vec<usize>, Violation> {
    let n = request.values.len();
    let malformed = |message: String| Violation::invalid("malformed_request", message);
    if request.series_index.len() != n
        || request.timestamps_ms.len() != n
        || request.line_deltas.len() != n
    {
        return Err(malformed(format!(
            "the sample columns differ in length: {} series indexes, {} timestamps, {} values, {} line deltas",
            request.series_index.len(),
            request.timestamps_ms.len(),
            n,
            request.line_deltas.len()
        )));
    }
    let mut first = Vec::with_capacity(request.series.len());
    for (i, &k) in request.series_index.iter().enumerate() {
        match (k as usize).cmp(&first.len()) {
            std::cmp::Ordering::Less => {}
            std::cmp::Ordering::Equal => first.push(i),
            std::cmp::Ordering::Greater => {
                return Err(malformed(format!(
                    "sample {i} refers to series {k} before series {} had a sample; list series \
                     in the order of their first sample",
                    first.len()
                )));
            }
        }
    }
    if first.len() != request.series.len() {
        return Err(malformed(format!(
            "the request lists {} series but its samples use {}",
            request.series.len(),
            first.len()
        )));
    }
    Ok(first)
}

// The tests run on RocksDB.
#[cfg(test)]
#[cfg(feature = "rocks")]
mod tests;

/// The hosts a request writes must all be ones the caller may write: an admin (or an open
/// collector) any host; an agent token the hosts its patterns allow; a certificate its own
/// host. Series without a `host` label (the `(import)` account) need a caller that may
/// write any host: an admin, an open collector, or an agent token without host patterns.
/// Checked before anything is stored.
fn authorize(request: &ImportRequest, caller: &Caller) -> Result<(), Violation> {
    let unrestricted = matches!(
        caller.identity,
        Identity::Open
            | Identity::Token {
                role: Role::Admin,
                ..
            }
            | Identity::Token {
                role: Role::Agent,
                hosts: None,
            }
    ) && caller.certificate_host.is_none();
    if unrestricted {
        return Ok(());
    }
    for series in &request.series {
        match series.labels.iter().find(|l| l.name == "host") {
            Some(host) => caller.may_write(&host.value)?,
            None => {
                let name = series
                    .labels
                    .iter()
                    .find(|l| l.name == METRIC_NAME)
                    .map_or("", |l| l.value.as_str());
                return Err(Violation {
                    kind: Refusal::Forbidden,
                    reason: "host_not_allowed",
                    message: format!(
                        "series {:?} has no host label; {} may only write series labelled \
                         with a host it may write (an admin token, or an agent token without \
                         hosts, may write any series)",
                        limits::shorten(name),
                        caller.name
                    ),
                });
            }
        }
    }
    Ok(())
}
