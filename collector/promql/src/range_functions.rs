//! Functions over a window of samples: `rate`, `increase`, `deriv`, `*_over_time`, …
//!
//! Each function reproduces Prometheus 2.42 to the last bit where that is practical: the
//! same formulas, evaluated in the same order, with the same compensated (Kahan–Neumaier)
//! sums, because the differential tests compare results to 1e-9 relative and users
//! compare dashboards side by side.
//!
//! # Layout
//! - [`RangeFunction`] names the functions and [`apply`] dispatches to them.
//! - `rate`: `rate`/`increase`/`delta` (extrapolated), `irate`/`idelta`.
//! - `regression`: `deriv` and `predict_linear` (least squares).
//! - `over_time`: `*_over_time`, `resets`, `changes`, and [`quantile`].

mod over_time;
mod rate;
mod regression;

pub use over_time::quantile;

/// A function that turns a range of samples into one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RangeFunction {
    /// `rate(v[r])`: per-second increase of a counter, extrapolated to the window edges.
    Rate,
    /// `increase(v[r])`: increase of a counter, extrapolated to the window edges.
    Increase,
    /// `delta(v[r])`: change of a gauge, extrapolated to the window edges.
    Delta,
    /// `irate(v[r])`: per-second increase between the last two samples.
    Irate,
    /// `idelta(v[r])`: change between the last two samples.
    Idelta,
    /// `deriv(v[r])`: per-second slope of the least-squares line.
    Deriv,
    /// `predict_linear(v[r], t)`: the least-squares line's value `t` seconds after the
    /// evaluation time.
    PredictLinear,
    /// `resets(v[r])`: how many times the value went down.
    Resets,
    /// `changes(v[r])`: how many times the value changed.
    Changes,
    /// `avg_over_time(v[r])`
    AvgOverTime,
    /// `min_over_time(v[r])`
    MinOverTime,
    /// `max_over_time(v[r])`
    MaxOverTime,
    /// `sum_over_time(v[r])`
    SumOverTime,
    /// `count_over_time(v[r])`
    CountOverTime,
    /// `last_over_time(v[r])`
    LastOverTime,
    /// `stddev_over_time(v[r])`: population standard deviation.
    StddevOverTime,
    /// `stdvar_over_time(v[r])`: population variance.
    StdvarOverTime,
    /// `present_over_time(v[r])`: 1 for every series with a sample in the window.
    PresentOverTime,
    /// `quantile_over_time(φ, v[r])`
    QuantileOverTime,
    /// `holt_winters(v[r], sf, tf)`: double exponential smoothing (Prometheus 2.x name).
    HoltWinters,
    /// `absent_over_time(v[r])`: 1 where no series has a sample in the window (the
    /// evaluator builds that series; per series this is 1 like `present_over_time`).
    AbsentOverTime,
}

/// Every function with its PromQL name, for [`RangeFunction::from_name`] and
/// [`RangeFunction::name`].
const NAMES: [(&str, RangeFunction); 21] = [
    ("rate", RangeFunction::Rate),
    ("increase", RangeFunction::Increase),
    ("delta", RangeFunction::Delta),
    ("irate", RangeFunction::Irate),
    ("idelta", RangeFunction::Idelta),
    ("deriv", RangeFunction::Deriv),
    ("predict_linear", RangeFunction::PredictLinear),
    ("resets", RangeFunction::Resets),
    ("changes", RangeFunction::Changes),
    ("avg_over_time", RangeFunction::AvgOverTime),
    ("min_over_time", RangeFunction::MinOverTime),
    ("max_over_time", RangeFunction::MaxOverTime),
    ("sum_over_time", RangeFunction::SumOverTime),
    ("count_over_time", RangeFunction::CountOverTime),
    ("last_over_time", RangeFunction::LastOverTime),
    ("stddev_over_time", RangeFunction::StddevOverTime),
    ("stdvar_over_time", RangeFunction::StdvarOverTime),
    ("present_over_time", RangeFunction::PresentOverTime),
    ("quantile_over_time", RangeFunction::QuantileOverTime),
    ("holt_winters", RangeFunction::HoltWinters),
    ("absent_over_time", RangeFunction::AbsentOverTime),
];

impl RangeFunction {
    /// The function called `name`, if it is one of these.
    pub fn from_name(name: &str) -> Option<Self> {
        NAMES.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// The function's PromQL name.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("unknown", |(n, _)| n)
    }

    /// Where the function's first scalar argument sits among its arguments, if it has
    /// one: `quantile_over_time(φ, v[r])` has it first (index 0), `predict_linear(v[r],
    /// t)` and `holt_winters(v[r], sf, tf)` second (index 1). The range vector is the
    /// argument that is not a scalar.
    pub fn scalar_arg_index(self) -> Option<usize> {
        match self {
            RangeFunction::QuantileOverTime => Some(0),
            RangeFunction::PredictLinear | RangeFunction::HoltWinters => Some(1),
            _ => None,
        }
    }
}

/// Applies `f` to `window` (samples with `range_start_ms <= t <= range_end_ms`, oldest
/// first, stale markers removed). `eval_ms` is the evaluation time (before any offset);
/// `args` are the scalar arguments in order: `t` of `predict_linear`, φ of
/// `quantile_over_time`, `sf` and `tf` of `holt_winters` (a missing one reads as NaN).
/// `None` means no output sample (as when a window has too few samples). `holt_winters`
/// expects factors already checked with [`check_holt_winters`].
pub fn apply(
    f: RangeFunction,
    window: &[(i64, f64)],
    range_start_ms: i64,
    range_end_ms: i64,
    eval_ms: i64,
    args: &[f64],
) -> Option<f64> {
    let span = (range_start_ms, range_end_ms, eval_ms);
    apply_to_series(f, window, span, args, Drops::Maybe)
}

/// Whether the series a window comes from ever drops (a later sample below an earlier
/// one), as far as the caller knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drops {
    /// No sample of the series is below the one before it: no window holds a counter
    /// reset, and `rate` and `increase` need not look for one.
    Never,
    /// Unknown, or it does: every window is searched.
    Maybe,
}

impl Drops {
    /// What `samples` (a whole series, oldest first) say.
    pub fn of(samples: &[(i64, f64)]) -> Self {
        if samples.windows(2).any(|pair| pair[1].1 < pair[0].1) {
            Drops::Maybe
        } else {
            Drops::Never
        }
    }
}

/// [`apply`] with the window's range start, range end and evaluation time as `span`, and
/// what is known of the series' drops: over a fleet `rate` is evaluated millions of times,
/// and looking for resets in every window was a fifth of its cost where there are none
/// (knowing changes no answer: a reset only adds to the result where there is one).
pub fn apply_to_series(
    f: RangeFunction,
    window: &[(i64, f64)],
    (range_start_ms, range_end_ms, eval_ms): (i64, i64, i64),
    args: &[f64],
    drops: Drops,
) -> Option<f64> {
    let arg = args.first().copied().unwrap_or(f64::NAN);
    // Prometheus never calls a range function on a series with no sample in the window.
    if window.is_empty() {
        return None;
    }
    let range = rate::Range {
        start_ms: range_start_ms,
        end_ms: range_end_ms,
    };
    match f {
        RangeFunction::Rate => rate::extrapolated(window, range, Some(drops), true),
        RangeFunction::Increase => rate::extrapolated(window, range, Some(drops), false),
        RangeFunction::Delta => rate::extrapolated(window, range, None, false),
        RangeFunction::Irate => rate::instant(window, true),
        RangeFunction::Idelta => rate::instant(window, false),
        RangeFunction::Deriv => regression::deriv(window),
        RangeFunction::PredictLinear => regression::predict_linear(window, eval_ms, arg),
        RangeFunction::Resets => Some(over_time::resets(window)),
        RangeFunction::Changes => Some(over_time::changes(window)),
        RangeFunction::AvgOverTime => Some(over_time::avg(window)),
        RangeFunction::MinOverTime => Some(over_time::min(window)),
        RangeFunction::MaxOverTime => Some(over_time::max(window)),
        RangeFunction::SumOverTime => Some(over_time::sum(window)),
        RangeFunction::CountOverTime => Some(window.len() as f64),
        RangeFunction::LastOverTime => window.last().map(|&(_, v)| v),
        RangeFunction::StddevOverTime => Some(over_time::stdvar(window).sqrt()),
        RangeFunction::StdvarOverTime => Some(over_time::stdvar(window)),
        RangeFunction::PresentOverTime | RangeFunction::AbsentOverTime => Some(1.0),
        RangeFunction::HoltWinters => {
            over_time::holt_winters(window, arg, args.get(1).copied().unwrap_or(f64::NAN))
        }
        RangeFunction::QuantileOverTime => {
            let mut values: Vec<f64> = window.iter().map(|&(_, v)| v).collect();
            Some(quantile(arg, &mut values))
        }
    }
}

/// Checks `holt_winters`' smoothing factor `sf` and trend factor `tf` (neither may be
/// ≤ 0 or ≥ 1; NaN passes), with Prometheus 2.42's messages. Prometheus checks only
/// when a series has a sample in the window, so the caller does too.
pub fn check_holt_winters(sf: f64, tf: f64) -> Result<(), String> {
    // As Go writes it, so NaN passes (and makes the result NaN).
    if sf <= 0.0 || sf >= 1.0 {
        return Err(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
            go_fixed6(sf)
        ));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {}",
            go_fixed6(tf)
        ));
    }
    Ok(())
}

/// Go's `%f`: six decimals, `NaN`, `+Inf`, `-Inf`.
fn go_fixed6(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v:.6}")
    }
}

/// Adds `inc` to the compensated sum `(sum, c)` (Kahan summation with Neumaier's
/// improvement, as Prometheus 2.42's `kahanSumInc`); the sum's value is `sum + c`.
pub(crate) fn kahan_add(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

#[cfg(test)]
mod tests;
