//! Scheduler statistics per CPU from `/proc/schedstat`: `node_schedstat_*`.
//!
//! ```text
//! version 15
//! timestamp 4297299139
//! cpu0 0 0 0 0 0 0 2540941853392 63945837451 37311749
//! domain0 00000003 1013934 1004232 8281 ...                    <- not read
//! ```
//!
//! After `cpu<N>` come nine numbers; the last three are the time the CPU ran tasks (ns),
//! the time tasks waited for it on its run queue (ns), and the time slices it ran. Kernels
//! built without `CONFIG_SCHEDSTATS` have no file: the source then writes nothing.

use super::{CollectError, Paths, Sink, TextFile};

/// Fields after `cpu<N>` on a CPU line.
const FIELDS: usize = 9;

/// The schedstat source: `<proc>/schedstat`, read into the same buffer every round.
#[derive(Debug)]
pub struct Schedstat {
    schedstat: TextFile,
}

impl Schedstat {
    /// The source for the tree at `paths`.
    pub fn new(paths: &Paths) -> Self {
        Self {
            schedstat: TextFile::new(paths.proc.join("schedstat")),
        }
    }

    /// Reads `<proc>/schedstat` and writes `node_schedstat_running_seconds_total`,
    /// `node_schedstat_waiting_seconds_total` and `node_schedstat_timeslices_total` per CPU;
    /// nothing, and no error, where the kernel has no such file.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        match self.schedstat.read() {
            Err(error) if error.is_missing() => return Ok(()),
            result => result?,
        }
        for line in self.schedstat.text().lines() {
            let mut fields = line.split_ascii_whitespace();
            let Some(cpu) = fields.next().and_then(|f| f.strip_prefix("cpu")) else {
                continue;
            };
            if cpu.is_empty() || !cpu.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let mut values = [0_u64; FIELDS];
            let mut n = 0;
            for (value, field) in values.iter_mut().zip(fields) {
                let Ok(parsed) = field.parse() else { break };
                *value = parsed;
                n += 1;
            }
            // node_exporter skips a CPU line it cannot read whole; so does this.
            if n < FIELDS {
                continue;
            }
            let labels = [("cpu", cpu)];
            let [.., running, waiting, slices] = values;
            sink.push(
                "node_schedstat_running_seconds_total",
                &labels,
                running as f64 / 1e9,
            );
            sink.push(
                "node_schedstat_waiting_seconds_total",
                &labels,
                waiting as f64 / 1e9,
            );
            sink.push("node_schedstat_timeslices_total", &labels, slices as f64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testdata_paths;

    #[test]
    fn recorded_schedstat_gives_three_counters_per_cpu() {
        let mut sink = Sink::new();
        Schedstat::new(&testdata_paths())
            .collect(&mut sink)
            .expect("collects");
        let cpu1 = [("cpu", "1")];
        assert_eq!(
            sink.value_of("node_schedstat_running_seconds_total", &cpu1),
            Some(2_312_776_489_062.0 / 1e9)
        );
        assert_eq!(
            sink.value_of("node_schedstat_waiting_seconds_total", &cpu1),
            Some(98_401_519_583.0 / 1e9)
        );
        assert_eq!(
            sink.value_of("node_schedstat_timeslices_total", &cpu1),
            Some(21_437_604.0)
        );
        // Four CPUs, three series each; the domain lines are not CPUs.
        assert_eq!(sink.len(), 12);
    }

    #[test]
    fn a_kernel_without_schedstat_is_skipped_quietly() {
        let paths = Paths {
            proc: "/nonexistent/proc".into(),
            ..testdata_paths()
        };
        let mut sink = Sink::new();
        Schedstat::new(&paths).collect(&mut sink).expect("quiet");
        assert!(sink.is_empty());
    }
}
