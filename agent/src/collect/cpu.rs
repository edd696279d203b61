//! CPU time and scheduler counters from `/proc/stat`.
//!
//! ```text
//! cpu  37393 0 4466 40149 1115 0 43 33 0 0        <- aggregate, skipped
//! cpu0 18209 0 2026 21209 137 0 6 15 0 0          <- user nice system idle iowait irq
//!                                                    softirq steal guest guest_nice (ticks)
//! intr 239250 0 0 ...                             <- first number is the total
//! ctxt 313777
//! btime 1795240161
//! processes 6593                                  <- forks since boot
//! procs_running 3
//! procs_blocked 0
//! ```
//!
//! Ticks are in USER_HZ (`sysconf(_SC_CLK_TCK)`, 100 on every common architecture) and are
//! divided by it to give seconds, as node_exporter does. Older kernels print fewer columns;
//! whatever columns are present are reported.

use std::sync::OnceLock;

use super::{CollectError, Paths, Sink, TextFile};

/// Modes of a `cpuN` line, in column order (node_exporter's `mode` label values).
const MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

/// Guest columns that follow the modes, reported as `node_cpu_guest_seconds_total{mode}`.
const GUEST_MODES: [&str; 2] = ["user", "nice"];

/// The CPU source: `<proc>/stat`, read into the same buffer every round.
#[derive(Debug)]
pub struct Cpu {
    stat: TextFile,
}

impl Cpu {
    /// The source for the tree at `paths`.
    pub fn new(paths: &Paths) -> Self {
        Self {
            stat: TextFile::new(paths.proc.join("stat")),
        }
    }

    /// Reads `<proc>/stat` and writes `node_cpu_*`, `node_context_switches_total`,
    /// `node_intr_total`, `node_forks_total`, `node_procs_{running,blocked}` and
    /// `node_boot_time_seconds`.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        self.stat.read()?;
        let text = self.stat.text();
        write_stat(text, user_hz(), sink).map_err(|reason| CollectError::Parse {
            path: self.stat.path().to_owned(),
            reason,
        })
    }
}

/// Writes the samples of one `/proc/stat` text; `hz` is ticks per second.
fn write_stat(text: &str, hz: f64, sink: &mut Sink) -> Result<(), String> {
    const COLUMNS: usize = MODES.len() + GUEST_MODES.len();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(key) = fields.next() else { continue };
        if let Some(cpu) = key.strip_prefix("cpu") {
            if cpu.is_empty() {
                continue; // The aggregate line; node_exporter reports per CPU only.
            }
            // Every column must be a number, even those past the ones reported.
            let mut ticks = [0u64; COLUMNS];
            let mut n = 0;
            for field in fields {
                let t = parse(key, field)?;
                if let Some(slot) = ticks.get_mut(n) {
                    *slot = t;
                    n += 1;
                }
            }
            for (mode, &t) in MODES.iter().zip(&ticks[..n]) {
                sink.push(
                    "node_cpu_seconds_total",
                    &[("cpu", cpu), ("mode", mode)],
                    t as f64 / hz,
                );
            }
            for (mode, &t) in GUEST_MODES.iter().zip(ticks[..n].iter().skip(MODES.len())) {
                let labels = [("cpu", cpu), ("mode", *mode)];
                sink.push("node_cpu_guest_seconds_total", &labels, t as f64 / hz);
            }
            continue;
        }
        let name = match key {
            "intr" => "node_intr_total",
            "ctxt" => "node_context_switches_total",
            "processes" => "node_forks_total",
            "procs_running" => "node_procs_running",
            "procs_blocked" => "node_procs_blocked",
            "btime" => "node_boot_time_seconds",
            _ => continue,
        };
        let value = fields.next().ok_or_else(|| format!("{key} has no value"))?;
        sink.push(name, &[], parse(key, value)? as f64);
    }
    Ok(())
}

fn parse(key: &str, field: &str) -> Result<u64, String> {
    field
        .parse()
        .map_err(|_| format!("{key}: {field:?} is not a number"))
}

/// Clock ticks per second of `/proc/stat`'s CPU columns.
pub fn user_hz() -> f64 {
    static HZ: OnceLock<f64> = OnceLock::new();
    *HZ.get_or_init(|| match clock_ticks() {
        n if n > 0 => n as f64,
        _ => 100.0, // USER_HZ is 100 on every architecture Linux exposes to user space.
    })
}

#[allow(unsafe_code)]
fn clock_ticks() -> libc::c_long {
    // SAFETY: sysconf takes an integer constant, touches no caller memory and has no
    // preconditions; an unknown name only returns -1.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{read_file, testdata_paths};

    #[test]
    fn recorded_stat_gives_per_cpu_seconds_and_counters() {
        let text = read_file(testdata_paths().proc.join("stat")).expect("fixture");
        let mut sink = Sink::new();
        write_stat(&text, 100.0, &mut sink).expect("parses");
        let cpu =
            |cpu, mode| sink.value_of("node_cpu_seconds_total", &[("cpu", cpu), ("mode", mode)]);
        assert_eq!(cpu("1", "iowait"), Some(978.0 / 100.0));
        assert_eq!(cpu("0", "user"), Some(18209.0 / 100.0));
        assert_eq!(cpu("1", "steal"), Some(18.0 / 100.0));
        // No aggregate series, and exactly 2 CPUs × 8 modes.
        let cpu_series = sink
            .round()
            .filter(|(k, _)| k.name == "node_cpu_seconds_total")
            .count();
        assert_eq!(cpu_series, 16);
        let guest = |cpu, mode| {
            sink.value_of(
                "node_cpu_guest_seconds_total",
                &[("cpu", cpu), ("mode", mode)],
            )
        };
        assert_eq!(guest("1", "user"), Some(2.5));
        assert_eq!(guest("1", "nice"), Some(0.07));
        assert_eq!(guest("0", "user"), Some(0.0));
        assert_eq!(sink.value_of("node_intr_total", &[]), Some(239250.0));
        assert_eq!(
            sink.value_of("node_context_switches_total", &[]),
            Some(313777.0)
        );
        assert_eq!(sink.value_of("node_forks_total", &[]), Some(6593.0));
        assert_eq!(sink.value_of("node_procs_running", &[]), Some(3.0));
        assert_eq!(sink.value_of("node_procs_blocked", &[]), Some(0.0));
        assert_eq!(
            sink.value_of("node_boot_time_seconds", &[]),
            Some(1795240161.0)
        );
    }

    #[test]
    fn old_kernel_without_steal_or_guest_reports_what_is_there() {
        let mut sink = Sink::new();
        write_stat(
            "cpu 1 2 3 4 5 6 7\ncpu0 10 20 30 40 50 60 70\n",
            100.0,
            &mut sink,
        )
        .expect("parses");
        assert_eq!(sink.len(), 7);
        let softirq = [("cpu", "0"), ("mode", "softirq")];
        assert_eq!(sink.value_of("node_cpu_seconds_total", &softirq), Some(0.7));
    }

    #[test]
    fn garbage_is_a_parse_error() {
        let mut sink = Sink::new();
        let err = write_stat("cpu0 1 x 3\n", 100.0, &mut sink).expect_err("must fail");
        assert!(err.contains("cpu0"), "{err}");
    }

    #[test]
    fn user_hz_is_positive() {
        assert!(user_hz() > 0.0);
    }
}
