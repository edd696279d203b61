//! The `vigil.v1.Enroll` gRPC service: a thin adapter over [`Enrollment`]. The auth layer
//! lets Join through without credentials (the join token is checked here), Renew only with
//! an agent identity, and here Renew also needs the call's client certificate.

use super::Enrollment;
use crate::auth::Caller;
use std::sync::Arc;
use tonic::{Request, Response, Status};
use vigil_proto::v1::enroll_server::{Enroll, EnrollServer};
use vigil_proto::v1::{
    CertificateResponse, CreateTokenRequest, CreateTokenResponse, JoinRequest,
    ListIdentitiesRequest, ListIdentitiesResponse, ListTokensRequest, ListTokensResponse,
    RenewRequest, RevokeHostRequest, RevokeHostResponse, RevokeTokenRequest, RevokeTokenResponse,
    UnrevokeHostRequest, UnrevokeHostResponse,
};
use vigil_store::clock::now_ms;

/// The service as the server mounts it.
pub fn server(enrollment: Arc<Enrollment>) -> EnrollServer<EnrollService> {
    EnrollServer::new(EnrollService { enrollment })
        .max_decoding_message_size(super::MAX_REQUEST_BYTES + 4096)
}

/// The Enroll service.
pub struct EnrollService {
    enrollment: Arc<Enrollment>,
}

impl EnrollService {
    /// Runs `f` on the blocking pool (it writes to the store).
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Enrollment) -> Result<T, Status> + Send + 'static,
    ) -> Result<T, Status> {
        let enrollment = self.enrollment.clone();
        tokio::task::spawn_blocking(move || f(&enrollment))
            .await
            .map_err(|e| Status::internal(format!("enrollment task failed: {e}")))?
    }
}

#[tonic::async_trait]
impl Enroll for EnrollService {
    async fn join(
        &self,
        request: Request<JoinRequest>,
    ) -> Result<Response<CertificateResponse>, Status> {
        let peer = Caller::of(&request).peer_text();
        let join = request.into_inner();
        self.blocking(move |e| e.join(&join, &peer, now_ms()))
            .await
            .map(Response::new)
    }

    async fn renew(
        &self,
        request: Request<RenewRequest>,
    ) -> Result<Response<CertificateResponse>, Status> {
        let certificate = request
            .peer_certs()
            .and_then(|certs| certs.first().map(|c| c.as_ref().to_vec()));
        let Some(der) = certificate else {
            return Err(Status::unauthenticated(
                "renewing needs the agent's current client certificate (mTLS); an agent \
                 without one joins with a token instead",
            ));
        };
        let (Some(host), Some(serial)) = (
            crate::tls::certificate_host(&der),
            crate::tls::certificate_serial(&der),
        ) else {
            return Err(Status::unauthenticated(
                "the client certificate names no host",
            ));
        };
        let csr = request.into_inner().csr_der;
        self.blocking(move |e| e.renew(&host, &serial, &csr, now_ms()))
            .await
            .map(Response::new)
    }

    async fn create_token(
        &self,
        request: Request<CreateTokenRequest>,
    ) -> Result<Response<CreateTokenResponse>, Status> {
        let by = Caller::of(&request).name;
        let create = request.into_inner();
        self.blocking(move |e| e.create_token(&create, &by, now_ms()))
            .await
            .map(Response::new)
    }

    async fn list_tokens(
        &self,
        _request: Request<ListTokensRequest>,
    ) -> Result<Response<ListTokensResponse>, Status> {
        Ok(Response::new(ListTokensResponse {
            tokens: self.enrollment.tokens(),
        }))
    }

    async fn revoke_token(
        &self,
        request: Request<RevokeTokenRequest>,
    ) -> Result<Response<RevokeTokenResponse>, Status> {
        let id = request.into_inner().id;
        self.blocking(move |e| e.revoke_token(&id, now_ms()))
            .await
            .map(|token| Response::new(RevokeTokenResponse { token: Some(token) }))
    }

    async fn list_identities(
        &self,
        _request: Request<ListIdentitiesRequest>,
    ) -> Result<Response<ListIdentitiesResponse>, Status> {
        Ok(Response::new(ListIdentitiesResponse {
            identities: self.enrollment.identities(),
        }))
    }

    async fn revoke_host(
        &self,
        request: Request<RevokeHostRequest>,
    ) -> Result<Response<RevokeHostResponse>, Status> {
        let host = request.into_inner().host;
        self.blocking(move |e| e.revoke_host(&host, now_ms()))
            .await
            .map(|(identity, ended)| {
                Response::new(RevokeHostResponse {
                    identity: Some(identity),
                    ended_streams: ended,
                })
            })
    }

    async fn unrevoke_host(
        &self,
        request: Request<UnrevokeHostRequest>,
    ) -> Result<Response<UnrevokeHostResponse>, Status> {
        let host = request.into_inner().host;
        self.blocking(move |e| e.unrevoke_host(&host, now_ms()))
            .await
            .map(|identity| {
                Response::new(UnrevokeHostResponse {
                    identity: Some(identity),
                })
            })
    }
}
