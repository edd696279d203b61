//! Reading certificates: PEM to DER, the facts of a certificate, SPKI fingerprints; and the
//! small pieces every issued certificate shares (serials, validity times).

use std::time::{Duration, SystemTime};

use ring::rand::{SecureRandom, SystemRandom};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::x509::X509Name;

use super::error::{PkiError, clip};

/// Facts of a DER certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Serial number, lowercase hex without leading zero bytes.
    pub serial: String,
    /// Subject common name, when it has one.
    pub subject_cn: Option<String>,
    /// Issuer common name, when it has one.
    pub issuer_cn: Option<String>,
    /// Start of validity, milliseconds since the Unix epoch.
    pub not_before_ms: i64,
    /// End of validity, milliseconds since the Unix epoch.
    pub not_after_ms: i64,
    /// Whether its basic constraints say CA:TRUE.
    pub is_ca: bool,
    /// `SHA256:<hex>` over its SubjectPublicKeyInfo (see [`vigil_proto::pin`]).
    pub fingerprint: String,
}

/// The facts of a DER certificate.
pub fn cert_info(der: &[u8]) -> Result<CertInfo, PkiError> {
    let cert = parse(der)?;
    let validity = cert.validity();
    Ok(CertInfo {
        serial: serial_hex(cert.raw_serial()),
        subject_cn: common_name(cert.subject()),
        issuer_cn: common_name(cert.issuer()),
        not_before_ms: validity.not_before.timestamp().saturating_mul(1000),
        not_after_ms: validity.not_after.timestamp().saturating_mul(1000),
        is_ca: cert.is_ca(),
        fingerprint: fingerprint(der)?,
    })
}

/// Every certificate in a PEM text, as DER, in order; blocks of other kinds (a key in the
/// same file, say) are skipped. No certificate at all is an error.
pub fn pem_certificates(pem: &str) -> Result<Vec<Vec<u8>>, PkiError> {
    let blocks = pem::parse_many(pem).map_err(|e| PkiError::Pem {
        reason: e.to_string(),
    })?;
    let certificates: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|block| block.tag() == "CERTIFICATE")
        .map(pem::Pem::into_contents)
        .collect();
    if certificates.is_empty() {
        return Err(PkiError::NoCertificate);
    }
    Ok(certificates)
}

/// DER as a PEM block with `tag`.
pub(crate) fn to_pem(tag: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(tag, der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// Parses a whole DER certificate (nothing may follow it).
pub(crate) fn parse(der: &[u8]) -> Result<X509Certificate<'_>, PkiError> {
    let (rest, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| PkiError::BadCertificate {
            reason: clip(&e.to_string(), 200),
        })?;
    if !rest.is_empty() {
        return Err(PkiError::BadCertificate {
            reason: format!("{} bytes follow the certificate", rest.len()),
        });
    }
    Ok(cert)
}

/// The first common name of `name`, when it is a string.
pub(crate) fn common_name(name: &X509Name<'_>) -> Option<String> {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
}

/// `SHA256:<hex>` over the SubjectPublicKeyInfo of the DER certificate `der`.
pub(crate) fn fingerprint(der: &[u8]) -> Result<String, PkiError> {
    let spki = vigil_proto::pin::spki(der).ok_or_else(|| PkiError::BadCertificate {
        reason: "its SubjectPublicKeyInfo cannot be found".to_owned(),
    })?;
    Ok(spki_fingerprint(spki))
}

/// `SHA256:<hex>` over a DER SubjectPublicKeyInfo.
pub(crate) fn spki_fingerprint(spki: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, spki);
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(digest.as_ref());
    vigil_proto::pin::format(&bytes)
}

/// A serial as APIs show it: lowercase hex of the integer's bytes, leading zero bytes (the
/// DER sign padding) dropped.
pub(crate) fn serial_hex(bytes: &[u8]) -> String {
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    hex(&bytes[start..])
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// A new serial: 16 random bytes, the first in 0x01..=0x7f, so the number is positive and
/// always exactly 16 bytes in DER (no sign padding, no dropped leading zero) and 32 hex
/// digits in APIs. That leaves 127 bits of randomness: more than the CA/Browser Forum's 64.
pub(crate) fn random_serial() -> Result<[u8; 16], PkiError> {
    let mut serial = [0u8; 16];
    SystemRandom::new()
        .fill(&mut serial)
        .map_err(|_| PkiError::Random)?;
    serial[0] &= 0x7f;
    if serial[0] == 0 {
        serial[0] = 1;
    }
    Ok(serial)
}

/// `at` as a certificate time: whole seconds (what X.509 encodes), so that the times an
/// API reports are the times in the certificate.
pub(crate) fn datetime(at: SystemTime) -> Result<OffsetDateTime, PkiError> {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| PkiError::Validity {
            reason: "the clock is before 1970".to_owned(),
        })?
        .as_secs();
    i64::try_from(secs)
        .ok()
        .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
        .ok_or_else(|| PkiError::Validity {
            reason: "the clock is past the year 9999".to_owned(),
        })
}

/// `at + by`, or `None` past the year 9999.
pub(crate) fn after(at: OffsetDateTime, by: Duration) -> Option<OffsetDateTime> {
    let by = time::Duration::try_from(by).ok()?;
    at.checked_add(by)
}

/// `at - by`.
pub(crate) fn before(at: OffsetDateTime, by: Duration) -> Result<OffsetDateTime, PkiError> {
    time::Duration::try_from(by)
        .ok()
        .and_then(|by| at.checked_sub(by))
        .ok_or_else(|| PkiError::Validity {
            reason: "the start of validity is before the year 0".to_owned(),
        })
}

/// RFC 3339 in UTC, for messages.
pub(crate) fn rfc3339(at: OffsetDateTime) -> String {
    let (date, clock) = (at.date(), at.time());
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        date.year(),
        u8::from(date.month()),
        date.day(),
        clock.hour(),
        clock.minute(),
        clock.second()
    )
}

/// Whether `name` can be a DNS name in a certificate: ASCII letters, digits and `-` in dot
/// separated labels of 1 to 63 characters that do not start or end with `-`, 253
/// characters at most, no trailing dot. (Stricter than DNS itself, as TLS name checks are.)
pub fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests;
