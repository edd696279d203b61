//! The images running as they are deployed: a collector container with the PKI of `vigil
//! ca init` and the token files mounted read-only as Kubernetes mounts its Secrets; the
//! agent's state directory made root's, as the kubelet makes it, and handed to uid 65532 by
//! the agent image's chown run as the DaemonSet's init container; an agent container with
//! the host's namespaces and trees that joins with a token and a pinned fingerprint. Every
//! container with a read-only root filesystem, no capabilities (but CHOWN for the chown)
//! and no privilege escalation.

use super::super::{ca_init, http_get, mem_total_bytes, run_ok};
use super::{UID, podman};
use serde_json::Value;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use vigil_tests::{free_port, stderr, stdout, wait_for};

/// The `podman run` flags a container runs with here: none where podman works as it
/// comes. Some machines need more: podman asks for open-file and process limits above
/// this process's hard limits (refused without CAP_SYS_RESOURCE), and crun refuses cgroups
/// in hybrid mode with a controller on the v2 hierarchy, where runc (Debian's runc) runs.
/// The error of every try when none works.
pub fn runner(image: &str, version: &str) -> Result<Vec<String>, String> {
    let limits = words(&format!(
        "--ulimit nofile={0}:{0} --ulimit nproc=4096:4096",
        hard_open_files()
    ));
    let mut tries = vec![vec![], limits.clone()];
    if Path::new("/usr/sbin/runc").exists() || Path::new("/usr/bin/runc").exists() {
        tries.push([words("--runtime runc"), limits].concat());
    }
    let mut errors = String::new();
    for flags in tries {
        let mut cmd = Command::new("podman");
        cmd.args(["run", "--rm"]).args(&flags);
        let out = cmd.args([image, "--version"]).output().unwrap();
        if out.status.success() && stdout(&out).contains(version) {
            eprintln!("container: podman run {}", flags.join(" "));
            return Ok(flags);
        }
        errors.push_str(&format!(
            "  podman run {}: {}",
            flags.join(" "),
            stderr(&out)
        ));
    }
    Err(errors)
}

/// `text` split at spaces: a command line with no quoting, written as one string.
fn words(text: &str) -> Vec<String> {
    text.split(' ').map(str::to_owned).collect()
}

fn hard_open_files() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(4).unwrap().parse().unwrap()
}

/// Containers of this test, removed with their volumes however it ends.
struct Containers(Vec<String>);

impl Drop for Containers {
    fn drop(&mut self) {
        for name in &self.0 {
            podman(&["rm", "--force", "--volumes", "--time", "0", name]);
        }
    }
}

/// `podman run FLAGS ARGS`, which must succeed.
fn podman_run(flags: &[String], args: &str) {
    run_ok(
        Command::new("podman")
            .arg("run")
            .args(flags)
            .args(words(args)),
    );
}

/// Everything container `name` logged.
fn logs(name: &str) -> String {
    let out = podman(&["logs", name]);
    format!("{}{}", stdout(&out), stderr(&out))
}

/// Panics with its log unless container `name` is running.
fn assert_running(name: &str) {
    let state = podman(&["inspect", "--format", "{{.State.Running}}", name]);
    assert_eq!(
        stdout(&state).trim(),
        "true",
        "{name} exited:\n{}",
        logs(name)
    );
}

/// The real, effective, saved and file-system user ids of container `name`'s main process.
fn uids(name: &str) -> String {
    let pid = podman(&["inspect", "--format", "{{.State.Pid}}", name]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", stdout(&pid).trim())).unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace()
        .skip(1)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Makes `path` what a Secret volume with `fsGroup: 65532` is: root's, readable by the
/// group, 0440 files in a 0750 directory.
fn as_a_secret_volume(path: &Path) {
    for entry in std::fs::read_dir(path).unwrap() {
        let file = entry.unwrap().path();
        std::os::unix::fs::chown(&file, Some(0), Some(UID)).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o440)).unwrap();
    }
    std::os::unix::fs::chown(path, Some(0), Some(UID)).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o750)).unwrap();
}

/// A collector container and an agent container: the agent joins, and a sample of the
/// host's lands over its certificate; both stop cleanly.
pub fn collector_and_agent(agent_image: &str, collector_image: &str, flags: &[String]) {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().display();
    let id = std::process::id();
    let [collector, chown, agent] =
        ["collector", "chown", "agent"].map(|c| format!("vigil-e2e-{id}-{c}"));
    let _containers = Containers(vec![agent.clone(), chown.clone(), collector.clone()]);
    let hardened = "--read-only --cap-drop ALL --security-opt no-new-privileges";

    let pki = work.path().join("pki");
    let fingerprint = ca_init(&pki);
    as_a_secret_volume(&pki);
    let tokens = work.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    std::fs::write(tokens.join("admin"), "container-test-admin-token-0123\n").unwrap();
    let grafana = "container-test-grafana-token-0123";
    std::fs::write(tokens.join("grafana"), format!("{grafana}\n")).unwrap();
    as_a_secret_volume(&tokens);
    let (grpc, http) = (free_port(), free_port());
    podman_run(
        flags,
        &format!(
            "-d --name {collector} --network host {hardened} \
             -v {dir}/pki:/etc/vigil/pki:ro -v {dir}/tokens:/etc/vigil/tokens:ro \
             {collector_image} --grpc-listen 127.0.0.1:{grpc} --http-listen 127.0.0.1:{http}"
        ),
    );
    wait_for(
        Duration::from_secs(60),
        "the collector container to be ready",
        || {
            assert_running(&collector);
            http_get(http, "/-/ready", None).filter(|(status, _)| *status == 200)
        },
    );
    assert_eq!(uids(&collector), "65532 65532 65532 65532");

    // A join token, from the CLI in the collector's container (as `kubectl exec` would).
    let out = run_ok(Command::new("podman").args(words(&format!(
        "exec {collector} vigil --collector https://localhost:{grpc} \
         --token-file /etc/vigil/tokens/admin --output json \
         enroll create --hosts e2e-node-* --ttl 1h"
    ))));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = created["token"].as_str().unwrap();

    // The state directory as the kubelet makes it, root's, handed over as the init
    // container does it: root with CAP_CHOWN only.
    let state = work.path().join("state");
    std::fs::create_dir(&state).unwrap();
    podman_run(
        flags,
        &format!(
            "--rm --name {chown} --user 0:0 {hardened} --cap-add CHOWN \
             -v {dir}/state:/var/lib/vigil-agent --entrypoint /usr/bin/chown \
             {agent_image} 65532:65532 /var/lib/vigil-agent"
        ),
    );
    assert_eq!(std::fs::metadata(&state).unwrap().uid(), UID);

    let host = format!("e2e-node-{id}");
    podman_run(
        flags,
        &format!(
            "-d --name {agent} --network host --pid host {hardened} \
             -v /proc:/host/proc:ro -v /sys:/host/sys:ro -v /:/host/root:ro,rslave \
             -v {dir}/state:/var/lib/vigil-agent \
             -e VIGIL_AGENT__HOSTNAME={host} \
             -e VIGIL_AGENT__COLLECTOR=https://localhost:{grpc} \
             -e VIGIL_AGENT__ENROLL__TOKEN={token} \
             -e VIGIL_AGENT__ENROLL__CA_FINGERPRINT={fingerprint} \
             {agent_image} --identity-dir /var/lib/vigil-agent/identity \
             --spool-dir /var/lib/vigil-agent/spool --interval 1s"
        ),
    );

    // The agent has no token of its own (a join token is not a bearer token), and the
    // collector asks every caller for one or for a certificate of its CA: a sample of
    // this host can only arrive over the certificate the agent joined for.
    let query = format!("/api/v1/query?query=node_memory_MemTotal_bytes%7Bhost%3D%22{host}%22%7D");
    let value = wait_for(
        Duration::from_secs(60),
        "a sample of the agent container",
        || {
            assert_running(&agent);
            let (status, body) = http_get(http, &query, Some(grafana))?;
            assert_eq!(status, 200, "{body}");
            let answer: Value = serde_json::from_str(&body).unwrap();
            answer["data"]["result"][0]["value"][1]
                .as_str()
                .map(str::to_owned)
        },
    );
    assert_eq!(
        value.parse::<f64>().unwrap(),
        mem_total_bytes(),
        "the host's memory"
    );
    let collector_log = logs(&collector);
    assert!(
        collector_log.contains(&format!("cert:{host}")),
        "the stream's caller is the certificate:\n{collector_log}"
    );
    assert_eq!(uids(&agent), "65532 65532 65532 65532");
    let identity = state.join("identity");
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&identity), 0o700);
    for (file, file_mode) in [
        ("key.pem", Some(0o600)),
        ("cert.pem", Some(0o600)),
        ("ca.pem", None),
    ] {
        let path = identity.join(file);
        assert_eq!(std::fs::metadata(&path).unwrap().uid(), UID, "{file}");
        if let Some(expected) = file_mode {
            assert_eq!(mode(&path), expected, "{file}");
        }
    }
    eprintln!("container: agent log:\n{}", logs(&agent));

    for name in [&agent, &collector] {
        run_ok(Command::new("podman").args(["stop", "--time", "30", name]));
        let code = podman(&["inspect", "--format", "{{.State.ExitCode}}", name]);
        assert_eq!(stdout(&code).trim(), "0", "{name}:\n{}", logs(name));
    }
    eprintln!("container: collector log:\n{}", logs(&collector));
}
