//! `vigil status` rendered from a fixed answer: the table, JSON and CSV.

use super::*;
use vigil_proto::v1::{HostSeries, MemoryPart, ReceiverOutbox, RemoteWriteStatus, StoragePart};

/// 2026-11-21T05:50:00Z in milliseconds.
const T: i64 = 1_795_240_200_000;

fn status() -> StatusResponse {
    StatusResponse {
        version: "0.1.0".into(),
        started_ms: T,
        now_ms: T + 3 * 3_600_000 + 12 * 60_000 + 5_500,
        data_dir: "/var/lib/vigil".into(),
        engine: "RocksDB".into(),
        disk_bytes: 1536 * 1024 * 1024,
        wal_bytes: 12 * 1024 * 1024,
        parts: vec![
            StoragePart {
                name: "samples".into(),
                disk_bytes: 1400 * 1024 * 1024,
                live_bytes: 1300 * 1024 * 1024,
                memory_bytes: 40 * 1024 * 1024,
                keys: 123_456_789,
            },
            StoragePart {
                name: "series".into(),
                disk_bytes: 3 * 1024 * 1024,
                live_bytes: 3 * 1024 * 1024,
                memory_bytes: 0,
                keys: 601,
            },
        ],
        series: 601,
        series_by_host: vec![
            HostSeries {
                host: "db-1".into(),
                series: 1,
            },
            HostSeries {
                host: "web-1".into(),
                series: 600,
            },
        ],
        hosts: 3,
        hosts_up: 2,
        samples_ingested: 1_234_567,
        batches_acked: 4_115,
        samples_rejected: 0,
        samples_stored: None,
        outbox: vec![ReceiverOutbox {
            receiver: "ops-mail".into(),
            waiting: 2,
        }],
        remotes: Vec::new(),
        acks_last_minute: 1_200,
        ack_p50_seconds: 0.0042,
        ack_p99_seconds: 0.31,
        batches_waiting: 3,
        series_created: 601,
        series_created_per_second: 2.5,
        memory: [
            ("series_index", 3 << 20),
            ("head", 40 << 20),
            ("block_cache", 8 << 20),
            ("table_readers", 2 << 20),
            ("other", 1 << 30),
        ]
        .into_iter()
        .map(|(part, bytes)| MemoryPart {
            part: part.into(),
            bytes,
        })
        .collect(),
        resident_bytes: (1 << 30) + (53 << 20),
        block_cache_pinned_bytes: 1 << 20,
        storage_state: "writable".into(),
        storage_reason: String::new(),
        storage_free_bytes: 50 << 30,
        storage_min_free_bytes: 1 << 30,
        streams_refused: 3,
        ..StatusResponse::default()
    }
}

/// Two remotes: one caught up, one retrying behind an outage.
fn with_remotes() -> StatusResponse {
    StatusResponse {
        remotes: vec![
            RemoteWriteStatus {
                name: "central".into(),
                url: "https://vm.example:8428/api/v1/write".into(),
                state: "idle".into(),
                lag_seconds: 0.0,
                queue_bytes: 0,
                samples_sent: 12_345_678,
                samples_failed: 0,
                samples_dropped: 0,
                last_error: String::new(),
                last_success_ms: T + 11_000_000,
            },
            RemoteWriteStatus {
                name: "mimir".into(),
                url: "http://mimir:9009/api/v1/push".into(),
                state: "retrying".into(),
                lag_seconds: 312.4,
                queue_bytes: 5 * 1024 * 1024 / 2,
                samples_sent: 1_000,
                samples_failed: 2_000,
                samples_dropped: 30,
                last_error: "HTTP 503: upstream connect error or disconnect/reset before headers. \
                             reset reason: connection failure"
                    .into(),
                last_success_ms: T + 100_000,
            },
        ],
        ..status()
    }
}

fn rendered_from(s: &StatusResponse, output: Output) -> String {
    let mut out = Vec::new();
    render(s, output, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn rendered(output: Output) -> String {
    let mut out = Vec::new();
    render(&status(), output, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn table() {
    assert_eq!(
        rendered(Output::Table),
        "VERSION      0.1.0\n\
         STORAGE      writable (50.0 GiB free, keeps 1.0 GiB)\n\
         UPTIME       3h 12m (since 2026-11-21 05:50:00 UTC)\n\
         DATA DIR     /var/lib/vigil\n\
         ENGINE       RocksDB\n\
         DISK         1.5 GiB (write-ahead log 12.0 MiB)\n\
         SERIES       601 from 2 hosts; 3 hosts known, 2 up\n\
         INGESTED     1,234,567 samples in 4,115 batches since the start; 0 refused; 3 streams \
         refused or failed\n\
         INGEST LAG   p50 4.2ms, p99 310ms over 1,200 batches in the last minute; 3 waiting\n\
         NEW SERIES   2.5/s over the last minute; 601 since the start\n\
         MEMORY       1.1 GiB resident: series index 3.0 MiB, head 40.0 MiB, block cache 8.0 MiB \
         (1.0 MiB pinned), table readers 2.0 MiB, other 1.0 GiB\n\
         OUTBOX       2 notifications waiting\n\
         \n\
         PART      ON DISK   LIVE DATA (EST.)   IN MEMORY   KEYS (EST.)\n\
         samples   1.4 GiB            1.3 GiB    40.0 MiB   123,456,789\n\
         series    3.0 MiB            3.0 MiB         0 B           601\n\
         \n\
         HOST    SERIES\n\
         web-1      600\n\
         db-1         1\n"
    );
}

#[test]
fn json() {
    assert_eq!(
        rendered(Output::Json),
        concat!(
            r#"{"version":"0.1.0","started":1795240200,"uptime_seconds":11525,"#,
            r#""data_dir":"/var/lib/vigil","engine":"RocksDB","storage_state":"writable","#,
            r#""storage_reason":"","storage_free_bytes":53687091200,"#,
            r#""storage_min_free_bytes":1073741824,"storage_damaged_parts":0,"#,
            r#""storage_damaged_samples":0,"storage_damaged_reads":0,"disk_bytes":1610612736,"#,
            r#""wal_bytes":12582912,"parts":[{"name":"samples","disk_bytes":1468006400,"#,
            r#""live_bytes":1363148800,"memory_bytes":41943040,"keys":123456789},"#,
            r#"{"name":"series","disk_bytes":3145728,"live_bytes":3145728,"#,
            r#""memory_bytes":0,"keys":601}],"series":601,"#,
            r#""series_by_host":{"db-1":1,"web-1":600},"hosts":3,"hosts_up":2,"#,
            r#""samples_ingested":1234567,"batches_acked":4115,"samples_rejected":0,"#,
            r#""streams_refused":3,"#,
            r#""samples_stored":null,"outbox_waiting":2,"outbox":{"ops-mail":2},"#,
            r#""remotes":[],"acks_last_minute":1200,"ack_p50_seconds":0.0042,"#,
            r#""ack_p99_seconds":0.31,"batches_waiting":3,"series_created":601,"#,
            r#""series_created_per_second":2.5,"memory":{"block_cache":8388608,"#,
            r#""head":41943040,"other":1073741824,"series_index":3145728,"#,
            r#""table_readers":2097152},"resident_bytes":1129316352,"#,
            r#""block_cache_pinned_bytes":1048576,"memory_budget_bytes":0}"#,
            "\n"
        )
    );
}

#[test]
fn csv_is_key_value_rows() {
    let csv = rendered(Output::Csv);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "key,value");
    assert!(lines.contains(&"parts.samples.disk_bytes,1468006400"));
    assert!(lines.contains(&"series_by_host.web-1,600"));
    assert!(lines.contains(&"samples_stored,"));
    assert!(lines.contains(&"outbox.ops-mail,2"));
    assert!(lines.contains(&"ack_p99_seconds,0.31"), "{csv}");
    assert!(lines.contains(&"batches_waiting,3"), "{csv}");
    assert!(lines.contains(&"series_created_per_second,2.5"), "{csv}");
    assert!(lines.contains(&"memory.series_index,3145728"), "{csv}");
    assert!(lines.contains(&"resident_bytes,1129316352"), "{csv}");
    assert!(lines.contains(&"storage_state,writable"), "{csv}");
    assert!(lines.contains(&"streams_refused,3"), "{csv}");
    assert_eq!(lines.len(), 1 + 10 + 4 + 8 + 1 + 2 + 7 + 1 + 1 + SCALE_ROWS);
}

#[test]
fn remotes_in_the_table() {
    let text = rendered_from(&with_remotes(), Output::Table);
    assert!(
        text.contains(
            "OUTBOX       2 notifications waiting\n\
             REMOTE WRITE 2 remotes, largest lag 5m 12s; 1 retrying\n\
             \n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "REMOTE    URL                                    STATE         LAG     QUEUE         SENT   FAILED   DROPPED   LAST ERROR\n\
             central   https://vm.example:8428/api/v1/write   idle           0s       0 B   12,345,678        0         0   -\n\
             mimir     http://mimir:9009/api/v1/push          retrying   5m 12s   2.5 MiB        1,000    2,000        30   \
             HTTP 503: upstream connect error or disconnect/reset befo...\n\
             \n\
             HOST    SERIES\n"
        ),
        "{text}"
    );
}

/// CSV rows of ingest lag, series creation and memory (five parts, resident, pinned,
/// budget).
const SCALE_ROWS: usize = 6 + 5 + 3;

#[test]
fn quiet_collector_lag_and_an_old_collector_without_memory() {
    let s = StatusResponse {
        acks_last_minute: 0,
        ack_p50_seconds: 0.0,
        ack_p99_seconds: 0.0,
        batches_waiting: 0,
        series_created_per_second: 0.0,
        memory: Vec::new(),
        resident_bytes: 0,
        ..status()
    };
    let text = rendered_from(&s, Output::Table);
    assert!(
        text.contains(
            "INGEST LAG   no batch acknowledged in the last minute; 0 waiting\n\
             NEW SERIES   0/s over the last minute; 601 since the start\n\
             OUTBOX"
        ),
        "{text}"
    );
}

#[test]
fn latencies() {
    assert_eq!(latency(0.0004), "0.4ms");
    assert_eq!(latency(0.012), "12ms");
    assert_eq!(latency(1.5), "1.5s");
    assert_eq!(latency(90.0), "1m 30s");
}

#[test]
fn no_remotes_no_remote_table() {
    let text = rendered(Output::Table);
    assert!(!text.contains("REMOTE"), "{text}");
}

#[test]
fn remotes_in_json_with_the_proto_field_names() {
    let json: serde_json::Value =
        serde_json::from_str(&rendered_from(&with_remotes(), Output::Json)).expect("JSON");
    assert_eq!(json["remotes"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        json["remotes"][1],
        serde_json::json!({
            "name": "mimir",
            "url": "http://mimir:9009/api/v1/push",
            "state": "retrying",
            "lag_seconds": 312.4,
            "queue_bytes": 2_621_440,
            "samples_sent": 1_000,
            "samples_failed": 2_000,
            "samples_dropped": 30,
            "last_error": "HTTP 503: upstream connect error or disconnect/reset before headers. \
                           reset reason: connection failure",
            "last_success_ms": T + 100_000,
        })
    );
    assert_eq!(json["remotes"][0]["state"], "idle");
    assert_eq!(json["remotes"][0]["lag_seconds"], 0.0);
}

#[test]
fn remotes_in_csv() {
    let csv = rendered_from(&with_remotes(), Output::Csv);
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines.contains(&"remotes.central.state,idle"), "{csv}");
    assert!(lines.contains(&"remotes.mimir.lag_seconds,312.4"), "{csv}");
    assert!(lines.contains(&"remotes.mimir.samples_dropped,30"), "{csv}");
    assert!(lines.contains(&"remotes.central.last_error,"), "{csv}");
    assert_eq!(
        lines.len(),
        1 + 10 + 4 + 8 + 1 + 2 + 7 + 1 + 1 + SCALE_ROWS + 2 * 9
    );
}

#[test]
fn errors_are_shortened_to_their_first_line() {
    assert_eq!(shortened("", 10), "-");
    assert_eq!(shortened("refused", 10), "refused");
    assert_eq!(shortened("0123456789abc", 10), "0123456...");
    assert_eq!(shortened("first\nsecond", 10), "first...");
}

#[test]
fn long_host_lists_are_cut_in_the_table() {
    let mut s = status();
    s.series_by_host = (0..20)
        .map(|i| HostSeries {
            host: format!("h{i:02}"),
            series: 100 + i,
        })
        .collect();
    let mut out = Vec::new();
    render(&s, Output::Table, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("h19       119\n"), "{text}");
    assert!(!text.contains("h04"), "{text}");
    assert!(
        text.ends_with("... and 5 more hosts (--output json lists every one)\n"),
        "{text}"
    );
}

#[test]
fn uptimes() {
    assert_eq!(uptime(42), "42s");
    assert_eq!(uptime(725), "12m 5s");
    assert_eq!(uptime(18_720), "5h 12m");
    assert_eq!(uptime(3 * 86_400 + 4 * 3600 + 5), "3d 4h");
}

#[test]
fn a_read_only_store_is_said_on_the_first_lines_with_its_reason() {
    let s = StatusResponse {
        storage_state: "read_only".into(),
        storage_reason: "storage is read-only for ingest: the filesystem of the data directory \
                         /var/lib/vigil has 12.0 MiB free"
            .into(),
        storage_free_bytes: 12 << 20,
        ..status()
    };
    let text = rendered_from(&s, Output::Table);
    let second = text.lines().nth(1).unwrap_or_default();
    assert!(
        second.starts_with(
            "STORAGE      READ-ONLY for ingest (12.0 MiB free, keeps 1.0 GiB): the filesystem of \
             the data directory /var/lib/vigil has 12.0 MiB free"
        ),
        "{text}"
    );
}

#[test]
fn damaged_data_is_said_on_the_storage_line_with_the_command_that_salvages() {
    let s = StatusResponse {
        storage_damaged_parts: 2,
        storage_damaged_samples: 4_320,
        storage_damaged_reads: 7,
        ..status()
    };
    let text = rendered_from(&s, Output::Table);
    let second = text.lines().nth(1).unwrap_or_default();
    assert!(
        second.ends_with(
            "DAMAGED: 2 parts (4320 samples) unreadable, left out of 7 reads; stop the collector \
             and run `vigil-collector repair --data-dir DIR`"
        ),
        "{text}"
    );
    let csv = rendered_from(&s, Output::Csv);
    assert!(csv.lines().any(|l| l == "storage_damaged_parts,2"), "{csv}");
}
