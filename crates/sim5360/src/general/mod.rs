//! V.25ter basics, identification, error reporting, serial-port settings, the clock and
//! the command list (spec §9, §10). Every answer is documented in docs/commands.md.

pub mod device;
pub mod device_state;

use crate::modem::settings::{BAUD_RATES, SREGS, Settings};
use crate::modem::table::CommandSpec;
use crate::modem::{CmdError, Ctx, ModuleClock, MuxParams, PortRole, PowerRequest, Reply, UrcRoute};
use v250::{Args, CmeMode};

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("E").basic(echo),
    CommandSpec::new("V").basic(verbose),
    CommandSpec::new("Q").basic(quiet),
    CommandSpec::new("X").basic(x_mode),
    CommandSpec::new("L").basic(accept_0_3),
    CommandSpec::new("M").basic(accept_0_2),
    CommandSpec::new("O").basic(online),
    CommandSpec::new("&C").basic(amp_c),
    CommandSpec::new("&D").basic(amp_d),
    CommandSpec::new("&S").basic(amp_s),
    CommandSpec::new("Z").basic(restore_profile),
    CommandSpec::new("&F").basic(factory),
    CommandSpec::new("&W").basic(save_profile),
    CommandSpec::new("&V").exec(show_settings),
    CommandSpec::new("I").basic(identify),
    CommandSpec::new("+GMI").exec(manufacturer).test_ok(),
    CommandSpec::new("+CGMI").exec(manufacturer).test_ok(),
    CommandSpec::new("+GMM").exec(model).test_ok(),
    CommandSpec::new("+CGMM").exec(model).test_ok(),
    CommandSpec::new("+GMR").exec(revision_bare).test_ok(),
    CommandSpec::new("+CGMR").exec(revision).test_ok(),
    CommandSpec::new("+GSN").exec(imei).test_ok(),
    CommandSpec::new("+CGSN").exec(imei).test_ok(),
    CommandSpec::new("+GCAP").exec(gcap).test_ok(),
    CommandSpec::new("+CMEE").exec(cmee_default).read(cmee_read).write(cmee_write).test_text("+CMEE: (0-2)"),
    CommandSpec::new("+IPR").exec(ipr_default).read(ipr_read).write(ipr_write).test(ipr_test),
    CommandSpec::new("+IFC").exec(ifc_default).read(ifc_read).write(ifc_write).test_text("+IFC: (0,2),(0,2)"),
    CommandSpec::new("+CCLK").read(cclk_read).write(cclk_write).test_ok(),
    CommandSpec::new("+CLAC").exec(clac).test_ok(),
    CommandSpec::new("+CATR").read(catr_read).write(catr_write).test_text("+CATR: (0-7)"),
    CommandSpec::new("+CMUX")
        .read(cmux_read)
        .write(cmux_write)
        .test_text("+CMUX: (0),(0),(1-8),(1-1500),(1-255),(0-100),(2-255),(1-255),(1-7)"),
    CommandSpec::new("+CMUXSRVPORT")
        .read(cmuxsrvport_read)
        .write(cmuxsrvport_write)
        .test_text("+CMUXSRVPORT: (0-3),(0-5)")
        .wcdma_only(),
    CommandSpec::new("+CRESET").exec(reset).test_ok(),
    CommandSpec::new("+REBOOT").exec(reset).test_ok(),
];

/// Value of a basic command (`ATE1` -> 1, `ATE` -> 0) within `0..=max`.
fn basic_value(mut args: Args<'_>, max: i64) -> Result<u8, CmdError> {
    let v = args.opt_int_in(0..=max)?.unwrap_or(0);
    args.finish()?;
    // Range-checked above; max <= 255 for every caller.
    Ok(u8::try_from(v).unwrap_or(0))
}

/// `ATE<n>`: 0 echo off, 1 on.
fn echo(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    ctx.settings.echo = basic_value(args, 1)? == 1;
    Ok(Reply::ok())
}

/// `ATV<n>`: 0 numeric results, 1 verbose.
fn verbose(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    ctx.settings.verbose = basic_value(args, 1)? == 1;
    Ok(Reply::ok())
}

/// `ATQ<n>`: 1 suppresses result codes (this one included).
fn quiet(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    ctx.settings.quiet = basic_value(args, 1)? == 1;
    Ok(Reply::ok())
}

/// `ATX<n>`: 0-4, CONNECT result format (stored, reported by AT&V).
fn x_mode(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    ctx.settings.x = basic_value(args, 4)?;
    Ok(Reply::ok())
}

/// `ATL<n>` speaker loudness: accepted and ignored (no speaker).
fn accept_0_3(_: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    basic_value(args, 3)?;
    Ok(Reply::ok())
}

/// `ATM<n>` speaker mode: accepted and ignored.
fn accept_0_2(_: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    basic_value(args, 2)?;
    Ok(Reply::ok())
}

/// `ATO[0]`: back to the online data state this port left with `+++` (a transparent
/// socket, a data call): `CONNECT 115200`; with none, `NO CARRIER`.
fn online(_: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    basic_value(args, 0)?;
    Ok(Reply::ok().then(crate::modem::Then::Resume))
}

/// `AT&C<n>`: DCD mode 0-2.
fn amp_c(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    ctx.settings.amp_c = basic_value(args, 2)?;
    Ok(Reply::ok())
}

/// `AT&D<n>`: DTR mode 0-2.
fn amp_d(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    ctx.settings.amp_d = basic_value(args, 2)?;
    Ok(Reply::ok())
}

/// `AT&S<n>`: DSR mode 0-1.
fn amp_s(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    ctx.settings.amp_s = basic_value(args, 1)?;
    Ok(Reply::ok())
}

/// `ATZ[<n>]`: restore the profile saved with AT&W (factory values if none); n must be 0.
fn restore_profile(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    basic_value(args, 0)?;
    let p = ctx.saved_profile().unwrap_or_default();
    ctx.settings.apply(&p);
    Ok(Reply::ok())
}

/// `AT&F[<n>]`: factory defaults for the current session (the baud rate is kept).
fn factory(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    basic_value(args, 0)?;
    let ipr = ctx.settings.ipr;
    ctx.settings = Settings::factory(ipr);
    ctx.urc_route = UrcRoute::All;
    Ok(Reply::ok())
}

/// `AT&W[<n>]`: save E, Q, V, X, &C, &D, &S and S0 to NV (restored at power-on and ATZ;
/// written to the state directory after the answer, a failure logged).
fn save_profile(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    basic_value(args, 0)?;
    ctx.save_profile();
    Ok(Reply::ok())
}

/// `AT&V`: the current settings in the SIMCom layout.
fn show_settings(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let s = &ctx.settings;
    let b = |v: bool| u8::from(v);
    let r = &s.sreg;
    Ok(Reply::lines(vec![
        format!(
            "&C: {}; &D: {}; &F: 0; &S: {}; E: {}; L: 0; M: 0; Q: {}; V: {}; X: {}; Z: 0; S0: {};",
            s.amp_c,
            s.amp_d,
            s.amp_s,
            b(s.echo),
            b(s.quiet),
            b(s.verbose),
            s.x,
            r[0]
        ),
        format!(
            "S3: {}; S4: {}; S5: {}; S6: {}; S7: {}; S8: {}; S9: {}; S10: {}; S11: {};",
            r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11]
        ),
        format!("+CMEE: {}; +ICF: 3,3; +IFC: {},{}; +IPR: {};", cmee_num(s.cmee), s.ifc.0, s.ifc.1, s.ipr),
    ]))
}

/// `ATI`: identification block.
fn identify(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    basic_value(args, 0)?;
    let mut lines = identity_lines(&ctx.profile);
    lines.push(format!("+GCAP: {}", ctx.profile.gcap));
    Ok(Reply::lines(lines))
}

/// The `Manufacturer:`, `Model:`, `Revision:`, `IMEI:` lines of `ATI` and `AT+SIMCOMATI`.
pub fn identity_lines(profile: &crate::profile::Profile) -> Vec<String> {
    let id = &profile.identity;
    vec![
        format!("Manufacturer: {}", id.manufacturer),
        format!("Model: {}", id.model),
        format!("Revision: {}", id.revision),
        format!("IMEI: {}", id.imei),
    ]
}

fn manufacturer(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(ctx.profile.identity.manufacturer.clone()))
}

fn model(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(ctx.profile.identity.model.clone()))
}

fn revision(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(ctx.profile.cgmr_line()))
}

fn revision_bare(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(ctx.profile.identity.revision.clone()))
}

fn imei(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(ctx.profile.identity.imei.clone()))
}

fn gcap(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+GCAP: {}", ctx.profile.gcap)))
}

fn cmee_num(m: CmeMode) -> u8 {
    match m {
        CmeMode::Disabled => 0,
        CmeMode::Numeric => 1,
        CmeMode::Verbose => 2,
    }
}

/// `AT+CMEE`: back to the default, 0.
fn cmee_default(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    ctx.settings.cmee = CmeMode::Disabled;
    Ok(Reply::ok())
}

fn cmee_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CMEE: {}", cmee_num(ctx.settings.cmee))))
}

/// `AT+CMEE=<n>`: 0 `ERROR`, 1 numeric, 2 verbose `+CME ERROR`.
fn cmee_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let n = args.next_int_in(0..=2)?;
    args.finish()?;
    ctx.settings.cmee = match n {
        0 => CmeMode::Disabled,
        1 => CmeMode::Numeric,
        _ => CmeMode::Verbose,
    };
    Ok(Reply::ok())
}

fn ipr_list() -> String {
    BAUD_RATES.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

fn ipr_default(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    ctx.settings.ipr = 115200;
    Ok(Reply::ok())
}

fn ipr_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+IPR: {}", ctx.settings.ipr)))
}

/// `AT+IPR=<rate>`: the new rate applies after the `OK` (the runner re-paces or, on a real
/// serial device, reprograms the port).
fn ipr_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let rate = args.next_int()?;
    args.finish()?;
    let rate = u32::try_from(rate)
        .ok()
        .filter(|r| BAUD_RATES.contains(r))
        .ok_or_else(|| args.invalid("not a supported baud rate"))?;
    if !(ctx.rate_ok)(rate) {
        return Err(CmdError::Refused("the serial device cannot take this rate"));
    }
    ctx.settings.ipr = rate;
    Ok(Reply::ok())
}

/// `AT+IFC`: back to no flow control.
fn ifc_default(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    ctx.settings.ifc = (0, 0);
    Ok(Reply::ok())
}

fn ifc_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let (a, b) = ctx.settings.ifc;
    Ok(Reply::line(format!("+IFC: {a},{b}")))
}

/// `AT+IFC=<dce_by_dte>[,<dte_by_dce>]`: 0 none, 2 RTS/CTS (the second defaults to 2 when
/// the first is 2, as V.250 pairs them). On `--serial` the device's RTS/CTS follows after
/// the answer; elsewhere the setting is kept and reported.
fn ifc_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let flow = |v: i64| matches!(v, 0 | 2);
    let a = args.next_int_in(0..=2)?;
    let b = args.opt_int_in(0..=2)?.unwrap_or(a);
    args.finish()?;
    if !flow(a) || !flow(b) {
        return Err(args.invalid("flow control is 0 (none) or 2 (RTS/CTS)").into());
    }
    ctx.settings.ifc = (a as u8, b as u8);
    Ok(Reply::ok())
}

fn ipr_test(_: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+IPR: ({}),()", ipr_list())))
}

fn cclk_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CCLK: \"{}\"", ctx.clock.cclk_string())))
}

/// `AT+CCLK="yy/MM/dd,hh:mm:ss±zz"`: set the module clock (an offset from host time).
fn cclk_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let s = args.next_str()?;
    args.finish()?;
    let (t, tz) = ModuleClock::parse_cclk(s).ok_or_else(|| args.invalid("not yy/MM/dd,hh:mm:ss±zz"))?;
    ctx.clock.set(t, tz);
    Ok(Reply::ok())
}

/// `AT+CLAC`: every command of the table this model has, with its `AT` prefix.
fn clac(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let mut lines: Vec<String> =
        ctx.catalog.commands().filter(|c| c.exists_on(&ctx.profile)).map(|c| format!("AT{}", c.name)).collect();
    lines.extend(SREGS.iter().map(|(n, _, _)| format!("ATS{n}")));
    Ok(Reply::lines(lines))
}

/// `AT+CATR=<port>`: which AT port gets the module's unsolicited result codes (the
/// network's; a command's own go to its port): 0 every port (the default), 1 the UART, 2
/// the USB modem port, 3 the USB AT port, 4-7 the multiplexer's ports 1-4. A port the
/// module does not have means every port. Not saved; `AT&F` and a restart give 0.
fn catr_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let n = args.next_in::<u8>(0..=7)?;
    args.finish()?;
    ctx.urc_route = PortRole::from_catr(n).map_or(UrcRoute::All, UrcRoute::Only);
    Ok(Reply::ok())
}

fn catr_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let n = match ctx.urc_route {
        UrcRoute::All => 0,
        UrcRoute::Only(role) => role.catr(),
    };
    Ok(Reply::line(format!("+CATR: {n}")))
}

/// `AT+CMUX=<mode>[,<subset>[,<port_speed>[,<N1>[,<T1>[,<N2>[,<T2>[,<T3>[,<k>]]]]]]]]`
/// (27.007 §5.7): the basic option only (`<mode>` 0); after the line's `OK` the UART
/// speaks 27.010 (`modem/mux.rs`). On a port that is no UART, or on a channel of a
/// running multiplexer: `ERROR` (docs/commands.md).
fn cmux_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let d = MuxParams::default();
    let mode = args.next_in::<u8>(0..=0)?;
    let subset = args.opt_in::<u8>(0..=0)?.unwrap_or(d.subset);
    let speed = args.opt_in::<u8>(1..=8)?.unwrap_or(d.speed);
    let n1 = args.opt_in::<u16>(1..=1500)?;
    let t1 = args.opt_in::<u8>(1..=255)?.unwrap_or(d.t1);
    let n2 = args.opt_in::<u8>(0..=100)?.unwrap_or(d.n2);
    let t2 = args.opt_in::<u8>(2..=255)?.unwrap_or(d.t2);
    let t3 = args.opt_in::<u8>(1..=255)?.unwrap_or(d.t3);
    let k = args.opt_in::<u8>(1..=7)?.unwrap_or(d.k);
    args.finish()?;
    if ctx.mux.active {
        return Err(CmdError::Refused("the UART is multiplexed already"));
    }
    if ctx.port_role() != PortRole::Uart {
        return Err(CmdError::Refused("the multiplexer runs on the UART only"));
    }
    let params = MuxParams { mode, subset, speed, n1, t1, n2, t2, t3, k };
    ctx.mux.params = params;
    ctx.mux.request = Some(params);
    Ok(Reply::ok())
}

/// `AT+CMUX?`: `+CMUX: <mode>,<subset>,<port_speed>,<N1>,<T1>,<N2>,<T2>,<T3>,<k>` as last
/// set (27.010's defaults before: N1 31).
fn cmux_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let p = ctx.mux.params;
    let n1 = p.n1.unwrap_or(31);
    Ok(Reply::line(format!(
        "+CMUX: {},{},{},{n1},{},{},{},{},{}",
        p.mode, p.subset, p.speed, p.t1, p.n2, p.t2, p.t3, p.k
    )))
}

/// `AT+CMUXSRVPORT=<port>,<service>` (SIM5360; OVMS sends it before `AT+CMUX`): the
/// service of virtual port `<port>` (0-3 = DLCI 1-4); 5 makes it the NMEA stream, every
/// other value an AT port.
fn cmuxsrvport_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let port = args.next_in::<u8>(0..=3)?;
    let service = args.next_in::<u8>(0..=5)?;
    args.finish()?;
    ctx.mux.services[usize::from(port)] = service;
    Ok(Reply::ok())
}

/// `AT+CMUXSRVPORT?`: one `+CMUXSRVPORT: <port>,<service>` per virtual port.
fn cmuxsrvport_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let lines = ctx.mux.services.iter().enumerate().map(|(p, s)| format!("+CMUXSRVPORT: {p},{s}")).collect();
    Ok(Reply::lines(lines))
}

/// `AT+CRESET` / `AT+REBOOT`: `OK`, then the module restarts (boot URCs again).
fn reset(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    ctx.power = PowerRequest::Restart;
    Ok(Reply::ok())
}
