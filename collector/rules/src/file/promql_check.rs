//! Checking a rule's PromQL before it runs: that it parses, that Vigil's engine evaluates
//! every construct in it, and that it gives a value a rule can use.
//!
//! The lists below mirror what `crate::promql` evaluates (README, "PromQL and the
//! Prometheus HTTP API"); a construct missing from them is refused here with its name
//! rather than failing at every evaluation.

use promql_parser::parser::Expr;
use promql_parser::parser::value::ValueType;

use vigil_promql::range_functions::RangeFunction;

/// Functions over instant vectors and scalars that the engine evaluates (see
/// `promql/call.rs`); the functions over range vectors are [`RangeFunction`]'s.
pub(super) const INSTANT_FUNCTIONS: [&str; 22] = [
    "time",
    "vector",
    "scalar",
    "absent",
    "timestamp",
    "abs",
    "ceil",
    "floor",
    "exp",
    "sqrt",
    "ln",
    "log2",
    "log10",
    "sgn",
    "round",
    "clamp",
    "clamp_min",
    "clamp_max",
    "label_replace",
    "label_join",
    "sort",
    "sort_desc",
];

/// Aggregations the engine evaluates (see `promql/aggregate.rs`).
pub(super) const AGGREGATIONS: [&str; 12] = [
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "group",
    "stddev",
    "stdvar",
    "quantile",
    "topk",
    "bottomk",
    "count_values",
];

/// Binary operators the engine evaluates (see `promql/binary.rs`).
const OPERATORS: [&str; 16] = [
    "+", "-", "*", "/", "%", "^", "atan2", "==", "!=", ">", "<", ">=", "<=", "and", "or", "unless",
];

/// Parses `expr` and checks it is something a rule can evaluate: an instant vector or a
/// scalar, built only from constructs Vigil supports. The error says what to change.
pub(super) fn check(expr: &str) -> Result<(), String> {
    // The same length and depth limits as queries: a rule file is input too.
    let parsed = vigil_promql::parse::parse(expr, &vigil_promql::parse::ParseLimits::default())
        .map_err(|e| format!("could not parse expression: {e}; fix the PromQL"))?;
    let mut unsupported = Vec::new();
    walk(&parsed, &mut unsupported);
    if !unsupported.is_empty() {
        unsupported.dedup();
        return Err(format!(
            "expression uses {} that Vigil's PromQL engine does not support; \
             rewrite it with the supported functions (README, \"PromQL and the Prometheus HTTP API\")",
            unsupported.join(", ")
        ));
    }
    match parsed.value_type() {
        ValueType::Vector | ValueType::Scalar => Ok(()),
        ValueType::Matrix => Err(
            "expression gives a range vector, but a rule needs an instant vector or a scalar; \
             wrap it in a function such as rate() or avg_over_time()"
                .into(),
        ),
        ValueType::String => {
            Err("expression gives a string, but a rule needs an instant vector or a scalar".into())
        }
    }
}

/// Collects the names of unsupported constructs in `expr`.
fn walk(expr: &Expr, unsupported: &mut Vec<String>) {
    match expr {
        Expr::Aggregate(a) => {
            let op = a.op.to_string().to_ascii_lowercase();
            if !AGGREGATIONS.contains(&op.as_str()) {
                unsupported.push(format!("the aggregation {op}()"));
            }
            if let Some(p) = &a.param {
                walk(p, unsupported);
            }
            walk(&a.expr, unsupported);
        }
        Expr::Unary(u) => walk(&u.expr, unsupported),
        Expr::Binary(b) => {
            let op = b.op.to_string().to_ascii_lowercase();
            if !OPERATORS.contains(&op.as_str()) {
                unsupported.push(format!("the operator {op}"));
            }
            walk(&b.lhs, unsupported);
            walk(&b.rhs, unsupported);
        }
        Expr::Paren(p) => walk(&p.expr, unsupported),
        Expr::Subquery(s) => {
            unsupported.push(format!(
                "a subquery ({s}; record the inner expression with a recording rule instead)"
            ));
            walk(&s.expr, unsupported);
        }
        Expr::Call(c) => {
            let name = c.func.name;
            let known =
                RangeFunction::from_name(name).is_some() || INSTANT_FUNCTIONS.contains(&name);
            if !known {
                unsupported.push(format!("the function {name}()"));
            }
            for arg in &c.args.args {
                walk(arg, unsupported);
            }
        }
        Expr::Extension(_) => unsupported.push("an extension expression".into()),
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::VectorSelector(_)
        | Expr::MatrixSelector(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_supported_expressions() {
        for ok in [
            "up == 0",
            "1",
            "sum by (instance) (rate(node_cpu_seconds_total{mode!=\"idle\"}[5m])) > 0.8",
            "predict_linear(node_filesystem_avail_bytes[1h], 4 * 3600) < 0",
            "label_replace(up, \"a\", \"$1\", \"job\", \"(.*)\")",
            "topk(3, x) and on(instance) y offset 5m",
            "count(sum(x) by (kernel)) > 1",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn names_unsupported_constructs() {
        let e = check("histogram_quantile(0.9, rate(x_bucket[5m])) > 1").unwrap_err();
        assert!(e.contains("the function histogram_quantile()"), "{e}");
        let e = check("max_over_time(rate(x[1m])[10m:1m]) > 1").unwrap_err();
        assert!(e.contains("a subquery (rate(x[1m])[10m:1m]"), "{e}");
        // promql-parser does not know Prometheus 2.42's holt_winters(): its parse error
        // names it.
        let e = check("holt_winters(x[1h], 0.5, 0.5)").unwrap_err();
        assert!(e.contains("holt_winters"), "{e}");
        let e = check("absent_over_time(x[5m])").unwrap_err();
        assert!(e.contains("absent_over_time()"), "{e}");
    }

    #[test]
    fn refuses_wrong_types_and_syntax() {
        assert!(check("x[5m]").unwrap_err().contains("range vector"));
        assert!(check("\"text\"").unwrap_err().contains("string"));
        assert!(
            check("sum(x")
                .unwrap_err()
                .starts_with("could not parse expression")
        );
    }
}
