//! Memory from `/proc/meminfo`, every field as node_exporter names it.
//!
//! ```text
//! MemTotal:       24684096 kB     -> node_memory_MemTotal_bytes = 24684096 * 1024
//! Active(anon):       1528 kB     -> node_memory_Active_anon_bytes
//! HugePages_Total:       0        -> node_memory_HugePages_Total (a count, no unit)
//! ```

use super::{CollectError, Paths, Sink, read_file};

/// Reads `<proc>/meminfo` and writes one `node_memory_*` gauge per field.
pub fn collect(paths: &Paths, sink: &mut Sink) -> Result<(), CollectError> {
    let path = paths.proc.join("meminfo");
    let text = read_file(&path)?;
    let mut name = String::new();
    for (field, value) in fields(&text) {
        let (value, bytes) = value.map_err(|reason| CollectError::Parse {
            path: path.clone(),
            reason,
        })?;
        metric_name(field, bytes, &mut name);
        sink.push(&name, &[], value as f64);
    }
    Ok(())
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
    use crate::collect::testdata_paths;

    #[test]
    fn recorded_meminfo_gives_every_field_in_bytes() {
        let mut sink = Sink::new();
        collect(&testdata_paths(), &mut sink).expect("collects");
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
