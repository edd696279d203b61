//! How `vigil enroll` prints tokens: the new token with the agent's command line, the
//! list as a table, and the JSON and CSV records.
//!
//! `--output json`:
//!
//! ```text
//! create:  {"token":"vjt.…","id":"0123456789ab","hosts":["web-*"],"expires":1795326600,
//!           "uses":0,"replace":false,"description":"","ca_fingerprint":"SHA256:…"|null,
//!           "collector":"https://collector-1:7070"}
//! list:    [{"id":"0123456789ab","hosts":["web-*"],"state":"active"|"expired"|"used up"|"revoked",
//!            "created":…,"expires":…,"uses":0,"used":2,"replace":false,
//!            "description":"","created_by":"admin","revoked":null}]
//! revoke:  the revoked token, in a list of one as list writes it
//! ```
//!
//! Times are Unix seconds; `uses` 0 means any number of hosts.

use std::io::{self, Write};

use serde::Serialize;
use vigil_proto::v1::JoinToken;

use super::when;
use crate::output::{self, Output};
use crate::time;

/// A token just created, and what the agent's command line needs.
#[derive(Debug, Clone)]
pub struct Created {
    /// The whole token, `vjt.<id>.<secret>`.
    pub token: String,
    /// What the collector stored about it.
    pub info: JoinToken,
    /// The CA fingerprint agents pin, when this machine can tell.
    pub ca_fingerprint: Option<String>,
    /// The collector URL agents join.
    pub collector: String,
}

/// A new token as `--output json` writes it.
#[derive(Serialize)]
struct CreatedRecord<'a> {
    token: &'a str,
    id: &'a str,
    hosts: &'a [String],
    expires: serde_json::Number,
    uses: u32,
    replace: bool,
    description: &'a str,
    ca_fingerprint: Option<&'a str>,
    collector: &'a str,
}

/// Column names of `create --output csv`: the JSON keys, hosts joined with `;`.
const CREATED_HEADER: [&str; 9] = [
    "token",
    "id",
    "hosts",
    "expires",
    "uses",
    "replace",
    "description",
    "ca_fingerprint",
    "collector",
];

/// Writes a new token: for people, the token set apart and the command that joins with it.
pub fn render_created(
    c: &Created,
    output: Output,
    now_ms: i64,
    w: &mut dyn Write,
) -> io::Result<()> {
    let record = CreatedRecord {
        token: &c.token,
        id: &c.info.id,
        hosts: &c.info.hosts,
        expires: output::unix_seconds(c.info.expires_ms),
        uses: c.info.uses,
        replace: c.info.replace,
        description: &c.info.description,
        ca_fingerprint: c.ca_fingerprint.as_deref(),
        collector: &c.collector,
    };
    match output {
        Output::Json => output::write_json(w, &record),
        Output::Csv => output::write_csv(
            w,
            &CREATED_HEADER,
            [vec![
                record.token.to_owned(),
                record.id.to_owned(),
                record.hosts.join(";"),
                record.expires.to_string(),
                record.uses.to_string(),
                record.replace.to_string(),
                record.description.to_owned(),
                record.ca_fingerprint.unwrap_or_default().to_owned(),
                record.collector.to_owned(),
            ]],
        ),
        Output::Table => {
            writeln!(
                w,
                "Join token (shown only now: the collector keeps only its hash):\n\n    {}\n",
                c.token
            )?;
            let line = |w: &mut dyn Write, key: &str, value: &str| writeln!(w, "{key:<9} {value}");
            line(w, "ID", &c.info.id)?;
            line(w, "HOSTS", &c.info.hosts.join(", "))?;
            line(w, "EXPIRES", &when(c.info.expires_ms, now_ms))?;
            line(w, "USES", &uses(c.info.uses))?;
            if c.info.replace {
                line(
                    w,
                    "REPLACE",
                    "yes: may enroll a host that has a valid certificate",
                )?;
            }
            if !c.info.description.is_empty() {
                line(w, "NOTE", &c.info.description)?;
            }
            let fingerprint = c.ca_fingerprint.as_deref().unwrap_or("<CA-FINGERPRINT>");
            writeln!(w, "\nOn each host, start the agent with:\n")?;
            writeln!(
                w,
                "    vigil-agent --join {} --collector {} --ca-fingerprint {fingerprint}",
                c.token, c.collector
            )?;
            if c.ca_fingerprint.is_none() {
                writeln!(
                    w,
                    "\n<CA-FINGERPRINT> is the SHA256:… line `vigil ca show` prints on the \
                     collector's host (or pass --ca-file ca.pem here to fill it in)"
                )?;
            }
            Ok(())
        }
    }
}

/// `any` for 0, else the number of hosts.
fn uses(uses: u32) -> String {
    match uses {
        0 => "any number of hosts until it expires".to_owned(),
        1 => "1 host".to_owned(),
        n => format!("{n} hosts"),
    }
}

/// A token's state at `now_ms`: revoked, expired, used up or active.
pub fn state(t: &JoinToken, now_ms: i64) -> &'static str {
    if t.revoked_ms > 0 {
        "revoked"
    } else if t.expires_ms <= now_ms {
        "expired"
    } else if t.uses > 0 && t.used >= t.uses {
        "used up"
    } else {
        "active"
    }
}

/// A token as `list --output json` writes it.
#[derive(Serialize)]
struct TokenRecord<'a> {
    id: &'a str,
    hosts: &'a [String],
    state: &'static str,
    created: serde_json::Number,
    expires: serde_json::Number,
    uses: u32,
    used: u32,
    replace: bool,
    description: &'a str,
    created_by: &'a str,
    revoked: Option<serde_json::Number>,
}

impl<'a> TokenRecord<'a> {
    fn new(t: &'a JoinToken, now_ms: i64) -> Self {
        TokenRecord {
            id: &t.id,
            hosts: &t.hosts,
            state: state(t, now_ms),
            created: output::unix_seconds(t.created_ms),
            expires: output::unix_seconds(t.expires_ms),
            uses: t.uses,
            used: t.used,
            replace: t.replace,
            description: &t.description,
            created_by: &t.created_by,
            revoked: (t.revoked_ms > 0).then(|| output::unix_seconds(t.revoked_ms)),
        }
    }

    fn csv_row(&self) -> Vec<String> {
        vec![
            self.id.to_owned(),
            self.hosts.join(";"),
            self.state.to_owned(),
            self.created.to_string(),
            self.expires.to_string(),
            self.uses.to_string(),
            self.used.to_string(),
            self.replace.to_string(),
            self.description.to_owned(),
            self.created_by.to_owned(),
            self.revoked
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        ]
    }
}

/// Column names of `list --output csv`: the JSON keys, in the same order.
const TOKEN_HEADER: [&str; 11] = [
    "id",
    "hosts",
    "state",
    "created",
    "expires",
    "uses",
    "used",
    "replace",
    "description",
    "created_by",
    "revoked",
];

/// Writes join tokens; `now_ms` anchors states and relative times.
pub fn render_tokens(
    tokens: &[JoinToken],
    output: Output,
    now_ms: i64,
    w: &mut dyn Write,
) -> io::Result<()> {
    let records = tokens.iter().map(|t| TokenRecord::new(t, now_ms));
    match output {
        Output::Json => output::write_json(w, &records.collect::<Vec<_>>()),
        Output::Csv => output::write_csv(w, &TOKEN_HEADER, records.map(|r| r.csv_row())),
        Output::Table => {
            let mut table = output::table(
                &[
                    "ID",
                    "HOSTS",
                    "STATE",
                    "EXPIRES",
                    "USED",
                    "CREATED",
                    "BY",
                    "DESCRIPTION",
                ],
                &[4],
            );
            for t in tokens {
                let expires = if t.expires_ms > now_ms {
                    super::super::alerts::format_in(t.expires_ms, now_ms)
                } else {
                    time::format_ago(t.expires_ms, now_ms)
                };
                let used = match t.uses {
                    0 => format!("{}/any", t.used),
                    n => format!("{}/{n}", t.used),
                };
                let state = match (state(t, now_ms), t.replace) {
                    ("active", true) => "active, replaces".to_owned(),
                    (state, _) => state.to_owned(),
                };
                table.add_row(vec![
                    t.id.clone(),
                    t.hosts.join(","),
                    state,
                    expires,
                    used,
                    time::format_ago(t.created_ms, now_ms),
                    t.created_by.clone(),
                    t.description.clone(),
                ]);
            }
            output::write_table(w, &table)
        }
    }
}

/// Writes a token just revoked: for people, one line saying what it means.
pub fn render_revoked(
    t: &JoinToken,
    output: Output,
    now_ms: i64,
    w: &mut dyn Write,
) -> io::Result<()> {
    match output {
        Output::Table => writeln!(
            w,
            "revoked join token {} ({}): it enrolls no more hosts; the certificates it issued \
             stay valid (`vigil hosts revoke HOST` ends a host's)",
            t.id,
            t.hosts.join(", ")
        ),
        _ => render_tokens(std::slice::from_ref(t), output, now_ms, w),
    }
}
