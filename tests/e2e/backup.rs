//! `vigil backup DIR` while the collector ingests: a second collector started on the copy
//! has every sample acknowledged before the backup began, with its value; `vigil status`
//! shows plausible figures; a directory that cannot take a backup, or lies outside
//! `storage.backup_dir`, is refused by name with nothing created.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vigil_tests::client::{batch, numbered_series};
use vigil_tests::{
    Collector, TestAgent, samples_by_ms, series_values, vigil, vigil_json, wait_for,
};

const SERIES: u64 = 20;
/// The host's series: SERIES and the `up` the collector writes for it.
const HOST_SERIES: u64 = SERIES + 1;
const HOST: &str = "backup-pump";
/// Sample time between batches: even a long run stays within the two hours queried.
const STEP_MS: i64 = 100;

/// The value the pump sends for series `n` (0-based label) in batch `seq`.
fn value(seq: u64, n: u64) -> f64 {
    seq as f64 + (n + 1) as f64 / 100.0
}

/// Acknowledged batches: timestamp (ms) → sequence number.
type Acked = Arc<Mutex<BTreeMap<i64, u64>>>;

/// Sends batches of SERIES samples, 100 ms of sample time apart from `base_ms`, about a
/// thousand a second (each waits for its acknowledgement), until `stop`; records each
/// acknowledged one.
async fn pump(url: String, base_ms: i64, acked: Acked, stop: Arc<AtomicBool>) {
    let mut client = TestAgent::connect(&url, HOST).await.unwrap();
    let labels: Vec<String> = (0..SERIES).map(|i| i.to_string()).collect();
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let ts = base_ms + seq as i64 * STEP_MS;
        let samples: Vec<(u64, f64)> = (1..=SERIES).map(|id| (id, value(seq, id - 1))).collect();
        let mut b = batch(seq, &[], ts, &samples);
        if seq == 1 {
            b.definitions = numbered_series(1, "backup_pump_value", "n", &labels);
        }
        let ack = client.batch(b).await.unwrap();
        assert_eq!(ack.accepted_samples, SERIES);
        acked.lock().unwrap().insert(ts, seq);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Runs `vigil ARGS…` against `url` off the async workers (the pump keeps running).
async fn vigil_off_thread(url: &str, args: &[&str]) -> std::process::Output {
    let url = url.to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        vigil(&url, &args)
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Waits (off the async workers) until `check` holds.
async fn wait_until(what: &'static str, check: impl Fn() -> bool + Send + 'static) {
    tokio::task::spawn_blocking(move || {
        wait_for(Duration::from_secs(60), what, || check().then_some(()))
    })
    .await
    .unwrap();
}

/// Keys of the store part `name` in `vigil status --output json` (0 when absent).
fn part_keys(status: &serde_json::Value, name: &str) -> u64 {
    status["parts"]
        .as_array()
        .and_then(|parts| parts.iter().find(|p| p["name"] == name))
        .and_then(|p| p["keys"].as_u64())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_ingest_restores_every_acknowledged_sample() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let backups = dir.path().join("backups");
    // One-minute blocks, compacted every second: the samples are two hours old, so their
    // windows are closed and the compactor turns them into blocks while the pump goes on.
    let collector = Collector::start(
        &live,
        &[
            (
                "VIGIL_COLLECTOR__STORAGE__BACKUP_DIR",
                backups.to_str().unwrap(),
            ),
            ("VIGIL_COLLECTOR__STORAGE__SYNC", "false"),
            ("VIGIL_COLLECTOR__STORAGE__BLOCK_DURATION", "1m"),
            ("VIGIL_COLLECTOR__STORAGE__COMPACTION_INTERVAL", "1s"),
        ],
    );
    let url = collector.url();

    // Sample times start two hours ago on a whole second.
    let now_s = vigil_tests::now_s() as i64;
    let base_ms = (now_s - 7200) * 1000;
    let acked: Acked = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let pumping = tokio::spawn(pump(url.clone(), base_ms, acked.clone(), stop.clone()));
    let count = |acked: &Acked| acked.lock().unwrap().len();
    let a = acked.clone();
    wait_until("50 acknowledged batches", move || count(&a) >= 50).await;

    // The first backup, while the pump goes on, by its absolute path inside backup_dir.
    let copy1 = backups.join("copy-1");
    let before1: BTreeMap<i64, u64> = acked.lock().unwrap().clone();
    let out = vigil_off_thread(&url, &["backup", copy1.to_str().unwrap()]).await;
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "vigil backup failed: {}\n{stdout}",
        text(&out.stderr)
    );
    assert!(
        stdout.starts_with(&format!("Backup written to {}", copy1.display())),
        "{stdout}"
    );
    assert!(stdout.contains("To restore"), "{stdout}");
    assert!(stdout.contains(&format!("data_dir = {:?}", copy1.display().to_string())));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(copy1.join("VIGIL_BACKUP.json")).unwrap()).unwrap();
    assert_eq!(manifest["source_data_dir"], live.display().to_string());
    assert!(manifest["format"].as_str().unwrap().contains("format"));

    // Ingest goes on, and the compactor has written blocks.
    let (a, after_backup) = (acked.clone(), count(&acked));
    wait_until("more batches after the backup", move || {
        count(&a) >= after_backup + 20
    })
    .await;
    let u = url.clone();
    wait_until("compacted blocks", move || {
        part_keys(&vigil_json(&u, &["status"]), "blocks") > 0
    })
    .await;

    // A second backup in JSON, amid ingest and compaction, with figures that fit the copy;
    // named relative to backup_dir.
    let copy2 = backups.join("copy-2");
    let before2: BTreeMap<i64, u64> = acked.lock().unwrap().clone();
    let out = vigil_off_thread(&url, &["backup", "copy-2", "--output", "json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["dir"], copy2.display().to_string());
    let files = std::fs::read_dir(&copy2).unwrap().count() as u64;
    assert_eq!(summary["files"].as_u64(), Some(files), "{summary}");
    assert!(summary["bytes"].as_u64().unwrap() > 0, "{summary}");

    let (a, after_backup) = (acked.clone(), count(&acked));
    wait_until("more batches after the second backup", move || {
        count(&a) >= after_backup + 20
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    pumping.await.unwrap();
    let all_acked = acked.lock().unwrap().clone();

    // `vigil status` on the live collector.
    let status = tokio::task::spawn_blocking({
        let url = url.clone();
        move || vigil_json(&url, &["status"])
    })
    .await
    .unwrap();
    check_status(&status, &live, all_acked.len() as u64 * SERIES);
    let table = vigil_off_thread(&url, &["status"]).await;
    assert!(table.status.success(), "{}", text(&table.stderr));
    let table = text(&table.stdout);
    for needle in [
        "VERSION".to_owned(),
        format!("DATA DIR     {}", live.display()),
        "PART".to_owned(),
        HOST.to_owned(),
    ] {
        assert!(table.contains(&needle), "{needle:?} missing from:\n{table}");
    }
    let csv = vigil_off_thread(&url, &["status", "--output", "csv"]).await;
    let csv = text(&csv.stdout);
    assert!(csv.starts_with("key,value\n"), "{csv}");
    assert!(
        csv.contains(&format!("series_by_host.{HOST},{HOST_SERIES}\n")),
        "{csv}"
    );

    // A collector on each copy, on other ports, while the first still runs.
    for (copy, before) in [(&copy1, &before1), (&copy2, &before2)] {
        let restored = Collector::start(copy, &[]);
        check_restored(&restored, base_ms, before, &all_acked);
        let log = restored.process.log();
        assert!(
            !log.contains("ERROR"),
            "the copy {} did not open cleanly:\n{log}",
            copy.display()
        );
        let status = vigil_json(&restored.url(), &["status"]);
        assert_eq!(status["data_dir"], copy.display().to_string());
        assert_eq!(status["series_by_host"][HOST], HOST_SERIES);
    }
    assert!(
        before2.len() > before1.len() + 20,
        "the second backup came later"
    );
    drop(collector);
}

/// Every sample acknowledged before the backup began is in the copy with its value, and
/// everything in the copy is something the pump sent and had acknowledged.
fn check_restored(
    restored: &Collector,
    base_ms: i64,
    before: &BTreeMap<i64, u64>,
    all_acked: &BTreeMap<i64, u64>,
) {
    let at = (base_ms / 1000 + 7200).to_string();
    let result = vigil_json(
        &restored.url(),
        &["query", "backup_pump_value[3h]", "--at", &at],
    );
    let series = series_values(&result);
    assert_eq!(series.len(), SERIES as usize, "{result}");
    for (metric, values) in &series {
        let n: u64 = metric["n"].as_str().unwrap().parse().unwrap();
        let stored = samples_by_ms(values);
        for (ts, seq) in before {
            assert_eq!(
                stored.get(ts),
                Some(&value(*seq, n)),
                "series n={n}: sample at {ts}, acknowledged before the backup, is not in the copy"
            );
        }
        for (ts, v) in &stored {
            let seq = all_acked.get(ts).copied();
            assert!(
                seq.is_some_and(|seq| value(seq, n) == *v),
                "series n={n}: the copy has {v} at {ts}, which was never acknowledged"
            );
        }
        assert!(stored.len() >= before.len());
    }
}

/// Plausible figures in `vigil status --output json` of the live collector.
fn check_status(status: &serde_json::Value, data_dir: &Path, sent_samples: u64) {
    assert_eq!(
        status["data_dir"],
        data_dir.display().to_string(),
        "{status}"
    );
    assert_eq!(status["engine"], "RocksDB", "{status}");
    assert!(!status["version"].as_str().unwrap().is_empty());
    assert!(status["uptime_seconds"].as_i64().unwrap() >= 0);
    assert_eq!(status["series_by_host"][HOST], HOST_SERIES, "{status}");
    assert!(status["series"].as_u64().unwrap() >= SERIES, "{status}");
    let ingested = status["samples_ingested"].as_u64().unwrap();
    assert!(
        ingested >= sent_samples,
        "{ingested} samples ingested, but {sent_samples} were acknowledged: {status}"
    );
    assert!(status["batches_acked"].as_u64().unwrap() >= sent_samples / SERIES);
    assert!(status["hosts"].as_u64().unwrap() >= 1, "{status}");
    let disk = status["disk_bytes"].as_u64().unwrap();
    let parts = status["parts"].as_array().unwrap();
    assert!(parts.len() >= 2, "{status}");
    let tables: u64 = parts
        .iter()
        .map(|p| p["disk_bytes"].as_u64().unwrap())
        .sum();
    let wal = status["wal_bytes"].as_u64().unwrap();
    // (Compaction may delete a table file between the two readings, so no exact sum.)
    assert!(disk > wal, "{status}");
    // The backups flushed the memtables, so the samples are in table files by now.
    assert!(tables > 0, "{status}");
}

#[test]
fn directories_that_cannot_take_a_backup_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    // storage.backup_dir is the temporary directory; the data directory is inside it.
    let collector = Collector::start(
        &dir.path().join("live"),
        &[(
            "VIGIL_COLLECTOR__STORAGE__BACKUP_DIR",
            dir.path().to_str().unwrap(),
        )],
    );
    let url = collector.url();
    let refused = |target: &Path, why: &str| {
        let out = vigil(&url, &["backup", target.to_str().unwrap()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(&target.display().to_string()),
            "the error names {}: {stderr}",
            target.display()
        );
        assert!(stderr.contains(why), "{why:?} missing from: {stderr}");
        assert!(out.stdout.is_empty());
    };

    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("keep.txt"), b"precious").unwrap();
    refused(&full, "exists and is not empty");
    let left: Vec<_> = std::fs::read_dir(&full).unwrap().collect();
    assert_eq!(left.len(), 1, "nothing was written into it");

    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    refused(&file.join("backup"), "cannot create backup directory");
    refused(&file, "is not a directory");
    refused(&dir.path().join("live/b"), "inside the data directory");

    // As root every directory is writable; elsewhere a read-only parent refuses.
    #[allow(unsafe_code)]
    // SAFETY: geteuid(2) reads the process's user id.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        use std::os::unix::fs::PermissionsExt;
        let locked = dir.path().join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
        refused(&locked.join("backup"), "Permission denied");
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    // An empty directory is fine, and stays the same directory.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = vigil(&url, &["backup", empty.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(empty.join("VIGIL_BACKUP.json").exists());
    drop(collector);
}

#[test]
fn backups_outside_backup_dir_are_refused_with_nothing_created() {
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    let collector = Collector::start(
        &dir.path().join("live"),
        &[(
            "VIGIL_COLLECTOR__STORAGE__BACKUP_DIR",
            backups.to_str().unwrap(),
        )],
    );
    let url = collector.url();
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir(&backups).unwrap();
    std::os::unix::fs::symlink(outside.path(), backups.join("out")).unwrap();
    let listing = |p: &Path| -> Vec<_> {
        let mut names: Vec<_> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let (before_dir, before_backups) = (listing(dir.path()), listing(&backups));

    let escape = outside.path().join("escape");
    for (target, why) in [
        (
            escape.to_str().unwrap().to_owned(),
            "is outside storage.backup_dir",
        ),
        ("../escape".to_owned(), "has a \"..\" component"),
        (
            format!("{}/../escape", backups.display()),
            "has a \"..\" component",
        ),
        (
            "out/escape".to_owned(),
            "symbolic link leading out of storage.backup_dir",
        ),
        (
            "/proc/vigil-backup-test/b".to_owned(),
            "is outside storage.backup_dir",
        ),
    ] {
        let out = vigil(&url, &["backup", &target]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{target}: {stderr}");
        assert!(
            stderr.contains(why) && stderr.contains(&backups.display().to_string()),
            "{target}: {why:?} and storage.backup_dir missing from: {stderr}"
        );
        assert!(!escape.exists(), "{target}: nothing created outside");
        assert!(listing(outside.path()).is_empty(), "{target}");
        assert_eq!(listing(dir.path()), before_dir, "{target}");
        assert_eq!(listing(&backups), before_backups, "{target}");
    }

    // A good one works, and the collector still answers.
    let out = vigil(&url, &["backup", "nightly/1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let good = backups.join("nightly/1");
    assert!(
        text(&out.stdout).starts_with(&format!("Backup written to {}", good.display())),
        "{}",
        text(&out.stdout)
    );
    assert!(good.join("VIGIL_BACKUP.json").exists());
    assert_eq!(vigil_json(&url, &["status"])["engine"], "RocksDB");
    drop(collector);
}
