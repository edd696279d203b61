//! Aggregations over a window (`avg`/`min`/`max`/`sum`/`stddev`/`stdvar_over_time`),
//! `resets`, `changes`, and the φ-quantile shared with the `quantile` aggregation.
//!
//! Every function here takes a non-empty window. The sums are compensated
//! (Kahan–Neumaier) and the mean and variance incremental (Welford), in the same order
//! of operations as Prometheus 2.42, so results agree to the last bit or nearly.

use super::kahan_add;

/// `avg_over_time`: an incremental mean with a compensated sum. Once the mean is
/// infinite it stays so, unless a NaN or an infinity of the other sign arrives (which
/// the incremental update turns into NaN, as in Prometheus).
pub(super) fn avg(window: &[(i64, f64)]) -> f64 {
    let (mut mean, mut c, mut count) = (0.0_f64, 0.0, 0.0);
    for &(_, v) in window {
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan_add(v / count - mean / count, mean, c);
    }
    if mean.is_infinite() { mean } else { mean + c }
}

/// `sum_over_time`: a compensated sum (an infinite sum is returned as is, since adding
/// the compensation would turn it into NaN).
pub(super) fn sum(window: &[(i64, f64)]) -> f64 {
    let (mut sum, mut c) = (0.0_f64, 0.0);
    for &(_, v) in window {
        (sum, c) = kahan_add(v, sum, c);
    }
    if sum.is_infinite() { sum } else { sum + c }
}

/// `min_over_time`: NaN only when every value is NaN (a NaN is replaced by any number).
pub(super) fn min(window: &[(i64, f64)]) -> f64 {
    let mut min = window.first().map_or(f64::NAN, |&(_, v)| v);
    for &(_, v) in window {
        if v < min || min.is_nan() {
            min = v;
        }
    }
    min
}

/// `max_over_time`: NaN only when every value is NaN.
pub(super) fn max(window: &[(i64, f64)]) -> f64 {
    let mut max = window.first().map_or(f64::NAN, |&(_, v)| v);
    for &(_, v) in window {
        if v > max || max.is_nan() {
            max = v;
        }
    }
    max
}

/// `stdvar_over_time`: population variance by Welford's method, with the running mean
/// and the sum of squared deviations both compensated.
pub(super) fn stdvar(window: &[(i64, f64)]) -> f64 {
    let mut count = 0.0;
    let (mut mean, mut c_mean) = (0.0, 0.0);
    let (mut aux, mut c_aux) = (0.0, 0.0);
    for &(_, v) in window {
        count += 1.0;
        let delta = v - (mean + c_mean);
        (mean, c_mean) = kahan_add(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_add(delta * (v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// `resets`: how many times a value is below the one before it.
pub(super) fn resets(window: &[(i64, f64)]) -> f64 {
    window.windows(2).filter(|p| p[1].1 < p[0].1).count() as f64
}

/// `changes`: how many times a value differs from the one before it (NaN after NaN is no
/// change).
pub(super) fn changes(window: &[(i64, f64)]) -> f64 {
    window
        .windows(2)
        .filter(|p| {
            let (prev, cur) = (p[0].1, p[1].1);
            cur != prev && !(cur.is_nan() && prev.is_nan())
        })
        .count() as f64
}

/// `holt_winters(v[r], sf, tf)`: double exponential smoothing (Prometheus 2.42's
/// formula: the first trend is the first difference, each step blends the value with
/// the previous level plus trend); `None` under two samples.
pub(super) fn holt_winters(window: &[(i64, f64)], sf: f64, tf: f64) -> Option<f64> {
    if window.len() < 2 {
        return None;
    }
    let mut previous = 0.0; // the level one step back (0 before the first step)
    let mut level = window[0].1;
    let mut trend = window[1].1 - window[0].1;
    for (i, &(_, v)) in window.iter().enumerate().skip(1) {
        let scaled = sf * v;
        if i > 1 {
            trend = tf * (level - previous) + (1.0 - tf) * trend;
        }
        let smoothed = (1.0 - sf) * (level + trend);
        previous = level;
        level = scaled + smoothed;
    }
    Some(level)
}

/// The φ-quantile of `values` as Prometheus computes it (linear interpolation between
/// the closest ranks); NaN for an empty set, ±Inf for φ outside [0, 1]. Reorders `values`.
///
/// NaN values sort below every number, as in Prometheus, so a low quantile of a set with
/// NaNs is NaN.
pub fn quantile(phi: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || phi.is_nan() {
        return f64::NAN;
    }
    if phi < 0.0 {
        return f64::NEG_INFINITY;
    }
    if phi > 1.0 {
        return f64::INFINITY;
    }
    values.sort_unstable_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        (false, false) => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = phi * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (n - 1.0).min(lower + 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}
