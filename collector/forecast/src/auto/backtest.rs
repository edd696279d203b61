//! The rolling-origin backtest behind `auto` (see there for what is scored and why).

use super::Candidate;
use super::shape::min_regime;
use crate::band::Pair;
use crate::cycle::Cycle;
use crate::grid::DAY_MS;
use crate::grid::Grid;
use crate::weekdays::weekday_days;
use crate::{Direction, Fit};

/// Fractions of the window used for training at each origin.
pub(crate) const ORIGINS: [f64; 6] = [0.5, 0.625, 0.75, 0.875, 0.95, 0.98];

/// Points either side in the moving average the held-out levels are read from.
const SMOOTHING: usize = 2;

/// A level counts only when it is this many noise deviations (of one grid point) past
/// where the series was at the origin: noise alone makes new highs.
const LEVEL_NOISE: f64 = 2.0;

/// One candidate's record over every origin.
#[derive(Debug, Clone, Default)]
pub(crate) struct Record {
    /// Weighted sum of crossing-time errors (steps), and the weights of the levels.
    pub crossing: f64,
    pub levels: f64,
    /// Weighted sum of the lead-weighted mean absolute value errors, and the weights.
    pub values: f64,
    pub origins: f64,
    /// At each origin, in order, what the candidate promised and what came.
    pub evidence: Vec<Promise>,
    /// Each level's crossing: truth and guess in steps from the origin.
    pub pairs: Vec<Pair>,
}

impl Record {
    /// The score (lower is better): the mean crossing error when the held-out data made
    /// any new level, else the mean value error.
    pub fn score(&self, any_levels: bool) -> f64 {
        if any_levels {
            self.crossing / self.levels.max(f64::MIN_POSITIVE)
        } else {
            self.values / self.origins.max(f64::MIN_POSITIVE)
        }
    }

    /// Whether the rises the candidate predicted from the origins from `first` on were
    /// false alarms: the data rose less than a quarter as far more often (weighed by the
    /// held-out lengths) than not. Growth by office hours rises by day and rests at night
    /// and at weekends: a quarter of a steady line's promise is still growth.
    pub fn false_alarms(&self, first: usize) -> bool {
        self.fell_short(first, KEPT_SHARE)
    }

    /// Whether the data rose less than `share` of what the candidate promised, from the
    /// origins from `first` on, more often than not: a miss weighs by the weekdays it
    /// watched, a kept promise by the held-out length.
    pub fn fell_short(&self, first: usize, share: f64) -> bool {
        let recent = &self.evidence[first.min(self.evidence.len())..];
        let (mut missed, mut kept) = (0.0, 0.0);
        for promise in recent {
            match promise.share {
                Some(s) if s < share => missed += promise.watched,
                Some(_) => kept += promise.len,
                None => {}
            }
        }
        missed > kept
    }
}

/// What a candidate promised at one origin, and what came.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Promise {
    /// How much of the clear rise (towards the threshold, over twice the noise) the
    /// candidate predicted by the end of the held-out part the data made, as a share of
    /// it; `None` where no clear rise was predicted (or the origin was not judged).
    pub share: Option<f64>,
    /// Steps of weekday time the held-out part watched (see `weekdays`): a quiet weekend
    /// is no evidence against growth by office hours, as a quiet night is not.
    pub watched: f64,
    /// Steps in the held-out part.
    pub len: f64,
}

/// The share of a promised rise the data must make for the promise to count as kept (see
/// [`Record::false_alarms`]).
pub(crate) const KEPT_SHARE: f64 = 0.25;

/// The origins of `grid`, with their weights; `None` when it is too short.
///
/// On a series with a visible daily cycle (see [`daily`]) each origin is moved to a whole
/// number of days before the end (the i-th fraction's held-out part rounded to whole
/// days, at least one; origins that fall together keep the largest weight), so that every
/// held-out part covers whole days: a few hours of night or of a weekend morning after an
/// origin say nothing about a series that grows by day.
pub(crate) fn origins(grid: &Grid) -> Option<Vec<(usize, f64)>> {
    let n = grid.len();
    let fractions = ORIGINS
        .iter()
        .enumerate()
        .map(|(i, &f)| (f, ((i + 1) * (i + 1)) as f64));
    let Some(day) = daily(grid) else {
        let origins: Vec<(usize, f64)> = fractions
            .map(|(f, w)| ((n as f64 * f).round() as usize, w))
            .filter(|&(o, _)| o >= 16 && o < n)
            .collect();
        return (origins.len() == ORIGINS.len()).then_some(origins);
    };
    let mut origins: Vec<(usize, f64)> = Vec::new();
    for (f, w) in fractions {
        let days = ((n as f64 * (1.0 - f) / day as f64).round() as usize).max(1);
        let Some(o) = n.checked_sub(days * day).filter(|&o| o >= 16 && 2 * o >= n) else {
            continue;
        };
        match origins.last_mut() {
            Some(last) if last.0 == o => last.1 = last.1.max(w),
            _ => origins.push((o, w)),
        }
    }
    (origins.len() >= 3).then_some(origins)
}

/// Grid steps in a day, when `grid` spans at least [`DAILY_DAYS`] days and shows a daily
/// cycle (a line with a daily cycle explains clearly more than the line alone).
pub(crate) fn daily(grid: &Grid) -> Option<usize> {
    let day = grid.season_steps(DAY_MS)?;
    if grid.len() < DAILY_DAYS * day {
        return None;
    }
    Cycle::fit(grid).ok().filter(Cycle::visible).map(|_| day)
}

/// Fewest days of history for whole-day origins.
const DAILY_DAYS: usize = 3;

/// The typical deviation of one grid point from its neighbours' trend: the median
/// absolute second difference of three observed points in a row (an interpolated gap
/// has none: it would read as no noise), scaled to a standard deviation for white noise
/// (a second difference of white noise has variance 6σ²).
pub(crate) fn noise(grid: &Grid) -> f64 {
    let observed = |k: usize| (k..k + 3).all(|j| grid.observed(j));
    let second = |k: usize| {
        let w = &grid.values[k..k + 3];
        (w[0] - 2.0 * w[1] + w[2]).abs()
    };
    let triples = grid.len().saturating_sub(2);
    let mut d: Vec<f64> = (0..triples).filter(|&k| observed(k)).map(second).collect();
    if d.is_empty() {
        d = (0..triples).map(second).collect();
    }
    if d.is_empty() {
        return 0.0;
    }
    crate::stats::median(&mut d) / (0.674_5 * 6f64.sqrt())
}

/// `candidate` fitted before `origin` and judged on the points after it (at most
/// `horizon_steps`), added to `record` with `weight`; `false` when it cannot be fitted.
#[allow(clippy::too_many_arguments)]
pub(crate) fn judge(
    grid: &Grid,
    origin: usize,
    weight: f64,
    horizon_steps: usize,
    candidate: Candidate,
    direction: Direction,
    noise: f64,
    record: &mut Record,
) -> bool {
    let end = grid.len().min(origin + horizon_steps);
    let raw = &grid.values[origin..end];
    let observed = &grid.weights[origin..end];
    // An interpolated point is not data: it is NaN to what is scored, which ignores it.
    let smoothed = smooth_observed(raw, observed);
    let held_out = smoothed.as_slice();
    let len = held_out.len();
    // An origin whose held-out part is mostly a filled gap has little to judge by: it
    // weighs by the share of that part that was observed.
    let weight = weight * observed.iter().filter(|&&w| w > 0.0).count() as f64 / len as f64;
    let limit = (2 * len).min(horizon_steps.max(len));
    let Some(fit) = candidate.fit(&grid.prefix(origin), grid.time(origin + limit), direction)
    else {
        return false;
    };
    // A training part whose observed points span less than the shortest regime (the rest
    // of it a filled gap) is too short a fit to extrapolate: what it predicts tests no
    // candidate, and the origin neither scores nor counts as evidence.
    if observed_span(&grid.weights[..origin]) < min_regime(grid) {
        record.evidence.push(Promise::default());
        return true;
    }
    let predicted: Vec<f64> = (0..limit)
        .map(|j| fit.predict(grid.time(origin + j)).mean)
        .collect();
    let sign = match direction {
        Direction::Above => 1.0,
        Direction::Below => -1.0,
    };
    let start = smooth(&grid.values[origin.saturating_sub(SMOOTHING)..origin])
        .last()
        .copied()
        .unwrap_or(grid.values[origin - 1]);
    let mut last_level = start;
    for quarter in 1..=4 {
        let last = (len * quarter).div_ceil(4).max(1) - 1;
        let part = &held_out[..=last];
        let level = part
            .iter()
            .map(|&v| sign * v)
            .fold(f64::NEG_INFINITY, f64::max)
            * sign;
        // Only a clear new high (low) since the origin says something about crossings.
        if sign * (level - start) <= LEVEL_NOISE * noise || level == last_level {
            continue;
        }
        last_level = level;
        let truth = part
            .iter()
            .position(|&v| sign * (v - level) >= 0.0)
            .unwrap_or(last);
        // A model that continues the data exactly reaches the level exactly: allow for
        // rounding.
        let reachable = level - sign * 1e-9 * level.abs().max(1.0);
        let guess = predicted
            .iter()
            .position(|&v| sign * (v - reachable) >= 0.0)
            .unwrap_or(limit);
        record.crossing += weight * truth.abs_diff(guess) as f64;
        record.levels += weight;
        // For the band, only crossings an eighth of the held-out part or more away: a
        // level reached within the noise of the origin says nothing about the trend.
        if 8 * truth >= len {
            record.pairs.push(Pair {
                truth: truth as f64,
                guess: guess as f64,
                weight,
            });
        }
    }
    let (mut sum, mut weights) = (0.0, 0.0);
    for (j, (&actual, &guess)) in raw.iter().zip(&predicted).enumerate() {
        if observed[j] > 0.0 {
            let w = (j + 1) as f64;
            sum += w * (guess - actual).abs();
            weights += w;
        }
    }
    if weights == 0.0 {
        // Nothing observed after the origin: nothing to judge by.
        record.evidence.push(Promise::default());
        return true;
    }
    record.values += weight * sum / weights;
    let promised = sign * (predicted[len - 1] - start);
    if promised > LEVEL_NOISE * noise {
        let reached = held_out
            .iter()
            .map(|&v| sign * (v - start))
            .fold(f64::NEG_INFINITY, f64::max);
        // Evidence weighs by how long the data was watched, not by the origin's weight:
        // a few quiet hours at night do not refute a trend. Nor does a quiet weekend: a
        // miss weighs by the weekdays it watched.
        record.evidence.push(Promise {
            share: Some(reached / promised),
            watched: weekdays_watched(grid, origin, len),
            len: len as f64,
        });
    } else {
        record.evidence.push(Promise::default());
    }
    record.origins += weight;
    true
}

/// Grid steps of weekday time (see `weekdays`) in the `len` points from `origin` on.
fn weekdays_watched(grid: &Grid, origin: usize, len: usize) -> f64 {
    let days =
        weekday_days(grid.time(origin + len - 1) + grid.step_ms) - weekday_days(grid.time(origin));
    (days * DAY_MS as f64 / grid.step_ms as f64).min(len as f64)
}

/// Points from the first observed point of `weights` (above 0) to the last, both counted;
/// 0 when none is.
fn observed_span(weights: &[f64]) -> usize {
    let first = weights.iter().position(|&w| w > 0.0);
    let last = weights.iter().rposition(|&w| w > 0.0);
    match (first, last) {
        (Some(first), Some(last)) => last - first + 1,
        _ => 0,
    }
}

/// A centred moving average over 2·[`SMOOTHING`] + 1 points (fewer at the ends), so the
/// levels are where the series got to, not where one noisy point did.
pub(crate) fn smooth(values: &[f64]) -> Vec<f64> {
    crate::stats::centred_mean(values, SMOOTHING)
}

/// [`smooth`] over the observed points only (`weights` above 0); NaN at a point not
/// observed.
fn smooth_observed(values: &[f64], weights: &[f64]) -> Vec<f64> {
    (0..values.len())
        .map(|k| {
            if weights[k] <= 0.0 {
                return f64::NAN;
            }
            let window = k.saturating_sub(SMOOTHING)..(k + SMOOTHING + 1).min(values.len());
            let (sum, count) = window
                .filter(|&j| weights[j] > 0.0)
                .fold((0.0, 0.0), |(s, c), j| (s + values[j], c + 1.0));
            sum / count
        })
        .collect()
}

/// Whether `fit`'s mean path reaches the threshold between `now` and the horizon.
pub(crate) fn crosses(
    fit: &Fit,
    now_ms: i64,
    horizon_ms: i64,
    threshold: f64,
    direction: Direction,
) -> bool {
    const POINTS: i64 = 400;
    (0..=POINTS).any(|i| {
        let t = now_ms + (horizon_ms as i128 * i as i128 / POINTS as i128) as i64;
        let v = fit.predict(t).mean;
        match direction {
            Direction::Above => v >= threshold,
            Direction::Below => v <= threshold,
        }
    })
}
