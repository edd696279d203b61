//! The `vigil.v1.Rules` gRPC service behind `vigil rules` and `vigil alerts`: a thin
//! adapter that converts a [`RulesView`]'s snapshot into wire types and asks it to reload.
//! The wire format is documented in `proto/vigil/v1/rules.proto`.
//!
//! A collector without a rules runtime (`None`) answers with no groups and no alerts, and
//! refuses `Reload` with FAILED_PRECONDITION.
//!
//! # Layout
//! - This module: the service, unpacking requests and calling the [`RulesView`].
//! - `wire`: the conversions to wire types ([`wire_group`], [`wire_alert`], …).
//! - `fixture` (tests only): a hand-built snapshot and a fake view, shared with the HTTP
//!   API's tests and the CLI's (through `collector/cli/testdata/rules_fixture.pb`).
//! - `tests`: the service on the fixture.

mod wire;

#[cfg(test)]
pub(crate) mod fixture;
#[cfg(test)]
mod tests;

pub use wire::{wire_alert, wire_group};

use std::sync::Arc;

use tonic::{Request, Response, Status};
use vigil_proto::v1::rules_server::{Rules, RulesServer};
use vigil_proto::v1::{
    ListAlertsRequest, ListAlertsResponse, ListRulesRequest, ListRulesResponse, ReloadRequest,
    ReloadResponse,
};

use super::status::{RulesSnapshot, RulesView};
use crate::notify::notifier::Notifier;
use wire::wire_reload;

/// The service as the server mounts it.
pub fn server(
    view: Option<Arc<dyn RulesView>>,
    notifier: Option<Notifier>,
) -> RulesServer<RulesService> {
    RulesServer::new(RulesService { view, notifier })
}

/// The Rules service.
pub struct RulesService {
    /// The running rules; `None` when the collector runs none.
    view: Option<Arc<dyn RulesView>>,
    /// The notifier, to say which alerts are silenced; `None` without one (tests).
    notifier: Option<Notifier>,
}

/// The view's snapshot, taken on a blocking thread (it may wait for a lock held by an
/// evaluation); empty without a view.
pub async fn snapshot(view: Option<&Arc<dyn RulesView>>) -> Result<RulesSnapshot, String> {
    let Some(view) = view.cloned() else {
        return Ok(RulesSnapshot::default());
    };
    tokio::task::spawn_blocking(move || view.snapshot())
        .await
        .map_err(|e| format!("reading the rules' state failed: {e}"))
}

#[tonic::async_trait]
impl Rules for RulesService {
    async fn list_rules(
        &self,
        _request: Request<ListRulesRequest>,
    ) -> Result<Response<ListRulesResponse>, Status> {
        let snapshot = snapshot(self.view.as_ref())
            .await
            .map_err(Status::internal)?;
        Ok(Response::new(ListRulesResponse {
            groups: snapshot.groups.iter().map(wire_group).collect(),
        }))
    }

    async fn list_alerts(
        &self,
        _request: Request<ListAlertsRequest>,
    ) -> Result<Response<ListAlertsResponse>, Status> {
        let snapshot = snapshot(self.view.as_ref())
            .await
            .map_err(Status::internal)?;
        let now_ms = vigil_store::clock::now_ms();
        let alerts = snapshot
            .groups
            .iter()
            .flat_map(|g| &g.rules)
            .flat_map(|r| &r.alerts)
            .map(|a| {
                let mut wire = wire_alert(a);
                if let Some(notifier) = &self.notifier {
                    wire.silenced_by = notifier.silences.silenced_by(&a.labels, now_ms);
                    wire.inhibited_by = notifier.dispatcher.inhibited_by(&a.labels, now_ms);
                }
                wire
            })
            .collect();
        Ok(Response::new(ListAlertsResponse { alerts }))
    }

    async fn reload(
        &self,
        request: Request<ReloadRequest>,
    ) -> Result<Response<ReloadResponse>, Status> {
        let caller = crate::auth::Caller::of(&request);
        tracing::info!(target: "audit", caller = %caller.name, peer = %caller.peer_text(), "rule reload");
        let Some(view) = self.view.clone() else {
            return Err(Status::failed_precondition(
                "this collector runs no rules, so there is nothing to reload; list rule files \
                 under [rules] files in its config and restart it",
            ));
        };
        let reloaded = tokio::task::spawn_blocking(move || view.reload())
            .await
            .map_err(|e| Status::internal(format!("reloading the rules failed: {e}")))?;
        Ok(Response::new(wire_reload(reloaded)))
    }
}
