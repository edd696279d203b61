use super::*;
use crate::Cli;
use crate::client::{Collector, Target};
use clap::Parser;
use std::io::Write;
use std::sync::{Arc, Mutex};
use vigil_proto::v1::admin_client::AdminClient;
use vigil_proto::v1::admin_server::{Admin, AdminServer};
use vigil_proto::v1::{BackupRequest, BackupResponse, StatusRequest, StatusResponse};

fn secret(text: &str) -> Secret {
    parse_secret(text).expect("a usable secret")
}

fn file_with(contents: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(contents.as_bytes()).expect("write");
    file
}

#[test]
fn the_flag_wins_then_the_file_then_the_environment() {
    let file = file_with("from-file\n");
    let token = Token::resolve(Some(secret("from-flag")), None, Some("from-env".into()))
        .expect("usable")
        .expect("given");
    assert_eq!(
        (token.secret.expose(), token.source),
        ("from-flag", Source::Flag)
    );
    let token = Token::resolve(None, Some(file.path()), Some("from-env".into()))
        .expect("usable")
        .expect("given");
    assert_eq!(token.secret.expose(), "from-file");
    assert_eq!(token.source, Source::File(file.path().to_owned()));
    let token = Token::resolve(None, None, Some("from-env".into()))
        .expect("usable")
        .expect("given");
    assert_eq!(
        (token.secret.expose(), token.source),
        ("from-env", Source::Env)
    );
    // An empty VIGIL_TOKEN is no token, as clap treats empty variables.
    assert_eq!(
        Token::resolve(None, None, Some(String::new())).expect("ok"),
        None
    );
    assert_eq!(Token::resolve(None, None, None).expect("ok"), None);
}

#[test]
fn the_file_loses_one_trailing_newline() {
    for (contents, expected) in [
        ("s3cret\n", "s3cret"),
        ("s3cret\r\n", "s3cret"),
        ("s3cret", "s3cret"),
    ] {
        let file = file_with(contents);
        let token = Token::resolve(None, Some(file.path()), None)
            .expect("usable")
            .expect("given");
        assert_eq!(token.secret.expose(), expected, "{contents:?}");
    }
    // Only one: a second newline is part of the file, and cannot go in a header.
    let file = file_with("s3cret\n\n");
    let err = Token::resolve(None, Some(file.path()), None).expect_err("two newlines");
    assert!(err.to_string().contains("cannot carry"), "{err}");
}

#[test]
fn an_empty_or_unreadable_file_names_the_flag_and_the_path() {
    for contents in ["", "\n"] {
        let file = file_with(contents);
        let err = Token::resolve(None, Some(file.path()), None).expect_err("empty");
        assert_eq!(
            err.to_string(),
            format!(
                "--token-file {}: the token is empty; give the secret of one of the \
                 collector's [[auth.tokens]]",
                file.path().display()
            )
        );
        assert_eq!(err.exit_code(), 2);
    }
    let err = Token::resolve(None, Some(Path::new("/nonexistent/vigil-token")), None)
        .expect_err("unreadable");
    let text = err.to_string();
    assert!(
        text.starts_with("--token-file /nonexistent/vigil-token: cannot read the token: "),
        "{text}"
    );
}

#[test]
fn bad_secrets_are_refused_without_showing_them() {
    for bad in ["", " padded", "tab\there", "new\nline", "caf\u{e9}"] {
        let reason = parse_secret(bad).expect_err(bad);
        if !bad.is_empty() {
            assert!(!reason.contains(bad), "{reason}");
        }
    }
    let err = Token::from_env(Source::Env, Some("new\nline".into())).expect_err("bad");
    assert!(
        err.to_string()
            .starts_with("VIGIL_TOKEN: the token has a character"),
        "{err}"
    );
}

#[test]
fn token_and_token_file_conflict_on_the_command_line() {
    let err = Cli::try_parse_from(["vigil", "--token", "a", "--token-file", "/t", "hosts"])
        .expect_err("both");
    assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    assert_eq!(err.exit_code(), 2);
    // Either one, before or after the subcommand.
    let cli = Cli::try_parse_from(["vigil", "hosts", "--token-file", "/t"]).expect("valid");
    assert_eq!(cli.token_file.as_deref(), Some(Path::new("/t")));
    let cli = Cli::try_parse_from(["vigil", "hosts", "--token", "s3cret"]).expect("valid");
    assert_eq!(cli.token, Some(secret("s3cret")));
    let err = Cli::try_parse_from(["vigil", "hosts", "--token", ""]).expect_err("empty");
    assert!(err.to_string().contains("the token is empty"), "{err}");
}

#[test]
fn debug_output_hides_the_secret() {
    let cli = Cli::try_parse_from(["vigil", "--token", "hunter2-secret", "hosts"]).expect("valid");
    let shown = format!("{cli:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("Secret(hidden)"), "{shown}");
    let token = Token::from_env(Source::Env, Some("hunter2-secret".into()))
        .expect("usable")
        .expect("given");
    let target = Target {
        token: Some(token.clone()),
        ..Target::default()
    };
    for shown in [
        format!("{target:?}"),
        format!("{:?}", Bearer::new(Some(&token))),
    ] {
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}

#[test]
fn clear_text_is_refused_only_across_the_network() {
    for (url, refused) in [
        ("http://127.0.0.1:7070", false),
        ("http://127.3.2.1:7070", false),
        ("http://[::1]:7070", false),
        ("http://[::ffff:127.0.0.1]:7070", false),
        ("http://localhost:7070", false),
        ("http://LocalHost:7070", false),
        ("https://10.0.0.1:7070", false),
        ("https://collector.example:7070", false),
        ("http://10.0.0.1:7070", true),
        ("http://collector.example:7070", true),
        ("http://localhost.example:7070", true),
        ("http://[2001:db8::1]:7070", true),
        ("http://0.0.0.0:7070", true),
    ] {
        let uri: Uri = url.parse().expect("a URI");
        assert_eq!(clear_text_to_network(&uri), refused, "{url}");
    }
}

fn with_token(url: &str) -> Target {
    Target {
        url: url.to_owned(),
        token: Token::from_env(Source::Env, Some("s3cret".into())).expect("usable"),
        ..Target::default()
    }
}

#[tokio::test]
async fn the_cli_will_not_send_a_token_in_clear_text_to_another_host() {
    for url in ["http://10.0.0.1:7070", "10.0.0.1:7070"] {
        let err = Collector::connect(&with_token(url))
            .await
            .err()
            .expect("refused");
        assert_eq!(
            err.to_string(),
            "refusing to send the token from VIGIL_TOKEN in clear text to \
             http://10.0.0.1:7070: use an https:// collector URL with --ca-cert FILE, or \
             reach the collector through a loopback address (such as an SSH tunnel to \
             127.0.0.1)"
        );
        assert_eq!(err.exit_code(), 2);
    }
    // https:// goes on to its own checks (here: the CA it needs).
    let err = Collector::connect(&with_token("https://10.0.0.1:7070"))
        .await
        .err()
        .expect("no CA");
    assert!(err.to_string().contains("--ca-cert"), "{err}");
    assert!(!err.to_string().contains("clear text"), "{err}");
    // To loopback it goes on to connect (here: nobody listens).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a local port")
        .port();
    let err = Collector::connect(&with_token(&format!("localhost:{port}")))
        .await
        .err()
        .expect("nothing listens");
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
}

#[test]
fn refusals_say_what_to_do_about_the_token() {
    let file = Source::File("/etc/vigil/token".into());
    let unauthenticated = || tonic::Status::unauthenticated("no such token");
    let err = refusal(None, unauthenticated());
    assert_eq!(
        err.to_string(),
        "the collector requires a token: pass --token or set VIGIL_TOKEN\n\
         (the collector said: no such token)"
    );
    assert_eq!(err.exit_code(), 1);
    for (source, named) in [
        (Source::Flag, "--token"),
        (file.clone(), "--token-file /etc/vigil/token"),
        (Source::Env, "VIGIL_TOKEN"),
        (Source::AgentEnv, "VIGIL_AGENT_TOKEN"),
    ] {
        let err = refusal(Some(&source), unauthenticated());
        assert_eq!(
            err.to_string(),
            format!(
                "the collector did not accept the token from {named}: check that it is the \
                 secret of one of the collector's [[auth.tokens]]\n\
                 (the collector said: no such token)"
            )
        );
        assert_eq!(err.exit_code(), 1);
    }
    let denied = tonic::Status::permission_denied("token \"grafana\" has role read");
    let err = refusal(Some(&file), denied.clone());
    assert_eq!(
        err.to_string(),
        "token \"grafana\" has role read\n(the role of the token from --token-file \
         /etc/vigil/token does not allow this command; backups, rule reloads, silences and \
         test notifications need an admin token, imports an admin token or an agent token \
         for every host they write)"
    );
    assert_eq!(err.exit_code(), 1);
    let err = refusal(None, denied);
    assert!(
        err.to_string().contains(
            "(this command needs a token whose role allows it: pass --token or set VIGIL_TOKEN;"
        ),
        "{err}"
    );
    // Other codes are the collector's words, as before.
    let err = refusal(Some(&file), tonic::Status::invalid_argument("bad selector"));
    assert_eq!(err.to_string(), "bad selector");
}

/// An Admin service that answers `status` only to `Bearer good`, and refuses every backup
/// as a read token would be.
struct FakeAdmin;

#[tonic::async_trait]
impl Admin for FakeAdmin {
    async fn backup(
        &self,
        _: tonic::Request<BackupRequest>,
    ) -> Result<tonic::Response<BackupResponse>, tonic::Status> {
        Err(tonic::Status::permission_denied(
            "token \"grafana\" has role read; Admin/Backup needs admin",
        ))
    }

    async fn status(
        &self,
        request: tonic::Request<StatusRequest>,
    ) -> Result<tonic::Response<StatusResponse>, tonic::Status> {
        match request.metadata().get("authorization").map(|v| v.to_str()) {
            Some(Ok("Bearer good")) => Ok(tonic::Response::new(StatusResponse {
                version: "fake".into(),
                ..StatusResponse::default()
            })),
            Some(_) => Err(tonic::Status::unauthenticated("unknown token")),
            None => Err(tonic::Status::unauthenticated(
                "this collector requires a token",
            )),
        }
    }
}

/// Starts [`FakeAdmin`] on a loopback port, as the only service: it answers calls to
/// other services UNIMPLEMENTED. Every request's `authorization` header (or `-` without
/// one) is pushed onto the returned list, whatever service it was for.
async fn fake_collector() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = {
        let seen = seen.clone();
        move |request: tonic::Request<()>| {
            let header = request
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned();
            seen.lock().expect("not poisoned").push(header);
            Ok(request)
        }
    };
    let incoming =
        tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind a loopback port");
    let addr = incoming.local_addr().expect("bound");
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(tonic::service::InterceptorLayer::new(record))
            .serve_with_incoming(AdminServer::new(FakeAdmin), incoming),
    );
    (format!("http://{addr}"), seen)
}

fn target(url: &str, token: Option<&str>) -> Target {
    Target {
        url: url.to_owned(),
        token: token.map(|t| Token {
            secret: secret(t),
            source: Source::Flag,
        }),
        ..Target::default()
    }
}

#[tokio::test]
async fn every_call_carries_the_token() {
    let (url, seen) = fake_collector().await;
    let target = target(&url, Some("good"));
    let mut collector = Collector::connect(&target).await.expect("connects");
    let mut admin = AdminClient::new(collector.channel());
    let status = admin.status(StatusRequest {}).await.expect("admitted");
    assert_eq!(status.into_inner().version, "fake");
    // The Query client inside `Collector` too (this server has no Query service).
    let err = collector.hosts().await.expect_err("no Query service here");
    assert!(
        err.to_string().contains("does not know this request"),
        "{err}"
    );
    assert_eq!(
        *seen.lock().expect("not poisoned"),
        ["Bearer good", "Bearer good"]
    );
}

#[tokio::test]
async fn no_token_no_header_and_the_refusals_read_well() {
    let (url, seen) = fake_collector().await;
    let collector = Collector::connect(&target(&url, None))
        .await
        .expect("connects");
    let err = AdminClient::new(collector.channel())
        .status(StatusRequest {})
        .await
        .expect_err("refused");
    assert_eq!(seen.lock().expect("not poisoned").as_slice(), ["-"]);
    let err = target(&url, None).refusal(err);
    assert!(
        err.to_string()
            .starts_with("the collector requires a token: pass --token or set VIGIL_TOKEN\n"),
        "{err}"
    );

    let wrong = target(&url, Some("wrong"));
    let collector = Collector::connect(&wrong).await.expect("connects");
    let mut admin = AdminClient::new(collector.channel());
    let err = wrong.refusal(admin.status(StatusRequest {}).await.expect_err("refused"));
    assert!(
        err.to_string()
            .starts_with("the collector did not accept the token from --token: "),
        "{err}"
    );
    let err = wrong.refusal(
        admin
            .backup(BackupRequest { dir: "/b".into() })
            .await
            .expect_err("refused"),
    );
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err}");
    assert!(
        err.to_string().starts_with(
            "token \"grafana\" has role read; Admin/Backup needs admin\n(the role of the token \
             from --token does not allow this command;"
        ),
        "{err}"
    );
}
