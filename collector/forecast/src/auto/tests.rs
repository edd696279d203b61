use super::*;

/// A request for `hours` ahead (only the horizon, season and direction matter here).
fn request(hours: i64) -> ForecastRequest<'static> {
    ForecastRequest {
        samples: &[],
        now_ms: 0,
        horizon_ms: hours * 3_600_000,
        threshold: 1e9,
        direction: Direction::Above,
        model: ModelChoice::Auto,
        season: None,
    }
}

fn hourly(values: Vec<f64>) -> Grid {
    Grid {
        start_ms: 0,
        step_ms: 3_600_000,
        values,
    }
}

#[test]
fn a_line_is_left_to_least_squares() {
    let grid = hourly((0..200).map(|k| 10.0 + 0.1 * k as f64).collect());
    let (fit, detail) = choose(&grid, &request(100), 300 * 3_600_000).expect("fit");
    assert_eq!(fit.choice(), ModelChoice::Linear);
    assert_eq!(detail, "linear");
}

#[test]
fn a_daily_sawtooth_goes_to_holt_winters() {
    // Grows 1 per hour, loses 20 at midnight, plus 0.05 per hour underneath: 10 days.
    let values = (0..240)
        .map(|k| 0.05 * k as f64 + (k % 24) as f64 * 1.0)
        .collect();
    let grid = hourly(values);
    let records = backtest_all(&grid, 48 * 3_600_000, None, Direction::Above).expect("records");
    let (fit, _) = choose(&grid, &request(48), 288 * 3_600_000).expect("fit");
    let scores: Vec<(Candidate, f64)> = records.iter().map(|(c, r)| (*c, r.score(true))).collect();
    assert_eq!(fit.choice(), ModelChoice::HoltWinters, "{scores:?}");
}

#[test]
fn a_change_of_slope_is_followed() {
    // Slope 0.1 for 100 hours, then 1: the regime line (or Holt) follows the new line;
    // least squares over the window would not.
    let values = (0..300)
        .map(|k| {
            if k < 100 {
                0.1 * k as f64
            } else {
                10.0 + 1.0 * (k - 100) as f64
            }
        })
        .collect();
    let grid = hourly(values);
    let (fit, detail) = choose(&grid, &request(48), 348 * 3_600_000).expect("fit");
    let p = fit.predict(348 * 3_600_000);
    assert!((p.mean - 258.0).abs() < 10.0, "{detail} {p:?}");
}

#[test]
fn too_short_for_a_backtest_is_linear() {
    let grid = hourly(vec![1.0, 2.0, 3.0, 5.0, 4.0]);
    let (fit, _) = choose(&grid, &request(1), 6 * 3_600_000).expect("fit");
    assert_eq!(fit.choice(), ModelChoice::Linear);
}
