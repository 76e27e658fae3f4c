//! The network's side of one PPP link: LCP, then PAP or CHAP if asked for, then IPCP, then
//! IPv4 packets both ways, until a Terminate-Request (from the DTE or ours) ends it.

use crate::fsm::{Fsm, Layer, Out, Verdict};
use crate::hdlc::{self, Deframer};
use crate::packet::{Opt, Packet, code, opt};
use crate::proto;
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// The restart timer of LCP and IPCP (RFC 1661 §4.6: 3 s).
const RESTART: Duration = Duration::from_secs(3);
/// How long the engine waits for the DTE's first frame before it sends its own request.
const FIRST_REQUEST_AFTER: Duration = Duration::from_secs(1);
/// How long an authenticatee may take to send its PAP request.
const PAP_WAIT: Duration = Duration::from_secs(30);
/// CHAP challenges sent before the link is given up.
const CHAP_TRIES: u8 = 10;
/// IP packets from the DTE waiting to be taken (past it they are dropped and counted, as a
/// router drops what it cannot forward).
const IP_QUEUE_MAX: usize = 512;
/// Output kept for the DTE before packets to it are dropped.
const OUT_MAX: usize = 256 * 1024;

/// Which authentication the network asks of the DTE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Auth {
    /// None, as a SIM5360 or SIM7600 asks.
    #[default]
    None,
    /// PAP (RFC 1334).
    Pap,
    /// CHAP with MD5 (RFC 1994); a DTE that Naks it for PAP gets PAP.
    Chap,
}

/// What one link is set up with.
#[derive(Debug, Clone)]
pub struct Config {
    pub auth: Auth,
    /// The user and password the DTE must give when authentication is asked; `None`
    /// accepts any.
    pub credentials: Option<(String, String)>,
    /// The address the DTE gets.
    pub peer_addr: Ipv4Addr,
    /// The DNS servers the DTE gets (RFC 1877).
    pub dns: [Ipv4Addr; 2],
    /// Seeds the magic numbers and CHAP challenges.
    pub seed: u64,
    /// The name in CHAP challenges.
    pub name: String,
}

/// Where the link is (RFC 1661 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Establish,
    Authenticate,
    Network,
    Terminate,
    Dead,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Establish => "establish",
            Self::Authenticate => "authenticate",
            Self::Network => "network",
            Self::Terminate => "terminate",
            Self::Dead => "dead",
        }
    }
}

/// Why the link ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownReason {
    /// The DTE sent an LCP Terminate-Request.
    PeerTerminated,
    /// The DTE's credentials were refused, or it would not authenticate.
    AuthFailed,
    /// The DTE did not answer (no LCP or IPCP agreement within the retries).
    NoResponse,
    /// The DTE rejected something the link cannot go without.
    Rejected,
    /// [`Engine::close`] was called (the network or the module ended it).
    Closed,
}

impl DownReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PeerTerminated => "the DTE terminated the link",
            Self::AuthFailed => "authentication failed",
            Self::NoResponse => "no answer from the DTE",
            Self::Rejected => "the DTE rejected a needed option",
            Self::Closed => "closed by the network",
        }
    }
}

/// What the link tells its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// IPCP is up: the DTE has `addr` and these DNS servers.
    Up { addr: Ipv4Addr, dns: [Ipv4Addr; 2] },
    /// The link is over.
    Down(DownReason),
}

/// Counters of the link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub frames_in: u64,
    pub frames_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub ip_in: u64,
    pub ip_out: u64,
    /// Frames with a bad FCS, a bad length or aborted.
    pub bad_frames: u64,
    /// IP packets dropped: the queue from the DTE full, or too big for the DTE's MRU.
    pub dropped: u64,
}

/// A small deterministic PRNG (xorshift64*): magic numbers and challenges need to differ
/// between links, not to be secret.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn nonzero_u32(&mut self) -> u32 {
        loop {
            let v = (self.next() >> 32) as u32;
            if v != 0 {
                return v;
            }
        }
    }
}

const PAP: [u8; 2] = [0xC0, 0x23];
const CHAP_MD5: [u8; 3] = [0xC2, 0x23, 0x05];

/// LCP's options, ours and the DTE's.
#[derive(Debug)]
struct Lcp {
    rng: Rng,
    /// Ours: what we still ask for (a rejected option is dropped).
    accm: Option<u32>,
    magic: Option<u32>,
    pfc: bool,
    acfc: bool,
    auth: Auth,
    /// The DTE's, from its request as we last judged it (in force once LCP is up).
    peer_accm: u32,
    peer_pfc: bool,
    peer_acfc: bool,
    peer_mru: u16,
    /// The auth the DTE would not do (Rejected or Nak'd to something we cannot do).
    auth_refused: bool,
}

impl Lcp {
    fn new(mut rng: Rng, auth: Auth) -> Self {
        let magic = Some(rng.nonzero_u32());
        Self {
            rng,
            accm: Some(0),
            magic,
            pfc: true,
            acfc: true,
            auth,
            peer_accm: 0xFFFF_FFFF,
            peer_pfc: false,
            peer_acfc: false,
            peer_mru: 1500,
            auth_refused: false,
        }
    }
}

impl Layer for Lcp {
    fn request(&mut self) -> Vec<u8> {
        let mut o = Vec::new();
        if let Some(a) = self.accm {
            o.extend(opt(2, &a.to_be_bytes()));
        }
        match self.auth {
            Auth::None => {}
            Auth::Pap => o.extend(opt(3, &PAP)),
            Auth::Chap => o.extend(opt(3, &CHAP_MD5)),
        }
        if let Some(m) = self.magic {
            o.extend(opt(5, &m.to_be_bytes()));
        }
        if self.pfc {
            o.extend(opt(7, &[]));
        }
        if self.acfc {
            o.extend(opt(8, &[]));
        }
        o
    }

    fn check(&mut self, opts: &[Opt<'_>]) -> Verdict {
        let (mut nak, mut rej) = (Vec::new(), Vec::new());
        let (mut accm, mut pfc, mut acfc, mut mru) = (0xFFFF_FFFF, false, false, 1500);
        for o in opts {
            match (o.kind, o.value.len()) {
                (1, 2) => mru = o.u16().unwrap_or(1500).max(64),
                (2, 4) => accm = o.u32().unwrap_or(0xFFFF_FFFF),
                (5, 4) => {
                    let m = o.u32().unwrap_or(0);
                    if m == 0 || Some(m) == self.magic {
                        // Zero, or our own: a loop or a bad value; suggest another.
                        nak.extend(opt(5, &self.rng.nonzero_u32().to_be_bytes()));
                    }
                }
                (7, 0) => pfc = true,
                (8, 0) => acfc = true,
                // Authentication of the network by the DTE, quality protocols, callback,
                // multilink, anything else: not negotiable here.
                _ => rej.extend(o.bytes()),
            }
        }
        if !rej.is_empty() {
            return Verdict::Rej(rej);
        }
        if !nak.is_empty() {
            return Verdict::Nak(nak);
        }
        (self.peer_accm, self.peer_pfc, self.peer_acfc, self.peer_mru) = (accm, pfc, acfc, mru);
        Verdict::Ack
    }

    fn nak(&mut self, opts: &[Opt<'_>]) -> bool {
        for o in opts {
            match o.kind {
                2 => self.accm = o.u32().or(self.accm),
                5 => self.magic = Some(self.rng.nonzero_u32()),
                3 => match (self.auth, o.value) {
                    // CHAP Nak'd to PAP: PAP (RFC 1994 leaves the choice to us; networks
                    // that ask CHAP accept it).
                    (Auth::Chap, v) if v.starts_with(&PAP) => self.auth = Auth::Pap,
                    (Auth::None, _) => {}
                    _ => {
                        self.auth_refused = true;
                        return false;
                    }
                },
                _ => {}
            }
        }
        true
    }

    fn rej(&mut self, opts: &[Opt<'_>]) -> bool {
        for o in opts {
            match o.kind {
                2 => self.accm = None,
                5 => self.magic = None,
                7 => self.pfc = false,
                8 => self.acfc = false,
                3 if self.auth != Auth::None => {
                    self.auth_refused = true;
                    return false;
                }
                _ => {}
            }
        }
        true
    }
}

/// IPCP's options: the DTE's address and DNS servers; ours is not asked (as a SIM7600,
/// whose request is empty) unless the DTE Naks one to us.
#[derive(Debug)]
struct Ipcp {
    assigned: Ipv4Addr,
    dns: [Ipv4Addr; 2],
    ours: Option<Ipv4Addr>,
    /// An address was Nak'd into a request that had none (once).
    offered: bool,
}

impl Layer for Ipcp {
    fn request(&mut self) -> Vec<u8> {
        self.ours.map(|a| opt(3, &a.octets())).unwrap_or_default()
    }

    fn check(&mut self, opts: &[Opt<'_>]) -> Verdict {
        let (mut nak, mut rej) = (Vec::new(), Vec::new());
        let mut has_addr = false;
        for o in opts {
            let want = match (o.kind, o.value.len()) {
                (3, 4) => {
                    has_addr = true;
                    Some(self.assigned)
                }
                (129, 4) => Some(self.dns[0]),
                (131, 4) => Some(self.dns[1]),
                // VJ compression (2), the old IP-Addresses (1), NBNS (130, 132), others.
                _ => {
                    rej.extend(o.bytes());
                    continue;
                }
            };
            if let Some(w) = want
                && o.value != w.octets()
            {
                nak.extend(opt(o.kind, &w.octets()));
            }
        }
        if !rej.is_empty() {
            return Verdict::Rej(rej);
        }
        if !has_addr && !self.offered {
            // A DTE that asks for no address gets one offered (RFC 1332 allows a Nak to
            // add options).
            self.offered = true;
            nak.extend(opt(3, &self.assigned.octets()));
        }
        if nak.is_empty() { Verdict::Ack } else { Verdict::Nak(nak) }
    }

    fn nak(&mut self, opts: &[Opt<'_>]) -> bool {
        for o in opts {
            if o.kind == 3
                && let Some(a) = o.u32()
            {
                self.ours = Some(Ipv4Addr::from(a));
            }
        }
        true
    }

    fn rej(&mut self, opts: &[Opt<'_>]) -> bool {
        if opts.iter().any(|o| o.kind == 3) {
            self.ours = None;
        }
        true
    }
}

/// The authentication phase.
#[derive(Debug, Clone)]
enum AuthState {
    Off,
    /// Waiting for the DTE's PAP request until then.
    Pap {
        until: Instant,
    },
    /// Our CHAP challenge is out.
    Chap {
        id: u8,
        challenge: [u8; 16],
        next: Instant,
        tries: u8,
    },
    Done,
}

/// One PPP link, the network's side. See the module documentation.
#[derive(Debug)]
pub struct Engine {
    cfg: Config,
    deframer: Deframer,
    out: Vec<u8>,
    ip_in: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    lcp: Fsm,
    lcp_opts: Lcp,
    ipcp: Fsm,
    ipcp_opts: Ipcp,
    phase: Phase,
    auth: AuthState,
    /// When our first request goes out if the DTE has said nothing (None once it has).
    first_request: Option<Instant>,
    reason: Option<DownReason>,
    stats: Stats,
    rng: Rng,
}

impl Engine {
    /// A link that starts at `now`: the DTE has just seen `CONNECT`.
    pub fn new(cfg: Config, now: Instant) -> Self {
        let mut rng = Rng(cfg.seed | 1);
        let lcp_rng = Rng(rng.next() | 1);
        let first = (rng.next() & 0x7F) as u8;
        Self {
            lcp_opts: Lcp::new(lcp_rng, cfg.auth),
            ipcp_opts: Ipcp { assigned: cfg.peer_addr, dns: cfg.dns, ours: None, offered: false },
            lcp: Fsm::new(RESTART, first),
            ipcp: Fsm::new(RESTART, first),
            cfg,
            deframer: Deframer::new(),
            out: Vec::new(),
            ip_in: VecDeque::new(),
            events: VecDeque::new(),
            phase: Phase::Establish,
            auth: AuthState::Off,
            first_request: Some(now + FIRST_REQUEST_AFTER),
            reason: None,
            stats: Stats::default(),
            rng,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        let c = self.deframer.counters;
        s.bad_frames = c.bad_fcs + c.bad_length + c.aborted;
        s
    }

    /// Bytes for the DTE (HDLC frames), everything waiting.
    pub fn poll_output(&mut self) -> Option<Vec<u8>> {
        (!self.out.is_empty()).then(|| std::mem::take(&mut self.out))
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next IPv4 packet from the DTE.
    pub fn poll_ip(&mut self) -> Option<Vec<u8>> {
        self.ip_in.pop_front()
    }

    /// When [`Engine::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Dead {
            return None;
        }
        let auth = match self.auth {
            AuthState::Pap { until } => Some(until),
            AuthState::Chap { next, .. } => Some(next),
            _ => None,
        };
        [self.first_request, self.lcp.poll_timeout(), self.ipcp.poll_timeout(), auth].into_iter().flatten().min()
    }

    /// Bytes from the DTE.
    pub fn input(&mut self, data: &[u8], now: Instant) {
        if self.phase == Phase::Dead {
            return;
        }
        self.stats.bytes_in += data.len() as u64;
        let mut frames = Vec::new();
        self.deframer.feed(data, |f| frames.push(f.to_vec()));
        for f in frames {
            self.stats.frames_in += 1;
            self.frame(&f, now);
            if self.phase == Phase::Dead {
                return;
            }
        }
        self.handle_timeout(now);
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase == Phase::Dead {
            return;
        }
        if self.first_request.is_some_and(|t| t <= now) {
            self.start(now);
        }
        self.lcp.handle_timeout(&mut self.lcp_opts, now);
        self.ipcp.handle_timeout(&mut self.ipcp_opts, now);
        match self.auth {
            AuthState::Pap { until } if until <= now => self.auth_failed(now),
            AuthState::Chap { next, tries, .. } if next <= now => {
                if tries >= CHAP_TRIES {
                    self.auth_failed(now);
                } else {
                    self.challenge(now, tries + 1);
                }
            }
            _ => {}
        }
        self.drain(now);
    }

    /// An IPv4 packet for the DTE (dropped unless IPCP is up, or when it exceeds the
    /// DTE's MRU or the output backlog).
    pub fn send_ip(&mut self, packet: &[u8]) {
        if !self.ipcp.is_opened() || self.phase != Phase::Network {
            return;
        }
        if packet.len() > usize::from(self.lcp_opts.peer_mru) || self.out.len() > OUT_MAX {
            self.stats.dropped += 1;
            return;
        }
        self.stats.ip_out += 1;
        self.send(proto::IPV4, packet);
    }

    /// Whether the DTE can take more IP packets now (the output is not backed up).
    pub fn ready_for_ip(&self) -> bool {
        self.out.len() <= OUT_MAX
    }

    /// End the link: LCP Terminate-Request, then down (on the DTE's Ack or after two
    /// tries of a restart period).
    pub fn close(&mut self, now: Instant) {
        if self.phase == Phase::Dead {
            return;
        }
        self.reason.get_or_insert(DownReason::Closed);
        self.first_request = None;
        if self.phase != Phase::Terminate {
            self.phase = Phase::Terminate;
            self.lcp.close(now);
        }
        self.drain(now);
    }

    /// Our LCP request goes out (first frame from the DTE, or its silence).
    fn start(&mut self, now: Instant) {
        if self.first_request.take().is_some() {
            self.lcp.open(&mut self.lcp_opts, now);
        }
    }

    fn frame(&mut self, f: &[u8], now: Instant) {
        let Some((protocol, info)) = hdlc::split(f) else { return };
        if self.first_request.is_some() {
            self.start(now);
        }
        match protocol {
            proto::LCP => self.lcp_packet(info, now),
            proto::PAP if self.phase == Phase::Authenticate => self.pap(info, now),
            proto::CHAP if self.phase == Phase::Authenticate => self.chap(info, now),
            proto::IPCP if self.phase == Phase::Network => {
                if let Some(p) = Packet::parse(info)
                    && let Err(p) = self.ipcp.input(&mut self.ipcp_opts, p, now)
                {
                    self.code_reject(proto::IPCP, p);
                }
            }
            proto::IPV4 if self.phase == Phase::Network && self.ipcp.is_opened() => {
                if self.ip_in.len() >= IP_QUEUE_MAX {
                    self.stats.dropped += 1;
                } else {
                    self.stats.ip_in += 1;
                    self.ip_in.push_back(info.to_vec());
                }
            }
            // Authentication or network packets out of their phase: silently discarded.
            proto::PAP | proto::CHAP | proto::IPCP | proto::IPV4 => {}
            other if self.lcp.is_opened() => {
                // CCP, IPV6CP, IPv6, IPX, ...: not run here (RFC 1661 §5.7).
                let mut data = other.to_be_bytes().to_vec();
                data.extend_from_slice(&info[..info.len().min(usize::from(self.lcp_opts.peer_mru) - 6)]);
                let id = self.next_id();
                self.send_lcp(&Packet::encode(code::PROT_REJ, id, &data));
            }
            _ => {}
        }
        self.drain(now);
    }

    fn lcp_packet(&mut self, info: &[u8], now: Instant) {
        let Some(p) = Packet::parse(info) else { return };
        if p.code == code::TERM_REQ && self.reason.is_none() {
            self.reason = Some(DownReason::PeerTerminated);
        }
        let Err(p) = self.lcp.input(&mut self.lcp_opts, p, now) else { return };
        match p.code {
            code::ECHO_REQ if self.lcp.is_opened() => {
                let magic = self.lcp_opts.magic.unwrap_or(0).to_be_bytes();
                let mut data = magic.to_vec();
                data.extend_from_slice(p.data.get(4..).unwrap_or_default());
                self.send_lcp(&Packet::encode(code::ECHO_REP, p.id, &data));
            }
            code::ECHO_REQ | code::ECHO_REP | code::DISC_REQ => {}
            code::PROT_REJ => {
                let rejected = p.data.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
                if rejected == Some(proto::IPCP) {
                    self.reason.get_or_insert(DownReason::Rejected);
                    self.ipcp.fatal_reject(now);
                }
            }
            code::CODE_REJ => {
                // A rejected code the link needs (a Configure or Terminate packet).
                if p.data.first().is_some_and(|c| (1..=7).contains(c)) {
                    self.reason.get_or_insert(DownReason::Rejected);
                    self.lcp.fatal_reject(now);
                }
            }
            _ => self.code_reject(proto::LCP, p),
        }
    }

    fn code_reject(&mut self, protocol: u16, p: Packet<'_>) {
        let mut data = Packet::encode(p.code, p.id, p.data);
        data.truncate(usize::from(self.lcp_opts.peer_mru) - 4);
        let id = self.next_id();
        let packet = Packet::encode(code::CODE_REJ, id, &data);
        if protocol == proto::LCP { self.send_lcp(&packet) } else { self.send(protocol, &packet) }
    }

    fn next_id(&mut self) -> u8 {
        (self.rng.next() >> 56) as u8
    }

    /// Whether the credentials the DTE gave are good.
    fn credentials_ok(&self, user: &[u8], check: impl Fn(&[u8]) -> bool) -> bool {
        match &self.cfg.credentials {
            None => true,
            Some((u, p)) => (u.is_empty() || u.as_bytes() == user) && check(p.as_bytes()),
        }
    }

    fn pap(&mut self, info: &[u8], now: Instant) {
        let Some(p) = Packet::parse(info) else { return };
        if p.code != 1 || !matches!(self.auth, AuthState::Pap { .. } | AuthState::Done) {
            return;
        }
        let d = p.data;
        let Some(&ulen) = d.first() else { return };
        let user = d.get(1..1 + usize::from(ulen)).unwrap_or_default();
        let rest = d.get(1 + usize::from(ulen)..).unwrap_or_default();
        let Some(&plen) = rest.first() else { return };
        let pass = rest.get(1..1 + usize::from(plen)).unwrap_or_default();
        let ok = self.credentials_ok(user, |want| want == pass);
        let msg: &[u8] = if ok { b"Login ok" } else { b"Login incorrect" };
        let mut data = vec![msg.len() as u8];
        data.extend_from_slice(msg);
        self.send(proto::PAP, &Packet::encode(if ok { 2 } else { 3 }, p.id, &data));
        if ok {
            self.authenticated(now);
        } else {
            self.auth_failed(now);
        }
    }

    fn challenge(&mut self, now: Instant, tries: u8) {
        let id = self.next_id();
        let mut challenge = [0u8; 16];
        for chunk in challenge.chunks_mut(8) {
            chunk.copy_from_slice(&self.rng.next().to_be_bytes());
        }
        let mut data = vec![16];
        data.extend_from_slice(&challenge);
        data.extend_from_slice(self.cfg.name.as_bytes());
        self.send(proto::CHAP, &Packet::encode(1, id, &data));
        self.auth = AuthState::Chap { id, challenge, next: now + RESTART, tries };
    }

    fn chap(&mut self, info: &[u8], now: Instant) {
        let Some(p) = Packet::parse(info) else { return };
        let AuthState::Chap { id, challenge, .. } = self.auth else { return };
        if p.code != 2 || p.id != id {
            return;
        }
        let Some(&vlen) = p.data.first() else { return };
        let value = p.data.get(1..1 + usize::from(vlen)).unwrap_or_default();
        let name = p.data.get(1 + usize::from(vlen)..).unwrap_or_default();
        let ok = self.credentials_ok(name, |secret| {
            use md5::Digest;
            let mut h = md5::Md5::new();
            h.update([id]);
            h.update(secret);
            h.update(challenge);
            h.finalize().as_slice() == value
        });
        let (c, msg): (u8, &[u8]) = if ok { (3, b"Welcome") } else { (4, b"Access denied") };
        self.send(proto::CHAP, &Packet::encode(c, id, msg));
        if ok {
            self.authenticated(now);
        } else {
            self.auth_failed(now);
        }
    }

    fn authenticated(&mut self, now: Instant) {
        self.auth = AuthState::Done;
        self.phase = Phase::Network;
        self.ipcp.open(&mut self.ipcp_opts, now);
    }

    fn auth_failed(&mut self, now: Instant) {
        self.auth = AuthState::Off;
        self.reason.get_or_insert(DownReason::AuthFailed);
        self.close(now);
    }

    /// Act on what the automata asked for.
    fn drain(&mut self, now: Instant) {
        loop {
            let lcp = std::mem::take(&mut self.lcp.out);
            let ipcp = std::mem::take(&mut self.ipcp.out);
            if lcp.is_empty() && ipcp.is_empty() {
                return;
            }
            for o in lcp {
                match o {
                    Out::Send(p) => self.send_lcp(&p),
                    Out::Up => self.lcp_up(now),
                    Out::Down => {
                        self.ipcp.down();
                        if self.phase != Phase::Terminate {
                            self.phase = Phase::Establish;
                        }
                    }
                    Out::Finished => {
                        let reason = self.reason.unwrap_or(DownReason::NoResponse);
                        self.phase = Phase::Dead;
                        self.events.push_back(Event::Down(reason));
                        return;
                    }
                    Out::Failed => {
                        let reason =
                            if self.lcp_opts.auth_refused { DownReason::AuthFailed } else { DownReason::Rejected };
                        self.reason.get_or_insert(reason);
                        self.close(now);
                    }
                }
            }
            for o in ipcp {
                match o {
                    Out::Send(p) => self.send(proto::IPCP, &p),
                    Out::Up => self.events.push_back(Event::Up { addr: self.cfg.peer_addr, dns: self.cfg.dns }),
                    Out::Down => {}
                    Out::Finished | Out::Failed => {
                        self.reason.get_or_insert(DownReason::NoResponse);
                        self.close(now);
                    }
                }
            }
        }
    }

    fn lcp_up(&mut self, now: Instant) {
        match self.lcp_opts.auth {
            Auth::None => {
                self.phase = Phase::Network;
                self.ipcp.open(&mut self.ipcp_opts, now);
            }
            Auth::Pap => {
                self.phase = Phase::Authenticate;
                self.auth = AuthState::Pap { until: now + PAP_WAIT };
            }
            Auth::Chap => {
                self.phase = Phase::Authenticate;
                self.challenge(now, 1);
            }
        }
    }

    /// An LCP packet: never compressed, every control character escaped (RFC 1662 §7).
    fn send_lcp(&mut self, packet: &[u8]) {
        let mut payload = vec![0xFF, 0x03];
        payload.extend_from_slice(&proto::LCP.to_be_bytes());
        payload.extend_from_slice(packet);
        let before = self.out.len();
        hdlc::encode(&payload, 0xFFFF_FFFF, &mut self.out);
        self.count_out(before);
    }

    /// A packet of another protocol, with the compression and ACCM LCP agreed.
    fn send(&mut self, protocol: u16, packet: &[u8]) {
        let up = self.lcp.is_opened();
        let l = &self.lcp_opts;
        let mut payload = Vec::with_capacity(packet.len() + 4);
        if !(up && l.peer_acfc) {
            payload.extend_from_slice(&[0xFF, 0x03]);
        }
        if up && l.peer_pfc && protocol < 0x100 {
            payload.push(protocol as u8);
        } else {
            payload.extend_from_slice(&protocol.to_be_bytes());
        }
        payload.extend_from_slice(packet);
        let accm = if up { l.peer_accm } else { 0xFFFF_FFFF };
        let before = self.out.len();
        hdlc::encode(&payload, accm, &mut self.out);
        self.count_out(before);
    }

    fn count_out(&mut self, before: usize) {
        self.stats.frames_out += 1;
        self.stats.bytes_out += (self.out.len() - before) as u64;
    }
}
