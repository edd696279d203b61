//! The `vigil.v1.Incidents` gRPC service behind `vigil incidents` and `vigil incident`: a
//! thin adapter from wire types to [`Incidents`]. `read` lists and shows; acknowledging
//! takes `admin` (the auth layer checks both) and is audited with the caller's name.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use tracing::info;
use vigil_proto::v1::incidents_server::{Incidents as IncidentsApi, IncidentsServer};
use vigil_proto::v1::{
    AcknowledgeIncidentRequest, GetIncidentRequest, Incident as WireIncident, IncidentAlert,
    IncidentResponse, IncidentTicket, Label, ListIncidentsRequest, ListIncidentsResponse,
    TimelineEntry,
};
use vigil_store::clock::now_ms;

use super::runtime::Incidents;
use super::{Event, Incident, Severity, Status as IncidentStatus};
use crate::auth::Caller;
use crate::notify::model::LabelMap;

/// How far back `vigil incidents` looks without `--since`.
const DEFAULT_SINCE_MS: i64 = 7 * 86_400_000;

/// The service as the server mounts it; without incidents (`incidents.enabled = false`)
/// every call answers FAILED_PRECONDITION saying so.
pub fn server(incidents: Option<Arc<Incidents>>) -> IncidentsServer<IncidentsService> {
    IncidentsServer::new(IncidentsService { incidents })
}

/// The Incidents service.
pub struct IncidentsService {
    incidents: Option<Arc<Incidents>>,
}

impl IncidentsService {
    fn incidents(&self) -> Result<Arc<Incidents>, Status> {
        self.incidents.clone().ok_or_else(|| {
            Status::failed_precondition(
                "incidents are off on this collector; set [incidents] enabled = true",
            )
        })
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, Status> {
    super::runtime::blocking(f)
        .await
        .map_err(Status::internal)?
        .map_err(Status::unavailable)
}

#[tonic::async_trait]
impl IncidentsApi for IncidentsService {
    async fn list_incidents(
        &self,
        request: Request<ListIncidentsRequest>,
    ) -> Result<Response<ListIncidentsResponse>, Status> {
        let r = request.into_inner();
        let since = if r.since_ms > 0 {
            r.since_ms
        } else {
            now_ms() - DEFAULT_SINCE_MS
        };
        let incidents = self.incidents()?;
        let found = blocking(move || incidents.list(since, r.open_only)).await?;
        Ok(Response::new(ListIncidentsResponse {
            incidents: found.iter().map(wire).collect(),
        }))
    }

    async fn get_incident(
        &self,
        request: Request<GetIncidentRequest>,
    ) -> Result<Response<IncidentResponse>, Status> {
        let id = request.into_inner().id;
        let incidents = self.incidents()?;
        match blocking(move || incidents.get(id)).await? {
            Some(incident) => Ok(Response::new(IncidentResponse {
                incident: Some(wire(&incident)),
            })),
            None => Err(Status::not_found(format!(
                "no incident {id}; see vigil incidents --since 90d"
            ))),
        }
    }

    async fn acknowledge_incident(
        &self,
        request: Request<AcknowledgeIncidentRequest>,
    ) -> Result<Response<IncidentResponse>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let incidents = self.incidents()?;
        let by = caller.name.clone();
        let comment = r.comment.clone();
        let incident =
            tokio::task::spawn_blocking(move || incidents.acknowledge(r.id, &by, &comment))
                .await
                .map_err(|e| Status::internal(format!("incidents task failed: {e}")))?
                .map_err(Status::failed_precondition)?;
        info!(target: "audit", caller = %caller.name, peer = %caller.peer_text(), id = incident.id, "incident acknowledged");
        Ok(Response::new(IncidentResponse {
            incident: Some(wire(&incident)),
        }))
    }
}

fn labels(map: &LabelMap) -> Vec<Label> {
    map.iter()
        .map(|(name, value)| Label {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

/// A severity's name as the wire and JSON write it.
pub fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
        Severity::None => "none",
    }
}

/// A status's name as the wire and JSON write it.
pub fn status_name(s: IncidentStatus) -> &'static str {
    match s {
        IncidentStatus::Open => "open",
        IncidentStatus::Acknowledged => "acknowledged",
        IncidentStatus::Resolved => "resolved",
    }
}

/// A timeline event's name and what it concerns, for people.
pub fn event_text(event: &Event) -> (&'static str, String) {
    match event {
        Event::Opened { alerts } => ("opened", format!("{} alerts", alerts.len())),
        Event::Joined { alerts } => ("joined", alerts.join(", ")),
        Event::AlertResolved { alert } => ("alert_resolved", alert.clone()),
        Event::Escalated { from, to } => (
            "escalated",
            format!("{} → {}", severity_name(*from), severity_name(*to)),
        ),
        Event::Acknowledged { by, comment } if comment.is_empty() => {
            ("acknowledged", format!("by {by}"))
        }
        Event::Acknowledged { by, comment } => ("acknowledged", format!("by {by}: {comment}")),
        Event::Quiet => ("quiet", "every alert resolved".to_owned()),
        Event::Reopened => ("reopened", String::new()),
        Event::Resolved => ("resolved", String::new()),
    }
}

/// An incident in its wire form.
pub fn wire(i: &Incident) -> WireIncident {
    let (grouping, grouping_value) = i.grouping.parts();
    WireIncident {
        id: i.id,
        title: i.title.clone(),
        severity: severity_name(i.severity).to_owned(),
        status: status_name(i.status).to_owned(),
        opened_ms: i.opened_ms,
        resolved_ms: i.resolved_ms.unwrap_or(0),
        grouping: grouping.to_owned(),
        grouping_value,
        cause: i.cause.clone().unwrap_or_default(),
        alerts: i
            .alerts
            .iter()
            .map(|a| IncidentAlert {
                fingerprint: a.fingerprint.clone(),
                labels: labels(&a.labels),
                annotations: labels(&a.annotations),
                starts_at_ms: a.starts_at_ms,
                joined_ms: a.joined_ms,
                resolved_ms: a.resolved_ms.unwrap_or(0),
            })
            .collect(),
        timeline: i
            .timeline
            .iter()
            .map(|e| {
                let (event, detail) = event_text(&e.event);
                TimelineEntry {
                    at_ms: e.at_ms,
                    event: event.to_owned(),
                    detail,
                }
            })
            .collect(),
        tickets: i
            .tickets
            .iter()
            .map(|(receiver, t)| IncidentTicket {
                receiver: receiver.clone(),
                id: t.id.clone(),
                url: t.url.clone(),
            })
            .collect(),
    }
}
