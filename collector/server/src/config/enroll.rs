//! `[enroll]`: the CA that signs agents' certificates when they join with a token.
//!
//! ```toml
//! [enroll]
//! ca_cert_file = "/etc/vigil/pki/ca.pem"   # from `vigil ca init`, or the operator's own CA
//! ca_key_file = "/etc/vigil/pki/ca.key"    # mode 0600, readable by the collector only
//! cert_ttl = "30d"                         # agents renew at two thirds of it
//! max_token_ttl = "30d"
//! # ca_bundle_file = "/etc/vigil/pki/ca-bundle.pem"   # while rotating: old and new CA
//! ```

use super::ConfigError;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Shortest certificate lifetime: renewal at two thirds of it must not become a loop.
pub const MIN_CERT_TTL: Duration = Duration::from_secs(10);
/// Longest certificate lifetime: a lost key should not stay good for years.
pub const MAX_CERT_TTL: Duration = Duration::from_secs(366 * 86_400);

/// `[enroll]`. Enrollment is on when `ca_key_file` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrollConfig {
    /// PEM certificate of the CA that signs agents' client certificates.
    pub ca_cert_file: Option<PathBuf>,
    /// PEM private key of that CA.
    pub ca_key_file: Option<PathBuf>,
    /// PEM of every CA agents should trust for the collector's server certificate, sent to
    /// them with each certificate; unset: `ca_cert_file`. Holds the old and the new CA while
    /// the CA is rotated.
    pub ca_bundle_file: Option<PathBuf>,
    /// Lifetime of an issued agent certificate.
    #[serde(with = "vigil_config::duration")]
    pub cert_ttl: Duration,
    /// Longest lifetime `vigil enroll create --ttl` may give a join token.
    #[serde(with = "vigil_config::duration")]
    pub max_token_ttl: Duration,
}

impl Default for EnrollConfig {
    fn default() -> Self {
        Self {
            ca_cert_file: None,
            ca_key_file: None,
            ca_bundle_file: None,
            cert_ttl: Duration::from_secs(30 * 86_400),
            max_token_ttl: Duration::from_secs(30 * 86_400),
        }
    }
}

impl EnrollConfig {
    /// Whether agents may join with tokens.
    pub fn enabled(&self) -> bool {
        self.ca_key_file.is_some()
    }

    /// The CA's files come together, need TLS, and lifetimes are within bounds.
    pub(super) fn validate(&self, tls_enabled: bool) -> Result<(), ConfigError> {
        match (&self.ca_cert_file, &self.ca_key_file) {
            (None, Some(_)) => {
                return Err(ConfigError::at(
                    "enroll.ca_cert_file",
                    "must be set when enroll.ca_key_file is (`vigil ca init` writes ca.pem \
                     and ca.key)",
                ));
            }
            (Some(_), None) => {
                return Err(ConfigError::at(
                    "enroll.ca_key_file",
                    "must be set when enroll.ca_cert_file is: the collector signs agents' \
                     certificates with that key",
                ));
            }
            (None, None) => {
                if self.ca_bundle_file.is_some() {
                    return Err(ConfigError::at(
                        "enroll.ca_bundle_file",
                        "only means something with enroll.ca_cert_file and enroll.ca_key_file",
                    ));
                }
                return Ok(());
            }
            (Some(_), Some(_)) => {}
        }
        if !tls_enabled {
            return Err(ConfigError::at(
                "enroll.ca_key_file",
                "enrollment needs TLS: set tls.cert_file and tls.key_file (`vigil ca init` \
                 writes server.pem and server.key)",
            ));
        }
        if !(MIN_CERT_TTL..=MAX_CERT_TTL).contains(&self.cert_ttl) {
            return Err(ConfigError::at(
                "enroll.cert_ttl",
                format!(
                    "{} is out of range: between 10s and 366d",
                    humantime::format_duration(self.cert_ttl)
                ),
            ));
        }
        if self.max_token_ttl < Duration::from_secs(60) {
            return Err(ConfigError::at(
                "enroll.max_token_ttl",
                "must be at least 1m",
            ));
        }
        Ok(())
    }
}
