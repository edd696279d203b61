//! A TCP proxy on loopback that injects network faults between an agent and the collector:
//! it forwards bytes both ways until told to stall the connections open now (they stay
//! open, with no FIN and no data, as behind a dead NAT or a cable pulled mid-route) or to
//! cut them (both directions shut down at once, in the middle of whatever was being sent).
//! Connections opened after a fault are forwarded normally. It can also delay every byte
//! by a fixed time each way (a long, slow route), on every connection until told otherwise. (Debian's kernel here has no
//! `sch_netem`, so the tests inject faults with this proxy instead of `tc`.)

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One forwarded connection: both sockets, and whether it is stalled.
struct Link {
    client: TcpStream,
    server: TcpStream,
    stalled: Arc<AtomicBool>,
}

/// The proxy; stops forwarding (and closes every connection) when dropped.
pub struct FaultProxy {
    /// The port it listens on.
    pub port: u16,
    links: Arc<Mutex<Vec<Link>>>,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    /// Milliseconds every byte waits in the proxy, each way.
    delay_ms: Arc<AtomicU64>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards each connection to `127.0.0.1:target`.
    pub fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let links: Arc<Mutex<Vec<Link>>> = Arc::default();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (l, a, s, d) = (
            links.clone(),
            accepted.clone(),
            stop.clone(),
            delay_ms.clone(),
        );
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                client.set_nonblocking(false).unwrap();
                a.fetch_add(1, Ordering::Relaxed);
                let stalled = Arc::new(AtomicBool::new(false));
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (from, to) = (from.try_clone().unwrap(), to.try_clone().unwrap());
                    let (stalled, stop, delay) = (stalled.clone(), s.clone(), d.clone());
                    std::thread::spawn(move || pipe(from, to, &stalled, &stop, delay));
                }
                l.lock().unwrap().push(Link {
                    client,
                    server,
                    stalled,
                });
            }
        });
        Self {
            port,
            links,
            accepted,
            stop,
            delay_ms,
        }
    }

    /// Delays every byte by `by` each way from now on, on every connection (zero: none).
    pub fn delay(&self, by: Duration) {
        self.delay_ms
            .store(by.as_millis() as u64, Ordering::Relaxed);
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Stops forwarding on every connection open now, leaving them open.
    pub fn stall(&self) {
        for link in self.links.lock().unwrap().iter() {
            link.stalled.store(true, Ordering::Relaxed);
        }
    }

    /// Shuts down every connection open now, both ways.
    pub fn cut(&self) {
        for link in self.links.lock().unwrap().drain(..) {
            let _ = link.client.shutdown(Shutdown::Both);
            let _ = link.server.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.cut();
    }
}

/// Copies `from` to `to` until either ends, each chunk `delay` milliseconds after it was
/// read (a writer thread of its own waits, so a delay costs latency, not throughput); once
/// `stalled`, neither reads nor writes (the bytes wait in the kernel's buffers) until `stop`.
fn pipe(
    mut from: TcpStream,
    to: TcpStream,
    stalled: &AtomicBool,
    stop: &AtomicBool,
    delay: Arc<AtomicU64>,
) {
    from.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let (send, chunks) = std::sync::mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = {
        let mut to = to.try_clone().unwrap();
        std::thread::spawn(move || {
            for (due, chunk) in chunks {
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                if to.write_all(&chunk).is_err() {
                    break;
                }
            }
        })
    };
    let mut buf = [0u8; 16 * 1024];
    while !stop.load(Ordering::Relaxed) {
        if stalled.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if stalled.load(Ordering::Relaxed) {
                    // Read just as the stall began: drop it, as a dead route would.
                    continue;
                }
                let due = Instant::now() + Duration::from_millis(delay.load(Ordering::Relaxed));
                if send.send((due, buf[..n].to_vec())).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    // What was read goes out before the end of the stream.
    drop(send);
    let _ = writer.join();
    let _ = to.shutdown(Shutdown::Write);
}
