//! The connection to the collector (every call carrying the token, if one is given), its
//! `Query` service, and the one place where transport failures and refusals become
//! messages a person can act on.

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use std::path::PathBuf;
use tonic::codec::CompressionEncoding;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use vigil_proto::v1::query_client::QueryClient;
use vigil_proto::v1::{
    Host, HostsRequest, InstantQueryRequest, QueryResult, RangeQueryRequest, SeriesRequest,
    SeriesResponse,
};

use super::auth::{self, Bearer, Source, Token};
use super::error::Error;

/// Largest response message accepted, decompressed. A query result is one message, and a
/// long range over many series is big; tonic's 4 MiB default is too small.
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// How long to wait for the TCP (and TLS) handshake before giving up on the collector.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The connection to the collector as every client uses it: each call carries the token's
/// `authorization: Bearer` metadata when a token is given.
pub type Connection = InterceptedService<Channel, Bearer>;

/// Where the collector is, how to speak TLS to it, and the token to present.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// Collector URL (`http://` or `https://`; a bare `host:port` means `http://`).
    pub url: String,
    /// CA certificate for an `https://` collector.
    pub ca_cert: Option<PathBuf>,
    /// Client certificate and key, when the collector asks for one.
    pub identity: Option<(PathBuf, PathBuf)>,
    /// Token for every call, when the collector requires one.
    pub token: Option<Token>,
}

impl Target {
    /// The error for a status the collector answered a call with: refusals of the token say
    /// what to do about it (see [`auth::refusal`]); other statuses are shown as they are.
    pub fn refusal(&self, status: tonic::Status) -> Error {
        auth::refusal(self.token_source(), status)
    }

    /// Where the token came from, when one is given.
    fn token_source(&self) -> Option<&Source> {
        self.token.as_ref().map(|t| &t.source)
    }
}

/// A connected `Query` client that remembers its URL, for error messages. Clones share the
/// connection, so several queries can be in flight at once.
#[derive(Clone)]
pub struct Collector {
    url: String,
    /// Where the token came from, for messages about refusals.
    token_source: Option<Source>,
    client: QueryClient<Connection>,
    /// The connection, shared with clients of the collector's other services.
    channel: Connection,
}

impl Collector {
    /// Connects to the collector at `url` (`http://host:port`; a bare `host:port` means
    /// `http://`). Fails with [`Error::Unreachable`] when nothing answers there, and with
    /// [`Error::ClearText`] (before connecting) when a token would cross the network
    /// unencrypted.
    pub async fn connect(target: &Target) -> Result<Self, Error> {
        let url = target.url.as_str();
        let url = if url.contains("://") || url.starts_with("unix:") {
            url.to_owned()
        } else {
            format!("http://{url}")
        };
        let invalid = |reason: String| Error::InvalidUrl {
            url: url.clone(),
            reason,
        };
        let endpoint = Endpoint::from_shared(url.clone())
            .map_err(|e| invalid(innermost(&e)))?
            .connect_timeout(CONNECT_TIMEOUT);
        if let Some(token) = &target.token
            && !url.starts_with("unix:")
            && auth::clear_text_to_network(endpoint.uri())
        {
            return Err(Error::ClearText {
                url,
                from: token.source.to_string(),
            });
        }
        let endpoint = if endpoint.uri().scheme_str() == Some("https") {
            let read = |what: &str, path: &PathBuf| {
                std::fs::read(path)
                    .map_err(|e| invalid(format!("cannot read {what} {}: {e}", path.display())))
            };
            let Some(ca) = &target.ca_cert else {
                return Err(invalid(
                    "an https:// collector needs --ca-cert FILE (or VIGIL_CA_CERT): the CA that signed its certificate"
                        .to_owned(),
                ));
            };
            let mut tls = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(read("--ca-cert", ca)?));
            if let Some((cert, key)) = &target.identity {
                tls = tls.identity(Identity::from_pem(
                    read("--cert", cert)?,
                    read("--key", key)?,
                ));
            }
            endpoint
                .tls_config(tls)
                .map_err(|e| invalid(innermost(&e)))?
        } else {
            endpoint
        };
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| cannot_reach(&url, &e))?;
        let channel = InterceptedService::new(channel, Bearer::new(target.token.as_ref()));
        let client = QueryClient::new(channel.clone())
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(MAX_MESSAGE_BYTES);
        Ok(Collector {
            url,
            token_source: target.token_source().cloned(),
            client,
            channel,
        })
    }

    /// The connection, for a client of another service on the same collector (Import,
    /// Rules, Notify, Admin, Forecast); its calls carry the token too.
    pub fn channel(&self) -> Connection {
        self.channel.clone()
    }

    /// The host registry, ordered by host name.
    pub async fn hosts(&mut self) -> Result<Vec<Host>, Error> {
        let response = self.client.hosts(HostsRequest {}).await;
        Ok(response.map_err(|s| self.status(s))?.into_inner().hosts)
    }

    /// Series matching `selector`; `limit` 0 means the collector's limit.
    pub async fn series(&mut self, selector: &str, limit: u64) -> Result<SeriesResponse, Error> {
        let request = SeriesRequest {
            selector: selector.to_owned(),
            limit,
        };
        let response = self.client.series(request).await;
        Ok(response.map_err(|s| self.status(s))?.into_inner())
    }

    /// The value of the PromQL expression `expr` at `time_ms`.
    pub async fn instant(&mut self, expr: &str, time_ms: i64) -> Result<QueryResult, Error> {
        let request = InstantQueryRequest {
            expr: expr.to_owned(),
            time_ms,
        };
        let response = self.client.instant(request).await;
        Ok(response.map_err(|s| self.status(s))?.into_inner())
    }

    /// The values of the PromQL expression `expr` at every `step_ms` from `start_ms` to
    /// `end_ms`: always a matrix.
    pub async fn range(
        &mut self,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, Error> {
        let request = RangeQueryRequest {
            expr: expr.to_owned(),
            start_ms,
            end_ms,
            step_ms,
        };
        let response = self.client.range(request).await;
        Ok(response.map_err(|s| self.status(s))?.into_inner())
    }

    /// A status from a call: the collector's own answer (a refused token explained, see
    /// [`auth::refusal`]), or, when the connection broke (say the collector stopped after
    /// we connected), "cannot reach".
    fn status(&self, status: tonic::Status) -> Error {
        let transport_failed = status.code() == tonic::Code::Unavailable
            && chain(&status).any(|e| e.downcast_ref::<io::Error>().is_some());
        if transport_failed {
            cannot_reach(&self.url, &status)
        } else if status.code() == tonic::Code::Unimplemented && status.message().is_empty() {
            // tonic's answer to a method the server does not have.
            Error::from(tonic::Status::unimplemented(format!(
                "the collector at {} does not know this request: it is older than this \
                 vigil; upgrade vigil-collector",
                self.url
            )))
        } else {
            auth::refusal(self.token_source.as_ref(), status)
        }
    }
}

/// [`Error::Unreachable`] with the most telling reason found in `err`'s source chain.
fn cannot_reach(url: &str, err: &(dyn StdError + 'static)) -> Error {
    let io_kind = chain(err).find_map(|e| e.downcast_ref::<io::Error>().map(io::Error::kind));
    let reason = match io_kind {
        Some(io::ErrorKind::ConnectionRefused) => "connection refused".to_owned(),
        Some(io::ErrorKind::ConnectionReset) => "connection reset".to_owned(),
        Some(io::ErrorKind::TimedOut) => "connection timed out".to_owned(),
        _ => {
            let reason = innermost(err);
            if reason.contains("timeout expired") || reason.contains("timed out") {
                format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())
            } else {
                reason
            }
        }
    };
    Error::Unreachable {
        url: url.to_owned(),
        reason,
    }
}

/// `err` and its sources, outermost first.
fn chain<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |&e| e.source())
}

/// The message of the deepest source: tonic's outer errors only say "transport error".
fn innermost(err: &(dyn StdError + 'static)) -> String {
    chain(err)
        .last()
        .map_or_else(String::new, ToString::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(url: &str) -> Target {
        Target {
            url: url.to_owned(),
            ..Target::default()
        }
    }

    #[tokio::test]
    async fn https_without_a_ca_says_which_flag_to_add() {
        let err = Collector::connect(&plain("https://collector.example:7070"))
            .await
            .err()
            .expect("no CA");
        assert!(err.to_string().contains("--ca-cert"), "{err}");
        assert_eq!(err.exit_code(), 2);
        let target = Target {
            ca_cert: Some("/nonexistent/ca.pem".into()),
            ..plain("https://c:7070")
        };
        let err = Collector::connect(&target)
            .await
            .err()
            .expect("unreadable CA");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[tokio::test]
    async fn refused_connection_is_reported_plainly() {
        // Bind then drop a listener to get a local port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind a local port")
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let err = Collector::connect(&plain(&url))
            .await
            .err()
            .expect("nothing listens");
        assert_eq!(
            err.to_string(),
            format!(
                "cannot reach the collector at {url}: connection refused \
                 (is vigil-collector running? set --collector or VIGIL_COLLECTOR)"
            )
        );
        assert_eq!(err.exit_code(), 1);
    }

    #[tokio::test]
    async fn bare_host_port_means_http() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind a local port")
            .port();
        let err = Collector::connect(&plain(&format!("127.0.0.1:{port}")))
            .await
            .err()
            .expect("nothing listens");
        assert!(
            err.to_string().starts_with(&format!(
                "cannot reach the collector at http://127.0.0.1:{port}: "
            )),
            "{err}"
        );
    }

    #[tokio::test]
    async fn malformed_url_is_a_usage_error() {
        let err = Collector::connect(&plain("http://exa mple:7070"))
            .await
            .err()
            .expect("not a URL");
        assert!(
            err.to_string()
                .starts_with("invalid collector URL \"http://exa mple:7070\": "),
            "{err}"
        );
        assert_eq!(err.exit_code(), 2);
    }
}
