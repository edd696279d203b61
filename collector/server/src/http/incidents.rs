//! `/api/v1/incidents`: the collector's incidents as JSON, in Prometheus's envelope, with
//! the shape `vigil incidents --output json` prints.
//!
//! ```text
//!   GET  /api/v1/incidents[?open=true&since=7d]   {"incidents":[<incident>,…]}  newest first
//!   GET  /api/v1/incidents/<id>                   {"incident":<incident>}       404 if none
//!   POST /api/v1/incidents/<id>/ack [comment=…]   {"incident":<incident>}       needs admin
//!   <incident> {"id":12,"title":…,"severity":"critical","status":"open"|"acknowledged"|
//!              "resolved","opened_at":<secs>,"resolved_at":<secs>|null,"grouping":"fleet:HostDown",
//!              "cause":<fingerprint>,"alerts":[{"fingerprint","labels","starts_at","resolved_at"}],
//!              "timeline":[{"at","event","detail"}],"tickets":[{"receiver","id","url"}]}
//! ```
//!
//! Times are Unix seconds. Without incidents (`incidents.enabled = false`) every call is
//! a `bad_data` error saying so.

use std::collections::BTreeMap;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Serialize;
use vigil_store::clock::now_ms;

use super::params::Params;
use super::{Api, ApiError, json};
use crate::auth::Caller;
use crate::incidents::Incident;
use crate::incidents::service::{event_text, severity_name, status_name};

/// How far back without `since`.
const DEFAULT_SINCE_MS: i64 = 7 * 86_400_000;

#[derive(Serialize)]
struct Record<'a> {
    id: u64,
    title: &'a str,
    severity: &'static str,
    status: &'static str,
    opened_at: f64,
    resolved_at: Option<f64>,
    grouping: String,
    cause: &'a str,
    alerts: Vec<AlertRecord<'a>>,
    timeline: Vec<EntryRecord>,
    tickets: Vec<TicketRecord<'a>>,
}

#[derive(Serialize)]
struct AlertRecord<'a> {
    fingerprint: &'a str,
    labels: &'a BTreeMap<String, String>,
    starts_at: f64,
    resolved_at: Option<f64>,
}

#[derive(Serialize)]
struct EntryRecord {
    at: f64,
    event: &'static str,
    detail: String,
}

#[derive(Serialize)]
struct TicketRecord<'a> {
    receiver: &'a str,
    id: &'a str,
    url: &'a str,
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// Incident `i` as the API, `vigil incidents --output json` and incident webhooks write it.
pub(crate) fn incident_json(i: &Incident) -> serde_json::Value {
    serde_json::to_value(record(i)).unwrap_or_default()
}

fn record(i: &Incident) -> Record<'_> {
    let (kind, value) = i.grouping.parts();
    let grouping = format!("{kind}:{value}");
    Record {
        id: i.id,
        title: &i.title,
        severity: severity_name(i.severity),
        status: status_name(i.status),
        opened_at: seconds(i.opened_ms),
        resolved_at: i.resolved_ms.map(seconds),
        grouping,
        cause: i.cause.as_deref().unwrap_or(""),
        alerts: i
            .alerts
            .iter()
            .map(|a| AlertRecord {
                fingerprint: &a.fingerprint,
                labels: &a.labels,
                starts_at: seconds(a.starts_at_ms),
                resolved_at: a.resolved_ms.map(seconds),
            })
            .collect(),
        timeline: i
            .timeline
            .iter()
            .map(|e| {
                let (event, detail) = event_text(&e.event);
                EntryRecord {
                    at: seconds(e.at_ms),
                    event,
                    detail,
                }
            })
            .collect(),
        tickets: i
            .tickets
            .iter()
            .map(|(receiver, t)| TicketRecord {
                receiver,
                id: &t.id,
                url: &t.url,
            })
            .collect(),
    }
}

fn incidents(api: &Api) -> Result<std::sync::Arc<crate::incidents::runtime::Incidents>, ApiError> {
    api.incidents.clone().ok_or_else(|| {
        ApiError::bad_data("incidents are off on this collector; set [incidents] enabled = true")
    })
}

fn answer(key: &str, value: &impl Serialize) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(value).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(json::success(|out| {
        out.extend_from_slice(format!("{{\"{key}\":").as_bytes());
        out.extend_from_slice(&body);
        out.push(b'}');
    }))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, ApiError> {
    crate::incidents::runtime::blocking(f)
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

/// `GET /api/v1/incidents`.
pub async fn list(State(api): State<Api>, params: Params) -> Result<Response, ApiError> {
    let open_only = match params.get("open") {
        None | Some("" | "false" | "0") => false,
        Some("true" | "1") => true,
        Some(other) => {
            return Err(ApiError::bad_param(
                "open",
                format!("{other:?} is not true or false"),
            ));
        }
    };
    let since = match params.duration("since")? {
        Some(ms) if ms > 0 => now_ms() - ms,
        Some(_) => return Err(ApiError::bad_param("since", "must be positive, like 7d")),
        None => now_ms() - DEFAULT_SINCE_MS,
    };
    let incidents = incidents(&api)?;
    let found = blocking(move || incidents.list(since, open_only)).await?;
    let records: Vec<Record<'_>> = found.iter().map(record).collect();
    answer("incidents", &records)
}

fn id_of(id: Result<Path<String>, PathRejection>) -> Result<u64, ApiError> {
    let text = id.map_or_else(|e| e.body_text(), |Path(id)| id);
    text.parse().map_err(|_| {
        ApiError::bad_data(format!("invalid incident id {text:?}: a number such as 12"))
    })
}

/// `GET /api/v1/incidents/<id>`.
pub async fn one(
    State(api): State<Api>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = id_of(id)?;
    let incidents = incidents(&api)?;
    match blocking(move || incidents.get(id)).await? {
        Some(incident) => answer("incident", &record(&incident)),
        None => Err(ApiError {
            kind: "not_found",
            message: format!("no incident {id}"),
        }),
    }
}

/// `POST /api/v1/incidents/<id>/ack`.
pub async fn ack(
    State(api): State<Api>,
    caller: Option<axum::Extension<Caller>>,
    id: Result<Path<String>, PathRejection>,
    params: Params,
) -> Result<Response, ApiError> {
    let id = id_of(id)?;
    let by = caller.map_or_else(|| "anonymous".to_owned(), |c| c.0.name.clone());
    let comment = params.get("comment").unwrap_or("").to_owned();
    let incidents = incidents(&api)?;
    let incident =
        crate::incidents::runtime::blocking(move || incidents.acknowledge(id, &by, &comment))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::bad_data)?;
    answer("incident", &record(&incident))
}
