//! A step tried again after a later request of it failed adds its comment once, against an
//! RT REST 2.0 stand-in on 127.0.0.1.

use super::*;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use std::sync::Mutex;

/// What the stand-in saw, and the ticket's status.
#[derive(Default)]
struct Desk7 {
    comments: Vec<String>,
    puts: usize,
    /// PUTs still to answer with 503.
    failing_puts: usize,
    status: String,
}

type Shared = Arc<Mutex<Desk7>>;

async fn comment(State(d): State<Shared>, body: String) -> (StatusCode, String) {
    d.lock().unwrap().comments.push(body);
    (StatusCode::CREATED, r#"["Comments added"]"#.into())
}

async fn put(
    State(d): State<Shared>,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> (StatusCode, String) {
    let mut d = d.lock().unwrap();
    d.puts += 1;
    if d.failing_puts > 0 {
        d.failing_puts -= 1;
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"message":"busy"}"#.into(),
        );
    }
    if let Some(status) = body["Status"].as_str() {
        d.status = status.to_owned();
    }
    (StatusCode::OK, r#"["Ticket 7: Status changed"]"#.into())
}

async fn read(State(d): State<Shared>) -> axum::Json<serde_json::Value> {
    let status = d.lock().unwrap().status.clone();
    axum::Json(serde_json::json!({"id": "7", "Status": status}))
}

#[tokio::test]
async fn a_resolve_tried_again_after_its_status_change_failed_comments_once() {
    let desk: Shared = Arc::new(Mutex::new(Desk7 {
        failing_puts: 1,
        status: "open".into(),
        ..Desk7::default()
    }));
    let app = axum::Router::new()
        .route("/REST/2.0/ticket/7/comment", post(comment))
        .route("/REST/2.0/ticket/7", get(read).put(put))
        .with_state(desk.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let config: config::RtConfig =
        toml::from_str(&format!("url = \"{url}\"\ntoken = \"secret\"\n")).unwrap();
    let book = Arc::new(TicketBook::in_memory("0a0b0c0d"));
    let ticket = Ticket {
        id: "7".into(),
        url: format!("{url}/Ticket/Display.html?id=7"),
    };
    book.record(0, "desk", 0, &ticket).unwrap();
    let integration = TicketIntegration {
        desk: Desk::Rt(Box::new(rt::Rt::new(&config).unwrap())),
        receiver: "desk".into(),
        index: 0,
        book: book.clone(),
    };
    let n = test_notification(
        "desk",
        &url,
        1_700_000_000_000,
        "vigil-0a0b0c0d-0",
        Step::Resolved,
    );

    let first = integration.deliver(&n, "delivery-1").await;
    assert!(matches!(first, Outcome::Retry { .. }), "{first:?}");
    let second = integration.deliver(&n, "delivery-1").await;
    assert!(matches!(second, Outcome::Accepted { .. }), "{second:?}");
    {
        let d = desk.lock().unwrap();
        assert_eq!(
            d.comments.len(),
            1,
            "the comment is added once: {:?}",
            d.comments
        );
        assert_eq!((d.puts, d.status.as_str()), (2, "resolved"));
    }
    // Another delivery (another step) has a comment of its own.
    let third = integration.deliver(&n, "delivery-2").await;
    assert!(matches!(third, Outcome::Accepted { .. }), "{third:?}");
    assert_eq!(desk.lock().unwrap().comments.len(), 2);
    server.abort();
}
