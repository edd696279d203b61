//! The Debian packages from `scripts/package.sh`: built, inspected (files, modes,
//! conffiles, maintainer scripts), checked by lintian, installed with `dpkg -i`, their
//! installed binaries run as their units run them against the installed configs (a sample
//! lands and `vigil` shows it), upgraded to the next revision with edited conffiles (the
//! edits stay), removed (data and config stay), purged (nothing is left but the two system
//! users, which Debian policy leaves). Then the postinst of a minimal container, where
//! neither systemd-sysusers nor deb-systemd-helper exists, makes the users with useradd.
//!
//! It changes the machine, so it runs only as root where dpkg is, where systemd is not PID 1
//! (installing would start both services, the collector on the default port 7070), and
//! where vigil-agent and vigil-collector are not installed by someone else; otherwise it
//! says why it is skipped. One run at a time per machine (a lock file); the installed
//! daemons get free ports through the environment, never 7070.
//!
//! The packages come from the release build: package.sh rebuilds only what changed, and
//! packs again only packages older than their inputs.

#![allow(clippy::unwrap_used)]

mod contents;
mod installed;

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use vigil_tests::{stderr, stdout};

/// The two packages, in dpkg's order: the agent, then the collector with the CLI.
const PACKAGES: [&str; 2] = ["vigil-agent", "vigil-collector"];

/// Left while the packages are installed by this test: a run that died half-way is cleaned
/// up by the next one, while packages installed without it are left alone.
const MARKER: &str = "/var/tmp/vigil-packages-test.installed";

#[test]
fn debian_packages_install_run_upgrade_and_purge() {
    if let Some(reason) = why_skip() {
        eprintln!("packages: skipped: {reason}");
        return;
    }
    let _machine = MachineLock::take();
    clean_up_after_an_earlier_run();
    let work = tempfile::tempdir().unwrap();

    let [agent, collector] = build();
    contents::check(&agent, &collector);
    contents::lintian(&[&agent, &collector]);

    // Something else may keep files in /etc/vigil (certificates of `vigil ca init`): purge
    // then leaves the directory, as it should.
    let etc_vigil_before = Path::new("/etc/vigil").exists();
    std::fs::write(MARKER, "installed by the e2e test packages::\n").unwrap();
    let version = version_of(&agent);
    assert_eq!(version_of(&collector), version);
    dpkg(&[&agent, &collector], "-i");
    installed::check_installed(&version);
    installed::run_installed(work.path());

    // An upgrade to a higher revision keeps edited conffiles, the users and the data, and
    // replaces a conffile the admin left alone when the package's copy changed.
    let edited = installed::edit_conffiles();
    let users = installed::user_ids();
    let (agent2, next) = next_revision(&agent, work.path(), None);
    let rules = (
        "etc/vigil/rules/host.yml",
        "# Changed in the next revision.\n",
    );
    let (collector2, _) = next_revision(&collector, work.path(), Some(rules));
    dpkg(&[&agent2, &collector2], "-i");
    installed::check_installed(&next);
    installed::check_edits_kept(&edited);
    let host_yml = std::fs::read_to_string("/etc/vigil/rules/host.yml").unwrap();
    assert!(
        host_yml.ends_with(rules.1),
        "the unedited host.yml was not upgraded"
    );
    assert_eq!(
        installed::user_ids(),
        users,
        "the upgrade made the users anew"
    );
    assert!(
        Path::new("/var/lib/vigil/data").is_dir(),
        "the upgrade lost the store"
    );

    // Remove keeps data and configuration; purge deletes them.
    dpkg(&PACKAGES, "-r");
    installed::check_removed(&edited);
    dpkg(&PACKAGES, "--purge");
    installed::check_nothing_left(etc_vigil_before);
    assert_eq!(
        installed::user_ids(),
        users,
        "system users stay after a purge"
    );
    std::fs::remove_file(MARKER).unwrap();

    installed::postinst_without_systemd(&agent, &collector, work.path());
}

/// Why this machine cannot run the test, if it cannot.
fn why_skip() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return Some("Debian packages are Linux only".into());
    }
    if !has("dpkg") || !has("dpkg-deb") {
        return Some("dpkg is missing: the packages install on Debian and its derivatives".into());
    }
    let uid = run(Command::new("id").arg("-u"));
    if stdout(&uid).trim() != "0" {
        return Some("dpkg -i needs root: run the e2e tests as root, in a container".into());
    }
    if Path::new("/run/systemd/system").exists() {
        return Some(
            "systemd runs here: installing would start vigil-collector on 127.0.0.1:7070 and \
             vigil-agent as services; run this test in a container or VM without systemd"
                .into(),
        );
    }
    let installed: Vec<_> = PACKAGES.into_iter().filter(|p| is_installed(p)).collect();
    if !installed.is_empty() && !Path::new(MARKER).exists() {
        return Some(format!(
            "{} installed here, not by this test (which purges what it installs); remove \
             them first",
            installed.join(" and ")
        ));
    }
    None
}

/// Whether `program` is on the PATH.
fn has(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether dpkg knows `package` in any state but "not installed" (config files count).
fn is_installed(package: &str) -> bool {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${db:Status-Status}", package])
        .output()
        .unwrap();
    out.status.success() && !matches!(stdout(&out).as_str(), "" | "not-installed")
}

/// An earlier run that failed half-way left the packages installed (with the marker), and
/// every run leaves the two users; this starts from a machine without either, so that the
/// install makes the users again.
fn clean_up_after_an_earlier_run() {
    if PACKAGES.into_iter().any(is_installed) {
        eprintln!("packages: purging what an earlier run left installed");
        dpkg(&PACKAGES, "--purge");
    }
    let _ = std::fs::remove_file(MARKER);
    for user in ["vigil-agent", "vigil"] {
        if installed::passwd_entry(user).is_some() {
            run(Command::new("userdel").arg(user));
        }
    }
}

/// The target directory this test binary was built in (`<target>/<profile>/deps/e2e-…`):
/// package.sh builds into the same one.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_owned()
}

/// Runs `scripts/package.sh` and returns the agent's and the collector's package.
fn build() -> [PathBuf; 2] {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let started = Instant::now();
    // At low priority: when the sources changed, this is a release build, and the other
    // tests running meanwhile should keep their CPU.
    let out = Command::new("nice")
        .args(["-n", "15", "bash"])
        .arg(root.join("scripts/package.sh"))
        .current_dir(root)
        .env("CARGO_TARGET_DIR", target_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/package.sh failed:\n{}",
        stderr(&out)
    );
    let log = stderr(&out);
    let tail: Vec<_> = log.lines().rev().take(6).collect();
    eprintln!(
        "packages: scripts/package.sh took {:.0?}:\n{}",
        started.elapsed(),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
    let debs: Vec<PathBuf> = stdout(&out).lines().map(PathBuf::from).collect();
    let [agent, collector] = <[PathBuf; 2]>::try_from(debs.clone())
        .unwrap_or_else(|_| panic!("package.sh printed {debs:?}, not two packages"));
    for (deb, name) in [(&agent, "vigil-agent_"), (&collector, "vigil-collector_")] {
        let file = deb.file_name().unwrap().to_str().unwrap();
        assert!(file.starts_with(name) && deb.is_file(), "{}", deb.display());
    }
    [agent, collector]
}

/// The version of the package `deb`, e.g. "0.1.0-1".
fn version_of(deb: &Path) -> String {
    let out = run(Command::new("dpkg-deb").arg("-f").arg(deb).arg("Version"));
    stdout(&out).trim().to_owned()
}

/// The package `deb` as its next Debian revision (0.1.0-1 becomes 0.1.0-2), in `dir`, with
/// `append` (a path in the package, a line) appended to one of its files: an upgrade,
/// repacked rather than built (package.sh builds one revision at a time). Returns the
/// package and its version.
fn next_revision(deb: &Path, dir: &Path, append: Option<(&str, &str)>) -> (PathBuf, String) {
    let version = version_of(deb);
    let (upstream, revision) = version.rsplit_once('-').unwrap();
    let next = format!("{upstream}-{}", revision.parse::<u32>().unwrap() + 1);
    let name = deb
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .split('_')
        .next()
        .unwrap();
    let tree = dir.join(format!("{name}-next"));
    run(Command::new("dpkg-deb").arg("-R").arg(deb).arg(&tree));
    let control = tree.join("DEBIAN/control");
    let text = std::fs::read_to_string(&control).unwrap();
    let field = format!("Version: {version}\n");
    assert!(text.contains(&field), "{text}");
    std::fs::write(
        &control,
        text.replace(&field, &format!("Version: {next}\n")),
    )
    .unwrap();
    if let Some((path, line)) = append {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(tree.join(path))
            .unwrap();
        std::io::Write::write_all(&mut file, line.as_bytes()).unwrap();
    }
    let repacked = dir.join(format!("{name}-next.deb"));
    run(Command::new("dpkg-deb")
        .args(["-Znone", "--build"])
        .arg(&tree)
        .arg(&repacked));
    (repacked, next)
}

/// `dpkg ACTION PACKAGES…` (files for -i, names otherwise), waiting while another dpkg
/// (an apt-get of another test) holds the lock.
fn dpkg(packages: &[impl AsRef<OsStr>], action: &str) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let out = Command::new("dpkg")
            .arg(action)
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = format!("{}{}", stdout(&out), stderr(&out));
        if out.status.success() {
            eprintln!("packages: dpkg {action}:\n{text}");
            return;
        }
        assert!(
            text.contains("lock") && Instant::now() < deadline,
            "dpkg {action} failed:\n{text}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Runs `cmd`; panics with its output unless it succeeds.
fn run(cmd: &mut Command) -> Output {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    out
}

/// An exclusive lock on this machine's package test, held until dropped.
struct MachineLock {
    _file: File,
}

impl MachineLock {
    /// Waits for any other run of this test on the machine to finish.
    fn take() -> Self {
        let file = File::create("/run/lock/vigil-packages-test.lock")
            .or_else(|_| File::create("/tmp/vigil-packages-test.lock"))
            .unwrap();
        #[allow(unsafe_code)]
        // SAFETY: flock(2) takes a descriptor this File keeps open and a flag; no memory.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(locked, 0, "cannot lock the package test's lock file");
        Self { _file: file }
    }
}
