//! The PromQL differential-test corpus: every expression with the evaluations (instant
//! times, range windows) it runs at, relative to the synthetic dataset's times.
//!
//! Default evaluations for an expression (see [`Times::default_evals`]):
//! ```text
//! instant at end            – exactly on every regular host's last sample
//! instant at end-7.5s       – between two samples
//! instant at start+100m+7.25s – 5 minutes after web-2's counter reset, db-1 still alive
//! range start+10m..end, step 60s        – every point on a sample timestamp
//! range start+60m+3.5s..end-20m, step 37s – points between samples, across cache-1's gap
//! ```

use crate::dataset::{DB_STOPS_BEFORE_END_MS, LONG_GAP_MS, REBOOT_AFTER_MS, SHORT_GAP_MS};
use crate::prom_api::Eval;

const S: i64 = 1000;
const M: i64 = 60 * S;

/// The dataset's time range, from which evaluation times are derived.
#[derive(Debug, Clone, Copy)]
pub struct Times {
    /// First sample (ms).
    pub start: i64,
    /// Last regular sample (ms).
    pub end: i64,
}

impl Times {
    /// Instant evaluations used by most expressions.
    pub fn default_instants(&self) -> Vec<Eval> {
        vec![
            Eval::Instant(self.end),
            Eval::Instant(self.end - 7_500),
            Eval::Instant(self.start + 100 * M + 7_250),
        ]
    }

    /// Instant and range evaluations used by most expressions.
    pub fn default_evals(&self) -> Vec<Eval> {
        let mut evals = self.default_instants();
        evals.push(Eval::Range {
            start: self.start + 10 * M,
            end: self.end,
            step: 60 * S,
        });
        evals.push(Eval::Range {
            start: self.start + 60 * M + 3_500,
            end: self.end - 20 * M,
            step: 37 * S,
        });
        evals
    }

    /// db-1's last sample.
    fn db_last(&self) -> i64 {
        self.end - DB_STOPS_BEFORE_END_MS
    }

    /// Around the 5-minute lookback edge after db-1 stops (Prometheus 2.x selects samples
    /// in the closed interval [t-5m, t]).
    fn lookback_edge(&self) -> Vec<Eval> {
        let last = self.db_last();
        vec![
            Eval::Instant(last + 299 * S),
            Eval::Instant(last + 300 * S),
            Eval::Instant(last + 300 * S + 1),
            Eval::Instant(last + 301 * S),
            Eval::Range {
                start: last - M,
                end: last + 7 * M,
                step: 15 * S,
            },
            Eval::Range {
                start: last - M + 500,
                end: last + 7 * M,
                step: 30 * S,
            },
        ]
    }

    /// Where windows reach back before the first sample (rate extrapolation).
    fn series_start(&self) -> Vec<Eval> {
        vec![
            Eval::Instant(self.start + 2 * M),
            Eval::Instant(self.start + 5 * M),
            Eval::Instant(self.start + 5 * M + 1),
            Eval::Range {
                start: self.start - M,
                end: self.start + 12 * M,
                step: 15 * S,
            },
        ]
    }

    /// Across web-2's reboot (its counters reset).
    fn reboot(&self) -> Vec<Eval> {
        let at = self.start + REBOOT_AFTER_MS;
        vec![
            Eval::Instant(at),
            Eval::Instant(at + 60 * S + 7_500),
            Eval::Range {
                start: at - 10 * M,
                end: at + 20 * M,
                step: 15 * S,
            },
        ]
    }

    /// Across cache-1's long and short gaps.
    fn gaps(&self) -> Vec<Eval> {
        let long = self.start + LONG_GAP_MS.0;
        let short = self.start + SHORT_GAP_MS.0;
        vec![
            Eval::Instant(long + 10 * M),
            Eval::Instant(short + M),
            Eval::Range {
                start: long - 5 * M,
                end: long + 20 * M,
                step: 15 * S,
            },
            Eval::Range {
                start: short - 5 * M,
                end: short + 10 * M,
                step: 20 * S,
            },
        ]
    }

    /// The whole dataset at a coarse step, and at the scrape interval.
    fn whole(&self) -> Vec<Eval> {
        vec![
            Eval::Range {
                start: self.start,
                end: self.end,
                step: 300 * S,
            },
            Eval::Range {
                start: self.start,
                end: self.end,
                step: 15 * S,
            },
        ]
    }
}

/// One expression and where it is evaluated.
#[derive(Debug, Clone)]
pub struct Case {
    /// The PromQL expression.
    pub expr: String,
    /// Its evaluations.
    pub evals: Vec<Eval>,
    /// Whether Prometheus refuses it (then Vigil must refuse it the same way).
    pub expect_error: bool,
}

/// Expressions evaluated at [`Times::default_evals`].
const STANDARD: &[&str] = &[
    // Selectors and matchers.
    "node_load1",
    r#"node_load1{host="web-1"}"#,
    r#"node_load1{host!="web-1"}"#,
    r#"node_load1{host=~"web-.*"}"#,
    r#"node_load1{host!~"web-.*|db-1"}"#,
    r#"node_load1{env=""}"#,
    r#"node_load1{env!=""}"#,
    r#"node_load1{env=~"prod|"}"#,
    r#"{__name__=~"node_load.*", host="cache-1"}"#,
    r#"node_filesystem_avail_bytes{mountpoint=~".*[ \"\\\\].*"}"#,
    r#"node_filesystem_avail_bytes{mountpoint!~"/|/var/.*"}"#,
    "node_load1 offset 10m",
    "app_sensor_value",
    // Counters.
    "rate(node_cpu_seconds_total[5m])",
    "rate(node_cpu_seconds_total[1m])",
    "irate(node_network_receive_bytes_total[5m])",
    "increase(node_network_transmit_bytes_total[10m])",
    r#"rate(node_network_receive_bytes_total{host="edge-1"}[2m])"#,
    r#"increase(node_cpu_seconds_total{host="edge-1",mode="idle"}[90s])"#,
    r#"resets(node_cpu_seconds_total{mode="user"}[30m])"#,
    "changes(node_boot_time_seconds[1h])",
    "node_network_receive_bytes_total - node_network_receive_bytes_total offset 5m",
    // Gauges over time.
    "delta(node_memory_MemAvailable_bytes[10m])",
    "idelta(node_load1[5m])",
    "deriv(node_filesystem_avail_bytes[30m])",
    "deriv(node_load1[5m])",
    "predict_linear(node_filesystem_avail_bytes[1h], 86400)",
    "predict_linear(node_load1[10m], 600)",
    "avg_over_time(node_load1[10m])",
    "min_over_time(node_load5[10m])",
    "max_over_time(node_load5[10m])",
    "sum_over_time(node_load1[3m])",
    "count_over_time(node_load1[5m])",
    "last_over_time(node_load1[5m])",
    "quantile_over_time(0.9, node_load1[15m])",
    "stddev_over_time(node_load1[15m])",
    "max_over_time(app_sensor_value[5m])",
    "avg_over_time(app_sensor_value[10m])",
    // Simple functions.
    "abs(app_sensor_value - 10)",
    "ceil(node_load1 * 3)",
    "floor(node_load1 * 3)",
    "round(node_load1, 0.25)",
    "round(node_load5)",
    "clamp(node_load1, 0.5, 1.2)",
    "clamp_min(node_load1, 1)",
    "clamp_max(node_load1, 1)",
    "timestamp(node_load1)",
    r#"timestamp(node_network_receive_bytes_total{host="edge-1"})"#,
    "time()",
    "vector(1)",
    "vector(time()) - 60",
    r#"scalar(node_load1{host="web-1"})"#,
    "scalar(node_load1)",
    "scalar(sum(node_load1))",
    r#"absent(node_load1{host="nope"})"#,
    "absent(node_load1)",
    r#"absent(nonexistent_metric{job="x", host=~"a.*"})"#,
    r#"label_replace(node_load1, "short", "$1", "host", "([a-z]+)-.*")"#,
    r#"label_replace(node_load1, "host", "", "host", "web-.*")"#,
    r#"label_join(node_load1, "hi", "/", "host", "job")"#,
    "time() - node_boot_time_seconds",
    // Aggregations.
    "sum(node_load1)",
    "sum by (env) (node_load1)",
    "avg without (instance) (node_load1)",
    "min by (host) (node_filesystem_avail_bytes)",
    "max(node_load5)",
    "count by (mode) (node_cpu_seconds_total)",
    "count by (nonexistent) (node_load1)",
    "stddev by (job) (node_load1)",
    "stddev(rate(node_cpu_seconds_total[5m]))",
    "sum(node_load1) without (host, instance)",
    "topk(2, node_load1)",
    "bottomk(3, rate(node_cpu_seconds_total[5m]))",
    "topk by (host) (1, node_filesystem_avail_bytes)",
    "quantile(0.75, node_load1)",
    "quantile by (host) (0.5, rate(node_cpu_seconds_total[5m]))",
    r#"count_values("value", ceil(node_load1))"#,
    r#"count_values by (host) ("load", round(node_load5))"#,
    r#"sum by (host) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))"#,
    "sum without (cpu, mode) (rate(node_cpu_seconds_total[5m]))",
    "avg(node_memory_MemAvailable_bytes) by (env)",
    "max by (host) (1 - node_filesystem_avail_bytes / node_filesystem_size_bytes)",
    "-sum(app_sensor_value)",
    // Arithmetic and comparisons.
    "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes * 100",
    "1 - (node_filesystem_avail_bytes / node_filesystem_size_bytes)",
    "node_load1 > 1",
    "node_load1 > bool 1",
    "node_load1 == bool node_load5",
    "node_load1 <= node_load5",
    "node_load1 != 0.5",
    "-node_load1",
    "node_load1 ^ 2",
    "node_load1 % 0.3",
    "2 ^ 3 * 4 - 10 / 4 % 3",
    "2 < bool 3",
    "(1 + 2) * 3",
    "10 / 0",
    "0 / 0",
    "(-1) ^ 0.5",
    // Vector matching.
    "rate(node_network_receive_bytes_total[5m]) / on(host, device) rate(node_network_transmit_bytes_total[5m])",
    "node_load1 / ignoring(env) node_load5",
    "node_filesystem_avail_bytes / on(host) group_left node_memory_MemTotal_bytes",
    "node_load1 * on(host) group_left(release) node_uname_info",
    "node_uname_info * on(host) group_right(release) node_filesystem_size_bytes",
    "sum by (host) (node_filesystem_size_bytes) - on(host) sum by (host) (node_filesystem_avail_bytes)",
    "node_load1 + on() group_left sum(node_load5)",
    "sum(rate(node_network_receive_bytes_total[5m])) by (host) > 100000",
    // Set operators.
    "node_load1 and node_load5 > 0.8",
    "node_load1 or node_load5",
    r#"node_load1 unless on(host) node_uname_info{release="6.1.0-18-amd64"}"#,
    "node_load1 and on(host) (node_load5 > 0.8)",
    "node_load1 > 0.9 or vector(0)",
    "vector(1) and on() absent(nonexistent)",
    // More matcher edge cases.
    r#"node_load1{host=~"(?i)WEB-1"}"#,
    r#"node_load1{host=~"web"}"#,
    r#"node_load1{env=~".*"}"#,
    r#"node_load1{env!~".+"}"#,
    r#"{job="node", __name__=~"node_memory_.*"}"#,
    r#"sum by (__name__) ({__name__=~"node_load.*"})"#,
    "node_load1 offset -5m",
    "node_load1 offset 1h - node_load1",
    // NaN and infinities.
    "changes(app_sensor_value[10m])",
    "stddev_over_time(app_sensor_value[10m])",
    "quantile_over_time(0.5, app_sensor_value[30m])",
    "min_over_time(app_sensor_value[10m])",
    "sum(app_sensor_value)",
    "rate(app_sensor_value[5m])",
    "deriv(app_sensor_value[10m])",
    r#"count_values("v", app_sensor_value)"#,
    r#"count_values("v", node_filesystem_size_bytes * 1e10)"#,
    // Counters across the reset, and windows with too few samples.
    r#"delta(node_cpu_seconds_total{host="web-2",cpu="0"}[10m])"#,
    r#"predict_linear(node_cpu_seconds_total{mode="idle"}[15m], 3600)"#,
    "rate(node_load1[10s])",
    "deriv(node_load1[20s])",
    "last_over_time(node_load1[1h])",
    "timestamp(node_load1 offset 5m)",
    "timestamp(last_over_time(node_load1[10m]))",
    // Aggregation parameters at their edges.
    "quantile(1.5, node_load1)",
    "quantile(-1, node_load1)",
    "quantile(0, node_load1)",
    "topk(0, node_load1)",
    "topk(scalar(count(node_load1)) - 2, node_load1)",
    "bottomk by (env) (1, node_load1)",
    r#"count_values("cpu", count by (host) (node_cpu_seconds_total))"#,
    "clamp(node_load1, 2, 1)",
    "round(node_filesystem_avail_bytes / 1e9, 0.1)",
    "absent(rate(nonexistent[5m]))",
    "absent(sum(nonexistent))",
    r#"absent(node_load1{host="db-1"})"#,
    r#"label_join(node_load1, "x", "-")"#,
    r#"label_replace(node_load1, "__name__", "renamed_$1", "host", "(.*)-.*")"#,
    // Scalars.
    "vector(1) + vector(2)",
    "scalar(vector(1)) + 1",
    "time() % 3600",
    r#"scalar(node_load1{host="web-1"}) * 2 + 1"#,
    "node_load1 == node_load1",
    // Operators, precedence and rounding corners.
    "node_load1 unless ignoring(env) node_load5{host=\"web-1\"}",
    "node_load5 or on(host) node_load1",
    "node_load1 > on(host) node_load5",
    "node_load5 < bool on(host) node_load1",
    "1 < bool node_load1",
    "1 < node_load1",
    "2 * 3 ^ 2",
    "-2 ^ 2",
    "2 ^ 3 ^ 2",
    "round(vector(-2.5))",
    "round(vector(2.5))",
    "round(vector(-0.4))",
    "-vector(0)",
    "count(count by (host) (node_cpu_seconds_total))",
    "max(app_sensor_value or node_load1)",
    "min(app_sensor_value or node_load1)",
    "topk(1, app_sensor_value or node_load1)",
    "bottomk(2, app_sensor_value or node_load1)",
    "avg(app_sensor_value or node_load1)",
    "sum_over_time(app_sensor_value[10m])",
    "quantile_over_time(1.2, node_load1[10m])",
    "quantile_over_time(0, node_load1[10m])",
    "predict_linear(node_load1[5m], -600)",
    r#"label_replace(node_load1, "x", "$2-$1", "host", "(web)-(.*)")"#,
    "rate(node_cpu_seconds_total[5m] offset 1h)",
    "changes(node_load1[1m])",
    "idelta(node_load1[20s])",
    r#"irate(node_network_receive_bytes_total{host="edge-1"}[1m])"#,
    "time() - timestamp(node_load1)",
    "avg_over_time(node_load1[3h])",
    "rate(node_network_transmit_bytes_total[1h])",
    // A counter near 4.5e15: cancellation, a tiny dip that counts as a reset.
    "rate(app_bytes_total[5m])",
    "increase(app_bytes_total[15m])",
    "resets(app_bytes_total[1h])",
    "irate(app_bytes_total[1m])",
    "deriv(app_bytes_total[10m])",
    "predict_linear(app_bytes_total[10m], 3600)",
    "delta(app_bytes_total[5m])",
    "stddev_over_time(app_bytes_total[5m])",
    // Lexical corners: comments, number and string literals, compound durations.
    "node_load1 # the load\n",
    "sum(node_load1)by(env)",
    "node_load1 * 0x10",
    "node_load1 * 1e-3",
    "vector(Inf)",
    "vector(-Inf)",
    "vector(NaN)",
    "node_load1 < Inf",
    r#"node_filesystem_avail_bytes{mountpoint="/mnt/two\nlines"}"#,
    r#"node_filesystem_avail_bytes{mountpoint='/var/lib/data dir'}"#,
    r#"node_filesystem_avail_bytes{mountpoint=~`.*\\.*`}"#,
    "avg_over_time(node_load1[1h30m])",
    "node_load1 offset 1h30m",
];

/// Expressions that are empty at every evaluation by design.
pub const EMPTY_BY_DESIGN: &[&str] = &[
    "absent(node_load1)",
    r#"node_load1{host=~"web"}"#,
    "topk(0, node_load1)",
    "clamp(node_load1, 2, 1)",
    "rate(node_load1[10s])",
    "deriv(node_load1[20s])",
];

/// Expressions Prometheus refuses (parse, type or execution errors): Vigil must refuse them
/// with the same HTTP status and `errorType`.
const ERRORS: &[&str] = &[
    "1 > 2",
    "node_load1 + on(job) node_load5",
    "node_load1 / on(host) group_left node_filesystem_avail_bytes",
    r#"label_replace(label_replace(node_load1, "host", "x", "", ""), "instance", "x", "", "")"#,
    r#"label_replace(node_load1, "x", "$1", "host", "(")"#,
    r#"node_load1{__name__="x", __name__="y"} + "a""#,
];

/// Expressions whose result is a range vector or a string: instant queries only.
const INSTANT_ONLY: &[&str] = &[
    "node_load1[5m]",
    r#"node_network_receive_bytes_total{host="edge-1"}[3m] offset 1m"#,
    r#"app_sensor_value[2m]"#,
    r#""hello""#,
];

/// Every case of the corpus.
pub fn cases(t: Times) -> Vec<Case> {
    let case = |expr: &str, evals: Vec<Eval>| Case {
        expr: expr.to_owned(),
        evals,
        expect_error: false,
    };
    let mut all: Vec<Case> = STANDARD
        .iter()
        .map(|e| case(e, t.default_evals()))
        .collect();
    all.extend(ERRORS.iter().map(|e| Case {
        expect_error: true,
        ..case(e, vec![Eval::Instant(t.end), t.default_evals()[3]])
    }));
    // The @ modifier pins a selector to a time, whatever the evaluation time.
    let at = |ms: i64| crate::dataset::seconds(ms);
    let reboot = t.start + REBOOT_AFTER_MS;
    for e in [
        format!("node_load1 @ {}", at(t.start + 60 * M)),
        format!(
            r#"rate(node_cpu_seconds_total{{host="web-2"}}[5m] @ {})"#,
            at(reboot + M)
        ),
        format!("node_load1 offset 5m @ {}", at(t.end - 7_500)),
    ] {
        all.push(case(&e, t.default_evals()));
    }
    // Windows that begin before the data does.
    for e in [
        "rate(node_cpu_seconds_total[5m])",
        "increase(node_network_receive_bytes_total[5m])",
        "delta(node_load1[5m])",
        "irate(node_cpu_seconds_total[5m])",
        "deriv(node_load1[5m])",
        "avg_over_time(node_load1[5m])",
        "node_load1",
    ] {
        all.push(case(e, t.series_start()));
    }
    // Single-point and fine-step ranges.
    for e in [
        "sum(node_load1)",
        r#"rate(node_cpu_seconds_total{host="edge-1"}[1m])"#,
    ] {
        all.push(case(
            e,
            vec![
                Eval::Range {
                    start: t.end,
                    end: t.end,
                    step: 60 * S,
                },
                Eval::Range {
                    start: t.end - 10 * M,
                    end: t.end,
                    step: S,
                },
            ],
        ));
    }
    all.extend(INSTANT_ONLY.iter().map(|e| case(e, t.default_instants())));
    // Staleness: db-1 stops reporting; the lookback edge.
    for e in [
        r#"node_load1{host="db-1"}"#,
        r#"rate(node_cpu_seconds_total{host="db-1",mode="user"}[5m])"#,
        r#"count(node_cpu_seconds_total{host="db-1"})"#,
        r#"node_load1{host="db-1"} offset 1m"#,
    ] {
        all.push(case(e, t.lookback_edge()));
    }
    // Counter resets.
    for e in [
        r#"rate(node_cpu_seconds_total{host="web-2"}[5m])"#,
        r#"increase(node_cpu_seconds_total{host="web-2",cpu="0"}[15m])"#,
        r#"resets(node_network_receive_bytes_total{host="web-2"}[10m])"#,
        r#"irate(node_network_transmit_bytes_total{host="web-2"}[1m])"#,
        r#"node_boot_time_seconds{host="web-2"} - node_boot_time_seconds{host="web-2"} offset 1h"#,
    ] {
        all.push(case(e, t.reboot()));
    }
    // Missing data.
    for e in [
        r#"node_load1{host="cache-1"}"#,
        r#"rate(node_cpu_seconds_total{host="cache-1",cpu="1"}[5m])"#,
        r#"count_over_time(node_load5{host="cache-1"}[10m])"#,
        r#"absent(node_load1{host="cache-1"})"#,
    ] {
        all.push(case(e, t.gaps()));
    }
    for e in [
        "sum(rate(node_cpu_seconds_total[5m]))",
        r#"max_over_time(node_load1{host="edge-1"}[1m])"#,
    ] {
        all.push(case(e, t.whole()));
    }
    all
}
