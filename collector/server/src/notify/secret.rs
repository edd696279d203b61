//! Secrets in configuration: SMTP passwords, HMAC keys, webhook tokens.
//!
//! A secret is written inline (`password = "…"`), or read from a file
//! (`password = { file = "/etc/vigil/smtp.pass" }`, trailing newline dropped) or from the
//! environment (`password = { env = "VIGIL_SMTP_PASSWORD" }`). Its `Debug` and `Display`
//! print `<secret>`, so it cannot leak through logs or errors; only [`Secret::expose`]
//! gives the value, and errors about it name the file or variable, never the content.

use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;

/// Where a secret comes from.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum SecretSource {
    /// Written in the config file.
    Inline(String),
    /// Read from a file.
    File {
        /// The file.
        file: PathBuf,
    },
    /// Read from an environment variable.
    Env {
        /// The variable.
        env: String,
    },
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Inline(_) => f.write_str("<secret>"),
            SecretSource::File { file } => write!(f, "<secret from file {}>", file.display()),
            SecretSource::Env { env } => write!(f, "<secret from ${env}>"),
        }
    }
}

impl SecretSource {
    /// Reads the secret. The error names the file or variable, never a value.
    pub fn load(&self) -> Result<Secret, String> {
        match self {
            SecretSource::Inline(value) => Ok(Secret(value.clone())),
            SecretSource::File { file } => std::fs::read_to_string(file)
                .map(|text| Secret(text.trim_end_matches(['\n', '\r']).to_owned()))
                .map_err(|e| format!("cannot read secret file {}: {e}", file.display())),
            SecretSource::Env { env } => std::env::var(env)
                .map(Secret)
                .map_err(|_| format!("environment variable {env} is not set (or not UTF-8)")),
        }
    }
}

/// A loaded secret. Prints as `<secret>`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces every occurrence of the secret in `text` with `<secret>` (for error
    /// messages that quote a server's answer or a URL).
    pub fn redact(&self, text: &str) -> String {
        if self.0.len() < 4 {
            return text.to_owned();
        }
        text.replace(&self.0, "<secret>")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Holder {
        password: SecretSource,
    }

    fn parse(text: &str) -> SecretSource {
        toml::from_str::<Holder>(text).expect("parses").password
    }

    #[test]
    fn inline_file_and_env_sources() {
        let inline = parse(r#"password = "hunter22""#);
        assert_eq!(inline.load().unwrap().expose(), "hunter22");
        assert_eq!(format!("{inline:?}"), "<secret>");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pass");
        std::fs::write(&path, "from-file\n").unwrap();
        let file = parse(&format!(
            "password = {{ file = {:?} }}",
            path.display().to_string()
        ));
        let loaded = file.load().unwrap();
        assert_eq!(loaded.expose(), "from-file");
        assert_eq!(format!("{loaded:?} {loaded}"), "<secret> <secret>");

        let missing = parse(r#"password = { env = "VIGIL_TEST_SURELY_UNSET_VARIABLE" }"#);
        let err = missing.load().unwrap_err();
        assert!(err.contains("VIGIL_TEST_SURELY_UNSET_VARIABLE"), "{err}");
    }

    #[test]
    fn redact_hides_the_value() {
        let secret = Secret("s3cr3t-token".into());
        assert_eq!(
            secret.redact("401: bad token s3cr3t-token"),
            "401: bad token <secret>"
        );
    }
}
