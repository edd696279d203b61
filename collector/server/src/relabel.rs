//! `[[relabel]]`: Prometheus' relabelling, applied by the collector to every series an
//! agent defines, so operators who rename or drop labels in Prometheus' `relabel_configs`
//! and `metric_relabel_configs` can do the same here.
//!
//! The steps run in order over the series' whole label set (`__name__` and `host`
//! included, so `source_labels = ["__name__"]` selects metrics). Actions, as in Prometheus:
//! - `replace` (default): when `regex` matches the `separator`-joined values of
//!   `source_labels`, set `target_label` to `replacement` with `$1`, `${name}` expanded; an
//!   empty result removes the label.
//! - `keep` / `drop`: keep only the series whose joined value matches / drop those that do.
//! - `keepequal` / `dropequal`: keep / drop the series whose joined value equals
//!   `target_label`'s value.
//! - `labelmap`: copy every label whose name matches `regex` to the name `replacement`.
//! - `labeldrop` / `labelkeep`: remove the labels whose names match / do not match `regex`.
//! - `lowercase` / `uppercase`: set `target_label` to the joined value in that case.
//!
//! Regexes are anchored at both ends, as in Prometheus. `host` names the agent that wrote
//! the series and is kept whatever the steps do; a series left without `__name__` or with a
//! label name that is not valid is dropped (and counted).

use regex::Regex;
use serde::Deserialize;
use std::collections::BTreeMap;
use vigil_store::{Labels, METRIC_NAME};

/// The label the collector files a series under; no step may change it.
const HOST: &str = "host";

/// One `[[relabel]]` entry as written in the config file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator` and matched against `regex`.
    pub source_labels: Vec<String>,
    /// Joins the source labels' values; `;` by default.
    pub separator: String,
    /// Matched against the joined value (or label names, for the label* actions);
    /// anchored at both ends. `(.*)` by default.
    pub regex: String,
    /// The label a `replace`, `lowercase`, `uppercase`, `keepequal` or `dropequal` step
    /// writes or compares.
    pub target_label: String,
    /// What `replace` and `labelmap` write, with `$1`, `${name}` expanded; `$1` by default.
    pub replacement: String,
    /// What the step does (see the module doc); `replace` by default.
    pub action: Action,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        Self {
            source_labels: Vec::new(),
            separator: ";".to_owned(),
            regex: "(.*)".to_owned(),
            target_label: String::new(),
            replacement: "$1".to_owned(),
            action: Action::Replace,
        }
    }
}

/// A relabel step's action.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Write `target_label` from `replacement` when `regex` matches.
    Replace,
    /// Keep only series whose joined value matches `regex`.
    Keep,
    /// Drop series whose joined value matches `regex`.
    Drop,
    /// Keep only series whose joined value equals `target_label`'s value.
    Keepequal,
    /// Drop series whose joined value equals `target_label`'s value.
    Dropequal,
    /// Copy labels whose names match `regex` to `replacement`.
    Labelmap,
    /// Remove labels whose names match `regex`.
    Labeldrop,
    /// Remove labels whose names do not match `regex`.
    Labelkeep,
    /// Set `target_label` to the joined value in lower case.
    Lowercase,
    /// Set `target_label` to the joined value in upper case.
    Uppercase,
}

/// A checked, compiled `[[relabel]]` list.
#[derive(Debug, Default)]
pub struct Relabeler {
    steps: Vec<Step>,
}

#[derive(Debug)]
struct Step {
    config: RelabelConfig,
    regex: Regex,
}

/// What relabelling made of a series.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Store it with these labels.
    Keep(Labels),
    /// A `keep`/`drop` step dropped it.
    Dropped,
    /// The steps left it unusable: no `__name__`, or a label name that is not valid.
    Invalid(String),
}

impl Relabeler {
    /// Checks and compiles `configs`; the error names the entry (`relabel[2].regex`) and
    /// what to change.
    pub fn new(configs: &[RelabelConfig]) -> Result<Self, String> {
        let mut steps = Vec::with_capacity(configs.len());
        for (i, config) in configs.iter().enumerate() {
            let at = |key: &str| format!("relabel[{i}].{key}");
            let regex = Regex::new(&format!("^(?:{})$", config.regex)).map_err(|e| {
                format!(
                    "{}: {:?} is not a valid regular expression: {e}",
                    at("regex"),
                    config.regex
                )
            })?;
            for name in &config.source_labels {
                if !valid_label_name(name) {
                    return Err(format!(
                        "{}: {name:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)",
                        at("source_labels")
                    ));
                }
            }
            let needs_target = matches!(
                config.action,
                Action::Replace
                    | Action::Keepequal
                    | Action::Dropequal
                    | Action::Lowercase
                    | Action::Uppercase
            );
            if needs_target && config.target_label.is_empty() {
                return Err(format!(
                    "{}: the {:?} action needs a target_label",
                    at("target_label"),
                    config.action
                ));
            }
            let fixed_target = matches!(
                config.action,
                Action::Keepequal | Action::Dropequal | Action::Lowercase | Action::Uppercase
            );
            if fixed_target && !valid_label_name(&config.target_label) {
                return Err(format!(
                    "{}: {:?} is not a label name",
                    at("target_label"),
                    config.target_label
                ));
            }
            if config.target_label == HOST {
                return Err(format!(
                    "{}: `host` names the agent that wrote a series and cannot be rewritten; \
                     write another label",
                    at("target_label")
                ));
            }
            let uses_sources = !matches!(
                config.action,
                Action::Labelmap | Action::Labeldrop | Action::Labelkeep
            );
            if uses_sources && config.source_labels.is_empty() && config.action != Action::Replace {
                return Err(format!(
                    "{}: the {:?} action needs source_labels",
                    at("source_labels"),
                    config.action
                ));
            }
            steps.push(Step {
                config: config.clone(),
                regex,
            });
        }
        Ok(Self { steps })
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Runs every step over `labels` (handed back as they are when there is none).
    pub fn apply(&self, labels: Labels) -> Outcome {
        if self.steps.is_empty() {
            return Outcome::Keep(labels);
        }
        let mut map: BTreeMap<String, String> = labels.pairs().iter().cloned().collect();
        let host = map.get(HOST).cloned();
        for step in &self.steps {
            if !step.apply(&mut map) {
                return Outcome::Dropped;
            }
        }
        match host {
            Some(h) => {
                map.insert(HOST.to_owned(), h);
            }
            None => {
                map.remove(HOST);
            }
        }
        if map.get(METRIC_NAME).is_none_or(|n| n.is_empty()) {
            return Outcome::Invalid("relabelling removed the metric name (__name__)".to_owned());
        }
        if let Some(bad) = map.keys().find(|n| !valid_label_name(n)) {
            return Outcome::Invalid(format!(
                "relabelling made the label name {bad:?}, which is not valid"
            ));
        }
        Outcome::Keep(Labels::new(map.into_iter().collect()))
    }
}

impl Step {
    /// Applies this step to `map`; false when the series is dropped.
    fn apply(&self, map: &mut BTreeMap<String, String>) -> bool {
        let c = &self.config;
        let joined = || {
            c.source_labels
                .iter()
                .map(|n| map.get(n).map_or("", String::as_str))
                .collect::<Vec<_>>()
                .join(&c.separator)
        };
        match c.action {
            Action::Keep => self.regex.is_match(&joined()),
            Action::Drop => !self.regex.is_match(&joined()),
            Action::Keepequal => map.get(&c.target_label).map_or("", String::as_str) == joined(),
            Action::Dropequal => map.get(&c.target_label).map_or("", String::as_str) != joined(),
            Action::Replace => {
                let value = joined();
                if let Some(caps) = self.regex.captures(&value) {
                    let mut target = String::new();
                    caps.expand(&c.target_label, &mut target);
                    let mut out = String::new();
                    caps.expand(&c.replacement, &mut out);
                    if valid_label_name(&target) && target != HOST {
                        if out.is_empty() {
                            map.remove(&target);
                        } else {
                            map.insert(target, out);
                        }
                    }
                }
                true
            }
            Action::Lowercase | Action::Uppercase => {
                let value = joined();
                let value = if c.action == Action::Lowercase {
                    value.to_lowercase()
                } else {
                    value.to_uppercase()
                };
                map.insert(c.target_label.clone(), value);
                true
            }
            Action::Labelmap => {
                let mut added = Vec::new();
                for (name, value) in map.iter() {
                    if let Some(caps) = self.regex.captures(name) {
                        let mut to = String::new();
                        caps.expand(&c.replacement, &mut to);
                        if to != HOST {
                            added.push((to, value.clone()));
                        }
                    }
                }
                map.extend(added);
                true
            }
            Action::Labeldrop => {
                map.retain(|name, _| name == HOST || !self.regex.is_match(name));
                true
            }
            Action::Labelkeep => {
                map.retain(|name, _| name == HOST || self.regex.is_match(name));
                true
            }
        }
    }
}

/// Prometheus' label-name syntax, `__name__` included.
fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests;
