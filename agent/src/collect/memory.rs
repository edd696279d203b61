//! Memory from `/proc/meminfo`, every field as node_exporter names it.
//!
//! ```text
//! MemTotal:       24684096 kB     -> node_memory_MemTotal_bytes = 24684096 * 1024
//! Active(anon):       1528 kB     -> node_memory_Active_anon_bytes
//! HugePages_Total:       0        -> node_memory_HugePages_Total (a count, no unit)
//! ```

use super::{CollectError, Paths, Sink, TextFile};

/// The memory source: `<proc>/meminfo`, read into the same buffer every round.
#[derive(Debug)]
pub struct Memory {
    meminfo: TextFile,
    /// Metric name of each line as last seen, by line: the field, whether it was in kB,
    /// and the name. Fields come in the same order every round, so names are built once.
    names: Vec<(String, bool, String)>,
}

impl Memory {
    /// The source for the tree at `paths`.
    pub fn new(paths: &Paths) -> Self {
        Self {
            meminfo: TextFile::new(paths.proc.join("meminfo")),
            names: Vec::new(),
        }
    }

    /// Reads `<proc>/meminfo` and writes one `node_memory_*` gauge per field.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        self.meminfo.read()?;
        let text = self.meminfo.text();
        for (i, (field, value)) in fields(text).enumerate() {
            let (value, bytes) = value.map_err(|reason| CollectError::Parse {
                path: self.meminfo.path().to_owned(),
                reason,
            })?;
            if self.names.len() <= i {
                self.names.push(Default::default());
            }
            let (seen, in_bytes, name) = &mut self.names[i];
            // `name` is empty only before it was first built.
            if name.is_empty() || seen != field || *in_bytes != bytes {
                seen.clear();
                seen.push_str(field);
                *in_bytes = bytes;
                metric_name(field, bytes, name);
            }
            sink.push(name, &[], value as f64);
        }
        Ok(())
    }
}

/// `MemTotal` in bytes, for host facts; `None` when the file lacks it.
pub fn total_bytes(meminfo: &str) -> Option<u64> {
    fields(meminfo)
        .find(|(field, _)| *field == "MemTotal")
        .and_then(|(_, v)| v.ok())
        .map(|(v, _)| v)
}

/// Each field's name and (value, whether it is in bytes). Values in kB become bytes.
fn fields(text: &str) -> impl Iterator<Item = (&str, Result<(u64, bool), String>)> {
    text.lines().filter_map(|line| {
        let (field, rest) = line.split_once(':')?;
        let mut parts = rest.split_ascii_whitespace();
        let value = parts
            .next()
            .ok_or_else(|| format!("{field} has no value"))
            .and_then(|v| {
                v.parse::<u64>()
                    .map_err(|_| format!("{field}: {v:?} is not a number"))
            });
        let value = value.and_then(|v| match parts.next() {
            None => Ok((v, false)),
            Some("kB") => Ok((v.saturating_mul(1024), true)),
            Some(unit) => Err(format!("{field}: unknown unit {unit:?}")),
        });
        Some((field.trim(), value))
    })
}

/// `Active(anon)` → `node_memory_Active_anon_bytes`, like node_exporter's meminfo collector.
fn metric_name(field: &str, bytes: bool, out: &mut String) {
    out.clear();
    out.push_str("node_memory_");
    out.extend(
        field
            .chars()
            .filter(|&c| c != ')')
            .map(|c| if c == '(' { '_' } else { c }),
    );
    if bytes {
        out.push_str("_bytes");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{read_file, testdata_paths};

    #[test]
    fn recorded_meminfo_gives_every_field_in_bytes() {
        let mut sink = Sink::new();
        Memory::new(&testdata_paths())
            .collect(&mut sink)
            .expect("collects");
        assert_eq!(
            sink.value_of("node_memory_MemTotal_bytes", &[]),
            Some(24684096.0 * 1024.0)
        );
        assert_eq!(
            sink.value_of("node_memory_MemAvailable_bytes", &[]),
            Some(23949576.0 * 1024.0)
        );
        assert_eq!(sink.value_of("node_memory_SwapTotal_bytes", &[]), Some(0.0));
        assert_eq!(
            sink.value_of("node_memory_Active_anon_bytes", &[]),
            Some(1536.0 * 1024.0)
        );
        assert_eq!(
            sink.value_of("node_memory_Inactive_file_bytes", &[]),
            Some(576424.0 * 1024.0)
        );
        assert_eq!(
            sink.value_of("node_memory_VmallocTotal_bytes", &[]),
            Some(34359738367.0 * 1024.0)
        );
        assert_eq!(sink.value_of("node_memory_HugePages_Total", &[]), Some(0.0));
        assert_eq!(
            sink.value_of("node_memory_HugePages_Total_bytes", &[]),
            None
        );
        assert_eq!(
            sink.value_of("node_memory_Hugepagesize_bytes", &[]),
            Some(2048.0 * 1024.0)
        );
        let text = read_file(testdata_paths().proc.join("meminfo")).expect("fixture");
        assert_eq!(sink.len(), text.lines().count());
        assert_eq!(total_bytes(&text), Some(24684096 * 1024));
    }

    #[test]
    fn unit_less_counts_keep_their_value() {
        let mut name = String::new();
        metric_name("Active(file)", true, &mut name);
        assert_eq!(name, "node_memory_Active_file_bytes");
        let parsed: Vec<_> = fields("HugePages_Free:       3\n").collect();
        assert_eq!(parsed, vec![("HugePages_Free", Ok((3, false)))]);
    }
}
