//! `vigil ca show`: the subject, validity and fingerprint of every certificate in a PEM
//! file: the CA (`ca.pem`, the default), a bundle of CAs while rotating, or a chain such
//! as `server.pem`.
//!
//! `--output json` writes an array with one object per certificate:
//!
//! ```text
//!   [{"file":"/etc/vigil/pki/ca.pem","subject":"Vigil fleet CA","issuer":"Vigil fleet CA",
//!     "serial":"5b1f…","ca":true,"not_before":1795236600,"not_after":2110600200,
//!     "fingerprint":"SHA256:…"}]
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use clap::Args;
use serde::Serialize;
use vigil_pki::CertInfo;

use super::{CA_CERT, CaError, default_dir, read};
use crate::enroll::when;
use crate::output::{self, Output};

/// `vigil ca show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Certificate file (PEM) to show [default: ca.pem in --dir]
    #[arg(value_name = "FILE", conflicts_with = "dir")]
    pub file: Option<PathBuf>,

    /// Directory `vigil ca init` wrote [default: /etc/vigil/pki as root, else ./vigil-pki]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The file to show: FILE, else `--dir`'s ca.pem, else the global `--ca-cert`, else the
/// default directory's ca.pem.
pub fn file(args: &ShowArgs, ca_cert: Option<&Path>) -> PathBuf {
    if let Some(file) = &args.file {
        return file.clone();
    }
    if let Some(dir) = &args.dir {
        return dir.join(CA_CERT);
    }
    ca_cert.map_or_else(|| default_dir().join(CA_CERT), Path::to_owned)
}

/// Reads the file and prints its certificates.
pub fn run(
    args: &ShowArgs,
    ca_cert: Option<&Path>,
    output: Output,
    now: SystemTime,
) -> anyhow::Result<()> {
    let path = file(args, ca_cert);
    let pem = read("the certificate file", &path)?;
    let pki = |error| CaError::Pki {
        what: path.display().to_string(),
        error,
    };
    let infos: Vec<CertInfo> = vigil_pki::pem_certificates(&pem)
        .and_then(|ders| ders.iter().map(|der| vigil_pki::cert_info(der)).collect())
        .map_err(pki)?;
    let now_ms = crate::time::duration_ms(now.duration_since(SystemTime::UNIX_EPOCH)?);
    let mut out = output::stdout();
    render(&path, &infos, output, now_ms, &mut out).map_err(crate::Error::from)?;
    out.flush().map_err(crate::Error::from)?;
    Ok(())
}

/// One certificate as `--output json` writes it.
#[derive(Serialize)]
struct Record<'a> {
    file: String,
    subject: Option<&'a str>,
    issuer: Option<&'a str>,
    serial: &'a str,
    ca: bool,
    not_before: serde_json::Number,
    not_after: serde_json::Number,
    fingerprint: &'a str,
}

/// Column names of `--output csv`: the JSON keys.
const CSV_HEADER: [&str; 8] = [
    "file",
    "subject",
    "issuer",
    "serial",
    "ca",
    "not_before",
    "not_after",
    "fingerprint",
];

/// Writes the certificates of `path`; `now_ms` anchors "in 3650d" and "2h ago".
pub fn render(
    path: &Path,
    infos: &[CertInfo],
    output: Output,
    now_ms: i64,
    w: &mut dyn Write,
) -> std::io::Result<()> {
    let records = infos.iter().map(|info| Record {
        file: path.display().to_string(),
        subject: info.subject_cn.as_deref(),
        issuer: info.issuer_cn.as_deref(),
        serial: &info.serial,
        ca: info.is_ca,
        not_before: output::unix_seconds(info.not_before_ms),
        not_after: output::unix_seconds(info.not_after_ms),
        fingerprint: &info.fingerprint,
    });
    match output {
        Output::Json => output::write_json(w, &records.collect::<Vec<_>>()),
        Output::Csv => output::write_csv(
            w,
            &CSV_HEADER,
            records.map(|r| {
                vec![
                    r.file,
                    r.subject.unwrap_or_default().to_owned(),
                    r.issuer.unwrap_or_default().to_owned(),
                    r.serial.to_owned(),
                    r.ca.to_string(),
                    r.not_before.to_string(),
                    r.not_after.to_string(),
                    r.fingerprint.to_owned(),
                ]
            }),
        ),
        Output::Table => {
            for (i, info) in infos.iter().enumerate() {
                if i > 0 {
                    writeln!(w)?;
                }
                table(path, info, now_ms, w)?;
            }
            Ok(())
        }
    }
}

/// One certificate as `KEY  value` lines, as `vigil status` prints.
fn table(path: &Path, info: &CertInfo, now_ms: i64, w: &mut dyn Write) -> std::io::Result<()> {
    let line = |w: &mut dyn Write, key: &str, value: &str| writeln!(w, "{key:<12} {value}");
    let subject = info.subject_cn.as_deref().unwrap_or("(no common name)");
    let issuer = match info.issuer_cn.as_deref() {
        Some(issuer) if issuer == subject => format!("{issuer} (self-signed)"),
        Some(issuer) => issuer.to_owned(),
        None => "(no common name)".to_owned(),
    };
    line(w, "FILE", &path.display().to_string())?;
    line(w, "SUBJECT", subject)?;
    line(w, "ISSUER", &issuer)?;
    line(w, "CA", if info.is_ca { "yes" } else { "no" })?;
    line(w, "SERIAL", &info.serial)?;
    line(w, "VALID FROM", &when(info.not_before_ms, now_ms))?;
    let until = when(info.not_after_ms, now_ms);
    if info.not_after_ms <= now_ms {
        line(w, "VALID UNTIL", &format!("{until}: EXPIRED"))?;
    } else {
        line(w, "VALID UNTIL", &until)?;
    }
    line(w, "FINGERPRINT", &info.fingerprint)
}
