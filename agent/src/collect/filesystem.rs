//! Filesystem sizes: the mount table from `/proc/1/mounts`, then `statvfs` per mount,
//! written as the `node_filesystem_*` series.
//!
//! - `mounts`: which mounts are reported (the mount table, parsed and filtered).
//! - `stat`: how each is sized (`statvfs`, on its own thread, under a deadline).
//!
//! Mounts are read from PID 1's view (the host's, when the agent runs in a container with
//! the host's PID namespace), falling back to `/proc/self/mounts`. A mount whose `statvfs`
//! failed, timed out, or is still stuck from an earlier round is reported with
//! `device_error` 1 and its read-only flag from the mount options.

mod mounts;
mod stat;

pub use mounts::{Mount, parse_mounts};
pub use stat::{FsStats, Statfs, statvfs};

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{CollectError, Options, Paths, Sink, read_file};

/// The filesystem source, which keeps track of stuck mounts across rounds.
pub struct Filesystems {
    paths: Paths,
    timeout: Duration,
    statfs: Statfs,
    /// Mount points whose `statvfs` thread is still running. A thread removes its own entry
    /// before it reports, so an entry seen at the start of a round means "still hung".
    in_flight: Arc<Mutex<HashSet<String>>>,
    timeouts: u64,
}

impl Filesystems {
    /// A source that calls the real [`statvfs`].
    pub fn new(options: &Options) -> Self {
        Self::with_statfs(options, statvfs)
    }

    /// A source that calls `statfs` instead of `statvfs`, so tests can simulate hung mounts.
    pub fn with_statfs(options: &Options, statfs: Statfs) -> Self {
        Self {
            paths: options.paths.clone(),
            timeout: options.statfs_timeout,
            statfs,
            in_flight: Arc::default(),
            timeouts: 0,
        }
    }

    /// `statvfs` calls that have timed out since this source was made.
    pub fn timeouts_total(&self) -> u64 {
        self.timeouts
    }

    /// Reads the mount table and writes the `node_filesystem_*` series of every mount.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        let text = read_file(self.paths.proc.join("1/mounts"))
            .or_else(|_| read_file(self.paths.proc.join("self/mounts")))?;
        let mounts = parse_mounts(&text, &self.paths.rootfs);
        let results = self.stat_all(&mounts);
        for (mount, result) in mounts.iter().zip(results) {
            let labels = [
                ("device", mount.device.as_str()),
                ("fstype", mount.fstype.as_str()),
                ("mountpoint", mount.mountpoint.as_str()),
            ];
            let Some(stats) = result else {
                sink.push("node_filesystem_device_error", &labels, 1.0);
                sink.push(
                    "node_filesystem_readonly",
                    &labels,
                    f64::from(u8::from(mount.readonly)),
                );
                continue;
            };
            sink.push(
                "node_filesystem_size_bytes",
                &labels,
                stats.size_bytes as f64,
            );
            sink.push(
                "node_filesystem_free_bytes",
                &labels,
                stats.free_bytes as f64,
            );
            sink.push(
                "node_filesystem_avail_bytes",
                &labels,
                stats.avail_bytes as f64,
            );
            sink.push("node_filesystem_files", &labels, stats.files as f64);
            sink.push(
                "node_filesystem_files_free",
                &labels,
                stats.files_free as f64,
            );
            // From the host's mount options, as node_exporter does: statvfs answers for
            // the agent's own view, which a sandbox (ProtectSystem=strict, a read-only
            // container root) makes read-only everywhere.
            sink.push(
                "node_filesystem_readonly",
                &labels,
                f64::from(u8::from(mount.readonly)),
            );
            sink.push("node_filesystem_device_error", &labels, 0.0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::mounts::under_root;
    use super::*;
    use crate::collect::testdata_paths;
    use std::io;
    use std::path::Path;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    /// Sizes each mount by the length of its path; `/mnt/data` fails.
    fn fake_statfs(path: &Path) -> io::Result<FsStats> {
        if path.ends_with("mnt/data") {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        let n = path.as_os_str().len() as u64;
        // As under a read-only sandbox: every mount looks read-only to statvfs.
        let readonly = true;
        let (size_bytes, free_bytes, avail_bytes) = (n * 4096, n * 2048, n * 1024);
        Ok(FsStats {
            size_bytes,
            free_bytes,
            avail_bytes,
            files: n * 10,
            files_free: n,
            readonly,
        })
    }

    #[test]
    fn each_mount_gets_every_series_and_failures_a_device_error() {
        let options = Options {
            paths: testdata_paths(),
            statfs_timeout: Duration::from_secs(10),
        };
        let mut filesystems = Filesystems::with_statfs(&options, fake_statfs);
        let mut sink = Sink::new();
        filesystems.collect(&mut sink).expect("collects");
        let root = [
            ("device", "/dev/vda"),
            ("fstype", "ext4"),
            ("mountpoint", "/"),
        ];
        let n = under_root(&options.paths.rootfs, "/").as_os_str().len() as f64;
        assert_eq!(
            sink.value_of("node_filesystem_size_bytes", &root),
            Some(n * 4096.0)
        );
        assert_eq!(
            sink.value_of("node_filesystem_free_bytes", &root),
            Some(n * 2048.0)
        );
        assert_eq!(
            sink.value_of("node_filesystem_avail_bytes", &root),
            Some(n * 1024.0)
        );
        assert_eq!(
            sink.value_of("node_filesystem_files", &root),
            Some(n * 10.0)
        );
        assert_eq!(sink.value_of("node_filesystem_files_free", &root), Some(n));
        assert_eq!(sink.value_of("node_filesystem_readonly", &root), Some(0.0));
        assert_eq!(
            sink.value_of("node_filesystem_device_error", &root),
            Some(0.0)
        );
        let disk = [
            ("device", "/dev/vdc"),
            ("fstype", "xfs"),
            ("mountpoint", "/mnt/my disk"),
        ];
        assert_eq!(sink.value_of("node_filesystem_readonly", &disk), Some(1.0));
        let data = [
            ("device", "/dev/vdb"),
            ("fstype", "ext4"),
            ("mountpoint", "/mnt/data"),
        ];
        assert_eq!(
            sink.value_of("node_filesystem_device_error", &data),
            Some(1.0)
        );
        assert_eq!(sink.value_of("node_filesystem_size_bytes", &data), None);
        assert_eq!(sink.len(), 4 * 7 + 2);
        assert_eq!(filesystems.timeouts_total(), 0);
    }

    static NFS_CALLS: AtomicUsize = AtomicUsize::new(0);
    const HANG: Duration = Duration::from_secs(2);

    /// The first call on `/mnt/nfs` hangs for [`HANG`]; everything else answers at once.
    fn hanging_nfs_statfs(path: &Path) -> io::Result<FsStats> {
        if path.ends_with("mnt/nfs") && NFS_CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
            std::thread::sleep(HANG);
        }
        Ok(FsStats {
            size_bytes: 1 << 30,
            ..FsStats::default()
        })
    }

    #[test]
    fn hung_mount_times_out_alone_and_is_not_statted_again_until_it_returns() {
        let options = Options {
            paths: testdata_paths(),
            statfs_timeout: Duration::from_millis(300),
        };
        let mut filesystems = Filesystems::with_statfs(&options, hanging_nfs_statfs);
        let nfs = [
            ("device", "server:/export"),
            ("fstype", "nfs4"),
            ("mountpoint", "/mnt/nfs"),
        ];
        let root = [
            ("device", "/dev/vda"),
            ("fstype", "ext4"),
            ("mountpoint", "/"),
        ];

        let start = Instant::now();
        let mut sink = Sink::new();
        filesystems.collect(&mut sink).expect("collects");
        assert!(
            start.elapsed() < HANG,
            "the round waited for the hung mount"
        );
        assert_eq!(filesystems.timeouts_total(), 1);
        assert_eq!(
            sink.value_of("node_filesystem_device_error", &nfs),
            Some(1.0)
        );
        assert_eq!(sink.value_of("node_filesystem_size_bytes", &nfs), None);
        assert_eq!(
            sink.value_of("node_filesystem_device_error", &root),
            Some(0.0)
        );
        assert_eq!(
            sink.value_of("node_filesystem_size_bytes", &root),
            Some((1u64 << 30) as f64)
        );

        // Still hung: reported as an error without a second thread or a second timeout.
        let mut sink = Sink::new();
        filesystems.collect(&mut sink).expect("collects");
        assert_eq!(NFS_CALLS.load(Ordering::SeqCst), 1);
        assert_eq!(filesystems.timeouts_total(), 1);
        assert_eq!(
            sink.value_of("node_filesystem_device_error", &nfs),
            Some(1.0)
        );
        assert_eq!(
            sink.value_of("node_filesystem_device_error", &root),
            Some(0.0)
        );

        // Once the old call returns, the mount is statted again.
        let in_flight = Arc::clone(&filesystems.in_flight);
        let give_up = Instant::now() + 5 * HANG;
        while !in_flight.lock().expect("not poisoned").is_empty() {
            assert!(Instant::now() < give_up, "the hung call never returned");
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut sink = Sink::new();
        filesystems.collect(&mut sink).expect("collects");
        assert_eq!(NFS_CALLS.load(Ordering::SeqCst), 2);
        assert_eq!(
            sink.value_of("node_filesystem_device_error", &nfs),
            Some(0.0)
        );
        assert_eq!(
            sink.value_of("node_filesystem_size_bytes", &nfs),
            Some((1u64 << 30) as f64)
        );
    }
}
