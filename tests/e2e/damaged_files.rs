//! Damaged files in the data directory between runs, with the real binaries.
//!
//! - A flipped byte in a table file: the collector starts, queries answer with everything
//!   intact and name the loss in `warnings` (HTTP) and on stderr (CLI), the scrub finds it
//!   (`vigil status`, `/metrics`), and `vigil-collector repair` salvages the rest: the
//!   repaired directory serves exactly what the damaged one could, with no warning.
//! - A truncated table file: the collector refuses to start, naming the file and the
//!   repair command; after `repair` it starts and serves the other files.
//!
//! The samples are stamped in 2023 (with a `limits.max_past` of a century), so the test
//! gives the same answer on any date.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use vigil_tests::victoria::http_get;
use vigil_tests::{
    Collector, bin, env_refs, stderr, stdout, vigil, vigil_json, vigil_ok, wait_for,
};

const SERIES: usize = 40;
/// Two days at one sample a minute.
const POINTS: i64 = 2 * 24 * 60;
const BASE_S: i64 = 1_700_000_000;

/// The collector's settings: old samples accepted, compaction every second, backups under
/// the test's directory, a scrub every `scrub`.
fn settings(dir: &Path, scrub: &str) -> Vec<(&'static str, String)> {
    vec![
        ("VIGIL_COLLECTOR__LIMITS__MAX_PAST", "36500d".into()),
        ("VIGIL_COLLECTOR__STORAGE__COMPACTION_INTERVAL", "1s".into()),
        ("VIGIL_COLLECTOR__STORAGE__SCRUB_INTERVAL", scrub.into()),
        (
            "VIGIL_COLLECTOR__STORAGE__BACKUP_DIR",
            dir.join("backups").display().to_string(),
        ),
    ]
}

/// A value no codec shortens much, so the blocks fill many of RocksDB's data blocks.
fn value(i: usize, n: i64) -> f64 {
    let x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (n as u64).wrapping_mul(0xBF58_476D);
    (x % 1_000_003) as f64 / 8.0
}

/// Imports the history, waits for it to be compacted into blocks, and has a backup flush
/// it into table files; returns the collector's URL.
fn fill(collector: &Collector, dir: &Path) -> String {
    let url = collector.url();
    let mut text = String::from("# TYPE dmg_value gauge\n");
    for n in 0..POINTS {
        for i in 0..SERIES {
            let t = BASE_S + n * 60;
            text.push_str(&format!(
                "dmg_value{{host=\"dmg-1\",i=\"{i}\"}} {} {t}\n",
                value(i, n)
            ));
        }
    }
    text.push_str("# EOF\n");
    let file = dir.join("history.om");
    std::fs::write(&file, text).unwrap();
    vigil_ok(&url, &["import", file.to_str().unwrap()]);
    // Every window is long closed: the compactor (every second) writes their blocks.
    wait_for(
        Duration::from_secs(60),
        "the history compacted into blocks",
        || {
            let status = vigil_json(&url, &["status"]);
            let parts = status["parts"].as_array().unwrap().clone();
            let keys = |name: &str| {
                parts
                    .iter()
                    .find(|p| p["name"] == name)
                    .map_or(0, |p| p["keys"].as_u64().unwrap_or(0))
            };
            (keys("blocks") >= (SERIES * 20) as u64 && keys("recent_frames") == 0).then_some(())
        },
    );
    // A backup's checkpoint flushes every family into table files first.
    vigil_ok(&url, &["backup", "flush"]);
    url
}

/// A collector over `data` given the history and stopped; the largest table file and its
/// size.
fn filled_and_stopped(dir: &Path, data: &Path) -> (PathBuf, u64) {
    let mut collector = Collector::start(data, &env_refs(&settings(dir, "24h")));
    fill(&collector, dir);
    collector.process.terminate();
    let table = largest_table(data);
    let size = std::fs::metadata(&table).unwrap().len();
    (table, size)
}

/// The largest table file of the data directory: the sample blocks.
fn largest_table(data: &Path) -> PathBuf {
    std::fs::read_dir(data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap()
}

/// Every sample of every series over the two days, through the HTTP API: the count, and
/// the warnings; panics on a value that is not the one imported, or a time not imported.
fn read_all(base: &str) -> (usize, Vec<String>) {
    // A range selector: the raw samples with their own times (a range query would repeat
    // the last sample before a lost window at the steps inside it, as PromQL does).
    let time = (BASE_S + POINTS * 60).to_string();
    let params = [("query", "dmg_value[3d]"), ("time", time.as_str())];
    let (_, text) = http_get(port_of(base), "/api/v1/query", &params);
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["status"], "success", "{body}");
    let mut count = 0;
    for series in body["data"]["result"].as_array().unwrap() {
        let i: usize = series["metric"]["i"].as_str().unwrap().parse().unwrap();
        for point in series["values"].as_array().unwrap() {
            let t = point[0].as_f64().unwrap() as i64;
            assert_eq!((t - BASE_S) % 60, 0, "series {i}: a sample at {t}");
            let v: f64 = point[1].as_str().unwrap().parse().unwrap();
            assert_eq!(
                v,
                value(i, (t - BASE_S) / 60),
                "series {i} at {t}: a wrong value"
            );
            count += 1;
        }
    }
    let warnings = body["warnings"]
        .as_array()
        .map(|w| w.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    (count, warnings)
}

/// `vigil-collector repair --data-dir DIR`: its stdout, after checking it succeeded.
fn repair(data: &Path) -> String {
    let out = Command::new(bin("vigil-collector"))
        .args(["repair", "--data-dir"])
        .arg(data)
        .output()
        .unwrap();
    assert!(out.status.success(), "repair failed: {}", stderr(&out));
    stdout(&out)
}

/// The port of `http://127.0.0.1:PORT`.
fn port_of(base: &str) -> u16 {
    base.rsplit(':').next().unwrap().parse().unwrap()
}

#[test]
fn a_flipped_byte_is_read_around_named_found_by_the_scrub_and_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (table, size) = filled_and_stopped(dir.path(), &data);
    assert!(size > 300_000, "{} is {size} bytes", table.display());
    let mut bytes = std::fs::read(&table).unwrap();
    bytes[(size / 3) as usize] ^= 0x5A;
    std::fs::write(&table, bytes).unwrap();

    // It starts, and queries answer with the rest and name what they left out.
    let (collector, base) =
        Collector::start_with_http(&data, &env_refs(&settings(dir.path(), "2s")));
    let url = collector.url();
    let all = SERIES * POINTS as usize;
    let (served, warnings) = read_all(&base);
    assert!(
        served < all && served > all * 9 / 10,
        "{served} of {all} samples served"
    );
    assert!(!warnings.is_empty());
    for w in &warnings {
        assert!(
            w.starts_with("damaged data left out: dmg_value{host=\"dmg-1\",i=\""),
            "{w}"
        );
        assert!(
            w.contains("checksum") && w.contains("vigil-collector repair"),
            "{w}"
        );
    }
    let cli = vigil(
        &url,
        &["query", "dmg_value[3d]", "--at", "2023-11-17T00:00:00Z"],
    );
    assert!(cli.status.success(), "{}", stderr(&cli));
    assert!(
        stderr(&cli).contains("warning: damaged data left out: dmg_value"),
        "{}",
        stderr(&cli)
    );

    // The scrub (every 2 s here) finds it; status and the self-metrics say so.
    let line = wait_for(
        Duration::from_secs(60),
        "the scrub to report the damage",
        || {
            let out = vigil_ok(&url, &["status"]);
            let text = stdout(&out);
            let line = text.lines().find(|l| l.starts_with("STORAGE"))?.to_owned();
            line.contains("DAMAGED: 1 parts").then_some(line)
        },
    );
    assert!(line.contains("vigil-collector repair --data-dir"), "{line}");
    let (_, metrics) = http_get(port_of(&base), "/metrics", &[]);
    assert!(
        metrics.contains("vigil_collector_storage_damaged_parts 1"),
        "{metrics}"
    );
    drop(collector);

    // Repair keeps every intact record; the repaired directory serves what the damaged one
    // could, and says nothing is missing.
    let report = repair(&data);
    assert!(
        report.contains("lost") && report.contains("blocks:"),
        "{report}"
    );
    assert!(report.contains("damaged copy kept at"), "{report}");
    let (collector, base) =
        Collector::start_with_http(&data, &env_refs(&settings(dir.path(), "24h")));
    let (after, warnings) = read_all(&base);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(after, served);
    drop(collector);
}

#[test]
fn a_truncated_table_stops_the_start_naming_it_and_repair_lets_it_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (table, size) = filled_and_stopped(dir.path(), &data);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&table)
        .unwrap();
    file.set_len(size / 2).unwrap();
    drop(file);

    let out = Command::new(bin("vigil-collector"))
        .arg("--data-dir")
        .arg(&data)
        .args(["--grpc-listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let name = table.file_name().unwrap().to_string_lossy().into_owned();
    let text = stderr(&out);
    assert!(text.contains(&format!("{name} (a table file)")), "{text}");
    assert!(
        text.contains(&format!(
            "vigil-collector repair --data-dir {}",
            data.display()
        )),
        "{text}"
    );

    let report = repair(&data);
    assert!(
        report.contains("lost") && report.contains("blocks:"),
        "{report}"
    );
    let (collector, base) =
        Collector::start_with_http(&data, &env_refs(&settings(dir.path(), "24h")));
    let (served, warnings) = read_all(&base);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(served < SERIES * POINTS as usize, "{served}");
    // The series index is intact: every series is still found.
    let series = vigil_json(&collector.url(), &["series", "dmg_value"]);
    assert_eq!(series.as_array().map_or(0, Vec::len), SERIES, "{series}");
}
