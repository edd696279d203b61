//! `[auth]`: API tokens and their roles.
//!
//! ```toml
//! [[auth.tokens]]
//! name = "grafana"                  # shown in logs and audit records, never the secret
//! role = "read"                     # "read", "admin" or "agent"
//! secret = { file = "/etc/vigil/tokens/grafana" }   # or a string, or { env = "NAME" }
//! # hosts = ["web-1", "web-*"]      # agent tokens: the host names it may write
//! ```
//!
//! What each role may do, and how a caller proves it holds a token, is [`crate::auth`].

use super::ConfigError;
use crate::notify::secret::SecretSource;
use serde::Deserialize;

/// Shortest secret accepted: anything shorter can be guessed by a patient client.
pub const MIN_SECRET_BYTES: usize = 16;

/// `[auth]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The tokens callers may present. With none (and no `tls.client_ca_file`) the
    /// collector is open, which it allows only on loopback unless `server.allow_insecure`.
    pub tokens: Vec<TokenConfig>,
}

/// One `[[auth.tokens]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The token's name: in logs, audit records and metrics (never the secret). With HTTP
    /// basic auth it is the user name.
    pub name: String,
    /// What the token may do.
    pub role: Role,
    /// The secret callers present.
    pub secret: SecretSource,
    /// For `agent` tokens, the host names it may write, as patterns (`*` any run of
    /// characters, `?` one). Unset: any host.
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Queries, series, labels, hosts, alerts, rules, forecasts, status, the outbox.
    Read,
    /// All of `read`, plus backups, rule reloads, silences, test notifications, imports.
    Admin,
    /// Ingest (and imports), only for the hosts its patterns allow.
    Agent,
}

impl Role {
    /// The role's name as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Admin => "admin",
            Role::Agent => "agent",
        }
    }
}

impl AuthConfig {
    /// Names are unique and printable, secrets load, are long enough and are not shared,
    /// host patterns only on agent tokens. Loads each secret (files and variables must be
    /// readable when the collector starts).
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::BTreeSet::new();
        let mut secrets: Vec<(String, String)> = Vec::new();
        for (i, token) in self.tokens.iter().enumerate() {
            let key = format!("auth.tokens[{i}]");
            let name = token.name.as_str();
            if name.is_empty()
                || name.len() > 64
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
            {
                return Err(ConfigError::at(
                    &format!("{key}.name"),
                    format!(
                        "{name:?} is not a usable token name: 1 to 64 letters, digits, '-', '_', \
                         '.' or '@' (it is the user name for HTTP basic auth)"
                    ),
                ));
            }
            if !names.insert(name) {
                return Err(ConfigError::at(
                    &format!("{key}.name"),
                    format!("{name:?} is used by another token; names must be unique"),
                ));
            }
            let secret = token
                .secret
                .load()
                .map_err(|e| ConfigError::at(&format!("{key}.secret"), e))?;
            if secret.expose().len() < MIN_SECRET_BYTES {
                return Err(ConfigError::at(
                    &format!("{key}.secret"),
                    format!(
                        "the secret of token {name:?} is shorter than {MIN_SECRET_BYTES} bytes; \
                         make one with `head -c 32 /dev/urandom | base64`"
                    ),
                ));
            }
            if let Some((other, _)) = secrets.iter().find(|(_, s)| s == secret.expose()) {
                return Err(ConfigError::at(
                    &format!("{key}.secret"),
                    format!(
                        "token {name:?} has the same secret as token {other:?}; give each its own"
                    ),
                ));
            }
            secrets.push((name.to_owned(), secret.expose().to_owned()));
            match (&token.hosts, token.role) {
                (Some(_), Role::Read | Role::Admin) => {
                    return Err(ConfigError::at(
                        &format!("{key}.hosts"),
                        format!(
                            "only agent tokens have hosts; token {name:?} has role {:?}",
                            token.role.as_str()
                        ),
                    ));
                }
                (Some(hosts), Role::Agent) => {
                    if let Some(bad) = hosts.iter().find(|p| {
                        p.is_empty() || p.len() > 253 || p.chars().any(char::is_whitespace)
                    }) {
                        return Err(ConfigError::at(
                            &format!("{key}.hosts"),
                            format!("{bad:?} is not a host name pattern"),
                        ));
                    }
                }
                (None, _) => {}
            }
        }
        Ok(())
    }
}
