//! From a rule file's text to [`RuleFile`], collecting every problem on the way.
//!
//! The text is parsed into a YAML tree first (syntax errors carry their position), then
//! walked by hand rather than through `#[derive(Deserialize)]`, so that one unknown field
//! or bad duration does not hide the problems after it, and so that each problem gets the
//! line of its field (from [`lines`](super::lines)).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use serde_yaml_ng::{Mapping, Value};

use super::Diagnostic;
use super::duration;
use super::forecast_block;
use super::lines::{self, Node, Step};
use super::promql_check;
use crate::rules::spec::{Group, Rule, RuleFile, RuleKind};
use crate::rules::template;

/// The fields of a group, as Prometheus 2.42 has them.
const GROUP_FIELDS: [&str; 4] = ["name", "interval", "limit", "rules"];
/// The fields of a rule: Prometheus's, then Vigil's `clear` and `forecast`.
const RULE_FIELDS: [&str; 9] = [
    "record",
    "alert",
    "expr",
    "for",
    "keep_firing_for",
    "labels",
    "annotations",
    "clear",
    "forecast",
];

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
    lines: Node,
    problems: Vec<Diagnostic>,
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

    fn rule(
        &mut self,
        value: &Value,
        group: &str,
        index: usize,
        path: Vec<Step<'_>>,
    ) -> Option<Rule> {
        let line = self.lines.line(&path).unwrap_or(0);
        let Some(map) = value.as_mapping() else {
            self.problem(
                &path,
                format!(
                    "group {group:?}, rule {}: a rule must be a mapping",
                    index + 1
                ),
            );
            return None;
        };
        let alert = map.get("alert").and_then(scalar).unwrap_or_default();
        let record = map.get("record").and_then(scalar).unwrap_or_default();
        let name = if alert.is_empty() {
            record.clone()
        } else {
            alert.clone()
        };
        let at = RuleAt {
            prefix: format!("group {group:?}, rule {}, {name:?}: ", index + 1),
            path,
        };
        let before = self.problems.len();
        self.unknown_fields(map, &RULE_FIELDS, &at.path, &at.prefix, "a rule");
        let p = &at.prefix;
        match (alert.is_empty(), record.is_empty()) {
            (false, false) => self.problem(
                &at.path,
                format!(
                    "{p}only one of `alert:` and `record:` may be set; split it into two rules"
                ),
            ),
            (true, true) => self.problem(
                &at.path,
                format!("{p}one of `alert:` or `record:` must be set (with a non-empty name)"),
            ),
            _ => {}
        }
        let for_ = self.duration(map, "for", &at.path, p).unwrap_or_default();
        let keep_firing_for = self
            .duration(map, "keep_firing_for", &at.path, p)
            .unwrap_or_default();
        let labels = self.string_map(map, "labels", &at);
        let annotations = self.string_map(map, "annotations", &at);
        let kind = if record.is_empty() {
            self.alert_kind(map, &at)
        } else {
            self.record_kind(map, &at, &record, for_, keep_firing_for)
        };
        for (key, value) in &labels {
            let why = if key == "__name__" {
                Some("a rule cannot set the metric name")
            } else if !is_label_name(key) {
                Some("use letters, digits and _, not starting with a digit")
            } else {
                None
            };
            if let Some(why) = why {
                self.problem(
                    &at.field(&[Step::Key("labels"), Step::Key(key)]),
                    format!("{p}invalid label name: {key} ({why})"),
                );
            }
            if !alert.is_empty() {
                self.template(&at, "labels", key, value, "label");
            }
        }
        for (key, value) in &annotations {
            if !is_label_name(key) {
                self.problem(
                    &at.field(&[Step::Key("annotations"), Step::Key(key)]),
                    format!("{p}invalid annotation name: {key} (use letters, digits and _, not starting with a digit)"),
                );
            }
            self.template(&at, "annotations", key, value, "annotation");
        }
        let kind = kind?;
        (self.problems.len() == before).then_some(Rule {
            name,
            kind,
            for_,
            keep_firing_for,
            labels,
            annotations,
            line,
        })
    }

    fn template(&mut self, at: &RuleAt<'_>, field: &str, key: &str, text: &str, what: &str) {
        if let Err(e) = template::check(text) {
            self.problem(
                &at.field(&[Step::Key(field), Step::Key(key)]),
                format!("{}{what} {key:?}: {e}", at.prefix),
            );
        }
    }

    fn record_kind(
        &mut self,
        map: &Mapping,
        at: &RuleAt<'_>,
        record: &str,
        for_: Duration,
        keep_firing_for: Duration,
    ) -> Option<RuleKind> {
        let p = &at.prefix;
        if !is_metric_name(record) {
            self.problem(
                &at.field(&[Step::Key("record")]),
                format!("{p}invalid recording rule name: {record} (a metric name: letters, digits, _ and :)"),
            );
        }
        for (field, set) in [
            (
                "annotations",
                map.get("annotations").is_some_and(|v| !v.is_null()),
            ),
            ("for", !for_.is_zero()),
            ("keep_firing_for", !keep_firing_for.is_zero()),
            ("clear", map.contains_key("clear")),
            ("forecast", map.contains_key("forecast")),
        ] {
            if set {
                self.problem(
                    &at.field(&[Step::Key(field)]),
                    format!(
                        "{p}invalid field {field:?} in recording rule; it belongs to alerting rules"
                    ),
                );
            }
        }
        let expr = self.expr(map, "expr", at)?;
        Some(RuleKind::Record { expr })
    }

    fn alert_kind(&mut self, map: &Mapping, at: &RuleAt<'_>) -> Option<RuleKind> {
        let p = &at.prefix;
        let has_expr = map.get("expr").is_some_and(|v| !v.is_null());
        match (has_expr, map.get("forecast").filter(|v| !v.is_null())) {
            (true, Some(_)) => {
                self.problem(
                    &at.field(&[Step::Key("forecast")]),
                    format!("{p}an alert has either `expr:` or `forecast:`, not both; remove one"),
                );
                None
            }
            (false, Some(block)) => {
                if map.contains_key("clear") {
                    self.problem(
                        &at.field(&[Step::Key("clear")]),
                        format!(
                            "{p}`clear:` only goes with `expr:`, not with `forecast:`; remove it"
                        ),
                    );
                }
                forecast_block::read(self, untag(block), at).map(RuleKind::Forecast)
            }
            (_, None) => {
                let expr = self.expr(map, "expr", at);
                let clear = match map.get("clear").filter(|v| !v.is_null()) {
                    Some(_) => Some(self.expr(map, "clear", at)?),
                    None => None,
                };
                Some(RuleKind::Threshold { expr: expr?, clear })
            }
        }
    }

    /// A PromQL field: present, non-empty, parsed and supported.
    pub(super) fn expr(&mut self, map: &Mapping, key: &str, at: &RuleAt<'_>) -> Option<String> {
        let path = at.field(&[Step::Key(key)]);
        let text = map.get(key).and_then(scalar).unwrap_or_default();
        if text.trim().is_empty() {
            self.problem(
                &path,
                format!(
                    "{}field {key:?} must be set in rule (a PromQL expression)",
                    at.prefix
                ),
            );
            return None;
        }
        match promql_check::check(&text) {
            Ok(()) => Some(text),
            Err(e) => {
                self.problem(&path, format!("{}{key}: {e}", at.prefix));
                None
            }
        }
    }

    fn string_map(
        &mut self,
        map: &Mapping,
        key: &str,
        at: &RuleAt<'_>,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        match map.get(key).map(untag) {
            None | Some(Value::Null) => {}
            Some(Value::Mapping(m)) => {
                for (k, v) in m {
                    let name = scalar(k).unwrap_or_default();
                    match untag(v) {
                        Value::Null => {
                            out.insert(name, String::new());
                        }
                        v => match scalar(v) {
                            Some(s) => {
                                out.insert(name, s);
                            }
                            None => self.problem(
                                &at.field(&[Step::Key(key), Step::Key(&name)]),
                                format!(
                                    "{}{key}: the value of {name:?} must be a string",
                                    at.prefix
                                ),
                            ),
                        },
                    }
                }
            }
            Some(_) => self.problem(
                &at.field(&[Step::Key(key)]),
                format!(
                    "{}`{key}:` must be a mapping of names to strings",
                    at.prefix
                ),
            ),
        }
        out
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

/// Prometheus's label names: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Prometheus's metric names: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}
