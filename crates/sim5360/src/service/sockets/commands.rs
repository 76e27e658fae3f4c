//! The socket family's rows and handlers. Every answer's shape and the choices where no
//! source settles it are in docs/commands.md (TCP/IP sockets).

use super::job::{self, PingJob, TcpJob, UdpJob};
use super::sinks::{LinkSink, LookupSink, PingSink, ServerSink};
use super::{
    IpError, Kind, LINKS, Link, Phase, READ_MAX, SEND_MAX, Server, Sock, SockError, SockOp, SocketConfig,
    ip_error_line, state,
};
use crate::job::{JobId, JobInput};
use crate::modem::table::CommandSpec;
use crate::modem::{CmdError, Ctx, DataSink, OutputStream, Reply, Then, Urc};
use std::fmt::Write as _;
use std::time::Duration;
use v250::{Args, Framing};

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("+NETOPEN").exec(netopen).write(netopen_old).read(netopen_read).test_ok().sim(),
    CommandSpec::new("+NETCLOSE").exec(netclose).test_ok().sim(),
    CommandSpec::new("+IPADDR").exec(ipaddr).test_ok().sim(),
    CommandSpec::new("+CIPMODE").exec(cipmode).write(cipmode).read(cipmode_read).test_text("+CIPMODE: (0-1)"),
    CommandSpec::new("+CIPSENDMODE")
        .exec(sendmode)
        .write(sendmode)
        .read(sendmode_read)
        .test_text("+CIPSENDMODE: (0-1)"),
    CommandSpec::new("+CIPCCFG").exec(ccfg_reset).write(ccfg).read(ccfg_read).test(ccfg_test),
    CommandSpec::new("+CIPTIMEOUT")
        .write(timeouts)
        .read(timeouts_read)
        .test_text("+CIPTIMEOUT: (3000-120000),(3000-120000),(3000-120000)"),
    CommandSpec::new("+CIPHEAD").exec(head).write(head).read(head_read).test_text("+CIPHEAD: (0-1)"),
    CommandSpec::new("+CIPSRIP").exec(srip).write(srip).read(srip_read).test_text("+CIPSRIP: (0-1)"),
    CommandSpec::new("+CIPRXGET").write(rxget).read(rxget_read).test(rxget_test).sim(),
    CommandSpec::new("+CIPOPEN").write(open).read(open_read).test_text("+CIPOPEN: (0-9),(\"TCP\",\"UDP\")").sim(),
    CommandSpec::new("+CIPSEND").write(send).test_text("+CIPSEND: (0-9),(1-1500)").sim(),
    CommandSpec::new("+CIPCLOSE").write(close).read(close_read).test_text("+CIPCLOSE: (0-9)").sim(),
    CommandSpec::new("+CIPACK").write(ack).test_text("+CIPACK: (0-9)").sim(),
    CommandSpec::new("+SERVERSTART")
        .write(server_start)
        .read(server_read)
        .test_text("+SERVERSTART: (0-65535),(0-3)")
        .sim(),
    CommandSpec::new("+SERVERSTOP").write(server_stop).test_text("+SERVERSTOP: (0-3)").sim(),
    CommandSpec::new("+CDNSGIP").write(dns).test_ok().sim(),
    CommandSpec::new("+CPING").write(ping).test_text(PING_TEST).sim(),
];

const PING_TEST: &str = "+CPING: IP address,(1),(1-100),(4-188),(1000-10000),(10000-100000),(16-255)";

/// `+IP ERROR: <err_info>`, then `ERROR`.
fn ip_error(ctx: &mut Ctx, e: IpError, why: &'static str) -> CmdError {
    CmdError::reported(ip_error_line(ctx, e), why)
}

/// `<prefix>: <link>,<err>`, then `ERROR`.
fn link_error(ctx: &Ctx, prefix: &str, link: usize, e: SockError, why: &'static str) -> CmdError {
    CmdError::reported(format!("{prefix}: {link},{}", e.code(ctx.profile.socket_unknown_error())), why)
}

/// `+CIPERROR: <err>`, then `ERROR`.
fn cip_error(ctx: &Ctx, e: SockError, why: &'static str) -> CmdError {
    CmdError::reported(format!("+CIPERROR: {}", e.code(ctx.profile.socket_unknown_error())), why)
}

/// A link number, 0-9 (`None` when out of range or not a number).
fn link_number(args: &mut Args<'_>) -> Result<Option<usize>, CmdError> {
    Ok(match args.opt_int() {
        Ok(Some(n)) if (0..LINKS as i64).contains(&n) => Some(n as usize),
        Ok(_) | Err(_) => None,
    })
}

/// The context `AT+CSOCKSETPN` chose for the socket service (1 by default).
fn socket_cid(ctx: &mut Ctx) -> u8 {
    crate::network::pdp::socket(ctx).active.unwrap_or(1)
}

/// Open the service: `Ok` when packet service is there and no data call holds the
/// socket context (docs/commands.md: sockets beside a PPP call).
fn open_service(ctx: &mut Ctx) -> bool {
    if !ctx.net.registered() || ctx.net.cfun != 1 {
        return false;
    }
    let cid = socket_cid(ctx);
    if ctx.net.data_call == Some(cid) && !ctx.setting::<SocketConfig>().is_some_and(|c| c.share_context_with_ppp) {
        tracing::info!(cid, "AT+NETOPEN: a data call holds the context");
        return false;
    }
    ctx.net.socket_service = Some(cid);
    ctx.net.set_pdp_active(cid, true);
    state(ctx).opened = true;
    true
}

/// `AT+NETOPEN`: `OK`, then `+NETOPEN: 0` (or `+NETOPEN: 1` without packet service).
fn netopen(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    if state(ctx).opened {
        return Err(ip_error(ctx, IpError::AlreadyOpened, "the socket service is already open"));
    }
    state(ctx).opened_old = false;
    let code = if open_service(ctx) { 0 } else { 1 };
    ctx.urcs.push(Urc::Line(format!("+NETOPEN: {code}")));
    Ok(Reply::ok())
}

/// `AT+NETOPEN=[<sock_type>,<port>][,<mode>]`, the SIM5320's older form (FONA sends
/// `AT+NETOPEN=,,1`): `Network opened`, `OK`.
fn netopen_old(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let _sock_type = args.opt_str()?;
    let _port = args.opt_in::<u16>(0..=65535)?;
    let _mode = args.opt_in::<u8>(0..=1)?;
    args.finish()?;
    if state(ctx).opened {
        return Err(ip_error(ctx, IpError::AlreadyOpened, "the socket service is already open"));
    }
    if !open_service(ctx) {
        return Err(CmdError::Refused("no packet service"));
    }
    state(ctx).opened_old = true;
    Ok(Reply::line("Network opened"))
}

/// `AT+NETOPEN?`: `+NETOPEN: <0|1>`; the SIM5320 adds its mode field (`+NETOPEN: 0,0`, a
/// SIM5320E's log in TinyGSM issue 581; every parser seen matches the prefix).
fn netopen_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let open = u8::from(state(ctx).opened);
    if ctx.profile.model == crate::profile::Model::Sim5320 {
        return Ok(Reply::line(format!("+NETOPEN: {open},0")));
    }
    Ok(Reply::line(format!("+NETOPEN: {open}")))
}

/// Close link `l` at once (its job flushes and closes in the background): the lines
/// that tell it (`CLOSED` for a transparent link, `+CIPCLOSE: <l>,0`).
fn close_link(ctx: &mut Ctx, l: usize) -> Vec<String> {
    let link = std::mem::take(&mut state(ctx).links[l]);
    if let Some(id) = link.job {
        if link.phase == Phase::Open && link.kind == Kind::Tcp {
            ctx.jobs.send(id, JobInput::Close);
        } else {
            ctx.jobs.abort(id);
        }
    }
    let mut lines = Vec::new();
    if link.transparent && link.phase == Phase::Open {
        lines.push("CLOSED".into());
    }
    lines.push(format!("+CIPCLOSE: {l},0"));
    lines
}

/// `AT+NETCLOSE`: open links are closed (`+CIPCLOSE: <l>,0` each), then `+NETCLOSE: 0`,
/// once every server's listener is closed (their jobs are told to close and the last one
/// to end reports it); when not open, `+NETCLOSE: 2` and `ERROR` at once. Under the
/// sim5320 profile a service opened with the old `AT+NETOPEN=,,1` closes in the old words:
/// `Network closed`, `OK`.
fn netclose(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    if !state(ctx).opened {
        return Err(CmdError::reported("+NETCLOSE: 2", "the socket service is not open"));
    }
    for l in 0..LINKS {
        if state(ctx).links[l].phase != Phase::Closed {
            for line in close_link(ctx, l) {
                ctx.urcs.push(Urc::Line(line));
            }
        }
    }
    let s = state(ctx);
    let listening = s.servers.iter().any(Option::is_some);
    // One that AT+SERVERSTOP already told to close is on its way.
    let closing: Vec<JobId> = s.servers.iter().flatten().filter(|srv| !srv.stopping).map(|srv| srv.job).collect();
    for job in closing {
        ctx.jobs.send(job, JobInput::Close);
    }
    let sim5320 = ctx.profile.model == crate::profile::Model::Sim5320;
    let s = state(ctx);
    s.opened = false;
    let old = std::mem::take(&mut s.opened_old) && sim5320;
    s.netclose_pending = listening && !old;
    let cid = socket_cid(ctx);
    ctx.net.socket_service = None;
    if ctx.net.data_call != Some(cid) {
        ctx.net.set_pdp_active(cid, false);
    }
    if old {
        // The SIM5320's old TCP/IP command set (Adafruit FONA 3G waits for these words).
        return Ok(Reply::line("Network closed"));
    }
    if !listening {
        ctx.urcs.push(Urc::Line("+NETCLOSE: 0".into()));
    }
    Ok(Reply::ok())
}

/// `AT+IPADDR`: `+IPADDR: <ip>` of the socket PDP context.
fn ipaddr(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    if !state(ctx).opened {
        return Err(ip_error(ctx, IpError::NotOpened, "the socket service is not open"));
    }
    let cid = socket_cid(ctx);
    Ok(Reply::line(format!("+IPADDR: {}", crate::network::pdp::address(cid))))
}

/// `AT+CIPMODE[=<0|1>]`: command (0) or transparent (1) mode, set before `AT+NETOPEN`.
fn cipmode(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let mode = args.opt_in::<u8>(0..=1)?.unwrap_or(0);
    args.finish()?;
    if state(ctx).opened && state(ctx).cipmode != mode {
        return Err(CmdError::Refused("AT+CIPMODE changes only before AT+NETOPEN"));
    }
    state(ctx).cipmode = mode;
    Ok(Reply::ok())
}

fn cipmode_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CIPMODE: {}", state(ctx).cipmode)))
}

/// `AT+CIPSENDMODE[=<0|1>]`: `+CIPSEND:` at once (0) or once the peer acknowledged (1).
fn sendmode(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let mode = args.opt_in::<u8>(0..=1)?.unwrap_or(0);
    args.finish()?;
    state(ctx).sendmode = mode;
    Ok(Reply::ok())
}

fn sendmode_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CIPSENDMODE: {}", state(ctx).sendmode)))
}

/// `AT+CIPCCFG=[<NmRetry>][,[<DelayTm>][,[<Ack>][,[<errMode>][,[<HeaderType>][,[<AsyncMode>][,[<TimeoutVal>]]]]]]]`
/// (the SIM7600 has an eighth, `<udpRecvMode>`): omitted fields keep their values.
fn ccfg(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let mut c = state(ctx).ccfg;
    if let Some(v) = args.opt_in::<u8>(0..=10)? {
        c.retries = v;
    }
    if let Some(v) = args.opt_in::<u16>(0..=1000)? {
        c.delay_ms = v;
    }
    if let Some(v) = args.opt_in::<u8>(0..=0)? {
        c.ack = v;
    }
    if let Some(v) = args.opt_in::<u8>(0..=1)? {
        c.err_text = v == 1;
    }
    if let Some(v) = args.opt_in::<u8>(0..=1)? {
        c.header_receive = v == 1;
    }
    if let Some(v) = args.opt_in::<u8>(0..=1)? {
        c.async_mode = v;
    }
    if let Some(v) = args.opt_in::<u32>(500..=120_000)? {
        c.timeout_ms = v;
    }
    if ctx.profile.lte()
        && let Some(v) = args.opt_in::<u8>(0..=1)?
    {
        c.udp_recv_mode = v;
    }
    args.finish()?;
    state(ctx).ccfg = c;
    Ok(Reply::ok())
}

/// `AT+CIPCCFG`: every field back to its default.
fn ccfg_reset(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    state(ctx).ccfg = super::Ccfg::default();
    Ok(Reply::ok())
}

fn ccfg_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let lte = ctx.profile.lte();
    let c = state(ctx).ccfg;
    let mut line = format!(
        "+CIPCCFG: {},{},{},{},{},{},{}",
        c.retries,
        c.delay_ms,
        c.ack,
        u8::from(c.err_text),
        u8::from(c.header_receive),
        c.async_mode,
        c.timeout_ms
    );
    if lte {
        let _ = write!(line, ",{}", c.udp_recv_mode);
    }
    Ok(Reply::line(line))
}

fn ccfg_test(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let extra = if ctx.profile.lte() { ",(0-1)" } else { "" };
    Ok(Reply::line(format!("+CIPCCFG: (0-10),(0-1000),(0),(0-1),(0-1),(0-1),(500-120000){extra}")))
}

/// `AT+CIPTIMEOUT=[<netopen_timeout>][,[<cipopen_timeout>][,[<cipsend_timeout>]]]` (ms).
fn timeouts(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let mut t = state(ctx).timeouts;
    for slot in [&mut t.netopen, &mut t.cipopen, &mut t.cipsend] {
        if let Some(v) = args.opt_in::<u32>(3000..=120_000)? {
            *slot = v;
        }
    }
    args.finish()?;
    state(ctx).timeouts = t;
    Ok(Reply::ok())
}

fn timeouts_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let t = state(ctx).timeouts;
    Ok(Reply::line(format!("+CIPTIMEOUT: {},{},{}", t.netopen, t.cipopen, t.cipsend)))
}

/// `AT+CIPHEAD[=<0|1>]`: push-mode data with the `+IPD<len>` header (exec: 1).
fn head(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let v = args.opt_in::<u8>(0..=1)?.unwrap_or(1);
    args.finish()?;
    state(ctx).head = v == 1;
    Ok(Reply::ok())
}

fn head_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CIPHEAD: {}", u8::from(state(ctx).head))))
}

/// `AT+CIPSRIP[=<0|1>]`: push-mode data after `RECV FROM:<ip>:<port>` (exec: 1).
fn srip(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let v = args.opt_in::<u8>(0..=1)?.unwrap_or(1);
    args.finish()?;
    state(ctx).srip = v == 1;
    Ok(Reply::ok())
}

fn srip_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CIPSRIP: {}", u8::from(state(ctx).srip))))
}

/// An answer followed by raw bytes, then the line goes on (to `OK`).
#[derive(Debug)]
struct RawAnswer(Option<(String, Vec<u8>)>);

impl OutputStream for RawAnswer {
    fn next(&mut self, _: &mut Ctx, framing: &Framing, out: &mut Vec<u8>) -> Result<bool, CmdError> {
        if let Some((line, data)) = self.0.take() {
            framing.info(&[line], out);
            out.extend_from_slice(&data);
        }
        Ok(false)
    }
}

/// `AT+CIPRXGET=<mode>[,<link>[,<len>]]`: 0 push mode, 1 buffer mode (any time);
/// `2,<l>[,<len>]` reads up to `<len>` (at most 1500) bytes: `+CIPRXGET: 2,<l>,<read>,<rest>`,
/// exactly `<read>` raw bytes, `OK`; `3,...` the same as hex (at most 750 bytes);
/// `4,<l>`: `+CIPRXGET: 4,<l>,<buffered>`.
fn rxget(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let mode = args.next_in::<u8>(0..=4)?;
    if mode <= 1 {
        args.finish()?;
        state(ctx).buffered = mode == 1;
        return Ok(Reply::ok());
    }
    let Some(l) = link_number(&mut args)? else {
        return Err(ip_error(ctx, IpError::InvalidParameter, "link 0-9"));
    };
    if mode == 4 {
        args.finish()?;
        let rest = state(ctx).links[l].rx.len();
        return Ok(Reply::line(format!("+CIPRXGET: 4,{l},{rest}")));
    }
    let cap = if mode == 3 { READ_MAX / 2 } else { READ_MAX };
    // More than the module reads at once is clamped (TinyGSM with a large buffer asks).
    let want = match args.opt_int() {
        Ok(None) => cap,
        Ok(Some(n)) if n >= 1 => usize::try_from(n).unwrap_or(cap).min(cap),
        _ => return Err(ip_error(ctx, IpError::InvalidParameter, "read length 1-1500")),
    };
    args.finish()?;
    let link = &mut state(ctx).links[l];
    if link.rx.is_empty() {
        return Err(ip_error(ctx, IpError::NoData, "nothing buffered on the link"));
    }
    let data = link.rx.take(want);
    let rest = link.rx.len();
    if rest == 0 && link.phase == Phase::PeerClosed {
        *link = Link::default();
    }
    let header = format!("+CIPRXGET: {mode},{l},{},{rest}", data.len());
    let body = if mode == 3 { hex(&data).into_bytes() } else { data };
    Ok(Reply::ok().then(Then::Stream(Box::new(RawAnswer(Some((header, body)))))))
}

fn hex(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len() * 2);
    for b in data {
        let _ = write!(s, "{b:02X}");
    }
    s
}

fn rxget_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CIPRXGET: {}", u8::from(state(ctx).buffered))))
}

fn rxget_test(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let modes = if ctx.profile.lte() { "(0-5)" } else { "(0-4)" };
    Ok(Reply::line(format!("+CIPRXGET: {modes},(0-9),(1-1500)")))
}

/// `AT+CIPOPEN=<l>,"TCP","<host>",<port>[,<local_port>]` (`OK`, then `+CIPOPEN: <l>,<err>`;
/// in transparent mode `CONNECT 115200` or `CONNECT FAIL`), `AT+CIPOPEN=<l>,"UDP",[<host>],[<port>],<local_port>`
/// (`+CIPOPEN: <l>,0`, then `OK`). Refusals: `+CIPOPEN: <l>,<err>` and `ERROR`.
fn open(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let Some(l) = link_number(&mut args)? else {
        return Err(ip_error(ctx, IpError::InvalidParameter, "link 0-9"));
    };
    let bad = |ctx: &Ctx| link_error(ctx, "+CIPOPEN", l, SockError::Param, "bad parameter");
    let kind = match args.opt_str() {
        Ok(Some(t)) if t.eq_ignore_ascii_case("TCP") => Kind::Tcp,
        Ok(Some(t)) if t.eq_ignore_ascii_case("UDP") => Kind::Udp,
        _ => return Err(bad(ctx)),
    };
    let host = match args.opt_str() {
        Ok(h) if h.is_none_or(|h| h.len() <= 255 && !h.contains(char::is_whitespace)) => {
            h.filter(|h| !h.is_empty()).map(str::to_owned)
        }
        _ => return Err(bad(ctx)),
    };
    let Ok(port) = args.opt_in::<u16>(0..=65535) else { return Err(bad(ctx)) };
    let Ok(local) = args.opt_in::<u16>(0..=65535) else { return Err(bad(ctx)) };
    if args.finish().is_err() {
        return Err(bad(ctx));
    }
    let s = state(ctx);
    if !s.opened {
        return Err(link_error(ctx, "+CIPOPEN", l, SockError::NotOpened, "the socket service is not open"));
    }
    if s.links[l].phase != Phase::Closed {
        return Err(link_error(ctx, "+CIPOPEN", l, SockError::NotSupported, "the link is in use"));
    }
    let transparent = s.cipmode == 1;
    if transparent && (l != 0 || kind != Kind::Tcp) {
        return Err(link_error(ctx, "+CIPOPEN", l, SockError::NotSupported, "transparent mode has TCP link 0 only"));
    }
    let (open_ms, send_ms) = (s.timeouts.cipopen, s.timeouts.cipsend);
    let generation = s.next_generation();
    let sink = LinkSink { link: l, generation };
    let send_timeout = Duration::from_millis(u64::from(send_ms));
    let (id, remote) = match kind {
        Kind::Tcp => {
            let (Some(host), Some(port @ 1..)) = (host, port) else { return Err(bad(ctx)) };
            let job = TcpJob {
                link: l,
                host: host.clone(),
                port,
                open_timeout: Duration::from_millis(u64::from(open_ms)),
                send_timeout,
                chunk: if transparent { 16 * 1024 } else { super::READ_CHUNK },
            };
            (ctx.jobs.start(job.label(), sink, move |io| job::run_tcp(job, io)), Some((host, port)))
        }
        Kind::Udp => {
            let remote = match (host, port) {
                (Some(h), Some(p @ 1..)) => Some((h, p)),
                (None, None | Some(0)) => None,
                _ => return Err(bad(ctx)),
            };
            let job = UdpJob { link: l, local: local.unwrap_or(0), remote: remote.clone(), send_timeout };
            (ctx.jobs.start(job.label(), sink, move |io| job::run_udp(job, io)), remote)
        }
    };
    state(ctx).links[l] =
        Link { phase: Phase::Opening, kind, remote, job: Some(id), generation, transparent, ..Link::default() };
    Ok(match (kind, transparent) {
        (Kind::Tcp, false) => Reply::ok(),
        _ => Reply::ok().then(Then::Wait(id)),
    })
}

/// `AT+CIPOPEN?`: one line per link: `+CIPOPEN: <l>` when closed, else
/// `+CIPOPEN: <l>,"<type>","<ip>",<port>,<index>` (`-1` for a client link).
fn open_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let lines = state(ctx)
        .links
        .iter()
        .enumerate()
        .map(|(l, link)| match (&link.remote, link.is_open()) {
            (Some((h, p)), true) => {
                let index = link.server.map_or(-1, i16::from);
                format!("+CIPOPEN: {l},\"{}\",\"{h}\",{p},{index}", link.kind.name())
            }
            (None, true) => format!("+CIPOPEN: {l},\"{}\",\"\",0,-1", link.kind.name()),
            _ => format!("+CIPOPEN: {l}"),
        })
        .collect();
    Ok(Reply::lines(lines))
}

/// The data of one `AT+CIPSEND`, sent whole once it is complete.
#[derive(Debug)]
struct SendEntry {
    link: usize,
    generation: u64,
    job: JobId,
    to: Option<(String, u16)>,
    data: Vec<u8>,
    too_long: bool,
}

impl DataSink for SendEntry {
    fn write(&mut self, _: &mut Ctx, data: &[u8]) -> Result<(), CmdError> {
        let room = (SEND_MAX as usize).saturating_sub(self.data.len());
        self.too_long |= data.len() > room;
        self.data.extend_from_slice(&data[..data.len().min(room)]);
        Ok(())
    }

    fn finish(self: Box<Self>, ctx: &mut Ctx) -> Result<Reply, CmdError> {
        if self.too_long {
            return Err(cip_error(ctx, SockError::Param, "more than 1500 bytes in one send"));
        }
        let still_open = {
            let link = &state(ctx).links[self.link];
            link.generation == self.generation && link.is_open()
        };
        if !still_open {
            return Err(cip_error(ctx, SockError::NotSupported, "the link closed during the send"));
        }
        let n = self.data.len();
        let s = state(ctx);
        s.links[self.link].sent += n as u64;
        // CIPSENDMODE=1 as it is now: a TCP send is reported once the peer acknowledged
        // it; a datagram has nothing to wait for.
        let acked = s.sendmode == 1 && s.links[self.link].kind == Kind::Tcp;
        match self.to {
            Some(to) => ctx.jobs.send_op::<Sock>(self.job, SockOp::SendTo { to, data: self.data }),
            None if acked => ctx.jobs.send_op::<Sock>(self.job, SockOp::SendAcked(self.data)),
            None => ctx.jobs.send(self.job, JobInput::Data(self.data)),
        }
        if !acked {
            ctx.urcs.push(Urc::Line(format!("+CIPSEND: {},{n},{n}", self.link)));
        }
        Ok(Reply::ok())
    }

    fn cancel(self: Box<Self>, _: &mut Ctx) -> Result<Reply, CmdError> {
        Err(CmdError::Refused("send cancelled with ESC"))
    }

    fn job(&self) -> Option<JobId> {
        Some(self.job)
    }

    /// The Ctrl-Z form sends a Ctrl-Z, an ESC or a 0x03 as 0x03 and that byte (A76).
    fn escaped(&self) -> bool {
        true
    }
}

/// `AT+CIPSEND=<l>,<len>` (`>`, exactly `<len>` bytes, 1-1500), `AT+CIPSEND=<l>[,]`
/// (`>`, data up to Ctrl-Z), UDP `AT+CIPSEND=<l>,[<len>],"<ip>",<port>`: `OK`, then
/// `+CIPSEND: <l>,<req>,<cnf>` (at once with CIPSENDMODE=0, once acknowledged with 1).
/// Refusals: `+CIPERROR: <err>` and `ERROR`.
fn send(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let Some(l) = link_number(&mut args)? else {
        return Err(cip_error(ctx, SockError::Param, "link 0-9"));
    };
    let len = match args.opt_int() {
        Ok(None) => None,
        Ok(Some(n)) if (1..=SEND_MAX as i64).contains(&n) => Some(n as u64),
        _ => return Err(cip_error(ctx, SockError::Param, "length 1-1500")),
    };
    let to = match (args.opt_str(), args.opt_in::<u16>(1..=65535)) {
        (Ok(Some(h)), Ok(Some(p))) if !h.is_empty() => Some((h.to_owned(), p)),
        (Ok(None), Ok(None)) => None,
        _ => return Err(cip_error(ctx, SockError::Param, "destination \"<ip>\",<port>")),
    };
    if args.finish().is_err() {
        return Err(cip_error(ctx, SockError::Param, "too many parameters"));
    }
    let s = state(ctx);
    if !s.opened {
        return Err(cip_error(ctx, SockError::NotOpened, "the socket service is not open"));
    }
    let link = &s.links[l];
    let (Some(job), true) = (link.job, link.is_open()) else {
        return Err(cip_error(ctx, SockError::NotSupported, "the link is not open"));
    };
    if link.kind == Kind::Tcp && to.is_some() {
        return Err(cip_error(ctx, SockError::Param, "a destination is for UDP links"));
    }
    if link.transparent {
        return Err(cip_error(ctx, SockError::NotSupported, "a transparent link takes data in the online state"));
    }
    let to = if link.kind == Kind::Udp { to.or_else(|| link.remote.clone()) } else { None };
    if link.kind == Kind::Udp && to.is_none() {
        return Err(cip_error(ctx, SockError::Param, "a UDP link with no peer needs a destination"));
    }
    let generation = link.generation;
    // While the peer has not taken what was sent before (a full queue), the entry's bytes
    // wait (the DTE is held back, as by flow control) until it does, or until the send
    // timeout ends the link (docs/commands.md).
    let sink = Box::new(SendEntry { link: l, generation, job, to, data: Vec::new(), too_long: false });
    Ok(Reply::ok().then(Then::Data { len, prompt: ">", sink }))
}

/// `AT+CIPCLOSE=<l>`: TCP `OK`, then `+CIPCLOSE: <l>,0` (transparent: `CLOSED` first);
/// UDP `+CIPCLOSE: <l>,0`, then `OK`; a closed link: `+CIPCLOSE: <l>,4` and `ERROR`.
fn close(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let Some(l) = link_number(&mut args)? else {
        return Err(ip_error(ctx, IpError::InvalidParameter, "link 0-9"));
    };
    args.finish()?;
    let link = &state(ctx).links[l];
    if link.phase == Phase::Closed {
        return Err(link_error(ctx, "+CIPCLOSE", l, SockError::NotSupported, "the link is not open"));
    }
    let udp = link.kind == Kind::Udp;
    let lines = close_link(ctx, l);
    if udp {
        return Ok(Reply::lines(lines));
    }
    ctx.urcs.extend(lines.into_iter().map(Urc::Line));
    Ok(Reply::ok())
}

/// `AT+CIPCLOSE?`: `+CIPCLOSE: <s0>,...,<s9>`, 1 for each connected link.
fn close_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let states: Vec<&str> = state(ctx).links.iter().map(|l| if l.is_open() { "1" } else { "0" }).collect();
    Ok(Reply::line(format!("+CIPCLOSE: {}", states.join(","))))
}

/// `AT+CIPACK=<l>`: `+CIPACK: <sent>,<acknowledged>,<received>`.
fn ack(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let Some(l) = link_number(&mut args)? else {
        return Err(ip_error(ctx, IpError::InvalidParameter, "link 0-9"));
    };
    args.finish()?;
    let link = &state(ctx).links[l];
    if !link.is_open() || link.kind != Kind::Tcp {
        return Err(ip_error(ctx, IpError::ConnectionNotCreated, "no TCP connection on the link"));
    }
    let (sent, received, job, acked) = (link.sent, link.received, link.job, link.acked);
    // Without acknowledgement reports, what the module still holds is not acknowledged.
    let acked = if state(ctx).sendmode == 1 {
        acked
    } else {
        sent.saturating_sub(job.map_or(0, |id| ctx.jobs.queued(id)) as u64)
    };
    Ok(Reply::line(format!("+CIPACK: {sent},{acked},{received}")))
}

/// `AT+SERVERSTART=<port>,<server_index>[,<backlog>]`: listen on the host (the port
/// given, or the one `--server-port` maps it to); each client takes the lowest free link
/// with `+CLIENT: <l>,<index>,<ip>:<port>`. Refusals: `+CIPERROR: <err>` and `ERROR`.
fn server_start(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let (Ok(port), Ok(index), Ok(_backlog)) =
        (args.next_in::<u16>(0..=65535), args.next_in::<u8>(0..=3), args.opt_in::<u8>(1..=3))
    else {
        return Err(cip_error(ctx, SockError::Param, "<port>,<server_index 0-3>[,<backlog 1-3>]"));
    };
    if args.finish().is_err() {
        return Err(cip_error(ctx, SockError::Param, "too many parameters"));
    }
    if !state(ctx).opened {
        return Err(cip_error(ctx, SockError::NotOpened, "the socket service is not open"));
    }
    if state(ctx).servers[usize::from(index)].is_some() {
        return Err(cip_error(ctx, SockError::Listening, "that server index is in use"));
    }
    let addr = ctx.configs.get::<SocketConfig>().cloned().unwrap_or_default().listen_addr(port);
    let generation = state(ctx).next_generation();
    let id = ctx.jobs.start(
        format!("socket server {index} port {port} on {addr}"),
        ServerSink { index, generation, listening: false },
        move |io| job::run_server(addr, io),
    );
    state(ctx).servers[usize::from(index)] = Some(Server { port, job: id, generation, stopping: false });
    Ok(Reply::ok().then(Then::Wait(id)))
}

/// `AT+SERVERSTART?`: `+SERVERSTART: <index>,<port>` per listening server.
fn server_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    if !state(ctx).opened {
        return Err(cip_error(ctx, SockError::NotOpened, "the socket service is not open"));
    }
    let lines = state(ctx)
        .servers
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.as_ref().map(|s| format!("+SERVERSTART: {i},{}", s.port)))
        .collect();
    Ok(Reply::lines(lines))
}

/// `AT+SERVERSTOP=<index>`: `OK`, then `+SERVERSTOP: <index>,0` once the listener is closed; clients of it must be
/// closed first (`+SERVERSTOP: <index>,9` and `ERROR`).
fn server_stop(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let index = args.next_in::<u8>(0..=3)?;
    args.finish()?;
    let i = usize::from(index);
    let Some(job) = state(ctx).servers[i].as_ref().map(|s| s.job) else {
        return Err(CmdError::reported(format!("+SERVERSTOP: {index},4"), "that server is not listening"));
    };
    if state(ctx).links.iter().any(|l| l.server == Some(index) && l.phase != Phase::Closed) {
        return Err(CmdError::reported(format!("+SERVERSTOP: {index},9"), "clients of that server are open"));
    }
    if let Some(srv) = state(ctx).servers[i].as_mut().filter(|s| !s.stopping) {
        srv.stopping = true;
        // The job drops its listener and ends; its sink then reports `+SERVERSTOP`.
        ctx.jobs.send(job, JobInput::Close);
    }
    Ok(Reply::ok())
}

/// `AT+CDNSGIP="<domain>"`: `+CDNSGIP: 1,"<domain>","<ip>"`; failure `+CDNSGIP: 0,10` and
/// `ERROR`.
fn dns(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let name = args.next_str_max(254)?;
    args.finish()?;
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(CmdError::reported("+CDNSGIP: 0,10", "not a domain name"));
    }
    if !ctx.net.registered() {
        return Err(CmdError::reported("+CDNSGIP: 0,10", "no packet service"));
    }
    let host = name.to_owned();
    let id = ctx.jobs.start(
        format!("socket lookup {host}"),
        LookupSink { name: host.clone(), found: Vec::new() },
        move |io| job::run_lookup(host, io),
    );
    Ok(Reply::ok().then(Then::Wait(id)))
}

/// `AT+CPING="<dest>",<type>[,<num>[,<size>[,<interval>[,<wait>[,<ttl>]]]]]`: `OK`, then
/// per probe `+CPING: 1,<ip>,<size>,<rtt>,<ttl>` or `+CPING: 2`, then
/// `+CPING: 3,<sent>,<received>,<lost>,<min>,<max>,<avg>`. Probes are timed TCP connection
/// attempts (docs/commands.md).
fn ping(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let dest = args.next_str_max(254)?.to_owned();
    let _type = args.next_in::<u8>(1..=1)?;
    let count = args.opt_in::<u32>(1..=100)?.unwrap_or(4);
    let size = args.opt_in::<u16>(4..=188)?.unwrap_or(64);
    let interval = args.opt_in::<u32>(1000..=10_000)?.unwrap_or(2000);
    let wait = args.opt_in::<u32>(10_000..=100_000)?.unwrap_or(10_000);
    // The request's TTL: range-checked; on loopback no hop ever runs it out.
    let _ttl = args.opt_in::<u8>(16..=255)?;
    args.finish()?;
    if dest.is_empty() {
        return Err(CmdError::Refused("no destination"));
    }
    if !ctx.net.registered() {
        ctx.urcs.push(Urc::Line("+CPING: 3,0,0,0,0,0,0".into()));
        return Ok(Reply::ok());
    }
    let job = PingJob {
        host: dest.clone(),
        count,
        interval: Duration::from_millis(u64::from(interval)),
        wait: Duration::from_millis(u64::from(wait)),
    };
    let sink = PingSink { size, ip: dest.clone(), times: Vec::new(), lost: 0 };
    ctx.jobs.start(format!("socket ping {dest} x{count}"), sink, move |io| job::run_ping(job, io));
    Ok(Reply::ok())
}
