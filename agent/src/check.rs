//! `vigil-agent --check`: whether this agent, as configured, can work. One line per check,
//! for operators and package scripts: no colours, and the first word is one of `ok`,
//! `warn` or `FAIL`, padded to six columns:
//!
//! ```text
//! ok    config /etc/vigil/agent.toml
//! ok    spool /var/lib/vigil-agent/spool (writable)
//! ok    identity /var/lib/vigil-agent/identity: host web-1, serial 3f…, valid until 2025-07-01T10:00:00Z (renews from 2025-06-21T10:00:00Z)
//! FAIL  collector https://c:7070: UNAUTHENTICATED: missing token (set token or VIGIL_AGENT__TOKEN)
//! ok    collect /proc, /sys, /: 231 series
//! ```
//!
//! The checks, in order: the configuration (it loaded: `main` refuses one that does not);
//! the spool directory (created if missing, a file written, synced and removed, and what
//! was created removed again; memory only is a warning, not a failure); for an `https://`
//! collector, the identity (the enrolled certificate's host, serial and expiry, or the
//! `[tls]` client certificate's, or "not enrolled" and whether the agent will join); the collector
//! (connected, over TLS for `https://`, and a Hello sent with the token exactly as the
//! stream sends it, then the Welcome or the refusal awaited; nothing else is sent, so no
//! sample is stored, though the collector registers the host as it does on any Hello; an
//! agent that has yet to join only checks that the collector's chain matches the pinned
//! CA fingerprint, and never sends its token);
//! one collection round from the configured trees, each failing source on a line of its
//! own. Every `FAIL` line says what to do next.

use crate::collect::{CollectError, Collectors, Sink};
use crate::config::{Compression, Config, DeliveryConfig};
use crate::enroll::{self, EnrollError, Plan, x509::CertInfo};
use crate::{encode, run, stream};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic::codec::CompressionEncoding;
use tonic::transport::Endpoint;
use vigil_proto::v1::agent_message::Kind as AgentKind;
use vigil_proto::v1::collector_message::Kind as CollectorKind;
use vigil_proto::v1::ingest_client::IngestClient;
use vigil_proto::v1::{AgentMessage, Hello};

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It works.
    Ok,
    /// It works, with a consequence the operator should know.
    Warn,
    /// It does not work; the line says what to do.
    Fail,
}

/// One line of the report: the outcome, what was checked, and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The outcome.
    pub outcome: Outcome,
    /// What was checked: `config`, `spool`, `collector` or `collect`.
    pub subject: &'static str,
    /// What was found, and for a failure what to do next.
    pub detail: String,
}

impl Line {
    /// A passed check.
    pub fn ok(subject: &'static str, detail: impl Into<String>) -> Self {
        Self::new(Outcome::Ok, subject, detail)
    }

    /// A warning.
    pub fn warn(subject: &'static str, detail: impl Into<String>) -> Self {
        Self::new(Outcome::Warn, subject, detail)
    }

    /// A failed check.
    pub fn fail(subject: &'static str, detail: impl Into<String>) -> Self {
        Self::new(Outcome::Fail, subject, detail)
    }

    fn new(outcome: Outcome, subject: &'static str, detail: impl Into<String>) -> Self {
        Self {
            outcome,
            subject,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self.outcome {
            Outcome::Ok => "ok",
            Outcome::Warn => "warn",
            Outcome::Fail => "FAIL",
        };
        // One line each, whatever an error message holds.
        let detail = self.detail.replace(['\n', '\r'], " ");
        write!(f, "{word:<6}{} {detail}", self.subject)
    }
}

/// Runs every check against `config`, which was loaded from `source` (a file, or a
/// description such as "defaults and environment"), writing each line to `out` as it is
/// known. Returns whether none failed.
pub async fn run(config: &Config, source: &str, out: &mut dyn Write) -> bool {
    let mut passed = true;
    let mut emit = |line: Line| {
        passed &= line.outcome != Outcome::Fail;
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    emit(Line::ok("config", source));
    emit(spool(&config.delivery));
    let mut collectors = Collectors::new(run::options(config));
    let mut hello = encode::hello(
        &collectors.facts(),
        &config.hostname,
        &config.labels,
        config.interval.as_millis() as u64,
        &config.token,
    );
    encode::add_target_labels(&mut hello, &config.job, &config.instance);
    let plan = enroll::plan(config, &hello.hostname, std::time::SystemTime::now());
    if let Some(line) = identity(config, &plan) {
        emit(line);
    }
    emit(collector(config, &hello, &plan).await);
    for line in collect(config, &mut collectors) {
        emit(line);
    }
    passed
}

/// The spool check: the directory `delivery` names can be created and written.
pub fn spool(delivery: &DeliveryConfig) -> Line {
    let Some(dir) = delivery.spool_path() else {
        return Line::warn(
            "spool",
            "memory only (delivery.spool_dir = \"\"): a restart or crash loses the rounds \
             not yet acknowledged; set delivery.spool_dir (or --spool-dir) to keep them on disk",
        );
    };
    let shown = std::path::absolute(&dir).unwrap_or_else(|_| dir.clone());
    match probe(&dir) {
        Ok(existed) => Line::ok(
            "spool",
            format!(
                "{} ({})",
                shown.display(),
                if existed {
                    "writable"
                } else {
                    "can be created and written"
                }
            ),
        ),
        Err(e) => Line::fail(
            "spool",
            format!(
                "{}: {e} (make it a directory the agent's user can write, or point \
                 delivery.spool_dir / --spool-dir elsewhere)",
                shown.display()
            ),
        ),
    }
}

/// Creates `dir` if needed, writes, syncs and removes a file in it, then removes the
/// directories it created. Returns whether `dir` existed.
fn probe(dir: &Path) -> Result<bool, String> {
    let mut created: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .map(Path::to_path_buf)
        .collect();
    let existed = created.is_empty();
    if let Err(e) = std::fs::create_dir_all(dir) {
        return Err(format!("cannot create it: {e}"));
    }
    let result = write_probe(dir);
    // Deepest first; a directory something else wrote into meanwhile stays.
    created.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in created {
        let _ = std::fs::remove_dir(d);
    }
    result.map(|()| existed)
}

fn write_probe(dir: &Path) -> Result<(), String> {
    if !dir.is_dir() {
        return Err("is not a directory".into());
    }
    let path = dir.join(format!(".vigil-check-{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut file| {
            file.write_all(b"vigil-agent --check\n")?;
            file.sync_all()
        });
    let removed = std::fs::remove_file(&path);
    written.map_err(|e| format!("cannot write there: {e}"))?;
    removed.map_err(|e| format!("cannot remove a file there: {e}"))
}

/// The identity check, for an `https://` collector: what `plan` found.
pub fn identity(config: &Config, plan: &Result<Plan, EnrollError>) -> Option<Line> {
    let dir = enroll::identity::shown(&config.enroll.identity_dir());
    let describe = |info: &CertInfo| {
        format!(
            "host {}, serial {}, valid until {}",
            info.host,
            info.serial,
            enroll::time_text(info.not_after)
        )
    };
    Some(match plan {
        Ok(Plan::Plain) => return None,
        Ok(Plan::Enrolled(id)) => Line::ok(
            "identity",
            format!(
                "{dir}: {} (renews from {})",
                describe(&id.info),
                enroll::time_text(enroll::renew::renew_at(&id.info))
            ),
        ),
        Ok(Plan::Join(why)) => Line::ok(
            "identity",
            format!("{dir}: {why}; the agent joins at start with its join token"),
        ),
        Ok(Plan::Static(_)) => match &config.tls.cert_file {
            Some(path) => {
                let info = std::fs::read(path)
                    .ok()
                    .and_then(|pem| enroll::identity::first_certificate(&pem))
                    .and_then(|der| CertInfo::from_der(&der));
                match info {
                    Some(info) if info.not_after <= std::time::SystemTime::now() => Line::fail(
                        "identity",
                        format!(
                            "{} (tls.cert_file): {}: expired; replace it",
                            path.display(),
                            describe(&info)
                        ),
                    ),
                    Some(info) => Line::ok(
                        "identity",
                        format!(
                            "{} (tls.cert_file, not renewed by the agent): {}",
                            path.display(),
                            describe(&info)
                        ),
                    ),
                    None => Line::fail(
                        "identity",
                        format!(
                            "{} (tls.cert_file) is not a readable PEM certificate; fix it",
                            path.display()
                        ),
                    ),
                }
            }
            None => Line::ok(
                "identity",
                format!("not enrolled (no certificate in {dir}): server-only TLS with tls.ca_file"),
            ),
        },
        Err(e) => Line::fail("identity", e.to_string()),
    })
}

/// The collector check: connect, send `hello` as the stream does, await the Welcome. An
/// agent that has yet to join only checks the collector's chain against the pin.
pub async fn collector(config: &Config, hello: &Hello, plan: &Result<Plan, EnrollError>) -> Line {
    let url = &config.collector;
    let tls = match plan {
        Ok(Plan::Plain) => None,
        Ok(Plan::Static(tls)) => Some(tls.clone()),
        Ok(Plan::Enrolled(id)) => match enroll::Enroller::new(config, &hello.hostname) {
            Ok(enroller) => Some(enroller.client_tls(id)),
            Err(e) => return Line::fail("collector", format!("{url}: {e}")),
        },
        Ok(Plan::Join(_)) => return pinned(config, &hello.hostname).await,
        Err(_) => {
            return Line::fail(
                "collector",
                format!(
                    "{url}: not checked: the agent has no identity to connect with (see above)"
                ),
            );
        }
    };
    match welcome(config, hello, tls).await {
        Ok(found) => Line::ok("collector", format!("{url}: {found}")),
        Err(e) => Line::fail("collector", format!("{url}: {e}")),
    }
}

/// For an agent that has yet to join: the collector's TLS chain against the pin.
async fn pinned(config: &Config, host: &str) -> Line {
    let url = &config.collector;
    let found = match enroll::Enroller::new(config, host) {
        Ok(enroller) => match enroller.pin {
            Some(pin) => enroll::pin::discover(&enroller.target, pin)
                .await
                .map(|_| pin),
            None => Err(EnrollError::Config(
                "enroll.ca_fingerprint: is not set".into(),
            )),
        },
        Err(e) => Err(e),
    };
    match found {
        Ok(pin) => Line::ok(
            "collector",
            format!(
                "{url}: its CA matches {} (enroll.ca_fingerprint); not enrolled yet, so no \
                 Hello was sent",
                vigil_proto::pin::format(&pin)
            ),
        ),
        Err(e) => Line::fail("collector", format!("{url}: {e}")),
    }
}

async fn welcome(
    config: &Config,
    hello: &Hello,
    tls: Option<tonic::transport::ClientTlsConfig>,
) -> Result<String, String> {
    let delivery = &config.delivery;
    let mut endpoint = Endpoint::from_shared(config.collector.clone())
        .map_err(|e| {
            format!(
                "not a valid URL: {} (fix collector / --collector)",
                chain(&e)
            )
        })?
        .connect_timeout(delivery.connect_timeout);
    if let Some(tls) = tls {
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|e| format!("TLS settings refused: {} (fix [tls])", chain(&e)))?;
    }
    let channel = endpoint.connect().await.map_err(|e| {
        format!(
            "cannot connect: {} (is the collector running and listening there? check \
             collector / --collector, delivery.connect_timeout and the firewall{})",
            chain(&e),
            if config.collector.starts_with("https://") {
                "; for TLS, tls.ca_file, tls.server_name and the identity line above"
            } else {
                ""
            }
        )
    })?;
    let mut client = IngestClient::new(channel).accept_compressed(CompressionEncoding::Gzip);
    if delivery.compression == Compression::Gzip {
        client = client.send_compressed(CompressionEncoding::Gzip);
    }
    let (tx, rx) = mpsc::channel::<AgentMessage>(1);
    let _ = tx
        .send(AgentMessage {
            kind: Some(AgentKind::Hello(hello.clone())),
        })
        .await;
    let answer = async {
        let mut inbound = client
            .stream(stream::ingest_request(ReceiverStream::new(rx), hello))
            .await?
            .into_inner();
        let first = inbound.message().await?;
        Ok::<_, tonic::Status>((first, inbound))
    };
    let (first, mut inbound) = tokio::time::timeout(delivery.ack_timeout, answer)
        .await
        .map_err(|_| {
            format!(
                "no answer to the Hello within {:?} (delivery.ack_timeout): is this a Vigil \
                 collector, and is it overloaded? see its log",
                delivery.ack_timeout
            )
        })?
        .map_err(|status| refusal(&status, config, &hello.hostname))?;
    let welcome = match first.and_then(|m| m.kind) {
        Some(CollectorKind::Welcome(w)) => w,
        other => {
            return Err(format!(
                "answered the Hello with {other:?} instead of a Welcome: is this a Vigil \
                 collector? see its log"
            ));
        }
    };
    // Close as an agent that has nothing to send: end our side, let the collector end its.
    drop(tx);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), inbound.message()).await;
    Ok(format!(
        "authenticated, host {} (collector {}, protocol {})",
        welcome.host, welcome.collector_version, welcome.protocol
    ))
}

/// A refused Hello as `CODE: message (what to do)`.
fn refusal(status: &tonic::Status, config: &Config, host: &str) -> String {
    let hint = match status.code() {
        Code::Unauthenticated if config.token.is_empty() => {
            "set token or VIGIL_AGENT__TOKEN".to_owned()
        }
        Code::Unauthenticated => "check token or VIGIL_AGENT__TOKEN".to_owned(),
        Code::PermissionDenied => {
            format!("check hostname {host:?} against the token's hosts or the certificate's name")
        }
        Code::InvalidArgument => "fix what the message names in this agent's config".to_owned(),
        Code::ResourceExhausted => "see the collector's log and its limits".to_owned(),
        Code::Unimplemented => "is collector a Vigil collector's gRPC address?".to_owned(),
        Code::Unavailable | Code::Unknown | Code::Cancelled => {
            "see the collector's log; for TLS, check [tls]".to_owned()
        }
        _ => "see the collector's log".to_owned(),
    };
    let message = if status.message().is_empty() {
        match std::error::Error::source(status) {
            Some(source) => chain(source),
            None => "no message".to_owned(),
        }
    } else {
        status.message().to_owned()
    };
    format!("{}: {message} ({hint})", code_name(status.code()))
}

/// The gRPC name of `code`, as the specification spells it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// An error and its sources, `a: b: c`, each said once.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// The collection check: one round from the configured trees.
pub fn collect(config: &Config, collectors: &mut Collectors) -> Vec<Line> {
    let mut sink = Sink::new();
    let round = collectors.collect(&mut sink);
    let series = sink.take_round().0.len();
    let c = &config.collect;
    let trees = format!(
        "{}, {}, {}",
        c.proc_path.display(),
        c.sys_path.display(),
        c.rootfs_path.display()
    );
    let mut lines: Vec<Line> = round
        .errors
        .iter()
        .map(|(source, error)| Line::fail("collect", failed_source(source, error)))
        .collect();
    if round.statfs_timeouts_total > 0 {
        lines.push(Line::warn(
            "collect",
            format!(
                "{} filesystem(s) did not answer statvfs within {:?} (collect.statfs_timeout): \
                 a hung network mount? they are skipped each round until they answer",
                round.statfs_timeouts_total, c.statfs_timeout
            ),
        ));
    }
    if lines.iter().all(|l| l.outcome != Outcome::Fail) {
        lines.insert(0, Line::ok("collect", format!("{trees}: {series} series")));
    }
    lines
}

fn failed_source(source: &str, error: &CollectError) -> String {
    let key = match source {
        "filesystem" => "collect.rootfs_path / --rootfs-path and collect.proc_path",
        "disk" | "network" => "collect.proc_path / --proc-path and collect.sys_path / --sys-path",
        _ => "collect.proc_path / --proc-path",
    };
    format!(
        "{source}: {error} (check {key}, and that the agent's user may read there; the other \
         sources still work)"
    )
}

#[cfg(test)]
mod tests;
