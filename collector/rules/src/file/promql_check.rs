//! Checking a rule's PromQL before it runs: that it parses as Prometheus 2.42 PromQL (the
//! engine's own parser: `holt_winters` included, functions newer than 2.42 refused by
//! name) and that it gives a value a rule can use. Vigil's engine evaluates everything that
//! parses, so nothing else is refused here.

use promql_parser::parser::value::ValueType;

/// Parses `expr` and checks it is something a rule can evaluate: an instant vector or a
/// scalar. The error says what to change.
pub(super) fn check(expr: &str) -> Result<(), String> {
    // The same length and depth limits as queries: a rule file is input too.
    let parsed = vigil_promql::parse::parse(expr, &vigil_promql::parse::ParseLimits::default())
        .map_err(|e| format!("could not parse expression: {e}; fix the PromQL"))?;
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
    fn accepts_everything_prometheus_2_42_has_and_names_what_it_lacks() {
        for ok in [
            "histogram_quantile(0.9, rate(x_bucket[5m])) > 1",
            "max_over_time(rate(x[1m])[10m:1m]) > 1",
            "holt_winters(x[1h], 0.5, 0.5)",
            "absent_over_time(x[5m])",
            "hour() == 3 and day_of_week() == 1",
            "x @ end() - x offset -5m",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        let e = check("sort_by_label(x, \"a\")").unwrap_err();
        assert!(e.contains("sort_by_label"), "{e}");
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
