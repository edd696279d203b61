//! The same metric names from sysinfo, for hosts without `/proc` (macOS, Windows).
//!
//! sysinfo covers less than the kernel files do, so this source writes only what it can:
//!
//! - memory: `node_memory_{MemTotal,MemAvailable,MemFree,SwapTotal,SwapFree}_bytes`;
//! - filesystems: `node_filesystem_{size,avail}_bytes`, `_readonly` and `_device_error` 0
//!   (sysinfo has no free-including-reserved bytes and no inode counts);
//! - network: `node_network_{receive,transmit}_{bytes,packets,errs}_total`;
//! - `node_load1/5/15` where the platform has load averages (not Windows);
//! - `node_boot_time_seconds`.
//!
//! CPU seconds are left out: sysinfo reports usage percentages, not cumulative time, and a
//! counter rebuilt from percentages would not be "as the kernel reports".
//!
//! On Linux this module is compiled only with the `portable` feature, so it can be tested
//! against `/proc`.

use sysinfo::{CpuRefreshKind, Disks, MemoryRefreshKind, Networks, Product, System};

use super::{HostFacts, Sink};

/// The sysinfo handles, kept across rounds so disks and interfaces are not re-listed from
/// scratch each time. A handle sysinfo could not create is `None` and its metrics are skipped.
pub struct Portable {
    system: Option<System>,
    disks: Option<Disks>,
    networks: Option<Networks>,
}

impl Default for Portable {
    fn default() -> Self {
        Self::new()
    }
}

impl Portable {
    /// Opens the sysinfo handles; one that fails is logged and skipped.
    pub fn new() -> Self {
        fn open<T>(what: &str, handle: Result<T, sysinfo::Error>) -> Option<T> {
            handle
                .map_err(|error| tracing::warn!(source = what, %error, "sysinfo unavailable"))
                .ok()
        }
        let mut system = open("system", System::new());
        if let Some(system) = &mut system {
            system.refresh_cpu_list(CpuRefreshKind::nothing());
            system.refresh_memory_specifics(MemoryRefreshKind::everything());
        }
        Self {
            system,
            disks: open("disks", Disks::new_with_refreshed_list()),
            networks: open("networks", Networks::new_with_refreshed_list()),
        }
    }

    /// What sysinfo knows about the host; unknown facts are left empty.
    pub fn facts(&self) -> HostFacts {
        let cpus = self.system.as_ref().map_or(&[][..], System::cpus);
        HostFacts {
            hostname: System::host_name().unwrap_or_default(),
            machine_id: Product::uuid().unwrap_or_default(),
            os: System::long_os_version().unwrap_or_default(),
            kernel: System::kernel_version().unwrap_or_default(),
            arch: System::cpu_arch(),
            cpu_model: cpus
                .first()
                .map(|c| c.brand().trim().to_owned())
                .unwrap_or_default(),
            logical_cores: u32::try_from(cpus.len()).unwrap_or(u32::MAX),
            memory_bytes: self.system.as_ref().map_or(0, System::total_memory),
        }
    }

    /// Refreshes the handles and writes every series sysinfo can fill.
    pub fn collect(&mut self, sink: &mut Sink) {
        if let Some(system) = &mut self.system {
            system.refresh_memory_specifics(MemoryRefreshKind::everything());
            let memory = [
                ("node_memory_MemTotal_bytes", system.total_memory()),
                ("node_memory_MemAvailable_bytes", system.available_memory()),
                ("node_memory_MemFree_bytes", system.free_memory()),
                ("node_memory_SwapTotal_bytes", system.total_swap()),
                ("node_memory_SwapFree_bytes", system.free_swap()),
            ];
            for (name, bytes) in memory {
                sink.push(name, &[], bytes as f64);
            }
        }
        if let Some(disks) = &mut self.disks {
            disks.refresh(true);
            for disk in disks.iter() {
                let (device, fstype) = (
                    disk.name().to_string_lossy(),
                    disk.file_system().to_string_lossy(),
                );
                let mountpoint = disk.mount_point().to_string_lossy();
                let labels = [
                    ("device", &*device),
                    ("fstype", &*fstype),
                    ("mountpoint", &*mountpoint),
                ];
                sink.push(
                    "node_filesystem_size_bytes",
                    &labels,
                    disk.total_space() as f64,
                );
                sink.push(
                    "node_filesystem_avail_bytes",
                    &labels,
                    disk.available_space() as f64,
                );
                sink.push(
                    "node_filesystem_readonly",
                    &labels,
                    f64::from(u8::from(disk.is_read_only())),
                );
                sink.push("node_filesystem_device_error", &labels, 0.0);
            }
        }
        if let Some(networks) = &mut self.networks {
            networks.refresh(true);
            for (device, data) in networks.iter() {
                let device = device.to_string_lossy();
                let labels = [("device", &*device)];
                let counters = [
                    ("node_network_receive_bytes_total", data.total_received()),
                    (
                        "node_network_receive_packets_total",
                        data.total_packets_received(),
                    ),
                    (
                        "node_network_receive_errs_total",
                        data.total_errors_on_received(),
                    ),
                    (
                        "node_network_transmit_bytes_total",
                        data.total_transmitted(),
                    ),
                    (
                        "node_network_transmit_packets_total",
                        data.total_packets_transmitted(),
                    ),
                    (
                        "node_network_transmit_errs_total",
                        data.total_errors_on_transmitted(),
                    ),
                ];
                for (name, value) in counters {
                    sink.push(name, &labels, value as f64);
                }
            }
        }
        if let Ok(load) = System::load_average() {
            sink.push("node_load1", &[], load.one);
            sink.push("node_load5", &[], load.five);
            sink.push("node_load15", &[], load.fifteen);
        }
        if let Ok(boot) = System::boot_time() {
            sink.push("node_boot_time_seconds", &[], boot as f64);
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::collect::{Paths, memory};

    #[test]
    fn mem_total_matches_proc_meminfo() {
        let meminfo =
            crate::collect::read_file(Paths::default().proc.join("meminfo")).expect("meminfo");
        let want = memory::total_bytes(&meminfo).expect("MemTotal");
        let mut portable = Portable::new();
        let mut sink = Sink::new();
        portable.collect(&mut sink);
        assert_eq!(
            sink.value_of("node_memory_MemTotal_bytes", &[]),
            Some(want as f64)
        );
        assert_eq!(portable.facts().memory_bytes, want);
        assert!(sink.value_of("node_load1", &[]).is_some());
        assert!(
            sink.value_of("node_network_receive_bytes_total", &[("device", "lo")])
                .is_some()
        );
    }
}
