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
    let RuleKind::Anomaly(a) = &group.rules[3].kind else {
        panic!("{:?}", group.rules[3])
    };
    assert_eq!(
        (a.threshold, a.warmup),
        (0.7, Duration::from_secs(8 * 86400))
    );
    assert_eq!(group.rules[3].for_, Duration::from_secs(600));
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
                    RuleKind::Anomaly(a) => accepted.push(a.expr),
                }
            }
        }
    }
    assert_eq!(accepted.len(), 19 + 10 + 5);
    for expr in &accepted {
        assert!(engine.instant(expr, 1_700_000_000_000).is_ok(), "{expr}");
    }
    // Constructs beyond the fixtures: the loader lets them through and the engine runs them.
    let beyond = [
        "histogram_quantile(0.99, rate(x_bucket[1m])) > 0.5",
        "max_over_time(rate(x[5m])[1h:1m]) > 1e9",
        "absent_over_time(x[5m])",
        "holt_winters(x[1h], 0.3, 0.3)",
        "label_join(x, \"a\", \",\", \"b\")",
        "count_values(\"v\", x)",
        "topk(1, x) or bottomk(1, x)",
        "quantile(0.5, x) + stddev(x) + stdvar(x)",
        "year() + month() + day_of_month() + day_of_week() + day_of_year() + hour() + minute()",
        "days_in_month(timestamp(x))",
        "sin(x) + cos(x) + (x atan2 x) + pi() + deg(x) + rad(x)",
        "x @ start() - x @ end() offset -1m",
    ];
    for expr in beyond {
        assert_eq!(promql_check::check(expr), Ok(()), "{expr}");
        assert!(engine.instant(expr, 1_700_000_000_000).is_ok(), "{expr}");
    }
    // A function newer than Prometheus 2.42: both refuse it, by name.
    let newer = "sort_by_label(x, \"a\")";
    assert!(
        promql_check::check(newer)
            .unwrap_err()
            .contains("sort_by_label")
    );
    assert!(matches!(
        engine.instant(newer, 1_700_000_000_000),
        Err(QueryError::Parse(_))
    ));
}
