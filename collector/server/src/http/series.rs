//! `/api/v1/series`, `/api/v1/labels` and `/api/v1/label/<name>/values`: what is stored,
//! straight from the store (no engine).
//!
//! `start`/`end` keep only series with a sample in that window. Label names and values
//! asked for without `match[]` come from the postings, which have no time index, so there
//! the window is not applied (Prometheus too answers from whole blocks there).

use super::params::Params;
use super::{Api, ApiError, json};
use axum::extract::{Path, State};
use axum::response::Response;
use vigil_store::selector::Selector;

/// `/api/v1/series?match[]=…&start=…&end=…`: the label sets of matching series.
pub async fn series(State(api): State<Api>, params: Params) -> Result<Response, ApiError> {
    let selectors = selectors(&params)?;
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
    let selectors = selectors(&params)?;
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
    Path(name): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    if !is_label_name(&name) {
        return Err(ApiError::bad_data(format!(
            "invalid label name: {name:?}; label names match [a-zA-Z_][a-zA-Z0-9_]*"
        )));
    }
    let selectors = selectors(&params)?;
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

/// Every `match[]` parameter, parsed.
fn selectors(params: &Params) -> Result<Vec<Selector>, ApiError> {
    params
        .all("match[]")
        .into_iter()
        .map(|s| Selector::parse(s).map_err(|e| ApiError::bad_param("match[]", e)))
        .collect()
}

/// The `start`/`end` window; `None` when neither is given (all time).
fn window(params: &Params) -> Result<Option<(i64, i64)>, ApiError> {
    let given = |name| params.get(name).is_some_and(|v| !v.is_empty());
    if !given("start") && !given("end") {
        return Ok(None);
    }
    let start = params.time_or("start", i64::MIN / 2)?;
    let end = params.time_or("end", i64::MAX / 2)?;
    if end < start {
        return Err(ApiError::bad_param(
            "end",
            "end timestamp must not be before start time",
        ));
    }
    Ok(Some((start, end)))
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
