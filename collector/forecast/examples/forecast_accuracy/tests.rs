//! Checks of the benchmark itself: `cargo test -p vigil-forecast --example forecast_accuracy`.

use super::families::FAMILIES;
use super::rng::Rng;
use super::score::{
    METHODS, Outcome, PREDICT_LINEAR, Tally, hindsight, predict_linear, ratio_interval,
};
use super::trace::{DAY_MS, PER_DAY, THRESHOLD, draw, samples};

fn outcome(eta: Option<f64>, band: Option<(Option<f64>, Option<f64>)>) -> Outcome {
    Outcome {
        eta,
        band,
        picked: None,
        failed: false,
        ms: 0.0,
    }
}

#[test]
fn a_linear_trace_crosses_where_its_line_does() {
    for seed in 0..20 {
        let trace = draw("linear", &mut Rng::for_trace(1, "linear", seed), 28.0, 30.0);
        let slope = trace.value(1.0) - trace.value(0.0);
        let analytic = (THRESHOLD - trace.value(0.0)) / slope;
        match trace.truth {
            // The first whole minute at or after the crossing (rounding may make it the next).
            Some(t) => assert!((t - analytic).abs() <= 1.01 / 1440.0, "{t} vs {analytic}"),
            None => assert!(analytic > 30.0 - 1.0 / 1440.0, "{analytic}"),
        }
    }
}

#[test]
fn every_family_draws_a_fair_question() {
    for (family, _) in FAMILIES {
        for seed in 0..5 {
            let mut rng = Rng::for_trace(2, family, seed);
            let trace = draw(family, &mut rng, 28.0, 30.0);
            assert!(trace.attempts < 500, "{family} #{seed}: no acceptable draw");
            for k in 0..=28 * PER_DAY {
                let v = trace.value(-(k as f64) / PER_DAY as f64);
                assert!(
                    (0.0..THRESHOLD).contains(&v),
                    "{family} #{seed}: {v} at -{k}"
                );
            }
            if matches!(family, "flat" | "shrinking") {
                assert_eq!(trace.truth, None, "{family} #{seed}");
            }
            let all = samples(&trace, &mut rng, 28.0);
            assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
            assert!(all.last().is_some_and(|&(t, _)| t <= trace.now_ms));
            if family != "gaps" {
                assert_eq!(all.len(), 28 * PER_DAY, "{family} #{seed}");
            }
        }
    }
}

#[test]
fn silence_and_false_alarms_cost_the_rest_of_the_horizon() {
    let mut tally = Tally::default();
    // Missed a crossing on day 10: 20 days; false alarm on day 25: 5 days; both right: 0.
    tally.record(Some(10.0), &outcome(None, None), Some(9.0), 30.0);
    tally.record(None, &outcome(Some(25.0), None), None, 30.0);
    tally.record(Some(4.0), &outcome(Some(5.0), None), None, 30.0);
    tally.record(None, &outcome(None, None), None, 30.0);
    assert_eq!(tally.errors, vec![20.0, 5.0, 1.0, 0.0]);
    assert_eq!((tally.misses, tally.quieter, tally.false_alarms), (1, 1, 1));
    assert!((tally.mae() - 6.5).abs() < 1e-12);
}

#[test]
fn a_band_past_the_horizon_covers_a_true_none_only_if_it_never_starts_before() {
    let mut tally = Tally::default();
    tally.record(
        Some(10.0),
        &outcome(Some(9.0), Some((Some(8.0), Some(12.0)))),
        None,
        30.0,
    );
    tally.record(
        Some(10.0),
        &outcome(Some(9.0), Some((Some(8.0), Some(9.5)))),
        None,
        30.0,
    );
    tally.record(
        Some(10.0),
        &outcome(None, Some((Some(5.0), None))),
        None,
        30.0,
    );
    tally.record(None, &outcome(None, Some((Some(20.0), None))), None, 30.0);
    tally.record(None, &outcome(None, Some((None, None))), None, 30.0);
    tally.record(Some(3.0), &outcome(None, Some((None, None))), None, 30.0);
    assert_eq!((tally.banded, tally.covered), (6, 4));
    assert_eq!((tally.banded_within, tally.covered_within), (4, 2));
    // Widths: 4, 1.5, 25, 10, 0, 0.
    assert!((tally.width - 40.5).abs() < 1e-9, "{}", tally.width);
}

#[test]
fn predict_linear_extrapolates_the_least_squares_line() {
    let now = 1_000 * DAY_MS;
    let line = |per_day: f64| -> Vec<(i64, f64)> {
        (0..7 * PER_DAY as i64)
            .map(|k| {
                let t = now - k * DAY_MS / PER_DAY as i64;
                (t, 0.5 + per_day * (t - now) as f64 / DAY_MS as f64)
            })
            .rev()
            .collect()
    };
    let eta = predict_linear(&line(0.1), now, 30.0, THRESHOLD).expect("crosses");
    assert!((eta - 4.0).abs() < 1e-6, "{eta}");
    assert_eq!(predict_linear(&line(0.01), now, 30.0, THRESHOLD), None);
    assert_eq!(predict_linear(&line(-0.1), now, 30.0, THRESHOLD), None);
    assert_eq!(predict_linear(&line(0.0)[..1], now, 30.0, THRESHOLD), None);
}

#[test]
fn equal_errors_have_a_ratio_of_one_for_certain() {
    let mut tally = Tally::default();
    for e in [1.0, 3.0, 0.5] {
        tally.record(Some(10.0), &outcome(Some(10.0 + e), None), None, 30.0);
    }
    let rows = vec![vec![tally.clone(), tally]];
    let (lo, hi) = ratio_interval(&rows, 0, 1).expect("errors");
    assert!((lo - 1.0).abs() < 1e-12 && (hi - 1.0).abs() < 1e-12);
}

#[test]
fn hindsight_takes_the_best_model_of_each_trace() {
    // Two traces: the first model is right on the first, the second on the second;
    // `predict_linear` is 2 days out on both.
    let truth = Some(10.0);
    let mut row = vec![Tally::default(); METHODS.len()];
    for (m, tally) in row.iter_mut().enumerate() {
        let etas = match m {
            0 => [10.0, 14.0],
            1 => [13.0, 10.0],
            PREDICT_LINEAR => [12.0, 8.0],
            _ => [15.0, 15.0],
        };
        for eta in etas {
            tally.record(truth, &outcome(Some(eta), None), None, 30.0);
        }
    }
    assert_eq!(hindsight(&[row.clone()]), Some(0.0));
    // The second model as bad as the rest, the first 1 day out on the second trace.
    for (m, etas) in [(0, [10.0, 11.0]), (1, [15.0, 15.0])] {
        row[m] = Tally::default();
        for eta in etas {
            row[m].record(truth, &outcome(Some(eta), None), None, 30.0);
        }
    }
    assert_eq!(hindsight(&[row]), Some(0.25));
}
