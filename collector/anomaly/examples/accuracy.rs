//! The anomaly detector against the usual recipes, on synthetic traces with labelled
//! anomalies (`vigil_anomaly::synth`): `tests/bench/anomaly_accuracy.sh` runs it.
//!
//! Detectors, each alarming on a sample or not:
//! - `vigil`: the detector, score ≥ 0.5;
//! - `3-sigma`: |x − mean| > 3 sd, mean and sd of the first two days;
//! - `rolling-z`: the PromQL recipe (x − avg_over_time(x[1h])) / stddev_over_time(x[1h]), |z| > 3;
//! - `seasonal-z`: the same over `[1h] offset 1w`, from the second week;
//! - `k-means`: Netdata's way, simplified: vectors of the last 6 differenced values
//!   smoothed over 3, two clusters trained every 3 hours on the last day, an alarm past
//!   the training distances' 99th percentile.
//!
//! Scoring: consecutive alarms are one event. An anomaly is detected when an event starts
//! in its window (from its first sample to half an hour after a spike, two hours after a
//! shift's start, the end of a variance change, flatline or season break, six hours into a
//! trend); the delay is from its start. Any other event is a false alarm; on clean traces
//! they are counted per series-week. Precision = detections / all events on anomalous
//! traces; recall = anomalies detected / anomalies. Earlier is better: the early recall
//! credits a detection 1 at the anomaly's start, falling linearly to 0.5 at its window's
//! end (0 when missed), and the early F1 is the F1 of precision and early recall.
//!
//! `cargo run --release -p vigil-anomaly --example accuracy -- [SET] [PER_KIND] [CLEAN]`
//! (SET: tuning, heldback or both; 10 traces per kind and 30 clean ones by default;
//! `HELDBACK_BASE` moves the held-back seeds).

use vigil_anomaly::Detector;
use vigil_anomaly::synth::{KINDS, Trace, trace};

/// Alarms per sample for one trace.
type Alarms = Vec<bool>;

/// A detector of the comparison: its name, and its alarms on a trace.
type Run = (&'static str, fn(&Trace) -> Alarms);

fn vigil(t: &Trace) -> Alarms {
    let mut d = Detector::new();
    t.samples
        .iter()
        .map(|&(ts, v)| d.update(ts, v).score >= 0.5)
        .collect()
}

fn three_sigma(t: &Trace) -> Alarms {
    let train = ((2 * 1440 / t.step_min) as usize).min(t.samples.len());
    let vals: Vec<f64> = t.samples[..train].iter().map(|s| s.1).collect();
    let mean = vals.iter().sum::<f64>() / vals.len() as f64;
    let sd = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64).sqrt();
    t.samples
        .iter()
        .enumerate()
        .map(|(i, s)| i >= train && (s.1 - mean).abs() > 3.0 * sd.max(1e-12))
        .collect()
}

/// z of each sample against the window of `len` samples ending `lag` samples back
/// (the current one included when `lag` is 0), |z| > 3 an alarm.
fn windowed_z(t: &Trace, len: usize, lag: usize) -> Alarms {
    let v: Vec<f64> = t.samples.iter().map(|s| s.1).collect();
    let (mut sum, mut sq) = (0.0, 0.0);
    let mut out = vec![false; v.len()];
    for i in 0..v.len() {
        // Window [i - lag - len + 1, i - lag].
        if i >= lag {
            let x = v[i - lag];
            sum += x;
            sq += x * x;
            if i >= lag + len {
                let y = v[i - lag - len];
                sum -= y;
                sq -= y * y;
            }
        }
        if i >= lag + len {
            let mean = sum / len as f64;
            let sd = (sq / len as f64 - mean * mean).max(0.0).sqrt();
            out[i] = sd > 0.0 && ((v[i] - mean) / sd).abs() > 3.0;
        }
    }
    out
}

fn rolling_z(t: &Trace) -> Alarms {
    windowed_z(t, (60 / t.step_min) as usize, 0)
}

fn seasonal_z(t: &Trace) -> Alarms {
    let week = (7 * 1440 / t.step_min) as usize;
    let hour = (60 / t.step_min) as usize;
    // avg/stddev over the hour ending a week before.
    windowed_z(t, hour, week.saturating_sub(hour / 2))
}

fn kmeans(t: &Trace) -> Alarms {
    const LAGS: usize = 6;
    let v: Vec<f64> = t.samples.iter().map(|s| s.1).collect();
    let diff: Vec<f64> = (0..v.len())
        .map(|i| if i == 0 { 0.0 } else { v[i] - v[i - 1] })
        .collect();
    let smooth: Vec<f64> = (0..v.len())
        .map(|i| {
            let from = i.saturating_sub(2);
            diff[from..=i].iter().sum::<f64>() / (i - from + 1) as f64
        })
        .collect();
    let vector = |i: usize| -> [f64; LAGS] { std::array::from_fn(|k| smooth[i - k]) };
    let dist = |a: &[f64; LAGS], b: &[f64; LAGS]| -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let retrain = (180 / t.step_min) as usize;
    let window = (1440 / t.step_min) as usize;
    let mut centroids: Option<([[f64; LAGS]; 2], f64)> = None;
    let mut out = vec![false; v.len()];
    for (i, alarm) in out.iter_mut().enumerate().skip(LAGS) {
        if i >= window && (i - window).is_multiple_of(retrain) {
            let train: Vec<[f64; LAGS]> = (i - window + LAGS..i).map(vector).collect();
            let mut c = [train[0], train[train.len() / 2]];
            for _ in 0..10 {
                let mut acc = [([0.0; LAGS], 0usize); 2];
                for x in &train {
                    let k = usize::from(dist(x, &c[1]) < dist(x, &c[0]));
                    for (a, b) in acc[k].0.iter_mut().zip(x) {
                        *a += b;
                    }
                    acc[k].1 += 1;
                }
                for k in 0..2 {
                    if acc[k].1 > 0 {
                        c[k] = acc[k].0.map(|a| a / acc[k].1 as f64);
                    }
                }
            }
            let mut d: Vec<f64> = train
                .iter()
                .map(|x| dist(x, &c[0]).min(dist(x, &c[1])))
                .collect();
            d.sort_by(f64::total_cmp);
            centroids = Some((c, d[(d.len() * 99) / 100]));
        }
        if let Some((c, limit)) = &centroids {
            let x = vector(i);
            *alarm = dist(&x, &c[0]).min(dist(&x, &c[1])) > *limit;
        }
    }
    out
}

/// Starts of alarm events (runs of alarms).
fn events(alarms: &[bool]) -> Vec<usize> {
    (0..alarms.len())
        .filter(|&i| alarms[i] && (i == 0 || !alarms[i - 1]))
        .collect()
}

#[derive(Default)]
struct Tally {
    anomalies: usize,
    detected: usize,
    true_events: usize,
    false_events: usize,
    delay_min: f64,
    early_credit: f64,
    clean_alarms: usize,
    clean_weeks: f64,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let set = args.next().unwrap_or_else(|| "both".into());
    let per_kind: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let clean: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(30);
    let heldback: u64 = std::env::var("HELDBACK_BASE")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(1_000_000);
    let detectors: [Run; 5] = [
        ("vigil", vigil),
        ("3-sigma", three_sigma),
        ("rolling-z", rolling_z),
        ("seasonal-z", seasonal_z),
        ("k-means", kmeans),
    ];
    let sets: Vec<(&str, u64)> = match set.as_str() {
        "tuning" => vec![("tuning", 1)],
        "heldback" => vec![("held-back", heldback)],
        _ => vec![("tuning", 1), ("held-back", heldback)],
    };
    for (name, base) in sets {
        let mut traces: Vec<Trace> = Vec::new();
        for (k, kind) in KINDS.iter().enumerate() {
            for i in 0..per_kind {
                traces.push(trace(base + 1_000 * (k as u64 + 1) + i, Some(*kind)));
            }
        }
        for i in 0..clean {
            traces.push(trace(base + 100_000 + i, None));
        }
        println!(
            "{name} set (seeds from {base}): {} anomalous traces ({per_kind} per kind), \
             {clean} clean",
            KINDS.len() as u64 * per_kind
        );
        println!(
            "{:<11} {:>9} {:>7} {:>6} {:>8} {:>11} {:>14}   recall by kind ({})",
            "detector",
            "precision",
            "recall",
            "F1",
            "early F1",
            "delay (min)",
            "FA/series-week",
            KINDS.map(|k| format!("{k:?}")).join(" ")
        );
        for (detector, run) in detectors {
            let mut tally = Tally::default();
            let mut by_kind = [(0usize, 0usize); 7];
            for t in &traces {
                let alarms = run(t);
                let starts = events(&alarms);
                match t.anomaly {
                    Some((kind, start, end)) => {
                        tally.anomalies += 1;
                        let k = KINDS.iter().position(|x| *x == kind).unwrap_or(0);
                        by_kind[k].1 += 1;
                        // An event running when the anomaly starts counts from its start.
                        let hit = (start..end).find(|&i| alarms[i]);
                        if let Some(i) = hit {
                            tally.detected += 1;
                            by_kind[k].0 += 1;
                            tally.delay_min += ((i - start) as i64 * t.step_min) as f64;
                            tally.early_credit +=
                                1.0 - 0.5 * (i - start) as f64 / (end - start).max(1) as f64;
                        }
                        for s in &starts {
                            if (start..end).contains(s) {
                                tally.true_events += 1;
                            } else if *s < start || *s >= end {
                                tally.false_events += 1;
                            }
                        }
                        if hit.is_some() && !starts.iter().any(|s| (start..end).contains(s)) {
                            tally.true_events += 1;
                        }
                    }
                    None => {
                        tally.clean_alarms += starts.len();
                        tally.clean_weeks +=
                            t.samples.len() as f64 * t.step_min as f64 / (7.0 * 1440.0);
                    }
                }
            }
            let precision =
                tally.true_events as f64 / (tally.true_events + tally.false_events).max(1) as f64;
            let recall = tally.detected as f64 / tally.anomalies.max(1) as f64;
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            let early = tally.early_credit / tally.anomalies.max(1) as f64;
            let early_f1 = if precision + early > 0.0 {
                2.0 * precision * early / (precision + early)
            } else {
                0.0
            };
            let kinds: Vec<String> = by_kind.iter().map(|(d, n)| format!("{d}/{n}")).collect();
            println!(
                "{detector:<11} {precision:>9.2} {recall:>7.2} {f1:>6.2} {early_f1:>8.2} {:>11.0} {:>14.2}   {}",
                tally.delay_min / tally.detected.max(1) as f64,
                tally.clean_alarms as f64 / tally.clean_weeks.max(1e-9),
                kinds.join(" ")
            );
        }
        println!();
    }
}
