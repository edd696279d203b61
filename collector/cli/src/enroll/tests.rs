#![allow(clippy::unwrap_used)]

use super::fake::{self, Fake};
use super::*;
use crate::auth::{Source, Token, parse_secret};
use crate::{Cli, Command};
use clap::Parser;

/// 2026-11-21T05:50:00Z in milliseconds.
const T: i64 = 1_795_240_200_000;

fn parse(args: &[&str]) -> Result<EnrollArgs, clap::Error> {
    let cli = Cli::try_parse_from(std::iter::once("vigil").chain(args.iter().copied()))?;
    match cli.command {
        Command::Enroll(args) => Ok(args),
        other => panic!("not enroll: {other:?}"),
    }
}

fn create(args: &[&str]) -> Result<CreateArgs, clap::Error> {
    match parse(args)?.action {
        Some(EnrollAction::Create(create)) => Ok(create),
        other => panic!("not create: {other:?}"),
    }
}

#[test]
fn create_takes_repeated_and_comma_separated_patterns() {
    let args = create(&[
        "enroll",
        "create",
        "--hosts",
        "web-*",
        "--hosts",
        "db-?,cache-1",
        "--ttl",
        "24h",
        "--uses",
        "3",
        "--replace",
        "--description",
        "rack 4",
    ])
    .unwrap();
    assert_eq!(args.hosts, ["web-*", "db-?", "cache-1"]);
    assert_eq!(args.ttl, Duration::from_secs(86_400));
    assert_eq!(args.uses, Some(3));
    assert!(args.replace);
    assert_eq!(args.description, "rack 4");
    let args = create(&["enroll", "create", "--hosts", "x", "--ttl", "1h 30m"]).unwrap();
    assert_eq!(args.ttl, Duration::from_secs(5400));
    assert_eq!((args.uses, args.replace), (None, false));
}

#[test]
fn create_refuses_bad_flags_as_usage_errors_naming_them() {
    for (args, says) in [
        (vec!["--ttl", "24h"], "--hosts"),
        (vec!["--hosts", "web-*"], "--ttl"),
        (
            vec!["--hosts", "web-*", "--ttl", "fortnight"],
            "\"fortnight\" is not a duration",
        ),
        (vec!["--hosts", "web-*", "--ttl", "0s"], "no time at all"),
        (
            vec!["--hosts", "web-*", "--ttl", "1h", "--uses", "0"],
            "--uses",
        ),
        (vec!["--hosts", "web-*,", "--ttl", "1h"], "empty"),
        (vec!["--hosts", "web 1", "--ttl", "1h"], "blanks"),
        (
            vec![
                "--hosts",
                "x",
                "--ttl",
                "1h",
                "--ca-file",
                "a",
                "--ca-dir",
                "b",
            ],
            "--ca-dir",
        ),
    ] {
        let all: Vec<&str> = ["enroll", "create"]
            .into_iter()
            .chain(args.clone())
            .collect();
        let err = parse(&all).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{args:?}");
        assert!(err.to_string().contains(says), "{args:?}: {err}");
    }
}

#[test]
fn list_is_the_default_and_revoke_takes_an_id() {
    assert!(parse(&["enroll"]).unwrap().action.is_none());
    assert!(matches!(
        parse(&["enroll", "list"]).unwrap().action,
        Some(EnrollAction::List)
    ));
    let args = parse(&["enroll", "revoke", "vjt.0123456789ab.secret"]).unwrap();
    assert!(matches!(args.action, Some(EnrollAction::Revoke { ref id }) if id.starts_with("vjt.")));
    assert_eq!(parse(&["enroll", "revoke"]).unwrap_err().exit_code(), 2);
}

#[test]
fn a_whole_token_is_revoked_by_its_id_alone() {
    assert_eq!(
        token_id("vjt.0123456789ab.00112233445566778899aabbccddeeff"),
        "0123456789ab"
    );
    assert_eq!(token_id(" 0123456789ab\n"), "0123456789ab");
    assert_eq!(token_id("vjt.nodot"), "vjt.nodot");
}

#[test]
fn agents_join_the_collector_by_a_name_they_can_reach() {
    let host = || Some("collector-1".to_owned());
    assert_eq!(
        agent_url("https://vigil.example:7443", host()),
        "https://vigil.example:7443"
    );
    assert_eq!(
        agent_url("https://vigil.example", host()),
        "https://vigil.example:7070"
    );
    assert_eq!(
        agent_url("https://10.0.0.2:7070", host()),
        "https://10.0.0.2:7070"
    );
    // Loopback and plain URLs: this machine's name, same port.
    assert_eq!(
        agent_url("https://localhost:7443", host()),
        "https://collector-1:7443"
    );
    assert_eq!(
        agent_url("https://[::1]:7070", host()),
        "https://collector-1:7070"
    );
    assert_eq!(
        agent_url("http://127.0.0.1:7070", host()),
        "https://collector-1:7070"
    );
    assert_eq!(
        agent_url("127.0.0.1:9000", host()),
        "https://collector-1:9000"
    );
    assert_eq!(
        agent_url("http://127.0.0.1:7070", None),
        "https://COLLECTOR-HOST:7070"
    );
    assert_eq!(
        agent_url("http://127.0.0.1:7070", Some("odd_name".into())),
        "https://COLLECTOR-HOST:7070"
    );
}

fn token(id: &str, uses: u32, used: u32, expires_ms: i64, revoked_ms: i64) -> JoinToken {
    JoinToken {
        id: id.into(),
        hosts: vec!["web-*".into(), "db-?".into()],
        created_ms: T - 3_600_000,
        expires_ms,
        uses,
        used,
        replace: false,
        description: "rack 4".into(),
        created_by: "admin".into(),
        revoked_ms,
    }
}

fn tokens() -> Vec<JoinToken> {
    let mut replacing = token("aaaaaaaaaaaa", 0, 2, T + 86_400_000, 0);
    replacing.replace = true;
    vec![
        replacing,
        token("bbbbbbbbbbbb", 3, 3, T + 86_400_000, 0),
        token("cccccccccccc", 0, 0, T - 60_000, 0),
        token("dddddddddddd", 5, 1, T + 3_600_000, T - 600_000),
    ]
}

fn tokens_rendered(output: Output) -> String {
    let mut out = Vec::new();
    render_tokens(&tokens(), output, T, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn token_states() {
    let states: Vec<&str> = tokens().iter().map(|t| render::state(t, T)).collect();
    assert_eq!(states, ["active", "used up", "expired", "revoked"]);
}

#[test]
fn token_table() {
    assert_eq!(
        tokens_rendered(Output::Table),
        "ID             HOSTS        STATE              EXPIRES    USED   CREATED   BY      DESCRIPTION\n\
         aaaaaaaaaaaa   web-*,db-?   active, replaces   in 1d     2/any   1h ago    admin   rack 4\n\
         bbbbbbbbbbbb   web-*,db-?   used up            in 1d       3/3   1h ago    admin   rack 4\n\
         cccccccccccc   web-*,db-?   expired            1m ago    0/any   1h ago    admin   rack 4\n\
         dddddddddddd   web-*,db-?   revoked            in 1h       1/5   1h ago    admin   rack 4\n"
    );
}

#[test]
fn token_json_and_csv() {
    let json: serde_json::Value = serde_json::from_str(&tokens_rendered(Output::Json)).unwrap();
    assert_eq!(json[0]["id"], "aaaaaaaaaaaa");
    assert_eq!(json[0]["hosts"][1], "db-?");
    assert_eq!(json[0]["state"], "active");
    assert_eq!(json[0]["expires"], 1_795_326_600);
    assert_eq!(json[0]["revoked"], serde_json::Value::Null);
    assert_eq!(json[3]["revoked"], 1_795_239_600);
    assert_eq!(json[1]["uses"], 3);
    let csv = tokens_rendered(Output::Csv);
    assert!(csv.starts_with(
        "id,hosts,state,created,expires,uses,used,replace,description,created_by,revoked\n\
         aaaaaaaaaaaa,web-*;db-?,active,1795236600,1795326600,0,2,true,rack 4,admin,\n"
    ));
}

fn created(fingerprint: Option<&str>) -> Created {
    Created {
        token: "vjt.0123456789ab.00112233445566778899aabbccddeeff".into(),
        info: token("0123456789ab", 0, 0, T + 86_400_000, 0),
        ca_fingerprint: fingerprint.map(str::to_owned),
        collector: "https://collector-1:7070".into(),
    }
}

fn created_rendered(c: &Created, output: Output) -> String {
    let mut out = Vec::new();
    render_created(c, output, T, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn a_new_token_is_printed_with_the_command_that_joins() {
    let pin = format!("SHA256:{}", "ab".repeat(32));
    assert_eq!(
        created_rendered(&created(Some(&pin)), Output::Table),
        format!(
            "Join token (shown only now: the collector keeps only its hash):\n\n    \
             vjt.0123456789ab.00112233445566778899aabbccddeeff\n\n\
             ID        0123456789ab\n\
             HOSTS     web-*, db-?\n\
             EXPIRES   2026-11-22 05:50:00 UTC (in 1d)\n\
             USES      any number of hosts until it expires\n\
             NOTE      rack 4\n\
             \nOn each host, start the agent with:\n\n    \
             vigil-agent --join vjt.0123456789ab.00112233445566778899aabbccddeeff \
             --collector https://collector-1:7070 --ca-fingerprint {pin}\n"
        )
    );
    let without = created_rendered(&created(None), Output::Table);
    assert!(
        without.contains("--ca-fingerprint <CA-FINGERPRINT>\n"),
        "{without}"
    );
    assert!(without.contains("`vigil ca show`"), "{without}");

    let text = created_rendered(&created(Some(&pin)), Output::Json);
    assert!(
        text.starts_with(
            "{\"token\":\"vjt.0123456789ab.00112233445566778899aabbccddeeff\",\
             \"id\":\"0123456789ab\",\"hosts\":[\"web-*\",\"db-?\"],\"expires\":1795326600,\
             \"uses\":0,\"replace\":false,\"description\":\"rack 4\",\"ca_fingerprint\":\"SHA256:"
        ),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["collector"], "https://collector-1:7070");
    assert_eq!(
        json["token"],
        "vjt.0123456789ab.00112233445566778899aabbccddeeff"
    );
    assert_eq!(json["expires"], 1_795_326_600);
    let json: serde_json::Value =
        serde_json::from_str(&created_rendered(&created(None), Output::Json)).unwrap();
    assert!(json["ca_fingerprint"].is_null());
}

fn target(url: &str, token: Option<&str>) -> Target {
    Target {
        url: url.to_owned(),
        token: token.map(|t| Token {
            secret: parse_secret(t).unwrap(),
            source: Source::Flag,
        }),
        ..Target::default()
    }
}

#[tokio::test]
async fn create_list_and_revoke_against_a_collector() {
    let dir = tempfile::tempdir().unwrap();
    let ca = vigil_pki::Ca::generate(
        "Vigil fleet CA",
        Duration::from_secs(86_400),
        std::time::SystemTime::now(),
    )
    .unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).unwrap();

    let fake = Fake::default();
    let url = fake::start(fake.clone(), true).await;
    let admin = target(&url, Some("admin"));
    let args = parse(&[
        "enroll",
        "create",
        "--hosts",
        "web-*,db-?",
        "--ttl",
        "2h",
        "--uses",
        "4",
        "--ca-dir",
        dir.path().to_str().unwrap(),
    ])
    .unwrap();
    let Answer::Created(created) = execute(&admin, &args).await.unwrap() else {
        panic!("not created")
    };
    assert_eq!(
        created.token,
        "vjt.0123456789ab.00112233445566778899aabbccddeeff"
    );
    assert_eq!(created.ca_fingerprint, Some(ca.fingerprint()));
    assert_eq!(created.info.hosts, ["web-*", "db-?"]);

    // Listing needs no admin token here.
    let Answer::Tokens(tokens) = execute(&target(&url, None), &parse(&["enroll"]).unwrap())
        .await
        .unwrap()
    else {
        panic!("not a list")
    };
    assert_eq!(tokens.len(), 1);

    // Revoking by the whole token sends only its id.
    let args = parse(&["enroll", "revoke", &created.token]).unwrap();
    let Answer::Revoked(revoked) = execute(&admin, &args).await.unwrap() else {
        panic!("not revoked")
    };
    assert!(revoked.revoked_ms > 0);
    let requests = fake.0.lock().unwrap().requests.clone();
    assert_eq!(
        requests,
        [
            "CreateToken CreateTokenRequest { hosts: [\"web-*\", \"db-?\"], ttl_ms: 7200000, \
             uses: 4, replace: false, description: \"\" }",
            "RevokeToken RevokeTokenRequest { id: \"0123456789ab\" }",
        ]
    );
    assert!(
        !requests
            .concat()
            .contains("00112233445566778899aabbccddeeff")
    );
}

#[tokio::test]
async fn refusals_say_what_to_do() {
    let fake = Fake::default();
    let url = fake::start(fake.clone(), true).await;
    let create = parse(&["enroll", "create", "--hosts", "web-*", "--ttl", "1h"]).unwrap();
    let err = execute(&target(&url, None), &create).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "token \"grafana\" has role read; Enroll needs admin\n(creating and revoking join \
         tokens and revoking hosts need an admin token, listing them a read token: pass an \
         admin token with --token or VIGIL_TOKEN)"
    );
    let err = execute(&target(&url, Some("reader")), &create)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("the role of the token from --token does not allow it"),
        "{err}"
    );
    // A collector without enrollment.
    let url = fake::start(fake.clone(), false).await;
    let err = execute(&target(&url, None), &parse(&["enroll"]).unwrap())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("has no enrollment service"),
        "{err}"
    );
    // A CA file that cannot be read creates no token.
    let args = parse(&[
        "enroll",
        "create",
        "--hosts",
        "web-*",
        "--ttl",
        "1h",
        "--ca-file",
        "/nonexistent/ca.pem",
    ])
    .unwrap();
    let err = execute(&target(&url, Some("admin")), &args)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("--ca-file: cannot read /nonexistent/ca.pem"),
        "{err}"
    );
    assert!(fake.0.lock().unwrap().requests.is_empty());
}
