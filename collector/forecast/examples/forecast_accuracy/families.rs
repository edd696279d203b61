//! The trace families: the noise-free shape of each, with its parameters drawn at random
//! from wide ranges (not only the seed changes: rates, noise, step size and timing,
//! curvature, season strength, business hours, gaps and spikes all do).
//!
//! A shape is a function of `d`, days relative to the evaluation point (negative in the
//! history, positive in the horizon); `c` = `clock` + `d` is the time of week in days
//! since a Monday 00:00 UTC, for the families that follow the calendar. `trace` then
//! shifts the shape so that it reaches the threshold at a random time (growing families)
//! or sits at a random level (flat, shrinking). "lu" below is log-uniform: every order of
//! magnitude of a rate or a noise level is as likely as the next.

use super::rng::Rng;

/// How many of [`FAMILIES`] came before the five added after round 8 (the figures of
/// rounds 1–8 are over these).
pub const FIRST_FAMILIES: usize = 16;

/// Every family, in table order, with what it is.
pub const FAMILIES: [(&str, &str); 21] = [
    ("linear", "straight growth, lu 0.002–0.05 per day"),
    (
        "business_hours",
        "growth only Mon–Fri in office hours (opening 6–10 h, 7–11 h long)",
    ),
    (
        "sawtooth",
        "slow growth under a daily log rotation of 1–12 % at a random hour",
    ),
    (
        "step_faster",
        "a step of 1–12 % 1–3 days before the evaluation, then 1.5–6× the slope",
    ),
    ("accelerating", "exponential growth, rate 0.02–0.25 per day"),
    (
        "quadratic",
        "quadratic growth whose vertex lies 3–60 days back",
    ),
    (
        "weekly",
        "growth all week, a purge of 30–90 % of it once a week at a random time",
    ),
    (
        "flat",
        "a level with noise, half with a daily and a third with a weekly cycle",
    ),
    ("shrinking", "a falling level, lu 0.001–0.03 per day"),
    (
        "slope_change",
        "no step: the slope turns 2–8× steeper 0.5–7 days back",
    ),
    (
        "slow_then_fast",
        "a smooth rise of the slope (3–12×) centred 0.5–5 days back",
    ),
    (
        "plateau_growth",
        "a noisy plateau, then growth from 0.5–5 days back",
    ),
    (
        "down_then_up",
        "falling (a clean-up), then growing from 1–10 days back",
    ),
    (
        "spikes",
        "straight growth with bursts of 1–15 % lasting 5–60 min, 0.5–5 a day",
    ),
    (
        "gaps",
        "growth with 1–4 gaps of 1–48 h, and in 30 % a gap up to the evaluation",
    ),
    (
        "seasonal_growth",
        "growth under daily and weekly cycles of up to 6 % each",
    ),
    // Added after round 8 and never tuned on: a check that the models hold on shapes
    // they were not built beside.
    (
        "fast_then_slow",
        "no step: the slope turns 2–8× gentler 0.5–7 days back",
    ),
    (
        "cleanup_step",
        "a clean-up of 5–40 % at once 0.5–6 days back, the slope unchanged",
    ),
    (
        "staircase",
        "growth in daily jumps of 0.3–4 % at a random hour (a nightly dump), slow between",
    ),
    (
        "saturating",
        "growth that slows as it fills: the slope decays over 3–30 days",
    ),
    (
        "drift_walk",
        "a drift of lu 0.002–0.03 per day under a random walk of 0.2–1× it per √day",
    ),
];

/// How `trace` places a shape against the threshold.
pub enum Placement {
    /// Shift it so that it reaches the threshold at a random time (maybe past the horizon).
    Crossing,
    /// Put its value at the evaluation point at this level; it never reaches the threshold.
    Level(f64),
}

/// A burst in the samples that the noise-free trace (the truth) does not have.
pub struct Spike {
    /// Start, days relative to the evaluation point.
    pub at: f64,
    /// Length in days.
    pub len: f64,
    /// Added to the samples inside it.
    pub height: f64,
}

/// A drawn shape.
pub struct Shape {
    /// The noise-free change, at `d` days from the evaluation point.
    pub value: Box<dyn Fn(f64) -> f64>,
    /// Standard deviation of the Gaussian noise on the samples.
    pub noise: f64,
    /// How to place it.
    pub placement: Placement,
    /// Bursts in the samples only.
    pub spikes: Vec<Spike>,
    /// Stretches without samples, (from, to) days relative to the evaluation point.
    pub gaps: Vec<(f64, f64)>,
    /// The parameters drawn, for `DEBUG`.
    pub params: String,
}

impl Shape {
    fn new(value: impl Fn(f64) -> f64 + 'static, noise: f64, params: String) -> Self {
        Shape {
            value: Box::new(value),
            noise,
            placement: Placement::Crossing,
            spikes: Vec::new(),
            gaps: Vec::new(),
            params,
        }
    }
}

/// Noise of most families: lu 0.0003–0.008 (a fraction of the disk).
fn noise(rng: &mut Rng) -> f64 {
    rng.log_uniform(0.0003, 0.008)
}

/// `ln(1 + eˣ)` without overflow.
fn softplus(x: f64) -> f64 {
    if x > 30.0 { x } else { x.exp().ln_1p() }
}

/// Office hours from day 0 (a Monday) to `c` days: opening at `open` hours, `len` hours
/// long, Monday to Friday. Negative `c` counts backwards (negative hours).
fn office_hours(c: f64, open: f64, len: f64) -> f64 {
    let day = c.floor();
    let k = day as i64;
    let weekdays_before = 5 * k.div_euclid(7) + k.rem_euclid(7).min(5);
    let today = if k.rem_euclid(7) < 5 {
        ((c - day) * 24.0 - open).clamp(0.0, len)
    } else {
        0.0
    };
    weekdays_before as f64 * len + today
}

/// Slope `before` until `at` days, then `after`, with no step.
fn two_slopes(at: f64, before: f64, after: f64, noise: f64) -> Shape {
    Shape::new(
        move |d| {
            if d < at {
                before * (d - at)
            } else {
                after * (d - at)
            }
        },
        noise,
        format!("slope {before:.4} then {after:.4}/d from {at:.2} d"),
    )
}

/// Draws a shape of `family` for an evaluation at `clock` days since a Monday 00:00 UTC,
/// looking back `history` days.
pub fn shape(family: &str, rng: &mut Rng, clock: f64, history: f64) -> Shape {
    let c0 = clock;
    let tau = std::f64::consts::TAU;
    match family {
        "linear" => {
            let s = rng.log_uniform(0.002, 0.05);
            Shape::new(move |d| s * d, noise(rng), format!("slope {s:.4}/d"))
        }
        "business_hours" => {
            let week = rng.log_uniform(0.01, 0.3);
            let (open, len) = (rng.uniform(6.0, 10.0), rng.uniform(7.0, 11.0));
            let per_hour = week / (5.0 * len);
            let background = rng.uniform(0.0, 0.15) * week / 7.0;
            let at_now = office_hours(c0, open, len);
            Shape::new(
                move |d| per_hour * (office_hours(c0 + d, open, len) - at_now) + background * d,
                noise(rng),
                format!("{week:.4}/week, {open:.1} h + {len:.1} h, background {background:.5}/d"),
            )
        }
        "sawtooth" => {
            let s = rng.log_uniform(0.0005, 0.02);
            let amplitude = rng.uniform(0.01, 0.12);
            let hour = rng.uniform(0.0, 1.0);
            let tooth = move |c: f64| amplitude * (c - hour - (c - hour).floor());
            Shape::new(
                move |d| s * d + tooth(c0 + d) - tooth(c0),
                noise(rng),
                format!(
                    "slope {s:.4}/d, rotation {amplitude:.3} at {:.1} h",
                    hour * 24.0
                ),
            )
        }
        "step_faster" => {
            let at = -rng.uniform(1.0, 3.0);
            let jump = rng.log_uniform(0.01, 0.12);
            let before = rng.log_uniform(0.0005, 0.01);
            let after = before * rng.uniform(1.5, 6.0);
            Shape::new(
                move |d| {
                    if d < at {
                        before * (d - at)
                    } else {
                        jump + after * (d - at)
                    }
                },
                noise(rng),
                format!("step {jump:.3} at {at:.2} d, slope {before:.4} then {after:.4}/d"),
            )
        }
        "accelerating" => {
            let r = rng.uniform(0.02, 0.25);
            let s0 = rng.log_uniform(0.001, 0.02);
            Shape::new(
                move |d| s0 / r * ((r * d).exp() - 1.0),
                noise(rng),
                format!("rate {r:.3}/d, slope now {s0:.4}/d"),
            )
        }
        "quadratic" => {
            let vertex = -rng.uniform(3.0, 60.0);
            let s0 = rng.log_uniform(0.001, 0.02);
            let curvature = s0 / (2.0 * -vertex);
            let base = s0 * rng.uniform(0.0, 0.3);
            let q = move |d: f64| curvature * (d - vertex).max(0.0).powi(2);
            Shape::new(
                move |d| q(d) - q(0.0) + base * d,
                noise(rng),
                format!("vertex {vertex:.1} d, slope now {s0:.4}/d, base {base:.4}/d"),
            )
        }
        "weekly" => {
            let growth = rng.log_uniform(0.02, 0.25);
            let purge = rng.uniform(0.3, 0.9);
            let at = rng.uniform(0.0, 7.0);
            let raw = move |c: f64| {
                let cycle = (c - at) / 7.0;
                growth * (1.0 - purge) * cycle.floor() + growth * (cycle - cycle.floor())
            };
            Shape::new(
                move |d| raw(c0 + d) - raw(c0),
                noise(rng),
                format!("{growth:.3}/week, purge {purge:.2} at day {at:.2}"),
            )
        }
        "flat" => {
            let daily = if rng.chance(0.5) {
                rng.uniform(0.0, 0.04)
            } else {
                0.0
            };
            let weekly = if rng.chance(0.3) {
                rng.uniform(0.0, 0.04)
            } else {
                0.0
            };
            let (pd, pw) = (rng.uniform(0.0, 1.0), rng.uniform(0.0, 7.0));
            let level = rng.uniform(0.2, 0.85 - 2.0 * (daily + weekly));
            let mut shape = Shape::new(
                move |d| {
                    let c = c0 + d;
                    daily * (tau * (c - pd)).sin() + weekly * (tau * (c - pw) / 7.0).sin()
                },
                rng.log_uniform(0.0005, 0.015),
                format!("level {level:.3}, daily {daily:.3}, weekly {weekly:.3}"),
            );
            shape.placement = Placement::Level(level);
            shape
        }
        "shrinking" => {
            let s = rng.log_uniform(0.001, 0.03);
            let daily = if rng.chance(0.3) {
                rng.uniform(0.0, 0.03)
            } else {
                0.0
            };
            let phase = rng.uniform(0.0, 1.0);
            let level = rng.uniform(0.1, 0.85);
            let mut shape = Shape::new(
                move |d| -s * d + daily * (tau * (c0 + d - phase)).sin(),
                noise(rng),
                format!("level {level:.3}, slope -{s:.4}/d, daily {daily:.3}"),
            );
            shape.placement = Placement::Level(level);
            shape
        }
        "slope_change" => {
            let at = -rng.uniform(0.5, 7.0);
            let before = rng.log_uniform(0.0003, 0.01);
            let after = before * rng.uniform(2.0, 8.0);
            two_slopes(at, before, after, noise(rng))
        }
        "slow_then_fast" => {
            let s1 = rng.log_uniform(0.0003, 0.005);
            let s2 = s1 * rng.uniform(3.0, 12.0);
            let centre = -rng.uniform(0.5, 5.0);
            let width = rng.uniform(0.2, 2.0);
            let ramp = move |d: f64| (s2 - s1) * width * softplus((d - centre) / width);
            Shape::new(
                move |d| s1 * d + ramp(d) - ramp(0.0),
                noise(rng),
                format!("slope {s1:.4} to {s2:.4}/d around {centre:.2} d (width {width:.2} d)"),
            )
        }
        "plateau_growth" => {
            let at = -rng.uniform(0.5, 5.0);
            let s = rng.log_uniform(0.002, 0.04);
            Shape::new(
                move |d| s * (d - at).max(0.0),
                rng.log_uniform(0.002, 0.015),
                format!("plateau, then {s:.4}/d from {at:.2} d"),
            )
        }
        "down_then_up" => {
            let at = -rng.uniform(1.0, 10.0);
            let down = rng.log_uniform(0.002, 0.02);
            let up = rng.log_uniform(0.002, 0.03);
            Shape::new(
                move |d| {
                    if d < at {
                        down * (at - d)
                    } else {
                        up * (d - at)
                    }
                },
                noise(rng),
                format!("falling {down:.4}/d, rising {up:.4}/d from {at:.2} d"),
            )
        }
        "spikes" => {
            let s = rng.log_uniform(0.002, 0.04);
            let rate = rng.uniform(0.5, 5.0);
            let mut shape = Shape::new(move |d| s * d, noise(rng), String::new());
            let count = (rate * history).round() as usize;
            shape.spikes = (0..count)
                .map(|_| Spike {
                    at: -rng.uniform(0.0, history),
                    len: rng.int(1, 12) as f64 * 5.0 / 1440.0,
                    height: rng.log_uniform(0.01, 0.15),
                })
                .collect();
            shape.params = format!("slope {s:.4}/d, {count} bursts");
            shape
        }
        "gaps" => {
            let s = rng.log_uniform(0.002, 0.04);
            let mut shape = Shape::new(move |d| s * d, noise(rng), String::new());
            for _ in 0..rng.int(1, 4) {
                let len = rng.log_uniform(1.0, 48.0) / 24.0;
                let from = -rng.uniform(len, history);
                shape.gaps.push((from, from + len));
            }
            if rng.chance(0.3) {
                let to = -rng.uniform(0.0, 1.0) / 24.0;
                shape
                    .gaps
                    .push((to - rng.uniform(3.0, 24.0) / 24.0, to + 1e-9));
            }
            shape.params = format!("slope {s:.4}/d, gaps {:.2?}", shape.gaps);
            shape
        }
        "seasonal_growth" => {
            let s = rng.log_uniform(0.002, 0.03);
            let (daily, weekly) = (rng.uniform(0.0, 0.06), rng.uniform(0.0, 0.06));
            let (pd, pw) = (rng.uniform(0.0, 1.0), rng.uniform(0.0, 7.0));
            let cycles = move |c: f64| {
                daily * (tau * (c - pd)).sin() + weekly * (tau * (c - pw) / 7.0).sin()
            };
            Shape::new(
                move |d| s * d + cycles(c0 + d) - cycles(c0),
                noise(rng),
                format!("slope {s:.4}/d, daily {daily:.3}, weekly {weekly:.3}"),
            )
        }
        "fast_then_slow" => {
            let at = -rng.uniform(0.5, 7.0);
            let after = rng.log_uniform(0.0005, 0.015);
            let before = after * rng.uniform(2.0, 8.0);
            two_slopes(at, before, after, noise(rng))
        }
        "cleanup_step" => {
            let at = -rng.uniform(0.5, 6.0);
            let s = rng.log_uniform(0.002, 0.04);
            let drop = rng.uniform(0.05, 0.4);
            Shape::new(
                move |d| s * d - if d >= at { drop } else { 0.0 },
                noise(rng),
                format!("slope {s:.4}/d, clean-up of {drop:.3} at {at:.2} d"),
            )
        }
        "staircase" => {
            let jump = rng.log_uniform(0.003, 0.04);
            let between = jump * rng.uniform(0.0, 0.2);
            let hour = rng.uniform(0.0, 1.0);
            // Whole jumps since a fixed day, each over 15 minutes (a dump is written, not
            // teleported).
            let stairs = move |c: f64| {
                let x = c - hour;
                jump * (x.floor() + ((x - x.floor()) * 96.0).min(1.0))
            };
            Shape::new(
                move |d| stairs(c0 + d) - stairs(c0) + between * d,
                noise(rng),
                format!(
                    "jump {jump:.4} a day at {:.1} h, {between:.5}/d between",
                    hour * 24.0
                ),
            )
        }
        "saturating" => {
            let tau = rng.uniform(3.0, 30.0);
            let s0 = rng.log_uniform(0.002, 0.03);
            // The slope now is s0, s0·e^(−d/τ) at d: larger in the past, back to `begin`,
            // 0.5–2 time constants ago, and constant before (a line that began to slow).
            let begin = -rng.uniform(0.5, 2.0) * tau;
            let curve = move |d: f64| s0 * tau * (1.0 - (-d / tau).exp());
            let early = s0 * (-begin / tau).exp();
            Shape::new(
                move |d| {
                    if d >= begin {
                        curve(d)
                    } else {
                        curve(begin) + early * (d - begin)
                    }
                },
                noise(rng),
                format!("slope now {s0:.4}/d, decaying over {tau:.1} d since {begin:.1} d"),
            )
        }
        "drift_walk" => {
            let drift = rng.log_uniform(0.002, 0.03);
            let sigma = drift * rng.uniform(0.2, 1.0);
            // The walk at every hour from the history's start to 60 days ahead (past the
            // longest placement, 1.3 horizons of 30 days), zero at the evaluation.
            const PER_HOUR: f64 = 24.0;
            let back = (history * PER_HOUR).ceil() as usize + 1;
            let ahead = (60.0 * PER_HOUR) as usize;
            let step = sigma / PER_HOUR.sqrt();
            let mut walk = vec![0.0; back + ahead + 1];
            for k in (0..back).rev() {
                walk[k] = walk[k + 1] - step * rng.gaussian();
            }
            for k in back + 1..walk.len() {
                walk[k] = walk[k - 1] + step * rng.gaussian();
            }
            let at = move |d: f64| {
                let x = (d * PER_HOUR + back as f64).clamp(0.0, (walk.len() - 1) as f64);
                let k = (x.floor() as usize).min(walk.len() - 2);
                walk[k] + (x - k as f64) * (walk[k + 1] - walk[k])
            };
            Shape::new(
                move |d| drift * d + at(d),
                noise(rng),
                format!("drift {drift:.4}/d, walk {sigma:.4}/√d"),
            )
        }
        other => panic!("unknown trace family {other}"),
    }
}
