use super::backtest::Promise;
use super::shape::{exponential, quadratic_span, regime_start, weekly_visible};
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
    Grid::even(0, 3_600_000, values)
}

#[test]
fn a_line_is_left_to_least_squares() {
    let grid = hourly((0..200).map(|k| 10.0 + 0.1 * k as f64).collect());
    let (fit, detail) = choose(&grid, &request(100), 300 * 3_600_000).expect("fit");
    assert_eq!(fit.choice(), ModelChoice::Linear);
    assert_eq!(detail, "linear");
}

#[test]
fn a_daily_sawtooth_goes_to_a_model_of_the_day() {
    // Grows 1 per hour, loses 20 at midnight, plus 0.05 per hour underneath: 10 days.
    // Holt–Winters and the mean day both follow it exactly; the mean day is simpler.
    let values = (0..240)
        .map(|k| 0.05 * k as f64 + (k % 24) as f64 * 1.0)
        .collect();
    let grid = hourly(values);
    let records = backtest_all(&grid, 48 * 3_600_000, None, Direction::Above).expect("records");
    let (fit, detail) = choose(&grid, &request(48), 288 * 3_600_000).expect("fit");
    let scores: Vec<(Candidate, f64)> = records.iter().map(|(c, r)| (*c, r.score(true))).collect();
    assert_eq!(
        detail,
        Candidate::MeanDay.describe(&grid, Direction::Above),
        "{scores:?}"
    );
    // Two days on, at 23:00: 0.05·287 + 23.
    let p = fit.predict(287 * 3_600_000).mean;
    assert!((p - (0.05 * 287.0 + 23.0)).abs() < 0.01, "{p}");
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

/// A deterministic wobble in [−1, 1], standing in for noise.
fn wobble(k: usize) -> f64 {
    ((k * 7919 + 13) % 101) as f64 / 50.0 - 1.0
}

#[test]
fn holt_winters_daily_is_offered_only_where_a_daily_cycle_shows() {
    // Ten days, hourly: a noisy line, then the same line with a daily wave.
    let line: Vec<f64> = (0..240)
        .map(|k| 10.0 + 0.1 * k as f64 + 0.5 * wobble(k))
        .collect();
    let daily = |c: &[Candidate]| c.contains(&Candidate::HoltWinters(Season::Daily));
    assert!(!daily(&candidates(
        &hourly(line.clone()),
        None,
        Direction::Above
    )));
    let waved: Vec<f64> = line
        .iter()
        .enumerate()
        .map(|(k, v)| v + 5.0 * (std::f64::consts::TAU * k as f64 / 24.0).sin())
        .collect();
    assert!(daily(&candidates(&hourly(waved), None, Direction::Above)));
}

#[test]
fn quiet_weekends_show_a_week_and_a_daily_wave_does_not() {
    // Four weeks, hourly, from a Thursday (the epoch): growth on five days of seven.
    let weekdays: Vec<f64> = (0..28 * 24)
        .scan(0.0, |level, k| {
            let day = (k / 24 + 3) % 7; // 0 = Monday
            if day < 5 {
                *level += 0.1;
            }
            Some(*level + 0.05 * wobble(k))
        })
        .collect();
    assert!(weekly_visible(&hourly(weekdays)));
    let waved: Vec<f64> = (0..28 * 24)
        .map(|k| {
            0.1 * k as f64
                + 3.0 * (std::f64::consts::TAU * k as f64 / 24.0).sin()
                + 0.05 * wobble(k)
        })
        .collect();
    assert!(!weekly_visible(&hourly(waved)));
    // Under two weeks there is no telling.
    let short: Vec<f64> = (0..10 * 24).map(|k| k as f64).collect();
    assert!(!weekly_visible(&hourly(short)));
}

#[test]
fn a_parabola_is_fitted_over_the_window_and_across_a_step_only_since_it() {
    // Smooth acceleration over ten days: the whole window.
    let curve: Vec<f64> = (0..240)
        .map(|k| 0.001 * (k * k) as f64 + 0.2 * wobble(k))
        .collect();
    assert_eq!(quadratic_span(&hourly(curve)).len(), 240);
    // A step up three days before the end, then a steeper line: since the step.
    let stepped: Vec<f64> = (0..240)
        .map(|k| {
            let v = if k < 168 {
                0.05 * k as f64
            } else {
                20.0 + 0.2 * (k - 168) as f64
            };
            v + 0.1 * wobble(k)
        })
        .collect();
    let span = quadratic_span(&hourly(stepped)).len();
    assert!((60..=80).contains(&span), "{span} points");
}

#[test]
fn growth_whose_slope_rose_and_then_held_is_not_taken_for_acceleration() {
    // Slope 0.05 per hour, rising smoothly to 0.5 around 100 hours before the end of
    // ten days, then held: the regime since the change is a line, and so is the forecast.
    let ramp = |k: f64| {
        let x = (k - 140.0) / 8.0;
        0.05 * k + 0.45 * 8.0 * if x > 30.0 { x } else { x.exp().ln_1p() }
    };
    let values: Vec<f64> = (0..240).map(|k| ramp(k as f64) + 0.2 * wobble(k)).collect();
    let grid = hourly(values);
    let span = quadratic_span(&grid).len();
    assert!(span < 120, "{span} points");
    let (fit, detail) = choose(&grid, &request(100), 340 * 3_600_000).expect("fit");
    let p = fit.predict(340 * 3_600_000);
    let truth = ramp(340.0);
    assert!(
        (p.mean - truth).abs() < 0.1 * truth,
        "{detail}: {p:?} vs {truth}"
    );
}

#[test]
fn the_band_holds_a_slope_the_window_cannot_rule_out() {
    // Two weeks, hourly, of a level under a slow wander (a wave of five days): whatever
    // the backtest makes of it, a trend within the slope's interval may be hiding in the
    // wander, so the band reaches up to the line with the slope at its upper bound.
    let values: Vec<f64> = (0..336)
        .map(|k| 10.0 + 2.0 * (std::f64::consts::TAU * k as f64 / 120.0).sin() + 0.1 * wobble(k))
        .collect();
    let grid = hourly(values);
    let (_, high) = Line::slope_bounds(&grid).expect("bounds");
    let (fit, detail) = choose(&grid, &request(240), 576 * 3_600_000).expect("fit");
    for hours in [400, 500, 570] {
        let t = hours * 3_600_000;
        let p = fit.predict(t);
        let bound = high.predict(t).mean;
        assert!(
            p.upper >= bound - 1e-9,
            "{detail} at {hours} h: {p:?} vs {bound}"
        );
    }
}

#[test]
fn growth_since_a_purge_is_not_a_regime_of_its_own() {
    // Three weeks, hourly, growing 0.1 an hour (16.8 a week) with a little wobble; 2
    // days before the end a cleanup takes 10 off (a purge that may come weekly), or a
    // jump adds 30 (a step up, for contrast).
    let wobble = |k: usize| ((k * 7919 % 101) as f64 / 50.0 - 1.0) * 0.2;
    let series = |jump: f64| {
        hourly(
            (0..21 * 24)
                .map(|k| 0.1 * k as f64 + wobble(k) + if k >= 19 * 24 { jump } else { 0.0 })
                .collect(),
        )
    };
    let purged = candidates(&series(-10.0), None, Direction::Above);
    assert!(
        !purged.contains(&Candidate::RegimeLine) && !purged.contains(&Candidate::Holt),
        "{purged:?}"
    );
    // A clean-up of 30 takes more than a week's growth: no weekly purge does that (the
    // disk would be emptying), so it happened once, and the growth since it is the trend.
    let cleaned = candidates(&series(-30.0), None, Direction::Above);
    assert!(
        cleaned.contains(&Candidate::RegimeLine) && !cleaned.contains(&Candidate::Holt),
        "{cleaned:?}"
    );
    let stepped = candidates(&series(30.0), None, Direction::Above);
    assert!(
        stepped.contains(&Candidate::RegimeLine) && stepped.contains(&Candidate::Holt),
        "{stepped:?}"
    );
    // Falling towards a threshold below, the same drop is a step towards it.
    let below = candidates(&series(-30.0), None, Direction::Below);
    assert!(below.contains(&Candidate::RegimeLine), "{below:?}");
}

/// A record with the given crossing and value errors (one origin, one level), and at
/// each origin the held-out steps where a promised rise was missed, and where it was
/// kept (both 0: none promised).
fn record(crossing: f64, values: f64, evidence: Vec<(f64, f64)>) -> Record {
    let promise = |(missed, kept): (f64, f64)| match (missed > 0.0, kept > 0.0) {
        (true, _) => Promise {
            share: Some(0.0),
            watched: missed,
            len: missed,
        },
        (false, true) => Promise {
            share: Some(1.0),
            watched: kept,
            len: kept,
        },
        (false, false) => Promise::default(),
    };
    Record {
        crossing,
        levels: 1.0,
        values,
        origins: 1.0,
        evidence: evidence.into_iter().map(promise).collect(),
        pairs: Vec::new(),
    }
}

#[test]
fn candidates_alike_on_crossings_are_told_apart_by_the_values() {
    // Every candidate was too slow for the levels the held-out data made: the same
    // crossing error. The regime line followed the values, the level did not.
    let records = vec![
        (Candidate::Level, record(100.0, 0.05, vec![])),
        (Candidate::Line, record(100.0, 0.04, vec![])),
        (Candidate::RegimeLine, record(99.0, 0.01, vec![])),
    ];
    assert_eq!(pick(&records, true), 2);
    // Within 5 % on the values too, the simpler one.
    let records = vec![
        (Candidate::Level, record(100.0, 0.0102, vec![])),
        (Candidate::Line, record(100.0, 0.04, vec![])),
        (Candidate::RegimeLine, record(99.0, 0.01, vec![])),
    ];
    assert_eq!(pick(&records, true), 0);
    // A clearly better crossing score still wins whatever the values say.
    let records = vec![
        (Candidate::Level, record(100.0, 0.001, vec![])),
        (Candidate::Line, record(50.0, 0.04, vec![])),
    ];
    assert_eq!(pick(&records, true), 1);
}

#[test]
fn a_false_alarm_gives_way_to_a_trend_whose_rises_held() {
    // The line's rises were missed (a purge in its held-out part); the regime line's were
    // kept, or never promised, and it scored better than the level.
    let records = vec![
        (Candidate::Level, record(170.0, 0.01, vec![(0.0, 0.0); 2])),
        (
            Candidate::Line,
            record(60.0, 0.02, vec![(94.0, 0.0), (38.0, 0.0)]),
        ),
        (
            Candidate::RegimeLine,
            record(110.0, 0.01, vec![(0.0, 0.0), (0.0, 0.0)]),
        ),
        (
            Candidate::TheilSen,
            record(61.0, 0.02, vec![(94.0, 0.0), (0.0, 38.0)]),
        ),
    ];
    assert_eq!(unrefuted(&records, 0, 0, true), 2);
    // Scoring no better than the level, it does not replace the level.
    let records = vec![
        (Candidate::Level, record(100.0, 0.01, vec![(0.0, 0.0)])),
        (Candidate::Line, record(60.0, 0.02, vec![(94.0, 0.0)])),
        (Candidate::RegimeLine, record(110.0, 0.01, vec![(0.0, 0.0)])),
    ];
    assert_eq!(unrefuted(&records, 0, 0, true), 0);
}

#[test]
fn a_week_that_began_with_a_purge_has_no_holt_and_its_regime_line_repeats_the_purge() {
    // A week, hourly, growing 0.1 an hour; 3 days before the end a purge takes 12 off.
    let values: Vec<f64> = (0..168)
        .map(|k| 0.1 * k as f64 + 0.05 * wobble(k) - if k >= 96 { 12.0 } else { 0.0 })
        .collect();
    let grid = hourly(values);
    let all = candidates(&grid, None, Direction::Above);
    assert!(
        all.contains(&Candidate::RegimeLine) && !all.contains(&Candidate::Holt),
        "{all:?}"
    );
    let fit = Candidate::RegimeLine
        .fit(&grid, 400 * 3_600_000, Direction::Above)
        .expect("fit");
    // Due again at 96 + 168 hours: just before it the line since the purge, just after
    // it 12 less.
    let before = fit.predict(263 * 3_600_000).mean;
    let after = fit.predict(264 * 3_600_000).mean;
    assert!((before - (26.3 - 12.0)).abs() < 0.2, "{before}");
    assert!((after - (26.4 - 24.0)).abs() < 0.5, "{after}");
}

#[test]
fn a_quiet_weekend_does_not_refute_growth_by_weekdays() {
    // A week of growth on weekdays only, hourly, from a Monday 00:00 to the Sunday
    // 23:00 after: the backtest's last origins watch nothing but the weekend, where the
    // line's rises did not come. That is no evidence against them.
    let monday = (4 + 7 * 2_900) * crate::grid::DAY_MS;
    let values = (0..7 * 24)
        .map(|k| {
            let t = monday + k as i64 * 3_600_000;
            0.5 + 0.01 * crate::weekdays::weekday_days(t) + 0.0002 * wobble(k)
        })
        .collect();
    let grid = Grid::even(monday, 3_600_000, values);
    let records =
        backtest_all(&grid, 30 * 24 * 3_600_000, None, Direction::Above).expect("records");
    let (_, line) = records
        .iter()
        .find(|(c, _)| *c == Candidate::Line)
        .expect("the line is a candidate");
    let recent = recent_origins(&grid);
    assert!(recent > 0, "the weekend reads as a regime of its own");
    assert!(!line.false_alarms(recent), "{:?}", line.evidence);
}

#[test]
fn holt_is_offered_only_where_the_slope_changes() {
    // Ten days, hourly: a noisy line, then the same line turning three times steeper
    // for its last three days.
    let line: Vec<f64> = (0..240)
        .map(|k| 10.0 + 0.1 * k as f64 + 0.5 * wobble(k))
        .collect();
    let turned: Vec<f64> = line
        .iter()
        .enumerate()
        .map(|(k, v)| v + 0.2 * k.saturating_sub(168) as f64)
        .collect();
    let holt = |values: Vec<f64>| {
        candidates(&hourly(values), None, Direction::Above).contains(&Candidate::Holt)
    };
    assert!(!holt(line));
    assert!(holt(turned));
}

#[test]
fn growth_that_slows_is_a_curve_not_a_purge() {
    // Three weeks, hourly: a slope of 1 an hour decaying over 5 days (120 h), with a
    // little wobble. Two lines either side of a break part where the curve bends, and a
    // line before it ends above where the line after begins, but no point drops: it is
    // not a purge, and the trend that slows is offered.
    let values: Vec<f64> = (0..21 * 24)
        .map(|k| 120.0 * (1.0 - (-(k as f64) / 120.0).exp()) + 0.05 * wobble(k))
        .collect();
    let grid = hourly(values);
    let start = super::shape::regime_start(&grid);
    let (a0, b0) = crate::stats::least_squares(&grid.values[..start]);
    let (a1, _) = crate::stats::least_squares(&grid.values[start..]);
    let jump = a1 - (a0 + b0 * start as f64);
    // The lines part by far more than the noise (the whole test of a purge before)...
    assert!(jump < -10.0 * backtest::noise(&grid), "{start}: {jump}");
    // ... but no point dropped.
    assert!(!super::shape::purged(&grid, Direction::Above));
    let offered = candidates(&grid, None, Direction::Above);
    assert!(offered.contains(&Candidate::Saturating), "{offered:?}");
}

#[test]
fn a_regime_line_needs_one_change_not_a_wander() {
    // Ten days, hourly: a line turning three times steeper for its last three days, and
    // the same with a turn down and back up before it (a wander that breaks twice).
    let turned: Vec<f64> = (0..240usize)
        .map(|k| 10.0 + 0.1 * k as f64 + 0.2 * k.saturating_sub(168) as f64 + 0.5 * wobble(k))
        .collect();
    let wandered: Vec<f64> = turned
        .iter()
        .enumerate()
        .map(|(k, v)| {
            v - 0.3 * (k.clamp(48, 120) - 48) as f64 + 0.3 * (k.clamp(96, 120) - 96) as f64
        })
        .collect();
    let regime = |values: &[f64]| {
        candidates(&hourly(values.to_vec()), None, Direction::Above)
            .contains(&Candidate::RegimeLine)
    };
    assert!(regime(&turned));
    assert!(!regime(&wandered));
}

#[test]
fn a_mean_day_is_offered_for_stairs_and_not_for_a_daily_wave() {
    // A week, every 15 minutes: stairs of 0.5 a day at 03:00, and a line under a daily
    // sine of the same size. A sine follows the wave; it rounds the stairs off.
    let per_day = 96;
    let grid = |f: &dyn Fn(f64) -> f64| {
        // `wobble` nearly repeats every 96 points, and a mean day would fit it: an
        // xorshift instead.
        let mut state = 88_172_645_463_325_252u64;
        let values = (0..7 * per_day)
            .map(|k| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let noise = (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                f(k as f64 / per_day as f64) + 0.02 * noise
            })
            .collect();
        Grid::even(0, 900_000, values)
    };
    let stairs = grid(&|d| 0.5 * (d - 0.125).floor());
    let wave = grid(&|d| 0.5 * d + 0.25 * (std::f64::consts::TAU * d).sin());
    let mean_day = |g: &Grid| candidates(g, None, Direction::Above).contains(&Candidate::MeanDay);
    assert!(mean_day(&stairs));
    assert!(!mean_day(&wave));
}

#[test]
fn exponential_growth_is_offered_where_it_beats_the_parabola_and_not_on_one() {
    const NOISE: f64 = 0.3;
    // A week, hourly: growth compounding at 0.25 a day, and a parabola of the same slope
    // and curvature now; noise on both (with less, the curve reads as breaks of slope).
    let exponential: Vec<f64> = (0..168)
        .map(|k| {
            let d = (k as f64 - 167.0) / 24.0;
            10.0 + 2.0 * ((0.25 * d).exp() - 1.0) / 0.25 + NOISE * wobble(k)
        })
        .collect();
    let parabola: Vec<f64> = (0..168)
        .map(|k| {
            let d = (k as f64 - 167.0) / 24.0;
            10.0 + 2.0 * d + 0.25 * d * d + NOISE * wobble(k)
        })
        .collect();
    let offered = |values: &[f64]| candidates(&hourly(values.to_vec()), None, Direction::Above);
    let on_curve = offered(&exponential);
    assert!(on_curve.contains(&Candidate::Exponential), "{on_curve:?}");
    let on_parabola = offered(&parabola);
    assert!(
        on_parabola.contains(&Candidate::Quadratic),
        "{on_parabola:?}"
    );
    assert!(
        !on_parabola.contains(&Candidate::Exponential),
        "{on_parabola:?}"
    );
}

#[test]
fn weeks_of_quickening_growth_are_fitted_whole_though_they_break() {
    // Four weeks, hourly: growth compounding at 0.05 a day, with little noise: the curve
    // reads as breaks of slope, and the last regime is a few days. Over four weeks the
    // curve is fitted over the whole window.
    let values: Vec<f64> = (0..672)
        .map(|k| {
            let d = (k as f64 - 671.0) / 24.0;
            10.0 + 2.0 * ((0.05 * d).exp() - 1.0) / 0.05 + 0.02 * wobble(k)
        })
        .collect();
    let weeks = hourly(values.clone());
    assert!(regime_start(&weeks) > 0);
    assert!(quadratic_span(&weeks).len() < weeks.len());
    let whole = Saturating::fit_growing(&weeks).ok();
    assert!(whole.is_some());
    assert_eq!(exponential(&weeks, Direction::Above), whole);
    // Under two weeks the curve is only ever fitted where the parabola is.
    for days in [4, 7, 10] {
        let tail = hourly(values[672 - 24 * days..].to_vec());
        if let Some(fit) = exponential(&tail, Direction::Above) {
            let on_span = Saturating::fit_growing(&quadratic_span(&tail)).ok();
            assert_eq!(Some(fit), on_span, "{days} days");
        }
    }
}
