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

use super::stats::quantile_sorted;
use super::{Fit, Prediction};

/// The quantiles of the log-ratio are stretched by this factor away from zero.
pub(crate) const WIDEN: f64 = 2.5;

/// The band is at least this wide either way, in log-ratio (about ±15 %).
pub(crate) const FLOOR: f64 = 0.2;

/// Fewest backtest crossings (of [`MIN_LEAD`] or more) a band is calibrated from; with
/// fewer, the model's own band is kept.
pub(crate) const MIN_PAIRS: usize = 4;

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
    /// Time factors: the path at `now + h·faster` is the early edge, at `now + h·slower`
    /// the late one (faster ≥ 1 ≥ slower); `None` keeps the inner model's own band.
    factors: Option<(f64, f64)>,
    /// Paths the band must hold too.
    envelope: Vec<Fit>,
}

impl Calibrated {
    /// `inner` with the band calibrated from `pairs` (or its own band with fewer than
    /// [`MIN_PAIRS`]), widened to hold the mean path of each fit in `envelope`.
    pub fn wrap(inner: Fit, now_ms: i64, pairs: &[Pair], envelope: Vec<Fit>) -> Fit {
        let factors = log_ratio_band(pairs).map(|(low, high)| (high.exp(), low.exp()));
        if factors.is_none() && envelope.is_empty() {
            return inner;
        }
        Fit::Calibrated(Box::new(Calibrated {
            inner,
            now_ms,
            factors,
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
        let mut band = match self.factors {
            Some((faster, slower)) => {
                let h = (t_ms - self.now_ms).max(0) as f64;
                let at = |factor: f64| {
                    let t = self.now_ms as f64 + h * factor;
                    self.inner.predict(t.min(i64::MAX as f64 / 2.0) as i64).mean
                };
                let (early, late) = (at(faster), at(slower));
                Prediction {
                    mean: own.mean,
                    lower: own.mean.min(early).min(late),
                    upper: own.mean.max(early).max(late),
                }
            }
            None => own,
        };
        for other in &self.envelope {
            let v = other.predict(t_ms).mean;
            band.lower = band.lower.min(v);
            band.upper = band.upper.max(v);
        }
        band
    }
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
    fn the_band_is_the_path_sped_up_and_slowed_down() {
        // y = k per step (one step a second) from 0 to 99: now is 99 s.
        let grid = Grid {
            start_ms: 0,
            step_ms: 1_000,
            values: (0..100).map(f64::from).collect(),
        };
        let line = Fit::Linear(Line::fit(&grid).expect("fit"));
        let pairs: Vec<Pair> = (4..13).map(|k| pair(k as f64, k as f64)).collect();
        let fit = Calibrated::wrap(line, 99_000, &pairs, Vec::new());
        let p = fit.predict(109_000);
        let (early, late) = (FLOOR.exp(), (-FLOOR).exp());
        assert!((p.mean - 109.0).abs() < 1e-9, "{p:?}");
        // Within a millisecond: times are whole milliseconds.
        assert!((p.upper - (99.0 + 10.0 * early)).abs() < 1e-3, "{p:?}");
        assert!((p.lower - (99.0 + 10.0 * late)).abs() < 1e-3, "{p:?}");
    }
}
