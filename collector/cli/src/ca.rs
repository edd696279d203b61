//! `vigil ca init|show`: the fleet's CA and the collector's server certificate, made and
//! read on local files (no collector needed).
//!
//! ```text
//! vigil ca init [--dir DIR] [--name NAME]... [--ip IP]... [--ca-name CN] [--ca-cert PEM --ca-key PEM] [--force]
//!     DIR/ca.pem, ca.key (0600), server.pem (server cert then CA cert), server.key (0600)
//! vigil ca show [--dir DIR | FILE]
//!     subject, validity and fingerprint of every certificate in the file
//! ```
//!
//! DIR defaults to `/etc/vigil/pki` for root and `./vigil-pki` for anyone else. The CA
//! fingerprint (`SHA256:` over the CA's SubjectPublicKeyInfo) is what agents pin with
//! `--ca-fingerprint`.

mod files;
mod init;
mod show;

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::output::Output;

pub use init::{GRPC_PORT, InitArgs};
pub use show::ShowArgs;

/// Where `vigil ca` keeps its files for root.
pub const SYSTEM_DIR: &str = "/etc/vigil/pki";

/// Where `vigil ca` keeps its files for anyone else (relative to the working directory).
pub const USER_DIR: &str = "vigil-pki";

/// The CA certificate's file name in the directory.
pub const CA_CERT: &str = "ca.pem";

/// `vigil ca [init … | show …]`.
#[derive(Debug, Args)]
pub struct CaArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: CaAction,
}

/// The actions of `vigil ca`.
#[derive(Debug, Subcommand)]
pub enum CaAction {
    /// Make the fleet's CA (or take your own) and the collector's server certificate
    Init(InitArgs),
    /// Show the subject, validity and fingerprint of a CA (or any certificate) file
    Show(ShowArgs),
}

/// What a local `vigil ca` command could not do; the message names the file or flag and
/// what to do.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// A file could not be read.
    #[error("cannot read {what} {}: {reason}", path.display())]
    Read {
        /// Which input (`--ca-key`, `the CA certificate`, …).
        what: String,
        /// The file.
        path: PathBuf,
        /// Why, and what to do.
        reason: String,
    },
    /// A certificate or key is not usable.
    #[error("{what}: {error}")]
    Pki {
        /// Which input.
        what: String,
        /// What is wrong with it.
        error: vigil_pki::PkiError,
    },
    /// Files `ca init` would write exist already.
    #[error(
        "{} already holds {}: pass --force to replace them (agents that pinned the old CA's \
         fingerprint refuse a new CA), or choose another --dir",
        dir.display(),
        files.join(", ")
    )]
    Exists {
        /// The directory.
        dir: PathBuf,
        /// The files that exist.
        files: Vec<String>,
    },
    /// A file or directory could not be written.
    #[error("cannot write {}: {reason}; run as a user who may write there, or choose another --dir", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Flags that do not go together.
    #[error("{0}")]
    Usage(String),
}

/// Runs one `vigil ca` action; `ca_cert` is the global `--ca-cert` (with `ca init`, the
/// certificate of your own CA; with `ca show`, a file to show).
pub fn run(args: &CaArgs, ca_cert: Option<&Path>, output: Output) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now();
    match &args.action {
        CaAction::Init(init) => init::run(init, ca_cert, output, now),
        CaAction::Show(show) => show::run(show, ca_cert, output, now),
    }
}

/// `/etc/vigil/pki` when running as root, else `./vigil-pki`.
pub fn default_dir() -> PathBuf {
    if effective_uid() == Some(0) {
        PathBuf::from(SYSTEM_DIR)
    } else {
        PathBuf::from(USER_DIR)
    }
}

/// The effective uid of this process, from `/proc/self/status` (no libc call: the crate
/// has no unsafe code).
pub fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|euid| euid.parse().ok())
}

/// This machine's host name as the kernel has it (`/proc/sys/kernel/hostname`, else
/// `$HOSTNAME`); `None` when neither says.
pub fn machine_hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
}

/// Reads a text file named by `what` (a flag or a description) for an error message.
fn read(what: &str, path: &Path) -> Result<String, CaError> {
    std::fs::read_to_string(path).map_err(|e| CaError::Read {
        what: what.to_owned(),
        path: path.to_owned(),
        reason: match e.kind() {
            std::io::ErrorKind::NotFound => {
                "no such file (make one with `vigil ca init`, or give its path)".to_owned()
            }
            std::io::ErrorKind::PermissionDenied => {
                "permission denied (run as its owner, or as root)".to_owned()
            }
            _ => e.to_string(),
        },
    })
}

#[cfg(test)]
mod tests;
