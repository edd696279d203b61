//! Access control: every gRPC method and every HTTP endpoint, called with no credential, a
//! read token, an admin token, an agent token and a wrong secret, against a collector with
//! `[[auth.tokens]]`; agent tokens bound to hosts; refusals counted and audited.

#![allow(clippy::unwrap_used)]

use prost::Message;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use vigil_proto::v1::agent_message::Kind;
use vigil_proto::v1::{ImportRequest, ImportSeries, Label};
use vigil_tests::client::hello;
use vigil_tests::{Collector, free_port, http_client, wait_for};

const READ: &str = "read-secret-0123456789";
const ADMIN: &str = "admin-secret-0123456789";
const AGENT: &str = "web-agent-secret-0123456789";

/// Every gRPC method, with whether `read` may call it (else it needs `admin`). Ingest,
/// Import and Enroll's Join and Renew are agents' calls, tested in their own areas
/// (`enroll::` for Join with only a join token and Renew only with a certificate).
const METHODS: &[(&str, bool)] = &[
    ("/vigil.v1.Query/Hosts", true),
    ("/vigil.v1.Query/Series", true),
    ("/vigil.v1.Query/Samples", true),
    ("/vigil.v1.Query/Instant", true),
    ("/vigil.v1.Query/Range", true),
    ("/vigil.v1.Rules/ListRules", true),
    ("/vigil.v1.Rules/ListAlerts", true),
    ("/vigil.v1.Rules/Reload", false),
    ("/vigil.v1.Notify/AddSilence", false),
    ("/vigil.v1.Notify/ListSilences", true),
    ("/vigil.v1.Notify/ExpireSilence", false),
    ("/vigil.v1.Notify/TestReceiver", false),
    ("/vigil.v1.Notify/ListOutbox", true),
    ("/vigil.v1.Admin/Backup", false),
    ("/vigil.v1.Admin/Status", true),
    ("/vigil.v1.Forecast/Forecast", true),
    ("/vigil.v1.Enroll/CreateToken", false),
    ("/vigil.v1.Enroll/ListTokens", true),
    ("/vigil.v1.Enroll/RevokeToken", false),
    ("/vigil.v1.Enroll/ListIdentities", true),
    ("/vigil.v1.Enroll/RevokeHost", false),
    ("/vigil.v1.Enroll/UnrevokeHost", false),
    ("/vigil.v1.Incidents/ListIncidents", true),
    ("/vigil.v1.Incidents/GetIncident", true),
    ("/vigil.v1.Incidents/AcknowledgeIncident", false),
];

/// Every HTTP route but the probes, with a request that succeeds when admitted.
const ROUTES: &[&str] = &[
    "/api/v1/query?query=1",
    "/api/v1/query_range?query=1&start=0&end=60&step=15",
    "/api/v1/query_exemplars?query=up&start=0&end=60",
    "/api/v1/series?match[]=up",
    "/api/v1/labels",
    "/api/v1/label/__name__/values",
    "/api/v1/status/buildinfo",
    "/api/v1/metadata",
    "/api/v1/alerts",
    "/api/v1/rules",
    "/api/v1/incidents",
    "/metrics",
];

/// Sends bytes, reads bytes: any method's request and answer.
#[derive(Debug, Clone, Copy, Default)]
struct Bytes;
struct BytesEncoder;
struct BytesDecoder;

impl Encoder for BytesEncoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl Decoder for BytesDecoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let n = bytes::Buf::remaining(src);
        Ok(Some(bytes::Buf::copy_to_bytes(src, n).to_vec()))
    }
}

impl Codec for Bytes {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = BytesEncoder;
    type Decoder = BytesDecoder;
    fn encoder(&mut self) -> BytesEncoder {
        BytesEncoder
    }
    fn decoder(&mut self) -> BytesDecoder {
        BytesDecoder
    }
}

fn with_token<T>(mut request: tonic::Request<T>, token: Option<&str>) -> tonic::Request<T> {
    if let Some(token) = token {
        let value: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// Calls `path` with `body`; the status code (Ok when the call succeeded).
async fn unary(channel: &Channel, path: &'static str, body: Vec<u8>, token: Option<&str>) -> Code {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let request = with_token(tonic::Request::new(body), token);
    match grpc
        .unary(request, PathAndQuery::from_static(path), Bytes)
        .await
    {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// Opens an Ingest stream with a Hello for `host`; the status code of the answer.
async fn ingest(channel: &Channel, host: &str, token: Option<&str>) -> Code {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let (tx, rx) = mpsc::channel(1);
    tx.send(hello(host).encode_to_vec()).await.unwrap();
    let request = with_token(tonic::Request::new(ReceiverStream::new(rx)), token);
    let path = PathAndQuery::from_static("/vigil.v1.Ingest/Stream");
    let code = match grpc.streaming(request, path, Bytes).await {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    };
    drop(tx);
    code
}

/// An import of one sample of `m{host=HOST}`.
fn import(host: &str) -> Vec<u8> {
    ImportRequest {
        series: vec![ImportSeries {
            labels: vec![
                Label {
                    name: "__name__".into(),
                    value: "m".into(),
                },
                Label {
                    name: "host".into(),
                    value: host.into(),
                },
            ],
        }],
        token: String::new(),
        series_index: vec![0],
        timestamps_ms: vec![now_ms()],
        values: vec![1.0],
        line_deltas: vec![1],
    }
    .encode_to_vec()
}

/// The wall clock: the import must be recent enough for the collector's limits.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("collector.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[[auth.tokens]]
name = "grafana"
role = "read"
secret = "{READ}"

[[auth.tokens]]
name = "ops"
role = "admin"
secret = {{ file = "{}" }}

[[auth.tokens]]
name = "web-agents"
role = "agent"
secret = {{ env = "WEB_AGENT_SECRET" }}
hosts = ["web-*"]
"#,
            dir.join("admin.token").display(),
        ),
    )
    .unwrap();
    std::fs::write(dir.join("admin.token"), format!("{ADMIN}\n")).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_and_endpoint_checks_credentials_and_roles() {
    let dir = tempfile::tempdir().unwrap();
    let http_port = free_port();
    let listen = format!("127.0.0.1:{http_port}");
    let config = config(dir.path());
    let collector = Collector::start_with_args(
        free_port(),
        &dir.path().join("data"),
        &[("WEB_AGENT_SECRET", AGENT)],
        &[
            "--config",
            config.to_str().unwrap(),
            "--http-listen",
            &listen,
        ],
    );
    wait_for(Duration::from_secs(10), "the HTTP API to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", http_port)).ok()
    });
    let channel = Endpoint::from_shared(collector.url())
        .unwrap()
        .connect()
        .await
        .unwrap();

    let denied = [Code::Unauthenticated, Code::PermissionDenied];
    for &(method, readable) in METHODS {
        let body = Vec::new();
        assert_eq!(
            unary(&channel, method, body.clone(), None).await,
            Code::Unauthenticated,
            "{method} without a token"
        );
        assert_eq!(
            unary(
                &channel,
                method,
                body.clone(),
                Some("wrong-secret-0123456789")
            )
            .await,
            Code::Unauthenticated,
            "{method} with a wrong secret"
        );
        let read = unary(&channel, method, body.clone(), Some(READ)).await;
        if readable {
            assert!(
                !denied.contains(&read),
                "{method} with a read token: {read:?}"
            );
        } else {
            assert_eq!(read, Code::PermissionDenied, "{method} with a read token");
        }
        let admin = unary(&channel, method, body.clone(), Some(ADMIN)).await;
        assert!(
            !denied.contains(&admin),
            "{method} with an admin token: {admin:?}"
        );
        assert_eq!(
            unary(&channel, method, body, Some(AGENT)).await,
            Code::PermissionDenied,
            "{method} with an agent token"
        );
    }

    // Ingest: only agent identities, only for their hosts.
    assert_eq!(ingest(&channel, "web-1", None).await, Code::Unauthenticated);
    assert_eq!(
        ingest(&channel, "web-1", Some("wrong-secret-0123456789")).await,
        Code::Unauthenticated
    );
    assert_eq!(
        ingest(&channel, "web-1", Some(READ)).await,
        Code::PermissionDenied
    );
    assert_eq!(
        ingest(&channel, "web-1", Some(ADMIN)).await,
        Code::PermissionDenied
    );
    assert_eq!(ingest(&channel, "web-1", Some(AGENT)).await, Code::Ok);
    assert_eq!(
        ingest(&channel, "db-1", Some(AGENT)).await,
        Code::PermissionDenied
    );
    // The token in the Hello, for older agents, is held to the same rules.
    let mut old = hello("db-1");
    if let Some(Kind::Hello(h)) = &mut old.kind {
        h.token = AGENT.into();
    }
    let refused =
        vigil_tests::client::TestAgent::open(&collector.url(), old.encode_to_vec(), false)
            .await
            .err()
            .unwrap();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(refused.message().contains("\"db-1\""), "{refused:?}");

    // Import: admin any host; agent tokens their hosts.
    let import_path = "/vigil.v1.Import/Write";
    assert_eq!(
        unary(&channel, import_path, import("db-1"), None).await,
        Code::Unauthenticated
    );
    assert_eq!(
        unary(
            &channel,
            import_path,
            import("db-1"),
            Some("wrong-secret-0123456789")
        )
        .await,
        Code::Unauthenticated
    );
    assert_eq!(
        unary(&channel, import_path, import("db-1"), Some(READ)).await,
        Code::PermissionDenied
    );
    assert_eq!(
        unary(&channel, import_path, import("db-1"), Some(ADMIN)).await,
        Code::Ok
    );
    assert_eq!(
        unary(&channel, import_path, import("web-9"), Some(AGENT)).await,
        Code::Ok
    );
    assert_eq!(
        unary(&channel, import_path, import("db-1"), Some(AGENT)).await,
        Code::PermissionDenied
    );

    // The CLI: a silence's creator is the token's name; a read token may not add one.
    let cli = |token: &str, args: &[&str]| {
        std::process::Command::new(vigil_tests::bin("vigil"))
            .args(["--collector", &collector.url()])
            .args(args)
            .env("VIGIL_TOKEN", token)
            .output()
            .unwrap()
    };
    let add = [
        "silence",
        "add",
        "--for",
        "1h",
        "--comment",
        "maintenance",
        "alertname=Disk",
    ];
    let out = cli(READ, &add);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("admin"), "says which role it takes: {err}");
    let out = cli(ADMIN, &add);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(READ, &["silence", "list", "--output", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let authors: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["created_by"].as_str())
        .collect();
    assert_eq!(authors, ["ops"], "{listed}");

    // Anomalies are read through the Query service: a read token sees them, no token
    // does not; reloading the anomaly rules takes admin.
    let out = cli("", &["anomalies", "--output", "json"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("token"),
        "{out:?}"
    );
    let out = cli(READ, &["anomalies", "--output", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(READ, &["rules", "reload"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("admin"),
        "{out:?}"
    );

    // HTTP: every route.
    let client = http_client().build().unwrap();
    let base = format!("http://{listen}");
    for route in ROUTES {
        let url = format!("{base}{route}");
        let none = client.get(&url).send().await.unwrap();
        assert_eq!(none.status(), 401, "{route} without a token");
        let challenges: Vec<_> = none
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert!(
            challenges.iter().any(|c| c.starts_with("Basic")),
            "{route}: {challenges:?}"
        );
        let body: serde_json::Value = none.json().await.unwrap();
        assert_eq!(body["status"], "error", "{route}");
        let wrong = client
            .get(&url)
            .bearer_auth("wrong-secret-0123456789")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{route} with a wrong secret");
        for secret in [READ, ADMIN] {
            let ok = client.get(&url).bearer_auth(secret).send().await.unwrap();
            assert_eq!(ok.status(), 200, "{route}");
        }
        let basic = client
            .get(&url)
            .basic_auth("grafana", Some(READ))
            .send()
            .await
            .unwrap();
        assert_eq!(basic.status(), 200, "{route} with basic auth");
        let agent = client.get(&url).bearer_auth(AGENT).send().await.unwrap();
        assert_eq!(agent.status(), 403, "{route} with an agent token");
        let misnamed = client
            .get(&url)
            .basic_auth("ops", Some(READ))
            .send()
            .await
            .unwrap();
        assert_eq!(misnamed.status(), 401, "{route}: another token's name");
    }
    // Acknowledging an incident takes admin: without a token 401, a read token 403; with
    // admin the request is admitted (and refused for what it asks: there is no incident 1).
    let ack_url = format!("{base}/api/v1/incidents/1/ack");
    assert_eq!(client.post(&ack_url).send().await.unwrap().status(), 401);
    let read = client
        .post(&ack_url)
        .bearer_auth(READ)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 403);
    let admin = client
        .post(&ack_url)
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 400);
    let body: serde_json::Value = admin.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("incident 1 is not open"),
        "{body}"
    );
    // Bad parameters of the incidents API are named.
    for (route, needle) in [
        ("/api/v1/incidents?open=maybe", "invalid parameter \"open\""),
        ("/api/v1/incidents?since=-1d", "since"),
        ("/api/v1/incidents/abc", "invalid incident id \"abc\""),
    ] {
        let answer = client
            .get(format!("{base}{route}"))
            .bearer_auth(READ)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400, "{route}");
        let body: serde_json::Value = answer.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains(needle),
            "{route}: {body}"
        );
    }
    let none = client
        .get(format!("{base}/api/v1/incidents/77"))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 404);

    // Remote write: an agent or admin token; an agent token bound to hosts writes only
    // series of its hosts (and none without a host label); POST only.
    let write_url = format!("{base}/api/v1/write");
    let remote_write = |token: Option<&str>, host: Option<&str>| {
        let mut labels = vec![vigil_tests::remote_receiver::Label {
            name: "__name__".into(),
            value: "rw".into(),
        }];
        if let Some(host) = host {
            labels.push(vigil_tests::remote_receiver::Label {
                name: "host".into(),
                value: host.into(),
            });
        }
        let body =
            vigil_tests::remote_receiver::encode(&vigil_tests::remote_receiver::WriteRequest {
                timeseries: vec![vigil_tests::remote_receiver::TimeSeries {
                    labels,
                    samples: vec![vigil_tests::remote_receiver::Sample {
                        value: 1.0,
                        timestamp: now_ms(),
                    }],
                }],
            });
        let mut request = client
            .post(&write_url)
            .header("content-encoding", "snappy")
            .header("content-type", "application/x-protobuf")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    for (token, host, status) in [
        (None, Some("web-1"), 401),
        (Some("wrong-secret-0123456789"), Some("web-1"), 401),
        (Some(READ), Some("web-1"), 403),
        (Some(ADMIN), Some("db-1"), 204),
        (Some(ADMIN), None, 204),
        (Some(AGENT), Some("web-9"), 204),
        (Some(AGENT), Some("db-1"), 403),
        (Some(AGENT), None, 403),
    ] {
        let r = remote_write(token, host).await.unwrap();
        assert_eq!(
            r.status(),
            status,
            "/api/v1/write as {token:?} for {host:?}"
        );
    }
    let get = client
        .get(&write_url)
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405, "remote write is POST only");

    for probe in ["/-/healthy", "/-/ready"] {
        let r = client.get(format!("{base}{probe}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{probe} needs no token");
    }

    // Refusals are counted by reason; the secret is never logged.
    let mut counted = Vec::new();
    for _ in 0..60 {
        let url = format!(
            "{base}/api/v1/query?query=sum by (reason) (vigil_collector_auth_refused_total)"
        );
        let body: serde_json::Value = client
            .get(url)
            .bearer_auth(READ)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        counted = body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if counted.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let reasons: Vec<&str> = counted
        .iter()
        .filter_map(|s| s["metric"]["reason"].as_str())
        .collect();
    for reason in ["missing", "unknown_token", "wrong_role"] {
        assert!(reasons.contains(&reason), "{reasons:?}");
    }
    // Refusals are logged at most 20 a second; a fresh second logs this one with its name.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        unary(&channel, "/vigil.v1.Admin/Backup", Vec::new(), Some(READ)).await,
        Code::PermissionDenied
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = collector.process.log();
    for secret in [READ, ADMIN, AGENT] {
        assert!(!log.contains(secret), "a secret was logged");
    }
    assert!(log.contains("refused a call"), "refusals are logged");
    assert!(log.contains("grafana"), "with the token's name");
    let audited = log
        .lines()
        .any(|l| l.contains("audit") && l.contains("silence added") && l.contains("ops"));
    assert!(audited, "silence changes are audited with who made them");
}

/// Runs the collector with `args` and returns its exit code and stderr; it must not start.
fn refused_start(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(vigil_tests::bin("vigil-collector"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn off_loopback_the_collector_needs_tls_and_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("0.0.0.0:{}", free_port());
    let (code, stderr) = refused_start(dir.path(), &["--grpc-listen", &listen]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("server.grpc_listen") && stderr.contains("tls.cert_file"),
        "{stderr}"
    );

    // TLS alone is not enough: nobody would have to prove who they are.
    let ca = vigil_tests::certs::TestCa::new(dir.path(), "test CA");
    ca.leaf(dir.path(), "collector", "collector", &["localhost"], None);
    let config = dir.path().join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\ncert_file = \"{0}/collector.pem\"\nkey_file = \"{0}/collector.key\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let with_tls = [
        "--config",
        config.to_str().unwrap(),
        "--grpc-listen",
        &listen,
    ];
    let (code, stderr) = refused_start(dir.path(), &with_tls);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("auth.tokens")
            && stderr.contains("tls.client_ca_file")
            && stderr.contains("--allow-insecure"),
        "says what to configure: {stderr}"
    );
    assert!(!dir.path().join("data").exists(), "nothing was created");
}
