//! `vigil enroll create|list|revoke`: join tokens on the collector's Enroll service.
//!
//! ```text
//! vigil enroll create --hosts 'web-*' [--hosts 'db-?',…] --ttl 24h [--uses N] [--replace] [--description TEXT]
//!     the token, once, and the vigil-agent command line that joins with it
//! vigil enroll list                  every token (never a secret): hosts, state, uses
//! vigil enroll revoke ID|TOKEN       it enrolls no more hosts
//! ```
//!
//! Creating and revoking tokens needs an admin token (`--token`, `VIGIL_TOKEN`), listing
//! a read token. The collector keeps only a hash of each secret: a lost token cannot be
//! shown again, only revoked and replaced. `vigil enroll revoke` sends only a token's id,
//! even when given the whole token.

#[cfg(test)]
pub(crate) mod fake;
mod render;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use vigil_proto::v1::enroll_client::EnrollClient;
use vigil_proto::v1::{CreateTokenRequest, JoinToken, ListTokensRequest, RevokeTokenRequest};

use super::client::{Collector, Target};
use super::error::Error;
use super::output::{self, Output};
use super::{ca, time};

pub use render::{Created, render_created, render_revoked, render_tokens};

/// `vigil enroll [create … | list | revoke ID]`.
#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// What to do; without one, list the tokens.
    #[command(subcommand)]
    pub action: Option<EnrollAction>,
}

/// The actions of `vigil enroll`.
#[derive(Debug, Subcommand)]
pub enum EnrollAction {
    /// Create a join token for hosts matching patterns; prints it (only this once)
    Create(CreateArgs),
    /// List join tokens, without their secrets (the default)
    List,
    /// Revoke a join token: it enrolls no more hosts (certificates it issued stay valid)
    Revoke {
        /// The token's id as `vigil enroll list` shows it, or the whole token
        #[arg(value_name = "ID|TOKEN")]
        id: String,
    },
}

/// `vigil enroll create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Host name patterns the token may enroll (`*` any run of characters, `?` one);
    /// repeat the flag or separate with commas
    #[arg(long = "hosts", value_name = "PATTERN", required = true, value_delimiter = ',', value_parser = parse_pattern)]
    pub hosts: Vec<String>,

    /// How long the token is valid, such as 1h, 24h or 7d
    #[arg(long, value_name = "DURATION", value_parser = parse_ttl)]
    pub ttl: Duration,

    /// How many hosts it may enroll [default: any number until it expires]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub uses: Option<u32>,

    /// Let it enroll a host that already has a valid certificate (a reinstalled host)
    #[arg(long)]
    pub replace: bool,

    /// Free text shown by `vigil enroll list`
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub description: String,

    /// The fleet CA's certificate, for the fingerprint in the printed agent command
    /// [default: --ca-cert, else ca.pem of vigil ca init's directory if there is one]
    #[arg(long, value_name = "FILE", conflicts_with = "ca_dir")]
    pub ca_file: Option<PathBuf>,

    /// The directory vigil ca init wrote (its ca.pem gives the fingerprint)
    #[arg(long, value_name = "DIR")]
    pub ca_dir: Option<PathBuf>,
}

/// A host pattern: not empty, no blanks.
fn parse_pattern(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("a host pattern is empty: give a name or a pattern such as 'web-*'".to_owned());
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{text:?} has blanks in it: host names have none (separate patterns with commas)"
        ));
    }
    Ok(text.to_owned())
}

/// `--ttl`: a positive duration (humantime: `90m`, `24h`, `7d`, `1h 30m`).
fn parse_ttl(text: &str) -> Result<Duration, String> {
    let ttl = humantime::parse_duration(text).map_err(|_| {
        format!("{text:?} is not a duration: use a number and a unit, like 30m, 24h or 7d")
    })?;
    if ttl.is_zero() {
        return Err(format!(
            "{text:?} is no time at all: give how long the token is valid, like 24h"
        ));
    }
    Ok(ttl)
}

/// Runs one `vigil enroll` action and prints the answer.
pub async fn run(target: &Target, args: &EnrollArgs, output: Output) -> Result<(), Error> {
    let answer = execute(target, args).await?;
    let now = time::now_ms();
    let mut out = output::stdout();
    match &answer {
        Answer::Created(created) => render_created(created, output, now, &mut out)?,
        Answer::Tokens(tokens) if tokens.is_empty() && output == Output::Table => eprintln!(
            "no join token yet: `vigil enroll create --hosts PATTERN --ttl 24h` makes one"
        ),
        Answer::Tokens(tokens) => render_tokens(tokens, output, now, &mut out)?,
        Answer::Revoked(token) => render_revoked(token, output, now, &mut out)?,
    }
    Ok(out.flush()?)
}

/// What the collector answered to a `vigil enroll` action.
#[derive(Debug)]
pub enum Answer {
    /// `create`: the new token.
    Created(Created),
    /// `list`: every token.
    Tokens(Vec<JoinToken>),
    /// `revoke`: the token revoked.
    Revoked(JoinToken),
}

/// Sends one `vigil enroll` action to the collector.
pub async fn execute(target: &Target, args: &EnrollArgs) -> Result<Answer, Error> {
    // Read the CA file before anything is created, so a wrong path creates no token.
    let fingerprint = match &args.action {
        Some(EnrollAction::Create(create)) => ca_fingerprint(create, target.ca_cert.as_deref())?,
        _ => None,
    };
    let collector = Collector::connect(target).await?;
    let mut client = EnrollClient::new(collector.channel());
    Ok(match &args.action {
        Some(EnrollAction::Create(create)) => {
            let request = CreateTokenRequest {
                hosts: create.hosts.clone(),
                ttl_ms: time::duration_ms(create.ttl),
                uses: create.uses.unwrap_or(0),
                replace: create.replace,
                description: create.description.clone(),
            };
            let response = client
                .create_token(request)
                .await
                .map_err(|s| refused(target, s))?
                .into_inner();
            Answer::Created(Created {
                token: response.token,
                info: response.info.unwrap_or_default(),
                ca_fingerprint: fingerprint,
                collector: agent_url(&target.url, ca::machine_hostname()),
            })
        }
        None | Some(EnrollAction::List) => Answer::Tokens(
            client
                .list_tokens(ListTokensRequest {})
                .await
                .map_err(|s| refused(target, s))?
                .into_inner()
                .tokens,
        ),
        Some(EnrollAction::Revoke { id }) => {
            let request = RevokeTokenRequest {
                id: token_id(id).to_owned(),
            };
            Answer::Revoked(
                client
                    .revoke_token(request)
                    .await
                    .map_err(|s| refused(target, s))?
                    .into_inner()
                    .token
                    .unwrap_or_default(),
            )
        }
    })
}

/// The id of `text`: the `<id>` of a whole token `vjt.<id>.<secret>` (so the secret does
/// not travel), else `text` itself.
pub fn token_id(text: &str) -> &str {
    let text = text.trim();
    match text
        .strip_prefix("vjt.")
        .and_then(|rest| rest.split_once('.'))
    {
        Some((id, _secret)) => id,
        None => text,
    }
}

/// The CA fingerprint for the agent's command line: from `--ca-file` or `--ca-dir` (which
/// must be readable), else from the global `--ca-cert` or the default `vigil ca init`
/// directory when they can be read; `None` when nothing tells.
fn ca_fingerprint(args: &CreateArgs, ca_cert: Option<&Path>) -> Result<Option<String>, Error> {
    let explicit = match (&args.ca_file, &args.ca_dir) {
        (Some(file), _) => Some(("--ca-file", file.clone())),
        (None, Some(dir)) => Some(("--ca-dir", dir.join(ca::CA_CERT))),
        (None, None) => None,
    };
    if let Some((flag, path)) = explicit {
        let pem = std::fs::read_to_string(&path).map_err(|e| {
            Error::from(tonic::Status::invalid_argument(format!(
                "{flag}: cannot read {}: {e}; give the fleet CA's certificate (ca.pem of `vigil \
                 ca init`)",
                path.display()
            )))
        })?;
        return first_fingerprint(&pem).map(Some).map_err(|e| {
            Error::from(tonic::Status::invalid_argument(format!(
                "{flag} {}: {e}",
                path.display()
            )))
        });
    }
    let implicit = ca_cert
        .map(Path::to_owned)
        .into_iter()
        .chain([ca::default_dir().join(ca::CA_CERT)]);
    Ok(implicit
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .find_map(|pem| first_fingerprint(&pem).ok()))
}

/// The fingerprint of the first certificate in `pem`.
fn first_fingerprint(pem: &str) -> Result<String, vigil_pki::PkiError> {
    let der = vigil_pki::pem_certificates(pem)?.remove(0);
    Ok(vigil_pki::cert_info(&der)?.fingerprint)
}

/// The collector URL agents join: `--collector` when it is an `https://` URL that names
/// the collector from anywhere; else `https://` with this machine's host name (vigil is
/// usually run on the collector's host) and the same port (default 7070).
pub fn agent_url(collector: &str, hostname: Option<String>) -> String {
    let with_scheme = if collector.contains("://") {
        collector.to_owned()
    } else {
        format!("http://{collector}")
    };
    let uri: Option<tonic::transport::Uri> = with_scheme.parse().ok();
    let port = uri
        .as_ref()
        .and_then(|u| u.port_u16())
        .unwrap_or(ca::GRPC_PORT);
    if let Some(uri) = &uri
        && uri.scheme_str() == Some("https")
        && let Some(host) = uri.host()
        && !is_loopback(host)
    {
        return format!("https://{host}:{port}");
    }
    let host = hostname
        .filter(|h| vigil_pki::is_dns_name(h))
        .unwrap_or_else(|| "COLLECTOR-HOST".to_owned());
    format!("https://{host}:{port}")
}

/// Whether a URL's host (`[::1]` bracketed as in URLs) is this machine only.
fn is_loopback(host: &str) -> bool {
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || ip
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// The error for a refused Enroll call: a collector without the service, or a token
/// whose role does not allow the call, gets a message saying what to do.
pub fn refused(target: &Target, status: tonic::Status) -> Error {
    match status.code() {
        tonic::Code::Unimplemented if status.message().is_empty() => {
            Error::from(tonic::Status::unimplemented(format!(
                "the collector at {} has no enrollment service: it is older than this vigil; \
                 upgrade vigil-collector",
                target.url
            )))
        }
        tonic::Code::PermissionDenied => {
            let said = if status.message().is_empty() {
                "the collector refused this command"
            } else {
                status.message()
            };
            let what = match &target.token {
                Some(token) => format!(
                    "the role of the token from {} does not allow it",
                    token.source
                ),
                None => "pass an admin token with --token or VIGIL_TOKEN".to_owned(),
            };
            Error::from(tonic::Status::permission_denied(format!(
                "{said}\n(creating and revoking join tokens and revoking hosts need an admin \
                 token, listing them a read token: {what})"
            )))
        }
        _ => target.refusal(status),
    }
}

/// `2026-11-21 05:50:00 UTC (in 2h)` or `… (10m ago)`.
pub fn when(ms: i64, now_ms: i64) -> String {
    let at = time::format_utc(ms);
    let at = at.get(..19).unwrap_or(&at).to_owned();
    if ms > now_ms {
        format!("{at} UTC ({})", super::alerts::format_in(ms, now_ms))
    } else {
        format!("{at} UTC ({})", time::format_ago(ms, now_ms))
    }
}

#[cfg(test)]
mod tests;
