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
mod file;
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

#[cfg(target_os = "linux")]
pub use file::TextFile;
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
    linux: Linux,
    #[cfg(not(target_os = "linux"))]
    portable: portable::Portable,
}

/// The Linux sources, each keeping its paths, buffers and caches between rounds.
#[cfg(target_os = "linux")]
struct Linux {
    cpu: cpu::Cpu,
    memory: memory::Memory,
    load: load::Load,
    disk: disk::Disk,
    network: network::Network,
    filesystems: filesystem::Filesystems,
    host: host::Host,
}

impl Collectors {
    /// Sets up every source; reads the host facts once.
    pub fn new(options: Options) -> Self {
        #[cfg(target_os = "linux")]
        let collectors = {
            let paths = &options.paths;
            Self {
                facts: host::facts(paths),
                linux: Linux {
                    cpu: cpu::Cpu::new(paths),
                    memory: memory::Memory::new(paths),
                    load: load::Load::new(paths),
                    disk: disk::Disk::new(paths),
                    network: network::Network::new(paths),
                    filesystems: filesystem::Filesystems::new(&options),
                    host: host::Host::new(paths),
                },
                options,
            }
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
            let linux = &mut self.linux;
            // The statvfs calls run on the workers while the other sources are read.
            let filesystems = linux.filesystems.start();
            let results: [(&'static str, Result<(), CollectError>); 7] = [
                ("cpu", linux.cpu.collect(sink)),
                ("memory", linux.memory.collect(sink)),
                ("load", linux.load.collect(sink)),
                ("disk", linux.disk.collect(sink)),
                ("network", linux.network.collect(sink)),
                (
                    "filesystem",
                    filesystems.map(|()| linux.filesystems.finish(sink)),
                ),
                ("host", linux.host.collect(&self.facts, sink)),
            ];
            Round {
                errors: results
                    .into_iter()
                    .filter_map(|(source, r)| Some((source, r.err()?)))
                    .collect(),
                statfs_timeouts_total: linux.filesystems.timeouts_total(),
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
mod tests;
