//! Each remote's counters and state: read by the collector's own metrics
//! (`vigil_remote_write_*{remote}`) and by `vigil status`.

use super::round::Clock;
use crate::own_metrics::OwnSeries;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};

/// Why samples were skipped: the `reason` label of
/// `vigil_remote_write_samples_dropped_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Older than `max_lag` when their turn came (or while their round was retried).
    MaxLag,
    /// Beyond `max_queue_bytes` of unsent log.
    MaxBytes,
    /// In a damaged log record.
    Damaged,
    /// Older than a sample of the same series already sent.
    OutOfOrder,
}

impl DropReason {
    const ALL: [DropReason; 4] = [
        DropReason::MaxLag,
        DropReason::MaxBytes,
        DropReason::Damaged,
        DropReason::OutOfOrder,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::MaxLag => "max_lag",
            DropReason::MaxBytes => "max_bytes",
            DropReason::Damaged => "damaged",
            DropReason::OutOfOrder => "out_of_order",
        }
    }
}

/// The `code` label of `vigil_remote_write_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Accepted.
    Success,
    /// Refused (4xx other than 429).
    Refused,
    /// Too many requests: retried.
    TooMany,
    /// Server error: retried.
    ServerError,
    /// No answer (connection, timeout): retried.
    Error,
}

impl Code {
    const ALL: [Code; 5] = [
        Code::Success,
        Code::Refused,
        Code::TooMany,
        Code::ServerError,
        Code::Error,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Code::Success => "2xx",
            Code::Refused => "4xx",
            Code::TooMany => "429",
            Code::ServerError => "5xx",
            Code::Error => "error",
        }
    }

    /// The code of an HTTP status (`None`: no answer).
    pub fn of(status: Option<u16>) -> Code {
        match status {
            Some(200..=299) => Code::Success,
            Some(429) => Code::TooMany,
            Some(500..=599) => Code::ServerError,
            Some(_) => Code::Refused,
            None => Code::Error,
        }
    }
}

/// What a remote is doing, for `vigil status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    /// Caught up, waiting for more.
    Idle = 0,
    /// Sending a round.
    Sending = 1,
    /// A request of the round failed and is being retried.
    Retrying = 2,
    /// Sending the history a new remote asked for.
    Backfilling = 3,
}

impl State {
    /// The name `vigil status` shows.
    pub fn label(self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Sending => "sending",
            State::Retrying => "retrying",
            State::Backfilling => "backfilling",
        }
    }
}

/// One remote's counters, gauges and state.
pub struct RemoteMetrics {
    /// The remote's name (the `remote` label).
    pub name: String,
    /// Its URL without credentials or query, for `vigil status`.
    pub url: String,
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: [AtomicU64; 4],
    requests: [AtomicU64; 5],
    retries: AtomicU64,
    cursor_resets: AtomicU64,
    /// When the oldest unsent record was written (unix ms; `i64::MIN`: none), so the lag
    /// grows while a receiver is down.
    oldest_written_ms: AtomicI64,
    /// The log offset of the oldest unsent record.
    oldest_offset: AtomicU64,
    queue_bytes: AtomicU64,
    /// Newest sample time delivered (unix ms; `i64::MIN` before the first).
    highest_sent_ms: AtomicI64,
    last_success_ms: AtomicI64,
    state: AtomicU8,
    last_error: Mutex<String>,
    clock: Clock,
}

impl std::fmt::Debug for RemoteMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteMetrics")
            .field("name", &self.name)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl RemoteMetrics {
    /// Zeroed metrics of remote `name` at `url` (shown as given); `clock` for the lag.
    pub fn new(name: &str, url: &str, clock: Clock) -> Self {
        Self {
            name: name.to_owned(),
            url: url.to_owned(),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dropped: Default::default(),
            requests: Default::default(),
            retries: AtomicU64::new(0),
            cursor_resets: AtomicU64::new(0),
            oldest_written_ms: AtomicI64::new(i64::MIN),
            oldest_offset: AtomicU64::new(0),
            queue_bytes: AtomicU64::new(0),
            highest_sent_ms: AtomicI64::new(i64::MIN),
            last_success_ms: AtomicI64::new(0),
            state: AtomicU8::new(State::Idle as u8),
            last_error: Mutex::new(String::new()),
            clock,
        }
    }

    /// Counts samples delivered whose newest is at `newest_ms`, at `now_ms`; a delivery
    /// clears the last error (refusals stay counted in `failed`).
    pub fn sent(&self, samples: u64, newest_ms: i64, now_ms: i64) {
        self.sent.fetch_add(samples, Ordering::Relaxed);
        self.highest_sent_ms.fetch_max(newest_ms, Ordering::Relaxed);
        self.last_success_ms.store(now_ms, Ordering::Relaxed);
        let mut error = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        if !error.is_empty() {
            error.clear();
        }
    }

    /// Counts samples the receiver refused.
    pub fn failed(&self, samples: u64) {
        self.failed.fetch_add(samples, Ordering::Relaxed);
    }

    /// Counts samples skipped for `reason`.
    pub fn dropped(&self, reason: DropReason, samples: u64) {
        self.dropped[reason as usize].fetch_add(samples, Ordering::Relaxed);
    }

    /// Counts one request answered with `code`.
    pub fn request(&self, code: Code) {
        self.requests[code as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one retry.
    pub fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one cursor reset.
    pub fn cursor_reset(&self) {
        self.cursor_resets.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets the oldest unsent record (when written, its log offset; `None`: caught up)
    /// and the log's size (`ForwardBounds::bytes`).
    pub fn backlog(&self, oldest: Option<(i64, u64)>, log_bytes: u64) {
        let (written, offset) = oldest.unwrap_or((i64::MIN, log_bytes));
        self.oldest_written_ms.store(written, Ordering::Relaxed);
        self.oldest_offset.store(offset, Ordering::Relaxed);
        self.log_bytes(log_bytes);
    }

    /// Updates the unsent bytes from the log's size, as it grows during a round.
    pub fn log_bytes(&self, log_bytes: u64) {
        let offset = self.oldest_offset.load(Ordering::Relaxed);
        self.queue_bytes
            .store(log_bytes.saturating_sub(offset), Ordering::Relaxed);
    }

    /// Seconds since the oldest unsent record was written (0 when caught up).
    pub fn lag_seconds(&self) -> f64 {
        match self.oldest_written_ms.load(Ordering::Relaxed) {
            i64::MIN => 0.0,
            written => ((self.clock)() - written).max(0) as f64 / 1000.0,
        }
    }

    /// Sets what the remote is doing.
    pub fn set_state(&self, state: State) {
        self.state.store(state as u8, Ordering::Relaxed);
    }

    /// Remembers the latest error (shown by `vigil status`).
    pub fn set_error(&self, error: &str) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = error.to_owned();
    }

    /// What the remote is doing.
    pub fn state(&self) -> State {
        match self.state.load(Ordering::Relaxed) {
            1 => State::Sending,
            2 => State::Retrying,
            3 => State::Backfilling,
            _ => State::Idle,
        }
    }

    /// Samples delivered.
    pub fn samples_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Samples refused by the receiver.
    pub fn samples_failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Samples skipped for `reason`.
    pub fn samples_dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason as usize].load(Ordering::Relaxed)
    }

    /// Requests answered with `code`.
    pub fn requests(&self, code: Code) -> u64 {
        self.requests[code as usize].load(Ordering::Relaxed)
    }

    /// Retries.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Cursor resets.
    pub fn cursor_resets(&self) -> u64 {
        self.cursor_resets.load(Ordering::Relaxed)
    }

    /// The status `vigil status` shows.
    pub fn status(&self) -> super::RemoteStatus {
        super::RemoteStatus {
            name: self.name.clone(),
            url: self.url.clone(),
            state: self.state().label().to_owned(),
            lag_seconds: self.lag_seconds(),
            queue_bytes: self.queue_bytes.load(Ordering::Relaxed),
            samples_sent: self.samples_sent(),
            samples_failed: self.samples_failed(),
            samples_dropped: DropReason::ALL
                .iter()
                .map(|r| self.samples_dropped(*r))
                .sum(),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            last_success_ms: self.last_success_ms.load(Ordering::Relaxed),
        }
    }

    /// Every series of this remote, for the collector's own metrics.
    pub fn series(&self, out: &mut Vec<OwnSeries>) {
        let remote = ("remote".to_owned(), self.name.clone());
        let one = |name: &'static str, value: f64| OwnSeries {
            name,
            labels: vec![remote.clone()],
            value,
        };
        out.push(one(
            "vigil_remote_write_samples_sent_total",
            self.samples_sent() as f64,
        ));
        out.push(one(
            "vigil_remote_write_samples_failed_total",
            self.samples_failed() as f64,
        ));
        for reason in DropReason::ALL {
            out.push(OwnSeries {
                name: "vigil_remote_write_samples_dropped_total",
                labels: vec![
                    ("reason".to_owned(), reason.label().to_owned()),
                    remote.clone(),
                ],
                value: self.samples_dropped(reason) as f64,
            });
        }
        for code in Code::ALL {
            out.push(OwnSeries {
                name: "vigil_remote_write_requests_total",
                labels: vec![("code".to_owned(), code.label().to_owned()), remote.clone()],
                value: self.requests(code) as f64,
            });
        }
        out.push(one(
            "vigil_remote_write_retries_total",
            self.retries() as f64,
        ));
        out.push(one("vigil_remote_write_lag_seconds", self.lag_seconds()));
        out.push(one(
            "vigil_remote_write_queue_bytes",
            self.queue_bytes.load(Ordering::Relaxed) as f64,
        ));
        let highest = self.highest_sent_ms.load(Ordering::Relaxed);
        out.push(one(
            "vigil_remote_write_highest_sent_timestamp_seconds",
            if highest == i64::MIN {
                0.0
            } else {
                highest as f64 / 1000.0
            },
        ));
        out.push(one(
            "vigil_remote_write_cursor_resets_total",
            self.cursor_resets() as f64,
        ));
    }
}
