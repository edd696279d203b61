//! Notification templates: the same Go template syntax over Alertmanager's notification
//! data, with `range`.
//!
//! ```text
//! .Receiver  .Status ("firing"|"resolved")  .ExternalURL  .GroupKey
//! .GroupLabels  .CommonLabels  .CommonAnnotations            maps: .CommonLabels.host
//! .Alerts  .Alerts.Firing  .Alerts.Resolved                   lists of alerts: range, len
//! per alert: .Status .Labels .Annotations .StartsAt .EndsAt .GeneratorURL .Fingerprint
//! .Incident.ID .Incident.Title .Incident.Severity …  an incident's fields (empty map else)
//! $ is the notification wherever the dot is (`{{ $.ExternalURL }}` inside a range).
//! ```
//!
//! `{{ range .Alerts }}…{{ else }}…{{ end }}` sets the dot to each alert;
//! `{{ range $name, $value := .Labels }}` walks a map in name order. Times are RFC 3339
//! strings (Go would print `time.Time` differently). In HTML bodies every value an action
//! writes is escaped, unless its pipeline ends in `safeHtml`.

use std::collections::BTreeMap;

use super::exec::FUNCTIONS;
use super::functions::call;
use super::parse::{Arg, Command, Node, Pipeline, parse};
use super::value::Val;

/// A notification as templates see it (Alertmanager's `template.Data`).
#[derive(Debug, Clone, Default)]
pub struct NotificationData {
    /// `.Receiver`.
    pub receiver: String,
    /// `.Status`: `firing` when any alert fires.
    pub status: String,
    /// `.GroupLabels`.
    pub group_labels: BTreeMap<String, String>,
    /// `.CommonLabels`.
    pub common_labels: BTreeMap<String, String>,
    /// `.CommonAnnotations`.
    pub common_annotations: BTreeMap<String, String>,
    /// `.ExternalURL`.
    pub external_url: String,
    /// `.GroupKey`.
    pub group_key: String,
    /// `.Alerts`, firing first.
    pub alerts: Vec<AlertData>,
    /// `.Incident`: for a notification about an incident, its `ID`, `Title`, `Severity`,
    /// `Status`, `Event` (opened, updated, escalated, acknowledged, reopened, resolved),
    /// `URL`, `Correlation`, `Hosts` (how many), `Cause`, `OpenedAt`, `ResolvedAt`,
    /// `Priority` (the desk's value for the severity) and `TicketID`; empty otherwise.
    pub incident: BTreeMap<String, String>,
}

/// One alert as templates see it.
#[derive(Debug, Clone, Default)]
pub struct AlertData {
    /// `.Status`: `firing` or `resolved`.
    pub status: String,
    /// `.Labels`.
    pub labels: BTreeMap<String, String>,
    /// `.Annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `.StartsAt`, RFC 3339.
    pub starts_at: String,
    /// `.EndsAt`, RFC 3339 (`0001-01-01T00:00:00Z` while firing).
    pub ends_at: String,
    /// `.GeneratorURL`.
    pub generator_url: String,
    /// `.Fingerprint`.
    pub fingerprint: String,
}

const ROOT_FIELDS: [&str; 9] = [
    "Receiver",
    "Status",
    "GroupLabels",
    "CommonLabels",
    "CommonAnnotations",
    "ExternalURL",
    "GroupKey",
    "Alerts",
    "Incident",
];
const ALERT_FIELDS: [&str; 7] = [
    "Status",
    "Labels",
    "Annotations",
    "StartsAt",
    "EndsAt",
    "GeneratorURL",
    "Fingerprint",
];

/// A value in a notification template: a plain one, or a part of the notification.
#[derive(Debug, Clone)]
enum NVal<'a> {
    Plain(Val<'a>),
    Root(&'a NotificationData),
    Alerts(Vec<&'a AlertData>),
    Alert(&'a AlertData),
}

impl NVal<'_> {
    fn truthy(&self) -> bool {
        match self {
            NVal::Plain(v) => v.truthy(),
            NVal::Alerts(list) => !list.is_empty(),
            NVal::Root(_) | NVal::Alert(_) => true,
        }
    }

    fn print(&self) -> String {
        match self {
            NVal::Plain(v) => v.print(),
            NVal::Root(_) => "<notification>".into(),
            NVal::Alerts(list) => format!("<{} alerts>", list.len()),
            NVal::Alert(a) => Val::Labels(&a.labels).print(),
        }
    }
}

/// Checks syntax, functions and variables (fields are checked by running the template
/// on a sample notification, which the caller does).
pub fn check(template: &str) -> Result<(), String> {
    check_nodes(&parse(template)?, &mut Vec::new())
}

fn check_nodes(nodes: &[Node], vars: &mut Vec<String>) -> Result<(), String> {
    for node in nodes {
        match node {
            Node::Text(_) => {}
            Node::Action(p) => check_pipeline(p, vars)?,
            Node::If {
                condition,
                then,
                otherwise,
            } => {
                check_pipeline(condition, vars)?;
                check_nodes(then, vars)?;
                check_nodes(otherwise, vars)?;
            }
            Node::Range {
                vars: declared,
                over,
                body,
                otherwise,
            } => {
                check_pipeline(over, vars)?;
                let depth = vars.len();
                vars.extend(declared.iter().cloned());
                check_nodes(body, vars)?;
                vars.truncate(depth);
                check_nodes(otherwise, vars)?;
            }
        }
    }
    Ok(())
}

fn check_pipeline(pipeline: &Pipeline, vars: &[String]) -> Result<(), String> {
    for (i, command) in pipeline.iter().enumerate() {
        for (j, arg) in command.args.iter().enumerate() {
            match arg {
                Arg::Var(name, _) if !name.is_empty() && !vars.contains(name) => {
                    return Err(format!(
                        "undefined variable \"${name}\"; use the dot (.Alerts, .Labels…), $ \
                         for the notification, or a variable declared by range"
                    ));
                }
                Arg::Func(name) => {
                    if name != "safeHtml" && !FUNCTIONS.contains(&name.as_str()) {
                        return Err(format!("function {name:?} not defined"));
                    }
                    if j != 0 {
                        return Err(format!(
                            "function {name:?} used as an argument; wrap it in ( )"
                        ));
                    }
                }
                Arg::Sub(p) => check_pipeline(p, vars)?,
                _ => {}
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

/// Runs a notification template; `html` escapes what actions write.
pub fn expand(template: &str, data: &NotificationData, html: bool) -> Result<String, String> {
    let nodes = parse(template)?;
    check_nodes(&nodes, &mut Vec::new())?;
    let mut scope = Scope {
        root: data,
        dot: NVal::Root(data),
        vars: Vec::new(),
        html,
    };
    let mut out = String::new();
    run(&nodes, &mut scope, &mut out)?;
    Ok(out)
}

struct Scope<'a> {
    root: &'a NotificationData,
    dot: NVal<'a>,
    vars: Vec<(String, NVal<'a>)>,
    html: bool,
}

fn run<'a>(nodes: &[Node], scope: &mut Scope<'a>, out: &mut String) -> Result<(), String> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => {
                let text = pipeline(p, scope)?.print();
                let safe = p.last().is_some_and(
                    |c| matches!(c.args.first(), Some(Arg::Func(f)) if f == "safeHtml"),
                );
                if scope.html && !safe {
                    out.push_str(&escape_html(&text));
                } else {
                    out.push_str(&text);
                }
            }
            Node::If {
                condition,
                then,
                otherwise,
            } => {
                let branch = if pipeline(condition, scope)?.truthy() {
                    then
                } else {
                    otherwise
                };
                run(branch, scope, out)?;
            }
            Node::Range {
                vars,
                over,
                body,
                otherwise,
            } => {
                let items: Vec<(NVal<'a>, NVal<'a>)> = match pipeline(over, scope)? {
                    NVal::Alerts(list) => list
                        .into_iter()
                        .enumerate()
                        .map(|(i, a)| (NVal::Plain(Val::Int(i as i64)), NVal::Alert(a)))
                        .collect(),
                    NVal::Plain(Val::Labels(m)) => m
                        .iter()
                        .map(|(k, v)| {
                            (
                                NVal::Plain(Val::Str(k.clone())),
                                NVal::Plain(Val::Str(v.clone())),
                            )
                        })
                        .collect(),
                    NVal::Plain(Val::Missing | Val::Nil) => Vec::new(),
                    other => {
                        return Err(format!("range can't iterate over {}", other.print()));
                    }
                };
                if items.is_empty() {
                    run(otherwise, scope, out)?;
                    continue;
                }
                let saved_dot = scope.dot.clone();
                let depth = scope.vars.len();
                for (key, value) in items {
                    scope.vars.truncate(depth);
                    match vars.as_slice() {
                        [v] => scope.vars.push((v.clone(), value.clone())),
                        [k, v] => {
                            scope.vars.push((k.clone(), key));
                            scope.vars.push((v.clone(), value.clone()));
                        }
                        _ => {}
                    }
                    scope.dot = value;
                    let result = run(body, scope, out);
                    if result.is_err() {
                        scope.dot = saved_dot;
                        scope.vars.truncate(depth);
                        return result;
                    }
                }
                scope.dot = saved_dot;
                scope.vars.truncate(depth);
            }
        }
    }
    Ok(())
}

fn pipeline<'a>(pipeline: &Pipeline, scope: &Scope<'a>) -> Result<NVal<'a>, String> {
    let mut piped: Option<NVal<'a>> = None;
    for c in pipeline {
        piped = Some(command(c, scope, piped)?);
    }
    Ok(piped.unwrap_or(NVal::Plain(Val::Nil)))
}

fn command<'a>(
    command: &Command,
    scope: &Scope<'a>,
    piped: Option<NVal<'a>>,
) -> Result<NVal<'a>, String> {
    let Some(Arg::Func(name)) = command.args.first() else {
        let first = command.args.first().ok_or("empty command")?;
        return operand(first, scope);
    };
    let mut args = command.args[1..]
        .iter()
        .map(|a| operand(a, scope))
        .collect::<Result<Vec<_>, _>>()?;
    args.extend(piped);
    if name == "len"
        && let [NVal::Alerts(list)] = args.as_slice()
    {
        return Ok(NVal::Plain(Val::Int(list.len() as i64)));
    }
    if name == "safeHtml" {
        return match args.as_slice() {
            [one] => Ok(NVal::Plain(Val::Str(one.print()))),
            _ => Err("wrong number of args for safeHtml: want 1".into()),
        };
    }
    let plain = args
        .into_iter()
        .map(|a| match a {
            NVal::Plain(v) => Ok(v),
            other => Err(format!(
                "error calling {name}: can't use {} here",
                other.print()
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    call(name, &plain).map(NVal::Plain)
}

fn operand<'a>(arg: &Arg, scope: &Scope<'a>) -> Result<NVal<'a>, String> {
    let (root, fields) = match arg {
        Arg::Var(name, fields) if name.is_empty() => (NVal::Root(scope.root), fields.as_slice()),
        Arg::Var(name, fields) => {
            let value = scope
                .vars
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| format!("undefined variable \"${name}\""))?;
            (value, fields.as_slice())
        }
        Arg::Field(fields) => (scope.dot.clone(), fields.as_slice()),
        Arg::Str(s) => return Ok(NVal::Plain(Val::Str(s.clone()))),
        Arg::Int(i) => return Ok(NVal::Plain(Val::Int(*i))),
        Arg::Num(v) => return Ok(NVal::Plain(Val::Num(*v))),
        Arg::Bool(b) => return Ok(NVal::Plain(Val::Bool(*b))),
        Arg::Func(name) => {
            return command(
                &Command {
                    args: vec![Arg::Func(name.clone())],
                },
                scope,
                None,
            );
        }
        Arg::Sub(p) => return pipeline(p, scope),
    };
    let mut value = root;
    for field in fields {
        value = self::field(value, field)?;
    }
    Ok(value)
}

fn field<'a>(value: NVal<'a>, name: &str) -> Result<NVal<'a>, String> {
    let s = |text: &str| NVal::Plain(Val::Str(text.to_owned()));
    Ok(match value {
        NVal::Root(n) => match name {
            "Receiver" => s(&n.receiver),
            "Status" => s(&n.status),
            "GroupLabels" => NVal::Plain(Val::Labels(&n.group_labels)),
            "CommonLabels" => NVal::Plain(Val::Labels(&n.common_labels)),
            "CommonAnnotations" => NVal::Plain(Val::Labels(&n.common_annotations)),
            "ExternalURL" => s(&n.external_url),
            "GroupKey" => s(&n.group_key),
            "Alerts" => NVal::Alerts(n.alerts.iter().collect()),
            "Incident" => NVal::Plain(Val::Labels(&n.incident)),
            other => {
                return Err(format!(
                    "can't evaluate field {other} of the notification; its fields are .{}",
                    ROOT_FIELDS.join(", .")
                ));
            }
        },
        NVal::Alerts(list) => match name {
            "Firing" => NVal::Alerts(list.into_iter().filter(|a| a.status == "firing").collect()),
            "Resolved" => NVal::Alerts(
                list.into_iter()
                    .filter(|a| a.status == "resolved")
                    .collect(),
            ),
            other => {
                return Err(format!(
                    "can't evaluate field {other} of a list of alerts; use .Firing, .Resolved \
                     or range"
                ));
            }
        },
        NVal::Alert(a) => match name {
            "Status" => s(&a.status),
            "Labels" => NVal::Plain(Val::Labels(&a.labels)),
            "Annotations" => NVal::Plain(Val::Labels(&a.annotations)),
            "StartsAt" => s(&a.starts_at),
            "EndsAt" => s(&a.ends_at),
            "GeneratorURL" => s(&a.generator_url),
            "Fingerprint" => s(&a.fingerprint),
            other => {
                return Err(format!(
                    "can't evaluate field {other} of an alert; its fields are .{}",
                    ALERT_FIELDS.join(", .")
                ));
            }
        },
        NVal::Plain(Val::Labels(m)) => m.get(name).map_or(NVal::Plain(Val::Missing), |v| {
            NVal::Plain(Val::Str(v.clone()))
        }),
        NVal::Plain(other) => {
            return Err(format!(
                "can't evaluate field {name} in type {}",
                other.go_type()
            ));
        }
    })
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
