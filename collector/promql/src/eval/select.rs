//! Selectors: reading series and samples from the store, the lookback of instant-vector
//! selectors and the windows of range-vector selectors.
//!
//! Each selector reads the store once per query, for the whole time span all steps need,
//! and every step then picks its samples from memory by moving two cursors forward.

use promql_parser::parser::{AtModifier, Offset, VectorSelector};

use super::{Evaluator, StepVector};
use crate::QueryError;
use vigil_store::selector::Selector;
use vigil_store::{Labels, SeriesId, Store};

/// Prometheus's staleness marker: a NaN with this bit pattern means "the series ended".
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Whether `v` is Prometheus's staleness marker.
pub(super) fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN
}

/// One series as read from the store, samples oldest first.
pub(super) type Loaded = (Labels, Vec<(i64, f64)>);

impl Evaluator<'_> {
    /// Reads the series `vs` selects with the samples every step needs: from the first
    /// step's reference time minus `lookback_ms` to the last step's reference time. With
    /// `drop_stale`, staleness markers are left out (range windows ignore them).
    pub fn load(
        &mut self,
        vs: &VectorSelector,
        lookback_ms: i64,
        drop_stale: bool,
    ) -> Result<Vec<Loaded>, QueryError> {
        let selector = Selector::from_vector_selector(vs)
            .map_err(|reason| QueryError::BadArgument(format!("{vs}: {reason}")))?;
        let first = self.reference_time(vs, self.steps.start);
        let last = self.reference_time(vs, self.steps.end);
        let (from, to) = (first.min(last).saturating_sub(lookback_ms), first.max(last));
        let (series, truncated) = self.store.select(&selector, self.options.max_series)?;
        if truncated {
            return Err(QueryError::TooLarge(format!(
                "{vs} matches more than {} series; narrow the selector",
                self.options.max_series
            )));
        }
        let parts = read_parallel(
            self.store,
            &series,
            from,
            to,
            self.steps.step,
            self.deadline,
        )
        .map_err(|e| match e {
            QueryError::Timeout(_) => QueryError::Timeout(self.options.timeout),
            e => e,
        })?;
        let mut loaded = Vec::with_capacity(series.len());
        for ((_, labels), mut samples) in series.into_iter().zip(parts) {
            if drop_stale {
                samples.retain(|(_, v)| !is_stale(*v));
            }
            self.loaded_samples += samples.len();
            if self.loaded_samples > self.options.max_samples {
                return Err(QueryError::TooLarge(format!(
                    "the query would read more than {} samples (at {vs}); \
                     shorten the time range, raise the step or narrow the selectors",
                    self.options.max_samples
                )));
            }
            if !samples.is_empty() {
                loaded.push((labels, samples));
            }
        }
        Ok(loaded)
    }

    /// An instant-vector selector at every step: each series' latest sample at or before
    /// the reference time and no older than the lookback, unless it is a staleness marker.
    pub fn vector_selector(&mut self, vs: &VectorSelector) -> Result<StepVector, QueryError> {
        let lookback = self.options.lookback_ms;
        let loaded = self.load(vs, lookback, false)?;
        let mut out = StepVector::empty(self.steps.count);
        for (labels, samples) in loaded {
            let index = out.series.len() as u32;
            let mut any = false;
            self.each_instant(vs, &samples, |step, _t, v| {
                out.steps[step].push((index, v));
                any = true;
            });
            if any {
                out.series.push(labels);
            }
        }
        Ok(out)
    }

    /// Calls `f(step, sample time, value)` for every step at which `samples` has a value
    /// under instant-vector (lookback) semantics.
    pub fn each_instant(
        &self,
        vs: &VectorSelector,
        samples: &[(i64, f64)],
        mut f: impl FnMut(usize, i64, f64),
    ) {
        let lookback = self.options.lookback_ms;
        let mut next = 0; // first sample after the reference time
        let mut fixed = None;
        for step in 0..self.steps.count {
            let reference = self.reference_time(vs, self.steps.time(step));
            if fixed == Some(reference) {
                // `@` pins the time: every step sees the same sample.
            } else if fixed.is_some_and(|f| reference < f) {
                next = samples.partition_point(|(t, _)| *t <= reference);
            } else {
                while next < samples.len() && samples[next].0 <= reference {
                    next += 1;
                }
            }
            fixed = Some(reference);
            if next == 0 {
                continue;
            }
            let (t, v) = samples[next - 1];
            if t >= reference - lookback && !is_stale(v) {
                f(step, t, v);
            }
        }
    }

    /// Calls `f(step, window)` for every step, with the samples in
    /// `[reference - range, reference]` (both ends included, as in Prometheus 2.x) and the
    /// window's reference time. `at` and `offset` are the modifiers of the range selector
    /// or subquery the samples come from.
    pub fn each_window(
        &self,
        (at, offset): (&Option<AtModifier>, &Option<Offset>),
        range_ms: i64,
        samples: &[(i64, f64)],
        mut f: impl FnMut(usize, i64, &[(i64, f64)]),
    ) {
        let (mut lo, mut hi) = (0, 0);
        let mut previous: Option<i64> = None;
        for step in 0..self.steps.count {
            let reference = self.reference(at, offset, self.steps.time(step));
            let from = reference.saturating_sub(range_ms);
            if previous.is_some_and(|p| reference < p) {
                lo = samples.partition_point(|(t, _)| *t < from);
                hi = samples.partition_point(|(t, _)| *t <= reference);
            } else {
                while lo < samples.len() && samples[lo].0 < from {
                    lo += 1;
                }
                hi = hi.max(lo);
                while hi < samples.len() && samples[hi].0 <= reference {
                    hi += 1;
                }
            }
            previous = Some(reference);
            f(step, reference, &samples[lo..hi]);
        }
    }
}

/// Series read together in one call of [`Store::samples_for_step_many`] (between two looks
/// at the deadline).
const READ_BATCH: usize = 256;

/// Time spans longer than this are read in pieces, so that one long series is read by all
/// threads rather than one.
const SPLIT_SPAN_MS: i64 = 6 * 3600 * 1000;

/// Reads the samples of every series in `[from, to]`, on as many threads as there are
/// cores: the store's reads are CPU-bound (seek, decompress, decode), and a query over many
/// series or a long span would otherwise use one core. Returns one vector per series, in
/// order.
fn read_parallel(
    store: &dyn Store,
    series: &[(SeriesId, Labels)],
    from: i64,
    to: i64,
    step: i64,
    deadline: std::time::Instant,
) -> Result<Vec<Vec<(i64, f64)>>, QueryError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Work items: (series index, start, end). Few series over a long span are cut in time.
    let pieces = if series.len() < threads && to - from > SPLIT_SPAN_MS {
        threads as i64
    } else {
        1
    };
    let width = (to - from) / pieces + 1;
    let items: Vec<(usize, i64, i64)> = (0..series.len())
        .flat_map(|i| {
            (0..pieces).map(move |p| {
                let start = from + p * width;
                (i, start, (start + width - 1).min(to))
            })
        })
        .collect();
    let read = |chunk: &[(usize, i64, i64)]| -> Result<Vec<Vec<(i64, f64)>>, QueryError> {
        let mut out = Vec::with_capacity(chunk.len());
        if pieces == 1 {
            // One span for every series: read them together, a batch at a time (the store
            // shares its snapshot and iterators within a batch).
            for batch in chunk.chunks(READ_BATCH) {
                if std::time::Instant::now() > deadline {
                    return Err(QueryError::Timeout(std::time::Duration::ZERO));
                }
                let ids: Vec<SeriesId> = batch.iter().map(|&(i, _, _)| series[i].0).collect();
                out.extend(store.samples_for_step_many(&ids, from, to, step)?);
            }
            return Ok(out);
        }
        for (n, &(i, start, end)) in chunk.iter().enumerate() {
            if n % 256 == 0 && std::time::Instant::now() > deadline {
                return Err(QueryError::Timeout(std::time::Duration::ZERO));
            }
            let mut samples = Vec::new();
            // Raw samples where kept; downsampled tiers only where raw data has expired.
            store.samples_for_step(series[i].0, start, end, step, &mut samples)?;
            out.push(samples);
        }
        Ok(out)
    };
    // Threads are not worth starting for a few short series.
    let per_thread = if pieces > 1 {
        items.len().div_ceil(threads)
    } else {
        items.len().div_ceil(threads).max(64)
    };
    let results: Vec<Result<Vec<Vec<(i64, f64)>>, QueryError>> = if items.len() <= per_thread {
        vec![read(&items)]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = items
                .chunks(per_thread)
                .map(|chunk| scope.spawn(move || read(chunk)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(QueryError::Execution("a store read panicked".into()))
                    })
                })
                .collect()
        })
    };
    let mut out: Vec<Vec<(i64, f64)>> = Vec::with_capacity(series.len());
    let mut piece = 0;
    for part in results {
        for samples in part? {
            if piece % pieces == 0 {
                out.push(samples);
            } else if let Some(last) = out.last_mut() {
                last.extend(samples);
            }
            piece += 1;
        }
    }
    Ok(out)
}
