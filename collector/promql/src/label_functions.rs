//! `label_replace` and `label_join`, with Prometheus 2.42's semantics.
//!
//! `label_replace(v, dst, replacement, src, regex)`: when `regex` matches the whole value
//! of label `src`, label `dst` becomes `replacement` with `$1`, `${1}`, `$name`,
//! `${name}` replaced by capture groups (Go's `regexp.Expand` rules); an empty result
//! removes `dst`; no match leaves the labels alone.
//! `label_join(v, dst, sep, src...)`: `dst` becomes the values of the `src` labels
//! joined by `sep` (absent labels count as empty); an empty result removes `dst`.
//!
//! Bad arguments are [`QueryError::Execution`], as Prometheus 2.42 reports them
//! (`errorType: execution`), and are raised even when the vector is empty, so callers
//! should build a [`LabelReplace`] (or check names) before looking at any series.
//!
//! Regular expressions use the `regex` crate, whose syntax is RE2's as Go's is. One known
//! difference: `\d`, `\w`, `\s` and `\b` are Unicode-aware here and ASCII-only in Go,
//! which matters only for label values with non-ASCII digits, letters or spaces.

use regex::Regex;

use super::QueryError;
use vigil_store::Labels;

/// A compiled `label_replace`, to apply to many label sets (compile once per query, not
/// once per series).
#[derive(Debug, Clone)]
pub struct LabelReplace {
    dst: String,
    replacement: String,
    src: String,
    /// The user's expression, anchored at both ends.
    regex: Regex,
}

impl LabelReplace {
    /// Checks and compiles `label_replace(_, dst, replacement, src, regex)`. Fails (as
    /// Prometheus does, in this order) on an invalid regular expression, then on an
    /// invalid destination label name.
    pub fn new(dst: &str, replacement: &str, src: &str, regex: &str) -> Result<Self, QueryError> {
        let compiled = Regex::new(&format!("^(?:{regex})$")).map_err(|e| {
            QueryError::Execution(format!(
                "invalid regular expression in label_replace(): {regex} ({}); \
                 fix the pattern (RE2 syntax)",
                regex_error_reason(&e)
            ))
        })?;
        if !is_valid_label_name(dst) {
            return Err(QueryError::Execution(format!(
                "invalid destination label name in label_replace(): {dst}; \
                 a label name is letters, digits and '_', not starting with a digit"
            )));
        }
        Ok(Self {
            dst: dst.to_owned(),
            replacement: replacement.to_owned(),
            src: src.to_owned(),
            regex: compiled,
        })
    }

    /// The labels of one series after the replacement.
    pub fn apply(&self, labels: &Labels) -> Labels {
        let value = labels.get(&self.src);
        let Some(captures) = self.regex.captures(value) else {
            return labels.clone();
        };
        let replaced = expand(&self.replacement, &captures);
        with_label(labels, &self.dst, replaced)
    }
}

/// `label_replace(v, dst, replacement, src, regex)` on one label set.
pub fn label_replace(
    labels: &Labels,
    dst: &str,
    replacement: &str,
    src: &str,
    regex: &str,
) -> Result<Labels, QueryError> {
    Ok(LabelReplace::new(dst, replacement, src, regex)?.apply(labels))
}

/// `label_join(v, dst, separator, src...)` on one label set. Fails on an invalid source
/// label name, then on an invalid destination label name, as Prometheus does.
pub fn label_join(
    labels: &Labels,
    dst: &str,
    separator: &str,
    sources: &[String],
) -> Result<Labels, QueryError> {
    check_label_join(dst, sources)?;
    let joined = sources
        .iter()
        .map(|s| labels.get(s))
        .collect::<Vec<_>>()
        .join(separator);
    Ok(with_label(labels, dst, joined))
}

/// The argument checks of `label_join`, which Prometheus makes even when the vector is
/// empty: every source, then the destination, must be a valid label name.
pub fn check_label_join(dst: &str, sources: &[String]) -> Result<(), QueryError> {
    if let Some(bad) = sources.iter().find(|s| !is_valid_label_name(s)) {
        return Err(QueryError::Execution(format!(
            "invalid source label name in label_join(): {bad}; \
             a label name is letters, digits and '_', not starting with a digit"
        )));
    }
    if !is_valid_label_name(dst) {
        return Err(QueryError::Execution(format!(
            "invalid destination label name in label_join(): {dst}; \
             a label name is letters, digits and '_', not starting with a digit"
        )));
    }
    Ok(())
}

/// Prometheus's label-name rule: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `labels` with `name` set to `value`, or removed when `value` is empty.
fn with_label(labels: &Labels, name: &str, value: String) -> Labels {
    let mut pairs: Vec<(String, String)> = labels
        .pairs()
        .iter()
        .filter(|(n, _)| n != name)
        .cloned()
        .collect();
    if !value.is_empty() {
        pairs.push((name.to_owned(), value));
    }
    Labels::new(pairs)
}

/// The one-line reason inside a `regex` error (its display spans several lines).
fn regex_error_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or_else(|| text.lines().last().unwrap_or(""))
        .trim()
        .to_owned()
}

/// Expands `template` as Go's `Regexp.Expand` does: `$$` is a literal `$`; `$name` takes
/// the longest run of letters, digits and `_` as the name (so `$1x` is the group named
/// `1x`, not group 1 then `x`); `${name}` delimits it; a name of digits without a leading
/// zero (under 10^8) is a group number; an unknown or unmatched group expands to nothing;
/// a malformed reference (`$` then no name, or `${` without `}`) is kept as text.
fn expand(template: &str, captures: &regex::Captures<'_>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        rest = &rest[dollar + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let Some((name, after)) = reference_name(rest) else {
            out.push('$');
            continue;
        };
        rest = after;
        let group = match group_number(name) {
            Some(i) => captures.get(i),
            None => captures.name(name),
        };
        if let Some(m) = group {
            out.push_str(m.as_str());
        }
    }
    out.push_str(rest);
    out
}

/// The name at the start of `text` (just after a `$`) and the text after the reference.
fn reference_name(text: &str) -> Option<(&str, &str)> {
    let (braced, body) = match text.strip_prefix('{') {
        Some(body) => (true, body),
        None => (false, text),
    };
    let len = body
        .char_indices()
        .find(|&(_, c)| !(c.is_alphabetic() || c.is_numeric() || c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if len == 0 {
        return None;
    }
    let (name, after) = body.split_at(len);
    if braced {
        let after = after.strip_prefix('}')?;
        return Some((name, after));
    }
    Some((name, after))
}

/// The group number `name` stands for: ASCII digits, no leading zero, under 10^8.
fn group_number(name: &str) -> Option<usize> {
    if name.len() > 1 && name.starts_with('0') {
        return None;
    }
    let mut num: usize = 0;
    for b in name.bytes() {
        if !b.is_ascii_digit() || num >= 100_000_000 {
            return None;
        }
        num = num * 10 + usize::from(b - b'0');
    }
    Some(num)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs)
    }

    fn up() -> Labels {
        labels(&[
            ("__name__", "up"),
            ("instance", "web-1:9100"),
            ("job", "node"),
        ])
    }

    #[test]
    fn replace_with_numbered_and_named_groups() {
        let out = label_replace(&up(), "host", "$1", "instance", "(.*):(.*)").unwrap();
        assert_eq!(out.get("host"), "web-1");
        assert_eq!(out.get("instance"), "web-1:9100");
        let out = label_replace(
            &up(),
            "port",
            "${p}/${1}x$$",
            "instance",
            "(?P<h>[^:]+):(?P<p>\\d+)",
        )
        .unwrap();
        assert_eq!(out.get("port"), "9100/web-1x$");
    }

    #[test]
    fn replace_follows_go_expand_rules() {
        let l = labels(&[("a", "xy")]);
        let run = |tpl: &str| label_replace(&l, "b", tpl, "a", "(x)(y)").unwrap();
        // `$1x` is the (absent) group named `1x`, so it expands to nothing: `b` is removed.
        assert_eq!(run("$1x").get("b"), "");
        assert_eq!(run("${1}x").get("b"), "xx");
        // Group 0 is the whole match; a leading zero makes a name, not a number.
        assert_eq!(run("$0-$01-$2").get("b"), "xy--y");
        // Malformed references stay as text.
        assert_eq!(run("$-${1").get("b"), "$-${1");
        // An out-of-range group expands to nothing.
        assert_eq!(run("[$9]").get("b"), "[]");
    }

    #[test]
    fn replace_matches_prometheus_on_a_mixed_template() {
        // Prometheus 2.42 gave exactly this for the same query.
        let l = labels(&[("id", "counter_zero")]);
        let out = label_replace(
            &l,
            "x",
            "$1x|${1}x|$01|$0|$$|$-|${1|$9|$2",
            "id",
            "(counter)_(?P<n>.*)",
        )
        .unwrap();
        assert_eq!(out.get("x"), "|counterx||counter_zero|$|$-|${1||zero");
        let out = label_replace(&l, "x", "${n}-$n-${n}_", "id", "(counter)_(?P<n>.*)").unwrap();
        assert_eq!(out.get("x"), "zero-zero-zero_");
        // An optional group that did not take part expands to nothing.
        let out = label_replace(&l, "x", "$1", "id", "c(\\d)?.*").unwrap();
        assert_eq!(out.get("x"), "");
    }

    #[test]
    fn replace_regex_is_anchored() {
        // `web` alone would match a prefix; anchored it does not match at all.
        let out = label_replace(&up(), "host", "$1", "instance", "(web)").unwrap();
        assert_eq!(out, up());
        let out = label_replace(&up(), "host", "$1", "instance", "(web).*").unwrap();
        assert_eq!(out.get("host"), "web");
    }

    #[test]
    fn replace_no_match_keeps_labels_and_empty_result_deletes() {
        let out = label_replace(&up(), "job", "x", "instance", "nomatch").unwrap();
        assert_eq!(out, up());
        // Matches, but the replacement is empty: `job` goes away.
        let out = label_replace(&up(), "job", "", "instance", ".*").unwrap();
        assert_eq!(out.get("job"), "");
        assert_eq!(out.len(), 2);
        // An absent source label is the empty string, which `.*` matches.
        let out = label_replace(&up(), "dc", "eu", "missing", ".*").unwrap();
        assert_eq!(out.get("dc"), "eu");
        // The destination may be the metric name.
        let out = label_replace(&up(), "__name__", "up2", "__name__", "up").unwrap();
        assert_eq!(out.name(), "up2");
    }

    #[test]
    fn replace_rejects_bad_regex_then_bad_destination() {
        let err = label_replace(&up(), "1bad", "", "job", "(").unwrap_err();
        // Prometheus 2.42 reports these as `execution` errors (they are panics in its
        // function implementations).
        assert_eq!(err.kind(), "execution");
        assert!(
            err.to_string()
                .starts_with("invalid regular expression in label_replace(): ("),
            "{err}"
        );
        let err = label_replace(&up(), "1bad", "", "job", ".*").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid destination label name in label_replace(): 1bad"),
            "{err}"
        );
        assert!(LabelReplace::new("a-b", "", "job", ".*").is_err());
    }

    #[test]
    fn join_values_and_deletes_on_empty() {
        let srcs = [
            "job".to_string(),
            "missing".to_string(),
            "instance".to_string(),
        ];
        let out = label_join(&up(), "all", ",", &srcs).unwrap();
        assert_eq!(out.get("all"), "node,,web-1:9100");
        let out = label_join(&up(), "job", "-", &["missing".to_string()]).unwrap();
        assert_eq!(out.get("job"), "");
        assert_eq!(out.len(), 2);
        let out = label_join(&up(), "job", "-", &[]).unwrap();
        assert_eq!(out.get("job"), "");
    }

    #[test]
    fn join_rejects_bad_names() {
        let err = label_join(&up(), "ok", ",", &["bad-name".to_string()]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid source label name in label_join(): bad-name")
        );
        let err = check_label_join("", &["job".to_string()]).unwrap_err();
        assert_eq!(err.kind(), "execution");
        assert!(
            err.to_string()
                .starts_with("invalid destination label name in label_join(): ")
        );
    }

    #[test]
    fn label_name_rule() {
        assert!(is_valid_label_name("_a1"));
        assert!(is_valid_label_name("__name__"));
        assert!(!is_valid_label_name(""));
        assert!(!is_valid_label_name("1a"));
        assert!(!is_valid_label_name("a.b"));
        assert!(!is_valid_label_name("é"));
    }
}
