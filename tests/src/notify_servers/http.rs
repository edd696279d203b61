//! The test HTTP receiver: axum on its own thread, recording every request.

use crate::{free_port, wait_for};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, SystemTime};

/// One request the HTTP receiver got.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    /// `POST`, `GET`, …
    pub method: String,
    /// The path and query, such as `/hook?x=1`.
    pub path: String,
    /// Headers as (lowercase name, value), in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: SystemTime,
}

/// The (host label, status) of each alert in an Alertmanager-style webhook body, sorted.
pub fn alert_hosts(body: &serde_json::Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = body["alerts"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|a| {
            (
                a["labels"]["host"].as_str().unwrap_or("").to_owned(),
                a["status"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

impl ReceivedRequest {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        super::header(&self.headers, name)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON (panics with the body when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    body: String,
    delay: Duration,
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<ReceivedRequest>>,
    answer: Mutex<Option<Answer>>,
}

enum Control {
    Down(mpsc::Sender<()>),
    Up(mpsc::Sender<()>),
}

/// An HTTP server on 127.0.0.1 that records every request. It answers 200 `ok` until told
/// otherwise, and closes each connection after its answer, so [`down`](Self::down) really
/// leaves nothing listening. Runs on its own thread and runtime, so it works from plain
/// and async tests alike; stopped when dropped.
pub struct HttpReceiver {
    port: u16,
    shared: Arc<Shared>,
    control: Option<mpsc::Sender<Control>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpReceiver {
    /// Starts the server on a port from [`free_port`], not an ephemeral one: while the
    /// receiver is [down](Self::down), the kernel could give an ephemeral port to any
    /// outgoing connection, and it would not come back.
    pub fn start() -> Self {
        let port = free_port();
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let shared = Arc::new(Shared::default());
        let (control, commands) = mpsc::channel::<Control>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread_shared = shared.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let mut serving = Some(serve(
                    tokio::net::TcpListener::from_std(listener).unwrap(),
                    thread_shared.clone(),
                ));
                ready_tx.send(()).unwrap();
                // Commands come over a std channel: poll it without blocking the runtime.
                loop {
                    match commands.try_recv() {
                        Ok(Control::Down(done)) => {
                            if let Some(s) = serving.take() {
                                s.stop().await;
                            }
                            let _ = done.send(());
                        }
                        Ok(Control::Up(done)) => {
                            if serving.is_none() {
                                let listener = bind_again(port).await;
                                serving = Some(serve(listener, thread_shared.clone()));
                            }
                            let _ = done.send(());
                        }
                        Err(mpsc::TryRecvError::Empty) => {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        Err(mpsc::TryRecvError::Disconnected) => break,
                    }
                }
                if let Some(s) = serving.take() {
                    s.stop().await;
                }
            });
        });
        ready_rx.recv().unwrap();
        Self {
            port,
            shared,
            control: Some(control),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>` (POST to any path under it).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (panics after `timeout`); returns all.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedRequest> {
        wait_for(timeout, &format!("{n} HTTP request(s)"), || {
            let requests = self.requests();
            (requests.len() >= n).then_some(requests)
        })
    }

    /// Answers every request with `status` (and a short body naming it).
    pub fn set_status(&self, status: u16) {
        self.set_response(status, &format!("status {status} from the test receiver"));
    }

    /// Answers every request with `status` and `body`.
    pub fn set_response(&self, status: u16, body: &str) {
        let mut answer = self.shared.answer.lock().unwrap();
        let delay = answer.as_ref().map_or(Duration::ZERO, |a| a.delay);
        *answer = Some(Answer {
            status,
            body: body.to_owned(),
            delay,
        });
    }

    /// Waits `delay` before answering (to provoke a client's timeout).
    pub fn set_delay(&self, delay: Duration) {
        let mut answer = self.shared.answer.lock().unwrap();
        let (status, body) = answer
            .as_ref()
            .map_or((200, "ok".to_owned()), |a| (a.status, a.body.clone()));
        *answer = Some(Answer {
            status,
            body,
            delay,
        });
    }

    /// Back to answering 200 `ok` at once.
    pub fn set_ok(&self) {
        *self.shared.answer.lock().unwrap() = None;
    }

    /// Closes the listener: connections to the port are refused until [`up`](Self::up).
    pub fn down(&self) {
        self.command(Control::Down);
    }

    /// Listens again on the same port.
    pub fn up(&self) {
        self.command(Control::Up);
    }

    fn command(&self, make: fn(mpsc::Sender<()>) -> Control) {
        let (done, wait) = mpsc::channel();
        self.control
            .as_ref()
            .unwrap()
            .send(make(done))
            .expect("the HTTP receiver's thread is running");
        wait.recv_timeout(Duration::from_secs(30))
            .expect("the HTTP receiver's thread answers");
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.control.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Serving {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Serving {
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

async fn bind_again(port: u16) -> tokio::net::TcpListener {
    // The old socket may linger briefly; retry for a few seconds.
    for _ in 0..100 {
        if let Ok(l) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("could not listen on 127.0.0.1:{port} again");
}

fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) -> Serving {
    use axum::extract::{Request, State};
    use axum::response::IntoResponse;

    async fn record(State(shared): State<Arc<Shared>>, request: Request) -> impl IntoResponse {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, 64 << 20)
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default();
        let headers = parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        shared.requests.lock().unwrap().push(ReceivedRequest {
            method: parts.method.to_string(),
            path: parts
                .uri
                .path_and_query()
                .map_or("/".to_owned(), |p| p.to_string()),
            headers,
            body,
            at: SystemTime::now(),
        });
        let (status, text, delay) = match &*shared.answer.lock().unwrap() {
            Some(a) => (a.status, a.body.clone(), a.delay),
            None => (200, "ok".to_owned(), Duration::ZERO),
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let status = axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::OK);
        // One request per connection: going down then leaves no connection open.
        (status, [(axum::http::header::CONNECTION, "close")], text)
    }

    let app = axum::Router::new().fallback(record).with_state(shared);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Serving { stop, task }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(url: &str, body: &str) -> Result<reqwest::Response, reqwest::Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = crate::http_client().build().expect("http client");
        runtime.block_on(client.post(url).body(body.to_owned()).send())
    }

    #[test]
    fn http_receiver_records_answers_and_goes_down() {
        let receiver = HttpReceiver::start();
        let url = format!("{}/hook", receiver.url());
        assert_eq!(post(&url, "one").unwrap().status(), 200);
        receiver.set_response(503, "busy");
        assert_eq!(post(&url, "two").unwrap().status(), 503);
        receiver.down();
        assert!(post(&url, "three").unwrap_err().is_connect());
        receiver.up();
        receiver.set_ok();
        assert_eq!(post(&url, "four").unwrap().status(), 200);
        let got = receiver.wait_for(3, Duration::from_secs(5));
        let bodies: Vec<String> = got.iter().map(ReceivedRequest::text).collect();
        assert_eq!(bodies, ["one", "two", "four"]);
        assert_eq!(got[0].path, "/hook");
        assert_eq!(got[0].method, "POST");
    }
}
