//! The `vigil.v1.Notify` gRPC service behind `vigil silence` and `vigil notify`: a thin
//! adapter from wire types to the [`Notifier`]'s parts. The wire format is documented in
//! `proto/vigil/v1/notify.proto`.

use super::notifier::Notifier;
use super::silences::{NewSilence, Silence, SilenceError};
use crate::auth::{Caller, Identity};
use tonic::{Request, Response, Status};
use tracing::info;
use vigil_proto::v1::notify_server::{Notify, NotifyServer};
use vigil_proto::v1::{
    AddSilenceRequest, ExpireSilenceRequest, ListOutboxRequest, ListOutboxResponse,
    ListSilencesRequest, ListSilencesResponse, OutboxEntry, Silence as WireSilence,
    SilenceResponse, TestReceiverRequest, TestReceiverResponse,
};
use vigil_store::clock::now_ms;

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
        let caller = Caller::of(&request);
        let r = request.into_inner();
        // Without --author, a silence is created by the token that made it.
        let created_by = match (r.created_by.trim().is_empty(), &caller.identity) {
            (true, Identity::Token { .. }) => caller.name.clone(),
            _ => r.created_by,
        };
        let new = NewSilence {
            matchers: r.matchers,
            starts_at_ms: r.starts_at_ms,
            ends_at_ms: r.ends_at_ms,
            created_by,
            comment: r.comment,
        };
        let silences = self.notifier.silences.clone();
        let silence = blocking(move || silences.add(new, now_ms())).await?;
        info!(target: "audit", caller = %caller.name, peer = %caller.peer_text(), id = %silence.id, created_by = %silence.created_by, "silence added");
        Ok(Response::new(SilenceResponse {
            silence: Some(wire_silence(&silence, now_ms())),
        }))
    }

    async fn list_silences(
        &self,
        request: Request<ListSilencesRequest>,
    ) -> Result<Response<ListSilencesResponse>, Status> {
        let include_expired = request.into_inner().include_expired;
        let now = now_ms();
        let silences = self
            .notifier
            .silences
            .list(include_expired, now)
            .iter()
            .map(|s| wire_silence(s, now))
            .collect();
        Ok(Response::new(ListSilencesResponse { silences }))
    }

    async fn expire_silence(
        &self,
        request: Request<ExpireSilenceRequest>,
    ) -> Result<Response<SilenceResponse>, Status> {
        let caller = Caller::of(&request);
        let id = request.into_inner().id;
        let silences = self.notifier.silences.clone();
        let silence = blocking(move || silences.expire(&id, now_ms())).await?;
        info!(target: "audit", caller = %caller.name, peer = %caller.peer_text(), id = %silence.id, "silence expired");
        Ok(Response::new(SilenceResponse {
            silence: Some(wire_silence(&silence, now_ms())),
        }))
    }

    async fn test_receiver(
        &self,
        request: Request<TestReceiverRequest>,
    ) -> Result<Response<TestReceiverResponse>, Status> {
        let caller = Caller::of(&request);
        let receiver = request.into_inner().receiver;
        info!(target: "audit", caller = %caller.name, peer = %caller.peer_text(), receiver = %receiver, "test notification");
        let answers = super::test_send::test_receiver(
            self.notifier.receivers.clone(),
            &receiver,
            &self.notifier.external_url,
        )
        .await
        .map_err(Status::not_found)?;
        Ok(Response::new(TestReceiverResponse {
            answers: answers
                .into_iter()
                .map(|a| vigil_proto::v1::IntegrationAnswer {
                    kind: a.kind.to_owned(),
                    target: a.target,
                    result: a.result.to_owned(),
                    answer: a.answer,
                    seconds: a.seconds,
                })
                .collect(),
        }))
    }

    async fn list_outbox(
        &self,
        request: Request<ListOutboxRequest>,
    ) -> Result<Response<ListOutboxResponse>, Status> {
        let _ = request;
        let entries = self
            .notifier
            .outbox
            .waiting()
            .into_iter()
            .map(|w| OutboxEntry {
                id: w.id.to_string(),
                receiver: w.entry.receiver,
                kind: w.entry.kind,
                status: w.entry.notification.status().to_owned(),
                alerts: w.entry.notification.alerts.len() as u32,
                group_key: w.entry.notification.group_key,
                created_ms: w.entry.created_ms,
                attempts: w.entry.attempts,
                next_attempt_ms: w.entry.next_attempt_ms,
                last_error: w.entry.last_error,
            })
            .collect();
        Ok(Response::new(ListOutboxResponse { entries }))
    }
}

/// Runs a silence change (it writes the store) on a blocking thread; its error becomes the
/// matching status.
async fn blocking(
    change: impl FnOnce() -> Result<Silence, SilenceError> + Send + 'static,
) -> Result<Silence, Status> {
    tokio::task::spawn_blocking(change)
        .await
        .map_err(|e| Status::internal(format!("changing silences failed: {e}")))?
        .map_err(Status::from)
}

/// A silence in its wire form, with its state at `now_ms`.
fn wire_silence(s: &Silence, now_ms: i64) -> WireSilence {
    WireSilence {
        id: s.id.clone(),
        matchers: s.matchers.clone(),
        starts_at_ms: s.starts_at_ms,
        ends_at_ms: s.ends_at_ms,
        created_by: s.created_by.clone(),
        comment: s.comment.clone(),
        state: s.state(now_ms).as_str().to_owned(),
    }
}
