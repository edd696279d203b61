//! `--metrics-listen ADDR` (`metrics_listen`): the agent's own `vigil_agent_*` series for a
//! Prometheus scraper, `GET /metrics` in the text format 0.0.4, with `# HELP` and `# TYPE`
//! from the agent's metadata table.
//!
//! A few lines of HTTP/1.1 on one std thread, no HTTP library: one request per
//! connection (`Connection: close`), answered in turn; a request head longer than
//! [`MAX_REQUEST`] or slower than [`TIMEOUT`] is dropped. Any other path is 404, another
//! method 405.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::collect::{Sink, metadata};
use crate::own::Stats;
use crate::shared::Shared;
use vigil_proto::v1::MetricType;

/// Most bytes of a request head.
pub const MAX_REQUEST: usize = 8 << 10;

/// Longest a client may take to send its request or read the answer.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The address `metrics_listen` names: `HOST:PORT`, or `:PORT` for every IPv4 address.
pub fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    let full = match text.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => text.to_owned(),
    };
    full.parse().map_err(|_| {
        format!(
            "metrics_listen (--metrics-listen): {text:?} is not an address like \
             127.0.0.1:9101 or :9101"
        )
    })
}

/// Binds `addr` and serves the agent's own metrics on a thread until the process ends;
/// returns the bound address (the port chosen, for `:0`). The error names the flag.
pub fn start(addr: &str, shared: Arc<Shared>) -> Result<SocketAddr, String> {
    let parsed = parse_addr(addr)?;
    let listener = TcpListener::bind(parsed).map_err(|e| {
        format!(
            "--metrics-listen / metrics_listen: cannot listen on {addr}: {e}; pick a free \
             address or leave it unset"
        )
    })?;
    let bound = listener.local_addr().unwrap_or(parsed);
    std::thread::Builder::new()
        .name("metrics-listen".into())
        .stack_size(128 << 10)
        .spawn(move || serve(listener, &shared.stats))
        .map_err(|e| format!("--metrics-listen: cannot start its thread: {e}"))?;
    tracing::info!(address = %bound, "serving the agent's own metrics at /metrics");
    Ok(bound)
}

fn serve(listener: TcpListener, stats: &Stats) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if let Err(e) = answer(stream, stats) {
            tracing::debug!(error = %e, "metrics request dropped");
        }
    }
}

/// Reads one request head and writes the answer.
fn answer(mut stream: TcpStream, stats: &Stats) -> std::io::Result<()> {
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() >= MAX_REQUEST {
            respond(&mut stream, "431 Request Header Fields Too Large", "", "")?;
            // Unread bytes at close would reset the connection before the client reads
            // the answer: take what has arrived, without waiting for more.
            stream.set_nonblocking(true)?;
            while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
            return Ok(());
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", "/metrics") => {
            let body = render(stats, unix_ms());
            respond(
                &mut stream,
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                &body,
            )
        }
        (_, "/metrics") => respond(&mut stream, "405 Method Not Allowed", "text/plain", ""),
        _ => respond(
            &mut stream,
            "404 Not Found",
            "text/plain",
            "Not found: the agent serves /metrics only.\n",
        ),
    }
}

fn respond(stream: &mut TcpStream, status: &str, kind: &str, body: &str) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if !kind.is_empty() {
        out.push_str(&format!("Content-Type: {kind}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    stream.write_all(out.as_bytes())?;
    stream.flush()
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The agent's own series in the Prometheus text format 0.0.4; `now_ms` ages the spool.
pub fn render(stats: &Stats, now_ms: i64) -> String {
    let mut sink = Sink::new();
    crate::own::collect(stats, &mut sink, now_ms);
    let mut out = String::new();
    text(&sink, &mut out);
    out
}

/// Appends the round in `sink` to `out` in the Prometheus text format 0.0.4, with `# HELP`
/// and `# TYPE` lines from the agent's metadata table, each family once (`--once` and
/// `/metrics`).
pub fn text(sink: &Sink, out: &mut String) {
    // A family's samples together, so its HELP and TYPE come once (a source may write
    // two families in turns, cpu by cpu).
    let mut round: Vec<_> = sink.round().collect();
    round.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    let mut last = "";
    for (key, value) in round {
        if key.name != last {
            let (kind, help) = metadata::lookup(&key.name)
                .map_or(("untyped", ""), |m| (text_type(m.kind), m.help));
            if !help.is_empty() {
                let help = help.replace('\\', "\\\\").replace('\n', "\\n");
                out.push_str(&format!("# HELP {} {help}\n", key.name));
            }
            out.push_str(&format!("# TYPE {} {kind}\n", key.name));
        }
        last = &key.name;
        out.push_str(&key.name);
        if !key.labels.is_empty() {
            out.push('{');
            for (i, (name, v)) in key.labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let v = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                out.push_str(&format!("{name}=\"{v}\""));
            }
            out.push('}');
        }
        out.push(' ');
        out.push_str(&number(value));
        out.push('\n');
    }
}

/// The 0.0.4 text format's type word (info and state sets are gauges there).
fn text_type(kind: MetricType) -> &'static str {
    match kind {
        MetricType::Counter => "counter",
        MetricType::Gauge | MetricType::Info | MetricType::Stateset => "gauge",
        MetricType::Histogram => "histogram",
        MetricType::Summary => "summary",
        MetricType::Unspecified => "untyped",
    }
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests;
