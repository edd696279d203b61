//! `deriv` and `predict_linear`: a least-squares line through the window's samples.
//!
//! As in Prometheus 2.42, x is seconds relative to an intercept time (the first sample's
//! time for `deriv`, the evaluation time for `predict_linear`), which keeps the sums
//! small enough for float64; every sum is compensated (Kahan–Neumaier); a window whose
//! values are all equal gets slope 0 exactly (NaN when that value is infinite).

use super::kahan_add;

/// `deriv(v[r])`: the per-second slope; `None` under two samples.
pub(super) fn deriv(window: &[(i64, f64)]) -> Option<f64> {
    let &(first_t, _) = window.first()?;
    if window.len() < 2 {
        return None;
    }
    Some(least_squares(window, first_t).0)
}

/// `predict_linear(v[r], t)`: the line's value `t` seconds after `eval_ms`; `None` under
/// two samples.
pub(super) fn predict_linear(window: &[(i64, f64)], eval_ms: i64, t: f64) -> Option<f64> {
    if window.len() < 2 {
        return None;
    }
    let (slope, intercept) = least_squares(window, eval_ms);
    Some(slope * t + intercept)
}

/// The least-squares line through `samples` (at least one): its slope per second and
/// its value at `intercept_ms`.
fn least_squares(samples: &[(i64, f64)], intercept_ms: i64) -> (f64, f64) {
    let first_v = samples.first().map_or(f64::NAN, |&(_, v)| v);
    let mut constant = true;
    let mut n = 0.0;
    let (mut sum_x, mut c_x) = (0.0, 0.0);
    let (mut sum_y, mut c_y) = (0.0, 0.0);
    let (mut sum_xy, mut c_xy) = (0.0, 0.0);
    let (mut sum_x2, mut c_x2) = (0.0, 0.0);
    for (i, &(t, v)) in samples.iter().enumerate() {
        // Like Go's `!=`, so a NaN makes the window non-constant.
        if constant && i > 0 && v != first_v {
            constant = false;
        }
        n += 1.0;
        let x = (t - intercept_ms) as f64 / 1e3;
        (sum_x, c_x) = kahan_add(x, sum_x, c_x);
        (sum_y, c_y) = kahan_add(v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_add(x * v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_add(x * x, sum_x2, c_x2);
    }
    if constant {
        if first_v.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, first_v);
    }
    let sum_x = sum_x + c_x;
    let sum_y = sum_y + c_y;
    let sum_xy = sum_xy + c_xy;
    let sum_x2 = sum_x2 + c_x2;

    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}
