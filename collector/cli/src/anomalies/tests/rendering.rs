//! Rendering the fixture's rows: the table and its marks, JSON, CSV, and the message
//! when there is nothing to show.

use super::*;

fn rendered(rows: &[Anomaly], output: Output) -> String {
    let mut out = Vec::new();
    render::render(rows, &window(), 0.5, output, &mut out).expect("write to a Vec");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn table_marks_where_the_value_left_its_band() {
    // The TREND column starts at character 135; marks sit under their steps.
    let marks = |at: usize, mark: &str| format!("{}{mark}\n", " ".repeat(135 + at));
    let expected = [
        "2026-11-21 04:50:00 to 2026-11-21 05:50:00 UTC, every 1m; peak scores ≥ 0.5; under TREND, ^ marks a value above the expected band and v one below it\n",
        "SCORE   HOST    SERIES                                           RULE                             NOW             EXPECTED   SINCE     TREND\n",
        " 0.97   db-1    -                                                host_load1                         8             0.2..1.5   12m ago   ▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▂▃▃▄▄▅▅▆▆▇▇██\n",
        &marks(48, &"^".repeat(13)),
        " 0.81   web-1   node_filesystem_avail_bytes{mountpoint=\"/var\"}   disk_free                    2.0 GiB   30.0 GiB..50.0 GiB   4m ago    ████████████████████   ████████████████████████████████▁▁▁▁▁▁\n",
        &marks(55, &"v".repeat(6)),
        " 0.81   web-1   -                                                host_network_receive_bytes      1000              0..4000   30m ago   ▁█▁█▁█▁█▁█▁█▁█▁█▁█▁█▁█▁█▁█▁█▁█▁█▁█▁█▁█▁█▁█▁█▁█▁█▁█▁█▁█▁█▁█▁█▁\n",
    ]
    .concat();
    assert_eq!(rendered(&ranked().rows, Output::Table), expected);
}

#[test]
fn marks_sit_under_their_steps() {
    let rows = ranked().rows;
    let w = window();
    let trends: Vec<String> = rows.iter().map(|r| render::trend(r, &w)).collect();
    let lines = |t: &str| t.lines().map(|l| l.chars().count()).collect::<Vec<_>>();
    // 61 steps: 61 characters of sparkline, the marks up to the last one outside.
    assert_eq!(lines(&trends[0]), [61, 61]);
    assert_eq!(
        trends[0].lines().nth(1),
        Some(format!("{}{}", " ".repeat(48), "^".repeat(13)).as_str())
    );
    assert_eq!(
        trends[1].lines().nth(1),
        Some(format!("{}{}", " ".repeat(55), "v".repeat(6)).as_str())
    );
    // Always inside its band: one line.
    assert_eq!(lines(&trends[2]), [61]);
    // A value above one step and below the next, and a step with no band: no mark there.
    let mut row = rows[2].clone();
    row.points[3].value = Some(5000.0);
    row.points[4].value = Some(-1.0);
    row.points[5] = Point {
        lower: None,
        upper: None,
        ..row.points[5]
    };
    row.points[5].value = Some(1e9);
    assert_eq!(render::trend(&row, &w).lines().nth(1), Some("   ^v"));
}

#[test]
fn json_has_raw_numbers_and_unix_seconds() {
    let json = rendered(&ranked().rows, Output::Json);
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let rows = parsed.as_array().expect("an array");
    assert_eq!(rows.len(), 3);
    let load = &rows[0];
    assert_eq!(load["score"], 0.97);
    assert_eq!(
        load["labels"],
        serde_json::json!({"anomaly_rule": "host_load1", "host": "db-1"})
    );
    assert_eq!(load["host"], "db-1");
    assert_eq!(load["metric"], serde_json::Value::Null);
    assert_eq!(load["rule"], "host_load1");
    assert_eq!(load["since"], 1_795_239_480);
    assert_eq!(
        (load["value"].clone(), load["lower"].clone()),
        (8.0.into(), 0.2.into())
    );
    assert_eq!(load["points"].as_array().map(Vec::len), Some(61));
    assert_eq!(
        load["points"][0],
        serde_json::json!([1_795_236_600, 0.5, 0.2, 1.5])
    );
    let var = &rows[1];
    assert_eq!(var["metric"], "node_filesystem_avail_bytes");
    assert_eq!(var["labels"]["mountpoint"], "/var");
    // No value at step 20: null, the band still there.
    assert_eq!(
        var["points"][20],
        serde_json::json!([1_795_237_800, null, 30.0 * GIB, 50.0 * GIB])
    );
    // Keys in this order, times in Unix seconds.
    assert!(
        json.starts_with(concat!(
            r#"[{"score":0.97,"labels":{"anomaly_rule":"host_load1","host":"db-1"},"#,
            r#""host":"db-1","metric":null,"rule":"host_load1","since":1795239480,"#,
            r#""value":8.0,"lower":0.2,"upper":1.5,"points":[[1795236600,0.5,0.2,1.5],"#,
        )),
        "{json}"
    );
}

#[test]
fn csv_is_one_row_per_series() {
    assert_eq!(
        rendered(&ranked().rows, Output::Csv),
        "score,labels,host,metric,rule,since,value,lower,upper\n\
         0.97,anomaly_rule=host_load1;host=db-1,db-1,,host_load1,1795239480,8,0.2,1.5\n\
         0.81,anomaly_rule=disk_free;host=web-1;metric=node_filesystem_avail_bytes;mountpoint=/var,\
         web-1,node_filesystem_avail_bytes,disk_free,1795239960,2147483648,32212254720,53687091200\n\
         0.81,anomaly_rule=host_network_receive_bytes;host=web-1,web-1,,\
         host_network_receive_bytes,1795238400,1000,0,4000\n"
    );
}

#[test]
fn nothing_to_show() {
    assert_eq!(rendered(&[], Output::Json), "[]\n");
    assert_eq!(
        rendered(&[], Output::Csv),
        "score,labels,host,metric,rule,since,value,lower,upper\n"
    );
    let defaults = args(&[]).expect("valid");
    let w = window();
    assert_eq!(
        render::nothing_scored(&defaults, &w, 12.0),
        "no series scored ≥ 0.5 in the last 1h\n(anomaly rules watched 12 series then; a \
         lower --min-score shows weaker anomalies)"
    );
    let one_host = args(&[
        "--host",
        "db-1",
        "--min-score",
        "0.8",
        "--since",
        "90m",
        "--at",
        "1795240200",
    ])
    .expect("valid");
    let w = Window::new(T, one_host.since);
    assert_eq!(
        render::nothing_scored(&one_host, &w, 0.0),
        "no series of host db-1 scored ≥ 0.8 in the 1h 30m before 2026-11-21 05:50:00 UTC: \
         no anomaly rule watched any series of host db-1 then\n(vigil_anomaly_score exists \
         once anomaly rules are loaded in the collector, and `vigil rules` lists them; the \
         built-in ones watch core series)"
    );
}

#[test]
fn since_is_relative_to_the_end_of_the_window() {
    let w = window();
    let rows = ranked().rows;
    let since = |row: &Anomaly| render::since_cell(row, &w);
    assert_eq!(since(&rows[0]), "12m ago");
    // Already at or above --min-score at the window's first evaluation: maybe for longer.
    let scores = matrix(vec![series(
        LOAD,
        &over_window(|i| (i >= 30).then_some(0.9)),
    )]);
    let mut ranking = Ranking::new(&peaks(), 0.5, 1);
    ranking.attach(&scores, &bands(), 0.5);
    assert_eq!(ranking.rows[0].since_ms, Some(step(30)));
    assert_eq!(since(&ranking.rows[0]), "≥ 30m ago");
    // A series whose range shows no score: no since, and nothing before it.
    let scores = matrix(vec![series(LOAD, &[(step(3), f64::NAN)])]);
    ranking.attach(&scores, &bands(), 0.5);
    assert_eq!(
        (ranking.rows[0].since_ms, ranking.rows[0].since_before),
        (None, false)
    );
    let mut row = rows[0].clone();
    row.since_ms = Some(T);
    assert_eq!(since(&row), "just now");
    row.since_ms = None;
    assert_eq!(since(&row), "-");
    // With --at in the past, "ago" counts back from --at, not from the clock.
    let earlier = Window::new(T - 86_400_000, Duration::from_secs(600));
    row.since_ms = Some(T - 86_400_000 - 300_000);
    assert_eq!(render::since_cell(&row, &earlier), "5m ago");
}
