//! `auto`: picks a model per series by rolling-origin backtest on the lookback window.
//!
//! Each candidate is fitted on the first 50 %, 62.5 %, 75 %, 87.5 %, 95 % and 98 % of the
//! grid and forecasts what follows. What it is scored on is what a forecast is for: *when*
//! a level is reached. The levels are the new highs the held-out data made (new lows for
//! `below`), read from a five-point moving average so that one noisy point is not a level:
//! the running maximum at a quarter, half, three quarters and all of the held-out part,
//! each where it is first reached after the origin. For each, the error is how far (in
//! grid steps) the forecast's first reaching of that level is from the truth, searching up
//! to twice the held-out length (or the horizon) and counting "never" as that limit. The
//! score is the mean error over levels and origins, the i-th origin weighing i times the
//! first (later origins show the series as it is now: a recent change of slope is only
//! visible from them). A series that made no new high after any origin (flat, shrinking)
//! is scored on the lead-weighted mean absolute error of the values instead. The simplest
//! candidate within 5 % of the best score wins — linear, then Theil–Sen, Holt,
//! Holt–Winters daily, Holt–Winters weekly — so that a model with more parameters must
//! earn its place.
//!
//! A candidate that cannot be fitted at every origin (Holt–Winters needs two seasons in
//! the shortest training part, that is four seasons of lookback) is left out. With too
//! little history for any backtest, the choice is the least-squares line.

use super::grid::Grid;
use super::{Direction, Fit, ForecastError, ForecastRequest, ModelChoice, Season};

/// Fractions of the window used for training at each origin.
const ORIGINS: [f64; 6] = [0.5, 0.625, 0.75, 0.875, 0.95, 0.98];

/// A more complex model must beat the best simpler one by more than this factor.
const SIMPLER_WITHIN: f64 = 1.05;

/// Fits the model with the best backtest score on the whole grid.
pub(crate) fn choose(
    grid: &Grid,
    request: &ForecastRequest<'_>,
    until_ms: i64,
) -> Result<Fit, ForecastError> {
    let chosen = backtest(grid, request.horizon_ms, request.season, request.direction)
        .map_or((ModelChoice::Linear, None), |scores| pick(&scores));
    Fit::new(chosen.0, grid, until_ms, chosen.1)
}

/// A candidate: a model and, for Holt–Winters, its season.
type Candidate = (ModelChoice, Option<Season>);

/// The candidates in order of simplicity.
fn candidates(season: Option<Season>) -> Vec<Candidate> {
    let mut all = vec![
        (ModelChoice::Linear, None),
        (ModelChoice::TheilSen, None),
        (ModelChoice::Holt, None),
    ];
    match season {
        Some(s) => all.push((ModelChoice::HoltWinters, Some(s))),
        None => {
            all.push((ModelChoice::HoltWinters, Some(Season::Daily)));
            all.push((ModelChoice::HoltWinters, Some(Season::Weekly)));
        }
    }
    all
}

/// A candidate's errors at one origin.
#[derive(Debug, Clone, Copy, Default)]
struct Errors {
    /// Summed crossing-time errors, in steps.
    crossing: f64,
    /// How many levels they are over.
    levels: usize,
    /// Lead-weighted mean absolute error of the values.
    values: f64,
}

/// Each candidate that fits at every origin, with its score; `None` when the grid is too
/// short to backtest anything.
pub(crate) fn backtest(
    grid: &Grid,
    horizon_ms: i64,
    season: Option<Season>,
    direction: Direction,
) -> Option<Vec<(Candidate, f64)>> {
    let n = grid.len();
    let horizon_steps = usize::try_from(horizon_ms / grid.step_ms)
        .unwrap_or(0)
        .max(1);
    let origins: Vec<usize> = ORIGINS
        .iter()
        .map(|f| (n as f64 * f).round() as usize)
        .filter(|&o| o >= 4 && o < n)
        .collect();
    if origins.len() < ORIGINS.len() {
        return None;
    }
    let scored: Vec<(Candidate, Errors)> = candidates(season)
        .into_iter()
        .filter_map(|candidate| {
            let mut total = Errors::default();
            for (i, &origin) in origins.iter().enumerate() {
                let e = origin_errors(grid, origin, horizon_steps, candidate, direction)?;
                // Later origins say more about the series as it is now.
                let weight = (i + 1) as f64;
                total.crossing += weight * e.crossing;
                total.levels += (i + 1) * e.levels;
                total.values += weight * e.values;
            }
            Some((candidate, total))
        })
        .collect();
    let scores: Vec<(Candidate, f64)> = scored
        .iter()
        .map(|&(c, e)| {
            let score = if e.levels > 0 {
                e.crossing / e.levels as f64
            } else {
                e.values / (origins.len() * (origins.len() + 1) / 2) as f64
            };
            (c, score)
        })
        .filter(|(_, s)| s.is_finite())
        .collect();
    (!scores.is_empty()).then_some(scores)
}

/// `candidate` fitted before `origin`, judged on the points after it (at most
/// `horizon_steps`); `None` when it cannot be fitted.
fn origin_errors(
    grid: &Grid,
    origin: usize,
    horizon_steps: usize,
    (choice, season): Candidate,
    direction: Direction,
) -> Option<Errors> {
    let raw = &grid.values[origin..grid.len().min(origin + horizon_steps)];
    let smoothed = smooth(raw);
    let held_out = smoothed.as_slice();
    let len = held_out.len();
    let limit = (2 * len).min(horizon_steps.max(len));
    let fit = Fit::new(
        choice,
        &grid.prefix(origin),
        grid.time(origin + limit),
        season,
    )
    .ok()?;
    let predicted: Vec<f64> = (0..limit)
        .map(|j| fit.predict(grid.time(origin + j)).mean)
        .collect();
    let beyond = |v: f64, level: f64| match direction {
        Direction::Above => v >= level,
        Direction::Below => v <= level,
    };
    let mut errors = Errors::default();
    let start = smooth(&grid.values[origin.saturating_sub(SMOOTHING)..origin])
        .last()
        .copied()
        .unwrap_or(grid.values[origin - 1]);
    for quarter in 1..=4 {
        let last = (len * quarter).div_ceil(4).max(1) - 1;
        let part = &held_out[..=last];
        let level = match direction {
            Direction::Above => part.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Direction::Below => part.iter().copied().fold(f64::INFINITY, f64::min),
        };
        // Only a new high (low) since the origin says something about crossings.
        if !beyond(level, start) || level == start {
            continue;
        }
        let truth = part.iter().position(|&v| beyond(v, level)).unwrap_or(last);
        // A model that continues the data exactly reaches the level exactly: allow for
        // rounding.
        let slack = 1e-9 * level.abs().max(1.0);
        let reachable = match direction {
            Direction::Above => level - slack,
            Direction::Below => level + slack,
        };
        let guess = predicted
            .iter()
            .position(|&v| beyond(v, reachable))
            .unwrap_or(limit);
        errors.crossing += truth.abs_diff(guess) as f64;
        errors.levels += 1;
    }
    let (mut sum, mut weights) = (0.0, 0.0);
    for (j, (&actual, &guess)) in raw.iter().zip(&predicted).enumerate() {
        let weight = (j + 1) as f64;
        sum += weight * (guess - actual).abs();
        weights += weight;
    }
    errors.values = sum / weights;
    Some(errors)
}

/// Points either side in the moving average the held-out levels are read from.
const SMOOTHING: usize = 2;

/// A centred moving average over 2·[`SMOOTHING`] + 1 points (fewer at the ends), so the
/// levels are where the series got to, not where one noisy point did: a model would
/// otherwise be rewarded for wiggling as much as the noise.
fn smooth(values: &[f64]) -> Vec<f64> {
    (0..values.len())
        .map(|k| {
            let window =
                &values[k.saturating_sub(SMOOTHING)..(k + SMOOTHING + 1).min(values.len())];
            window.iter().sum::<f64>() / window.len() as f64
        })
        .collect()
}

/// The simplest candidate within [`SIMPLER_WITHIN`] of the best score.
fn pick(scores: &[(Candidate, f64)]) -> Candidate {
    let best = scores.iter().map(|&(_, s)| s).fold(f64::INFINITY, f64::min);
    scores
        .iter()
        .find(|&&(_, s)| s <= best * SIMPLER_WITHIN)
        .map_or((ModelChoice::Linear, None), |&(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request for `hours` ahead (only the horizon, season and direction matter here).
    fn request(hours: i64) -> ForecastRequest<'static> {
        ForecastRequest {
            samples: &[],
            now_ms: 0,
            horizon_ms: hours * 3_600_000,
            threshold: 0.0,
            direction: Direction::Above,
            model: ModelChoice::Auto,
            season: None,
        }
    }

    fn hourly(values: Vec<f64>) -> Grid {
        Grid {
            start_ms: 0,
            step_ms: 3_600_000,
            values,
        }
    }

    #[test]
    fn a_line_is_left_to_least_squares() {
        let grid = hourly((0..200).map(|k| 10.0 + 0.1 * k as f64).collect());
        let fit = choose(&grid, &request(100), 300 * 3_600_000).expect("fit");
        assert_eq!(fit.choice(), ModelChoice::Linear);
    }

    #[test]
    fn a_daily_sawtooth_goes_to_holt_winters() {
        // Grows 1 per hour, loses 20 at midnight, plus 0.05 per hour underneath: 10 days.
        let values = (0..240)
            .map(|k| 0.05 * k as f64 + (k % 24) as f64 * 1.0)
            .collect();
        let grid = hourly(values);
        let scores = backtest(&grid, 48 * 3_600_000, None, Direction::Above).expect("scores");
        let fit = choose(&grid, &request(48), 288 * 3_600_000).expect("fit");
        assert_eq!(fit.choice(), ModelChoice::HoltWinters, "{scores:?}");
    }

    #[test]
    fn a_change_of_slope_is_not_left_to_least_squares() {
        // Slope 0.1 for 100 hours, then 1: Theil–Sen (the new slope is the median) or Holt
        // follows the new line; least squares would not.
        let values = (0..300)
            .map(|k| {
                if k < 100 {
                    0.1 * k as f64
                } else {
                    10.0 + 1.0 * (k - 100) as f64
                }
            })
            .collect();
        let grid = hourly(values);
        let fit = choose(&grid, &request(48), 348 * 3_600_000).expect("fit");
        assert_ne!(fit.choice(), ModelChoice::Linear);
        let p = fit.predict(348 * 3_600_000);
        assert!((p.mean - 258.0).abs() < 10.0, "{:?} {p:?}", fit.choice());
    }

    #[test]
    fn too_short_for_a_backtest_is_linear() {
        let grid = hourly(vec![1.0, 2.0, 3.0, 5.0, 4.0]);
        let fit = choose(&grid, &request(1), 6 * 3_600_000).expect("fit");
        assert_eq!(fit.choice(), ModelChoice::Linear);
    }
}
