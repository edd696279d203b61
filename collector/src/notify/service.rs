//! The `vigil.v1.Notify` gRPC service behind `vigil silence` and `vigil notify`: a thin
//! adapter from wire types to the [`Notifier`]'s parts. The wire format is documented in
//! `proto/vigil/v1/notify.proto`.

use super::notifier::Notifier;
use tonic::{Request, Response, Status};
use vigil_proto::v1::notify_server::{Notify, NotifyServer};
use vigil_proto::v1::{
    AddSilenceRequest, ExpireSilenceRequest, ListOutboxRequest, ListOutboxResponse,
    ListSilencesRequest, ListSilencesResponse, SilenceResponse, TestReceiverRequest,
    TestReceiverResponse,
};

/// The service as the server mounts it.
pub fn server(notifier: Notifier) -> NotifyServer<NotifyService> {
    NotifyServer::new(NotifyService { notifier })
}

/// The Notify service.
pub struct NotifyService {
    notifier: Notifier,
}

#[tonic::async_trait]
impl Notify for NotifyService {
    async fn add_silence(
        &self,
        request: Request<AddSilenceRequest>,
    ) -> Result<Response<SilenceResponse>, Status> {
        let _ = (request, &self.notifier);
        Err(Status::unimplemented("silences are not built yet"))
    }

    async fn list_silences(
        &self,
        request: Request<ListSilencesRequest>,
    ) -> Result<Response<ListSilencesResponse>, Status> {
        let _ = request;
        Err(Status::unimplemented("silences are not built yet"))
    }

    async fn expire_silence(
        &self,
        request: Request<ExpireSilenceRequest>,
    ) -> Result<Response<SilenceResponse>, Status> {
        let _ = request;
        Err(Status::unimplemented("silences are not built yet"))
    }

    async fn test_receiver(
        &self,
        request: Request<TestReceiverRequest>,
    ) -> Result<Response<TestReceiverResponse>, Status> {
        let _ = request;
        Err(Status::unimplemented(
            "test notifications are not built yet",
        ))
    }

    async fn list_outbox(
        &self,
        request: Request<ListOutboxRequest>,
    ) -> Result<Response<ListOutboxResponse>, Status> {
        let _ = request;
        Err(Status::unimplemented("the outbox listing is not built yet"))
    }
}
