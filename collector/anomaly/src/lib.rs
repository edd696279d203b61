//! # vigil-anomaly
//!
//! An online detector of a series behaving unlike itself: fed one sample at a time, it
//! answers with a score in [0, 1] and the band it expected the sample in. Pure computation
//! (no store, no clock), like `vigil-forecast`, so the collector's rules, the CLI's
//! `vigil anomaly score` and the benchmark run exactly the same code.
//!
//! # The model (`seasonal`, the default)
//!
//! The expected value is a robust level plus, once the history shows them, a daily and a
//! weekly profile (offsets at each hour of the day and of the week, joined by straight
//! lines within the hour). Each sample's residual from it,
//! divided by the series' own robust scale (a running mean absolute deviation), is its
//! *z*; everything below is in units of that scale, so one threshold means the same on
//! every series whatever its size or noise.
//!
//! - **Robust.** The level, the profiles and the scale learn from the residual clipped to
//!   ±3 scales: one outlier moves them little. A lasting shift is learned within about
//!   [`SHIFT_LEARNED`] samples, so it does not alarm forever.
//! - **Steps.** A series whose values come in steps (counts, rounded gauges) has a noise
//!   floor of half its smallest step, so a count moving from 5 to 6 is not a 10⁸-sigma event.
//! - **Seasonal only where it shows.** A profile is used once it has seen two cycles and
//!   its residuals are at least a fifth smaller than without it; a flat series never
//!   gets one.
//! - **Early.** Three kinds of evidence, each scored at the sample that brings it:
//!   - one sample far out (a spike or dip): *z* itself;
//!   - a run of samples on one side (a level shift, a trend change): a one-sided CUSUM
//!     of *z* beyond 1, which passes the threshold after a few samples of a shift too
//!     small to stand out alone;
//!   - a change of noise (variance up, or a metric that stops moving): the ratio of a
//!     fast to the slow scale, and the run of unchanged values against how often the
//!     series used to change.
//! - **Wandering series.** A load average or a rate over five minutes drifts: one residual
//!   foretells the next, and runs on one side are its habit. Where the residuals' lag-1
//!   autocorrelation (learned slowly) is above 0.3, the runs and the noise are judged on
//!   the innovations (what the previous residual did not foretell) instead.
//! - **Scored.** Each kind is mapped to [0, 1] by a fixed curve (0 below its quiet
//!   level, 0.5 at the level that Gaussian noise passes about once a week at a 1-minute
//!   step, 1 well beyond); the score is the largest.
//! - **Causal.** A score uses only the samples up to it: running the detector over the
//!   first part of a series gives exactly the scores of the whole run for those samples.
//!
//! # Used by
//!
//! The collector's `anomaly:` rules (a detector per watched series, its state saved with
//! [`Detector::to_bytes`]), `vigil anomaly score` and `tests/bench/anomaly_accuracy.sh`.
//! Known weaknesses: trend changes (a slope that starts) are found about half the time and
//! season breaks about a third of the time, less on series that wander; with a weekly
//! pattern the hours where the weekend begins and ends can still alarm in the first weeks;
//! a shift of about 2.5 standard deviations may be learned before it is reported (the
//! level starts learning fast at a CUSUM of 5, the score reaches 0.5 at 8).
//!
//! # Bounded
//!
//! State per series: [`STATE_BYTES`] bytes at most (24 + 168 profile slots as `f32`, plus
//! a few counters; 944 bytes today); see the test `state_is_small`. No allocation after
//! construction. Cost: `cargo run --release -p vigil-anomaly --example cost` (1,000 series
//! × a week at 1 minute, fed round-robin) took 72 ns per sample on one core of this
//! 2-core machine while other work ran (2026-12-05).

mod detector;
mod persist;
mod score;
pub mod synth;

pub use detector::{Detector, Scored};
pub use persist::ENCODED_BYTES;
pub use score::{Evidence, score_of};

/// Upper bound of a [`Detector`]'s size in bytes (its whole state).
pub const STATE_BYTES: usize = 1024;

/// Samples after which a lasting level shift no longer scores as anomalous (about).
pub const SHIFT_LEARNED: u64 = 60;

#[cfg(test)]
mod tests;
