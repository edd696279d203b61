//! Build info, metric metadata and the health probes: what clients ask before querying.

use super::json;
use axum::response::Response;

/// `/api/v1/status/buildinfo`, in Prometheus's fields; `version` is Vigil's own version
/// and `application` says which server this is.
pub async fn buildinfo() -> Response {
    json::success(|out| {
        out.extend_from_slice(br#"{"application":"vigil","version":"#);
        json::write_str(out, env!("CARGO_PKG_VERSION"));
        out.extend_from_slice(br#","revision":"unknown","branch":"unknown","buildUser":"unknown","buildDate":"unknown","goVersion":"none (Rust)"}"#);
    })
}

/// `/api/v1/metadata`: Vigil keeps no metric types or help texts yet, so the map is empty
/// (Grafana then shows metrics without help text).
pub async fn metadata() -> Response {
    json::success(|out| out.extend_from_slice(b"{}"))
}

/// `/-/ready`: serving queries.
pub async fn ready() -> &'static str {
    "Vigil collector is Ready.\n"
}

/// `/-/healthy`: the process is up.
pub async fn healthy() -> &'static str {
    "Vigil collector is Healthy.\n"
}
