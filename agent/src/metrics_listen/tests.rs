use super::*;
use crate::spool::Spool;
use std::sync::atomic::Ordering;

fn shared() -> Arc<Shared> {
    Arc::new(Shared::new(Spool::new(1 << 20), Sink::new()))
}

/// Sends `request` and returns the whole answer.
fn ask(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    stream.write_all(request).expect("sends");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("reads");
    answer
}

#[test]
fn get_metrics_answers_the_agents_own_series_in_text_format() {
    let shared = shared();
    shared.stats.rounds.store(3, Ordering::Relaxed);
    shared.stats.connected.store(true, Ordering::Relaxed);
    let addr = start("127.0.0.1:0", shared.clone()).expect("binds");
    let answer = ask(
        addr,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
    );
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    assert!(
        head.contains(&format!("Content-Length: {}", body.len())),
        "{head}"
    );
    assert!(
        body.contains("# TYPE vigil_agent_rounds_total counter\nvigil_agent_rounds_total 3\n"),
        "{body}"
    );
    assert!(body.contains("# HELP vigil_agent_rounds_total "), "{body}");
    assert!(body.contains("vigil_agent_connected 1\n"), "{body}");
    assert!(
        body.contains(&format!(
            "# TYPE vigil_agent_info gauge\nvigil_agent_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{body}"
    );
    // Every sample line belongs to a name with a TYPE line just before its first sample.
    let mut typed = std::collections::HashSet::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            typed.insert(rest.split(' ').next().unwrap_or_default().to_owned());
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            assert!(
                name.starts_with("vigil_agent_") && typed.contains(name),
                "{line}"
            );
        }
    }

    let query = ask(addr, b"GET /metrics?x=1 HTTP/1.0\r\n\r\n");
    assert!(query.starts_with("HTTP/1.1 200 OK"), "{query}");
}

#[test]
fn other_paths_methods_and_oversized_requests_are_refused() {
    let addr = start("127.0.0.1:0", shared()).expect("binds");
    let answer = ask(addr, b"GET / HTTP/1.1\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");
    let answer = ask(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 405 "), "{answer}");
    let mut big = b"GET /metrics HTTP/1.1\r\nX-Pad: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', MAX_REQUEST + 10));
    let answer = ask(addr, &big);
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
    // The server still answers after each.
    let answer = ask(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
}

#[test]
fn an_address_in_use_or_malformed_is_an_error_naming_the_flag() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("binds");
    let addr = taken.local_addr().expect("address").to_string();
    let error = start(&addr, shared()).expect_err("in use");
    assert!(
        error.contains("--metrics-listen") && error.contains(&addr),
        "{error}"
    );
    let error = start("localhost-ish", shared()).expect_err("malformed");
    assert!(error.contains("--metrics-listen"), "{error}");
    assert_eq!(
        parse_addr(":9101").expect("port only"),
        "0.0.0.0:9101".parse::<SocketAddr>().expect("address")
    );
}
