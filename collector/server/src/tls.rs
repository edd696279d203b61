//! TLS for the gRPC listener, and agent identity from client certificates.

use crate::config::TlsConfig;
use crate::error::Error;
use std::path::Path;
use std::time::Duration;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

fn read(key: &str, path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path)
        .map_err(|e| Error::Serve(format!("{key}: cannot read {}: {e}", path.display())))
}

/// The listener's TLS settings, or None when TLS is off. A handshake that has not finished
/// within `handshake_timeout` (`server.tls_handshake_timeout`) closes its connection; tonic
/// runs each handshake in its own task, so a slow one holds up no other.
pub fn server_config(
    tls: &TlsConfig,
    handshake_timeout: Duration,
) -> Result<Option<ServerTlsConfig>, Error> {
    let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) else {
        return Ok(None);
    };
    let identity = Identity::from_pem(read("tls.cert_file", cert)?, read("tls.key_file", key)?);
    let mut config = ServerTlsConfig::new()
        .identity(identity)
        .timeout(handshake_timeout);
    if let Some(ca) = &tls.client_ca_file {
        // Optional at the TLS layer so the CLI can query without a certificate; the Ingest
        // service refuses any agent stream that did not present one.
        config = config
            .client_ca_root(Certificate::from_pem(read("tls.client_ca_file", ca)?))
            .client_auth_optional(true);
    }
    Ok(Some(config))
}

/// The host a verified client certificate names: its common name, else its first DNS name.
pub fn certificate_host(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    if let Some(cn) = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
    {
        return Some(cn.to_owned());
    }
    let san = cert.subject_alternative_name().ok()??;
    san.value.general_names.iter().find_map(|name| match name {
        GeneralName::DNSName(dns) => Some((*dns).to_owned()),
        _ => None,
    })
}

/// The serial of a DER certificate, lowercase hex without leading zero bytes (as
/// `vigil-pki` writes it).
pub fn certificate_serial(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    Some(serial_hex(cert.raw_serial()))
}

/// Lowercase hex of a serial's bytes, leading zero bytes dropped.
pub fn serial_hex(raw: &[u8]) -> String {
    let start = raw.iter().position(|b| *b != 0).unwrap_or(raw.len());
    let mut out = String::with_capacity(2 * (raw.len() - start));
    for b in &raw[start..] {
        out.push_str(&format!("{b:02x}"));
    }
    if out.is_empty() {
        out.push('0');
    }
    out
}
