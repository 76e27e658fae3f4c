//! The data call's IP side: what the DTE sends over PPP, relayed to the host's sockets.
//!
//! TCP ends in a userspace stack (smoltcp, kept by the smoltcp project, with one socket
//! per flow; its "any IP" mode accepts connections to any address). A SYN is held until
//! the host connection it asks for is made through `NetConfig` (so the link's faults,
//! conditions and coverage apply, as to `AT+CIPOPEN` links); a refused connection is a
//! reset for the DTE. UDP, DNS and ICMP echo are handled here packet by packet: UDP
//! through a host socket per flow, DNS at the two DNS addresses IPCP gave (`localhost` is
//! `127.0.0.1`, RFC 6761; other names through the host's resolver), echo requests
//! answered when a TCP connection attempt to the destination's port 7 is answered
//! (accepted or refused), as `AT+CPING` probes. Connections to the host alias
//! (`10.64.64.64`) go to the host's `127.0.0.1`.
//!
//! Bounded: at most [`MAX_TCP`] TCP and [`MAX_UDP`] UDP flows (a SYN past it is reset, a
//! datagram dropped), 64 KiB of buffer each way per TCP flow in the stack, four chunks
//! in flight to and from each host socket, 256 packets of UDP, DNS and ICMP waiting for
//! the DTE.
//!
//! netstack-smoltcp would relay flows too, but it spawns its own tasks with fixed windows
//! and no flow limit, and its maintenance is split between forks; the glue here is small
//! and keeps every bound and every host connection under the module's rules.

use super::Counters;
use crate::net::NetConfig;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpCidr, IpListenEndpoint};
use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tracing::debug;

/// TCP flows open at once.
pub const MAX_TCP: usize = 64;
/// UDP flows open at once.
pub const MAX_UDP: usize = 64;
/// Each TCP flow's receive and send buffer in the stack.
const TCP_BUFFER: usize = 64 * 1024;
/// A chunk between a flow and its host socket.
const CHUNK: usize = 16 * 1024;
/// Chunks in flight each way between a flow and its host socket.
const IN_FLIGHT: usize = 4;
/// A UDP flow with no datagram either way for this long is forgotten.
const UDP_IDLE: Duration = Duration::from_secs(60);
/// How long an echo request's probe waits.
const ECHO_WAIT: Duration = Duration::from_secs(5);
/// Packets made here (UDP, DNS, echo replies, resets) waiting for the DTE.
const OUT_MAX: usize = 256;
/// The link's MTU (the DTE's MRU).
const MTU: usize = 1500;

/// The DTE's port, the destination address and port.
type Tuple = (u16, Ipv4Addr, u16);

/// What a task of the NAT hands back to it.
#[derive(Debug)]
pub enum Done {
    /// The host connection a held SYN asked for.
    Connected(Tuple, Option<TcpStream>),
    /// An IP packet for the DTE (a DNS answer, a UDP datagram, an echo reply).
    Packet(Vec<u8>),
}

/// The stack's device: packets queued each way.
#[derive(Debug, Default)]
struct Queues {
    rx: VecDeque<Vec<u8>>,
    tx: VecDeque<Vec<u8>>,
}

struct Rx(Vec<u8>);
struct Tx<'a>(&'a mut VecDeque<Vec<u8>>);

impl RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0; len];
        let r = f(&mut buf);
        self.0.push_back(buf);
        r
    }
}

impl Device for Queues {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(Rx, Tx<'_>)> {
        let p = self.rx.pop_front()?;
        Some((Rx(p), Tx(&mut self.tx)))
    }

    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ip;
        c.max_transmission_unit = MTU;
        c
    }
}

/// One TCP flow: its socket in the stack and the channels to its host socket's task.
#[derive(Debug)]
struct Flow {
    /// DTE to host; dropped once the DTE has closed its side.
    to_host: Option<mpsc::Sender<Vec<u8>>>,
    /// Host to DTE; an empty chunk is the host's close.
    from_host: mpsc::Receiver<Vec<u8>>,
    /// A chunk from the host partly in the stack's send buffer.
    held: Option<(Vec<u8>, usize)>,
    host_closed: bool,
}

/// One UDP flow: a host socket and when it was last used.
#[derive(Debug)]
struct UdpFlow {
    socket: Arc<UdpSocket>,
    last: Instant,
}

/// Where connections to the host alias go.
const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// See the module documentation.
pub struct Nat {
    dte: Ipv4Addr,
    alias: Ipv4Addr,
    dns: [Ipv4Addr; 2],
    net: Arc<NetConfig>,
    iface: Interface,
    dev: Queues,
    sockets: SocketSet<'static>,
    flows: HashMap<SocketHandle, Flow>,
    /// SYNs held while their host connection is made.
    connecting: HashMap<Tuple, Vec<u8>>,
    udp: HashMap<Tuple, UdpFlow>,
    /// Packets for the DTE made here (not by the stack).
    out: VecDeque<Vec<u8>>,
    done: mpsc::Sender<Done>,
    tasks: JoinSet<()>,
    wake: Arc<Notify>,
    counters: Arc<Counters>,
    start: Instant,
}

impl std::fmt::Debug for Nat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nat").field("tcp", &self.flows.len()).field("udp", &self.udp.len()).finish_non_exhaustive()
    }
}

impl Nat {
    /// For the DTE at `dte`; `done` takes what its tasks hand back, `wake` is told when a
    /// flow's host socket has data or room.
    pub fn new(
        dte: Ipv4Addr,
        alias: Ipv4Addr,
        dns: [Ipv4Addr; 2],
        net: Arc<NetConfig>,
        done: mpsc::Sender<Done>,
        wake: Arc<Notify>,
        counters: Arc<Counters>,
    ) -> Self {
        let start = Instant::now();
        let mut dev = Queues::default();
        let mut iface = Interface::new(Config::new(HardwareAddress::Ip), &mut dev, smoltcp::time::Instant::ZERO);
        iface.update_ip_addrs(|a| {
            let _ = a.push(IpCidr::new(alias.into(), 32));
        });
        // Any address is reached through the module's own: with "any IP", the stack
        // takes packets for every destination.
        let _ = iface.routes_mut().add_default_ipv4_route(alias);
        iface.set_any_ip(true);
        Self {
            dte,
            alias,
            dns,
            net,
            iface,
            dev,
            sockets: SocketSet::new(Vec::new()),
            flows: HashMap::new(),
            connecting: HashMap::new(),
            udp: HashMap::new(),
            out: VecDeque::new(),
            done,
            tasks: JoinSet::new(),
            wake,
            counters,
            start,
        }
    }

    fn now(&self, at: Instant) -> smoltcp::time::Instant {
        smoltcp::time::Instant::from_micros(at.saturating_duration_since(self.start).as_micros() as i64)
    }

    /// Where a destination is on the host.
    fn host(&self, dst: Ipv4Addr) -> Ipv4Addr {
        if dst == self.alias { LOOPBACK } else { dst }
    }

    fn count_flows(&self) {
        self.counters.flows.store((self.flows.len() + self.udp.len()) as u64, Ordering::Relaxed);
    }

    /// An IPv4 packet from the DTE.
    pub fn from_dte(&mut self, pkt: &[u8], at: Instant) {
        let Some(ip) = Ip::parse(pkt) else { return };
        if ip.src != self.dte {
            debug!("PPP: a packet from {} (not the DTE's address) dropped", ip.src);
            return;
        }
        match ip.proto {
            6 => self.tcp(&ip, pkt, at),
            17 => self.udp(&ip, at),
            1 => self.icmp(&ip),
            p => debug!("PPP: IP protocol {p} dropped"),
        }
    }

    fn tcp(&mut self, ip: &Ip<'_>, pkt: &[u8], at: Instant) {
        let b = ip.body;
        if b.len() < 20 {
            return;
        }
        let (sport, dport) = (u16::from_be_bytes([b[0], b[1]]), u16::from_be_bytes([b[2], b[3]]));
        let flags = b[13];
        let (syn, ack) = (flags & 0x02 != 0, flags & 0x10 != 0);
        let key = (sport, ip.dst, dport);
        if syn && !ack && !self.established(key) {
            if self.connecting.contains_key(&key) {
                // A retransmitted SYN while the host connection is being made.
                return;
            }
            if self.flows.len() + self.connecting.len() >= MAX_TCP {
                debug!("PPP: TCP flow to {}:{dport} refused: {MAX_TCP} open", ip.dst);
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
                self.queue(tcp_reset(ip, b));
                return;
            }
            self.connecting.insert(key, pkt.to_vec());
            let (net, done, wake) = (self.net.clone(), self.done.clone(), self.wake.clone());
            let to = SocketAddr::from((self.host(ip.dst), dport));
            self.tasks.spawn(async move {
                let stream = match net.connect_to("ppp", to).await {
                    Ok(s) => Some(s),
                    Err(e) => {
                        debug!("PPP: TCP to {to}: {e}");
                        None
                    }
                };
                let _ = done.send(Done::Connected(key, stream)).await;
                wake.notify_one();
            });
            return;
        }
        self.dev.rx.push_back(pkt.to_vec());
        self.poll(at);
    }

    /// Whether a stack socket already carries this flow.
    fn established(&self, key: Tuple) -> bool {
        self.flows.keys().any(|h| {
            let s = self.sockets.get::<tcp::Socket>(*h);
            s.remote_endpoint().is_some_and(|r| r.port == key.0)
                && s.local_endpoint().is_some_and(|l| l.port == key.2 && l.addr == key.1.into())
        })
    }

    /// A host connection for a held SYN was made (or not).
    pub fn on_done(&mut self, d: Done, at: Instant) {
        match d {
            Done::Packet(p) => self.queue(p),
            Done::Connected(key, stream) => {
                let Some(syn) = self.connecting.remove(&key) else { return };
                let Some(ip) = Ip::parse(&syn) else { return };
                let Some(stream) = stream else {
                    self.counters.refused.fetch_add(1, Ordering::Relaxed);
                    self.queue(tcp_reset(&ip, ip.body));
                    return;
                };
                let mut socket = tcp::Socket::new(
                    tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
                    tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
                );
                socket.set_nagle_enabled(false);
                if socket.listen(IpListenEndpoint { addr: Some(key.1.into()), port: key.2 }).is_err() {
                    return;
                }
                let handle = self.sockets.add(socket);
                let (to_host, host_rx) = mpsc::channel(IN_FLIGHT);
                let (host_tx, from_host) = mpsc::channel(IN_FLIGHT);
                self.tasks.spawn(host_socket(stream, host_rx, host_tx, self.wake.clone()));
                self.flows.insert(handle, Flow { to_host: Some(to_host), from_host, held: None, host_closed: false });
                self.counters.flows_total.fetch_add(1, Ordering::Relaxed);
                self.count_flows();
                self.dev.rx.push_back(syn);
                self.poll(at);
            }
        }
    }

    /// Run the stack and move data between each flow and its host socket.
    pub fn poll(&mut self, at: Instant) {
        let now = self.now(at);
        loop {
            self.iface.poll(now, &mut self.dev, &mut self.sockets);
            if !self.pump() {
                break;
            }
        }
        self.iface.poll(now, &mut self.dev, &mut self.sockets);
        self.udp.retain(|_, f| at.saturating_duration_since(f.last) < UDP_IDLE);
        self.count_flows();
    }

    /// Move what can move; whether anything did (the stack then has more to send).
    fn pump(&mut self) -> bool {
        let mut moved = false;
        let mut gone = Vec::new();
        for (h, f) in &mut self.flows {
            let s = self.sockets.get_mut::<tcp::Socket>(*h);
            // DTE to host.
            while let Some(tx) = &f.to_host {
                if !s.can_recv() {
                    break;
                }
                let Ok(permit) = tx.try_reserve() else { break };
                let chunk = s.recv(|b| {
                    let n = b.len().min(CHUNK);
                    (n, b[..n].to_vec())
                });
                match chunk {
                    Ok(c) => {
                        permit.send(c);
                        moved = true;
                    }
                    Err(_) => break,
                }
            }
            let state = s.state();
            if f.to_host.is_some()
                && !s.may_recv()
                && !matches!(state, tcp::State::Listen | tcp::State::SynReceived | tcp::State::SynSent)
            {
                // The DTE closed its side: the host socket's write side closes.
                f.to_host = None;
            }
            // Host to DTE.
            loop {
                if f.held.is_none() && !f.host_closed {
                    match f.from_host.try_recv() {
                        Ok(c) if c.is_empty() => {
                            f.host_closed = true;
                            s.close();
                            moved = true;
                        }
                        Ok(c) => f.held = Some((c, 0)),
                        Err(mpsc::error::TryRecvError::Empty) => {}
                        Err(mpsc::error::TryRecvError::Disconnected) => {
                            // The host socket failed (reset): the DTE gets a reset too.
                            f.host_closed = true;
                            s.abort();
                            moved = true;
                        }
                    }
                }
                let Some((c, off)) = &mut f.held else { break };
                if !s.can_send() {
                    break;
                }
                match s.send_slice(&c[*off..]) {
                    Ok(n) if n > 0 => {
                        *off += n;
                        moved = true;
                        if *off == c.len() {
                            f.held = None;
                        }
                    }
                    _ => break,
                }
            }
            if s.state() == tcp::State::Closed || s.state() == tcp::State::TimeWait {
                gone.push(*h);
            }
        }
        for h in gone {
            self.flows.remove(&h);
            self.sockets.remove(h);
        }
        moved
    }

    /// A packet made here for the DTE; past [`OUT_MAX`] waiting (a UDP flood the DTE does
    /// not take) it is dropped, as a full radio queue drops.
    fn queue(&mut self, p: Vec<u8>) {
        if self.out.len() >= OUT_MAX {
            debug!("PPP: a packet for the DTE dropped: {OUT_MAX} waiting");
            return;
        }
        self.out.push_back(p);
    }

    /// The next packet for the DTE.
    pub fn to_dte(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front().or_else(|| self.dev.tx.pop_front())
    }

    /// When the stack next needs [`Nat::poll`] (its timers).
    pub fn poll_at(&mut self, at: Instant) -> Option<Instant> {
        let now = self.now(at);
        let d = self.iface.poll_delay(now, &self.sockets)?;
        Some(at + Duration::from_micros(d.total_micros()))
    }

    fn udp(&mut self, ip: &Ip<'_>, at: Instant) {
        let b = ip.body;
        if b.len() < 8 {
            return;
        }
        let (sport, dport) = (u16::from_be_bytes([b[0], b[1]]), u16::from_be_bytes([b[2], b[3]]));
        let payload = b[8..usize::from(u16::from_be_bytes([b[4], b[5]])).clamp(8, b.len())].to_vec();
        if self.dns.contains(&ip.dst) && dport == 53 {
            let (net, done, wake) = (self.net.clone(), self.done.clone(), self.wake.clone());
            let (dte, server) = (self.dte, ip.dst);
            self.tasks.spawn(async move {
                if let Some(answer) = dns_answer(&net, &payload).await {
                    let _ = done.send(Done::Packet(udp_packet(server, dte, 53, sport, &answer))).await;
                    wake.notify_one();
                }
            });
            return;
        }
        let key = (sport, ip.dst, dport);
        if let Some(f) = self.udp.get_mut(&key) {
            f.last = at;
            let _ = f.socket.try_send(&payload);
            return;
        }
        if self.udp.len() >= MAX_UDP {
            debug!("PPP: UDP flow to {}:{dport} dropped: {MAX_UDP} open", ip.dst);
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if matches!(self.net.rules.before_connect("ppp"), crate::net::link::Before::Refuse) {
            return;
        }
        let to = SocketAddr::from((self.host(ip.dst), dport));
        let bind = if to.ip().is_loopback() { Ipv4Addr::LOCALHOST } else { Ipv4Addr::UNSPECIFIED };
        let socket = match std::net::UdpSocket::bind((bind, 0))
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .and_then(|s| s.connect(to).map(|()| s))
            .and_then(UdpSocket::from_std)
        {
            Ok(s) => Arc::new(s),
            Err(e) => {
                debug!("PPP: UDP to {to}: {e}");
                return;
            }
        };
        let _ = socket.try_send(&payload);
        let (done, wake, reader) = (self.done.clone(), self.wake.clone(), socket.clone());
        let (dte, from) = (self.dte, ip.dst);
        self.tasks.spawn(async move {
            let mut buf = vec![0u8; 65_536];
            loop {
                match tokio::time::timeout(UDP_IDLE, reader.recv(&mut buf)).await {
                    Ok(Ok(n)) => {
                        let p = udp_packet(from, dte, dport, sport, &buf[..n]);
                        if done.send(Done::Packet(p)).await.is_err() {
                            return;
                        }
                        wake.notify_one();
                    }
                    _ => return,
                }
            }
        });
        self.udp.insert(key, UdpFlow { socket, last: at });
        self.counters.flows_total.fetch_add(1, Ordering::Relaxed);
    }

    fn icmp(&mut self, ip: &Ip<'_>) {
        let b = ip.body;
        if b.len() < 8 || b[0] != 8 {
            return;
        }
        let request = b.to_vec();
        let (done, wake) = (self.done.clone(), self.wake.clone());
        let (dte, dst, to) = (self.dte, ip.dst, SocketAddr::from((self.host(ip.dst), 7)));
        self.tasks.spawn(async move {
            let answered = match tokio::time::timeout(ECHO_WAIT, TcpStream::connect(to)).await {
                Ok(Ok(_)) => true,
                Ok(Err(e)) => e.kind() == std::io::ErrorKind::ConnectionRefused,
                Err(_) => false,
            };
            if answered {
                let mut reply = request;
                reply[0] = 0;
                reply[2..4].copy_from_slice(&[0, 0]);
                let sum = checksum(0, &reply);
                reply[2..4].copy_from_slice(&sum.to_be_bytes());
                let _ = done.send(Done::Packet(ip_packet(dst, dte, 1, &reply))).await;
                wake.notify_one();
            }
        });
    }
}

/// A flow's host socket: what comes from the DTE written to it, what it reads sent back
/// (an empty chunk at its close; the channel dropped without one at a failure).
async fn host_socket(
    stream: TcpStream,
    mut to_host: mpsc::Receiver<Vec<u8>>,
    from_host: mpsc::Sender<Vec<u8>>,
    wake: Arc<Notify>,
) {
    let (mut rd, mut wr) = stream.into_split();
    // A reset is reported once, to whichever call meets it first: when a write took it,
    // the read that follows sees an end of file, and it is still a reset. Both halves run
    // in this one task, so the write's failure is recorded before that read returns.
    let write_failed = AtomicBool::new(false);
    let reading = async {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) if write_failed.load(Ordering::Relaxed) => return,
                Ok(0) => {
                    let _ = from_host.send(Vec::new()).await;
                    wake.notify_one();
                    return;
                }
                Ok(n) => {
                    if from_host.send(buf[..n].to_vec()).await.is_err() {
                        return;
                    }
                    wake.notify_one();
                }
                // A reset: `from_host` goes without a close, the DTE gets a reset.
                Err(_) => return,
            }
        }
    };
    let writing = async {
        while let Some(chunk) = to_host.recv().await {
            wake.notify_one();
            if wr.write_all(&chunk).await.is_err() {
                write_failed.store(true, Ordering::Relaxed);
                return;
            }
        }
        let _ = wr.shutdown().await;
    };
    tokio::join!(reading, writing);
}

/// What the NAT reads of an IPv4 packet.
struct Ip<'a> {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    body: &'a [u8],
}

impl<'a> Ip<'a> {
    fn parse(p: &'a [u8]) -> Option<Self> {
        if p.len() < 20 || p[0] >> 4 != 4 {
            return None;
        }
        let ihl = usize::from(p[0] & 0x0F) * 4;
        let total = usize::from(u16::from_be_bytes([p[2], p[3]])).min(p.len());
        // Fragments are not reassembled (a PPP DTE sends within its MTU).
        if ihl < 20 || total < ihl || u16::from_be_bytes([p[6], p[7]]) & 0x3FFF != 0 {
            return None;
        }
        let addr = |i: usize| Ipv4Addr::new(p[i], p[i + 1], p[i + 2], p[i + 3]);
        Some(Self { src: addr(12), dst: addr(16), proto: p[9], body: &p[ihl..total] })
    }
}

/// The Internet checksum (RFC 1071) of `data`, continuing `sum`.
fn checksum(mut sum: u32, data: &[u8]) -> u16 {
    for pair in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// The pseudo-header sum of TCP and UDP checksums.
fn pseudo(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> u32 {
    let mut s = 0u32;
    for a in [src.octets(), dst.octets()] {
        s += u32::from(u16::from_be_bytes([a[0], a[1]])) + u32::from(u16::from_be_bytes([a[2], a[3]]));
    }
    s + u32::from(proto) + len as u32
}

/// An IPv4 packet around `body`.
fn ip_packet(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, body: &[u8]) -> Vec<u8> {
    let total = (20 + body.len()) as u16;
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let sum = checksum(0, &p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(body);
    p
}

/// A UDP datagram in an IPv4 packet.
fn udp_packet(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut u = Vec::with_capacity(len);
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&(len as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let sum = match checksum(pseudo(src, dst, 17, len), &u) {
        0 => 0xFFFF,
        s => s,
    };
    u[6..8].copy_from_slice(&sum.to_be_bytes());
    ip_packet(src, dst, 17, &u)
}

/// The reset that answers a SYN (`tcp` is its TCP segment).
fn tcp_reset(ip: &Ip<'_>, tcp: &[u8]) -> Vec<u8> {
    let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&tcp[2..4]);
    t[2..4].copy_from_slice(&tcp[0..2]);
    t[8..12].copy_from_slice(&seq.wrapping_add(1).to_be_bytes());
    t[12] = 5 << 4;
    t[13] = 0x14;
    let sum = checksum(pseudo(ip.dst, ip.src, 6, 20), &t);
    t[16..18].copy_from_slice(&sum.to_be_bytes());
    ip_packet(ip.dst, ip.src, 6, &t)
}

/// The answer to a DNS query: `localhost` is 127.0.0.1, other names are the host
/// resolver's IPv4 addresses (NXDOMAIN when it has none; SERVFAIL when the link's rules
/// fail names); other record types get an empty answer. `None` for what is not a query.
async fn dns_answer(net: &NetConfig, query: &[u8]) -> Option<Vec<u8>> {
    use hickory_proto::op::{Message, MessageType, ResponseCode};
    use hickory_proto::rr::{RData, Record, RecordType, rdata::A};
    let q = Message::from_vec(query).ok()?;
    if q.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut r = Message::response(q.metadata.id, q.metadata.op_code);
    r.metadata.recursion_desired = q.metadata.recursion_desired;
    r.metadata.recursion_available = true;
    let question = q.queries.first()?.clone();
    r.queries.push(question.clone());
    let name = question.name().to_ascii();
    let name = name.trim_end_matches('.');
    if question.query_type() == RecordType::A {
        // The link's rules first: a `dns_fail` fault fails every name; latency delays the
        // answer. (A `refuse` fault is for connections, not for the name server.)
        let failed = matches!(net.before("ppp", name).await, Err(crate::net::NetError::Dns(_)));
        let addrs: Result<Vec<Ipv4Addr>, ResponseCode> = if failed {
            Err(ResponseCode::ServFail)
        } else if name.eq_ignore_ascii_case("localhost") {
            Ok(vec![Ipv4Addr::LOCALHOST])
        } else {
            match tokio::time::timeout(net.dns_timeout, tokio::net::lookup_host((name, 0))).await {
                Ok(Ok(a)) => {
                    let v4: Vec<Ipv4Addr> = a
                        .filter_map(|s| match s.ip() {
                            std::net::IpAddr::V4(v) => Some(v),
                            std::net::IpAddr::V6(_) => None,
                        })
                        .collect();
                    if v4.is_empty() { Err(ResponseCode::NXDomain) } else { Ok(v4) }
                }
                Ok(Err(_)) => Err(ResponseCode::NXDomain),
                Err(_) => Err(ResponseCode::ServFail),
            }
        };
        match addrs {
            Ok(list) => {
                for a in list {
                    r.answers.push(Record::from_rdata(question.name().clone(), 60, RData::A(A(a))));
                }
            }
            Err(code) => r.metadata.response_code = code,
        }
    }
    r.to_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_and_packets() {
        // A header with its checksum sums to zero.
        let p = ip_packet(Ipv4Addr::new(10, 64, 64, 53), Ipv4Addr::new(10, 64, 0, 2), 17, &[0; 8]);
        assert_eq!(checksum(0, &p[..20]), 0);
        let u = udp_packet(Ipv4Addr::new(10, 64, 64, 53), Ipv4Addr::new(10, 64, 0, 2), 53, 4000, b"hi");
        let ip = Ip::parse(&u).unwrap();
        assert_eq!((ip.proto, ip.body.len()), (17, 10));
        assert_eq!(checksum(pseudo(ip.src, ip.dst, 17, 10), ip.body), 0);
        let mut syn = vec![0u8; 20];
        syn[0..2].copy_from_slice(&40000u16.to_be_bytes());
        syn[2..4].copy_from_slice(&80u16.to_be_bytes());
        syn[4..8].copy_from_slice(&7u32.to_be_bytes());
        syn[13] = 0x02;
        let pkt = ip_packet(Ipv4Addr::new(10, 64, 0, 2), Ipv4Addr::new(10, 64, 64, 64), 6, &syn);
        let ip = Ip::parse(&pkt).unwrap();
        let rst = tcp_reset(&ip, ip.body);
        let r = Ip::parse(&rst).unwrap();
        assert_eq!((r.src, r.dst), (Ipv4Addr::new(10, 64, 64, 64), Ipv4Addr::new(10, 64, 0, 2)));
        assert_eq!(&r.body[8..12], &8u32.to_be_bytes());
        assert_eq!(r.body[13], 0x14);
        assert_eq!(checksum(pseudo(r.src, r.dst, 6, 20), r.body), 0);
        assert!(Ip::parse(&[0x45; 10]).is_none());
    }

    /// A SYN from the DTE (10.64.0.2) to the host alias.
    fn syn(sport: u16, dport: u16) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&sport.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = 0x02;
        ip_packet(Ipv4Addr::new(10, 64, 0, 2), super::super::HOST_ALIAS, 6, &t)
    }

    #[tokio::test]
    async fn a_dte_that_opens_flows_without_end_gets_resets() {
        // A host port that takes connections but never answers: every SYN stays held
        // while its host connection is made, so the flows pile up.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let net = Arc::new(NetConfig::new(&[], false).unwrap());
        let (done, mut back) = mpsc::channel(256);
        let counters = Arc::new(Counters::default());
        let dte = Ipv4Addr::new(10, 64, 0, 2);
        let dns = super::super::DNS;
        let mut nat =
            Nat::new(dte, super::super::HOST_ALIAS, dns, net, done, Arc::new(Notify::new()), counters.clone());
        let now = Instant::now();
        for i in 0..(MAX_TCP as u16 + 10) {
            nat.from_dte(&syn(40000 + i, port), now);
        }
        // The ten past the limit are reset at once; the others wait for their connection.
        let mut resets = 0;
        while let Some(p) = nat.to_dte() {
            let ip = Ip::parse(&p).unwrap();
            assert_eq!(ip.body[13] & 0x04, 0x04, "only resets go out");
            resets += 1;
        }
        assert_eq!((resets, Counters::get(&counters.refused)), (10, 10));
        // Their connections made, the flows are in the stack (bounded buffers each), and
        // a SYN beyond the limit is still reset.
        for _ in 0..MAX_TCP {
            let d = tokio::time::timeout(Duration::from_secs(10), back.recv()).await.unwrap().unwrap();
            nat.on_done(d, Instant::now());
        }
        assert_eq!(nat.flows.len(), MAX_TCP);
        nat.from_dte(&syn(50000, port), Instant::now());
        let rst =
            std::iter::from_fn(|| nat.to_dte()).filter(|p| Ip::parse(p).is_some_and(|ip| ip.body[13] & 0x04 != 0));
        assert_eq!(rst.count(), 1);
        assert_eq!(Counters::get(&counters.refused), 11);
        drop(listener);
    }
}
