//! The packages once installed: files, users and state directories; the installed binaries
//! run as their units run them; conffiles across an upgrade; what remove keeps and purge
//! leaves; and the postinst of a minimal container.

use super::{PACKAGES, run};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use vigil_tests::{Running, free_port, stderr, stdout, wait_for};

/// Each package's user, its state directory and that directory's mode.
const USERS: [(&str, &str, u32); 2] = [
    ("vigil-agent", "/var/lib/vigil-agent", 0o700),
    ("vigil", "/var/lib/vigil", 0o750),
];

/// Files the packages install, with their modes (all root's).
const FILES: &[(&str, u32)] = &[
    ("/usr/bin/vigil-agent", 0o755),
    ("/usr/bin/vigil-collector", 0o755),
    ("/usr/bin/vigil", 0o755),
    ("/etc/vigil/agent.toml", 0o644),
    ("/etc/vigil/collector.toml", 0o644),
    ("/etc/vigil/rules/host.yml", 0o644),
    ("/lib/systemd/system/vigil-agent.service", 0o644),
    ("/lib/systemd/system/vigil-collector.service", 0o644),
    ("/usr/lib/sysusers.d/vigil-agent.conf", 0o644),
    ("/usr/lib/sysusers.d/vigil-collector.conf", 0o644),
];

/// The conffiles an upgrade must keep as edited.
const EDITED: [&str; 2] = ["/etc/vigil/agent.toml", "/etc/vigil/collector.toml"];

/// `getent passwd USER`, split at the colons.
pub fn passwd_entry(user: &str) -> Option<Vec<String>> {
    let out = Command::new("getent")
        .args(["passwd", user])
        .output()
        .unwrap();
    let line = stdout(&out);
    out.status
        .success()
        .then(|| line.trim().split(':').map(str::to_owned).collect())
}

/// The uid and gid of each package's user.
pub fn user_ids() -> Vec<(u32, u32)> {
    USERS
        .iter()
        .map(|(user, ..)| {
            let entry = passwd_entry(user).unwrap_or_else(|| panic!("no user {user}"));
            (entry[2].parse().unwrap(), entry[3].parse().unwrap())
        })
        .collect()
}

/// Both packages are installed at `version`, with their files, users and state directories,
/// the units enabled, and binaries that run.
pub fn check_installed(version: &str) {
    for package in PACKAGES {
        let out =
            run(Command::new("dpkg-query").args(["-W", "-f", "${Status} ${Version}", package]));
        assert_eq!(
            stdout(&out),
            format!("install ok installed {version}"),
            "{package}"
        );
    }
    for (path, mode) in FILES {
        let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!((meta.mode() & 0o7777, meta.uid()), (*mode, 0), "{path}");
    }
    check_users(
        "Vigil host agent",
        "Vigil collector",
        "the package's postinst (systemd-sysusers)",
    );
    for unit in ["vigil-agent.service", "vigil-collector.service"] {
        let link = Path::new("/etc/systemd/system/multi-user.target.wants").join(unit);
        let target = std::fs::read_link(&link)
            .unwrap_or_else(|e| panic!("{unit} is not enabled ({}: {e})", link.display()));
        assert!(
            target.ends_with(unit),
            "{} -> {}",
            link.display(),
            target.display()
        );
    }
    // The units as installed: syntax, and ExecStart= naming an executable.
    if super::has("systemd-analyze") {
        run(Command::new("systemd-analyze").args([
            "verify",
            "/lib/systemd/system/vigil-agent.service",
            "/lib/systemd/system/vigil-collector.service",
        ]));
    }
    let upstream = version.rsplit_once('-').unwrap().0;
    for binary in ["vigil-agent", "vigil-collector", "vigil"] {
        let out = run(Command::new(format!("/usr/bin/{binary}")).arg("--version"));
        assert!(
            stdout(&out).contains(upstream),
            "{binary}: {}",
            stdout(&out)
        );
    }
    run(Command::new("/usr/bin/vigil").args(["rules", "check", "/etc/vigil/rules/host.yml"]));
}

/// Both users exist as system users (with their groups, state directories as home and no
/// login shell), their state directories exist with their modes, owned by them.
fn check_users(agent_comment: &str, collector_comment: &str, made_by: &str) {
    for ((user, state, mode), comment) in USERS.iter().zip([agent_comment, collector_comment]) {
        let entry = passwd_entry(user).unwrap_or_else(|| panic!("{made_by} made no user {user}"));
        let uid: u32 = entry[2].parse().unwrap();
        assert!(
            (1..1000).contains(&uid),
            "{user} is not a system user: {entry:?}"
        );
        assert_eq!(
            (entry[4].as_str(), entry[5].as_str(), entry[6].as_str()),
            (comment, *state, "/usr/sbin/nologin"),
            "{user} made by {made_by}"
        );
        run(Command::new("getent").args(["group", user]));
        let meta = std::fs::metadata(state).unwrap_or_else(|e| panic!("{state}: {e}"));
        assert!(meta.is_dir(), "{state}");
        assert_eq!(
            (meta.mode() & 0o7777, meta.uid(), meta.gid()),
            (*mode, uid, entry[3].parse().unwrap()),
            "{state} made by {made_by}"
        );
    }
}

/// What a unit file says about running its service.
struct Unit {
    exec_start: Vec<String>,
    user: String,
    working_directory: Option<String>,
    state_directory: Option<String>,
}

impl Unit {
    /// Reads the installed unit `name`.
    fn read(name: &str) -> Self {
        let path = Path::new("/lib/systemd/system").join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let value = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(str::to_owned)
        };
        let exec_start = value("ExecStart").expect("an ExecStart= line");
        Self {
            exec_start: exec_start.split_whitespace().map(str::to_owned).collect(),
            user: value("User").expect("a User= line"),
            working_directory: value("WorkingDirectory"),
            state_directory: value("StateDirectory"),
        }
    }

    /// Starts the service's command as systemd would, but for its sandbox: as its user, in
    /// its working directory, with a clean environment plus `env`.
    fn start(&self, env: &[(&str, &str)], log: PathBuf) -> Running {
        let entry = passwd_entry(&self.user).unwrap();
        let mut cmd = Command::new(&self.exec_start[0]);
        cmd.args(&self.exec_start[1..])
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("USER", &self.user)
            .env("HOME", &entry[5])
            .current_dir(self.working_directory.as_deref().unwrap_or("/"))
            .uid(entry[2].parse().unwrap())
            .gid(entry[3].parse().unwrap());
        if let Some(state) = &self.state_directory {
            cmd.env("STATE_DIRECTORY", format!("/var/lib/{state}"));
        }
        cmd.envs(env.iter().copied());
        Running::spawn(cmd, log)
    }
}

/// The installed collector and agent, started from their units' command lines (on a free
/// port instead of 7070), with the installed configs: a sample lands, and the installed
/// `vigil` shows it. Both stop cleanly on SIGTERM.
pub fn run_installed(work: &Path) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let url = format!("http://{listen}");
    let mut collector = Unit::read("vigil-collector.service").start(
        &[("VIGIL_COLLECTOR__SERVER__GRPC_LISTEN", &listen)],
        work.join("installed-collector.log"),
    );
    wait_for(
        Duration::from_secs(30),
        "the installed collector to listen",
        || {
            assert!(
                collector.alive(),
                "the installed collector exited:\n{}",
                collector.log()
            );
            std::net::TcpStream::connect(&listen).ok()
        },
    );

    let host = format!("package-test-{}", std::process::id());
    let mut agent = Unit::read("vigil-agent.service").start(
        &[
            ("VIGIL_AGENT__COLLECTOR", &url),
            ("VIGIL_AGENT__HOSTNAME", &host),
            ("VIGIL_AGENT__INTERVAL", "1s"),
        ],
        work.join("installed-agent.log"),
    );
    let vigil = |args: &[&str]| {
        let out = Command::new("/usr/bin/vigil")
            .args(["--collector", &url])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "vigil {args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let query = format!("node_load1{{host=\"{host}\"}}");
    wait_for(
        Duration::from_secs(60),
        "a sample from the installed agent",
        || {
            assert!(
                agent.alive(),
                "the installed agent exited:\n{}",
                agent.log()
            );
            let result: serde_json::Value =
                serde_json::from_str(&vigil(&["query", &query, "--output", "json"])).unwrap();
            (!result["result"].as_array()?.is_empty()).then_some(())
        },
    );
    eprintln!("packages: vigil hosts:\n{}", vigil(&["hosts"]));

    for (path, user) in [
        ("/var/lib/vigil/data", "vigil"),
        ("/var/lib/vigil-agent/spool", "vigil-agent"),
    ] {
        let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let uid: u32 = passwd_entry(user).unwrap()[2].parse().unwrap();
        assert_eq!(meta.uid(), uid, "{path} is not {user}'s");
    }
    for (name, process) in [("agent", &mut agent), ("collector", &mut collector)] {
        let status = process.terminate();
        assert!(
            status.success(),
            "the installed {name} stopped with {status}:\n{}",
            process.log()
        );
    }
}

/// Appends a line to each conffile of [`EDITED`]; returns the files' new contents.
pub fn edit_conffiles() -> Vec<(&'static str, String)> {
    EDITED
        .iter()
        .map(|path| {
            let mut text = std::fs::read_to_string(path).unwrap();
            text.push_str("# Edited by the package test: kept across upgrades.\n");
            std::fs::write(path, &text).unwrap();
            (*path, text)
        })
        .collect()
}

/// The edited conffiles are as edited, and dpkg left no copy of its own beside them.
pub fn check_edits_kept(edited: &[(&str, String)]) {
    for (path, text) in edited {
        assert_eq!(
            &std::fs::read_to_string(path).unwrap(),
            text,
            "{path} lost its edit"
        );
    }
    let strays: Vec<_> = walk(Path::new("/etc/vigil"))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".dpkg-"))
        .collect();
    assert!(strays.is_empty(), "dpkg left {strays:?}");
}

/// After `dpkg -r`: the configuration (edits included) and the data stay, the rest is gone.
pub fn check_removed(edited: &[(&str, String)]) {
    for package in PACKAGES {
        let out = run(Command::new("dpkg-query").args(["-W", "-f", "${Status}", package]));
        assert_eq!(stdout(&out), "deinstall ok config-files", "{package}");
    }
    check_edits_kept(edited);
    for kept in [
        "/etc/vigil/rules/host.yml",
        "/var/lib/vigil/data",
        "/var/lib/vigil-agent/spool",
    ] {
        assert!(Path::new(kept).exists(), "remove deleted {kept}");
    }
    for (path, _) in FILES.iter().filter(|(p, _)| !p.starts_with("/etc/")) {
        assert!(!exists(path), "remove left {path}");
    }
}

/// After `dpkg --purge`: no file of the packages, no state, no unit links, no dpkg record;
/// no /etc/vigil either, unless it was there before the packages (`etc_vigil_before`).
pub fn check_nothing_left(etc_vigil_before: bool) {
    for package in PACKAGES {
        assert!(!super::is_installed(package), "dpkg still knows {package}");
    }
    for (path, _) in FILES {
        assert!(!exists(path), "purge left {path}");
    }
    if !etc_vigil_before {
        assert!(
            !exists("/etc/vigil"),
            "purge left /etc/vigil: {:?}",
            walk(Path::new("/etc/vigil"))
        );
    }
    for path in [
        "/var/lib/vigil",
        "/var/lib/vigil-agent",
        "/usr/share/doc/vigil-agent",
        "/usr/share/doc/vigil-collector",
    ] {
        assert!(
            !exists(path),
            "purge left {path}: {:?}",
            walk(Path::new(path))
        );
    }
    for dir in [
        "/etc/systemd/system",
        "/var/lib/systemd/deb-systemd-helper-enabled",
        "/var/lib/systemd/deb-systemd-helper-masked",
    ] {
        let left: Vec<_> = walk(Path::new(dir))
            .into_iter()
            .filter(|p| p.to_string_lossy().contains("vigil"))
            .collect();
        assert!(left.is_empty(), "purge left {left:?}");
    }
}

/// The postinst scripts where neither systemd-sysusers nor deb-systemd-helper exists (a
/// minimal container): useradd makes the same users, and the state directories are made.
/// The users are deleted first (a purge leaves them); the state directories afterwards.
pub fn postinst_without_systemd(agent: &Path, collector: &Path, work: &Path) {
    for (user, ..) in USERS {
        run(Command::new("userdel").arg(user));
    }
    // The commands the scripts need, and nothing else.
    let bin = work.join("minimal-bin");
    std::fs::create_dir(&bin).unwrap();
    for tool in ["getent", "useradd", "install"] {
        let found = run(Command::new("sh").args(["-c", &format!("command -v {tool}")]));
        std::os::unix::fs::symlink(stdout(&found).trim(), bin.join(tool)).unwrap();
    }
    for (deb, name) in [(agent, "agent"), (collector, "collector")] {
        let control = work.join(format!("{name}-control"));
        run(Command::new("dpkg-deb").arg("-e").arg(deb).arg(&control));
        let out = run(Command::new("/bin/sh")
            .arg(control.join("postinst"))
            .arg("configure")
            .env_clear()
            .env("PATH", &bin));
        assert_eq!(
            stdout(&out) + &stderr(&out),
            "",
            "the {name}'s postinst said something"
        );
    }
    check_users("Vigil host agent", "Vigil collector", "useradd");
    for (_, state, _) in USERS {
        std::fs::remove_dir_all(state).unwrap();
    }
}

/// Whether `path` exists, as a dangling symbolic link too.
fn exists(path: &str) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Every path under `dir` (none when it is missing), not following symbolic links.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push(path.clone());
            }
            found.push(path);
        }
    }
    found
}
