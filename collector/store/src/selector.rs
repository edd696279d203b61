//! Series selectors: `metric{a="x",b=~"re",c!="y",d!~"re"}`, parsed with promql-parser.
//!
//! A [`Selector`] is one or more alternatives (PromQL's `{a="1" or b="2"}`), each a list of
//! matchers that must all hold. As in Prometheus, a missing label has the value `""`, regular
//! expressions are anchored at both ends, and at least one matcher of every alternative
//! must not match the empty string (otherwise the selector would match every series ever
//! stored).

use crate::{Labels, METRIC_NAME};
use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{self, Expr, VectorSelector};

/// A parsed series selector.
#[derive(Debug, Clone)]
pub struct Selector {
    alternatives: Vec<Vec<Matcher>>,
}

/// Why a selector string was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid selector {input:?}: {reason}")]
pub struct SelectorError {
    /// The selector as given.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Selector {
    /// Parses a selector such as `node_load1{host="web-1"}` or `{__name__=~"node_.+"}`.
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let fail = |reason: String| SelectorError {
            input: input.to_owned(),
            reason,
        };
        let expr = parser::parse(input).map_err(|e| fail(e.trim().to_owned()))?;
        let Expr::VectorSelector(vs) = expr else {
            return Err(fail(
                "expected a series selector like metric{label=\"value\"}, not an expression".into(),
            ));
        };
        if vs.offset.is_some() || vs.at.is_some() {
            return Err(fail(
                "offset and @ modifiers are not allowed in a series selector".into(),
            ));
        }
        Self::from_vector_selector(&vs).map_err(fail)
    }

    /// The selector of a parsed PromQL vector selector (its offset and `@` are the
    /// caller's business). Fails, with the reason, when an alternative could match every
    /// series.
    pub fn from_vector_selector(vs: &VectorSelector) -> Result<Self, String> {
        let name = vs
            .name
            .as_ref()
            .map(|n| Matcher::new(MatchOp::Equal, METRIC_NAME, n));
        let mut alternatives = Vec::new();
        if vs.matchers.or_matchers.is_empty() {
            alternatives.push(vs.matchers.matchers.clone());
        } else {
            alternatives.extend(vs.matchers.or_matchers.iter().cloned());
        }
        for alternative in &mut alternatives {
            alternative.extend(name.clone());
            if alternative.iter().all(|m| m.is_match("")) {
                return Err(
                    "a selector needs at least one matcher that does not match the empty string, \
                     e.g. a metric name or label=\"value\""
                        .into(),
                );
            }
        }
        Ok(Self { alternatives })
    }

    /// A selector matching exactly the series with this metric name.
    pub fn metric(name: &str) -> Self {
        Self {
            alternatives: vec![vec![Matcher::new(MatchOp::Equal, METRIC_NAME, name)]],
        }
    }

    /// Whether a series with these labels is selected.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.alternatives
            .iter()
            .any(|all| all.iter().all(|m| m.is_match(labels.get(&m.name))))
    }

    /// The alternatives; a series is selected when every matcher of any one holds.
    pub fn alternatives(&self) -> &[Vec<Matcher>] {
        &self.alternatives
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs)
    }

    #[test]
    fn matches_all_matcher_kinds() {
        let s = Selector::parse(r#"node_cpu_seconds_total{mode!="idle",cpu=~"1|2",host!~"db.*"}"#)
            .unwrap();
        let base = [("__name__", "node_cpu_seconds_total"), ("host", "web-1")];
        let with = |cpu: &str, mode: &str| {
            let mut v = base.to_vec();
            v.push(("cpu", cpu));
            v.push(("mode", mode));
            labels(&v)
        };
        assert!(s.matches(&with("1", "user")));
        assert!(s.matches(&with("2", "system")));
        assert!(!s.matches(&with("12", "user")), "regex is anchored");
        assert!(!s.matches(&with("1", "idle")));
        let db = labels(&[
            ("__name__", "node_cpu_seconds_total"),
            ("host", "db-1"),
            ("cpu", "1"),
        ]);
        assert!(!s.matches(&db));
    }

    #[test]
    fn name_regex_and_or_alternatives() {
        let s = Selector::parse(r#"{__name__=~"node_.+"}"#).unwrap();
        assert!(s.matches(&labels(&[("__name__", "node_load1")])));
        assert!(!s.matches(&labels(&[("__name__", "vigil_agent_rss")])));
        let s = Selector::parse(r#"{host="a" or host="b"}"#).unwrap();
        assert!(s.matches(&labels(&[("__name__", "x"), ("host", "b")])));
        assert!(!s.matches(&labels(&[("__name__", "x"), ("host", "c")])));
    }

    #[test]
    fn missing_label_is_empty() {
        let s = Selector::parse(r#"up{job=""}"#).unwrap();
        assert!(s.matches(&labels(&[("__name__", "up")])));
        assert!(!s.matches(&labels(&[("__name__", "up"), ("job", "x")])));
    }

    #[test]
    fn refuses_bad_selectors_with_the_reason() {
        for (input, needle) in [
            (r#"{job=~".*"}"#, "non-empty matcher"),
            (
                r#"{job=~".*" or host="a"}"#,
                "does not match the empty string",
            ),
            ("rate(x[5m])", "expected a series selector"),
            ("x offset 5m", "offset"),
            (r#"x{a="b""#, "invalid selector"),
            ("", "invalid selector"),
        ] {
            let err = Selector::parse(input).unwrap_err().to_string();
            assert!(err.contains(needle), "{input}: {err}");
        }
    }
}
