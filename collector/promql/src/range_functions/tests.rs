//! Hand-computed cases for every range function. (The same code also agreed bit for bit
//! with Prometheus 2.42 on ~100,000 randomised windows; see the report of issue 3.)

use super::*;
use RangeFunction as F;

const S: i64 = 1000;

/// Samples at `(seconds, value)`.
fn w(points: &[(i64, f64)]) -> Vec<(i64, f64)> {
    points.iter().map(|&(t, v)| (t * S, v)).collect()
}

/// `f` over `window` for the range `[start_s, end_s]` seconds, evaluated at `end_s`.
fn run(f: RangeFunction, window: &[(i64, f64)], start_s: i64, end_s: i64, arg: f64) -> Option<f64> {
    apply(f, window, start_s * S, end_s * S, end_s * S, &[arg])
}

fn assert_close(got: Option<f64>, want: f64) {
    let got = got.unwrap_or_else(|| panic!("no value, want {want}"));
    if want.is_nan() {
        assert!(got.is_nan(), "got {got}, want NaN");
    } else if want.is_infinite() {
        assert_eq!(got, want);
    } else {
        let tolerance = 1e-12 * want.abs().max(1e-300);
        assert!((got - want).abs() <= tolerance, "got {got}, want {want}");
    }
}

#[test]
fn names_round_trip() {
    for (name, f) in NAMES {
        assert_eq!(RangeFunction::from_name(name), Some(f));
        assert_eq!(f.name(), name);
    }
    assert_eq!(RangeFunction::from_name("mad_over_time"), None);
    assert_eq!(RangeFunction::from_name("rate "), None);
    assert_eq!(F::QuantileOverTime.scalar_arg_index(), Some(0));
    assert_eq!(F::PredictLinear.scalar_arg_index(), Some(1));
    assert_eq!(F::Rate.scalar_arg_index(), None);
}

#[test]
fn rate_with_samples_on_the_window_edges_is_plain_slope() {
    // Counter equal to the time in seconds, samples at 0, 10, …, 60 on [0, 60].
    let win: Vec<_> = (0..=6).map(|i| (i * 10 * S, (i * 10) as f64)).collect();
    assert_close(run(F::Increase, &win, 0, 60, f64::NAN), 60.0);
    assert_close(run(F::Rate, &win, 0, 60, f64::NAN), 1.0);
    assert_close(run(F::Delta, &win, 0, 60, f64::NAN), 60.0);
}

#[test]
fn rate_extrapolates_unaligned_samples_to_the_edges() {
    // Samples at 5, 15, …, 55 (100, 110, …, 150) on [0, 60]: 5 s short at each end, under
    // 1.1 × 10 s, so the 50 seen over 50 s stretches to 60 s.
    let win = w(&[
        (5, 100.0),
        (15, 110.0),
        (25, 120.0),
        (35, 130.0),
        (45, 140.0),
        (55, 150.0),
    ]);
    assert_close(run(F::Increase, &win, 0, 60, f64::NAN), 60.0);
    assert_close(run(F::Rate, &win, 0, 60, f64::NAN), 1.0);
}

#[test]
fn counter_extrapolation_stops_at_zero() {
    // 5, 15, 25 at 20, 30, 40 s on [0, 60]: the line reaches zero 5 s before the first
    // sample, so the start stretches 5 s (not 20 s, which is over the 11 s threshold
    // anyway); the end is 20 s away, over the threshold, so it stretches half a spacing.
    // 20 × (20 + 5 + 5) / 20 = 30.
    let win = w(&[(20, 5.0), (30, 15.0), (40, 25.0)]);
    assert_close(run(F::Increase, &win, 0, 60, f64::NAN), 30.0);
    assert_close(run(F::Rate, &win, 0, 60, f64::NAN), 0.5);
    // delta knows nothing of counters. With samples 5 s from each edge of [0, 20]:
    // increase stretches the start only 1 s (to zero), 10 × 16 / 10; delta 10 × 20 / 10.
    let win = w(&[(5, 1.0), (15, 11.0)]);
    assert_close(run(F::Increase, &win, 0, 20, f64::NAN), 16.0);
    assert_close(run(F::Delta, &win, 0, 20, f64::NAN), 20.0);
}

#[test]
fn window_larger_than_the_data_stretches_half_a_spacing_each_side() {
    // 4 samples 10 s apart from 100 s to 130 s on [0, 300]: 30 seen over 30 s becomes
    // 30 × (30 + 5 + 5) / 30 = 40.
    let win = w(&[(100, 1000.0), (110, 1010.0), (120, 1020.0), (130, 1030.0)]);
    assert_close(run(F::Increase, &win, 0, 300, f64::NAN), 40.0);
    assert_close(run(F::Rate, &win, 0, 300, f64::NAN), 40.0 / 300.0);
    assert_close(run(F::Delta, &win, 0, 300, f64::NAN), 40.0);
}

#[test]
fn counter_resets_add_the_value_before_the_drop() {
    // 10, 20, 5, 15 on [0, 30]: 15 − 10 + 20 = 25; delta ignores the reset.
    let win = w(&[(0, 10.0), (10, 20.0), (20, 5.0), (30, 15.0)]);
    assert_close(run(F::Increase, &win, 0, 30, f64::NAN), 25.0);
    assert_close(run(F::Rate, &win, 0, 30, f64::NAN), 25.0 / 30.0);
    assert_close(run(F::Delta, &win, 0, 30, f64::NAN), 5.0);
    assert_close(run(F::Resets, &win, 0, 30, f64::NAN), 1.0);
}

#[test]
fn rate_divides_by_an_odd_range_like_go() {
    // Range of 61.001 s, samples on both edges: the result is 61.001 / 61.001.
    let win = vec![(0, 0.0), (61_001, 61.001)];
    assert_close(apply(F::Rate, &win, 0, 61_001, 61_001, &[]), 1.0);
}

#[test]
fn two_sample_functions_need_two_samples() {
    let one = w(&[(10, 5.0)]);
    for f in [
        F::Rate,
        F::Increase,
        F::Delta,
        F::Irate,
        F::Idelta,
        F::Deriv,
        F::PredictLinear,
    ] {
        assert_eq!(run(f, &one, 0, 60, 1.0), None, "{}", f.name());
    }
    for f in [
        F::AvgOverTime,
        F::SumOverTime,
        F::CountOverTime,
        F::LastOverTime,
        F::Resets,
    ] {
        assert!(run(f, &one, 0, 60, f64::NAN).is_some(), "{}", f.name());
    }
    assert_close(run(F::StdvarOverTime, &one, 0, 60, f64::NAN), 0.0);
    for f in NAMES.map(|(_, f)| f) {
        assert_eq!(run(f, &[], 0, 60, 0.5), None, "{} on no samples", f.name());
    }
}

#[test]
fn irate_and_idelta_use_the_last_two_samples() {
    let win = w(&[(0, 100.0), (10, 20.0), (12, 30.0)]);
    assert_close(run(F::Irate, &win, 0, 60, f64::NAN), 5.0);
    assert_close(run(F::Idelta, &win, 0, 60, f64::NAN), 10.0);
    // A drop is a reset for irate (the increase is the new value), not for idelta.
    let win = w(&[(0, 10.0), (10, 20.0), (15, 5.0)]);
    assert_close(run(F::Irate, &win, 0, 60, f64::NAN), 1.0);
    assert_close(run(F::Idelta, &win, 0, 60, f64::NAN), -15.0);
}

#[test]
fn deriv_and_predict_linear_fit_a_line() {
    // y = 1 + 0.2 t.
    let win = w(&[(0, 1.0), (10, 3.0), (20, 5.0)]);
    assert_close(run(F::Deriv, &win, 0, 20, f64::NAN), 0.2);
    // From the evaluation time (20 s, y = 5), 10 s ahead: 7; 0 s ahead: 5.
    assert_close(run(F::PredictLinear, &win, 0, 20, 10.0), 7.0);
    assert_close(run(F::PredictLinear, &win, 0, 20, 0.0), 5.0);
    // Evaluated later than the last sample (an offset, say): the intercept moves too.
    assert_close(
        apply(F::PredictLinear, &win, 0, 20 * S, 50 * S, &[0.0]),
        11.0,
    );
    // Noisy: points (0,1), (10,2), (20,6): slope = cov/var = 50/200 = 0.25.
    let win = w(&[(0, 1.0), (10, 2.0), (20, 6.0)]);
    assert_close(run(F::Deriv, &win, 0, 20, f64::NAN), 0.25);
    // Mean 3 at 10 s, so at 20 s: 3 + 2.5 = 5.5.
    assert_close(run(F::PredictLinear, &win, 0, 20, 0.0), 5.5);
}

#[test]
fn regression_of_a_constant_is_exactly_flat() {
    let win = w(&[(0, 1e15 + 0.3), (10, 1e15 + 0.3), (20, 1e15 + 0.3)]);
    assert_eq!(run(F::Deriv, &win, 0, 20, f64::NAN), Some(0.0));
    assert_eq!(run(F::PredictLinear, &win, 0, 20, 100.0), Some(1e15 + 0.3));
    let inf = w(&[(0, f64::INFINITY), (10, f64::INFINITY)]);
    assert_close(run(F::Deriv, &inf, 0, 20, f64::NAN), f64::NAN);
}

#[test]
fn averages_and_sums() {
    let win = w(&[(0, 1.0), (1, 2.0), (2, 3.0), (3, 4.0)]);
    assert_close(run(F::AvgOverTime, &win, 0, 3, f64::NAN), 2.5);
    assert_close(run(F::SumOverTime, &win, 0, 3, f64::NAN), 10.0);
    assert_close(run(F::CountOverTime, &win, 0, 3, f64::NAN), 4.0);
    assert_close(run(F::LastOverTime, &win, 0, 3, f64::NAN), 4.0);
    assert_close(run(F::PresentOverTime, &win, 0, 3, f64::NAN), 1.0);
    // The compensated sum keeps the small terms a naive sum loses.
    let win = w(&[(0, 1.0), (1, 1e100), (2, 1.0), (3, -1e100)]);
    assert_close(run(F::SumOverTime, &win, 0, 3, f64::NAN), 2.0);
}

#[test]
fn averages_with_infinities_and_nan() {
    let avg = |vals: &[f64]| {
        let win: Vec<_> = vals
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as i64, v))
            .collect();
        apply(F::AvgOverTime, &win, 0, 10, 10, &[])
    };
    assert_close(avg(&[1.0, f64::INFINITY, 3.0]), f64::INFINITY);
    assert_close(
        avg(&[f64::NEG_INFINITY, 1.0, f64::NEG_INFINITY]),
        f64::NEG_INFINITY,
    );
    assert_close(avg(&[f64::INFINITY, f64::NEG_INFINITY]), f64::NAN);
    assert_close(avg(&[1.0, f64::NAN, 3.0]), f64::NAN);
    let sum = apply(
        F::SumOverTime,
        &[(0, 1.0), (1, f64::INFINITY)],
        0,
        1,
        1,
        &[],
    );
    assert_close(sum, f64::INFINITY);
}

#[test]
fn min_and_max_skip_nan_unless_all_nan() {
    let win = w(&[(0, f64::NAN), (1, 3.0), (2, 1.0)]);
    assert_close(run(F::MinOverTime, &win, 0, 2, f64::NAN), 1.0);
    assert_close(run(F::MaxOverTime, &win, 0, 2, f64::NAN), 3.0);
    let win = w(&[(0, 2.0), (1, f64::NAN), (2, 1.0)]);
    assert_close(run(F::MinOverTime, &win, 0, 2, f64::NAN), 1.0);
    assert_close(run(F::MaxOverTime, &win, 0, 2, f64::NAN), 2.0);
    let win = w(&[(0, f64::NAN), (1, f64::NAN)]);
    assert_close(run(F::MinOverTime, &win, 0, 2, f64::NAN), f64::NAN);
    assert_close(run(F::MaxOverTime, &win, 0, 2, f64::NAN), f64::NAN);
}

#[test]
fn stddev_and_stdvar_are_population_statistics() {
    let vals = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
    let win: Vec<_> = vals
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as i64 * S, v))
        .collect();
    assert_close(run(F::StdvarOverTime, &win, 0, 7, f64::NAN), 4.0);
    assert_close(run(F::StddevOverTime, &win, 0, 7, f64::NAN), 2.0);
    // Large offset, small spread: Welford keeps the variance exact here.
    let win = w(&[(0, 1e9 + 1.0), (1, 1e9 + 2.0), (2, 1e9 + 3.0)]);
    assert_close(run(F::StdvarOverTime, &win, 0, 2, f64::NAN), 2.0 / 3.0);
}

#[test]
fn resets_and_changes_count_steps() {
    let win = w(&[(0, 3.0), (1, 1.0), (2, 2.0), (3, 0.0), (4, 0.0)]);
    assert_close(run(F::Resets, &win, 0, 4, f64::NAN), 2.0);
    assert_close(run(F::Changes, &win, 0, 4, f64::NAN), 3.0);
    // NaN differs from a number, but NaN after NaN is no change.
    let win = w(&[
        (0, 1.0),
        (1, 1.0),
        (2, 2.0),
        (3, f64::NAN),
        (4, f64::NAN),
        (5, 3.0),
    ]);
    assert_close(run(F::Changes, &win, 0, 5, f64::NAN), 3.0);
}

#[test]
fn quantile_interpolates_between_ranks() {
    let q = |phi: f64, vals: &[f64]| quantile(phi, &mut vals.to_vec());
    assert_eq!(q(0.5, &[4.0, 1.0, 3.0, 2.0]), 2.5);
    assert_eq!(q(0.0, &[4.0, 1.0, 3.0, 2.0]), 1.0);
    assert_eq!(q(1.0, &[4.0, 1.0, 3.0, 2.0]), 4.0);
    assert_eq!(
        q(
            0.9,
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]
        ),
        10.0
    );
    assert_eq!(q(0.25, &[10.0]), 10.0);
    assert_eq!(q(-0.1, &[1.0]), f64::NEG_INFINITY);
    assert_eq!(q(1.1, &[1.0]), f64::INFINITY);
    assert!(q(f64::NAN, &[1.0]).is_nan());
    assert!(q(0.5, &[]).is_nan());
    // NaN sorts first.
    assert!(q(0.0, &[2.0, f64::NAN, 1.0]).is_nan());
    assert_eq!(q(1.0, &[2.0, f64::NAN, 1.0]), 2.0);
    assert_eq!(q(0.75, &[2.0, f64::NAN, 1.0]), 1.5);
    let win = w(&[(0, 4.0), (1, 1.0), (2, 3.0), (3, 2.0)]);
    assert_close(run(F::QuantileOverTime, &win, 0, 3, 0.5), 2.5);
    assert_close(run(F::QuantileOverTime, &win, 0, 3, 2.0), f64::INFINITY);
}

#[test]
fn a_series_that_never_drops_gives_the_same_rates_unsearched() {
    let steady = w(&[
        (0, 1.5),
        (10, 2.25),
        (20, 2.25),
        (30, 7.0),
        (40, f64::NAN),
        (50, 9.0),
    ]);
    assert_eq!(Drops::of(&steady[..4]), Drops::Never);
    let reset = w(&[(0, 5.0), (10, 8.0), (20, 1.0), (30, 4.0)]);
    assert_eq!(Drops::of(&reset), Drops::Maybe);
    for f in [F::Rate, F::Increase, F::Delta] {
        for window in [&steady[..4], &steady[1..3]] {
            let searched = apply(f, window, 0, 40 * S, 40 * S, &[]).map(f64::to_bits);
            let known = apply_to_series(f, window, (0, 40 * S, 40 * S), &[], Drops::Never);
            assert_eq!(known.map(f64::to_bits), searched, "{f:?}");
        }
    }
    // A drop is a reset only where the series is said to have one.
    assert_close(
        apply_to_series(F::Increase, &reset, (0, 30 * S, 30 * S), &[], Drops::Maybe),
        -1.0 + 8.0,
    );
}
