//! A quadratic trend: least squares of `y = a + b·u + c·u²`, u the grid position centred
//! on the data and scaled to [−1, 1] (which keeps the normal equations well conditioned),
//! with the textbook prediction interval for a new observation at u₀:
//!
//! ```text
//!   ŷ(u₀) ± t(0.975, n−3) · s · sqrt(1 + x₀ᵀ (XᵀX)⁻¹ x₀),   x₀ = (1, u₀, u₀²),  s² = SSE / (n − 3)
//! ```
//!
//! An interpolated point (a gap, see `grid`) weighs nothing: a gap filled along a straight
//! line up to the last few samples is not a bend.
//!
//! It follows growth that accelerates (a disk filling faster and faster). `auto` offers
//! it only when the curvature bends towards the threshold: a quadratic bending away
//! would turn over and never cross, which is the costly mistake (see `auto`).

use super::grid::Grid;
use super::stats::{effective_points, new_observation, t_975};
use super::{ForecastError, Prediction};

/// A fitted quadratic trend.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Quadratic {
    start_ms: i64,
    step_ms: i64,
    /// Grid position of u = 0, and positions per unit of u.
    centre: f64,
    scale: f64,
    /// a, b, c.
    coefficients: [f64; 3],
    /// (XᵀX)⁻¹.
    inverse: [[f64; 3]; 3],
    /// t quantile × residual standard deviation.
    half_width: f64,
    /// The t quantile.
    t_quantile: f64,
    /// Sum of squared residuals, and the number of points.
    sse: f64,
    n: usize,
    /// What the points are worth as independent ones (see [`effective_points`]).
    effective: f64,
}

impl Quadratic {
    /// Fits the trend; needs 4 points (one degree of freedom for the residuals).
    pub fn fit(grid: &Grid) -> Result<Self, ForecastError> {
        let y = &grid.values;
        let n = y.len();
        if n < 4 {
            return Err(ForecastError::NotEnoughData(format!(
                "a quadratic trend needs 4 points, have {n}"
            )));
        }
        let (w, observed) = observed_weights(grid);
        let centre = (n - 1) as f64 / 2.0;
        let scale = centre.max(1.0);
        // Normal equations: weighted sums of u⁰…u⁴ and of y·u⁰…y·u².
        let mut powers = [0.0; 5];
        let mut moments = [0.0; 3];
        for (k, (&v, &w)) in y.iter().zip(&w).enumerate() {
            let u = (k as f64 - centre) / scale;
            let mut p = w;
            for (i, power) in powers.iter_mut().enumerate() {
                *power += p;
                if i < 3 {
                    moments[i] += v * p;
                }
                p *= u;
            }
        }
        let xtx = [
            [powers[0], powers[1], powers[2]],
            [powers[1], powers[2], powers[3]],
            [powers[2], powers[3], powers[4]],
        ];
        let inverse = invert(xtx).ok_or_else(|| {
            ForecastError::NotEnoughData("a quadratic trend needs points at 3 positions".into())
        })?;
        let coefficients: [f64; 3] =
            std::array::from_fn(|i| (0..3).map(|j| inverse[i][j] * moments[j]).sum());
        let mut sse = 0.0;
        // The observed points' residuals, in order: a filled gap follows no noise.
        let mut residuals = Vec::with_capacity(observed);
        for (k, (&v, &w)) in y.iter().zip(&w).enumerate() {
            let u = (k as f64 - centre) / scale;
            let r = v - (coefficients[0] + coefficients[1] * u + coefficients[2] * u * u);
            sse += w * r * r;
            if w > 0.0 {
                residuals.push(r);
            }
        }
        let n = observed;
        let effective = effective_points(n as f64, &residuals);
        let s = (sse / (n - 3) as f64).sqrt();
        Ok(Quadratic {
            start_ms: grid.start_ms,
            step_ms: grid.step_ms,
            centre,
            scale,
            coefficients,
            inverse,
            half_width: t_975(n - 3) * s,
            t_quantile: t_975(n - 3),
            sse,
            n,
            effective,
        })
    }

    /// The curvature, in value per step² (positive: bending upwards).
    #[cfg(test)]
    pub fn curvature(&self) -> f64 {
        self.coefficients[2] / (self.scale * self.scale)
    }

    /// The Bayesian information criterion of the fit (3 parameters): lower is better.
    pub fn bic(&self) -> f64 {
        bic(self.sse, self.n, 3)
    }

    /// The curvature in standard errors (its t statistic); 0 when the fit is exact and
    /// flat, infinite when exact and curved. As for a line's slope (see
    /// [`Line::slope_bounds`](crate::linear::Line::slope_bounds)), the standard error is
    /// taken with the effective number of points of AR(1) residuals: a wander bends
    /// every parabola through it, and its residuals, following each other, are a few
    /// dozen independent points where a week has thousands.
    pub fn curvature_t(&self) -> f64 {
        let se = self.half_width * self.inverse[2][2].max(0.0).sqrt();
        let c = self.coefficients[2];
        let se = se * (self.n as f64 / self.effective).sqrt();
        if se > 0.0 {
            c / se * self.t_quantile
        } else if c == 0.0 {
            0.0
        } else {
            c.signum() * f64::INFINITY
        }
    }

    /// The trend's value and prediction interval at `t_ms`.
    pub fn predict(&self, t_ms: i64) -> Prediction {
        let x = (t_ms - self.start_ms) as f64 / self.step_ms as f64;
        let u = (x - self.centre) / self.scale;
        let row = [1.0, u, u * u];
        let [a, b, c] = self.coefficients;
        let mean = a + b * u + c * u * u;
        new_observation(mean, &row, &self.inverse, self.half_width)
    }
}

/// 1 for an observed point, 0 for an interpolated one, and how many are observed; every
/// point weighs 1 when fewer than 4 are observed. Unlike `linear`, a point does not weigh
/// by its samples: the grid's buckets hold two or three samples by the phase of the
/// sampling against the grid, and the curvature test (see `auto`) should not turn on it.
fn observed_weights(grid: &Grid) -> (Vec<f64>, usize) {
    let observed = grid.weights.iter().filter(|&&w| w > 0.0).count();
    if observed < 4 {
        return (vec![1.0; grid.len()], grid.len());
    }
    let weights = grid
        .weights
        .iter()
        .map(|&w| if w > 0.0 { 1.0 } else { 0.0 })
        .collect();
    (weights, observed)
}

/// The inverse of a symmetric 3×3 matrix by cofactors; `None` when it is singular.
fn invert(m: [[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let cofactor = |r: usize, c: usize| {
        let (r1, r2) = ((r + 1) % 3, (r + 2) % 3);
        let (c1, c2) = ((c + 1) % 3, (c + 2) % 3);
        m[r1][c1] * m[r2][c2] - m[r1][c2] * m[r2][c1]
    };
    let det: f64 = (0..3).map(|c| m[0][c] * cofactor(0, c)).sum();
    let scale = m.iter().flatten().map(|v| v.abs()).fold(0.0, f64::max);
    if !det.is_finite() || det.abs() <= 1e-12 * scale * scale * scale {
        return None;
    }
    // The inverse is the transposed cofactor matrix over the determinant.
    Some(std::array::from_fn(|i| {
        std::array::from_fn(|j| cofactor(j, i) / det)
    }))
}

/// The Bayesian information criterion of a least-squares fit with `k` parameters and
/// `sse` over `n` points.
pub(crate) fn bic(sse: f64, n: usize, k: usize) -> f64 {
    let n_f = n as f64;
    n_f * (sse.max(f64::MIN_POSITIVE) / n_f).ln() + k as f64 * n_f.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(values: Vec<f64>) -> Grid {
        Grid::even(0, 1_000, values)
    }

    #[test]
    fn an_exact_parabola_is_continued_exactly() {
        let f = |x: f64| 2.0 + 0.5 * x + 0.01 * x * x;
        let q = Quadratic::fit(&grid((0..100).map(|k| f(k as f64)).collect())).expect("fit");
        let p = q.predict(250_000);
        assert!((p.mean - f(250.0)).abs() < 1e-6, "{p:?}");
        assert!(p.upper - p.lower < 1e-6, "{p:?}");
        assert!((q.curvature() - 0.01).abs() < 1e-12, "{}", q.curvature());
    }

    #[test]
    fn the_band_widens_away_from_the_data() {
        let values = (0..60)
            .map(|k| k as f64 + if k % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let q = Quadratic::fit(&grid(values)).expect("fit");
        let near = q.predict(60_000);
        let far = q.predict(200_000);
        assert!(near.lower < near.mean && near.mean < near.upper, "{near:?}");
        assert!(
            far.upper - far.lower > 2.0 * (near.upper - near.lower),
            "{far:?}"
        );
    }

    #[test]
    fn a_filled_gap_is_not_a_bend() {
        // A line, with a gap whose fill runs off it (to a few high samples after it): the
        // fill weighs nothing, and the fit is the line with no curvature.
        let mut g = grid((0..100).map(|k| 0.5 * k as f64).collect());
        for k in 80..97 {
            g.values[k] += 0.2 * (k - 79) as f64;
            g.weights[k] = 0.0;
        }
        let q = Quadratic::fit(&g).expect("fit");
        assert!(q.curvature().abs() < 1e-9, "{}", q.curvature());
        assert!((q.predict(150_000).mean - 75.0).abs() < 1e-6);
    }

    #[test]
    fn a_wander_is_no_evidence_of_curvature() {
        // A week every 5 minutes of a random walk (its steps hourly) and of a parabola
        // under white noise as large as the walk's typical excursion. Both bend, but the
        // walk's residuals follow each other: a few dozen independent points, not 2,016.
        let (n, hour) = (2016, 12);
        let mut clear = 0;
        let mut walks = 0;
        for seed in 1..=20 {
            let mut noise = crate::tests::noise(seed);
            let mut level = 0.0;
            let walk: Vec<f64> = (0..n)
                .map(|k| {
                    if k % hour == 0 {
                        level += noise();
                    }
                    level
                })
                .collect();
            let spread = {
                let line = crate::stats::least_squares(&walk);
                let sse: f64 = (0..n)
                    .map(|k| (walk[k] - line.0 - line.1 * k as f64).powi(2))
                    .sum();
                (sse / n as f64).sqrt()
            };
            let x = |k: usize| k as f64 / n as f64;
            let parabola: Vec<f64> = (0..n)
                .map(|k| 20.0 * spread * x(k) * x(k) + spread * noise())
                .collect();
            walks += usize::from(
                Quadratic::fit(&grid(walk))
                    .expect("fit")
                    .curvature_t()
                    .abs()
                    > 4.0,
            );
            clear += usize::from(Quadratic::fit(&grid(parabola)).expect("fit").curvature_t() > 4.0);
        }
        assert_eq!(clear, 20);
        assert!(walks <= 2, "{walks} of 20 walks bend clearly");
    }

    #[test]
    fn three_points_are_not_enough() {
        assert!(Quadratic::fit(&grid(vec![1.0, 2.0, 4.0])).is_err());
    }
}
