//! The official PromQL compliance suite (prometheus/compliance,
//! `promql/promql-test-queries.yml`, vendored in `tests/data/promql-compliance/`) run
//! against Debian's Prometheus 2.42 and Vigil over the same data, as the e2e test
//! `promql_compliance::` does.
//!
//! - [`expand`]: reads the query file and expands every template as the tester does.
//! - [`demo`]: the data the queries expect, a synthetic copy of PromLabs' demo service.
//! - [`outcome`]: verdicts per request, the compliance tester's tolerance, the table.
//! - [`both_all`]: sends many requests to both servers with a small pool of workers.
//!
//! Like the tester, every expanded query is a range query over a 10-minute window at a
//! 10-second resolution that ends 12 minutes before the newest data; unlike it, each is
//! also evaluated as an instant query at the window's end.

pub mod demo;
pub mod expand;
pub mod outcome;

use crate::prom_api::{Answer, ApiClient};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One request: API path and parameters.
pub type Request = (&'static str, Vec<(String, String)>);

/// Sends every request to both `a` and `b` (each request to both at once), `workers`
/// requests at a time; the answers come back in the order of `requests`.
pub fn both_all(
    api: &ApiClient,
    a: &str,
    b: &str,
    requests: &[Request],
    workers: usize,
) -> Vec<(Answer, Answer)> {
    let next = AtomicUsize::new(0);
    let answers: Mutex<Vec<Option<(Answer, Answer)>>> = Mutex::new(vec![None; requests.len()]);
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((path, params)) = requests.get(i) else {
                        break;
                    };
                    let pair = api.both(a, b, path, params);
                    answers.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(pair);
                }
            });
        }
    });
    answers
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|pair| pair.unwrap_or_else(|| unreachable!("every request is answered")))
        .collect()
}
