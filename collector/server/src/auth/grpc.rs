//! The tower layer in front of every gRPC service: reads the caller's credentials, admits
//! or refuses the call by the role its method needs, and puts the [`Caller`] in the
//! request's extensions for the service (audit logs, a silence's creator, an agent's host).

use super::{Auth, Need, Presented};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

/// The role each gRPC method needs, by its path. A method not listed needs `admin`, so a
/// service added later is closed until it is listed here.
pub fn need(path: &str) -> Need {
    match path {
        // The service checks the join token itself; Renew checks the client certificate.
        "/vigil.v1.Enroll/Join" => Need::Nothing,
        "/vigil.v1.Enroll/Renew" => Need::Ingest,
        "/vigil.v1.Ingest/Stream" => Need::Ingest,
        "/vigil.v1.Import/Write" => Need::Import,
        "/vigil.v1.Query/Hosts"
        | "/vigil.v1.Query/Series"
        | "/vigil.v1.Query/Samples"
        | "/vigil.v1.Query/Instant"
        | "/vigil.v1.Query/Range"
        | "/vigil.v1.Rules/ListRules"
        | "/vigil.v1.Rules/ListAlerts"
        | "/vigil.v1.Notify/ListSilences"
        | "/vigil.v1.Notify/ListOutbox"
        | "/vigil.v1.Admin/Status"
        | "/vigil.v1.Forecast/Forecast"
        | "/vigil.v1.Enroll/ListTokens"
        | "/vigil.v1.Enroll/ListIdentities"
        | "/vigil.v1.Incidents/ListIncidents"
        | "/vigil.v1.Incidents/GetIncident" => Need::Read,
        _ => Need::Admin,
    }
}

/// Every gRPC method's path, with what it needs (for tests that call them all).
pub const METHODS: &[&str] = &[
    "/vigil.v1.Ingest/Stream",
    "/vigil.v1.Import/Write",
    "/vigil.v1.Query/Hosts",
    "/vigil.v1.Query/Series",
    "/vigil.v1.Query/Samples",
    "/vigil.v1.Query/Instant",
    "/vigil.v1.Query/Range",
    "/vigil.v1.Rules/ListRules",
    "/vigil.v1.Rules/ListAlerts",
    "/vigil.v1.Rules/Reload",
    "/vigil.v1.Notify/AddSilence",
    "/vigil.v1.Notify/ListSilences",
    "/vigil.v1.Notify/ExpireSilence",
    "/vigil.v1.Notify/TestReceiver",
    "/vigil.v1.Notify/ListOutbox",
    "/vigil.v1.Admin/Backup",
    "/vigil.v1.Admin/Status",
    "/vigil.v1.Forecast/Forecast",
    "/vigil.v1.Enroll/Join",
    "/vigil.v1.Enroll/Renew",
    "/vigil.v1.Enroll/CreateToken",
    "/vigil.v1.Enroll/ListTokens",
    "/vigil.v1.Enroll/RevokeToken",
    "/vigil.v1.Enroll/ListIdentities",
    "/vigil.v1.Enroll/RevokeHost",
    "/vigil.v1.Enroll/UnrevokeHost",
    "/vigil.v1.Incidents/ListIncidents",
    "/vigil.v1.Incidents/GetIncident",
    "/vigil.v1.Incidents/AcknowledgeIncident",
];

/// The layer: `Server::builder().layer(AuthLayer::new(auth))`.
#[derive(Clone)]
pub struct AuthLayer {
    auth: Arc<Auth>,
}

impl AuthLayer {
    /// A layer admitting calls by `auth`.
    pub fn new(auth: Arc<Auth>) -> Self {
        AuthLayer { auth }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            auth: self.auth.clone(),
        }
    }
}

/// The service the layer wraps around tonic's router.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Arc<Auth>,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The clone is fresh (not ready); the one polled ready serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let need = need(request.uri().path());
        let (certificate_host, peer) = connection(&request);
        if let Some(serial) = certificate_serial(&request)
            && let Some(why) = self
                .auth
                .revocations()
                .refuses(certificate_host.as_deref(), &serial)
        {
            let status = tonic::Status::from(self.auth.refuse_revoked(why, peer));
            return Box::pin(async move { Ok(status.into_http()) });
        }
        let bearer = bearer(request.headers());
        let presented = Presented {
            bearer: bearer.as_deref(),
            basic: None,
            certificate_host,
            peer,
        };
        match self.auth.admit(&presented, need) {
            Ok(caller) => {
                if let Some(caller) = caller {
                    request.extensions_mut().insert(caller);
                }
                Box::pin(inner.call(request))
            }
            Err(refused) => {
                let status = tonic::Status::from(refused);
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
}

/// The verified client certificate's host and the peer's address, from what tonic put in
/// the request's extensions.
pub fn connection<B>(request: &http::Request<B>) -> (Option<String>, Option<SocketAddr>) {
    let extensions = request.extensions();
    if let Some(tls) = extensions.get::<TlsConnectInfo<TcpConnectInfo>>() {
        let host = tls
            .peer_certs()
            .and_then(|certs| certs.first().and_then(|c| crate::tls::certificate_host(c)));
        return (host, tls.get_ref().remote_addr());
    }
    let peer = extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr);
    (None, peer)
}

/// The serial (lowercase hex) of the verified client certificate, if the call came with one.
pub fn certificate_serial<B>(request: &http::Request<B>) -> Option<String> {
    let tls = request
        .extensions()
        .get::<TlsConnectInfo<TcpConnectInfo>>()?;
    let certs = tls.peer_certs()?;
    crate::tls::certificate_serial(certs.first()?)
}

/// The secret of an `authorization: Bearer SECRET` header (scheme case-insensitive).
pub fn bearer(headers: &http::HeaderMap) -> Option<String> {
    let (scheme, secret) = super::authorization(headers)?;
    (scheme.eq_ignore_ascii_case("bearer") && !secret.is_empty()).then(|| secret.to_owned())
}
