//! What the two packages hold before they are installed: their files and modes, control
//! fields, conffiles and maintainer scripts (read with dpkg-deb), and lintian's verdict.

use super::run;
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use vigil_tests::stdout;

/// Every file of vigil-agent, with its mode.
const AGENT_FILES: &[(&str, &str)] = &[
    ("-rwxr-xr-x", "./usr/bin/vigil-agent"),
    ("-rw-r--r--", "./etc/vigil/agent.toml"),
    ("-rw-r--r--", "./lib/systemd/system/vigil-agent.service"),
    ("-rw-r--r--", "./usr/lib/sysusers.d/vigil-agent.conf"),
    (
        "-rw-r--r--",
        "./usr/share/doc/vigil-agent/changelog.Debian.gz",
    ),
    ("-rw-r--r--", "./usr/share/doc/vigil-agent/copyright"),
    (
        "-rw-r--r--",
        "./usr/share/doc/vigil-agent/examples/agent.toml",
    ),
];

/// Every file of vigil-collector, with its mode.
const COLLECTOR_FILES: &[(&str, &str)] = &[
    ("-rwxr-xr-x", "./usr/bin/vigil-collector"),
    ("-rwxr-xr-x", "./usr/bin/vigil"),
    ("-rw-r--r--", "./etc/vigil/collector.toml"),
    ("-rw-r--r--", "./etc/vigil/rules/host.yml"),
    ("-rw-r--r--", "./lib/systemd/system/vigil-collector.service"),
    ("-rw-r--r--", "./usr/lib/sysusers.d/vigil-collector.conf"),
    (
        "-rw-r--r--",
        "./usr/share/doc/vigil-collector/changelog.Debian.gz",
    ),
    ("-rw-r--r--", "./usr/share/doc/vigil-collector/copyright"),
    (
        "-rw-r--r--",
        "./usr/share/doc/vigil-collector/examples/collector.toml",
    ),
    (
        "-rw-r--r--",
        "./usr/share/lintian/overrides/vigil-collector",
    ),
];

/// Checks both packages' files, control fields, conffiles and maintainer scripts.
pub fn check(agent: &Path, collector: &Path) {
    check_package(
        agent,
        "vigil-agent",
        "vigil-agent",
        AGENT_FILES,
        &["/etc/vigil/agent.toml"],
    );
    check_package(
        collector,
        "vigil-collector",
        "vigil",
        COLLECTOR_FILES,
        &["/etc/vigil/collector.toml", "/etc/vigil/rules/host.yml"],
    );
}

/// One package: exactly `files` (root's, with their modes), the control fields, exactly
/// `conffiles`, and maintainer scripts that make `user`, enable the unit, stop it on
/// removal and delete the state on purge.
fn check_package(
    deb: &Path,
    package: &str,
    user: &str,
    files: &[(&str, &str)],
    conffiles: &[&str],
) {
    let listing = stdout(&run(Command::new("dpkg-deb").arg("-c").arg(deb)));
    let mut found = BTreeSet::new();
    for line in listing.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [mode, owner, _size, _date, _time, path] = fields[..] else {
            panic!("{package}: unexpected dpkg-deb -c line {line:?}");
        };
        assert_eq!(owner, "0/0", "{package}: {path} is not root's");
        if mode.starts_with('d') {
            assert_eq!(mode, "drwxr-xr-x", "{package}: directory {path}");
        } else {
            found.insert((mode, path));
        }
    }
    let expected: BTreeSet<_> = files.iter().copied().collect();
    assert_eq!(found, expected, "{package}: files and modes");

    let field = |name: &str| {
        let out = run(Command::new("dpkg-deb").arg("-f").arg(deb).arg(name));
        stdout(&out).trim().to_owned()
    };
    assert_eq!(field("Package"), package);
    assert_eq!(field("Section"), "admin");
    let depends = field("Depends");
    assert!(
        depends.contains("libc6") && depends.contains("passwd"),
        "{package}: Depends: {depends}"
    );
    assert!(
        !field("Description").is_empty(),
        "{package}: no description"
    );

    let listed = stdout(&run(Command::new("dpkg-deb")
        .arg("-I")
        .arg(deb)
        .arg("conffiles")));
    let listed: Vec<&str> = listed.lines().collect();
    assert_eq!(listed, conffiles, "{package}: conffiles");

    let control = tempfile::tempdir().unwrap();
    run(Command::new("dpkg-deb")
        .arg("-e")
        .arg(deb)
        .arg(control.path()));
    let script = |name: &str| {
        let path = control.path().join(name);
        let mode = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{package}: no {name}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755, "{package}: {name} mode");
        run(Command::new("sh").arg("-n").arg(&path));
        std::fs::read_to_string(&path).unwrap()
    };
    let unit = format!("{package}.service");
    let state = if user == "vigil" {
        "/var/lib/vigil"
    } else {
        "/var/lib/vigil-agent"
    };
    let postinst = script("postinst");
    for needle in [
        format!("systemd-sysusers {package}.conf"),
        "useradd --system".into(),
        format!("user={user}\n"),
        format!("state={state}\n"),
        format!("unit={unit}\n"),
        "deb-systemd-helper enable".into(),
        "deb-systemd-invoke \"$action\"".into(),
    ] {
        assert!(
            postinst.contains(&needle),
            "{package}: postinst lacks {needle:?}"
        );
    }
    assert!(
        script("prerm").contains(&format!("deb-systemd-invoke stop {unit}")),
        "{package}: prerm does not stop the unit"
    );
    let postrm = script("postrm");
    for needle in [
        format!("rm -rf {state}\n"),
        "deb-systemd-helper purge".into(),
        format!("unit={unit}\n"),
    ] {
        assert!(
            postrm.contains(&needle),
            "{package}: postrm lacks {needle:?}"
        );
    }
    assert!(
        !control.path().join("preinst").exists(),
        "{package}: unexpected preinst"
    );
}

/// lintian finds no error in the packages (its warnings are printed).
pub fn lintian(debs: &[&Path]) {
    let out = Command::new("lintian")
        .args(["--fail-on", "error"])
        .args(debs)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run lintian ({e}): install it (scripts/setup.sh does: apt-get install lintian)")
        });
    let report = stdout(&out);
    eprintln!("packages: lintian:\n{report}");
    let errors: Vec<&str> = report.lines().filter(|l| l.starts_with("E:")).collect();
    assert!(
        out.status.success() && errors.is_empty(),
        "lintian found errors:\n{report}{}",
        vigil_tests::stderr(&out)
    );
}
