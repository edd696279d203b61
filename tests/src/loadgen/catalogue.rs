//! What one simulated host reports: about 300 node_exporter-like series, each with a kind
//! (counter, gauge, constant), a unit and typical magnitudes.
//!
//! Values are kept as integer "ticks" of a unit, the way the kernel counts them, and turned
//! into floats the way node_exporter does (`ticks / 100` for CPU seconds, `ticks × 1024`
//! for memory in kB, …). Real host metrics look like that, and how well a store compresses
//! them depends on it: `12345.67` seconds and multiples of 4096 bytes are what a disk holds
//! in practice, not random 53-bit mantissas.
//!
//! The catalogue is a fixed list of templates (CPU, load, memory, filesystems, disks,
//! network, kernel counters, the agent's own series), then filler families (temperatures,
//! CPU frequencies, systemd unit states, interrupts) up to the requested count. The last 1 %
//! of the slots (at least one) are churning series: a `task` label that changes every few
//! hours, so old series end and new ones start as on a host that runs batch jobs.

/// How a tick count becomes a sample value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unit {
    /// The tick count itself (packets, bytes, states).
    Count,
    /// Hundredths (CPU seconds from USER_HZ ticks, load averages).
    Hundredths,
    /// Thousandths (seconds from milliseconds, degrees from millidegrees).
    Thousandths,
    /// Kibibytes, as /proc/meminfo counts them, reported in bytes.
    KiB,
    /// 512-byte sectors, reported in bytes.
    Sectors,
    /// 4 KiB blocks (filesystem sizes), reported in bytes.
    Blocks,
}

impl Unit {
    /// The value node_exporter would report for `ticks`.
    pub fn value(self, ticks: f64) -> f64 {
        match self {
            Unit::Count => ticks,
            Unit::Hundredths => ticks / 100.0,
            Unit::Thousandths => ticks / 1000.0,
            Unit::KiB => ticks * 1024.0,
            Unit::Sectors => ticks * 512.0,
            Unit::Blocks => ticks * 4096.0,
        }
    }
}

/// How a series moves over time; magnitudes are in ticks and are varied per host.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Monotonic; grows by about `per_second × interval` ticks a step (bursty), and resets
    /// to zero when the host reboots or the series is a new churned one.
    Counter {
        /// Mean growth, ticks per second.
        per_second: f64,
    },
    /// Wanders around `center`: with probability `change` per step it moves by up to
    /// `noise` ticks and is pulled back towards the center.
    Gauge {
        /// Typical level, ticks.
        center: f64,
        /// Largest move in one step, ticks.
        noise: f64,
        /// Probability that the value changes at a step.
        change: f64,
    },
    /// Never changes (sizes, limits, info series), except the boot time on a reboot.
    Constant {
        /// The value, ticks.
        ticks: f64,
    },
}

/// One series slot of a host.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// Metric name.
    pub name: &'static str,
    /// Labels other than `host`.
    pub labels: Vec<(&'static str, String)>,
    /// How it moves.
    pub kind: Kind,
    /// How ticks become values.
    pub unit: Unit,
    /// Whether the slot's `task` label changes every few hours (series churn).
    pub churns: bool,
    /// Whether this is `node_boot_time_seconds`, which moves on a reboot.
    pub boot_time: bool,
}

fn t(name: &'static str, labels: &[(&'static str, &str)], kind: Kind, unit: Unit) -> Template {
    Template {
        name,
        labels: labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        kind,
        unit,
        churns: false,
        boot_time: false,
    }
}

fn counter(per_second: f64) -> Kind {
    Kind::Counter { per_second }
}

fn gauge(center: f64, noise: f64, change: f64) -> Kind {
    Kind::Gauge {
        center,
        noise,
        change,
    }
}

fn constant(ticks: f64) -> Kind {
    Kind::Constant { ticks }
}

/// The `count` series slots every host has (hosts differ in magnitudes, not in names).
pub fn templates(count: usize) -> Vec<Template> {
    let churning = if count == 0 { 0 } else { (count / 100).max(1) };
    let mut all = base();
    let mut filler = 0;
    while all.len() < count - churning {
        all.push(fill(filler));
        filler += 1;
    }
    all.truncate(count - churning);
    for slot in 0..churning {
        let mut task = t(
            "app_task_cpu_seconds_total",
            &[("slot", &slot.to_string())],
            counter(40.0),
            Unit::Hundredths,
        );
        task.churns = true;
        all.push(task);
    }
    all
}

/// The node_exporter families every host has: about 180 series.
fn base() -> Vec<Template> {
    use Unit::*;
    let mut v = Vec::new();
    let modes = [
        ("idle", 70.0),
        ("iowait", 1.0),
        ("irq", 0.05),
        ("nice", 0.02),
        ("softirq", 0.5),
        ("steal", 0.0),
        ("system", 6.0),
        ("user", 20.0),
    ];
    for cpu in 0..4 {
        for (mode, rate) in modes {
            v.push(t(
                "node_cpu_seconds_total",
                &[("cpu", &cpu.to_string()), ("mode", mode)],
                counter(rate),
                Hundredths,
            ));
        }
    }
    for (name, noise) in [
        ("node_load1", 8.0),
        ("node_load5", 3.0),
        ("node_load15", 1.0),
    ] {
        v.push(t(name, &[], gauge(80.0, noise, 1.0), Hundredths));
    }
    let memory: [(&str, Kind); 22] = [
        ("node_memory_MemTotal_bytes", constant(8_000_000.0)),
        (
            "node_memory_MemFree_bytes",
            gauge(1_500_000.0, 4_000.0, 1.0),
        ),
        (
            "node_memory_MemAvailable_bytes",
            gauge(5_000_000.0, 4_000.0, 1.0),
        ),
        ("node_memory_Buffers_bytes", gauge(200_000.0, 100.0, 0.5)),
        ("node_memory_Cached_bytes", gauge(3_000_000.0, 2_000.0, 1.0)),
        ("node_memory_SwapTotal_bytes", constant(2_000_000.0)),
        (
            "node_memory_SwapFree_bytes",
            gauge(1_900_000.0, 200.0, 0.002),
        ),
        ("node_memory_Active_bytes", gauge(2_500_000.0, 2_000.0, 1.0)),
        (
            "node_memory_Inactive_bytes",
            gauge(2_000_000.0, 1_500.0, 1.0),
        ),
        (
            "node_memory_Active_anon_bytes",
            gauge(1_200_000.0, 1_000.0, 1.0),
        ),
        (
            "node_memory_Inactive_file_bytes",
            gauge(1_500_000.0, 800.0, 0.8),
        ),
        ("node_memory_Dirty_bytes", gauge(2_000.0, 500.0, 0.9)),
        ("node_memory_Writeback_bytes", gauge(0.0, 100.0, 0.02)),
        ("node_memory_Slab_bytes", gauge(300_000.0, 200.0, 0.7)),
        (
            "node_memory_SReclaimable_bytes",
            gauge(200_000.0, 150.0, 0.7),
        ),
        ("node_memory_Shmem_bytes", gauge(50_000.0, 50.0, 0.3)),
        ("node_memory_Mapped_bytes", gauge(250_000.0, 300.0, 0.6)),
        ("node_memory_PageTables_bytes", gauge(20_000.0, 40.0, 0.5)),
        (
            "node_memory_Committed_AS_bytes",
            gauge(4_000_000.0, 3_000.0, 1.0),
        ),
        (
            "node_memory_AnonPages_bytes",
            gauge(1_100_000.0, 1_000.0, 1.0),
        ),
        ("node_memory_KernelStack_bytes", gauge(12_000.0, 16.0, 0.3)),
        ("node_memory_Hugepagesize_bytes", constant(2_048.0)),
    ];
    for (name, kind) in memory {
        v.push(t(name, &[], kind, KiB));
    }
    let mounts = [
        ("/", "/dev/sda1", "ext4", 25_000_000.0),
        ("/boot", "/dev/sda2", "ext4", 250_000.0),
        ("/var", "/dev/sdb1", "xfs", 100_000_000.0),
        ("/run", "tmpfs", "tmpfs", 400_000.0),
    ];
    for (mountpoint, device, fstype, blocks) in mounts {
        let labels = [
            ("device", device),
            ("fstype", fstype),
            ("mountpoint", mountpoint),
        ];
        let fs: [(&'static str, Kind, Unit); 7] = [
            ("node_filesystem_size_bytes", constant(blocks), Blocks),
            (
                "node_filesystem_avail_bytes",
                gauge(blocks * 0.4, 64.0, 0.3),
                Blocks,
            ),
            (
                "node_filesystem_free_bytes",
                gauge(blocks * 0.45, 64.0, 0.3),
                Blocks,
            ),
            ("node_filesystem_files", constant(blocks / 4.0), Count),
            (
                "node_filesystem_files_free",
                gauge(blocks / 5.0, 20.0, 0.2),
                Count,
            ),
            ("node_filesystem_readonly", constant(0.0), Count),
            ("node_filesystem_device_error", constant(0.0), Count),
        ];
        for (name, kind, unit) in fs {
            v.push(t(name, &labels, kind, unit));
        }
    }
    for (device, scale) in [("sda", 1.0), ("sdb", 3.0), ("nvme0n1", 0.2)] {
        let disk: [(&'static str, Kind, Unit); 9] = [
            (
                "node_disk_reads_completed_total",
                counter(5.0 * scale),
                Count,
            ),
            (
                "node_disk_writes_completed_total",
                counter(20.0 * scale),
                Count,
            ),
            (
                "node_disk_read_bytes_total",
                counter(200.0 * scale),
                Sectors,
            ),
            (
                "node_disk_written_bytes_total",
                counter(900.0 * scale),
                Sectors,
            ),
            (
                "node_disk_io_time_seconds_total",
                counter(15.0 * scale),
                Thousandths,
            ),
            (
                "node_disk_read_time_seconds_total",
                counter(4.0 * scale),
                Thousandths,
            ),
            (
                "node_disk_write_time_seconds_total",
                counter(30.0 * scale),
                Thousandths,
            ),
            ("node_disk_io_now", gauge(0.0, 2.0, 0.3), Count),
            ("node_disk_discards_completed_total", counter(0.001), Count),
        ];
        for (name, kind, unit) in disk {
            v.push(t(name, &[("device", device)], kind, unit));
        }
    }
    for (device, bytes) in [("eth0", 250_000.0), ("eth1", 20_000.0), ("lo", 5_000.0)] {
        let net: [(&'static str, Kind); 11] = [
            ("node_network_receive_bytes_total", counter(bytes)),
            ("node_network_transmit_bytes_total", counter(bytes * 0.6)),
            ("node_network_receive_packets_total", counter(bytes / 800.0)),
            (
                "node_network_transmit_packets_total",
                counter(bytes / 1000.0),
            ),
            ("node_network_receive_errs_total", counter(0.0005)),
            ("node_network_transmit_errs_total", counter(0.0)),
            ("node_network_receive_drop_total", counter(0.002)),
            ("node_network_transmit_drop_total", counter(0.0)),
            ("node_network_up", constant(1.0)),
            ("node_network_mtu_bytes", constant(1500.0)),
            ("node_network_speed_bytes", constant(125_000_000.0)),
        ];
        for (name, kind) in net {
            v.push(t(name, &[("device", device)], kind, Count));
        }
    }
    let kernel: [(&'static str, Kind); 24] = [
        ("node_context_switches_total", counter(3_000.0)),
        ("node_intr_total", counter(2_000.0)),
        ("node_forks_total", counter(5.0)),
        ("node_procs_running", gauge(2.0, 2.0, 0.8)),
        ("node_procs_blocked", gauge(0.0, 1.0, 0.1)),
        ("node_entropy_available_bits", gauge(3_500.0, 30.0, 0.5)),
        ("node_filefd_allocated", gauge(2_500.0, 10.0, 0.6)),
        ("node_filefd_maximum", constant(9_223_372_036_854_775_807.0)),
        ("node_sockstat_TCP_inuse", gauge(40.0, 3.0, 0.6)),
        ("node_sockstat_TCP_tw", gauge(20.0, 5.0, 0.7)),
        ("node_sockstat_sockets_used", gauge(300.0, 5.0, 0.6)),
        ("node_netstat_Tcp_ActiveOpens", counter(2.0)),
        ("node_netstat_Tcp_PassiveOpens", counter(3.0)),
        ("node_netstat_Tcp_RetransSegs", counter(0.2)),
        ("node_netstat_Tcp_InSegs", counter(300.0)),
        ("node_netstat_Tcp_OutSegs", counter(280.0)),
        ("node_netstat_Udp_InDatagrams", counter(20.0)),
        ("node_netstat_Udp_OutDatagrams", counter(20.0)),
        ("node_vmstat_pgfault", counter(4_000.0)),
        ("node_vmstat_pgmajfault", counter(0.5)),
        ("node_vmstat_pgpgin", counter(100.0)),
        ("node_vmstat_pgpgout", counter(450.0)),
        ("node_vmstat_pswpin", counter(0.0)),
        ("node_vmstat_oom_kill", counter(0.0)),
    ];
    for (name, kind) in kernel {
        v.push(t(name, &[], kind, Count));
    }
    let mut boot = t("node_boot_time_seconds", &[], constant(0.0), Count);
    boot.boot_time = true;
    v.push(boot);
    v.push(t(
        "node_uname_info",
        &[
            ("machine", "x86_64"),
            ("release", "6.1.0-18-amd64"),
            ("sysname", "Linux"),
        ],
        constant(1.0),
        Count,
    ));
    v.push(t(
        "node_time_zone_offset_seconds",
        &[("time_zone", "UTC")],
        constant(0.0),
        Count,
    ));
    v.push(t(
        "vigil_agent_collect_seconds",
        &[],
        gauge(700.0, 100.0, 1.0),
        Unit::Thousandths,
    ));
    v.push(t(
        "vigil_agent_resident_memory_bytes",
        &[],
        gauge(1_100.0, 4.0, 0.3),
        KiB,
    ));
    v.push(t(
        "vigil_agent_sent_batches_total",
        &[],
        counter(0.1),
        Count,
    ));
    v.push(t("vigil_agent_spooled_rounds", &[], constant(0.0), Count));
    v
}

/// The `n`-th filler series: temperatures, CPU frequencies, systemd unit states and
/// interrupt counters, in turn.
fn fill(n: usize) -> Template {
    let i = n / 4;
    match n % 4 {
        0 => t(
            "node_hwmon_temp_celsius",
            &[
                ("chip", "platform_coretemp_0"),
                ("sensor", &format!("temp{i}")),
            ],
            gauge(45_000.0, 1_000.0, 0.5),
            Unit::Thousandths,
        ),
        1 => t(
            "node_cpu_scaling_frequency_hertz",
            &[("cpu", &i.to_string())],
            gauge(2_400_000.0, 300_000.0, 0.6),
            Unit::Count,
        ),
        2 => t(
            "node_systemd_unit_state",
            &[("name", &format!("unit{i}.service")), ("state", "active")],
            constant(1.0),
            Unit::Count,
        ),
        _ => t(
            "node_interrupts_total",
            &[("cpu", &(i % 4).to_string()), ("type", &format!("IRQ{i}"))],
            counter(if i.is_multiple_of(3) { 50.0 } else { 0.3 }),
            Unit::Count,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_has_the_requested_count_and_no_duplicate_series() {
        for count in [1, 10, 100, 177, 300, 1000] {
            let all = templates(count);
            assert_eq!(all.len(), count);
            let mut keys: Vec<_> = all.iter().map(|t| (t.name, t.labels.clone())).collect();
            keys.sort();
            keys.dedup();
            assert_eq!(keys.len(), count, "duplicate series among {count}");
            let churning = all.iter().filter(|t| t.churns).count();
            assert_eq!(churning, (count / 100).max(1));
        }
    }

    #[test]
    fn units_turn_ticks_into_node_exporter_values() {
        assert_eq!(Unit::Hundredths.value(1_234_567.0), 12_345.67);
        assert_eq!(Unit::KiB.value(3.0), 3072.0);
        assert_eq!(Unit::Thousandths.value(45_500.0), 45.5);
    }
}
