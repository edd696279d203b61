//! The progress bar of `vigil import`: bytes read of the file's size and samples per second
//! stored, on stderr, only when stderr is a terminal (a log gets the summary line only).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Progress shown while importing; a no-op when stderr is not a terminal.
#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
    started: Instant,
}

impl Progress {
    /// A bar for an input of `size` bytes (a spinner with a byte count when unknown).
    pub fn new(size: Option<u64>) -> Self {
        let bar = if std::io::stderr().is_terminal() {
            let (bar, template) = match size {
                Some(size) => (
                    ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr()),
                    "{spinner} {elapsed_precise} {wide_bar} {bytes}/{total_bytes} {msg}",
                ),
                None => (
                    ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
                    "{spinner} {elapsed_precise} {bytes} read, {msg}",
                ),
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        } else {
            ProgressBar::hidden()
        };
        Self {
            bar,
            started: Instant::now(),
        }
    }

    /// The reader got `bytes` further.
    pub fn read(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    /// The collector has stored `samples` in all so far.
    pub fn stored(&self, samples: u64) {
        if !self.bar.is_hidden() {
            let rate = per_second(samples, self.started.elapsed());
            self.bar
                .set_message(format!("{} samples, {}/s", group(samples), group(rate)));
        }
    }

    /// Time since the bar was made.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Removes the bar, so the summary line stands alone.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// `n` per second over `elapsed`, rounded.
pub fn per_second(n: u64, elapsed: Duration) -> u64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        (n as f64 / secs).round() as u64
    } else {
        0
    }
}

/// `1234567` as `1,234,567`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping_and_rates() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(per_second(500, Duration::from_millis(250)), 2000);
        assert_eq!(per_second(5, Duration::ZERO), 0);
    }
}
