//! How each mount is sized: `statvfs(2)`, in the units the metrics need. The calls are
//! made by the workers of `worker`, under a deadline.

use std::io;
use std::path::Path;

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
