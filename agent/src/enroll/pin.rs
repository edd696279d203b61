//! Trusting the collector on first contact, by the fingerprint of its CA (as kubeadm's
//! discovery hash does): the server is accepted only when some certificate in the chain it
//! presents has the pinned SPKI SHA-256, and its own certificate verifies against that
//! certificate, as the only trust anchor, for the name the agent connects to.
//!
//! [`discover`] makes one TLS handshake with [`PinnedCa`] as the verifier and returns the
//! CA certificate it found; the Join call then goes over an ordinary TLS connection that
//! trusts that certificate alone.

use super::EnrollError;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `SHA256:<hex>` of a certificate's SubjectPublicKeyInfo, or `None` when `cert` does not
/// parse.
pub fn fingerprint(cert: &[u8]) -> Option<[u8; 32]> {
    let spki = vigil_proto::pin::spki(cert)?;
    let digest = ring::digest::digest(&ring::digest::SHA256, spki);
    digest.as_ref().try_into().ok()
}

/// A server certificate verifier that trusts only a chain holding the pinned CA.
#[derive(Debug)]
pub struct PinnedCa {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
    outcome: Mutex<Outcome>,
}

/// What the last handshake found.
#[derive(Debug, Default)]
struct Outcome {
    /// The pinned CA's certificate, once the server's verified against it.
    ca: Option<CertificateDer<'static>>,
    /// Why the server was refused, in words for the operator.
    refused: Option<String>,
}

impl PinnedCa {
    /// A verifier for `pin` (the SHA-256 of the CA's SubjectPublicKeyInfo).
    pub fn new(pin: [u8; 32]) -> Self {
        Self {
            pin,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            outcome: Mutex::new(Outcome::default()),
        }
    }

    fn outcome(&self) -> std::sync::MutexGuard<'_, Outcome> {
        self.outcome.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The CA certificate of the accepted chain.
    pub fn ca(&self) -> Option<CertificateDer<'static>> {
        self.outcome().ca.clone()
    }

    /// Why the server was refused, when it was.
    pub fn refused(&self) -> Option<String> {
        self.outcome().refused.clone()
    }

    fn refuse(&self, why: String) -> rustls::Error {
        self.outcome().refused = Some(why.clone());
        rustls::Error::General(why)
    }
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let expected = vigil_proto::pin::format(&self.pin);
        let chain = std::iter::once(end_entity).chain(intermediates);
        let Some(ca) = chain.clone().find(|c| fingerprint(c) == Some(self.pin)) else {
            let shown = |c: &CertificateDer<'_>| {
                fingerprint(c).map_or("(unreadable)".to_owned(), |f| vigil_proto::pin::format(&f))
            };
            let cas: Vec<String> = intermediates.iter().map(shown).collect();
            let showed = if cas.is_empty() {
                format!(
                    "the collector sent no CA certificate with its own ({}): its tls.cert_file \
                     must hold the server certificate followed by the CA, as `vigil ca init` \
                     writes server.pem",
                    shown(end_entity)
                )
            } else {
                format!("the collector's chain holds {}", cas.join(", "))
            };
            return Err(self.refuse(format!(
                "CA fingerprint mismatch: expected {expected} (enroll.ca_fingerprint / \
                 --ca-fingerprint), but {showed}. Check the fingerprint against `vigil ca show` \
                 on the collector, and that --collector points at that collector"
            )));
        };
        let mut roots = RootCertStore::empty();
        roots
            .add(ca.clone().into_owned())
            .map_err(|e| self.refuse(format!("the pinned CA certificate is unusable: {e}")))?;
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| self.refuse(format!("cannot verify against the pinned CA: {e}")))?;
        match verifier.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => {
                let mut outcome = self.outcome();
                outcome.ca = Some(ca.clone().into_owned());
                outcome.refused = None;
                Ok(verified)
            }
            Err(e) => {
                let hint = match &e {
                    rustls::Error::InvalidCertificate(
                        rustls::CertificateError::NotValidForName
                        | rustls::CertificateError::NotValidForNameContext { .. },
                    ) => {
                        " (connect by a name or address the certificate holds, or set \
                         tls.server_name to one)"
                    }
                    _ => "",
                };
                self.refuse(format!(
                    "the collector's certificate does not verify against the pinned CA \
                     {expected}: {e}{hint}"
                ));
                Err(e)
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Where to reach the collector: its URL and the name its certificate must hold.
#[derive(Debug, Clone)]
pub struct Target {
    /// `https://host:port`.
    pub url: String,
    /// `tls.server_name`, when it differs from the URL's host.
    pub server_name: Option<String>,
    /// `delivery.connect_timeout`.
    pub connect_timeout: Duration,
}

impl Target {
    /// The URL's host (without IPv6 brackets) and port (443 when absent).
    fn address(&self) -> Result<(String, u16), EnrollError> {
        let uri: tonic::transport::Uri = self
            .url
            .parse()
            .map_err(|e| EnrollError::Config(format!("collector: {:?}: {e}", self.url)))?;
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        Ok((host, uri.port_u16().unwrap_or(443)))
    }

    /// The name the collector's certificate must hold.
    pub fn name(&self) -> Result<ServerName<'static>, EnrollError> {
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => self.address()?.0,
        };
        ServerName::try_from(name.clone()).map_err(|_| {
            EnrollError::Config(format!(
                "tls.server_name: {name:?} is neither a DNS name nor an IP address"
            ))
        })
    }
}

/// Connects to the collector, accepts its TLS chain only by the pin, and returns the CA
/// certificate that matched. Nothing but the TLS handshake is sent.
pub async fn discover(
    target: &Target,
    pin: [u8; 32],
) -> Result<CertificateDer<'static>, EnrollError> {
    let (host, port) = target.address()?;
    let name = target.name()?;
    let verifier = Arc::new(PinnedCa::new(pin));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| EnrollError::Config(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let connect = async {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
        connector.connect(name, tcp).await
    };
    let handshake = tokio::time::timeout(target.connect_timeout, connect).await;
    match handshake {
        Ok(Ok(_stream)) => verifier.ca().ok_or_else(|| {
            EnrollError::Pin("the TLS handshake ended without checking the chain".into())
        }),
        Ok(Err(e)) => Err(match verifier.refused() {
            Some(why) => EnrollError::Pin(why),
            None => EnrollError::Connect(format!("{}: {e}", target.url)),
        }),
        Err(_) => Err(EnrollError::Connect(format!(
            "{}: no TLS handshake within {:?} (delivery.connect_timeout)",
            target.url, target.connect_timeout
        ))),
    }
}
