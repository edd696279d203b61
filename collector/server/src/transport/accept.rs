//! Accepting connections under a cap: [`Incoming`] yields [`Conn`]s, each holding one of
//! its listener's [`ConnectionLimit`] slots until it is dropped. A connection past the cap
//! is closed as soon as it is accepted, so the client learns at once (an agent then backs
//! off and retries) and the kernel's backlog stays free for when slots open.

use super::stats::ConnectionLimit;
use socket2::{SockRef, TcpKeepalive};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};
use tokio_stream::Stream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// TCP keepalive probes start after this much silence, so connections to machines that
/// vanished are found and their slots freed even where HTTP/2 pings are not running.
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);

/// How long accepting pauses after an error such as "too many open files": retrying at
/// once would spin while the condition lasts.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Connections refused in one poll before yielding to other tasks (a flood of refused
/// connections must not starve the runtime thread).
const REFUSALS_PER_POLL: usize = 64;

/// The connections a listener accepts, each within its [`ConnectionLimit`].
///
/// As a stream it never ends and never yields an error (accept errors are logged, counted
/// and retried after a pause), so it can be handed to tonic's `serve_with_incoming`.
pub struct Incoming {
    listener: TcpListener,
    limit: Arc<ConnectionLimit>,
    pause: Option<Pin<Box<Sleep>>>,
    silence_limit: Option<Duration>,
}

impl Incoming {
    /// Accepts on `listener`, keeping at most `limit`'s maximum open at once.
    pub fn new(listener: TcpListener, limit: Arc<ConnectionLimit>) -> Self {
        Self {
            listener,
            limit,
            pause: None,
            silence_limit: None,
        }
    }

    /// The same, closing any connection from which nothing arrives for `limit` (see
    /// [`Conn`]).
    pub fn with_silence_limit(mut self, limit: Duration) -> Self {
        self.silence_limit = Some(limit);
        self
    }

    /// A connection for `stream`, or None (and `stream` closed) when the listener is full.
    fn admit(&self, stream: TcpStream, peer: SocketAddr) -> Option<Conn> {
        let Some(slot) = self.limit.admit() else {
            self.limit.refused(peer);
            return None;
        };
        // Best effort: a socket that refuses an option still works.
        let _ = stream.set_nodelay(true);
        let _ =
            SockRef::from(&stream).set_tcp_keepalive(&TcpKeepalive::new().with_time(TCP_KEEPALIVE));
        Some(Conn {
            stream,
            peer,
            _slot: slot,
            silence: self.silence_limit.map(|limit| Silence {
                limit,
                last_read: Instant::now(),
                alarm: Box::pin(tokio::time::sleep(limit)),
                counter: self.limit.clone(),
            }),
        })
    }
}

/// Errors that concern one connection only, not the listener.
fn concerns_one_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

impl Stream for Incoming {
    type Item = io::Result<Conn>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let mut refusals = 0;
        loop {
            if let Some(pause) = this.pause.as_mut() {
                ready!(pause.as_mut().poll(cx));
                this.pause = None;
            }
            match ready!(this.listener.poll_accept(cx)) {
                Ok((stream, peer)) => match this.admit(stream, peer) {
                    Some(conn) => return Poll::Ready(Some(Ok(conn))),
                    None => {
                        refusals += 1;
                        if refusals >= REFUSALS_PER_POLL {
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                    }
                },
                Err(e) if concerns_one_connection(&e) => {}
                Err(e) => {
                    this.limit.accept_failed(&e);
                    this.pause = Some(Box::pin(tokio::time::sleep(ACCEPT_PAUSE)));
                }
            }
        }
    }
}

/// An accepted connection; its listener's slot is free again once it is dropped.
///
/// With a silence limit, a read fails with `TimedOut` once nothing has arrived for that
/// long, which closes the connection. On gRPC this only catches clients that never start
/// HTTP/2 (silent after the TLS handshake, or silent in clear text): on a live HTTP/2
/// connection the server's keepalive pings are answered well within the limit.
pub struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    _slot: OwnedSemaphorePermit,
    silence: Option<Silence>,
}

/// When a connection last sent anything, and the alarm for its silence limit.
struct Silence {
    limit: Duration,
    last_read: Instant,
    alarm: Pin<Box<Sleep>>,
    counter: Arc<ConnectionLimit>,
}

impl Silence {
    /// Called when a read is pending: Err once the connection has been silent too long,
    /// else the alarm is set to wake the reader when it will have been.
    fn check(&mut self, cx: &mut Context<'_>, peer: SocketAddr) -> io::Result<()> {
        let due = self.last_read + self.limit;
        if self.alarm.deadline() != due {
            self.alarm.as_mut().reset(due);
        }
        if self.alarm.as_mut().poll(cx).is_pending() {
            return Ok(());
        }
        self.counter
            .timed_out(peer, "nothing received within the silence limit");
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("nothing received for {:?}", self.limit),
        ))
    }
}

impl Conn {
    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        if let Some(silence) = &mut this.silence {
            match &read {
                Poll::Ready(Ok(())) if buf.filled().len() > before => {
                    silence.last_read = Instant::now();
                }
                Poll::Pending => silence.check(cx, this.peer)?,
                Poll::Ready(_) => {}
            }
        }
        read
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The same connection info as a plain `TcpStream`, so that tonic's `remote_addr()` and,
/// over TLS, `peer_certs()` (which look for `TcpConnectInfo` and
/// `TlsConnectInfo<TcpConnectInfo>`) work unchanged.
impl Connected for Conn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        TcpConnectInfo {
            local_addr: self.stream.local_addr().ok(),
            remote_addr: Some(self.peer),
        }
    }
}
