//! Pressure stall information (PSI) from `/proc/pressure/{cpu,io,memory}`.
//!
//! ```text
//! some avg10=1.59 avg60=10.63 avg300=5.10 total=9795755831   <- µs some task waited
//! full avg10=0.00 avg60=0.00 avg300=0.00 total=0             <- µs no task could run
//! ```
//!
//! As node_exporter 1.5 does: `some` of every resource is `node_pressure_*_waiting_…`,
//! `full` of io and memory is `node_pressure_*_stalled_…` (cpu's `full` line, printed by
//! kernels since 5.13, is not reported). Kernels without PSI (before 4.20, or built or
//! booted without it) have no `/proc/pressure`, or answer `EOPNOTSUPP`: the source then
//! writes nothing and is no error.

use super::{CollectError, Paths, Sink, TextFile};

/// The pressure source: the three resource files, kept open and read every round.
#[derive(Debug)]
pub struct Pressure {
    cpu: TextFile,
    io: TextFile,
    memory: TextFile,
}

impl Pressure {
    /// The source for the tree at `paths`.
    pub fn new(paths: &Paths) -> Self {
        let dir = paths.proc.join("pressure");
        Self {
            cpu: TextFile::new(dir.join("cpu")),
            io: TextFile::new(dir.join("io")),
            memory: TextFile::new(dir.join("memory")),
        }
    }

    /// Writes `node_pressure_{cpu,io,memory}_waiting_seconds_total` and
    /// `node_pressure_{io,memory}_stalled_seconds_total`.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        let resources = [
            (
                &mut self.cpu,
                "node_pressure_cpu_waiting_seconds_total",
                None,
            ),
            (
                &mut self.io,
                "node_pressure_io_waiting_seconds_total",
                Some("node_pressure_io_stalled_seconds_total"),
            ),
            (
                &mut self.memory,
                "node_pressure_memory_waiting_seconds_total",
                Some("node_pressure_memory_stalled_seconds_total"),
            ),
        ];
        for (file, some, full) in resources {
            match file.read() {
                Ok(()) => {}
                Err(error) if is_unsupported(&error) => return Ok(()),
                Err(error) => return Err(error),
            }
            let [waiting, stalled] = parse(file.text()).map_err(|reason| CollectError::Parse {
                path: file.path().to_owned(),
                reason,
            })?;
            if let Some(total) = waiting {
                sink.push(some, &[], seconds(total));
            }
            if let (Some(name), Some(total)) = (full, stalled) {
                sink.push(name, &[], seconds(total));
            }
        }
        Ok(())
    }
}

/// Microseconds as seconds, computed as node_exporter does (two divisions), so the values
/// are the same to the last bit.
fn seconds(micros: u64) -> f64 {
    micros as f64 / 1000.0 / 1000.0
}

/// Whether PSI is built in but switched off (`psi=0`): the files answer `EOPNOTSUPP`.
fn is_unsupported(error: &CollectError) -> bool {
    matches!(error, CollectError::Read { source, .. }
        if source.raw_os_error() == Some(libc::EOPNOTSUPP))
}

/// The `total=` of the `some` and the `full` line, each `None` when the line is missing.
fn parse(text: &str) -> Result<[Option<u64>; 2], String> {
    let mut totals = [None; 2];
    for line in text.lines() {
        let slot = match line.split_once(' ') {
            Some(("some", _)) => 0,
            Some(("full", _)) => 1,
            _ => continue,
        };
        let total = line
            .split_ascii_whitespace()
            .find_map(|field| field.strip_prefix("total="))
            .ok_or_else(|| format!("no total= in {line:?}"))?;
        let total = total
            .parse()
            .map_err(|_| format!("total={total:?} is not an unsigned number"))?;
        totals[slot] = Some(total);
    }
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{Paths, testdata_paths};

    #[test]
    fn recorded_files_give_waiting_and_stalled_seconds() {
        let mut sink = Sink::new();
        Pressure::new(&testdata_paths())
            .collect(&mut sink)
            .expect("collects");
        let value = |name: &str| sink.value_of(name, &[]);
        // node_exporter's rounding: total / 1000 / 1000, not total / 1e6.
        let micros = |total: u64| Some(total as f64 / 1000.0 / 1000.0);
        assert_eq!(
            value("node_pressure_cpu_waiting_seconds_total"),
            micros(9800097142)
        );
        assert!(
            (value("node_pressure_cpu_waiting_seconds_total").unwrap() - 9800.097142).abs() < 1e-9
        );
        assert_eq!(
            value("node_pressure_io_waiting_seconds_total"),
            micros(198144289)
        );
        assert_eq!(
            value("node_pressure_io_stalled_seconds_total"),
            micros(106116581)
        );
        assert_eq!(
            value("node_pressure_memory_waiting_seconds_total"),
            Some(0.0)
        );
        assert_eq!(
            value("node_pressure_memory_stalled_seconds_total"),
            Some(0.0)
        );
        assert_eq!(sink.len(), 5, "cpu's full line is not reported");
    }

    #[test]
    fn a_kernel_without_psi_is_skipped_quietly() {
        let paths = Paths {
            proc: std::env::temp_dir().join("vigil-no-such-proc"),
            ..testdata_paths()
        };
        let mut sink = Sink::new();
        let result = Pressure::new(&paths).collect(&mut sink);
        assert!(
            result.as_ref().is_err_and(CollectError::is_missing),
            "{result:?}"
        );
        assert!(crate::collect::quiet_if_missing(result).is_ok());
        assert!(sink.is_empty());
    }

    #[test]
    fn a_line_without_total_is_an_error() {
        assert!(parse("some avg10=0.00 avg60=0.00 avg300=0.00\n").is_err());
        assert!(parse("some avg10=0.00 total=x\n").is_err());
        assert_eq!(parse("").expect("empty"), [None, None]);
    }
}
