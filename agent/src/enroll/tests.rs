//! Enrollment tests: identity files and their modes, the renewal schedule with a clock the
//! test sets, the start-up plan; [`tls`] has the pin, join and renewal over real TLS on
//! 127.0.0.1 against a small collector of the tests' own.
//!
//! Certificates the handshakes see are valid from 1975 to 4096, so that the wall clock
//! rustls reads accepts them on any date; schedules are computed on fixed dates only.

mod tls;

use super::identity::{self, CA, CERT, KEY, PENDING_KEY};
use super::renew::{self, Clock, Next};
use super::x509::CertInfo;
use super::*;
use crate::config::{EnrollConfig, TlsConfig};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::CertificateDer;
use std::path::Path;
use std::sync::Mutex;

/// A fresh directory, removed when dropped.
pub(super) struct Scratch(PathBuf);

impl Scratch {
    pub(super) fn new(name: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("vigil-enroll-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A test CA.
pub(super) struct Pki {
    params: CertificateParams,
    key: KeyPair,
    pub(super) der: CertificateDer<'static>,
    pub(super) pem: String,
}

impl Pki {
    pub(super) fn new(name: &str) -> Self {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        let cert = params.self_signed(&key).unwrap();
        Self {
            params,
            key,
            der: cert.der().clone(),
            pem: cert.pem(),
        }
    }

    pub(super) fn fingerprint(&self) -> [u8; 32] {
        pin::fingerprint(&self.der).unwrap()
    }

    /// A certificate for `key` with `params`, signed by this CA.
    pub(super) fn sign(
        &self,
        params: &CertificateParams,
        key: &impl rcgen::PublicKeyData,
    ) -> rcgen::Certificate {
        let issuer = Issuer::from_params(&self.params, &self.key);
        params.signed_by(key, &issuer).unwrap()
    }

    /// A server certificate for localhost and 127.0.0.1: the chain (leaf, this CA) and the
    /// key, PEM.
    pub(super) fn server(&self) -> (String, String) {
        let (leaf, key) = self.leaf();
        (
            format!("{}{}", identity::pem("CERTIFICATE", &leaf), self.pem),
            key.serialize_pem(),
        )
    }

    /// A server certificate for localhost and 127.0.0.1, signed by this CA, and its key.
    pub(super) fn leaf(&self) -> (CertificateDer<'static>, KeyPair) {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = self.sign(&params, &key);
        (cert.der().clone(), key)
    }

    /// An agent identity for `host`, valid over `[not_before, not_after]`, written to `dir`.
    pub(super) fn write_identity(
        &self,
        dir: &Path,
        host: &str,
        not_before: (i32, u8, u8),
        not_after: (i32, u8, u8),
    ) -> KeyPair {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, host);
        params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = self.sign(&params, &key);
        identity::prepare_dir(dir).unwrap();
        identity::write_atomic(dir, KEY, key.serialize_pem().as_bytes()).unwrap();
        identity::write_atomic(dir, CERT, cert.pem().as_bytes()).unwrap();
        identity::write_atomic(dir, CA, self.pem.as_bytes()).unwrap();
        key
    }
}

/// A clock the test sets.
pub(super) struct FakeClock(Mutex<SystemTime>);

impl FakeClock {
    pub(super) fn at(t: SystemTime) -> Self {
        Self(Mutex::new(t))
    }
}

impl Clock for FakeClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

/// Seconds since the epoch at midnight UTC of a date.
pub(super) fn date(y: i32, m: u8, d: u8) -> SystemTime {
    let t = rcgen::date_time_ymd(y, m, d).unix_timestamp();
    SystemTime::UNIX_EPOCH + Duration::from_secs(t as u64)
}

pub(super) const TOKEN: &str = "vjt.0123456789ab.00112233445566778899aabbccddeeff";

/// An agent configuration for an https collector at `url` with the identity in `dir`.
pub(super) fn config(url: &str, dir: &Path, token: Option<&str>, pin: Option<[u8; 32]>) -> Config {
    Config {
        collector: url.to_owned(),
        enroll: EnrollConfig {
            token: token.unwrap_or_default().to_owned(),
            ca_fingerprint: pin
                .map(|p| vigil_proto::pin::format(&p))
                .unwrap_or_default(),
            dir: Some(dir.to_owned()),
            ..EnrollConfig::default()
        },
        ..Config::default()
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
#[cfg(unix)]
fn identity_files_are_private_and_written_whole() {
    let tmp = Scratch::new("files");
    let dir = tmp.path().join("a/identity");
    assert!(identity::prepare_dir(&dir).unwrap(), "created");
    assert!(!identity::prepare_dir(&dir).unwrap(), "already there");
    assert_eq!(mode(&dir), 0o700);
    identity::write_atomic(&dir, CERT, b"one").unwrap();
    assert_eq!(mode(&dir.join(CERT)), 0o600);
    identity::write_atomic(&dir, CERT, b"two").unwrap();
    assert_eq!(std::fs::read(dir.join(CERT)).unwrap(), b"two");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, [CERT], "no temporary file left");

    // A directory open to others is narrowed.
    use std::os::unix::fs::PermissionsExt;
    let open = tmp.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
    identity::prepare_dir(&open).unwrap();
    assert_eq!(mode(&open), 0o700);
}

#[test]
fn an_identity_loads_only_when_its_files_agree() {
    let tmp = Scratch::new("load");
    let dir = tmp.path();
    assert!(
        identity::load(dir).unwrap().is_none(),
        "no cert.pem: not enrolled"
    );
    let pki = Pki::new("Test CA");
    pki.write_identity(dir, "web-1", (1975, 1, 1), (4096, 1, 1));
    let id = identity::load(dir).unwrap().unwrap();
    assert_eq!(id.info.host, "web-1");
    assert_eq!(id.info.not_before, date(1975, 1, 1));
    assert_eq!(id.info.not_after, date(4096, 1, 1));
    assert!(!id.info.serial.is_empty());
    assert!(
        !format!("{id:?}").contains("PRIVATE KEY"),
        "Debug shows no key"
    );

    // Another key in key.pem: refused, naming both files.
    let other = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    identity::write_atomic(dir, KEY, other.serialize_pem().as_bytes()).unwrap();
    let e = identity::load(dir).unwrap_err();
    assert!(
        e.contains("cert.pem is not the certificate of the key in"),
        "{e}"
    );
    std::fs::write(dir.join(KEY), "garbage").unwrap();
    let e = identity::load(dir).unwrap_err();
    assert!(e.contains("is not a PKCS#8 P-256 key"), "{e}");
    std::fs::remove_file(dir.join(CA)).unwrap();
    let e = identity::load(dir).unwrap_err();
    assert!(e.contains("ca.pem"), "{e}");
}

#[test]
fn a_renewal_cut_short_is_finished_or_undone() {
    let tmp = Scratch::new("recover");
    let dir = tmp.path();
    let pki = Pki::new("Test CA");
    let old = pki.write_identity(dir, "web-1", (1975, 1, 1), (4096, 1, 1));

    // A request whose certificate never came: the pending key goes.
    let unanswered = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    identity::write_pending_key(dir, unanswered.serialize_pem().as_bytes()).unwrap();
    let id = identity::load(dir).unwrap().unwrap();
    assert!(!dir.join(PENDING_KEY).exists());
    assert_eq!(id.key_pem, old.serialize_pem().as_bytes());

    // The new certificate is in place but key.pem is still the old one: finished.
    let new_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    identity::write_pending_key(dir, new_key.serialize_pem().as_bytes()).unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, "web-1");
    let cert = pki.sign(&params, &new_key);
    identity::write_atomic(dir, CERT, cert.pem().as_bytes()).unwrap();
    let id = identity::load(dir).unwrap().unwrap();
    assert_eq!(id.key_pem, new_key.serialize_pem().as_bytes());
    assert!(!dir.join(PENDING_KEY).exists());
}

#[test]
fn renewal_is_due_at_two_thirds_of_the_lifetime() {
    let info = CertInfo {
        host: "web-1".into(),
        serial: "01".into(),
        not_before: date(2030, 1, 1),
        not_after: date(2030, 1, 31),
    };
    assert_eq!(renew::renew_at(&info), date(2030, 1, 21));
    let clock = FakeClock::at(date(2030, 1, 1));
    assert_eq!(
        renew::next(&info, clock.now()),
        Next::Wait(Duration::from_secs(20 * 86_400))
    );
    *clock.0.lock().unwrap() = date(2030, 1, 21) - Duration::from_secs(1);
    assert_eq!(
        renew::next(&info, clock.now()),
        Next::Wait(Duration::from_secs(1))
    );
    *clock.0.lock().unwrap() = date(2030, 1, 21);
    assert_eq!(renew::next(&info, clock.now()), Next::Renew);
    *clock.0.lock().unwrap() = date(2030, 1, 30);
    assert_eq!(renew::next(&info, clock.now()), Next::Renew);
    *clock.0.lock().unwrap() = date(2030, 1, 31);
    assert_eq!(renew::next(&info, clock.now()), Next::Expired);
    // A clock behind the certificate's start waits for the whole two thirds.
    assert_eq!(
        renew::next(&info, date(2029, 12, 31)),
        Next::Wait(Duration::from_secs(21 * 86_400))
    );
}

#[test]
fn the_plan_at_start_follows_the_identity_and_the_token() {
    let tmp = Scratch::new("plan");
    let dir = tmp.path().join("identity");
    let pki = Pki::new("Test CA");
    let pin = Some(pki.fingerprint());
    let url = "https://collector.example:7070";
    let now = date(2030, 6, 1);

    // Plain http: nothing to do with identities.
    let plain = Config::default();
    assert!(matches!(plan(&plain, "web-1", now), Ok(Plan::Plain)));

    // Nothing at all: the error says how to get enrolled.
    let e = plan(&config(url, &dir, None, None), "web-1", now)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("tls.ca_file:"), "{e}");
    assert!(e.contains("vigil enroll create --hosts web-1"), "{e}");
    assert!(e.contains("--join TOKEN --ca-fingerprint"), "{e}");
    // With a token: join.
    let with_token = config(url, &dir, Some(TOKEN), pin);
    assert!(matches!(plan(&with_token, "web-1", now), Ok(Plan::Join(_))));
    // Server-only TLS, as before enrollment.
    let mut server_only = config(url, &dir, None, None);
    let ca_file = tmp.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.pem).unwrap();
    server_only.tls = TlsConfig {
        ca_file: Some(ca_file),
        ..TlsConfig::default()
    };
    assert!(matches!(
        plan(&server_only, "web-1", now),
        Ok(Plan::Static(_))
    ));

    // A valid certificate wins, token or not.
    pki.write_identity(&dir, "web-1", (2030, 1, 1), (2030, 12, 31));
    for c in [config(url, &dir, None, None), with_token.clone()] {
        match plan(&c, "web-1", now) {
            Ok(Plan::Enrolled(id)) => assert_eq!(id.info.host, "web-1"),
            other => panic!("{other:?}"),
        }
    }
    // One for another host name: join again with a token, else say so.
    assert!(matches!(plan(&with_token, "web-2", now), Ok(Plan::Join(_))));
    let e = plan(&config(url, &dir, None, None), "web-2", now)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("names another host than this agent's \"web-2\""),
        "{e}"
    );

    // Expired: join again with a token; without one, the error says to make one.
    let later = date(2031, 1, 1);
    match plan(&with_token, "web-1", later) {
        Ok(Plan::Join(why)) => assert!(why.contains("expired at 2030-12-31T00:00:00Z"), "{why}"),
        other => panic!("{other:?}"),
    }
    let e = plan(&config(url, &dir, None, None), "web-1", later)
        .unwrap_err()
        .to_string();
    assert!(e.contains("expired at 2030-12-31T00:00:00Z"), "{e}");
    assert!(e.contains("`vigil enroll create"), "{e}");
    assert!(e.contains("--join TOKEN"), "{e}");

    // Unreadable files: say which.
    std::fs::write(dir.join(CERT), "not PEM").unwrap();
    let e = plan(&config(url, &dir, None, None), "web-1", now)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("enroll.dir:") && e.contains("cert.pem holds no PEM certificate"),
        "{e}"
    );
    assert!(matches!(plan(&with_token, "web-1", now), Ok(Plan::Join(_))));
}

#[test]
fn requests_name_the_host_and_keys_are_pkcs8() {
    let (key_pem, csr_der) = request("web-1").unwrap();
    assert!(
        key_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"),
        "{key_pem}"
    );
    let key = identity::public_key(key_pem.as_bytes()).expect("a P-256 PKCS#8 key");
    let csr = rcgen::CertificateSigningRequestParams::from_der(&csr_der.into()).unwrap();
    assert_eq!(
        rcgen::PublicKeyData::subject_public_key_info(&csr.public_key),
        key
    );
    let cn = csr.params.distinguished_name.get(&DnType::CommonName);
    assert_eq!(cn, Some(&rcgen::DnValue::Utf8String("web-1".into())));
    let (other, _) = request("web-1").unwrap();
    assert_ne!(other, key_pem, "a new key every time");
}

#[test]
fn refusals_say_what_to_do_and_never_show_the_token() {
    let tmp = Scratch::new("refusals");
    let c = config("https://c:7070", tmp.path(), Some(TOKEN), Some([7; 32]));
    let enroller = Enroller::new(&c, "web-1").unwrap();
    assert!(!format!("{enroller:?}").contains(TOKEN));
    let e = refused(
        "join",
        &tonic::Status::unauthenticated("join token 0123456789ab expired at X; make a new one."),
        &enroller,
    );
    assert_eq!(
        e.to_string(),
        "join refused by the collector https://c:7070: UNAUTHENTICATED: join token \
         0123456789ab expired at X; make a new one. Then start the agent with --join \
         NEW_TOKEN (or enroll.token, VIGIL_AGENT__ENROLL__TOKEN, enroll.token_file)."
    );
    assert!(!e.is_transient());
    let e = refused(
        "join",
        &tonic::Status::permission_denied("not among"),
        &enroller,
    );
    assert!(
        e.to_string()
            .ends_with("This agent's host name is \"web-1\" (hostname / --hostname)."),
        "{e}"
    );
    let e = refused(
        "renewal",
        &tonic::Status::permission_denied("host \"web-1\" was revoked"),
        &enroller,
    );
    assert_eq!(
        e.to_string(),
        "renewal refused by the collector https://c:7070: PERMISSION_DENIED: host \"web-1\" \
         was revoked."
    );
    assert!(refused("renewal", &tonic::Status::unavailable("busy"), &enroller).is_transient());
}
