//! The reconnect path against an in-process fake collector that breaks streams and refuses
//! new ones on request: every generated batch must arrive, re-sent in order on a new
//! stream that defines its series afresh.

use super::*;
use crate::loadgen::fleet::FleetSpec;
use crate::loadgen::report::Report;
use std::collections::{BTreeSet, HashSet};
use std::pin::Pin;
use std::sync::Mutex;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use vigil_proto::v1::ingest_server::{Ingest, IngestServer};
use vigil_proto::v1::{Ack, Welcome};

/// What the fake collector does wrong.
#[derive(Debug, Default)]
struct Faults {
    /// Refuse this many stream opens (UNAVAILABLE, as a collector still starting).
    refuse_opens: usize,
    /// On each host's first stream: end it with UNAVAILABLE when this many batches (1-based)
    /// have arrived, after storing the last and before acknowledging it.
    break_at: Option<usize>,
    /// Then refuse this many opens more.
    refuse_after_break: usize,
}

/// One stream as the fake saw it.
#[derive(Debug, Clone)]
struct StreamSeen {
    host: String,
    /// Per batch: its seq and how many series it defined.
    batches: Vec<(u64, usize)>,
}

#[derive(Debug, Default)]
struct Seen {
    streams: Vec<StreamSeen>,
    /// Host and timestamp of every scrape stored (duplicates included).
    stored: Vec<(String, i64)>,
    /// Protocol violations: a series used before its definition on that stream.
    violations: Vec<String>,
    refused: usize,
}

#[derive(Clone, Default)]
struct Fake {
    faults: Arc<Mutex<Faults>>,
    seen: Arc<Mutex<Seen>>,
    broken: Arc<Mutex<HashSet<String>>>,
}

type Outbound = Pin<Box<dyn Stream<Item = Result<CollectorMessage, Status>> + Send>>;

#[tonic::async_trait]
impl Ingest for Fake {
    type StreamStream = Outbound;

    async fn stream(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Outbound>, Status> {
        {
            let mut f = self.faults.lock().unwrap();
            if f.refuse_opens > 0 {
                f.refuse_opens -= 1;
                self.seen.lock().unwrap().refused += 1;
                return Err(Status::unavailable("fake collector: starting up"));
            }
        }
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(64);
        let fake = self.clone();
        tokio::spawn(async move {
            let Ok(Some(AgentMessage {
                kind: Some(AgentKind::Hello(hello)),
            })) = inbound.message().await
            else {
                return;
            };
            let host = hello.hostname;
            let welcome = CollectorMessage {
                kind: Some(CollectorKind::Welcome(Welcome {
                    host: host.clone(),
                    ..Default::default()
                })),
            };
            if tx.send(Ok(welcome)).await.is_err() {
                return;
            }
            let break_at = {
                let first = fake.broken.lock().unwrap().insert(host.clone());
                fake.faults.lock().unwrap().break_at.filter(|_| first)
            };
            let stream = {
                let mut seen = fake.seen.lock().unwrap();
                seen.streams.push(StreamSeen {
                    host: host.clone(),
                    batches: Vec::new(),
                });
                seen.streams.len() - 1
            };
            let mut defined = HashSet::new();
            while let Ok(Some(message)) = inbound.message().await {
                let Some(AgentKind::Batch(batch)) = message.kind else {
                    return;
                };
                let mut samples = 0;
                let broke = {
                    let mut seen = fake.seen.lock().unwrap();
                    defined.extend(batch.definitions.iter().map(|d| d.id));
                    for s in &batch.scrapes {
                        if let Some(id) = s.series_ids.iter().find(|id| !defined.contains(id)) {
                            seen.violations
                                .push(format!("{host}: series {id} not defined on this stream"));
                        }
                        samples += s.values.len() as u64;
                        seen.stored.push((host.clone(), s.timestamp_ms));
                    }
                    let batches = &mut seen.streams[stream].batches;
                    batches.push((batch.seq, batch.definitions.len()));
                    let broke = break_at == Some(batches.len());
                    if broke {
                        let mut f = fake.faults.lock().unwrap();
                        f.refuse_opens += std::mem::take(&mut f.refuse_after_break);
                    }
                    broke
                };
                if broke {
                    let _ = tx
                        .send(Err(Status::unavailable("fake collector: broke")))
                        .await;
                    return;
                }
                let ack = CollectorMessage {
                    kind: Some(CollectorKind::Ack(Ack {
                        seq: batch.seq,
                        accepted_samples: samples,
                        ..Default::default()
                    })),
                };
                if tx.send(Ok(ack)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// Starts `fake` on a loopback port; its URL.
fn serve(fake: Fake) -> String {
    let incoming = tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().unwrap())
        .expect("bind a loopback port");
    let addr = incoming.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder().serve_with_incoming(IngestServer::new(fake), incoming),
    );
    format!("http://{addr}")
}

fn plan(url: &str, hosts: u32, interval_ms: i64, backfill: i64, live: i64) -> Plan {
    // Live steps start now; backfill steps lie before.
    let start_ms = crate::now_ms() - backfill * interval_ms;
    Plan {
        endpoint: Endpoint::from_shared(url.to_owned()).unwrap(),
        fleet: Fleet::new(FleetSpec {
            hosts,
            series_per_host: 10,
            interval_ms,
            jitter_ms: 0,
            seed: 3,
            start_ms,
        }),
        backfill_steps: backfill,
        live_steps: live,
        concurrency: 4,
        in_flight: 4,
        batch_samples: 10,
        token: String::new(),
        gzip: false,
        ramp: Duration::ZERO,
        ack_timeout: Duration::from_secs(60),
        reconnect: Some(Reconnect {
            backoff_initial: Duration::from_millis(2),
            backoff_max: Duration::from_millis(8),
            give_up: Duration::from_secs(60),
        }),
        first_host: 0,
    }
}

async fn go(plan: Plan) -> Report {
    let stats = Arc::new(Stats::default());
    stats.begin();
    let errors = run(Arc::new(plan), stats.clone()).await;
    stats.report(errors)
}

/// Every host's streams in order, as the seqs they carried and the definitions of each.
fn streams_of(seen: &Seen, host: &str) -> Vec<Vec<(u64, usize)>> {
    seen.streams
        .iter()
        .filter(|s| s.host == host)
        .map(|s| s.batches.clone())
        .collect()
}

/// Every distinct timestamp stored for `host`.
fn stored(seen: &Seen, host: &str) -> BTreeSet<i64> {
    seen.stored
        .iter()
        .filter(|(h, _)| h == host)
        .map(|(_, t)| *t)
        .collect()
}

#[tokio::test]
async fn a_broken_stream_is_reopened_and_the_unacknowledged_batches_resent_in_order() {
    let fake = Fake::default();
    fake.faults.lock().unwrap().break_at = Some(3);
    let url = serve(fake.clone());
    let report = go(plan(&url, 2, 10_000, 12, 0)).await;

    assert_eq!(report.errors, Vec::<String>::new());
    assert_eq!(report.backfill.generated, 2 * 12 * 10);
    assert_eq!(report.backfill.acked, report.backfill.generated);
    assert_eq!(report.lost(), 0);
    let r = &report.reconnect;
    assert_eq!((r.failures, r.reconnects, r.recovering), (2, 2, 0));
    assert!(r.resent_batches >= 2, "batch 2 of each host was in flight");
    assert_eq!(r.storms.len(), 1);
    assert!(r.storms[0].end_s.is_some(), "the storm ended");

    let seen = fake.seen.lock().unwrap();
    assert_eq!(seen.violations, Vec::<String>::new());
    for host in ["host-00000", "host-00001"] {
        let streams = streams_of(&seen, host);
        assert_eq!(streams.len(), 2, "{host}: one broken stream, one more");
        let first: Vec<u64> = streams[0].iter().map(|b| b.0).collect();
        assert_eq!(first, [0, 1, 2], "{host}: broken at the third batch");
        let second: Vec<u64> = streams[1].iter().map(|b| b.0).collect();
        assert_eq!(
            second,
            (2..12).collect::<Vec<u64>>(),
            "{host}: from batch 2 on, in order"
        );
        assert_eq!(
            streams[1][0].1, 10,
            "{host}: the new stream defines every series again"
        );
        assert_eq!(stored(&seen, host).len(), 12, "{host}: every scrape stored");
    }
}

#[tokio::test]
async fn live_scrapes_made_while_the_collector_is_down_are_spooled_and_all_arrive() {
    let fake = Fake::default();
    {
        let mut f = fake.faults.lock().unwrap();
        f.break_at = Some(2);
        f.refuse_after_break = 4;
    }
    let url = serve(fake.clone());
    let mut plan = plan(&url, 1, 20, 0, 12);
    plan.reconnect = Some(Reconnect {
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(40),
        give_up: Duration::from_secs(60),
    });
    let report = go(plan).await;

    assert_eq!(report.errors, Vec::<String>::new());
    assert_eq!(report.live.generated, 12 * 10);
    assert_eq!(report.live.acked, 12 * 10);
    assert_eq!(report.lost(), 0);
    let r = &report.reconnect;
    assert_eq!((r.failures, r.reconnects, r.attempts), (5, 1, 5));
    assert_eq!(r.recovering, 0);

    let seen = fake.seen.lock().unwrap();
    assert_eq!(seen.refused, 4);
    assert_eq!(seen.violations, Vec::<String>::new());
    let streams = streams_of(&seen, "host-00000");
    assert_eq!(streams.len(), 2);
    let second: Vec<u64> = streams[1].iter().map(|b| b.0).collect();
    assert_eq!(
        second,
        (1..12).collect::<Vec<u64>>(),
        "from batch 1 on, in order"
    );
    assert_eq!(streams[1][0].1, 10);
    assert_eq!(stored(&seen, "host-00000").len(), 12);
}

#[tokio::test]
async fn without_reconnect_a_broken_stream_ends_the_host_and_its_samples_are_lost() {
    let fake = Fake::default();
    fake.faults.lock().unwrap().break_at = Some(3);
    let url = serve(fake.clone());
    let mut plan = plan(&url, 1, 10_000, 12, 0);
    plan.reconnect = None;
    let report = go(plan).await;

    assert_eq!(report.errors.len(), 1);
    assert!(
        report.errors[0].starts_with("host-00000: "),
        "{:?}",
        report.errors
    );
    assert!(report.errors[0].contains("broke"), "{:?}", report.errors);
    assert_eq!(report.backfill.acked, 2 * 10);
    assert!(report.lost() > 0);
    assert_eq!(report.reconnect.failures, 1);
    assert_eq!(report.reconnect.reconnects, 0);
    assert!(report.reconnect.storms.is_empty(), "no reconnect, no storm");
}

#[tokio::test]
async fn a_host_without_a_stream_for_reconnect_for_gives_up() {
    let fake = Fake::default();
    fake.faults.lock().unwrap().refuse_opens = usize::MAX;
    let url = serve(fake.clone());
    let mut plan = plan(&url, 1, 10, 0, 3);
    plan.reconnect = Some(Reconnect {
        backoff_initial: Duration::from_millis(1),
        backoff_max: Duration::from_millis(4),
        give_up: Duration::from_millis(50),
    });
    let report = go(plan).await;

    assert_eq!(report.errors.len(), 1);
    assert!(report.errors[0].contains("gave up"), "{:?}", report.errors);
    assert!(
        report.errors[0].contains("starting up"),
        "{:?}",
        report.errors
    );
    assert_eq!(report.live.acked, 0);
    assert_eq!(report.lost(), report.live.generated);
    assert_eq!(report.reconnect.recovering, 1);
    assert!(report.reconnect.storms[0].end_s.is_none());
}
