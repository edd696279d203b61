#![allow(clippy::unwrap_used)]

use std::os::unix::fs::{PermissionsExt, symlink};
use std::time::{Duration, SystemTime};

use super::*;
use crate::{Cli, Command};
use clap::Parser;

/// 2026-11-21T05:50:00Z: every test's "now".
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_240_200)
}

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("vigil").chain(args.iter().copied()))
}

fn init_args(args: &[&str]) -> (InitArgs, Option<PathBuf>) {
    let cli = parse(args).unwrap();
    match cli.command {
        Command::Ca(CaArgs {
            action: CaAction::Init(init),
        }) => (init, cli.ca_cert),
        other => panic!("not ca init: {other:?}"),
    }
}

/// Runs `vigil ca init ARGS --dir DIR` with table output.
fn init(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let dir = dir.to_str().unwrap();
    let all: Vec<&str> = ["ca", "init", "--dir", dir]
        .iter()
        .chain(args)
        .copied()
        .collect();
    let (args, ca_cert) = init_args(&all);
    init::run(&args, ca_cert.as_deref(), Output::Json, now())
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn fingerprint(path: &Path) -> String {
    let pem = std::fs::read_to_string(path).unwrap();
    let der = vigil_pki::pem_certificates(&pem).unwrap().remove(0);
    vigil_pki::cert_info(&der).unwrap().fingerprint
}

#[test]
fn init_flags_parse() {
    let (args, ca_cert) = init_args(&[
        "ca",
        "init",
        "--dir",
        "/tmp/p",
        "--name",
        "c1.example",
        "--name",
        "localhost",
        "--ip",
        "10.0.0.2",
        "--ca-name",
        "Corp fleet",
        "--force",
    ]);
    assert_eq!(args.dir.as_deref(), Some(Path::new("/tmp/p")));
    assert_eq!(args.names, ["c1.example", "localhost"]);
    assert_eq!(args.ips, ["10.0.0.2".parse::<std::net::IpAddr>().unwrap()]);
    assert_eq!(args.ca_name, "Corp fleet");
    assert!(args.force && args.ca_key.is_none() && ca_cert.is_none());
    let (args, _) = init_args(&["ca", "init"]);
    assert_eq!(args.ca_name, "Vigil fleet CA");
    let (args, ca_cert) = init_args(&["ca", "init", "--ca-cert", "own.pem", "--ca-key", "own.key"]);
    assert_eq!(ca_cert.as_deref(), Some(Path::new("own.pem")));
    assert_eq!(args.ca_key.as_deref(), Some(Path::new("own.key")));
    for (args, says) in [
        (
            vec!["ca", "init", "--name", "under_score"],
            "not a DNS name",
        ),
        (vec!["ca", "init", "--ip", "300.1.1.1"], "--ip"),
        (
            vec![
                "ca",
                "init",
                "--ca-key",
                "k.pem",
                "--ca-name",
                "X",
                "--ca-cert",
                "c",
            ],
            "--ca-name",
        ),
        (vec!["ca", "show", "ca.pem", "--dir", "d"], "--dir"),
        (vec!["ca"], "Usage"),
    ] {
        let err = parse(&args).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{args:?}");
        assert!(err.to_string().contains(says), "{args:?}: {err}");
    }
}

#[test]
fn init_writes_the_ca_and_the_server_certificate_with_private_keys_private() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("etc").join("pki");
    init(&dir, &["--name", "collector-1", "--ip", "10.0.0.2"]).unwrap();
    assert_eq!(mode(&dir), 0o700, "a new directory is the owner's only");
    // Not its parents, which hold other programs' files.
    assert_ne!(mode(&tmp.path().join("etc")), 0o700);
    assert_eq!(mode(&dir.join("ca.key")), 0o600);
    assert_eq!(mode(&dir.join("server.key")), 0o600);
    // The CA and its key load back as a CA.
    let ca = vigil_pki::Ca::load(
        &std::fs::read_to_string(dir.join("ca.pem")).unwrap(),
        &std::fs::read_to_string(dir.join("ca.key")).unwrap(),
    )
    .unwrap();
    let info = vigil_pki::cert_info(ca.cert_der()).unwrap();
    assert_eq!(info.subject_cn.as_deref(), Some("Vigil fleet CA"));
    assert!(info.is_ca);
    // server.pem: the server certificate, then the CA's.
    let chain =
        vigil_pki::pem_certificates(&std::fs::read_to_string(dir.join("server.pem")).unwrap())
            .unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[1], ca.cert_der());
    let server = vigil_pki::cert_info(&chain[0]).unwrap();
    assert_eq!(server.subject_cn.as_deref(), Some("collector-1"));
    assert_eq!(server.not_after_ms, info.not_after_ms);
    // `ca show` reads the same fingerprint, from --dir or from the file.
    let show = ShowArgs {
        file: None,
        dir: Some(dir.clone()),
    };
    assert_eq!(show::file(&show, None), dir.join("ca.pem"));
    assert_eq!(fingerprint(&show::file(&show, None)), ca.fingerprint());
    show::run(&show, None, Output::Json, now()).unwrap();
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init(dir, &[]).unwrap();
    let before = std::fs::read(dir.join("ca.key")).unwrap();
    let err = init(dir, &[]).unwrap_err().to_string();
    assert!(
        err.contains("already holds ca.pem, ca.key, server.pem, server.key"),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(dir.join("ca.key")).unwrap(), before);
    // One file is enough to refuse, and nothing is written then.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("server.key"), "mine").unwrap();
    let err = init(other.path(), &[]).unwrap_err().to_string();
    assert!(err.contains("already holds server.key:"), "{err}");
    assert!(!other.path().join("ca.pem").exists());

    // --force: a new CA, keys still private.
    let old = fingerprint(&dir.join("ca.pem"));
    init(dir, &["--force"]).unwrap();
    assert_ne!(fingerprint(&dir.join("ca.pem")), old);
    assert_eq!(mode(&dir.join("ca.key")), 0o600);
    assert!(
        std::fs::read_dir(dir).unwrap().count() == 4,
        "no temporary file is left"
    );
}

#[test]
fn a_symlink_in_the_way_is_refused_or_replaced_never_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    std::fs::create_dir(&dir).unwrap();
    let victim = tmp.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    symlink(&victim, dir.join("ca.key")).unwrap();
    assert!(
        init(&dir, &[])
            .unwrap_err()
            .to_string()
            .contains("already holds ca.key")
    );
    init(&dir, &["--force"]).unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(
        !std::fs::symlink_metadata(dir.join("ca.key"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn init_with_your_own_ca_copies_it_and_issues_only_the_server_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let own =
        vigil_pki::Ca::generate("Corp Root", Duration::from_secs(400 * 86_400), now()).unwrap();
    let (cert, key) = (tmp.path().join("corp.pem"), tmp.path().join("corp.key"));
    std::fs::write(&cert, own.cert_pem()).unwrap();
    std::fs::write(&key, own.key_pem()).unwrap();
    let dir = tmp.path().join("pki");
    let (c, k) = (cert.to_str().unwrap(), key.to_str().unwrap());
    init(&dir, &["--ca-cert", c, "--ca-key", k]).unwrap();
    assert_eq!(fingerprint(&dir.join("ca.pem")), own.fingerprint());
    assert_eq!(
        std::fs::read_to_string(dir.join("ca.key")).unwrap(),
        own.key_pem()
    );
    let chain =
        vigil_pki::pem_certificates(&std::fs::read_to_string(dir.join("server.pem")).unwrap())
            .unwrap();
    let server = vigil_pki::cert_info(&chain[0]).unwrap();
    assert_eq!(server.issuer_cn.as_deref(), Some("Corp Root"));
    // The server certificate ends with the CA.
    assert_eq!(
        server.not_after_ms,
        vigil_pki::cert_info(own.cert_der()).unwrap().not_after_ms
    );

    // The directory's own CA with --force: a new server certificate, the same CA.
    let old_server = std::fs::read_to_string(dir.join("server.pem")).unwrap();
    let (c, k) = (dir.join("ca.pem"), dir.join("ca.key"));
    let (c, k) = (c.to_str().unwrap(), k.to_str().unwrap());
    init(
        &dir,
        &[
            "--ca-cert",
            c,
            "--ca-key",
            k,
            "--name",
            "c2.example",
            "--force",
        ],
    )
    .unwrap();
    assert_eq!(fingerprint(&dir.join("ca.pem")), own.fingerprint());
    assert_ne!(
        std::fs::read_to_string(dir.join("server.pem")).unwrap(),
        old_server
    );

    // A key of another CA is refused, naming both flags, and nothing is written.
    let other = vigil_pki::Ca::generate("Other", Duration::from_secs(86_400), now()).unwrap();
    std::fs::write(&key, other.key_pem()).unwrap();
    let fresh = tmp.path().join("fresh");
    let err = init(
        &fresh,
        &[
            "--ca-cert",
            cert.to_str().unwrap(),
            "--ca-key",
            key.to_str().unwrap(),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("--ca-cert") && err.contains("--ca-key"),
        "{err}"
    );
    assert!(err.contains("does not belong"), "{err}");
    assert!(!fresh.exists());
    // A server certificate given as a CA is refused.
    let err = init(
        &fresh,
        &[
            "--ca-cert",
            dir.join("server.pem").to_str().unwrap(),
            "--ca-key",
            dir.join("server.key").to_str().unwrap(),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("not a CA certificate"), "{err}");
    let err = init(&fresh, &["--ca-cert", "/nonexistent.pem", "--ca-key", k])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("cannot read --ca-cert /nonexistent.pem: no such file"),
        "{err}"
    );
}

#[test]
fn default_names_are_the_host_name_and_localhost() {
    assert_eq!(
        init::default_names(Some("web-1".into())),
        ["web-1", "localhost"]
    );
    assert_eq!(init::default_names(Some("localhost".into())), ["localhost"]);
    assert_eq!(init::default_names(Some("odd_name".into())), ["localhost"]);
    assert_eq!(init::default_names(None), ["localhost"]);
}

#[test]
fn init_prints_what_to_paste_and_the_agents_command() {
    let dir = Path::new("/etc/vigil/pki");
    let pin = format!("SHA256:{}", "ab".repeat(32));
    let summary = init::Summary {
        dir: dir.display().to_string(),
        ca_fingerprint: pin.clone(),
        own_ca: false,
        ca_subject: "Vigil fleet CA".into(),
        ca_not_after: crate::output::unix_seconds(2_110_600_200_000),
        server_names: vec!["web-1".into(), "localhost".into()],
        server_ips: vec!["127.0.0.1".into(), "::1".into()],
        files: init::Paths::in_dir(dir),
    };
    let mut out = Vec::new();
    init::render(&summary, Output::Table, true, &mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!(
            "wrote /etc/vigil/pki/ca.pem       the new CA's certificate (\"Vigil fleet CA\")\n\
             wrote /etc/vigil/pki/ca.key       the CA's key (mode 0600: keep it secret)\n\
             wrote /etc/vigil/pki/server.pem   the collector's certificate for web-1, localhost, \
             127.0.0.1, ::1, then the CA's\n\
             wrote /etc/vigil/pki/server.key   the collector's key (mode 0600)\n\
             \n\
             CA fingerprint: {pin}\n\
             \n\
             Add to the collector's config (/etc/vigil/collector.toml), then restart it:\n\
             \n\
             [tls]\n\
             cert_file = \"/etc/vigil/pki/server.pem\"\n\
             key_file = \"/etc/vigil/pki/server.key\"\n\
             client_ca_file = \"/etc/vigil/pki/ca.pem\"\n\
             \n\
             [enroll]\n\
             ca_cert_file = \"/etc/vigil/pki/ca.pem\"\n\
             ca_key_file = \"/etc/vigil/pki/ca.key\"\n\
             \n\
             The collector runs as user vigil: let it read the keys with\n\
             chown -R vigil:vigil /etc/vigil/pki\n\
             \n\
             Then create a join token (vigil enroll create --hosts 'web-*' --ttl 24h) and \
             start each agent with:\n\
             \n\
             vigil-agent --join TOKEN --collector https://web-1:7070 --ca-fingerprint {pin}\n"
        )
    );
    let mut out = Vec::new();
    init::render(&summary, Output::Json, false, &mut out).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(json["ca_fingerprint"], pin);
    assert_eq!(json["files"]["server_key"], "/etc/vigil/pki/server.key");
    assert_eq!(json["server_ips"][1], "::1");
}

#[test]
fn show_prints_subject_validity_and_fingerprint() {
    let ca = vigil_pki::Ca::generate("Vigil fleet CA", init::CA_VALIDITY, now()).unwrap();
    let info = vigil_pki::cert_info(ca.cert_der()).unwrap();
    let now_ms = 1_795_240_200_000;
    let mut out = Vec::new();
    show::render(
        Path::new("ca.pem"),
        std::slice::from_ref(&info),
        Output::Table,
        now_ms,
        &mut out,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!(
            "FILE         ca.pem\n\
             SUBJECT      Vigil fleet CA\n\
             ISSUER       Vigil fleet CA (self-signed)\n\
             CA           yes\n\
             SERIAL       {}\n\
             VALID FROM   2026-11-21 04:50:00 UTC (1h ago)\n\
             VALID UNTIL  2036-11-18 05:50:00 UTC (in 3650d)\n\
             FINGERPRINT  {}\n",
            info.serial,
            ca.fingerprint()
        )
    );
    // Expired certificates say so.
    let mut out = Vec::new();
    let later = info.not_after_ms + 86_400_000;
    show::render(
        Path::new("ca.pem"),
        std::slice::from_ref(&info),
        Output::Table,
        later,
        &mut out,
    )
    .unwrap();
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("(1d ago): EXPIRED\n")
    );
    let mut out = Vec::new();
    show::render(Path::new("ca.pem"), &[info], Output::Json, now_ms, &mut out).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(json[0]["fingerprint"], ca.fingerprint());
    assert_eq!(json[0]["ca"], true);
    assert_eq!(json[0]["not_before"], 1_795_236_600);
}

#[test]
fn show_finds_its_file_and_says_what_is_wrong() {
    let args = |file: Option<&str>, dir: Option<&str>| ShowArgs {
        file: file.map(PathBuf::from),
        dir: dir.map(PathBuf::from),
    };
    assert_eq!(
        show::file(&args(Some("x.pem"), None), Some(Path::new("g.pem"))),
        Path::new("x.pem")
    );
    assert_eq!(
        show::file(&args(None, Some("d")), Some(Path::new("g.pem"))),
        Path::new("d/ca.pem")
    );
    assert_eq!(
        show::file(&args(None, None), Some(Path::new("g.pem"))),
        Path::new("g.pem")
    );
    assert!(show::file(&args(None, None), None).ends_with("ca.pem"));
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("none.pem");
    let err = show::run(&args(missing.to_str(), None), None, Output::Table, now()).unwrap_err();
    assert!(
        err.to_string()
            .contains("no such file (make one with `vigil ca init`"),
        "{err}"
    );
    let junk = tmp.path().join("junk.pem");
    std::fs::write(&junk, "hello").unwrap();
    let err = show::run(&args(junk.to_str(), None), None, Output::Table, now()).unwrap_err();
    assert!(err.to_string().contains("no certificate found"), "{err}");
}

#[test]
fn ca_needs_no_collector_and_no_token() {
    // A token file that does not exist would stop every other command before it starts.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let cli = parse(&[
        "--token-file",
        "/nonexistent/token",
        "--collector",
        "http://192.0.2.1:1",
        "ca",
        "init",
        "--dir",
        dir.to_str().unwrap(),
        "-o",
        "json",
    ])
    .unwrap();
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(crate::run(cli))
        .unwrap();
    assert!(dir.join("ca.pem").exists());
}
