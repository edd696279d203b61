//! The directory a backup goes to: resolved inside `storage.backup_dir`, checked, and
//! created, with a record of everything this backup created so that a failed backup
//! removes exactly that (never a directory that was there before).
//!
//! Order matters: the checks that need no filesystem (`..`, outside, no name) come first,
//! then `storage.backup_dir` is created if missing (nothing below it can be refused then),
//! then the path is walked link by link from the canonical `backup_dir`.

use super::BackupError;
use std::path::{Component, Path, PathBuf};

/// Name of the staging directory the store writes the checkpoint into, inside the target.
const STAGING: &str = ".vigil-checkpoint";

/// A checked backup directory. Dropped before [`Target::keep`], it removes what it created.
pub(super) struct Target {
    /// The directory as the operator knows it: `backup_dir` (made absolute) joined with
    /// the path asked for.
    pub shown: PathBuf,
    /// The directory on disk, symbolic links resolved.
    pub dir: PathBuf,
    /// Directories this backup created, outermost first.
    created: Vec<PathBuf>,
    /// Entries this backup put into a directory that existed (empty) before.
    placed: Vec<PathBuf>,
    kept: bool,
}

impl Target {
    /// Resolves `request` inside `backup_dir`, refuses what may not take a backup (naming
    /// the path and `storage.backup_dir`), and creates the directory (and `backup_dir`)
    /// when missing.
    pub fn prepare(
        request: &Path,
        backup_dir: &Path,
        data_dir: &Path,
    ) -> Result<Self, BackupError> {
        let root: PathBuf = std::path::absolute(backup_dir)
            .map_err(|e| unwritable(backup_dir, &e))?
            .components()
            .collect();
        let rel = relative(request, &root)?;
        let shown = root.join(&rel);
        let mut target = Self {
            shown: shown.clone(),
            dir: PathBuf::new(),
            created: Vec::new(),
            placed: Vec::new(),
            kept: false,
        };
        target.create_missing(&root, &root)?;
        let real_root = std::fs::canonicalize(&root).map_err(|e| unwritable(&root, &e))?;
        let dir = walk(&real_root, &rel).map_err(|link| BackupError::SymlinkOut {
            path: shown.clone(),
            link,
            backup_dir: root.clone(),
        })?;
        if let Ok(data) = std::fs::canonicalize(data_dir)
            && dir.starts_with(&data)
        {
            return Err(BackupError::InsideDataDir {
                path: shown,
                data_dir: data_dir.to_owned(),
                backup_dir: root,
            });
        }
        match std::fs::metadata(&dir) {
            Ok(meta) if !meta.is_dir() => return Err(BackupError::NotADirectory(shown)),
            Ok(_) => {
                let mut entries = std::fs::read_dir(&dir).map_err(|e| unwritable(&shown, &e))?;
                if entries.next().is_some() {
                    return Err(BackupError::NotEmpty(shown));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                target.create_missing(&dir, &shown)?;
            }
            Err(e) => return Err(unwritable(&shown, &e)),
        }
        target.dir = dir;
        Ok(target)
    }

    /// Where the store writes the checkpoint (a new directory inside the target), noted
    /// as this backup's.
    pub fn staging(&mut self) -> PathBuf {
        let staging = self.dir.join(STAGING);
        if !self.created_target() {
            // The engine may leave its own `<dir>.tmp` beside it on the way.
            self.placed.push(self.dir.join(format!("{STAGING}.tmp")));
            self.placed.push(staging.clone());
        }
        staging
    }

    /// Moves every entry of `staging` into the target and removes `staging`.
    pub fn move_up(&mut self, staging: &Path) -> Result<(), BackupError> {
        let failed = |e: std::io::Error| BackupError::Incomplete {
            dir: self.shown.clone(),
            reason: e.to_string(),
        };
        let entries = std::fs::read_dir(staging)
            .map_err(failed)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(failed)?;
        for entry in entries {
            let to = self.dir.join(entry.file_name());
            std::fs::rename(entry.path(), &to).map_err(failed)?;
            if !self.created_target() {
                self.placed.push(to);
            }
        }
        std::fs::remove_dir(staging).map_err(failed)
    }

    /// Keeps everything: the backup is complete.
    pub fn keep(&mut self) {
        self.kept = true;
    }

    /// Whether this backup created the target directory itself.
    fn created_target(&self) -> bool {
        self.created.last() == Some(&self.dir)
    }

    /// Creates `dir` and its missing parents one by one, noting each.
    fn create_missing(&mut self, dir: &Path, shown: &Path) -> Result<(), BackupError> {
        let missing: Vec<&Path> = dir
            .ancestors()
            .take_while(|a| std::fs::symlink_metadata(a).is_err())
            .collect();
        for path in missing.into_iter().rev() {
            std::fs::create_dir(path).map_err(|e| unwritable(shown, &e))?;
            self.created.push(path.to_owned());
        }
        Ok(())
    }
}

impl Drop for Target {
    /// Removes what this backup created, innermost first, unless it was kept. A directory
    /// that existed before is never removed; only entries this backup put into it are.
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        for path in self.placed.iter().rev() {
            match std::fs::symlink_metadata(path) {
                Ok(meta) if meta.is_dir() => {
                    let _ = std::fs::remove_dir_all(path);
                }
                Ok(_) => {
                    let _ = std::fs::remove_file(path);
                }
                Err(_) => {}
            }
        }
        if self.created_target() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        // Parents: only while empty (remove_dir refuses otherwise).
        for path in self.created.iter().rev() {
            let _ = std::fs::remove_dir(path);
        }
    }
}

/// `request` as a path relative to `root`: refuses `..`, an absolute path outside `root`,
/// and a path naming no directory inside it.
fn relative(request: &Path, root: &Path) -> Result<PathBuf, BackupError> {
    if request.components().any(|c| c == Component::ParentDir) {
        return Err(BackupError::ParentComponent {
            path: request.to_owned(),
            backup_dir: root.to_owned(),
        });
    }
    let rel = if request.is_absolute() {
        let canonical = std::fs::canonicalize(root).ok();
        let inside = request.strip_prefix(root).ok().or_else(|| {
            canonical
                .as_deref()
                .and_then(|c| request.strip_prefix(c).ok())
        });
        inside.ok_or_else(|| BackupError::Outside {
            path: request.to_owned(),
            backup_dir: root.to_owned(),
        })?
    } else {
        request
    };
    let rel: PathBuf = rel
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    if rel.as_os_str().is_empty() {
        return Err(BackupError::NoName {
            path: request.to_owned(),
            backup_dir: root.to_owned(),
        });
    }
    Ok(rel)
}

/// `rel` below `real_root`, each existing symbolic link on the way resolved; the link that
/// leads outside `real_root` (or nowhere) is the error. The parts that do not exist yet
/// are joined as they are.
fn walk(real_root: &Path, rel: &Path) -> Result<PathBuf, PathBuf> {
    let mut path = real_root.to_owned();
    let mut parts = rel.components();
    for part in parts.by_ref() {
        let next = path.join(part);
        match std::fs::symlink_metadata(&next) {
            Ok(meta) if meta.file_type().is_symlink() => match std::fs::canonicalize(&next) {
                Ok(resolved) if resolved.starts_with(real_root) => path = resolved,
                _ => return Err(next),
            },
            Ok(_) => path = next,
            Err(_) => {
                path = next;
                break;
            }
        }
    }
    path.extend(parts);
    Ok(path)
}

fn unwritable(dir: &Path, e: &std::io::Error) -> BackupError {
    BackupError::Unwritable {
        dir: dir.to_owned(),
        reason: e.to_string(),
    }
}
