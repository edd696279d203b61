use super::*;
use std::io::Write;

#[test]
fn file_env_and_validation() {
    let mut f = tempfile_path();
    writeln!(
        f.1,
        "interval = \"5s\"\n[labels]\nenv = \"prod\"\n[delivery]\nmax_in_flight = 4"
    )
    .unwrap();
    let env = vec![(
        "VIGIL_AGENT__DELIVERY__MAX_IN_FLIGHT".to_owned(),
        "8".to_owned(),
    )];
    let c = Config::load(Some(&f.0), env).unwrap();
    assert_eq!(c.interval, Duration::from_secs(5));
    assert_eq!(c.labels["env"], "prod");
    assert_eq!(c.delivery.max_in_flight, 8);
    c.validate().unwrap();
    let _ = std::fs::remove_file(&f.0);
    f.0.clear();
}

#[test]
fn errors_name_the_key() {
    let mut f = tempfile_path();
    writeln!(f.1, "intervall = \"5s\"").unwrap();
    let e = Config::load(Some(&f.0), vec![]).unwrap_err().to_string();
    assert!(e.contains("intervall"), "{e}");
    let c = Config {
        interval: Duration::from_millis(200),
        ..Config::default()
    };
    assert!(
        c.validate()
            .unwrap_err()
            .to_string()
            .starts_with("interval:")
    );
    let mut c = Config::default();
    c.labels.insert("1bad".into(), "x".into());
    assert!(
        c.validate()
            .unwrap_err()
            .to_string()
            .starts_with("labels.1bad:")
    );
    let c = Config {
        collector: "collector:7070".into(),
        ..Config::default()
    };
    assert!(
        c.validate()
            .unwrap_err()
            .to_string()
            .starts_with("collector:")
    );
    let env = vec![("VIGIL_AGENT__INTERVAL".to_owned(), "often".to_owned())];
    let e = Config::load(None, env).unwrap_err().to_string();
    assert!(e.contains("\"often\" is not a duration"), "{e}");
    let _ = std::fs::remove_file(&f.0);
}

#[test]
fn a_token_goes_in_clear_text_only_to_loopback() {
    let with = |collector: &str, ca: bool| Config {
        collector: collector.into(),
        token: "s3cret".into(),
        tls: TlsConfig {
            ca_file: ca.then(|| "/etc/vigil/ca.pem".into()),
            ..TlsConfig::default()
        },
        ..Config::default()
    };
    for ok in [
        "http://127.0.0.1:7070",
        "http://127.8.9.1:7070",
        "http://[::1]:7070",
        "http://localhost:7070",
    ] {
        with(ok, false).validate().unwrap();
    }
    with("https://10.0.0.1:7070", true).validate().unwrap();
    with("https://collector.example:7070", true)
        .validate()
        .unwrap();
    for refused in [
        "http://10.0.0.1:7070",
        "http://collector.example:7070",
        "http://0.0.0.0:7070",
    ] {
        let e = with(refused, false).validate().unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "collector: {refused:?} is clear text to an address that is not loopback, \
                 and token is set: the token would cross the network unencrypted; use an \
                 https:// URL (with tls.ca_file), or a loopback address"
            )
        );
        assert!(!e.contains("s3cret"), "{e}");
    }
    // Without a token, clear text stays allowed (the collector decides).
    Config {
        collector: "http://10.0.0.1:7070".into(),
        ..Config::default()
    }
    .validate()
    .unwrap();
    let e = Config {
        token: "new\nline".into(),
        ..Config::default()
    }
    .validate()
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("token: has a character"), "{e}");
    // The key from the environment, as an agent under systemd gets it.
    let env = vec![("VIGIL_AGENT__TOKEN".to_owned(), "s3cret".to_owned())];
    let c = Config::load(None, env).unwrap();
    assert_eq!(c.token, "s3cret");
    assert!(
        !format!("{c:?}").contains("s3cret"),
        "Debug hides the token"
    );
    c.validate().unwrap();
}

#[test]
fn the_example_config_loads_and_validates() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/agent.example.toml");
    let c = Config::load(Some(&path), vec![]).unwrap();
    c.validate().unwrap();
    let d = DeliveryConfig::default();
    assert_eq!(c.delivery.spool_max_bytes, d.spool_max_bytes);
    assert_eq!(c.delivery.spool_sync, d.spool_sync);
    assert_eq!(c.delivery.queue_max_bytes, d.queue_max_bytes);
}

#[test]
fn the_spool_goes_to_the_state_directory_unless_told() {
    let d = DeliveryConfig::default();
    assert_eq!(
        d.spool_path_with(None),
        Some(PathBuf::from("vigil-agent-spool"))
    );
    assert_eq!(
        d.spool_path_with(Some("/var/lib/vigil-agent".into())),
        Some(PathBuf::from("/var/lib/vigil-agent/spool"))
    );
    let set = DeliveryConfig {
        spool_dir: Some("/srv/spool".into()),
        ..DeliveryConfig::default()
    };
    assert_eq!(
        set.spool_path_with(Some("/var/lib/vigil-agent".into())),
        Some(PathBuf::from("/srv/spool"))
    );
    let memory = DeliveryConfig {
        spool_dir: Some(PathBuf::new()),
        ..DeliveryConfig::default()
    };
    assert_eq!(memory.spool_path_with(None), None);
    let env = vec![(
        "VIGIL_AGENT__DELIVERY__SPOOL_SYNC".to_owned(),
        "250ms".to_owned(),
    )];
    let c = Config::load(None, env).unwrap();
    assert_eq!(c.delivery.spool_sync, Duration::from_millis(250));
    let c = Config {
        delivery: DeliveryConfig {
            spool_max_bytes: 1000,
            ..DeliveryConfig::default()
        },
        ..Config::default()
    };
    assert!(
        c.validate()
            .unwrap_err()
            .to_string()
            .starts_with("delivery.spool_max_bytes:")
    );
}

fn tempfile_path() -> (PathBuf, std::fs::File) {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let path = std::env::temp_dir().join(format!(
        "vigil-agent-config-{}-{n}.toml",
        std::process::id()
    ));
    let file = std::fs::File::create(&path).unwrap();
    (path, file)
}

const JOIN_TOKEN: &str = "vjt.0123456789ab.00112233445566778899aabbccddeeff";
const PIN: &str = "SHA256:0000000000000000000000000000000000000000000000000000000000000000";

fn joining(collector: &str, token: &str, fingerprint: &str) -> Config {
    Config {
        collector: collector.into(),
        enroll: EnrollConfig {
            token: token.into(),
            ca_fingerprint: fingerprint.into(),
            ..EnrollConfig::default()
        },
        ..Config::default()
    }
}

fn error(c: &Config) -> String {
    c.validate().unwrap_err().to_string()
}

#[test]
fn joining_needs_https_a_fingerprint_and_no_hand_made_certificate() {
    joining("https://c:7070", JOIN_TOKEN, PIN)
        .validate()
        .unwrap();
    // https:// without tls.ca_file is for the start-up plan to judge (an enrolled identity
    // may be there), not for validation.
    joining("https://c:7070", "", "").validate().unwrap();

    let e = error(&joining("http://c:7070", JOIN_TOKEN, PIN));
    assert!(
        e.starts_with("collector: \"http://c:7070\" must be an https:// URL to join"),
        "{e}"
    );
    let e = error(&joining("https://c:7070", JOIN_TOKEN, ""));
    assert!(
        e.starts_with("enroll.ca_fingerprint: is required with a join token"),
        "{e}"
    );
    assert!(e.contains("--ca-fingerprint"), "{e}");
    let e = error(&joining("https://c:7070", "", "SHA256:abcd"));
    assert!(
        e.starts_with("enroll.ca_fingerprint:") && e.contains("64 hex"),
        "{e}"
    );
    let mut c = joining("https://c:7070", JOIN_TOKEN, PIN);
    c.tls.cert_file = Some("/etc/vigil/agent.pem".into());
    c.tls.key_file = Some("/etc/vigil/agent.key".into());
    let e = error(&c);
    assert!(
        e.starts_with("tls.cert_file: cannot be set with a join token"),
        "{e}"
    );
    // Hand-made certificates without a token work as before.
    c.enroll.token.clear();
    c.validate().unwrap();

    for bad in [
        "s3cret-but-not-a-join-token",
        "vjt.0123456789AB.00112233445566778899aabbccddeeff",
        "vjt.0123456789ab.00112233445566778899aabbccddeeff.x",
        "vjt.0123456789ab",
    ] {
        let e = error(&joining("https://c:7070", bad, PIN));
        assert!(e.starts_with("enroll.token: is not a join token"), "{e}");
        assert!(!e.contains(bad), "the token is not shown: {e}");
    }
}

#[test]
fn the_join_token_comes_from_the_environment_or_a_file_and_stays_hidden() {
    let env = vec![
        (
            "VIGIL_AGENT__ENROLL__TOKEN".to_owned(),
            JOIN_TOKEN.to_owned(),
        ),
        (
            "VIGIL_AGENT__ENROLL__CA_FINGERPRINT".to_owned(),
            PIN.to_owned(),
        ),
        (
            "VIGIL_AGENT__COLLECTOR".to_owned(),
            "https://c:7070".to_owned(),
        ),
    ];
    let mut c = Config::load(None, env).unwrap();
    assert_eq!(c.enroll.token, JOIN_TOKEN);
    assert_eq!(c.enroll.ca_fingerprint, PIN);
    c.enroll.load_token().unwrap();
    c.validate().unwrap();
    let debug = format!("{c:?}");
    assert!(
        !debug.contains("0011223344"),
        "Debug hides the join token: {debug}"
    );
    assert!(debug.contains("<secret>"), "{debug}");

    let (path, mut file) = tempfile_path();
    writeln!(file, "  {JOIN_TOKEN}\n").unwrap();
    let mut c = joining("https://c:7070", "", PIN);
    c.enroll.token_file = Some(path.clone());
    c.enroll.load_token().unwrap();
    assert_eq!(c.enroll.token, JOIN_TOKEN, "trimmed");
    assert_eq!(c.enroll.token_file, None);
    c.validate().unwrap();

    let mut both = joining("https://c:7070", JOIN_TOKEN, PIN);
    both.enroll.token_file = Some(path.clone());
    let e = both.enroll.load_token().unwrap_err().to_string();
    assert!(
        e.starts_with("enroll.token_file:") && e.contains("set one"),
        "{e}"
    );
    assert!(!e.contains("0011223344"), "{e}");

    std::fs::write(&path, " \n").unwrap();
    let mut empty = joining("https://c:7070", "", PIN);
    empty.enroll.token_file = Some(path.clone());
    let e = empty.enroll.load_token().unwrap_err().to_string();
    assert!(
        e.starts_with("enroll.token_file:") && e.contains("is empty"),
        "{e}"
    );
    let _ = std::fs::remove_file(&path);
    let mut missing = joining("https://c:7070", "", PIN);
    missing.enroll.token_file = Some(path.clone());
    let e = missing.enroll.load_token().unwrap_err().to_string();
    assert!(e.starts_with("enroll.token_file: cannot read"), "{e}");
}

#[test]
fn the_identity_goes_to_the_state_directory_unless_told() {
    let e = EnrollConfig::default();
    assert_eq!(
        e.identity_dir_with(None),
        PathBuf::from("vigil-agent-identity")
    );
    assert_eq!(
        e.identity_dir_with(Some("/var/lib/vigil-agent:/other".into())),
        PathBuf::from("/var/lib/vigil-agent/identity")
    );
    let set = EnrollConfig {
        dir: Some("/srv/id".into()),
        ..EnrollConfig::default()
    };
    assert_eq!(
        set.identity_dir_with(Some("/var/lib/vigil-agent".into())),
        PathBuf::from("/srv/id")
    );
}

#[test]
fn job_and_instance_are_target_labels_with_node_exporter_defaults() {
    let c = Config::default();
    assert_eq!((c.job.as_str(), c.instance.as_str()), ("node", ""));
    let mut hello = crate::encode::hello(
        &crate::collect::HostFacts {
            hostname: "web-1".into(),
            ..Default::default()
        },
        "",
        &c.labels,
        10_000,
        "",
    );
    crate::encode::add_target_labels(&mut hello, &c.job, &c.instance);
    let labels: Vec<(&str, &str)> = hello
        .labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    assert_eq!(labels, [("job", "node"), ("instance", "web-1")]);
    crate::encode::add_target_labels(&mut hello, "edge", "web-1:9100");
    assert_eq!(hello.labels.len(), 2, "set again, not twice");

    let mut both = Config::default();
    both.labels.insert("job".into(), "x".into());
    assert!(error(&both).starts_with("labels.job:"), "{}", error(&both));
    let empty = Config {
        job: String::new(),
        ..Config::default()
    };
    assert!(error(&empty).starts_with("job:"), "{}", error(&empty));
}

#[test]
fn sources_are_switched_by_name_and_unknown_names_refused() {
    let mut f = tempfile_path();
    writeln!(
        f.1,
        "[collect]\ndisable = [\"hwmon\", \"netstat\"]\nenable = [\"interrupts\"]"
    )
    .unwrap();
    let c = Config::load(Some(&f.0), vec![]).unwrap();
    let _ = std::fs::remove_file(&f.0);
    f.0.clear();
    c.validate().unwrap();
    assert_eq!(c.collect.disable, ["hwmon", "netstat"]);
    assert_eq!(c.collect.enable, ["interrupts"]);

    for key in ["disable", "enable"] {
        let mut c = Config::default();
        let list = if key == "disable" {
            &mut c.collect.disable
        } else {
            &mut c.collect.enable
        };
        list.extend(["cpu".to_owned(), "netstats".to_owned()]);
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("collect.{key}: \"netstats\" is not a source")),
            "{e}"
        );
        assert!(e.contains("netstat, sockstat"), "lists the sources: {e}");
    }
}
