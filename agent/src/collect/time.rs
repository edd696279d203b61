//! The system clock, its time zone and the kernel's clock sources: `node_time_*`.
//!
//! ```text
//! node_time_seconds                         the wall clock, seconds since the epoch
//! node_time_zone_offset_seconds{time_zone}  local offset from UTC; time_zone is the
//!                                           abbreviation in force ("UTC", "CEST")
//! <sys>/devices/system/clocksource/clocksource0/available_clocksource   "tsc kvm-clock \n"
//! <sys>/devices/system/clocksource/clocksource0/current_clocksource     "tsc\n"
//! ```
//!
//! As in node_exporter 1.5, the `device` label of `node_time_clocksource_available_info`
//! and `node_time_clocksource_current_info` is the position of the `clocksource<N>`
//! directory in name order, not `<N>` itself (the two agree on every real kernel, which
//! has only `clocksource0`). The directories are listed once: the kernel never adds any
//! while it runs.

use std::ffi::CStr;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{CollectError, Paths, Sink, TextFile};

/// The time source: the clock sources' files, kept open, and the last zone name.
#[derive(Debug)]
pub struct Time {
    /// One entry per `clocksource<N>` directory in name order: its `device` label, its
    /// `available_clocksource` and its `current_clocksource`.
    clocksources: Vec<(String, TextFile, TextFile)>,
    /// The zone abbreviation of the last round, so a round allocates nothing for it.
    zone: String,
}

impl Time {
    /// The source for the tree at `paths`; lists the clock sources.
    pub fn new(paths: &Paths) -> Self {
        let dir = paths.sys.join("devices/system/clocksource");
        let clocksources = clocksource_dirs(&dir)
            .into_iter()
            .enumerate()
            .map(|(i, name)| {
                let dir = dir.join(name);
                (
                    i.to_string(),
                    TextFile::new(dir.join("available_clocksource")),
                    TextFile::new(dir.join("current_clocksource")),
                )
            })
            .collect();
        Self {
            clocksources,
            zone: String::new(),
        }
    }

    /// Writes the clock and zone series for now, then the clock sources.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        self.collect_at(SystemTime::now(), sink)
    }

    /// Writes `node_time_seconds` and `node_time_zone_offset_seconds` for `now`, and the
    /// clock sources as the kernel lists them now. A clock source whose files cannot be
    /// read is left out and named in the error.
    pub fn collect_at(&mut self, now: SystemTime, sink: &mut Sink) -> Result<(), CollectError> {
        // Before the epoch only on a badly wrong clock; report it as negative seconds.
        let nanos = match now.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as f64,
            Err(e) => -(e.duration().as_nanos() as f64),
        };
        sink.push("node_time_seconds", &[], nanos / 1e9);
        let seconds = (nanos / 1e9).floor() as i64;
        if let Some(offset) = local_zone(seconds, &mut self.zone) {
            let labels = [("time_zone", self.zone.as_str())];
            sink.push("node_time_zone_offset_seconds", &labels, offset as f64);
        }

        let mut failed = None;
        for (device, available, current) in &mut self.clocksources {
            if let Err(error) = available.read().and_then(|()| current.read()) {
                failed.get_or_insert(error);
                continue;
            }
            for name in available.text().split_ascii_whitespace() {
                let labels = [("device", device.as_str()), ("clocksource", name)];
                sink.push("node_time_clocksource_available_info", &labels, 1.0);
            }
            let labels = [
                ("device", device.as_str()),
                ("clocksource", current.text().trim()),
            ];
            sink.push("node_time_clocksource_current_info", &labels, 1.0);
        }
        failed.map_or(Ok(()), Err)
    }
}

/// The `clocksource<digit>…` entries of `dir`, in name order; none when `dir` is missing.
fn clocksource_dirs(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| {
            name.strip_prefix("clocksource")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    names.sort();
    names
}

/// The local time zone's offset from UTC in seconds at `seconds` since the epoch, with its
/// abbreviation written into `zone`; `None` when the C library cannot tell.
#[allow(unsafe_code)]
fn local_zone(seconds: i64, zone: &mut String) -> Option<i64> {
    let t = libc::time_t::try_from(seconds).ok()?;
    // SAFETY: an all-zero `tm` is a valid value of this plain C struct.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r is the thread-safe form.
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return None;
    }
    if !tm.tm_zone.is_null() {
        // SAFETY: localtime_r set tm_zone to a NUL-terminated string owned by the C
        // library that lives as long as the process's time zone data.
        let name = unsafe { CStr::from_ptr(tm.tm_zone) }.to_string_lossy();
        if *zone != name {
            zone.clear();
            zone.push_str(&name);
        }
    }
    #[allow(clippy::unnecessary_cast)]
    Some(tm.tm_gmtoff as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testdata_paths;
    use std::time::Duration;

    #[test]
    fn recorded_clocksources_and_the_given_time_are_written() {
        let mut time = Time::new(&testdata_paths());
        let mut sink = Sink::new();
        let now = UNIX_EPOCH + Duration::from_millis(1_796_413_156_614);
        time.collect_at(now, &mut sink).expect("collects");
        assert_eq!(
            sink.value_of("node_time_seconds", &[]),
            Some(1_796_413_156.614)
        );
        for source in ["tsc", "hpet", "acpi_pm"] {
            let labels = [("device", "0"), ("clocksource", source)];
            assert_eq!(
                sink.value_of("node_time_clocksource_available_info", &labels),
                Some(1.0),
                "{source}"
            );
        }
        let current = [("device", "0"), ("clocksource", "tsc")];
        assert_eq!(
            sink.value_of("node_time_clocksource_current_info", &current),
            Some(1.0)
        );
        let zones: Vec<_> = sink
            .round()
            .filter(|(k, _)| k.name == "node_time_zone_offset_seconds")
            .collect();
        assert_eq!(zones.len(), 1);
        assert_eq!(zones[0].0.labels[0].0, "time_zone");
        assert_eq!(sink.len(), 6);
    }

    #[test]
    fn no_clocksource_directory_gives_only_the_clock() {
        let paths = Paths {
            sys: "/nonexistent/sys".into(),
            ..testdata_paths()
        };
        let mut sink = Sink::new();
        Time::new(&paths)
            .collect_at(UNIX_EPOCH, &mut sink)
            .expect("quiet");
        assert_eq!(sink.value_of("node_time_seconds", &[]), Some(0.0));
        assert_eq!(sink.len(), 2);
    }

    #[test]
    fn the_offset_agrees_with_the_c_librarys_zone() {
        let mut zone = String::new();
        let offset = local_zone(1_700_000_000, &mut zone).expect("an offset");
        assert!(offset.abs() <= 14 * 3600, "{offset}");
        assert!(!zone.is_empty());
    }
}
