//! The label routes' refusals, through the router.

use crate::http::{Api, ApiOptions, router};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use std::sync::Arc;
use tower::ServiceExt;
use vigil_promql::{Engine, EngineOptions};
use vigil_store::Store;
use vigil_store::memory::MemoryStore;

async fn get(uri: &str) -> (StatusCode, serde_json::Value) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let engine = Engine::new(store.clone(), EngineOptions::default());
    let app = router(Api::new(engine, store, ApiOptions::default()));
    let request = Request::get(uri).body(Body::empty()).unwrap();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body)));
    (status, json)
}

/// Found by the `http_params` fuzz target (tests/fuzz/regressions/http_params): a name
/// that is not UTF-8 once decoded got axum's plain-text 400, not the API's envelope.
#[tokio::test]
async fn a_name_that_is_not_utf8_is_a_bad_label_name() {
    for uri in ["/api/v1/label/%FF/values", "/api/v1/label/1bad/values"] {
        let (status, json) = get(uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {json}");
        assert_eq!(json["errorType"], "bad_data", "{uri}: {json}");
        assert!(
            json["error"]
                .as_str()
                .is_some_and(|e| e.contains("invalid label name")),
            "{uri}: {json}"
        );
    }
}
