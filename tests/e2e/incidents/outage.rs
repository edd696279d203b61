//! The outage benchmark (`tests/bench/incident_outage.sh` runs it; ignored in the suite):
//! a loadgen fleet of HOSTS hosts, DOWN of which stop sending at once for OUTAGE, each
//! then firing three alerts (HostDown, and two rules on its stale metrics). One collector
//! routes the same alerts four ways, and this counts what each receives from the outage to
//! the end of the incidents' quiet period:
//!
//! ```text
//! by-host      webhook, group_by = ["alertname", "host"]   one message per alert group
//! by-name      webhook, group_by = ["alertname"]           Alertmanager's usual grouping
//!              (both with group_wait 30s, group_interval 1m)
//! incident     webhook, mode = "incident"                  one per opening/escalation/end
//! desk         Request Tracker 5, mode = "incident"        tickets and their comments
//! ```
//!
//! and the time from the first alert to the RT ticket (RT's `Created`, and when `vigil
//! incidents` first lists the ticket). Figures are printed, not asserted.

use super::*;
use std::time::Instant;
use vigil_tests::notify_servers::{HttpReceiver, Rt5};
use vigil_tests::{Running, now_s};

const OUTAGE_RULES: &str = r#"groups:
  - name: outage
    interval: 10s
    rules:
      - alert: ExporterStale
        expr: time() - timestamp(node_load1) > 60
        labels:
          severity: warning
      - alert: MetricsLate
        expr: time() - timestamp(node_load5) > 60
        labels:
          severity: warning
"#;

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn seconds(text: &str) -> u64 {
    humantime::parse_duration(text).unwrap().as_secs()
}

/// Starts vigil-loadgen for hosts FIRST..FIRST+N, sending for `duration`.
fn loadgen(url: &str, first: u32, n: u32, series: &str, duration: &str, log: &Path) -> Running {
    let mut cmd = Command::new(bin("vigil-loadgen"));
    cmd.args(["--collector", url, "--hosts", &n.to_string()])
        .args([
            "--first-host",
            &first.to_string(),
            "--series-per-host",
            series,
        ])
        .args(["--interval", "10s", "--duration", duration, "--ramp", "10s"]);
    Running::spawn(cmd, log.to_owned())
}

fn rt_time(text: &str) -> f64 {
    humantime::parse_rfc3339_weak(text.trim_end_matches('Z'))
        .map(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64()
        })
        .unwrap_or(f64::NAN)
}

#[test]
#[ignore = "a benchmark: tests/bench/incident_outage.sh"]
fn outage_of_part_of_a_fleet() {
    let hosts: u32 = setting("HOSTS", "1000").parse().unwrap();
    let down: u32 = setting("DOWN", "100").parse().unwrap();
    let series = setting("SERIES", "100");
    let outage = seconds(&setting("OUTAGE", "3m"));
    let quiet = setting("QUIET", "2m");
    let rt = Rt5::start();
    let hooks: Vec<(&str, HttpReceiver)> = ["by-host", "by-name", "incident"]
        .into_iter()
        .map(|name| (name, HttpReceiver::start()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let notify = format!(
        r#"
[notify]
[[notify.receivers]]
name = "by-host"
[[notify.receivers.webhook]]
url = "{}/"
[[notify.receivers]]
name = "by-name"
[[notify.receivers.webhook]]
url = "{}/"
[[notify.receivers]]
name = "incident"
[[notify.receivers.webhook]]
url = "{}/"
[[notify.receivers]]
name = "desk"
[[notify.receivers.rt]]
url = "{}"
token = {{ env = "VIGIL_BENCH_RT_TOKEN" }}
timeout = "30s"
[notify.route]
receiver = "by-host"
[[notify.route.routes]]
receiver = "by-host"
group_by = ["alertname", "host"]
group_interval = "1m"
continue = true
[[notify.route.routes]]
receiver = "by-name"
group_by = ["alertname"]
group_interval = "1m"
continue = true
[[notify.route.routes]]
receiver = "incident"
mode = "incident"
continue = true
[[notify.route.routes]]
receiver = "desk"
mode = "incident"
continue = true
"#,
        hooks[0].1.url(),
        hooks[1].1.url(),
        hooks[2].1.url(),
        rt.url()
    );
    let config = dir.path().join("collector.toml");
    std::fs::write(&config, notify).unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(&rules, OUTAGE_RULES).unwrap();
    let mut settings = vec![
        (
            "VIGIL_COLLECTOR__RULES__FILES",
            format!("[{:?}]", rules.display().to_string()),
        ),
        ("VIGIL_COLLECTOR__RULES__HOST_DOWN_AFTER", "60s".to_owned()),
        ("VIGIL_COLLECTOR__INCIDENTS__QUIET_PERIOD", quiet.clone()),
        ("VIGIL_BENCH_RT_TOKEN", rt.token().to_owned()),
    ];
    if let Ok(extra) = std::env::var("COLLECTOR_ENV") {
        for pair in extra.split_whitespace() {
            let (k, v) = pair.split_once('=').unwrap();
            settings.push((Box::leak(k.to_owned().into_boxed_str()), v.to_owned()));
        }
    }
    let c = Collector::start_with_config(
        free_port(),
        &dir.path().join("data"),
        &config,
        &env_refs(&settings),
    );
    let url = c.url();
    let run = |name: &str| dir.path().join(format!("loadgen-{name}.log"));
    let _rest = loadgen(&url, down, hosts - down, &series, "2h", &run("rest"));
    let mut part = loadgen(&url, 0, down, &series, "2h", &run("part"));
    eprintln!("fleet of {hosts} hosts sending; {down} stop in 90 s");
    std::thread::sleep(Duration::from_secs(90));
    let before: Vec<usize> = hooks.iter().map(|(_, h)| h.requests().len()).collect();
    part.kill9();
    let stopped = now_s();
    eprintln!("outage: hosts 0..{down} stopped");

    // The first ticket, timed.
    let started = Instant::now();
    let (seen_s, open) = wait_for(Duration::from_secs(600), "a ticket", || {
        let open = incidents(&url, &["--open"]);
        open.iter()
            .any(|i| !i["tickets"].as_array().unwrap().is_empty())
            .then(|| (now_s(), open))
    });
    eprintln!(
        "first ticket listed {:.0} s after the outage began",
        started.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(
        outage.saturating_sub(started.elapsed().as_secs()),
    ));
    let during = incidents(&url, &["--open"]);
    let _back = loadgen(&url, 0, down, &series, "2h", &run("back"));
    eprintln!("hosts back; waiting for every incident to resolve (quiet period {quiet})");
    wait_for(
        Duration::from_secs(1800),
        "the incidents to resolve",
        || incidents(&url, &["--open"]).is_empty().then_some(()),
    );
    // Resolutions reach the receivers.
    let tickets = rt.all_tickets();
    wait_for(Duration::from_secs(120), "the tickets to resolve", || {
        rt.all_tickets()
            .iter()
            .all(|t| t["Status"] == "resolved")
            .then_some(())
    });
    // The alert groups' resolutions go out at their next group_interval (1m).
    std::thread::sleep(Duration::from_secs(75));

    let first_alert = during
        .iter()
        .flat_map(|i| i["alerts"].as_array().unwrap().iter())
        .map(|a| a["starts_at"].as_f64().unwrap())
        .fold(f64::INFINITY, f64::min);
    let created = tickets
        .iter()
        .map(|t| rt_time(t["Created"].as_str().unwrap_or_default()))
        .fold(f64::INFINITY, f64::min);
    let opened = open
        .iter()
        .map(|i| i["opened_at"].as_f64().unwrap())
        .fold(f64::INFINITY, f64::min);
    let comments: usize = tickets
        .iter()
        .map(|t| {
            rt.history(t["id"].as_str().unwrap().parse().unwrap())
                .iter()
                .filter(|h| h["Type"] == "Comment")
                .count()
        })
        .sum();
    let alerts: usize = during
        .iter()
        .map(|i| i["alerts"].as_array().unwrap().len())
        .sum();
    println!(
        "\noutage of {down} of {hosts} hosts ({series} series each, 10 s interval) for {outage} s; alerts in open incidents: {alerts}"
    );
    println!("{:<10} {:>14}   what", "receiver", "notifications");
    for (i, (name, hook)) in hooks.iter().enumerate() {
        let got = hook.requests().len() - before[i];
        let what = match *name {
            "by-host" => "webhook, group_by alertname+host",
            "by-name" => "webhook, group_by alertname",
            _ => "webhook, mode = \"incident\"",
        };
        println!("{name:<10} {got:>14}   {what}");
    }
    println!(
        "{:<10} {:>14}   RT tickets ({} comments; {} incidents)",
        "desk",
        tickets.len(),
        comments,
        during.len()
    );
    for i in &during {
        println!(
            "  incident {}: {} ({} alerts, {})",
            i["id"],
            i["title"].as_str().unwrap(),
            i["alerts"].as_array().unwrap().len(),
            i["severity"].as_str().unwrap()
        );
    }
    println!(
        "first alert -> RT ticket created: {:.1} s (RT's Created, 1 s resolution); -> listed by vigil incidents: {:.1} s; incident opened -> listed: {:.1} s; outage began -> first alert: {:.1} s",
        created - first_alert,
        seen_s - first_alert,
        seen_s - opened,
        first_alert - stopped
    );
}
