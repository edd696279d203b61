//! Collection: read the host's metrics into a [`Sink`], once per interval.
//!
//! One file per source, each adding one `collect` function that writes into the sink, in
//! the shape of vector's `host_metrics` source. Names and labels follow node_exporter, so
//! dashboards and alert rules written for it port over unchanged.
//!
//! On Linux every source reads the kernel's own files (`/proc`, `/sys`) and `statvfs`; the
//! roots of those trees are configurable ([`Paths`]) so the agent can run in a container
//! with the host's trees mounted elsewhere, and so tests can feed recorded files. Elsewhere
//! (macOS, Windows) [`portable`] fills the same names from sysinfo wherever it can.
//!
//! Values are what the kernel reports: gauges exactly, counters as read (never rated,
//! never reset by the agent).

#[cfg(target_os = "linux")]
pub mod cpu;
#[cfg(target_os = "linux")]
pub mod disk;
#[cfg(target_os = "linux")]
pub mod filesystem;
#[cfg(target_os = "linux")]
pub mod host;
#[cfg(target_os = "linux")]
pub mod load;
#[cfg(target_os = "linux")]
pub mod memory;
#[cfg(target_os = "linux")]
pub mod network;
#[cfg(any(not(target_os = "linux"), feature = "portable"))]
pub mod portable;
mod sink;

pub use sink::{SeriesKey, Sink};

use std::path::PathBuf;
use std::time::Duration;

/// Where the kernel's trees are, so a containerised agent can read the host's.
#[derive(Debug, Clone)]
pub struct Paths {
    /// procfs mount (node_exporter's `--path.procfs`), normally `/proc`.
    pub proc: PathBuf,
    /// sysfs mount (`--path.sysfs`), normally `/sys`.
    pub sys: PathBuf,
    /// Host root filesystem (`--path.rootfs`), normally `/`; mount points are looked up below it.
    pub rootfs: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Self {
            proc: "/proc".into(),
            sys: "/sys".into(),
            rootfs: "/".into(),
        }
    }
}

/// Facts about the host, sent in the Hello and kept in the collector's host registry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostFacts {
    /// Host name as the host knows itself.
    pub hostname: String,
    /// `/etc/machine-id` (or the platform's equivalent); empty when unknown.
    pub machine_id: String,
    /// OS pretty name, e.g. "Debian GNU/Linux 12 (bookworm)".
    pub os: String,
    /// Kernel release, e.g. "6.1.0-18-amd64".
    pub kernel: String,
    /// Architecture, e.g. "x86_64".
    pub arch: String,
    /// CPU model name.
    pub cpu_model: String,
    /// Logical CPUs.
    pub logical_cores: u32,
    /// Physical memory in bytes.
    pub memory_bytes: u64,
}

/// Settings that shape collection.
#[derive(Debug, Clone)]
pub struct Options {
    /// Trees to read.
    pub paths: Paths,
    /// How long one filesystem's `statvfs` may take before it is skipped and counted
    /// (a hung NFS mount must not stall the rest).
    pub statfs_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            paths: Paths::default(),
            statfs_timeout: Duration::from_secs(5),
        }
    }
}

/// Why one source could not be read this round; the other sources still run.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file's contents were not in the expected format.
    #[error("parsing {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was unexpected.
        reason: String,
    },
}

/// Reads a whole file, naming it in the error.
pub fn read_file(path: impl Into<PathBuf>) -> Result<String, CollectError> {
    let path = path.into();
    std::fs::read_to_string(&path).map_err(|source| CollectError::Read { path, source })
}
/// One round's outcome: which sources failed and how many `statvfs` calls have hung so far.
#[derive(Debug, Default)]
pub struct Round {
    /// Sources that could not be read this round, by name (`"cpu"`, `"filesystem"`…); the
    /// others were still collected.
    pub errors: Vec<(&'static str, CollectError)>,
    /// `statvfs` calls that have timed out since the agent started (a counter).
    pub statfs_timeouts_total: u64,
}

/// Every source, run in turn each round: the kernel's files on Linux, sysinfo elsewhere.
pub struct Collectors {
    #[cfg(target_os = "linux")]
    options: Options,
    /// Computed once: nothing in them changes without a reboot, except the host name.
    #[cfg(target_os = "linux")]
    facts: HostFacts,
    #[cfg(target_os = "linux")]
    filesystems: filesystem::Filesystems,
    #[cfg(not(target_os = "linux"))]
    portable: portable::Portable,
}

impl Collectors {
    /// Sets up every source; reads the host facts once.
    pub fn new(options: Options) -> Self {
        #[cfg(target_os = "linux")]
        let collectors = Self {
            facts: host::facts(&options.paths),
            filesystems: filesystem::Filesystems::new(&options),
            options,
        };
        // sysinfo reads the platform's own APIs; there are no paths to honour.
        #[cfg(not(target_os = "linux"))]
        let collectors = {
            let _ = options;
            Self {
                portable: portable::Portable::new(),
            }
        };
        collectors
    }

    /// The host's facts, with the host name as it is now.
    pub fn facts(&self) -> HostFacts {
        #[cfg(target_os = "linux")]
        let facts = {
            let mut facts = self.facts.clone();
            let hostname = self.options.paths.proc.join("sys/kernel/hostname");
            if let Ok(name) = std::fs::read_to_string(hostname) {
                facts.hostname = name.trim().to_owned();
            }
            facts
        };
        #[cfg(not(target_os = "linux"))]
        let facts = self.portable.facts();
        facts
    }

    /// Runs every source once, writing into `sink`; a failing source is reported in the
    /// round's `errors` and does not stop the others.
    pub fn collect(&mut self, sink: &mut Sink) -> Round {
        #[cfg(target_os = "linux")]
        let round = {
            let paths = &self.options.paths;
            let facts = self.facts();
            let results: [(&'static str, Result<(), CollectError>); 7] = [
                ("cpu", cpu::collect(paths, sink)),
                ("memory", memory::collect(paths, sink)),
                ("load", load::collect(paths, sink)),
                ("disk", disk::collect(paths, sink)),
                ("network", network::collect(paths, sink)),
                ("filesystem", self.filesystems.collect(sink)),
                ("host", host::collect(paths, &facts, sink)),
            ];
            Round {
                errors: results
                    .into_iter()
                    .filter_map(|(source, r)| Some((source, r.err()?)))
                    .collect(),
                statfs_timeouts_total: self.filesystems.timeouts_total(),
            }
        };
        #[cfg(not(target_os = "linux"))]
        let round = {
            self.portable.collect(sink);
            Round::default()
        };
        round
    }
}

/// Recorded `/proc`, `/sys` and root trees under `testdata/`.
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn testdata_paths() -> Paths {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src/collect/testdata"));
    Paths {
        proc: root.join("proc"),
        sys: root.join("sys"),
        rootfs: root.join("rootfs"),
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_source_reads_this_machines_proc() {
        let mut collectors = Collectors::new(Options::default());
        let mut sink = Sink::new();
        let round = collectors.collect(&mut sink);
        assert!(round.errors.is_empty(), "{:?}", round.errors);
        assert_eq!(round.statfs_timeouts_total, 0);

        let meminfo = read_file("/proc/meminfo").expect("meminfo");
        let mem_total = memory::total_bytes(&meminfo).expect("MemTotal");
        assert_eq!(
            sink.value_of("node_memory_MemTotal_bytes", &[]),
            Some(mem_total as f64)
        );
        assert_eq!(collectors.facts().memory_bytes, mem_total);

        let stat = read_file("/proc/stat").expect("stat");
        let cpu_lines = stat
            .lines()
            .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
            .count();
        let cpus: HashSet<&str> = sink
            .round()
            .filter(|(k, _)| k.name == "node_cpu_seconds_total")
            .filter_map(|(k, _)| {
                k.labels
                    .iter()
                    .find(|(l, _)| l == "cpu")
                    .map(|(_, v)| v.as_str())
            })
            .collect();
        assert_eq!(cpus.len(), cpu_lines);
        assert_eq!(collectors.facts().logical_cores as usize, cpu_lines);

        let root = statvfs_root();
        let size = sink
            .round()
            .find(|(k, _)| {
                k.name == "node_filesystem_size_bytes"
                    && k.labels.iter().any(|(l, v)| l == "mountpoint" && v == "/")
            })
            .map(|(_, v)| v);
        assert_eq!(size, Some(root as f64));

        for name in [
            "node_load1",
            "node_boot_time_seconds",
            "node_context_switches_total",
        ] {
            assert!(sink.value_of(name, &[]).is_some_and(|v| v >= 0.0), "{name}");
        }
        assert!(
            sink.round()
                .any(|(k, _)| k.name == "node_network_receive_bytes_total")
        );
        assert!(sink.round().any(|(k, _)| k.name == "node_uname_info"));
        assert!(!collectors.facts().kernel.is_empty());
    }

    fn statvfs_root() -> u64 {
        filesystem::statvfs(std::path::Path::new("/"))
            .expect("statvfs /")
            .size_bytes
    }

    #[test]
    fn a_failing_source_does_not_stop_the_others() {
        let mut recorded = Collectors::new(Options {
            paths: testdata_paths(),
            ..Options::default()
        });
        let mut sink = Sink::new();
        let round = recorded.collect(&mut sink);
        assert!(round.errors.is_empty(), "{:?}", round.errors);
        assert_eq!(sink.value_of("node_load1", &[]), Some(2.12));

        // /proc/loadavg missing from an otherwise complete tree.
        let tree = std::env::temp_dir().join(format!("vigil-collect-{}", std::process::id()));
        let proc = tree.join("proc");
        std::fs::create_dir_all(&proc).expect("temp dir");
        for file in ["stat", "meminfo", "diskstats", "cpuinfo"] {
            std::fs::copy(testdata_paths().proc.join(file), proc.join(file)).expect("copy");
        }
        let paths = Paths {
            proc,
            ..testdata_paths()
        };
        let mut broken = Collectors::new(Options {
            paths,
            ..Options::default()
        });
        let mut sink = Sink::new();
        let round = broken.collect(&mut sink);
        let failed: Vec<&str> = round.errors.iter().map(|(source, _)| *source).collect();
        assert_eq!(failed, ["load", "network", "filesystem"]);
        assert!(
            matches!(&round.errors[0].1, CollectError::Read { path, .. } if path.ends_with("loadavg"))
        );
        assert_eq!(
            sink.value_of("node_memory_MemTotal_bytes", &[]),
            Some(24684096.0 * 1024.0)
        );
        assert!(
            sink.value_of("node_disk_reads_completed_total", &[("device", "vda")])
                .is_some()
        );
        assert!(sink.round().any(|(k, _)| k.name == "vigil_host_info"));
        std::fs::remove_dir_all(&tree).expect("clean up");
    }
}
