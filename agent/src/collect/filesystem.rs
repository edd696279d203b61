//! Filesystem sizes: the mount table from `/proc/1/mounts`, then `statvfs` per mount,
//! written as the `node_filesystem_*` series.
//!
//! - `mounts`: which mounts are reported (the mount table, parsed and filtered).
//! - `stat`: how each is sized (`statvfs`).
//! - `worker`: the long-lived threads that make those calls under a deadline.
//!
//! Mounts are read from PID 1's view (the host's, when the agent runs in a container with
//! the host's PID namespace), falling back to `/proc/self/mounts`. The table is read every
//! round (a mount's options change without notice, e.g. when ext4 remounts itself read-only
//! after an error) but parsed again only when its text changed. A mount whose `statvfs`
//! failed, timed out, or is still stuck from an earlier round is reported with
//! `device_error` 1 and its read-only flag from the mount options.

mod mounts;
mod stat;
mod worker;

pub use mounts::{Mount, parse_mounts};
pub use stat::{FsStats, statvfs};

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{CollectError, Options, Sink, TextFile};
use mounts::under_root;
use worker::{Pool, Target};

/// The filesystem source: the mount table as last parsed, and the `statvfs` workers.
pub struct Filesystems {
    rootfs: PathBuf,
    /// `<proc>/1/mounts`, then `<proc>/self/mounts`.
    tables: [TextFile; 2],
    /// The table text `mounts` was parsed from.
    parsed_from: String,
    mounts: Vec<Mount>,
    /// What each of `mounts` is called by, in the same order.
    targets: Vec<Target>,
    /// This round's answers, in the same order.
    results: Vec<Option<FsStats>>,
    pool: Pool,
}

impl Filesystems {
    /// A source that calls the real [`statvfs`].
    pub fn new(options: &Options) -> Self {
        Self::with_statfs(options, statvfs)
    }

    /// A source that calls `statfs` instead of `statvfs`, so tests can simulate hung mounts.
    pub fn with_statfs(
        options: &Options,
        statfs: impl Fn(&Path) -> io::Result<FsStats> + Send + Sync + 'static,
    ) -> Self {
        let proc = &options.paths.proc;
        Self {
            rootfs: options.paths.rootfs.clone(),
            tables: [
                TextFile::new(proc.join("1/mounts")),
                TextFile::new(proc.join("self/mounts")),
            ],
            parsed_from: String::new(),
            mounts: Vec::new(),
            targets: Vec::new(),
            results: Vec::new(),
            pool: Pool::new(Arc::new(statfs), options.statfs_timeout),
        }
    }

    /// `statvfs` calls that have timed out since this source was made.
    pub fn timeouts_total(&self) -> u64 {
        self.pool.timeouts_total()
    }

    /// Reads the mount table and writes the `node_filesystem_*` series of every mount.
    pub fn collect(&mut self, sink: &mut Sink) -> Result<(), CollectError> {
        self.start()?;
        self.finish(sink);
        Ok(())
    }

    /// First half of [`collect`](Self::collect): reads the mount table and hands the
    /// `statvfs` calls to the workers, so other sources can be read while they run.
    pub fn start(&mut self) -> Result<(), CollectError> {
        let [pid1, own] = &mut self.tables;
        let table = match pid1.read() {
            Ok(()) => pid1,
            Err(_) => {
                own.read()?;
                own
            }
        };
        let text = table.text();
        if text != self.parsed_from {
            self.mounts = parse_mounts(text, &self.rootfs);
            self.targets = self
                .mounts
                .iter()
                .map(|mount| Target {
                    key: mount.mountpoint.as_str().into(),
                    path: under_root(&self.rootfs, &mount.mountpoint).into(),
                })
                .collect();
            self.parsed_from.clear();
            self.parsed_from.push_str(text);
        }
        self.pool.start(&self.targets);
        Ok(())
    }

    /// Second half of [`collect`](Self::collect), after a successful [`start`](Self::start):
    /// waits for the workers' answers (at most `statfs_timeout` from the start) and writes
    /// the `node_filesystem_*` series of every mount.
    pub fn finish(&mut self, sink: &mut Sink) {
        self.pool.finish(&mut self.results);
        for (mount, result) in self.mounts.iter().zip(&self.results) {
            let labels = [
                ("device", mount.device.as_str()),
                ("fstype", mount.fstype.as_str()),
                ("mountpoint", mount.mountpoint.as_str()),
            ];
            // From the host's mount options, as node_exporter does: statvfs answers for
            // the agent's own view, which a sandbox (ProtectSystem=strict, a read-only
            // container root) makes read-only everywhere.
            let readonly = f64::from(u8::from(mount.readonly));
            let Some(stats) = result else {
                sink.push("node_filesystem_device_error", &labels, 1.0);
                sink.push("node_filesystem_readonly", &labels, readonly);
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
            sink.push("node_filesystem_readonly", &labels, readonly);
            sink.push("node_filesystem_device_error", &labels, 0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::worker::tests::{Gate, eventually};
    use super::*;
    use crate::collect::{Paths, testdata_paths};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

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
            ..Options::default()
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

    /// A fake `statvfs` whose calls on `/mnt/nfs` wait for `gate`; every mount is 1 GiB.
    fn hanging_nfs(gate: &Arc<Gate>, nfs_calls: &Arc<AtomicUsize>) -> Filesystems {
        let options = Options {
            paths: testdata_paths(),
            statfs_timeout: Duration::from_millis(300),
            ..Options::default()
        };
        let (gate, nfs_calls) = (Arc::clone(gate), Arc::clone(nfs_calls));
        Filesystems::with_statfs(&options, move |path| {
            if path.ends_with("mnt/nfs") {
                nfs_calls.fetch_add(1, Ordering::SeqCst);
                gate.wait();
            }
            Ok(FsStats {
                size_bytes: 1 << 30,
                ..FsStats::default()
            })
        })
    }

    #[test]
    fn hung_mount_times_out_alone_and_is_not_statted_again_until_it_returns() {
        let (gate, nfs_calls) = (Arc::new(Gate::default()), Arc::default());
        let mut filesystems = hanging_nfs(&gate, &nfs_calls);
        let nfs = [
            ("device", "server:/export"),
            ("fstype", "nfs4"),
            ("mountpoint", "/mnt/nfs"),
        ];
        let mounts_after_nfs = [
            ("device", "/dev/vdc"),
            ("fstype", "xfs"),
            ("mountpoint", "/mnt/my disk"),
        ];
        let one_gib = Some((1u64 << 30) as f64);

        let mut sink = Sink::new();
        filesystems.collect(&mut sink).expect("collects");
        assert_eq!(filesystems.timeouts_total(), 1);
        assert_eq!(
            sink.value_of("node_filesystem_device_error", &nfs),
            Some(1.0)
        );
        assert_eq!(sink.value_of("node_filesystem_size_bytes", &nfs), None);
        // The mounts queued behind the hung call were sized by another worker.
        assert_eq!(
            sink.value_of("node_filesystem_device_error", &mounts_after_nfs),
            Some(0.0)
        );
        assert_eq!(
            sink.value_of("node_filesystem_size_bytes", &mounts_after_nfs),
            one_gib
        );
        let (live, busy, started, _) = filesystems.pool.census();
        assert_eq!((live, busy, started), (2, 1, 2));

        // Still hung: an error again, without a second call, timeout or thread.
        for _ in 0..3 {
            let mut sink = Sink::new();
            filesystems.collect(&mut sink).expect("collects");
            assert_eq!(
                sink.value_of("node_filesystem_device_error", &nfs),
                Some(1.0)
            );
            assert_eq!(
                sink.value_of("node_filesystem_size_bytes", &mounts_after_nfs),
                one_gib
            );
        }
        assert_eq!(nfs_calls.load(Ordering::SeqCst), 1);
        assert_eq!(filesystems.timeouts_total(), 1);
        assert_eq!(filesystems.pool.census().2, 2);

        // Once the old call returns, its worker ends and the mount is statted again.
        gate.open();
        eventually("the stuck worker ends", || {
            filesystems.pool.census() == (1, 0, 2, 0)
        });
        let mut sink = Sink::new();
        filesystems.collect(&mut sink).expect("collects");
        assert_eq!(nfs_calls.load(Ordering::SeqCst), 2);
        assert_eq!(
            sink.value_of("node_filesystem_device_error", &nfs),
            Some(0.0)
        );
        assert_eq!(sink.value_of("node_filesystem_size_bytes", &nfs), one_gib);
        assert_eq!(filesystems.timeouts_total(), 1);
        assert_eq!(filesystems.pool.census().2, 2);
    }

    #[test]
    fn a_changed_mount_table_is_read_the_next_round() {
        let tree = std::env::temp_dir().join(format!("vigil-fs-{}", std::process::id()));
        let proc = tree.join("proc");
        std::fs::create_dir_all(proc.join("1")).expect("temp dir");
        let table = proc.join("1/mounts");
        let first = "/dev/vda / ext4 rw 0 0\n/dev/vdb /data ext4 rw 0 0\n";
        std::fs::write(&table, first).expect("write");
        let options = Options {
            paths: Paths {
                proc,
                ..testdata_paths()
            },
            statfs_timeout: Duration::from_secs(10),
            ..Options::default()
        };
        let mut filesystems = Filesystems::with_statfs(&options, fake_statfs);
        let mut sink = Sink::new();
        filesystems.collect(&mut sink).expect("collects");
        let vdb = [
            ("device", "/dev/vdb"),
            ("fstype", "ext4"),
            ("mountpoint", "/data"),
        ];
        assert_eq!(sink.value_of("node_filesystem_readonly", &vdb), Some(0.0));
        assert_eq!(sink.len(), 2 * 7);

        // Remounted read-only, and a third filesystem mounted.
        let second = "/dev/vda / ext4 rw 0 0\n/dev/vdb /data ext4 ro 0 0\n\
                      /dev/vdc /more xfs rw 0 0\n";
        std::fs::write(&table, second).expect("write");
        let mut sink = Sink::new();
        filesystems.collect(&mut sink).expect("collects");
        assert_eq!(sink.value_of("node_filesystem_readonly", &vdb), Some(1.0));
        let vdc = [
            ("device", "/dev/vdc"),
            ("fstype", "xfs"),
            ("mountpoint", "/more"),
        ];
        assert_eq!(
            sink.value_of("node_filesystem_device_error", &vdc),
            Some(0.0)
        );
        assert_eq!(sink.len(), 3 * 7);

        // Unmounted again.
        std::fs::write(&table, "/dev/vda / ext4 rw 0 0\n").expect("write");
        let mut sink = Sink::new();
        filesystems.collect(&mut sink).expect("collects");
        assert_eq!(sink.len(), 7);
        std::fs::remove_dir_all(&tree).expect("clean up");
    }
}
