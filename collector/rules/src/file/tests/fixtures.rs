//! The rule files people load: the community host rules load unchanged, Vigil's
//! extensions parse, unsupported PromQL is named, and the loader agrees with the engine.

use std::time::Duration;

use super::super::{load_file, promql_check};
use super::testdata;
use crate::spec::RuleKind;
use vigil_forecast::{Direction, ModelChoice, Season};

#[test]
fn vigil_extensions() {
    let file = load_file(&testdata("vigil_extensions.yml")).unwrap();
    let group = &file.groups[0];
    assert_eq!(group.interval, Some(Duration::from_secs(30)));
    let cpu = &group.rules[0];
    assert_eq!(cpu.keep_firing_for, Duration::from_secs(300));
    assert!(
        matches!(&cpu.kind, RuleKind::Threshold { clear: Some(c), .. } if c.ends_with("< 0.8"))
    );
    let RuleKind::Forecast(f) = &group.rules[1].kind else {
        panic!("{:?}", group.rules[1])
    };
    assert_eq!(f.expr, "node_filesystem_avail_bytes{mountpoint=\"/\"}");
    assert_eq!(
        (f.threshold, f.direction, f.model, f.season),
        (
            0.0,
            Direction::Below,
            ModelChoice::HoltWinters,
            Some(Season::Daily)
        )
    );
    assert_eq!(
        (f.lookback, f.horizon),
        (
            Duration::from_secs(7 * 86400),
            Duration::from_secs(2 * 86400)
        )
    );
    assert_eq!(group.rules[1].for_, Duration::from_secs(900));
    let RuleKind::Forecast(d) = &group.rules[2].kind else {
        panic!()
    };
    assert_eq!(
        (d.threshold, d.direction, d.model, d.season),
        (0.95, Direction::Above, ModelChoice::Auto, None)
    );
}

/// Every expression the loader accepts, the engine evaluates; every one it refuses as
/// unsupported, the engine refuses too. Guards the lists in `promql_check` against the
/// engine changing.
#[test]
fn loader_and_engine_agree() {
    use std::sync::Arc;

    use vigil_promql::{Engine, EngineOptions, QueryError};
    use vigil_store::memory::MemoryStore;

    let engine = Engine::new(Arc::new(MemoryStore::new()), EngineOptions::default());
    let mut accepted = Vec::new();
    for name in [
        "awesome_node_exporter.yml",
        "node_mixin.yml",
        "vigil_extensions.yml",
    ] {
        for group in load_file(&testdata(name)).unwrap().groups {
            for rule in group.rules {
                match rule.kind {
                    RuleKind::Threshold { expr, clear } => {
                        accepted.extend([Some(expr), clear].into_iter().flatten())
                    }
                    RuleKind::Record { expr } => accepted.push(expr),
                    RuleKind::Forecast(f) => accepted.push(f.expr),
                }
            }
        }
    }
    assert_eq!(accepted.len(), 19 + 10 + 4);
    for expr in &accepted {
        assert!(engine.instant(expr, 1_700_000_000_000).is_ok(), "{expr}");
    }
    // One call of every function and aggregation the loader lets through.
    let calls = [
        "time()",
        "vector(1)",
        "scalar(x)",
        "absent(x)",
        "timestamp(x)",
        "abs(x)",
        "ceil(x)",
        "floor(x)",
        "exp(x)",
        "sqrt(x)",
        "ln(x)",
        "log2(x)",
        "log10(x)",
        "sgn(x)",
        "round(x, 2)",
        "clamp(x, 0, 1)",
        "clamp_min(x, 0)",
        "clamp_max(x, 1)",
        "label_replace(x, \"a\", \"$1\", \"b\", \"(.*)\")",
        "label_join(x, \"a\", \",\", \"b\")",
        "sort(x)",
        "sort_desc(x)",
    ];
    let names: Vec<&str> = calls.iter().map(|c| &c[..c.find('(').unwrap()]).collect();
    assert_eq!(names, promql_check::INSTANT_FUNCTIONS);
    let aggregations = promql_check::AGGREGATIONS.map(|a| match a {
        "topk" | "bottomk" | "quantile" => format!("{a}(1, x)"),
        "count_values" => format!("{a}(\"v\", x)"),
        _ => format!("{a} by (host) (x)"),
    });
    for expr in calls.iter().map(|c| c.to_string()).chain(aggregations) {
        assert_eq!(promql_check::check(&expr), Ok(()), "{expr}");
        assert!(engine.instant(&expr, 1_700_000_000_000).is_ok(), "{expr}");
    }
    for expr in [
        "histogram_quantile(0.99, rate(x_bucket[1m])) > 0.5",
        "max_over_time(rate(x[5m])[1h:1m]) > 1e9",
        "absent_over_time(x[5m])",
    ] {
        assert!(promql_check::check(expr).is_err(), "{expr}");
        assert!(
            matches!(
                engine.instant(expr, 1_700_000_000_000),
                Err(QueryError::Unsupported(_))
            ),
            "{expr}"
        );
    }
}
