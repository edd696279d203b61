//! Virtual memory counters from `/proc/vmstat`, the fields node_exporter keeps by default.
//!
//! ```text
//! pgpgin 91826105        -> node_vmstat_pgpgin
//! pgmajfault 226422      -> node_vmstat_pgmajfault
//! nr_free_pages 5719532  (not kept)
//! ```
//!
//! node_exporter 1.5's default `--collector.vmstat.fields` is `^(oom_kill|pgpg|pswp|pg.*fault).*`:
//! [`kept`] is that expression. The file has about 190 lines of which 7 are kept; which
//! lines those are is worked out once ([`Picks`]) and checked cheaply every round.

use super::{CollectError, Paths, Sink, TextFile};

/// Whether node_exporter's default field expression keeps the `/proc/vmstat` field `name`.
fn kept(name: &str) -> bool {
    ["oom_kill", "pgpg", "pswp"]
        .iter()
        .any(|prefix| name.starts_with(prefix))
        || name
            .strip_prefix("pg")
            .is_some_and(|rest| rest.contains("fault"))
}

/// The vmstat source: `<proc>/vmstat`, kept open and read every round.
#[derive(Debug)]
pub struct Vmstat {
    vmstat: TextFile,
    picks: Picks,
}

impl Vmstat {
    /// The source for the tree at `paths`.
    pub fn new(paths: &Paths) -> Self {
        Self {
            vmstat: TextFile::new(paths.proc.join("vmstat")),
            picks: Picks::default(),
        }
    }

    /// Writes one `node_vmstat_<field>` per kept field.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        self.vmstat.read()?;
        let pick = |field: &str| kept(field).then(|| format!("node_vmstat_{field}"));
        self.picks
            .read(self.vmstat.text(), pick)
            .map_err(|reason| CollectError::Parse {
                path: self.vmstat.path().to_owned(),
                reason,
            })?;
        self.picks.push_to(sink);
        Ok(())
    }
}

/// The kept lines of a `name value` file whose lines come in the same order every round
/// (`/proc/vmstat`, `/proc/net/snmp6`): which lines they are is worked out once, by a
/// `pick` function that gives a field's metric name, and then only checked (each picked
/// line still has its field); lines after the last pick are not even looked at. A file
/// that changed shape is worked out again. (Fields only come or go with another kernel.)
#[derive(Debug, Default)]
pub(super) struct Picks {
    /// Line index, field and metric name of each kept line, in line order.
    picks: Vec<(usize, String, String)>,
    /// Whether the picks were worked out at least once.
    known: bool,
    /// This round's value of each pick.
    values: Vec<f64>,
}

impl Picks {
    /// Reads this round's values out of `text`, working the picks out again if the file
    /// changed shape.
    pub(super) fn read(
        &mut self,
        text: &str,
        pick: impl Fn(&str) -> Option<String>,
    ) -> Result<(), String> {
        if self.known && self.read_values(text)? {
            return Ok(());
        }
        self.picks.clear();
        // `split` rather than `lines`: no '\r' to strip from kernel text.
        for (i, line) in text.split('\n').enumerate() {
            let Some(field) = line.split_ascii_whitespace().next() else {
                continue;
            };
            if let Some(metric) = pick(field) {
                self.picks.push((i, field.to_owned(), metric));
            }
        }
        self.known = true;
        if self.read_values(text)? {
            Ok(())
        } else {
            Err("the file changed while it was read".into())
        }
    }

    /// Reads the picked values; false when the file does not have the picks' shape.
    fn read_values(&mut self, text: &str) -> Result<bool, String> {
        self.values.clear();
        let mut picks = self.picks.iter().peekable();
        for (i, line) in text.split('\n').enumerate() {
            let Some(&&(at, ref field, _)) = picks.peek() else {
                break;
            };
            if at != i {
                continue;
            }
            picks.next();
            let mut parts = line.split_ascii_whitespace();
            if parts.next() != Some(field.as_str()) {
                return Ok(false);
            }
            let value = parts.next().unwrap_or_default();
            let value = value
                .parse()
                .map_err(|_| format!("{field}: {value:?} is not a number"))?;
            self.values.push(value);
        }
        Ok(picks.next().is_none())
    }

    /// Writes this round's values, one series per pick.
    pub(super) fn push_to(&self, sink: &mut Sink) {
        for ((_, _, metric), &value) in self.picks.iter().zip(&self.values) {
            sink.push(metric, &[], value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testdata_paths;

    #[test]
    fn the_default_expression_keeps_faults_paging_swapping_and_oom_kills() {
        for name in [
            "pgfault",
            "pgmajfault",
            "pgpgin",
            "pgpgout",
            "pswpin",
            "oom_kill",
        ] {
            assert!(kept(name), "{name}");
        }
        for name in [
            "nr_free_pages",
            "pgfree",
            "pgscan_kswapd",
            "thp_fault_alloc",
            "fault",
        ] {
            assert!(!kept(name), "{name}");
        }
        // `pg.*fault` matches anywhere after `pg`; `.*` after the group matches the rest.
        assert!(kept("pgdemote_fault_x"));
        assert!(kept("oom_kill_extra"));
    }

    #[test]
    fn recorded_file_gives_the_kept_fields() {
        let mut sink = Sink::new();
        let mut vmstat = Vmstat::new(&testdata_paths());
        vmstat.collect(&mut sink).expect("collects");
        let names: Vec<&str> = sink.round().map(|(k, _)| k.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "node_vmstat_pgpgin",
                "node_vmstat_pgpgout",
                "node_vmstat_pswpin",
                "node_vmstat_pswpout",
                "node_vmstat_pgfault",
                "node_vmstat_pgmajfault",
                "node_vmstat_oom_kill",
            ]
        );
        let recorded = std::fs::read_to_string(testdata_paths().proc.join("vmstat")).unwrap();
        let pgfault: f64 = recorded
            .lines()
            .find_map(|l| l.strip_prefix("pgfault "))
            .expect("pgfault")
            .parse()
            .expect("a number");
        assert_eq!(sink.value_of("node_vmstat_pgfault", &[]), Some(pgfault));
        sink.take_round();
        vmstat.collect(&mut sink).expect("collects again");
        assert_eq!(sink.len(), 7);
    }

    #[test]
    fn a_file_of_another_shape_is_worked_out_again() {
        let pick = |field: &str| kept(field).then(|| field.to_owned());
        let mut picks = Picks::default();
        picks.read("a 1\npgfault 2\nb 3\n", pick).expect("reads");
        assert_eq!(picks.values, [2.0]);
        // A line inserted before the picked one, then a picked line added at the end.
        picks
            .read("a 1\nc 0\npgfault 5\nb 3\n", pick)
            .expect("reads");
        assert_eq!(picks.values, [5.0]);
        // A line removed before it.
        picks
            .read("c 0\npgfault 6\nb 3\npswpin 7\n", pick)
            .expect("reads");
        assert_eq!(picks.values, [6.0, 7.0]);
        assert_eq!(picks.picks[1].2, "pswpin");
        // Lines after the last pick are not looked at.
        let more = "c 0\npgfault 8\nb 3\npswpin 9\npgmajfault 1\n";
        picks.read(more, pick).expect("reads");
        assert_eq!(picks.values, [8.0, 9.0]);
        assert!(picks.read("pgfault x\n", pick).is_err());
    }
}
