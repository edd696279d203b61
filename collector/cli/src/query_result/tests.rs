//! Rendering of hand-built query results in every format.

use super::*;
use vigil_proto::v1::Label;

/// 2026-11-21T05:50:00Z in milliseconds.
const T: i64 = 1_795_240_200_000;

fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.into(),
        value: value.into(),
    }
}

fn series(labels: &[(&str, &str)], points: &[(i64, f64)]) -> SeriesSamples {
    SeriesSamples {
        labels: labels.iter().map(|(n, v)| label(n, v)).collect(),
        timestamps_ms: points.iter().map(|p| p.0).collect(),
        values: points.iter().map(|p| p.1).collect(),
    }
}

fn vector() -> QueryResult {
    let mut result = QueryResult {
        series: vec![
            series(&[("host", "db-1")], &[(T + 500, 0.25)]),
            series(
                &[("__name__", "node_load1"), ("host", "web-1")],
                &[(T + 500, 1e21)],
            ),
        ],
        ..QueryResult::default()
    };
    result.set_result_type(ResultType::Vector);
    result
}

fn matrix() -> QueryResult {
    let mut result = QueryResult {
        series: vec![
            series(
                &[("host", "db-1")],
                &[(T, 1.0), (T + 60_000, 3.0), (T + 120_000, 2.0)],
            ),
            series(&[("host", "web-1")], &[(T + 120_000, f64::NAN)]),
        ],
        ..QueryResult::default()
    };
    result.set_result_type(ResultType::Matrix);
    result
}

fn scalar() -> QueryResult {
    let mut result = QueryResult {
        time_ms: T,
        scalar: 0.1 + 0.2,
        ..QueryResult::default()
    };
    result.set_result_type(ResultType::Scalar);
    result
}

const RANGE: Evaluation = Evaluation::Range(Steps {
    start_ms: T,
    end_ms: T + 120_000,
    step_ms: 60_000,
});

fn rendered(result: &QueryResult, evaluation: Evaluation, output: Output) -> String {
    let mut out = Vec::new();
    render(result, evaluation, output, &mut out).expect("write to a Vec");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn json_is_the_prometheus_data_object() {
    assert_eq!(
        rendered(&vector(), Evaluation::Instant(T), Output::Json),
        concat!(
            r#"{"resultType":"vector","result":["#,
            r#"{"metric":{"host":"db-1"},"value":[1795240200.5,"0.25"]},"#,
            r#"{"metric":{"__name__":"node_load1","host":"web-1"},"value":[1795240200.5,"1e+21"]}]}"#,
            "\n"
        )
    );
    assert_eq!(
        rendered(&matrix(), RANGE, Output::Json),
        concat!(
            r#"{"resultType":"matrix","result":["#,
            r#"{"metric":{"host":"db-1"},"values":[[1795240200,"1"],[1795240260,"3"],[1795240320,"2"]]},"#,
            r#"{"metric":{"host":"web-1"},"values":[[1795240320,"NaN"]]}]}"#,
            "\n"
        )
    );
    assert_eq!(
        rendered(&scalar(), Evaluation::Instant(T), Output::Json),
        "{\"resultType\":\"scalar\",\"result\":[1795240200,\"0.30000000000000004\"]}\n"
    );
    let mut string = QueryResult {
        time_ms: T + 1,
        string: "hello \"world\"".into(),
        ..QueryResult::default()
    };
    string.set_result_type(ResultType::String);
    assert_eq!(
        rendered(&string, Evaluation::Instant(T), Output::Json),
        "{\"resultType\":\"string\",\"result\":[1795240200.001,\"hello \\\"world\\\"\"]}\n"
    );
}

#[test]
fn empty_results_are_empty_json_arrays() {
    let mut empty = QueryResult::default();
    empty.set_result_type(ResultType::Vector);
    assert_eq!(
        rendered(&empty, Evaluation::Instant(T), Output::Json),
        "{\"resultType\":\"vector\",\"result\":[]}\n"
    );
}

#[test]
fn csv_has_one_row_per_sample() {
    assert_eq!(
        rendered(&matrix(), RANGE, Output::Csv),
        "series,timestamp,value\n\
         \"{host=\"\"db-1\"\"}\",1795240200,1\n\
         \"{host=\"\"db-1\"\"}\",1795240260,3\n\
         \"{host=\"\"db-1\"\"}\",1795240320,2\n\
         \"{host=\"\"web-1\"\"}\",1795240320,NaN\n"
    );
    assert_eq!(
        rendered(&scalar(), Evaluation::Instant(T), Output::Csv),
        "series,timestamp,value\n,1795240200,0.30000000000000004\n"
    );
}

#[test]
fn vector_table_is_one_row_per_series() {
    assert_eq!(
        rendered(&vector(), Evaluation::Instant(T), Output::Table),
        "SERIES                     VALUE\n\
         {host=\"db-1\"}               0.25\n\
         node_load1{host=\"web-1\"}   1e+21\n"
    );
    assert_eq!(
        rendered(&scalar(), Evaluation::Instant(T), Output::Table),
        "0.30000000000000004\n"
    );
}

#[test]
fn range_table_draws_sparklines() {
    assert_eq!(
        rendered(&matrix(), RANGE, Output::Table),
        "2026-11-21 05:50:00.000 to 2026-11-21 05:52:00.000 UTC, every 1m\n\
         SERIES           TREND   MIN   MAX   LAST\n\
         {host=\"db-1\"}    ▁█▅       1     3      2\n\
         {host=\"web-1\"}           NaN   NaN    NaN\n"
    );
}

#[test]
fn range_selector_at_one_time_lists_the_samples() {
    assert_eq!(
        rendered(&matrix(), Evaluation::Instant(T + 120_000), Output::Table),
        "{host=\"db-1\"}\n\
         TIME                      VALUE\n\
         2026-11-21 05:50:00.000       1\n\
         2026-11-21 05:51:00.000       3\n\
         2026-11-21 05:52:00.000       2\n\
         \n\
         {host=\"web-1\"}\n\
         TIME                      VALUE\n\
         2026-11-21 05:52:00.000     NaN\n"
    );
}
