//! `/api/v1/query`, `/api/v1/query_range` and `/api/v1/query_exemplars`. A query whose
//! reads met damaged data answers with the rest and names what it left out in `warnings`.

use super::params::Params;
use super::{Api, ApiError, json};
use crate::damage::with_warnings;
use axum::extract::State;
use axum::response::Response;
use vigil_store::clock::now_ms;

/// `/api/v1/query?query=…&time=…&timeout=…`: evaluates at `time` (default now).
pub async fn instant(State(api): State<Api>, params: Params) -> Result<Response, ApiError> {
    let query = checked_query(&api, &params)?;
    let time_ms = params.time_or("time", now_ms())?;
    let timeout = api.timeout(&params)?;
    let body = api
        .run(timeout, "query", move |api| {
            let engine = api.engine.with_timeout(timeout);
            let (value, warnings) =
                with_warnings(api.store.as_ref(), || engine.instant(&query, time_ms));
            let value = value?;
            Ok(json::success_body_warned(
                |out| json::write_value(out, &value),
                &warnings,
            ))
        })
        .await?;
    Ok(json::respond(body))
}

/// `/api/v1/query_range?query=…&start=…&end=…&step=…&timeout=…`: a matrix.
pub async fn range(State(api): State<Api>, params: Params) -> Result<Response, ApiError> {
    let query = checked_query(&api, &params)?;
    let start_ms = params.time("start")?;
    let end_ms = params.time("end")?;
    if end_ms < start_ms {
        return Err(ApiError::bad_param(
            "end",
            "end timestamp must not be before start time",
        ));
    }
    let step_ms = params
        .duration("step")?
        .ok_or_else(|| ApiError::bad_param("step", "missing; give a step like 15s or 60"))?;
    if step_ms <= 0 {
        return Err(ApiError::bad_param(
            "step",
            "zero or negative query resolution step widths are not accepted; try a positive \
             integer",
        ));
    }
    // Times and steps are within ±2^53 ms (params), so this cannot overflow.
    let max_steps = api.engine.options().max_steps;
    if (end_ms - start_ms) / step_ms >= max_steps {
        return Err(ApiError::bad_param(
            "step",
            format!(
                "exceeded maximum resolution of {max_steps} points per timeseries; try \
                 decreasing the query resolution (?step=XX)"
            ),
        ));
    }
    let timeout = api.timeout(&params)?;
    let body = api
        .run(timeout, "query", move |api| {
            let engine = api.engine.with_timeout(timeout);
            let (value, warnings) = with_warnings(api.store.as_ref(), || {
                engine.range(&query, start_ms, end_ms, step_ms)
            });
            let value = value?;
            Ok(json::success_body_warned(
                |out| json::write_value(out, &value),
                &warnings,
            ))
        })
        .await?;
    Ok(json::respond(body))
}

/// `/api/v1/query_exemplars`: Vigil stores no exemplars, so a valid request gets `[]`
/// (Grafana asks for them alongside range queries).
pub async fn exemplars(State(api): State<Api>, params: Params) -> Result<Response, ApiError> {
    let query = required_query(&params)?;
    vigil_promql::parse::parse(&query, &api.options.parse)?;
    params.time_or("start", 0)?;
    params.time_or("end", 0)?;
    Ok(json::success(|out| out.extend_from_slice(b"[]")))
}

/// The `query` parameter, refused when missing, or longer or deeper than the limits
/// allow (checked here, before the query waits for a slot).
fn checked_query(api: &Api, params: &Params) -> Result<String, ApiError> {
    let query = required_query(params)?;
    vigil_promql::parse::check(&query, &api.options.parse)?;
    Ok(query)
}

fn required_query(params: &Params) -> Result<String, ApiError> {
    match params.get("query") {
        Some(q) if !q.trim().is_empty() => Ok(q.to_owned()),
        _ => Err(ApiError::bad_param(
            "query",
            "missing or empty; give a PromQL expression such as up or rate(x[5m])",
        )),
    }
}
