//! Forecast accuracy on synthetic disk-usage traces whose true crossing is known: every
//! model, and Prometheus's `predict_linear` over the same lookback.
//!
//! Built so that it cannot be tuned to: each of 21 trace families (the list, with the
//! ranges, is in `forecast_accuracy/families.rs`) draws its shape parameters at random
//! from wide ranges — growth rates, noise, step size and timing, curvature, season
//! strength, office hours, spikes, gaps and the evaluation point's time of week — and
//! there are two sets drawn the same way from different seed bases:
//!
//! - the **tuning** set, which anyone may look at (`DEBUG=<family>` prints its traces);
//! - the **held-back** set, reported separately, never printed trace by trace. Do not
//!   use it while tuning models: look at it only to report. `HELDBACK_BASE=<n>` draws a
//!   fresh held-back set for a model that may have been fitted to this one.
//!
//! Each trace is a fraction of the disk with a sample every 5 minutes and a threshold of
//! 0.9; the truth is the first minute the noise-free trace reaches it within the horizon
//! (see `trace.rs`). Every lookback forecasts from its own tail of the same samples. The
//! scoring — mean absolute ETA error with "no crossing" counted as the horizon, false
//! alarms, misses (and those where `predict_linear` did warn), the 95 % band's coverage
//! and a bootstrap interval of `auto` ÷ `predict_linear` — is in `score.rs`.
//!
//! ```text
//! cargo run --release -p vigil-forecast --example forecast_accuracy
//! cargo test -p vigil-forecast --example forecast_accuracy    # the benchmark's own checks
//! SEEDS=40          traces per family and set (the default)
//! HORIZON_DAYS=30   the horizon
//! LOOKBACKS="7 1 28" lookbacks in days, the headline first
//! SETS="tuning heldback"
//! FORMAT=json       one JSON object instead of the tables
//! DEBUG=step_faster every trace of a family of the tuning set, to stderr (DEBUG=all: of every family)
//! TUNING_BASE, HELDBACK_BASE   the seed bases
//! ```

mod forecast_accuracy {
    pub mod families;
    pub mod report;
    pub mod rng;
    pub mod run;
    pub mod score;
    pub mod trace;

    #[cfg(test)]
    mod tests;
}

use forecast_accuracy::report::{self, SetResult};
use forecast_accuracy::run::{Config, run_set};

/// Seed base of the tuning set.
const TUNING_BASE: u64 = 0x7475_6e69_6e67;
/// Seed base of the held-back set.
const HELDBACK_BASE: u64 = 0x6865_6c64_6261_636b;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| {
            eprintln!(
                "forecast_accuracy: {name}={v:?} is not a valid value; set it right or unset it"
            );
            std::process::exit(2)
        }),
        Err(_) => default,
    }
}

fn main() {
    let lookbacks: Vec<f64> = env("LOOKBACKS", "7 1 28".to_owned())
        .split_whitespace()
        .map(|d| match d.parse::<f64>() {
            Ok(d) if d > 0.0 => d,
            _ => {
                eprintln!("forecast_accuracy: LOOKBACKS has {d:?}; give positive days, e.g. LOOKBACKS=\"7 1 28\"");
                std::process::exit(2)
            }
        })
        .collect();
    let config = Config {
        seeds: env("SEEDS", 40),
        lookbacks,
        horizon: env("HORIZON_DAYS", 30.0),
        debug: std::env::var("DEBUG").ok(),
    };
    let sets = env("SETS", "tuning heldback".to_owned());
    let mut results = Vec::new();
    for set in sets.split_whitespace() {
        let (name, base, debug) = match set {
            "tuning" => ("tuning", env("TUNING_BASE", TUNING_BASE), true),
            "heldback" | "held-back" => ("held-back", env("HELDBACK_BASE", HELDBACK_BASE), false),
            other => {
                eprintln!(
                    "forecast_accuracy: SETS has {other:?}; use \"tuning\", \"heldback\" or both"
                );
                std::process::exit(2)
            }
        };
        let tables = run_set(base, &config, debug);
        results.push(SetResult { name, base, tables });
    }
    if std::env::var("FORMAT").is_ok_and(|f| f == "json") {
        println!("{}", report::json(&results, &config));
    } else {
        print!("{}", report::text(&results, &config));
    }
}
