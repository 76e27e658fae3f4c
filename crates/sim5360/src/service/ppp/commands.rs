//! Dialling a data call (`ATD*99...#`, `AT+CGDATA`), hanging it up (`ATH`), and what the
//! core does with the call job's events.

use super::{Call, CallEnd, Counters, DNS, Ppp, PppConfig, PppStep, state};
use crate::modem::table::CommandSpec;
use crate::modem::{CmdError, CmeError, Ctx, DataMode, JobSink, Reply, Resume, Then, Urc};
use crate::network::pdp::MAX_CID;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;
use v250::Args;

pub const COMMANDS: &[CommandSpec] = &[CommandSpec::new("+CGDATA").write(cgdata).test_text("+CGDATA: (\"PPP\")")];

/// `AT+CGDATA=<L2P>[,<cid>]`: `"PPP"` (the only layer 2 protocol) on `<cid>` (default 1),
/// as `ATD*99***<cid>#`.
fn cgdata(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let l2p = args.next_str_max(16)?;
    let cid = args.opt_in::<u8>(1..=MAX_CID)?.unwrap_or(1);
    args.finish()?;
    if !l2p.eq_ignore_ascii_case("PPP") {
        return Err(CmdError::cme(CmeError::NotSupported, "only PPP is offered"));
    }
    call(ctx, cid)
}

/// A data call's number: `*99[*<called address>][*[<L2P>][*[<cid>]]]#` (27.007 §10.2.1.1)
/// with V.25ter's dial modifiers (`T`, `P`) before it and any number of `#` after it
/// (esp_modem's SIM7070 sends `*99##`): `Some(Ok(cid))`, `Some(Err)` for a bad L2P or
/// cid, `None` when it is not a data call number.
fn parse_number(raw: &str) -> Option<Result<u8, &'static str>> {
    let s = raw.trim().trim_start_matches(['T', 't', 'P', 'p', ' ']);
    let rest = s.strip_prefix("*99")?;
    let rest = rest.trim_end().trim_end_matches('#');
    if rest.len() == s.len() - 3 && !s.trim_end().ends_with('#') {
        return None;
    }
    if rest.is_empty() {
        return Some(Ok(1));
    }
    let fields: Vec<&str> = rest.strip_prefix('*')?.split('*').collect();
    if fields.len() > 3 {
        return Some(Err("too many fields"));
    }
    let l2p = fields.get(1).copied().unwrap_or("");
    if !matches!(l2p, "" | "1") && !l2p.eq_ignore_ascii_case("PPP") {
        return Some(Err("only PPP is offered"));
    }
    match fields.get(2).copied().unwrap_or("") {
        "" => Some(Ok(1)),
        c => Some(c.parse::<u8>().ok().filter(|c| (1..=MAX_CID).contains(c)).ok_or("not a context id")),
    }
}

/// `ATD<number>` without `;`: a data call when `number` is one (see [`parse_number`]),
/// else `None` (the dial handler answers it).
pub fn dial(ctx: &mut Ctx, raw: &str) -> Option<Result<Reply, CmdError>> {
    Some(match parse_number(raw)? {
        Ok(cid) => call(ctx, cid),
        Err(why) => Err(CmdError::Refused(why)),
    })
}

/// `CONNECT <rate>` (the port's `AT+IPR` rate, 115200 for autobaud; bare with `ATX0`).
fn banner(ctx: &Ctx) -> String {
    if ctx.settings.x == 0 {
        return "CONNECT".into();
    }
    let rate = if ctx.settings.ipr == 0 { 115_200 } else { ctx.settings.ipr };
    format!("CONNECT {rate}")
}

/// The credentials `AT+CGAUTH` (else `AT+CSOCKAUTH`) gives context `cid`, if any.
fn credentials(ctx: &Ctx, cid: u8) -> Option<(String, String)> {
    let net = &ctx.net;
    let a = net.cgauth.iter().chain(&net.socket.auth).find(|(c, a)| *c == cid && a.auth_type != 0)?;
    Some((a.1.user.clone(), a.1.password.clone()))
}

/// Start a data call on context `cid`: `CONNECT`, or `NO CARRIER` when the network cannot
/// give one, or an error for a context that is not defined or a call already up.
fn call(ctx: &mut Ctx, cid: u8) -> Result<Reply, CmdError> {
    ctx.net.require_sim()?;
    if !ctx.net.cgdcont.iter().any(|(c, _)| *c == cid) {
        return Err(CmdError::cme(CmeError::NotAllowed, "the context is not defined (AT+CGDCONT)"));
    }
    if state(ctx).call.is_some() {
        return Err(CmdError::cme(CmeError::NotAllowed, "a data call is up"));
    }
    // `AT+CEER` says why afterwards (24.008 session-management cause texts).
    let no_carrier = |ctx: &mut Ctx, why: &str, cause: &'static str| {
        tracing::info!(cid, "data call refused: {why}");
        ctx.net.ceer = cause;
        Ok(Reply::ok().then(Then::Final("NO CARRIER".into())))
    };
    if !ctx.net.registered() || !ctx.net.packet_attached() || ctx.net.cfun != 1 {
        return no_carrier(ctx, "no packet service", "No network service");
    }
    let shared = ctx.setting::<crate::service::sockets::SocketConfig>().is_some_and(|c| c.share_context_with_ppp);
    if ctx.net.socket_service == Some(cid) && !shared {
        return no_carrier(ctx, "the socket service (AT+NETOPEN) holds the context", "Insufficient resources");
    }
    let cfg = ctx.setting::<PppConfig>().cloned().unwrap_or_default();
    let addr: Ipv4Addr = crate::network::pdp::address(cid).parse().unwrap_or(Ipv4Addr::new(10, 64, 0, 2));
    let counters = Arc::new(Counters::default());
    let link = ppp::Config {
        auth: cfg.auth,
        credentials: credentials(ctx, cid),
        peer_addr: addr,
        dns: DNS,
        seed: ctx.clock.now_utc().timestamp_micros() as u64 ^ u64::from(cid) ^ 0x5136_0000,
        name: "sim5360".into(),
    };
    let job = super::job::CallJob { link, alias: cfg.alias, counters: counters.clone() };
    let label = format!("ppp cid={cid} addr={addr} auth={:?}", cfg.auth).to_lowercase();
    let id = ctx.jobs.start(label, CallSink, move |io| super::job::run(job, io));
    ctx.net.set_pdp_active(cid, true);
    ctx.net.data_call = Some(cid);
    state(ctx).call = Some(Call { job: id, cid, addr: None, by_ath: false, counters, since: ctx.now });
    tracing::info!(cid, %addr, "data call: CONNECT");
    Ok(Reply::ok().then(Then::Online { job: id, banner: banner(ctx), mode: DataMode::Hdlc }))
}

/// `ATH` (on any port): the data call ends (`OK` at once; the data port, if online,
/// says `NO CARRIER` when PPP is down). Whether there was one.
pub fn hang_up(ctx: &mut Ctx) -> bool {
    let Some(job) = state(ctx).call.as_ref().map(|c| c.job) else { return false };
    let online = ctx.is_online(job);
    if let Some(c) = state(ctx).call.as_mut() {
        c.by_ath = !online;
    }
    super::end_call(ctx, "ATH");
    true
}

/// `+PPPD: DISCONNECTED` after the call's `NO CARRIER` (SIM7600s print it; OVMS and
/// ArduPilot act on it): a URC of the network's, so it goes where `AT+CATR` says.
fn disconnected(ctx: &mut Ctx, _: u64) {
    ctx.urcs.push(Urc::Line("+PPPD: DISCONNECTED".into()));
}

/// The call job's sink.
#[derive(Debug)]
struct CallSink;

impl CallSink {
    fn job(ctx: &mut Ctx) -> Option<crate::job::JobId> {
        state(ctx).call.as_ref().map(|c| c.job)
    }
}

impl JobSink for CallSink {
    type Proto = Ppp;

    /// PPP bytes for the DTE: while the port is online with the call; after `+++` they
    /// are dropped (the DTE's stack retransmits what it needs once `ATO` resumes).
    fn data(&mut self, ctx: &mut Ctx, data: Vec<u8>, urcs: &mut Vec<Urc>) -> Result<(), CallEnd> {
        if Self::job(ctx).is_some_and(|j| ctx.is_online(j)) {
            urcs.push(Urc::Raw(data));
        }
        Ok(())
    }

    fn step(&mut self, ctx: &mut Ctx, result: Result<PppStep, CallEnd>, _: &mut Vec<Urc>) -> Resume {
        if let (Ok(PppStep::Up { addr }), Some(c)) = (result, state(ctx).call.as_mut()) {
            tracing::info!(cid = c.cid, %addr, "data call: IPCP up");
            c.addr = Some(addr);
        }
        None
    }

    fn done(self, ctx: &mut Ctx, result: Result<(), CallEnd>, urcs: &mut Vec<Urc>) -> Resume {
        let call = state(ctx).call.take()?;
        let end = result.err().unwrap_or(CallEnd::Closed);
        tracing::info!(cid = call.cid, "data call over: {}", end.as_str());
        if ctx.net.data_call == Some(call.cid) {
            ctx.net.data_call = None;
        }
        ctx.net.ceer = match end {
            CallEnd::AuthFailed => "User authentication failed",
            CallEnd::NoResponse | CallEnd::Rejected => "Protocol error, unspecified",
            CallEnd::Terminated => "Regular deactivation",
            CallEnd::Closed if ctx.net.packet_attached() => "Regular deactivation",
            CallEnd::Closed => "Network failure",
        };
        if ctx.net.socket_service != Some(call.cid) && ctx.net.pdp_active(call.cid) {
            // Not yet said (`AT+CGACT=0` and a detach say it themselves).
            crate::network::pdp::deactivated(ctx, call.cid, crate::network::pdp::By::Me);
            ctx.net.set_pdp_active(call.cid, false);
        }
        let online = ctx.is_online(call.job);
        if online || !call.by_ath {
            urcs.push(Urc::Line("NO CARRIER".into()));
        }
        ctx.after(Duration::ZERO, "ppp disconnected", disconnected, 0);
        None
    }

    fn resume(&mut self, ctx: &mut Ctx, _: &mut Vec<Urc>) -> Option<(String, DataMode)> {
        Some((banner(ctx), DataMode::Hdlc))
    }

    /// DTR dropped (`AT&D2`): the call ends at once, as pppd expects of a hang-up.
    fn hung_up(&mut self, _: &mut Ctx) -> crate::job::JobInput {
        crate::job::JobInput::Op { op: Box::new(super::CallOp::HangUp), label: super::CallOp::HangUp.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_number;

    #[test]
    fn data_call_numbers() {
        for (n, want) in [
            ("*99#", Some(Ok(1))),
            ("*99##", Some(Ok(1))),
            ("*99***1#", Some(Ok(1))),
            ("*99***2#", Some(Ok(2))),
            ("T*99***1#", Some(Ok(1))),
            ("*99*#", Some(Ok(1))),
            ("*99**PPP*3#", Some(Ok(3))),
            ("*99**1*4#", Some(Ok(4))),
            ("*99***17#", Some(Err("not a context id"))),
            ("*99**X25*1#", Some(Err("only PPP is offered"))),
            ("+15551234", None),
            ("*100#", None),
            ("*99", None),
        ] {
            assert_eq!(parse_number(n), want, "{n}");
        }
    }
}
