//! Label matchers of routes, inhibition rules and silences, written as Alertmanager and
//! PromQL write them: `name="value"`, `name!="value"`, `name=~"regex"`, `name!~"regex"`.
//! The value may be left unquoted when it has no spaces, commas or quotes
//! (`severity=critical`). Regexes are anchored (they must match the whole value), and a
//! missing label matches as the empty string.

use regex::Regex;
use std::collections::BTreeMap;
use std::fmt;

/// An alert's labels (or annotations), sorted by name.
pub type LabelMap = BTreeMap<String, String>;

/// How a matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regex,
    /// `!~`
    NotRegex,
}

impl MatchOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

/// One label matcher.
#[derive(Clone)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// The comparison.
    pub op: MatchOp,
    /// The value or regex as written.
    pub value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

impl Matcher {
    /// Builds a matcher; a bad regex is an error naming it.
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Self, String> {
        if !valid_name(name) {
            return Err(format!(
                "{name:?} is not a label name (letters, digits and _, not starting with a digit)"
            ));
        }
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("{name}{}{value:?}: bad regex: {e}", op.as_str()))?,
            ),
            _ => None,
        };
        Ok(Self {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            regex,
        })
    }

    /// Parses `name="value"` (or `name=value`), with any of the four operators.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let op_at = text
            .find(['=', '!'])
            .ok_or_else(|| format!("{text:?}: expected name=\"value\" (or !=, =~, !~)"))?;
        let name = text[..op_at].trim();
        let rest = &text[op_at..];
        let (op, rest) = if let Some(r) = rest.strip_prefix("=~") {
            (MatchOp::Regex, r)
        } else if let Some(r) = rest.strip_prefix("!~") {
            (MatchOp::NotRegex, r)
        } else if let Some(r) = rest.strip_prefix("!=") {
            (MatchOp::NotEqual, r)
        } else if let Some(r) = rest.strip_prefix('=') {
            (MatchOp::Equal, r)
        } else {
            return Err(format!(
                "{text:?}: expected one of =, !=, =~, !~ after {name:?}"
            ));
        };
        let value = unquote(rest.trim()).map_err(|e| format!("{text:?}: {e}"))?;
        Self::new(name, op, &value).map_err(|e| format!("{text:?}: {e}"))
    }

    /// Whether `labels` satisfies the matcher (a missing label is `""`).
    pub fn matches(&self, labels: &LabelMap) -> bool {
        let value = labels.get(&self.name).map(String::as_str).unwrap_or("");
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(value),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(value),
            _ => false,
        }
    }
}

/// Matchers that must all hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Matchers(pub Vec<Matcher>);

impl Matchers {
    /// Parses each text as one matcher; the error names the bad one. A single text may
    /// also hold a brace list: `{alertname="X", host=~"db.*"}`.
    pub fn parse<S: AsRef<str>>(texts: &[S]) -> Result<Self, String> {
        let mut out = Vec::new();
        for text in texts {
            let text = text.as_ref().trim();
            if let Some(inner) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                for part in split_list(inner)? {
                    out.push(Matcher::parse(&part)?);
                }
            } else {
                out.push(Matcher::parse(text)?);
            }
        }
        Ok(Self(out))
    }

    /// Whether every matcher holds (true for none).
    pub fn matches(&self, labels: &LabelMap) -> bool {
        self.0.iter().all(|m| m.matches(labels))
    }
}

impl fmt::Display for Matchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A double-quoted value with Go's escapes (`\"`, `\\`, `\n`, `\t`), or a bare word.
fn unquote(text: &str) -> Result<String, String> {
    let Some(body) = text.strip_prefix('"') else {
        if text.contains(['"', ',', ' ', '{', '}']) {
            return Err("quote the value: name=\"value\"".into());
        }
        return Ok(text.to_owned());
    };
    let mut out = String::new();
    let mut chars = body.chars();
    loop {
        match chars.next() {
            None => return Err("the value's closing quote is missing".into()),
            Some('"') => {
                return if chars.as_str().trim().is_empty() {
                    Ok(out)
                } else {
                    Err(format!("unexpected {:?} after the value", chars.as_str()))
                };
            }
            Some('\\') => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(c @ ('"' | '\\')) => out.push(c),
                Some(c) => out.push_str(&format!("\\{c}")),
                None => return Err("the value ends in a lone backslash".into()),
            },
            Some(c) => out.push(c),
        }
    }
}

/// Splits `a="x", b=~"y,z"` at commas outside quotes.
fn split_list(text: &str) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in text.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if quoted {
        return Err(format!("{text:?}: a quote is not closed"));
    }
    parts.push(current);
    Ok(parts.into_iter().filter(|p| !p.trim().is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> LabelMap {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn the_four_operators() {
        let l = labels(&[("alertname", "DiskFull"), ("host", "db-1")]);
        for (text, expected) in [
            (r#"alertname="DiskFull""#, true),
            (r#"alertname!="DiskFull""#, false),
            (r#"host=~"db-.*""#, true),
            (r#"host=~"db""#, false),
            (r#"host!~"web.*""#, true),
            ("severity=", true),
            (r#"severity!="""#, false),
            ("host=db-1", true),
        ] {
            assert_eq!(
                Matcher::parse(text).unwrap().matches(&l),
                expected,
                "{text}"
            );
        }
    }

    #[test]
    fn brace_lists_and_quoting() {
        let m = Matchers::parse(&[r#"{alertname="A", host=~"a,b|c"}"#]).unwrap();
        assert_eq!(m.0.len(), 2);
        assert!(m.matches(&labels(&[("alertname", "A"), ("host", "a,b")])));
        assert_eq!(m.to_string(), r#"{alertname="A", host=~"a,b|c"}"#);
        let escaped = Matcher::parse(r#"summary="say \"hi\"""#).unwrap();
        assert_eq!(escaped.value, "say \"hi\"");
    }

    #[test]
    fn errors_name_the_problem() {
        for (text, says) in [
            ("host", "expected name"),
            (r#"1host="a""#, "not a label name"),
            (r#"host=~"(""#, "bad regex"),
            (r#"host="a"#, "closing quote"),
            ("host=a b", "quote the value"),
        ] {
            let err = Matcher::parse(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }
}
