//! PDP contexts: the 27.007 ones (`AT+CGDCONT`, `AT+CGACT`, `AT+CGPADDR`, `AT+CGAUTH`) and
//! SIMCom's socket-PDP setup (`AT+CGSOCKCONT`, `AT+CSOCKSETPN`, `AT+CSOCKAUTH`, kept in NV).

use super::{NetState, Pdp, SockAuth, SocketPdp};
use crate::modem::{CmdError, CmeError, Ctx, Reply, Urc, table::CommandSpec};
use v250::Args;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("+CGDCONT").read(cgdcont_read).write(cgdcont_write).test(cgdcont_test),
    CommandSpec::new("+CGACT").read(cgact_read).write(cgact_write).test_text("+CGACT: (0,1)"),
    CommandSpec::new("+CGEREP").read(cgerep_read).write(cgerep_write).test_text("+CGEREP: (0-2),(0-1)"),
    CommandSpec::new("+CEER").exec(ceer).test_ok(),
    CommandSpec::new("+CGPADDR").exec(cgpaddr).write(cgpaddr).test(cgpaddr_test),
    CommandSpec::new("+CGAUTH")
        .read(cgauth_read)
        .write(cgauth_write)
        .test_text("+CGAUTH: (1-16),(0-2)")
        .secret(&[3, 4])
        .secret_answer(),
    CommandSpec::new("+CGSOCKCONT").read(cgsockcont_read).write(cgsockcont_write).test(cgsockcont_test),
    CommandSpec::new("+CSOCKSETPN")
        .exec(csocksetpn_clear)
        .read(csocksetpn_read)
        .write(csocksetpn_write)
        .test(csocksetpn_test),
    CommandSpec::new("+CSOCKAUTH")
        .read(csockauth_read)
        .write(csockauth_write)
        .test(csockauth_test)
        .secret(&[3])
        .secret_answer(),
];

pub const MAX_CID: u8 = 16;
const NV_SOCKET_PDP: &str = "socket-pdp.json";

/// `AT+CEER` before any data call has failed or ended.
pub const CEER_NONE: &str = "No cause information available";

/// Who ended a context or the attach: the `ME`/`NW` of a `+CGEV` URC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// The module, at the DTE's command (`AT+CGACT=0`, `AT+CGATT=0`, `AT+CFUN=0`, ...).
    Me,
    /// The network (coverage, the SIM taken out).
    Network,
}

impl By {
    fn as_str(self) -> &'static str {
        match self {
            Self::Me => "ME",
            Self::Network => "NW",
        }
    }
}

/// `+CGEV: <event>` where `AT+CGEREP` sends it (27.007 §10.1.19).
fn cgev(ctx: &mut Ctx, event: String) {
    if ctx.net.cgerep.0 > 0 {
        ctx.urcs.push(Urc::Line(format!("+CGEV: {event}")));
    }
}

/// Context `cid` was deactivated: `+CGEV: ME DEACT "IP","<addr>",<cid>` (or `NW DEACT`).
pub fn deactivated(ctx: &mut Ctx, cid: u8, by: By) {
    let pdp_type = ctx.net.cgdcont.iter().find(|(c, _)| *c == cid).map_or("IP".into(), |(_, p)| p.pdp_type.clone());
    cgev(ctx, format!("{} DEACT \"{pdp_type}\",\"{}\",{cid}", by.as_str(), address(cid)));
}

/// The packet domain was detached: `+CGEV: ME DETACH` (or `NW DETACH`).
pub fn detached(ctx: &mut Ctx, by: By) {
    cgev(ctx, format!("{} DETACH", by.as_str()));
}

fn cgerep_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let (m, b) = ctx.net.cgerep;
    Ok(Reply::line(format!("+CGEREP: {m},{b}")))
}

/// `AT+CGEREP=[<mode>[,<bfr>]]`: 0 no `+CGEV` URCs, 1 and 2 send them (a port in data
/// mode holds them as it holds every URC, so 1 and 2 behave alike); `<bfr>` is kept.
fn cgerep_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let mode = args.opt_in::<u8>(0..=2)?.unwrap_or(0);
    let bfr = args.opt_in::<u8>(0..=1)?.unwrap_or(0);
    args.finish()?;
    ctx.net.cgerep = (mode, bfr);
    Ok(Reply::ok())
}

/// `AT+CEER`: `+CEER: <why the last data call failed or ended>`.
fn ceer(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CEER: {}", ctx.net.ceer)))
}

/// The address the network gives context `cid` once it is active.
pub fn address(cid: u8) -> String {
    format!("10.64.0.{}", u16::from(cid) + 1)
}

fn cgact_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let net = &ctx.net;
    Ok(Reply::lines(
        net.cgdcont.iter().map(|(cid, _)| format!("+CGACT: {cid},{}", u8::from(net.pdp_active(*cid)))).collect(),
    ))
}

/// `AT+CGACT=<state>[,<cid>...]`: activate (1) or deactivate (0) the given contexts (all
/// defined ones when none is given). Activating needs the network (`+CME ERROR: 30`) and a
/// defined context.
fn cgact_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let on = args.next_in::<u8>(0..=1)? == 1;
    let mut cids = Vec::new();
    while let Some(cid) = args.opt_in::<u8>(1..=MAX_CID)? {
        cids.push(cid);
    }
    args.finish()?;
    if cids.is_empty() {
        cids = ctx.net.cgdcont.iter().map(|(c, _)| *c).collect();
    }
    if on && !ctx.net.packet_attached() {
        return Err(CmdError::cme(CmeError::NoNetworkService, "not attached"));
    }
    for cid in cids {
        if !ctx.net.cgdcont.iter().any(|(c, _)| *c == cid) {
            return Err(CmdError::cme(CmeError::NotAllowed, "context not defined"));
        }
        let was = ctx.net.pdp_active(cid);
        ctx.net.set_pdp_active(cid, on);
        if was && !on {
            deactivated(ctx, cid, By::Me);
            let catalog = ctx.catalog;
            catalog.pdp_down(ctx, cid);
        }
    }
    Ok(Reply::ok())
}

/// `AT+CGPADDR[=<cid>...]`: `+CGPADDR: <cid>,<address>` per defined context (`0.0.0.0`
/// while inactive).
fn cgpaddr(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let mut cids = Vec::new();
    while let Some(cid) = args.opt_in::<u8>(1..=MAX_CID)? {
        cids.push(cid);
    }
    args.finish()?;
    let net = &ctx.net;
    let lines = net
        .cgdcont
        .iter()
        .filter(|(c, _)| cids.is_empty() || cids.contains(c))
        .map(|(cid, _)| {
            let addr = if net.pdp_active(*cid) { address(*cid) } else { "0.0.0.0".into() };
            format!("+CGPADDR: {cid},{addr}")
        })
        .collect();
    Ok(Reply::lines(lines))
}

fn cgpaddr_test(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let cids: Vec<String> = ctx.net.cgdcont.iter().map(|(c, _)| c.to_string()).collect();
    Ok(Reply::line(format!("+CGPADDR: ({})", cids.join(","))))
}

fn cgauth_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let lines = ctx
        .net
        .cgauth
        .iter()
        .map(|(cid, a)| format!("+CGAUTH: {cid},{},\"{}\",\"{}\"", a.auth_type, a.user, a.password))
        .collect();
    Ok(Reply::lines(lines))
}

/// `AT+CGAUTH=<cid>[,<auth_type>[,<user>[,<passwd>]]]` (27.007 order: user first); stored
/// (a data call checks them under `--ppp-auth`; nothing else does). `<cid>` alone removes
/// the entry.
fn cgauth_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let cid = args.next_in::<u8>(1..=MAX_CID)?;
    let auth_type = args.opt_in::<u8>(0..=2)?;
    let user = args.opt_str()?.unwrap_or("");
    let password = args.opt_str()?.unwrap_or("");
    args.finish()?;
    if password.len() > 64 || user.len() > 64 {
        return Err(CmdError::cme(CmeError::TextTooLong, "user or password longer than 64"));
    }
    let list = &mut ctx.net.cgauth;
    list.retain(|(c, _)| *c != cid);
    if let Some(auth_type) = auth_type {
        list.push((cid, SockAuth { auth_type, password: password.into(), user: user.into() }));
        list.sort_by_key(|(c, _)| *c);
    }
    Ok(Reply::ok())
}

/// Parse `<cid>[,<type>[,<apn>[,<addr>[,<d_comp>[,<h_comp>]]]]]`; `None` = undefine cid.
fn parse_pdp(args: &mut Args<'_>) -> Result<(u8, Option<Pdp>), CmdError> {
    let cid = args.next_in::<u8>(1..=MAX_CID)?;
    if args.len() == 1 {
        return Ok((cid, None));
    }
    let pdp_type = args.opt_str()?.unwrap_or("IP").to_ascii_uppercase();
    if !matches!(pdp_type.as_str(), "IP" | "PPP" | "IPV6" | "IPV4V6") {
        return Err(args.invalid("PDP type must be IP, PPP, IPV6 or IPV4V6").into());
    }
    let apn = args.opt_str()?.unwrap_or("");
    if apn.len() > 99 {
        return Err(args.invalid("APN longer than 99").into());
    }
    let addr = args.opt_str()?.unwrap_or("0.0.0.0");
    let d_comp = args.opt_in::<u8>(0..=2)?.unwrap_or(0);
    let h_comp = args.opt_in::<u8>(0..=4)?.unwrap_or(0);
    args.finish()?;
    let addr = if addr.is_empty() { "0.0.0.0" } else { addr };
    Ok((cid, Some(Pdp { pdp_type, apn: apn.into(), addr: addr.into(), d_comp, h_comp })))
}

fn set_pdp(list: &mut Vec<(u8, Pdp)>, cid: u8, pdp: Option<Pdp>) {
    list.retain(|(c, _)| *c != cid);
    if let Some(p) = pdp {
        list.push((cid, p));
        list.sort_by_key(|(c, _)| *c);
    }
}

fn pdp_lines(prefix: &str, list: &[(u8, Pdp)]) -> Vec<String> {
    list.iter()
        .map(|(cid, p)| {
            format!("{prefix}: {cid},\"{}\",\"{}\",\"{}\",{},{}", p.pdp_type, p.apn, p.addr, p.d_comp, p.h_comp)
        })
        .collect()
}

/// The types listed: `"PPP"` is still taken by the write form (old chat scripts) but not
/// offered, as 27.007 hosts (ModemManager) know only the IP types.
fn pdp_test(prefix: &str) -> Reply {
    Reply::lines(
        ["IP", "IPV6", "IPV4V6"].iter().map(|t| format!("{prefix}: (1-{MAX_CID}),\"{t}\",,,(0-2),(0-4)")).collect(),
    )
}

fn cgdcont_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::lines(pdp_lines("+CGDCONT", &ctx.net.cgdcont)))
}

/// `AT+CGDCONT=<cid>,...`; the context a data call holds cannot change under it.
fn cgdcont_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let (cid, pdp) = parse_pdp(&mut args)?;
    if ctx.net.data_call == Some(cid) {
        return Err(CmdError::cme(CmeError::NotAllowed, "a data call holds the context"));
    }
    set_pdp(&mut ctx.net.cgdcont, cid, pdp);
    Ok(Reply::ok())
}

fn cgdcont_test(_: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(pdp_test("+CGDCONT"))
}

/// The socket-PDP settings, loaded from NV on first use.
pub fn socket(ctx: &mut Ctx) -> &mut SocketPdp {
    if !ctx.net.socket_loaded {
        ctx.net.socket_loaded = true;
        if let Some(raw) = ctx.nv.load(NV_SOCKET_PDP) {
            match serde_json::from_slice(&raw) {
                Ok(s) => ctx.net.socket = s,
                Err(e) => tracing::warn!("ignoring damaged socket PDP settings: {e}"),
            }
        }
    }
    &mut ctx.net.socket
}

/// Save the socket-PDP settings in NV (written off the line's critical path).
fn save_socket(ctx: &mut Ctx) -> Result<(), CmdError> {
    let json = serde_json::to_vec(&ctx.net.socket).map_err(|_| CmdError::cme(CmeError::MemoryFailure, "encode"))?;
    ctx.nv_save(NV_SOCKET_PDP, json);
    Ok(())
}

fn cgsockcont_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::lines(pdp_lines("+CGSOCKCONT", &socket(ctx).contexts)))
}

/// `AT+CGSOCKCONT=<cid>[,...]`: define (or with only `<cid>` undefine) a socket PDP
/// context; saved in NV.
fn cgsockcont_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let (cid, pdp) = parse_pdp(&mut args)?;
    set_pdp(&mut socket(ctx).contexts, cid, pdp);
    save_socket(ctx)?;
    Ok(Reply::ok())
}

fn cgsockcont_test(_: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(pdp_test("+CGSOCKCONT"))
}

fn csocksetpn_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let n = socket(ctx).active.unwrap_or(0);
    Ok(Reply::line(format!("+CSOCKSETPN: {n}")))
}

fn csocksetpn_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let n = args.next_in::<u8>(1..=MAX_CID)?;
    args.finish()?;
    socket(ctx).active = Some(n);
    save_socket(ctx)?;
    Ok(Reply::ok())
}

/// `AT+CSOCKSETPN`: clear the selection.
fn csocksetpn_clear(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    socket(ctx).active = None;
    save_socket(ctx)?;
    Ok(Reply::ok())
}

fn csocksetpn_test(_: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CSOCKSETPN: (1-{MAX_CID})")))
}

fn csockauth_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let lines = socket(ctx)
        .auth
        .iter()
        .map(|(cid, a)| format!("+CSOCKAUTH: {cid},{},\"{}\",\"{}\"", a.auth_type, a.password, a.user))
        .collect();
    Ok(Reply::lines(lines))
}

/// `AT+CSOCKAUTH=<cid>[,<auth_type>[,<passwd>[,<user>]]]` (password before user).
fn csockauth_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let cid = args.next_in::<u8>(1..=MAX_CID)?;
    let auth_type = args.opt_in::<u8>(0..=2)?.unwrap_or(0);
    let password = args.opt_str()?.unwrap_or("");
    let user = args.opt_str()?.unwrap_or("");
    args.finish()?;
    if password.len() > 64 || user.len() > 64 {
        return Err(CmdError::cme(CmeError::TextTooLong, "user or password longer than 64"));
    }
    let auth = SockAuth { auth_type, password: password.into(), user: user.into() };
    let list = &mut socket(ctx).auth;
    list.retain(|(c, _)| *c != cid);
    list.push((cid, auth));
    list.sort_by_key(|(c, _)| *c);
    save_socket(ctx)?;
    Ok(Reply::ok())
}

fn csockauth_test(_: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CSOCKAUTH: (1-{MAX_CID}),(0-2)")))
}

impl NetState {
    /// Context `cid` is active (`AT+CGACT`, or the socket service using it).
    pub fn pdp_active(&self, cid: u8) -> bool {
        self.pdp_active.contains(&cid)
    }

    pub fn set_pdp_active(&mut self, cid: u8, on: bool) {
        if on {
            self.pdp_active.insert(cid);
        } else {
            self.pdp_active.remove(&cid);
        }
    }
}
