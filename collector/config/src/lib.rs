//! # vigil-config
//!
//! How every Vigil program reads its configuration, so the agent, the collector and the
//! CLI behave alike: defaults, then a TOML file, then `PREFIX<SECTION>__<KEY>` environment
//! variables, then flags, then validation (each program validates its own keys).
//!
//! # Layout
//! - [`load`]: a file (if any) and the environment into a program's config type.
//! - [`overlay_env`]: environment variables onto the file's TOML table.
//! - [`parse_duration`], [`duration`]: durations written like `10s`, `500ms`, `1h30m`, in
//!   flags and (through serde) in config files.

use std::fmt;
use std::path::Path;

/// Reads `file` (if any) as TOML, sets keys from `PREFIX…` variables in `env` (see
/// [`overlay_env`]), and deserializes the result into `T`, whose `#[serde(default)]`s are
/// the defaults. Errors name where the bad value came from (the file, or the environment
/// when there is no file) and say what is wrong, ready to show as they are.
pub fn load<T: serde::de::DeserializeOwned>(
    file: Option<&Path>,
    prefix: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, String> {
    let mut table = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
            text.parse::<toml::Table>()
                .map_err(|e| format!("config file {}: {e}", path.display()))?
        }
        None => toml::Table::new(),
    };
    let from_env = overlay_env(&mut table, prefix, env).map_err(|e| e.0)?;
    table.try_into().map_err(|e: toml::de::Error| {
        let origin = match (file, from_env) {
            (Some(p), _) => format!("config file {}", p.display()),
            (None, true) => "environment".to_owned(),
            (None, false) => "configuration".to_owned(),
        };
        format!("{origin}: {}", e.message())
    })
}

/// An environment variable that cannot be placed in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvError(pub String);

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EnvError {}

/// Sets `table[section]…[key]` from every `PREFIX<SECTION>__<KEY>` variable in `env`
/// (names are matched case-insensitively below the prefix; `__` separates levels). A value
/// that parses as a TOML value (`30`, `true`, `["a", "b"]`) is taken as one, anything else
/// as a string. Returns whether any variable was used.
pub fn overlay_env(
    table: &mut toml::Table,
    prefix: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<bool, EnvError> {
    let mut used = false;
    for (name, value) in env {
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        let Some((key, sections)) = path.split_last() else {
            continue;
        };
        let mut at = &mut *table;
        for section in sections {
            let entry = at
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            at = entry
                .as_table_mut()
                .ok_or_else(|| EnvError(format!("{name}: {section} is not a section")))?;
        }
        let parsed = format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.clone()));
        at.insert(key.clone(), parsed);
        used = true;
    }
    Ok(used)
}

/// A duration written like `10s`, `500ms`, `5m` or `1h30m`; the error names the text and
/// shows the forms accepted.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{text:?} is not a duration like 10s, 5m or 1h30m ({e})"))
}

/// Serde helper for durations written like `10s`, `500ms`, `5m` or `1h30m`
/// (`#[serde(with = "vigil_config::duration")]`).
pub mod duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    /// Parses a humantime duration string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn variables_land_in_sections_as_toml_values() {
        let mut table: toml::Table = "[a]\nx = 1\n".parse().unwrap();
        let used = overlay_env(
            &mut table,
            "P__",
            env(&[
                ("P__A__X", "2"),
                ("P__B__DEEP__NAME", "text with spaces"),
                ("P__FLAG", "true"),
                ("OTHER", "ignored"),
            ]),
        )
        .unwrap();
        assert!(used);
        assert_eq!(table["a"]["x"].as_integer(), Some(2));
        assert_eq!(
            table["b"]["deep"]["name"].as_str(),
            Some("text with spaces")
        );
        assert_eq!(table["flag"].as_bool(), Some(true));
        assert!(!table.contains_key("other"));
    }

    #[test]
    fn a_key_used_as_a_section_is_named() {
        let mut table: toml::Table = "a = 1\n".parse().unwrap();
        let err = overlay_env(&mut table, "P__", env(&[("P__A__X", "2")])).unwrap_err();
        assert_eq!(err.0, "P__A__X: a is not a section");
        assert!(!overlay_env(&mut table, "P__", env(&[])).unwrap());
    }

    #[test]
    fn durations_name_the_bad_text() {
        #[derive(serde::Deserialize)]
        struct S {
            #[serde(with = "duration")]
            d: std::time::Duration,
        }
        let ok: S = toml::from_str("d = \"1h30m\"").unwrap();
        assert_eq!(ok.d.as_secs(), 5400);
        let err = toml::from_str::<S>("d = \"soon\"")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("\"soon\" is not a duration like 10s, 5m or 1h30m"),
            "{err}"
        );
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Small {
        port: u16,
        name: String,
    }

    impl Default for Small {
        fn default() -> Self {
            Self {
                port: 7070,
                name: "vigil".into(),
            }
        }
    }

    #[test]
    fn load_takes_defaults_then_file_then_environment_and_names_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "port = 9000\n").unwrap();
        let c: Small = load(Some(&path), "P__", env(&[("P__NAME", "x")])).unwrap();
        assert_eq!((c.port, c.name.as_str()), (9000, "x"));
        let c: Small = load(None, "P__", env(&[])).unwrap();
        assert_eq!((c.port, c.name.as_str()), (7070, "vigil"));

        std::fs::write(&path, "colour = 1\n").unwrap();
        let err = load::<Small>(Some(&path), "P__", env(&[])).unwrap_err();
        assert!(
            err.starts_with(&format!(
                "config file {}: unknown field `colour`",
                path.display()
            )),
            "{err}"
        );
        let err = load::<Small>(None, "P__", env(&[("P__PORT", "\"high\"")])).unwrap_err();
        assert!(err.starts_with("environment: invalid type"), "{err}");
        let err =
            load::<Small>(Some(&dir.path().join("missing.toml")), "P__", env(&[])).unwrap_err();
        assert!(err.starts_with("cannot read config file"), "{err}");
    }
}
