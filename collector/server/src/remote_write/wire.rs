//! Prometheus remote write 1.0 on the wire: the protobuf messages (`prometheus.WriteRequest`
//! and the types it names, from the specification's `remote.proto` and `types.proto`;
//! only the fields 1.0 defines), and the snappy block framing around them.
//!
//! A request is `POST` with `Content-Type: application/x-protobuf`,
//! `Content-Encoding: snappy` and `X-Prometheus-Remote-Write-Version: 0.1.0`; its body is a
//! `WriteRequest` in snappy's block format (not the framed stream format). Labels of a
//! series are sorted by name and a series' samples by time.

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series with their samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    /// Metric metadata (type, help, unit); optional in 1.0.
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// `prometheus.TimeSeries`: labels sorted by name, samples by time.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// The label set, `__name__` included.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// The samples.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Label {
    /// The label's name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Unix milliseconds.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `prometheus.MetricMetadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    /// `MetricType`: 0 unknown, 1 counter, 2 gauge, 3 histogram, 4 gaugehistogram,
    /// 5 summary, 6 info, 7 stateset.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    /// The metric family's name.
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    /// Its help text.
    #[prost(string, tag = "4")]
    pub help: String,
    /// Its unit.
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// The version header's name and the value 1.0 sends.
pub const VERSION_HEADER: (&str, &str) = ("X-Prometheus-Remote-Write-Version", "0.1.0");

/// Encodes `request` and compresses it in snappy's block format: a request body.
pub fn encode(request: &WriteRequest) -> Vec<u8> {
    let raw = prost::Message::encode_to_vec(request);
    // Compressing a byte slice into a buffer sized by `max_compress_len` cannot fail.
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not snappy block data.
    #[error("the body is not snappy-compressed (block format): {0}")]
    Snappy(String),
    /// It would decompress to more than the limit: refused before decompressing.
    #[error(
        "the body decompresses to {size} bytes, over the limit of {limit} \
         (limits.max_message_bytes); send smaller batches"
    )]
    TooLarge {
        /// The size its header announces.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not a WriteRequest.
    #[error("the body is not a Prometheus WriteRequest: {0}")]
    Protobuf(String),
}

/// Decompresses and decodes a request body, refusing before any allocation one that
/// announces more than `max_bytes` decompressed (a decompression bomb costs nothing).
pub fn decode(body: &[u8], max_bytes: usize) -> Result<WriteRequest, DecodeError> {
    let size = snap::raw::decompress_len(body).map_err(|e| DecodeError::Snappy(e.to_string()))?;
    if size > max_bytes {
        return Err(DecodeError::TooLarge {
            size,
            limit: max_bytes,
        });
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| DecodeError::Snappy(e.to_string()))?;
    <WriteRequest as prost::Message>::decode(raw.as_slice())
        .map_err(|e| DecodeError::Protobuf(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> WriteRequest {
        WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![
                    Label {
                        name: "__name__".into(),
                        value: "up".into(),
                    },
                    Label {
                        name: "job".into(),
                        value: "node".into(),
                    },
                ],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: 1_700_000_000_000,
                }],
            }],
            metadata: vec![],
        }
    }

    #[test]
    fn a_body_reads_back() {
        let body = encode(&request());
        assert_eq!(decode(&body, 1 << 20), Ok(request()));
    }

    #[test]
    fn bad_bodies_say_what_is_wrong() {
        assert!(matches!(
            decode(b"not snappy", 1 << 20),
            Err(DecodeError::Snappy(_))
        ));
        let bomb = snap::raw::Encoder::new()
            .compress_vec(&vec![0u8; 10 << 20])
            .unwrap();
        assert_eq!(
            decode(&bomb, 1 << 20),
            Err(DecodeError::TooLarge {
                size: 10 << 20,
                limit: 1 << 20
            })
        );
        let garbage = snap::raw::Encoder::new().compress_vec(&[0xff; 64]).unwrap();
        assert!(matches!(
            decode(&garbage, 1 << 20),
            Err(DecodeError::Protobuf(_))
        ));
    }
}
