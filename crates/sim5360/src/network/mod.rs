//! The network side of the device (spec §10, §11; device spec §3): SIM, identity from the
//! SIM, registration (`+CREG`/`+CGREG`/`+CEREG` with their URCs), operator, functionality,
//! attach, signal; the radio model (`radio.rs`: `AT+CPSI`, `AT+CNSMOD`, ...) and PDP
//! contexts (`pdp.rs`).
//!
//! The virtual network is always there: with full functionality and a ready SIM the module
//! is registered at home. `AT+CFUN=0/4` deregisters at once; `AT+CFUN=1` searches for
//! [`REREGISTER_AFTER`] and then registers again, with the URCs the DTE enabled.

pub mod pdp;
pub mod radio;
pub mod sim_files;
pub mod state;

use state::PIN_TRIES;
pub use state::{CallEvent, DEFAULT_PUK, NetState, Pdp, RegStat, Sim, SockAuth, SocketPdp, Uplink, default_pdp};

pub use state::Radio;

use crate::modem::{CmdError, CmeError, Ctx, PowerRequest, Reply, Urc, table::CommandSpec};
use std::time::Duration;
use v250::Args;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("+CPIN").read(cpin_read).write(cpin_write).test_ok().secret(&[1, 2]),
    CommandSpec::new("+CIMI").exec(cimi).test_ok().sim(),
    CommandSpec::new("+CICCID").exec(iccid).test_ok(),
    CommandSpec::new("+ICCID").exec(iccid).test_ok(),
    CommandSpec::new("+CCID").exec(ccid).read(ccid).test_ok(),
    CommandSpec::new("+CNUM").exec(cnum).test_ok().sim(),
    CommandSpec::new("+CSPN").read(cspn).test_ok().sim(),
    CommandSpec::new("+CRSM").write(sim_files::crsm).test_ok(),
    CommandSpec::new("+CSQ").exec(csq).test_text("+CSQ: (0-31,99),(0-7,99)"),
    CommandSpec::new("+CREG").read(reg_read).write(reg_write).test_text("+CREG: (0-2)"),
    CommandSpec::new("+CGREG").read(reg_read).write(reg_write).test_text("+CGREG: (0-2)"),
    CommandSpec::new("+CEREG").read(reg_read).write(reg_write).test_text("+CEREG: (0-2)").lte_only(),
    CommandSpec::new("+COPS").read(cops_read).write(cops_write).test(cops_test).sim(),
    CommandSpec::new("+CFUN").read(cfun_read).write(cfun_write).test_text("+CFUN: (0,1,4),(0-1)"),
    CommandSpec::new("+CGATT").read(cgatt_read).write(cgatt_write).test_text("+CGATT: (0,1)").sim(),
];

/// How long `AT+CFUN=1` searches before the module is registered again.
pub const REREGISTER_AFTER: Duration = Duration::from_millis(1500);
/// How long `AT+COPS=?` scans before it answers.
pub const COPS_SCAN: Duration = Duration::from_secs(4);

fn cpin_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let s = match ctx.net.sim {
        Sim::Ready => "READY",
        Sim::PinRequired => "SIM PIN",
        Sim::PukRequired => "SIM PUK",
        Sim::Absent => return Err(CmdError::cme(CmeError::SimNotInserted, "no SIM")),
    };
    Ok(Reply::line(format!("+CPIN: {s}")))
}

/// The SIM became ready: the rest of the boot sequence, then registration at once (the
/// network was found during the boot).
fn sim_unlocked(ctx: &mut Ctx) {
    ctx.net.sim = Sim::Ready;
    ctx.net.pin_tries = PIN_TRIES;
    ctx.urcs.extend(ctx.profile.after_pin_urcs().into_iter().map(|u| Urc::Line(u.to_owned())));
    if ctx.net.cfun == 1 && ctx.net.cops_mode != 2 {
        let stat = if ctx.net.coverage { RegStat::Home } else { RegStat::Searching };
        set_registration(ctx, stat, stat);
    }
}

/// `AT+CPIN=<pin>` or `AT+CPIN=<puk>,<newpin>`.
fn cpin_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let code = args.next_str_max(16)?;
    let new = args.opt_str()?;
    args.finish()?;
    let net = &mut ctx.net;
    match net.sim {
        Sim::Ready => Err(CmdError::cme(CmeError::NotAllowed, "SIM already ready")),
        Sim::Absent => Err(CmdError::cme(CmeError::SimNotInserted, "no SIM")),
        Sim::PinRequired if net.pin.as_deref() == Some(code) && new.is_none() => {
            sim_unlocked(ctx);
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
                sim_unlocked(ctx);
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

/// `AT+CICCID` / `AT+ICCID`: `+ICCID: <iccid>`.
fn iccid(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+ICCID: {}", ctx.profile.identity.iccid)))
}

/// `AT+CCID` (SIM800/SIM7000 spelling): `+CCID: <iccid>` (UNCERTAIN on the SIM5360).
fn ccid(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CCID: {}", ctx.profile.identity.iccid)))
}

/// `AT+CNUM`: `+CNUM: "","<msisdn>",<type>` (SIM7600: `,0,4` speed and service appended).
fn cnum(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let n = &ctx.profile.identity.msisdn;
    if n.is_empty() {
        return Ok(Reply::ok());
    }
    let ton = if n.starts_with('+') { 145 } else { 129 };
    let tail = if ctx.profile.lte() { ",0,4" } else { "" };
    Ok(Reply::line(format!("+CNUM: \"\",\"{n}\",{ton}{tail}")))
}

/// `AT+CSPN?`: `+CSPN: "<service provider>",0`.
fn cspn(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CSPN: \"{}\",0", ctx.profile.identity.operator)))
}

fn csq(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(radio::csq_line(ctx)))
}

/// Which registration command a row is: its prefix and its `<n>`.
fn reg_n<'a>(net: &'a mut NetState, name: &str) -> &'a mut u8 {
    match name {
        "+CGREG" => &mut net.cgreg_n,
        "+CEREG" => &mut net.cereg_n,
        _ => &mut net.creg_n,
    }
}

/// `<stat>` of a registration command now.
fn reg_stat(net: &NetState, name: &str) -> RegStat {
    if name == "+CREG" { net.cs } else { net.ps }
}

/// `<stat>[,"<lac>","<ci>"[,<AcT>]]` for presentation `n`.
fn reg_fields(ctx: &Ctx, name: &str, n: u8, stat: RegStat) -> String {
    let r = &ctx.net.radio;
    if n == 2 && stat.registered() {
        let act = if name == "+CEREG" { ",7" } else { "" };
        format!("{},\"{:04X}\",\"{:07X}\"{act}", stat as u8, r.lac, r.ci)
    } else {
        (stat as u8).to_string()
    }
}

/// `AT+CREG?` (and `+CGREG`, `+CEREG`): `<prefix>: <n>,<stat>[,"<lac>","<ci>"]`.
fn reg_read(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    let name = args.name();
    let n = *reg_n(&mut ctx.net, name);
    let stat = reg_stat(&ctx.net, name);
    Ok(Reply::line(format!("{name}: {n},{}", reg_fields(ctx, name, n, stat))))
}

/// `AT+CREG=<n>`: 0 no URC, 1 `+CREG: <stat>` on change, 2 with the cell.
fn reg_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let name = args.name();
    let n = args.opt_in::<u8>(0..=2)?.unwrap_or(0);
    args.finish()?;
    *reg_n(&mut ctx.net, name) = n;
    Ok(Reply::ok())
}

/// Change the registration as the network does: the URCs the DTE enabled (`+CREG:`,
/// `+CGREG:`, `+CEREG:`, `+CGEV:`), and what follows a registration (signal and mode
/// reports, network time).
pub fn set_registration(ctx: &mut Ctx, cs: RegStat, ps: RegStat) {
    set_registration_by(ctx, cs, ps, pdp::By::Network);
}

/// [`set_registration`], a detach said to be `by` the module or the network (`+CGEV`).
pub fn set_registration_by(ctx: &mut Ctx, cs: RegStat, ps: RegStat, by: pdp::By) {
    let (old_cs, old_ps) = (ctx.net.cs, ctx.net.ps);
    let was_registered = ctx.net.registered();
    ctx.net.cs = cs;
    ctx.net.ps = ps;
    let lte = ctx.profile.lte();
    for (name, n, old, new) in [
        ("+CREG", ctx.net.creg_n, old_cs, cs),
        ("+CGREG", ctx.net.cgreg_n, old_ps, ps),
        ("+CEREG", ctx.net.cereg_n, old_ps, ps),
    ] {
        if n > 0 && old != new && (name != "+CEREG" || lte) {
            let line = format!("{name}: {}", reg_fields(ctx, name, n, new));
            ctx.urcs.push(Urc::Line(line));
        }
    }
    if !ps.registered() {
        // Detached: every context goes, and what runs on one (a data call) ends.
        let was_active = std::mem::take(&mut ctx.net.pdp_active);
        let catalog = ctx.catalog;
        for cid in was_active {
            pdp::deactivated(ctx, cid, by);
            catalog.pdp_down(ctx, cid);
        }
        if old_ps.registered() {
            pdp::detached(ctx, by);
        }
    }
    if ctx.net.registered() != was_registered {
        radio::registration_changed(ctx);
        let catalog = ctx.catalog;
        catalog.network_changed(ctx, ctx.net.registered());
    }
}

/// The end of the search `AT+CFUN=1` started.
fn registered_again(ctx: &mut Ctx, _: u64) {
    if ctx.net.cfun == 1 && ctx.net.sim == Sim::Ready && ctx.net.coverage && ctx.net.cops_mode != 2 {
        set_registration(ctx, RegStat::Home, RegStat::Home);
    }
}

/// How long the module searches after coverage is lost before it reports that it is not
/// registered (`+CREG: 0`), and after coverage returns before it is registered again.
pub const SEARCH_BEFORE_UNREGISTERED: Duration = Duration::from_secs(1);

/// Coverage goes (`lost`) or comes back. Going: searching at once (`+CREG: 2` as the DTE
/// enabled it; packet service and every service's connections go with it; `+CSQ: 99,99`
/// while not registered),
/// then after [`SEARCH_BEFORE_UNREGISTERED`] not registered (`+CREG: 0`). Coming back: the
/// signal returns and, once `reregister` has passed, the module is registered again
/// (`+CREG: 1`); PDP contexts stay closed.
pub fn set_coverage(ctx: &mut Ctx, lost: bool, reregister: Duration) {
    if ctx.net.coverage != lost {
        return;
    }
    ctx.net.coverage = !lost;
    if lost {
        if ctx.net.cfun == 1 && ctx.net.sim == Sim::Ready && ctx.net.cops_mode != 2 {
            set_registration(ctx, RegStat::Searching, RegStat::Searching);
            ctx.after(SEARCH_BEFORE_UNREGISTERED, "coverage lost", gave_up_search, 0);
        }
    } else {
        ctx.after(reregister, "coverage back", registered_again, 0);
    }
}

fn gave_up_search(ctx: &mut Ctx, _: u64) {
    if !ctx.net.coverage && ctx.net.cs == RegStat::Searching {
        set_registration(ctx, RegStat::NotSearching, RegStat::NotSearching);
    }
}

/// The SIM is taken out (`present: false`: the profile's line, registration and service
/// gone) or put back (`+CPIN: READY` and the rest of the boot lines, or `+CPIN: SIM PIN`
/// for a SIM with a PIN, then a search and registration).
pub fn set_sim_present(ctx: &mut Ctx, present: bool) {
    if present == (ctx.net.sim != Sim::Absent) {
        return;
    }
    if !present {
        ctx.net.removed = Some(ctx.net.sim);
        ctx.net.sim = Sim::Absent;
        ctx.urcs.push(Urc::Line(ctx.profile.sim_removed_urc().to_owned()));
        set_registration(ctx, RegStat::NotSearching, RegStat::NotSearching);
        return;
    }
    let blocked = ctx.net.removed.take() == Some(Sim::PukRequired);
    if blocked {
        ctx.net.sim = Sim::PukRequired;
        ctx.urcs.push(Urc::Line("+CPIN: SIM PUK".into()));
    } else if ctx.net.pin.is_some() {
        ctx.net.sim = Sim::PinRequired;
        ctx.net.pin_tries = PIN_TRIES;
        ctx.urcs.push(Urc::Line("+CPIN: SIM PIN".into()));
    } else {
        ctx.net.sim = Sim::Ready;
        ctx.urcs.extend(ctx.profile.after_pin_urcs().into_iter().map(|u| Urc::Line(u.to_owned())));
        if ctx.net.cfun == 1 && ctx.net.cops_mode != 2 {
            set_registration(ctx, RegStat::Searching, RegStat::Searching);
            ctx.after(REREGISTER_AFTER, "registration", registered_again, 0);
        }
    }
}

/// Operator names: long, short, numeric.
pub fn operator_names(ctx: &Ctx) -> [String; 3] {
    let long = ctx.profile.identity.operator.clone();
    let short: String = long.chars().filter(|c| !c.is_whitespace()).take(8).collect();
    let numeric = ctx.profile.identity.imsi.chars().take(5).collect();
    [long, short, numeric]
}

fn cops_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let mode = ctx.net.cops_mode;
    if !ctx.net.registered() {
        return Ok(Reply::line(format!("+COPS: {mode}")));
    }
    let names = operator_names(ctx);
    let f = ctx.net.cops_format;
    Ok(Reply::line(format!("+COPS: {mode},{f},\"{}\",{}", names[usize::from(f)], ctx.profile.act)))
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
    let was = ctx.net.cops_mode;
    match mode {
        // Deregister: as AT+CFUN=4 does to registration, with the radio kept on.
        2 => {
            ctx.net.cops_mode = 2;
            if ctx.net.cs != RegStat::NotSearching || ctx.net.ps != RegStat::NotSearching {
                set_registration_by(ctx, RegStat::NotSearching, RegStat::NotSearching, pdp::By::Me);
            }
        }
        // Format only.
        3 => {}
        // Automatic or manual (4 is manual falling back to automatic, the one network
        // there is): register again if deregistered.
        _ => {
            ctx.net.cops_mode = if mode == 0 { 0 } else { 1 };
            if was == 2 && ctx.net.cfun == 1 && ctx.net.sim == Sim::Ready && ctx.net.coverage {
                set_registration(ctx, RegStat::Searching, RegStat::Searching);
                ctx.after(REREGISTER_AFTER, "registration", registered_again, 0);
            }
        }
    }
    Ok(Reply::ok())
}

/// `AT+COPS=?`: a scan, answered after [`COPS_SCAN`] (input meanwhile waits): the one
/// network there is, then `,,` and the ranges. With the radio off: `+CME ERROR: 30`.
fn cops_test(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    if ctx.net.cfun != 1 {
        return Err(CmdError::cme(CmeError::NoNetworkService, "the radio is off"));
    }
    Ok(Reply::ok().then(crate::modem::Then::After { delay: COPS_SCAN, resume: cops_scan_result }))
}

fn cops_scan_result(ctx: &mut Ctx) -> Result<Reply, CmdError> {
    let [l, s, n] = operator_names(ctx);
    Ok(Reply::line(format!("+COPS: (2,\"{l}\",\"{s}\",\"{n}\",{}),,(0-4),(0-2)", ctx.profile.act)))
}

fn cfun_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CFUN: {}", ctx.net.cfun)))
}

/// `AT+CFUN=<fun>[,<rst>]`: 0 minimum, 1 full, 4 RF off; rst 1 restarts (with fun 1).
/// Leaving full functionality deregisters at once; coming back searches for
/// [`REREGISTER_AFTER`], then registers.
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
    let was = ctx.net.cfun;
    ctx.net.cfun = fun;
    if rst == 1 {
        ctx.power = PowerRequest::Restart;
    }
    if fun != 1 {
        set_registration_by(ctx, RegStat::NotSearching, RegStat::NotSearching, pdp::By::Me);
    } else if was != 1 && ctx.net.sim == Sim::Ready && rst == 0 && ctx.net.coverage && ctx.net.cops_mode != 2 {
        set_registration(ctx, RegStat::Searching, RegStat::Searching);
        ctx.after(REREGISTER_AFTER, "registration", registered_again, 0);
    }
    Ok(Reply::ok())
}

fn cgatt_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CGATT: {}", u8::from(ctx.net.packet_attached()))))
}

/// `AT+CGATT=<0|1>`: detach or attach the packet domain (attaching needs registration).
fn cgatt_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let attach = args.next_in::<u8>(0..=1)? == 1;
    args.finish()?;
    if attach && !ctx.net.registered() {
        return Err(CmdError::cme(CmeError::NoNetworkService, "not registered (CFUN is not 1)"));
    }
    let cs = ctx.net.cs;
    let ps = if attach { cs } else { RegStat::NotSearching };
    set_registration_by(ctx, cs, ps, pdp::By::Me);
    Ok(Reply::ok())
}
