//! The socket jobs: a TCP link (connected by us or accepted by a server), a UDP link, a
//! TCP server, a name lookup and a ping. A link reads its socket and writes what the DTE
//! sent at the same time, so a peer that echoes never deadlocks it; it stops reading only
//! while the core does not take its data (a full receive buffer: TCP back-pressure).

use super::{Accepted, READ_CHUNK, Sock, SockError, SockOp, SockStep};
use crate::job::{Input, JobIo, JobRx, JobTx};
use crate::net::NetError;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tracing::{debug, info};

/// A TCP link to open.
#[derive(Debug, Clone)]
pub struct TcpJob {
    pub link: usize,
    pub host: String,
    pub port: u16,
    /// `AT+CIPTIMEOUT`'s `<cipopen_timeout>`.
    pub open_timeout: Duration,
    /// `<cipsend_timeout>`: longest wait for the peer to take data.
    pub send_timeout: Duration,
    /// Largest read: [`READ_CHUNK`] for a link read through its buffer, more for a
    /// transparent one (its data goes straight to the DTE).
    pub chunk: usize,
}

impl TcpJob {
    pub fn label(&self) -> String {
        format!("socket {} tcp {}:{}", self.link, self.host, self.port)
    }
}

/// A UDP link to open.
#[derive(Debug, Clone)]
pub struct UdpJob {
    pub link: usize,
    /// Local port (0: any).
    pub local: u16,
    /// Default destination of `AT+CIPSEND=<l>,<len>`.
    pub remote: Option<(String, u16)>,
    pub send_timeout: Duration,
}

impl UdpJob {
    pub fn label(&self) -> String {
        match &self.remote {
            Some((h, p)) => format!("socket {} udp local={} {h}:{p}", self.link, self.local),
            None => format!("socket {} udp local={}", self.link, self.local),
        }
    }
}

fn open_error(e: &NetError) -> SockError {
    match e {
        NetError::Dns(_) => SockError::Dns,
        NetError::Timeout => SockError::Timeout,
        _ => SockError::Network,
    }
}

/// A TCP link we connect.
pub async fn run_tcp(job: TcpJob, io: JobIo<Sock>) {
    let (tx, rx) = io.split();
    let stream = match tokio::time::timeout(job.open_timeout, tx.net.connect_peer("sockets", &job.host, job.port)).await
    {
        Err(_) => Err(SockError::Timeout),
        Ok(Err(e)) => {
            info!(link = job.link, "connecting to {}:{}: {e}", job.host, job.port);
            Err(open_error(&e))
        }
        Ok(Ok(s)) => Ok(s),
    };
    let (stream, peer) = match stream {
        Ok(s) => s,
        Err(e) => return tx.done(Err(e)).await,
    };
    if !tx.step(Ok(SockStep::Connected(Some(peer)))).await {
        return;
    }
    let result = pipe(stream, &tx, rx, job.send_timeout, job.chunk).await;
    tx.done(result).await;
}

/// A TCP link a server accepted (already connected: no step).
pub async fn run_accepted(accepted: Accepted, send_timeout: Duration, io: JobIo<Sock>) {
    let (tx, rx) = io.split();
    let Some(stream) = accepted.stream else {
        return tx.done(Err(SockError::Network)).await;
    };
    let _ = stream.set_nodelay(true);
    let result = pipe(stream, &tx, rx, send_timeout, READ_CHUNK).await;
    tx.done(result).await;
}

async fn pipe(
    stream: TcpStream,
    tx: &JobTx<Sock>,
    mut rx: JobRx<Sock>,
    send_timeout: Duration,
    chunk: usize,
) -> Result<(), SockError> {
    let (mut rd, mut wr) = stream.into_split();
    let reader = async {
        let mut buf = vec![0u8; chunk];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) => return Err(SockError::PeerClosed),
                Ok(n) => {
                    if !tx.data(buf[..n].to_vec()).await {
                        return Ok(());
                    }
                }
                Err(e) => {
                    info!("socket receive: {e}");
                    return Err(SockError::PeerClosed);
                }
            }
        }
    };
    let writer = async {
        loop {
            let (d, acked) = match rx.recv().await {
                Some(Input::Data(d)) => (d, false),
                Some(Input::Op(SockOp::SendAcked(d))) => (d, true),
                Some(Input::Op(op)) => {
                    debug!("TCP link: {op} ignored");
                    continue;
                }
                Some(Input::End) => continue,
                Some(Input::Close) | None => {
                    let _ = tokio::time::timeout(send_timeout, wr.shutdown()).await;
                    return Ok(());
                }
            };
            match tokio::time::timeout(send_timeout, wr.write_all(&d)).await {
                Err(_) => return Err(SockError::SendTimeout),
                Ok(Err(e)) => {
                    info!("socket send: {e}");
                    return Err(SockError::PeerClosed);
                }
                Ok(Ok(())) => {}
            }
            if acked {
                let until = Instant::now() + send_timeout;
                // Until the peer has acknowledged every byte (SIOCOUTQ is empty).
                while crate::transport::queued(wr.as_ref(), libc::TIOCOUTQ).is_some_and(|n| n > 0) {
                    if Instant::now() >= until {
                        return Err(SockError::SendTimeout);
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                if !tx.step(Ok(SockStep::Acked(d.len()))).await {
                    return Ok(());
                }
            }
        }
    };
    tokio::select! {
        r = reader => r,
        w = writer => w,
    }
}

/// Every address of `host` (IPv4 first, no repeats), within the DNS timeout.
async fn lookup(net: &crate::net::NetConfig, host: &str, port: u16) -> Result<Vec<SocketAddr>, SockError> {
    match tokio::time::timeout(net.dns_timeout, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(addrs)) => {
            let mut all: Vec<SocketAddr> = Vec::new();
            for a in addrs {
                if !all.contains(&a) {
                    all.push(a);
                }
            }
            all.sort_by_key(|a| !a.is_ipv4());
            if all.is_empty() { Err(SockError::Dns) } else { Ok(all) }
        }
        _ => Err(SockError::Dns),
    }
}

/// The address to use for `host` (the first IPv4 one, if any).
async fn resolve(net: &crate::net::NetConfig, host: &str, port: u16) -> Result<SocketAddr, SockError> {
    Ok(lookup(net, host, port).await?[0])
}

/// A UDP link: bound, then datagrams both ways.
pub async fn run_udp(job: UdpJob, io: JobIo<Sock>) {
    let (tx, rx) = io.split();
    let result = udp(&job, &tx, rx).await;
    tx.done(result).await;
}

async fn udp(job: &UdpJob, tx: &JobTx<Sock>, mut rx: JobRx<Sock>) -> Result<(), SockError> {
    let sock = UdpSocket::bind((IpAddr::from([0, 0, 0, 0]), job.local)).await.map_err(|e| {
        info!(link = job.link, "UDP bind to port {}: {e}", job.local);
        SockError::Bind
    })?;
    let default = match &job.remote {
        Some((h, p)) => Some(resolve(&tx.net, h, *p).await?),
        None => None,
    };
    if !tx.step(Ok(SockStep::Connected(None))).await {
        return Ok(());
    }
    let reader = async {
        let mut buf = vec![0u8; 65536];
        loop {
            match sock.recv_from(&mut buf).await {
                Ok((n, from)) => {
                    if !tx.step(Ok(SockStep::Datagram { from, data: buf[..n].to_vec() })).await {
                        return Ok(());
                    }
                }
                // An ICMP port unreachable for an earlier datagram: not the link's end.
                Err(e) => debug!("UDP receive: {e}"),
            }
        }
    };
    let writer = async {
        loop {
            let (to, data) = match rx.recv().await {
                Some(Input::Data(d) | Input::Op(SockOp::SendAcked(d))) => (default, d),
                Some(Input::Op(SockOp::SendTo { to, data })) => (resolve(&tx.net, &to.0, to.1).await.ok(), data),
                Some(Input::End) => continue,
                Some(Input::Close) | None => return Ok(()),
            };
            let Some(to) = to else {
                info!(link = job.link, "UDP datagram with no destination dropped");
                continue;
            };
            match tokio::time::timeout(job.send_timeout, sock.send_to(&data, to)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => info!(link = job.link, "UDP send to {to}: {e}"),
                Err(_) => return Err(SockError::SendTimeout),
            }
        }
    };
    tokio::select! {
        r = reader => r,
        w = writer => w,
    }
}

/// A TCP server: listens on `addr`, hands every client to the core.
pub async fn run_server(addr: SocketAddr, io: JobIo<Sock>) {
    let (tx, mut rx) = io.split();
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            info!("AT+SERVERSTART: cannot listen on {addr}: {e}");
            return tx.done(Err(SockError::Bind)).await;
        }
    };
    info!("TCP server listening on {addr}");
    if !tx.step(Ok(SockStep::Connected(None))).await {
        return;
    }
    loop {
        tokio::select! {
            a = listener.accept() => match a {
                Ok((stream, peer)) => {
                    if !tx.step(Ok(SockStep::Accepted(Accepted { peer, stream: Some(stream) }))).await {
                        return;
                    }
                }
                Err(e) => debug!("accept: {e}"),
            },
            input = rx.recv() => if matches!(input, Some(Input::Close) | None) {
                return tx.done(Ok(())).await;
            },
        }
    }
}

/// `AT+CDNSGIP`: the addresses of `host`.
pub async fn run_lookup(host: String, io: JobIo<Sock>) {
    match lookup(&io.net, &host, 0).await {
        Ok(addrs) => {
            io.step(Ok(SockStep::Resolved(addrs.iter().map(SocketAddr::ip).collect()))).await;
            io.done(Ok(())).await;
        }
        Err(e) => io.done(Err(e)).await,
    }
}

/// What `AT+CPING` asks for.
#[derive(Debug, Clone)]
pub struct PingJob {
    pub host: String,
    pub count: u32,
    pub interval: Duration,
    pub wait: Duration,
}

/// The port a probe goes to: the echo service. A closed port answers too (a TCP reset),
/// which is all a probe needs.
const PROBE_PORT: u16 = 7;

/// `AT+CPING`: each probe is a TCP connection attempt, timed: an accept or a reset is an
/// answer, silence for `wait` is a loss (ICMP needs privileges a user's process has not;
/// docs/commands.md).
pub async fn run_ping(job: PingJob, io: JobIo<Sock>) {
    let ip = match resolve(&io.net, &job.host, PROBE_PORT).await {
        Ok(a) => a,
        Err(e) => return io.done(Err(e)).await,
    };
    if !io.step(Ok(SockStep::Resolved(vec![ip.ip()]))).await {
        return;
    }
    for i in 0..job.count {
        if i > 0 {
            tokio::time::sleep(job.interval).await;
        }
        let start = Instant::now();
        let answered = match tokio::time::timeout(job.wait, TcpStream::connect(ip)).await {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => e.kind() == std::io::ErrorKind::ConnectionRefused,
            Err(_) => false,
        };
        let rtt = answered.then(|| u32::try_from(start.elapsed().as_millis()).unwrap_or(u32::MAX));
        if !io.step(Ok(SockStep::Probe(rtt))).await {
            return;
        }
    }
    io.done(Ok(())).await;
}
