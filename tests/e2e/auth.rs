//! Agent tokens: a collector with the old `server.agent_tokens` still refuses agents without
//! a valid one, accepts those with one, and never keeps or shows the token. (Roles and
//! `[[auth.tokens]]` are tested in `access`.)

#![allow(clippy::unwrap_used)]

use prost::Message;
use std::process::Command;
use std::time::Duration;
use tonic::Code;
use vigil_proto::v1::agent_message::Kind;
use vigil_tests::client::hello;
use vigil_tests::{Collector, Running, TestAgent, bin, wait_for};

/// A read token, so that the test itself may look at the hosts.
const READ: &str = "reader-secret-0123456789";

fn hosts(url: &str) -> String {
    let out = Command::new(bin("vigil"))
        .args(["--collector", url, "hosts", "--output", "json"])
        .env("VIGIL_TOKEN", READ)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn hello_with_token(host: &str, token: &str) -> Vec<u8> {
    let mut message = hello(host);
    if let Some(Kind::Hello(h)) = &mut message.kind {
        h.token = token.to_owned();
    }
    message.encode_to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_need_a_valid_token_when_the_collector_asks_for_one() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(
        &dir.path().join("data"),
        &[
            (
                "VIGIL_COLLECTOR__SERVER__AGENT_TOKENS",
                r#"["first-secret", "second-secret"]"#,
            ),
            (
                "VIGIL_COLLECTOR__AUTH__TOKENS",
                r#"[{ name = "reader", role = "read", secret = "reader-secret-0123456789" }]"#,
            ),
        ],
    );
    let url = collector.url();

    for token in ["", "wrong"] {
        let err = TestAgent::open(&url, hello_with_token("intruder", token), false)
            .await
            .err()
            .unwrap();
        assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
        assert!(err.message().contains("token"), "{err:?}");
        assert!(
            !err.message().contains("secret"),
            "the error does not echo tokens: {err:?}"
        );
    }

    let mut agent = TestAgent::open(&url, hello_with_token("trusted", "second-secret"), false)
        .await
        .unwrap();
    assert!(agent.next().await.unwrap().is_some(), "welcomed");

    // A real agent with the token from its environment streams normally.
    let mut cmd = Command::new(bin("vigil-agent"));
    cmd.args([
        "--collector",
        &url,
        "--interval",
        "1s",
        "--hostname",
        "real-trusted",
    ])
    .arg("--spool-dir")
    .arg(dir.path().join("spool"))
    .env("VIGIL_AGENT__TOKEN", "first-secret");
    let _real = Running::spawn(cmd, dir.path().join("agent.log"));
    let text = wait_for(Duration::from_secs(20), "the real agent to connect", || {
        let text = hosts(&url);
        text.contains("real-trusted").then_some(text)
    });
    assert!(
        !text.contains("secret"),
        "tokens are not kept in the host registry: {text}"
    );
    assert!(
        !text.contains("intruder"),
        "refused agents are not registered: {text}"
    );
    assert!(
        !collector.process.log().contains("secret"),
        "tokens are not logged"
    );
}
