//! Where the current regime of a series began: the last break of a piecewise-linear fit.
//!
//! A break is a point where the series jumps, changes slope, or both. The search splits a
//! stretch of the grid in two at every admissible point and fits a least-squares line to
//! each side (constant time per split, from prefix sums of x, x², y, y² and xy); the split
//! with the least total squared error is a break when it explains enough more than one
//! line does — by the Bayesian information criterion, three more parameters (the break,
//! the second intercept and slope) for `n·ln(SSE₁/SSE₂)`. The part after an accepted
//! break is searched again, until no further break is accepted or it is too short to
//! split: the start of the last part is where the current regime began.
//!
//! Points weigh as in `linear` (by their samples, an interpolated gap not at all), and
//! each side of a break needs its fewest points *observed*: a regime of a filled gap and
//! a sample or two after it is a guess, not a trend.
//!
//! ```text
//!          ╱                      one line: SSE₁        two lines: SSE₂ ≪ SSE₁
//!    _____╱   ← break                  ___---‾‾‾              ____ ╱
//! ```
//!
//! Cost: one pass to build the prefix sums, then one pass per search, a few passes in all
//! (720 grid points: about 10 µs). A seasonal series (a daily sawtooth) has a "break" at
//! every drop; `auto`'s backtest is what rejects a regime line there, not this module.

/// Fewest points on either side of a break.
pub(crate) const MIN_POINTS: usize = 12;

/// Least-squares sums over a stretch of `(k, y[k])`.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    /// Observed points.
    count: f64,
    /// Summed weights, then weighted sums.
    n: f64,
    x: f64,
    xx: f64,
    y: f64,
    yy: f64,
    xy: f64,
}

impl Sums {
    fn minus(self, o: Sums) -> Sums {
        Sums {
            count: self.count - o.count,
            n: self.n - o.n,
            x: self.x - o.x,
            xx: self.xx - o.xx,
            y: self.y - o.y,
            yy: self.yy - o.yy,
            xy: self.xy - o.xy,
        }
    }

    /// Squared error about the stretch's own least-squares line (never negative).
    fn sse(self) -> f64 {
        if self.n <= 0.0 {
            return 0.0;
        }
        let sxx = self.xx - self.x * self.x / self.n;
        let syy = self.yy - self.y * self.y / self.n;
        let sxy = self.xy - self.x * self.y / self.n;
        let explained = if sxx > 0.0 { sxy * sxy / sxx } else { 0.0 };
        (syy - explained).max(0.0)
    }
}

/// Prefix sums: `prefix[k]` covers points `0..k`; the weights are scaled to average 1
/// over the observed points (every point weighs 1 when none is observed).
fn prefix_sums(values: &[f64], weights: &[f64]) -> Vec<Sums> {
    // Values are taken about the first one, which keeps y² sums well conditioned.
    let origin = values.first().copied().unwrap_or(0.0);
    let observed = weights.iter().filter(|&&w| w > 0.0).count();
    let total: f64 = weights.iter().sum();
    let scale = if observed > 0 && total > 0.0 {
        observed as f64 / total
    } else {
        f64::NAN
    };
    let mut out = Vec::with_capacity(values.len() + 1);
    let mut s = Sums::default();
    out.push(s);
    for (k, &v) in values.iter().enumerate() {
        let w = if scale.is_nan() {
            1.0
        } else {
            weights[k] * scale
        };
        let (x, y) = (k as f64, v - origin);
        s.count += if w > 0.0 { 1.0 } else { 0.0 };
        s.n += w;
        s.x += w * x;
        s.xx += w * x * x;
        s.y += w * y;
        s.yy += w * y * y;
        s.xy += w * x * y;
        out.push(s);
    }
    out
}

/// The start of the last regime of `values` (0: no break), with at least `min_points`
/// (and [`MIN_POINTS`]) observed points after it; point k weighs `weights[k]`.
pub(crate) fn regime_start(values: &[f64], weights: &[f64], min_points: usize) -> usize {
    let min = min_points.max(MIN_POINTS);
    let prefix = prefix_sums(values, weights);
    let mut start = 0;
    while let Some(k) = best_break(&prefix, start, values.len(), min) {
        start = k;
    }
    start
}

/// The accepted break of `a..b`, if any.
fn best_break(prefix: &[Sums], a: usize, b: usize, min: usize) -> Option<usize> {
    if b < a + 2 * min {
        return None;
    }
    let whole = prefix[b].minus(prefix[a]);
    if whole.count < (2 * min) as f64 {
        return None;
    }
    let one = whole.sse();
    let mut best: Option<(f64, usize)> = None;
    let min_f = min as f64;
    for k in a + min..=b - min {
        if prefix[k].minus(prefix[a]).count < min_f || prefix[b].minus(prefix[k]).count < min_f {
            continue;
        }
        let two = prefix[k].minus(prefix[a]).sse() + prefix[b].minus(prefix[k]).sse();
        if best.is_none_or(|(s, _)| two < s) {
            best = Some((two, k));
        }
    }
    let (two, k) = best?;
    let n = whole.n;
    // A perfect two-line fit of anything that is not one line is a break; a scale-free
    // floor keeps exact data (zero error) from dividing by zero.
    let floor = 1e-12 * (one + whole.yy.abs() / n).max(f64::MIN_POSITIVE);
    let gain = n * ((one + floor) / (two + floor)).ln();
    (gain > 3.0 * n.ln()).then_some(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic wobble in [−1, 1].
    fn wobble(k: usize) -> f64 {
        ((k * 7919 % 1013) as f64 / 506.5) - 1.0
    }

    #[test]
    fn a_step_then_a_faster_slope_is_found_where_it_happened() {
        // 500 points at slope 0.01, then a jump of 2 and slope 0.05 for 100 points.
        let values: Vec<f64> = (0..600)
            .map(|k| {
                let base = if k < 500 {
                    0.01 * k as f64
                } else {
                    7.0 + 0.05 * (k - 500) as f64
                };
                base + 0.1 * wobble(k)
            })
            .collect();
        let start = regime_start(&values, &vec![1.0; values.len()], 0);
        assert!((498..=502).contains(&start), "{start}");
    }

    #[test]
    fn a_change_of_slope_alone_is_found() {
        let values: Vec<f64> = (0..400)
            .map(|k| {
                let x = k as f64;
                (if k < 300 {
                    0.01 * x
                } else {
                    3.0 + 0.06 * (x - 300.0)
                }) + 0.05 * wobble(k)
            })
            .collect();
        let start = regime_start(&values, &vec![1.0; values.len()], 0);
        assert!((285..=315).contains(&start), "{start}");
    }

    #[test]
    fn a_noisy_line_has_no_break() {
        let values: Vec<f64> = (0..700).map(|k| 0.02 * k as f64 + wobble(k)).collect();
        assert_eq!(regime_start(&values, &vec![1.0; values.len()], 0), 0);
        let exact: Vec<f64> = (0..100).map(|k| 3.0 * k as f64).collect();
        assert_eq!(regime_start(&exact, &[1.0; 100], 0), 0);
    }

    #[test]
    fn the_last_of_several_breaks_wins_and_regimes_are_never_too_short() {
        let values: Vec<f64> = (0..300)
            .map(|k| match k {
                0..100 => 0.0,
                100..200 => 5.0,
                _ => 10.0,
            } + 0.01 * wobble(k))
            .collect();
        assert_eq!(regime_start(&values, &vec![1.0; values.len()], 0), 200);
        let long = regime_start(&values, &vec![1.0; values.len()], 120);
        assert!(
            long <= 180,
            "the last regime has 120 points or more: {long}"
        );
    }
}
