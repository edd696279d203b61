//! Forecast accuracy: synthetic disk-usage traces with a known crossing time, forecast by
//! every model and by Prometheus's `predict_linear` over the same lookback.
//!
//! Traces (fraction of the disk used, threshold 0.9, a sample every 5 minutes, Gaussian
//! noise; parameters drawn per seed): linear growth; growth in business hours only (Mon–Fri
//! 9–17 UTC); a daily log-rotation sawtooth over slow growth; a sudden step then faster
//! growth; accelerating (exponential) growth; a weekly cycle (growth all week, a purge on
//! Sunday night taking part of it back); flat; shrinking. The true crossing is the first
//! time the noise-free trace reaches the threshold after the forecast time.
//!
//! Score per trace: the absolute error of the predicted crossing time, with "no crossing
//! within the horizon" (predicted or true) counted as the horizon; a false alarm is a
//! predicted crossing within the horizon when the truth has none. `predict_linear` is the
//! least-squares line through the lookback's samples with its intercept at the forecast
//! time (Prometheus's formula); its crossing is where that line reaches the threshold.
//!
//!   cargo run --release -p vigil-forecast --example forecast_accuracy   # 28d, 7d, 40 seeds
//!   LOOKBACK_DAYS=7 HORIZON_DAYS=7 SEEDS=20 cargo run --release ... (see tests/bench)

use std::collections::BTreeMap;
use std::time::Instant;

use vigil_forecast::{Direction, ForecastRequest, ModelChoice, Season, forecast};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// 2026-11-02T00:00:00Z, a Monday: trace time 0.
const MONDAY: i64 = 1_793_577_600_000;
const THRESHOLD: f64 = 0.9;
const SAMPLE_EVERY: i64 = 5 * MINUTE;

/// The trace kinds, in table order.
const KINDS: [&str; 8] = [
    "linear",
    "business_hours",
    "sawtooth",
    "step_faster",
    "accelerating",
    "weekly",
    "flat",
    "shrinking",
];

/// Columns: the models, then predict_linear.
const METHODS: [&str; 6] = [
    "linear",
    "theil_sen",
    "holt",
    "holt_winters",
    "auto",
    "predict_linear",
];

/// A seeded xorshift64* generator.
struct Rng(u64);

impl Rng {
    fn new(kind: usize, seed: u64) -> Self {
        Rng((seed + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (kind as u64 + 1) << 32)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }
    fn gaussian(&mut self) -> f64 {
        let (u, v) = (self.uniform(1e-12, 1.0), self.uniform(0.0, 1.0));
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// One trace: its noise-free value at a time (ms from trace time 0) and its noise.
struct Trace {
    value: Box<dyn Fn(i64) -> f64>,
    noise: f64,
}

/// Days (fractional) of `t` since trace time 0.
fn days(t: i64) -> f64 {
    t as f64 / DAY as f64
}

/// Hours of Mon–Fri 9–17 UTC between trace time 0 and `t`.
fn business_hours(t: i64) -> f64 {
    let whole_days = t.div_euclid(DAY);
    let mut hours = 0.0;
    for d in 0..=whole_days {
        if d.rem_euclid(7) >= 5 {
            continue;
        }
        let day_start = d * DAY;
        let open = day_start + 9 * HOUR;
        let close = (day_start + 17 * HOUR).min(t);
        if close > open {
            hours += (close - open) as f64 / HOUR as f64;
        }
    }
    hours
}

/// The shape of a `kind` trace around a forecast at `now` (ms from trace time 0): its
/// change since `now` at any time, and its noise.
fn shape(kind: &str, rng: &mut Rng, now: i64) -> Trace {
    let n = days(now);
    match kind {
        "linear" => {
            let slope = rng.uniform(0.005, 0.04);
            Trace {
                value: Box::new(move |t| slope * (days(t) - n)),
                noise: 0.004,
            }
        }
        "business_hours" => {
            let per_hour = rng.uniform(0.03, 0.15) / 40.0;
            let at_now = business_hours(now);
            Trace {
                value: Box::new(move |t| per_hour * (business_hours(t) - at_now)),
                noise: 0.003,
            }
        }
        "sawtooth" => {
            let slope = rng.uniform(0.003, 0.015);
            let amplitude = rng.uniform(0.03, 0.10);
            let at_now = amplitude * (n - n.floor());
            Trace {
                value: Box::new(move |t| {
                    let d = days(t);
                    slope * (d - n) + amplitude * (d - d.floor()) - at_now
                }),
                noise: 0.003,
            }
        }
        "step_faster" => {
            let step_at = n - rng.uniform(0.5, 3.0);
            let jump = rng.uniform(0.03, 0.1);
            let before = rng.uniform(0.003, 0.01);
            let after = before * rng.uniform(2.0, 4.0);
            Trace {
                value: Box::new(move |t| {
                    let d = days(t);
                    if d < step_at {
                        -after * (n - step_at) - jump + before * (d - step_at)
                    } else {
                        after * (d - n)
                    }
                }),
                noise: 0.003,
            }
        }
        "accelerating" => {
            let rate = rng.uniform(0.1, 0.3);
            let slope_now = rng.uniform(0.008, 0.025);
            let scale = slope_now / rate;
            Trace {
                value: Box::new(move |t| scale * ((rate * (days(t) - n)).exp() - 1.0)),
                noise: 0.003,
            }
        }
        "weekly" => {
            // Cycles start Sunday 03:00 (day 6 + 3 h); each grows by `growth` and the purge
            // at its end takes back `purge` of it.
            let growth = rng.uniform(0.05, 0.2);
            let purge = rng.uniform(0.4, 0.7);
            let start = 6 * DAY + 3 * HOUR;
            let cycle = move |t: i64| (t - start) as f64 / (7 * DAY) as f64;
            let raw = move |t: i64| {
                let c = cycle(t);
                growth * (1.0 - purge) * c.floor() + growth * (c - c.floor())
            };
            let at_now = raw(now);
            Trace {
                value: Box::new(move |t| raw(t) - at_now),
                noise: 0.003,
            }
        }
        "flat" => Trace {
            value: Box::new(|_| 0.0),
            noise: 0.01,
        },
        _ => {
            let slope = rng.uniform(0.005, 0.03);
            Trace {
                value: Box::new(move |t| -slope * (days(t) - n)),
                noise: 0.004,
            }
        }
    }
}

/// The trace of `kind`: its shape placed so that it first reaches the threshold a random
/// 0.5 days to 1.2 horizons after `now` (flat and shrinking: at a level from 0.4 to 0.8).
fn trace(kind: &str, rng: &mut Rng, now: i64, horizon: i64) -> Trace {
    let shape = shape(kind, rng, now);
    let level = if matches!(kind, "flat" | "shrinking") {
        rng.uniform(0.4, 0.8)
    } else {
        let until = rng.uniform(0.5 * DAY as f64, 1.2 * horizon as f64) as i64;
        let peak = (0..=until / MINUTE)
            .map(|m| (shape.value)(now + m * MINUTE))
            .fold(f64::NEG_INFINITY, f64::max);
        THRESHOLD - peak
    };
    let Trace { value, noise } = shape;
    Trace {
        value: Box::new(move |t| level + value(t)),
        noise,
    }
}

/// Hours from `now` to the first time the noise-free trace reaches the threshold within
/// the horizon, scanning every minute.
fn true_crossing(trace: &Trace, now: i64, horizon: i64) -> Option<f64> {
    (0..=horizon / MINUTE)
        .find(|&m| (trace.value)(now + m * MINUTE) >= THRESHOLD)
        .map(|m| m as f64 / 60.0)
}

/// `predict_linear`'s crossing, in hours from `now`: least squares with x in seconds
/// relative to `now` (as Prometheus 2.42 computes it), then where the line meets the
/// threshold.
fn predict_linear(samples: &[(i64, f64)], now: i64, horizon: i64) -> Option<f64> {
    let n = samples.len() as f64;
    let (mut sx, mut sy, mut sxy, mut sxx) = (0.0, 0.0, 0.0, 0.0);
    for &(t, v) in samples {
        let x = (t - now) as f64 / 1e3;
        sx += x;
        sy += v;
        sxy += x * v;
        sxx += x * x;
    }
    let slope = (sxy - sx * sy / n) / (sxx - sx * sx / n);
    let intercept = sy / n - slope * sx / n;
    if intercept >= THRESHOLD {
        return Some(0.0);
    }
    if slope <= 0.0 {
        return None;
    }
    let seconds = (THRESHOLD - intercept) / slope;
    (seconds * 1e3 <= horizon as f64).then(|| seconds / 3600.0)
}

/// Per-method tallies for one group of traces.
#[derive(Default, Clone)]
struct Tally {
    errors: Vec<f64>,
    false_alarms: usize,
    missed: usize,
}

fn env(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let lookback = env("LOOKBACK_DAYS", 28) * DAY;
    let horizon = env("HORIZON_DAYS", 7) * DAY;
    let seeds = env("SEEDS", 40) as u64;
    let horizon_h = horizon as f64 / HOUR as f64;
    let mut tallies: BTreeMap<(usize, usize), Tally> = BTreeMap::new();
    let mut picks: BTreeMap<(usize, String), usize> = BTreeMap::new();
    let mut times: BTreeMap<usize, (f64, usize)> = BTreeMap::new();
    for (k, kind) in KINDS.iter().enumerate() {
        for seed in 0..seeds {
            let mut rng = Rng::new(k, seed);
            // Forecast at a random time of day, a few weeks in (so traces have history).
            let now = 28 * DAY + (rng.uniform(0.0, 7.0 * 24.0) as i64) * HOUR;
            let trace = trace(kind, &mut rng, now, horizon);
            let samples: Vec<(i64, f64)> = (1..=lookback / SAMPLE_EVERY)
                .rev()
                .map(|i| now - (i - 1) * SAMPLE_EVERY)
                .map(|t| (MONDAY + t, (trace.value)(t) + trace.noise * rng.gaussian()))
                .collect();
            let truth = true_crossing(&trace, now, horizon);
            for (m, method) in METHODS.iter().enumerate() {
                let predicted = if *method == "predict_linear" {
                    predict_linear(&samples, MONDAY + now, horizon)
                } else {
                    let model = match *method {
                        "linear" => ModelChoice::Linear,
                        "theil_sen" => ModelChoice::TheilSen,
                        "holt" => ModelChoice::Holt,
                        "holt_winters" => ModelChoice::HoltWinters,
                        _ => ModelChoice::Auto,
                    };
                    let request = ForecastRequest {
                        samples: &samples,
                        now_ms: MONDAY + now,
                        horizon_ms: horizon,
                        threshold: THRESHOLD,
                        direction: Direction::Above,
                        model,
                        season: (model == ModelChoice::HoltWinters).then_some(Season::Daily),
                    };
                    let started = Instant::now();
                    let result = forecast(&request);
                    let spent = times.entry(m).or_insert((0.0, 0));
                    spent.0 += started.elapsed().as_secs_f64() * 1e3;
                    spent.1 += 1;
                    match result {
                        Ok(f) => {
                            if model == ModelChoice::Auto {
                                *picks.entry((k, f.model.name().to_owned())).or_default() += 1;
                            }
                            f.eta_ms.map(|t| (t - MONDAY - now) as f64 / HOUR as f64)
                        }
                        Err(e) => {
                            eprintln!("{kind} seed {seed} {method}: {e}");
                            None
                        }
                    }
                };
                if std::env::var("DEBUG").is_ok_and(|d| d == *kind) {
                    eprintln!("{kind} {seed} {method}: truth {truth:?} predicted {predicted:?}");
                }
                let tally = tallies.entry((k, m)).or_default();
                let (p, t) = (predicted.unwrap_or(horizon_h), truth.unwrap_or(horizon_h));
                tally.errors.push((p.min(horizon_h) - t).abs());
                tally.false_alarms += usize::from(truth.is_none() && predicted.is_some());
                tally.missed += usize::from(truth.is_some() && predicted.is_none());
            }
        }
    }
    print_tables(&tallies, &picks, seeds, lookback, horizon);
    let per_model: Vec<String> = times
        .iter()
        .map(|(m, (ms, n))| format!("{} {:.2}", METHODS[*m], ms / *n as f64))
        .collect();
    println!(
        "milliseconds per forecast of {} samples: {}",
        lookback / SAMPLE_EVERY,
        per_model.join(", ")
    );
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn print_tables(
    tallies: &BTreeMap<(usize, usize), Tally>,
    picks: &BTreeMap<(usize, String), usize>,
    seeds: u64,
    lookback: i64,
    horizon: i64,
) {
    println!(
        "Forecast accuracy: lookback {}d, horizon {}d, threshold {THRESHOLD}, a sample every 5 min, {seeds} seeds per trace kind",
        lookback / DAY,
        horizon / DAY
    );
    println!(
        "Mean absolute error of the crossing time in hours (no crossing = the horizon); fa = false alarms, miss = missed crossings\n"
    );
    let header: Vec<String> = METHODS.iter().map(|m| format!("{m:>16}")).collect();
    println!("{:<16}{}   auto picked", "trace", header.join(""));
    let mut overall: Vec<Tally> = vec![Tally::default(); METHODS.len()];
    for (k, kind) in KINDS.iter().enumerate() {
        let mut row = format!("{kind:<16}");
        for m in 0..METHODS.len() {
            let t = &tallies[&(k, m)];
            let marks = match (t.false_alarms, t.missed) {
                (0, 0) => String::new(),
                (f, 0) => format!(" fa{f}"),
                (0, s) => format!(" miss{s}"),
                (f, s) => format!(" fa{f}/m{s}"),
            };
            row.push_str(&format!("{:>16}", format!("{:.1}{marks}", mean(&t.errors))));
            let o = &mut overall[m];
            o.errors.extend(&t.errors);
            o.false_alarms += t.false_alarms;
            o.missed += t.missed;
        }
        let chosen: Vec<String> = picks
            .iter()
            .filter(|((kk, _), _)| *kk == k)
            .map(|((_, name), n)| format!("{name} {n}"))
            .collect();
        println!("{row}   {}", chosen.join(", "));
    }
    let mut row = format!("{:<16}", "overall");
    for o in &overall {
        row.push_str(&format!("{:>16}", format!("{:.1}", mean(&o.errors))));
    }
    println!("{row}");
    let mut row = format!("{:<16}", "false alarms");
    for o in &overall {
        row.push_str(&format!("{:>16}", o.false_alarms));
    }
    println!("{row}");
    let auto = mean(&overall[4].errors);
    let linear = mean(&overall[5].errors);
    println!(
        "\nauto / predict_linear mean error: {:.2} (target: at most 0.5)",
        auto / linear
    );
}
