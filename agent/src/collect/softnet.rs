//! Per-CPU packet processing from `/proc/net/softnet_stat`.
//!
//! ```text
//! 000c4c74 00000000 00000008 00000000 ...   <- one line per CPU, hexadecimal:
//!                                              processed, dropped, time_squeeze, ...
//! ```
//!
//! As node_exporter 1.5 does, the `cpu` label is the line's index (0, 1, ...), and only the
//! first three columns are reported; a line must have at least 9 columns.

use super::{CollectError, Paths, Sink, TextFile};

/// Metric names of the first three columns, in order.
const COLUMNS: [&str; 3] = [
    "node_softnet_processed_total",
    "node_softnet_dropped_total",
    "node_softnet_times_squeezed_total",
];

/// Fewest columns a line may have (the kernels node_exporter 1.5 knows print 9 or more).
const MIN_COLUMNS: usize = 9;

/// The softnet source: `<proc>/net/softnet_stat`, kept open and read every round.
#[derive(Debug)]
pub struct Softnet {
    stat: TextFile,
    /// `cpu` label values, "0", "1", ..., built once.
    cpus: Vec<String>,
}

impl Softnet {
    /// The source for the tree at `paths`.
    pub fn new(paths: &Paths) -> Self {
        Self {
            stat: TextFile::new(paths.proc.join("net/softnet_stat")),
            cpus: Vec::new(),
        }
    }

    /// Writes `node_softnet_{processed,dropped,times_squeezed}_total{cpu}`.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        self.stat.read()?;
        for (i, line) in self.stat.text().lines().enumerate() {
            let values = parse_line(line).map_err(|reason| CollectError::Parse {
                path: self.stat.path().to_owned(),
                reason,
            })?;
            if self.cpus.len() <= i {
                self.cpus.push(i.to_string());
            }
            let cpu = [("cpu", self.cpus[i].as_str())];
            for (name, value) in COLUMNS.into_iter().zip(values) {
                sink.push(name, &cpu, f64::from(value));
            }
        }
        Ok(())
    }
}

/// The first three columns of one CPU's line.
fn parse_line(line: &str) -> Result<[u32; 3], String> {
    let columns = line.split_ascii_whitespace().count();
    if columns < MIN_COLUMNS {
        return Err(format!(
            "{columns} columns in {line:?}, at least {MIN_COLUMNS} expected"
        ));
    }
    let mut values = [0; 3];
    for (value, column) in values.iter_mut().zip(line.split_ascii_whitespace()) {
        *value = u32::from_str_radix(column, 16)
            .map_err(|_| format!("{column:?} is not a 32-bit hexadecimal number"))?;
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testdata_paths;

    #[test]
    fn recorded_file_gives_three_counters_per_cpu() {
        let mut sink = Sink::new();
        let mut softnet = Softnet::new(&testdata_paths());
        softnet.collect(&mut sink).expect("collects");
        let cpu1 = [("cpu", "1")];
        assert_eq!(
            sink.value_of("node_softnet_processed_total", &[("cpu", "0")]),
            Some(806004.0)
        );
        assert_eq!(
            sink.value_of("node_softnet_processed_total", &cpu1),
            Some(733675.0)
        );
        assert_eq!(
            sink.value_of("node_softnet_dropped_total", &cpu1),
            Some(0.0)
        );
        assert_eq!(
            sink.value_of("node_softnet_times_squeezed_total", &cpu1),
            Some(2.0)
        );
        assert_eq!(sink.len(), 6);
    }

    #[test]
    fn short_or_garbled_lines_are_errors() {
        assert!(parse_line("0000000a 00000001 00000002").is_err());
        let wide = "ffffffff 00000001 00000002 0 0 0 0 0 0";
        assert_eq!(parse_line(wide), Ok([u32::MAX, 1, 2]));
        assert!(parse_line("1ffffffff 0 0 0 0 0 0 0 0").is_err());
        assert!(parse_line("x 0 0 0 0 0 0 0 0").is_err());
    }
}
