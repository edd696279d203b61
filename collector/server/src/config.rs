//! Collector configuration: defaults, then the TOML file, then environment variables, then
//! command-line flags; then validation. Every setting is documented in
//! `deploy/collector.example.toml`.
//!
//! Any key can be set from the environment as `VIGIL_COLLECTOR__<SECTION>__<KEY>` (for
//! example `VIGIL_COLLECTOR__LIMITS__MAX_SERIES_PER_HOST=50000`); the value is read as a TOML
//! value when it parses as one, else as a string.
//!
//! # Layout
//! - This module: [`Config`], loading it, and validation section by section.
//! - `server`: `[server]`, the gRPC and HTTP listeners.
//! - [`auth`]: `[auth]`, API tokens and their roles.
//! - `storage`: `[storage]`, the data directory, blocks and retention tiers.
//! - `limits`: the checks on `[limits]` (the type is [`crate::limits::Limits`]).
//! - `hosts`: `[hosts]`, when a host counts as down.
//! - `log`: `[log]`, format and filter.
//! - `tls`: `[tls]`, the listener's certificate and agents' client certificates.
//! - `enroll`: `[enroll]`, the CA that signs the certificates of agents that join.
//! - `rules`: `[rules]`, rule files and evaluation.
//! - `[notify]` is [`crate::notify::config`]; `[[relabel]]` is [`crate::relabel`];
//!   `[[remote_write]]` is [`crate::remote_write::config`].
//! - `tests`: loading and validation, and the example config.

pub mod auth;
mod enroll;
mod hosts;
mod incidents;
mod limits;
mod log;
mod rules;
mod server;
mod storage;
mod tls;

pub use auth::AuthConfig;
pub use enroll::EnrollConfig;
pub use hosts::HostsConfig;
pub use incidents::IncidentsConfig;
pub use log::{LogConfig, LogFormat};
pub use rules::RulesConfig;
pub use server::ServerConfig;
pub use storage::StorageConfig;
pub use tls::TlsConfig;

use crate::limits::Limits;
use serde::Deserialize;
use std::path::Path;

/// Prefix of environment variables that set configuration keys.
pub const ENV_PREFIX: &str = "VIGIL_COLLECTOR__";

/// The whole collector configuration.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[server]`: where to listen.
    pub server: ServerConfig,
    /// `[auth]`: API tokens and their roles.
    pub auth: AuthConfig,
    /// `[storage]`: where and how to store.
    pub storage: StorageConfig,
    /// `[limits]`: what agents and queries may do.
    pub limits: Limits,
    /// `[hosts]`: when a host counts as down.
    pub hosts: HostsConfig,
    /// `[log]`: logging.
    pub log: LogConfig,
    /// `[tls]`: TLS for the gRPC listener, and client certificates for agents (mTLS).
    pub tls: TlsConfig,
    /// `[enroll]`: the CA that signs agents' certificates when they join with a token.
    pub enroll: EnrollConfig,
    /// `[rules]`: rule files and how often they are evaluated.
    pub rules: RulesConfig,
    /// `[notify]`: receivers, routing, inhibition and delivery of notifications.
    pub notify: crate::notify::config::NotifyConfig,
    /// `[incidents]`: how firing alerts are grouped into incidents.
    pub incidents: IncidentsConfig,
    /// `[[relabel]]`: Prometheus-style relabelling of every ingested series.
    pub relabel: Vec<crate::relabel::RelabelConfig>,
    /// `[[remote_write]]`: receivers everything stored is forwarded to (Prometheus remote
    /// write 1.0), each with its own durable position; names are unique.
    pub remote_write: Vec<crate::remote_write::config::RemoteWriteConfig>,
}

/// A configuration that could not be used; names the key and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl ConfigError {
    /// What is wrong with `key`, as `key: why`.
    fn at(key: &str, why: impl std::fmt::Display) -> Self {
        ConfigError(format!("{key}: {why}"))
    }
}

impl Config {
    /// Defaults, then `file` (if any), then the environment `env` (pairs of name and value).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut config: Config = vigil_config::load(file, ENV_PREFIX, env).map_err(ConfigError)?;
        // Agents that joined hold certificates from the enrollment CA: trust it for them
        // unless the operator named a client CA (a bundle, while rotating).
        if config.enroll.enabled() && config.tls.client_ca_file.is_none() {
            config.tls.client_ca_file = config.enroll.ca_cert_file.clone();
        }
        Ok(config)
    }

    /// Checks settings that parse but cannot work; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        // TLS first: whether the listeners may leave loopback depends on it.
        self.enroll.validate(self.tls.enabled())?;
        self.tls.validate()?;
        self.server.validate(self.tls.enabled())?;
        self.auth.validate()?;
        self.validate_exposure()?;
        limits::validate(&self.limits)?;
        self.rules.validate()?;
        self.incidents.validate()?;
        self.storage.validate()?;
        self.log.validate()?;
        self.notify.validate().map_err(ConfigError)?;
        if self.notify.has_incident_routes() && !self.incidents.enabled {
            return Err(ConfigError::at(
                "notify.route",
                "a route has mode = \"incident\" but [incidents] enabled = false; turn \
                 incidents on, or use mode = \"alerts\"",
            ));
        }
        crate::relabel::Relabeler::new(&self.relabel).map_err(ConfigError)?;
        self.validate_remote_write()?;
        Ok(())
    }

    /// Every `[[remote_write]]` entry, and their names unique (a remote's cursor is kept
    /// under its name).
    fn validate_remote_write(&self) -> Result<(), ConfigError> {
        let mut seen: std::collections::HashMap<String, usize> = Default::default();
        for (i, remote) in self.remote_write.iter().enumerate() {
            remote.validate(i).map_err(ConfigError)?;
            if let Some(first) = seen.insert(remote.name(), i) {
                return Err(ConfigError::at(
                    &format!("remote_write[{i}].name"),
                    format!(
                        "{:?} is also the name of remote_write[{first}] (the default name is \
                         the URL's host:port); give each remote its own name",
                        remote.name()
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl Config {
    /// Whether any caller must prove who it is (tokens, old agent tokens, or a client CA).
    pub fn authenticates(&self) -> bool {
        !self.auth.tokens.is_empty()
            || !self.server.agent_tokens.is_empty()
            || self.tls.client_ca_file.is_some()
    }

    /// A listener off loopback needs authentication as well as TLS (checked in
    /// `server`), unless `server.allow_insecure`.
    fn validate_exposure(&self) -> Result<(), ConfigError> {
        if self.server.allow_insecure || self.authenticates() {
            return Ok(());
        }
        let exposed = [Some(self.server.grpc_listen), self.server.http_listen]
            .into_iter()
            .flatten()
            .find(|addr| !addr.ip().is_loopback());
        match exposed {
            Some(addr) => Err(ConfigError::at(
                "auth.tokens",
                format!(
                    "the collector listens on {addr}, off loopback, and nobody would need to \
                     prove who they are: add [[auth.tokens]] entries (roles read, admin, agent) \
                     and/or tls.client_ca_file for agents' certificates, or pass \
                     --allow-insecure (server.allow_insecure) to serve it open"
                ),
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
