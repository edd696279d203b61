//! How each mount is sized: `statvfs(2)`, each call on its own thread under a deadline.
//!
//! A hung mount (a dead NFS server) blocks `statvfs` indefinitely, so each call runs on
//! its own thread and the round waits at most `Options::statfs_timeout` for all of them.
//! A mount whose call timed out is "stuck": it is reported with `device_error` 1 and not
//! statted again until its old thread returns, so at most one thread per mount point is
//! ever outstanding (node_exporter's `stuckMounts`).

use std::io;
use std::path::Path;
use std::sync::{Arc, PoisonError, mpsc};
use std::time::Instant;

use super::Filesystems;
use super::mounts::{Mount, under_root};

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

// The stuck-mount state (`in_flight`, `timeouts`) belongs to the source and lives on
// `Filesystems`; this block holds only the calls that use it.
impl Filesystems {
    /// Stats every mount in parallel, waiting at most `timeout` in all; `None` where the
    /// call failed, timed out, or is still stuck from an earlier round.
    pub(super) fn stat_all(&mut self, mounts: &[Mount]) -> Vec<Option<FsStats>> {
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

    #[test]
    fn statvfs_of_root_and_of_a_missing_path() {
        let root = statvfs(Path::new("/")).expect("statvfs /");
        assert!(root.size_bytes > 0, "{root:?}");
        assert!(root.avail_bytes <= root.free_bytes && root.free_bytes <= root.size_bytes);
        let missing = statvfs(Path::new("/nonexistent/vigil")).expect_err("no such path");
        assert_eq!(missing.raw_os_error(), Some(libc::ENOENT));
    }
}
