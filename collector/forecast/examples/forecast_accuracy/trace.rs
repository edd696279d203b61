//! One trace: a drawn shape placed against the threshold, its true crossing, and its
//! noisy samples.
//!
//! Placement: a growing shape is shifted so that its highest point between the evaluation
//! and a random time 0.25 days to 1.3 horizons later is exactly the threshold, so it first
//! reaches the threshold at or before that time (about a quarter of the traces reach it
//! only past the horizon: "no crossing" is the truth there). Flat and shrinking shapes sit
//! at a random level below it. A draw whose noise-free history (the longest lookback)
//! leaves [0, threshold) — a disk more than empty, or already full — or that crosses
//! within 0.1 days is drawn again: such a trace is not a forecasting question.
//!
//! The truth is the first minute after the evaluation at which the noise-free trace
//! reaches the threshold, up to the horizon; `None` when it does not.

use super::families::{Placement, Shape, shape};
use super::rng::Rng;

/// The threshold, a fraction of the disk.
pub const THRESHOLD: f64 = 0.9;
/// Samples a day (one every 5 minutes).
pub const PER_DAY: usize = 288;
/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;
/// 2026-11-02T00:00:00Z, a Monday: the history of every trace starts four weeks later.
const MONDAY_MS: i64 = 1_793_577_600_000;

/// A drawn trace.
pub struct Trace {
    /// The shape and its extras (noise, spikes, gaps).
    pub shape: Shape,
    /// Added to the shape.
    pub level: f64,
    /// The evaluation point, unix milliseconds.
    pub now_ms: i64,
    /// Days from the evaluation to the true crossing, `None` past the horizon.
    pub truth: Option<f64>,
    /// Draws it took to find an acceptable trace.
    pub attempts: usize,
}

impl Trace {
    /// The noise-free value `d` days after the evaluation.
    pub fn value(&self, d: f64) -> f64 {
        self.level + (self.shape.value)(d)
    }
}

/// Draws a `family` trace with `history` days before the evaluation and a `horizon` in
/// days.
pub fn draw(family: &str, rng: &mut Rng, history: f64, horizon: f64) -> Trace {
    let per_day = PER_DAY as f64;
    let mut attempts = 0;
    loop {
        attempts += 1;
        // The evaluation point: any 5-minute step of the week.
        let clock = rng.uniform(0.0, 7.0 * per_day).floor() / per_day;
        let shape = shape(family, rng, clock, history);
        let level = match shape.placement {
            Placement::Level(level) => level - (shape.value)(0.0),
            Placement::Crossing => {
                let until = rng.uniform(0.25, 1.3 * horizon);
                let peak = (0..=(until * per_day) as i64)
                    .map(|k| (shape.value)(k as f64 / per_day))
                    .fold(f64::NEG_INFINITY, f64::max);
                THRESHOLD - peak
            }
        };
        let crossing = matches!(shape.placement, Placement::Crossing);
        let mut trace = Trace {
            shape,
            level,
            now_ms: MONDAY_MS + 28 * DAY_MS + (clock * DAY_MS as f64).round() as i64,
            truth: None,
            attempts,
        };
        let (low, high) = (0..=(history * per_day) as i64)
            .map(|k| trace.value(-k as f64 / per_day))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
        trace.truth = true_crossing(&trace, horizon);
        let fair_truth = if crossing {
            trace.truth.is_none_or(|t| t >= 0.1)
        } else {
            trace.truth.is_none()
        };
        if (low >= 0.0 && high < THRESHOLD - 1e-3 && fair_truth) || attempts >= 500 {
            return trace;
        }
    }
}

/// The first minute in (0, horizon] at which the noise-free trace reaches the threshold.
fn true_crossing(trace: &Trace, horizon: f64) -> Option<f64> {
    (1..=(horizon * 1440.0).round() as i64)
        .map(|m| m as f64 / 1440.0)
        .find(|&d| trace.value(d) >= THRESHOLD)
}

/// The samples of the last `history` days up to the evaluation, oldest first: the
/// noise-free value plus Gaussian noise plus any burst, none inside a gap.
pub fn samples(trace: &Trace, rng: &mut Rng, history: f64) -> Vec<(i64, f64)> {
    let count = (history * PER_DAY as f64).round() as i64;
    let step_ms = DAY_MS / PER_DAY as i64;
    let shape = &trace.shape;
    (0..count)
        .rev()
        .filter_map(|k| {
            let d = -k as f64 / PER_DAY as f64;
            let noise = shape.noise * rng.gaussian();
            if shape.gaps.iter().any(|&(from, to)| d >= from && d < to) {
                return None;
            }
            let burst: f64 = shape
                .spikes
                .iter()
                .filter(|s| d >= s.at && d < s.at + s.len)
                .map(|s| s.height)
                .sum();
            Some((trace.now_ms - k * step_ms, trace.value(d) + noise + burst))
        })
        .collect()
}
