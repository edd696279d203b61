//! A remote write receiver inside the test process: the recording [`HttpReceiver`] of the
//! notification tests, with every request body read back as a Prometheus `WriteRequest`
//! (snappy block format around protobuf, remote write 1.0). It answers as told, such as
//! 400 with a message to every request, so a test can check what a sender does with it.
//!
//! The protobuf messages are declared here (only the fields a check needs) rather than
//! taken from the collector, so that a test sees the bytes as any receiver would.

use crate::notify_servers::{HttpReceiver, ReceivedRequest};
use std::collections::BTreeMap;

/// `prometheus.WriteRequest`, as far as the checks go: the series.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series with their samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// The label set, `__name__` included, in the order sent.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// The samples, in the order sent.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Label {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// Value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Unix milliseconds.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

impl TimeSeries {
    /// The labels as a map (a repeated name keeps its last value).
    pub fn label_map(&self) -> BTreeMap<String, String> {
        self.labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect()
    }
}

impl WriteRequest {
    /// Samples in the request.
    pub fn sample_count(&self) -> usize {
        self.timeseries.iter().map(|s| s.samples.len()).sum()
    }
}

/// Reads a request body: snappy block format, then protobuf.
pub fn decode(body: &[u8]) -> Result<WriteRequest, String> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("not snappy block data: {e}"))?;
    <WriteRequest as prost::Message>::decode(raw.as_slice())
        .map_err(|e| format!("not a WriteRequest: {e}"))
}

/// Encodes `request` as a sender does (protobuf in snappy block format).
pub fn encode(request: &WriteRequest) -> Vec<u8> {
    let raw = prost::Message::encode_to_vec(request);
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("a byte slice always compresses")
}

/// One request as received, with its body read.
#[derive(Debug, Clone)]
pub struct Write {
    /// The HTTP request (method, path, headers, raw body, arrival).
    pub request: ReceivedRequest,
    /// The decoded body.
    pub body: WriteRequest,
}

/// A recording remote write endpoint on 127.0.0.1; stopped when dropped.
pub struct RemoteReceiver {
    /// The HTTP server underneath (answers, down/up).
    pub http: HttpReceiver,
}

impl Default for RemoteReceiver {
    fn default() -> Self {
        Self::start()
    }
}

impl RemoteReceiver {
    /// Starts it, answering 204 to every request.
    pub fn start() -> Self {
        let http = HttpReceiver::start();
        http.set_response(204, "");
        Self { http }
    }

    /// Starts it answering `status` with `message` to every request.
    pub fn refusing(status: u16, message: &str) -> Self {
        let http = HttpReceiver::start();
        http.set_response(status, message);
        Self { http }
    }

    /// `http://127.0.0.1:<port>/api/v1/write`.
    pub fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.http.url())
    }

    /// Every request so far, oldest first, decoded; panics naming the request that is not
    /// a remote write body.
    pub fn writes(&self) -> Vec<Write> {
        self.http
            .requests()
            .into_iter()
            .enumerate()
            .map(|(i, request)| {
                let body = decode(&request.body)
                    .unwrap_or_else(|e| panic!("request {i} to the remote write receiver: {e}"));
                Write { request, body }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(url: &str, body: Vec<u8>) -> (u16, String) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = crate::http_client().build().unwrap();
        runtime.block_on(async {
            let r = client.post(url).body(body).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    }

    fn one_series() -> WriteRequest {
        WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![
                    Label {
                        name: "__name__".into(),
                        value: "x".into(),
                    },
                    Label {
                        name: "site".into(),
                        value: "a".into(),
                    },
                ],
                samples: vec![
                    Sample {
                        value: 1.5,
                        timestamp: 1000,
                    },
                    Sample {
                        value: 2.5,
                        timestamp: 2000,
                    },
                ],
            }],
        }
    }

    #[test]
    fn records_and_decodes_and_answers_as_told() {
        let receiver = RemoteReceiver::refusing(400, "out of order sample");
        let sent = one_series();
        assert_eq!(
            post(&receiver.write_url(), encode(&sent)),
            (400, "out of order sample".to_owned())
        );
        let writes = receiver.writes();
        assert_eq!(writes.len(), 1);
        assert_eq!(writes[0].body, sent);
        assert_eq!(writes[0].body.sample_count(), 2);
        assert_eq!(writes[0].body.timeseries[0].label_map()["site"], "a");
        assert_eq!(writes[0].request.path, "/api/v1/write");
        receiver.http.set_response(204, "");
        assert_eq!(post(&receiver.write_url(), encode(&sent)).0, 204);
    }

    #[test]
    fn a_body_that_is_not_snappy_is_named() {
        assert!(decode(b"plain text").unwrap_err().contains("snappy"));
    }
}
