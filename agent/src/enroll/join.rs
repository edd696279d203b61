//! Joining: a new key pair, its request and the join token go to the collector, which is
//! trusted by the pinned CA alone; the certificate that comes back is checked (it must be
//! for this key and this host) and stored with the CA bundle.

use super::identity::{self, Identity};
use super::x509::CertInfo;
use super::{EnrollError, Enroller, pin, refused, request};
use rustls::pki_types::CertificateDer;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use vigil_proto::v1::enroll_client::EnrollClient;
use vigil_proto::v1::{CertificateResponse, JoinRequest};

/// Joins with the enroller's token and pinned CA; stores and returns the new identity. On
/// any failure nothing is stored: the key made for it is removed, and the identity
/// directory too when this call created it.
pub async fn join(enroller: &Enroller) -> Result<Identity, EnrollError> {
    let (Some(token), Some(pin)) = (&enroller.token, enroller.pin) else {
        return Err(EnrollError::Config(
            "enroll.token: joining needs a join token and enroll.ca_fingerprint".into(),
        ));
    };
    let (key_pem, csr_der) = request(&enroller.host)?;
    let dir = &enroller.dir;
    let created =
        identity::prepare_dir(dir).map_err(|e| EnrollError::Files(format!("enroll.dir: {e}")))?;
    let outcome = async {
        identity::write_pending_key(dir, key_pem.as_bytes())
            .map_err(|e| EnrollError::Files(format!("enroll.dir: {e}")))?;
        let ca = pin::discover(&enroller.target, pin).await?;
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(ca.clone())
            .map_err(|e| EnrollError::Pin(format!("the pinned CA certificate is unusable: {e}")))?;
        let mut tls = ClientTlsConfig::new().trust_anchors(roots.roots);
        if let Some(name) = &enroller.target.server_name {
            tls = tls.domain_name(name.clone());
        }
        let channel = connect(&enroller.target, tls).await?;
        let response = EnrollClient::new(channel)
            .join(JoinRequest {
                token: token.clone(),
                host: enroller.host.clone(),
                csr_der,
            })
            .await
            .map_err(|status| refused("join", &status, enroller))?
            .into_inner();
        store(enroller, &key_pem, &response, Some(&ca))
    }
    .await;
    if outcome.is_err() {
        identity::discard_pending_key(dir);
        if created {
            let _ = std::fs::remove_dir(dir);
        }
    }
    outcome
}

/// A channel to the collector with `tls`.
pub async fn connect(target: &pin::Target, tls: ClientTlsConfig) -> Result<Channel, EnrollError> {
    Endpoint::from_shared(target.url.clone())
        .and_then(|e| e.tls_config(tls))
        .map_err(|e| EnrollError::Config(format!("collector: {:?}: {e}", target.url)))?
        .connect_timeout(target.connect_timeout)
        .connect()
        .await
        .map_err(|e| EnrollError::Connect(format!("{}: {}", target.url, crate::check::chain(&e))))
}

/// Checks the collector's answer against the request made with `key_pem` and stores it
/// (the pending key becomes `key.pem`). `pinned_ca` stands in for an empty CA bundle.
pub fn store(
    enroller: &Enroller,
    key_pem: &str,
    response: &CertificateResponse,
    pinned_ca: Option<&CertificateDer<'_>>,
) -> Result<Identity, EnrollError> {
    let bad = |why: String| EnrollError::Response(format!("the collector's answer: {why}"));
    let cert = identity::first_certificate(response.certificate_pem.as_bytes())
        .ok_or_else(|| bad("certificate_pem holds no PEM certificate".into()))?;
    let info = CertInfo::from_der(&cert)
        .ok_or_else(|| bad("certificate_pem is not an X.509 certificate".into()))?;
    if vigil_proto::pin::spki(&cert) != identity::public_key(key_pem.as_bytes()).as_deref() {
        return Err(bad(
            "the certificate is not for the key this agent sent".into()
        ));
    }
    if !info.host.eq_ignore_ascii_case(&enroller.host) {
        return Err(bad(format!(
            "the certificate names host {:?}, not this agent's {:?}",
            info.host, enroller.host
        )));
    }
    let ca_pem = match (response.ca_pem.trim().is_empty(), pinned_ca) {
        (false, _) => response.ca_pem.clone(),
        (true, Some(ca)) => identity::pem("CERTIFICATE", ca),
        (true, None) => return Err(bad("ca_pem is empty".into())),
    };
    if identity::first_certificate(ca_pem.as_bytes()).is_none() {
        return Err(bad("ca_pem holds no PEM certificate".into()));
    }
    identity::commit(
        &enroller.dir,
        response.certificate_pem.as_bytes(),
        ca_pem.as_bytes(),
    )
    .map_err(|e| EnrollError::Files(format!("enroll.dir: {e}")))
}
