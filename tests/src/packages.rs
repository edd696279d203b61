//! Debian packages the real servers of the tests come from (Prometheus, Alertmanager,
//! aiosmtpd), installed with `apt-get` when missing, waiting for the dpkg lock.

use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, PoisonError};

/// Installs the Debian package `package` unless `present` exists already. One install at
/// a time: tests running at once in the same binary would otherwise see a package's files
/// appear before `apt-get` has finished with it.
pub fn ensure_package(package: &str, present: &Path) {
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(PoisonError::into_inner);
    if present.exists() {
        return;
    }
    eprintln!("installing Debian's {package} package (once)");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    // Another process may hold the dpkg lock: wait for it rather than fail.
    let lock = "DPkg::Lock::Timeout=600";
    let install = [
        "-o",
        lock,
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        package,
    ];
    let installed = apt(&install) || (apt(&["-o", lock, "update", "-qq"]) && apt(&install));
    assert!(
        installed && present.exists(),
        "could not install Debian's {package} package; install it by hand with \
         `apt-get install {package}`"
    );
}
