#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use rcgen::{CertificateParams, DistinguishedName, DnType, IsCa, KeyPair};

use super::*;
use crate::cert::cert_info;
use crate::testing::{DAY, T, at, now, request, verify};

const YEAR: Duration = Duration::from_secs(365 * 86_400);

fn ca() -> Ca {
    Ca::generate("Vigil fleet CA", 10 * YEAR, now()).unwrap()
}

/// SHA256 pin of a key's SPKI, as agents and `HostIdentity.key_fingerprint` write it.
fn key_pin(key: &KeyPair) -> String {
    cert::spki_fingerprint(&key.subject_public_key_info())
}

#[test]
fn an_agents_request_gets_a_client_certificate_for_its_host() {
    let ca = ca();
    let (csr, key) = request("web-1", &["web-1"]);
    let issued = ca.sign_request(&csr, "web-1", now(), 30 * DAY).unwrap();
    verify(
        &issued.cert_der,
        ca.cert_der(),
        T,
        webpki::KeyUsage::client_auth(),
    )
    .unwrap();
    // Only a client certificate.
    assert!(
        verify(
            &issued.cert_der,
            ca.cert_der(),
            T,
            webpki::KeyUsage::server_auth()
        )
        .is_err()
    );
    let info = cert_info(&issued.cert_der).unwrap();
    assert_eq!(info.subject_cn.as_deref(), Some("web-1"));
    assert_eq!(info.issuer_cn.as_deref(), Some("Vigil fleet CA"));
    assert!(!info.is_ca);
    assert_eq!(issued.serial, info.serial);
    assert_eq!(issued.not_before_ms, (T as i64 - 300) * 1000);
    assert_eq!(issued.not_after_ms, (T as i64 + 30 * 86_400) * 1000);
    assert_eq!(
        (info.not_before_ms, info.not_after_ms),
        (issued.not_before_ms, issued.not_after_ms)
    );
    // The agent's own key, not a new one.
    assert_eq!(issued.key_fingerprint, key_pin(&key));
    assert_eq!(issued.key_fingerprint, info.fingerprint);
    assert_eq!(crate::cert_info(&pem_der(&issued.cert_pem)).unwrap(), info);

    let (_, parsed) = x509_parser::parse_x509_certificate(&issued.cert_der).unwrap();
    let sans: Vec<String> = parsed
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(sans, ["DNSName(web-1)"]);
    let constraints = parsed.basic_constraints().unwrap().unwrap().value;
    assert!(!constraints.ca);
}

fn pem_der(pem: &str) -> Vec<u8> {
    crate::pem_certificates(pem).unwrap().remove(0)
}

#[test]
fn a_request_without_sans_or_for_a_name_that_is_not_dns_still_gets_the_host() {
    let ca = ca();
    let (csr, _) = request("db-2", &[]);
    let issued = ca.sign_request(&csr, "db-2", now(), DAY).unwrap();
    let (_, parsed) = x509_parser::parse_x509_certificate(&issued.cert_der).unwrap();
    assert_eq!(
        parsed
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .len(),
        1
    );
    // Host names that are not DNS names get the CN only.
    let (csr, _) = request("build_box", &[]);
    let issued = ca.sign_request(&csr, "build_box", now(), DAY).unwrap();
    let (_, parsed) = x509_parser::parse_x509_certificate(&issued.cert_der).unwrap();
    assert!(parsed.subject_alternative_name().unwrap().is_none());
    assert_eq!(
        cert_info(&issued.cert_der).unwrap().subject_cn.as_deref(),
        Some("build_box")
    );
}

#[test]
fn a_request_for_another_host_is_refused() {
    let ca = ca();
    let (csr, _) = request("db-1", &[]);
    let err = ca.sign_request(&csr, "web-1", now(), DAY).unwrap_err();
    assert!(
        matches!(&err, PkiError::WrongHost { requested, expected } if requested == "db-1" && expected == "web-1"),
        "{err}"
    );
    assert!(err.to_string().contains("its own host name"), "{err}");
    // Case matters: the host is an identity, not a DNS lookup.
    let (csr, _) = request("WEB-1", &[]);
    assert!(matches!(
        ca.sign_request(&csr, "web-1", now(), DAY).unwrap_err(),
        PkiError::WrongHost { .. }
    ));
    // The CN is right but the request also asks for another name.
    for sans in [&["web-1", "db-1"][..], &["10.0.0.1"], &["db-1"]] {
        let (csr, _) = request("web-1", sans);
        let err = ca.sign_request(&csr, "web-1", now(), DAY).unwrap_err();
        assert!(matches!(err, PkiError::WrongHost { .. }), "{sans:?}: {err}");
    }
}

#[test]
fn a_request_with_a_broken_signature_is_refused() {
    let ca = ca();
    let (csr, _) = request("web-1", &[]);
    // Flip a bit of the signature (the last bytes of the request).
    let mut broken = csr.clone();
    let last = broken.len() - 1;
    broken[last] ^= 1;
    let err = ca.sign_request(&broken, "web-1", now(), DAY).unwrap_err();
    assert!(matches!(err, PkiError::BadRequestSignature), "{err}");
    // Rename the subject after signing ("web-1" → "web-2"): the signature is checked
    // before the names, so this is a forgery, not a wrong host.
    let at = csr.windows(5).position(|w| w == b"web-1").unwrap();
    let mut renamed = csr;
    renamed[at + 4] = b'2';
    let err = ca.sign_request(&renamed, "web-2", now(), DAY).unwrap_err();
    assert!(matches!(err, PkiError::BadRequestSignature), "{err}");
    assert!(err.to_string().contains("proof"), "{err}");
}

#[test]
fn nothing_but_the_key_and_the_host_comes_from_the_request() {
    let ca = ca();
    // A request that asks to be a CA and a server, with an extra subject attribute.
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["web-1".to_owned()]).unwrap();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, "web-1");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Evil");
    params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let csr = params.serialize_request(&key).unwrap().der().to_vec();
    let issued = ca.sign_request(&csr, "web-1", now(), DAY).unwrap();
    let info = cert_info(&issued.cert_der).unwrap();
    assert!(!info.is_ca);
    assert!(
        verify(
            &issued.cert_der,
            ca.cert_der(),
            T,
            webpki::KeyUsage::server_auth()
        )
        .is_err()
    );
    let (_, parsed) = x509_parser::parse_x509_certificate(&issued.cert_der).unwrap();
    assert_eq!(parsed.subject().to_string(), "CN=web-1");
}

#[test]
fn the_lifetime_ends_with_the_ca() {
    let ca = Ca::generate("Short CA", 10 * DAY, now()).unwrap();
    let (csr, _) = request("web-1", &[]);
    let issued = ca.sign_request(&csr, "web-1", now(), 30 * DAY).unwrap();
    assert_eq!(issued.not_after_ms, (T as i64 + 10 * 86_400) * 1000);
    let err = ca
        .sign_request(&csr, "web-1", at(T + 11 * 86_400), DAY)
        .unwrap_err();
    assert!(matches!(err, PkiError::CaExpired { .. }), "{err}");
    assert!(matches!(
        ca.sign_request(&csr, "web-1", now(), Duration::ZERO)
            .unwrap_err(),
        PkiError::Validity { .. }
    ));
}

#[test]
fn serials_are_random_positive_and_sixteen_bytes() {
    let ca = ca();
    let (csr, _) = request("web-1", &[]);
    let mut seen = HashSet::new();
    for _ in 0..200 {
        let issued = ca.sign_request(&csr, "web-1", now(), DAY).unwrap();
        let serial = &issued.serial;
        assert_eq!(serial.len(), 32, "{serial}");
        assert!(
            serial
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        // Positive: the top bit of the first byte is clear (DER needs no sign padding).
        assert!(
            u8::from_str_radix(&serial[..2], 16).unwrap() < 0x80,
            "{serial}"
        );
        let (_, parsed) = x509_parser::parse_x509_certificate(&issued.cert_der).unwrap();
        assert_eq!(parsed.raw_serial().len(), 16);
        assert!(seen.insert(serial.clone()), "repeated serial {serial}");
    }
    // Spread: over 200 serials every hex digit shows up in the second position.
    let second: HashSet<u8> = seen.iter().map(|s| s.as_bytes()[1]).collect();
    assert_eq!(second.len(), 16, "{second:?}");
}

#[test]
fn request_host_reads_the_common_name_only() {
    let (csr, _) = request("web-7", &["other"]);
    assert_eq!(request_host(&csr).unwrap(), "web-7");
    let mut broken = csr.clone();
    let last = broken.len() - 1;
    broken[last] ^= 1;
    assert_eq!(request_host(&broken).unwrap(), "web-7");
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    let nameless = params.serialize_request(&key).unwrap().der().to_vec();
    let err = request_host(&nameless).unwrap_err();
    assert!(matches!(err, PkiError::MalformedRequest { .. }), "{err}");
    assert!(err.to_string().contains("no common name"), "{err}");
}

#[test]
fn hostile_input_is_an_error_not_a_panic() {
    let ca = ca();
    let (csr, _) = request("web-1", &[]);
    // Every prefix of a good request, nothing, garbage, and trailing bytes.
    for len in 0..csr.len() {
        let err = ca
            .sign_request(&csr[..len], "web-1", now(), DAY)
            .unwrap_err();
        assert!(
            matches!(err, PkiError::MalformedRequest { .. }),
            "{len}: {err}"
        );
        assert!(request_host(&csr[..len]).is_err());
    }
    let mut trailing = csr.clone();
    trailing.push(0);
    assert!(matches!(
        ca.sign_request(&trailing, "web-1", now(), DAY).unwrap_err(),
        PkiError::MalformedRequest { .. }
    ));
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for round in 0..2000 {
        let len = round % 300;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let mut framed = bytes.clone();
        if round % 2 == 0 && !framed.is_empty() {
            framed[0] = 0x30;
        }
        assert!(ca.sign_request(&framed, "web-1", now(), DAY).is_err());
        assert!(request_host(&framed).is_err());
        assert!(crate::cert_info(&framed).is_err());
    }
    // Corrupt each byte of a good request in turn.
    for i in 0..csr.len() {
        let mut bad = csr.clone();
        bad[i] ^= 0xff;
        assert!(
            ca.sign_request(&bad, "web-1", now(), DAY).is_err(),
            "byte {i}"
        );
    }

    // Huge names: refused, and the message stays short.
    let huge = "h".repeat(100_000);
    let err = ca.sign_request(&csr, &huge, now(), DAY).unwrap_err();
    assert!(matches!(err, PkiError::InvalidHost { .. }), "{err}");
    assert!(err.to_string().len() < 400);
    let (csr, _) = request(&huge, &[]);
    let err = ca.sign_request(&csr, "web-1", now(), DAY).unwrap_err();
    assert!(matches!(err, PkiError::WrongHost { .. }));
    assert!(err.to_string().len() < 400, "{}", err.to_string().len());
    for host in ["", " web-1", "web\n1"] {
        assert!(matches!(
            ca.sign_request(&csr, host, now(), DAY).unwrap_err(),
            PkiError::InvalidHost { .. }
        ));
    }
}

#[test]
fn p384_and_ed25519_agent_keys_are_accepted() {
    let ca = ca();
    for alg in [&rcgen::PKCS_ECDSA_P384_SHA384, &rcgen::PKCS_ED25519] {
        let key = KeyPair::generate_for(alg).unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, "web-1");
        let csr = params.serialize_request(&key).unwrap().der().to_vec();
        let issued = ca.sign_request(&csr, "web-1", now(), DAY).unwrap();
        assert_eq!(issued.key_fingerprint, key_pin(&key));
        verify(
            &issued.cert_der,
            ca.cert_der(),
            T,
            webpki::KeyUsage::client_auth(),
        )
        .unwrap();
    }
}
