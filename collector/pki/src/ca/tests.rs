#![allow(clippy::unwrap_used)]

use super::*;
use crate::cert::{cert_info, pem_certificates};
use crate::testing::{DAY, T, at, now, pin_of, valid_for, verify};

const TEN_YEARS: Duration = Duration::from_secs(10 * 365 * 86_400);

fn ca() -> Ca {
    Ca::generate("Vigil fleet CA", TEN_YEARS, now()).unwrap()
}

#[test]
fn a_new_ca_is_a_p256_ca_valid_from_an_hour_ago() {
    let ca = ca();
    let info = cert_info(ca.cert_der()).unwrap();
    assert_eq!(info.subject_cn.as_deref(), Some("Vigil fleet CA"));
    assert_eq!(info.issuer_cn.as_deref(), Some("Vigil fleet CA"));
    assert!(info.is_ca);
    assert_eq!(info.not_before_ms, (T as i64 - 3600) * 1000);
    assert_eq!(info.not_after_ms, (T + TEN_YEARS.as_secs()) as i64 * 1000);
    assert_eq!(info.serial.len(), 32, "{}", info.serial);
    assert_eq!(info.fingerprint, ca.fingerprint());

    let (_, parsed) = x509_parser::parse_x509_certificate(ca.cert_der()).unwrap();
    let constraints = parsed.basic_constraints().unwrap().unwrap().value;
    assert!(constraints.ca);
    assert_eq!(constraints.path_len_constraint, Some(0));
    let usage = parsed.key_usage().unwrap().unwrap().value;
    assert!(usage.key_cert_sign() && usage.crl_sign());
    assert_eq!(
        parsed
            .public_key()
            .algorithm
            .parameters
            .as_ref()
            .map(|p| p.as_oid().unwrap().to_id_string()),
        Some("1.2.840.10045.3.1.7".to_owned()),
        "P-256"
    );
    // The key is PKCS#8, the form Ca::load reads.
    assert!(ca.key_pem().starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert_eq!(
        pem_certificates(ca.cert_pem()).unwrap(),
        vec![ca.cert_der().to_vec()]
    );
}

#[test]
fn the_fingerprint_is_sha256_over_the_spki_as_agents_pin_it() {
    let ca = ca();
    assert_eq!(ca.fingerprint(), pin_of(ca.cert_der()));
    assert!(vigil_proto::pin::parse(&ca.fingerprint()).is_ok());
    // Two CAs, two fingerprints.
    assert_ne!(ca.fingerprint(), self::ca().fingerprint());
}

#[test]
fn a_loaded_ca_is_the_same_ca_and_signs() {
    let made = ca();
    let loaded = Ca::load(made.cert_pem(), &made.key_pem()).unwrap();
    assert_eq!(loaded.fingerprint(), made.fingerprint());
    assert_eq!(loaded.cert_der(), made.cert_der());
    assert_eq!(loaded.key_pem(), made.key_pem());
    let (chain, _) = loaded
        .server_certificate(&["localhost".into()], &[], DAY, now())
        .unwrap();
    let chain = pem_certificates(&chain).unwrap();
    verify(
        &chain[0],
        made.cert_der(),
        T,
        webpki::KeyUsage::server_auth(),
    )
    .unwrap();
    // Other blocks in the text (a key in the same file, a second certificate) are skipped:
    // the first certificate is the CA's.
    let other = ca();
    let bundle = format!("{}{}{}", made.key_pem(), made.cert_pem(), other.cert_pem());
    assert_eq!(
        Ca::load(&bundle, &made.key_pem()).unwrap().fingerprint(),
        made.fingerprint()
    );
}

#[test]
fn load_refuses_what_is_not_a_ca() {
    let ca = ca();
    let (chain, key) = ca
        .server_certificate(&["collector".into()], &[], DAY, now())
        .unwrap();
    let err = Ca::load(&chain, &key).unwrap_err();
    assert!(
        matches!(&err, PkiError::NotCa { subject } if subject == "collector"),
        "{err}"
    );
    assert!(err.to_string().contains("not a CA certificate"), "{err}");

    // A CA whose key usage does not allow signing certificates.
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let cert = params.self_signed(&key).unwrap();
    let err = Ca::load(&cert.pem(), &key.serialize_pem()).unwrap_err();
    assert!(matches!(err, PkiError::CaCannotSign { .. }), "{err}");
}

#[test]
fn load_refuses_a_key_of_another_certificate() {
    let (one, two) = (ca(), ca());
    let err = Ca::load(one.cert_pem(), &two.key_pem()).unwrap_err();
    assert!(matches!(&err, PkiError::KeyMismatch { subject } if subject == "Vigil fleet CA"));
    assert!(err.to_string().contains("does not belong"), "{err}");
}

#[test]
fn load_says_how_to_convert_keys_it_cannot_read() {
    let ca = ca();
    let der = pem::parse(ca.key_pem()).unwrap().into_contents();
    let sec1 = crate::cert::to_pem("EC PRIVATE KEY", &der);
    let err = Ca::load(ca.cert_pem(), &sec1).unwrap_err().to_string();
    assert!(
        err.contains("EC PRIVATE KEY") && err.contains("openssl pkcs8"),
        "{err}"
    );
    let encrypted = crate::cert::to_pem("ENCRYPTED PRIVATE KEY", &der);
    let err = Ca::load(ca.cert_pem(), &encrypted).unwrap_err().to_string();
    assert!(err.contains("encrypted"), "{err}");
    let err = Ca::load(ca.cert_pem(), ca.cert_pem())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no private key"), "{err}");
    let garbage = crate::cert::to_pem("PRIVATE KEY", b"not a key");
    assert!(matches!(
        Ca::load(ca.cert_pem(), &garbage).unwrap_err(),
        PkiError::UnsupportedKey { .. }
    ));
    assert!(matches!(
        Ca::load("no pem here", &ca.key_pem()).unwrap_err(),
        PkiError::NoCertificate
    ));
    let bad_cert = crate::cert::to_pem("CERTIFICATE", b"\x30\x03\x02\x01\x01");
    assert!(matches!(
        Ca::load(&bad_cert, &ca.key_pem()).unwrap_err(),
        PkiError::BadCertificate { .. }
    ));
}

#[test]
fn an_operators_own_ca_with_another_key_type_signs() {
    // A P-384 CA without a path length limit, made elsewhere.
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "Corp Root");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.not_before = cert::datetime(at(T - 86_400)).unwrap();
    params.not_after = cert::datetime(at(T + 400 * 86_400)).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let ca = Ca::load(&cert.pem(), &key.serialize_pem()).unwrap();
    assert_eq!(ca.fingerprint(), pin_of(cert.der()));
    let (chain, _) = ca
        .server_certificate(&["collector.corp".into()], &[], 1000 * DAY, now())
        .unwrap();
    let chain = pem_certificates(&chain).unwrap();
    verify(&chain[0], cert.der(), T, webpki::KeyUsage::server_auth()).unwrap();
    // Clamped to the CA's own end.
    let info = cert_info(&chain[0]).unwrap();
    assert_eq!(info.not_after_ms, (T as i64 + 400 * 86_400) * 1000);
}

#[test]
fn server_certificates_chain_to_the_ca_and_name_every_name_and_ip() {
    let ca = ca();
    let ips = ["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
    let names = ["collector-1".to_owned(), "localhost".to_owned()];
    let (chain, key) = ca
        .server_certificate(&names, &ips, 365 * DAY, now())
        .unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    let certs = pem_certificates(&chain).unwrap();
    assert_eq!(certs.len(), 2);
    assert_eq!(certs[1], ca.cert_der());
    verify(&certs[0], ca.cert_der(), T, webpki::KeyUsage::server_auth()).unwrap();
    // Not a client certificate.
    assert!(verify(&certs[0], ca.cert_der(), T, webpki::KeyUsage::client_auth()).is_err());
    for name in ["collector-1", "localhost", "127.0.0.1", "::1"] {
        assert!(valid_for(&certs[0], name), "{name}");
    }
    assert!(!valid_for(&certs[0], "elsewhere"));
    let info = cert_info(&certs[0]).unwrap();
    assert_eq!(info.subject_cn.as_deref(), Some("collector-1"));
    assert_eq!(info.issuer_cn.as_deref(), Some("Vigil fleet CA"));
    assert!(!info.is_ca);
    assert_eq!(info.not_before_ms, (T as i64 - 3600) * 1000);
    assert_eq!(info.not_after_ms, (T as i64 + 365 * 86_400) * 1000);
    // Its own key, not the CA's.
    assert_ne!(info.fingerprint, ca.fingerprint());
    // Not valid before its time, nor after.
    assert!(
        verify(
            &certs[0],
            ca.cert_der(),
            T - 7200,
            webpki::KeyUsage::server_auth()
        )
        .is_err()
    );
}

#[test]
fn server_names_must_be_dns_names() {
    let ca = ca();
    for name in [
        "under_score",
        "",
        "a b",
        "é.example",
        "-x",
        &"a".repeat(300),
    ] {
        let err = ca
            .server_certificate(&[name.to_owned()], &[], DAY, now())
            .unwrap_err();
        assert!(matches!(err, PkiError::InvalidName { .. }), "{name}: {err}");
    }
    let err = ca.server_certificate(&[], &[], DAY, now()).unwrap_err();
    assert!(err.to_string().contains("at least one name"), "{err}");
    // An address alone is enough; it is the subject too.
    let (chain, _) = ca
        .server_certificate(&[], &["10.0.0.7".parse().unwrap()], DAY, now())
        .unwrap();
    let leaf = &pem_certificates(&chain).unwrap()[0];
    assert_eq!(
        cert_info(leaf).unwrap().subject_cn.as_deref(),
        Some("10.0.0.7")
    );
}

#[test]
fn an_expired_ca_issues_nothing() {
    let ca = Ca::generate("Short", DAY, now()).unwrap();
    let later = at(T + 2 * 86_400);
    let err = ca
        .server_certificate(&["x".into()], &[], DAY, later)
        .unwrap_err();
    assert!(matches!(err, PkiError::CaExpired { .. }), "{err}");
    assert!(
        err.to_string().contains("expired at 2026-11-22T05:50:00Z"),
        "{err}"
    );
}

#[test]
fn bad_names_and_validities_are_errors() {
    assert!(matches!(
        Ca::generate("", DAY, now()).unwrap_err(),
        PkiError::InvalidName { .. }
    ));
    assert!(matches!(
        Ca::generate(&"x".repeat(65), DAY, now()).unwrap_err(),
        PkiError::InvalidName { .. }
    ));
    assert!(matches!(
        Ca::generate("CA", Duration::from_secs(u64::MAX), now()).unwrap_err(),
        PkiError::Validity { .. }
    ));
    assert!(matches!(
        Ca::generate("CA", DAY, SystemTime::UNIX_EPOCH - DAY).unwrap_err(),
        PkiError::Validity { .. }
    ));
    let ca = ca();
    assert!(matches!(
        ca.server_certificate(&["x".into()], &[], Duration::ZERO, now())
            .unwrap_err(),
        PkiError::Validity { .. }
    ));
    // A lifetime past the year 9999 ends with the CA instead.
    let (chain, _) = ca
        .server_certificate(&["x".into()], &[], Duration::from_secs(u64::MAX), now())
        .unwrap();
    let leaf = &pem_certificates(&chain).unwrap()[0];
    assert_eq!(
        cert_info(leaf).unwrap().not_after_ms,
        cert_info(ca.cert_der()).unwrap().not_after_ms
    );
}

#[test]
fn a_ca_can_be_shared_between_threads_and_hides_its_key() {
    fn shared<T: Send + Sync>() {}
    shared::<Ca>();
    let ca = ca();
    let debug = format!("{ca:?}");
    assert!(
        debug.contains("Vigil fleet CA") && debug.contains("[hidden]"),
        "{debug}"
    );
    assert!(!debug.contains("PRIVATE"), "{debug}");
}
