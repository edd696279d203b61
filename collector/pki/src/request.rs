//! Agents' certificate requests: the checks on a PKCS#10 request and the client
//! certificate issued for it.
//!
//! Of a request only its public key is copied into the certificate, once its signature
//! proves the agent holds the private key and its names are the enrolling host's own.
//! Everything else (the subject, extensions, key usages it asks for) is decided here:
//! CN = host, SAN DNS = host (when a DNS name), EKU clientAuth, not a CA.

use std::time::{Duration, SystemTime};

use rcgen::{
    ExtendedKeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519,
    PublicKeyData, SanType, SubjectPublicKeyInfo,
};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::error::X509Error;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use super::ca::{Ca, sign_error};
use super::cert::{self, cert_info};
use super::error::{PkiError, clip};

/// How long before "now" an agent certificate starts to be valid, for agents whose clocks
/// are a little behind the collector's: five minutes, or a tenth of a short lifetime (so an
/// agent that renews at two thirds of its certificate's validity still renews at about two
/// thirds of `ttl`).
const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// The longest host name a certificate is issued for (a DNS name's limit).
const MAX_HOST: usize = 253;

/// Names in error messages are cut to this many bytes.
const SHOWN: usize = 128;

/// A client certificate issued for an agent's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// Its serial, lowercase hex (32 digits).
    pub serial: String,
    /// Start of validity, milliseconds since the Unix epoch (whole seconds).
    pub not_before_ms: i64,
    /// End of validity, milliseconds since the Unix epoch (whole seconds).
    pub not_after_ms: i64,
    /// `SHA256:<hex>` over the agent key's SubjectPublicKeyInfo.
    pub key_fingerprint: String,
}

impl Ca {
    /// Signs an agent's PKCS#10 request (DER) for `host`: verifies the request's signature
    /// (proof of possession), requires its subject CN to be exactly `host` and any SAN DNS
    /// names to be only `host`; issues CN=host, SAN DNS=host (when it's a valid DNS name),
    /// EKU clientAuth, not a CA, random positive 16-byte serial, valid from now - 5 min to
    /// now + ttl (clamped to the CA's own not_after). Nothing from the request but its
    /// public key and names is copied.
    pub fn sign_request(
        &self,
        csr_der: &[u8],
        host: &str,
        now: SystemTime,
        ttl: Duration,
    ) -> Result<Issued, PkiError> {
        check_host(host)?;
        let request = parse(csr_der)?;
        request.verify_signature().map_err(|e| match e {
            X509Error::SignatureUnsupportedAlgorithm => PkiError::UnsupportedKey {
                what: "the request is signed with an algorithm this collector does not verify"
                    .to_owned(),
            },
            _ => PkiError::BadRequestSignature,
        })?;
        let requested = subject_cn(&request)?;
        if requested != host {
            return Err(wrong_host(&requested, host));
        }
        check_alt_names(&request, host)?;
        let public_key = public_key(&request)?;

        let now = cert::datetime(now)?;
        let mut params = self.leaf(host, now, BACKDATE.min(ttl / 10), ttl)?;
        if cert::is_dns_name(host) {
            let name = host.to_owned().try_into().map_err(sign_error)?;
            params.subject_alt_names = vec![SanType::DnsName(name)];
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let certificate = params
            .signed_by(&public_key, &self.issuer)
            .map_err(sign_error)?;
        let der = certificate.der().to_vec();
        let info = cert_info(&der)?;
        Ok(Issued {
            cert_pem: cert::to_pem("CERTIFICATE", &der),
            serial: info.serial,
            not_before_ms: info.not_before_ms,
            not_after_ms: info.not_after_ms,
            key_fingerprint: info.fingerprint,
            cert_der: der,
        })
    }
}

/// The subject CN of a PKCS#10 request (DER), without checking anything else.
pub fn request_host(csr_der: &[u8]) -> Result<String, PkiError> {
    subject_cn(&parse(csr_der)?)
}

/// A whole DER request (nothing may follow it).
fn parse(csr_der: &[u8]) -> Result<X509CertificationRequest<'_>, PkiError> {
    let (rest, request) =
        X509CertificationRequest::from_der(csr_der).map_err(|e| PkiError::MalformedRequest {
            reason: format!(
                "not a PKCS#10 request in DER ({})",
                clip(&e.to_string(), 200)
            ),
        })?;
    if !rest.is_empty() {
        return Err(PkiError::MalformedRequest {
            reason: format!("{} bytes follow the request", rest.len()),
        });
    }
    Ok(request)
}

/// The one subject common name of `request`.
fn subject_cn(request: &X509CertificationRequest<'_>) -> Result<String, PkiError> {
    let malformed = |reason: &str| PkiError::MalformedRequest {
        reason: reason.to_owned(),
    };
    let mut names = request
        .certification_request_info
        .subject
        .iter_common_name();
    let first = names
        .next()
        .ok_or_else(|| malformed("its subject has no common name (it must be the host name)"))?;
    if names.next().is_some() {
        return Err(malformed(
            "its subject has several common names (it must have one: the host name)",
        ));
    }
    first
        .as_str()
        .map(str::to_owned)
        .map_err(|_| malformed("its subject common name is not a string"))
}

/// Refuses any subject alternative name the request asks for but `host` as a DNS name.
fn check_alt_names(request: &X509CertificationRequest<'_>, host: &str) -> Result<(), PkiError> {
    let Some(extensions) = request.requested_extensions() else {
        return Ok(());
    };
    for extension in extensions {
        let ParsedExtension::SubjectAlternativeName(san) = extension else {
            continue;
        };
        for name in &san.general_names {
            match name {
                GeneralName::DNSName(name) if *name == host => {}
                GeneralName::DNSName(name) => return Err(wrong_host(name, host)),
                GeneralName::IPAddress(_) => return Err(wrong_host("an IP address", host)),
                GeneralName::RFC822Name(name) | GeneralName::URI(name) => {
                    return Err(wrong_host(name, host));
                }
                _ => return Err(wrong_host("a name that is not a DNS name", host)),
            }
        }
    }
    Ok(())
}

/// The request's public key, when it is of a kind agents use.
fn public_key(request: &X509CertificationRequest<'_>) -> Result<SubjectPublicKeyInfo, PkiError> {
    let raw = request.certification_request_info.subject_pki.raw;
    let key = SubjectPublicKeyInfo::from_der(raw).map_err(|e| PkiError::UnsupportedKey {
        what: format!("the request's public key cannot be used ({e})"),
    })?;
    let algorithm = key.algorithm();
    if algorithm == &PKCS_ECDSA_P256_SHA256
        || algorithm == &PKCS_ECDSA_P384_SHA384
        || algorithm == &PKCS_ED25519
    {
        Ok(key)
    } else {
        Err(PkiError::UnsupportedKey {
            what: format!("the request's key is {algorithm:?}"),
        })
    }
}

/// Refuses a host name no certificate should carry.
fn check_host(host: &str) -> Result<(), PkiError> {
    let reason = if host.is_empty() {
        "it is empty"
    } else if host.len() > MAX_HOST {
        "it is longer than 253 bytes"
    } else if host.chars().any(char::is_control) {
        "it contains control characters"
    } else if host.trim() != host {
        "it starts or ends with blanks"
    } else {
        return Ok(());
    };
    Err(PkiError::InvalidHost {
        host: clip(host, SHOWN),
        reason,
    })
}

fn wrong_host(requested: &str, expected: &str) -> PkiError {
    PkiError::WrongHost {
        requested: clip(requested, SHOWN),
        expected: clip(expected, SHOWN),
    }
}

#[cfg(test)]
mod tests;
