//! `vigil host`: gathering per-device figures and rendering, on hand-built results.

use super::*;
use vigil_proto::v1::{Hello, Label, ResultType, SeriesSamples};

/// 2026-11-21T05:50:00Z in milliseconds.
const T: i64 = 1_795_240_200_000;

fn vector(series: &[(&[(&str, &str)], f64)]) -> QueryResult {
    let mut result = QueryResult {
        series: series
            .iter()
            .map(|(labels, v)| SeriesSamples {
                labels: labels
                    .iter()
                    .map(|(n, v)| Label {
                        name: (*n).into(),
                        value: (*v).into(),
                    })
                    .collect(),
                timestamps_ms: vec![T],
                values: vec![*v],
            })
            .collect(),
        ..QueryResult::default()
    };
    result.set_result_type(ResultType::Vector);
    result
}

fn report() -> HostReport {
    let root: &[(&str, &str)] = &[
        ("device", "/dev/vda1"),
        ("fstype", "ext4"),
        ("host", "web-1"),
        ("mountpoint", "/"),
    ];
    let data: &[(&str, &str)] = &[
        ("device", "/dev/vdb"),
        ("fstype", "xfs"),
        ("host", "web-1"),
        ("mountpoint", "/data"),
    ];
    let vda: &[(&str, &str)] = &[("device", "vda"), ("host", "web-1")];
    let eth0: &[(&str, &str)] = &[("device", "eth0"), ("host", "web-1")];
    let lo: &[(&str, &str)] = &[("device", "lo"), ("host", "web-1")];
    let results = [
        vector(&[(data, 1e12), (root, 40.0 * 1024.0 * 1024.0 * 1024.0)]),
        vector(&[(root, 71.25), (data, f64::NAN)]),
        vector(&[(vda, 2048.0)]),
        vector(&[(vda, 0.0)]),
        vector(&[(eth0, 1_000_000.0), (lo, 10.0)]),
        vector(&[(eth0, 250.0)]),
    ];
    let mut report = details(&results);
    report.name = "web-1".into();
    report.host = Some(Host {
        host: "web-1".into(),
        facts: Some(Hello {
            os: "Debian GNU/Linux 12 (bookworm)".into(),
            kernel: "6.1.0-18-amd64".into(),
            arch: "x86_64".into(),
            cpu_model: "AMD EPYC 7B13".into(),
            logical_cores: 8,
            memory_bytes: 8 << 30,
            agent_version: "0.1.0".into(),
            labels: vec![Label {
                name: "env".into(),
                value: "prod".into(),
            }],
            ..Hello::default()
        }),
        first_seen_ms: T - 86_400_000,
        last_seen_ms: T - 3_000,
        up: true,
        series: 412,
        peer: "10.0.0.5:51234".into(),
    });
    report.usage = Usage {
        cpu_percent: Some(12.5),
        load1: Some(0.25),
        ..Usage::default()
    };
    report
}

fn rendered(output: Output) -> String {
    let mut out = Vec::new();
    render::render(&report(), output, T, &mut out).expect("write to a Vec");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn details_are_gathered_per_device() {
    let r = report();
    assert_eq!(r.filesystems.len(), 2);
    assert_eq!(r.filesystems[0].mountpoint, "/");
    assert_eq!(r.filesystems[0].fstype, "ext4");
    assert_eq!(r.filesystems[0].device, "/dev/vda1");
    assert_eq!(r.filesystems[0].used_percent, Some(71.25));
    assert_eq!(r.filesystems[1].mountpoint, "/data");
    assert_eq!(r.filesystems[1].size_bytes, Some(1e12));
    // NaN (a filesystem of size 0) is no figure at all.
    assert_eq!(r.filesystems[1].used_percent, None);
    assert_eq!(
        r.disks,
        [Disk {
            device: "vda".into(),
            read_bytes_per_second: Some(2048.0),
            write_bytes_per_second: Some(0.0),
        }]
    );
    assert_eq!(r.interfaces.len(), 2);
    assert_eq!(r.interfaces[0].device, "eth0");
    assert_eq!(r.interfaces[0].transmit_bytes_per_second, Some(250.0));
    assert_eq!(r.interfaces[1].device, "lo");
    assert_eq!(r.interfaces[1].transmit_bytes_per_second, None);
}

#[test]
fn detail_expressions_parse_and_name_the_host() {
    for expr in detail_exprs("web-\"1\"", Duration::from_secs(60)) {
        assert!(expr.contains("host=\"web-\\\"1\\\"\""), "{expr}");
        assert!(promql_parser::parser::parse(&expr).is_ok(), "{expr}");
    }
}

#[test]
fn table() {
    assert_eq!(
        rendered(Output::Table),
        "web-1   up, last seen 3s ago\n\
         OS          Debian GNU/Linux 12 (bookworm)\n\
         KERNEL      6.1.0-18-amd64\n\
         ARCH        x86_64\n\
         CPU         AMD EPYC 7B13, 8 cores\n\
         MEMORY      8.0 GiB\n\
         AGENT       0.1.0\n\
         LABELS      env=prod\n\
         ADDRESS     10.0.0.5:51234\n\
         FIRST SEEN  2026-11-20 05:50:00.000\n\
         \n\
         \u{20} CPU   MEM   DISK   READ   WRITE   RX   TX   LOAD1\n\
         12.5%     -      -      -       -    -    -    0.25\n\
         \n\
         FILESYSTEM   TYPE   DEVICE          SIZE    USED\n\
         /            ext4   /dev/vda1   40.0 GiB   71.2%\n\
         /data        xfs    /dev/vdb     931 GiB       -\n\
         \n\
         DISK        READ   WRITE\n\
         vda    2.0 KiB/s   0 B/s\n\
         \n\
         INTERFACE          RX        TX\n\
         eth0        977 KiB/s   250 B/s\n\
         lo             10 B/s         -\n"
    );
}

#[test]
fn json() {
    let json: serde_json::Value = serde_json::from_str(&rendered(Output::Json)).expect("JSON");
    assert_eq!(json["host"], "web-1");
    assert_eq!(json["up"], true);
    assert_eq!(json["logical_cores"], 8);
    assert_eq!(json["labels"]["env"], "prod");
    assert_eq!(json["usage"]["cpu_percent"], 12.5);
    assert_eq!(json["usage"]["memory_percent"], serde_json::Value::Null);
    assert_eq!(json["filesystems"][0]["mountpoint"], "/");
    assert_eq!(json["filesystems"][0]["used_percent"], 71.25);
    assert_eq!(json["disks"][0]["read_bytes_per_second"], 2048.0);
    assert_eq!(json["interfaces"][1]["device"], "lo");
}

#[test]
fn csv() {
    let csv = rendered(Output::Csv);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "section,name,field,value");
    assert!(
        lines.contains(&"fact,,os,Debian GNU/Linux 12 (bookworm)"),
        "{csv}"
    );
    assert!(lines.contains(&"fact,,labels,env=prod"), "{csv}");
    assert!(lines.contains(&"usage,,cpu_percent,12.5"), "{csv}");
    assert!(lines.contains(&"usage,,memory_percent,"), "{csv}");
    assert!(lines.contains(&"filesystem,/,used_percent,71.25"), "{csv}");
    assert!(lines.contains(&"filesystem,/,device,/dev/vda1"), "{csv}");
    assert!(
        lines.contains(&"disk,vda,read_bytes_per_second,2048"),
        "{csv}"
    );
    assert!(
        lines.contains(&"interface,eth0,transmit_bytes_per_second,250"),
        "{csv}"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("disk,vda,device")),
        "{csv}"
    );
}
