#![allow(clippy::unwrap_used)]

use super::*;
use crate::Ca;
use crate::testing::{DAY, now};

#[test]
fn pem_certificates_reads_every_certificate_and_skips_other_blocks() {
    let (one, two) = (
        Ca::generate("One", DAY, now()).unwrap(),
        Ca::generate("Two", DAY, now()).unwrap(),
    );
    let text = format!(
        "# comment\n{}{}\n{}",
        one.cert_pem(),
        one.key_pem(),
        two.cert_pem()
    );
    assert_eq!(
        pem_certificates(&text).unwrap(),
        vec![one.cert_der().to_vec(), two.cert_der().to_vec()]
    );
    // CRLF files read the same.
    let crlf = one.cert_pem().replace('\n', "\r\n");
    assert_eq!(
        pem_certificates(&crlf).unwrap(),
        vec![one.cert_der().to_vec()]
    );
    assert!(matches!(pem_certificates(""), Err(PkiError::NoCertificate)));
    assert!(matches!(
        pem_certificates(&one.key_pem()),
        Err(PkiError::NoCertificate)
    ));
    let broken = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
    assert!(matches!(
        pem_certificates(broken),
        Err(PkiError::Pem { .. })
    ));
}

#[test]
fn cert_info_refuses_what_is_not_one_certificate() {
    let ca = Ca::generate("One", DAY, now()).unwrap();
    let mut trailing = ca.cert_der().to_vec();
    trailing.push(0);
    let err = cert_info(&trailing).unwrap_err();
    assert!(err.to_string().contains("1 bytes follow"), "{err}");
    for bad in [&b""[..], b"\x30", b"\x30\x80", &[0xff; 64]] {
        assert!(matches!(
            cert_info(bad),
            Err(PkiError::BadCertificate { .. })
        ));
    }
    for len in 0..ca.cert_der().len() {
        assert!(cert_info(&ca.cert_der()[..len]).is_err(), "{len}");
    }
}

#[test]
fn serials_in_hex_drop_the_sign_padding() {
    assert_eq!(serial_hex(&[0x00, 0x8f, 0x01]), "8f01");
    assert_eq!(serial_hex(&[0x7f, 0x00]), "7f00");
    assert_eq!(serial_hex(&[0x00]), "00");
    assert_eq!(serial_hex(&[]), "");
    assert_eq!(hex(&[0xde, 0xad, 0x0b]), "dead0b");
}

#[test]
fn dns_names() {
    for good in [
        "localhost",
        "web-1",
        "a.b.example",
        "x",
        "123",
        &"a".repeat(63),
    ] {
        assert!(is_dns_name(good), "{good}");
    }
    let long = ["a"; 127].join(".");
    assert!(is_dns_name(&long));
    for bad in [
        "",
        "under_score",
        "-lead",
        "trail-",
        "a..b",
        "dot.",
        ".dot",
        "sp ace",
        "é",
        "*.example",
        "1.2.3.4:80",
        &"a".repeat(64),
        &format!("{long}.ab"),
    ] {
        assert!(!is_dns_name(bad), "{bad}");
    }
}

#[test]
fn times_are_whole_seconds_in_rfc3339() {
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_240_200_999);
    let t = datetime(at).unwrap();
    assert_eq!(t.unix_timestamp(), 1_795_240_200);
    assert_eq!(rfc3339(t), "2026-11-21T05:50:00Z");
    assert!(after(t, Duration::from_secs(u64::MAX)).is_none());
    assert!(after(t, DAY).is_some());
    assert!(datetime(SystemTime::UNIX_EPOCH - DAY).is_err());
}
