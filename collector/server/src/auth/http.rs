//! The middleware in front of the HTTP API: `Authorization: Bearer SECRET`, or basic auth
//! with the token's name as user and its secret as password (Grafana's "Basic auth"
//! setting). Every route needs `read` but the health probes, remote write
//! (`POST /api/v1/write`), which needs an `agent` or `admin` token, and acknowledging an
//! incident (`POST /api/v1/incidents/<id>/ack`), which needs `admin`. A refusal is 401 with
//! `WWW-Authenticate` (missing or unknown credential) or 403 (a token without the role), in
//! Prometheus's error envelope.

use super::{Auth, Need, Presented};
use crate::limits::{Refusal, Violation};
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use std::net::SocketAddr;
use std::sync::Arc;

/// What an HTTP route needs.
pub fn need(path: &str) -> Need {
    match path {
        "/-/healthy" | "/-/ready" => Need::Nothing,
        "/api/v1/write" => Need::Import,
        p if p.starts_with("/api/v1/incidents/") && p.ends_with("/ack") => Need::Admin,
        _ => Need::Read,
    }
}

/// Admits or refuses one request; an admitted one carries its [`super::Caller`].
pub async fn middleware(
    State(auth): State<Arc<Auth>>,
    mut request: Request,
    next: Next,
) -> Response {
    let need = need(request.uri().path());
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let (bearer, basic) = credentials(request.headers());
    let presented = Presented {
        bearer: bearer.as_deref(),
        basic,
        certificate_host: None,
        peer,
    };
    match auth.admit(&presented, need) {
        Ok(Some(caller)) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Ok(None) if need == Need::Nothing => next.run(request).await,
        // An import with no credential at all: over HTTP none can come later.
        Ok(None) => refusal(
            &auth.refuse(
                "missing",
                None,
                peer,
                "this collector requires a token: send `Authorization: Bearer <token>` with a \
             token of role agent or admin (Prometheus: remote_write.authorization.credentials; \
             vmagent: -remoteWrite.bearerToken), or basic auth with the token's name as user"
                    .into(),
                Refusal::Unauthenticated,
            ),
        ),
        Err(refused) => refusal(&refused),
    }
}

/// The bearer secret or the basic-auth pair of an `Authorization` header.
fn credentials(headers: &http::HeaderMap) -> (Option<String>, Option<(String, String)>) {
    if let Some(secret) = super::grpc::bearer(headers) {
        return (Some(secret), None);
    }
    let Some((scheme, rest)) = super::authorization(headers) else {
        return (None, None);
    };
    if scheme.eq_ignore_ascii_case("basic") {
        let pair = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| {
                text.split_once(':')
                    .map(|(user, password)| (user.to_owned(), password.to_owned()))
            });
        // A malformed basic header is an unknown credential, not a missing one.
        return (None, Some(pair.unwrap_or_default()));
    }
    (None, None)
}

/// The response for a refusal: 401 with `WWW-Authenticate`, or 403.
fn refusal(refused: &Violation) -> Response {
    let (status, kind) = match refused.kind {
        Refusal::Forbidden => (http::StatusCode::FORBIDDEN, "forbidden"),
        _ => (http::StatusCode::UNAUTHORIZED, "unauthorized"),
    };
    let body = serde_json::json!({
        "status": "error",
        "errorType": kind,
        "error": refused.message,
    });
    let mut response = (status, axum::Json(body)).into_response();
    if status == http::StatusCode::UNAUTHORIZED {
        let headers = response.headers_mut();
        headers.append(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer realm=\"vigil\""),
        );
        headers.append(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Basic realm=\"vigil\", charset=\"UTF-8\""),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn bearer_and_basic_are_read() {
        assert_eq!(
            credentials(&headers("Bearer abc")),
            (Some("abc".into()), None)
        );
        assert_eq!(
            credentials(&headers("bearer   abc ")),
            (Some("abc".into()), None)
        );
        // grafana:s3cret
        assert_eq!(
            credentials(&headers("Basic Z3JhZmFuYTpzM2NyZXQ=")),
            (None, Some(("grafana".into(), "s3cret".into())))
        );
        assert_eq!(
            credentials(&headers("Basic !!!")),
            (None, Some((String::new(), String::new())))
        );
        assert_eq!(credentials(&headers("Digest x")), (None, None));
        assert_eq!(credentials(&http::HeaderMap::new()), (None, None));
    }

    #[test]
    fn only_the_probes_are_public_and_remote_write_needs_a_writer() {
        assert_eq!(need("/-/healthy"), Need::Nothing);
        assert_eq!(need("/-/ready"), Need::Nothing);
        assert_eq!(need("/api/v1/query"), Need::Read);
        assert_eq!(need("/api/v1/status/buildinfo"), Need::Read);
        assert_eq!(need("/nope"), Need::Read);
        assert_eq!(need("/api/v1/write"), Need::Import);
    }
}
