//! Prometheus 2.42's dialect on top of promql-parser, which follows Prometheus 3:
//!
//! - `holt_winters(v[r], sf, tf)` is 2.42's name for what Prometheus 3 calls
//!   `double_exponential_smoothing`: the query text is rewritten before parsing (only
//!   the function-name token, found by the lexer, never a label or a string), and the
//!   evaluator treats both names alike. Writing the Prometheus 3 name is refused, as 2.42
//!   does not know it.
//! - Functions, aggregations and modifiers that came after 2.42 (`mad_over_time`,
//!   `sort_by_label`, `limitk`, `fill(…)`, …) are refused with 2.42's parse error,
//!   `unknown function with name "…"`, so the same query fails in the same way here and
//!   in Prometheus.

use std::borrow::Cow;

use lrpar::{Lexeme, Lexer};
use promql_parser::parser::token::{T_IDENTIFIER, T_LEFT_PAREN};
use promql_parser::parser::{Expr, VectorMatchFillValues};

use super::children;
use crate::QueryError;

/// The name Prometheus 2.42 gives double exponential smoothing.
const HOLT_WINTERS: &str = "holt_winters";
/// The name promql-parser knows it by.
const PARSER_NAME: &str = "double_exponential_smoothing";

/// Every function of Prometheus 2.42 (`holt_winters` under the parser's name).
const FUNCTIONS_2_42: &[&str] = &[
    "abs",
    "absent",
    "absent_over_time",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "avg_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "count_over_time",
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "deg",
    "delta",
    "deriv",
    "exp",
    "floor",
    "histogram_count",
    "histogram_fraction",
    "histogram_quantile",
    "histogram_sum",
    PARSER_NAME,
    "hour",
    "idelta",
    "increase",
    "irate",
    "label_replace",
    "label_join",
    "ln",
    "log10",
    "log2",
    "last_over_time",
    "max_over_time",
    "min_over_time",
    "minute",
    "month",
    "pi",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rad",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_desc",
    "sqrt",
    "stddev_over_time",
    "stdvar_over_time",
    "sum_over_time",
    "tan",
    "tanh",
    "time",
    "timestamp",
    "vector",
    "year",
];

/// `query` as promql-parser must read it: `holt_winters(` becomes
/// `double_exponential_smoothing(`. Refuses `double_exponential_smoothing(` itself.
pub(super) fn to_parser_text(query: &str) -> Result<Cow<'_, str>, QueryError> {
    let Ok(lexer) = promql_parser::parser::lexer(query) else {
        // The parser reports the lexer's error.
        return Ok(Cow::Borrowed(query));
    };
    let tokens: Vec<(u32, usize, usize)> = lexer
        .iter()
        .filter_map(Result::ok)
        .map(|l| (u32::from(l.tok_id()), l.span().start(), l.span().end()))
        .collect();
    let mut calls: Vec<(usize, usize)> = Vec::new();
    for pair in tokens.windows(2) {
        let ((token, start, end), (next, _, _)) = (pair[0], pair[1]);
        if token != u32::from(T_IDENTIFIER) || next != u32::from(T_LEFT_PAREN) {
            continue;
        }
        match query.get(start..end) {
            Some(HOLT_WINTERS) => calls.push((start, end)),
            Some(PARSER_NAME) => return Err(unknown_function(PARSER_NAME)),
            _ => {}
        }
    }
    if calls.is_empty() {
        return Ok(Cow::Borrowed(query));
    }
    let mut text = String::with_capacity(query.len() + calls.len() * 16);
    let mut at = 0;
    for (start, end) in calls {
        text.push_str(&query[at..start]);
        text.push_str(PARSER_NAME);
        at = end;
    }
    text.push_str(&query[at..]);
    Ok(Cow::Owned(text))
}

/// Refuses what promql-parser accepts but Prometheus 2.42 does not. Walks with an
/// explicit stack.
pub(super) fn check(expr: &Expr) -> Result<(), QueryError> {
    let mut pending = vec![expr];
    while let Some(expr) = pending.pop() {
        match expr {
            Expr::Call(c) if !FUNCTIONS_2_42.contains(&c.func.name) => {
                return Err(unknown_function(c.func.name));
            }
            Expr::Aggregate(a) => {
                let op = a.op.to_string().to_ascii_lowercase();
                if op == "limitk" || op == "limit_ratio" {
                    return Err(unknown_function(&op));
                }
            }
            Expr::Binary(b) => {
                if let Some(m) = &b.modifier
                    && m.fill_values != VectorMatchFillValues::default()
                {
                    return Err(QueryError::Parse(format!(
                        "unexpected fill modifier in {b}; Prometheus 2.42 has no fill()"
                    )));
                }
            }
            _ => {}
        }
        pending.extend(children(expr));
    }
    Ok(())
}

fn unknown_function(name: &str) -> QueryError {
    QueryError::Parse(format!("unknown function with name {name:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holt_winters_is_renamed_only_where_it_is_a_function() {
        let q = r#"holt_winters(holt_winters{holt_winters="holt_winters("}[5m], 0.5, 0.5)"#;
        let text = to_parser_text(q).expect("rewrite");
        assert_eq!(
            text,
            r#"double_exponential_smoothing(holt_winters{holt_winters="holt_winters("}[5m], 0.5, 0.5)"#
        );
        assert!(matches!(
            to_parser_text("rate(x[5m])"),
            Ok(Cow::Borrowed(_))
        ));
        let err = to_parser_text("double_exponential_smoothing(x[5m], 0.5, 0.5)").unwrap_err();
        assert!(err.to_string().contains("unknown function"), "{err}");
    }

    #[test]
    fn newer_functions_are_unknown() {
        for q in [
            "mad_over_time(x[5m])",
            "sort_by_label(x)",
            "limitk(2, x)",
            "sum(first_over_time(x[5m]))",
        ] {
            let expr = promql_parser::parser::parse(q).expect(q);
            let err = check(&expr).unwrap_err();
            assert!(
                err.to_string().contains("unknown function with name"),
                "{q}: {err}"
            );
        }
        let expr = promql_parser::parser::parse("rate(x[5m]) + day_of_week()").expect("parse");
        check(&expr).expect("2.42 functions");
    }
}
