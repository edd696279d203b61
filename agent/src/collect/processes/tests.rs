use super::groups::{MAX_PIDS, OTHER, STICKY};
use super::*;
use std::path::Path;

const MIN: Duration = Duration::from_secs(60);

fn stat(comm: &str, cpu: u64, rss: u64) -> scan::Stat<'_> {
    scan::Stat {
        comm,
        utime: cpu,
        stime: cpu / 2,
        threads: 2,
        starttime: 7,
        rss_pages: rss,
    }
}

/// One walk of `procs` (pid, comm, user ticks, rss pages) at `now`; hz 1 and 1-byte pages.
fn walk(tracker: &mut Tracker, now: Duration, procs: &[(u32, &str, u64, u64)]) -> Vec<Row> {
    tracker.begin();
    for &(pid, comm, cpu, rss) in procs {
        tracker.add(pid, &stat(comm, cpu, rss), None);
    }
    tracker.finish(now, 1.0, 1.0)
}

fn row<'a>(rows: &'a [Row], group: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r.group == group)
}

fn groups(rows: &[Row]) -> Vec<&str> {
    rows.iter().map(|r| r.group.as_str()).collect()
}

#[test]
fn the_top_by_cpu_and_by_memory_get_groups_and_the_rest_is_other() {
    let mut t = Tracker::new(1, Vec::new());
    let procs = [
        (1, "busy", 1000, 10),
        (2, "fat", 10, 5000),
        (3, "idle", 1, 20),
        (4, "idle", 2, 30),
    ];
    let rows = walk(&mut t, Duration::ZERO, &procs);
    assert_eq!(groups(&rows), ["busy", "fat", OTHER]);
    let other = row(&rows, OTHER).unwrap();
    assert_eq!((other.user_seconds, other.system_seconds), (3.0, 0.0 + 1.0));
    assert_eq!((other.processes, other.threads), (2.0, 4.0));
    assert_eq!(other.resident_bytes, 50.0);
    let busy = row(&rows, "busy").unwrap();
    assert_eq!((busy.user_seconds, busy.system_seconds), (1000.0, 500.0));

    // Next walk: idle (pid 4) burns the most CPU since; busy exits. busy stays a group
    // (sticky) with nothing in it, idle becomes one, and other's counter does not go down.
    let procs = [
        (2, "fat", 10, 5000),
        (3, "idle", 1, 20),
        (4, "idle", 400, 30),
    ];
    let rows = walk(&mut t, MIN, &procs);
    assert_eq!(groups(&rows), ["busy", "fat", "idle", OTHER]);
    let busy = row(&rows, "busy").unwrap();
    assert_eq!(
        (busy.user_seconds, busy.processes, busy.resident_bytes),
        (1000.0, 0.0, 0.0)
    );
    assert_eq!(
        row(&rows, "idle").unwrap().user_seconds,
        401.0,
        "its whole CPU time"
    );
    assert_eq!(row(&rows, OTHER).unwrap().user_seconds, 3.0);
    assert_eq!(row(&rows, OTHER).unwrap().processes, 0.0);

    // busy leaves 10 minutes after it was last in a top; idle keeps counting.
    let procs = [
        (2, "fat", 10, 5000),
        (3, "idle", 1, 20),
        (4, "idle", 500, 30),
    ];
    let rows = walk(&mut t, STICKY - MIN / 2, &procs);
    assert!(row(&rows, "busy").is_some());
    let rows = walk(&mut t, STICKY + MIN, &procs);
    assert_eq!(groups(&rows), ["fat", "idle", OTHER]);
    assert_eq!(row(&rows, "idle").unwrap().user_seconds, 501.0);
    assert_eq!(t.tracked(), 3);
}

#[test]
fn a_new_process_with_a_reused_pid_adds_its_own_time() {
    let mut t = Tracker::new(1, Vec::new());
    walk(&mut t, Duration::ZERO, &[(1, "a", 100, 1)]);
    t.begin();
    t.add(
        1,
        &scan::Stat {
            starttime: 99,
            ..stat("a", 5, 1)
        },
        None,
    );
    let rows = t.finish(MIN, 1.0, 1.0);
    assert_eq!(row(&rows, "a").unwrap().user_seconds, 105.0);
}

#[test]
fn named_groups_take_their_processes_by_name_or_command_line() {
    let config = ProcessesConfig {
        top: 5,
        groups: vec![
            GroupConfig {
                name: "db".into(),
                comm: vec!["postgres".into()],
                cmdline: None,
            },
            GroupConfig {
                name: "web".into(),
                comm: Vec::new(),
                cmdline: Some(r"^python3 .*manage\.py runserver".into()),
            },
            GroupConfig {
                name: "idle".into(),
                comm: vec!["nothing-runs-this".into()],
                cmdline: None,
            },
        ],
        ..ProcessesConfig::default()
    };
    let mut t = Tracker::new(config.top, config.named().expect("valid"));
    assert!(t.needs_cmdline());
    t.begin();
    t.add(1, &stat("postgres", 10, 100), None);
    t.add(2, &stat("postgres", 20, 100), None);
    t.add(
        3,
        &stat("python3", 30, 100),
        Some("python3 /srv/manage.py runserver"),
    );
    t.add(4, &stat("python3", 40, 100), Some("python3 -m http.server"));
    let rows = t.finish(Duration::ZERO, 1.0, 1.0);
    assert_eq!(groups(&rows), ["db", "web", "idle", "python3", OTHER]);
    assert_eq!(row(&rows, "db").unwrap().processes, 2.0);
    assert_eq!(row(&rows, "db").unwrap().user_seconds, 30.0);
    assert_eq!(row(&rows, "web").unwrap().user_seconds, 30.0);
    assert_eq!(row(&rows, "python3").unwrap().user_seconds, 40.0);
    assert_eq!(row(&rows, "idle").unwrap().processes, 0.0);

    // The command line is read once: pid 3 stays in web without it.
    assert!(!t.is_new(3, 7));
    t.begin();
    t.add(3, &stat("python3", 35, 100), None);
    let rows = t.finish(MIN, 1.0, 1.0);
    assert_eq!(row(&rows, "web").unwrap().user_seconds, 35.0);
}

#[test]
fn bad_settings_name_their_key() {
    let group = |name: &str, cmdline: Option<&str>| GroupConfig {
        name: name.into(),
        comm: Vec::new(),
        cmdline: cmdline.map(Into::into),
    };
    for (config, needle) in [
        (
            ProcessesConfig {
                top: 51,
                ..ProcessesConfig::default()
            },
            "collect.processes.top",
        ),
        (
            ProcessesConfig {
                groups: vec![group("x", Some("(unclosed"))],
                ..ProcessesConfig::default()
            },
            "collect.processes.groups[0].cmdline",
        ),
        (
            ProcessesConfig {
                groups: vec![group("other", Some("x"))],
                ..ProcessesConfig::default()
            },
            "collect.processes.groups[0].name",
        ),
        (
            ProcessesConfig {
                groups: vec![group("x", Some("a")), group("x", Some("b"))],
                ..ProcessesConfig::default()
            },
            "collect.processes.groups[1].name",
        ),
        (
            ProcessesConfig {
                groups: vec![group("x", None)],
                ..ProcessesConfig::default()
            },
            "neither comm nor cmdline",
        ),
    ] {
        let error = config.validate().expect_err("invalid");
        assert!(error.contains(needle), "{error}");
    }
    ProcessesConfig::default()
        .validate()
        .expect("defaults are valid");
}

#[test]
fn groups_and_processes_stay_bounded() {
    let mut t = Tracker::new(2, Vec::new());
    // Every walk, two new names burn the most CPU: at most 4 × top names stay groups.
    for i in 0..20u32 {
        let procs: Vec<(u32, String, u64, u64)> = (0..4)
            .map(|j| (i * 4 + j, format!("p{i}-{j}"), 1000 + u64::from(j), 1))
            .collect();
        let procs: Vec<(u32, &str, u64, u64)> = procs
            .iter()
            .map(|(p, c, u, r)| (*p, c.as_str(), *u, *r))
            .collect();
        let rows = walk(&mut t, MIN * i, &procs);
        assert!(rows.len() <= 4 * 2 + 1, "{} rows", rows.len());
    }
    t.begin();
    for pid in 0..(MAX_PIDS as u32 + 10) {
        t.add(pid, &stat("many", 1, 1), None);
    }
    let rows = t.finish(MIN * 30, 1.0, 1.0);
    assert_eq!(t.tracked(), MAX_PIDS);
    assert_eq!(
        row(&rows, "many").unwrap().processes,
        MAX_PIDS as f64 + 10.0
    );
}

/// A fake `/proc` with one process per entry.
fn fake_proc(dir: &Path, procs: &[(u32, &str, u64)]) {
    let _ = std::fs::remove_dir_all(dir);
    for &(pid, comm, cpu) in procs {
        let d = dir.join(pid.to_string());
        std::fs::create_dir_all(&d).expect("dir");
        let text =
            format!("{pid} ({comm}) S 1 1 1 0 -1 0 0 0 0 0 {cpu} 0 0 0 20 0 1 0 5 1000 3 0 0\n");
        std::fs::write(d.join("stat"), text).expect("stat");
        std::fs::write(d.join("cmdline"), format!("{comm}\0--flag\0")).expect("cmdline");
    }
    std::fs::write(dir.join("loadavg"), "0 0 0 1/1 1\n").expect("a file that is not a pid");
}

#[test]
fn the_source_walks_at_its_interval_and_resends_in_between() {
    let dir = std::env::temp_dir().join(format!("vigil-processes-{}", std::process::id()));
    fake_proc(&dir, &[(10, "sshd", 100), (11, "my daemon", 300)]);
    let paths = Paths {
        proc: dir.clone(),
        ..Paths::default()
    };
    let config = ProcessesConfig {
        top: 1,
        interval: Duration::from_secs(30),
        groups: vec![GroupConfig {
            name: "ssh".into(),
            comm: Vec::new(),
            cmdline: Some("^sshd --flag$".into()),
        }],
    };
    let mut source = Processes::new(&paths, &config);
    let (hz, page) = (source.hz, source.page);
    let mut sink = Sink::new();
    source
        .collect_at(&mut sink, Duration::ZERO)
        .expect("collects");
    let cpu = |sink: &Sink, group: &str| {
        sink.value_of(
            "vigil_process_cpu_seconds_total",
            &[("group", group), ("mode", "user")],
        )
    };
    assert_eq!(cpu(&sink, "ssh"), Some(100.0 / hz));
    assert_eq!(cpu(&sink, "my daemon"), Some(300.0 / hz));
    assert_eq!(cpu(&sink, OTHER), Some(0.0));
    assert_eq!(
        sink.value_of("vigil_process_resident_memory_bytes", &[("group", "ssh")]),
        Some(3.0 * page)
    );
    assert_eq!(
        sink.value_of("vigil_process_count", &[("group", "ssh")]),
        Some(1.0)
    );
    assert_eq!(
        sink.value_of("vigil_process_threads", &[("group", "ssh")]),
        Some(1.0)
    );
    assert_eq!(sink.len(), 3 * 5);
    sink.take_round();

    fake_proc(&dir, &[(10, "sshd", 150), (11, "my daemon", 300)]);
    source
        .collect_at(&mut sink, Duration::from_secs(10))
        .expect("collects");
    assert_eq!(cpu(&sink, "ssh"), Some(100.0 / hz), "re-sent, not walked");
    assert_eq!(sink.len(), 3 * 5);
    sink.take_round();
    source
        .collect_at(&mut sink, Duration::from_secs(30))
        .expect("collects");
    assert_eq!(cpu(&sink, "ssh"), Some(150.0 / hz), "walked again");
    sink.take_round();

    std::fs::remove_dir_all(&dir).expect("clean up");
    let error = source
        .collect_at(&mut sink, Duration::from_secs(60))
        .expect_err("no /proc");
    assert!(matches!(error, CollectError::Read { .. }));
}
