//! Misbehaving peers for fault tests: a listener that accepts and never answers, one that
//! closes after N bytes, one that answers garbage, one that drips a byte at a time, one
//! whose TLS certificate is for another name. They are fault injectors, not stand-ins for
//! the real servers.

use crate::ca::TestCa;
use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

type Behaviour = Arc<dyn Fn(TcpStream, &AtomicBool) + Send + Sync>;

/// A listener on 127.0.0.1 with one behaviour for every connection; stopped on drop.
pub struct Peer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer").field("port", &self.port).finish_non_exhaustive()
    }
}

/// Read and discard whatever the client sends until it closes or we stop (so the client's
/// writes never block or reset).
fn drain(s: &mut TcpStream, stop: &AtomicBool) {
    let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
    let mut b = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        match s.read(&mut b) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

/// Sleep up to `d`, waking early when stopping; false when stopping.
fn pause(d: Duration, stop: &AtomicBool) -> bool {
    let step = Duration::from_millis(20);
    let mut left = d;
    while !left.is_zero() {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let s = left.min(step);
        std::thread::sleep(s);
        left -= s;
    }
    !stop.load(Ordering::Relaxed)
}

impl Peer {
    fn spawn(behaviour: Behaviour) -> Result<Self> {
        Self::spawn_with(|_| Ok(()), behaviour)
    }

    /// As `spawn`, with `setup` applied to the listening socket first.
    fn spawn_with(setup: impl FnOnce(&TcpListener) -> Result<()>, behaviour: Behaviour) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        setup(&listener)?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (b, st) = (behaviour.clone(), stop2.clone());
                std::thread::spawn(move || b(conn, &st));
            }
        });
        Ok(Self { port, stop, accept: Some(accept) })
    }

    /// Accepts and never answers (holds the connection until dropped).
    pub fn silent() -> Result<Self> {
        Self::spawn(Arc::new(|mut s, stop| drain(&mut s, stop)))
    }

    /// Accepts and never reads, with a small receive buffer: a client's writes soon block
    /// (a server that stopped reading).
    pub fn not_reading() -> Result<Self> {
        Self::spawn_with(
            |l| {
                nix::sys::socket::setsockopt(l, nix::sys::socket::sockopt::RcvBuf, &4096)
                    .context("SO_RCVBUF on the listener")
            },
            Arc::new(|s, stop| {
                while pause(Duration::from_millis(200), stop) {}
                drop(s);
            }),
        )
    }

    /// Never reads (a small receive buffer, so a client's writes soon block), and after
    /// `delay` sends `payload` and keeps the connection open: a server that talks while
    /// it does not listen.
    pub fn sends_without_reading(payload: Vec<u8>, delay: Duration) -> Result<Self> {
        Self::spawn_with(
            |l| {
                nix::sys::socket::setsockopt(l, nix::sys::socket::sockopt::RcvBuf, &4096)
                    .context("SO_RCVBUF on the listener")
            },
            Arc::new(move |mut s, stop| {
                if pause(delay, stop) && s.write_all(&payload).is_ok() {
                    while pause(Duration::from_millis(200), stop) {}
                }
                drop(s);
            }),
        )
    }

    /// Sends the first `n` bytes of `payload` (e.g. half a reply), then closes.
    pub fn close_after(payload: Vec<u8>, n: usize) -> Result<Self> {
        Self::spawn(Arc::new(move |mut s, _| {
            let _ = s.write_all(&payload[..n.min(payload.len())]);
            let _ = s.flush();
            let _ = s.shutdown(std::net::Shutdown::Both);
        }))
    }

    /// Answers `len` bytes of binary garbage at once and after everything the client sends.
    pub fn garbage(len: usize) -> Result<Self> {
        Self::spawn(Arc::new(move |mut s, stop| {
            let junk = crate::http::pattern(len, 0xbad);
            if s.write_all(&junk).is_err() {
                return;
            }
            let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
            let mut b = [0u8; 4096];
            while !stop.load(Ordering::Relaxed) {
                match s.read(&mut b) {
                    Ok(0) => return,
                    Ok(_) => {
                        if s.write_all(&junk).is_err() {
                            return;
                        }
                    }
                    Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                    Err(_) => return,
                }
            }
        }))
    }

    /// Sends `payload` one byte every `interval` (a byte a second makes a stalled server).
    pub fn drip(payload: Vec<u8>, interval: Duration) -> Result<Self> {
        Self::spawn(Arc::new(move |mut s, stop| {
            for b in &payload {
                if s.write_all(std::slice::from_ref(b)).is_err() || !pause(interval, stop) {
                    return;
                }
            }
            drain(&mut s, stop);
        }))
    }

    /// A TLS server whose certificate is for `wrong.example` (signed by the test CA):
    /// after the handshake it sends `payload` and keeps the connection open.
    pub fn tls_wrong_name(ca: &TestCa, payload: Vec<u8>) -> Result<Self> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_file_iter(&ca.wrong_name_chain)?.collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_file(&ca.wrong_name_key)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .context("wrong-name certificate")?,
        );
        Self::spawn(Arc::new(move |s, stop| {
            let Ok(conn) = rustls::ServerConnection::new(config.clone()) else { return };
            let mut tls = rustls::StreamOwned::new(conn, s);
            if tls.write_all(&payload).is_err() || tls.flush().is_err() {
                return;
            }
            drain(&mut tls.sock, stop);
        }))
    }
}

/// An FTP server that announces `size` bytes for any file but closes the data connection
/// after `sent` of them, then answers `426` (a server dropping a transfer midway). It
/// speaks just enough FTP for one login and one passive RETR; uploads get `550`.
pub fn ftp_truncating(size: usize, sent: usize) -> Result<Peer> {
    Peer::spawn(Arc::new(move |s, stop| {
        let _ = ftp_truncating_session(s, size, sent, stop);
    }))
}

/// A line-protocol session: `greeting`, then for each command line its verb (upper case),
/// with the reader and the writer, to `answer`, which returns false to end the session.
/// Ends too when the client leaves or the peer is stopped.
fn verb_session(
    s: TcpStream,
    greeting: &[u8],
    stop: &AtomicBool,
    mut answer: impl FnMut(&str, &mut std::io::BufReader<TcpStream>, &mut TcpStream) -> std::io::Result<bool>,
) -> std::io::Result<()> {
    use std::io::BufRead;
    let mut w = s.try_clone()?;
    let mut r = std::io::BufReader::new(s);
    w.write_all(greeting)?;
    let mut line = String::new();
    while !stop.load(Ordering::Relaxed) {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        if !answer(&verb, &mut r, &mut w)? {
            return Ok(());
        }
    }
    Ok(())
}

fn ftp_truncating_session(s: TcpStream, size: usize, sent: usize, stop: &AtomicBool) -> std::io::Result<()> {
    let mut data: Option<TcpListener> = None;
    verb_session(s, b"220 truncating test server\r\n", stop, |verb, _, w| {
        match verb {
            "USER" => w.write_all(b"331 password please\r\n")?,
            "PASS" => w.write_all(b"230 logged in\r\n")?,
            "TYPE" => w.write_all(b"200 ok\r\n")?,
            "SIZE" => w.write_all(format!("213 {size}\r\n").as_bytes())?,
            "REST" => w.write_all(b"350 ok\r\n")?,
            "PASV" => {
                let l = TcpListener::bind("127.0.0.1:0")?;
                let p = l.local_addr()?.port();
                w.write_all(format!("227 Entering Passive Mode (127,0,0,1,{},{})\r\n", p >> 8, p & 0xff).as_bytes())?;
                data = Some(l);
            }
            "RETR" | "LIST" => {
                let Some(l) = data.take() else {
                    w.write_all(b"425 use PASV first\r\n")?;
                    return Ok(true);
                };
                w.write_all(b"150 here it comes\r\n")?;
                let (mut d, _) = l.accept()?;
                d.write_all(&crate::http::pattern(sent, 5))?;
                drop(d);
                std::thread::sleep(Duration::from_millis(50));
                w.write_all(b"426 connection closed; transfer aborted\r\n")?;
            }
            "QUIT" => {
                w.write_all(b"221 bye\r\n")?;
                return Ok(false);
            }
            _ => w.write_all(b"550 not here\r\n")?,
        }
        Ok(true)
    })
}

/// An SMTP server that accepts everything up to DATA, takes `after` bytes of the message
/// and then drops the connection.
pub fn smtp_dropping_in_data(after: usize) -> Result<Peer> {
    Peer::spawn(Arc::new(move |s, stop| {
        let _ = smtp_drop_session(s, after, stop);
    }))
}

fn smtp_drop_session(s: TcpStream, after: usize, stop: &AtomicBool) -> std::io::Result<()> {
    verb_session(s, b"220 dropping test server\r\n", stop, |verb, r, w| {
        match verb {
            "EHLO" => w.write_all(b"250-drop\r\n250 AUTH PLAIN LOGIN\r\n")?,
            "AUTH" => w.write_all(b"235 ok\r\n")?,
            "DATA" => {
                w.write_all(b"354 go on\r\n")?;
                let mut buf = vec![0u8; after];
                r.read_exact(&mut buf)?;
                return Ok(false); // dropped mid-DATA
            }
            "QUIT" => {
                w.write_all(b"221 bye\r\n")?;
                return Ok(false);
            }
            _ => w.write_all(b"250 ok\r\n")?,
        }
        Ok(true)
    })
}

/// A POP3 server that logs anybody in, then drops the session after `delay`.
pub fn pop3_dropping_after_login(delay: Duration) -> Result<Peer> {
    Peer::spawn(Arc::new(move |s, stop| {
        use std::io::BufRead;
        let Ok(mut w) = s.try_clone() else { return };
        let mut r = std::io::BufReader::new(s);
        let mut line = String::new();
        if w.write_all(b"+OK dropping test server\r\n").is_err() {
            return;
        }
        for _ in 0..2 {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 || w.write_all(b"+OK\r\n").is_err() {
                return;
            }
        }
        pause(delay, stop);
    }))
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

/// A listener whose accept queue is full (backlog 0, one connection parked in it, never
/// accepted): a new connection's SYN goes unanswered, so connecting to `port` times out.
#[derive(Debug)]
pub struct Unanswered {
    pub port: u16,
    _listener: std::os::fd::OwnedFd,
    _parked: TcpStream,
}

impl Unanswered {
    pub fn start() -> Result<Self> {
        use nix::sys::socket::{AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, bind, listen, socket};
        let fd = socket(AddressFamily::Inet, SockType::Stream, SockFlag::empty(), None).context("socket")?;
        bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::new(127, 0, 0, 1, 0)).context("bind")?;
        listen(&fd, Backlog::new(0).context("backlog")?).context("listen")?;
        let addr: SockaddrIn = nix::sys::socket::getsockname(std::os::fd::AsRawFd::as_raw_fd(&fd))?;
        let port = addr.port();
        let parked = TcpStream::connect(("127.0.0.1", port)).context("parking a connection")?;
        // The queue is full once the parked one is established; prove a second one hangs.
        let probe = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        if TcpStream::connect_timeout(&probe, Duration::from_millis(300)).is_ok() {
            anyhow::bail!("a connection to the full listener on {port} was answered");
        }
        Ok(Self { port, _listener: fd, _parked: parked })
    }
}
