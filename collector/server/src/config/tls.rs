//! `[tls]`: the certificate the gRPC listener presents, and the CA of agents' client
//! certificates (mTLS).

use super::ConfigError;
use serde::Deserialize;
use std::path::PathBuf;

/// `[tls]`. TLS is on when `cert_file` is set.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain the collector presents.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of that certificate.
    pub key_file: Option<PathBuf>,
    /// PEM CA that signs agent certificates. When set, every agent must present a
    /// certificate from it, and the certificate's name (CN, else first DNS name) is the
    /// agent's host: an agent can only write its own host's series.
    pub client_ca_file: Option<PathBuf>,
}

impl TlsConfig {
    /// Whether the listener speaks TLS.
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some()
    }

    /// Certificate and key come together; client certificates need TLS.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => {
                return Err(ConfigError::at(
                    "tls.key_file",
                    "must be set when tls.cert_file is",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::at(
                    "tls.cert_file",
                    "must be set when tls.key_file is",
                ));
            }
            _ => {}
        }
        if self.client_ca_file.is_some() && !self.enabled() {
            return Err(ConfigError::at(
                "tls.client_ca_file",
                "needs tls.cert_file and tls.key_file: client certificates only work over TLS",
            ));
        }
        Ok(())
    }
}
