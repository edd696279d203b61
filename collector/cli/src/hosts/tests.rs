#![allow(clippy::unwrap_used)]

use super::*;
use crate::enroll::fake::{self, Fake};
use vigil_proto::v1::Label;

/// 2026-11-21T05:50:00Z in milliseconds.
const T: i64 = 1_795_240_200_000;

fn hosts() -> Vec<Host> {
    vec![
        Host {
            host: "db-1".into(),
            facts: Some(Hello {
                hostname: "db-1".into(),
                machine_id: "0f3c".into(),
                os: "Debian GNU/Linux 12 (bookworm)".into(),
                kernel: "6.1.0-18-amd64".into(),
                arch: "x86_64".into(),
                cpu_model: "AMD EPYC 7B13".into(),
                logical_cores: 8,
                memory_bytes: 33_554_432_000,
                agent_version: "0.1.0".into(),
                labels: vec![
                    Label {
                        name: "env".into(),
                        value: "prod".into(),
                    },
                    Label {
                        name: "dc".into(),
                        value: "fra1".into(),
                    },
                ],
                ..Hello::default()
            }),
            first_seen_ms: T - 86_400_000,
            last_seen_ms: T - 3_250,
            up: true,
            series: 412,
            peer: "10.0.0.5:51234".into(),
            clock_skew_ms: 3_600_250,
            clock_skew_known: true,
            samples_refused: 1200,
        },
        Host {
            host: "old-box".into(),
            facts: None,
            first_seen_ms: T - 90_000_000,
            last_seen_ms: T - 7_200_000,
            up: false,
            series: 0,
            peer: String::new(),
            clock_skew_ms: 0,
            clock_skew_known: false,
            samples_refused: 0,
        },
    ]
}

fn rendered(output: Output) -> String {
    let mut out = Vec::new();
    render(&hosts(), None, output, T, &mut out).expect("write to a Vec");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn json() {
    assert_eq!(
        rendered(Output::Json),
        concat!(
            r#"[{"host":"db-1","last_seen":1795240196.75,"up":true,"#,
            r#""os":"Debian GNU/Linux 12 (bookworm)","kernel":"6.1.0-18-amd64","#,
            r#""arch":"x86_64","cpu_model":"AMD EPYC 7B13","logical_cores":8,"#,
            r#""memory_bytes":33554432000,"agent_version":"0.1.0","machine_id":"0f3c","#,
            r#""first_seen":1795153800,"series":412,"labels":{"dc":"fra1","env":"prod"},"#,
            r#""peer":"10.0.0.5:51234","clock_skew_seconds":3600.25,"samples_refused":1200,"#,
            r#""identity":null},"#,
            r#"{"host":"old-box","last_seen":1795233000,"up":false,"os":"","kernel":"","#,
            r#""arch":"","cpu_model":"","logical_cores":0,"memory_bytes":0,"#,
            r#""agent_version":"","machine_id":"","first_seen":1795150200,"series":0,"#,
            r#""labels":{},"peer":"","clock_skew_seconds":null,"samples_refused":0,"#,
            r#""identity":null}]"#,
            "\n"
        )
    );
}

#[test]
fn csv() {
    assert_eq!(
        rendered(Output::Csv),
        "host,last_seen,up,os,kernel,arch,cpu_model,logical_cores,memory_bytes,\
         agent_version,machine_id,first_seen,series,labels,peer,clock_skew_seconds,\
         samples_refused,identity_serial,\
         identity_not_before,identity_not_after,identity_joined,identity_token_id,\
         identity_renewals,identity_revoked,identity_key_fingerprint\n\
         db-1,1795240196.75,true,Debian GNU/Linux 12 (bookworm),6.1.0-18-amd64,x86_64,\
         AMD EPYC 7B13,8,33554432000,0.1.0,0f3c,1795153800,412,dc=fra1;env=prod,\
         10.0.0.5:51234,3600.25,1200,,,,,,,,\n\
         old-box,1795233000,false,,,,,0,0,,,1795150200,0,,,,0,,,,,,,,\n"
    );
}

#[test]
fn table() {
    assert_eq!(
        rendered(Output::Table),
        "HOST      OS                               AGENT   LAST SEEN   UP     SERIES    CLOCK   ADDRESS\n\
         db-1      Debian GNU/Linux 12 (bookworm)   0.1.0   3s ago      up        412   +1h 0m   10.0.0.5:51234\n\
         old-box   -                                -       2h ago      down        0        -   -\n"
    );
}

#[test]
fn no_hosts_is_an_empty_json_array() {
    let mut out = Vec::new();
    render(&[], Some(&[]), Output::Json, T, &mut out).expect("write to a Vec");
    assert_eq!(out, b"[]\n");
}

/// db-1 enrolled and streams; web-9 enrolled, was revoked and never streamed.
fn identities() -> Vec<HostIdentity> {
    vec![
        HostIdentity {
            host: "db-1".into(),
            serial: "5b1f0c2e71d4b8a6c3e9f0a1b2c3d4e5".into(),
            not_before_ms: T - 86_400_000 - 300_000,
            not_after_ms: T + 29 * 86_400_000 - 300_000,
            joined_ms: T - 86_400_000,
            token_id: "0123456789ab".into(),
            renewals: 0,
            revoked_ms: 0,
            key_fingerprint: format!("SHA256:{}", "ab".repeat(32)),
        },
        HostIdentity {
            host: "web-9".into(),
            serial: "0a0b0c0d0e0f00112233445566778899".into(),
            not_before_ms: T - 40 * 86_400_000,
            not_after_ms: T - 10 * 86_400_000,
            joined_ms: T - 40 * 86_400_000,
            token_id: "0123456789ab".into(),
            renewals: 2,
            revoked_ms: T - 7_200_000,
            key_fingerprint: format!("SHA256:{}", "cd".repeat(32)),
        },
    ]
}

fn with_identities(output: Output) -> String {
    let mut out = Vec::new();
    render(&hosts(), Some(&identities()), output, T, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn table_with_identities() {
    assert_eq!(
        with_identities(Output::Table),
        "HOST      OS                               AGENT   LAST SEEN   UP     SERIES    CLOCK   ADDRESS          IDENTITY   CERT EXPIRES      REVOKED\n\
         db-1      Debian GNU/Linux 12 (bookworm)   0.1.0   3s ago      up        412   +1h 0m   10.0.0.5:51234   5b1f0c2e   in 28d 23h        -\n\
         old-box   -                                -       2h ago      down        0        -   -                -          -                 -\n\
         web-9     -                                -       never       -           0        -   -                0a0b0c0d   expired 10d ago   2h ago\n"
    );
}

#[test]
fn json_with_identities_lists_hosts_that_never_streamed() {
    let json: serde_json::Value = serde_json::from_str(&with_identities(Output::Json)).unwrap();
    let hosts = json.as_array().unwrap();
    assert_eq!(hosts.len(), 3);
    assert_eq!(hosts[0]["host"], "db-1");
    assert_eq!(
        hosts[0]["identity"]["serial"],
        "5b1f0c2e71d4b8a6c3e9f0a1b2c3d4e5"
    );
    assert_eq!(hosts[0]["identity"]["not_after"], 1_797_745_500);
    assert_eq!(hosts[0]["identity"]["revoked"], serde_json::Value::Null);
    assert_eq!(hosts[0]["identity"]["token_id"], "0123456789ab");
    assert!(hosts[1]["identity"].is_null());
    assert_eq!(hosts[2]["host"], "web-9");
    assert_eq!(hosts[2]["last_seen"], serde_json::Value::Null);
    assert_eq!(hosts[2]["up"], false);
    assert_eq!(hosts[2]["identity"]["revoked"], 1_795_233_000);
    assert_eq!(hosts[2]["identity"]["renewals"], 2);
    // The same keys for every host, in the same order as before identities existed.
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&hosts[0]), keys(&hosts[2]));
    let csv = with_identities(Output::Csv);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 4);
    assert!(rows[3].starts_with("web-9,,false,"), "{}", rows[3]);
    assert!(
        rows[3].contains(",0a0b0c0d0e0f00112233445566778899,"),
        "{}",
        rows[3]
    );
    assert_eq!(rows[0].split(',').count(), rows[3].split(',').count());
}

#[test]
fn short_serials() {
    assert_eq!(short_serial("5b1f0c2e71d4b8a6"), "5b1f0c2e");
    assert_eq!(short_serial("5b1f"), "5b1f");
    assert_eq!(short_serial(""), "-");
}

#[test]
fn plain_hosts_still_works_and_subcommands_parse() {
    use crate::{Cli, Command};
    use clap::Parser;
    let cli = Cli::try_parse_from(["vigil", "hosts", "-o", "json"]).unwrap();
    assert!(matches!(
        cli.command,
        Command::Hosts(HostsArgs { action: None })
    ));
    let cli = Cli::try_parse_from(["vigil", "hosts", "revoke", "web-1"]).unwrap();
    assert!(matches!(
        cli.command,
        Command::Hosts(HostsArgs { action: Some(HostsAction::Revoke { ref host }) }) if host == "web-1"
    ));
    let cli = Cli::try_parse_from(["vigil", "hosts", "unrevoke", "web-1"]).unwrap();
    assert!(matches!(
        cli.command,
        Command::Hosts(HostsArgs {
            action: Some(HostsAction::Unrevoke { .. })
        })
    ));
    let err = Cli::try_parse_from(["vigil", "hosts", "revoke"]).unwrap_err();
    assert_eq!(err.exit_code(), 2);
}

fn target(url: &str, token: Option<&str>) -> Target {
    Target {
        url: url.to_owned(),
        token: token.map(|t| crate::auth::Token {
            secret: crate::auth::parse_secret(t).unwrap(),
            source: crate::auth::Source::Flag,
        }),
        ..Target::default()
    }
}

#[tokio::test]
async fn identities_come_from_the_enroll_service_when_there_is_one() {
    let fake = Fake::default();
    {
        let mut state = fake.0.lock().unwrap();
        state.hosts = hosts();
        state.identities = identities();
    }
    let url = fake::start(fake.clone(), true).await;
    let (hosts, identities) = fetch(&target(&url, None)).await.unwrap();
    assert_eq!(hosts.len(), 2);
    assert_eq!(identities.unwrap().len(), 2);

    // A collector without enrollment: the hosts, without identity columns.
    let url = fake::start(fake, false).await;
    let (hosts, identities) = fetch(&target(&url, None)).await.unwrap();
    assert_eq!(hosts.len(), 2);
    assert!(identities.is_none());
    let mut out = Vec::new();
    render(&hosts, identities.as_deref(), Output::Table, T, &mut out).unwrap();
    assert!(!String::from_utf8(out).unwrap().contains("IDENTITY"));
}

#[tokio::test]
async fn revoke_and_unrevoke_need_admin_and_say_what_happened() {
    let fake = Fake::default();
    fake.0.lock().unwrap().identities = identities();
    let url = fake::start(fake.clone(), true).await;
    let err = revoke::execute(&target(&url, None), "db-1", true)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("need an admin token"), "{text}");
    assert!(text.contains("--token or VIGIL_TOKEN"), "{text}");
    assert_eq!(err.exit_code(), 1);

    let admin = target(&url, Some("admin"));
    let outcome = revoke::execute(&admin, "db-1", true).await.unwrap();
    assert_eq!(outcome.ended_streams, Some(1));
    assert!(outcome.identity.as_ref().unwrap().revoked_ms > 0);
    let mut out = Vec::new();
    revoke::render(&outcome, Output::Table, &mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "revoked db-1: its certificates (latest 5b1f0c2e) are refused from now on and its \
         open stream was ended; `vigil hosts unrevoke db-1` lets it join again with a new token\n"
    );
    let mut out = Vec::new();
    revoke::render(&outcome, Output::Json, &mut out).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(json["host"], "db-1");
    assert_eq!(json["revoked"], true);
    assert_eq!(json["ended_streams"], 1);
    assert_eq!(json["identity"]["revoked"], 1_795_240_300);

    let outcome = revoke::execute(&admin, "db-1", false).await.unwrap();
    assert!(!outcome.revoked && outcome.ended_streams.is_none());
    let mut out = Vec::new();
    revoke::render(&outcome, Output::Json, &mut out).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert!(json.get("ended_streams").is_none(), "{json}");
    assert!(json["identity"]["revoked"].is_null());
    let mut out = Vec::new();
    revoke::render(&outcome, Output::Table, &mut out).unwrap();
    assert!(
        String::from_utf8(out)
            .unwrap()
            .starts_with("db-1 may join again")
    );

    // A host that never enrolled may be revoked ahead of time.
    let ahead = revoke::Outcome {
        host: "web-7".into(),
        revoked: true,
        ended_streams: Some(0),
        identity: Some(HostIdentity::default()),
    };
    let mut out = Vec::new();
    revoke::render(&ahead, Output::Table, &mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "revoked web-7: it has no certificate from this collector, and cannot join until \
         `vigil hosts unrevoke web-7`\n"
    );

    // The collector's own words for a host it does not know.
    let err = revoke::execute(&admin, "nowhere", true).await.unwrap_err();
    assert!(err.to_string().contains("no host \"nowhere\""), "{err}");
    assert_eq!(
        fake.0.lock().unwrap().requests,
        [
            "RevokeHost RevokeHostRequest { host: \"db-1\" }",
            "UnrevokeHost UnrevokeHostRequest { host: \"db-1\" }",
            "RevokeHost RevokeHostRequest { host: \"nowhere\" }",
        ]
    );
}
