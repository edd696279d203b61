//! The wall clock, read in one place.
//!
//! Code that decides by the time takes `now_ms` as an argument; only the edges (a
//! service handling a request, a background loop starting a pass, the CLI) read the clock,
//! and they read it here, so a test can pass any time in and give the same answer on any
//! date.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current time in milliseconds since the Unix epoch (0 before 1970, saturating far
/// in the future).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
