use super::*;
use crate::config::EnrollConfig;
use rcgen::{CertificateParams, DnType, KeyPair};
use tonic::Code;
use vigil_proto::v1::CreateTokenRequest;
use vigil_store::memory::MemoryStore;

const NOW: i64 = 1_800_000_000_000;
const DAY: i64 = 86_400_000;

struct Fixture {
    _dir: tempfile::TempDir,
    config: EnrollConfig,
    store: Arc<dyn Store>,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let now = UNIX_EPOCH + Duration::from_millis(NOW as u64 - DAY as u64);
        let ca = vigil_pki::Ca::generate("test fleet CA", Duration::from_secs(3650 * 86_400), now)
            .unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).unwrap();
        std::fs::write(dir.path().join("ca.key"), ca.key_pem()).unwrap();
        let config = EnrollConfig {
            ca_cert_file: Some(dir.path().join("ca.pem")),
            ca_key_file: Some(dir.path().join("ca.key")),
            ..EnrollConfig::default()
        };
        Fixture {
            _dir: dir,
            config,
            store: Arc::new(MemoryStore::new()),
        }
    }

    /// The enrollment as a collector (re)started on this store would have it.
    fn open(&self) -> (Enrollment, Arc<Revocations>) {
        let auth = new_auth();
        let revocations = auth.revocations().clone();
        let e = Enrollment::open(&self.config, self.store.clone(), auth).unwrap();
        (e, revocations)
    }
}

fn new_auth() -> Arc<Auth> {
    Arc::new(Auth::from_config(&crate::config::Config::default()).unwrap())
}

fn token(e: &Enrollment, hosts: &[&str], uses: u32, replace: bool) -> String {
    e.create_token(
        &CreateTokenRequest {
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            ttl_ms: DAY,
            uses,
            replace,
            description: "test".into(),
        },
        "admin",
        NOW,
    )
    .unwrap()
    .token
}

fn csr(name: &str) -> Vec<u8> {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.serialize_request(&key).unwrap().der().to_vec()
}

fn join(e: &Enrollment, token: &str, host: &str, now: i64) -> Result<CertificateResponse, Status> {
    e.join(
        &JoinRequest {
            token: token.into(),
            host: host.into(),
            csr_der: csr(host),
        },
        "127.0.0.1:1",
        now,
    )
}

fn nothing_stored(f: &Fixture) {
    assert!(f.store.kv_scan(Space::Identities).unwrap().is_empty());
}

#[test]
fn a_host_joins_with_a_token_and_gets_its_own_certificate() {
    let f = Fixture::new();
    let (e, _) = f.open();
    let text = token(&e, &["web-*"], 0, false);
    assert!(text.starts_with("vjt."));
    let cert = join(&e, &text, "web-1", NOW).unwrap();
    assert_eq!(cert.host, "web-1");
    assert_eq!(
        cert.not_after_ms - cert.not_before_ms,
        30 * DAY + 5 * 60_000
    );
    let der = vigil_pki::pem_certificates(&cert.certificate_pem).unwrap();
    assert_eq!(
        crate::tls::certificate_host(&der[0]).as_deref(),
        Some("web-1")
    );
    assert_eq!(
        crate::tls::certificate_serial(&der[0]).unwrap(),
        cert.serial
    );
    assert!(cert.ca_pem.contains("BEGIN CERTIFICATE"));

    // Kept across a restart: the token's use, the identity.
    let (e, _) = f.open();
    let tokens = e.tokens();
    assert_eq!((tokens.len(), tokens[0].used), (1, 1));
    let ids = e.identities();
    assert_eq!(ids[0].host, "web-1");
    assert_eq!(ids[0].serial, cert.serial);
    assert_eq!(ids[0].token_id, tokens[0].id);
    assert!(ids[0].key_fingerprint.starts_with("SHA256:"));
    // The secret is nowhere in the store.
    let secret = text.rsplit('.').next().unwrap();
    for (_, v) in f.store.kv_scan(Space::EnrollTokens).unwrap() {
        assert!(!String::from_utf8_lossy(&v).contains(secret));
    }
}

#[test]
fn every_misuse_of_a_token_is_refused_and_leaves_nothing_behind() {
    let f = Fixture::new();
    let (e, _) = f.open();
    let text = token(&e, &["web-*"], 1, false);
    let wrong_secret = format!(
        "{}{}",
        &text[..text.len() - 1],
        if text.ends_with('0') { '1' } else { '0' }
    );
    let err = join(&e, &wrong_secret, "web-1", NOW).unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(
        err.message().contains("unknown join token"),
        "{}",
        err.message()
    );
    let err = join(&e, "not-a-token", "web-1", NOW).unwrap_err();
    assert!(err.message().contains("malformed"), "{}", err.message());
    let err = join(&e, &text, "web-1", NOW + 2 * DAY).unwrap_err();
    assert!(err.message().contains("expired"), "{}", err.message());
    let err = join(&e, &text, "db-1", NOW).unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(err.message().contains("not among"), "{}", err.message());
    // A request whose subject names another host than the one asked for.
    let err = e
        .join(
            &JoinRequest {
                token: text.clone(),
                host: "web-1".into(),
                csr_der: csr("web-2"),
            },
            "peer",
            NOW,
        )
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(err.message().contains("another host"), "{}", err.message());
    let err = e
        .join(
            &JoinRequest {
                token: text.clone(),
                host: "web-1".into(),
                csr_der: b"garbage".to_vec(),
            },
            "peer",
            NOW,
        )
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    nothing_stored(&f);
    assert_eq!(e.tokens()[0].used, 0);
    assert_eq!(e.auth.refused(), vec![("join_refused", 6)]);

    // One use: the second host is refused.
    join(&e, &text, "web-1", NOW).unwrap();
    let err = join(&e, &text, "web-2", NOW).unwrap_err();
    assert!(err.message().contains("used up"), "{}", err.message());
    assert_eq!(e.identities().len(), 1);

    // A revoked token.
    let other = token(&e, &["*"], 0, false);
    e.revoke_token(&other, NOW).unwrap();
    let err = join(&e, &other, "web-3", NOW).unwrap_err();
    assert!(err.message().contains("revoked"), "{}", err.message());
    assert_eq!(e.identities().len(), 1);
}

#[test]
fn an_enrolled_host_is_not_taken_over_without_a_replace_token() {
    let f = Fixture::new();
    let (e, _) = f.open();
    let text = token(&e, &["web-*"], 0, false);
    let first = join(&e, &text, "web-1", NOW).unwrap();
    let err = join(&e, &text, "web-1", NOW).unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert!(err.message().contains("--replace"), "{}", err.message());
    assert_eq!(e.identities()[0].serial, first.serial);
    let replace = token(&e, &["web-1"], 1, true);
    let second = join(&e, &replace, "web-1", NOW).unwrap();
    assert_eq!(e.identities()[0].serial, second.serial);
}

#[test]
fn renewal_needs_the_current_certificate_and_the_same_host() {
    let f = Fixture::new();
    let (e, _) = f.open();
    let text = token(&e, &["web-*"], 0, false);
    let first = join(&e, &text, "web-1", NOW).unwrap();
    let renewed = e
        .renew("web-1", &first.serial, &csr("web-1"), NOW + 20 * DAY)
        .unwrap();
    assert_ne!(renewed.serial, first.serial);
    assert_eq!(renewed.not_before_ms, NOW + 20 * DAY - 5 * 60_000);
    let id = &e.identities()[0];
    assert_eq!(
        (id.renewals, id.serial.as_str()),
        (1, renewed.serial.as_str())
    );
    // Another host's name.
    let err = e
        .renew("web-1", &renewed.serial, &csr("web-2"), NOW + 20 * DAY)
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // A certificate this collector did not issue (or one expired).
    let err = e
        .renew("web-1", "abcdef", &csr("web-1"), NOW + 20 * DAY)
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = e
        .renew("web-1", &first.serial, &csr("web-1"), NOW + 40 * DAY)
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}

#[test]
fn a_revoked_host_is_refused_everywhere_until_unrevoked_and_its_old_certificates_stay_out() {
    let f = Fixture::new();
    let (e, revocations) = f.open();
    let text = token(&e, &["web-*"], 0, true);
    let first = join(&e, &text, "web-1", NOW).unwrap();
    let _stream = revocations.stream_opened("web-1");
    let (shown, ended) = e.revoke_host("web-1", NOW + 1).unwrap();
    assert_eq!((shown.revoked_ms, ended), (NOW + 1, 1));
    assert!(revocations.refuses(Some("web-1"), &first.serial).is_some());
    let err = join(&e, &text, "web-1", NOW + 2).unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(err.message().contains("revoked"), "{}", err.message());
    let err = e
        .renew("web-1", &first.serial, &csr("web-1"), NOW + 2)
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    // A restarted collector still refuses it.
    let (e, revocations) = f.open();
    assert!(revocations.refuses(Some("web-1"), &first.serial).is_some());
    assert_eq!(e.identities()[0].revoked_ms, NOW + 1);

    e.unrevoke_host("web-1", NOW + 3).unwrap();
    assert!(revocations.refuses(Some("web-1"), "other").is_none());
    assert!(revocations.refuses(Some("web-1"), &first.serial).is_some());
    let second = join(&e, &text, "web-1", NOW + 4).unwrap();
    let (_, revocations) = f.open();
    assert!(revocations.refuses(Some("web-1"), &second.serial).is_none());
    assert!(revocations.refuses(Some("web-1"), &first.serial).is_some());
    // A host that never enrolled can be revoked too (it may hold a hand-made certificate).
    let (e, revocations) = f.open();
    e.revoke_host("db-9", NOW).unwrap();
    assert!(revocations.host("db-9").is_some());
    assert_eq!(
        e.unrevoke_host("db-8", NOW).unwrap_err().code(),
        Code::NotFound
    );
}

#[test]
fn tokens_are_checked_when_made() {
    let f = Fixture::new();
    let (e, _) = f.open();
    let make = |hosts: Vec<String>, ttl_ms| {
        e.create_token(
            &CreateTokenRequest {
                hosts,
                ttl_ms,
                ..CreateTokenRequest::default()
            },
            "admin",
            NOW,
        )
    };
    assert!(make(vec![], DAY).unwrap_err().message().contains("--hosts"));
    assert!(
        make(vec!["a b".into()], DAY)
            .unwrap_err()
            .message()
            .contains("--hosts")
    );
    assert!(
        make(vec!["web".into()], 0)
            .unwrap_err()
            .message()
            .contains("--ttl")
    );
    assert!(
        make(vec!["web".into()], 31 * DAY)
            .unwrap_err()
            .message()
            .contains("max_token_ttl")
    );
    assert!(
        e.revoke_token("nope", NOW)
            .unwrap_err()
            .message()
            .contains("enroll list")
    );
    let made = make(vec!["web".into()], DAY).unwrap();
    let info = made.info.unwrap();
    assert_eq!(e.revoke_token(&info.id, NOW).unwrap().revoked_ms, NOW);
}

#[test]
fn enrollment_off_says_how_to_turn_it_on() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let e = Enrollment::open(&EnrollConfig::default(), store, new_auth()).unwrap();
    assert!(!e.enabled());
    let err = join(
        &e,
        "vjt.000000000000.00000000000000000000000000000000",
        "web-1",
        NOW,
    )
    .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("vigil ca init"), "{}", err.message());
}
