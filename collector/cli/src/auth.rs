//! The token the CLI presents to the collector: where it comes from (`--token`,
//! `--token-file`, `VIGIL_TOKEN`; `VIGIL_AGENT_TOKEN` for `vigil import` only), the
//! `authorization: Bearer` metadata every call carries, the refusal to send it in clear
//! text over the network, and what the collector's refusals tell the user.
//!
//! A secret never reaches an error message, a log line or `Debug` output: [`Secret`] hides
//! itself, and messages name only where the token came from ([`Source`]).

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::transport::Uri;

use super::error::Error;

/// The environment variable read when neither `--token` nor `--token-file` is given.
pub const TOKEN_ENV: &str = "VIGIL_TOKEN";

/// The environment variable `vigil import` used to read its token from; still read by
/// `vigil import` when no other token is given, so existing scripts keep working.
pub const AGENT_TOKEN_ENV: &str = "VIGIL_AGENT_TOKEN";

/// A token's secret. Its `Debug` output hides it, so a `{:?}` of the CLI's arguments never
/// shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the request that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(hidden)")
    }
}

/// Where a token came from, as messages name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `--token SECRET`.
    Flag,
    /// `--token-file PATH`.
    File(PathBuf),
    /// `VIGIL_TOKEN`.
    Env,
    /// `VIGIL_AGENT_TOKEN` (`vigil import` only).
    AgentEnv,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => f.write_str("--token"),
            Source::File(path) => write!(f, "--token-file {}", path.display()),
            Source::Env => f.write_str(TOKEN_ENV),
            Source::AgentEnv => f.write_str(AGENT_TOKEN_ENV),
        }
    }
}

/// A token and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The secret.
    pub secret: Secret,
    /// Where it came from.
    pub source: Source,
}

impl Token {
    /// The token to use: `--token` (`flag`), else the contents of `--token-file` (`file`),
    /// else `VIGIL_TOKEN` (`env`, empty meaning unset); `None` when there is none. clap
    /// refuses `--token` together with `--token-file`; a token in the environment gives
    /// way to either flag.
    pub fn resolve(
        flag: Option<Secret>,
        file: Option<&Path>,
        env: Option<String>,
    ) -> Result<Option<Token>, Error> {
        if let Some(secret) = flag {
            return Ok(Some(Token {
                secret,
                source: Source::Flag,
            }));
        }
        if let Some(path) = file {
            return Ok(Some(read_file(path)?));
        }
        Token::from_env(Source::Env, env)
    }

    /// The token in an environment variable's value (`source` names the variable); an
    /// unset or empty variable is no token.
    pub fn from_env(source: Source, value: Option<String>) -> Result<Option<Token>, Error> {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let secret = check(value).map_err(|reason| Error::BadToken {
            from: source.to_string(),
            reason,
        })?;
        Ok(Some(Token { secret, source }))
    }

    /// The metadata value `Bearer SECRET`, marked sensitive so HTTP/2 never indexes it.
    pub fn header(&self) -> MetadataValue<Ascii> {
        let mut value =
            bearer(self.secret.expose()).expect("every Secret was checked to fit in a header");
        value.set_sensitive(true);
        value
    }
}

/// `--token`'s value parser: a secret that is not empty and can go in a header.
pub fn parse_secret(text: &str) -> Result<Secret, String> {
    check(text.to_owned())
}

/// The token in the file `--token-file` names, without one trailing newline.
fn read_file(path: &Path) -> Result<Token, Error> {
    let bad = |reason: String| Error::BadToken {
        from: Source::File(path.to_owned()).to_string(),
        reason,
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read the token: {e}")))?;
    let text = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    let secret = check(text.to_owned()).map_err(bad)?;
    Ok(Token {
        secret,
        source: Source::File(path.to_owned()),
    })
}

/// `text` as a secret, or why it cannot be one (it is said without the secret).
fn check(text: String) -> Result<Secret, String> {
    if text.is_empty() {
        return Err(
            "the token is empty; give the secret of one of the collector's \
                    [[auth.tokens]]"
                .to_owned(),
        );
    }
    let printable = text.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
    if !printable || text.trim() != text || bearer(&text).is_err() {
        return Err(
            "the token has a character a gRPC header cannot carry (it must be \
                    printable ASCII, without spaces at its ends)"
                .to_owned(),
        );
    }
    Ok(Secret(text))
}

/// `Bearer SECRET` as metadata.
fn bearer(
    secret: &str,
) -> Result<MetadataValue<Ascii>, tonic::metadata::errors::InvalidMetadataValue> {
    MetadataValue::try_from(format!("Bearer {secret}"))
}

/// Adds `authorization: Bearer SECRET` to every call when a token is given; adds nothing
/// otherwise.
#[derive(Clone, Default)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Bearer {
    /// The interceptor for `token`.
    pub fn new(token: Option<&Token>) -> Self {
        Bearer(token.map(Token::header))
    }
}

impl fmt::Debug for Bearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Bearer(hidden)"
        } else {
            "Bearer(none)"
        })
    }
}

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// Whether a call to `uri` would carry a token in clear text across the network: not
/// `https://`, and the host is neither `localhost` nor a loopback address.
pub fn clear_text_to_network(uri: &Uri) -> bool {
    if uri.scheme_str() == Some("https") {
        return false;
    }
    let host = uri.host().unwrap_or_default();
    if host.eq_ignore_ascii_case("localhost") || host.eq_ignore_ascii_case("localhost.") {
        return false;
    }
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    !ip.parse::<IpAddr>()
        .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// The error for a call the collector refused: `UNAUTHENTICATED` and `PERMISSION_DENIED`
/// say what to do about the token (`from`: where it came from, `None` when none was
/// given); any other status is shown as the collector worded it.
pub fn refusal(from: Option<&Source>, status: tonic::Status) -> Error {
    let from = from.map(ToString::to_string);
    let message = status.message().to_owned();
    match status.code() {
        tonic::Code::Unauthenticated => Error::Unauthenticated { from, message },
        tonic::Code::PermissionDenied => Error::PermissionDenied { from, message },
        _ => Error::from(status),
    }
}

#[cfg(test)]
mod tests;
