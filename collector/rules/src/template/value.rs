//! The values a template works with, and how Go writes them.

use std::collections::BTreeMap;

use super::number::format_g;

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

    /// Go's truth: non-zero, non-empty.
    pub(super) fn truthy(&self) -> bool {
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
    pub(super) fn float(&self, function: &str) -> Result<f64, String> {
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

    /// The value as a string argument (a missing label is empty).
    pub(super) fn text(&self) -> String {
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
