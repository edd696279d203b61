//! Checking and running a parsed template: variables, fields, pipes and conditions.

use std::collections::BTreeMap;

use super::TemplateData;
use super::functions::call;
use super::parse::{Arg, Command, Node, Pipeline};
use super::value::Val;

/// Variables every alert template has (Prometheus's), plus Vigil's forecast and anomaly ones.
const VARIABLES: [&str; 13] = [
    "labels",
    "value",
    "externalLabels",
    "externalURL",
    "eta",
    "eta_lower",
    "eta_upper",
    "model",
    "score",
    "expected",
    "lower",
    "upper",
    "series",
];
/// The fields of `.` (Prometheus's template data).
const DOT_FIELDS: [&str; 4] = ["Labels", "Value", "ExternalLabels", "ExternalURL"];
/// Functions this module runs.
pub(super) const FUNCTIONS: [&str; 26] = [
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "printf",
    "print",
    "println",
    "toUpper",
    "toLower",
    "toJson",
    "title",
    "reReplaceAll",
    "match",
    "stripPort",
    "index",
    "len",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
    "not",
];
/// Prometheus functions that need the query engine or the web UI, which Vigil's templates
/// do not have.
const PROMETHEUS_ONLY: [&str; 14] = [
    "query",
    "first",
    "label",
    "value",
    "strvalue",
    "sortByLabel",
    "args",
    "tmpl",
    "safeHtml",
    "graphLink",
    "tableLink",
    "pathPrefix",
    "externalURL",
    "parseDuration",
];

/// Refuses unknown variables, fields and functions, naming them.
pub(super) fn check(nodes: &[Node]) -> Result<(), String> {
    for node in nodes {
        match node {
            Node::Text(_) => {}
            Node::Action(p) => check_pipeline(p)?,
            Node::If {
                condition,
                then,
                otherwise,
            } => {
                check_pipeline(condition)?;
                check(then)?;
                check(otherwise)?;
            }
            Node::Range { .. } => {
                return Err("{{range}} is not supported in Vigil's templates".into());
            }
        }
    }
    Ok(())
}

fn check_pipeline(pipeline: &Pipeline) -> Result<(), String> {
    for (i, command) in pipeline.iter().enumerate() {
        for (j, arg) in command.args.iter().enumerate() {
            match arg {
                Arg::Var(name, fields) => {
                    if !VARIABLES.contains(&name.as_str()) {
                        return Err(format!(
                            "undefined variable \"${name}\"; the variables are ${}",
                            VARIABLES.join(", $")
                        ));
                    }
                    if !fields.is_empty() && name != "labels" && name != "externalLabels" {
                        return Err(format!("${name} has no field {:?}", fields[0]));
                    }
                }
                Arg::Field(fields) => match fields.first() {
                    None => return Err("{{ . }} is not supported; use $labels or $value".into()),
                    Some(f) if !DOT_FIELDS.contains(&f.as_str()) => {
                        return Err(format!(
                            "can't evaluate field {f}; the fields are .{}",
                            DOT_FIELDS.join(", .")
                        ));
                    }
                    Some(_) => {}
                },
                Arg::Func(name) => {
                    if PROMETHEUS_ONLY.contains(&name.as_str()) {
                        return Err(format!(
                            "function {name:?} is not supported by Vigil's templates"
                        ));
                    }
                    if !FUNCTIONS.contains(&name.as_str()) {
                        return Err(format!("function {name:?} not defined"));
                    }
                    if j != 0 {
                        return Err(format!(
                            "function {name:?} used as an argument; wrap it in ( )"
                        ));
                    }
                }
                Arg::Sub(p) => check_pipeline(p)?,
                Arg::Str(_) | Arg::Int(_) | Arg::Num(_) | Arg::Bool(_) => {}
            }
        }
        if i > 0 && !matches!(command.args.first(), Some(Arg::Func(_))) {
            return Err("only a function can follow |".into());
        }
        if command.args.len() > 1 && !matches!(command.args.first(), Some(Arg::Func(_))) {
            return Err("can't give an argument to a non-function".into());
        }
    }
    Ok(())
}

/// Runs a checked template.
pub(super) fn run(nodes: &[Node], data: &TemplateData<'_>, out: &mut String) -> Result<(), String> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&pipeline(p, data)?.print()),
            Node::If {
                condition,
                then,
                otherwise,
            } => {
                let branch = if pipeline(condition, data)?.truthy() {
                    then
                } else {
                    otherwise
                };
                run(branch, data, out)?;
            }
            Node::Range { .. } => {
                return Err("{{range}} is not supported in Vigil's templates".into());
            }
        }
    }
    Ok(())
}

fn pipeline<'a>(pipeline: &Pipeline, data: &'a TemplateData<'a>) -> Result<Val<'a>, String> {
    let mut piped: Option<Val<'a>> = None;
    for command in pipeline {
        piped = Some(self::command(command, data, piped)?);
    }
    Ok(piped.unwrap_or(Val::Nil))
}

fn command<'a>(
    command: &Command,
    data: &'a TemplateData<'a>,
    piped: Option<Val<'a>>,
) -> Result<Val<'a>, String> {
    let Some(Arg::Func(name)) = command.args.first() else {
        let first = command.args.first().ok_or("empty command")?;
        return operand(first, data);
    };
    let mut args = command.args[1..]
        .iter()
        .map(|a| operand(a, data))
        .collect::<Result<Vec<_>, _>>()?;
    args.extend(piped);
    call(name, &args)
}

fn operand<'a>(arg: &Arg, data: &'a TemplateData<'a>) -> Result<Val<'a>, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    let labels = || Val::Labels(data.labels.unwrap_or(&EMPTY));
    let (root, fields) = match arg {
        Arg::Var(name, fields) => {
            let root = match name.as_str() {
                "labels" => labels(),
                "value" => Val::Num(data.value),
                "externalLabels" => Val::Labels(&EMPTY),
                "externalURL" => Val::Str(String::new()),
                other => data
                    .vars
                    .get(other)
                    .map_or(Val::Missing, |v| Val::Str(v.clone())),
            };
            (root, fields.as_slice())
        }
        Arg::Field(fields) => {
            let root = match fields.first().map(String::as_str) {
                Some("Labels") => labels(),
                Some("Value") => Val::Num(data.value),
                Some("ExternalLabels") => Val::Labels(&EMPTY),
                Some("ExternalURL") => Val::Str(String::new()),
                _ => return Err("{{ . }} is not supported; use $labels or $value".into()),
            };
            (root, &fields[1..])
        }
        Arg::Str(s) => return Ok(Val::Str(s.clone())),
        Arg::Int(i) => return Ok(Val::Int(*i)),
        Arg::Num(v) => return Ok(Val::Num(*v)),
        Arg::Bool(b) => return Ok(Val::Bool(*b)),
        Arg::Func(name) => return call(name, &[]),
        Arg::Sub(p) => return pipeline(p, data),
    };
    let mut value = root;
    for field in fields {
        value = match value {
            Val::Labels(m) => m.get(field).map_or(Val::Missing, |v| Val::Str(v.clone())),
            other => {
                return Err(format!(
                    "can't evaluate field {field} in type {}",
                    other.go_type()
                ));
            }
        };
    }
    Ok(value)
}
