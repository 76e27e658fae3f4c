//! The 27.007 subset and SIMCom's socket-PDP setup (spec §10, §11): SIM, registration,
//! operator, functionality, attach, PDP contexts. The virtual network is always there:
//! with full functionality and a ready SIM the module is registered at home.

use crate::modem::{CmdError, CmeError, Ctx, Reply, Urc, table::CommandSpec};
use serde::{Deserialize, Serialize};
use v250::Args;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("+CPIN").read(cpin_read).write(cpin_write).test_ok().secret(&[1, 2]),
    CommandSpec::new("+CIMI").exec(cimi).test_ok().sim(),
    CommandSpec::new("+CICCID").exec(ciccid).test_ok(),
    CommandSpec::new("+CSQ").exec(csq).test_text("+CSQ: (0-31,99),(0-7,99)"),
    CommandSpec::new("+CREG").read(creg_read).write(creg_write).test_text("+CREG: (0-2)"),
    CommandSpec::new("+CGREG").read(cgreg_read).write(cgreg_write).test_text("+CGREG: (0-2)"),
    CommandSpec::new("+COPS").read(cops_read).write(cops_write).test(cops_test).sim(),
    CommandSpec::new("+CFUN").read(cfun_read).write(cfun_write).test_text("+CFUN: (0,1,4),(0-1)"),
    CommandSpec::new("+CGATT").read(cgatt_read).write(cgatt_write).test_text("+CGATT: (0,1)").sim(),
    CommandSpec::new("+CGDCONT").read(cgdcont_read).write(cgdcont_write).test(cgdcont_test),
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
    CommandSpec::new("+CMGF").read(cmgf_read).write(cmgf_write).test_text("+CMGF: (0-1)"),
    CommandSpec::new("+CTZU").read(ctzu_read).write(ctzu_write).test_text("+CTZU: (0-1)"),
    CommandSpec::new("+CTZR").read(ctzr_read).write(ctzr_write).test_text("+CTZR: (0-1)"),
];

/// Default SIM PUK when the SIM is PIN-locked (`--pin`).
pub const DEFAULT_PUK: &str = "12345678";
const PIN_TRIES: u8 = 3;
const MAX_CID: u8 = 16;
const NV_SOCKET_PDP: &str = "socket-pdp.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sim {
    Ready,
    PinRequired,
    PukRequired,
}

/// One PDP context definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pdp {
    pub pdp_type: String,
    pub apn: String,
    pub addr: String,
    pub d_comp: u8,
    pub h_comp: u8,
}

/// Socket PDP authentication (`AT+CSOCKAUTH`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SockAuth {
    pub auth_type: u8,
    pub password: String,
    pub user: String,
}

/// What `AT+CGSOCKCONT`, `AT+CSOCKAUTH` and `AT+CSOCKSETPN` define; kept in NV.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketPdp {
    pub contexts: Vec<(u8, Pdp)>,
    pub auth: Vec<(u8, SockAuth)>,
    pub active: Option<u8>,
}

/// Network-side state of the module.
#[derive(Debug)]
pub struct NetState {
    pin: Option<String>,
    puk: String,
    pub sim: Sim,
    pin_tries: u8,
    pub cfun: u8,
    pub attached: bool,
    pub creg_n: u8,
    pub cgreg_n: u8,
    pub cops_format: u8,
    /// Signal quality reported while registered.
    pub csq: (u8, u8),
    pub cgdcont: Vec<(u8, Pdp)>,
    pub socket: SocketPdp,
    socket_loaded: bool,
    pub ctzu: u8,
    pub ctzr: u8,
    pub cmgf: u8,
}

impl NetState {
    pub fn new(pin: Option<String>) -> Self {
        let sim = if pin.is_some() { Sim::PinRequired } else { Sim::Ready };
        Self {
            pin,
            puk: DEFAULT_PUK.into(),
            sim,
            pin_tries: PIN_TRIES,
            cfun: 1,
            attached: true,
            creg_n: 0,
            cgreg_n: 0,
            cops_format: 0,
            csq: (21, 99),
            cgdcont: vec![(1, default_pdp(""))],
            socket: SocketPdp::default(),
            socket_loaded: false,
            ctzu: 0,
            ctzr: 0,
            cmgf: 0,
        }
    }

    /// Power cycle: volatile state back to power-on values.
    pub fn restart(&mut self) {
        let fresh = Self::new(self.pin.clone());
        let socket = std::mem::take(&mut self.socket);
        let loaded = self.socket_loaded;
        *self = Self {
            socket,
            socket_loaded: loaded,
            sim: if self.sim == Sim::PukRequired { Sim::PukRequired } else { fresh.sim },
            puk: self.puk.clone(),
            ..fresh
        };
    }

    pub fn sim_locked(&self) -> bool {
        self.sim != Sim::Ready
    }

    /// `Err` with the right `+CME ERROR` unless the SIM is ready.
    pub fn require_sim(&self) -> Result<(), CmdError> {
        match self.sim {
            Sim::Ready => Ok(()),
            Sim::PinRequired => Err(CmdError::cme(CmeError::SimPinRequired, "SIM is PIN-locked")),
            Sim::PukRequired => Err(CmdError::cme(CmeError::SimPukRequired, "SIM is PUK-locked")),
        }
    }

    /// Registered on the (virtual) home network.
    pub fn registered(&self) -> bool {
        self.cfun == 1 && self.sim == Sim::Ready
    }
}

fn default_pdp(apn: &str) -> Pdp {
    Pdp { pdp_type: "IP".into(), apn: apn.into(), addr: "0.0.0.0".into(), d_comp: 0, h_comp: 0 }
}

fn cpin_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let s = match ctx.net.sim {
        Sim::Ready => "READY",
        Sim::PinRequired => "SIM PIN",
        Sim::PukRequired => "SIM PUK",
    };
    Ok(Reply::line(format!("+CPIN: {s}")))
}

/// `AT+CPIN=<pin>` or `AT+CPIN=<puk>,<newpin>`.
fn cpin_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let code = args.next_str_max(16)?;
    let new = args.opt_str()?;
    args.finish()?;
    let net = &mut ctx.net;
    match net.sim {
        Sim::Ready => Err(CmdError::cme(CmeError::NotAllowed, "SIM already ready")),
        Sim::PinRequired if net.pin.as_deref() == Some(code) && new.is_none() => {
            net.sim = Sim::Ready;
            net.pin_tries = PIN_TRIES;
            ctx.urcs.extend(ctx.profile.after_pin_urcs().into_iter().map(|u| Urc::Line(u.to_owned())));
            Ok(Reply::ok())
        }
        Sim::PinRequired => {
            net.pin_tries = net.pin_tries.saturating_sub(1);
            if net.pin_tries == 0 {
                net.sim = Sim::PukRequired;
                ctx.urcs.push(Urc::Line("+CPIN: SIM PUK".into()));
            }
            Err(CmdError::cme(CmeError::IncorrectPassword, "wrong PIN"))
        }
        Sim::PukRequired => match new {
            Some(newpin)
                if code == net.puk && (4..=8).contains(&newpin.len()) && newpin.bytes().all(|b| b.is_ascii_digit()) =>
            {
                net.pin = Some(newpin.to_owned());
                net.sim = Sim::Ready;
                net.pin_tries = PIN_TRIES;
                ctx.urcs.extend(ctx.profile.after_pin_urcs().into_iter().map(|u| Urc::Line(u.to_owned())));
                Ok(Reply::ok())
            }
            Some(_) => Err(CmdError::cme(CmeError::IncorrectPassword, "wrong PUK or new PIN not 4-8 digits")),
            None => Err(CmdError::cme(CmeError::SimPukRequired, "PUK and new PIN needed")),
        },
    }
}

fn cimi(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(ctx.profile.identity.imsi.clone()))
}

fn ciccid(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+ICCID: {}", ctx.profile.identity.iccid)))
}

fn csq(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let (rssi, ber) = if ctx.net.registered() { ctx.net.csq } else { (99, 99) };
    Ok(Reply::line(format!("+CSQ: {rssi},{ber}")))
}

fn reg_line(prefix: &str, n: u8, net: &NetState) -> String {
    let stat = u8::from(net.registered());
    if n == 2 && stat == 1 {
        format!("{prefix}: {n},{stat},\"00C3\",\"0A1B2C3\"")
    } else {
        format!("{prefix}: {n},{stat}")
    }
}

fn creg_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(reg_line("+CREG", ctx.net.creg_n, &ctx.net)))
}

fn creg_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let n = args.opt_in::<u8>(0..=2)?.unwrap_or(0);
    args.finish()?;
    ctx.net.creg_n = n;
    Ok(Reply::ok())
}

fn cgreg_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(reg_line("+CGREG", ctx.net.cgreg_n, &ctx.net)))
}

fn cgreg_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let n = args.opt_in::<u8>(0..=2)?.unwrap_or(0);
    args.finish()?;
    ctx.net.cgreg_n = n;
    Ok(Reply::ok())
}

/// Operator names: long, short, numeric.
fn operator_names(ctx: &Ctx) -> [String; 3] {
    let long = ctx.profile.identity.operator.clone();
    let short: String = long.chars().filter(|c| !c.is_whitespace()).take(8).collect();
    let numeric = ctx.profile.identity.imsi.chars().take(5).collect();
    [long, short, numeric]
}

fn cops_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    if !ctx.net.registered() {
        return Ok(Reply::line("+COPS: 0"));
    }
    let names = operator_names(ctx);
    let f = ctx.net.cops_format;
    Ok(Reply::line(format!("+COPS: 0,{f},\"{}\",{}", names[usize::from(f)], ctx.profile.act)))
}

/// `AT+COPS=<mode>[,<format>[,<oper>[,<AcT>]]]`; manual selection accepts only the one
/// network there is.
fn cops_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let mode = args.next_int_in(0..=4)?;
    let format = args.opt_in::<u8>(0..=2)?;
    let oper = args.opt_str()?;
    args.opt_int_in(0..=7)?;
    args.finish()?;
    if let Some(f) = format {
        ctx.net.cops_format = f;
    }
    if matches!(mode, 1 | 4) {
        let oper = oper.ok_or_else(|| args.invalid("manual selection needs an operator"))?;
        if !operator_names(ctx).iter().any(|n| n == oper) && mode == 1 {
            return Err(CmdError::cme(CmeError::NoNetworkService, "no such operator"));
        }
    }
    Ok(Reply::ok())
}

fn cops_test(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let [l, s, n] = operator_names(ctx);
    Ok(Reply::line(format!("+COPS: (2,\"{l}\",\"{s}\",\"{n}\",{}),,(0-4),(0-2)", ctx.profile.act)))
}

fn cfun_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CFUN: {}", ctx.net.cfun)))
}

/// `AT+CFUN=<fun>[,<rst>]`: 0 minimum, 1 full, 4 RF off; rst 1 restarts (with fun 1).
fn cfun_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let fun = args.next_in::<u8>(0..=4)?;
    if !matches!(fun, 0 | 1 | 4) {
        return Err(args.invalid("fun must be 0, 1 or 4").into());
    }
    let rst = args.opt_int_in(0..=1)?.unwrap_or(0);
    args.finish()?;
    if rst == 1 && fun != 1 {
        return Err(CmdError::cme(CmeError::NotAllowed, "reset needs fun=1"));
    }
    ctx.net.cfun = fun;
    ctx.net.attached = fun == 1;
    ctx.reboot = rst == 1;
    Ok(Reply::ok())
}

fn cgatt_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CGATT: {}", u8::from(ctx.net.attached && ctx.net.registered()))))
}

fn cgatt_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let state = args.next_int_in(0..=1)?;
    args.finish()?;
    if state == 1 && !ctx.net.registered() {
        return Err(CmdError::cme(CmeError::NoNetworkService, "not registered (CFUN is not 1)"));
    }
    ctx.net.attached = state == 1;
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

fn pdp_test(prefix: &str) -> Reply {
    Reply::lines(
        ["IP", "PPP", "IPV6", "IPV4V6"]
            .iter()
            .map(|t| format!("{prefix}: (1-{MAX_CID}),\"{t}\",,,(0-2),(0-4)"))
            .collect(),
    )
}

fn cgdcont_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::lines(pdp_lines("+CGDCONT", &ctx.net.cgdcont)))
}

fn cgdcont_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let (cid, pdp) = parse_pdp(&mut args)?;
    set_pdp(&mut ctx.net.cgdcont, cid, pdp);
    Ok(Reply::ok())
}

fn cgdcont_test(_: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(pdp_test("+CGDCONT"))
}

/// The socket-PDP settings, loaded from NV on first use.
fn socket(ctx: &mut Ctx) -> &mut SocketPdp {
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

fn cmgf_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CMGF: {}", ctx.net.cmgf)))
}

fn cmgf_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let v = args.opt_in::<u8>(0..=1)?.unwrap_or(0);
    args.finish()?;
    ctx.net.cmgf = v;
    Ok(Reply::ok())
}

fn ctzu_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CTZU: {}", ctx.net.ctzu)))
}

fn ctzu_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let v = args.next_in::<u8>(0..=1)?;
    args.finish()?;
    ctx.net.ctzu = v;
    Ok(Reply::ok())
}

fn ctzr_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CTZR: {}", ctx.net.ctzr)))
}

fn ctzr_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let v = args.next_in::<u8>(0..=1)?;
    args.finish()?;
    ctx.net.ctzr = v;
    Ok(Reply::ok())
}
