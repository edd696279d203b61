//! `/api/v1/series`, `/api/v1/labels` and `/api/v1/label/<name>/values`: what is stored,
//! straight from the store (no engine).
//!
//! `start`/`end` keep only series with a sample in that window. Label names and values
//! asked for without `match[]` come from the postings, which have no time index, so there
//! the window is not applied (Prometheus too answers from whole blocks there).

use super::params::Params;
use super::{Api, ApiError, json};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::Response;
use vigil_store::selector::Selector;

/// `/api/v1/series?match[]=…&start=…&end=…`: the label sets of matching series.
pub async fn series(State(api): State<Api>, params: Params) -> Result<Response, ApiError> {
    let selectors = selectors(&api, &params)?;
    if selectors.is_empty() {
        return Err(ApiError::bad_data(
            "no match[] parameter provided; give at least one selector, like match[]=up",
        ));
    }
    let window = window(&params)?;
    let timeout = api.timeout(&params)?;
    let body = api
        .run(timeout, "series lookup", move |api| {
            let found = api
                .store
                .select_any(&selectors, window, api.options.max_series)?;
            Ok(json::success_body(|out| {
                out.push(b'[');
                for (i, (_, labels)) in found.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    json::write_labels(out, labels);
                }
                out.push(b']');
            }))
        })
        .await?;
    Ok(json::respond(body))
}

/// `/api/v1/labels[?match[]=…&start=…&end=…]`: label names, sorted.
pub async fn labels(State(api): State<Api>, params: Params) -> Result<Response, ApiError> {
    let selectors = selectors(&api, &params)?;
    let window = window(&params)?;
    let timeout = api.timeout(&params)?;
    let body = api
        .run(timeout, "label lookup", move |api| {
            let names = api
                .store
                .label_names(&selectors, window, api.options.max_series)?;
            Ok(json::success_body(|out| json::write_strings(out, &names)))
        })
        .await?;
    Ok(json::respond(body))
}

/// `/api/v1/label/<name>/values[?match[]=…&start=…&end=…]`: values of one label, sorted.
pub async fn label_values(
    State(api): State<Api>,
    name: Result<Path<String>, PathRejection>,
    params: Params,
) -> Result<Response, ApiError> {
    // A name that is not UTF-8 once decoded (`%FF`) is refused like any bad name, in the
    // API's envelope rather than as axum's plain-text rejection.
    let name = name.map_or_else(|e| e.body_text(), |Path(name)| name);
    if !is_label_name(&name) {
        return Err(ApiError::bad_data(format!(
            "invalid label name: {name:?}; label names match [a-zA-Z_][a-zA-Z0-9_]*"
        )));
    }
    let selectors = selectors(&api, &params)?;
    let window = window(&params)?;
    let timeout = api.timeout(&params)?;
    let body = api
        .run(timeout, "label lookup", move |api| {
            let values =
                api.store
                    .label_values(&name, &selectors, window, api.options.max_series)?;
            Ok(json::success_body(|out| json::write_strings(out, &values)))
        })
        .await?;
    Ok(json::respond(body))
}

/// Every `match[]` parameter, parsed; each is refused first when longer or deeper than
/// `limits.max_query_bytes` or `limits.max_query_depth`.
fn selectors(api: &Api, params: &Params) -> Result<Vec<Selector>, ApiError> {
    params
        .all("match[]")
        .into_iter()
        .map(|s| {
            vigil_promql::parse::check(s, &api.options.parse)
                .map_err(|e| ApiError::bad_param("match[]", e))?;
            Selector::parse(s).map_err(|e| ApiError::bad_param("match[]", e))
        })
        .collect()
}

/// The `start`/`end` window; `None` when neither is given (all time).
fn window(params: &Params) -> Result<Option<(i64, i64)>, ApiError> {
    let given = |name| params.get(name).is_some_and(|v| !v.is_empty());
    if !given("start") && !given("end") {
        return Ok(None);
    }
    // Times are within ±2^53 ms (params); a missing end is the end of that range.
    let limit = vigil_promql::time::QUERY_TIME_LIMIT_MS;
    let start = params.time_or("start", -limit)?;
    let end = params.time_or("end", limit)?;
    if end < start {
        return Err(ApiError::bad_param(
            "end",
            "end timestamp must not be before start time",
        ));
    }
    Ok(Some((start, end)))
}

#[cfg(test)]
mod tests;

/// Prometheus's label names: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
