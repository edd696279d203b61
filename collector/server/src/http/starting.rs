//! While the collector opens its data directory (a write-ahead log to replay after a crash,
//! an older storage format to migrate: minutes on a large store), its HTTP address already
//! answers: every path with 503 and what it is doing. Probes and load balancers then see
//! "starting" instead of a refused connection, and `/-/ready` tells the truth from the
//! first second.
//!
//! The listener is bound once, before the store opens. This server answers on a clone of
//! it; the API takes the original over when the store is open, so no connection is refused
//! in between (those that arrive then wait in the backlog).

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use std::path::Path;

/// The answer to everything while starting.
pub fn answer(data_dir: &Path) -> (StatusCode, String) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "Vigil collector is starting: opening the data directory {} (replaying its \
             write-ahead log or migrating an older format can take minutes); not ready yet\n",
            data_dir.display()
        ),
    )
}

/// The server answering while the store opens; [`Starting::stop`] ends it.
pub struct Starting {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Starting {
    /// Answers on a clone of `listener` (which the caller keeps for the API).
    pub fn serve(listener: &std::net::TcpListener, data_dir: &Path) -> std::io::Result<Self> {
        let clone = listener.try_clone()?;
        clone.set_nonblocking(true)?;
        let clone = tokio::net::TcpListener::from_std(clone)?;
        let dir = data_dir.to_path_buf();
        let app = Router::new().fallback(move || {
            let dir = dir.clone();
            async move { answer(&dir).into_response() }
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(clone, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self { stop, task })
    }

    /// Stops answering (requests in flight finish); the listener stays with the caller.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[tokio::test]
    async fn every_path_answers_503_starting_and_the_listener_outlives_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let starting = Starting::serve(&listener, Path::new("/srv/vigil-data")).unwrap();
        for path in ["/-/ready", "/-/healthy", "/api/v1/query?query=up"] {
            let text = tokio::task::spawn_blocking(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                write!(s, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
                let mut text = String::new();
                s.read_to_string(&mut text).unwrap();
                text
            })
            .await
            .unwrap();
            assert!(text.starts_with("HTTP/1.0 503"), "{path}: {text}");
            assert!(
                text.contains("starting: opening the data directory /srv/vigil-data"),
                "{text}"
            );
        }
        starting.stop().await;
        // The address is still bound: a connection waits in the backlog for whoever
        // accepts from `listener` next.
        let _waiting = std::net::TcpStream::connect(addr).unwrap();
        assert!(listener.accept().is_ok());
    }
}
