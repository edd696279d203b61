//! Writing `vigil ca init`'s files: keys mode 0600, nothing overwritten unless asked.
//!
//! Without `--force` a file is created with `O_CREAT|O_EXCL` (it must not exist, not even
//! as a symlink); with `--force` it is written beside its target and renamed over it, so
//! a reader never sees half a key and a symlink in its place is replaced, not followed.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::CaError;

/// Mode of private keys.
pub const SECRET: u32 = 0o600;

/// Mode of certificates (public).
pub const PUBLIC: u32 = 0o644;

/// Mode of a directory `ca init` creates.
const DIR_MODE: u32 = 0o700;

/// One file to write.
pub struct File {
    /// Its name in the directory.
    pub name: &'static str,
    /// Its contents.
    pub contents: String,
    /// Its mode.
    pub mode: u32,
}

/// The names of `files` that exist already in `dir` (as anything, even a dangling link).
pub fn existing(dir: &Path, files: &[File]) -> Vec<String> {
    files
        .iter()
        .filter(|f| fs::symlink_metadata(dir.join(f.name)).is_ok())
        .map(|f| f.name.to_owned())
        .collect()
}

/// Creates `dir` mode 0700 when it is missing, and its missing parents with the usual
/// mode (a parent such as `/etc/vigil` also holds files other users read); leaves an
/// existing directory as it is.
pub fn create_dir(dir: &Path) -> Result<(), CaError> {
    if dir.is_dir() {
        return Ok(());
    }
    let failed = |e: io::Error| CaError::Write {
        path: dir.to_owned(),
        reason: e.to_string(),
    };
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(failed)?;
    }
    DirBuilder::new().mode(DIR_MODE).create(dir).map_err(failed)
}

/// Writes `file` into `dir`: refuses to replace an existing file unless `force`.
pub fn write(dir: &Path, file: &File, force: bool) -> Result<PathBuf, CaError> {
    let path = dir.join(file.name);
    let failed = |e: io::Error| CaError::Write {
        path: path.clone(),
        reason: e.to_string(),
    };
    if !force {
        return match create(&path, file) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(CaError::Exists {
                dir: dir.to_owned(),
                files: vec![file.name.to_owned()],
            }),
            Err(e) => Err(failed(e)),
            Ok(()) => Ok(path),
        };
    }
    let temporary = dir.join(format!(".{}.new-{}", file.name, std::process::id()));
    // A leftover of an interrupted run by a process with the same id.
    let _ = fs::remove_file(&temporary);
    create(&temporary, file).map_err(failed)?;
    fs::rename(&temporary, &path).map_err(|e| {
        let _ = fs::remove_file(&temporary);
        failed(e)
    })?;
    Ok(path)
}

/// Creates `path` (it must not exist) with `file`'s mode and contents, synced to disk;
/// removes what it created when writing fails.
fn create(path: &Path, file: &File) -> io::Result<()> {
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(file.mode)
        .open(path)?;
    let written = out
        .write_all(file.contents.as_bytes())
        .and_then(|()| out.sync_all());
    if let Err(e) = written {
        drop(out);
        let _ = fs::remove_file(path);
        return Err(e);
    }
    Ok(())
}
