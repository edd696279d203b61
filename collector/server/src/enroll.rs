//! Enrollment: agents join with a token and get their own short-lived client certificate;
//! they renew it with the certificate itself; administrators make and revoke tokens and
//! revoke hosts.
//!
//! - A join token (`vjt.<id>.<secret>`) names the host patterns it may enroll, expires, and
//!   may be limited to a number of uses. Only the secret's SHA-256 is stored, and it is
//!   compared in constant time.
//! - Join checks, in order: enrollment is on, the token is well formed, known, not revoked,
//!   not expired and not used up; the host name is valid and among the token's patterns;
//!   the host is not revoked and (unless the token allows replacing) has no valid
//!   certificate already; the request's signature verifies and it names that host. Only
//!   then is a certificate signed, and it is returned only after the token's use and the
//!   host's identity are written to the store: a failure at any step issues and stores
//!   nothing.
//! - Renew needs the host's current certificate (one this collector issued, not revoked);
//!   the request must name the same host.
//! - Revoking a host revokes every certificate issued to it, ends its open streams (they
//!   watch [`Revocations`]) and refuses its certificates and joins from then on; the gRPC
//!   auth layer checks every connection. Un-revoking lets it join again with a new token.
//!
//! All state lives in the store (spaces `EnrollTokens` and `Identities`) and is mirrored in
//! memory; one lock orders every change, so a token's uses are counted exactly.
//!
//! # Layout
//! - This module: [`Enrollment`], the decisions.
//! - `admin`: making and revoking tokens, listing and revoking hosts.
//! - `records`: what is stored, and the token's text.
//! - [`service`]: the `Enroll` gRPC service over it.

mod admin;
mod records;
pub mod service;
#[cfg(test)]
mod tests;

use crate::auth::Auth;
use crate::auth::revoked::Revocations;
use crate::auth::{constant_time_eq, digest, glob};
use crate::config::EnrollConfig;
use crate::limits::shorten;
use records::{IdentityRecord, Issued, TokenRecord};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};
use tonic::Status;
use tracing::{info, warn};
use vigil_proto::v1::{CertificateResponse, JoinRequest};
use vigil_store::{KvOp, Space, Store};

/// Most join tokens kept at once (live, and expired or revoked ones for a week).
pub const MAX_TOKENS: usize = 10_000;
/// Most host identities kept.
pub const MAX_IDENTITIES: usize = 100_000;
/// Most host patterns on one token.
pub const MAX_PATTERNS: usize = 64;
/// How long an expired or revoked token is still listed.
const KEEP_DEAD_TOKENS_MS: i64 = 7 * 86_400_000;
/// Largest certificate request accepted (a P-256 request is about 300 bytes).
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// The CA that signs, and what agents are told to trust.
struct Signer {
    ca: vigil_pki::Ca,
    bundle_pem: String,
    cert_ttl: Duration,
}

#[derive(Default)]
struct State {
    tokens: BTreeMap<String, TokenRecord>,
    identities: BTreeMap<String, IdentityRecord>,
}

/// Join tokens, host identities and revocations.
pub struct Enrollment {
    store: Arc<dyn Store>,
    signer: Option<Signer>,
    max_token_ttl: Duration,
    revocations: Arc<Revocations>,
    /// Counts refused joins and rate-limits their log lines.
    auth: Arc<Auth>,
    state: Mutex<State>,
}

impl Enrollment {
    /// Loads the CA of `[enroll]` (when set) and the stored tokens and identities, and
    /// fills `auth`'s revocations from them.
    pub fn open(
        config: &EnrollConfig,
        store: Arc<dyn Store>,
        auth: Arc<Auth>,
    ) -> Result<Self, String> {
        let revocations = auth.revocations().clone();
        let signer = match (&config.ca_cert_file, &config.ca_key_file) {
            (Some(cert), Some(key)) => {
                let read = |name: &str, path: &std::path::Path| {
                    std::fs::read_to_string(path).map_err(|e| {
                        format!(
                            "{name}: cannot read {}: {e} (run `vigil ca init`, or fix the path \
                             and the file's owner: the collector's user must read it)",
                            path.display()
                        )
                    })
                };
                let cert_pem = read("enroll.ca_cert_file", cert)?;
                let key_pem = read("enroll.ca_key_file", key)?;
                warn_if_key_readable(key);
                let ca = vigil_pki::Ca::load(&cert_pem, &key_pem)
                    .map_err(|e| format!("enroll.ca_cert_file / enroll.ca_key_file: {e}"))?;
                let bundle_pem = match &config.ca_bundle_file {
                    Some(path) => read("enroll.ca_bundle_file", path)?,
                    None => ca.cert_pem().to_owned(),
                };
                let bundle = vigil_pki::pem_certificates(&bundle_pem)
                    .map_err(|e| format!("enroll.ca_bundle_file: {e}"))?;
                if !bundle.iter().any(|der| der.as_slice() == ca.cert_der()) {
                    return Err("enroll.ca_bundle_file: must hold the signing CA \
                                (enroll.ca_cert_file) too, or agents that join would not \
                                trust certificates from it"
                        .into());
                }
                info!(fingerprint = %ca.fingerprint(), "enrollment on: agents may join with a token");
                Some(Signer {
                    ca,
                    bundle_pem,
                    cert_ttl: config.cert_ttl,
                })
            }
            _ => None,
        };
        let mut state = State::default();
        let scan = |space| {
            store
                .kv_scan(space)
                .map_err(|e| format!("reading enrollment records: {e}"))
        };
        for (key, value) in scan(Space::EnrollTokens)? {
            match serde_json::from_slice::<TokenRecord>(&value) {
                Ok(t) => {
                    state.tokens.insert(t.id.clone(), t);
                }
                Err(e) => {
                    warn!(key = %String::from_utf8_lossy(&key), error = %e, "skipping an unreadable join token record")
                }
            }
        }
        for (key, value) in scan(Space::Identities)? {
            match serde_json::from_slice::<IdentityRecord>(&value) {
                Ok(i) => {
                    state.identities.insert(i.host.clone(), i);
                }
                Err(e) => {
                    warn!(key = %String::from_utf8_lossy(&key), error = %e, "skipping an unreadable host identity record")
                }
            }
        }
        for identity in state.identities.values() {
            let serials = identity.revoked.iter().map(|i| i.serial.clone());
            if identity.revoked_ms != 0 {
                let all = serials.chain(identity.issued.iter().map(|i| i.serial.clone()));
                revocations.revoke(&identity.host, identity.revoked_ms, all);
            } else {
                revocations.revoke(&identity.host, 0, serials);
                revocations.unrevoke(&identity.host);
            }
        }
        Ok(Enrollment {
            store,
            signer,
            max_token_ttl: config.max_token_ttl,
            revocations,
            auth,
            state: Mutex::new(state),
        })
    }

    /// Whether agents may join (a CA is configured).
    pub fn enabled(&self) -> bool {
        self.signer.is_some()
    }

    fn signer(&self) -> Result<&Signer, Status> {
        self.signer.as_ref().ok_or_else(|| {
            Status::failed_precondition(
                "enrollment is off on this collector: set enroll.ca_cert_file and \
                 enroll.ca_key_file (`vigil ca init` makes them) and restart it",
            )
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An agent's first certificate, for a join token.
    pub fn join(
        &self,
        request: &JoinRequest,
        peer: &str,
        now_ms: i64,
    ) -> Result<CertificateResponse, Status> {
        let signer = self.signer()?;
        // Counted in vigil_collector_auth_refused_total{reason="join_refused"}; logged at
        // most as often as the auth layer logs, so a flood of bad joins cannot fill a disk.
        let refused = |status: Status| {
            self.auth.count("join_refused");
            if let Some(left_out) = self.auth.may_log() {
                warn!(peer, host = %shorten(&request.host), error = %status.message(), left_out, "refused a join");
            }
            status
        };
        let (id, secret) = records::split_token(&request.token).ok_or_else(|| {
            refused(Status::unauthenticated(
                "malformed join token: expected vjt.<12 hex>.<32 hex>, as `vigil enroll create` \
                 prints it",
            ))
        })?;
        let host = crate::ingest::session::check_hostname(&request.host)
            .map_err(|v| refused(Status::invalid_argument(format!("join: {}", v.message))))?
            .to_owned();
        if request.csr_der.len() > MAX_REQUEST_BYTES {
            return Err(refused(Status::invalid_argument(format!(
                "join: certificate request of {} bytes is over the limit of {MAX_REQUEST_BYTES}",
                request.csr_der.len()
            ))));
        }
        let mut state = self.lock();
        let token = state.tokens.get(id).cloned().filter(|t| {
            let mut stored = [0u8; 32];
            decode_hex(&t.digest, &mut stored) && constant_time_eq(&stored, &digest(secret))
        });
        let Some(mut token) = token else {
            return Err(refused(Status::unauthenticated(
                "unknown join token: it is not one this collector made (check it, or make a \
                 new one with `vigil enroll create`)",
            )));
        };
        if token.revoked_ms != 0 {
            return Err(refused(Status::unauthenticated(format!(
                "join token {id} was revoked at {}; make a new one with `vigil enroll create`",
                time_text(token.revoked_ms)
            ))));
        }
        if token.expires_ms <= now_ms {
            return Err(refused(Status::unauthenticated(format!(
                "join token {id} expired at {}; make a new one with `vigil enroll create`",
                time_text(token.expires_ms)
            ))));
        }
        if token.uses != 0 && token.used >= token.uses {
            return Err(refused(Status::unauthenticated(format!(
                "join token {id} is used up ({} of {} uses); make a new one with `vigil enroll \
                 create --uses N`",
                token.used, token.uses
            ))));
        }
        if !token.hosts.iter().any(|p| glob(p, &host)) {
            return Err(refused(Status::permission_denied(format!(
                "host {:?} is not among join token {id}'s hosts {:?}; make a token for it \
                 (`vigil enroll create --hosts {}`) or set the agent's hostname",
                shorten(&host),
                token.hosts,
                shorten(&host)
            ))));
        }
        if let Some(at) = self.revocations.host(&host) {
            return Err(refused(Status::permission_denied(format!(
                "host {host:?} was revoked at {}; `vigil hosts unrevoke {host}` lets it join \
                 again",
                time_text(at)
            ))));
        }
        let mut identity = state.identities.get(&host).cloned().unwrap_or_default();
        if identity.has_valid(now_ms) && !token.replace {
            let (serial, expires) = identity
                .latest()
                .map(|i| (i.serial.clone(), time_text(i.not_after_ms)))
                .unwrap_or_default();
            return Err(refused(Status::already_exists(format!(
                "host {host:?} already has a valid certificate (serial {serial}, expires \
                 {expires}); its agent renews with that certificate. To enroll a reinstalled \
                 host under this name, make a token with `vigil enroll create --replace`"
            ))));
        }
        if !state.identities.contains_key(&host) && state.identities.len() >= MAX_IDENTITIES {
            return Err(refused(Status::resource_exhausted(format!(
                "this collector already holds {MAX_IDENTITIES} host identities"
            ))));
        }
        let issued = sign(signer, &request.csr_der, &host, now_ms).map_err(refused)?;
        token.used += 1;
        identity.host = host.clone();
        identity.prune(now_ms);
        identity.issued.push(issued.record.clone());
        identity.joined_ms = now_ms;
        identity.token_id = id.to_owned();
        identity.renewals = 0;
        identity.key_fingerprint = issued.key_fingerprint.clone();
        self.write(Some(&token), &identity)?;
        state.tokens.insert(token.id.clone(), token);
        state.identities.insert(host.clone(), identity);
        info!(host = %host, peer, token = id, serial = %issued.record.serial, "agent joined");
        Ok(issued.response(signer, &host))
    }

    /// A fresh certificate for the host whose current certificate (`serial`) made the call.
    pub fn renew(
        &self,
        host: &str,
        serial: &str,
        csr_der: &[u8],
        now_ms: i64,
    ) -> Result<CertificateResponse, Status> {
        let signer = self.signer()?;
        if csr_der.len() > MAX_REQUEST_BYTES {
            return Err(Status::invalid_argument(format!(
                "renew: certificate request of {} bytes is over the limit of {MAX_REQUEST_BYTES}",
                csr_der.len()
            )));
        }
        if let Some(why) = self.revocations.refuses(Some(host), serial) {
            return Err(Status::unauthenticated(why));
        }
        let mut state = self.lock();
        let mut identity = state
            .identities
            .get(host)
            .filter(|i| {
                i.issued
                    .iter()
                    .any(|c| c.serial == serial && c.not_after_ms > now_ms)
            })
            .cloned()
            .ok_or_else(|| {
                Status::permission_denied(format!(
                    "certificate {serial} of host {:?} was not issued by this collector's \
                     enrollment (or has expired); only enrolled agents renew: join with a \
                     token from `vigil enroll create`",
                    shorten(host)
                ))
            })?;
        let issued = sign(signer, csr_der, host, now_ms)?;
        identity.prune(now_ms);
        identity.issued.push(issued.record.clone());
        identity.renewals += 1;
        identity.key_fingerprint = issued.key_fingerprint.clone();
        self.write(None, &identity)?;
        state.identities.insert(host.to_owned(), identity);
        info!(host = %host, old = serial, serial = %issued.record.serial, "agent renewed its certificate");
        Ok(issued.response(signer, host))
    }

    /// Writes a token's new use count and a host's identity in one batch.
    fn write(&self, token: Option<&TokenRecord>, identity: &IdentityRecord) -> Result<(), Status> {
        let mut ops = Vec::with_capacity(2);
        if let Some(token) = token {
            ops.push(token_op(token)?);
        }
        let value = serde_json::to_vec(identity)
            .map_err(|e| Status::internal(format!("encoding the identity: {e}")))?;
        ops.push(KvOp::put(
            Space::Identities,
            identity.host.as_bytes().to_vec(),
            value,
        ));
        self.store.kv_write(&ops).map_err(|e| {
            Status::unavailable(format!(
                "storing the identity of {:?}: {e}; nothing was issued, try again",
                shorten(&identity.host)
            ))
        })
    }
}

fn token_op(token: &TokenRecord) -> Result<KvOp, Status> {
    let value = serde_json::to_vec(token)
        .map_err(|e| Status::internal(format!("encoding the token: {e}")))?;
    Ok(KvOp::put(
        Space::EnrollTokens,
        token.id.as_bytes().to_vec(),
        value,
    ))
}

/// A signed certificate, before it is handed out.
struct Signed {
    record: Issued,
    pem: String,
    key_fingerprint: String,
}

impl Signed {
    fn response(&self, signer: &Signer, host: &str) -> CertificateResponse {
        CertificateResponse {
            certificate_pem: self.pem.clone(),
            ca_pem: signer.bundle_pem.clone(),
            serial: self.record.serial.clone(),
            not_before_ms: self.record.not_before_ms,
            not_after_ms: self.record.not_after_ms,
            host: host.to_owned(),
        }
    }
}

/// Signs `csr_der` for `host`; a request for another host or with a bad signature is
/// refused.
fn sign(signer: &Signer, csr_der: &[u8], host: &str, now_ms: i64) -> Result<Signed, Status> {
    let now = UNIX_EPOCH + Duration::from_millis(u64::try_from(now_ms).unwrap_or(0));
    let issued = signer
        .ca
        .sign_request(csr_der, host, now, signer.cert_ttl)
        .map_err(|e| match e {
            vigil_pki::PkiError::WrongHost { .. } => Status::permission_denied(format!(
                "the certificate request is for another host's name: {e}; an agent may only \
                 ask for its own host's certificate"
            )),
            other => Status::invalid_argument(format!("certificate request: {other}")),
        })?;
    let serial = crate::tls::certificate_serial(&issued.cert_der)
        .ok_or_else(|| Status::internal("the issued certificate does not parse"))?;
    Ok(Signed {
        record: Issued {
            serial,
            not_before_ms: issued.not_before_ms,
            not_after_ms: issued.not_after_ms,
        },
        pem: issued.cert_pem,
        key_fingerprint: issued.key_fingerprint,
    })
}

fn decode_hex(text: &str, out: &mut [u8; 32]) -> bool {
    if text.len() != 64 {
        return false;
    }
    for (i, pair) in text.as_bytes().chunks(2).enumerate() {
        let Ok(s) = std::str::from_utf8(pair) else {
            return false;
        };
        let Ok(b) = u8::from_str_radix(s, 16) else {
            return false;
        };
        out[i] = b;
    }
    true
}

/// A time for messages: RFC 3339, seconds.
fn time_text(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Warns when the CA key can be read by every user of the machine (group-readable is
/// normal: Kubernetes mounts Secrets 0440 for the pod's group).
fn warn_if_key_readable(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o007 != 0
        {
            warn!(
                path = %path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "enroll.ca_key_file can be read by every user: `chmod 600` it (whoever reads it \
                 can issue certificates for any host)"
            );
        }
    }
}
