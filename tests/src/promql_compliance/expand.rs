//! Reads the compliance suite's query file and expands every template into the queries
//! the compliance tester runs.
//!
//! The tester (`promql/testcases/expand.go` in prometheus/compliance) fills each
//! `{{.name}}` placeholder of a query from a fixed table of values per name; a query lists
//! the names it uses in `variant_args`, and the expansion is the cross product with the
//! first name varying slowest. A query without `variant_args` is used as written. The
//! value table is not in the YAML file, so it is repeated in [`variant_values`].

use serde_yaml_ng::Value;

/// The vendored query file (unmodified; see `tests/data/promql-compliance/README.md`).
pub const QUERY_FILE: &str = include_str!("../../data/promql-compliance/promql-test-queries.yml");

/// One query of the file, before expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// Position in the file, from 0.
    pub index: usize,
    /// The section of the file it is in (the file's own comment heading, e.g.
    /// "Aggregation operators").
    pub section: String,
    /// The query text with its `{{.name}}` placeholders.
    pub query: String,
    /// The placeholder names to expand, in the file's order.
    pub variant_args: Vec<String>,
    /// The reference is expected to reject the query (and so is the system under test).
    pub should_fail: bool,
    /// Only success or failure is compared, not the result.
    pub skip_comparison: bool,
}

/// One expanded query, as the tester sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The template it comes from ([`Template::index`]).
    pub template: usize,
    /// The query text, every placeholder filled.
    pub query: String,
    /// See [`Template::should_fail`].
    pub should_fail: bool,
    /// See [`Template::skip_comparison`].
    pub skip_comparison: bool,
}

/// The tester's values for each placeholder name (`testVariantArgs` in `expand.go`).
pub fn variant_values(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "range" => &["1s", "15s", "1m", "5m", "15m", "1h"],
        "offset" => &["1m", "5m", "10m"],
        "simpleAggrOp" => &["sum", "avg", "max", "min", "count", "stddev", "stdvar"],
        "simpleTimeAggrOp" => &[
            "sum", "avg", "max", "min", "count", "stddev", "stdvar", "absent", "last",
        ],
        "topBottomOp" => &["topk", "bottomk"],
        "quantile" => &[
            "-0.5", "0.1", "0.5", "0.75", "0.95", "0.90", "0.99", "1", "1.5",
        ],
        "arithBinOp" => &["+", "-", "*", "/", "%", "^"],
        "compBinOp" => &["==", "!=", "<", ">", "<=", ">="],
        "binOp" => &[
            "+", "-", "*", "/", "%", "^", "==", "!=", "<", ">", "<=", ">=",
        ],
        "simpleMathFunc" => &[
            "abs", "ceil", "floor", "exp", "sqrt", "ln", "log2", "log10", "round",
        ],
        "extrapolatedRateFunc" => &["delta", "rate", "increase"],
        "clampFunc" => &["clamp_min", "clamp_max"],
        "instantRateFunc" => &["idelta", "irate"],
        "dateFunc" => &[
            "day_of_month",
            "day_of_week",
            "days_in_month",
            "hour",
            "minute",
            "month",
            "year",
        ],
        "smoothingFactor" => &["0.1", "0.5", "0.8"],
        "trendFactor" => &["0.1", "0.5", "0.8"],
        _ => return None,
    })
}

/// The templates of a query file in the compliance tester's format.
pub fn templates(text: &str) -> Result<Vec<Template>, String> {
    let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| format!("not YAML: {e}"))?;
    let cases = doc["test_cases"]
        .as_sequence()
        .ok_or("the file has no test_cases list")?;
    let sections = sections(text);
    if sections.len() != cases.len() {
        return Err(format!(
            "{} test cases but {} `query:` lines: the section headings cannot be matched",
            cases.len(),
            sections.len()
        ));
    }
    let flag = |case: &Value, key: &str| case[key].as_bool().unwrap_or(false);
    cases
        .iter()
        .zip(sections)
        .enumerate()
        .map(|(index, (case, section))| {
            let query = case["query"]
                .as_str()
                .ok_or(format!("test case {index} has no query string"))?;
            let variant_args = match &case["variant_args"] {
                Value::Null => Vec::new(),
                Value::Sequence(names) => names
                    .iter()
                    .map(|n| n.as_str().map(str::to_owned))
                    .collect::<Option<_>>()
                    .ok_or(format!("test case {index}: variant_args must be strings"))?,
                other => return Err(format!("test case {index}: variant_args is {other:?}")),
            };
            Ok(Template {
                index,
                section,
                query: query.to_owned(),
                variant_args,
                should_fail: flag(case, "should_fail"),
                skip_comparison: flag(case, "skip_comparison"),
            })
        })
        .collect()
}

/// Section name of [`removed_upstream`]'s templates.
pub const REMOVED_UPSTREAM: &str = "holt_winters (removed upstream in 3baf696)";

/// Templates the suite had until it dropped them, which Prometheus 2.42 still answers:
/// `holt_winters` (renamed `double_exponential_smoothing` in Prometheus 3, and taken out of
/// the file by commit 3baf696, 2024-12-27). Numbered after the `first_index - 1` templates
/// of the current file; reported apart from the file's own count.
pub fn removed_upstream(first_index: usize) -> Vec<Template> {
    vec![Template {
        index: first_index,
        section: REMOVED_UPSTREAM.to_owned(),
        query: "holt_winters(demo_disk_usage_bytes[10m], {{.smoothingFactor}}, {{.trendFactor}})"
            .to_owned(),
        variant_args: vec!["smoothingFactor".to_owned(), "trendFactor".to_owned()],
        should_fail: false,
        skip_comparison: false,
    }]
}

/// The section of each test case, in order: the file heads each section with a comment at
/// list indentation right after a blank line (or right after `test_cases:`), and every
/// test case has exactly one `query:` line.
fn sections(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut section = String::from("(no section)");
    let mut previous = "";
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("  # ")
            && (previous.trim().is_empty() || previous.trim() == "test_cases:")
        {
            section = heading.trim().trim_end_matches('.').to_owned();
        }
        let body = line.trim_start().trim_start_matches("- ").trim_start();
        if body.starts_with("query:") {
            out.push(section.clone());
        }
        previous = line;
    }
    out
}

/// Every expanded query of `templates`, in the tester's order.
pub fn expand(templates: &[Template]) -> Result<Vec<Case>, String> {
    let mut out = Vec::new();
    for t in templates {
        let mut filled = Vec::new();
        variants(&t.query, &t.variant_args, &mut Vec::new(), &mut filled)?;
        out.extend(filled.into_iter().map(|query| Case {
            template: t.index,
            query,
            should_fail: t.should_fail,
            skip_comparison: t.skip_comparison,
        }));
    }
    Ok(out)
}

/// The cross product over `names` (first name slowest), each combination filled into
/// `query` and pushed to `out`.
fn variants<'a>(
    query: &str,
    names: &'a [String],
    chosen: &mut Vec<(&'a str, &'static str)>,
    out: &mut Vec<String>,
) -> Result<(), String> {
    let Some((name, rest)) = names.split_first() else {
        out.push(fill(query, chosen)?);
        return Ok(());
    };
    let values =
        variant_values(name).ok_or_else(|| format!("unknown variant arg {name:?} in {query:?}"))?;
    for value in values {
        chosen.push((name, value));
        variants(query, rest, chosen, out)?;
        chosen.pop();
    }
    Ok(())
}

/// `query` with each `{{.name}}` replaced by its chosen value; any other `{{` is an error
/// (the file only uses plain field references).
fn fill(query: &str, chosen: &[(&str, &str)]) -> Result<String, String> {
    let mut out = String::with_capacity(query.len());
    let mut rest = query;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| format!("unclosed {{{{ in {query:?}"))?;
        let field = after[..close].trim();
        let name = field
            .strip_prefix('.')
            .ok_or_else(|| format!("unsupported template action {{{{{field}}}}} in {query:?}"))?;
        let value = chosen
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .ok_or_else(|| format!("{{{{.{name}}}}} in {query:?} is not in its variant_args"))?;
        out.push_str(value);
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(query: &str, args: &[&str]) -> Template {
        Template {
            index: 0,
            section: String::new(),
            query: query.to_owned(),
            variant_args: args.iter().map(|s| (*s).to_owned()).collect(),
            should_fail: false,
            skip_comparison: false,
        }
    }

    #[test]
    fn the_first_variant_arg_varies_slowest() {
        let t = template(
            "{{.instantRateFunc}}(x[{{.offset}}])",
            &["instantRateFunc", "offset"],
        );
        let queries: Vec<String> = expand(&[t]).unwrap().into_iter().map(|c| c.query).collect();
        assert_eq!(
            queries,
            [
                "idelta(x[1m])",
                "idelta(x[5m])",
                "idelta(x[10m])",
                "irate(x[1m])",
                "irate(x[5m])",
                "irate(x[10m])",
            ]
        );
    }

    #[test]
    fn placeholders_outside_variant_args_are_refused() {
        assert!(expand(&[template("x offset {{.offset}}", &[])]).is_err());
        assert!(expand(&[template("x", &["nosuch"])]).is_err());
        assert!(expand(&[template("{{if .x}}", &["offset"])]).is_err());
        let plain = expand(&[template("sum(x)", &[])]).unwrap();
        assert_eq!(plain[0].query, "sum(x)");
    }

    #[test]
    fn the_vendored_file_parses_into_sections() {
        let all = templates(QUERY_FILE).unwrap();
        assert!(all.len() > 100, "{}", all.len());
        assert_eq!(all[0].query, "42");
        assert_eq!(all[0].section, "Scalar literals");
        let unary = all.iter().find(|t| t.query == "-1 ^ 2").unwrap();
        assert_eq!(unary.section, "Unary expressions");
        let last = all.last().unwrap();
        assert_eq!(last.section, "Subqueries");
        assert!(all.iter().any(|t| t.should_fail));
        let cases = expand(&all).unwrap();
        assert!(cases.iter().all(|c| !c.query.contains("{{")));
    }
}
