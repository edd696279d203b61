//! Connection tracking from `/proc/sys/net/netfilter` and `/proc/net/stat/nf_conntrack`.
//!
//! ```text
//! nf_conntrack_count   3          -> node_nf_conntrack_entries
//! nf_conntrack_max     262144     -> node_nf_conntrack_entries_limit
//! net/stat/nf_conntrack: a header line, then one line per CPU of 17 hexadecimal columns,
//!   summed over the CPUs -> node_nf_conntrack_stat_{found,invalid,ignore,insert,...}
//! ```
//!
//! Without the conntrack module there is no `nf_conntrack_count`: the source writes
//! nothing and is no error. As node_exporter 1.5 does, the statistics are taken by column
//! position (the header's names changed between kernels, the positions did not), and a
//! missing statistics file leaves just the two table gauges.

use super::entropy::read_number;
use super::{CollectError, Paths, Sink, TextFile};

/// Metric name and column of each statistic.
const STATS: [(&str, usize); 8] = [
    ("node_nf_conntrack_stat_found", 2),
    ("node_nf_conntrack_stat_invalid", 4),
    ("node_nf_conntrack_stat_ignore", 5),
    ("node_nf_conntrack_stat_insert", 8),
    ("node_nf_conntrack_stat_insert_failed", 9),
    ("node_nf_conntrack_stat_drop", 10),
    ("node_nf_conntrack_stat_early_drop", 11),
    ("node_nf_conntrack_stat_search_restart", 16),
];

/// Columns of a per-CPU statistics line.
const COLUMNS: usize = 17;

/// The conntrack source: the two sysctls and the statistics, kept open and read every round.
#[derive(Debug)]
pub struct Conntrack {
    count: TextFile,
    max: TextFile,
    stat: TextFile,
}

impl Conntrack {
    /// The source for the tree at `paths`.
    pub fn new(paths: &Paths) -> Self {
        let netfilter = paths.proc.join("sys/net/netfilter");
        Self {
            count: TextFile::new(netfilter.join("nf_conntrack_count")),
            max: TextFile::new(netfilter.join("nf_conntrack_max")),
            stat: TextFile::new(paths.proc.join("net/stat/nf_conntrack")),
        }
    }

    /// Writes `node_nf_conntrack_entries`, `node_nf_conntrack_entries_limit` and the
    /// `node_nf_conntrack_stat_*` gauges.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        let count = read_number(&mut self.count)?;
        sink.push("node_nf_conntrack_entries", &[], count as f64);
        let max = read_number(&mut self.max)?;
        sink.push("node_nf_conntrack_entries_limit", &[], max as f64);
        match self.stat.read() {
            Ok(()) => {}
            Err(error) if error.is_missing() => return Ok(()),
            Err(error) => return Err(error),
        }
        let sums = parse_stat(self.stat.text()).map_err(|reason| CollectError::Parse {
            path: self.stat.path().to_owned(),
            reason,
        })?;
        for ((name, _), sum) in STATS.into_iter().zip(sums) {
            sink.push(name, &[], sum as f64);
        }
        Ok(())
    }
}

/// Each statistic of [`STATS`] summed over the per-CPU lines (the first line is the header).
fn parse_stat(text: &str) -> Result<[u64; STATS.len()], String> {
    let mut sums = [0u64; STATS.len()];
    let mut columns = [0u64; COLUMNS];
    for line in text.lines().skip(1) {
        let mut n = 0;
        for field in line.split_ascii_whitespace() {
            if n == COLUMNS {
                n += 1;
                break;
            }
            columns[n] = u64::from_str_radix(field, 16)
                .map_err(|_| format!("{field:?} is not a hexadecimal number"))?;
            n += 1;
        }
        if n != COLUMNS {
            return Err(format!("{line:?} does not have {COLUMNS} columns"));
        }
        for (sum, (_, column)) in sums.iter_mut().zip(STATS) {
            *sum = sum.wrapping_add(columns[column]);
        }
    }
    Ok(sums)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{Paths, testdata_paths};

    #[test]
    fn recorded_files_give_the_table_and_its_statistics() {
        let mut sink = Sink::new();
        Conntrack::new(&testdata_paths())
            .collect(&mut sink)
            .expect("collects");
        assert_eq!(sink.value_of("node_nf_conntrack_entries", &[]), Some(1.0));
        assert_eq!(
            sink.value_of("node_nf_conntrack_entries_limit", &[]),
            Some(262144.0)
        );
        assert_eq!(sink.value_of("node_nf_conntrack_stat_drop", &[]), Some(0.0));
        assert_eq!(sink.len(), 10);
    }

    #[test]
    fn statistics_are_summed_over_cpus_by_column() {
        // This kernel's header (with its double spaces); older kernels name column 1
        // `searched` instead of `clashres`, at the same positions.
        let text = "entries  clashres found new invalid ignore delete chainlength insert \
                    insert_failed drop early_drop icmp_error  expect_new expect_create \
                    expect_delete search_restart\n\
                    00000003  00000000 00000001 00000000 00000002 00000003 00000000 00000000 \
                    00000004 00000005 00000006 00000007 00000000  00000000 00000000 00000000 \
                    00000008\n\
                    00000003  00000000 00000010 00000000 00000020 00000030 00000000 00000000 \
                    00000040 00000050 00000060 00000070 00000000  00000000 00000000 00000000 \
                    00000080\n";
        assert_eq!(
            parse_stat(text),
            Ok([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88])
        );
        assert!(parse_stat("header\n0 0 0\n").is_err());
        let eighteen = format!("header\n{}\n", ["0"; 18].join(" "));
        assert!(parse_stat(&eighteen).is_err());
        assert!(parse_stat(&format!("header\n{} x\n", ["0"; 16].join(" "))).is_err());
    }

    #[test]
    fn without_the_module_nothing_is_written_and_the_error_is_quiet() {
        let tree = std::env::temp_dir().join(format!("vigil-conntrack-{}", std::process::id()));
        std::fs::create_dir_all(&tree).expect("temp dir");
        let paths = Paths {
            proc: tree.clone(),
            ..testdata_paths()
        };
        let mut sink = Sink::new();
        let result = Conntrack::new(&paths).collect(&mut sink);
        assert!(
            result.as_ref().is_err_and(CollectError::is_missing),
            "{result:?}"
        );
        assert!(sink.is_empty());

        // The module loaded but no statistics file: the two table gauges only.
        let netfilter = tree.join("sys/net/netfilter");
        std::fs::create_dir_all(&netfilter).expect("mkdir");
        std::fs::write(netfilter.join("nf_conntrack_count"), "5\n").expect("write");
        std::fs::write(netfilter.join("nf_conntrack_max"), "65536\n").expect("write");
        Conntrack::new(&paths).collect(&mut sink).expect("collects");
        assert_eq!(sink.value_of("node_nf_conntrack_entries", &[]), Some(5.0));
        assert_eq!(sink.len(), 2);
        std::fs::remove_dir_all(&tree).expect("clean up");
    }
}
