//! Selectors: reading series and samples from the store, the lookback of instant-vector
//! selectors and the windows of range-vector selectors.
//!
//! Each selector reads the store once per query, for the whole time span all steps need,
//! and every step then picks its samples from memory by moving two cursors forward. Over
//! many series the reads run on every core, a batch of series at a time, and what the
//! query computes per series (its value at each step, a range function's windows, its
//! labels without the name) is done on the reading thread as soon as the series is read
//! ([`Evaluator::load_map`]): in parallel, while the samples are in cache, and without
//! holding every series' samples at once.

use promql_parser::parser::{AtModifier, Offset, VectorSelector};

use super::{Clock, Evaluator, StepVector, offset_ms};
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

/// One series' values at the steps where it has one: `(step, value)`, steps ascending.
pub(super) type StepPoints = Vec<(u32, f64)>;

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
        self.load_map(vs, lookback_ms, drop_stale, |_, samples| samples)
    }

    /// Reads as [`Evaluator::load`] does, handing each series' labels and samples to `map`
    /// on the thread that read them (so that what a query computes per series runs on
    /// every core, while the samples are still in cache, and no more than a batch of
    /// series is held at once). Returns the labels and `map`'s result of every series with
    /// samples, in the order of the selection.
    pub fn load_map<T: Send>(
        &mut self,
        vs: &VectorSelector,
        lookback_ms: i64,
        drop_stale: bool,
        map: impl Fn(&Labels, Vec<(i64, f64)>) -> T + Sync,
    ) -> Result<Vec<(Labels, T)>, QueryError> {
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
        let per_series = |i: usize, mut samples: Vec<(i64, f64)>| {
            if drop_stale {
                samples.retain(|(_, v)| !is_stale(*v));
            }
            let count = samples.len();
            (count, (count > 0).then(|| map(&series[i].1, samples)))
        };
        let parts = read_parallel(
            self.store,
            &series,
            (from, to, self.steps.step),
            self.deadline,
            &per_series,
        )
        .map_err(|e| match e {
            QueryError::Timeout(_) => QueryError::Timeout(self.options.timeout),
            e => e,
        })?;
        let mut loaded = Vec::with_capacity(series.len());
        for ((_, labels), (count, mapped)) in series.into_iter().zip(parts) {
            self.loaded_samples += count;
            if self.loaded_samples > self.options.max_samples {
                return Err(QueryError::TooLarge(format!(
                    "the query would read more than {} samples (at {vs}); \
                     shorten the time range, raise the step or narrow the selectors",
                    self.options.max_samples
                )));
            }
            if let Some(mapped) = mapped {
                loaded.push((labels, mapped));
            }
        }
        Ok(loaded)
    }

    /// An instant-vector selector at every step: each series' latest sample at or before
    /// the reference time and no older than the lookback, unless it is a staleness marker.
    pub fn vector_selector(&mut self, vs: &VectorSelector) -> Result<StepVector, QueryError> {
        let series = self.selector_points(vs)?;
        Ok(gather(series, self.steps.count, None))
    }

    /// [`Evaluator::vector_selector`] series by series: each selected series with its
    /// points, in the order of the selection (those without a sample in the span left
    /// out, those without a point kept).
    pub fn selector_points(
        &mut self,
        vs: &VectorSelector,
    ) -> Result<Vec<(Labels, StepPoints)>, QueryError> {
        let lookback = self.options.lookback_ms;
        let clock = self.clock();
        self.load_map(vs, lookback, false, |_, samples| {
            // At most a point per step, and rarely more points than samples.
            let mut points = StepPoints::with_capacity(clock.steps.count.min(samples.len()));
            clock.each_instant(vs, &samples, |step, _t, v| points.push((step as u32, v)));
            points
        })
    }
}

/// The step vector of series with their points: series without any point are left out;
/// `labels`, when given, replaces each series' labels (same order as `series`).
pub(super) fn gather(
    series: Vec<(Labels, StepPoints)>,
    steps: usize,
    labels: Option<Vec<Labels>>,
) -> StepVector {
    let mut counts = vec![0usize; steps];
    for (_, points) in &series {
        for &(step, _) in points {
            counts[step as usize] += 1;
        }
    }
    let mut out = StepVector {
        series: Vec::with_capacity(series.len()),
        steps: counts.into_iter().map(Vec::with_capacity).collect(),
    };
    let mut labels = labels.map(Vec::into_iter);
    for (original, points) in series {
        let replaced = labels.as_mut().and_then(Iterator::next);
        if points.is_empty() {
            continue;
        }
        let index = out.series.len() as u32;
        for (step, v) in points {
            out.steps[step as usize].push((index, v));
        }
        out.series.push(replaced.unwrap_or(original));
    }
    out
}

impl Clock {
    /// Calls `f(step, sample time, value)` for every step at which `samples` has a value
    /// under instant-vector (lookback) semantics.
    pub fn each_instant(
        &self,
        vs: &VectorSelector,
        samples: &[(i64, f64)],
        mut f: impl FnMut(usize, i64, f64),
    ) {
        let lookback = self.lookback_ms;
        // The latest sample at or before `reference`, if it counts there (`next`: the
        // first sample after it).
        let latest = |next: usize, reference: i64| {
            let (t, v) = *samples.get(next.checked_sub(1)?)?;
            (t >= reference - lookback && !is_stale(v)).then_some((t, v))
        };
        if let Some(reference) = self.pinned(&vs.at, &vs.offset) {
            // `@` pins the time: every step sees the same sample.
            let next = samples.partition_point(|(t, _)| *t <= reference);
            if let Some((t, v)) = latest(next, reference) {
                (0..self.steps.count).for_each(|step| f(step, t, v));
            }
            return;
        }
        // Steps move forward by `step` (parse::check_times keeps every time far inside
        // i64), and so does the first sample after the reference time.
        let mut reference = self.steps.start.saturating_sub(offset_ms(&vs.offset));
        let mut next = 0;
        for step in 0..self.steps.count {
            while next < samples.len() && samples[next].0 <= reference {
                next += 1;
            }
            if let Some((t, v)) = latest(next, reference) {
                f(step, t, v);
            }
            reference += self.steps.step;
        }
    }

    /// The reference time of every step when `at` pins it (see [`Clock::reference`]);
    /// `None` when each step has its own: the step's time less the offset.
    fn pinned(&self, at: &Option<AtModifier>, offset: &Option<Offset>) -> Option<i64> {
        at.as_ref()
            .map(|_| self.reference(at, offset, self.steps.start))
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
        // Worked out once, not at every step: a fleet query places millions of windows.
        let (pinned, shift) = (self.pinned(at, offset), offset_ms(offset));
        for step in 0..self.steps.count {
            let reference = pinned.unwrap_or_else(|| self.steps.time(step).saturating_sub(shift));
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
/// threads rather than one. Below it starting the threads costs more than they save: six
/// hours at 10 s (2,160 samples) decode in about 10 µs, and a single-series query over 6 h
/// answered in 2.2 ms with the split (VictoriaMetrics: 1.1 ms).
const SPLIT_SPAN_MS: i64 = 2 * 86_400 * 1000;

/// Reads the samples of every series in `[from, to]` (`span` is `(from, to, step)`) and
/// hands each series' to `map(index, samples)`, on as many threads as there are cores:
/// the store's reads are CPU-bound (seek, decompress, decode), and a query over many
/// series or a long span would otherwise use one core. Returns `map`'s result for every
/// series, in order.
fn read_parallel<T: Send>(
    store: &dyn Store,
    series: &[(SeriesId, Labels)],
    (from, to, step): (i64, i64, i64),
    deadline: std::time::Instant,
    map: &(dyn Fn(usize, Vec<(i64, f64)>) -> T + Sync),
) -> Result<Vec<T>, QueryError> {
    let threads = vigil_store::cores();
    // Few series over a long span are cut in time, read on every thread, put together
    // again and mapped here.
    if series.len() < threads && to - from > SPLIT_SPAN_MS {
        let pieces = threads as i64;
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
            for &(i, start, end) in chunk {
                if std::time::Instant::now() > deadline {
                    return Err(QueryError::Timeout(std::time::Duration::ZERO));
                }
                let mut samples = Vec::new();
                // Raw samples where kept; downsampled tiers only where raw data has expired.
                store.samples_for_step(series[i].0, start, end, step, &mut samples)?;
                out.push(samples);
            }
            Ok(out)
        };
        let mut whole: Vec<Vec<(i64, f64)>> = Vec::with_capacity(series.len());
        let mut piece = 0;
        for part in on_threads(&items, items.len().div_ceil(threads), &read) {
            for samples in part? {
                if piece % pieces == 0 {
                    whole.push(samples);
                } else if let Some(last) = whole.last_mut() {
                    last.extend(samples);
                }
                piece += 1;
            }
        }
        return Ok(whole
            .into_iter()
            .enumerate()
            .map(|(i, samples)| map(i, samples))
            .collect());
    }
    // One span for every series: each thread reads its share a batch at a time (the store
    // shares its snapshot and iterators within a batch) and maps each series at once.
    let items: Vec<usize> = (0..series.len()).collect();
    let read = |chunk: &[usize]| -> Result<Vec<T>, QueryError> {
        let mut out = Vec::with_capacity(chunk.len());
        for batch in chunk.chunks(READ_BATCH) {
            if std::time::Instant::now() > deadline {
                return Err(QueryError::Timeout(std::time::Duration::ZERO));
            }
            let ids: Vec<SeriesId> = batch.iter().map(|&i| series[i].0).collect();
            let samples = store.samples_for_step_many(&ids, from, to, step)?;
            out.extend(batch.iter().zip(samples).map(|(&i, s)| map(i, s)));
        }
        Ok(out)
    };
    // Threads are not worth starting for a few short series.
    let per_thread = items.len().div_ceil(threads).max(32);
    let mut out = Vec::with_capacity(series.len());
    for part in on_threads(&items, per_thread, &read) {
        out.extend(part?);
    }
    Ok(out)
}

/// `work` over `items` in chunks of `per_thread`, each chunk on a thread of its own (on
/// this thread when there is one chunk); the results in the order of the chunks.
fn on_threads<I: Sync, R: Send>(
    items: &[I],
    per_thread: usize,
    work: &(dyn Fn(&[I]) -> Result<R, QueryError> + Sync),
) -> Vec<Result<R, QueryError>> {
    if items.len() <= per_thread.max(1) {
        return vec![work(items)];
    }
    // Reads on these threads note damaged data into the query's sink, as on this one.
    let sink = vigil_store::damage::current();
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(per_thread.max(1))
            .map(|chunk| {
                let sink = sink.clone();
                scope.spawn(move || vigil_store::damage::within(sink, || work(chunk)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(QueryError::Execution("a store read panicked".into())))
            })
            .collect()
    })
}
