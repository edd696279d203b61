//! `vigil top` rendering, joining and sorting, on hand-built figures.

use super::*;

fn host(name: &str, up: bool) -> Host {
    Host {
        host: name.into(),
        up,
        ..Host::default()
    }
}

fn usage(cpu: f64, mem: f64, rx: f64) -> Usage {
    Usage {
        cpu_percent: Some(cpu),
        memory_percent: Some(mem),
        fullest_filesystem_percent: Some(71.25),
        disk_read_bytes_per_second: Some(0.0),
        disk_write_bytes_per_second: Some(1536.0),
        network_receive_bytes_per_second: Some(rx),
        network_transmit_bytes_per_second: Some(2_621_440.0),
        load1: Some(0.5),
    }
}

/// db-1 (busy), web-1 (idle, heavy network), old-box (down, no data), imported (no
/// registry entry).
fn rows() -> Vec<TopRow> {
    let hosts = [
        host("db-1", true),
        host("old-box", false),
        host("web-1", true),
    ];
    let mut figures = BTreeMap::new();
    figures.insert("db-1".to_owned(), usage(87.5, 40.0, 100.0));
    figures.insert("web-1".to_owned(), usage(3.0, 90.0, 5e9));
    figures.insert(
        "imported".to_owned(),
        Usage {
            load1: Some(2.0),
            ..Usage::default()
        },
    );
    join(&hosts, figures)
}

fn order(key: SortKey) -> Vec<String> {
    let mut rows = rows();
    sort(&mut rows, key);
    rows.into_iter().map(|r| r.host).collect()
}

fn rendered(output: Output) -> String {
    let mut rows = rows();
    sort(&mut rows, SortKey::Cpu);
    let mut out = Vec::new();
    render(&rows, output, &mut out).expect("write to a Vec");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn every_host_gets_a_row() {
    let rows = rows();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[1].host, "old-box");
    assert_eq!(rows[1].up, Some(false));
    assert_eq!(rows[1].usage, Usage::default());
    assert_eq!(rows[3].host, "imported");
    assert_eq!(rows[3].up, None);
}

#[test]
fn sorting_puts_the_busiest_first_and_missing_figures_last() {
    assert_eq!(
        order(SortKey::Cpu),
        ["db-1", "web-1", "imported", "old-box"]
    );
    assert_eq!(
        order(SortKey::Mem),
        ["web-1", "db-1", "imported", "old-box"]
    );
    assert_eq!(
        order(SortKey::Net),
        ["web-1", "db-1", "imported", "old-box"]
    );
    assert_eq!(
        order(SortKey::Load),
        ["imported", "db-1", "web-1", "old-box"]
    );
    assert_eq!(
        order(SortKey::Host),
        ["db-1", "imported", "old-box", "web-1"]
    );
}

#[test]
fn table_uses_human_units() {
    assert_eq!(
        rendered(Output::Table),
        "HOST       UP       CPU     MEM    DISK    READ       WRITE          RX          TX   LOAD1\n\
         db-1       up     87.5%   40.0%   71.2%   0 B/s   1.5 KiB/s     100 B/s   2.5 MiB/s    0.50\n\
         web-1      up      3.0%   90.0%   71.2%   0 B/s   1.5 KiB/s   4.7 GiB/s   2.5 MiB/s    0.50\n\
         imported   -          -       -       -       -           -           -           -    2.00\n\
         old-box    down       -       -       -       -           -           -           -       -\n"
    );
}

#[test]
fn json_has_raw_numbers_and_nulls() {
    let json = rendered(Output::Json);
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(parsed[0]["host"], "db-1");
    assert_eq!(parsed[0]["up"], true);
    assert_eq!(parsed[0]["cpu_percent"], 87.5);
    assert_eq!(parsed[0]["fullest_filesystem_percent"], 71.25);
    assert_eq!(parsed[0]["disk_write_bytes_per_second"], 1536.0);
    assert_eq!(parsed[1]["network_receive_bytes_per_second"], 5e9);
    assert_eq!(parsed[2]["up"], serde_json::Value::Null);
    assert_eq!(parsed[3]["cpu_percent"], serde_json::Value::Null);
    assert!(json.starts_with(
        "[{\"host\":\"db-1\",\"up\":true,\"cpu_percent\":87.5,\"memory_percent\":40.0,"
    ));
}

#[test]
fn csv_leaves_missing_figures_empty() {
    assert_eq!(
        rendered(Output::Csv),
        "host,up,cpu_percent,memory_percent,fullest_filesystem_percent,\
         disk_read_bytes_per_second,disk_write_bytes_per_second,\
         network_receive_bytes_per_second,network_transmit_bytes_per_second,load1\n\
         db-1,true,87.5,40,71.25,0,1536,100,2621440,0.5\n\
         web-1,true,3,90,71.25,0,1536,5000000000,2621440,0.5\n\
         imported,,,,,,,,,2\n\
         old-box,false,,,,,,,,\n"
    );
}

#[test]
fn at_takes_unix_seconds_and_rfc_3339() {
    assert_eq!(parse_at("1795240200").unwrap(), 1_795_240_200_000);
    assert_eq!(parse_at("2026-11-21T05:50:00Z").unwrap(), 1_795_240_200_000);
    assert!(parse_at("yesterday").is_err());
}
