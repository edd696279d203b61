//! The detector on made-up traces: one per kind of anomaly, clean ones, causality, size.

use crate::synth::Rng as Noise;
use crate::{Detector, STATE_BYTES};

const MIN: i64 = 60_000;
const DAY: i64 = 1440;
/// Monday 2023-11-13 00:00 UTC.
const T0: i64 = 1_699_833_600_000;

/// Scores of `values` at one sample a minute from `T0`.
fn scores(values: &[f64]) -> Vec<f64> {
    let mut d = Detector::new();
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| d.update(T0 + i as i64 * MIN, v).score)
        .collect()
}

/// `n` samples of noise around `level` with standard deviation `sd`, a daily wave of
/// amplitude `daily` on top.
fn trace(n: usize, level: f64, sd: f64, daily: f64, seed: u64) -> Vec<f64> {
    let mut noise = Noise::new(seed);
    (0..n)
        .map(|i| {
            let phase = (i as f64 / DAY as f64) * std::f64::consts::TAU;
            level + daily * phase.sin() + sd * noise.gauss()
        })
        .collect()
}

/// Samples scoring at least 0.5.
fn alarms(scores: &[f64]) -> Vec<usize> {
    (0..scores.len()).filter(|&i| scores[i] >= 0.5).collect()
}

#[test]
fn clean_noise_at_any_scale_raises_no_alarm_in_a_week() {
    for (level, sd, seed) in [(50.0, 5.0, 1), (1e9, 1e6, 2), (0.002, 0.0001, 3)] {
        let s = scores(&trace(7 * DAY as usize, level, sd, 0.0, seed));
        assert!(alarms(&s).len() <= 1, "level {level}: {:?}", alarms(&s));
    }
}

#[test]
fn a_daily_rhythm_is_learned_and_not_alarmed_on() {
    let s = scores(&trace(7 * DAY as usize, 50.0, 2.0, 20.0, 4));
    // The first two days teach the profile; after them, quiet.
    let late: Vec<usize> = alarms(&s)
        .into_iter()
        .filter(|&i| i > 2 * DAY as usize)
        .collect();
    assert!(late.len() <= 1, "{late:?}");
}

#[test]
fn a_spike_scores_at_once() {
    let mut v = trace(2 * DAY as usize, 50.0, 2.0, 0.0, 5);
    let at = DAY as usize + 100;
    v[at] += 30.0;
    let s = scores(&v);
    assert!(s[at] >= 0.9, "{}", s[at]);
    assert!(
        alarms(&s).iter().all(|&i| i >= at && i < at + 3),
        "{:?}",
        alarms(&s)
    );
}

#[test]
fn a_level_shift_alarms_within_a_few_samples_then_is_learned() {
    let mut v = trace(3 * DAY as usize, 50.0, 2.0, 0.0, 6);
    let at = DAY as usize;
    for x in &mut v[at..] {
        *x += 8.0; // 4 standard deviations: not a spike alone (a score of 0.17)
    }
    let s = scores(&v);
    let first = alarms(&s).into_iter().find(|&i| i >= at).unwrap();
    assert!(
        first - at <= 6,
        "first alarm {} samples after the shift",
        first - at
    );
    let tail = &s[at + 3 * crate::SHIFT_LEARNED as usize..];
    assert!(
        alarms(tail).is_empty(),
        "still alarming: {:?}",
        alarms(tail)
    );
}

#[test]
fn more_noise_alarms() {
    let mut v = trace(2 * DAY as usize, 50.0, 1.0, 0.0, 7);
    let mut noise = Noise::new(70);
    let at = DAY as usize;
    for x in &mut v[at..at + 120] {
        *x += 4.0 * noise.gauss();
    }
    let s = scores(&v);
    let first = alarms(&s).into_iter().find(|&i| i >= at).unwrap();
    assert!(first - at <= 20, "first alarm {} samples in", first - at);
}

#[test]
fn a_metric_that_stops_moving_alarms() {
    let mut v = trace(2 * DAY as usize, 50.0, 1.0, 0.0, 8);
    let at = DAY as usize;
    for x in &mut v[at..at + 60] {
        *x = 50.0;
    }
    let s = scores(&v);
    let first = alarms(&s).into_iter().find(|&i| i >= at).unwrap();
    assert!(first - at <= 5, "first alarm {} samples in", first - at);
}

#[test]
fn a_series_constant_from_the_start_never_alarms() {
    // An idle host's load (0), a disk that is never written, a flag.
    for level in [0.0, 1.0, 4096.0] {
        let v = vec![level; 2 * DAY as usize];
        assert_eq!(alarms(&scores(&v)), Vec::<usize>::new(), "constant {level}");
    }
    // Constant for a day, then it starts moving a little: not a flatline, no alarm storm.
    let mut v = vec![0.0; 2 * DAY as usize];
    for (i, x) in v.iter_mut().enumerate().skip(DAY as usize) {
        *x = if i % 7 == 0 { 0.01 } else { 0.0 };
    }
    assert!(alarms(&scores(&v)).len() <= 3, "{:?}", alarms(&scores(&v)));
}

#[test]
fn a_broken_daily_rhythm_alarms() {
    let mut v = trace(5 * DAY as usize, 50.0, 1.0, 20.0, 9);
    // Day 4 stays flat at the mean instead of following its wave.
    let at = 4 * DAY as usize;
    let mut noise = Noise::new(90);
    for x in &mut v[at..at + DAY as usize / 2] {
        *x = 50.0 + noise.gauss();
    }
    let s = scores(&v);
    assert!(
        alarms(&s)
            .iter()
            .any(|&i| i >= at && i < at + DAY as usize / 2),
        "no alarm while the rhythm was gone"
    );
}

#[test]
fn a_prefix_run_scores_exactly_as_the_full_run() {
    let v = trace(3 * DAY as usize, 50.0, 2.0, 10.0, 10);
    let full = scores(&v);
    let cut = v.len() * 6 / 10;
    let prefix = scores(&v[..cut]);
    assert_eq!(prefix, full[..cut]);
}

#[test]
fn state_is_small() {
    assert!(
        std::mem::size_of::<Detector>() <= STATE_BYTES,
        "{} bytes",
        std::mem::size_of::<Detector>()
    );
}

#[test]
fn samples_that_are_not_numbers_change_nothing() {
    let v = trace(DAY as usize, 50.0, 2.0, 0.0, 11);
    let mut a = Detector::new();
    let mut b = Detector::new();
    for (i, &x) in v.iter().enumerate() {
        let t = T0 + i as i64 * MIN;
        if i % 7 == 0 {
            assert_eq!(b.update(t, f64::NAN).score, 0.0);
        }
        // As text: NaN bands compare equal that way.
        assert_eq!(
            format!("{:?}", a.update(t, x)),
            format!("{:?}", b.update(t, x))
        );
    }
}

#[test]
fn no_rhythm_is_invented_on_noise_and_real_ones_are_found() {
    let run = |values: &[f64]| {
        let mut d = Detector::new();
        let s: Vec<f64> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| d.update(T0 + i as i64 * MIN, v).score)
            .collect();
        (d.profiles(), s)
    };
    let (profiles, _) = run(&trace(21 * DAY as usize, 50.0, 3.0, 0.0, 12));
    assert_eq!(profiles, 0, "a rhythm invented on noise");
    let (profiles, _) = run(&trace(4 * DAY as usize, 50.0, 1.0, 10.0, 13));
    assert_eq!(profiles, 1);
    // Weekends 15 lower, on top of the daily wave (T0 is a Monday).
    let mut v = trace(28 * DAY as usize, 50.0, 1.0, 10.0, 14);
    for (i, x) in v.iter_mut().enumerate() {
        if (i / DAY as usize) % 7 >= 5 {
            *x -= 15.0;
        }
    }
    let (profiles, _) = run(&v);
    assert_eq!(profiles, 2);
}
