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

use std::path::Path;

use super::{CollectError, HostFacts, Paths, Sink, memory};

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

/// Writes `node_uname_info`, `node_os_info` and `vigil_host_info`, each with value 1.
pub fn collect(paths: &Paths, facts: &HostFacts, sink: &mut Sink) -> Result<(), CollectError> {
    let (sysname, release) = (kernel(paths, "ostype"), kernel(paths, "osrelease"));
    let (version, nodename) = (kernel(paths, "version"), kernel(paths, "hostname"));
    let domainname = kernel(paths, "domainname");
    let uname = [
        ("sysname", sysname.as_str()),
        ("release", release.as_str()),
        ("version", version.as_str()),
        ("machine", facts.arch.as_str()),
        ("nodename", nodename.as_str()),
        ("domainname", domainname.as_str()),
    ];
    sink.push("node_uname_info", &uname, 1.0);

    let os = os_release(paths);
    let get = |key: &str| {
        os.iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    };
    let os_labels = [
        ("id", get("ID")),
        ("id_like", get("ID_LIKE")),
        ("name", get("NAME")),
        ("pretty_name", get("PRETTY_NAME")),
        ("version", get("VERSION")),
        ("version_id", get("VERSION_ID")),
        ("version_codename", get("VERSION_CODENAME")),
    ];
    sink.push("node_os_info", &os_labels, 1.0);

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
        collect(&paths, &facts, &mut sink).expect("collects");
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
            ("id", "debian"),
            ("id_like", ""),
            ("name", "Debian GNU/Linux"),
            ("pretty_name", "Debian GNU/Linux 12 (bookworm)"),
            ("version", "12 (bookworm)"),
            ("version_id", "12"),
            ("version_codename", "bookworm"),
        ];
        assert_eq!(sink.value_of("node_os_info", &os), Some(1.0));
        let host = [
            ("os", "Debian GNU/Linux 12 (bookworm)"),
            ("kernel", "6.18.44-fc-v595"),
            ("arch", arch()),
            ("cpu_model", "AMD EPYC"),
            ("machine_id", "0123456789abcdef0123456789abcdef"),
        ];
        assert_eq!(sink.value_of("vigil_host_info", &host), Some(1.0));
        assert_eq!(sink.len(), 3);
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
