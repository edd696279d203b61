//! Loading (defaults, file, environment) and validation, including the example config
//! shipped in `deploy/`.

use super::*;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[test]
fn defaults_then_file_then_env() {
    let f = file("[storage]\ndata_dir = \"/tmp/x\"\n[limits]\nmax_series_per_host = 5\n");
    let env = vec![
        (
            "VIGIL_COLLECTOR__LIMITS__MAX_SERIES_PER_HOST".to_owned(),
            "7".to_owned(),
        ),
        (
            "VIGIL_COLLECTOR__HOSTS__DOWN_AFTER".to_owned(),
            "2m".to_owned(),
        ),
        ("UNRELATED".to_owned(), "1".to_owned()),
    ];
    let c = Config::load(Some(f.path()), env).unwrap();
    assert_eq!(c.storage.data_dir, PathBuf::from("/tmp/x"));
    assert_eq!(c.limits.max_series_per_host, 7);
    assert_eq!(c.hosts.down_after, Duration::from_secs(120));
    assert_eq!(c.server.grpc_listen.port(), 7070);
    assert_eq!(c.server.http_listen, None);
    assert_eq!(c.rules.evaluation_interval, Duration::from_secs(60));
    assert_eq!(c.rules.host_down_after, Duration::from_secs(120));
    c.validate().unwrap();
    let env = vec![
        (
            "VIGIL_COLLECTOR__RULES__FILES".to_owned(),
            r#"["/etc/vigil/rules/*.yml", "extra.yml"]"#.to_owned(),
        ),
        (
            "VIGIL_COLLECTOR__RULES__EVALUATION_INTERVAL".to_owned(),
            "15s".to_owned(),
        ),
        (
            "VIGIL_COLLECTOR__RULES__HOST_DOWN_AFTER".to_owned(),
            "0s".to_owned(),
        ),
    ];
    let c = Config::load(None, env).unwrap();
    assert_eq!(
        c.rules.files,
        vec![
            PathBuf::from("/etc/vigil/rules/*.yml"),
            PathBuf::from("extra.yml")
        ]
    );
    assert_eq!(c.rules.evaluation_interval, Duration::from_secs(15));
    assert_eq!(c.rules.host_down_after, Duration::ZERO);
    c.validate().unwrap();
    let mut bad = c.clone();
    bad.rules.evaluation_interval = Duration::from_millis(10);
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.starts_with("rules.evaluation_interval"), "{e}");
    let env = vec![
        (
            "VIGIL_COLLECTOR__SERVER__HTTP_LISTEN".to_owned(),
            "127.0.0.1:9090".to_owned(),
        ),
        (
            "VIGIL_COLLECTOR__SERVER__HTTP_QUERY_TIMEOUT".to_owned(),
            "30s".to_owned(),
        ),
    ];
    let c = Config::load(None, env).unwrap();
    assert_eq!(
        c.server.http_listen,
        Some("127.0.0.1:9090".parse().unwrap())
    );
    assert_eq!(c.server.http_query_timeout, Duration::from_secs(30));
}

#[test]
fn coarser_tiers_must_outlive_finer_ones() {
    let mut c = Config::default();
    c.storage.retention = Duration::from_secs(30 * 86_400);
    c.storage.retention_5m = Duration::from_secs(90 * 86_400);
    c.storage.retention_1h = Duration::ZERO;
    c.validate().unwrap();
    c.storage.retention_1h = Duration::from_secs(60 * 86_400);
    let e = c.validate().unwrap_err().to_string();
    assert!(e.starts_with("storage.retention_1h"), "{e}");
    assert!(e.contains("storage.retention_5m"), "{e}");
    c.storage.retention_1h = Duration::ZERO;
    c.storage.retention = Duration::ZERO;
    let e = c.validate().unwrap_err().to_string();
    assert!(e.starts_with("storage.retention_5m"), "{e}");
    assert!(e.contains("forever"), "{e}");
}

#[test]
fn example_config_loads_with_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/collector.example.toml");
    let c = Config::load(Some(&path), vec![]).unwrap();
    c.validate().unwrap();
    let d = Config::default();
    assert_eq!(c.server.http_listen, d.server.http_listen);
    assert_eq!(c.server.http_query_timeout, d.server.http_query_timeout);
    assert_eq!(
        c.server.http_max_concurrent_queries,
        d.server.http_max_concurrent_queries
    );
    assert_eq!(c.rules.files, d.rules.files);
    assert_eq!(c.rules.evaluation_interval, d.rules.evaluation_interval);
    assert_eq!(c.rules.host_down_after, d.rules.host_down_after);
    assert_eq!(c.incidents.settings(), d.incidents.settings());
    assert_eq!(c.incidents.retention, d.incidents.retention);
}

#[test]
fn incident_settings_that_cannot_work_are_named() {
    let bad = |f: &dyn Fn(&mut Config)| {
        let mut c = Config::default();
        f(&mut c);
        c.validate().unwrap_err().to_string()
    };
    let e = bad(&|c| c.incidents.fleet_hosts = 1);
    assert!(
        e.starts_with("incidents.fleet_hosts: must be at least 2"),
        "{e}"
    );
    let e = bad(&|c| c.incidents.topology_labels = vec!["rack".into(), "data-center".into()]);
    assert!(
        e.starts_with("incidents.topology_labels: \"data-center\" is not a label name"),
        "{e}"
    );
    let e = bad(&|c| c.incidents.retention = Duration::from_secs(3600));
    assert!(
        e.starts_with("incidents.retention: must be at least 1d"),
        "{e}"
    );
}

/// The commented-out example between `# --- NAME example ---` and `# --- end of NAME
/// example ---` in the example config, uncommented.
fn example_block(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/collector.example.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let start = text.find(&format!("# --- {name} example ---")).unwrap();
    let end = text
        .find(&format!("# --- end of {name} example ---"))
        .unwrap();
    text[start..end]
        .lines()
        .skip(1)
        .map(|l| l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#')))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn an_incident_route_needs_incidents_on() {
    let f = file(
        "[incidents]\nenabled = false\n[notify]\n[[notify.receivers]]\nname = \"a\"\n\
         [[notify.receivers.webhook]]\nurl = \"https://hooks.example.com/\"\n\
         [notify.route]\nreceiver = \"a\"\nmode = \"incident\"\n",
    );
    let e = Config::load(Some(f.path()), vec![])
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string();
    assert!(e.contains("[incidents] enabled = false"), "{e}");
}

#[test]
fn example_notify_block_is_valid_once_uncommented() {
    let block = example_block("notify");
    // Secrets are only named here (files and variables need not exist): the notifier
    // reads them at start.
    let f = file(&block);
    let c = Config::load(Some(f.path()), vec![]).unwrap();
    c.validate().unwrap();
    assert_eq!(c.notify.receivers.len(), 4);
    assert_eq!(c.notify.receivers[3].rt.len(), 1);
    assert!(c.notify.has_incident_routes());
    assert_eq!(c.notify.inhibit_rules.len(), 1);
}

#[test]
fn example_relabel_block_is_valid_once_uncommented() {
    let block = example_block("relabel");
    let c = Config::load(Some(file(&block).path()), vec![]).unwrap();
    c.validate().unwrap();
    assert_eq!(c.relabel.len(), 3);
    let bad = file("[[relabel]]\nsource_labels = [\"a\"]\nregex = \"(\"\ntarget_label = \"b\"\n");
    let e = Config::load(Some(bad.path()), vec![])
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("relabel[0].regex:"), "{e}");
}

#[test]
fn example_remote_write_block_is_valid_once_uncommented() {
    // The TLS files must be readable: point them at files that are.
    let dir = tempfile::tempdir().unwrap();
    let mut block = example_block("remote_write");
    for name in ["remote-ca.pem", "remote-client.pem", "remote-client.key"] {
        let path = dir.path().join(name);
        std::fs::write(&path, "x").unwrap();
        block = block.replace(&format!("/etc/vigil/{name}"), path.to_str().unwrap());
    }
    let c = Config::load(Some(file(&block).path()), vec![]).unwrap();
    c.validate().unwrap();
    assert_eq!(c.remote_write.len(), 2);
    let central = &c.remote_write[0];
    assert_eq!(central.name(), "central");
    assert_eq!(central.write_relabel.len(), 1);
    assert_eq!(
        central.external_labels.get("site").map(String::as_str),
        Some("a")
    );
    let d = crate::remote_write::config::RemoteWriteConfig::default();
    assert_eq!(
        (central.batch_size, central.concurrency, central.timeout),
        (d.batch_size, d.concurrency, d.timeout),
        "the example shows the defaults"
    );
    assert_eq!(
        (central.min_backoff, central.max_backoff, central.max_lag),
        (d.min_backoff, d.max_backoff, d.max_lag)
    );
    assert_eq!(
        (central.max_queue_bytes, central.backfill),
        (d.max_queue_bytes, d.backfill)
    );
    assert_eq!(c.remote_write[1].name(), "127.0.0.1:8480");
}

#[test]
fn remote_write_entries_are_checked_and_named_uniquely() {
    let check = |text: &str| {
        let f = file(text);
        Config::load(Some(f.path()), vec![])
            .map_err(|e| e.to_string())
            .and_then(|c| c.validate().map(|()| c).map_err(|e| e.to_string()))
    };
    let c = check("[[remote_write]]\nurl = \"http://127.0.0.1:8428/api/v1/write\"\n").unwrap();
    assert_eq!(c.remote_write[0].name(), "127.0.0.1:8428");
    let e = check(
        "[[remote_write]]\nurl = \"http://127.0.0.1:8428/api/v1/write\"\n\
         [[remote_write]]\nurl = \"http://127.0.0.1:8428/other\"\n",
    )
    .unwrap_err();
    assert!(
        e.starts_with("remote_write[1].name: ") && e.contains("remote_write[0]"),
        "{e}"
    );
    check(
        "[[remote_write]]\nurl = \"http://127.0.0.1:8428/api/v1/write\"\n\
         [[remote_write]]\nname = \"second\"\nurl = \"http://127.0.0.1:8428/other\"\n",
    )
    .unwrap();
    let e = check("[[remote_write]]\nurl = \"ftp://x/\"\n").unwrap_err();
    assert!(e.starts_with("remote_write[0].url: "), "{e}");
    let e = check("[[remote_write]]\nurl = \"http://x/\"\nconcurrency = 0\n").unwrap_err();
    assert!(e.starts_with("remote_write[0].concurrency: "), "{e}");
    let e = check("[[remote_write]]\nurl = \"http://x/\"\nqueue = 1\n").unwrap_err();
    assert!(e.contains("queue"), "{e}");
    let e = check("[[remote_write]]\nname = \"a\"\n").unwrap_err();
    assert!(
        e.starts_with("remote_write[0].url: ") && e.contains("required"),
        "{e}"
    );
}

#[test]
fn errors_name_the_key() {
    let f = file("[server]\ngrpc_lisen = \"127.0.0.1:1\"\n");
    let e = Config::load(Some(f.path()), vec![])
        .unwrap_err()
        .to_string();
    assert!(e.contains("grpc_lisen"), "{e}");
    let f = file("[limits]\nmax_series_per_host = \"lots\"\n");
    let e = Config::load(Some(f.path()), vec![])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("max_series_per_host") || e.contains("invalid type"),
        "{e}"
    );
    let f = file("[hosts]\ndown_after = \"soon\"\n");
    let e = Config::load(Some(f.path()), vec![])
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"soon\" is not a duration"), "{e}");
    let mut c = Config::default();
    c.server.grpc_listen = "0.0.0.0:7070".parse().unwrap();
    let e = c.validate().unwrap_err().to_string();
    assert!(e.starts_with("server.grpc_listen"), "{e}");
    c.server.allow_insecure = true;
    c.validate().unwrap();
    c.server.allow_insecure = false;
    c.tls.cert_file = Some("/etc/vigil/collector.pem".into());
    let e = c.validate().unwrap_err().to_string();
    assert!(e.starts_with("tls.key_file"), "{e}");
    c.tls.key_file = Some("/etc/vigil/collector.key".into());
    let e = c.validate().unwrap_err().to_string();
    assert!(
        e.starts_with("auth.tokens") && e.contains("--allow-insecure"),
        "TLS alone is not enough off loopback: {e}"
    );
    c.tls.client_ca_file = Some("/etc/vigil/ca.pem".into());
    c.validate()
        .expect("TLS and client certificates make a non-loopback listener acceptable");
    c.tls.client_ca_file = None;
    c.auth.tokens = vec![crate::config::auth::TokenConfig {
        name: "grafana".into(),
        role: crate::config::auth::Role::Read,
        secret: crate::notify::secret::SecretSource::Inline("0123456789abcdef-xyz".into()),
        hosts: None,
    }];
    c.validate()
        .expect("TLS and tokens make a non-loopback listener acceptable");
    let mut c = Config::default();
    c.server.http_listen = Some("0.0.0.0:9090".parse().unwrap());
    let e = c.validate().unwrap_err().to_string();
    assert!(
        e.starts_with("server.http_listen") && e.contains("0.0.0.0:9090"),
        "{e}"
    );
    c.tls.cert_file = Some("/etc/vigil/collector.pem".into());
    c.tls.key_file = Some("/etc/vigil/collector.key".into());
    assert!(
        c.validate().is_err(),
        "gRPC TLS does not cover the HTTP API"
    );
    c.server.allow_insecure = true;
    c.validate().unwrap();
    let mut c = Config::default();
    c.tls.client_ca_file = Some("/etc/vigil/ca.pem".into());
    assert!(
        c.validate()
            .unwrap_err()
            .to_string()
            .starts_with("tls.client_ca_file")
    );
}

#[test]
fn tokens_are_checked_when_loaded() {
    let check = |text: &str| {
        let f = file(text);
        Config::load(Some(f.path()), vec![])
            .and_then(|c| c.validate().map(|()| c))
            .map_err(|e| e.to_string())
    };
    let c = check(
        r#"
[[auth.tokens]]
name = "grafana"
role = "read"
secret = "0123456789abcdef-read"

[[auth.tokens]]
name = "web-agents"
role = "agent"
secret = "0123456789abcdef-web"
hosts = ["web-1", "web-*"]
"#,
    )
    .unwrap();
    assert_eq!(c.auth.tokens.len(), 2);
    assert!(c.authenticates());
    assert!(
        !format!("{c:?}").contains("0123456789abcdef"),
        "secrets never print"
    );

    let short = check("[[auth.tokens]]\nname = \"x\"\nrole = \"read\"\nsecret = \"short\"\n");
    assert!(
        short
            .as_ref()
            .unwrap_err()
            .starts_with("auth.tokens[0].secret"),
        "{short:?}"
    );
    assert!(!short.unwrap_err().contains("short\""));
    let role =
        check("[[auth.tokens]]\nname = \"x\"\nrole = \"root\"\nsecret = \"0123456789abcdef\"\n");
    let role = role.unwrap_err();
    assert!(role.contains("root") && role.contains("admin"), "{role}");
    let twice = check(
        "[[auth.tokens]]\nname = \"x\"\nrole = \"read\"\nsecret = \"0123456789abcdef-1\"\n\
         [[auth.tokens]]\nname = \"x\"\nrole = \"admin\"\nsecret = \"0123456789abcdef-2\"\n",
    );
    assert!(twice.unwrap_err().starts_with("auth.tokens[1].name"));
    let shared = check(
        "[[auth.tokens]]\nname = \"x\"\nrole = \"read\"\nsecret = \"0123456789abcdef-1\"\n\
         [[auth.tokens]]\nname = \"y\"\nrole = \"admin\"\nsecret = \"0123456789abcdef-1\"\n",
    );
    assert!(shared.unwrap_err().starts_with("auth.tokens[1].secret"));
    let hosts = check(
        "[[auth.tokens]]\nname = \"x\"\nrole = \"read\"\nsecret = \"0123456789abcdef-1\"\nhosts = [\"a\"]\n",
    );
    assert!(hosts.unwrap_err().starts_with("auth.tokens[0].hosts"));
    let missing = check(
        "[[auth.tokens]]\nname = \"x\"\nrole = \"read\"\nsecret = { file = \"/nonexistent/vigil-token\" }\n",
    );
    assert!(missing.unwrap_err().contains("/nonexistent/vigil-token"));
}

#[test]
fn enrollment_needs_its_ca_files_and_tls_and_trusts_its_ca_for_agents() {
    let check = |text: &str| {
        let f = file(text);
        Config::load(Some(f.path()), vec![]).and_then(|c| c.validate().map(|()| c))
    };
    let e = check("[enroll]\nca_key_file = \"/k\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("enroll.ca_cert_file"), "{e}");
    let e = check("[enroll]\nca_cert_file = \"/c\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("enroll.ca_key_file"), "{e}");
    let e = check("[enroll]\nca_cert_file = \"/c\"\nca_key_file = \"/k\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs TLS"), "{e}");
    let tls = "[tls]\ncert_file = \"/s.pem\"\nkey_file = \"/s.key\"\n";
    let e = check(&format!(
        "{tls}[enroll]\nca_cert_file = \"/c\"\nca_key_file = \"/k\"\ncert_ttl = \"1s\"\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("enroll.cert_ttl"), "{e}");
    let c = check(&format!(
        "{tls}[enroll]\nca_cert_file = \"/c\"\nca_key_file = \"/k\"\n"
    ))
    .unwrap();
    assert_eq!(c.tls.client_ca_file, Some(PathBuf::from("/c")));
    assert!(c.enroll.enabled());
    let c = check(&format!(
        "{tls}client_ca_file = \"/bundle\"\n[enroll]\nca_cert_file = \"/c\"\nca_key_file = \"/k\"\n"
    ))
    .unwrap();
    assert_eq!(c.tls.client_ca_file, Some(PathBuf::from("/bundle")));
}
