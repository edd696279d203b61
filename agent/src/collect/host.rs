//! Host facts and the info series: `node_uname_info`, `node_os_info`, `vigil_host_info`.
//!
//! Facts come from the kernel's files under `<proc>` and from `<rootfs>/etc`, so an agent in
//! a container describes the host, not its image:
//!
//! ```text
//! <proc>/sys/kernel/{hostname,osrelease,ostype,version,domainname}
//! <proc>/cpuinfo       "model name" (x86), "Hardware" or "Processor" (ARM); "processor" per CPU
//! <proc>/meminfo       MemTotal
//! <rootfs>/etc/machine-id, else <rootfs>/var/lib/dbus/machine-id
//! <rootfs>/etc/os-release, else <rootfs>/usr/lib/os-release    KEY=value, value maybe quoted
//! ```
//!
//! A fact that cannot be read is left empty (or 0): facts describe, they never fail.
//!
//! Each round reads only what can change while the agent runs: the host and domain names.
//! The kernel's type, release and version are read once. os-release is parsed again only
//! when its file changed (another inode, size or modification time), as node_exporter does.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{CollectError, HostFacts, Paths, Sink, TextFile, memory};

/// Reads the host's facts; unreadable ones are left empty.
pub fn facts(paths: &Paths) -> HostFacts {
    let cpuinfo = read(&paths.proc.join("cpuinfo"));
    let field = |key: &str| cpuinfo_field(&cpuinfo, key);
    let cpu_model = field("model name")
        .or_else(|| field("Hardware"))
        .or_else(|| field("Processor"));
    let processors = cpuinfo
        .lines()
        .filter(|l| l.split(':').next().map(str::trim) == Some("processor"));
    let logical_cores = match processors.count() {
        0 => read(&paths.proc.join("stat"))
            .lines()
            .filter(|l| is_cpu_n(l))
            .count(),
        n => n,
    };
    HostFacts {
        hostname: kernel(paths, "hostname"),
        machine_id: first_readable(&[
            &paths.rootfs.join("etc/machine-id"),
            &paths.rootfs.join("var/lib/dbus/machine-id"),
        ])
        .trim()
        .to_owned(),
        os: os_release(paths)
            .into_iter()
            .find(|(k, _)| k == "PRETTY_NAME")
            .map(|(_, v)| v)
            .unwrap_or_default(),
        kernel: kernel(paths, "osrelease"),
        arch: arch().to_owned(),
        cpu_model: cpu_model.unwrap_or_default().to_owned(),
        logical_cores: u32::try_from(logical_cores).unwrap_or(u32::MAX),
        memory_bytes: memory::total_bytes(&read(&paths.proc.join("meminfo"))).unwrap_or(0),
    }
}

/// Labels of `node_os_info` and the os-release keys they come from (node_exporter 1.5's).
const OS_LABELS: [(&str, &str); 12] = [
    ("build_id", "BUILD_ID"),
    ("id", "ID"),
    ("id_like", "ID_LIKE"),
    ("image_id", "IMAGE_ID"),
    ("image_version", "IMAGE_VERSION"),
    ("name", "NAME"),
    ("pretty_name", "PRETTY_NAME"),
    ("variant", "VARIANT"),
    ("variant_id", "VARIANT_ID"),
    ("version", "VERSION"),
    ("version_codename", "VERSION_CODENAME"),
    ("version_id", "VERSION_ID"),
];

/// Indices in [`OS_LABELS`] of the labels `node_os_version` carries, and of VERSION_ID.
const VERSION_LABELS: [usize; 3] = [1, 2, 5];
const VERSION_ID: usize = 11;

/// The info series' source: what it reads every round and what it keeps.
#[derive(Debug)]
pub struct Host {
    /// `ostype`, `osrelease`, `version`: fixed while the kernel runs, read once.
    sysname: String,
    release: String,
    version: String,
    hostname: TextFile,
    domainname: TextFile,
    os_release: OsRelease,
}

impl Host {
    /// The source for the trees at `paths`; reads the kernel's fixed names now.
    pub fn new(paths: &Paths) -> Self {
        let kernel_file = |name| TextFile::new(paths.proc.join("sys/kernel").join(name));
        Self {
            sysname: kernel(paths, "ostype"),
            release: kernel(paths, "osrelease"),
            version: kernel(paths, "version"),
            hostname: kernel_file("hostname"),
            domainname: kernel_file("domainname"),
            os_release: OsRelease::new(paths),
        }
    }

    /// Writes `node_uname_info`, `node_os_info` and `vigil_host_info`, each with value 1, and
    /// `node_os_version`: VERSION_ID's leading `major[.minor]` as a number, when it has one.
    /// The os-release series are left out when there is no os-release file.
    pub fn collect(&mut self, facts: &HostFacts, sink: &mut Sink) -> Result<(), CollectError> {
        // Unreadable names are empty, as in the facts.
        let _ = self.hostname.read();
        let _ = self.domainname.read();
        let uname = [
            ("sysname", self.sysname.as_str()),
            ("release", self.release.as_str()),
            ("version", self.version.as_str()),
            ("machine", facts.arch.as_str()),
            ("nodename", self.hostname.text().trim()),
            ("domainname", self.domainname.text().trim()),
        ];
        sink.push("node_uname_info", &uname, 1.0);

        self.os_release.refresh();
        if self.os_release.stamp.is_some() {
            let values = &self.os_release.values;
            let os_labels: [(&str, &str); 12] =
                std::array::from_fn(|i| (OS_LABELS[i].0, values[i].as_str()));
            sink.push("node_os_info", &os_labels, 1.0);
            if let Some(version) = version_number(&values[VERSION_ID]) {
                let labels = VERSION_LABELS.map(|i| os_labels[i]);
                sink.push("node_os_version", &labels, version);
            }
        }

        let host = [
            ("os", facts.os.as_str()),
            ("kernel", facts.kernel.as_str()),
            ("arch", facts.arch.as_str()),
            ("cpu_model", facts.cpu_model.as_str()),
            ("machine_id", facts.machine_id.as_str()),
        ];
        sink.push("vigil_host_info", &host, 1.0);
        Ok(())
    }
}

/// `node_os_info`'s values, kept until the os-release file they came from changes.
#[derive(Debug)]
struct OsRelease {
    /// `<rootfs>/etc/os-release`, then `<rootfs>/usr/lib/os-release`.
    candidates: [PathBuf; 2],
    /// Which candidate `values` came from and what it looked like then.
    stamp: Option<Stamp>,
    /// Values of [`OS_LABELS`]' keys, empty where missing.
    values: [String; 12],
}

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    candidate: usize,
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl OsRelease {
    fn new(paths: &Paths) -> Self {
        Self {
            candidates: [
                paths.rootfs.join("etc/os-release"),
                paths.rootfs.join("usr/lib/os-release"),
            ],
            stamp: None,
            values: Default::default(),
        }
    }

    /// Parses the first readable candidate again if it is not the file `values` came from.
    fn refresh(&mut self) {
        for (candidate, path) in self.candidates.iter().enumerate() {
            let Ok(meta) = std::fs::metadata(path) else {
                continue;
            };
            let stamp = Stamp {
                candidate,
                dev: meta.dev(),
                ino: meta.ino(),
                len: meta.len(),
                mtime: (meta.mtime(), meta.mtime_nsec()),
                ctime: (meta.ctime(), meta.ctime_nsec()),
            };
            if self.stamp == Some(stamp) {
                return;
            }
            // Stamped before reading: a change while reading is seen next round.
            let Ok(text) = std::fs::read_to_string(path) else {
                continue;
            };
            let pairs = parse_os_release(&text);
            for ((_, key), value) in OS_LABELS.iter().zip(&mut self.values) {
                value.clear();
                if let Some((_, v)) = pairs.iter().find(|(k, _)| k == key) {
                    value.push_str(v);
                }
            }
            self.stamp = Some(stamp);
            return;
        }
        self.stamp = None;
        self.values.iter_mut().for_each(String::clear);
    }
}

/// VERSION_ID's leading `digits[.digits]` as a number ("22.04" → 22.04, "11.2.0" → 11.2),
/// `None` when it does not start with a digit or is 0 (node_exporter then writes no
/// `node_os_version`).
fn version_number(version_id: &str) -> Option<f64> {
    let digits = |s: &str| s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let major = digits(version_id);
    if major == 0 {
        return None;
    }
    let mut end = major;
    if version_id[major..].starts_with('.') {
        end += 1 + digits(&version_id[major + 1..]);
    }
    let value: f64 = version_id[..end].parse().ok()?;
    (value > 0.0).then_some(value)
}

/// The machine name the kernel would print in `uname -m` for the architecture the agent
/// was built for.
pub fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86" => "i686",
        "arm" => "armv7l",
        "powerpc" => "ppc",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "sparc64" => "sparc64",
        other => other, // x86_64, aarch64, riscv64, s390x, loongarch64, mips… match already.
    }
}

/// The file's text, or empty when it cannot be read.
fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn first_readable(paths: &[&Path]) -> String {
    paths
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default()
}

/// `<proc>/sys/kernel/<name>`, trimmed.
fn kernel(paths: &Paths, name: &str) -> String {
    read(&paths.proc.join("sys/kernel").join(name))
        .trim()
        .to_owned()
}

fn is_cpu_n(line: &str) -> bool {
    line.strip_prefix("cpu")
        .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
}

/// First value of `key` in `/proc/cpuinfo` text (`key<tabs>: value`).
fn cpuinfo_field<'a>(cpuinfo: &'a str, key: &str) -> Option<&'a str> {
    cpuinfo.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key)
            .then(|| v.trim())
            .filter(|v| !v.is_empty())
    })
}

/// Pairs of `<rootfs>/etc/os-release` (or `/usr/lib/os-release`), values unquoted.
fn os_release(paths: &Paths) -> Vec<(String, String)> {
    let text = first_readable(&[
        &paths.rootfs.join("etc/os-release"),
        &paths.rootfs.join("usr/lib/os-release"),
    ]);
    parse_os_release(&text)
}

/// Parses os-release(5): `KEY=value` lines, values optionally in `"…"` or `'…'`, with `\`
/// escaping `"`, `\`, `$` and `` ` `` inside double quotes; `#` lines are comments.
fn parse_os_release(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let (key, raw) = line.trim().split_once('=')?;
            if key.starts_with('#') {
                return None;
            }
            let value = if let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"'))
            {
                let mut out = String::with_capacity(inner.len());
                let mut chars = inner.chars();
                while let Some(c) = chars.next() {
                    out.push(if c == '\\' {
                        chars.next().unwrap_or('\\')
                    } else {
                        c
                    });
                }
                out
            } else if let Some(inner) = raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
                inner.to_owned()
            } else {
                raw.to_owned()
            };
            Some((key.to_owned(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testdata_paths;

    #[test]
    fn recorded_trees_give_the_hosts_facts() {
        let facts = facts(&testdata_paths());
        assert_eq!(facts.hostname, "vm");
        assert_eq!(facts.machine_id, "0123456789abcdef0123456789abcdef");
        assert_eq!(facts.os, "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(facts.kernel, "6.18.44-fc-v595");
        assert_eq!(facts.arch, arch());
        assert_eq!(facts.cpu_model, "AMD EPYC");
        assert_eq!(facts.logical_cores, 2);
        assert_eq!(facts.memory_bytes, 24684096 * 1024);
    }

    #[test]
    fn info_series_carry_uname_os_release_and_facts() {
        let paths = testdata_paths();
        let facts = facts(&paths);
        let mut sink = Sink::new();
        Host::new(&paths)
            .collect(&facts, &mut sink)
            .expect("collects");
        let uname = [
            ("sysname", "Linux"),
            ("release", "6.18.44-fc-v595"),
            ("version", "#1 SMP PREEMPT_DYNAMIC @0"),
            ("machine", arch()),
            ("nodename", "vm"),
            ("domainname", "(none)"),
        ];
        assert_eq!(sink.value_of("node_uname_info", &uname), Some(1.0));
        let os = [
            ("build_id", ""),
            ("id", "debian"),
            ("id_like", ""),
            ("image_id", ""),
            ("image_version", ""),
            ("name", "Debian GNU/Linux"),
            ("pretty_name", "Debian GNU/Linux 12 (bookworm)"),
            ("variant", ""),
            ("variant_id", ""),
            ("version", "12 (bookworm)"),
            ("version_id", "12"),
            ("version_codename", "bookworm"),
        ];
        assert_eq!(sink.value_of("node_os_info", &os), Some(1.0));
        let version = [
            ("id", "debian"),
            ("id_like", ""),
            ("name", "Debian GNU/Linux"),
        ];
        assert_eq!(sink.value_of("node_os_version", &version), Some(12.0));
        let host = [
            ("os", "Debian GNU/Linux 12 (bookworm)"),
            ("kernel", "6.18.44-fc-v595"),
            ("arch", arch()),
            ("cpu_model", "AMD EPYC"),
            ("machine_id", "0123456789abcdef0123456789abcdef"),
        ];
        assert_eq!(sink.value_of("vigil_host_info", &host), Some(1.0));
        assert_eq!(sink.len(), 4);
    }

    #[test]
    fn os_version_is_version_ids_major_minor() {
        assert_eq!(version_number("12"), Some(12.0));
        assert_eq!(version_number("22.04"), Some(22.04));
        assert_eq!(version_number("11.2.0"), Some(11.2));
        assert_eq!(version_number("3."), Some(3.0));
        assert_eq!(version_number("8.x"), Some(8.0));
        assert_eq!(version_number("0"), None);
        assert_eq!(version_number("rolling"), None);
        assert_eq!(version_number(""), None);
    }

    #[test]
    fn no_os_release_means_no_os_series() {
        let paths = Paths {
            rootfs: "/nonexistent".into(),
            ..testdata_paths()
        };
        let mut sink = Sink::new();
        Host::new(&paths)
            .collect(&facts(&paths), &mut sink)
            .expect("collects");
        let names: Vec<&str> = sink.round().map(|(k, _)| k.name.as_str()).collect();
        assert_eq!(names, ["node_uname_info", "vigil_host_info"]);
    }

    #[test]
    fn arm_cpuinfo_and_os_release_quoting() {
        let arm =
            "processor\t: 0\nBogoMIPS\t: 38.40\n\nHardware\t: BCM2835\nModel\t\t: Raspberry Pi 4\n";
        assert_eq!(cpuinfo_field(arm, "model name"), None);
        assert_eq!(cpuinfo_field(arm, "Hardware"), Some("BCM2835"));
        let old_arm = "Processor\t: ARMv7 Processor rev 10 (v7l)\nprocessor\t: 0\n";
        assert_eq!(
            cpuinfo_field(old_arm, "Processor"),
            Some("ARMv7 Processor rev 10 (v7l)")
        );
        let text =
            "# comment\nNAME='Alpine Linux'\nID=alpine\nPRETTY_NAME=\"Say \\\"hi\\\" \\$5\"\n";
        let want = [
            ("NAME", "Alpine Linux"),
            ("ID", "alpine"),
            ("PRETTY_NAME", "Say \"hi\" $5"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(parse_os_release(text), want);
    }

    #[test]
    fn missing_trees_give_empty_facts_not_errors() {
        let nowhere = Paths {
            proc: "/nonexistent/proc".into(),
            sys: "/nonexistent/sys".into(),
            rootfs: "/nonexistent".into(),
        };
        let facts = facts(&nowhere);
        assert_eq!(facts.hostname, "");
        assert_eq!(facts.logical_cores, 0);
        assert_eq!(facts.memory_bytes, 0);
        assert_eq!(facts.arch, arch());
    }
}
