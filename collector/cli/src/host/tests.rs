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
        agent_series(),
    ];
    let mut report = details(&results);
    report.agent = agent(results.get(6), "0.1.0");
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
        clock_skew_ms: -12,
        clock_skew_known: true,
        samples_refused: 0,
    });
    report.usage = Usage {
        cpu_percent: Some(12.5),
        load1: Some(0.25),
        ..Usage::default()
    };
    report
}

/// What an agent with a disk spool and a backlog reports about itself.
fn agent_series() -> QueryResult {
    let own = |name: &'static str| -> Vec<(&'static str, &'static str)> {
        vec![("__name__", name), ("host", "web-1")]
    };
    let info: &[(&str, &str)] = &[
        ("__name__", "vigil_agent_info"),
        ("host", "web-1"),
        ("version", "0.1.0"),
    ];
    let figures = [
        ("vigil_agent_collection_duration_seconds", 0.0017),
        ("vigil_agent_dropped_rounds_total", 2.0),
        ("vigil_agent_resident_memory_bytes", 3.5 * 1024.0 * 1024.0),
        ("vigil_agent_spool_bytes", 12_288.0),
        ("vigil_agent_spool_damaged_bytes_total", 100.0),
        ("vigil_agent_spool_damaged_segments_total", 1.0),
        ("vigil_agent_spool_lost_samples_total", 250.0),
        ("vigil_agent_spool_oldest_age_seconds", 312.4),
        ("vigil_agent_spool_on_disk", 1.0),
        ("vigil_agent_spool_rounds", 31.0),
        ("vigil_agent_spool_write_errors_total", 0.0),
    ];
    let labels: Vec<Vec<(&str, &str)>> = figures.iter().map(|(n, _)| own(n)).collect();
    let mut series: Vec<(&[(&str, &str)], f64)> = vec![(info, 1.0)];
    series.extend(labels.iter().zip(figures).map(|(l, (_, v))| (&l[..], v)));
    vector(&series)
}

fn render_report(report: &HostReport, output: Output) -> String {
    let mut out = Vec::new();
    render::render(report, output, T, &mut out).expect("write to a Vec");
    String::from_utf8(out).expect("utf-8")
}

fn rendered(output: Output) -> String {
    render_report(&report(), output)
}

/// The report of a host whose agent is too old to report its own figures.
fn without_agent_figures() -> HostReport {
    HostReport {
        agent: agent(Some(&vector(&[])), "0.1.0"),
        ..report()
    }
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
         CLOCK       ok (-0.012 s)\n\
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
         lo             10 B/s         -\n\
         \n\
         AGENT             0.1.0\n\
         RSS               3.5 MiB\n\
         COLLECTION        1.7 ms\n\
         SPOOL             on disk\n\
         WAITING ROUNDS    31\n\
         SPOOL BYTES       12.0 KiB\n\
         OLDEST WAITING    5m 12s\n\
         DROPPED ROUNDS    2\n\
         WRITE ERRORS      0\n\
         DAMAGED SEGMENTS  1\n"
    );
}

#[test]
fn agent_figures_are_read_by_name() {
    assert_eq!(
        report().agent,
        Agent {
            version: Some("0.1.0".into()),
            resident_memory_bytes: Some(3_670_016),
            collection_seconds: Some(0.0017),
            spool_on_disk: Some(true),
            spool_rounds: Some(31),
            spool_bytes: Some(12_288),
            spool_oldest_age_seconds: Some(312.4),
            dropped_rounds_total: Some(2),
            spool_write_errors_total: Some(0),
            spool_damaged_segments_total: Some(1),
            spool_lost_samples_total: Some(250),
        }
    );
    assert_eq!(agent(None, ""), Agent::default());
}

#[test]
fn after_an_upgrade_the_registry_names_the_version() {
    let info = |version| -> Vec<(&str, &str)> {
        vec![
            ("__name__", "vigil_agent_info"),
            ("host", "web-1"),
            ("version", version),
        ]
    };
    let (old, new) = (info("0.1.0"), info("0.2.0"));
    let result = vector(&[(&old, 1.0), (&new, 1.0)]);
    assert_eq!(
        agent(Some(&result), "0.2.0").version.as_deref(),
        Some("0.2.0")
    );
    assert_eq!(
        agent(Some(&result), "0.1.0").version.as_deref(),
        Some("0.1.0")
    );
    // A host without a registry entry still gets a version.
    assert!(agent(Some(&result), "").version.is_some());
}

#[test]
fn a_memory_only_spool_warns_that_a_restart_loses_the_backlog() {
    let mut report = report();
    report.agent.spool_on_disk = Some(false);
    let text = render_report(&report, Output::Table);
    assert!(
        text.contains("\nSPOOL             memory only — a restart loses the backlog\n"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&render_report(&report, Output::Json)).expect("JSON");
    assert_eq!(json["agent"]["spool_on_disk"], false);
}

#[test]
fn an_old_agent_shows_dashes() {
    let text = render_report(&without_agent_figures(), Output::Table);
    let (_, block) = text.split_once("\n\nAGENT   ").expect("an agent block");
    assert_eq!(
        block,
        "          -\n\
         RSS               -\n\
         COLLECTION        -\n\
         SPOOL             -\n\
         WAITING ROUNDS    -\n\
         SPOOL BYTES       -\n\
         OLDEST WAITING    -\n\
         DROPPED ROUNDS    -\n\
         WRITE ERRORS      -\n\
         DAMAGED SEGMENTS  -\n",
        "{text}"
    );
    // The registry's facts are still shown above it.
    assert!(text.contains("\nAGENT       0.1.0\n"), "{text}");

    let json: serde_json::Value =
        serde_json::from_str(&render_report(&without_agent_figures(), Output::Json)).expect("JSON");
    let mut keys: Vec<&str> = json["agent"]
        .as_object()
        .expect("an agent object")
        .iter()
        .map(|(k, v)| {
            assert!(v.is_null(), "{k}: {v}");
            k.as_str()
        })
        .collect();
    let mut expected = [
        "version",
        "resident_memory_bytes",
        "collection_seconds",
        "spool_on_disk",
        "spool_rounds",
        "spool_bytes",
        "spool_oldest_age_seconds",
        "dropped_rounds_total",
        "spool_write_errors_total",
        "spool_damaged_segments_total",
        "spool_lost_samples_total",
    ];
    keys.sort_unstable();
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(json["agent_version"], "0.1.0");

    let csv = render_report(&without_agent_figures(), Output::Csv);
    let agent_rows: Vec<&str> = csv.lines().filter(|l| l.starts_with("agent,")).collect();
    assert_eq!(agent_rows.len(), 11, "{csv}");
    assert!(agent_rows.contains(&"agent,,spool_rounds,"), "{csv}");
    assert!(agent_rows.contains(&"agent,,spool_on_disk,"), "{csv}");
}

#[test]
fn durations_for_people() {
    assert_eq!(render::seconds(0.0017), "1.7 ms");
    assert_eq!(render::seconds(0.0), "0.0 ms");
    assert_eq!(render::seconds(2.345), "2.35 s");
    assert_eq!(render::age(0.0), "0s");
    assert_eq!(render::age(59.4), "59s");
    assert_eq!(render::age(312.4), "5m 12s");
    assert_eq!(render::age(3.0 * 3600.0 + 4.0 * 60.0 + 5.0), "3h 4m");
    assert_eq!(render::age(2.0 * 86_400.0 + 5.0 * 3600.0), "2d 5h");
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
    let agent = &json["agent"];
    assert_eq!(agent["version"], "0.1.0");
    assert_eq!(agent["resident_memory_bytes"], 3_670_016);
    assert_eq!(agent["collection_seconds"], 0.0017);
    assert_eq!(agent["spool_on_disk"], true);
    assert_eq!(agent["spool_rounds"], 31);
    assert_eq!(agent["spool_bytes"], 12_288);
    assert_eq!(agent["spool_oldest_age_seconds"], 312.4);
    assert_eq!(agent["dropped_rounds_total"], 2);
    assert_eq!(agent["spool_write_errors_total"], 0);
    assert_eq!(agent["spool_damaged_segments_total"], 1);
    assert_eq!(agent["spool_lost_samples_total"], 250);
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
    for row in [
        "agent,,version,0.1.0",
        "agent,,resident_memory_bytes,3670016",
        "agent,,collection_seconds,0.0017",
        "agent,,spool_on_disk,true",
        "agent,,spool_rounds,31",
        "agent,,spool_bytes,12288",
        "agent,,spool_oldest_age_seconds,312.4",
        "agent,,dropped_rounds_total,2",
        "agent,,spool_write_errors_total,0",
        "agent,,spool_damaged_segments_total,1",
        "agent,,spool_lost_samples_total,250",
    ] {
        assert!(lines.contains(&row), "{row}: {csv}");
    }
    // The agent's figures are their own section, not facts.
    assert!(
        !lines.iter().any(|l| l.starts_with("fact,,agent,")),
        "{csv}"
    );
}

/// The report with what the agent's `processes` and `systemd` sources report.
fn with_processes() -> HostReport {
    let g = |group: &'static str| -> Vec<(&'static str, &'static str)> {
        vec![("group", group), ("host", "web-1")]
    };
    let (pg, other, idle) = (g("postgres"), g("other"), g("sshd"));
    let unit = |name: &'static str, state: &'static str, kind: &'static str| {
        vec![
            ("__name__", "node_systemd_unit_state"),
            ("host", "web-1"),
            ("name", name),
            ("state", state),
            ("type", kind),
        ]
    };
    let (nginx, apt, mount) = (
        unit("nginx.service", "failed", "forking"),
        unit("apt-daily.service", "activating", "oneshot"),
        unit("data.mount", "failed", ""),
    );
    let results = [
        vector(&[(&pg, 12.5), (&other, 40.0), (&idle, 0.0)]),
        vector(&[
            (&pg, 512.0 * 1024.0 * 1024.0),
            (&other, 1e9),
            (&idle, 4096.0),
        ]),
        vector(&[(&pg, 9.0), (&other, 120.0), (&idle, 2.0)]),
        vector(&[(&pg, 9.0), (&other, 310.0)]),
        vector(&[(&apt, 1.0), (&nginx, 1.0), (&mount, 1.0)]),
    ];
    let (process_groups, systemd_units) = processes::gather(&results);
    HostReport {
        process_groups,
        systemd_units,
        ..report()
    }
}

#[test]
fn process_groups_and_units_are_shown_busiest_and_failed_first() {
    let text = render_report(&with_processes(), Output::Table);
    let start = text.find("PROCESS GROUP").expect("a process table");
    let end = text.find("\nAGENT             ").expect("the agent block");
    assert_eq!(
        &text[start..end],
        "PROCESS GROUP     CPU    MEMORY   PROCESSES   THREADS\n\
         postgres        12.5%   512 MiB           9         9\n\
         sshd             0.0%   4.0 KiB           2         -\n\
         other           40.0%   954 MiB         120       310\n\
         \n\
         SYSTEMD UNIT        STATE        TYPE\n\
         data.mount          failed       -\n\
         nginx.service       failed       forking\n\
         apt-daily.service   activating   oneshot\n",
        "{text}"
    );
    // Without them, no such blocks.
    assert!(!rendered(Output::Table).contains("PROCESS GROUP"));

    let json: serde_json::Value =
        serde_json::from_str(&render_report(&with_processes(), Output::Json)).expect("JSON");
    assert_eq!(json["process_groups"][0]["group"], "postgres");
    assert_eq!(json["process_groups"][0]["cpu_percent"], 12.5);
    assert_eq!(
        json["process_groups"][1]["threads"],
        serde_json::Value::Null
    );
    assert_eq!(json["process_groups"][2]["processes"], 120.0);
    assert_eq!(json["systemd_units"][1]["unit"], "nginx.service");
    assert_eq!(json["systemd_units"][1]["type"], "forking");
    let json: serde_json::Value = serde_json::from_str(&rendered(Output::Json)).expect("JSON");
    assert_eq!(json["process_groups"], serde_json::json!([]));
    assert_eq!(json["systemd_units"], serde_json::json!([]));

    let csv = render_report(&with_processes(), Output::Csv);
    for row in [
        "process_group,postgres,cpu_percent,12.5",
        "process_group,other,memory_bytes,1000000000",
        "process_group,sshd,threads,",
        "systemd_unit,nginx.service,state,failed",
        "systemd_unit,data.mount,type,",
    ] {
        assert!(csv.lines().any(|l| l == row), "{row}: {csv}");
    }
    assert!(!csv.contains("process_group,postgres,group,"), "{csv}");
    assert!(!csv.contains("fact,,process_groups"), "{csv}");
}

#[test]
fn process_expressions_parse_and_name_the_host() {
    for expr in processes::exprs("web-\"1\"", Duration::from_secs(60)) {
        assert!(expr.contains("host=\"web-\\\"1\\\"\""), "{expr}");
        assert!(promql_parser::parser::parse(&expr).is_ok(), "{expr}");
    }
}
