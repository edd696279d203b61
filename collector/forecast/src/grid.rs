//! The history a model sees: samples up to the forecast time, averaged onto a regular grid.
//!
//! ```text
//!   origin = now − B·step                                            now
//!   (  bucket 0  ](  bucket 1  ]   …   ( bucket B−2 ]( bucket B−1 ]
//!         ^ start_ms = origin + mean offset of the samples in their buckets
//! ```
//!
//! The step is the median interval between samples, raised so that the grid has at most
//! [`MAX_POINTS`] points, then lowered to the nearest step that divides a day (so a daily or
//! weekly season is a whole number of steps). A bucket's value is the mean of its samples;
//! its time is the bucket's start plus the mean offset of all samples within their buckets,
//! so regularly spaced samples keep their own times rather than being shifted to bucket
//! centres. Empty buckets between samples are interpolated linearly; empty buckets after the
//! last sample (a series that stopped reporting) are left off, so the grid ends at the data.
//! Each point keeps how many samples it averages as its weight, 0 for an interpolated
//! one: a filled gap is a guess, not data, and the least-squares fits, the search for
//! breaks and `auto`'s backtest weigh the points by it.

use super::ForecastError;

/// Most grid points: enough to show a daily season at 20-minute resolution over a week,
/// few enough that `auto` fitting every model at several origins takes milliseconds.
pub(crate) const MAX_POINTS: i64 = 720;

/// One day in milliseconds.
pub(crate) const DAY_MS: i64 = 86_400_000;

/// The usable samples of a request: finite, at or before `now`, oldest first.
#[derive(Debug, Clone)]
pub(crate) struct History {
    samples: Vec<(i64, f64)>,
    now_ms: i64,
}

impl History {
    /// Keeps the finite samples at or before `now_ms`, in time order.
    pub fn new(samples: &[(i64, f64)], now_ms: i64) -> Self {
        let mut kept: Vec<(i64, f64)> = samples
            .iter()
            .copied()
            .filter(|&(t, v)| t <= now_ms && v.is_finite())
            .collect();
        if kept.windows(2).any(|w| w[1].0 < w[0].0) {
            kept.sort_by_key(|&(t, _)| t);
        }
        Self {
            samples: kept,
            now_ms,
        }
    }

    /// The latest value, if any.
    pub fn last_value(&self) -> Option<f64> {
        self.samples.last().map(|&(_, v)| v)
    }

    /// The values of the last (up to) three samples, oldest first.
    pub fn recent_values(&self) -> Vec<f64> {
        let from = self.samples.len().saturating_sub(3);
        self.samples[from..].iter().map(|&(_, v)| v).collect()
    }

    /// The samples averaged onto the grid described in the module docs.
    pub fn grid(&self) -> Result<Grid, ForecastError> {
        let n = self.samples.len();
        let (Some(&(first, _)), Some(&(last, _))) = (self.samples.first(), self.samples.last())
        else {
            return Err(not_enough(n));
        };
        if n < 3 || last == first {
            return Err(not_enough(n));
        }
        let step = grid_step(&self.samples, last - first);
        let buckets = (self.now_ms - first) / step + 1;
        let origin = self.now_ms - buckets * step;
        let mut sums = vec![(0.0, 0u32); buckets as usize];
        let mut offsets = 0.0;
        for &(t, v) in &self.samples {
            // Buckets are closed on the right: (origin + k·step, origin + (k+1)·step].
            let k = ((t - origin - 1) / step).clamp(0, buckets - 1);
            offsets += (t - origin - k * step) as f64;
            let bucket = &mut sums[k as usize];
            bucket.0 += v;
            bucket.1 += 1;
        }
        let mut values: Vec<f64> = sums
            .iter()
            .map(|&(sum, count)| {
                if count == 0 {
                    f64::NAN
                } else {
                    sum / f64::from(count)
                }
            })
            .collect();
        while values.last().is_some_and(|v| v.is_nan()) {
            values.pop();
        }
        let weights: Vec<f64> = sums[..values.len()]
            .iter()
            .map(|&(_, count)| f64::from(count))
            .collect();
        interpolate_gaps(&mut values);
        if values.len() < 3 {
            return Err(ForecastError::NotEnoughData(format!(
                "the samples span {} ms, under three grid steps of {step} ms",
                last - first
            )));
        }
        Ok(Grid {
            start_ms: origin + (offsets / n as f64).round() as i64,
            step_ms: step,
            values,
            weights,
        })
    }
}

fn not_enough(n: usize) -> ForecastError {
    ForecastError::NotEnoughData(format!(
        "need at least 3 samples at different times, have {n}"
    ))
}

/// The median sample interval, at least `span / MAX_POINTS`, then the nearest step at or
/// below it that divides a day (steps of a day or more are kept).
fn grid_step(samples: &[(i64, f64)], span: i64) -> i64 {
    let mut gaps: Vec<i64> = samples
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .filter(|&g| g > 0)
        .collect();
    let median = if gaps.is_empty() {
        1
    } else {
        let mid = gaps.len() / 2;
        *gaps.select_nth_unstable(mid).1
    };
    let step = median.max((span + MAX_POINTS - 1) / MAX_POINTS).max(1);
    if step >= DAY_MS {
        return step;
    }
    let mut per_day = (DAY_MS + step - 1) / step;
    while DAY_MS % per_day != 0 {
        per_day += 1;
    }
    DAY_MS / per_day
}

/// Observed points either side of a gap whose mean anchors the line that fills it.
const ANCHOR_POINTS: usize = 3;

/// Fills NaN runs between finite values (the first value is always finite) along the line
/// between the local levels either side: the mean of up to [`ANCHOR_POINTS`] points
/// before the gap and of as many observed points after it (no more than the gap is long),
/// each at its mean position. A line drawn from one noisy bucket to the next would tilt
/// the whole gap with their noise; the fits weigh the filled points at nothing, but the
/// models that run through every point (Holt–Winters, a line with a cycle) see them.
fn interpolate_gaps(values: &mut [f64]) {
    let observed: Vec<bool> = values.iter().map(|v| !v.is_nan()).collect();
    let mut last_finite = 0;
    for k in 1..values.len() {
        if !observed[k] {
            continue;
        }
        if k - last_finite > 1 {
            let points = ANCHOR_POINTS.min(k - last_finite - 1);
            let before = last_finite + 1 - (last_finite + 1).min(points);
            let after = (k..values.len())
                .take(points)
                .take_while(|&j| observed[j])
                .last()
                .unwrap_or(k);
            let anchor = |range: std::ops::RangeInclusive<usize>| {
                let count = range.clone().count() as f64;
                let x = range.clone().sum::<usize>() as f64 / count;
                let y = range.map(|j| values[j]).sum::<f64>() / count;
                (x, y)
            };
            let ((xa, ya), (xb, yb)) = (anchor(before..=last_finite), anchor(k..=after));
            for (i, v) in values.iter_mut().enumerate().take(k).skip(last_finite + 1) {
                *v = ya + (yb - ya) * (i as f64 - xa) / (xb - xa);
            }
        }
        last_finite = k;
    }
}

/// Values at `start_ms + k·step_ms`, k = 0, 1, …
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Grid {
    /// Time of the first point.
    pub start_ms: i64,
    /// Time between points.
    pub step_ms: i64,
    /// The values, oldest first; all finite.
    pub values: Vec<f64>,
    /// How many samples each value averages (as many as `values`): 0 where a gap was
    /// interpolated.
    pub weights: Vec<f64>,
}

impl Grid {
    /// A grid whose every point is one sample.
    #[cfg(test)]
    pub fn even(start_ms: i64, step_ms: i64, values: Vec<f64>) -> Grid {
        let weights = vec![1.0; values.len()];
        Grid {
            start_ms,
            step_ms,
            values,
            weights,
        }
    }

    /// Whether point `k` holds data (was not interpolated).
    pub fn observed(&self, k: usize) -> bool {
        self.weights[k] > 0.0
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Time of the last point.
    #[cfg(test)]
    pub fn end_ms(&self) -> i64 {
        self.time(self.values.len().saturating_sub(1))
    }

    /// Time of point `k`.
    pub fn time(&self, k: usize) -> i64 {
        self.start_ms + k as i64 * self.step_ms
    }

    /// `t_ms` in steps from the first point (fractional).
    pub fn position(&self, t_ms: i64) -> f64 {
        (t_ms - self.start_ms) as f64 / self.step_ms as f64
    }

    /// The first `n` points.
    pub fn prefix(&self, n: usize) -> Grid {
        Grid {
            start_ms: self.start_ms,
            step_ms: self.step_ms,
            values: self.values[..n.min(self.values.len())].to_vec(),
            weights: self.weights[..n.min(self.weights.len())].to_vec(),
        }
    }

    /// The points from `k` on (at least the last one).
    pub fn suffix(&self, k: usize) -> Grid {
        let k = k.min(self.values.len().saturating_sub(1));
        Grid {
            start_ms: self.time(k),
            step_ms: self.step_ms,
            values: self.values[k..].to_vec(),
            weights: self.weights[k..].to_vec(),
        }
    }

    /// How many steps a season of `season_ms` is, if it is a whole number of at least 2.
    pub fn season_steps(&self, season_ms: i64) -> Option<usize> {
        (season_ms % self.step_ms == 0 && season_ms / self.step_ms >= 2)
            .then(|| (season_ms / self.step_ms) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_samples_keep_their_times_and_values() {
        // Every 10 minutes for a day: 144 points, a step that divides a day.
        let now = 1_000 * DAY_MS;
        let samples: Vec<(i64, f64)> = (0..144)
            .map(|i| (now - 600_000 * (143 - i), i as f64))
            .collect();
        let grid = History::new(&samples, now).grid().expect("grid");
        assert_eq!(grid.step_ms, 600_000);
        assert_eq!(grid.len(), 144);
        assert_eq!(grid.end_ms(), now);
        assert_eq!(grid.start_ms, samples[0].0);
        assert_eq!(grid.values[10], 10.0);
        assert_eq!(grid.season_steps(DAY_MS), Some(144));
    }

    #[test]
    fn dense_samples_are_averaged_and_gaps_filled() {
        // Every minute for 30 days: capped at 720 points, on a step dividing a day.
        let now = 1_000 * DAY_MS;
        let samples: Vec<(i64, f64)> = (0..30 * 1440)
            .filter(|i| !(10_000..12_000).contains(i))
            .map(|i| (now - 60_000 * (30 * 1440 - 1 - i), i as f64))
            .collect();
        let grid = History::new(&samples, now).grid().expect("grid");
        // 30 days / 720 is 60 min less a bit; 25 steps a day is the nearest that divides it.
        assert_eq!(grid.step_ms, 3_456_000);
        assert_eq!(grid.len(), 750);
        // A full bucket weighs its samples; a filled one nothing.
        let filled = grid.weights.iter().filter(|&&w| w == 0.0).count();
        assert_eq!(
            filled, 34,
            "2,000 minutes in buckets of 57.6, less the half-filled edges"
        );
        assert!(grid.weights[100] >= 57.0 && grid.weights[100] <= 58.0);
        // A line stays a line through averaging and gap filling, at the points' times;
        // only the half-filled buckets at the edges of the gap, and the points
        // interpolated between them, are off, by under a step.
        for k in 0..grid.len() {
            let minutes = (grid.time(k) - samples[0].0) as f64 / 60_000.0;
            let error = (grid.values[k] - minutes).abs();
            let near_gap = (10_000.0 - 58.0..12_000.0 + 58.0).contains(&minutes);
            assert!(
                error < if near_gap { 57.6 } else { 1.0 },
                "{k}: {}",
                grid.values[k]
            );
        }
    }

    #[test]
    fn a_gap_is_bridged_between_the_local_levels_not_two_noisy_points() {
        // A line k with a gap at 10..=29; the points either side of it are 3 high and
        // their neighbours 1.5 low, so the three on each side average to the line.
        let mut values: Vec<f64> = (0..40).map(f64::from).collect();
        for (k, noise) in [
            (7, -1.5),
            (8, -1.5),
            (9, 3.0),
            (30, 3.0),
            (31, -1.5),
            (32, -1.5),
        ] {
            values[k] += noise;
        }
        for v in &mut values[10..30] {
            *v = f64::NAN;
        }
        interpolate_gaps(&mut values);
        for (k, v) in values.iter().enumerate().take(30).skip(10) {
            assert!((v - k as f64).abs() < 1e-9, "{k}: {v}");
        }
        // A one-point gap between single observed points is their midpoint.
        let mut short = vec![1.0, f64::NAN, 3.0];
        interpolate_gaps(&mut short);
        assert_eq!(short, vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn samples_after_now_and_nan_are_ignored() {
        let samples = [
            (0, 1.0),
            (1_000, f64::NAN),
            (2_000, 2.0),
            (3_000, 3.0),
            (4_000, 4.0),
            (9_000, 100.0),
        ];
        let history = History::new(&samples, 4_000);
        assert_eq!(history.last_value(), Some(4.0));
        let grid = history.grid().expect("grid");
        assert_eq!(grid.step_ms, 1_000);
        assert_eq!(grid.values, vec![1.0, 1.5, 2.0, 3.0, 4.0]);
        assert_eq!(grid.end_ms(), 4_000);
        assert!(matches!(
            History::new(&samples[..2], 3_000).grid(),
            Err(ForecastError::NotEnoughData(_))
        ));
    }
}
