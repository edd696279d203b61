//! Build info, metric metadata, the collector's own metrics and the health probes: what
//! clients and scrapers ask besides queries.

use super::params::Params;
use super::{Api, ApiError, json};
use crate::metadata::Entry;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;

/// `/api/v1/status/buildinfo`, in Prometheus's fields; `version` is Vigil's own version
/// and `application` says which server this is.
pub async fn buildinfo() -> Response {
    json::success(|out| {
        out.extend_from_slice(br#"{"application":"vigil","version":"#);
        json::write_str(out, env!("CARGO_PKG_VERSION"));
        out.extend_from_slice(br#","revision":"unknown","branch":"unknown","buildUser":"unknown","buildDate":"unknown","goVersion":"none (Rust)"}"#);
    })
}

/// `/api/v1/metadata[?metric=…&limit=…&limit_per_metric=…]`: type, help and unit per
/// metric name, from the agents' series definitions and the collector's own metrics, in
/// Prometheus's shape `{"name":[{"type":…,"help":…,"unit":…}]}`, names sorted.
///
/// As in Prometheus, `metric` keeps one name, `limit` caps the names (negative: all) and
/// `limit_per_metric` the entries per name (0 or negative: all). A name has one entry,
/// or two when an agent describes one of the collector's own names differently.
pub async fn metadata(State(api): State<Api>, params: Params) -> Result<Response, ApiError> {
    let number = |name: &str| -> Result<i64, ApiError> {
        match params.get(name) {
            None | Some("") => Ok(-1),
            Some(s) => s
                .parse()
                .map_err(|_| ApiError::bad_param(name, format!("{s:?} must be a number"))),
        }
    };
    let limit = number("limit")?;
    let per_metric = number("limit_per_metric")?;
    let wanted = params.get("metric").filter(|m| !m.is_empty());

    let mut by_name: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for &(name, kind, help) in crate::own_metrics::METADATA {
        by_name.entry(name.to_owned()).or_default().push(Entry {
            kind,
            help: help.to_owned(),
            unit: String::new(),
        });
    }
    if let Some(own) = &api.own {
        for (name, entry) in own.counters.metadata.all() {
            let entries = by_name.entry(name).or_default();
            if !entries.contains(&entry) {
                entries.push(entry);
            }
        }
    }
    Ok(json::success(|out| {
        out.push(b'{');
        let chosen = by_name
            .iter()
            .filter(|(name, _)| wanted.is_none_or(|w| w == name.as_str()));
        for (i, (name, entries)) in chosen.enumerate() {
            if limit >= 0 && i as i64 >= limit {
                break;
            }
            if i > 0 {
                out.push(b',');
            }
            json::write_str(out, name);
            out.extend_from_slice(b":[");
            let kept = if per_metric > 0 {
                usize::try_from(per_metric).unwrap_or(usize::MAX)
            } else {
                usize::MAX
            };
            for (j, entry) in entries.iter().take(kept).enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(br#"{"type":"#);
                json::write_str(out, entry.kind);
                out.extend_from_slice(br#","help":"#);
                json::write_str(out, &entry.help);
                out.extend_from_slice(br#","unit":"#);
                json::write_str(out, &entry.unit);
                out.push(b'}');
            }
            out.push(b']');
        }
        out.push(b'}');
    }))
}

/// `GET /metrics`: the collector's own metrics and its process basics, in Prometheus'
/// text format 0.0.4 (see [`crate::own_metrics`]).
pub async fn own_metrics(State(api): State<Api>) -> Response {
    let mut series = api.own.as_ref().map(|o| o.series()).unwrap_or_default();
    series.extend(crate::own_metrics::process_series());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::own_metrics::write_text(&series),
    )
        .into_response()
}

/// `/-/ready`: 200 while the collector serves queries and stores what agents send; 503
/// with the reason while ingest is refused (storage read-only or failing).
pub async fn ready(State(api): State<Api>) -> Response {
    let refused = api
        .own
        .as_ref()
        .and_then(|o| o.counters.storage.check(vigil_store::clock::now_ms()).err());
    match refused {
        None => "Vigil collector is Ready.\n".into_response(),
        Some(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Vigil collector is not ready: {why}\n"),
        )
            .into_response(),
    }
}

/// `/-/healthy`: the process is up.
pub async fn healthy() -> &'static str {
    "Vigil collector is Healthy.\n"
}

#[cfg(test)]
mod tests;
