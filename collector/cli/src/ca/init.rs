//! `vigil ca init`: a new CA (or the operator's own) and the collector's server
//! certificate, written into one directory, and the lines to paste into collector.toml.
//!
//! The server certificate lives as long as the CA: both keys sit in the same directory on
//! the collector's host, so a shorter server certificate would guard against nothing and
//! only add a day when every agent stops connecting.
//!
//! `--output json` writes one object:
//!
//! ```text
//!   {"dir":"/etc/vigil/pki","ca_fingerprint":"SHA256:…","own_ca":false,
//!    "ca_subject":"Vigil fleet CA","ca_not_after":2110600200,
//!    "server_names":["web-1","localhost"],"server_ips":["127.0.0.1","::1"],
//!    "files":{"ca_cert":"/etc/vigil/pki/ca.pem","ca_key":"…/ca.key",
//!             "server_cert":"…/server.pem","server_key":"…/server.key"}}
//! ```

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clap::Args;
use serde::Serialize;
use vigil_pki::Ca;

use super::files::{self, File, PUBLIC, SECRET};
use super::{CA_CERT, CaError, default_dir, effective_uid, machine_hostname, read};
use crate::output::{self, Output};

/// How long a new CA (and the server certificate) is valid: ten years.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 86_400);

/// The common name of a new CA unless `--ca-name` says otherwise.
pub const CA_NAME: &str = "Vigil fleet CA";

/// The collector's gRPC port unless `server.grpc_listen` says otherwise.
pub const GRPC_PORT: u16 = 7070;

/// `vigil ca init`.
#[derive(Debug, Args)]
#[command(
    after_help = "To use your own CA instead of making one, give its certificate \
    with --ca-cert FILE and its key with --ca-key FILE: both are copied into DIR and only \
    the server certificate is made. The same with DIR's own ca.pem and ca.key and --force \
    re-issues the server certificate (for new --name or --ip) and keeps the CA."
)]
pub struct InitArgs {
    /// Directory to write ca.pem, ca.key, server.pem and server.key into [default:
    /// /etc/vigil/pki as root, else ./vigil-pki]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// DNS name agents reach the collector at, for its certificate; repeat for more
    /// [default: this machine's host name and localhost]
    #[arg(long = "name", value_name = "NAME", value_parser = parse_name)]
    pub names: Vec<String>,

    /// IP address agents reach the collector at, for its certificate; repeat for more
    /// [default: 127.0.0.1 and ::1]
    #[arg(long = "ip", value_name = "IP")]
    pub ips: Vec<IpAddr>,

    /// Common name of the new CA
    #[arg(long, value_name = "CN", default_value = CA_NAME, conflicts_with = "ca_key")]
    pub ca_name: String,

    /// Private key (PEM, PKCS#8) of your own CA, whose certificate --ca-cert gives
    // `run` checks that --ca-cert is given too: clap's `requires` does not see a global
    // --ca-cert given before `ca init`.
    #[arg(long, value_name = "PEM")]
    pub ca_key: Option<PathBuf>,

    /// Replace files that exist (a new CA breaks every agent's pin: they must join again)
    #[arg(long)]
    pub force: bool,
}

/// `--name`: a DNS name, as TLS checks them.
fn parse_name(text: &str) -> Result<String, String> {
    if vigil_pki::is_dns_name(text) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text:?} is not a DNS name (letters, digits, - and . only); give addresses with --ip"
        ))
    }
}

/// Makes (or copies) the CA, issues the server certificate, writes the four files and
/// prints what to do next. `ca_cert` is the global `--ca-cert`.
pub fn run(
    args: &InitArgs,
    ca_cert: Option<&Path>,
    output: Output,
    now: SystemTime,
) -> anyhow::Result<()> {
    let dir = args.dir.clone().unwrap_or_else(default_dir);
    let names = if args.names.is_empty() {
        default_names(machine_hostname())
    } else {
        args.names.clone()
    };
    let ips = if args.ips.is_empty() {
        vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]
    } else {
        args.ips.clone()
    };
    let ca = match (&args.ca_key, ca_cert) {
        (Some(key), Some(cert)) => {
            let loaded = Ca::load(&read("--ca-cert", cert)?, &read("--ca-key", key)?);
            loaded.map_err(|error| CaError::Pki {
                what: format!(
                    "--ca-cert {} with --ca-key {}",
                    cert.display(),
                    key.display()
                ),
                error,
            })?
        }
        (Some(_), None) => {
            return Err(CaError::Usage(
                "--ca-key needs --ca-cert FILE: the certificate of your own CA".to_owned(),
            )
            .into());
        }
        (None, _) => {
            Ca::generate(&args.ca_name, CA_VALIDITY, now).map_err(|error| CaError::Pki {
                what: "--ca-name".to_owned(),
                error,
            })?
        }
    };
    let (chain, key) = ca
        .server_certificate(&names, &ips, CA_VALIDITY, now)
        .map_err(|error| CaError::Pki {
            what: "the server certificate (--name, --ip)".to_owned(),
            error,
        })?;
    let planned = [
        File {
            name: CA_CERT,
            contents: ca.cert_pem().to_owned(),
            mode: PUBLIC,
        },
        File {
            name: "ca.key",
            contents: ca.key_pem(),
            mode: SECRET,
        },
        File {
            name: "server.pem",
            contents: chain.clone(),
            mode: PUBLIC,
        },
        File {
            name: "server.key",
            contents: key,
            mode: SECRET,
        },
    ];
    if !args.force {
        let existing = files::existing(&dir, &planned);
        if !existing.is_empty() {
            return Err(CaError::Exists {
                dir,
                files: existing,
            }
            .into());
        }
    }
    files::create_dir(&dir)?;
    for file in &planned {
        files::write(&dir, file, args.force)?;
    }
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    let ca_info = vigil_pki::cert_info(ca.cert_der())?;
    let summary = Summary {
        dir: dir.display().to_string(),
        ca_fingerprint: ca.fingerprint(),
        own_ca: args.ca_key.is_some(),
        ca_subject: ca_info.subject_cn.unwrap_or_default(),
        ca_not_after: output::unix_seconds(ca_info.not_after_ms),
        server_names: names,
        server_ips: ips.iter().map(IpAddr::to_string).collect(),
        files: Paths::in_dir(&dir),
    };
    let mut out = output::stdout();
    render(
        &summary,
        output,
        effective_uid() == Some(0) && collector_user_exists(),
        &mut out,
    )
    .map_err(crate::Error::from)?;
    out.flush().map_err(crate::Error::from)?;
    Ok(())
}

/// The machine's host name (when it is a DNS name) and `localhost`.
pub(super) fn default_names(hostname: Option<String>) -> Vec<String> {
    let mut names = Vec::new();
    match hostname {
        Some(host) if vigil_pki::is_dns_name(&host) => names.push(host),
        Some(host) => eprintln!(
            "note: this machine's host name {host:?} is not a DNS name, so the certificate \
             does not carry it; give the collector's names with --name"
        ),
        None => {}
    }
    if !names.iter().any(|n| n == "localhost") {
        names.push("localhost".to_owned());
    }
    names
}

/// Whether the user the collector package runs as (`vigil`) exists here.
fn collector_user_exists() -> bool {
    std::fs::read_to_string("/etc/passwd")
        .is_ok_and(|passwd| passwd.lines().any(|l| l.starts_with("vigil:")))
}

/// What `ca init` did, as `--output json` writes it.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub(super) dir: String,
    pub(super) ca_fingerprint: String,
    pub(super) own_ca: bool,
    pub(super) ca_subject: String,
    pub(super) ca_not_after: serde_json::Number,
    pub(super) server_names: Vec<String>,
    pub(super) server_ips: Vec<String>,
    pub(super) files: Paths,
}

/// The four files' paths.
#[derive(Debug, Serialize)]
pub(super) struct Paths {
    ca_cert: String,
    ca_key: String,
    server_cert: String,
    server_key: String,
}

impl Paths {
    /// The files' paths in `dir`.
    pub(super) fn in_dir(dir: &Path) -> Paths {
        let path = |name: &str| dir.join(name).display().to_string();
        Paths {
            ca_cert: path(CA_CERT),
            ca_key: path("ca.key"),
            server_cert: path("server.pem"),
            server_key: path("server.key"),
        }
    }
}

/// Column names of `--output csv`: the JSON keys, `files` flattened.
const CSV_HEADER: [&str; 11] = [
    "dir",
    "ca_fingerprint",
    "own_ca",
    "ca_subject",
    "ca_not_after",
    "server_names",
    "server_ips",
    "ca_cert_file",
    "ca_key_file",
    "server_cert_file",
    "server_key_file",
];

/// Writes the summary; the table form is the next steps for a person. `chown_hint`: say
/// that the collector's user must be able to read the keys (root made them).
pub fn render(
    s: &Summary,
    output: Output,
    chown_hint: bool,
    w: &mut dyn Write,
) -> std::io::Result<()> {
    match output {
        Output::Json => output::write_json(w, s),
        Output::Csv => output::write_csv(
            w,
            &CSV_HEADER,
            [vec![
                s.dir.clone(),
                s.ca_fingerprint.clone(),
                s.own_ca.to_string(),
                s.ca_subject.clone(),
                s.ca_not_after.to_string(),
                s.server_names.join(";"),
                s.server_ips.join(";"),
                s.files.ca_cert.clone(),
                s.files.ca_key.clone(),
                s.files.server_cert.clone(),
                s.files.server_key.clone(),
            ]],
        ),
        Output::Table => table(s, chown_hint, w),
    }
}

fn table(s: &Summary, chown_hint: bool, w: &mut dyn Write) -> std::io::Result<()> {
    let f = &s.files;
    let ca = if s.own_ca {
        format!("your CA's certificate ({:?})", s.ca_subject)
    } else {
        format!("the new CA's certificate ({:?})", s.ca_subject)
    };
    let mut subjects = s.server_names.clone();
    subjects.extend(s.server_ips.iter().cloned());
    let width = [&f.ca_cert, &f.ca_key, &f.server_cert, &f.server_key]
        .iter()
        .map(|p| p.len())
        .max()
        .unwrap_or(0);
    let wrote =
        |w: &mut dyn Write, path: &str, what: &str| writeln!(w, "wrote {path:<width$}   {what}");
    wrote(w, &f.ca_cert, &ca)?;
    wrote(w, &f.ca_key, "the CA's key (mode 0600: keep it secret)")?;
    wrote(
        w,
        &f.server_cert,
        &format!(
            "the collector's certificate for {}, then the CA's",
            subjects.join(", ")
        ),
    )?;
    wrote(w, &f.server_key, "the collector's key (mode 0600)")?;
    writeln!(w)?;
    writeln!(w, "CA fingerprint: {}", s.ca_fingerprint)?;
    writeln!(w)?;
    writeln!(
        w,
        "Add to the collector's config (/etc/vigil/collector.toml), then restart it:"
    )?;
    writeln!(w)?;
    writeln!(w, "[tls]")?;
    writeln!(w, "cert_file = {:?}", f.server_cert)?;
    writeln!(w, "key_file = {:?}", f.server_key)?;
    writeln!(w, "client_ca_file = {:?}", f.ca_cert)?;
    writeln!(w)?;
    writeln!(w, "[enroll]")?;
    writeln!(w, "ca_cert_file = {:?}", f.ca_cert)?;
    writeln!(w, "ca_key_file = {:?}", f.ca_key)?;
    writeln!(w)?;
    if chown_hint {
        writeln!(
            w,
            "The collector runs as user vigil: let it read the keys with\n\
             chown -R vigil:vigil {}\n",
            s.dir
        )?;
    }
    let host = subjects.first().map_or("COLLECTOR", String::as_str);
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    writeln!(
        w,
        "Then create a join token (vigil enroll create --hosts 'web-*' --ttl 24h) and start \
         each agent with:"
    )?;
    writeln!(w)?;
    writeln!(
        w,
        "vigil-agent --join TOKEN --collector https://{host}:{GRPC_PORT} --ca-fingerprint {}",
        s.ca_fingerprint
    )
}
