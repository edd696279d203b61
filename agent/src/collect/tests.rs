use super::*;
use std::collections::HashSet;
use std::path::Path;

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

/// A copy of the recorded trees that a test may change, removed when dropped.
struct Tree(PathBuf);

impl Tree {
    fn copy_of_testdata(name: &str) -> Self {
        let root = std::env::temp_dir().join(format!("vigil-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let from = testdata_paths().proc.parent().expect("testdata").to_owned();
        copy_dir(&from, &root);
        Self(root)
    }

    fn paths(&self) -> Paths {
        Paths {
            proc: self.0.join("proc"),
            sys: self.0.join("sys"),
            rootfs: self.0.join("rootfs"),
        }
    }

    /// Rewrites a file in place, replacing `from` by `to` (which must occur).
    fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.0.join(file);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains(from), "{file} has no {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        let kind = entry.file_type().expect("type");
        if kind.is_symlink() {
            // sysfs's links (class/hwmon/hwmon1 -> ../../devices/...) stay links.
            let link = std::fs::read_link(entry.path()).expect("read_link");
            std::os::unix::fs::symlink(link, &target).expect("symlink");
        } else if kind.is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn what_can_change_is_read_again_every_round() {
    let tree = Tree::copy_of_testdata("collect-changes");
    let mut collectors = Collectors::new(Options {
        paths: tree.paths(),
        ..Options::default()
    });
    let mut sink = Sink::new();
    let round = collectors.collect(&mut sink);
    assert!(round.errors.is_empty(), "{:?}", round.errors);
    let first_round = sink.take_round().0.len();

    tree.edit("proc/stat", "cpu0 18209", "cpu0 18309");
    tree.edit("proc/stat", "ctxt 313777", "ctxt 313999");
    tree.edit(
        "proc/meminfo",
        "MemAvailable:   23949576",
        "MemAvailable:   23949000",
    );
    tree.edit("proc/loadavg", "2.12", "3.50");
    tree.edit("proc/diskstats", "vda 31532", "vda 31600");
    tree.edit("proc/net/dev", "eth0: 128260813", "eth0: 128260999");
    tree.edit("sys/class/net/eth0/operstate", "up", "down");
    tree.edit("proc/sys/kernel/hostname", "vm", "renamed");
    tree.edit("proc/sys/kernel/domainname", "(none)", "example.org");
    tree.edit(
        "rootfs/etc/os-release",
        "VERSION_ID=\"12\"",
        "VERSION_ID=\"12.9\"",
    );
    tree.edit(
        "proc/1/mounts",
        "/dev/vdb /mnt/data ext4 rw",
        "/dev/vdb /mnt/data ext4 ro",
    );
    // Fixed while the kernel runs, so read once: a change here is not picked up.
    tree.edit("proc/sys/kernel/osrelease", "6.18.44", "9.9.9");

    let round = collectors.collect(&mut sink);
    assert!(round.errors.is_empty(), "{:?}", round.errors);
    let cpu0_user = [("cpu", "0"), ("mode", "user")];
    assert_eq!(
        sink.value_of("node_cpu_seconds_total", &cpu0_user),
        Some(183.09)
    );
    assert_eq!(
        sink.value_of("node_context_switches_total", &[]),
        Some(313999.0)
    );
    assert_eq!(
        sink.value_of("node_memory_MemAvailable_bytes", &[]),
        Some(23949000.0 * 1024.0)
    );
    assert_eq!(sink.value_of("node_load1", &[]), Some(3.5));
    assert_eq!(
        sink.value_of("node_disk_reads_completed_total", &[("device", "vda")]),
        Some(31600.0)
    );
    let eth0 = [("device", "eth0")];
    assert_eq!(
        sink.value_of("node_network_receive_bytes_total", &eth0),
        Some(128260999.0)
    );
    assert_eq!(sink.value_of("node_network_up", &eth0), Some(0.0));
    let uname = |k: &str| -> String {
        let key = sink
            .round()
            .find(|(k, _)| k.name == "node_uname_info")
            .expect("uname")
            .0;
        let (_, v) = key.labels.iter().find(|(l, _)| l == k).expect("label");
        v.clone()
    };
    assert_eq!(uname("nodename"), "renamed");
    assert_eq!(uname("domainname"), "example.org");
    assert_eq!(uname("release"), "6.18.44-fc-v595");
    assert_eq!(collectors.facts().hostname, "renamed");
    let os = sink
        .round()
        .find(|(k, _)| k.name == "node_os_info")
        .expect("os info")
        .0;
    assert!(
        os.labels.contains(&("version_id".into(), "12.9".into())),
        "{os:?}"
    );
    let data = [
        ("device", "/dev/vdb"),
        ("fstype", "ext4"),
        ("mountpoint", "/mnt/data"),
    ];
    assert_eq!(sink.value_of("node_filesystem_readonly", &data), Some(1.0));
    assert_eq!(sink.len(), first_round);

    // A device gone and one added: the sysfs files follow the list.
    tree.edit("proc/net/dev", "  ifb0:", "  eth9:");
    std::fs::remove_dir_all(tree.0.join("sys/class/net/ifb0")).expect("rm ifb0");
    let eth9 = tree.0.join("sys/class/net/eth9");
    std::fs::create_dir_all(&eth9).expect("mkdir");
    std::fs::write(eth9.join("operstate"), "up\n").expect("write");
    tree.edit("sys/class/net/eth0/operstate", "down", "up");
    let mut sink = Sink::new();
    collectors.collect(&mut sink);
    assert_eq!(
        sink.value_of("node_network_up", &[("device", "eth9")]),
        Some(1.0)
    );
    assert_eq!(
        sink.value_of("node_network_up", &[("device", "ifb0")]),
        None
    );
    assert_eq!(sink.value_of("node_network_up", &eth0), Some(1.0));
}

#[test]
fn sources_switched_off_write_nothing_and_interrupts_is_off_by_default() {
    let mut names: Vec<&str> = SOURCES.to_vec();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), SOURCES.len(), "a name twice");
    assert!(OFF_BY_DEFAULT.iter().all(|n| SOURCES.contains(n)));

    let defaults = Options::default();
    assert!(
        SOURCES
            .iter()
            .all(|n| defaults.is_on(n) != (*n == "interrupts"))
    );
    let enabled = Options {
        enable: vec!["interrupts".into()],
        ..Options::default()
    };
    assert!(enabled.is_on("interrupts"));
    let both = Options {
        disable: vec!["interrupts".into()],
        ..enabled
    };
    assert!(!both.is_on("interrupts"), "disable wins");

    let mut all = Collectors::new(Options {
        paths: testdata_paths(),
        ..Options::default()
    });
    let mut sink = Sink::new();
    all.collect(&mut sink);
    let prefixes = [
        "node_load",
        "node_netstat_",
        "node_vmstat_",
        "node_filesystem_",
    ];
    for prefix in prefixes {
        assert!(
            sink.round().any(|(k, _)| k.name.starts_with(prefix)),
            "{prefix}"
        );
    }

    let mut some = Collectors::new(Options {
        paths: testdata_paths(),
        disable: ["load", "netstat", "vmstat", "filesystem"]
            .map(String::from)
            .into(),
        ..Options::default()
    });
    let mut sink = Sink::new();
    let round = some.collect(&mut sink);
    assert!(round.errors.is_empty(), "{:?}", round.errors);
    for prefix in prefixes {
        assert!(
            !sink.round().any(|(k, _)| k.name.starts_with(prefix)),
            "{prefix}"
        );
    }
    assert!(sink.value_of("node_entropy_available_bits", &[]).is_some());
}
