//! The fleet CA: made here (`vigil ca init`) or brought by the operator, it signs the
//! collector's server certificate and every agent's client certificate.

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType, SerialNumber,
};
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

use super::cert::{self, common_name};
use super::error::{PkiError, clip};

/// How long before "now" a CA or server certificate starts to be valid, so that a peer
/// whose clock is a little behind still accepts it.
const BACKDATE: Duration = Duration::from_secs(3600);

/// The most bytes of a common name (X.509's ub-common-name is 64 characters).
const MAX_COMMON_NAME: usize = 64;

/// A CA that can sign certificates: its certificate and its private key.
pub struct Ca {
    /// The CA certificate, PEM (one block, whatever else the loaded text held).
    cert_pem: String,
    /// The CA certificate, DER.
    cert_der: Vec<u8>,
    /// Its subject, its key identifier and its key: what signing needs.
    pub(crate) issuer: Issuer<'static, KeyPair>,
    /// Its subject common name (or whole subject), for messages.
    pub(crate) subject: String,
    /// End of its validity: nothing it signs may outlive it.
    pub(crate) not_after: OffsetDateTime,
    /// `SHA256:<hex>` over its SubjectPublicKeyInfo.
    fingerprint: String,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca")
            .field("subject", &self.subject)
            .field("fingerprint", &self.fingerprint)
            .field("key", &"[hidden]")
            .finish()
    }
}

impl Ca {
    /// A new self-signed CA: ECDSA P-256, CN `common_name`, CA:true pathlen 0,
    /// keyCertSign+cRLSign, valid from now-1h for `validity`.
    pub fn generate(
        common_name: &str,
        validity: Duration,
        now: SystemTime,
    ) -> Result<Ca, PkiError> {
        if common_name.trim().is_empty() || common_name.len() > MAX_COMMON_NAME {
            return Err(PkiError::InvalidName {
                name: clip(common_name, 80),
                reason: format!(
                    "a CA name must have 1 to {MAX_COMMON_NAME} bytes, such as \"Vigil fleet CA\""
                ),
            });
        }
        let now = cert::datetime(now)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = cert::before(now, BACKDATE)?;
        params.not_after = cert::after(now, validity).ok_or_else(|| PkiError::Validity {
            reason: "the CA would be valid past the year 9999; give a shorter validity".to_owned(),
        })?;
        params.serial_number = Some(SerialNumber::from_slice(&cert::random_serial()?));
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(sign_error)?;
        let certificate = params.self_signed(&key).map_err(sign_error)?;
        Ca::from_der(certificate.der().to_vec(), key)
    }

    /// A CA from PEM (the operator's own, or ca.pem/ca.key): refuses a cert that is not a
    /// CA, a key that does not match the cert, an unsupported key. Of several certificates
    /// in `cert_pem`, the first is the CA's.
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Ca, PkiError> {
        let der = cert::pem_certificates(cert_pem)?
            .into_iter()
            .next()
            .ok_or(PkiError::NoCertificate)?;
        Ca::from_der(der, read_key(key_pem)?)
    }

    /// The CA from its DER certificate and its key, after checking that they are a CA and
    /// its key.
    fn from_der(der: Vec<u8>, key: KeyPair) -> Result<Ca, PkiError> {
        let parsed = cert::parse(&der)?;
        let subject = common_name(parsed.subject()).unwrap_or_else(|| parsed.subject().to_string());
        let subject = clip(&subject, 200);
        let constraints = parsed
            .basic_constraints()
            .map_err(|e| PkiError::BadCertificate {
                reason: e.to_string(),
            })?;
        if !constraints.is_some_and(|c| c.value.ca) {
            return Err(PkiError::NotCa { subject });
        }
        let usage = parsed.key_usage().map_err(|e| PkiError::BadCertificate {
            reason: e.to_string(),
        })?;
        if usage.is_some_and(|u| !u.value.key_cert_sign()) {
            return Err(PkiError::CaCannotSign { subject });
        }
        if key.public_key_raw() != parsed.public_key().subject_public_key.data.as_ref() {
            return Err(PkiError::KeyMismatch { subject });
        }
        let not_after = OffsetDateTime::from_unix_timestamp(
            parsed.validity().not_after.timestamp(),
        )
        .map_err(|e| PkiError::BadCertificate {
            reason: format!("its end of validity: {e}"),
        })?;
        let issuer =
            Issuer::from_ca_cert_der(&CertificateDer::from(der.as_slice()), key).map_err(|e| {
                PkiError::BadCertificate {
                    reason: e.to_string(),
                }
            })?;
        let fingerprint = cert::fingerprint(&der)?;
        Ok(Ca {
            cert_pem: cert::to_pem("CERTIFICATE", &der),
            cert_der: der,
            issuer,
            subject,
            not_after,
            fingerprint,
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The CA's private key, PKCS#8 PEM: keep it secret (mode 0600).
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// `SHA256:<hex>` over the CA's SubjectPublicKeyInfo: what agents pin
    /// (`--ca-fingerprint`).
    pub fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    /// A server certificate for `names` (DNS SANs) and `ips`, signed by this CA: returns
    /// (chain PEM = server cert then CA cert, key PEM). Its subject CN is the first name
    /// (else the first address); EKU serverAuth; valid from now-1h for `validity`, but
    /// never past the CA's own end.
    pub fn server_certificate(
        &self,
        names: &[String],
        ips: &[IpAddr],
        validity: Duration,
        now: SystemTime,
    ) -> Result<(String, String), PkiError> {
        let mut sans = Vec::with_capacity(names.len() + ips.len());
        for name in names {
            if !cert::is_dns_name(name) {
                return Err(PkiError::InvalidName {
                    name: clip(name, 80),
                    reason: "a server name must be a DNS name (letters, digits, - and .); give \
                             addresses as IPs"
                        .to_owned(),
                });
            }
            let name = name.clone().try_into().map_err(sign_error)?;
            sans.push(SanType::DnsName(name));
        }
        sans.extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        let cn = names
            .first()
            .cloned()
            .or_else(|| ips.first().map(IpAddr::to_string))
            .ok_or_else(|| PkiError::InvalidName {
                name: String::new(),
                reason: "a server certificate needs at least one name or IP address".to_owned(),
            })?;
        let now = cert::datetime(now)?;
        let mut params = self.leaf(&cn, now, BACKDATE, validity)?;
        params.subject_alt_names = sans;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(sign_error)?;
        let certificate = params.signed_by(&key, &self.issuer).map_err(sign_error)?;
        let chain = format!(
            "{}{}",
            cert::to_pem("CERTIFICATE", certificate.der()),
            self.cert_pem
        );
        Ok((chain, key.serialize_pem()))
    }

    /// What every certificate this CA issues shares: subject CN `cn`, not a CA, key usage
    /// digitalSignature, an authority key identifier, a random serial, valid from
    /// `now - backdate` to `now + validity` clamped to the CA's end.
    pub(crate) fn leaf(
        &self,
        cn: &str,
        now: OffsetDateTime,
        backdate: Duration,
        validity: Duration,
    ) -> Result<CertificateParams, PkiError> {
        if now >= self.not_after {
            return Err(PkiError::CaExpired {
                subject: self.subject.clone(),
                not_after: cert::rfc3339(self.not_after),
            });
        }
        if validity.is_zero() {
            return Err(PkiError::Validity {
                reason: "a certificate must be valid for some time; give a positive lifetime"
                    .to_owned(),
            });
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(SerialNumber::from_slice(&cert::random_serial()?));
        params.not_before = cert::before(now, backdate)?;
        params.not_after =
            cert::after(now, validity).map_or(self.not_after, |end| end.min(self.not_after));
        Ok(params)
    }
}

/// The CA key from PEM: an unencrypted PKCS#8 key (`BEGIN PRIVATE KEY`); other forms get a
/// message saying how to convert them.
fn read_key(key_pem: &str) -> Result<KeyPair, PkiError> {
    let bad = |reason: String| PkiError::BadKey { reason };
    let blocks = pem::parse_many(key_pem).map_err(|e| bad(format!("not readable as PEM: {e}")))?;
    let convert = "convert it with `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pkcs8`";
    let Some(block) = blocks.iter().find(|b| b.tag().ends_with("PRIVATE KEY")) else {
        return Err(bad(
            "no private key found (no -----BEGIN PRIVATE KEY----- block): give the CA's key file"
                .to_owned(),
        ));
    };
    match block.tag() {
        "PRIVATE KEY" => {}
        "ENCRYPTED PRIVATE KEY" => {
            return Err(bad(format!(
                "the key is encrypted; the collector must read it unattended: {convert} (keep \
                 the result mode 0600)"
            )));
        }
        other => {
            return Err(bad(format!(
                "the key is in {other} form, and only PKCS#8 (BEGIN PRIVATE KEY) is read: {convert}"
            )));
        }
    }
    KeyPair::try_from(block.contents()).map_err(|e| PkiError::UnsupportedKey {
        what: format!("the CA key cannot be used for signing ({e})"),
    })
}

/// An rcgen failure while building or signing a certificate.
pub(crate) fn sign_error(e: rcgen::Error) -> PkiError {
    PkiError::Sign {
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests;
