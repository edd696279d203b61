//! `deploy/kubernetes`: every manifest against Kubernetes' OpenAPI schemas (strict, no
//! unknown field) for fixed Kubernetes versions; kustomize's output too, where kubectl is
//! installed; the objects' references and the issue's promises
//! (`tests/deploy/check_manifests.py`); the collector config of the ConfigMap run by the
//! real collector, on files laid out as the pod mounts them; the agent's DaemonSet
//! environment and arguments loaded by the real agent.
//!
//! kubernetes-validate comes from PyPI and works offline (its schemas are in the package);
//! it is installed with pip when missing.

use super::{ca_init, http_get, repo, run_ok};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use vigil_tests::{Running, bin, free_port, stderr, stdout, wait_for};

/// The Kubernetes versions the manifests are validated against: the oldest one they are
/// meant for, and a recent one. Fixed, so the answer does not change with the package.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.30.0", "1.34.0"];

/// The manifests kustomization.yaml lists, and the Secrets' example.
const MANIFESTS: [&str; 6] = [
    "namespace.yaml",
    "collector-config.yaml",
    "collector-services.yaml",
    "collector.yaml",
    "agent.yaml",
    "secrets.example.yaml",
];

fn manifest_dir() -> PathBuf {
    repo().join("deploy/kubernetes")
}

/// The command that runs kubernetes-validate, installed with pip if it is missing.
fn kubernetes_validate() -> Command {
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _one = INSTALLING.lock().unwrap_or_else(PoisonError::into_inner);
    let present = || {
        Command::new("python3")
            .args(["-m", "kubernetes_validate", "--version"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !present() {
        eprintln!("kubernetes: installing kubernetes-validate from PyPI (pip)");
        let pip = |extra: &[&str]| {
            Command::new("python3")
                .args(["-m", "pip", "install", "--quiet"])
                .args(extra)
                .arg("kubernetes-validate")
                .status()
                .is_ok_and(|s| s.success())
        };
        // Debian's Python refuses system-wide installs unless told (PEP 668).
        let installed = pip(&[]) || pip(&["--break-system-packages"]);
        assert!(
            installed && present(),
            "could not install kubernetes-validate: `python3 -m pip install kubernetes-validate`"
        );
    }
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "kubernetes_validate"]);
    cmd
}

/// Validates `files` strictly against every version of [`KUBERNETES_VERSIONS`]; returns
/// the validator's report.
fn validate(files: &[PathBuf]) -> String {
    let version = run_ok(kubernetes_validate().arg("--version"));
    let mut cmd = kubernetes_validate();
    cmd.arg("--strict");
    for v in KUBERNETES_VERSIONS {
        cmd.args(["-k", v]);
    }
    let out = cmd.args(files).output().unwrap();
    let report = format!("{}{}", stdout(&out), stderr(&out));
    eprintln!(
        "kubernetes-validate {}, --strict, Kubernetes {}:\n{report}",
        stdout(&version).trim(),
        KUBERNETES_VERSIONS.join(" and ")
    );
    assert!(out.status.success(), "{report}");
    assert!(
        !report.contains("ERROR") && !report.contains("WARN"),
        "{report}"
    );
    report
}

#[test]
fn every_manifest_passes_the_kubernetes_schemas() {
    let files: Vec<PathBuf> = MANIFESTS.iter().map(|f| manifest_dir().join(f)).collect();
    let report = validate(&files);
    // Every object, once per version: 2 ConfigMaps, 2 Services, 3 Secrets and one each of
    // the rest.
    for (file, objects) in [
        ("namespace.yaml", 1),
        ("collector-config.yaml", 2),
        ("collector-services.yaml", 2),
        ("collector.yaml", 1),
        ("agent.yaml", 1),
        ("secrets.example.yaml", 3),
    ] {
        let passed = report
            .lines()
            .filter(|l| l.contains(&format!("{file} passed")))
            .count();
        assert_eq!(
            passed,
            objects * KUBERNETES_VERSIONS.len(),
            "{file}:\n{report}"
        );
    }
}

#[test]
fn kustomize_builds_what_the_schemas_accept() {
    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        eprintln!("kubernetes: kustomize build skipped: kubectl is not installed");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let built = run_ok(Command::new("kubectl").arg("kustomize").arg(manifest_dir()));
    let file = work.path().join("built.yaml");
    std::fs::write(&file, &built.stdout).unwrap();
    let report = validate(&[file]);
    for object in [
        "namespace/vigil",
        "configmap/vigil-collector-config",
        "configmap/vigil-collector-rules",
        "service/vigil-collector",
        "service/vigil-collector-headless",
        "statefulset/vigil-collector",
        "daemonset/vigil-agent",
    ] {
        assert!(
            report.contains(&format!("{object} against")),
            "{object}:\n{report}"
        );
    }
    let text = stdout(&built);
    assert!(
        !text.contains("kind: Secret"),
        "Secrets are made from files, not applied:\n{text}"
    );
    for image in [
        "localhost/vigil-agent:0.1.0",
        "localhost/vigil-collector:0.1.0",
    ] {
        assert!(
            text.contains(&format!("image: {image}")),
            "{image}:\n{text}"
        );
    }
}

/// Runs `tests/deploy/check_manifests.py` over deploy/kubernetes, writing what it extracts
/// into `out`; returns its report.
fn check_manifests(out: &Path) -> String {
    kubernetes_validate(); // PyYAML comes with it
    let script = repo().join("tests/deploy/check_manifests.py");
    let result = Command::new("python3")
        .arg(script)
        .arg(manifest_dir())
        .arg(out)
        .output()
        .unwrap();
    let report = stdout(&result);
    assert!(
        result.status.success(),
        "the manifests do not fit together:\n{report}{}",
        stderr(&result)
    );
    report
}

#[test]
fn the_objects_fit_together_and_keep_the_issue_s_promises() {
    let work = tempfile::tempdir().unwrap();
    let report = check_manifests(work.path());
    eprintln!("{report}");
    for promise in [
        "agent: the host's PID and network namespaces",
        "agent: the host's /proc read-only at /host/proc",
        "agent: the host's /sys read-only at /host/sys",
        "agent: the host's / read-only at /host/root",
        "agent: tolerates every taint",
        "agent: its state on the host's /var/lib/vigil-agent",
        "agent: VIGIL_AGENT__ENROLL__TOKEN from Secret vigil-agent-join",
        "DaemonSet/vigil-agent container agent: read-only root filesystem",
        "DaemonSet/vigil-agent container agent: CPU and memory requests and limits",
        "DaemonSet/vigil-agent: the pod runs as non-root uid 65532",
        "collector: a PersistentVolumeClaim template for its data",
        "collector: probes on /-/healthy and /-/ready",
        "StatefulSet/vigil-collector: the pod runs as non-root uid 65532",
    ] {
        assert!(
            report
                .lines()
                .any(|l| l.starts_with(&format!("ok    {promise}"))),
            "{promise}:\n{report}"
        );
    }
}

/// Writes the pod's files under `root` as the StatefulSet mounts them (the config, the
/// rules, the Secrets' PKI and tokens) and returns the config, its paths moved under
/// `root`, and the admin token.
fn lay_out_the_pod(extracted: &Path, root: &Path) -> (PathBuf, String) {
    let etc = root.join("etc/vigil");
    ca_init(&etc.join("pki"));
    std::fs::create_dir_all(etc.join("tokens")).unwrap();
    let admin = "k8s-test-admin-token-0123456789";
    std::fs::write(etc.join("tokens/admin"), format!("{admin}\n")).unwrap();
    std::fs::write(
        etc.join("tokens/grafana"),
        "k8s-test-grafana-token-0123456789\n",
    )
    .unwrap();
    std::fs::create_dir_all(etc.join("rules")).unwrap();
    for rule_file in std::fs::read_dir(extracted.join("rules")).unwrap() {
        let rule_file = rule_file.unwrap().path();
        std::fs::copy(
            &rule_file,
            etc.join("rules").join(rule_file.file_name().unwrap()),
        )
        .unwrap();
    }
    let text = std::fs::read_to_string(extracted.join("collector.toml")).unwrap();
    let moved = text
        .replace("\"/etc/vigil/", &format!("\"{}/", etc.display()))
        .replace(
            "\"/var/lib/vigil/",
            &format!("\"{}/var/lib/vigil/", root.display()),
        );
    assert_ne!(
        moved, text,
        "the config names files under /etc/vigil and /var/lib/vigil"
    );
    let config = etc.join("collector.toml");
    std::fs::write(&config, moved).unwrap();
    std::fs::create_dir_all(root.join("var/lib/vigil")).unwrap();
    (config, admin.to_owned())
}

#[test]
fn the_configmap_s_config_runs_the_real_collector() {
    let work = tempfile::tempdir().unwrap();
    let extracted = work.path().join("extracted");
    check_manifests(&extracted);
    let pod = work.path().join("pod");
    let (config, admin) = lay_out_the_pod(&extracted, &pod);
    let rules = pod.join("etc/vigil/rules/host.yml");
    run_ok(
        Command::new(bin("vigil"))
            .args(["rules", "check"])
            .arg(&rules),
    );

    // The config as the ConfigMap has it, but for the listen addresses: loopback ports.
    let (grpc, http) = (free_port(), free_port());
    let mut cmd = Command::new(bin("vigil-collector"));
    cmd.arg("--config")
        .arg(&config)
        .args(["--grpc-listen", &format!("127.0.0.1:{grpc}")])
        .args(["--http-listen", &format!("127.0.0.1:{http}")]);
    let mut collector = Running::spawn(cmd, work.path().join("collector.log"));
    wait_for(Duration::from_secs(60), "the collector to be ready", || {
        assert!(collector.alive(), "collector exited:\n{}", collector.log());
        http_get(http, "/-/ready", None).filter(|(status, _)| *status == 200)
    });

    // The tokens of the Secret are the API's: no token, no answer; the read token reads.
    let (status, _) = http_get(http, "/api/v1/query?query=up", None).unwrap();
    assert_eq!(status, 401);
    let grafana = "k8s-test-grafana-token-0123456789";
    let (status, body) = http_get(http, "/api/v1/query?query=vector(1)", Some(grafana)).unwrap();
    assert_eq!(status, 200, "{body}");

    // TLS with the Secret's certificate, the rules of the ConfigMap, and enrollment with
    // the Secret's CA: the admin token makes a join token.
    let cli = |args: &[&str]| {
        let mut cmd = Command::new(bin("vigil"));
        cmd.args(["--collector", &format!("https://localhost:{grpc}")])
            .arg("--ca-cert")
            .arg(pod.join("etc/vigil/pki/ca.pem"))
            .args(["--token", &admin, "--output", "json"])
            .args(args);
        let out = run_ok(&mut cmd);
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let groups = cli(&["rules"]);
    assert!(
        groups
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "host"),
        "{groups}"
    );
    let created = cli(&["enroll", "create", "--hosts", "k8s-node-*", "--ttl", "1h"]);
    assert!(
        created["token"].as_str().unwrap().starts_with("vjt."),
        "{created}"
    );

    let status = collector.terminate();
    assert!(status.success(), "{status}:\n{}", collector.log());
}

#[test]
fn the_daemonset_s_environment_is_a_valid_agent_config() {
    let work = tempfile::tempdir().unwrap();
    check_manifests(work.path());
    let agent: Value =
        serde_json::from_str(&std::fs::read_to_string(work.path().join("agent.json")).unwrap())
            .unwrap();
    // The node's paths, here: the host's own trees, and a state directory of the test's.
    let state = work.path().join("state");
    let here = |value: &str| {
        value
            .replace("/var/lib/vigil-agent", state.to_str().unwrap())
            .replace("/host/root", "/")
            .replace("/host/", "/")
    };
    let mut cmd = Command::new(bin("vigil-agent"));
    cmd.arg("--config")
        .arg(repo().join("deploy/container/agent.toml"))
        .args(
            agent["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| here(a.as_str().unwrap())),
        )
        .arg("--check");
    for (name, value) in agent["env"].as_object().unwrap() {
        cmd.env(name, here(value.as_str().unwrap()));
    }
    let out = cmd.output().unwrap();
    let report = stdout(&out);
    eprintln!(
        "vigil-agent --check with the DaemonSet's environment:\n{report}{}",
        stderr(&out)
    );
    // 2 would be a config that does not load; the collector's name does not resolve here.
    assert_ne!(out.status.code(), Some(2), "{report}{}", stderr(&out));
    assert!(
        report.lines().any(|l| l.starts_with("ok    config")),
        "{report}"
    );
    assert!(
        report.lines().any(|l| l.starts_with("ok    spool")),
        "{report}"
    );
    // Not enrolled yet, and a join token to enroll with.
    assert!(
        report.lines().any(|l| l.starts_with("ok    identity")),
        "{report}"
    );
}
