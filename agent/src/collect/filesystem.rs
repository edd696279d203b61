//! Filesystem sizes: the mount table from `/proc/1/mounts`, then `statvfs` per mount.
//!
//! ```text
//! device      mountpoint      fstype  options            dump pass
//! /dev/vda    /               ext4    rw,relatime        0 0
//! /dev/vdc    /mnt/my\040disk xfs     ro,relatime        0 0    <- octal escapes
//! ```
//!
//! Mounts are read from PID 1's view (the host's, when the agent runs in a container with
//! the host's PID namespace), falling back to `/proc/self/mounts`. A mount point mounted
//! twice is reported once, for the last (topmost) mount. Pseudo filesystems and the mount
//! points node_exporter excludes by default are skipped — except `/` itself, whatever its
//! type, because in a container the root is an overlay and users must still see its size.
//!
//! A hung mount (a dead NFS server) blocks `statvfs` indefinitely, so each call runs on
//! its own thread and the round waits at most `Options::statfs_timeout` for all of them.
//! A mount whose call timed out is "stuck": it is reported with `device_error` 1 and not
//! statted again until its old thread returns, so at most one thread per mount point is
//! ever outstanding (node_exporter's `stuckMounts`).

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use super::{CollectError, Options, Paths, Sink, read_file};

/// Filesystem types skipped by default (node_exporter's `--collector.filesystem.fs-types-exclude`).
const EXCLUDED_TYPES: [&str; 25] = [
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "fusectl",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nsfs",
    "overlay",
    "proc",
    "procfs",
    "pstore",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "erofs",
    "sysfs",
    "tracefs",
];

/// What `statvfs` says about one filesystem, in the units the metrics need.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FsStats {
    /// Size in bytes (`f_blocks * f_frsize`).
    pub size_bytes: u64,
    /// Free bytes, including those reserved for root (`f_bfree * f_frsize`).
    pub free_bytes: u64,
    /// Bytes available to unprivileged users (`f_bavail * f_frsize`).
    pub avail_bytes: u64,
    /// Inodes (`f_files`).
    pub files: u64,
    /// Free inodes (`f_ffree`).
    pub files_free: u64,
    /// Mounted read-only (`ST_RDONLY` in `f_flag`).
    pub readonly: bool,
}

/// The call that stats one path; [`statvfs`] in production, a fake in tests.
pub type Statfs = fn(&Path) -> io::Result<FsStats>;

/// One line of the mount table that is to be reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Source device, e.g. `/dev/vda` or `server:/export`.
    pub device: String,
    /// Filesystem type, e.g. `ext4`.
    pub fstype: String,
    /// Mount point as the host sees it (rootfs prefix stripped).
    pub mountpoint: String,
    /// Mounted with the `ro` option; used when `statvfs` cannot say.
    pub readonly: bool,
}

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
            sink.push(
                "node_filesystem_readonly",
                &labels,
                f64::from(u8::from(stats.readonly)),
            );
            sink.push("node_filesystem_device_error", &labels, 0.0);
        }
        Ok(())
    }

    /// Stats every mount in parallel, waiting at most `timeout` in all; `None` where the
    /// call failed, timed out, or is still stuck from an earlier round.
    fn stat_all(&mut self, mounts: &[Mount]) -> Vec<Option<FsStats>> {
        let mut results = vec![None; mounts.len()];
        let (tx, rx) = mpsc::channel();
        let mut waiting = 0;
        for (i, mount) in mounts.iter().enumerate() {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !in_flight.insert(mount.mountpoint.clone()) {
                tracing::debug!(mountpoint = %mount.mountpoint, "statvfs still hung, skipping");
                continue;
            }
            drop(in_flight);
            let (tx, in_flight) = (tx.clone(), Arc::clone(&self.in_flight));
            let (statfs, key) = (self.statfs, mount.mountpoint.clone());
            let path = under_root(&self.paths.rootfs, &mount.mountpoint);
            let spawned = std::thread::Builder::new()
                .name("vigil-statfs".into())
                .spawn(move || {
                    let result = statfs(&path);
                    in_flight
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&key);
                    let _ = tx.send((i, result)); // The round may have given up on us.
                });
            match spawned {
                Ok(_) => waiting += 1,
                Err(error) => {
                    tracing::warn!(mountpoint = %mount.mountpoint, %error, "cannot start statvfs thread");
                    self.in_flight
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&mount.mountpoint);
                }
            }
        }
        let deadline = Instant::now() + self.timeout;
        while waiting > 0 {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok((i, Ok(stats))) => results[i] = Some(stats),
                Ok((i, Err(error))) => {
                    tracing::debug!(mountpoint = %mounts[i].mountpoint, %error, "statvfs failed");
                }
                Err(_) => {
                    tracing::warn!(hung = waiting, timeout = ?self.timeout, "statvfs timed out");
                    self.timeouts += waiting;
                    break;
                }
            }
            waiting -= 1;
        }
        results
    }
}

/// The mounts of one mount-table text that are to be reported, in table order.
pub fn parse_mounts(text: &str, rootfs: &Path) -> Vec<Mount> {
    let mut mounts = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(device), Some(mountpoint), Some(fstype), options) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        mounts.push(Mount {
            device: unescape(device),
            fstype: unescape(fstype),
            mountpoint: strip_rootfs(rootfs, &unescape(mountpoint)),
            readonly: options.is_some_and(|o| o.split(',').any(|o| o == "ro")),
        });
    }
    // A later mount on the same point hides the earlier ones; only the last is statted.
    let last: HashMap<String, usize> = mounts
        .iter()
        .enumerate()
        .map(|(i, m)| (m.mountpoint.clone(), i))
        .collect();
    let reported = |m: &Mount| {
        m.mountpoint == "/" || !(excluded_type(&m.fstype) || excluded_mountpoint(&m.mountpoint))
    };
    let on_top = |i: usize, m: &Mount| last.get(&m.mountpoint) == Some(&i);
    mounts
        .into_iter()
        .enumerate()
        .filter(|(i, m)| on_top(*i, m) && reported(m))
        .map(|(_, m)| m)
        .collect()
}

fn excluded_type(fstype: &str) -> bool {
    EXCLUDED_TYPES.contains(&fstype)
}

/// Whether `mountpoint` matches
/// `^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)`.
fn excluded_mountpoint(mountpoint: &str) -> bool {
    let Some(rest) = mountpoint.strip_prefix('/') else {
        return false;
    };
    let whole = ["dev", "proc", "sys"].iter().any(|p| {
        rest.strip_prefix(p)
            .is_some_and(|r| r.is_empty() || r.starts_with('/'))
    });
    let below = [
        "run/credentials/",
        "var/lib/docker/",
        "var/lib/containers/storage/",
    ]
    .iter()
    .any(|p| rest.strip_prefix(p).is_some_and(|r| !r.is_empty()));
    whole || below
}

/// Decodes the kernel's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134` `\`).
fn unescape(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_owned();
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push(d.iter().fold(0u32, |n, b| n * 8 + u32::from(b - b'0')) as u8);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The host's view of a mount point: `rootfs` stripped when it is a prefix (node_exporter's
/// `rootfsStripPrefix`).
fn strip_rootfs(rootfs: &Path, mountpoint: &str) -> String {
    let root = rootfs.to_string_lossy();
    let root = root.trim_end_matches('/');
    match mountpoint.strip_prefix(root) {
        Some("") => "/".to_owned(),
        Some(rest) if !root.is_empty() && rest.starts_with('/') => rest.to_owned(),
        _ => mountpoint.to_owned(),
    }
}

/// Where the agent finds a host mount point: below `rootfs`.
fn under_root(rootfs: &Path, mountpoint: &str) -> PathBuf {
    rootfs.join(mountpoint.trim_start_matches('/'))
}

/// Calls `statvfs(2)` on `path`.
pub fn statvfs(path: &Path) -> io::Result<FsStats> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    let s = raw_statvfs(&c_path)?;
    // The field types differ between targets (u32 on some 32-bit ones), hence the casts.
    #[allow(clippy::unnecessary_cast)]
    let (frsize, blocks, bfree, bavail) = (
        s.f_frsize as u64,
        s.f_blocks as u64,
        s.f_bfree as u64,
        s.f_bavail as u64,
    );
    #[allow(clippy::unnecessary_cast)]
    let (files, ffree) = (s.f_files as u64, s.f_ffree as u64);
    Ok(FsStats {
        size_bytes: blocks.saturating_mul(frsize),
        free_bytes: bfree.saturating_mul(frsize),
        avail_bytes: bavail.saturating_mul(frsize),
        files,
        files_free: ffree,
        readonly: s.f_flag & libc::ST_RDONLY != 0,
    })
}

#[allow(unsafe_code)]
fn raw_statvfs(path: &std::ffi::CStr) -> io::Result<libc::statvfs> {
    let mut buf = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a valid NUL-terminated string and `buf` is writable memory of the
    // size `statvfs` expects; both outlive the call.
    if unsafe { libc::statvfs(path.as_ptr(), buf.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled in the whole struct.
    Ok(unsafe { buf.assume_init() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testdata_paths;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn mount(device: &str, fstype: &str, mountpoint: &str, readonly: bool) -> Mount {
        let (device, fstype, mountpoint) = (device.into(), fstype.into(), mountpoint.into());
        Mount {
            device,
            fstype,
            mountpoint,
            readonly,
        }
    }

    #[test]
    fn recorded_mount_table_keeps_real_filesystems_once() {
        let text = read_file(testdata_paths().proc.join("1/mounts")).expect("fixture");
        let got = parse_mounts(&text, Path::new("/"));
        let want = [
            mount("/dev/vda", "ext4", "/", false),
            mount(
                "model_tools_unavailable",
                "tmpfs",
                "/mnt/sandboxing/model_tools_env/v1/python",
                true,
            ),
            mount("server:/export", "nfs4", "/mnt/nfs", false),
            mount("/dev/vdb", "ext4", "/mnt/data", false),
            mount("/dev/vdc", "xfs", "/mnt/my disk", true),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn container_overlay_root_is_kept_and_rootfs_prefix_stripped() {
        let text = "overlay / overlay rw,lowerdir=/l 0 0\n\
                    /dev/sda1 /host ext4 rw 0 0\n\
                    /dev/sda2 /host/home ext4 rw 0 0\n\
                    /dev/sdb1 /hostile ext4 rw 0 0\n\
                    overlay /host/var/lib/docker/overlay2/x/merged overlay rw 0 0\n";
        let got = parse_mounts(text, Path::new("/host"));
        // "/host" becomes "/" and hides the container's own root, as the later mount.
        let want = vec![
            mount("/dev/sda1", "ext4", "/", false),
            mount("/dev/sda2", "ext4", "/home", false),
            mount("/dev/sdb1", "ext4", "/hostile", false),
        ];
        assert_eq!(got, want);
        let only_overlay = parse_mounts(
            "overlay / overlay rw 0 0\nproc /proc proc rw 0 0\n",
            Path::new("/"),
        );
        assert_eq!(only_overlay, vec![mount("overlay", "overlay", "/", false)]);
        assert_eq!(
            under_root(Path::new("/host"), "/home"),
            Path::new("/host/home")
        );
        assert_eq!(under_root(Path::new("/"), "/"), Path::new("/"));
    }

    #[test]
    fn octal_escapes_are_decoded() {
        assert_eq!(unescape(r"/mnt/my\040disk"), "/mnt/my disk");
        assert_eq!(unescape(r"/a\011b\134c\012"), "/a\tb\\c\n");
        assert_eq!(unescape(r"/odd\04"), r"/odd\04");
        assert_eq!(unescape(r"/x\999"), r"/x\999");
    }

    #[test]
    fn mount_point_excludes_match_node_exporters() {
        let skipped = "/dev /dev/shm /proc /sys/fs/cgroup /run/credentials/a.service \
                       /var/lib/docker/overlay2/x /var/lib/containers/storage/overlay";
        for mountpoint in skipped.split_ascii_whitespace() {
            assert!(excluded_mountpoint(mountpoint), "{mountpoint}");
        }
        let kept = "/ /devices /run /run/credentials /run/credentials/ /var/lib/docker \
                    /var/lib/docker/ /system /home";
        for mountpoint in kept.split_ascii_whitespace() {
            assert!(!excluded_mountpoint(mountpoint), "{mountpoint}");
        }
    }

    /// Sizes each mount by the length of its path; `/mnt/data` fails.
    fn fake_statfs(path: &Path) -> io::Result<FsStats> {
        if path.ends_with("mnt/data") {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        let n = path.as_os_str().len() as u64;
        let readonly = path.ends_with("mnt/my disk");
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

    #[test]
    fn statvfs_of_root_and_of_a_missing_path() {
        let root = statvfs(Path::new("/")).expect("statvfs /");
        assert!(root.size_bytes > 0, "{root:?}");
        assert!(root.avail_bytes <= root.free_bytes && root.free_bytes <= root.size_bytes);
        let missing = statvfs(Path::new("/nonexistent/vigil")).expect_err("no such path");
        assert_eq!(missing.raw_os_error(), Some(libc::ENOENT));
    }
}
