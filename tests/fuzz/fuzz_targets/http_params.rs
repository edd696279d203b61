//! The HTTP API's parameters from arbitrary text: requests to the real router
//! (`vigil_collector::http::router`, behind its authentication) over the fixed data set,
//! as GET with a query string or POST with a form body; so times, durations, steps,
//! timeouts, `match[]` selectors, label names, the query and the `Authorization` header.
//! Also `params::parse_time` and `parse_duration` on the raw text.
//!
//! Input: see `parse`. Checked beyond "no panic": no request gets a 5xx (an
//! internal error is a bug: a bad parameter is a 400 naming it; only a timeout, 503, is
//! allowed), and every answer but a missing route is Prometheus's JSON envelope.

#![no_main]

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tower::ServiceExt;
use vigil_collector::auth::Auth;
use vigil_collector::config::Config;
use vigil_collector::http::params::{parse_duration, parse_time};
use vigil_collector::http::{Api, ApiOptions, router};
use vigil_collector::slots::QuerySlots;
use vigil_promql::{Engine, EngineOptions};

/// One request: which route, how it is sent, and its texts.
#[derive(Debug)]
struct Input<'a> {
    endpoint: u8,
    post: bool,
    /// The query string (GET) or form body (POST), as sent.
    params: &'a str,
    /// A query string sent in the URL with a POST.
    url_params: &'a str,
    authorization: Option<&'a str>,
    /// The `<name>` of `/api/v1/label/<name>/values`.
    label: &'a str,
}

/// The secret of the one token ("reader", role read) the router knows.
const SECRET: &str = "fuzz-reader-secret-0123456789";

fuzz_target!(|data: &[u8]| vigil_fuzz::run(|| {
    if let Some(input) = parse(data) {
        request(input)
    }
}));

/// Two bytes (the route; POST and whether to send an `Authorization` header), then the
/// texts separated by NULs: parameters, URL parameters with a POST, the header (where
/// `SECRET` stands for the token's secret), the label name.
fn parse(data: &[u8]) -> Option<Input<'_>> {
    let [endpoint, flags, rest @ ..] = data else {
        return None;
    };
    let text = std::str::from_utf8(rest).ok()?;
    let mut parts = text.split('\0');
    let mut next = || parts.next().unwrap_or("");
    Some(Input {
        endpoint: *endpoint,
        post: flags & 1 != 0,
        params: next(),
        url_params: next(),
        authorization: Some(next()).filter(|_| flags & 2 != 0),
        label: next(),
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
    })
}

/// The router: open (every second input) or with one read token.
fn routers() -> &'static [Router; 2] {
    static ROUTERS: OnceLock<[Router; 2]> = OnceLock::new();
    ROUTERS.get_or_init(|| {
        let store: Arc<dyn vigil_store::Store> = vigil_fuzz::dataset();
        let engine = Engine::new(
            store.clone(),
            EngineOptions {
                max_steps: 1_000,
                timeout: Duration::from_secs(2),
                ..EngineOptions::default()
            },
        );
        let options = ApiOptions {
            slots: QuerySlots::new(2, Duration::from_secs(2)),
            max_series: 1_000,
            ..ApiOptions::default()
        };
        let api = Api::new(engine, store, options);
        let config = Config {
            auth: toml::from_str(&format!(
                "[[tokens]]\nname = \"reader\"\nrole = \"read\"\nsecret = \"{SECRET}\"\n"
            ))
            .expect("the token config parses"),
            ..Config::default()
        };
        let auth = Arc::new(Auth::from_config(&config).expect("the token loads"));
        [router(api.clone()), router(api.with_auth(auth))]
    })
}

fn request(input: Input) {
    for text in [input.params, input.url_params] {
        if let Ok(ms) = parse_time(text) {
            assert!(ms > i64::MIN && ms < i64::MAX, "{text:?} parsed to {ms}");
        }
        let _ = parse_duration(text);
    }
    let path = match input.endpoint % 9 {
        0 => "/api/v1/query".to_owned(),
        1 => "/api/v1/query_range".to_owned(),
        2 => "/api/v1/series".to_owned(),
        3 => "/api/v1/labels".to_owned(),
        4 => format!("/api/v1/label/{}/values", input.label),
        5 => "/api/v1/query_exemplars".to_owned(),
        6 => "/api/v1/metadata".to_owned(),
        7 => "/api/v1/alerts".to_owned(),
        _ => "/-/ready".to_owned(),
    };
    let (method, uri, body) = if input.post {
        let uri = if input.url_params.is_empty() {
            path
        } else {
            format!("{path}?{}", input.url_params)
        };
        (Method::POST, uri, input.params.to_owned())
    } else {
        (
            Method::GET,
            format!("{path}?{}", input.params),
            String::new(),
        )
    };
    let mut builder = Request::builder().method(method).uri(uri);
    if input.post {
        builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let authenticated = input.authorization.is_some();
    if let Some(authorization) = input.authorization {
        let authorization = authorization.replace("SECRET", SECRET);
        builder = builder.header(header::AUTHORIZATION, authorization);
    }
    let Ok(request) = builder.body(Body::from(body)) else {
        // Not a valid URI or header: hyper would refuse it before the router.
        return;
    };
    let router = routers()[usize::from(authenticated)].clone();
    let (status, bytes) = runtime().block_on(async move {
        let response = router.oneshot(request).await.expect("the router answers");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
            .await
            .expect("the body is read");
        (status, bytes)
    });
    let text = String::from_utf8_lossy(&bytes);
    // 503 is a timeout (the data set is small, but a query may still be slow).
    assert!(
        !status.is_server_error() || status == StatusCode::SERVICE_UNAVAILABLE,
        "{status} for {input:?}: {text}"
    );
    // The probes answer in plain text, as Prometheus's do; a route that does not exist
    // gets axum's empty 404 or 405.
    let probe = input.endpoint % 9 == 8;
    if !probe && status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED {
        let json: serde_json::Value =
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        assert!(json.get("status").is_some(), "no status: {text}");
    }
}
