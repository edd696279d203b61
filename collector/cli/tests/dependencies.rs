//! The crate graph is the architecture: the CLI, the PromQL engine and the rule files
//! never pull in the storage engine or the collector's servers. Checked on the resolved
//! graph (`cargo tree`, offline), so a dependency added anywhere below them shows up here.

use std::process::Command;

/// Names of every package in the normal (non-dev, non-build) dependency tree of `package`.
fn tree(package: &str) -> Vec<String> {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
            package,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_cli_engine_and_rules_link_no_storage_engine_and_no_servers() {
    let heavy = [
        "rocksdb",
        "librocksdb-sys",
        "vigil-rocks",
        "vigil-collector",
        "axum",
        "lettre",
        "reqwest",
    ];
    for package in ["vigil-cli", "vigil-promql", "vigil-rules", "vigil-store"] {
        let names = tree(package);
        assert!(names.len() > 3, "{package}: only {names:?}");
        let found: Vec<&str> = heavy
            .iter()
            .copied()
            .filter(|h| names.iter().any(|n| n == h))
            .collect();
        assert!(found.is_empty(), "{package} depends on {found:?}");
    }
}

#[test]
fn only_the_rocks_crate_names_rocksdb() {
    let names = tree("vigil-rocks");
    assert!(names.iter().any(|n| n == "rocksdb"), "{names:?}");
    for package in [
        "vigil-agent",
        "vigil-proto",
        "vigil-forecast",
        "vigil-config",
    ] {
        assert!(
            !tree(package).iter().any(|n| n.contains("rocksdb")),
            "{package}"
        );
    }
}
