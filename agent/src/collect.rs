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
pub mod arp;
#[cfg(target_os = "linux")]
pub mod conntrack;
#[cfg(target_os = "linux")]
pub mod cpu;
#[cfg(target_os = "linux")]
pub mod disk;
#[cfg(target_os = "linux")]
pub mod entropy;
#[cfg(target_os = "linux")]
mod file;
#[cfg(target_os = "linux")]
pub mod filefd;
#[cfg(target_os = "linux")]
pub mod filesystem;
#[cfg(target_os = "linux")]
pub mod host;
#[cfg(target_os = "linux")]
pub mod hwmon;
#[cfg(target_os = "linux")]
pub mod interrupts;
#[cfg(target_os = "linux")]
pub mod load;
#[cfg(target_os = "linux")]
pub mod memory;
pub mod metadata;
#[cfg(target_os = "linux")]
pub mod netclass;
#[cfg(target_os = "linux")]
pub mod netstat;
#[cfg(target_os = "linux")]
pub mod network;
#[cfg(any(not(target_os = "linux"), feature = "portable"))]
pub mod portable;
#[cfg(target_os = "linux")]
pub mod pressure;
pub mod processes;
#[cfg(target_os = "linux")]
pub mod schedstat;
mod sink;
#[cfg(target_os = "linux")]
pub mod sockstat;
#[cfg(target_os = "linux")]
pub mod softnet;
pub mod systemd;
#[cfg(target_os = "linux")]
pub mod thermal_zone;
#[cfg(target_os = "linux")]
pub mod time;
#[cfg(target_os = "linux")]
pub mod timex;
#[cfg(target_os = "linux")]
pub mod udp_queues;
#[cfg(target_os = "linux")]
pub mod vmstat;

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

/// Every source's name, as `[collect] disable` and `enable` take them.
pub const SOURCES: [&str; 26] = [
    "cpu",
    "memory",
    "load",
    "disk",
    "network",
    "netclass",
    "arp",
    "udp_queues",
    "filesystem",
    "host",
    "pressure",
    "vmstat",
    "netstat",
    "sockstat",
    "softnet",
    "conntrack",
    "filefd",
    "entropy",
    "timex",
    "time",
    "hwmon",
    "thermal_zone",
    "schedstat",
    "interrupts",
    "processes",
    "systemd",
];

/// Sources that run only when `[collect] enable` names them (as in node_exporter).
pub const OFF_BY_DEFAULT: [&str; 1] = ["interrupts"];

/// Settings that shape collection.
#[derive(Debug, Clone)]
pub struct Options {
    /// Trees to read.
    pub paths: Paths,
    /// How long one filesystem's `statvfs` may take before it is skipped and counted
    /// (a hung NFS mount must not stall the rest).
    pub statfs_timeout: Duration,
    /// Sources switched off (`[collect] disable`), by their [`SOURCES`] name.
    pub disable: Vec<String>,
    /// Sources off by default switched on (`[collect] enable`).
    pub enable: Vec<String>,
    /// `[collect.processes]`.
    pub processes: processes::ProcessesConfig,
    /// `[collect.systemd]`.
    pub systemd: systemd::SystemdConfig,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            paths: Paths::default(),
            statfs_timeout: Duration::from_secs(5),
            disable: Vec::new(),
            enable: Vec::new(),
            processes: processes::ProcessesConfig::default(),
            systemd: systemd::SystemdConfig::default(),
        }
    }
}

impl Options {
    /// Whether the source `name` runs: not disabled, and enabled if it is off by default.
    /// A source named in both lists stays off.
    pub fn is_on(&self, name: &str) -> bool {
        let listed = |list: &[String]| list.iter().any(|n| n == name);
        !listed(&self.disable) && (!OFF_BY_DEFAULT.contains(&name) || listed(&self.enable))
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

impl CollectError {
    /// Whether the error is a file or directory that does not exist (`ENOENT`).
    pub fn is_missing(&self) -> bool {
        matches!(self, Self::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// The "missing kernel source is skipped quietly" rule: a source whose file or directory
/// does not exist on this kernel (no `/proc/pressure`, no conntrack module, no hwmon chips)
/// writes nothing and is no error, so it is not logged every round. Its result otherwise.
pub fn quiet_if_missing(result: Result<(), CollectError>) -> Result<(), CollectError> {
    match result {
        Err(error) if error.is_missing() => Ok(()),
        other => other,
    }
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

/// The Linux sources, each keeping its paths, buffers and caches between rounds; `None`
/// when switched off (see [`Options::is_on`]).
#[cfg(target_os = "linux")]
struct Linux {
    cpu: Option<cpu::Cpu>,
    memory: Option<memory::Memory>,
    load: Option<load::Load>,
    disk: Option<disk::Disk>,
    network: Option<network::Network>,
    netclass: Option<netclass::NetClass>,
    arp: Option<arp::Arp>,
    udp_queues: Option<udp_queues::UdpQueues>,
    filesystems: Option<filesystem::Filesystems>,
    host: Option<host::Host>,
    pressure: Option<pressure::Pressure>,
    vmstat: Option<vmstat::Vmstat>,
    netstat: Option<netstat::Netstat>,
    sockstat: Option<sockstat::Sockstat>,
    softnet: Option<softnet::Softnet>,
    conntrack: Option<conntrack::Conntrack>,
    filefd: Option<filefd::Filefd>,
    entropy: Option<entropy::Entropy>,
    processes: Option<processes::Processes>,
    systemd: Option<systemd::Systemd>,
    timex: Option<timex::Timex>,
    time: Option<time::Time>,
    hwmon: Option<hwmon::Hwmon>,
    thermal_zone: Option<thermal_zone::ThermalZone>,
    schedstat: Option<schedstat::Schedstat>,
    interrupts: Option<interrupts::Interrupts>,
}

impl Collectors {
    /// Sets up every source; reads the host facts once.
    pub fn new(options: Options) -> Self {
        #[cfg(target_os = "linux")]
        let collectors = {
            let paths = &options.paths;
            let on = |name: &str| options.is_on(name);
            Self {
                facts: host::facts(paths),
                linux: Linux {
                    cpu: on("cpu").then(|| cpu::Cpu::new(paths)),
                    memory: on("memory").then(|| memory::Memory::new(paths)),
                    load: on("load").then(|| load::Load::new(paths)),
                    disk: on("disk").then(|| disk::Disk::new(paths)),
                    network: on("network").then(|| network::Network::new(paths)),
                    netclass: on("netclass").then(|| netclass::NetClass::new(paths)),
                    arp: on("arp").then(|| arp::Arp::new(paths)),
                    udp_queues: on("udp_queues").then(|| udp_queues::UdpQueues::new(paths)),
                    filesystems: on("filesystem").then(|| filesystem::Filesystems::new(&options)),
                    host: on("host").then(|| host::Host::new(paths)),
                    pressure: on("pressure").then(|| pressure::Pressure::new(paths)),
                    vmstat: on("vmstat").then(|| vmstat::Vmstat::new(paths)),
                    netstat: on("netstat").then(|| netstat::Netstat::new(paths)),
                    sockstat: on("sockstat").then(|| sockstat::Sockstat::new(paths)),
                    softnet: on("softnet").then(|| softnet::Softnet::new(paths)),
                    conntrack: on("conntrack").then(|| conntrack::Conntrack::new(paths)),
                    filefd: on("filefd").then(|| filefd::Filefd::new(paths)),
                    entropy: on("entropy").then(|| entropy::Entropy::new(paths)),
                    processes: on("processes")
                        .then(|| processes::Processes::new(paths, &options.processes)),
                    systemd: on("systemd").then(|| systemd::Systemd::new(paths, &options.systemd)),
                    timex: on("timex").then(timex::Timex::new),
                    time: on("time").then(|| time::Time::new(paths)),
                    hwmon: on("hwmon").then(|| hwmon::Hwmon::new(paths)),
                    thermal_zone: on("thermal_zone").then(|| thermal_zone::ThermalZone::new(paths)),
                    schedstat: on("schedstat").then(|| schedstat::Schedstat::new(paths)),
                    interrupts: on("interrupts").then(|| interrupts::Interrupts::new(paths)),
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
            let filesystems = linux.filesystems.as_mut().map(|f| f.start());
            // One entry per source: its name and its result, `None` when switched off. A
            // source that may be missing on some kernels wraps its result in
            // `quiet_if_missing`.
            let results = [
                ("cpu", linux.cpu.as_mut().map(|s| s.collect(sink))),
                ("memory", linux.memory.as_mut().map(|s| s.collect(sink))),
                ("load", linux.load.as_mut().map(|s| s.collect(sink))),
                ("disk", linux.disk.as_mut().map(|s| s.collect(sink))),
                ("network", linux.network.as_mut().map(|s| s.collect(sink))),
                (
                    "netclass",
                    linux
                        .netclass
                        .as_mut()
                        .map(|s| quiet_if_missing(s.collect(sink))),
                ),
                (
                    "arp",
                    linux
                        .arp
                        .as_mut()
                        .map(|s| quiet_if_missing(s.collect(sink))),
                ),
                (
                    "udp_queues",
                    linux
                        .udp_queues
                        .as_mut()
                        .map(|s| quiet_if_missing(s.collect(sink))),
                ),
                (
                    "pressure",
                    linux
                        .pressure
                        .as_mut()
                        .map(|s| quiet_if_missing(s.collect(sink))),
                ),
                (
                    "vmstat",
                    linux
                        .vmstat
                        .as_mut()
                        .map(|s| quiet_if_missing(s.collect(sink))),
                ),
                (
                    "netstat",
                    linux
                        .netstat
                        .as_mut()
                        .map(|s| quiet_if_missing(s.collect(sink))),
                ),
                (
                    "sockstat",
                    linux
                        .sockstat
                        .as_mut()
                        .map(|s| quiet_if_missing(s.collect(sink))),
                ),
                (
                    "softnet",
                    linux
                        .softnet
                        .as_mut()
                        .map(|s| quiet_if_missing(s.collect(sink))),
                ),
                (
                    "conntrack",
                    linux
                        .conntrack
                        .as_mut()
                        .map(|s| quiet_if_missing(s.collect(sink))),
                ),
                (
                    "filefd",
                    linux
                        .filefd
                        .as_mut()
                        .map(|s| quiet_if_missing(s.collect(sink))),
                ),
                (
                    "entropy",
                    linux
                        .entropy
                        .as_mut()
                        .map(|s| quiet_if_missing(s.collect(sink))),
                ),
                (
                    "processes",
                    linux.processes.as_mut().map(|s| s.collect(sink)),
                ),
                ("systemd", linux.systemd.as_mut().map(|s| s.collect(sink))),
                ("timex", linux.timex.as_mut().map(|s| s.collect(sink))),
                ("time", linux.time.as_mut().map(|s| s.collect(sink))),
                ("hwmon", linux.hwmon.as_mut().map(|s| s.collect(sink))),
                (
                    "thermal_zone",
                    linux.thermal_zone.as_mut().map(|s| s.collect(sink)),
                ),
                (
                    "schedstat",
                    linux.schedstat.as_mut().map(|s| s.collect(sink)),
                ),
                (
                    "interrupts",
                    linux.interrupts.as_mut().map(|s| s.collect(sink)),
                ),
                (
                    "filesystem",
                    filesystems.map(|started| {
                        started.map(|()| {
                            if let Some(f) = linux.filesystems.as_mut() {
                                f.finish(sink);
                            }
                        })
                    }),
                ),
                (
                    "host",
                    linux.host.as_mut().map(|s| s.collect(&self.facts, sink)),
                ),
            ];
            Round {
                errors: results
                    .into_iter()
                    .filter_map(|(source, r)| Some((source, r?.err()?)))
                    .collect(),
                statfs_timeouts_total: linux.filesystems.as_ref().map_or(0, |f| f.timeouts_total()),
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
