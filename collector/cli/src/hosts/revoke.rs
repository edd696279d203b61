//! `vigil hosts revoke|unrevoke HOST`: the Enroll service's RevokeHost and UnrevokeHost.
//!
//! `--output json` writes `{"host":…,"revoked":true|false,"ended_streams":1,"identity":{…}}`
//! (`ended_streams` only for revoke; `identity` as `vigil hosts` writes it, null when the
//! collector sent none).

use std::io::{self, Write};

use serde::Serialize;
use vigil_proto::v1::enroll_client::EnrollClient;
use vigil_proto::v1::{HostIdentity, RevokeHostRequest, UnrevokeHostRequest};

use super::record::IdentityRecord;
use super::short_serial;
use crate::client::{Collector, Target};
use crate::enroll::refused;
use crate::error::Error;
use crate::output::{self, Output};

/// What the collector answered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// The host.
    pub host: String,
    /// Whether it is now revoked (revoke) or not (unrevoke).
    pub revoked: bool,
    /// Streams that were open and were ended (revoke only).
    pub ended_streams: Option<u32>,
    /// Its latest identity, when the collector sent it.
    pub identity: Option<HostIdentity>,
}

/// Revokes (`revoke`) or un-revokes `host` and prints the outcome.
pub async fn run(target: &Target, host: &str, revoke: bool, output: Output) -> Result<(), Error> {
    let outcome = execute(target, host, revoke).await?;
    let mut out = output::stdout();
    render(&outcome, output, &mut out)?;
    Ok(out.flush()?)
}

/// Revokes (`revoke`) or un-revokes `host` on the collector.
pub async fn execute(target: &Target, host: &str, revoke: bool) -> Result<Outcome, Error> {
    let collector = Collector::connect(target).await?;
    let mut client = EnrollClient::new(collector.channel());
    let outcome = if revoke {
        let response = client
            .revoke_host(RevokeHostRequest {
                host: host.to_owned(),
            })
            .await
            .map_err(|s| refused(target, s))?
            .into_inner();
        Outcome {
            host: host.to_owned(),
            revoked: true,
            ended_streams: Some(response.ended_streams),
            identity: response.identity,
        }
    } else {
        let response = client
            .unrevoke_host(UnrevokeHostRequest {
                host: host.to_owned(),
            })
            .await
            .map_err(|s| refused(target, s))?
            .into_inner();
        Outcome {
            host: host.to_owned(),
            revoked: false,
            ended_streams: None,
            identity: response.identity,
        }
    };
    Ok(outcome)
}

#[derive(Serialize)]
struct Record<'a> {
    host: &'a str,
    revoked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    ended_streams: Option<u32>,
    identity: Option<IdentityRecord<'a>>,
}

/// Writes the outcome: for people, one sentence of what it means and what next.
pub fn render(o: &Outcome, output: Output, w: &mut dyn Write) -> io::Result<()> {
    let record = Record {
        host: &o.host,
        revoked: o.revoked,
        ended_streams: o.ended_streams,
        identity: o.identity.as_ref().map(IdentityRecord::new),
    };
    match output {
        Output::Json => output::write_json(w, &record),
        Output::Csv => {
            let mut header = vec!["host", "revoked", "ended_streams"];
            header.extend(&super::record::CSV_HEADER[15..]);
            let mut row = vec![
                record.host.to_owned(),
                record.revoked.to_string(),
                record
                    .ended_streams
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
            ];
            match &record.identity {
                Some(identity) => row.extend(identity.csv_cells()),
                None => row.extend(std::iter::repeat_n(String::new(), 8)),
            }
            output::write_csv(w, &header, [row])
        }
        Output::Table if o.revoked => {
            let serial = o
                .identity
                .as_ref()
                .map(|id| id.serial.as_str())
                .filter(|serial| !serial.is_empty());
            let Some(serial) = serial else {
                return writeln!(
                    w,
                    "revoked {}: it has no certificate from this collector, and cannot join \
                     until `vigil hosts unrevoke {}`",
                    o.host, o.host
                );
            };
            let streams = match o.ended_streams.unwrap_or(0) {
                0 => "it had no open stream".to_owned(),
                1 => "its open stream was ended".to_owned(),
                n => format!("its {n} open streams were ended"),
            };
            writeln!(
                w,
                "revoked {}: its certificates (latest {}) are refused from now on and {streams}; \
                 `vigil hosts unrevoke {}` lets it join again with a new token",
                o.host,
                short_serial(serial),
                o.host
            )
        }
        Output::Table => writeln!(
            w,
            "{} may join again with a new join token (vigil enroll create --hosts {} --ttl \
             1h); its old certificates stay revoked",
            o.host, o.host
        ),
    }
}
