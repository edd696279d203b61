//! Small statistics the models share: least squares over grid positions, quantiles,
//! Student's t.

/// The standard normal's 97.5th percentile: a two-sided 95 % band is ± this many standard
/// deviations.
pub(crate) const Z_975: f64 = 1.959_963_984_540_054;

/// Least squares through `(k, values[k])`: `(intercept at k = 0, slope per step)`.
/// Sums are taken about the mean position, which keeps them well conditioned.
pub(crate) fn least_squares(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.len() < 2 {
        return (values.first().copied().unwrap_or(0.0), 0.0);
    }
    let x_mean = (n - 1.0) / 2.0;
    let y_mean = values.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (k, &y) in values.iter().enumerate() {
        let dx = k as f64 - x_mean;
        sxy += dx * (y - y_mean);
        sxx += dx * dx;
    }
    let slope = sxy / sxx;
    (y_mean - slope * x_mean, slope)
}

/// A centred moving average over `2·half + 1` points (fewer at the ends).
pub(crate) fn centred_mean(values: &[f64], half: usize) -> Vec<f64> {
    (0..values.len())
        .map(|k| {
            let window = &values[k.saturating_sub(half)..(k + half + 1).min(values.len())];
            window.iter().sum::<f64>() / window.len() as f64
        })
        .collect()
}

/// `n·ln(simple / rich)` for two residual sums of squares over `n` points, both raised by
/// a hair of `simple` so that exact fits compare finitely: what a richer fit gains in
/// log-likelihood. Against `extra parameters · ln n` (times a margin) it is the Bayesian
/// information criterion's test of whether the richer fit explains clearly more.
pub(crate) fn bic_gain(simple: f64, rich: f64, n: f64) -> f64 {
    let floor = 1e-12 * simple.max(f64::MIN_POSITIVE);
    n * ((simple + floor) / (rich + floor)).ln()
}

/// The residual sum of squares of [`least_squares`]' line through `values`.
pub(crate) fn line_sse(values: &[f64]) -> f64 {
    let (a, b) = least_squares(values);
    values
        .iter()
        .enumerate()
        .map(|(k, &v)| (v - a - b * k as f64).powi(2))
        .sum()
}

/// Weighted least squares through `(k, values[k])`, point k weighing `weights[k]`:
/// `(intercept at k = 0, slope per step)`. With no weight at all, ordinary least squares;
/// with all the weight at one position, that point's value and no slope.
pub(crate) fn weighted_least_squares(values: &[f64], weights: &[f64]) -> (f64, f64) {
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return least_squares(values);
    }
    let x_mean = weights
        .iter()
        .enumerate()
        .map(|(k, w)| w * k as f64)
        .sum::<f64>()
        / total;
    let y_mean = values.iter().zip(weights).map(|(y, w)| w * y).sum::<f64>() / total;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (k, (&y, &w)) in values.iter().zip(weights).enumerate() {
        let dx = k as f64 - x_mean;
        sxy += w * dx * (y - y_mean);
        sxx += w * dx * dx;
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (y_mean - slope * x_mean, slope)
}

/// The `p` quantile of sorted values (linear between order statistics, R's type 7).
pub(crate) fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * p.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// The `p` quantile as [`quantile_sorted`] computes it, by selection rather than a full
/// sort (linear time); reorders `values`.
pub(crate) fn quantile_select(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let h = (values.len() - 1) as f64 * p.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let (_, &mut at, above) = values.select_nth_unstable_by(lo, f64::total_cmp);
    let next = above.iter().copied().fold(f64::INFINITY, f64::min);
    if next.is_finite() {
        at + (h - lo as f64) * (next - at)
    } else {
        at
    }
}

/// Fewest effective points [`effective_points`] counts, however strongly the residuals
/// follow each other.
pub(crate) const MIN_EFFECTIVE: f64 = 4.0;

/// How many independent points `n` points whose `residuals` (in order) follow each other
/// are worth, taken as AR(1): `n·(1 − ρ)/(1 + ρ)` with ρ their lag-one autocorrelation
/// (0 when negative), at least [`MIN_EFFECTIVE`]. A day of a daily wave is about one
/// point, not 288.
pub(crate) fn effective_points(n: f64, residuals: &[f64]) -> f64 {
    let sse: f64 = residuals.iter().map(|r| r * r).sum();
    let lagged: f64 = residuals.windows(2).map(|w| w[0] * w[1]).sum();
    let rho = if sse > 0.0 {
        (lagged / sse).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (n * (1.0 - rho) / (1.0 + rho)).max(MIN_EFFECTIVE)
}

/// The median (mean of the middle two for an even count); reorders `values`.
pub(crate) fn median(values: &mut [f64]) -> f64 {
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    let (_, &mut upper, _) = values.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        return upper;
    }
    let lower = values[..n / 2]
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    (lower + upper) / 2.0
}

/// Student's t 97.5th percentile with `df` degrees of freedom (the half-width of a 95 %
/// interval in standard errors). Exact for 1 and 2 degrees of freedom; above that the
/// Cornish–Fisher expansion in 1/df to the fourth term (Abramowitz & Stegun 26.7.5), within
/// 0.12 % of the tables at 3 and closer from there on.
pub(crate) fn t_975(df: usize) -> f64 {
    match df {
        0 => f64::INFINITY,
        // tan(π (p − ½)) with p = 0.975.
        1 => (std::f64::consts::PI * 0.475).tan(),
        // (2p − 1) / sqrt(2 p (1 − p)).
        2 => 0.95 / (2.0 * 0.975 * 0.025_f64).sqrt(),
        _ => {
            let z = Z_975;
            let (z2, v) = (z * z, df as f64);
            let z3 = z2 * z;
            let z5 = z3 * z2;
            let z7 = z5 * z2;
            let z9 = z7 * z2;
            let g1 = (z3 + z) / 4.0;
            let g2 = (5.0 * z5 + 16.0 * z3 + 3.0 * z) / 96.0;
            let g3 = (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / 384.0;
            let g4 = (79.0 * z9 + 776.0 * z7 + 1482.0 * z5 - 1920.0 * z3 - 945.0 * z) / 92_160.0;
            z + g1 / v + g2 / (v * v) + g3 / (v * v * v) + g4 / (v * v * v * v)
        }
    }
}

/// The band of a new observation at design row `row` of a least-squares fit whose
/// (XᵀX)⁻¹ is `inverse` (its first `row.len()` rows and columns):
/// `mean ± half_width · √(1 + rowᵀ (XᵀX)⁻¹ row)`.
pub(crate) fn new_observation<const P: usize>(
    mean: f64,
    row: &[f64],
    inverse: &[[f64; P]],
    half_width: f64,
) -> crate::Prediction {
    let leverage: f64 = row
        .iter()
        .enumerate()
        .map(|(i, &ri)| {
            row.iter()
                .enumerate()
                .map(|(j, &rj)| ri * inverse[i][j] * rj)
                .sum::<f64>()
        })
        .sum();
    let width = half_width * (1.0 + leverage.max(0.0)).sqrt();
    crate::Prediction {
        mean,
        lower: mean - width,
        upper: mean + width,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_the_tables() {
        // Student's t, two-sided 95 %, from any statistics table.
        let table = [
            (1, 12.706),
            (2, 4.303),
            (3, 3.182),
            (4, 2.776),
            (5, 2.571),
            (10, 2.228),
            (30, 2.042),
            (120, 1.980),
        ];
        for (df, t) in table {
            let got = t_975(df);
            assert!((got - t).abs() / t < 0.0012, "df {df}: {got} vs {t}");
        }
        assert!((t_975(1_000_000) - Z_975).abs() < 1e-5);
    }

    #[test]
    fn least_squares_of_a_line_is_the_line() {
        let values: Vec<f64> = (0..10).map(|k| 3.0 + 0.5 * k as f64).collect();
        let (a, b) = least_squares(&values);
        assert!(
            (a - 3.0).abs() < 1e-12 && (b - 0.5).abs() < 1e-12,
            "{a} {b}"
        );
    }

    #[test]
    fn medians_and_quantiles() {
        assert_eq!(median(&mut [5.0, 1.0, 3.0]), 3.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        let sorted = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile_sorted(&sorted, 0.5), 3.0);
        assert_eq!(quantile_sorted(&sorted, 0.125), 1.5);
        assert_eq!(quantile_sorted(&sorted, 1.0), 5.0);
        for p in [0.0, 0.125, 0.3, 0.5, 0.975, 1.0] {
            let mut shuffled = [4.0, 1.0, 5.0, 3.0, 2.0];
            assert_eq!(
                quantile_select(&mut shuffled, p),
                quantile_sorted(&sorted, p),
                "{p}"
            );
        }
    }
}
