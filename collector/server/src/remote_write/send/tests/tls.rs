//! HTTPS with a private CA and a client certificate, against a rustls server that requires
//! one.

use super::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{Read, Write};
use std::path::Path;

struct Pki {
    dir: tempfile::TempDir,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: PrivateKeyDer<'static>,
    ca: CertificateDer<'static>,
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all in a temporary
/// directory as ca.pem, client.pem, client.key.
fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "remote write test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let leaf = |names: Vec<String>, cn: &str| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert, key)
    };
    let (server_cert, server_key) = leaf(vec!["127.0.0.1".into()], "receiver");
    let (client_cert, client_key) = leaf(vec![], "vigil-collector");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.path().join("client.pem"), client_cert.pem()).unwrap();
    std::fs::write(dir.path().join("client.key"), client_key.serialize_pem()).unwrap();
    Pki {
        dir,
        server_chain: vec![server_cert.der().clone()],
        server_key: PrivateKeyDer::try_from(server_key.serialize_der()).unwrap(),
        ca: ca_cert.der().clone(),
    }
}

/// Serves HTTPS on 127.0.0.1:0 in a thread, requiring a client certificate from the CA;
/// answers 204 to each request. Returns the port and the count of requests read.
fn serve(pki: &Pki) -> (u16, Arc<Mutex<usize>>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(pki.server_chain.clone(), pki.server_key.clone_key())
        .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answered = Arc::new(Mutex::new(0));
    let count = answered.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(conn, stream);
            let _ = answer(&mut tls, &count);
        }
    });
    (port, answered)
}

/// Reads one request (headers and a Content-Length body), counts it, and answers 204.
fn answer(stream: &mut impl ReadWrite, count: &Mutex<usize>) -> std::io::Result<()> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let header_end = loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..header_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while data.len() < header_end + length {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        data.extend_from_slice(&buf[..n]);
    }
    // Counted before answering: the client sees the answer only after this.
    *count.lock().unwrap() += 1;
    stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")?;
    stream.flush()
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn tls_config(port: u16, dir: &Path, with_client_cert: bool) -> RemoteWriteConfig {
    let mut c = config(&format!("https://127.0.0.1:{port}/api/v1/write"));
    c.tls_ca_file = Some(dir.join("ca.pem"));
    if with_client_cert {
        c.tls_cert_file = Some(dir.join("client.pem"));
        c.tls_key_file = Some(dir.join("client.key"));
    }
    c
}

#[tokio::test]
async fn a_client_certificate_is_shown_to_a_receiver_that_requires_one() {
    let pki = pki();
    let (port, answered) = serve(&pki);
    let dir = pki.dir.path();
    let with = tls_config(port, dir, true);
    with.validate(0).unwrap();
    let sender = Sender::new(&with).unwrap();
    assert_eq!(
        sender.send_once(&wire::encode(&request())).await,
        Attempt::Accepted
    );
    assert_eq!(*answered.lock().unwrap(), 1);

    let without = Sender::new(&tls_config(port, dir, false)).unwrap();
    let attempt = without.send_once(b"x").await;
    assert!(matches!(attempt, Attempt::Retry { .. }), "{attempt:?}");
    assert_eq!(*answered.lock().unwrap(), 1);

    // A key that is not the certificate's is refused when the sender is made.
    let mut mismatched = tls_config(port, dir, true);
    let other = KeyPair::generate().unwrap();
    std::fs::write(dir.join("other.key"), other.serialize_pem()).unwrap();
    mismatched.tls_key_file = Some(dir.join("other.key"));
    match Sender::new(&mismatched) {
        Err(e) => assert!(e.contains("tls_key_file"), "{e}"),
        // rustls may only notice at the handshake: then the attempt fails instead.
        Ok(sender) => assert!(matches!(
            sender.send_once(b"x").await,
            Attempt::Retry { .. }
        )),
    }
    let mut garbage = tls_config(port, dir, true);
    std::fs::write(dir.join("garbage.pem"), "not a certificate").unwrap();
    garbage.tls_cert_file = Some(dir.join("garbage.pem"));
    let e = Sender::new(&garbage).unwrap_err();
    assert!(
        e.contains("tls_cert_file") && e.contains("garbage.pem"),
        "{e}"
    );
}
