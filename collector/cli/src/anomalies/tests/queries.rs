//! [`fetch`] and [`watched`] against a fake collector's Query service: which queries are
//! asked, at what times, and the collector's refusals worded as for every command.

use std::sync::{Arc, Mutex};

use tonic::{Code, Request, Response, Status};
use vigil_proto::v1::query_server::{Query, QueryServer};
use vigil_proto::v1::{
    HostsRequest, HostsResponse, InstantQueryRequest, RangeQueryRequest, SamplesRequest,
    SeriesRequest, SeriesResponse,
};

use super::*;

/// A Query service answering with the fixture's results, by the shape of the expression.
#[derive(Clone, Default)]
struct Fake {
    /// Every query, as `instant EXPR @ TIME` or `range EXPR START..END/STEP`.
    asked: Arc<Mutex<Vec<String>>>,
    /// No series scores: the peaks query answers an empty vector.
    quiet: bool,
    /// Refuse every query with this code and message.
    refusal: Option<(Code, &'static str)>,
}

impl Fake {
    fn answer(&self, asked: String, result: QueryResult) -> Result<Response<QueryResult>, Status> {
        self.asked.lock().expect("not poisoned").push(asked);
        match self.refusal {
            Some((code, message)) => Err(Status::new(code, message)),
            None => Ok(Response::new(result)),
        }
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().expect("not poisoned").clone()
    }
}

#[tonic::async_trait]
impl Query for Fake {
    async fn hosts(&self, _: Request<HostsRequest>) -> Result<Response<HostsResponse>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }

    async fn series(&self, _: Request<SeriesRequest>) -> Result<Response<SeriesResponse>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }

    type SamplesStream = tokio_stream::Empty<Result<SeriesSamples, Status>>;

    async fn samples(
        &self,
        _: Request<SamplesRequest>,
    ) -> Result<Response<Self::SamplesStream>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }

    async fn instant(
        &self,
        request: Request<InstantQueryRequest>,
    ) -> Result<Response<QueryResult>, Status> {
        let r = request.into_inner();
        let result = if r.expr.starts_with("count(") {
            vector(vec![series(&[], &[(r.time_ms, 6.0)])])
        } else if self.quiet {
            vector(vec![])
        } else {
            peaks()
        };
        self.answer(format!("instant {} @ {}", r.expr, r.time_ms), result)
    }

    async fn range(
        &self,
        request: Request<RangeQueryRequest>,
    ) -> Result<Response<QueryResult>, Status> {
        let r = request.into_inner();
        let result = if r.expr.starts_with("max_over_time(") {
            scores()
        } else {
            bands()
        };
        let asked = format!(
            "range {} {}..{}/{}",
            r.expr, r.start_ms, r.end_ms, r.step_ms
        );
        self.answer(asked, result)
    }
}

/// Serves `fake` on a loopback port and connects to it.
async fn connect(fake: Fake) -> Collector {
    let incoming =
        tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind a loopback port");
    let addr = incoming.local_addr().expect("bound");
    let service = QueryServer::new(fake)
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming),
    );
    let target = Target {
        url: format!("http://{addr}"),
        ..Target::default()
    };
    Collector::connect(&target).await.expect("the fake answers")
}

#[tokio::test]
async fn one_instant_then_two_range_queries() {
    let fake = Fake::default();
    let collector = connect(fake.clone()).await;
    let args = args(&["--at", "1795240200"]).expect("valid");
    let ranking = fetch(&collector, &args, &window()).await.expect("answered");
    assert_eq!(ranking, ranked());
    let mut asked = fake.asked();
    // The range queries run at once: either may come first.
    asked[1..].sort();
    let steps = format!("{}..{T}/60000", T - 3_600_000);
    assert_eq!(
        asked,
        [
            format!("instant max_over_time(vigil_anomaly_score[3600s]) >= 0.5 @ {T}"),
            format!(
                "range max_over_time(vigil_anomaly_score{{{}}}[60s]) {steps}",
                narrowing(&ranking.rows)
            ),
            format!("range {} {steps}", bands_expr(&ranking.rows)),
        ]
    );
}

#[tokio::test]
async fn nothing_scored_asks_no_range_query() {
    let fake = Fake {
        quiet: true,
        ..Fake::default()
    };
    let collector = connect(fake.clone()).await;
    let args = args(&["--host", "db-1", "--at", "1795240200"]).expect("valid");
    let ranking = fetch(&collector, &args, &window()).await.expect("answered");
    assert_eq!((ranking.rows.len(), ranking.total), (0, 0));
    let watched = watched(&collector, Some("db-1"), &window())
        .await
        .expect("answered");
    assert_eq!(watched, 6.0);
    assert_eq!(
        fake.asked(),
        [
            format!(
                "instant max_over_time(vigil_anomaly_score{{host=\"db-1\"}}[3600s]) >= 0.5 @ {T}"
            ),
            format!(
                "instant count(max_over_time(vigil_anomaly_score{{host=\"db-1\"}}[3600s])) @ {T}"
            ),
        ]
    );
}

#[tokio::test]
async fn refusals_read_as_for_every_command() {
    let args = args(&["--at", "1795240200"]).expect("valid");
    let refusing = |code, message| Fake {
        refusal: Some((code, message)),
        ..Fake::default()
    };
    let collector = connect(refusing(Code::Unauthenticated, "missing bearer token")).await;
    let err = fetch(&collector, &args, &window())
        .await
        .expect_err("refused");
    assert_eq!(
        err.to_string(),
        "the collector requires a token: pass --token or set VIGIL_TOKEN\n\
         (the collector said: missing bearer token)"
    );
    assert_eq!(err.exit_code(), 1);
    let collector = connect(refusing(
        Code::InvalidArgument,
        "bad_data: unknown function max_over_time",
    ))
    .await;
    let err = fetch(&collector, &args, &window())
        .await
        .expect_err("refused");
    assert_eq!(
        err.to_string(),
        "cannot evaluate \"max_over_time(vigil_anomaly_score[3600s]) >= 0.5\": bad_data: \
         unknown function max_over_time"
    );
}
