//! Checking and running a parsed template.

use std::collections::BTreeMap;

use super::TemplateData;
use super::go_fmt::{format_g, sprintf};
use super::humanize;
use super::parse::{Arg, Command, Node, Pipeline};

/// Variables every alert template has (Prometheus's), plus Vigil's forecast ones.
const VARIABLES: [&str; 8] = [
    "labels",
    "value",
    "externalLabels",
    "externalURL",
    "eta",
    "eta_lower",
    "eta_upper",
    "model",
];
/// The fields of `.` (Prometheus's template data).
const DOT_FIELDS: [&str; 4] = ["Labels", "Value", "ExternalLabels", "ExternalURL"];
/// Functions this module runs.
const FUNCTIONS: [&str; 25] = [
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

/// A value inside a template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val<'a> {
    /// Text.
    Str(String),
    /// A float (`$value`, numbers with a fraction).
    Num(f64),
    /// A whole-number literal.
    Int(i64),
    /// `true`/`false`.
    Bool(bool),
    /// `$labels`.
    Labels(&'a BTreeMap<String, String>),
    /// A label that is not there: written as nothing, as Prometheus's templates do (Go's
    /// `missingkey=zero`).
    Missing,
    /// Go's nil.
    Nil,
}

impl Val<'_> {
    /// How Go's templates write the value.
    pub(crate) fn print(&self) -> String {
        match self {
            Val::Str(s) => s.clone(),
            Val::Num(v) => format_g(*v, None),
            Val::Int(i) => i.to_string(),
            Val::Bool(b) => b.to_string(),
            Val::Labels(m) => {
                let pairs: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("map[{}]", pairs.join(" "))
            }
            Val::Missing => String::new(),
            Val::Nil => "<nil>".into(),
        }
    }

    /// Go's name of the type, for `%!d(float64=1.5)`.
    pub(crate) fn go_type(&self) -> &'static str {
        match self {
            Val::Str(_) | Val::Missing => "string",
            Val::Num(_) => "float64",
            Val::Int(_) => "int",
            Val::Bool(_) => "bool",
            Val::Labels(_) => "map[string]string",
            Val::Nil => "<nil>",
        }
    }

    fn truthy(&self) -> bool {
        match self {
            Val::Str(s) => !s.is_empty(),
            Val::Num(v) => *v != 0.0,
            Val::Int(i) => *i != 0,
            Val::Bool(b) => *b,
            Val::Labels(m) => !m.is_empty(),
            Val::Missing | Val::Nil => false,
        }
    }

    /// Prometheus's `convertToFloat`: numbers, and strings that parse as one.
    fn float(&self, function: &str) -> Result<f64, String> {
        match self {
            Val::Num(v) => Ok(*v),
            Val::Int(i) => Ok(*i as f64),
            Val::Str(s) => parse_go_float(s).ok_or_else(|| {
                format!(
                    "error calling {function}: strconv.ParseFloat: parsing {s:?}: invalid syntax"
                )
            }),
            other => Err(format!(
                "error calling {function}: can't convert {} to float",
                other.go_type()
            )),
        }
    }

    fn text(&self) -> String {
        match self {
            Val::Missing => String::new(),
            v => v.print(),
        }
    }
}

/// Go's `strconv.ParseFloat` for the forms people write (`1.5`, `1e3`, `+Inf`, `NaN`).
fn parse_go_float(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().trim_start_matches('+') {
        "inf" | "infinity" => Some(if s.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

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

fn call<'a>(name: &str, args: &[Val<'a>]) -> Result<Val<'a>, String> {
    let want = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!(
                "wrong number of args for {name}: want {n} got {}",
                args.len()
            ))
        }
    };
    let number = || -> Result<f64, String> {
        want(1)?;
        args[0].float(name)
    };
    Ok(match name {
        "humanize" => Val::Str(humanize::humanize(number()?)),
        "humanize1024" => Val::Str(humanize::humanize1024(number()?)),
        "humanizeDuration" => Val::Str(humanize::humanize_duration(number()?)),
        "humanizePercentage" => Val::Str(humanize::humanize_percentage(number()?)),
        "humanizeTimestamp" => Val::Str(humanize::humanize_timestamp(number()?)?),
        "printf" => match args.split_first() {
            Some((format, rest)) => Val::Str(sprintf(&format.text(), rest)),
            None => return Err("wrong number of args for printf: want at least 1 got 0".into()),
        },
        "print" => Val::Str(go_print(args)),
        "println" => Val::Str(args.iter().map(Val::text).collect::<Vec<_>>().join(" ") + "\n"),
        "toUpper" => {
            want(1)?;
            Val::Str(args[0].text().to_uppercase())
        }
        "toLower" => {
            want(1)?;
            Val::Str(args[0].text().to_lowercase())
        }
        "title" => {
            want(1)?;
            Val::Str(title(&args[0].text()))
        }
        "stripPort" => {
            want(1)?;
            Val::Str(strip_port(&args[0].text()))
        }
        "reReplaceAll" => {
            want(3)?;
            let re = regex::Regex::new(&args[0].text())
                .map_err(|e| format!("error calling reReplaceAll: {e}"))?;
            Val::Str(
                re.replace_all(&args[2].text(), args[1].text().as_str())
                    .into_owned(),
            )
        }
        "match" => {
            want(2)?;
            let re = regex::Regex::new(&args[0].text())
                .map_err(|e| format!("error calling match: {e}"))?;
            Val::Bool(re.is_match(&args[1].text()))
        }
        "index" => {
            want(2)?;
            match &args[0] {
                Val::Labels(m) => Val::Str(m.get(&args[1].text()).cloned().unwrap_or_default()),
                other => {
                    return Err(format!(
                        "error calling index: can't index item of type {}",
                        other.go_type()
                    ));
                }
            }
        }
        "len" => {
            want(1)?;
            match &args[0] {
                Val::Labels(m) => Val::Int(m.len() as i64),
                Val::Str(s) => Val::Int(s.len() as i64),
                other => {
                    return Err(format!(
                        "error calling len: len of type {}",
                        other.go_type()
                    ));
                }
            }
        }
        "not" => {
            want(1)?;
            Val::Bool(!args[0].truthy())
        }
        "and" => args
            .iter()
            .find(|a| !a.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(Val::Nil),
        "or" => args
            .iter()
            .find(|a| a.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(Val::Nil),
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" => {
            want(2)?;
            let order = compare(&args[0], &args[1]).ok_or_else(|| {
                format!("error calling {name}: incompatible types for comparison")
            })?;
            use std::cmp::Ordering::*;
            Val::Bool(match name {
                "eq" => order == Equal,
                "ne" => order != Equal,
                "lt" => order == Less,
                "le" => order != Greater,
                "gt" => order == Greater,
                _ => order != Less,
            })
        }
        other => return Err(format!("function {other:?} not defined")),
    })
}

/// Go's `fmt.Sprint`: a space between operands when neither is a string.
fn go_print(args: &[Val<'_>]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let is_str = |v: &Val<'_>| matches!(v, Val::Str(_) | Val::Missing);
        if i > 0 && !is_str(a) && !is_str(&args[i - 1]) {
            out.push(' ');
        }
        out += &a.print();
    }
    out
}

fn compare(a: &Val<'_>, b: &Val<'_>) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
        (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(y)),
        (Val::Int(x), Val::Int(y)) => Some(x.cmp(y)),
        (Val::Num(_) | Val::Int(_), Val::Num(_) | Val::Int(_)) => {
            let f = |v: &Val<'_>| {
                if let Val::Int(i) = v {
                    *i as f64
                } else if let Val::Num(n) = v {
                    *n
                } else {
                    f64::NAN
                }
            };
            f(a).partial_cmp(&f(b))
        }
        _ => None,
    }
}

/// Go's `strings.Title`: the first letter of every word upper-cased.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !(c.is_alphanumeric() || c == '_' || c == '\'');
    }
    out
}

/// Prometheus's `stripPort`: `host:9100` → `host`, `[::1]:80` → `::1`.
fn strip_port(s: &str) -> String {
    if let Some((host, _)) = s.strip_prefix('[').and_then(|rest| rest.split_once("]:")) {
        return host.to_owned();
    }
    match s.rsplit_once(':') {
        Some((host, _)) if !host.contains(':') => host.to_owned(),
        _ => s.to_owned(),
    }
}
