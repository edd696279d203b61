//! `rate`, `increase` and `delta` (extrapolated to the window's edges) and `irate`,
//! `idelta` (the last two samples).
//!
//! Extrapolation, as Prometheus 2.42 does it:
//! - the raw result is `last - first`, plus, for counters, every value just before a
//!   drop (a reset starts again from zero);
//! - the sampled interval (first to last sample) is stretched towards each window edge:
//!   all the way when the gap to that edge is under 1.1× the average spacing of the
//!   samples, else by half an average spacing (the series probably starts or ends inside
//!   the window);
//! - for counters, the stretch towards the start never goes past the point where the
//!   line through the samples would reach zero (this test comes first in 2.42, before the
//!   1.1× test; later versions swapped the order);
//! - the result is scaled by `stretched / sampled` and, for `rate`, divided by the
//!   window's length in seconds.

use super::Drops;

/// The window a range selector covers, in unix milliseconds, both ends included.
#[derive(Debug, Clone, Copy)]
pub(super) struct Range {
    pub(super) start_ms: i64,
    pub(super) end_ms: i64,
}

impl Range {
    /// The window's length in seconds, computed as Go's `time.Duration.Seconds` does
    /// (whole seconds plus nanoseconds / 1e9) so the last bit agrees.
    fn seconds(self) -> f64 {
        let ms = self.end_ms - self.start_ms;
        let whole = ms / 1000;
        let nanos = (ms % 1000) * 1_000_000;
        whole as f64 + nanos as f64 / 1e9
    }
}

/// `rate` (`counter`, `is_rate`), `increase` (`counter`) or `delta` (neither) over
/// `window`; `None` under two samples. `counter` says what is known of the series' drops
/// (with [`Drops::Never`] there is no reset to look for).
pub(super) fn extrapolated(
    window: &[(i64, f64)],
    range: Range,
    counter: Option<Drops>,
    is_rate: bool,
) -> Option<f64> {
    let (&(first_t, first_v), &(last_t, last_v)) = match window {
        [first, .., last] => (first, last),
        _ => return None,
    };
    let is_counter = counter.is_some();
    let mut result = last_v - first_v;
    if counter == Some(Drops::Maybe) {
        for pair in window.windows(2) {
            if pair[1].1 < pair[0].1 {
                result += pair[0].1;
            }
        }
    }

    let mut duration_to_start = (first_t - range.start_ms) as f64 / 1000.0;
    let duration_to_end = (range.end_ms - last_t) as f64 / 1000.0;
    let sampled_interval = (last_t - first_t) as f64 / 1000.0;
    let average_spacing = sampled_interval / (window.len() - 1) as f64;

    if is_counter && result > 0.0 && first_v >= 0.0 {
        // A counter cannot go below zero: do not extrapolate past the point where the
        // line through the samples reaches it.
        let duration_to_zero = sampled_interval * (first_v / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }

    let threshold = average_spacing * 1.1;
    let mut extrapolate_to = sampled_interval;
    extrapolate_to += if duration_to_start < threshold {
        duration_to_start
    } else {
        average_spacing / 2.0
    };
    extrapolate_to += if duration_to_end < threshold {
        duration_to_end
    } else {
        average_spacing / 2.0
    };

    let mut factor = extrapolate_to / sampled_interval;
    if is_rate {
        factor /= range.seconds();
    }
    Some(result * factor)
}

/// `irate` (`is_rate`) or `idelta` from the last two samples of `window`; `None` under
/// two samples. `irate` treats a drop as a counter reset (the increase is the new value).
pub(super) fn instant(window: &[(i64, f64)], is_rate: bool) -> Option<f64> {
    let (&(prev_t, prev_v), &(last_t, last_v)) = match window {
        [.., prev, last] => (prev, last),
        _ => return None,
    };
    let mut result = if is_rate && last_v < prev_v {
        last_v
    } else {
        last_v - prev_v
    };
    let interval_ms = last_t - prev_t;
    if interval_ms == 0 {
        return None;
    }
    if is_rate {
        result /= interval_ms as f64 / 1000.0;
    }
    Some(result)
}
