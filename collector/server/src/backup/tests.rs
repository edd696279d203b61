use super::*;
use tonic::{Code, Status};
use vigil_rocks::{RocksOptions, RocksStore};
use vigil_store::memory::MemoryStore;
use vigil_store::{Labels, SeriesSamples};

/// A directory tree for one test: `backups/` (storage.backup_dir, not created yet) and
/// `live/` (the data directory) side by side.
struct Places {
    tmp: tempfile::TempDir,
}

impl Places {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("live")).unwrap();
        Self { tmp }
    }
    fn root(&self) -> PathBuf {
        self.tmp.path().join("backups")
    }
    fn live(&self) -> PathBuf {
        self.tmp.path().join("live")
    }
    /// Every path under the temporary directory, sorted.
    fn tree(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                out.push(path.clone());
                if std::fs::symlink_metadata(&path).unwrap().is_dir() {
                    walk(&path, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(self.tmp.path(), &mut out);
        out.sort();
        out
    }
    fn backup(&self, store: &dyn Store, request: &str) -> Result<BackupResponse, BackupError> {
        backup(store, Path::new(request), &self.root(), &self.live())
    }
}

/// A RocksDB store in `dir` with one series of two samples.
fn filled(dir: &Path) -> (RocksStore, u64) {
    let store = RocksStore::open(dir, RocksOptions::with_sync(false)).unwrap();
    let labels = Labels::from_pairs(&[("__name__", "up"), ("host", "a")]);
    let id = store.resolve_series("a", &[labels], 10).unwrap()[0];
    store
        .append(&[SeriesSamples {
            id,
            samples: vec![(1_000, 1.0), (2_000, 2.0)],
        }])
        .unwrap();
    (store, id)
}

/// `err` names `path` and storage.backup_dir, with gRPC code `code`.
fn names(err: BackupError, path: &str, code: Code) {
    let message = err.to_string();
    assert!(message.contains(path), "{path} missing from: {message}");
    assert!(message.contains("storage.backup_dir"), "{message}");
    assert_eq!(Status::from(err).code(), code, "{message}");
}

#[test]
fn paths_leaving_the_backup_dir_are_refused_and_nothing_is_created() {
    let places = Places::new();
    let store = MemoryStore::new();
    let before = places.tree();
    let outside = places.tmp.path().join("elsewhere");
    for (request, code) in [
        ("../elsewhere", Code::InvalidArgument),
        ("a/../../elsewhere", Code::InvalidArgument),
        (outside.to_str().unwrap(), Code::InvalidArgument),
        ("/etc/vigil-backup", Code::InvalidArgument),
        ("", Code::InvalidArgument),
        (".", Code::InvalidArgument),
    ] {
        let err = places.backup(&store, request).unwrap_err();
        assert!(
            matches!(
                err,
                BackupError::ParentComponent { .. }
                    | BackupError::Outside { .. }
                    | BackupError::NoName { .. }
            ),
            "{request}: {err}"
        );
        names(err, request, code);
        assert_eq!(places.tree(), before, "{request}: nothing created");
    }
    // The backup directory itself, by its absolute path, is no new directory either.
    let err = places
        .backup(&store, places.root().to_str().unwrap())
        .unwrap_err();
    assert!(matches!(err, BackupError::NoName { .. }), "{err}");
}

#[test]
fn a_symlink_leading_out_is_refused() {
    let places = Places::new();
    std::fs::create_dir(places.root()).unwrap();
    let outside = places.tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, places.root().join("out")).unwrap();
    std::os::unix::fs::symlink(
        places.tmp.path().join("gone"),
        places.root().join("dangling"),
    )
    .unwrap();
    let before = places.tree();
    for request in ["out", "out/new", "dangling/new"] {
        let err = places.backup(&MemoryStore::new(), request).unwrap_err();
        assert!(matches!(err, BackupError::SymlinkOut { .. }), "{err}");
        names(err, request, Code::FailedPrecondition);
        assert_eq!(places.tree(), before, "{request}: nothing created");
    }
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
}

#[test]
fn a_symlink_within_the_backup_dir_is_followed() {
    let places = Places::new();
    let live = tempfile::tempdir().unwrap();
    let (store, _) = filled(live.path());
    std::fs::create_dir_all(places.root().join("real")).unwrap();
    std::os::unix::fs::symlink(places.root().join("real"), places.root().join("link")).unwrap();
    let response = places.backup(&store, "link/b1").unwrap();
    assert_eq!(
        response.dir,
        places.root().join("link/b1").display().to_string()
    );
    assert!(places.root().join("real/b1").join(MANIFEST).exists());
}

#[test]
fn the_data_dir_and_non_empty_or_file_paths_are_refused_untouched() {
    let places = Places::new();
    std::fs::create_dir(places.root()).unwrap();
    let store = MemoryStore::new();
    // Backups inside the data directory, through a link from the backup directory.
    std::os::unix::fs::symlink(places.live(), places.root().join("live")).unwrap();
    std::fs::write(places.live().join("CURRENT"), b"x").unwrap();
    std::fs::create_dir(places.root().join("full")).unwrap();
    std::fs::write(places.root().join("full/old"), b"x").unwrap();
    std::fs::write(places.root().join("file"), b"x").unwrap();
    let before = places.tree();

    let err = backup(&store, Path::new("b"), &places.live(), &places.live()).unwrap_err();
    assert!(matches!(err, BackupError::InsideDataDir { .. }), "{err}");
    assert_eq!(Status::from(err).code(), Code::FailedPrecondition);
    // (A link inside the backup directory to the data directory leads out of it.)
    let err = places.backup(&store, "live/b").unwrap_err();
    assert!(matches!(err, BackupError::SymlinkOut { .. }), "{err}");

    let err = places.backup(&store, "full").unwrap_err();
    assert!(matches!(err, BackupError::NotEmpty(_)), "{err}");
    assert!(err.to_string().contains("full"), "{err}");
    let err = places.backup(&store, "file").unwrap_err();
    assert!(matches!(err, BackupError::NotADirectory(_)), "{err}");
    assert_eq!(Status::from(err).code(), Code::FailedPrecondition);
    let err = places.backup(&store, "file/b").unwrap_err();
    assert!(matches!(err, BackupError::Unwritable { .. }), "{err}");
    assert_eq!(places.tree(), before, "nothing created, nothing removed");
}

#[test]
fn the_data_dir_inside_the_backup_dir_is_still_refused() {
    let places = Places::new();
    let store = MemoryStore::new();
    std::fs::write(places.live().join("CURRENT"), b"x").unwrap();
    let err = backup(
        &store,
        Path::new("live/b"),
        places.tmp.path(),
        &places.live(),
    )
    .unwrap_err();
    assert!(matches!(err, BackupError::InsideDataDir { .. }), "{err}");
    assert!(!places.live().join("b").exists());
}

#[test]
fn a_relative_name_lands_in_the_backup_dir_which_is_created() {
    let places = Places::new();
    let live = tempfile::tempdir().unwrap();
    let (store, id) = filled(live.path());
    let response = places.backup(&store, "2026/11/21").unwrap();
    let dir = places.root().join("2026/11/21");
    assert_eq!(response.dir, dir.display().to_string());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(MANIFEST)).unwrap()).unwrap();
    assert_eq!(manifest["collector_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["format"], response.format);
    assert!(
        !dir.join(".vigil-checkpoint").exists(),
        "the staging is gone"
    );
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count() as u64,
        response.files
    );
    let copy = RocksStore::open(&dir, RocksOptions::default()).unwrap();
    let mut out = Vec::new();
    copy.samples(id, 0, 10_000, &mut out).unwrap();
    assert_eq!(out, vec![(1_000, 1.0), (2_000, 2.0)]);

    // The same path by its absolute name is now taken.
    let err = places.backup(&store, dir.to_str().unwrap()).unwrap_err();
    assert!(matches!(err, BackupError::NotEmpty(_)), "{err}");
}

#[test]
fn an_empty_existing_dir_is_used_in_place() {
    let places = Places::new();
    let live = tempfile::tempdir().unwrap();
    let (store, _) = filled(live.path());
    let dir = places.root().join("empty");
    std::fs::create_dir_all(&dir).unwrap();
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&dir).unwrap());
    let response = places.backup(&store, dir.to_str().unwrap()).unwrap();
    assert_eq!(response.dir, dir.display().to_string());
    let now = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&dir).unwrap());
    assert_eq!(now, inode, "the directory itself was kept, not replaced");
    assert!(dir.join(MANIFEST).exists());
    RocksStore::open(&dir, RocksOptions::default()).unwrap();
}

#[test]
fn a_failed_backup_removes_only_what_it_created() {
    let places = Places::new();
    // The memory engine has nothing on disk: its checkpoint fails.
    let store = MemoryStore::new();
    let err = places.backup(&store, "new/b").unwrap_err();
    assert!(err.to_string().contains("nothing on disk"), "{err}");
    assert!(!places.root().exists(), "everything it created is gone");

    std::fs::create_dir_all(places.root().join("kept")).unwrap();
    std::fs::write(places.root().join("other"), b"x").unwrap();
    let before = places.tree();
    places.backup(&store, "kept").unwrap_err();
    places.backup(&store, "kept/deeper/b").unwrap_err();
    assert_eq!(
        places.tree(),
        before,
        "existing directories stay, as they were"
    );
}
