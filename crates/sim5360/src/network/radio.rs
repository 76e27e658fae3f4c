//! The radio model and the SIMCom commands that report it (device spec §3.1-§3.4, §3.17):
//! `AT+CPSI`, `AT+CNSMOD`, `AT+CNMP`, `AT+CNAOP`, `AT+CNBP`, `AT+AUTOCSQ` (with its `+CSQ`
//! URCs), `AT+CCINFO`.
//!
//! One documented device model: a SIM5360E on its home WCDMA network (band 2100, cell
//! `0x00C3`/`0A1B2C3`, `+CSQ: 21,99` = -71 dBm); the SIM7600 profile is on LTE. Every
//! answer is derived from these values, so a later control API that changes them changes
//! every answer consistently. Values are in docs/commands.md.

use crate::modem::{CmdError, Ctx, Reply, Urc, table::CommandSpec};
use std::time::Duration;
use v250::Args;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("+CPSI").read(cpsi_read).write(cpsi_write).test_text("+CPSI: (0-255)"),
    CommandSpec::new("+CNSMOD").read(cnsmod_read).write(cnsmod_write).test_text("+CNSMOD: (0-1)"),
    CommandSpec::new("+CNMP").read(cnmp_read).write(cnmp_write).test(cnmp_test),
    CommandSpec::new("+CNAOP").read(cnaop_read).write(cnaop_write).test_text("+CNAOP: (0-2)"),
    CommandSpec::new("+CNBP").read(cnbp_read).write(cnbp_write).test_ok(),
    CommandSpec::new("+AUTOCSQ").read(autocsq_read).write(autocsq_write).test_text("+AUTOCSQ: (0-1),(0-1)"),
    CommandSpec::new("+CCINFO").exec(ccinfo).test_ok(),
];

/// `AT+AUTOCSQ=1,0` reports the signal this often.
const AUTOCSQ_PERIOD: Duration = Duration::from_secs(5);

/// `+CSQ: <rssi>,<ber>` now (99,99 while not registered).
pub fn csq_line(ctx: &Ctx) -> String {
    let r = &ctx.net.radio;
    let (rssi, ber) = if ctx.net.registered() { (r.rssi, r.ber) } else { (99, 99) };
    format!("+CSQ: {rssi},{ber}")
}

/// `<stat>` of `+CNSMOD` for the access technology in use (the profile's, or a network
/// preset's): 0 no service, 2 GPRS, 3 EGPRS, 4 WCDMA, 7 HSPA, 8 LTE.
fn system_mode(ctx: &Ctx) -> u8 {
    if !ctx.net.registered() {
        return 0;
    }
    match ctx.profile.act {
        0 => 2,
        3 => 3,
        6 => 7,
        7 | 9 => 8,
        _ => 4,
    }
}

/// The signal changed (the control channel): `+CSQ:` when `AT+AUTOCSQ=1,1` reports
/// changes and the module is registered.
pub fn set_signal(ctx: &mut Ctx, rssi: u8, ber: u8) {
    let r = &mut ctx.net.radio;
    let changed = (r.rssi, r.ber) != (rssi, ber);
    (r.rssi, r.ber) = (rssi, ber);
    if changed && r.autocsq == (1, 1) && ctx.net.registered() {
        let line = csq_line(ctx);
        ctx.urcs.push(Urc::Line(line));
    }
}

/// The registration changed: the mode and (with `AT+AUTOCSQ=1,1`) signal reports.
pub fn registration_changed(ctx: &mut Ctx) {
    if ctx.net.radio.cnsmod_urc {
        let line = format!("+CNSMOD: {}", system_mode(ctx));
        ctx.urcs.push(Urc::Line(line));
    }
    if ctx.net.radio.autocsq == (1, 1) {
        let line = csq_line(ctx);
        ctx.urcs.push(Urc::Line(line));
    }
}

/// `+CPSI: ...` now: `NO SERVICE,Online` before registration, `NO SERVICE,Low Power Mode`
/// with the radio off; registered, the serving cell in the WCDMA (or, on the SIM7600
/// profile, LTE) layout.
fn cpsi_line(ctx: &Ctx) -> String {
    let net = &ctx.net;
    if net.cfun != 1 {
        return "+CPSI: NO SERVICE,Low Power Mode".into();
    }
    if !net.registered() {
        return "+CPSI: NO SERVICE,Online".into();
    }
    let r = &net.radio;
    let imsi = &ctx.profile.identity.imsi;
    let (mcc, mnc) = (imsi.get(..3).unwrap_or("001"), imsi.get(3..5).unwrap_or("01"));
    let dbm = r.dbm();
    if matches!(ctx.profile.act, 0 | 3) {
        // A GSM cell (a gprs or edge network preset): the SIM5360 capture's layout,
        // <LAC>,<CellID>,<ARFCN> <band>,<RxLev dBm>,<TrackLO>,<C1>-<C2>.
        return format!("+CPSI: GSM,Online,{mcc}-{mnc},0x{:04x},{},4 EGSM 900,{dbm},0,40-40", r.lac, r.ci & 0xFFFF);
    }
    if matches!(ctx.profile.act, 7 | 9) {
        // <TAC>,<SCellID>,<PCellID>,<band>,<earfcn>,<dlbw>,<ulbw>,<RSRQ>,<RSRP>,<RSSI>,<RSSNR>
        return format!(
            "+CPSI: LTE,Online,{mcc}-{mnc},0x{:04X},{},{},EUTRAN-BAND3,1850,5,5,-94,{},{},14",
            r.lac,
            r.ci,
            r.psc,
            (dbm - 20) * 10,
            dbm * 10
        );
    }
    // <LAC>,<CellID>,<band>,<PSC>,<Freq>,<SSC>,<EC/IO>,<RSCP>,<Qual>,<RxLev>,<TXPWR>
    format!(
        "+CPSI: WCDMA,Online,{mcc}-{mnc},0x{:04X},{},{},{},{},0,{}.{},{},{},{},500",
        r.lac,
        r.ci,
        r.band,
        r.psc,
        r.uarfcn,
        r.ecio_tenths() / 10,
        r.ecio_tenths() % 10,
        r.rscp(),
        r.rscp().saturating_sub(52),
        (dbm + 113).max(0)
    )
}

fn cpsi_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(cpsi_line(ctx)))
}

fn cpsi_tick(ctx: &mut Ctx, _: u64) {
    let period = ctx.net.radio.cpsi_period;
    if period == 0 {
        return;
    }
    let line = cpsi_line(ctx);
    ctx.urcs.push(Urc::Line(line));
    ctx.net.radio.cpsi_timer = Some(ctx.after(Duration::from_secs(u64::from(period)), "cpsi", cpsi_tick, 0));
}

/// `AT+CPSI=<secs>`: the `+CPSI:` line as a URC every `<secs>` seconds (0 stops it).
fn cpsi_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let period = args.next_in::<u8>(0..=255)?;
    args.finish()?;
    if let Some(t) = ctx.net.radio.cpsi_timer.take() {
        ctx.timers.cancel(t);
    }
    ctx.net.radio.cpsi_period = period;
    if period > 0 {
        ctx.net.radio.cpsi_timer = Some(ctx.after(Duration::from_secs(u64::from(period)), "cpsi", cpsi_tick, 0));
    }
    Ok(Reply::ok())
}

fn cnsmod_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CNSMOD: {},{}", u8::from(ctx.net.radio.cnsmod_urc), system_mode(ctx))))
}

/// `AT+CNSMOD=<0|1>`: 1 reports `+CNSMOD: <stat>` when the network mode changes.
fn cnsmod_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    ctx.net.radio.cnsmod_urc = args.next_in::<u8>(0..=1)? == 1;
    args.finish()?;
    Ok(Reply::ok())
}

/// Modes `AT+CNMP` takes: WCDMA modules 2, 13, 14; the SIM7600 its LTE list.
fn cnmp_modes(ctx: &Ctx) -> &'static [u8] {
    if ctx.profile.lte() { &[2, 9, 10, 13, 14, 19, 22, 38, 39, 48, 51, 54, 59, 60, 63, 67] } else { &[2, 13, 14] }
}

fn cnmp_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CNMP: {}", ctx.net.radio.mode_pref)))
}

/// `AT+CNMP=<mode>`: the mode preference (stored; the one network there is serves every
/// mode).
fn cnmp_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let mode = args.next_in::<u8>(0..=255)?;
    args.finish()?;
    if !cnmp_modes(ctx).contains(&mode) {
        return Err(args.invalid("not a mode of AT+CNMP=?").into());
    }
    ctx.net.radio.mode_pref = mode;
    Ok(Reply::ok())
}

fn cnmp_test(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let list: Vec<String> = cnmp_modes(ctx).iter().map(u8::to_string).collect();
    Ok(Reply::line(format!("+CNMP: ({})", list.join(","))))
}

fn cnaop_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CNAOP: {}", ctx.net.radio.acq_order)))
}

/// `AT+CNAOP=<n>`: 0 automatic, 1 GSM then WCDMA, 2 WCDMA then GSM (stored).
fn cnaop_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    ctx.net.radio.acq_order = args.next_in::<u8>(0..=2)?;
    args.finish()?;
    Ok(Reply::ok())
}

fn cnbp_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CNBP: 0X{:016X}", ctx.net.radio.bands)))
}

/// `AT+CNBP=<mask>` (hex, `0X` prefix optional): the band preference (stored).
fn cnbp_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let mask = args.next_str_max(18)?;
    // LTE modules append LTE masks; they are accepted and not kept.
    while args.opt_str()?.is_some() {}
    args.finish()?;
    let digits = mask.trim_start_matches("0X").trim_start_matches("0x");
    let bands = u64::from_str_radix(digits, 16).map_err(|_| args.invalid("not a hex band mask"))?;
    ctx.net.radio.bands = bands;
    Ok(Reply::ok())
}

fn autocsq_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let (auto, mode) = ctx.net.radio.autocsq;
    Ok(Reply::line(format!("+AUTOCSQ: {auto},{mode}")))
}

fn autocsq_tick(ctx: &mut Ctx, _: u64) {
    if ctx.net.radio.autocsq != (1, 0) {
        return;
    }
    let line = csq_line(ctx);
    ctx.urcs.push(Urc::Line(line));
    ctx.net.radio.autocsq_timer = Some(ctx.after(AUTOCSQ_PERIOD, "autocsq", autocsq_tick, 0));
}

/// `AT+AUTOCSQ=<auto>[,<mode>]`: with auto 1, `+CSQ: <rssi>,<ber>` URCs every 5 s (mode 0)
/// or when the signal changes (mode 1).
fn autocsq_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let auto = args.next_in::<u8>(0..=1)?;
    let mode = args.opt_in::<u8>(0..=1)?.unwrap_or(0);
    args.finish()?;
    if let Some(t) = ctx.net.radio.autocsq_timer.take() {
        ctx.timers.cancel(t);
    }
    ctx.net.radio.autocsq = (auto, mode);
    if (auto, mode) == (1, 0) {
        ctx.net.radio.autocsq_timer = Some(ctx.after(AUTOCSQ_PERIOD, "autocsq", autocsq_tick, 0));
    }
    Ok(Reply::ok())
}

/// `AT+CCINFO`: the serving cell (`+CCINFO:[SCELL],...`, the SIM5320A layout) when
/// registered; no neighbours.
fn ccinfo(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    if !ctx.net.registered() {
        return Ok(Reply::ok());
    }
    let r = &ctx.net.radio;
    let imsi = &ctx.profile.identity.imsi;
    let (mcc, mnc) = (imsi.get(..3).unwrap_or("001"), imsi.get(3..5).unwrap_or("01"));
    let dbm = r.dbm();
    Ok(Reply::line(format!(
        "+CCINFO:[SCELL],UARFCN:{},MCC:{mcc},MNC:{mnc},LAC:{},ID:{},PSC:{},SSC:0,RSCP:{},ECIO:{}.{},RXLev:{dbm}dbm,TXPWR:0",
        r.uarfcn,
        r.lac,
        r.ci,
        r.psc,
        r.rscp(),
        r.ecio_tenths() / 10,
        r.ecio_tenths() % 10
    )))
}
