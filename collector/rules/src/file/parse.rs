//! From a rule file's text to [`RuleFile`], collecting every problem on the way.
//!
//! The text is parsed into a YAML tree first (syntax errors carry their position), then
//! walked by hand rather than through `#[derive(Deserialize)]`, so that one unknown field
//! or bad duration does not hide the problems after it, and so that each problem gets the
//! line of its field (from [`lines`](super::lines)). The rules themselves are read in
//! [`rule`](super::rule).

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use serde_yaml_ng::{Mapping, Value};

use super::Diagnostic;
use super::duration;
use super::lines::{self, Node, Step};
use crate::spec::{Group, RuleFile};

/// The fields of a group, as Prometheus 2.42 has them.
const GROUP_FIELDS: [&str; 4] = ["name", "interval", "limit", "rules"];

/// Reads one file's text.
pub(super) fn read(path: &Path, text: &str) -> Result<RuleFile, Vec<Diagnostic>> {
    let root: Value = match serde_yaml_ng::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return Err(vec![Diagnostic {
                file: path.to_owned(),
                line: e.location().map(|l| l.line()),
                message: format!("YAML syntax error: {e}; fix the YAML"),
            }]);
        }
    };
    let mut reader = Reader {
        file: path,
        lines: lines::locate(text),
        problems: Vec::new(),
    };
    let groups = reader.file(&root);
    if reader.problems.is_empty() {
        Ok(RuleFile {
            path: path.to_owned(),
            groups,
        })
    } else {
        Err(reader.problems)
    }
}

/// Walks one file, collecting problems.
pub(super) struct Reader<'a> {
    file: &'a Path,
    pub(super) lines: Node,
    pub(super) problems: Vec<Diagnostic>,
}

/// Where a rule is, for messages: `group "g", rule 2, "Name"`.
pub(super) struct RuleAt<'p> {
    pub(super) path: Vec<Step<'p>>,
    pub(super) prefix: String,
}

impl<'p> RuleAt<'p> {
    /// The path of one of the rule's fields.
    pub(super) fn field<'x>(&self, steps: &[Step<'x>]) -> Vec<Step<'x>>
    where
        'p: 'x,
    {
        let mut path: Vec<Step<'x>> = self.path.to_vec();
        path.extend_from_slice(steps);
        path
    }
}

impl Reader<'_> {
    /// Records a problem at `path`.
    pub(super) fn problem(&mut self, path: &[Step<'_>], message: String) {
        self.problems.push(Diagnostic {
            file: self.file.to_owned(),
            line: self.lines.line(path),
            message,
        });
    }

    /// Refuses fields not in `known`, naming them.
    pub(super) fn unknown_fields(
        &mut self,
        map: &Mapping,
        known: &[&str],
        path: &[Step<'_>],
        prefix: &str,
        what: &str,
    ) {
        for key in map.keys() {
            let name = scalar(key).unwrap_or_default();
            if !known.contains(&name.as_str()) {
                let mut at = path.to_vec();
                at.push(Step::Key(&name));
                self.problem(
                    &at,
                    format!(
                        "{prefix}unknown field {name:?} in {what}; the fields are {}",
                        known.join(", ")
                    ),
                );
            }
        }
    }

    /// Parses a duration field; `None` when absent.
    pub(super) fn duration(
        &mut self,
        map: &Mapping,
        key: &str,
        path: &[Step<'_>],
        prefix: &str,
    ) -> Option<Duration> {
        let value = map.get(key).filter(|v| !v.is_null())?;
        let mut at = path.to_vec();
        at.push(Step::Key(key));
        match scalar(value).map(|s| duration::parse(&s)) {
            Some(Ok(d)) => Some(d),
            Some(Err(e)) => {
                self.problem(&at, format!("{prefix}{key}: {e}"));
                None
            }
            None => {
                self.problem(&at, format!("{prefix}{key} must be a duration such as 5m"));
                None
            }
        }
    }

    fn file(&mut self, root: &Value) -> Vec<Group> {
        let root = untag(root);
        if root.is_null() {
            return Vec::new();
        }
        let Some(map) = root.as_mapping() else {
            self.problem(
                &[],
                "a rule file must be a mapping with a `groups:` list".into(),
            );
            return Vec::new();
        };
        self.unknown_fields(map, &["groups"], &[], "", "the file");
        let groups = match map.get("groups").map(untag) {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Sequence(s)) => s,
            Some(_) => {
                self.problem(
                    &[Step::Key("groups")],
                    "`groups:` must be a list of groups".into(),
                );
                return Vec::new();
            }
        };
        let mut names = HashSet::new();
        let mut out = Vec::new();
        for (index, group) in groups.iter().enumerate() {
            let path = [Step::Key("groups"), Step::Index(index)];
            if let Some(g) = self.group(untag(group), &path, &mut names) {
                out.push(g);
            }
        }
        out
    }

    fn group(
        &mut self,
        value: &Value,
        path: &[Step<'_>],
        names: &mut HashSet<String>,
    ) -> Option<Group> {
        let line = self.lines.line(path).unwrap_or(0);
        let Some(map) = value.as_mapping() else {
            self.problem(
                path,
                "a group must be a mapping with `name:` and `rules:`".into(),
            );
            return None;
        };
        let name = map.get("name").and_then(scalar).unwrap_or_default();
        let prefix = format!("group {name:?}: ");
        self.unknown_fields(map, &GROUP_FIELDS, path, &prefix, "a group");
        let at = |key: &'static str| [path, &[Step::Key(key)]].concat();
        if name.is_empty() {
            self.problem(
                path,
                "a group needs a `name:`; give it one, unique in the file".into(),
            );
        } else if !names.insert(name.clone()) {
            self.problem(
                &at("name"),
                format!("group name {name:?} is repeated in the same file; rename one of them"),
            );
        }
        let interval = self
            .duration(map, "interval", path, &prefix)
            .filter(|d| !d.is_zero());
        // Prometheus's `limit` caps the alerts or series one rule may produce; Vigil reads
        // it so Prometheus files load, but does not apply it.
        if map
            .get("limit")
            .is_some_and(|v| !v.is_null() && v.as_u64().is_none())
        {
            self.problem(
                &at("limit"),
                format!("{prefix}limit must be a whole number ≥ 0"),
            );
        }
        let mut rules = Vec::new();
        match map.get("rules").map(untag) {
            None | Some(Value::Null) => {}
            Some(Value::Sequence(list)) => {
                for (index, rule) in list.iter().enumerate() {
                    let mut rule_path = at("rules");
                    rule_path.push(Step::Index(index));
                    if let Some(r) = self.rule(untag(rule), &name, index, rule_path) {
                        rules.push(r);
                    }
                }
            }
            Some(_) => self.problem(&at("rules"), format!("{prefix}`rules:` must be a list")),
        }
        Some(Group {
            name,
            interval,
            rules,
            line,
        })
    }
}

/// A scalar as text (numbers and booleans as written by YAML); `None` for lists, mappings
/// and null.
pub(super) fn scalar(value: &Value) -> Option<String> {
    match untag(value) {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The value under a YAML tag (`!!str x` is `x`).
pub(super) fn untag(value: &Value) -> &Value {
    match value {
        Value::Tagged(t) => untag(&t.value),
        v => v,
    }
}
