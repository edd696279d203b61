use super::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const LIST: &str = "\
dev-vda1.device loaded active plugged /dev/vda1
-.mount loaded active mounted Root Mount
ssh.service loaded active running OpenBSD Secure Shell server
nginx.service loaded failed failed A high performance web server
\u{25cf} cron.service loaded failed failed Regular background program processing daemon
apt-daily.service loaded activating start Daily apt download activities
backup.timer loaded inactive dead Nightly backup
tmp.mount not-found inactive dead tmp.mount
";

#[test]
fn units_are_counted_by_state_and_the_failed_and_activating_kept() {
    let listing = parse_units(LIST);
    assert_eq!(listing.counts, [3, 1, 0, 2, 2]);
    let names: Vec<(&str, &str)> = listing
        .units
        .iter()
        .map(|u| (u.name.as_str(), u.state.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("apt-daily.service", "activating"),
            ("cron.service", "failed"),
            ("nginx.service", "failed"),
        ]
    );
    let types =
        parse_types("Type=oneshot\nId=apt-daily.service\n\nId=nginx.service\nType=forking\n");
    assert_eq!(types.get("apt-daily.service"), Some(&"oneshot"));
    assert_eq!(types.get("nginx.service"), Some(&"forking"));
}

/// A root with `run/systemd/system`, and a fake `systemctl` that prints `list` (from a
/// file, so a test can change it) and a type per service.
fn fake_host(dir: &Path, list: &str) -> (Paths, SystemdConfig) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("root/run/systemd/system")).expect("dirs");
    std::fs::write(dir.join("list"), list).expect("list");
    let script = dir.join("systemctl");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nif [ \"$1\" = list-units ]; then cat '{}'; exit 0; fi\n\
             for unit in \"$@\"; do case \"$unit\" in *.service) \
             printf 'Id=%s\\nType=simple\\n\\n' \"$unit\";; esac; done\n",
            dir.join("list").display()
        ),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let paths = Paths {
        rootfs: dir.join("root"),
        ..Paths::default()
    };
    let config = SystemdConfig {
        interval: Duration::from_secs(60),
        systemctl: script,
    };
    (paths, config)
}

/// Collects at `now` until the source has an answer from its thread.
fn collect_answered(source: &mut Systemd, now: Duration) -> Sink {
    for _ in 0..3000 {
        let mut sink = Sink::new();
        source.collect_at(&mut sink, now).expect("collects");
        if source.running.is_none() && !sink.is_empty() {
            return sink;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no answer from the fake systemctl");
}

#[test]
fn the_source_runs_systemctl_at_its_interval_and_sends_a_recovered_unit_as_0() {
    let dir = std::env::temp_dir().join(format!("vigil-systemd-{}", std::process::id()));
    let (paths, config) = fake_host(&dir, LIST);
    let mut source = Systemd::new(&paths, &config);
    let sink = collect_answered(&mut source, Duration::ZERO);
    let state = |sink: &Sink, name: &str, state: &str, kind: &str| {
        sink.value_of(
            "node_systemd_unit_state",
            &[("name", name), ("state", state), ("type", kind)],
        )
    };
    assert_eq!(state(&sink, "nginx.service", "failed", "simple"), Some(1.0));
    assert_eq!(
        state(&sink, "apt-daily.service", "activating", "simple"),
        Some(1.0)
    );
    assert_eq!(
        sink.value_of("node_systemd_units", &[("state", "failed")]),
        Some(2.0)
    );
    assert_eq!(
        sink.value_of("node_systemd_units", &[("state", "active")]),
        Some(3.0)
    );
    assert_eq!(sink.len(), 5 + 3);

    // nginx recovers; the next run is only due after the interval.
    std::fs::write(
        dir.join("list"),
        LIST.replace(
            "loaded failed failed A high",
            "loaded active running A high",
        ),
    )
    .expect("list");
    let mut sink = Sink::new();
    source
        .collect_at(&mut sink, Duration::from_secs(30))
        .expect("collects");
    assert!(source.running.is_none(), "not due");
    assert_eq!(state(&sink, "nginx.service", "failed", "simple"), Some(1.0));
    let sink = collect_answered(&mut source, Duration::from_secs(60));
    assert_eq!(state(&sink, "nginx.service", "failed", "simple"), Some(0.0));
    assert_eq!(
        sink.value_of("node_systemd_units", &[("state", "failed")]),
        Some(1.0)
    );
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn nothing_where_systemd_does_not_run_and_a_failing_systemctl_is_an_error() {
    let dir = std::env::temp_dir().join(format!("vigil-systemd-none-{}", std::process::id()));
    let (paths, mut config) = fake_host(&dir, LIST);
    std::fs::remove_dir_all(paths.rootfs.join("run/systemd")).expect("no systemd");
    let mut source = Systemd::new(&paths, &config);
    let mut sink = Sink::new();
    source
        .collect_at(&mut sink, Duration::ZERO)
        .expect("quietly nothing");
    assert!(sink.is_empty() && source.running.is_none());

    std::fs::create_dir_all(paths.rootfs.join("run/systemd/system")).expect("systemd");
    config.systemctl = dir.join("missing-systemctl");
    let mut source = Systemd::new(&paths, &config);
    let mut failed = None;
    for _ in 0..3000 {
        match source.collect_at(&mut Sink::new(), Duration::ZERO) {
            Ok(()) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                failed = Some(e.to_string());
                break;
            }
        }
    }
    let failed = failed.expect("an error");
    assert!(failed.contains("collect.systemd.systemctl"), "{failed}");
    std::fs::remove_dir_all(&dir).expect("clean up");

    assert!(SystemdConfig::default().validate().is_ok());
    let zero = SystemdConfig {
        interval: Duration::ZERO,
        ..SystemdConfig::default()
    };
    assert!(
        zero.validate()
            .unwrap_err()
            .contains("collect.systemd.interval")
    );
}
