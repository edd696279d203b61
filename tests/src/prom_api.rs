//! A small blocking client for the Prometheus HTTP API, used against both Prometheus and
//! Vigil so that the same request goes to each and the two answers can be compared.

use crate::dataset::seconds;
use std::time::Duration;

/// One PromQL evaluation: an instant query at a time, or a range query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eval {
    /// `/api/v1/query` at this time (milliseconds since the epoch).
    Instant(i64),
    /// `/api/v1/query_range` from `start` to `end` every `step` (all in milliseconds).
    Range {
        /// First evaluation time.
        start: i64,
        /// Last possible evaluation time.
        end: i64,
        /// Resolution.
        step: i64,
    },
}

impl Eval {
    /// The API path and its parameters for `query`.
    pub fn request(&self, query: &str) -> (&'static str, Vec<(String, String)>) {
        let q = ("query".to_owned(), query.to_owned());
        match *self {
            Eval::Instant(t) => ("/api/v1/query", vec![q, ("time".to_owned(), seconds(t))]),
            Eval::Range { start, end, step } => (
                "/api/v1/query_range",
                vec![
                    q,
                    ("start".to_owned(), seconds(start)),
                    ("end".to_owned(), seconds(end)),
                    ("step".to_owned(), seconds(step)),
                ],
            ),
        }
    }

    /// A short human description, relative to `origin` (e.g. the dataset's end).
    pub fn describe(&self, origin: i64) -> String {
        let rel = |t: i64| {
            let d = t - origin;
            if d == 0 {
                "end".to_owned()
            } else {
                format!("end{}{}s", if d < 0 { "-" } else { "+" }, seconds(d.abs()))
            }
        };
        match *self {
            Eval::Instant(t) => format!("instant @ {} ({})", rel(t), seconds(t)),
            Eval::Range { start, end, step } => {
                format!("range {}..{} step {}s", rel(start), rel(end), seconds(step))
            }
        }
    }
}

/// What a server answered: the HTTP status and the JSON body (Null if it was not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status code; 0 when the request itself failed.
    pub status: u16,
    /// The parsed body, or a string describing why there is none.
    pub body: serde_json::Value,
}

/// Sends the same requests to two servers at once.
pub struct ApiClient {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl Default for ApiClient {
    fn default() -> Self {
        Self::new()
    }
}

impl ApiClient {
    /// A client with a 60 s timeout per request.
    pub fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let http = crate::http_client()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        Self { rt, http }
    }

    /// `GET base+path?params`.
    pub fn get(&self, base: &str, path: &str, params: &[(String, String)]) -> Answer {
        self.rt.block_on(fetch(&self.http, base, path, params))
    }

    /// The same GET on both servers, concurrently.
    pub fn both(
        &self,
        a: &str,
        b: &str,
        path: &str,
        params: &[(String, String)],
    ) -> (Answer, Answer) {
        self.rt.block_on(async {
            tokio::join!(
                fetch(&self.http, a, path, params),
                fetch(&self.http, b, path, params)
            )
        })
    }
}

async fn fetch(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    params: &[(String, String)],
) -> Answer {
    let url = match reqwest::Url::parse_with_params(&format!("{base}{path}"), params) {
        Ok(url) => url,
        Err(e) => return failed(format!("bad URL {base}{path}: {e}")),
    };
    // Range queries go as a POST form, the way Grafana sends them; the rest as GET.
    let request = if path.ends_with("/query_range") {
        let form = url.query().unwrap_or("").to_owned();
        let mut bare = url.clone();
        bare.set_query(None);
        http.post(bare)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
    } else {
        http.get(url)
    };
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => return failed(format!("request to {base}{path} failed: {e}")),
    };
    let status = response.status().as_u16();
    match response.bytes().await {
        Ok(bytes) => Answer {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                serde_json::Value::String(format!(
                    "not JSON ({e}): {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
                ))
            }),
        },
        Err(e) => failed(format!("reading the answer from {base}{path} failed: {e}")),
    }
}

fn failed(why: String) -> Answer {
    Answer {
        status: 0,
        body: serde_json::Value::String(why),
    }
}
