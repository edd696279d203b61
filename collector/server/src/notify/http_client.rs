//! The HTTP client of webhook and alertmanager integrations: reqwest over rustls with the
//! ring provider (reqwest is built with `rustls-no-provider`, so the TLS configuration is
//! made here), trusting the system's roots plus an optional `ca_file`, with an optional
//! client certificate (remote write); and the reading of an answer into an [`Outcome`]
//! with secrets redacted.
//!
//! Retry classes: 2xx is accepted; 408, 429, 5xx, connection errors and timeouts are
//! retried; any other status (3xx: redirects are not followed, since destinations come
//! from configuration only; 4xx) is rejected.

use super::model::Outcome;
use super::secret::Secret;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How much of a receiver's answer is kept for logs and `vigil notify test`.
pub const ANSWER_BYTES: usize = 512;

/// Where Debian, Fedora and Alpine keep the system's CA bundle; `SSL_CERT_FILE` first.
const SYSTEM_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// A client for one integration: `timeout` bounds connecting and the whole request.
pub fn client(ca_file: Option<&Path>, timeout: Duration) -> Result<reqwest::Client, String> {
    client_with_identity(ca_file, None, timeout)
}

/// A client certificate and its private key, both PEM files.
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    /// The certificate (chain), leaf first.
    pub cert_file: &'a Path,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: &'a Path,
}

/// [`client`], showing `identity` to servers that ask for a client certificate.
/// Errors name `cert_file`/`key_file`/`ca_file` and the path.
pub fn client_with_identity(
    ca_file: Option<&Path>,
    identity: Option<Identity<'_>>,
    timeout: Duration,
) -> Result<reqwest::Client, String> {
    let mut roots = rustls::RootCertStore::empty();
    let system = std::env::var_os("SSL_CERT_FILE")
        .map(std::path::PathBuf::from)
        .into_iter()
        .chain(SYSTEM_BUNDLES.iter().map(std::path::PathBuf::from))
        .find(|p| p.exists());
    if let Some(bundle) = system {
        // A broken system certificate is skipped, as every TLS client does.
        if let Ok(certs) = CertificateDer::pem_file_iter(&bundle) {
            roots.add_parsable_certificates(certs.flatten());
        }
    }
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                format!(
                    "ca_file {}: not a PEM certificate file: {e}",
                    path.display()
                )
            })?;
        if certs.is_empty() {
            return Err(format!(
                "ca_file {}: holds no PEM certificate",
                path.display()
            ));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots);
    let mut tls = match identity {
        None => builder.with_no_client_auth(),
        Some(id) => {
            let (certs, key) = load_identity(id)?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                format!(
                    "key_file {}: does not suit cert_file {}: {e}",
                    id.key_file.display(),
                    id.cert_file.display()
                )
            })?
        }
    };
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(timeout)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("vigil/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("HTTP client setup: {}", chain(&e)))
}

/// Reads a client certificate chain and its key.
fn load_identity(
    id: Identity<'_>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let certs = CertificateDer::pem_file_iter(id.cert_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            format!(
                "cert_file {}: not a PEM certificate file: {e}",
                id.cert_file.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "cert_file {}: holds no PEM certificate",
            id.cert_file.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(id.key_file).map_err(|e| {
        format!(
            "key_file {}: not a PEM private key file: {e}",
            id.key_file.display()
        )
    })?;
    Ok((certs, key))
}

/// Sends `request` and classifies the answer. `secrets` are redacted from everything
/// returned (the URL, header values, a key a server might echo).
pub async fn send(request: reqwest::RequestBuilder, secrets: &[&Secret]) -> Outcome {
    let redact = |text: String| secrets.iter().fold(text, |t, s| s.redact(&t));
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "cannot connect"
            } else {
                "request failed"
            };
            return Outcome::Retry {
                error: redact(format!("{what}: {}", chain(&e))),
            };
        }
    };
    let status = response.status();
    let body = excerpt(response).await;
    let line = status_line(status);
    let answer = redact(if body.is_empty() {
        line
    } else {
        format!("{line}: {body}")
    });
    if status.is_success() {
        Outcome::Accepted { answer }
    } else if worth_retrying(status) {
        Outcome::Retry { error: answer }
    } else if status.is_redirection() {
        Outcome::Rejected {
            error: format!("{answer} (redirects are not followed; configure the final URL)"),
        }
    } else {
        Outcome::Rejected { error: answer }
    }
}

/// `HTTP 503 Service Unavailable` (the code alone when it has no standard reason).
pub(crate) fn status_line(status: reqwest::StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("HTTP {} {reason}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    }
}

/// Whether an answer says to try again later: a request timeout, too many requests, or a
/// server error. Any other failure is a refusal that the same request would meet again.
pub(crate) fn worth_retrying(status: reqwest::StatusCode) -> bool {
    let code = status.as_u16();
    code == 408 || code == 429 || status.is_server_error()
}

/// The first [`ANSWER_BYTES`] of the body, as text, trimmed.
pub(crate) async fn excerpt(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < ANSWER_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let cut = bytes.len() > ANSWER_BYTES;
    bytes.truncate(ANSWER_BYTES);
    let mut text = String::from_utf8_lossy(&bytes).trim().to_owned();
    if cut {
        text.push('…');
    }
    text
}

/// An error's causes, without the URL (which may hold a secret) and without hyper's
/// wrappers: "tcp connect error: Connection refused (os error 111)".
pub(crate) fn chain(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !text.starts_with("client error (") && !parts.contains(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        parts.push(
            if e.is_timeout() {
                "operation timed out"
            } else if e.is_builder() {
                "bad request"
            } else if e.is_body() || e.is_decode() {
                "error reading the body"
            } else {
                "error sending the request"
            }
            .to_owned(),
        );
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_is_retried_without_the_url() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let token = Secret::default();
        let client = client(None, Duration::from_secs(2)).unwrap();
        let url = format!("http://127.0.0.1:{port}/hook?token=abcdef123");
        match send(client.post(&url), &[&token]).await {
            Outcome::Retry { error } => {
                assert!(error.contains("cannot connect"), "{error}");
                assert!(error.to_lowercase().contains("refused"), "{error}");
                assert!(!error.contains("client error"), "{error}");
                assert!(!error.contains("abcdef123"), "{error}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_bad_ca_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let err = client(Some(&path), Duration::from_secs(1)).unwrap_err();
        assert!(err.contains("ca.pem"), "{err}");
    }
}
