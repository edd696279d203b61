//! Parsing, defaults and validation of `[[remote_write]]` entries.

use super::*;

fn parse(text: &str) -> RemoteWriteConfig {
    toml::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn minimal() -> RemoteWriteConfig {
    parse("url = \"https://vm.example:8428/api/v1/write\"")
}

/// The error of an entry `minimal()` changed by `change`, checked to name `key`.
fn error(change: impl FnOnce(&mut RemoteWriteConfig), key: &str) -> String {
    let mut c = minimal();
    change(&mut c);
    let e = c.validate(3).expect_err(key);
    assert!(
        e.starts_with(&format!("remote_write[3].{key}")),
        "expected an error about {key}: {e}"
    );
    e
}

#[test]
fn defaults_and_every_key() {
    let c = minimal();
    c.validate(0).unwrap();
    assert_eq!(c.name(), "vm.example:8428");
    assert_eq!(c.batch_size, 2000);
    assert_eq!(c.concurrency, 4);
    assert_eq!(c.timeout, Duration::from_secs(30));
    assert_eq!(c.min_backoff, Duration::from_millis(30));
    assert_eq!(c.max_backoff, Duration::from_secs(5));
    assert_eq!(c.max_lag, Duration::from_secs(86_400));
    assert_eq!(c.max_queue_bytes, 4 << 30);
    assert_eq!(c.backfill, Duration::ZERO);

    let full = parse(
        r#"
name = "central"
url = "http://[::1]:8480/insert/0/prometheus/api/v1/write"
basic_auth = { username = "vigil", password = { env = "VIGIL_REMOTE_PASSWORD" } }
headers = { "X-Scope-OrgID" = "site-a" }
external_labels = { site = "a" }
match = ['{__name__=~"node_.*"}', 'up']
batch_size = 500
concurrency = 8
timeout = "10s"
min_backoff = "100ms"
max_backoff = "1m"
max_lag = "2h"
max_queue_bytes = "512MiB"
backfill = "1h"
[[write_relabel]]
action = "drop"
source_labels = ["__name__"]
regex = "node_softnet_.*"
"#,
    );
    full.validate(0).unwrap();
    assert_eq!(full.name(), "central");
    assert_eq!(full.r#match.len(), 2);
    assert_eq!(full.write_relabel.len(), 1);
    assert_eq!(full.max_queue_bytes, 512 << 20);
    assert_eq!(full.backfill, Duration::from_secs(3600));
    let unnamed = RemoteWriteConfig { name: None, ..full };
    assert_eq!(unnamed.name(), "::1:8480", "IPv6 without brackets");
    assert_eq!(
        parse("url = \"http://vm.example/api/v1/write\"").name(),
        "vm.example:80"
    );

    let typo = toml::from_str::<RemoteWriteConfig>("url = \"http://a/\"\nbatchsize = 1")
        .unwrap_err()
        .to_string();
    assert!(typo.contains("batchsize"), "{typo}");
}

#[test]
fn sizes_are_bytes_or_units() {
    assert_eq!(parse_bytes("4GiB"), Ok(4 << 30));
    assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
    assert_eq!(parse_bytes("1GB"), Ok(1_000_000_000));
    assert_eq!(parse_bytes("1.5KiB"), Ok(1536));
    assert_eq!(parse_bytes("2 MB"), Ok(2_000_000));
    assert_eq!(parse_bytes("1048576"), Ok(1 << 20));
    for bad in ["", "lots", "4 gigs", "GiB", "-1MiB", "1e400"] {
        let e = parse_bytes(bad).unwrap_err();
        assert!(e.contains("is not a size like 4GiB"), "{bad}: {e}");
    }
    assert_eq!(
        parse("url = \"http://a/\"\nmax_queue_bytes = 2097152").max_queue_bytes,
        2 << 20
    );
    let e = toml::from_str::<RemoteWriteConfig>("url = \"http://a/\"\nmax_queue_bytes = \"big\"")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("max_queue_bytes") && e.contains("\"big\""),
        "{e}"
    );
    let e = toml::from_str::<RemoteWriteConfig>("url = \"http://a/\"\nmax_queue_bytes = -5")
        .unwrap_err()
        .to_string();
    assert!(e.contains("max_queue_bytes"), "{e}");
}

#[test]
fn every_error_names_its_key_and_what_to_do() {
    let e = error(|c| c.url.clear(), "url");
    assert!(e.contains("required"), "{e}");
    let e = error(|c| c.url = "vm.example:8428/api/v1/write".into(), "url");
    assert!(e.contains("http://"), "{e}");
    error(|c| c.url = "not a url".into(), "url");
    let e = error(
        |c| c.url = "https://vigil:hunter2@vm.example/api/v1/write".into(),
        "url",
    );
    assert!(e.contains("basic_auth") && !e.contains("hunter2"), "{e}");
    let e = error(|c| c.name = Some("a b".into()), "name");
    assert!(e.contains("A-Z a-z 0-9"), "{e}");
    error(|c| c.name = Some(String::new()), "name");
    error(|c| c.name = Some("x".repeat(65)), "name");
    let both = |c: &mut RemoteWriteConfig| {
        c.bearer_token = Some(SecretSource::Inline("t0ken-value".into()));
        c.basic_auth = Some(BasicAuth {
            username: "u".into(),
            password: SecretSource::Inline("p".into()),
        });
    };
    let e = error(both, "basic_auth");
    assert!(e.contains("not both"), "{e}");
    error(
        |c| {
            c.basic_auth = Some(BasicAuth {
                username: "a:b".into(),
                password: SecretSource::Inline("p".into()),
            })
        },
        "basic_auth.username",
    );
    let e = error(
        |c| {
            c.bearer_token = Some(SecretSource::Inline("t0ken-value".into()));
            c.headers
                .insert("Authorization".into(), SecretSource::Inline("x".into()));
        },
        "headers.\"Authorization\"",
    );
    assert!(e.contains("keep one"), "{e}");
    error(
        |c| {
            c.headers.insert(
                "Content-Encoding".into(),
                SecretSource::Inline("gzip".into()),
            );
        },
        "headers.\"Content-Encoding\"",
    );
    error(
        |c| {
            c.headers
                .insert("bad header".into(), SecretSource::Inline("x".into()));
        },
        "headers.\"bad header\"",
    );
    let e = error(
        |c| c.tls_cert_file = Some("/etc/hosts".into()),
        "tls_key_file",
    );
    assert!(e.contains("key"), "{e}");
    error(
        |c| c.tls_key_file = Some("/etc/hosts".into()),
        "tls_cert_file",
    );
    let e = error(
        |c| c.tls_ca_file = Some("/nonexistent/vigil-ca.pem".into()),
        "tls_ca_file",
    );
    assert!(e.contains("/nonexistent/vigil-ca.pem"), "{e}");
    error(
        |c| {
            c.url = "http://vm.example/api/v1/write".into();
            c.tls_ca_file = Some("/etc/hosts".into());
        },
        "url",
    );
    let e = error(|c| c.batch_size = 0, "batch_size");
    assert!(e.contains("1 to 100000"), "{e}");
    error(|c| c.batch_size = 100_001, "batch_size");
    error(|c| c.concurrency = 0, "concurrency");
    let e = error(|c| c.concurrency = 65, "concurrency");
    assert!(e.contains("1 to 64"), "{e}");
    error(|c| c.timeout = Duration::ZERO, "timeout");
    error(|c| c.min_backoff = Duration::ZERO, "min_backoff");
    let e = error(|c| c.min_backoff = Duration::from_secs(10), "max_backoff");
    assert!(e.contains("min_backoff"), "{e}");
    let e = error(|c| c.max_lag = Duration::from_secs(59), "max_lag");
    assert!(e.contains("1m"), "{e}");
    let e = error(|c| c.max_queue_bytes = (1 << 20) - 1, "max_queue_bytes");
    assert!(e.contains("1MiB"), "{e}");
    error(|c| c.r#match = vec!["rate(up[5m])".into()], "match[0]");
    error(
        |c| {
            c.write_relabel = vec![RelabelConfig {
                action: crate::relabel::Action::Keep,
                ..RelabelConfig::default()
            }]
        },
        "write_relabel[0].source_labels",
    );
    let e = error(
        |c| {
            c.external_labels.insert("__name__".into(), "x".into());
        },
        "external_labels.__name__",
    );
    assert!(e.contains("write_relabel"), "{e}");
    error(
        |c| {
            c.external_labels.insert("site".into(), String::new());
        },
        "external_labels.site",
    );
}
