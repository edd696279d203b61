//! Over real TLS on 127.0.0.1: the pin accepts the right CA and refuses a wrong
//! fingerprint, a chain without the CA, a server certificate the pinned CA did not sign and
//! a name the certificate does not hold; joining and renewing against a small Enroll
//! service of the tests' own (it signs what it is asked, refuses what the collector
//! refuses) store what they should and leave nothing behind when refused.

use super::*;
use rcgen::{CertificateSigningRequestParams, SerialNumber};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use tokio::sync::watch;
use tonic::transport::{Server, ServerTlsConfig};
use tonic::{Request, Response, Status};
use vigil_proto::v1::enroll_server::{Enroll, EnrollServer};
use vigil_proto::v1::*;

/// A TLS server presenting `chain`; it completes handshakes and nothing else.
async fn tls_server(chain: Vec<CertificateDer<'static>>, key: &KeyPair) -> String {
    let key = PrivateKeyDer::from(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(tcp).await;
            });
        }
    });
    format!("https://127.0.0.1:{port}")
}

fn target(url: &str, server_name: Option<&str>) -> pin::Target {
    pin::Target {
        url: url.to_owned(),
        server_name: server_name.map(str::to_owned),
        connect_timeout: Duration::from_secs(10),
    }
}

#[tokio::test]
async fn the_pin_accepts_only_a_chain_holding_the_pinned_ca() {
    let pki = Pki::new("Vigil fleet CA");
    let (leaf, key) = pki.leaf();
    let url = tls_server(vec![leaf.clone(), pki.der.clone()], &key).await;
    let expected = vigil_proto::pin::format(&pki.fingerprint());

    let found = pin::discover(&target(&url, None), pki.fingerprint())
        .await
        .unwrap();
    assert_eq!(found, pki.der, "the pinned CA's certificate");
    let found = pin::discover(&target(&url, Some("localhost")), pki.fingerprint())
        .await
        .unwrap();
    assert_eq!(found, pki.der);

    // A wrong fingerprint: both are named.
    let other = Pki::new("Another CA");
    let e = pin::discover(&target(&url, None), other.fingerprint())
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, EnrollError::Pin(_)), "{e:?}");
    assert!(
        text.starts_with("CA fingerprint mismatch: expected "),
        "{text}"
    );
    assert!(
        text.contains(&vigil_proto::pin::format(&other.fingerprint())),
        "{text}"
    );
    assert!(
        text.contains(&format!("the collector's chain holds {expected}")),
        "{text}"
    );

    // A name the certificate does not hold.
    let e = pin::discover(&target(&url, Some("other.example")), pki.fingerprint())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not verify against the pinned CA"), "{e}");
    assert!(e.contains("tls.server_name"), "{e}");
}

#[tokio::test]
async fn the_pin_refuses_a_server_the_pinned_ca_did_not_sign() {
    let pki = Pki::new("Vigil fleet CA");
    let rogue = Pki::new("Rogue CA");
    // The pinned CA's certificate is public: a rogue server can send it along.
    let (leaf, key) = rogue.leaf();
    let url = tls_server(vec![leaf, pki.der.clone()], &key).await;
    let e = pin::discover(&target(&url, None), pki.fingerprint())
        .await
        .unwrap_err();
    assert!(matches!(e, EnrollError::Pin(_)), "{e:?}");
    let text = e.to_string();
    assert!(
        text.starts_with(&format!(
            "the collector's certificate does not verify against the pinned CA {}",
            vigil_proto::pin::format(&pki.fingerprint())
        )),
        "{text}"
    );

    // A server that sends its own certificate only.
    let (leaf, key) = pki.leaf();
    let url = tls_server(vec![leaf], &key).await;
    let e = pin::discover(&target(&url, None), pki.fingerprint())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("sent no CA certificate with its own"), "{e}");
    assert!(e.contains("server.pem"), "{e}");
}

/// The tests' collector: signs requests for `web-*` hosts with the join token [`TOKEN`],
/// renews for the host of the calling certificate, refuses a revoked host.
struct Collector {
    pki: Pki,
    revoked: AtomicBool,
    serial: AtomicU8,
}

impl Collector {
    fn issue(&self, csr_der: &[u8], host: &str) -> Result<Response<CertificateResponse>, Status> {
        let mut request = CertificateSigningRequestParams::from_der(&csr_der.to_vec().into())
            .map_err(|e| Status::invalid_argument(format!("certificate request: {e}")))?;
        let p = &mut request.params;
        p.not_before = rcgen::date_time_ymd(1975, 1, 1);
        p.not_after = rcgen::date_time_ymd(4096, 1, 1);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let serial = self.serial.fetch_add(1, Ordering::SeqCst) + 1;
        p.serial_number = Some(SerialNumber::from_slice(&[serial; 16]));
        let issuer = Issuer::from_params(&self.pki.params, &self.pki.key);
        let cert = request
            .signed_by(&issuer)
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(CertificateResponse {
            certificate_pem: cert.pem(),
            ca_pem: self.pki.pem.clone(),
            serial: format!("{serial:02x}").repeat(16),
            host: host.to_owned(),
            ..CertificateResponse::default()
        }))
    }
}

#[tonic::async_trait]
impl Enroll for Collector {
    async fn join(
        &self,
        request: Request<JoinRequest>,
    ) -> Result<Response<CertificateResponse>, Status> {
        let r = request.into_inner();
        if r.token != TOKEN {
            return Err(Status::unauthenticated(
                "unknown join token: it is not one this collector made",
            ));
        }
        if !r.host.starts_with("web-") {
            return Err(Status::permission_denied(format!(
                "host {:?} is not among join token 0123456789ab's hosts [\"web-*\"]",
                r.host
            )));
        }
        if self.revoked.load(Ordering::SeqCst) {
            return Err(Status::permission_denied(format!(
                "host {:?} was revoked",
                r.host
            )));
        }
        self.issue(&r.csr_der, &r.host)
    }

    async fn renew(
        &self,
        request: Request<RenewRequest>,
    ) -> Result<Response<CertificateResponse>, Status> {
        let host = request
            .peer_certs()
            .and_then(|certs| certs.first().and_then(|c| CertInfo::from_der(c)))
            .map(|info| info.host)
            .ok_or_else(|| Status::unauthenticated("renewal needs the agent's certificate"))?;
        if self.revoked.load(Ordering::SeqCst) {
            return Err(Status::permission_denied(format!(
                "host {host:?} was revoked"
            )));
        }
        self.issue(&request.into_inner().csr_der, &host)
    }

    async fn create_token(
        &self,
        _: Request<CreateTokenRequest>,
    ) -> Result<Response<CreateTokenResponse>, Status> {
        Err(Status::unimplemented("not in tests"))
    }

    async fn list_tokens(
        &self,
        _: Request<ListTokensRequest>,
    ) -> Result<Response<ListTokensResponse>, Status> {
        Err(Status::unimplemented("not in tests"))
    }

    async fn revoke_token(
        &self,
        _: Request<RevokeTokenRequest>,
    ) -> Result<Response<RevokeTokenResponse>, Status> {
        Err(Status::unimplemented("not in tests"))
    }

    async fn list_identities(
        &self,
        _: Request<ListIdentitiesRequest>,
    ) -> Result<Response<ListIdentitiesResponse>, Status> {
        Err(Status::unimplemented("not in tests"))
    }

    async fn revoke_host(
        &self,
        _: Request<RevokeHostRequest>,
    ) -> Result<Response<RevokeHostResponse>, Status> {
        Err(Status::unimplemented("not in tests"))
    }

    async fn unrevoke_host(
        &self,
        _: Request<UnrevokeHostRequest>,
    ) -> Result<Response<UnrevokeHostResponse>, Status> {
        Err(Status::unimplemented("not in tests"))
    }
}

/// Starts the tests' collector over TLS (client certificates optional, as the real one);
/// returns its URL.
async fn collector(c: Arc<Collector>) -> String {
    let (chain, key) = c.pki.server();
    let tls = ServerTlsConfig::new()
        .identity(tonic::transport::Identity::from_pem(chain, key))
        .client_ca_root(Certificate::from_pem(&c.pki.pem))
        .client_auth_optional(true);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = Server::builder()
        .tls_config(tls)
        .unwrap()
        .add_service(EnrollServer::from_arc(c))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    tokio::spawn(server);
    format!("https://127.0.0.1:{port}")
}

fn new_collector() -> Arc<Collector> {
    Arc::new(Collector {
        pki: Pki::new("Vigil fleet CA"),
        revoked: AtomicBool::new(false),
        serial: AtomicU8::new(0),
    })
}

#[tokio::test]
async fn a_refused_join_leaves_nothing_behind() {
    let c = new_collector();
    let url = collector(c.clone()).await;
    let tmp = Scratch::new("refused");
    let dir = tmp.path().join("identity");
    let pin = Some(c.pki.fingerprint());

    let wrong = "vjt.0123456789ab.ffffffffffffffffffffffffffffffff";
    let enroller = Enroller::new(&config(&url, &dir, Some(wrong), pin), "web-1").unwrap();
    let e = join::join(&enroller).await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains("join refused by the collector"), "{text}");
    assert!(
        text.contains("UNAUTHENTICATED: unknown join token"),
        "{text}"
    );
    assert!(text.contains("--join NEW_TOKEN"), "{text}");
    assert!(!text.contains("ffffffff"), "no token in {text}");
    assert!(!e.is_transient());
    assert!(!dir.exists(), "the directory the join made is gone");

    let enroller = Enroller::new(&config(&url, &dir, Some(TOKEN), pin), "db-1").unwrap();
    let text = join::join(&enroller).await.unwrap_err().to_string();
    assert!(
        text.contains("PERMISSION_DENIED: host \"db-1\" is not among"),
        "{text}"
    );
    assert!(
        text.contains("This agent's host name is \"db-1\""),
        "{text}"
    );

    // A directory that was there stays, empty.
    std::fs::create_dir_all(&dir).unwrap();
    let other = Pki::new("Another CA");
    let enroller = Enroller::new(
        &config(&url, &dir, Some(TOKEN), Some(other.fingerprint())),
        "web-1",
    )
    .unwrap();
    let e = join::join(&enroller).await.unwrap_err();
    assert!(matches!(e, EnrollError::Pin(_)), "{e:?}");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "no key, no certificate"
    );
    assert_eq!(c.serial.load(Ordering::SeqCst), 0, "nothing was issued");
}

#[tokio::test]
async fn join_then_renew_over_mtls() {
    let c = new_collector();
    let url = collector(c.clone()).await;
    let tmp = Scratch::new("join");
    let dir = tmp.path().join("identity");
    let cfg = config(&url, &dir, Some(TOKEN), Some(c.pki.fingerprint()));
    let enroller = Enroller::new(&cfg, "web-1").unwrap();

    let first = join::join(&enroller).await.unwrap();
    assert_eq!(first.info.host, "web-1");
    assert_eq!(first.info.serial, "01".repeat(16));
    assert_eq!(first.ca_pem, c.pki.pem.as_bytes());
    #[cfg(unix)]
    {
        assert_eq!(mode(&dir), 0o700);
        for name in [KEY, CERT, CA] {
            assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
        }
    }
    assert!(!dir.join(PENDING_KEY).exists());
    // From now on the files win, token or not.
    let no_token = config(&url, &dir, None, None);
    match plan(&no_token, "web-1", date(2030, 1, 1)) {
        Ok(Plan::Enrolled(id)) => assert_eq!(id.info.serial, first.info.serial),
        other => panic!("{other:?}"),
    }

    // Renewal, over mTLS with the current certificate, with a new key.
    let enroller = Enroller::new(&no_token, "web-1").unwrap();
    let second = renew::renew(&enroller, &first).await.unwrap();
    assert_eq!(second.info.serial, "02".repeat(16));
    assert_ne!(second.key_pem, first.key_pem, "a new key pair");
    assert_eq!(std::fs::read(dir.join(KEY)).unwrap(), second.key_pem);
    assert_eq!(std::fs::read(dir.join(CERT)).unwrap(), second.cert_pem);

    // Revoked: refused, and the files stay as they were.
    c.revoked.store(true, Ordering::SeqCst);
    let e = renew::renew(&enroller, &second)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("renewal refused by the collector"), "{e}");
    assert!(
        e.contains("PERMISSION_DENIED: host \"web-1\" was revoked"),
        "{e}"
    );
    let kept = identity::load(&dir).unwrap().unwrap();
    assert_eq!(kept.info.serial, second.info.serial);
    assert!(!dir.join(PENDING_KEY).exists());
}

#[tokio::test]
async fn the_renewal_loop_renews_when_the_clock_says_so_and_hands_over_the_new_tls() {
    let c = new_collector();
    let url = collector(c.clone()).await;
    let tmp = Scratch::new("maintain");
    let dir = tmp.path().join("identity");
    let cfg = config(&url, &dir, Some(TOKEN), Some(c.pki.fingerprint()));
    let enroller = Enroller::new(&cfg, "web-1").unwrap();
    let (tls_tx, mut tls_rx) = watch::channel(None);
    let (stop_tx, stop_rx) = watch::channel(false);

    // Not enrolled: the loop joins first and hands over the TLS settings.
    let renews_at = renew::renew_at(&CertInfo {
        host: String::new(),
        serial: String::new(),
        not_before: date(1975, 1, 1),
        not_after: date(4096, 1, 1),
    });
    let clock = Arc::new(FakeClock::at(renews_at - Duration::from_secs(1)));
    let task = tokio::spawn(renew::maintain(
        enroller,
        None,
        tls_tx,
        clock.clone(),
        stop_rx,
    ));
    tls_rx.changed().await.unwrap();
    assert!(tls_rx.borrow_and_update().is_some());
    assert_eq!(
        identity::load(&dir).unwrap().unwrap().info.serial,
        "01".repeat(16)
    );

    // Two thirds in: renewed, and the stream is told. (The new certificate has the same
    // validity, so it is due at once too: the loop then waits as after a failure.)
    *clock.0.lock().unwrap() = renews_at;
    tls_rx.changed().await.unwrap();
    stop_tx.send(true).unwrap();
    task.await.unwrap().unwrap();
    assert_eq!(
        identity::load(&dir).unwrap().unwrap().info.serial,
        "02".repeat(16)
    );
}
