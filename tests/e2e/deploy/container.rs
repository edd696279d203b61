//! `deploy/container`: build.sh builds both images from scratch out of the release
//! binaries; their configs say uid 65532, the entrypoints, ports and volumes; in the image
//! itself only the state directory belongs to that user, there is no shell, and the
//! binaries run there as that user (chroot, no container runtime needed). Then, where a
//! container can run here, `running` runs the two as they are deployed.
//!
//! Runs where podman is installed and the release binaries are built (`cargo build -p
//! vigil-agent --profile agent`, `cargo build --release -p vigil-collector -p vigil-cli`);
//! otherwise it says why it is skipped. Mounting an image and giving files to uid 65532
//! need root: without it only the images' configs are checked. Containers get unique names
//! and loopback ports from `free_port`, never 7070 or 9090.

mod running;

use super::{repo, run_ok};
use serde_json::Value;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use vigil_tests::{stderr, stdout};

/// The images' user and group.
const UID: u32 = 65532;

/// The cargo target directory this test binary was built in (`target/debug/deps/e2e-…`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_owned()
}

fn podman(args: &[&str]) -> Output {
    Command::new("podman").args(args).output().unwrap()
}

fn why_skip(target: &Path) -> Option<String> {
    if Command::new("podman").arg("--version").output().is_err() {
        return Some("podman is not installed (apt-get install podman)".into());
    }
    let missing: Vec<String> = [
        "agent/vigil-agent",
        "release/vigil-collector",
        "release/vigil",
    ]
    .iter()
    .map(|b| target.join(b))
    .filter(|b| !b.exists())
    .map(|b| b.display().to_string())
    .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "the release binaries are not built ({}): cargo build -p vigil-agent --profile \
             agent && cargo build --release -p vigil-collector -p vigil-cli",
            missing.join(", ")
        )
    })
}

#[test]
fn images_build_from_scratch_run_as_non_root_and_stream_over_mtls() {
    let target = target_dir();
    if let Some(reason) = why_skip(&target) {
        eprintln!("container: skipped: {reason}");
        return;
    }
    let built = run_ok(
        Command::new(repo().join("deploy/container/build.sh")).env("CARGO_TARGET_DIR", &target),
    );
    eprintln!("{}", stdout(&built));
    let version = stdout(&run_ok(
        Command::new(target.join("agent/vigil-agent")).arg("--version"),
    ))
    .trim()
    .trim_start_matches("vigil-agent ")
    .to_owned();
    let agent = format!("localhost/vigil-agent:{version}");
    let collector = format!("localhost/vigil-collector:{version}");

    image_config(
        &agent,
        &["/usr/bin/vigil-agent", "--config", "/etc/vigil/agent.toml"],
        &[],
        "/var/lib/vigil-agent",
    );
    image_config(
        &collector,
        &[
            "/usr/bin/vigil-collector",
            "--config",
            "/etc/vigil/collector.toml",
        ],
        &["7070/tcp", "9090/tcp"],
        "/var/lib/vigil",
    );
    if !running_as_root() {
        eprintln!("container: the images' files not checked and no container run: not root");
        return;
    }
    image_files(
        &agent,
        "/var/lib/vigil-agent",
        &["/usr/bin/vigil-agent", "/usr/bin/chown"],
        &version,
    );
    image_files(
        &collector,
        "/var/lib/vigil",
        &["/usr/bin/vigil-collector", "/usr/bin/vigil"],
        &version,
    );
    match running::runner(&agent, &version) {
        Ok(flags) => running::collector_and_agent(&agent, &collector, &flags),
        Err(why) => eprintln!("container: no container can run here, so none was run:\n{why}"),
    }
}

/// Whether this process runs as root (`/proc/self` belongs to the effective user).
fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The image's config: the user, the entrypoint, the ports, the one volume, no base layer.
fn image_config(image: &str, entrypoint: &[&str], ports: &[&str], volume: &str) {
    let out = podman(&["image", "inspect", image]);
    assert!(out.status.success(), "{}", stderr(&out));
    let inspect: Value = serde_json::from_slice(&out.stdout).unwrap();
    let config = &inspect[0]["Config"];
    eprintln!("container: {image}: {config}");
    assert_eq!(config["User"], "65532:65532", "{image}");
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(entrypoint),
        "{image}"
    );
    let exposed: Vec<&str> = config["ExposedPorts"]
        .as_object()
        .map_or(vec![], |p| p.keys().map(String::as_str).collect());
    assert_eq!(exposed, ports, "{image}");
    let volumes: Vec<&str> = config["Volumes"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(volumes, [volume], "{image}");
    assert_eq!(config["WorkingDir"], volume, "{image}");
    // FROM scratch, built without intermediate layers: one layer, no base under it.
    assert_eq!(
        inspect[0]["RootFS"]["Layers"].as_array().unwrap().len(),
        1,
        "{image}"
    );
}

/// The image's files, mounted: no shell; uid 65532 owns the state directory (0700) and
/// nothing else; each of `binaries` runs there as uid 65532 and prints `version`.
fn image_files(image: &str, state: &str, binaries: &[&str], version: &str) {
    let out = podman(&["image", "mount", image]);
    assert!(out.status.success(), "{}", stderr(&out));
    let root = PathBuf::from(stdout(&out).trim());
    let checked = std::panic::catch_unwind(|| {
        for shell in ["bin/sh", "usr/bin/sh", "bin/bash", "bin/busybox"] {
            assert!(!root.join(shell).exists(), "{image} has {shell}");
        }
        let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
        assert!(
            passwd.contains(&format!("nonroot:x:{UID}:{UID}:")),
            "{passwd}"
        );
        let mut owned = Vec::new();
        walk(&root, &mut |path, meta| {
            if meta.uid() == UID || meta.gid() == UID {
                owned.push(Path::new("/").join(path.strip_prefix(&root).unwrap()));
            }
        });
        assert_eq!(
            owned,
            [PathBuf::from(state)],
            "{image}: what uid {UID} owns"
        );
        let mode = std::fs::metadata(root.join(&state[1..]))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{image}: {state}");
        for binary in binaries {
            let out = run_ok(
                Command::new("chroot")
                    .arg(format!("--userspec={UID}:{UID}"))
                    .arg(&root)
                    .args([binary, "--version"]),
            );
            if !binary.ends_with("chown") {
                assert!(
                    stdout(&out).ends_with(&format!(" {version}\n")),
                    "{binary}: {}",
                    stdout(&out)
                );
            }
        }
    });
    podman(&["image", "unmount", image]);
    if let Err(panic) = checked {
        std::panic::resume_unwind(panic);
    }
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path, &std::fs::Metadata)) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        f(&path, &meta);
        if meta.is_dir() {
            walk(&path, f);
        }
    }
}
