//! [`TextFile`]: a file read whole every round into the same buffer.
//!
//! A file in procfs or sysfs is opened once and read again with `pread` from offset 0,
//! which makes the kernel generate its text afresh; this saves the path walk, `open` and
//! `close` of every round. Any other file (the recorded trees of the tests, a copy of
//! `/proc` on disk) is opened again every round, so a file replaced between rounds is seen.
//! A kept file that fails to read (a network device gone: sysfs answers `ENODEV`) is
//! opened again by its path before the read counts as failed, except with `EINVAL`: sysfs
//! attributes with no value now (`speed` of a virtual device) answer that, and stay open.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::CollectError;

/// Bytes read per call while the buffer has no room left from earlier rounds.
const CHUNK: usize = 4096;

/// A file read whole every round into the same buffer, so a round allocates nothing for it.
#[derive(Debug)]
pub struct TextFile {
    path: PathBuf,
    /// Whether the file may be kept open: `None` until it was first opened.
    keep: Option<bool>,
    /// The open file, when `keep`.
    file: Option<File>,
    text: String,
}

impl TextFile {
    /// The file at `path`, kept open between rounds when it is in procfs or sysfs; nothing
    /// is opened yet.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            keep: None,
            file: None,
            text: String::new(),
        }
    }

    /// The file at `path`, opened again every round wherever it is: for files there can be
    /// very many of (one per network device), which must not use up the agent's descriptors.
    pub fn reopened(path: impl Into<PathBuf>) -> Self {
        Self {
            keep: Some(false),
            ..Self::new(path)
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file is open between rounds now.
    pub fn is_kept_open(&self) -> bool {
        self.file.is_some()
    }

    /// Reads the file again, naming it in the error; [`text`](Self::text) then has it.
    pub fn read(&mut self) -> Result<(), CollectError> {
        let mut buf = std::mem::take(&mut self.text).into_bytes();
        let result = self.read_into(&mut buf);
        let text = result.and_then(|()| {
            String::from_utf8(buf).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidData, "the file is not UTF-8 text")
            })
        });
        match text {
            Ok(text) => {
                self.text = text;
                Ok(())
            }
            Err(source) => Err(CollectError::Read {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// The text the last [`read`](Self::read) got, empty after a failed one.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn read_into(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        if let Some(file) = &self.file {
            match read_all_at(file, buf) {
                Ok(()) => return Ok(()),
                // The attribute has no value now (a virtual device's `speed`): the file is
                // still the right one, and opening it again would fail the same way.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Err(e),
                Err(_) => self.file = None,
            }
        }
        let file = File::open(&self.path)?;
        let keep = *self.keep.get_or_insert_with(|| is_kernel_generated(&file));
        let read = read_all_at(&file, buf);
        if keep {
            self.file = Some(file);
        }
        read
    }
}

/// Replaces `buf` with the whole file, read with `pread` from offset 0 on, straight into
/// the buffer's spare room (zero-filling it first would cost more than the read itself at
/// the agent profile's `opt-level = "z"`).
#[allow(unsafe_code)]
fn read_all_at(file: &File, buf: &mut Vec<u8>) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    buf.clear();
    loop {
        let len = buf.len();
        if buf.capacity() - len < CHUNK / 4 {
            buf.reserve(CHUNK.max(len));
        }
        let spare = buf.spare_capacity_mut();
        // SAFETY: `pread` writes at most `spare.len()` bytes into the vector's spare
        // capacity, memory it owns; the length is raised below only by what was written.
        let read = unsafe {
            libc::pread(
                file.as_raw_fd(),
                spare.as_mut_ptr().cast(),
                spare.len(),
                len as libc::off_t,
            )
        };
        match read {
            0 => return Ok(()),
            // SAFETY: the first `n` bytes of the spare room were just written by `pread`.
            n if n > 0 => unsafe { buf.set_len(len + n as usize) },
            _ => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    buf.clear();
                    return Err(error);
                }
            }
        }
    }
}

/// Whether `file` is in procfs or sysfs, whose files are generated on every read.
fn is_kernel_generated(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    // The constants' and the field's types differ between targets, hence the casts.
    #[allow(clippy::unnecessary_cast)]
    let kernel = [libc::PROC_SUPER_MAGIC as i64, libc::SYSFS_MAGIC as i64];
    #[allow(clippy::unnecessary_cast)]
    fstatfs_type(file.as_raw_fd()).is_some_and(|t| kernel.contains(&(t as i64)))
}

#[allow(unsafe_code)]
fn fstatfs_type(fd: std::os::fd::RawFd) -> Option<libc::c_long> {
    let mut buf = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `fd` is an open descriptor borrowed for the call and `buf` is writable memory
    // of the size `fstatfs` expects.
    if unsafe { libc::fstatfs(fd, buf.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: fstatfs returned 0, so it filled in the whole struct.
    #[allow(clippy::unnecessary_cast)]
    Some(unsafe { buf.assume_init() }.f_type as libc::c_long)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_proc_file_is_generated_again_on_every_read() {
        // rchar counts the bytes this process has read, so each read of the file changes it.
        let rchar = |text: &str| -> u64 {
            let line = text
                .lines()
                .find(|l| l.starts_with("rchar:"))
                .expect("rchar");
            line["rchar:".len()..].trim().parse().expect("a number")
        };
        let mut io = TextFile::new("/proc/self/io");
        io.read().expect("reads /proc/self/io");
        assert!(io.is_kept_open());
        let first = rchar(io.text());
        io.read().expect("reads again");
        assert!(io.is_kept_open());
        assert!(rchar(io.text()) > first, "{}", io.text());
    }

    #[test]
    fn other_files_are_opened_again_and_replacements_seen() {
        let dir = std::env::temp_dir().join(format!("vigil-textfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("f");
        std::fs::write(&path, "one\n").expect("write");
        let mut file = TextFile::new(&path);
        file.read().expect("reads");
        assert_eq!(file.text(), "one\n");
        assert!(!file.is_kept_open());

        // Replaced by another file (another inode), then grown past one chunk.
        let other = dir.join("g");
        std::fs::write(&other, "two\n").expect("write");
        std::fs::rename(&other, &path).expect("rename");
        file.read().expect("reads");
        assert_eq!(file.text(), "two\n");
        let long = "x".repeat(3 * CHUNK + 7);
        std::fs::write(&path, &long).expect("write");
        file.read().expect("reads");
        assert_eq!(file.text(), long);

        std::fs::write(&path, [0xff, 0xfe]).expect("write");
        let error = file.read().expect_err("not UTF-8");
        assert!(matches!(&error, CollectError::Read { path: p, .. } if *p == path));
        assert_eq!(file.text(), "");
        std::fs::remove_file(&path).expect("remove");
        assert!(file.read().is_err());
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn a_reopened_file_is_never_kept() {
        let mut loadavg = TextFile::reopened("/proc/loadavg");
        loadavg.read().expect("reads");
        assert!(!loadavg.is_kept_open());
        assert!(!loadavg.text().is_empty());
    }
}
