//! A trend that slows as it fills: growth whose slope decays exponentially, as a cache
//! filling towards its limit or a store whose retention has begun to delete.
//!
//! ```text
//!   y(x) = a + c·τ·(1 − e^(−(x − x_n)/τ))
//! ```
//!
//! x is the grid position and x_n the last one, so `c` is the slope now and a + c·τ the
//! level the growth tends to. For each time constant τ on a geometric ladder from an
//! eighth of the window to four windows, (a, c) is least squares; the τ with the smallest
//! residual sum of squares wins. The band is the textbook interval of a new observation
//! for that τ (the uncertainty of τ itself is left to `auto`'s backtest and envelope).
//!
//! A parabola bending away from the threshold turns over and never crosses; this curve
//! keeps growing, slower and slower, and crosses when its limit is past the threshold.
//!
//! With a negative time constant (T = −τ) the same curve quickens instead, its slope
//! growing by e every T steps: exponential growth, `y = a + c·T·(e^((x − x_n)/T) − 1)`.
//! [`Saturating::fit_growing`] fits it on a ladder from half a window (the curve climbs
//! e² over the window) to four; a parabola follows such growth over a week but runs
//! below it over the weeks ahead.

use super::grid::Grid;
use super::stats::{new_observation, t_975};
use super::{ForecastError, Prediction};

/// Rungs of the time-constant ladder, from [`SHORTEST`] to [`LONGEST`] windows.
const RUNGS: usize = 16;
/// The shortest time constant, in windows: e^8 is as far as the curve's past may climb.
const SHORTEST: f64 = 0.125;
/// The shortest time constant of a quickening curve, in windows: e² is as far as it may
/// climb over the window. Quicker, a burst in the last points reads as growth taking off
/// and is extrapolated to the threshold within the hour.
const SHORTEST_GROWING: f64 = 0.5;
/// The longest time constant, in windows: longer is a straight line over the window.
const LONGEST: f64 = 4.0;
/// Where [`Saturating::fit_bent`] tries the slowing to begin, in eighths of the window.
const BENDS: [usize; 7] = [0, 1, 2, 3, 4, 5, 6];
/// Golden-section steps between the rungs beside the best.
const REFINE: usize = 12;

/// A fitted saturating trend.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Saturating {
    start_ms: i64,
    step_ms: i64,
    /// The last grid position, x_n.
    last: f64,
    /// Time constant, steps.
    tau: f64,
    /// a and c.
    coefficients: [f64; 2],
    /// (XᵀX)⁻¹.
    inverse: [[f64; 2]; 2],
    /// t quantile × residual standard deviation.
    half_width: f64,
    /// Sum of squared residuals, and the number of points.
    sse: f64,
    n: usize,
}

impl Saturating {
    /// Fits the trend over the whole window; needs 8 observed points.
    pub fn fit(grid: &Grid) -> Result<Self, ForecastError> {
        Self::fit_bending(grid, &[0], 1.0)
    }

    /// Fits the mirror image: growth whose slope grows exponentially (a negative time
    /// constant, `y = a + c·T·(e^((x − x_n)/T) − 1)` with T = −τ), on the same ladder.
    pub fn fit_growing(grid: &Grid) -> Result<Self, ForecastError> {
        Self::fit_bending(grid, &[0], -1.0)
    }

    /// Fits the trend with the slowing begun at whichever eighth of the window (up to
    /// three quarters in) fits best, a straight line before it: growth that ran straight
    /// for weeks and began to slow days ago.
    pub fn fit_bent(grid: &Grid) -> Result<Self, ForecastError> {
        Self::fit_bending(grid, &BENDS, 1.0)
    }

    /// Fits the trend with the slowing (`sign` 1) or the quickening (−1) begun at each of
    /// `bends` eighths of the window, keeping the best.
    fn fit_bending(grid: &Grid, bends: &[usize], sign: f64) -> Result<Self, ForecastError> {
        let y = &grid.values;
        let n = y.len();
        let observed: Vec<bool> = if grid.weights.iter().filter(|&&w| w > 0.0).count() >= 8 {
            grid.weights.iter().map(|&w| w > 0.0).collect()
        } else {
            vec![true; n]
        };
        let count = observed.iter().filter(|&&o| o).count();
        if count < 8 {
            return Err(ForecastError::NotEnoughData(format!(
                "a saturating trend needs 8 points, have {count}"
            )));
        }
        let last = (n - 1) as f64;
        // The ladder runs from an eighth of the stretch since the bend (e^8 is as far as
        // the curve's slope may have fallen) to four windows (a straight line).
        let shortest = if sign > 0.0 {
            SHORTEST
        } else {
            SHORTEST_GROWING
        };
        let rung = |i: usize, bend: f64| {
            let (low, high) = (shortest * (n as f64 - bend), LONGEST * n as f64);
            sign * low * (high / low).powf(i as f64 / (RUNGS - 1) as f64)
        };
        let mut best: Option<(usize, f64, Saturating)> = None;
        for &b in bends {
            let bend = (b * n / 8) as f64;
            for i in 0..RUNGS {
                if let Some(fit) = fit_at(grid, &observed, count, last, rung(i, bend), bend)
                    && best.as_ref().is_none_or(|(_, _, f)| fit.sse < f.sse)
                {
                    best = Some((i, bend, fit));
                }
            }
        }
        let (i, bend, mut fit) = best.ok_or_else(|| {
            ForecastError::NotEnoughData("a saturating trend needs points at 2 positions".into())
        })?;
        let at = |tau: f64| fit_at(grid, &observed, count, last, tau, bend);
        let rung = |i: usize| rung(i, bend);
        // Between the rungs beside the best, by golden-section search on ln τ: a rung's
        // ratio (1.26 or more) is a long way off over a horizon as long as the window.
        if i > 0 && i + 1 < RUNGS {
            let golden = (5f64.sqrt() - 1.0) / 2.0;
            let sse = |x: f64| at(sign * x.exp()).map_or(f64::INFINITY, |f| f.sse);
            let (mut lo, mut hi) = (rung(i - 1).abs().ln(), rung(i + 1).abs().ln());
            let (mut m1, mut m2) = (hi - golden * (hi - lo), lo + golden * (hi - lo));
            let (mut f1, mut f2) = (sse(m1), sse(m2));
            for _ in 0..REFINE {
                if f1 < f2 {
                    (hi, m2, f2) = (m2, m1, f1);
                    m1 = hi - golden * (hi - lo);
                    f1 = sse(m1);
                } else {
                    (lo, m1, f1) = (m1, m2, f2);
                    m2 = lo + golden * (hi - lo);
                    f2 = sse(m2);
                }
            }
            if let Some(refined) = at(sign * ((lo + hi) / 2.0).exp())
                && refined.sse < fit.sse
            {
                fit = refined;
            }
        }
        Ok(fit)
    }

    /// The Bayesian information criterion of the fit (a, c and τ): lower is better.
    pub fn bic(&self) -> f64 {
        super::quadratic::bic(self.sse, self.n, 3)
    }

    /// The slope now, value per step.
    pub fn slope(&self) -> f64 {
        self.coefficients[1]
    }

    /// The time constant in steps; the longest rung means no clear slowing.
    pub fn tau_steps(&self) -> f64 {
        self.tau
    }

    /// Whether the time constant is the ladder's longest: the fit is a straight line.
    pub fn is_straight(&self) -> bool {
        self.tau.abs() >= LONGEST * self.n.max(1) as f64 * 0.999
    }

    /// The trend's value and prediction interval at `t_ms`.
    pub fn predict(&self, t_ms: i64) -> Prediction {
        let x = (t_ms - self.start_ms) as f64 / self.step_ms as f64;
        // A quickening curve (τ < 0) grows without bound: capped where e^x overflows.
        let g = self.tau * (1.0 - (-(x - self.last) / self.tau).min(700.0).exp());
        let [a, c] = self.coefficients;
        let mean = a + c * g;
        new_observation(mean, &[1.0, g], &self.inverse, self.half_width)
    }
}

/// Least squares of (a, c) for the time constant `tau` (steps); `None` when the points do
/// not tell a from c.
fn fit_at(
    grid: &Grid,
    observed: &[bool],
    count: usize,
    last: f64,
    tau: f64,
    bend: f64,
) -> Option<Saturating> {
    let y = &grid.values;
    let n = y.len();
    // g(x) = τ(1 − e^((x_n − x)/τ)), walked back from x_n by a constant ratio; before the
    // bend, the straight line it leaves.
    let ratio = (1.0 / tau).exp();
    let mut growth = vec![0.0; n];
    let mut e = 1.0;
    for g in growth.iter_mut().rev() {
        *g = tau * (1.0 - e);
        e *= ratio;
    }
    let b = (bend as usize).min(n - 1);
    if b > 0 {
        let (at, slope) = (growth[b], ((last - bend) / tau).exp());
        for (x, g) in growth.iter_mut().enumerate().take(b) {
            *g = at + slope * (x as f64 - bend);
        }
    }
    let (mut s0, mut s1, mut s2, mut m0, mut m1) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for k in (0..n).filter(|&k| observed[k]) {
        let g = growth[k];
        s0 += 1.0;
        s1 += g;
        s2 += g * g;
        m0 += y[k];
        m1 += y[k] * g;
    }
    let det = s0 * s2 - s1 * s1;
    if det.abs() <= 1e-12 * (s0 * s2).abs().max(f64::MIN_POSITIVE) {
        return None;
    }
    let inverse = [[s2 / det, -s1 / det], [-s1 / det, s0 / det]];
    let a = inverse[0][0] * m0 + inverse[0][1] * m1;
    let c = inverse[1][0] * m0 + inverse[1][1] * m1;
    let sse: f64 = (0..n)
        .filter(|&k| observed[k])
        .map(|k| (y[k] - a - c * growth[k]).powi(2))
        .sum();
    let s = (sse / (count - 2) as f64).sqrt();
    Some(Saturating {
        start_ms: grid.start_ms,
        step_ms: grid.step_ms,
        last,
        tau,
        coefficients: [a, c],
        inverse,
        half_width: t_975(count - 2) * s,
        sse,
        n: count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exact_slowing_curve_is_found_and_continued() {
        // Hourly for 10 days: slope 0.05 an hour now, time constant 100 hours.
        let (tau, c) = (100.0, 0.05);
        let at = |x: f64| 1.0 + c * tau * (1.0 - (-(x - 239.0) / tau).exp());
        let grid = Grid::even(0, 3_600_000, (0..240).map(|k| at(k as f64)).collect());
        let fit = Saturating::fit(&grid).expect("fit");
        // The ladder's nearest rung to 100 h of a 240 h window, and close to the curve.
        assert!((fit.tau_steps() / tau - 1.0).abs() < 0.15, "{fit:?}");
        assert!((fit.slope() - c).abs() < 0.01, "{fit:?}");
        let ahead = fit.predict(400 * 3_600_000).mean;
        assert!((ahead - at(400.0)).abs() < 0.1, "{ahead} vs {}", at(400.0));
        assert!(!fit.is_straight());
    }

    #[test]
    fn a_bend_after_weeks_of_straight_growth_is_found_by_the_bent_fit() {
        // Hourly for 28 days: 0.02 an hour, then from day 21 (a bend at six eighths of
        // the window) a slope decaying over 60 hours, 0.02·e^(−168/60) ≈ 0.0012 now.
        let (tau, bend, last) = (60.0, 504.0, 671.0);
        let at = |x: f64| {
            if x < bend {
                0.02 * x
            } else {
                0.02 * bend + 0.02 * tau * (1.0 - (-(x - bend) / tau).exp())
            }
        };
        let grid = Grid::even(0, 3_600_000, (0..672).map(|k| at(k as f64)).collect());
        let ahead = |fit: &Saturating| fit.predict(900 * 3_600_000).mean;
        let truth = at(900.0);
        let bent = Saturating::fit_bent(&grid).expect("fit");
        assert!(
            (ahead(&bent) - truth).abs() < 0.05,
            "{} vs {truth}",
            ahead(&bent)
        );
        assert!(
            (bent.slope() - 0.02 * (-(last - bend) / tau).exp()).abs() < 5e-4,
            "{bent:?}"
        );
        // One curve over the whole window bends too slowly and runs far above.
        let whole = Saturating::fit(&grid).expect("fit");
        assert!(ahead(&whole) > truth + 0.2, "{} vs {truth}", ahead(&whole));
    }

    #[test]
    fn an_exact_quickening_curve_is_found_and_continued() {
        // Hourly for 7 days: exponential growth with a time constant of 96 hours (a rate
        // of 0.25 a day), slope 0.01 an hour now.
        let (t, c) = (96.0, 0.01);
        let at = |x: f64| 0.3 + c * t * (((x - 167.0) / t).exp() - 1.0);
        let grid = Grid::even(0, 3_600_000, (0..168).map(|k| at(k as f64)).collect());
        let fit = Saturating::fit_growing(&grid).expect("fit");
        assert!((fit.tau_steps() / -t - 1.0).abs() < 0.05, "{fit:?}");
        assert!((fit.slope() - c).abs() < 5e-4, "{fit:?}");
        // Five days on the curve has climbed 0.68; a line at today's slope, 0.48.
        let ahead = fit.predict(287 * 3_600_000).mean;
        assert!((ahead - at(287.0)).abs() < 0.02, "{ahead} vs {}", at(287.0));
    }

    #[test]
    fn a_straight_line_is_the_longest_rung() {
        let grid = Grid::even(0, 3_600_000, (0..240).map(|k| 0.01 * k as f64).collect());
        let fit = Saturating::fit(&grid).expect("fit");
        assert!(fit.is_straight(), "{fit:?}");
    }
}
