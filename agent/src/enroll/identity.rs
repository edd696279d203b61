//! The identity directory: `key.pem` (the agent's private key, PKCS#8 P-256, made here and
//! never sent), `cert.pem` (its certificate from the collector) and `ca.pem` (the CA
//! bundle the collector gave with it). The directory is 0700 and every file 0600.
//!
//! Every file is written whole to a temporary name, synced, then renamed over the old one,
//! and the directory synced: a crash leaves the old file or the new one, never a mix. A
//! new key is first written as `key.pem.new`, before its request is sent; only once the
//! collector has answered with a certificate for it do `ca.pem`, `cert.pem` and finally
//! `key.pem` take their new contents. A crash between the last two renames leaves a
//! `cert.pem` that matches `key.pem.new`: [`load`] finishes the swap; any other
//! `key.pem.new` is a request that never got its certificate, and is removed.

use super::x509::CertInfo;
use rcgen::PublicKeyData;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The private key.
pub const KEY: &str = "key.pem";
/// The client certificate.
pub const CERT: &str = "cert.pem";
/// The CA bundle.
pub const CA: &str = "ca.pem";
/// A new key whose certificate has not arrived yet.
pub const PENDING_KEY: &str = "key.pem.new";

/// An identity read from (or just stored in) its directory.
#[derive(Clone)]
pub struct Identity {
    /// The identity directory.
    pub dir: PathBuf,
    /// `cert.pem`.
    pub cert_pem: Vec<u8>,
    /// `key.pem`.
    pub key_pem: Vec<u8>,
    /// `ca.pem`.
    pub ca_pem: Vec<u8>,
    /// What the certificate says.
    pub info: CertInfo,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("dir", &self.dir)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Reads the identity in `dir`: `Ok(None)` when there is no `cert.pem`; an error naming
/// the file when one is unreadable, is not what it should be, or does not match the key.
pub fn load(dir: &Path) -> Result<Option<Identity>, String> {
    recover(dir)?;
    let cert_path = dir.join(CERT);
    let cert_pem = match std::fs::read(&cert_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", cert_path.display())),
    };
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let key_pem = read(KEY)?;
    let ca_pem = read(CA)?;
    let cert_der = first_certificate(&cert_pem)
        .ok_or_else(|| format!("{} holds no PEM certificate", cert_path.display()))?;
    let info = CertInfo::from_der(&cert_der)
        .ok_or_else(|| format!("{} is not an X.509 certificate", cert_path.display()))?;
    if first_certificate(&ca_pem).is_none() {
        return Err(format!(
            "{} holds no PEM certificate",
            dir.join(CA).display()
        ));
    }
    let key_spki = public_key(&key_pem)
        .ok_or_else(|| format!("{} is not a PKCS#8 P-256 key", dir.join(KEY).display()))?;
    if vigil_proto::pin::spki(&cert_der) != Some(&key_spki[..]) {
        return Err(format!(
            "{} is not the certificate of the key in {}",
            cert_path.display(),
            dir.join(KEY).display()
        ));
    }
    Ok(Some(Identity {
        dir: dir.to_owned(),
        cert_pem,
        key_pem,
        ca_pem,
        info,
    }))
}

/// Finishes or undoes a renewal a crash interrupted (see the module's documentation).
fn recover(dir: &Path) -> Result<(), String> {
    let pending = dir.join(PENDING_KEY);
    let Ok(key_pem) = std::fs::read(&pending) else {
        return Ok(());
    };
    let cert_matches = std::fs::read(dir.join(CERT))
        .ok()
        .and_then(|pem| first_certificate(&pem))
        .zip(public_key(&key_pem))
        .is_some_and(|(cert, key)| vigil_proto::pin::spki(&cert) == Some(&key[..]));
    let done = if cert_matches {
        std::fs::rename(&pending, dir.join(KEY))
    } else {
        std::fs::remove_file(&pending)
    };
    done.and_then(|()| sync_dir(dir))
        .map_err(|e| format!("cannot tidy {}: {e}", pending.display()))
}

/// Creates `dir` (mode 0700) when missing; returns whether it did. An existing directory
/// open to others is narrowed to 0700 when this user may, else left with a warning.
pub fn prepare_dir(dir: &Path) -> Result<bool, String> {
    let created = !dir.exists();
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0
            && let Err(e) = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        {
            tracing::warn!(dir = %dir.display(), error = %e, "the identity directory is open to other users and cannot be narrowed to 0700; its files are 0600");
        }
    }
    Ok(created)
}

/// Writes a new key as `key.pem.new` (0600, synced), before its request leaves the host.
pub fn write_pending_key(dir: &Path, key_pem: &[u8]) -> Result<(), String> {
    write_atomic(dir, PENDING_KEY, key_pem)
}

/// Removes `key.pem.new` after a request that got no certificate.
pub fn discard_pending_key(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(PENDING_KEY));
}

/// Stores the certificate issued for the pending key, with its CA bundle, and makes the
/// pending key `key.pem`; returns the identity as [`load`] will read it.
pub fn commit(dir: &Path, cert_pem: &[u8], ca_pem: &[u8]) -> Result<Identity, String> {
    write_atomic(dir, CA, ca_pem)?;
    write_atomic(dir, CERT, cert_pem)?;
    let pending = dir.join(PENDING_KEY);
    std::fs::rename(&pending, dir.join(KEY))
        .and_then(|()| sync_dir(dir))
        .map_err(|e| format!("cannot rename {} to {KEY}: {e}", pending.display()))?;
    load(dir)?.ok_or_else(|| format!("{} vanished", dir.join(CERT).display()))
}

/// Writes `dir/name` whole, mode 0600: a temporary file, synced, renamed over it.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    let path = dir.join(name);
    let temp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    let renamed = written
        .and_then(|()| std::fs::rename(&temp, &path))
        .and_then(|()| sync_dir(dir));
    if let Err(e) = renamed {
        let _ = std::fs::remove_file(&temp);
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// The first certificate in PEM text, DER.
pub fn first_certificate(pem: &[u8]) -> Option<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem).next()?.ok()
}

/// The DER SubjectPublicKeyInfo of a PEM PKCS#8 key.
pub fn public_key(key_pem: &[u8]) -> Option<Vec<u8>> {
    let der = PrivatePkcs8KeyDer::from_pem_slice(key_pem).ok()?;
    let key = rcgen::KeyPair::try_from(&der).ok()?;
    Some(key.subject_public_key_info())
}

/// `der` as PEM text with the given label (`CERTIFICATE`, `PRIVATE KEY`).
pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Where the path would show in a message: absolute when it can be made so.
pub fn shown(dir: &Path) -> String {
    std::path::absolute(dir)
        .unwrap_or_else(|_| dir.to_owned())
        .display()
        .to_string()
}
