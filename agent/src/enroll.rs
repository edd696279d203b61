//! Zero-touch enrollment, the agent's side: join with a token, keep a short-lived client
//! certificate, renew it before it expires.
//!
//! - At start ([`plan`]): a valid `cert.pem` in the identity directory (`enroll.dir`,
//!   `--identity-dir`) wins, token or not. Without one, a join token (`--join`,
//!   `enroll.token`, `VIGIL_AGENT__ENROLL__TOKEN`, `enroll.token_file`) makes the agent
//!   join: it makes a P-256 key pair here, writes the key (0600) before anything is sent,
//!   trusts the collector only by its CA's pinned fingerprint ([`pin`]), and sends the
//!   token with a certificate request for its host name ([`join`]). An expired
//!   certificate and no token is an error that says how to get one.
//! - From then on the agent streams over mTLS with that identity, and renews it at two
//!   thirds of its lifetime with a new key, authenticated by the current certificate
//!   ([`renew`]); the stream then reconnects with the new one.
//! - [`identity`] keeps the files; [`x509`] reads a certificate's host, serial and
//!   validity.
//!
//! A failed join leaves no `cert.pem` and removes the key it made (and the directory, when
//! the join created it and it is empty): nothing is left behind. The token is never logged.

pub mod identity;
pub mod join;
pub mod pin;
pub mod renew;
pub mod x509;

#[cfg(test)]
mod tests;

use crate::config::Config;
use identity::Identity;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};
use tonic::transport::{Certificate, ClientTlsConfig};

/// Why enrolling, or renewing, did not work. Messages never hold the join token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EnrollError {
    /// The configuration cannot work; names the key.
    #[error("{0}")]
    Config(String),
    /// The identity directory cannot be read or written.
    #[error("{0}")]
    Files(String),
    /// The collector's TLS chain does not match the pinned CA.
    #[error("{0}")]
    Pin(String),
    /// The collector could not be reached (tried again).
    #[error("cannot reach the collector {0}")]
    Connect(String),
    /// The collector refused the request.
    #[error("{message}")]
    Refused {
        /// What it said, and what to do.
        message: String,
        /// Whether trying again later may work (the collector was unavailable).
        transient: bool,
    },
    /// The collector's answer cannot be used.
    #[error("{0}")]
    Response(String),
}

impl EnrollError {
    /// Whether trying again later may work without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect(_) => true,
            Self::Refused { transient, .. } => *transient,
            _ => false,
        }
    }
}

/// How the agent reaches the collector, decided at start.
#[derive(Debug)]
pub enum Plan {
    /// `http://`: no TLS.
    Plain,
    /// TLS from `[tls]` files: a hand-made client certificate, or server-only TLS.
    Static(ClientTlsConfig),
    /// mTLS with a valid identity from the identity directory.
    Enrolled(Identity),
    /// Join first (with the configured token); says why.
    Join(String),
}

/// What the agent needs to join and renew.
#[derive(Clone)]
pub struct Enroller {
    /// The collector.
    pub target: pin::Target,
    /// The identity directory.
    pub dir: PathBuf,
    /// The host name the agent reports (and its certificate names).
    pub host: String,
    /// The join token, if any (secret).
    pub token: Option<String>,
    /// The pinned CA fingerprint, if any.
    pub pin: Option<[u8; 32]>,
    /// `tls.ca_file`'s contents: trusted besides the identity's CA bundle.
    pub extra_ca: Option<Vec<u8>>,
    /// Retry delays after a failure: `delivery.backoff_initial` doubling to `backoff_max`.
    pub backoff: (Duration, Duration),
}

impl std::fmt::Debug for Enroller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enroller")
            .field("target", &self.target)
            .field("dir", &self.dir)
            .field("host", &self.host)
            .field("token", &self.token.as_ref().map(|_| "<secret>"))
            .finish_non_exhaustive()
    }
}

impl Enroller {
    /// From the (validated) configuration, for an agent reporting `host`.
    pub fn new(config: &Config, host: &str) -> Result<Self, EnrollError> {
        let extra_ca = match &config.tls.ca_file {
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                EnrollError::Config(format!("tls.ca_file: cannot read {}: {e}", path.display()))
            })?),
            None => None,
        };
        let fingerprint = &config.enroll.ca_fingerprint;
        let pin = if fingerprint.is_empty() {
            None
        } else {
            Some(
                vigil_proto::pin::parse(fingerprint)
                    .map_err(|e| EnrollError::Config(format!("enroll.ca_fingerprint: {e}")))?,
            )
        };
        Ok(Self {
            target: pin::Target {
                url: config.collector.clone(),
                server_name: config.tls.server_name.clone(),
                connect_timeout: config.delivery.connect_timeout,
            },
            dir: config.enroll.identity_dir(),
            host: host.to_owned(),
            token: Some(config.enroll.token.clone()).filter(|t| !t.is_empty()),
            pin,
            extra_ca,
            backoff: (config.delivery.backoff_initial, config.delivery.backoff_max),
        })
    }

    /// The TLS settings for streaming and renewing with `identity`: its CA bundle (and
    /// `tls.ca_file`) to trust the collector, its certificate and key to be trusted.
    pub fn client_tls(&self, identity: &Identity) -> ClientTlsConfig {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&identity.ca_pem))
            .identity(tonic::transport::Identity::from_pem(
                &identity.cert_pem,
                &identity.key_pem,
            ));
        if let Some(ca) = &self.extra_ca {
            tls = tls.ca_certificate(Certificate::from_pem(ca));
        }
        if let Some(name) = &self.target.server_name {
            tls = tls.domain_name(name.clone());
        }
        tls
    }
}

/// Decides, at `now`, how an agent reporting `host` reaches the collector `config` names.
/// An error says what to do (create a join token, fix a file).
pub fn plan(config: &Config, host: &str, now: SystemTime) -> Result<Plan, EnrollError> {
    if !config.collector.starts_with("https://") {
        return Ok(Plan::Plain);
    }
    let static_tls = || crate::stream::client_tls(&config.tls).map_err(EnrollError::Config);
    if config.tls.cert_file.is_some() {
        return Ok(Plan::Static(static_tls()?));
    }
    let dir = config.enroll.identity_dir();
    let shown = identity::shown(&dir);
    let token = !config.enroll.token.is_empty();
    let join_hint = || {
        format!(
            "create a join token on the collector with `vigil enroll create --hosts {host} \
             --ttl 1h` and start the agent with --join TOKEN --ca-fingerprint SHA256:... \
             (`vigil ca show` prints it), or put the token in enroll.token, \
             VIGIL_AGENT__ENROLL__TOKEN or enroll.token_file"
        )
    };
    match identity::load(&dir) {
        Ok(Some(id)) => {
            let cert = format!(
                "the certificate in {shown}/{} (host {}, serial {})",
                identity::CERT,
                id.info.host,
                id.info.serial
            );
            let expired = now >= id.info.not_after;
            let other_host = !id.info.host.eq_ignore_ascii_case(host);
            if !expired && !other_host {
                Ok(Plan::Enrolled(id))
            } else if expired && token {
                Ok(Plan::Join(format!(
                    "{cert} expired at {}; joining again with the join token",
                    time_text(id.info.not_after)
                )))
            } else if token {
                Ok(Plan::Join(format!(
                    "{cert} names another host than {host:?}; joining with the join token"
                )))
            } else if expired {
                Err(EnrollError::Config(format!(
                    "{cert} expired at {}, and an expired certificate cannot be renewed: {}",
                    time_text(id.info.not_after),
                    join_hint()
                )))
            } else {
                Err(EnrollError::Config(format!(
                    "{cert} names another host than this agent's {host:?} (hostname / \
                     --hostname): set the hostname back, or {}",
                    join_hint()
                )))
            }
        }
        Ok(None) if token => Ok(Plan::Join("not enrolled yet".into())),
        Ok(None) if config.tls.ca_file.is_some() => Ok(Plan::Static(static_tls()?)),
        Ok(None) => Err(EnrollError::Config(format!(
            "tls.ca_file: an https:// collector needs a CA to trust (tls.ca_file) or an \
             enrolled identity, and this agent is not enrolled (no certificate in {shown}: \
             enroll.dir / --identity-dir) and has no join token: {}",
            join_hint()
        ))),
        Err(e) if token => Ok(Plan::Join(format!(
            "{e}; joining again with the join token"
        ))),
        Err(e) => Err(EnrollError::Files(format!(
            "enroll.dir: {e}: remove the identity directory's files and {}",
            join_hint()
        ))),
    }
}

/// A new P-256 key pair (PKCS#8 PEM) and a certificate request (DER) for it naming `host`
/// as its common name.
pub fn request(host: &str) -> Result<(String, Vec<u8>), EnrollError> {
    let failed = |e: rcgen::Error| EnrollError::Files(format!("cannot make a key pair: {e}"));
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(failed)?;
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, host);
    let csr = params.serialize_request(&key).map_err(failed)?;
    Ok((
        identity::pem("PRIVATE KEY", key.serialized_der()),
        csr.der().to_vec(),
    ))
}

/// A refusal from the collector as `<what> refused by the collector: CODE: message`, with
/// what the agent's operator can do.
pub fn refused(what: &str, status: &tonic::Status, enroller: &Enroller) -> EnrollError {
    use tonic::Code;
    let transient = matches!(
        status.code(),
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::ResourceExhausted
    );
    let joining = what == "join";
    let hint = match status.code() {
        Code::Unauthenticated if joining => {
            " Then start the agent with --join NEW_TOKEN (or enroll.token, \
             VIGIL_AGENT__ENROLL__TOKEN, enroll.token_file)."
                .to_owned()
        }
        Code::PermissionDenied if joining => format!(
            " This agent's host name is {:?} (hostname / --hostname).",
            enroller.host
        ),
        Code::AlreadyExists => format!(
            " If this host kept its identity directory, point enroll.dir / --identity-dir at \
             it (now {}).",
            identity::shown(&enroller.dir)
        ),
        Code::Unimplemented => " Is --collector a Vigil collector with enrollment?".to_owned(),
        _ if transient => " Trying again.".to_owned(),
        _ => String::new(),
    };
    let message = match status.message().trim_end_matches('.') {
        "" => "no message",
        text => text,
    };
    EnrollError::Refused {
        message: format!(
            "{what} refused by the collector {}: {}: {message}.{hint}",
            enroller.target.url,
            crate::check::code_name(status.code())
        ),
        transient,
    }
}

/// A time as RFC 3339, seconds.
pub fn time_text(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}
