//! Who is calling, and what they may do.
//!
//! A caller proves who it is with a token from `[[auth.tokens]]` (gRPC metadata
//! `authorization: Bearer SECRET`; HTTP `Authorization: Bearer SECRET`, or basic auth with
//! the token's name and secret), or, with `tls.client_ca_file` set, with a client
//! certificate, which makes it the agent of the host the certificate names. Every gRPC
//! method and HTTP route needs a role ([`Need`]); only `/-/healthy` and `/-/ready` need
//! none. A collector with no tokens and no client CA is open: every call is allowed (the
//! configuration only permits that on loopback, unless `server.allow_insecure`).
//!
//! Refusals are [`Violation`]s: a missing or unknown credential is `Unauthenticated` (gRPC
//! `UNAUTHENTICATED`, HTTP 401), a known one without the role is `Forbidden`
//! (`PERMISSION_DENIED`, 403). Each is logged with the token's name (never the secret) and
//! the peer, and counted by reason for `vigil_collector_auth_refused_total`.
//!
//! Secrets are kept only as SHA-256 digests and compared in constant time against every
//! token, so neither the time taken nor the order of tokens tells anything about a secret.
//!
//! # Layout
//! - This module: [`Auth`] (the tokens, admission, counters), [`Caller`], [`Need`].
//! - [`grpc`]: the tower layer in front of every gRPC service; which role each method needs.
//! - [`http`]: the axum middleware in front of the HTTP API.

pub mod grpc;
pub mod http;
pub mod revoked;

pub use crate::config::auth::Role;

use crate::config::Config;
use crate::limits::{self, Refusal, Violation};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use tracing::warn;

/// What a call needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: health probes.
    Nothing,
    /// `read` (or `admin`).
    Read,
    /// `admin`.
    Admin,
    /// An agent identity (token or certificate); the host is checked by the service.
    Ingest,
    /// `admin`, or an agent identity allowed for every host written.
    Import,
}

/// How a caller proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Nobody: the collector runs without authentication.
    Open,
    /// A token with its role, and for agent tokens the host patterns it may write.
    Token {
        /// The token's role.
        role: Role,
        /// Host patterns (agent tokens); `None` is any host.
        hosts: Option<Vec<String>>,
    },
    /// A client certificate: the agent of the host it names.
    Certificate,
}

/// A caller that has been admitted: put in each request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Token name, `cert:HOST` for a certificate, or `anonymous` on an open collector.
    pub name: String,
    /// How it proved who it is.
    pub identity: Identity,
    /// Host named by its verified client certificate, if it presented one (also with a
    /// token: it then still may only write that host).
    pub certificate_host: Option<String>,
    /// Where the call came from, for logs.
    pub peer: Option<SocketAddr>,
}

impl Caller {
    /// The caller of an open collector.
    pub fn anonymous(peer: Option<SocketAddr>) -> Self {
        Caller {
            name: "anonymous".into(),
            identity: Identity::Open,
            certificate_host: None,
            peer,
        }
    }

    /// The caller a request was admitted as (set by [`grpc`]); anonymous when the request
    /// never passed the layer (unit tests call services directly).
    pub fn of<T>(request: &tonic::Request<T>) -> Caller {
        request
            .extensions()
            .get::<Caller>()
            .cloned()
            .unwrap_or_else(|| Caller::anonymous(request.remote_addr()))
    }

    /// The peer as text, for logs.
    pub fn peer_text(&self) -> String {
        self.peer.map(|p| p.to_string()).unwrap_or_default()
    }

    /// Whether this caller may write samples for `host` (ingest and imports): a
    /// certificate binds it to its own host, an agent token to its patterns; `admin` and
    /// an open collector may write any host.
    pub fn may_write(&self, host: &str) -> Result<(), Violation> {
        if let Some(certified) = &self.certificate_host
            && certified != host
        {
            return Err(Violation {
                kind: Refusal::Forbidden,
                reason: "identity_mismatch",
                message: format!(
                    "the client certificate is for host {certified:?}, not {:?}; a certificate \
                     may only write its own host's series (set the agent's hostname to \
                     {certified:?} or give it a certificate for its own name)",
                    limits::shorten(host)
                ),
            });
        }
        match &self.identity {
            Identity::Open | Identity::Certificate => Ok(()),
            Identity::Token {
                role: Role::Admin, ..
            } => Ok(()),
            Identity::Token {
                role: Role::Agent,
                hosts,
            } => match hosts {
                Some(patterns) if !patterns.iter().any(|p| glob(p, host)) => Err(Violation {
                    kind: Refusal::Forbidden,
                    reason: "host_not_allowed",
                    message: format!(
                        "token {:?} may not write host {:?}: its hosts are {:?} (add the host \
                         to that token's hosts, or use the token made for that host)",
                        self.name,
                        limits::shorten(host),
                        patterns
                    ),
                }),
                _ => Ok(()),
            },
            Identity::Token {
                role: Role::Read, ..
            } => Err(Violation {
                kind: Refusal::Forbidden,
                reason: "wrong_role",
                message: format!(
                    "token {:?} has role read and may not write samples",
                    self.name
                ),
            }),
        }
    }
}

/// One configured token, with its secret kept as a digest.
struct Token {
    name: String,
    role: Role,
    hosts: Option<Vec<String>>,
    digest: [u8; 32],
}

/// What a call presented.
#[derive(Debug, Default)]
pub struct Presented<'a> {
    /// A bearer secret (gRPC metadata, HTTP header, an agent's Hello, an import request).
    pub bearer: Option<&'a str>,
    /// HTTP basic auth: token name and secret.
    pub basic: Option<(String, String)>,
    /// Host of a verified client certificate.
    pub certificate_host: Option<String>,
    /// Where it came from.
    pub peer: Option<SocketAddr>,
}

/// Refusals logged in one second at most; past it they are only counted, and the next
/// logged one says how many were left out (a client hammering with a wrong token must not
/// fill the disk with log lines).
const LOGGED_PER_SECOND: u64 = 20;

/// The collector's tokens, and what it refused.
pub struct Auth {
    tokens: Vec<Token>,
    client_ca: bool,
    refused: Mutex<BTreeMap<&'static str, u64>>,
    /// For the log's rate limit: when this started, and (second, logged in it, left out).
    started: std::time::Instant,
    logged: Mutex<(u64, u64, u64)>,
    /// Revoked hosts and certificates, kept by [`crate::enroll`].
    revocations: std::sync::Arc<revoked::Revocations>,
}

impl Auth {
    /// The tokens of `[[auth.tokens]]`, plus the old `server.agent_tokens` as agent tokens
    /// for any host (named `server.agent_tokens[N]`). Secrets are read here.
    pub fn from_config(config: &Config) -> Result<Self, String> {
        let mut tokens = Vec::new();
        for (i, t) in config.auth.tokens.iter().enumerate() {
            let secret = t
                .secret
                .load()
                .map_err(|e| format!("auth.tokens[{i}].secret: {e}"))?;
            tokens.push(Token {
                name: t.name.clone(),
                role: t.role,
                hosts: t.hosts.clone(),
                digest: digest(secret.expose()),
            });
        }
        for (i, secret) in config.server.agent_tokens.iter().enumerate() {
            tokens.push(Token {
                name: format!("server.agent_tokens[{i}]"),
                role: Role::Agent,
                hosts: None,
                digest: digest(secret),
            });
        }
        Ok(Auth {
            tokens,
            client_ca: config.tls.client_ca_file.is_some(),
            refused: Mutex::new(BTreeMap::new()),
            started: std::time::Instant::now(),
            logged: Mutex::new((0, 0, 0)),
            revocations: std::sync::Arc::new(revoked::Revocations::new()),
        })
    }

    /// The revoked hosts and certificates every connection is checked against.
    pub fn revocations(&self) -> &std::sync::Arc<revoked::Revocations> {
        &self.revocations
    }

    /// Refuses a call whose client certificate is revoked (logged and counted).
    pub fn refuse_revoked(&self, message: String, peer: Option<SocketAddr>) -> Violation {
        self.refuse(
            "certificate_revoked",
            None,
            peer,
            message,
            Refusal::Unauthenticated,
        )
    }

    /// Whether every caller is let in (no tokens, no client CA).
    pub fn is_open(&self) -> bool {
        self.tokens.is_empty() && !self.client_ca
    }

    /// Admits a call that presented `presented` for something that needs `need`.
    ///
    /// `Ok(None)` means "decide later": an Ingest or Import call with no credential in its
    /// metadata, whose token may still come in its first message (see
    /// [`Auth::admit_message_token`]).
    pub fn admit(
        &self,
        presented: &Presented<'_>,
        need: Need,
    ) -> Result<Option<Caller>, Violation> {
        if need == Need::Nothing {
            return Ok(None);
        }
        let caller = match self.identify(presented) {
            Ok(Some(caller)) => caller,
            Ok(None) if matches!(need, Need::Ingest | Need::Import) => return Ok(None),
            Ok(None) => {
                return Err(self.refuse(
                    "missing",
                    None,
                    presented.peer,
                    "this collector requires a token: send `authorization: Bearer <token>` \
                     (vigil: --token or VIGIL_TOKEN; HTTP: also basic auth with the token's \
                     name as user), or a client certificate"
                        .into(),
                    Refusal::Unauthenticated,
                ));
            }
            Err(v) => return Err(v),
        };
        self.authorize(caller, need).map(Some)
    }

    /// Admits an Ingest or Import call by the token in its first message (an agent's Hello,
    /// an import request), for clients that do not send it as metadata.
    pub fn admit_message_token(
        &self,
        token: &str,
        certificate_host: Option<String>,
        peer: Option<SocketAddr>,
        need: Need,
    ) -> Result<Caller, Violation> {
        let presented = Presented {
            bearer: (!token.is_empty()).then_some(token),
            basic: None,
            certificate_host,
            peer,
        };
        match self.identify(&presented)? {
            Some(caller) => self.authorize(caller, need),
            None => Err(self.refuse(
                "missing",
                None,
                peer,
                "this collector requires a token or a client certificate: set `token` in the \
                 agent config (vigil import: --token or VIGIL_TOKEN) to a token of role agent \
                 or admin from the collector's [[auth.tokens]]"
                    .into(),
                Refusal::Unauthenticated,
            )),
        }
    }

    /// Who presented `presented`: anyone on an open collector; else a token (bearer or
    /// basic), else a certificate, else nobody (`Ok(None)`).
    fn identify(&self, presented: &Presented<'_>) -> Result<Option<Caller>, Violation> {
        let peer = presented.peer;
        if self.is_open() {
            // Open means open: a client configured with a token still gets in.
            return Ok(Some(Caller::anonymous(peer)));
        }
        let found = if let Some(secret) = presented.bearer {
            Some(self.find(None, secret).ok_or_else(|| {
                self.refuse(
                    "unknown_token",
                    None,
                    peer,
                    "the token presented is not one of this collector's [[auth.tokens]]; check \
                     it (vigil: --token, --token-file or VIGIL_TOKEN; agent: `token`)"
                        .into(),
                    Refusal::Unauthenticated,
                )
            })?)
        } else if let Some((name, secret)) = &presented.basic {
            Some(self.find(Some(name), secret).ok_or_else(|| {
                self.refuse(
                    "unknown_token",
                    Some(name),
                    peer,
                    "basic auth: no token has that name and password; the user is the token's \
                     name and the password the token itself"
                        .into(),
                    Refusal::Unauthenticated,
                )
            })?)
        } else {
            None
        };
        let certificate_host = presented.certificate_host.clone();
        Ok(match (found, certificate_host) {
            (Some(token), certificate_host) => Some(Caller {
                name: token.name.clone(),
                identity: Identity::Token {
                    role: token.role,
                    hosts: token.hosts.clone(),
                },
                certificate_host,
                peer,
            }),
            (None, Some(host)) => Some(Caller {
                name: format!("cert:{host}"),
                identity: Identity::Certificate,
                certificate_host: Some(host),
                peer,
            }),
            (None, None) => None,
        })
    }

    /// Whether `caller` has the role `need` asks for.
    fn authorize(&self, caller: Caller, need: Need) -> Result<Caller, Violation> {
        let allowed = match (&caller.identity, need) {
            (Identity::Open, _) | (_, Need::Nothing) => true,
            (Identity::Token { role, .. }, _) => match need {
                Need::Read => matches!(role, Role::Read | Role::Admin),
                Need::Admin => *role == Role::Admin,
                Need::Ingest => *role == Role::Agent,
                Need::Import => matches!(role, Role::Admin | Role::Agent),
                Need::Nothing => true,
            },
            (Identity::Certificate, need) => matches!(need, Need::Ingest | Need::Import),
        };
        if allowed {
            return Ok(caller);
        }
        let has = match &caller.identity {
            Identity::Token { role, .. } => {
                format!("token {:?} has role {}", caller.name, role.as_str())
            }
            _ => format!("{} is an agent identity", caller.name),
        };
        let wants = match need {
            Need::Read => "a read or admin token",
            Need::Admin => "an admin token",
            Need::Ingest => "an agent token or a client certificate",
            Need::Import => "an admin or agent token, or a client certificate",
            Need::Nothing => "nothing",
        };
        Err(self.refuse(
            "wrong_role",
            Some(&caller.name),
            caller.peer,
            format!("{has}; this needs {wants}"),
            Refusal::Forbidden,
        ))
    }

    /// The token with this secret (and name, for basic auth). Every token is compared, in
    /// constant time, whatever matches.
    fn find(&self, name: Option<&str>, secret: &str) -> Option<&Token> {
        let presented = digest(secret);
        let mut found = None;
        for token in &self.tokens {
            let same = constant_time_eq(&token.digest, &presented);
            if same && name.is_none_or(|n| n == token.name) {
                found = Some(token);
            }
        }
        found
    }

    /// Logs and counts a refusal, and builds it.
    fn refuse(
        &self,
        reason: &'static str,
        name: Option<&str>,
        peer: Option<SocketAddr>,
        message: String,
        kind: Refusal,
    ) -> Violation {
        self.count(reason);
        if let Some(left_out) = self.may_log() {
            warn!(
                reason,
                token = name.unwrap_or("-"),
                peer = %peer.map(|p| p.to_string()).unwrap_or_default(),
                left_out,
                "refused a call"
            );
        }
        Violation {
            kind,
            reason,
            message,
        }
    }

    /// Whether a refusal may be logged now; if so, how many were left out before it.
    pub(crate) fn may_log(&self) -> Option<u64> {
        let second = self.started.elapsed().as_secs();
        let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
        let (at, count, left_out) = &mut *logged;
        if *at != second {
            (*at, *count) = (second, 0);
        }
        if *count >= LOGGED_PER_SECOND {
            *left_out += 1;
            return None;
        }
        *count += 1;
        Some(std::mem::take(left_out))
    }

    /// Counts a refusal decided elsewhere (a host an agent may not write).
    pub fn count(&self, reason: &'static str) {
        *self
            .refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(reason)
            .or_default() += 1;
    }

    /// Refusals so far by reason, for `vigil_collector_auth_refused_total{reason}`.
    pub fn refused(&self) -> Vec<(&'static str, u64)> {
        self.refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(r, n)| (*r, *n))
            .collect()
    }
}

/// The scheme and the credentials of an `Authorization` header (gRPC metadata or HTTP).
fn authorization(headers: &::http::HeaderMap) -> Option<(&str, &str)> {
    let value = headers.get(::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    Some((scheme, rest.trim()))
}

pub(crate) fn digest(secret: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Equal without an early exit.
pub(crate) fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// Whether `text` matches `pattern`: `*` any run of characters, `?` any one.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Iterative with one backtrack point: linear in practice, never exponential.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests;
