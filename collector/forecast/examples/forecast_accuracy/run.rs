//! Runs one set of traces: each trace is drawn once with the longest lookback's history,
//! and every lookback forecasts from its own tail of the same samples, so the lookbacks
//! are compared on the same traces and the same truth.

use std::time::Instant;

use vigil_forecast::{Direction, ForecastRequest, ModelChoice, Season, forecast};

use super::families::FAMILIES;
use super::rng::Rng;
use super::score::{METHODS, Outcome, Tally, predict_linear};
use super::trace::{DAY_MS, THRESHOLD, Trace, draw, samples};

/// What to run.
pub struct Config {
    /// Traces per family and set.
    pub seeds: u64,
    /// Lookbacks in days, the headline first.
    pub lookbacks: Vec<f64>,
    /// Horizon in days.
    pub horizon: f64,
    /// A family whose tuning-set traces are printed one by one to stderr (`all`: every
    /// family).
    pub debug: Option<String>,
}

/// One lookback's tallies: `rows[family][method]`.
pub struct Table {
    /// Lookback in days.
    pub lookback: f64,
    /// Per family (in `FAMILIES` order), per method (in `METHODS` order).
    pub rows: Vec<Vec<Tally>>,
}

impl Table {
    /// One method's tallies over the families `keep` admits.
    pub fn total(&self, method: usize, keep: impl Fn(&str) -> bool) -> Tally {
        let mut total = Tally::default();
        for (row, (family, _)) in self.rows.iter().zip(FAMILIES) {
            if keep(family) {
                total.merge(&row[method]);
            }
        }
        total
    }
}

/// Runs the set with seed base `base`; `debug` allows the per-trace printout (never for
/// the held-back set: nobody should look at its traces).
pub fn run_set(base: u64, config: &Config, debug: bool) -> Vec<Table> {
    let history = config.lookbacks.iter().copied().fold(0.0, f64::max);
    let mut tables: Vec<Table> = config
        .lookbacks
        .iter()
        .map(|&lookback| Table {
            lookback,
            rows: vec![vec![Tally::default(); METHODS.len()]; FAMILIES.len()],
        })
        .collect();
    for (f, (family, _)) in FAMILIES.iter().enumerate() {
        let show =
            debug && matches!(config.debug.as_deref(), Some(d) if d == *family || d == "all");
        for seed in 0..config.seeds {
            let mut rng = Rng::for_trace(base, family, seed);
            let trace = draw(family, &mut rng, history, config.horizon);
            let all = samples(&trace, &mut rng, history);
            if show {
                // Days since the Monday 00:00 UTC before the evaluation (the epoch was a
                // Thursday).
                let weekday = (trace.now_ms as f64 / DAY_MS as f64 + 3.0).rem_euclid(7.0);
                eprintln!(
                    "{family} #{seed}: {} (level {:.3}, {} draws, now day {weekday:.2} of \
                     the week); truth {:?}",
                    trace.shape.params, trace.level, trace.attempts, trace.truth
                );
            }
            for table in &mut tables {
                let from = trace.now_ms - (table.lookback * DAY_MS as f64) as i64;
                let window = &all[all.partition_point(|&(t, _)| t <= from)..];
                let linear = predict_linear(window, trace.now_ms, config.horizon, THRESHOLD);
                for (m, &(name, model)) in METHODS.iter().enumerate() {
                    let outcome = evaluate(window, &trace, model, config.horizon);
                    if show {
                        eprintln!(
                            "  {}d {name}: eta {:?} band {:?} {}",
                            table.lookback,
                            outcome.eta,
                            outcome.band,
                            outcome.picked.as_deref().unwrap_or("")
                        );
                    }
                    table.rows[f][m].record(trace.truth, &outcome, linear, config.horizon);
                }
            }
        }
    }
    tables
}

/// Forecasts `trace` from `window` with `model` (`None`: `predict_linear`).
fn evaluate(
    window: &[(i64, f64)],
    trace: &Trace,
    model: Option<ModelChoice>,
    horizon: f64,
) -> Outcome {
    let now_ms = trace.now_ms;
    let started = Instant::now();
    let Some(model) = model else {
        let eta = predict_linear(window, now_ms, horizon, THRESHOLD);
        return Outcome {
            eta,
            band: None,
            picked: None,
            failed: false,
            ms: started.elapsed().as_secs_f64() * 1e3,
        };
    };
    let request = ForecastRequest {
        samples: window,
        now_ms,
        horizon_ms: (horizon * DAY_MS as f64) as i64,
        threshold: THRESHOLD,
        direction: Direction::Above,
        model,
        season: (model == ModelChoice::HoltWinters).then_some(Season::Daily),
    };
    let result = forecast(&request);
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let days = |t: Option<i64>| t.map(|t| (t - now_ms) as f64 / DAY_MS as f64);
    match result {
        Ok(f) => Outcome {
            eta: days(f.eta_ms),
            band: Some((days(f.eta_lower_ms), days(f.eta_upper_ms))),
            picked: (model == ModelChoice::Auto).then(|| variant(&f.detail)),
            failed: false,
            ms,
        },
        Err(_) => Outcome {
            eta: None,
            band: None,
            picked: None,
            failed: true,
            ms,
        },
    }
}

/// `detail` up to its first number, without trailing spaces and punctuation.
fn variant(detail: &str) -> String {
    let cut = detail
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(detail.len());
    detail[..cut]
        .trim_end_matches(|c: char| c.is_whitespace() || c.is_ascii_punctuation())
        .to_owned()
}
