//! Why an API call failed, and its one mapping to Prometheus's error envelope.
//!
//! Prometheus answers failures with `{"status":"error","errorType":…,"error":…}` and an
//! HTTP status chosen by the type: `bad_data` 400, `execution` 422, `timeout` and
//! `canceled` 503, `internal` 500, `not_found` 404. Clients (promtool, Grafana) show the
//! `error` text, so it names the bad input and what to do.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use vigil_promql::QueryError;
use vigil_store::StoreError;
use vigil_store::selector::SelectorError;

/// One failed API call: Prometheus's `errorType` and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// `bad_data`, `execution`, `timeout`, `internal` or `not_found`.
    pub kind: &'static str,
    /// What went wrong, naming the input.
    pub message: String,
}

impl ApiError {
    /// The request is malformed: a bad parameter or an invalid query.
    pub fn bad_data(message: impl Into<String>) -> Self {
        Self {
            kind: "bad_data",
            message: message.into(),
        }
    }

    /// A parameter `name` that could not be used, as Prometheus words it.
    pub fn bad_param(name: &str, why: impl std::fmt::Display) -> Self {
        Self::bad_data(format!("invalid parameter {name:?}: {why}"))
    }

    /// The query ran past its timeout.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self {
            kind: "timeout",
            message: message.into(),
        }
    }

    /// The collector failed (storage, a crashed task).
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            kind: "internal",
            message: message.into(),
        }
    }

    /// The HTTP status Prometheus uses for this error type.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            "bad_data" => StatusCode::BAD_REQUEST,
            "execution" => StatusCode::UNPROCESSABLE_ENTITY,
            "timeout" | "canceled" => StatusCode::SERVICE_UNAVAILABLE,
            "not_found" => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        Self {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        QueryError::Store(e).into()
    }
}

impl From<SelectorError> for ApiError {
    fn from(e: SelectorError) -> Self {
        Self::bad_data(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.kind == "internal" {
            tracing::warn!(error = %self.message, "HTTP API call failed");
        }
        // Keys in Prometheus's order, so the two servers' answers compare as text too.
        let mut body = br#"{"status":"error","errorType":"#.to_vec();
        super::json::write_str(&mut body, self.kind);
        body.extend_from_slice(br#","error":"#);
        super::json::write_str(&mut body, &self.message);
        body.push(b'}');
        let mut response = super::json::respond(body);
        *response.status_mut() = self.status();
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_in_prometheus_key_order() {
        let response = ApiError::bad_param("time", "cannot parse \"x\"").into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let content_type = response.headers().get("content-type").unwrap();
        assert_eq!(content_type, "application/json");
    }

    #[test]
    fn statuses_follow_prometheus() {
        assert_eq!(ApiError::bad_data("x").status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            ApiError::timeout("x").status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            ApiError::internal("x").status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let e = ApiError::from(QueryError::Execution("many-to-many".into()));
        assert_eq!(
            (e.kind, e.status()),
            ("execution", StatusCode::UNPROCESSABLE_ENTITY)
        );
        let e = ApiError::from(StoreError::TooLarge {
            what: "series",
            limit: 3,
        });
        assert_eq!(e.kind, "execution");
        let e = ApiError::bad_param("time", "cannot parse \"x\" to a valid timestamp");
        assert_eq!(
            e.message,
            r#"invalid parameter "time": cannot parse "x" to a valid timestamp"#
        );
    }
}
