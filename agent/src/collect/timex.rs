//! The kernel clock's discipline state from `adjtimex(2)`: `node_timex_*`.
//!
//! `adjtimex` with `modes = 0` only reads (no privilege needed) and returns the clock state
//! (`TIME_ERROR`, 5, while the clock is not synchronised). The `struct timex` fields and the
//! units node_exporter 1.5 reports them in:
//!
//! ```text
//! offset, jitter     ns when status has STA_NANO (0x2000), else µs   -> seconds
//! freq, ppsfreq, stabil   ppm with a 16-bit binary fraction (scaled by 2^16) -> ratio
//! maxerror, esterror, tick   µs                                        -> seconds
//! status, constant, shift, tai, jitcnt, calcnt, errcnt, stbcnt           as read
//! ```

use super::{CollectError, Sink};

/// `freq`, `ppsfreq` and `stabil` are parts per million scaled by 2^16.
const PPM16: f64 = 1_000_000.0 * 65_536.0;

/// The timex source: one system call per round, nothing kept.
#[derive(Debug, Default)]
pub struct Timex;

/// What `adjtimex` answered: its return value (the clock state) and the struct it filled.
struct Reading {
    /// `TIME_OK`, `TIME_INS`, … or `TIME_ERROR`.
    state: i32,
    timex: libc::timex,
}

impl Timex {
    /// The source; `adjtimex` needs no paths.
    pub fn new() -> Self {
        Self
    }

    /// Calls `adjtimex(2)` and writes the `node_timex_*` series; writes nothing where the
    /// call is not permitted (a seccomp profile that blocks it), as node_exporter does.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        match read() {
            Ok(reading) => {
                write(&reading, sink);
                Ok(())
            }
            Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => Ok(()),
            Err(source) => Err(CollectError::Read {
                path: "adjtimex(2)".into(),
                source,
            }),
        }
    }
}

/// Reads the clock's state without changing it.
#[allow(unsafe_code)]
fn read() -> std::io::Result<Reading> {
    // SAFETY: an all-zero `timex` is a valid value of this plain C struct (modes = 0: read
    // only).
    let mut timex: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: `timex` is a valid, writable `struct timex` for the duration of the call.
    let state = unsafe { libc::adjtimex(&mut timex) };
    if state < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Reading { state, timex })
}

/// Writes one reading in node_exporter's names and units.
fn write(reading: &Reading, sink: &mut Sink) {
    let t = &reading.timex;
    // The casts widen the kernel's integer fields (c_long or i64 by target) to f64.
    #[allow(clippy::unnecessary_cast)]
    let (offset, freq, maxerror, esterror, status, constant, tick, ppsfreq, jitter, shift) = (
        t.offset as f64,
        t.freq as f64,
        t.maxerror as f64,
        t.esterror as f64,
        t.status as f64,
        t.constant as f64,
        t.tick as f64,
        t.ppsfreq as f64,
        t.jitter as f64,
        t.shift as f64,
    );
    #[allow(clippy::unnecessary_cast)]
    let (stabil, jitcnt, calcnt, errcnt, stbcnt, tai) = (
        t.stabil as f64,
        t.jitcnt as f64,
        t.calcnt as f64,
        t.errcnt as f64,
        t.stbcnt as f64,
        t.tai as f64,
    );
    let fine = if t.status & libc::STA_NANO != 0 {
        1e9
    } else {
        1e6
    };
    let synced = reading.state != libc::TIME_ERROR;
    let series = [
        ("node_timex_sync_status", f64::from(u8::from(synced))),
        ("node_timex_offset_seconds", offset / fine),
        ("node_timex_frequency_adjustment_ratio", 1.0 + freq / PPM16),
        ("node_timex_maxerror_seconds", maxerror / 1e6),
        ("node_timex_estimated_error_seconds", esterror / 1e6),
        ("node_timex_status", status),
        ("node_timex_loop_time_constant", constant),
        ("node_timex_tick_seconds", tick / 1e6),
        ("node_timex_pps_frequency_hertz", ppsfreq / PPM16),
        ("node_timex_pps_jitter_seconds", jitter / fine),
        ("node_timex_pps_shift_seconds", shift),
        ("node_timex_pps_stability_hertz", stabil / PPM16),
        ("node_timex_pps_jitter_total", jitcnt),
        ("node_timex_pps_calibration_total", calcnt),
        ("node_timex_pps_error_total", errcnt),
        ("node_timex_pps_stability_exceeded_total", stbcnt),
        ("node_timex_tai_offset_seconds", tai),
    ];
    for (name, value) in series {
        sink.push(name, &[], value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(unsafe_code)]
    fn zeroed() -> libc::timex {
        // SAFETY: an all-zero `timex` is a valid value of this plain C struct.
        unsafe { std::mem::zeroed() }
    }

    #[test]
    fn fields_are_scaled_as_node_exporter_does() {
        let mut timex = zeroed();
        timex.offset = 1_500;
        timex.freq = 65_536 * 3; // 3 ppm
        timex.maxerror = 16_000;
        timex.esterror = 500;
        timex.status = 0x40 | 0x1;
        timex.constant = 7;
        timex.tick = 10_000;
        timex.jitter = 250;
        timex.shift = 8;
        timex.jitcnt = 2;
        timex.calcnt = 3;
        timex.errcnt = 4;
        timex.stbcnt = 5;
        timex.tai = 37;
        let mut sink = Sink::new();
        write(&Reading { state: 0, timex }, &mut sink);
        let v = |name| sink.value_of(name, &[]).expect(name);
        assert_eq!(v("node_timex_sync_status"), 1.0);
        assert_eq!(v("node_timex_offset_seconds"), 0.0015);
        assert_eq!(v("node_timex_frequency_adjustment_ratio"), 1.000003);
        assert_eq!(v("node_timex_maxerror_seconds"), 0.016);
        assert_eq!(v("node_timex_estimated_error_seconds"), 0.0005);
        assert_eq!(v("node_timex_status"), 65.0);
        assert_eq!(v("node_timex_loop_time_constant"), 7.0);
        assert_eq!(v("node_timex_tick_seconds"), 0.01);
        assert_eq!(v("node_timex_pps_jitter_seconds"), 0.00025);
        assert_eq!(v("node_timex_pps_shift_seconds"), 8.0);
        assert_eq!(v("node_timex_pps_jitter_total"), 2.0);
        assert_eq!(v("node_timex_pps_calibration_total"), 3.0);
        assert_eq!(v("node_timex_pps_error_total"), 4.0);
        assert_eq!(v("node_timex_pps_stability_exceeded_total"), 5.0);
        assert_eq!(v("node_timex_tai_offset_seconds"), 37.0);
        assert_eq!(sink.len(), 17);

        // Nanosecond resolution, and an unsynchronised clock.
        timex.status |= libc::STA_NANO;
        let mut sink = Sink::new();
        write(&Reading { state: 5, timex }, &mut sink);
        assert_eq!(sink.value_of("node_timex_sync_status", &[]), Some(0.0));
        assert_eq!(
            sink.value_of("node_timex_offset_seconds", &[]),
            Some(0.0000015)
        );
    }

    #[test]
    fn this_machines_clock_is_read() {
        let mut sink = Sink::new();
        Timex::new().collect(&mut sink).expect("adjtimex reads");
        assert_eq!(sink.len(), 17);
        let tick = sink.value_of("node_timex_tick_seconds", &[]).expect("tick");
        assert!(tick > 0.0 && tick < 1.0, "{tick}");
    }
}
