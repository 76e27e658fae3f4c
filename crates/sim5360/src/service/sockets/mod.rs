//! The TCP/IP socket family (docs/commands.md, TCP/IP sockets): the socket service (`AT+NETOPEN`,
//! `AT+NETCLOSE`, `AT+IPADDR`), links 0-9 over TCP and UDP (`AT+CIPOPEN`, `AT+CIPSEND`,
//! `AT+CIPRXGET`, `AT+CIPCLOSE`), TCP servers (`AT+SERVERSTART`), transparent mode
//! (`AT+CIPMODE=1`, `+++`, `ATO`), and `AT+CDNSGIP` / `AT+CPING`.
//!
//! Each open link is one job (`job.rs`) holding a real socket; what it receives goes to
//! the DTE at once (push mode), into the link's bounded buffer (buffer mode: while it is
//! full the job is paused, so the socket is not read and TCP holds the peer back), or raw
//! in the online data state. Every link records a generation number: a link closed by the
//! DTE is free at once, and the events its old job still sends are ignored.

mod commands;
pub mod job;
mod sinks;

pub use commands::COMMANDS;

use crate::job::{JobId, Protocol};
use crate::modem::{Ctx, Service, Urc};
use crate::service::cache::Cache;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Links 0-9.
pub const LINKS: usize = 10;
/// TCP servers 0-3.
pub const SERVERS: usize = 4;
/// Largest `AT+CIPSEND` length, and the most one push-mode report carries.
pub const SEND_MAX: u64 = 1500;
/// Largest `AT+CIPRXGET=2` read (`=3`: half of it, as hex).
pub const READ_MAX: usize = 1500;
/// Most a socket job reads in one go.
pub const READ_CHUNK: usize = 4096;
/// A link's receive buffer takes no more from its socket once it holds this much; with
/// one last read of [`READ_CHUNK`] it never exceeds 32767 bytes (TinyGSM reads the rest
/// length with a 6-character `atoi`, docs/commands.md).
pub const RX_PAUSE: usize = 32 * 1024 - READ_CHUNK;
/// The baud rate `CONNECT` reports.
pub const CONNECT_BAUD: &str = "CONNECT 115200";

/// `<err>` of NETOPEN, NETCLOSE, CIPOPEN, CIPSEND (`+CIPERROR:`), CIPCLOSE and
/// SERVERSTART (spec §4.1), plus how a link ends that is not a code of that table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockError {
    /// 1: network failure (also a refused connection, docs/commands.md).
    Network,
    /// 2: network not opened.
    NotOpened,
    /// 3: wrong parameter.
    Param,
    /// 4: operation not supported (link not open, or already open).
    NotSupported,
    /// 5: failed to create socket.
    Create,
    /// 6: failed to bind socket.
    Bind,
    /// 7: TCP server is already listening.
    Listening,
    /// 8: busy.
    Busy,
    /// 9: sockets opened.
    Opened,
    /// 10: timeout.
    Timeout,
    /// 11: DNS parse failed.
    Dns,
    /// The unknown-error code (255 on the WCDMA modules, 12 on the LTE ones).
    Unknown,
    /// Not a code: the peer closed the connection (`+IPCLOSE: <l>,1`).
    PeerClosed,
    /// Not a code: sending timed out (`+IPCLOSE: <l>,2`).
    SendTimeout,
}

impl SockError {
    #[cfg(any(test, feature = "scripted"))]
    const ALL: [SockError; 14] = [
        Self::Network,
        Self::NotOpened,
        Self::Param,
        Self::NotSupported,
        Self::Create,
        Self::Bind,
        Self::Listening,
        Self::Busy,
        Self::Opened,
        Self::Timeout,
        Self::Dns,
        Self::Unknown,
        Self::PeerClosed,
        Self::SendTimeout,
    ];

    /// The `<err>` code (the profile gives the unknown-error code).
    pub fn code(self, unknown: u16) -> u16 {
        match self {
            Self::Network | Self::PeerClosed | Self::SendTimeout => 1,
            Self::NotOpened => 2,
            Self::Param => 3,
            Self::NotSupported => 4,
            Self::Create => 5,
            Self::Bind => 6,
            Self::Listening => 7,
            Self::Busy => 8,
            Self::Opened => 9,
            Self::Timeout => 10,
            Self::Dns => 11,
            Self::Unknown => unknown,
        }
    }

    /// The scripted name (transcripts): `network`, `refused` (= network), `timeout`, ...
    #[cfg(any(test, feature = "scripted"))]
    fn name(self) -> &'static str {
        match self {
            Self::Network => "network",
            Self::NotOpened => "not-opened",
            Self::Param => "param",
            Self::NotSupported => "not-supported",
            Self::Create => "create",
            Self::Bind => "bind",
            Self::Listening => "listening",
            Self::Busy => "busy",
            Self::Opened => "opened",
            Self::Timeout => "timeout",
            Self::Dns => "dns",
            Self::Unknown => "unknown",
            Self::PeerClosed => "peer-closed",
            Self::SendTimeout => "send-timeout",
        }
    }
}

/// `<err_info>` of `+IP ERROR:` (spec §4.2): number and text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpError {
    AlreadyOpened,
    AlreadyClosed,
    NotOpened,
    ConnectionNotCreated,
    InvalidParameter,
    DnsFailed,
    NoData,
}

impl IpError {
    pub fn number(self) -> u8 {
        match self {
            Self::AlreadyOpened => 4,
            Self::AlreadyClosed => 5,
            Self::NotOpened => 8,
            Self::ConnectionNotCreated => 11,
            Self::InvalidParameter => 12,
            Self::DnsFailed => 14,
            Self::NoData => 22,
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Self::AlreadyOpened => "Network is already opened",
            Self::AlreadyClosed => "Network is already closed",
            Self::NotOpened => "Network not opened",
            Self::ConnectionNotCreated => "Connection is not created",
            Self::InvalidParameter => "Invalid parameter",
            Self::DnsFailed => "DNS query failed",
            Self::NoData => "No data",
        }
    }
}

/// What one socket operation reports.
#[derive(Debug)]
pub enum SockStep {
    /// A TCP connection is up (with the peer's address it reached), or a UDP socket is
    /// bound or a server listens (no peer).
    Connected(Option<SocketAddr>),
    /// CIPSENDMODE=1: this many bytes are acknowledged by the peer.
    Acked(usize),
    /// A UDP datagram (or a TCP read, when the peer's address matters).
    Datagram { from: SocketAddr, data: Vec<u8> },
    /// A server accepted a client; the stream is handed to a new link's job.
    Accepted(Accepted),
    /// `AT+CDNSGIP`: the addresses of a name.
    Resolved(Vec<IpAddr>),
    /// `AT+CPING`: one probe answered after this many ms, or was lost (`None`).
    Probe(Option<u32>),
}

/// A connection a server accepted, on its way to its link's job (the core carries it
/// without touching it; scripted ones have no stream).
pub struct Accepted {
    pub peer: SocketAddr,
    pub stream: Option<tokio::net::TcpStream>,
}

impl fmt::Debug for Accepted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "accepted {}", self.peer)
    }
}

/// An operation for a link's job.
#[derive(Debug)]
pub enum SockOp {
    /// A UDP datagram to this destination (TCP data comes as plain input data).
    SendTo { to: (String, u16), data: Vec<u8> },
    /// TCP data whose acknowledgement by the peer the job reports (`SockStep::Acked`):
    /// a send while `AT+CIPSENDMODE=1`.
    SendAcked(Vec<u8>),
}

impl fmt::Display for SockOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SockOp::SendTo { to, data } => {
                write!(f, "send-to {}:{} {}", to.0, to.1, crate::transport::trace::escape(data))
            }
            SockOp::SendAcked(data) => write!(f, "send-acked {}", crate::transport::trace::escape(data)),
        }
    }
}

/// The socket family's job vocabulary.
#[derive(Debug)]
pub struct Sock;

impl Protocol for Sock {
    type Step = SockStep;
    type Error = SockError;
    type Op = SockOp;

    /// `connected [IP:PORT]`, `acked N`, `datagram IP:PORT TEXT`, `accepted IP:PORT`,
    /// `resolved IP...`, `probe MS`, `probe lost`.
    #[cfg(any(test, feature = "scripted"))]
    fn parse_step(text: &str) -> Result<SockStep, String> {
        let (verb, rest) = text.split_once(' ').unwrap_or((text, ""));
        let addr = |s: &str| s.parse::<SocketAddr>().map_err(|e| format!("address {s:?}: {e}"));
        Ok(match verb {
            "connected" if rest.is_empty() => SockStep::Connected(None),
            "connected" => SockStep::Connected(Some(addr(rest)?)),
            "acked" => SockStep::Acked(rest.parse().map_err(|_| format!("acked {rest:?}"))?),
            "datagram" => {
                let (from, data) = rest.split_once(' ').unwrap_or((rest, ""));
                SockStep::Datagram { from: addr(from)?, data: data.as_bytes().to_vec() }
            }
            "accepted" => SockStep::Accepted(Accepted { peer: addr(rest)?, stream: None }),
            "resolved" => SockStep::Resolved(
                rest.split_whitespace()
                    .map(|a| a.parse().map_err(|e| format!("address {a:?}: {e}")))
                    .collect::<Result<_, _>>()?,
            ),
            "probe" if rest == "lost" => SockStep::Probe(None),
            "probe" => SockStep::Probe(Some(rest.parse().map_err(|_| format!("probe {rest:?}"))?)),
            _ => return Err(format!("socket step {text:?}")),
        })
    }

    #[cfg(any(test, feature = "scripted"))]
    fn parse_error(text: &str) -> Result<SockError, String> {
        if text == "refused" {
            return Ok(SockError::Network);
        }
        SockError::ALL.into_iter().find(|e| e.name() == text).ok_or(format!("socket error {text:?}"))
    }

    #[cfg(any(test, feature = "scripted"))]
    fn fuzz_step(data: &[u8]) -> SockStep {
        let from = SocketAddr::from(([127, 0, 0, 1], u16::from(data.get(1).copied().unwrap_or(0)) + 1));
        match data.first().copied().unwrap_or(0) % 6 {
            0 => SockStep::Connected(data.get(2).map(|_| from)),
            1 => SockStep::Acked(data.len()),
            2 => SockStep::Datagram { from, data: data.to_vec() },
            3 => SockStep::Accepted(Accepted { peer: from, stream: None }),
            4 => SockStep::Resolved(vec![from.ip()]),
            _ => SockStep::Probe(data.get(2).map(|b| u32::from(*b))),
        }
    }

    #[cfg(any(test, feature = "scripted"))]
    fn fuzz_error(byte: u8) -> SockError {
        SockError::ALL[usize::from(byte) % SockError::ALL.len()]
    }
}

/// TCP or UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    #[default]
    Tcp,
    Udp,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Tcp => "TCP",
            Kind::Udp => "UDP",
        }
    }
}

/// Where a link is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    #[default]
    Closed,
    /// `AT+CIPOPEN` given, the connection not yet made.
    Opening,
    Open,
    /// The peer closed; what it sent stays readable until `AT+CIPCLOSE`.
    PeerClosed,
}

/// One link, 0-9.
#[derive(Debug, Default)]
pub struct Link {
    pub phase: Phase,
    pub kind: Kind,
    /// The peer as given (`AT+CIPOPEN`) or accepted.
    pub remote: Option<(String, u16)>,
    /// The address a TCP link we opened reached (the name given resolved): what
    /// `RECV FROM:` shows, as the module shows an IP address there.
    pub peer: Option<SocketAddr>,
    /// Server index for an accepted client, else none (`-1` in `AT+CIPOPEN?`).
    pub server: Option<u8>,
    pub job: Option<JobId>,
    /// Bumped on every open: events of an older job are ignored.
    pub generation: u64,
    /// Buffer-mode data not read yet, and data held while a transparent link is in
    /// command state.
    pub rx: Cache,
    /// The link is in transparent mode (`AT+CIPMODE=1`).
    pub transparent: bool,
    /// Bytes sent, acknowledged and received (`AT+CIPACK`).
    pub sent: u64,
    pub acked: u64,
    pub received: u64,
}

impl Link {
    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }
}

/// A TCP server (`AT+SERVERSTART`).
#[derive(Debug, Clone)]
pub struct Server {
    pub port: u16,
    pub job: JobId,
    pub generation: u64,
    /// `AT+SERVERSTOP` asked it to stop: `+SERVERSTOP: <index>,0` comes once the job has
    /// closed its listener, so a client that reads it can rely on the port being closed.
    pub stopping: bool,
}

/// `AT+CIPCCFG` fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ccfg {
    pub retries: u8,
    pub delay_ms: u16,
    pub ack: u8,
    /// 1: `+IP ERROR:` with text; 0: with the number.
    pub err_text: bool,
    /// 1: push-mode header `+RECEIVE,<l>,<len>`; 0: `+IPD<len>`.
    pub header_receive: bool,
    pub async_mode: u8,
    pub timeout_ms: u32,
    /// The SIM7600's eighth field.
    pub udp_recv_mode: u8,
}

impl Default for Ccfg {
    fn default() -> Self {
        Self {
            retries: 10,
            delay_ms: 0,
            ack: 0,
            err_text: true,
            header_receive: false,
            async_mode: 0,
            timeout_ms: 500,
            udp_recv_mode: 0,
        }
    }
}

/// The socket service's state (power-on defaults).
#[derive(Debug)]
pub struct SocketState {
    pub opened: bool,
    /// Opened with the SIM5320's old form (`AT+NETOPEN=,,1`): on that profile
    /// `AT+NETCLOSE` answers in the old words too.
    pub opened_old: bool,
    pub cipmode: u8,
    pub sendmode: u8,
    pub ccfg: Ccfg,
    /// `AT+CIPTIMEOUT`.
    pub timeouts: CipTimeouts,
    pub head: bool,
    pub srip: bool,
    /// `AT+CIPRXGET` mode: false push, true buffer.
    pub buffered: bool,
    pub links: [Link; LINKS],
    pub servers: [Option<Server>; SERVERS],
    /// `AT+NETCLOSE` ran while servers were listening: `+NETCLOSE: 0` comes once the last
    /// of their jobs has closed its listener, so a DTE that reads it can rely on every
    /// server port being closed (as `+SERVERSTOP` does for one).
    pub netclose_pending: bool,
    generation: u64,
}

/// `AT+CIPTIMEOUT`: how long `AT+NETOPEN`, `AT+CIPOPEN` and `AT+CIPSEND` may take, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CipTimeouts {
    pub netopen: u32,
    pub cipopen: u32,
    pub cipsend: u32,
}

impl Default for CipTimeouts {
    fn default() -> Self {
        Self { netopen: 120_000, cipopen: 120_000, cipsend: 120_000 }
    }
}

/// The family's part of the control channel's state report: the service and the links.
pub fn report(ctx: &mut Ctx) -> serde_json::Value {
    let st = state(ctx);
    let links: Vec<serde_json::Value> = st
        .links
        .iter()
        .enumerate()
        .filter(|(_, l)| l.is_open())
        .map(|(i, l)| {
            let peer = l.remote.as_ref().map(|(h, p)| format!("{h}:{p}"));
            serde_json::json!({ "link": i, "kind": l.kind.name().to_ascii_lowercase(), "peer": peer, "received": l.received, "sent": l.sent })
        })
        .collect();
    let servers = st.servers.iter().flatten().count();
    serde_json::json!({ "netopen": st.opened, "cipmode": st.cipmode, "links": links, "servers": servers })
}

impl Default for SocketState {
    fn default() -> Self {
        Self {
            opened: false,
            opened_old: false,
            cipmode: 0,
            sendmode: 0,
            ccfg: Ccfg::default(),
            timeouts: CipTimeouts::default(),
            head: true,
            srip: true,
            buffered: false,
            links: Default::default(),
            servers: Default::default(),
            netclose_pending: false,
            generation: 0,
        }
    }
}

impl Service for SocketState {}

impl SocketState {
    pub fn next_generation(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }
}

/// Settings of the socket family from the command line.
#[derive(Debug, Clone)]
pub struct SocketConfig {
    /// The host address `AT+SERVERSTART` listens on.
    pub server_bind: IpAddr,
    /// Module port → host port for `AT+SERVERSTART` (unlisted ports listen on the same
    /// port number).
    pub server_ports: Vec<(u16, u16)>,
    /// The socket service and a data call may use the same context at once (off: one
    /// refuses the other, docs/commands.md).
    pub share_context_with_ppp: bool,
}

impl Default for SocketConfig {
    fn default() -> Self {
        Self { server_bind: IpAddr::from([127, 0, 0, 1]), server_ports: Vec::new(), share_context_with_ppp: false }
    }
}

impl SocketConfig {
    /// Where a server on module port `port` listens on the host.
    pub fn listen_addr(&self, port: u16) -> SocketAddr {
        let host = self.server_ports.iter().find(|(m, _)| *m == port).map_or(port, |(_, h)| *h);
        SocketAddr::new(self.server_bind, host)
    }
}

/// The family's state, for its handlers and sinks.
fn state(ctx: &mut Ctx) -> &mut SocketState {
    ctx.services.get_mut()
}

/// The `+IP ERROR: <err_info>` line, with text or number per `AT+CIPCCFG`.
pub fn ip_error_line(ctx: &mut Ctx, e: IpError) -> String {
    if state(ctx).ccfg.err_text { format!("+IP ERROR: {}", e.text()) } else { format!("+IP ERROR: {}", e.number()) }
}

/// Packet service went: every link and server is gone, with `+CIPEVENT: NETWORK CLOSED
/// UNEXPECTEDLY` if the service was open (and the `+NETCLOSE: 0` of an `AT+NETCLOSE` still
/// waiting for its servers).
pub fn network_changed(ctx: &mut Ctx, up: bool) {
    let s = state(ctx);
    if up || !(s.opened || s.netclose_pending) {
        return;
    }
    tracing::info!("packet service lost: the socket service closes");
    let mut jobs: Vec<JobId> = s.links.iter().filter_map(|l| l.job).collect();
    jobs.extend(s.servers.iter().flatten().map(|srv| srv.job));
    for l in &mut s.links {
        *l = Link::default();
    }
    s.servers = Default::default();
    let was_open = std::mem::take(&mut s.opened);
    let netclose = std::mem::take(&mut s.netclose_pending);
    ctx.net.socket_service = None;
    for id in jobs {
        ctx.jobs.abort(id);
    }
    if netclose {
        ctx.urcs.push(Urc::Line("+NETCLOSE: 0".into()));
    }
    if was_open {
        ctx.urcs.push(Urc::Line("+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY".into()));
    }
}
