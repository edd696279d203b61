//! Enrollment end to end, with the real binaries: `vigil ca init` makes the fleet's CA and
//! the collector's certificate; `vigil enroll create` makes a join token; an agent given
//! only that token, the collector's URL and the CA's fingerprint makes its own key, gets a
//! certificate, streams over mTLS and renews by itself; `vigil hosts revoke` ends its
//! stream and keeps it out; every misuse is refused and leaves nothing behind.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use vigil_tests::{Collector, Running, bin, free_port, wait_for};

const ADMIN: &str = "enroll-admin-secret-0123456789";

/// A collector with a fresh CA, enrollment on, and an admin token.
struct Fleet {
    dir: PathBuf,
    collector: Collector,
    fingerprint: String,
    /// The CA(s) the CLI trusts for the collector's certificate.
    cli_ca: PathBuf,
}

impl Fleet {
    fn start(dir: &Path, cert_ttl: &str) -> Fleet {
        let pki = dir.join("pki");
        let out = Command::new(bin("vigil"))
            .args(["ca", "init", "--dir"])
            .arg(&pki)
            .args(["--name", "localhost", "--ip", "127.0.0.1"])
            .output()
            .unwrap();
        assert!(out.status.success(), "vigil ca init: {}", text(&out));
        let fingerprint = fingerprint_in(&text(&out));
        let config = dir.join("collector.toml");
        std::fs::write(
            &config,
            format!(
                "[tls]\ncert_file = {server:?}\nkey_file = {key:?}\n\n\
                 [enroll]\nca_cert_file = {ca:?}\nca_key_file = {ca_key:?}\ncert_ttl = {cert_ttl:?}\n\n\
                 [[auth.tokens]]\nname = \"admin\"\nrole = \"admin\"\nsecret = {ADMIN:?}\n",
                server = pki.join("server.pem"),
                key = pki.join("server.key"),
                ca = pki.join("ca.pem"),
                ca_key = pki.join("ca.key"),
            ),
        )
        .unwrap();
        let collector = Collector::start_with_config(free_port(), &dir.join("data"), &config, &[]);
        Fleet {
            dir: dir.to_owned(),
            collector,
            fingerprint,
            cli_ca: pki.join("ca.pem"),
        }
    }

    /// `kill -9` the collector and start it again on the same port, data and config.
    fn crash_and_restart(&mut self) {
        self.collector.process.kill9();
        let port = self.collector.port;
        self.collector = Collector::start_with_config(
            port,
            &self.dir.join("data"),
            &self.dir.join("collector.toml"),
            &[],
        );
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.collector.port)
    }

    /// `vigil` against this collector, over TLS, as admin.
    fn vigil(&self, args: &[&str]) -> Output {
        Command::new(bin("vigil"))
            .args(["--collector", &self.url(), "--ca-cert"])
            .arg(&self.cli_ca)
            .args(args)
            .env("VIGIL_TOKEN", ADMIN)
            .output()
            .unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let out = self.vigil(&all);
        assert!(out.status.success(), "vigil {all:?}: {}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// A new join token.
    fn token(&self, hosts: &str, ttl: &str, extra: &[&str]) -> String {
        let mut args = vec!["enroll", "create", "--hosts", hosts, "--ttl", ttl];
        args.extend(extra);
        let made = self.json(&args);
        made["token"].as_str().unwrap().to_owned()
    }

    /// An agent joining as `host` with `token` and `fingerprint`.
    fn agent(&self, host: &str, token: &str, fingerprint: &str) -> Running {
        let mut cmd = Command::new(bin("vigil-agent"));
        cmd.args([
            "--collector",
            &self.url(),
            "--hostname",
            host,
            "--interval",
            "1s",
        ])
        .args(["--join", token, "--ca-fingerprint", fingerprint])
        .arg("--identity-dir")
        .arg(self.identity_dir(host))
        .arg("--spool-dir")
        .arg(self.dir.join(format!("spool-{host}")))
        .env("RUST_LOG", "info");
        Running::spawn(cmd, self.dir.join(format!("agent-{host}.log")))
    }

    fn identity_dir(&self, host: &str) -> PathBuf {
        self.dir.join(format!("identity-{host}"))
    }

    /// The host's entry of `vigil hosts --output json`, if any.
    fn host(&self, host: &str) -> Option<serde_json::Value> {
        let hosts = self.json(&["hosts"]);
        hosts
            .as_array()?
            .iter()
            .find(|h| h["host"] == host)
            .cloned()
    }

    /// The identity's serial once the host is up over mTLS.
    fn wait_up(&self, host: &str) -> String {
        wait_for(
            Duration::from_secs(60),
            &format!("{host} to stream"),
            || {
                let h = self.host(host)?;
                (h["up"] == true).then(|| h["identity"]["serial"].as_str().map(str::to_owned))?
            },
        )
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The first `SHA256:<64 hex>` in `text`.
fn fingerprint_in(text: &str) -> String {
    let start = text.find("SHA256:").expect("a fingerprint in the output");
    let fp: String = text[start..].chars().take(7 + 64).collect();
    assert!(fp[7..].chars().all(|c| c.is_ascii_hexdigit()), "{fp}");
    fp
}

/// Waits for the agent to exit; returns its log.
fn exits(agent: &mut Running, what: &str) -> String {
    wait_for(Duration::from_secs(30), what, || {
        (!agent.alive()).then_some(())
    });
    agent.log()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn an_agent_with_only_a_token_and_a_fingerprint_streams_over_mtls_and_renews_by_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::start(tmp.path(), "15s");
    let token = fleet.token("web-*", "1h", &[]);
    let mut agent = fleet.agent("web-1", &token, &fleet.fingerprint);
    let first = fleet.wait_up("web-1");

    let id = fleet.identity_dir("web-1");
    assert_eq!(mode(&id.join("key.pem")), 0o600);
    assert_eq!(mode(&id.join("cert.pem")), 0o600);
    assert!(id.join("ca.pem").exists());
    // The private key never left the host: the collector holds no copy of it.
    let key = std::fs::read_to_string(id.join("key.pem")).unwrap();
    let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    let log = fleet.collector.process.log();
    assert!(!log.contains(&body[..40]));
    let listed = fleet.json(&["enroll", "list"]);
    assert_eq!(listed[0]["used"], 1, "{listed}");

    // Renewal at two thirds of 15 s, with the certificate itself; streaming goes on.
    let cert = std::fs::read(id.join("cert.pem")).unwrap();
    let renewed = wait_for(Duration::from_secs(60), "a renewal", || {
        let h = fleet.host("web-1")?;
        let serial = h["identity"]["serial"].as_str()?.to_owned();
        (serial != first && h["up"] == true).then_some(serial)
    });
    // The collector lists the serial as soon as it issues the certificate; the agent
    // stores it once the answer is back, a moment later (longer on a busy disk).
    wait_for(Duration::from_secs(30), "the renewed cert.pem", || {
        (std::fs::read(id.join("cert.pem")).unwrap() != cert).then_some(())
    });
    // Past the first certificate's end, the agent still streams (on a later one). Another
    // renewal falls due every 10 s, and the stream is down for the moment it takes to
    // reconnect with it: a check landing on that moment waits for the reconnect.
    std::thread::sleep(Duration::from_secs(16));
    wait_for(
        Duration::from_secs(10),
        "web-1 up on a renewed certificate",
        || {
            let h = fleet.host("web-1")?;
            (h["up"] == true && h["identity"]["serial"] != first).then_some(())
        },
    );
    assert!(agent.alive(), "{}", agent.log());
    let log = agent.log();
    assert!(!log.contains("expired"), "{log}");
    let _ = renewed;

    // A restart needs no token: the stored identity is used.
    agent.terminate();
    let mut cmd = Command::new(bin("vigil-agent"));
    cmd.args([
        "--collector",
        &fleet.url(),
        "--hostname",
        "web-1",
        "--interval",
        "1s",
    ])
    .arg("--identity-dir")
    .arg(&id)
    .arg("--spool-dir")
    .arg(tmp.path().join("spool-web-1"));
    let _again = Running::spawn(cmd, tmp.path().join("agent-web-1-again.log"));
    fleet.wait_up("web-1");
}

#[test]
fn revoking_a_host_ends_its_stream_and_refuses_it_from_then_on() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::start(tmp.path(), "1h");
    let token = fleet.token("db-*", "1h", &[]);
    let mut agent = fleet.agent("db-1", &token, &fleet.fingerprint);
    fleet.wait_up("db-1");
    let out = fleet.vigil(&["hosts", "revoke", "db-1"]);
    assert!(out.status.success(), "{}", text(&out));
    wait_for(Duration::from_secs(30), "db-1 to go down", || {
        (fleet.host("db-1")?["up"] == false).then_some(())
    });
    let h = fleet.host("db-1").unwrap();
    assert!(h["identity"]["revoked"].as_f64().unwrap() > 0.0, "{h}");
    // Reconnects are refused at the door.
    wait_for(Duration::from_secs(30), "refused reconnects", || {
        fleet
            .collector
            .process
            .log()
            .contains("certificate_revoked")
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(fleet.host("db-1").unwrap()["up"], false);
    agent.terminate();
    // Joining again under the revoked name is refused, even with a fresh token.
    std::fs::remove_dir_all(fleet.identity_dir("db-1")).unwrap();
    let fresh = fleet.token("db-*", "1h", &["--replace"]);
    let mut again = fleet.agent("db-1", &fresh, &fleet.fingerprint);
    let log = exits(&mut again, "the revoked host's join to fail");
    assert!(log.contains("revoked"), "{log}");
    assert!(!fleet.identity_dir("db-1").join("cert.pem").exists());
}

#[test]
fn every_misuse_is_refused_on_both_sides_and_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::start(tmp.path(), "1h");
    let good = fleet.token("web-*", "1h", &["--uses", "1"]);
    let refused = |host: &str, token: &str, fingerprint: &str, needle: &str| {
        let mut agent = fleet.agent(host, token, fingerprint);
        let log = exits(&mut agent, &format!("{host}'s join to fail ({needle})"));
        assert!(log.to_lowercase().contains(needle), "{host}: {log}");
        assert!(!fleet.identity_dir(host).join("cert.pem").exists());
        let _ = std::fs::remove_dir_all(fleet.identity_dir(host));
    };
    // A wrong secret, a token from nowhere.
    let wrong = format!("{}{}", &good[..good.len() - 4], "0000");
    refused("web-1", &wrong, &fleet.fingerprint, "unknown join token");
    // A host outside the token's patterns.
    refused("db-1", &good, &fleet.fingerprint, "not among");
    // A fingerprint that does not match: refused before the token is sent.
    let other = format!("SHA256:{}", "ab".repeat(32));
    refused("web-1", &good, &other, "fingerprint");
    // An expired token.
    let short = fleet.token("web-*", "1s", &[]);
    std::thread::sleep(Duration::from_millis(1500));
    refused("web-1", &short, &fleet.fingerprint, "expired");
    // Nothing was used, issued or stored.
    let tokens = fleet.json(&["enroll", "list"]);
    assert!(
        tokens.as_array().unwrap().iter().all(|t| t["used"] == 0),
        "{tokens}"
    );
    let hosts = fleet.json(&["hosts"]);
    assert!(
        hosts
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["identity"].is_null()),
        "{hosts}"
    );
    // Used up: the one use goes to web-1, web-2 is refused.
    let mut first = fleet.agent("web-1", &good, &fleet.fingerprint);
    fleet.wait_up("web-1");
    refused("web-2", &good, &fleet.fingerprint, "used up");
    // A revoked token.
    let revoked = fleet.token("web-*", "1h", &[]);
    let out = fleet.vigil(&["enroll", "revoke", &revoked]);
    assert!(out.status.success(), "{}", text(&out));
    refused("web-3", &revoked, &fleet.fingerprint, "revoked");
    first.terminate();
}

/// A certificate request (DER) for `name`, with a fresh key.
fn request_for(name: &str) -> Vec<u8> {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.serialize_request(&key).unwrap().der().to_vec()
}

#[test]
fn a_certificate_request_for_another_hosts_name_is_refused_at_join_and_at_renewal() {
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
    use vigil_proto::v1::enroll_client::EnrollClient;
    use vigil_proto::v1::{JoinRequest, RenewRequest};

    let _ = vigil_tests::http_client(); // installs the rustls crypto provider once
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::start(tmp.path(), "1h");
    let token = fleet.token("web-*", "1h", &[]);
    let mut agent = fleet.agent("web-1", &token, &fleet.fingerprint);
    fleet.wait_up("web-1");
    agent.terminate();
    let id = fleet.identity_dir("web-1");
    let ca = std::fs::read(id.join("ca.pem")).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca));
        let channel = Endpoint::from_shared(fleet.url())
            .unwrap()
            .tls_config(tls.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        // Join: the token allows web-*, the host asked for is web-5, the request names web-6.
        let err = EnrollClient::new(channel)
            .join(JoinRequest {
                token: token.clone(),
                host: "web-5".into(),
                csr_der: request_for("web-6"),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
        assert!(err.message().contains("another host"), "{}", err.message());

        // Renew as web-1 (its own certificate and key), asking for web-2's name.
        let identity = Identity::from_pem(
            std::fs::read(id.join("cert.pem")).unwrap(),
            std::fs::read(id.join("key.pem")).unwrap(),
        );
        let channel = Endpoint::from_shared(fleet.url())
            .unwrap()
            .tls_config(tls.identity(identity))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let err = EnrollClient::new(channel.clone())
            .renew(RenewRequest {
                csr_der: request_for("web-2"),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
        // Renew without any certificate is refused too.
        let bare = Endpoint::from_shared(fleet.url())
            .unwrap()
            .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca)))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let err = EnrollClient::new(bare)
            .renew(RenewRequest {
                csr_der: request_for("web-1"),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");
        // Its own name renews.
        EnrollClient::new(channel)
            .renew(RenewRequest {
                csr_der: request_for("web-1"),
            })
            .await
            .unwrap();
    });
    // Nothing was issued for web-2, web-5 or web-6.
    let hosts = fleet.json(&["hosts"]);
    let named: Vec<&str> = hosts
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| !h["identity"].is_null())
        .filter_map(|h| h["host"].as_str())
        .collect();
    assert_eq!(named, ["web-1"], "{hosts}");
}

#[test]
fn identities_tokens_and_revocations_survive_a_kill_9_of_the_collector() {
    let tmp = tempfile::tempdir().unwrap();
    let mut fleet = Fleet::start(tmp.path(), "1h");
    let token = fleet.token("app-*", "1h", &["--uses", "2"]);
    let mut agent = fleet.agent("app-1", &token, &fleet.fingerprint);
    let serial = fleet.wait_up("app-1");
    let out = fleet.vigil(&["hosts", "revoke", "app-1"]);
    assert!(out.status.success(), "{}", text(&out));
    agent.terminate();
    fleet.crash_and_restart();
    let h = fleet.host("app-1").unwrap();
    assert_eq!(h["identity"]["serial"], serial.as_str(), "{h}");
    assert!(h["identity"]["revoked"].as_f64().unwrap() > 0.0, "{h}");
    let tokens = fleet.json(&["enroll", "list"]);
    assert_eq!(tokens[0]["used"], 1, "{tokens}");
    // Still refused after the restart: its certificate at the door, its name at join.
    let mut cmd = Command::new(bin("vigil-agent"));
    cmd.args([
        "--collector",
        &fleet.url(),
        "--hostname",
        "app-1",
        "--interval",
        "1s",
    ])
    .arg("--identity-dir")
    .arg(fleet.identity_dir("app-1"))
    .arg("--spool-dir")
    .arg(tmp.path().join("spool-app-1"));
    let _again = Running::spawn(cmd, tmp.path().join("agent-app-1-again.log"));
    wait_for(
        Duration::from_secs(30),
        "the revoked certificate to be refused",
        || {
            fleet
                .collector
                .process
                .log()
                .contains("certificate_revoked")
                .then_some(())
        },
    );
    // The token's second use still works for another host.
    let mut other = fleet.agent("app-2", &token, &fleet.fingerprint);
    fleet.wait_up("app-2");
    other.terminate();
}

/// The collector's config for the CA rotation: which server certificate it presents, which
/// CAs it trusts for agents, which CA signs and what agents are told to trust.
fn rotation_config(dir: &Path, server: &str, client_ca: &str, signer: &str, bundle: &str) {
    std::fs::write(
        dir.join("collector.toml"),
        format!(
            "[tls]\ncert_file = {:?}\nkey_file = {:?}\nclient_ca_file = {:?}\n\n\
             [enroll]\nca_cert_file = {:?}\nca_key_file = {:?}\nca_bundle_file = {:?}\n\
             cert_ttl = \"15s\"\n\n\
             [[auth.tokens]]\nname = \"admin\"\nrole = \"admin\"\nsecret = {ADMIN:?}\n",
            dir.join(format!("{server}/server.pem")),
            dir.join(format!("{server}/server.key")),
            dir.join(client_ca),
            dir.join(format!("{signer}/ca.pem")),
            dir.join(format!("{signer}/ca.key")),
            dir.join(bundle),
        ),
    )
    .unwrap();
}

/// How many certificates a PEM file holds.
fn certificates_in(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap()
        .matches("BEGIN CERTIFICATE")
        .count()
}

#[test]
fn the_ca_rotates_without_any_agent_joining_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut fleet = Fleet::start(dir, "15s");
    let token = fleet.token("web-*", "1h", &[]);
    let mut agent = fleet.agent("web-1", &token, &fleet.fingerprint);
    let first = fleet.wait_up("web-1");
    let id = fleet.identity_dir("web-1");
    assert_eq!(certificates_in(&id.join("ca.pem")), 1);

    // 1. A new CA beside the old one; agents are told to trust both, the new one signs.
    let out = Command::new(bin("vigil"))
        .args(["ca", "init", "--dir"])
        .arg(dir.join("pki2"))
        .args([
            "--name",
            "localhost",
            "--ip",
            "127.0.0.1",
            "--ca-name",
            "Vigil fleet CA 2",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let new_fingerprint = fingerprint_in(&text(&out));
    let both = format!(
        "{}{}",
        std::fs::read_to_string(dir.join("pki/ca.pem")).unwrap(),
        std::fs::read_to_string(dir.join("pki2/ca.pem")).unwrap()
    );
    std::fs::write(dir.join("bundle.pem"), both).unwrap();
    rotation_config(dir, "pki", "bundle.pem", "pki2", "bundle.pem");
    fleet.cli_ca = dir.join("bundle.pem");
    fleet.crash_and_restart();
    // The agent renews (at two thirds of 15 s) from the new CA and learns both CAs.
    wait_for(Duration::from_secs(60), "a renewal from the new CA", || {
        let serial = fleet.host("web-1")?["identity"]["serial"]
            .as_str()?
            .to_owned();
        (serial != first && certificates_in(&id.join("ca.pem")) == 2).then_some(())
    });

    // 2. The collector presents a certificate from the new CA: the agent still trusts it.
    rotation_config(dir, "pki2", "bundle.pem", "pki2", "bundle.pem");
    fleet.crash_and_restart();
    fleet.wait_up("web-1");

    // 3. The old CA is dropped; new agents pin the new fingerprint.
    rotation_config(dir, "pki2", "pki2/ca.pem", "pki2", "pki2/ca.pem");
    fleet.crash_and_restart();
    fleet.wait_up("web-1");
    let log = fleet.collector.process.log();
    assert!(log.contains("cert:web-1"), "{log}");
    let fresh = fleet.token("web-*", "1h", &[]);
    let mut second = fleet.agent("web-2", &fresh, &new_fingerprint);
    fleet.wait_up("web-2");
    // The old fingerprint no longer matches anything the collector shows.
    let mut stale = fleet.agent("web-3", &fresh, &fleet.fingerprint);
    let log = exits(&mut stale, "a join pinned to the old CA to fail");
    assert!(log.to_lowercase().contains("fingerprint"), "{log}");
    agent.terminate();
    second.terminate();
}
