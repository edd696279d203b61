//! `auto`: picks a model per series by rolling-origin backtest on the lookback window.
//!
//! Each candidate is fitted on the first 50 %, 62.5 %, 75 % and 87.5 % of the grid and
//! forecasts the rest (at most a horizon of it). Its error at an origin is the mean
//! absolute error of those forecasts weighted by lead time (an error two days out counts
//! twice one a day out), because a crossing is usually far ahead and what matters is how
//! well the model extrapolates, not how well it tracks the next point. The score is the
//! mean over the origins. The simplest candidate whose score is within 5 % of the best
//! wins — linear, then Theil–Sen, Holt, Holt–Winters daily, Holt–Winters weekly — so
//! that a model with more parameters must earn its place.
//!
//! A candidate that cannot be fitted at every origin (Holt–Winters needs two seasons in
//! the shortest training part, that is four seasons of lookback) is left out. With too
//! little history for any backtest, the choice is the least-squares line.

use super::grid::Grid;
use super::{Fit, ForecastError, ModelChoice, Season};

/// Fractions of the window used for training at each origin.
const ORIGINS: [f64; 4] = [0.5, 0.625, 0.75, 0.875];

/// A more complex model must beat the best simpler one by more than this factor.
const SIMPLER_WITHIN: f64 = 1.05;

/// Fits the model with the best backtest score on the whole grid.
pub(crate) fn choose(
    grid: &Grid,
    horizon_ms: i64,
    until_ms: i64,
    season: Option<Season>,
) -> Result<Fit, ForecastError> {
    let chosen = backtest(grid, horizon_ms, season)
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

/// Each candidate that fits at every origin, with its score; `None` when the grid is too
/// short to backtest anything.
pub(crate) fn backtest(
    grid: &Grid,
    horizon_ms: i64,
    season: Option<Season>,
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
    let scores: Vec<(Candidate, f64)> = candidates(season)
        .into_iter()
        .filter_map(|candidate| {
            let mut total = 0.0;
            for &origin in &origins {
                total += origin_error(grid, origin, horizon_steps, candidate)?;
            }
            Some((candidate, total / origins.len() as f64))
        })
        .collect();
    (!scores.is_empty()).then_some(scores)
}

/// Lead-weighted mean absolute error of `candidate` fitted before `origin`, over the
/// points after it (at most `horizon_steps`); `None` when it cannot be fitted.
fn origin_error(
    grid: &Grid,
    origin: usize,
    horizon_steps: usize,
    (choice, season): Candidate,
) -> Option<f64> {
    let end = grid.len().min(origin + horizon_steps);
    let fit = Fit::new(choice, &grid.prefix(origin), grid.time(end - 1), season).ok()?;
    let (mut error, mut weights) = (0.0, 0.0);
    for k in origin..end {
        let weight = (k - origin + 1) as f64;
        error += weight * (fit.predict(grid.time(k)).mean - grid.values[k]).abs();
        weights += weight;
    }
    let error = error / weights;
    error.is_finite().then_some(error)
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
        let fit = choose(&grid, 100 * 3_600_000, 300 * 3_600_000, None).expect("fit");
        assert_eq!(fit.choice(), ModelChoice::Linear);
    }

    #[test]
    fn a_daily_sawtooth_goes_to_holt_winters() {
        // Grows 1 per hour, loses 20 at midnight, plus 0.05 per hour underneath: 10 days.
        let values = (0..240)
            .map(|k| 0.05 * k as f64 + (k % 24) as f64 * 1.0)
            .collect();
        let grid = hourly(values);
        let scores = backtest(&grid, 48 * 3_600_000, None).expect("scores");
        let fit = choose(&grid, 48 * 3_600_000, 288 * 3_600_000, None).expect("fit");
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
        let fit = choose(&grid, 48 * 3_600_000, 348 * 3_600_000, None).expect("fit");
        assert_ne!(fit.choice(), ModelChoice::Linear);
        let p = fit.predict(348 * 3_600_000);
        assert!((p.mean - 258.0).abs() < 10.0, "{:?} {p:?}", fit.choice());
    }

    #[test]
    fn too_short_for_a_backtest_is_linear() {
        let grid = hourly(vec![1.0, 2.0, 3.0, 5.0, 4.0]);
        let fit = choose(&grid, 3_600_000, 6 * 3_600_000, None).expect("fit");
        assert_eq!(fit.choice(), ModelChoice::Linear);
    }
}
