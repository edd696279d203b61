//! A hand-driven Ingest client: sends exactly the messages (or raw bytes) a test asks for
//! over real gRPC, so tests can check acknowledgements and hostile input.

use bytes::BufMut;
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Endpoint;
use tonic::{Status, Streaming};
use vigil_proto::v1::agent_message::Kind as AgentKind;
use vigil_proto::v1::collector_message::Kind;
use vigil_proto::v1::{
    Ack, AgentMessage, Batch, CollectorMessage, Hello, Label, Scrape, SeriesDefinition,
};

/// Sends pre-encoded bytes as gRPC messages; decodes CollectorMessages.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

/// Encoder half of [`RawCodec`].
#[derive(Debug)]
pub struct RawEncoder;
/// Decoder half of [`RawCodec`].
#[derive(Debug)]
pub struct MessageDecoder;

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for MessageDecoder {
    type Item = CollectorMessage;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<CollectorMessage>, Status> {
        CollectorMessage::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = CollectorMessage;
    type Encoder = RawEncoder;
    type Decoder = MessageDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> MessageDecoder {
        MessageDecoder
    }
}

/// One open Ingest stream driven by a test.
pub struct TestAgent {
    tx: mpsc::Sender<Vec<u8>>,
    inbound: Streaming<CollectorMessage>,
}

/// A Hello for `hostname`.
pub fn hello(hostname: &str) -> AgentMessage {
    AgentMessage {
        kind: Some(AgentKind::Hello(Hello {
            hostname: hostname.into(),
            os: "TestOS".into(),
            agent_version: "test".into(),
            interval_ms: 1000,
            protocol: 1,
            ..Default::default()
        })),
    }
}

/// Definitions of `name{label="<v>"}` for each value, with ids counting up from `first_id`.
pub fn numbered_series(
    first_id: u64,
    name: &str,
    label: &str,
    values: &[String],
) -> Vec<SeriesDefinition> {
    values
        .iter()
        .zip(first_id..)
        .map(|(value, id)| SeriesDefinition {
            id,
            name: name.to_owned(),
            labels: vec![Label {
                name: label.to_owned(),
                value: value.clone(),
            }],
        })
        .collect()
}

/// A series definition for [`batch`]: stream-local id, metric name, labels.
pub type Def<'a> = (u64, &'a str, &'a [(&'a str, &'a str)]);

/// A batch defining `defs` and one scrape at `ts` of (id, value).
pub fn batch(seq: u64, defs: &[Def<'_>], ts: i64, samples: &[(u64, f64)]) -> Batch {
    Batch {
        metadata: Vec::new(),
        seq,
        definitions: defs
            .iter()
            .map(|(id, name, labels)| SeriesDefinition {
                id: *id,
                name: (*name).into(),
                labels: labels
                    .iter()
                    .map(|(n, v)| Label {
                        name: (*n).into(),
                        value: (*v).into(),
                    })
                    .collect(),
            })
            .collect(),
        scrapes: vec![Scrape {
            timestamp_ms: ts,
            series_ids: samples.iter().map(|s| s.0).collect(),
            values: samples.iter().map(|s| s.1).collect(),
            packed: Vec::new(),
        }],
        sent_ms: 0,
    }
}

impl TestAgent {
    /// Opens a stream whose first message is `first` (bytes sent as they are), gzip or not.
    pub async fn open(url: &str, first: Vec<u8>, gzip: bool) -> Result<Self, Status> {
        let channel = Endpoint::from_shared(url.to_owned())
            .map_err(|e| Status::internal(e.to_string()))?
            .connect()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(64 << 20);
        if gzip {
            grpc = grpc.send_compressed(CompressionEncoding::Gzip);
        }
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let (tx, rx) = mpsc::channel(64);
        tx.send(first)
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        let path = PathAndQuery::from_static("/vigil.v1.Ingest/Stream");
        let response = grpc
            .streaming(tonic::Request::new(ReceiverStream::new(rx)), path, RawCodec)
            .await?;
        Ok(Self {
            tx,
            inbound: response.into_inner(),
        })
    }

    /// Opens a stream with a Hello for `hostname` and waits for the Welcome.
    pub async fn connect(url: &str, hostname: &str) -> Result<Self, Status> {
        let mut agent = Self::open(url, hello(hostname).encode_to_vec(), true).await?;
        match agent.next().await? {
            Some(CollectorMessage {
                kind: Some(Kind::Welcome(_)),
            }) => Ok(agent),
            other => Err(Status::internal(format!(
                "expected a Welcome, got {other:?}"
            ))),
        }
    }

    /// Sends raw bytes as one message.
    pub async fn send_raw(&self, bytes: Vec<u8>) {
        let _ = self.tx.send(bytes).await;
    }

    /// Sends a batch and waits for the next message, which must be its Ack.
    pub async fn batch(&mut self, batch: Batch) -> Result<Ack, Status> {
        let seq = batch.seq;
        self.send_raw(
            AgentMessage {
                kind: Some(AgentKind::Batch(batch)),
            }
            .encode_to_vec(),
        )
        .await;
        match self.next().await? {
            Some(CollectorMessage {
                kind: Some(Kind::Ack(ack)),
            }) if ack.seq == seq => Ok(ack),
            other => Err(Status::internal(format!(
                "expected the Ack of batch {seq}, got {other:?}"
            ))),
        }
    }

    /// The next message from the collector (None when the stream ended cleanly).
    pub async fn next(&mut self) -> Result<Option<CollectorMessage>, Status> {
        tokio::time::timeout(std::time::Duration::from_secs(20), self.inbound.message())
            .await
            .map_err(|_| Status::deadline_exceeded("no message from the collector within 20 s"))?
    }
}
