//! Interrupt counts per CPU from `/proc/interrupts`: `node_interrupts_total`.
//!
//! ```text
//!            CPU0       CPU1
//!  24:          1          0  IO-APIC   5-edge      ACPI:Ged
//!  41:      22198          0 PCI-MSIX-0000:00:04.0   1-edge      virtio3-rx
//! LOC:    7245342    8026681   Local timer interrupts
//! ERR:          0
//! ```
//!
//! The header has one column per CPU; `cpu` is the column's position ("0", "1", …), as in
//! node_exporter. A numbered line's `info` is the interrupt controller (the first field
//! after the counts) and `devices` the rest; a named line's `info` is its description and
//! `devices` is empty. Fields are joined by single spaces. Lines without a count per CPU
//! and a description (`ERR`, `MIS`) are left out, as node_exporter leaves them out.
//!
//! Off by default (node_exporter's `--collector.interrupts`): a host has a few hundred
//! series of it per CPU. `[collect] enable = ["interrupts"]` switches it on.

use super::{CollectError, Paths, Sink, TextFile};

/// The interrupts source: `<proc>/interrupts` and buffers reused every round.
#[derive(Debug)]
pub struct Interrupts {
    interrupts: TextFile,
    /// `cpu` label values, "0" to the number of columns less one.
    cpus: Vec<String>,
    /// The `info` and `devices` label values of the line being written.
    info: String,
    devices: String,
}

impl Interrupts {
    /// The source for the tree at `paths`.
    pub fn new(paths: &Paths) -> Self {
        Self {
            interrupts: TextFile::new(paths.proc.join("interrupts")),
            cpus: Vec::new(),
            info: String::new(),
            devices: String::new(),
        }
    }

    /// Reads `<proc>/interrupts` and writes `node_interrupts_total{cpu,type,info,devices}`
    /// for every interrupt line and CPU column.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        match self.interrupts.read() {
            Err(error) if error.is_missing() => return Ok(()),
            result => result?,
        }
        let Self {
            interrupts,
            cpus,
            info,
            devices,
        } = self;
        let parse_error = |reason| CollectError::Parse {
            path: interrupts.path().to_owned(),
            reason,
        };
        let mut lines = interrupts.text().lines();
        let columns = lines
            .next()
            .map_or(0, |header| header.split_ascii_whitespace().count());
        if columns == 0 {
            return Err(parse_error("no CPU columns in the header".to_owned()));
        }
        while cpus.len() < columns {
            cpus.push(cpus.len().to_string());
        }

        for line in lines {
            if line.split_ascii_whitespace().count() < columns + 2 {
                continue;
            }
            let mut fields = line.split_ascii_whitespace();
            let Some(first) = fields.next() else { continue };
            let irq = first.strip_suffix(':').unwrap_or(first);
            let counts = fields.clone().take(columns);
            let mut rest = fields.skip(columns);
            info.clear();
            devices.clear();
            if irq.parse::<i64>().is_ok() {
                info.push_str(rest.next().unwrap_or_default());
                join(devices, rest);
            } else {
                join(info, rest);
            }
            for (cpu, count) in cpus.iter().zip(counts) {
                let value: f64 = count
                    .parse()
                    .map_err(|_| parse_error(format!("{irq}: {count:?} is not a number")))?;
                let labels = [
                    ("cpu", cpu.as_str()),
                    ("type", irq),
                    ("info", info.as_str()),
                    ("devices", devices.as_str()),
                ];
                sink.push("node_interrupts_total", &labels, value);
            }
        }
        Ok(())
    }
}

/// Appends `fields` to `out`, separated by single spaces.
fn join<'a>(out: &mut String, fields: impl Iterator<Item = &'a str>) {
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testdata_paths;

    fn value(sink: &Sink, cpu: &str, irq: &str, info: &str, devices: &str) -> Option<f64> {
        let labels = [
            ("cpu", cpu),
            ("type", irq),
            ("info", info),
            ("devices", devices),
        ];
        sink.value_of("node_interrupts_total", &labels)
    }

    #[test]
    fn recorded_interrupts_give_a_counter_per_line_and_cpu() {
        let mut sink = Sink::new();
        let mut source = Interrupts::new(&testdata_paths());
        source.collect(&mut sink).expect("collects");
        assert_eq!(
            value(&sink, "0", "0", "IO-APIC", "2-edge timer"),
            Some(35.0)
        );
        assert_eq!(
            value(&sink, "3", "9", "IO-APIC", "9-fasteoi acpi"),
            Some(12.0)
        );
        assert_eq!(
            value(
                &sink,
                "1",
                "16",
                "IO-APIC",
                "16-fasteoi ehci_hcd:usb1, i801_smbus"
            ),
            Some(29.0)
        );
        assert_eq!(
            value(&sink, "2", "127", "PCI-MSI", "327680-edge xhci_hcd"),
            Some(4_412_007.0)
        );
        assert_eq!(
            value(&sink, "3", "LOC", "Local timer interrupts", ""),
            Some(98_013_377.0)
        );
        assert_eq!(
            value(&sink, "0", "NMI", "Non-maskable interrupts", ""),
            Some(1_024.0)
        );
        // ERR and MIS have one count and no description: left out.
        assert!(!sink.round().any(|(k, _)| k.labels[3].1 == "ERR"));
        // 6 numbered and 5 named lines, 4 CPUs each.
        assert_eq!(sink.len(), 11 * 4);

        // A steady second round writes the same series.
        sink.take_round();
        source.collect(&mut sink).expect("collects again");
        assert_eq!(sink.len(), 44);
    }

    #[test]
    fn a_garbled_count_is_an_error_and_a_missing_file_is_quiet() {
        let dir = std::env::temp_dir().join(format!("vigil-interrupts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(
            dir.join("interrupts"),
            "  CPU0\n 1: x IO-APIC 1-edge i8042\n",
        )
        .expect("write");
        let paths = Paths {
            proc: dir.clone(),
            ..testdata_paths()
        };
        let mut sink = Sink::new();
        let error = Interrupts::new(&paths).collect(&mut sink);
        assert!(
            matches!(error, Err(CollectError::Parse { .. })),
            "{error:?}"
        );
        std::fs::remove_dir_all(&dir).expect("clean up");

        let paths = Paths {
            proc: "/nonexistent/proc".into(),
            ..testdata_paths()
        };
        Interrupts::new(&paths).collect(&mut sink).expect("quiet");
    }

    #[test]
    fn this_machines_interrupts_are_read() {
        let mut sink = Sink::new();
        Interrupts::new(&crate::collect::Paths::default())
            .collect(&mut sink)
            .expect("collects");
        assert!(sink.round().any(|(k, _)| k.name == "node_interrupts_total"));
    }
}
