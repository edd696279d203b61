//! The rest of PromQL: subqueries (nested, with offset and @, with and without a step),
//! `histogram_quantile` over the dataset's classic histogram, `holt_winters`, the @ modifier
//! with `start()`, `end()` and timestamps, every `*_over_time`, the date functions, trig
//! functions, the remaining aggregations, `sort`/`sort_desc` and negative offsets.

use super::{Case, M, S, Times};
use crate::dataset::{DB_STOPS_BEFORE_END_MS, REBOOT_AFTER_MS, seconds};
use crate::prom_api::Eval;

/// Expressions evaluated at the default instants and ranges.
pub const STANDARD: &[&str] = &[
    // Subqueries around every range function, with and without a step.
    "max_over_time(rate(node_cpu_seconds_total[5m])[30m:1m])",
    "min_over_time(rate(node_network_receive_bytes_total[2m])[15m:30s])",
    "avg_over_time(node_load1[10m:])",
    "sum_over_time(node_load5[7m:45s])",
    "count_over_time(node_load1[20m:1m])",
    "last_over_time(node_load1[5m:10s])",
    "present_over_time(node_load1[10m:1m])",
    r#"stddev_over_time(rate(node_cpu_seconds_total{mode="user"}[1m])[10m:15s])"#,
    "stdvar_over_time(node_load1[30m:2m])",
    r#"quantile_over_time(0.9, rate(node_cpu_seconds_total{mode="user"}[5m])[1h:5m])"#,
    "quantile_over_time(0.25, node_load5[20m:])",
    "deriv(node_load1[10m:1m])",
    "deriv(node_filesystem_avail_bytes[1h:5m])",
    "predict_linear(node_load1[15m:1m], 600)",
    "rate(node_network_receive_bytes_total[10m:30s])",
    r#"increase(node_cpu_seconds_total{mode="idle"}[15m:1m])"#,
    r#"irate(node_cpu_seconds_total{cpu="0"}[5m:20s])"#,
    "idelta(node_load1[5m:1m])",
    "delta(node_load5[10m:1m])",
    "changes(node_load1[30m:1m])",
    "resets(node_network_transmit_bytes_total[30m:1m])",
    "holt_winters(node_load1[10m:1m], 0.5, 0.5)",
    "avg_over_time(app_sensor_value[10m:1m])",
    "rate(app_bytes_total[10m:1m])",
    "max_over_time(rate(app_bytes_total[1m])[10m:])",
    r#"min_over_time(node_load1{host="db-1"}[1h:1m])"#,
    "max_over_time(vector(time())[5m:1m])",
    // Nested subqueries, and subqueries with offset and @.
    "max_over_time(avg_over_time(node_load1[10m:1m])[30m:5m])",
    r#"max_over_time(deriv(rate(node_cpu_seconds_total{mode="idle"}[5m])[20m:1m])[1h:5m])"#,
    "min_over_time(node_load1[30m:1m] offset 10m)",
    "min_over_time(node_load1[30m:1m] offset -10m)",
    "max_over_time(node_load1[10m:1m] @ end())",
    "max_over_time(node_load1[10m:1m] @ start())",
    "max_over_time(node_load1[10m:1m] @ end() offset 5m)",
    "max_over_time((node_load1 @ start())[10m:1m])",
    "avg_over_time(sum by (host) (rate(node_cpu_seconds_total[5m]))[30m:3m])",
    "sum_over_time(sum(node_load1)[1h:7m])",
    "node_load1 - avg_over_time(node_load1[1h:5m])",
    "max_over_time((node_load1 > 1)[10m:1m])",
    "count_over_time((node_load1 > 1)[10m:1m])",
    "max_over_time(histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))[30m:1m])",
    // The classic histogram.
    "http_request_duration_seconds_bucket",
    "histogram_quantile(0.9, rate(http_request_duration_seconds_bucket[5m]))",
    "histogram_quantile(0.5, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.99, sum by (host, le) (rate(http_request_duration_seconds_bucket[10m])))",
    "histogram_quantile(0.75, sum without (instance, handler) (increase(http_request_duration_seconds_bucket[15m])))",
    "histogram_quantile(0, rate(http_request_duration_seconds_bucket[5m]))",
    "histogram_quantile(1, rate(http_request_duration_seconds_bucket[5m]))",
    "histogram_quantile(1.5, rate(http_request_duration_seconds_bucket[5m]))",
    "histogram_quantile(-0.5, rate(http_request_duration_seconds_bucket[5m]))",
    "histogram_quantile(0.9, http_request_duration_seconds_bucket)",
    "histogram_quantile(0.9, rate(http_request_duration_seconds_bucket[1m]))",
    r#"histogram_quantile(0.5, rate(http_request_duration_seconds_bucket{le!="+Inf"}[5m]))"#,
    r#"histogram_quantile(0.5, rate(http_request_duration_seconds_bucket{le="+Inf"}[5m]))"#,
    r#"histogram_quantile(0.5, rate(http_request_duration_seconds_bucket{le!="0.25"}[5m]))"#,
    r#"histogram_quantile(0.5, label_replace(rate(http_request_duration_seconds_bucket[5m]), "le", "x$1", "le", "(0.05)"))"#,
    "histogram_quantile(scalar(vector(0.95)), sum by (le, handler) (rate(http_request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.9, rate(http_request_duration_seconds_bucket[5m] offset -5m))",
    "rate(http_request_duration_seconds_sum[5m]) / rate(http_request_duration_seconds_count[5m])",
    "sum by (le) (http_request_duration_seconds_bucket)",
    "changes(http_request_duration_seconds_count[10m])",
    "irate(http_request_duration_seconds_count[1m])",
    "deriv(http_request_duration_seconds_sum[10m])",
    "predict_linear(http_request_duration_seconds_count[30m], 1800)",
    "sum_over_time(http_request_duration_seconds_count[5m])",
    "quantile_over_time(0.5, http_request_duration_seconds_sum[10m])",
    // holt_winters.
    "holt_winters(node_load1[10m], 0.5, 0.5)",
    "holt_winters(node_memory_MemAvailable_bytes[30m], 0.1, 0.9)",
    "holt_winters(app_sensor_value[10m], 0.3, 0.3)",
    "holt_winters(node_load1[20s], 0.5, 0.5)",
    // label_replace and label_join.
    r#"label_join(node_filesystem_avail_bytes, "path", ",", "device", "mountpoint")"#,
    r#"label_join(node_load1, "host", "", "env")"#,
    r#"label_replace(node_load1, "host", "$1", "nonexistent", "(.*)")"#,
    r#"label_replace(rate(node_cpu_seconds_total[5m]), "m", "${1}x", "mode", "(i.*)")"#,
    r#"label_replace(http_request_duration_seconds_bucket, "bound", "$1", "le", "(.*)")"#,
    // @ start() and end().
    "node_load1 @ start()",
    "node_load1 @ end()",
    "rate(node_cpu_seconds_total[5m] @ end())",
    "sum by (env) (node_load1 @ start())",
    "node_load1 @ end() offset 10m",
    "node_load1 offset 10m @ start()",
    "max_over_time(node_load1[10m] @ start())",
    "node_load1 - node_load1 @ start()",
    "timestamp(node_load1 @ end())",
    "timestamp(node_load1 @ start())",
    "histogram_quantile(0.9, rate(http_request_duration_seconds_bucket[5m] @ end()))",
    // Every *_over_time.
    "present_over_time(node_load1[5m])",
    "present_over_time(app_sensor_value[1m])",
    "stdvar_over_time(node_load1[15m])",
    "stdvar_over_time(app_sensor_value[10m])",
    "last_over_time(app_sensor_value[1m])",
    r#"absent_over_time(nonexistent{job="x"}[5m])"#,
    r#"absent_over_time(node_load1{host="nope", job=~"n.*"}[5m])"#,
    "absent_over_time(node_load1[5m])",
    // Date functions, without an argument (the evaluation time) and with one.
    "day_of_month()",
    "day_of_week()",
    "day_of_year()",
    "days_in_month()",
    "hour()",
    "minute()",
    "month()",
    "year()",
    "day_of_month(node_boot_time_seconds)",
    "day_of_week(node_boot_time_seconds)",
    "day_of_year(node_boot_time_seconds)",
    "days_in_month(node_boot_time_seconds)",
    "hour(node_boot_time_seconds)",
    "minute(timestamp(node_load1))",
    "month(node_boot_time_seconds)",
    "year(node_boot_time_seconds)",
    "day_of_month(vector(951782400))",
    "days_in_month(vector(951782400))",
    "day_of_year(vector(951782400))",
    "day_of_year(vector(1735689599))",
    "days_in_month(vector(1709164800))",
    "day_of_week(vector(0))",
    "hour(vector(-1))",
    "minute(vector(1700000000.9))",
    "month(vector(4102444800))",
    "year(vector(-86400))",
    // timestamp.
    "timestamp(rate(node_cpu_seconds_total[5m]))",
    "timestamp(vector(1))",
    // sgn, trig and the other math functions.
    "sgn(app_sensor_value - 10)",
    "sgn(deriv(node_load1[5m]))",
    "sgn(vector(0))",
    "sin(node_load1)",
    "cos(node_load1)",
    "tan(node_load1)",
    "asin(node_load1 - 1)",
    "acos(node_load1 - 1)",
    "atan(node_load1)",
    "atan(app_sensor_value)",
    "sinh(node_load1)",
    "cosh(node_load1)",
    "tanh(node_load1)",
    "asinh(node_load1)",
    "acosh(node_load1 + 0.5)",
    "atanh(node_load1 - 1)",
    "rad(node_load1 * 90)",
    "deg(node_load1)",
    "cos(vector(Inf))",
    "pi()",
    "pi() * node_load1",
    "sin(pi() / 2 * vector(1))",
    "exp(node_load1)",
    "ln(node_load1)",
    "log2(node_load1)",
    "log10(node_load1)",
    "sqrt(node_load1)",
    // Aggregations.
    "group(node_load1)",
    "group by (host) (node_cpu_seconds_total)",
    "group without (cpu) (rate(node_cpu_seconds_total[5m]))",
    "group(app_sensor_value)",
    "stdvar(node_load1)",
    "stdvar by (mode) (rate(node_cpu_seconds_total[5m]))",
    "stdvar(app_sensor_value or node_load1)",
    "stddev(app_sensor_value)",
    "quantile(0.5, app_sensor_value or node_load1)",
    "quantile(0.9, http_request_duration_seconds_sum)",
    "topk(3, sum by (host) (rate(node_cpu_seconds_total[5m])))",
    "bottomk(2, node_load1) by (env)",
    "topk(2, node_load1 @ end())",
    r#"count_values without (instance) ("v", round(node_load5))"#,
    r#"count_values("host", ceil(node_load1))"#,
    // sort and sort_desc (instant answers are compared in order).
    "sort(node_load1)",
    "sort_desc(node_load1)",
    r#"sort(rate(node_cpu_seconds_total{mode="user"}[5m]))"#,
    "sort_desc(sum by (host) (node_filesystem_avail_bytes))",
    "sort(app_sensor_value or node_load1)",
    "sort_desc(app_sensor_value or node_load1)",
    "sort_desc(histogram_quantile(0.9, sum by (host, le) (rate(http_request_duration_seconds_bucket[5m]))))",
    // Negative offsets.
    "rate(node_cpu_seconds_total[5m] offset -10m)",
    "sum(node_load1 offset -30s)",
    "node_load1 offset -1h",
    "max_over_time(node_load1[10m] offset -5m)",
    "timestamp(node_load1 offset -1m)",
    "node_load1 offset -7m30s - node_load1",
    // Buckets without an `le` label are left out: nothing to compute.
    "histogram_quantile(0.9, rate(node_cpu_seconds_total[5m]))",
];

/// Expressions Prometheus refuses: Vigil must refuse them the same way.
pub const ERRORS: &[&str] = &[
    "holt_winters(node_load1[10m], 1.5, 0.5)",
    "holt_winters(node_load1[10m], 0.5, 0)",
    "max_over_time(time()[5m:1m])",
    "sum(node_load1[5m:1m])",
    "node_load1 @ 1 @ 2",
    "node_load1 offset 1m offset 2m",
    "histogram_quantile(0.9)",
    r#"label_join(node_load1, "1bad", "-", "host")"#,
    "sort(node_load1[5m])",
    "day_of_month(node_load1[5m])",
    "pi(1)",
    r#"topk("a", node_load1)"#,
    "quantile_over_time(0.5, node_load1)",
];

/// Subqueries and range selectors as results: instant queries only.
pub const INSTANT_ONLY: &[&str] = &[
    "node_load1[10m:2m]",
    r#"rate(node_cpu_seconds_total{host="web-1",cpu="0"}[5m])[10m:1m]"#,
    "node_load1[5m:] offset 1m",
    "node_load1[10m:1m] @ end()",
    r#"http_request_duration_seconds_bucket{host="db-1",le="0.1"}[2m]"#,
];

/// The cases of this file evaluated at particular times: across web-2's reboot, at the
/// series' start, at db-1's lookback edge, across cache-1's gaps, and @ timestamps.
pub fn timed(t: Times) -> Vec<(String, Vec<Eval>)> {
    let mut all = Vec::new();
    let mut add = |exprs: &[&str], evals: Vec<Eval>| {
        all.extend(exprs.iter().map(|e| ((*e).to_owned(), evals.clone())));
    };
    add(
        &[
            r#"histogram_quantile(0.9, rate(http_request_duration_seconds_bucket{host="web-2"}[5m]))"#,
            r#"rate(http_request_duration_seconds_count{host="web-2"}[5m])"#,
            r#"resets(http_request_duration_seconds_bucket{host="web-2",handler="/api"}[30m])"#,
            r#"increase(http_request_duration_seconds_sum{host="web-2"}[10m])"#,
            r#"max_over_time(rate(node_cpu_seconds_total{host="web-2",cpu="0"}[1m])[10m:30s])"#,
            r#"resets(node_cpu_seconds_total{host="web-2",cpu="1"}[10m:1m])"#,
            r#"changes(node_boot_time_seconds{host="web-2"}[15m:1m])"#,
        ],
        t.reboot(),
    );
    add(
        &[
            r#"rate(http_request_duration_seconds_bucket{handler="/login"}[5m])"#,
            "histogram_quantile(0.5, rate(http_request_duration_seconds_bucket[5m]))",
            "avg_over_time(node_load1[10m:1m])",
            "node_load1 @ start()",
            "holt_winters(node_load1[5m], 0.5, 0.5)",
        ],
        t.series_start(),
    );
    add(
        &[
            r#"absent_over_time(node_load1{host="db-1"}[5m])"#,
            r#"present_over_time(node_load1{host="db-1"}[5m])"#,
            r#"max_over_time(node_load1{host="db-1"}[10m:1m])"#,
            r#"last_over_time(node_load1{host="db-1"}[3m:])"#,
            r#"histogram_quantile(0.9, rate(http_request_duration_seconds_bucket{host="db-1"}[5m]))"#,
        ],
        t.lookback_edge(),
    );
    add(
        &[
            r#"absent_over_time(node_load1{host="cache-1"}[5m])"#,
            r#"present_over_time(node_load5{host="cache-1"}[2m])"#,
            r#"count_over_time(node_load1{host="cache-1"}[10m:1m])"#,
            r#"absent_over_time(node_load1{host="cache-1"}[5m:1m])"#,
        ],
        t.gaps(),
    );
    add(
        &[
            "max_over_time(node_load1[1h:5m])",
            "hour()",
            r#"minute(timestamp(node_load1{host="edge-1"}))"#,
        ],
        t.whole(),
    );
    let at = |ms: i64| seconds(ms);
    let reboot = t.start + REBOOT_AFTER_MS;
    let db_last = t.end - DB_STOPS_BEFORE_END_MS;
    for e in [
        format!("node_load1 @ {}", at(t.start + 30 * M + 500)),
        format!("max_over_time(node_load1[10m:1m] @ {})", at(t.end - 20 * M)),
        format!(
            "sum(rate(node_cpu_seconds_total[5m] @ {}))",
            at(reboot + 5 * M)
        ),
        format!(r#"node_load1{{host="db-1"}} @ {}"#, at(db_last)),
        format!("node_load1 @ {} offset -5m", at(t.start + 10 * M)),
        format!(
            "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m] @ {})))",
            at(t.end - 30 * M)
        ),
        format!(
            "avg_over_time(rate(node_cpu_seconds_total[1m])[10m:1m] @ {})",
            at(reboot + 2 * M + 15 * S)
        ),
    ] {
        all.push((e, t.default_evals()));
    }
    all
}

/// Every case of this file.
pub fn cases(t: Times, case: impl Fn(&str, Vec<Eval>) -> Case) -> Vec<Case> {
    let mut all: Vec<Case> = STANDARD
        .iter()
        .map(|e| case(e, t.default_evals()))
        .collect();
    all.extend(ERRORS.iter().map(|e| Case {
        expect_error: true,
        ..case(e, vec![Eval::Instant(t.end), t.default_evals()[3]])
    }));
    all.extend(INSTANT_ONLY.iter().map(|e| case(e, t.default_instants())));
    all.extend(timed(t).into_iter().map(|(e, evals)| case(&e, evals)));
    all
}
