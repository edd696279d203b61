//! A collector for the CLI's tests: a Query service that lists hosts and, optionally, an
//! Enroll service that keeps tokens and identities in memory and records every request.
//! Admin calls are refused unless they carry `Bearer admin`, as a read token would be.

use std::sync::{Arc, Mutex};

use vigil_proto::v1::enroll_server::{Enroll, EnrollServer};
use vigil_proto::v1::query_server::{Query, QueryServer};
use vigil_proto::v1::*;

use tonic::{Request, Response, Status};

/// What the fake holds and what it was asked.
#[derive(Debug, Default)]
pub struct State {
    /// The host registry.
    pub hosts: Vec<Host>,
    /// The identities.
    pub identities: Vec<HostIdentity>,
    /// The tokens.
    pub tokens: Vec<JoinToken>,
    /// Every Enroll request, as `Method {debug of the request}`.
    pub requests: Vec<String>,
}

/// The fake's services, sharing one [`State`].
#[derive(Clone, Default)]
pub struct Fake(pub Arc<Mutex<State>>);

impl Fake {
    fn record(&self, what: String) {
        self.0.lock().expect("not poisoned").requests.push(what);
    }
}

/// Refuses a call that needs `admin` unless it carries `Bearer admin`.
fn admin<T>(request: &Request<T>) -> Result<(), Status> {
    match request.metadata().get("authorization").map(|v| v.to_str()) {
        Some(Ok("Bearer admin")) => Ok(()),
        _ => Err(Status::permission_denied(
            "token \"grafana\" has role read; Enroll needs admin",
        )),
    }
}

/// Starts the fake on a loopback port, with the Enroll service when `enroll`; returns its
/// URL.
pub async fn start(fake: Fake, enroll: bool) -> String {
    let incoming =
        tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind a loopback port");
    let addr = incoming.local_addr().expect("bound");
    // The CLI's Query client compresses, as the collector's service accepts.
    let query = QueryServer::new(fake.clone())
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    let router = tonic::transport::Server::builder().add_service(query);
    let router = if enroll {
        router.add_service(EnrollServer::new(fake))
    } else {
        router
    };
    tokio::spawn(router.serve_with_incoming(incoming));
    format!("http://{addr}")
}

#[tonic::async_trait]
impl Query for Fake {
    async fn hosts(&self, _: Request<HostsRequest>) -> Result<Response<HostsResponse>, Status> {
        let hosts = self.0.lock().expect("not poisoned").hosts.clone();
        Ok(Response::new(HostsResponse { hosts }))
    }

    async fn series(&self, _: Request<SeriesRequest>) -> Result<Response<SeriesResponse>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }

    type SamplesStream = tokio_stream::Empty<Result<SeriesSamples, Status>>;

    async fn samples(
        &self,
        _: Request<SamplesRequest>,
    ) -> Result<Response<Self::SamplesStream>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }

    async fn instant(
        &self,
        _: Request<InstantQueryRequest>,
    ) -> Result<Response<QueryResult>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }

    async fn range(&self, _: Request<RangeQueryRequest>) -> Result<Response<QueryResult>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }
}

#[tonic::async_trait]
impl Enroll for Fake {
    async fn join(&self, _: Request<JoinRequest>) -> Result<Response<CertificateResponse>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }

    async fn renew(
        &self,
        _: Request<RenewRequest>,
    ) -> Result<Response<CertificateResponse>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }

    async fn create_token(
        &self,
        request: Request<CreateTokenRequest>,
    ) -> Result<Response<CreateTokenResponse>, Status> {
        admin(&request)?;
        let r = request.into_inner();
        self.record(format!("CreateToken {r:?}"));
        let info = JoinToken {
            id: "0123456789ab".into(),
            hosts: r.hosts,
            created_ms: 1_795_240_200_000,
            expires_ms: 1_795_240_200_000 + r.ttl_ms,
            uses: r.uses,
            replace: r.replace,
            description: r.description,
            created_by: "admin".into(),
            ..JoinToken::default()
        };
        self.0
            .lock()
            .expect("not poisoned")
            .tokens
            .push(info.clone());
        Ok(Response::new(CreateTokenResponse {
            token: "vjt.0123456789ab.00112233445566778899aabbccddeeff".into(),
            info: Some(info),
        }))
    }

    async fn list_tokens(
        &self,
        _: Request<ListTokensRequest>,
    ) -> Result<Response<ListTokensResponse>, Status> {
        let tokens = self.0.lock().expect("not poisoned").tokens.clone();
        Ok(Response::new(ListTokensResponse { tokens }))
    }

    async fn revoke_token(
        &self,
        request: Request<RevokeTokenRequest>,
    ) -> Result<Response<RevokeTokenResponse>, Status> {
        admin(&request)?;
        let r = request.into_inner();
        self.record(format!("RevokeToken {r:?}"));
        let mut state = self.0.lock().expect("not poisoned");
        let token = state
            .tokens
            .iter_mut()
            .find(|t| t.id == r.id)
            .ok_or_else(|| Status::not_found(format!("no join token {:?}", r.id)))?;
        token.revoked_ms = 1_795_240_300_000;
        Ok(Response::new(RevokeTokenResponse {
            token: Some(token.clone()),
        }))
    }

    async fn list_identities(
        &self,
        _: Request<ListIdentitiesRequest>,
    ) -> Result<Response<ListIdentitiesResponse>, Status> {
        let identities = self.0.lock().expect("not poisoned").identities.clone();
        Ok(Response::new(ListIdentitiesResponse { identities }))
    }

    async fn revoke_host(
        &self,
        request: Request<RevokeHostRequest>,
    ) -> Result<Response<RevokeHostResponse>, Status> {
        admin(&request)?;
        let r = request.into_inner();
        self.record(format!("RevokeHost {r:?}"));
        let mut state = self.0.lock().expect("not poisoned");
        let identity = state
            .identities
            .iter_mut()
            .find(|i| i.host == r.host)
            .ok_or_else(|| Status::not_found(format!("no host {:?} has enrolled", r.host)))?;
        identity.revoked_ms = 1_795_240_300_000;
        Ok(Response::new(RevokeHostResponse {
            identity: Some(identity.clone()),
            ended_streams: 1,
        }))
    }

    async fn unrevoke_host(
        &self,
        request: Request<UnrevokeHostRequest>,
    ) -> Result<Response<UnrevokeHostResponse>, Status> {
        admin(&request)?;
        let r = request.into_inner();
        self.record(format!("UnrevokeHost {r:?}"));
        let mut state = self.0.lock().expect("not poisoned");
        let identity = state.identities.iter_mut().find(|i| i.host == r.host);
        let identity = identity.map(|i| {
            i.revoked_ms = 0;
            i.clone()
        });
        Ok(Response::new(UnrevokeHostResponse { identity }))
    }
}
