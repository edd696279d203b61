//! Helpers the unit tests share: a fixed clock, agents' requests, and chain verification
//! with rustls-webpki (the verifier rustls runs on both ends of the collector's TLS).

use std::time::{Duration, SystemTime};

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// 2026-11-21T05:50:00Z, in seconds: every test's "now".
pub const T: u64 = 1_795_240_200;

/// [`T`] as a `SystemTime`.
pub fn now() -> SystemTime {
    at(T)
}

/// Unix seconds as a `SystemTime`.
pub fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

/// A day.
pub const DAY: Duration = Duration::from_secs(86_400);

/// An agent's request for `cn` with SAN DNS names `sans`, and its key.
pub fn request(cn: &str, sans: &[&str]) -> (Vec<u8>, KeyPair) {
    let key = KeyPair::generate().expect("key");
    let sans: Vec<String> = sans.iter().map(|s| (*s).to_owned()).collect();
    let mut params = CertificateParams::new(sans).expect("names");
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    let csr = params.serialize_request(&key).expect("request");
    (csr.der().to_vec(), key)
}

/// Whether `leaf` chains to the CA certificate `ca` at Unix second `secs`, for `usage`.
pub fn verify(
    leaf: &[u8],
    ca: &[u8],
    secs: u64,
    usage: webpki::KeyUsage,
) -> Result<(), webpki::Error> {
    let ca = CertificateDer::from(ca);
    let anchor = webpki::anchor_from_trusted_cert(&ca)?;
    let leaf = CertificateDer::from(leaf);
    let cert = webpki::EndEntityCert::try_from(&leaf)?;
    cert.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &[anchor],
        &[],
        UnixTime::since_unix_epoch(Duration::from_secs(secs)),
        usage,
        None,
        None,
    )?;
    Ok(())
}

/// Whether the server certificate `leaf` is valid for `name` (a DNS name or an IP).
pub fn valid_for(leaf: &[u8], name: &str) -> bool {
    let leaf = CertificateDer::from(leaf);
    let cert = webpki::EndEntityCert::try_from(&leaf).expect("parses");
    let name = ServerName::try_from(name).expect("a server name");
    cert.verify_is_valid_for_subject_name(&name).is_ok()
}

/// SHA-256 over `der`'s SubjectPublicKeyInfo as [`vigil_proto::pin`] writes it, computed
/// here independently of the crate's own code.
pub fn pin_of(der: &[u8]) -> String {
    let spki = vigil_proto::pin::spki(der).expect("a certificate");
    let digest = ring::digest::digest(&ring::digest::SHA256, spki);
    vigil_proto::pin::format(digest.as_ref().try_into().expect("32 bytes"))
}
