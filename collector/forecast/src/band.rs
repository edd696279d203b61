//! The ETA band `auto` reports, calibrated on the series' own backtest rather than on a
//! model's textbook interval (which assumes the model is right, and is far too narrow
//! when it is not: a trend that changes, a curve fitted with a line).
//!
//! The backtest (see `auto`) records, for every level the held-out data reached, how many
//! steps after the origin it was reached (`truth`) and how many the model said (`guess`).
//! Crossing-time errors grow with the lead — a slope that is 10 % off is a day late at 10
//! days and three at 30 — so what carries over from the backtest's short leads to the
//! horizon is their ratio, `r = ln((guess + 1)/(truth + 1))`. The band takes the
//! origin-weighted 2.5 % and 97.5 % quantiles of r, widened by [`WIDEN`] (two dozen
//! correlated errors understate the tails) and by at least [`FLOOR`] either way. A model
//! that guessed up to `e^r_hi` times too late may cross that much earlier than it says,
//! and one that guessed early that much later:
//!
//! ```text
//!   earliest = now + lead · e^(−r_hi),   latest = now + lead · e^(−r_lo)
//! ```
//!
//! The band along the path is the model's path run that much faster and slower (its
//! value at `now + h·e^(r_hi)` and `now + h·e^(r_lo)`), so where its edges reach the
//! threshold is exactly the earliest and latest crossing above, also for a model that
//! crosses after the horizon or not at all.
//!
//! The backtest only saw leads up to the longest of its crossings, `reach` (half the
//! window at most). Beyond it the ratio's spread grows with the square root of the lead:
//! a trend whose slope wanders like a random walk is off by `h^(3/2)` in value after `h`,
//! so by `√h` in the ratio of crossing times. A day of history says less about the month
//! ahead than four weeks of it do:
//!
//! ```text
//!   r_lo(h), r_hi(h) = r_lo, r_hi · max(1, √(h / reach))
//! ```
//!
//! With too few backtest crossings to calibrate from (a flat series, a day of history),
//! the band is the model's own with the path sped up and slowed down by the floor, grown
//! the same way past half the window (the longest lead the backtest looked at).
//!
//! The late edge's time factor stops shrinking (by growth) at `e^(−LATE_LIMIT)`, where the
//! slowed path would otherwise start to run backwards.

use super::stats::quantile_sorted;
use super::{Fit, Prediction};

/// The quantiles of the log-ratio are stretched by this factor away from zero: two dozen
/// correlated errors understate the tails. Set on the benchmark's tuning set for about
/// 95 % coverage at 7 and 28 days of history once the band grows past the backtest's
/// reach and holds the slope's interval (2.5 before those, which made bands wider than
/// they needed to be).
pub(crate) const WIDEN: f64 = 1.5;

/// The band is at least this wide either way, in log-ratio (about ±15 %).
pub(crate) const FLOOR: f64 = 0.2;

/// Fewest backtest crossings (of [`MIN_LEAD`] or more) a band is calibrated from; with
/// fewer, the model's own band is kept, with the path sped up and slowed down by
/// [`FLOOR`].
pub(crate) const MIN_PAIRS: usize = 4;

/// The late edge's log time factor is at least `−LATE_LIMIT`: `h·e^(−c·√(h/reach))` stops
/// growing with `h` where `c·√(h/reach)` passes 2.
pub(crate) const LATE_LIMIT: f64 = 2.0;

/// Crossings reached sooner than this many steps after their origin are left out: a
/// step or two either way is a large ratio there, and says nothing about the trend.
pub(crate) const MIN_LEAD: f64 = 4.0;

/// One crossing of the backtest: steps from the origin to the truth and to the guess, and
/// the origin's weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Pair {
    pub truth: f64,
    pub guess: f64,
    pub weight: f64,
}

/// A fit whose band is its own path, sped up and slowed down, and widened to hold the
/// paths of the other models the backtest could not rule out.
#[derive(Debug, Clone)]
pub(crate) struct Calibrated {
    inner: Fit,
    now_ms: i64,
    /// Log time factors: the path at `now + h·e^high` is the early edge, at
    /// `now + h·e^low` the late one (low ≤ 0 ≤ high), within the backtest's reach.
    factors: (f64, f64),
    /// The factors are the floor, for want of backtest crossings: the inner model's own
    /// band is kept too.
    uncalibrated: bool,
    /// The longest lead (ms) the backtest saw a crossing at, or could have (half the
    /// window) when it saw too few; the factors grow beyond it.
    reach_ms: f64,
    /// Paths the band must hold too.
    envelope: Vec<Fit>,
}

impl Calibrated {
    /// `inner` with the band calibrated from `pairs` (in steps of `step_ms`), widened to
    /// hold the mean path of each fit in `envelope`. With fewer than [`MIN_PAIRS`] the
    /// band is the inner model's own and the path sped up and slowed down by [`FLOOR`]
    /// (growing past half the `window`'s steps): no backtest crossing is no evidence that
    /// the trend will hold for weeks.
    pub fn wrap(
        inner: Fit,
        now_ms: i64,
        step_ms: i64,
        window: usize,
        pairs: &[Pair],
        envelope: Vec<Fit>,
    ) -> Fit {
        let (factors, uncalibrated, reach) = match log_ratio_band(pairs) {
            Some(factors) => (factors, false, reach(pairs)),
            None => ((-FLOOR, FLOOR), true, (window as f64 / 2.0).max(MIN_LEAD)),
        };
        Fit::Calibrated(Box::new(Calibrated {
            inner,
            now_ms,
            factors,
            uncalibrated,
            reach_ms: reach * step_ms as f64,
            envelope,
        }))
    }

    /// The fit whose path this is.
    pub fn inner(&self) -> &Fit {
        &self.inner
    }

    /// The inner model's value at `t_ms`, between the values of the early and late paths
    /// and those of the envelope.
    pub fn predict(&self, t_ms: i64) -> Prediction {
        let own = self.inner.predict(t_ms);
        let (low, high) = self.factors;
        let h = (t_ms - self.now_ms).max(0) as f64;
        let grow = (h / self.reach_ms).sqrt().max(1.0);
        let slower = (low * grow).max(low.min(-LATE_LIMIT)).exp();
        let faster = (high * grow).exp();
        let at = |factor: f64| {
            let t = self.now_ms as f64 + h * factor;
            self.inner.predict(t.min(i64::MAX as f64 / 2.0) as i64).mean
        };
        let (early, late) = (at(faster), at(slower));
        let (lower, upper) = if self.uncalibrated {
            (own.lower, own.upper)
        } else {
            (own.mean, own.mean)
        };
        let mut band = Prediction {
            mean: own.mean,
            lower: lower.min(early).min(late),
            upper: upper.max(early).max(late),
        };
        for other in &self.envelope {
            let v = other.predict(t_ms).mean;
            band.lower = band.lower.min(v);
            band.upper = band.upper.max(v);
        }
        band
    }
}

/// The longest lead (steps) among the pairs a band is calibrated from; at least
/// [`MIN_LEAD`].
fn reach(pairs: &[Pair]) -> f64 {
    pairs
        .iter()
        .filter(|p| p.truth >= MIN_LEAD)
        .map(|p| p.truth)
        .fold(MIN_LEAD, f64::max)
}

/// The (low, high) log-ratio quantiles, widened; `None` with too few pairs.
pub(crate) fn log_ratio_band(pairs: &[Pair]) -> Option<(f64, f64)> {
    let mut ratios: Vec<(f64, f64)> = pairs
        .iter()
        .filter(|p| p.truth >= MIN_LEAD)
        .map(|p| (((p.guess + 1.0) / (p.truth + 1.0)).ln(), p.weight))
        .collect();
    if ratios.len() < MIN_PAIRS {
        return None;
    }
    ratios.sort_by(|a, b| a.0.total_cmp(&b.0));
    let low = weighted_quantile(&ratios, 0.025);
    let high = weighted_quantile(&ratios, 0.975);
    Some((
        (low.min(0.0) * WIDEN).min(-FLOOR),
        (high.max(0.0) * WIDEN).max(FLOOR),
    ))
}

/// The `p` quantile of sorted `(value, weight)` pairs: the value where the cumulative
/// weight (each pair counted at its middle) passes `p`, linear in between.
fn weighted_quantile(sorted: &[(f64, f64)], p: f64) -> f64 {
    let total: f64 = sorted.iter().map(|&(_, w)| w).sum();
    if total <= 0.0 {
        let values: Vec<f64> = sorted.iter().map(|&(v, _)| v).collect();
        return quantile_sorted(&values, p);
    }
    let mut below = 0.0;
    let mut previous: Option<(f64, f64)> = None;
    for &(v, w) in sorted {
        let at = (below + w / 2.0) / total;
        if at >= p {
            return match previous {
                Some((pv, pat)) if at > pat => pv + (v - pv) * (p - pat) / (at - pat),
                _ => v,
            };
        }
        previous = Some((v, at));
        below += w;
    }
    sorted.last().map_or(f64::NAN, |&(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::Grid;
    use crate::linear::Line;

    fn pair(truth: f64, guess: f64) -> Pair {
        Pair {
            truth,
            guess,
            weight: 1.0,
        }
    }

    #[test]
    fn exact_guesses_give_the_floor() {
        let pairs: Vec<Pair> = (4..13).map(|k| pair(k as f64, k as f64)).collect();
        assert_eq!(log_ratio_band(&pairs), Some((-FLOOR, FLOOR)));
        assert_eq!(log_ratio_band(&pairs[..3]), None);
    }

    #[test]
    fn late_guesses_move_the_early_edge() {
        // Guesses twice as late as the truth (in steps + 1): r = ln 2 everywhere.
        let pairs: Vec<Pair> = (4..13)
            .map(|k| pair(k as f64, 2.0 * (k as f64 + 1.0) - 1.0))
            .collect();
        let (low, high) = log_ratio_band(&pairs).expect("band");
        assert!((high - 2f64.ln() * WIDEN).abs() < 1e-9, "{high}");
        assert_eq!(low, -FLOOR);
    }

    #[test]
    fn a_model_that_guessed_twice_too_late_may_run_about_three_times_faster() {
        // r = ln 2 everywhere, stretched by 1.5: the early edge runs 2^1.5 ≈ 2.83 times
        // faster than the path (2.5 would make it 5.7 times, a band that says little).
        let pairs: Vec<Pair> = (4..13)
            .map(|k| pair(k as f64, 2.0 * (k as f64 + 1.0) - 1.0))
            .collect();
        let (_, high) = log_ratio_band(&pairs).expect("band");
        assert!((high.exp() - 2.83).abs() < 0.01, "{}", high.exp());
    }

    /// y = k per step (one step a second) from 0 to 99: now is 99 s.
    fn unit_line() -> Fit {
        let grid = Grid::even(0, 1_000, (0..100).map(f64::from).collect());
        Fit::Linear(Line::fit(&grid).expect("fit"))
    }

    #[test]
    fn past_the_backtest_reach_the_band_widens_with_the_root_of_the_lead() {
        // y = k per step (one step a second); the backtest saw crossings up to 12 steps.
        let line = unit_line();
        let pairs: Vec<Pair> = (4..13).map(|k| pair(k as f64, k as f64)).collect();
        let fit = Calibrated::wrap(line, 99_000, 1_000, 100, &pairs, Vec::new());
        // Four times the reach: the log factors double.
        let p = fit.predict(99_000 + 48_000);
        let (early, late) = ((2.0 * FLOOR).exp(), (-2.0 * FLOOR).exp());
        assert!((p.upper - (99.0 + 48.0 * early)).abs() < 1e-3, "{p:?}");
        assert!((p.lower - (99.0 + 48.0 * late)).abs() < 1e-3, "{p:?}");
        // Far out the late edge's factor stops at e^(−LATE_LIMIT) and the edge still rises.
        let far = |h: f64| fit.predict(99_000 + (h * 1e3) as i64).lower;
        let limit = (-LATE_LIMIT).exp();
        assert!((far(12_000.0) - (99.0 + 12_000.0 * limit)).abs() < 1e-2);
        assert!(far(24_000.0) > far(12_000.0));
    }

    #[test]
    fn without_backtest_crossings_the_path_still_runs_faster_and_slower() {
        // An exact line (its own band has no width) and no crossings: the floor, growing
        // past half the window of 100 steps.
        let line = unit_line();
        let fit = Calibrated::wrap(line, 99_000, 1_000, 100, &[], Vec::new());
        let p = fit.predict(99_000 + 200_000);
        let grow = 2.0; // √(200 / 50)
        assert!((p.mean - 299.0).abs() < 1e-9, "{p:?}");
        assert!(
            (p.upper - (99.0 + 200.0 * (FLOOR * grow).exp())).abs() < 1e-3,
            "{p:?}"
        );
        assert!(
            (p.lower - (99.0 + 200.0 * (-FLOOR * grow).exp())).abs() < 1e-3,
            "{p:?}"
        );
    }

    #[test]
    fn the_band_is_the_path_sped_up_and_slowed_down() {
        let line = unit_line();
        let pairs: Vec<Pair> = (4..13).map(|k| pair(k as f64, k as f64)).collect();
        let fit = Calibrated::wrap(line, 99_000, 1_000, 100, &pairs, Vec::new());
        let p = fit.predict(109_000);
        let (early, late) = (FLOOR.exp(), (-FLOOR).exp());
        assert!((p.mean - 109.0).abs() < 1e-9, "{p:?}");
        // Within a millisecond: times are whole milliseconds.
        assert!((p.upper - (99.0 + 10.0 * early)).abs() < 1e-3, "{p:?}");
        assert!((p.lower - (99.0 + 10.0 * late)).abs() < 1e-3, "{p:?}");
    }
}
