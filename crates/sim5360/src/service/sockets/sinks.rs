//! What the core does with the socket jobs' events: a link's data to the DTE (pushed,
//! buffered or raw), its connection and end as URCs; a server's clients as new links; the
//! answers of `AT+CDNSGIP` and `AT+CPING`.

use super::job;
use super::{CONNECT_BAUD, Kind, Link, Phase, RX_PAUSE, SEND_MAX, Sock, SockError, SockStep, SocketState, state};
use crate::modem::{CmdError, Ctx, DataMode, JobSink, Reply, Resume, Then, Urc};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tracing::{debug, info};

/// The sink of one link's job.
#[derive(Debug)]
pub struct LinkSink {
    pub link: usize,
    pub generation: u64,
}

impl LinkSink {
    /// The link, if it still belongs to this job.
    fn current<'a>(&self, ctx: &'a mut Ctx) -> Option<&'a mut Link> {
        let link = &mut state(ctx).links[self.link];
        (link.generation == self.generation && link.phase != Phase::Closed).then_some(link)
    }
}

/// Data the link received, to wherever its mode sends it.
fn deliver(ctx: &mut Ctx, l: usize, from: Option<SocketAddr>, data: Vec<u8>, urcs: &mut Vec<Urc>) {
    let job = state(ctx).links[l].job;
    let online = job.is_some_and(|j| ctx.is_online(j));
    let s = state(ctx);
    let (buffered, srip, head, receive_header) = (s.buffered, s.srip, s.head, s.ccfg.header_receive);
    let link = &mut s.links[l];
    link.received += data.len() as u64;
    if online {
        urcs.push(Urc::Raw(data));
        return;
    }
    if link.transparent || buffered {
        let announce = !link.transparent && link.rx.is_empty();
        link.rx.push(&data);
        if announce {
            urcs.push(Urc::Line(format!("+CIPRXGET: 1,{l}")));
        }
        return;
    }
    let from = from.or(link.peer).map(|a| (a.ip().to_string(), a.port())).or_else(|| link.remote.clone());
    for piece in data.chunks(SEND_MAX as usize) {
        if srip && let Some((ip, port)) = &from {
            urcs.push(Urc::Line(format!("RECV FROM:{ip}:{port}")));
        }
        let header = if receive_header {
            Some(format!("+RECEIVE,{l},{}", piece.len()))
        } else {
            head.then(|| format!("+IPD{}", piece.len()))
        };
        urcs.push(match header {
            Some(header) => Urc::Block { header, data: piece.to_vec() },
            None => Urc::Raw(piece.to_vec()),
        });
    }
}

impl JobSink for LinkSink {
    type Proto = Sock;

    /// `ATO` after `+++`: what the link received meanwhile goes first, then the online
    /// state again.
    fn resume(&mut self, ctx: &mut Ctx, urcs: &mut Vec<Urc>) -> Option<(String, DataMode)> {
        let link = self.current(ctx)?;
        if !link.transparent || !link.is_open() {
            return None;
        }
        let held = link.rx.take(usize::MAX);
        if !held.is_empty() {
            urcs.push(Urc::Raw(held));
        }
        Some((CONNECT_BAUD.into(), DataMode::Raw))
    }

    fn data(&mut self, ctx: &mut Ctx, data: Vec<u8>, urcs: &mut Vec<Urc>) -> Result<(), SockError> {
        if self.current(ctx).is_some() {
            deliver(ctx, self.link, None, data, urcs);
        }
        Ok(())
    }

    fn step(&mut self, ctx: &mut Ctx, result: Result<SockStep, SockError>, urcs: &mut Vec<Urc>) -> Resume {
        let l = self.link;
        let link = self.current(ctx)?;
        match result {
            Ok(SockStep::Connected(peer)) if link.phase == Phase::Opening => {
                link.phase = Phase::Open;
                link.peer = peer;
                match (link.kind, link.transparent, link.job) {
                    (Kind::Tcp, true, Some(job)) => Some(Ok(Reply::ok().then(Then::Online {
                        job,
                        banner: CONNECT_BAUD.into(),
                        mode: DataMode::Raw,
                    }))),
                    (Kind::Tcp, _, _) => {
                        urcs.push(Urc::Line(format!("+CIPOPEN: {l},0")));
                        None
                    }
                    (Kind::Udp, _, _) => Some(Ok(Reply::line(format!("+CIPOPEN: {l},0")))),
                }
            }
            Ok(SockStep::Acked(n)) => {
                link.acked += n as u64;
                urcs.push(Urc::Line(format!("+CIPSEND: {l},{n},{n}")));
                None
            }
            Ok(SockStep::Datagram { from, data }) => {
                deliver(ctx, l, Some(from), data, urcs);
                None
            }
            other => {
                debug!(link = l, "socket step ignored: {other:?}");
                None
            }
        }
    }

    fn done(self, ctx: &mut Ctx, result: Result<(), SockError>, urcs: &mut Vec<Urc>) -> Resume {
        let l = self.link;
        let job = self.current(ctx)?.job;
        let online = job.is_some_and(|j| ctx.is_online(j));
        let unknown = ctx.profile.socket_unknown_error();
        let link = self.current(ctx)?;
        let err = result.err().unwrap_or(SockError::PeerClosed);
        if link.phase == Phase::Opening {
            let (kind, transparent) = (link.kind, link.transparent);
            *link = Link::default();
            let line = format!("+CIPOPEN: {l},{}", err.code(unknown));
            info!(link = l, "the link could not be opened: {err:?}");
            return match (kind, transparent) {
                (Kind::Tcp, false) => {
                    urcs.push(Urc::Line(line));
                    None
                }
                (Kind::Tcp, true) => Some(Ok(Reply::ok().then(Then::Final("CONNECT FAIL".into())))),
                (Kind::Udp, _) => Some(Err(CmdError::Reported { lines: vec![line], why: "the UDP socket failed" })),
            };
        }
        info!(link = l, "the link closed: {err:?}");
        if link.transparent {
            let was_online = online;
            *link = Link::default();
            urcs.push(Urc::Line("CLOSED".into()));
            if was_online {
                urcs.push(Urc::Line("NO CARRIER".into()));
            }
            return None;
        }
        let reason = if err == SockError::SendTimeout { 2 } else { 1 };
        if link.rx.is_empty() {
            *link = Link::default();
        } else {
            // What the peer sent stays readable until AT+CIPCLOSE or the last read.
            link.phase = Phase::PeerClosed;
            link.job = None;
        }
        urcs.push(Urc::Line(format!("+IPCLOSE: {l},{reason}")));
        None
    }

    /// A full receive buffer: the socket is not read until the DTE reads some.
    fn paused(&self, ctx: &Ctx, held: usize) -> bool {
        ctx.services.get::<SocketState>().is_some_and(|s| {
            let link = &s.links[self.link];
            link.generation == self.generation && link.phase != Phase::Closed && link.rx.len() + held >= RX_PAUSE
        })
    }
}

/// The sink of a TCP server's job.
#[derive(Debug)]
pub struct ServerSink {
    pub index: u8,
    pub generation: u64,
    pub listening: bool,
}

impl ServerSink {
    fn current(&self, ctx: &mut Ctx) -> bool {
        state(ctx).servers[usize::from(self.index)].as_ref().is_some_and(|s| s.generation == self.generation)
    }
}

impl JobSink for ServerSink {
    type Proto = Sock;

    fn step(&mut self, ctx: &mut Ctx, result: Result<SockStep, SockError>, urcs: &mut Vec<Urc>) -> Resume {
        if !self.current(ctx) {
            return None;
        }
        match result {
            Ok(SockStep::Connected(_)) if !self.listening => {
                self.listening = true;
                Some(Ok(Reply::ok()))
            }
            Ok(SockStep::Accepted(accepted)) => {
                let peer = accepted.peer;
                let s = state(ctx);
                let Some(l) = s.links.iter().position(|l| l.phase == Phase::Closed) else {
                    info!("server {}: no free link for the client {peer}; closed", self.index);
                    return None;
                };
                let generation = s.next_generation();
                let send_timeout = Duration::from_millis(u64::from(s.timeouts.cipsend));
                let id = ctx.jobs.start(
                    format!("socket {l} tcp accepted {peer} server {}", self.index),
                    LinkSink { link: l, generation },
                    move |io| job::run_accepted(accepted, send_timeout, io),
                );
                state(ctx).links[l] = Link {
                    phase: Phase::Open,
                    kind: Kind::Tcp,
                    remote: Some((peer.ip().to_string(), peer.port())),
                    server: Some(self.index),
                    job: Some(id),
                    generation,
                    ..Link::default()
                };
                urcs.push(Urc::Line(format!("+CLIENT: {l},{},{}:{}", self.index, peer.ip(), peer.port())));
                None
            }
            other => {
                debug!("server step ignored: {other:?}");
                None
            }
        }
    }

    fn done(self, ctx: &mut Ctx, result: Result<(), SockError>, urcs: &mut Vec<Urc>) -> Resume {
        if !self.current(ctx) {
            return None;
        }
        let s = state(ctx);
        let server = s.servers[usize::from(self.index)].take();
        if server.is_some_and(|s| s.stopping) {
            urcs.push(Urc::Line(format!("+SERVERSTOP: {},0", self.index)));
        }
        if s.netclose_pending && s.servers.iter().all(Option::is_none) {
            s.netclose_pending = false;
            urcs.push(Urc::Line("+NETCLOSE: 0".into()));
        }
        if self.listening {
            info!("server {} stopped: {result:?}", self.index);
            return None;
        }
        let code = result.err().unwrap_or(SockError::Bind).code(ctx.profile.socket_unknown_error());
        Some(Err(CmdError::Reported { lines: vec![format!("+CIPERROR: {code}")], why: "cannot listen" }))
    }
}

/// The sink of an `AT+CDNSGIP` lookup.
#[derive(Debug)]
pub struct LookupSink {
    pub name: String,
    pub found: Vec<IpAddr>,
}

impl JobSink for LookupSink {
    type Proto = Sock;

    fn step(&mut self, _: &mut Ctx, result: Result<SockStep, SockError>, _: &mut Vec<Urc>) -> Resume {
        if let Ok(SockStep::Resolved(ips)) = result {
            self.found = ips;
        }
        None
    }

    fn done(self, _: &mut Ctx, result: Result<(), SockError>, _: &mut Vec<Urc>) -> Resume {
        match (result, self.found.first()) {
            (Ok(()), Some(ip)) => Some(Ok(Reply::line(format!("+CDNSGIP: 1,\"{}\",\"{ip}\"", self.name)))),
            _ => Some(Err(CmdError::reported("+CDNSGIP: 0,10", "the name did not resolve"))),
        }
    }
}

/// The TTL a `+CPING` reply reports: the reply's own, as the module reads it from the
/// echo reply, not the one the request went out with. The probes are TCP connection
/// attempts whose replies' TTL the host does not show, so it is the initial TTL of the
/// Linux hosts that answer (64): loopback adds no hops.
const REPLY_TTL: u8 = 64;

/// The sink of an `AT+CPING`.
#[derive(Debug)]
pub struct PingSink {
    pub size: u16,
    pub ip: String,
    pub times: Vec<u32>,
    pub lost: u32,
}

impl JobSink for PingSink {
    type Proto = Sock;

    fn step(&mut self, _: &mut Ctx, result: Result<SockStep, SockError>, urcs: &mut Vec<Urc>) -> Resume {
        match result {
            Ok(SockStep::Resolved(ips)) => {
                if let Some(ip) = ips.first() {
                    self.ip = ip.to_string();
                }
            }
            Ok(SockStep::Probe(Some(rtt))) => {
                self.times.push(rtt);
                urcs.push(Urc::Line(format!("+CPING: 1,{},{},{rtt},{REPLY_TTL}", self.ip, self.size)));
            }
            Ok(SockStep::Probe(None)) => {
                self.lost += 1;
                urcs.push(Urc::Line("+CPING: 2".into()));
            }
            other => debug!("ping step ignored: {other:?}"),
        }
        None
    }

    fn done(self, _: &mut Ctx, _: Result<(), SockError>, urcs: &mut Vec<Urc>) -> Resume {
        let received = self.times.len() as u32;
        let sent = received + self.lost;
        let (min, max) = (self.times.iter().min().copied().unwrap_or(0), self.times.iter().max().copied().unwrap_or(0));
        let avg =
            if received == 0 { 0 } else { self.times.iter().map(|t| u64::from(*t)).sum::<u64>() / u64::from(received) };
        urcs.push(Urc::Line(format!("+CPING: 3,{sent},{received},{},{min},{max},{avg}", self.lost)));
        None
    }
}
