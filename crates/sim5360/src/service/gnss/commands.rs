//! `AT+CGPS*` rows and handlers (and `AT+CGNSSINFO` on the SIM7600 profile). Choices are
//! listed in docs/commands.md.

use super::{DEFAULT_POSITION, Fix, GnssConfig, GnssState, NMEA_PORT, PositionSource, nmea};
use crate::modem::table::CommandSpec;
use crate::modem::{CmdError, Ctx, Reply, Urc};
use std::time::Duration;
use v250::Args;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("+CGPS").read(cgps_read).write(cgps_write).test_text("+CGPS: (0,1),(1,2,3)"),
    CommandSpec::new("+CGPSINFO").exec(cgpsinfo).write(cgpsinfo_write).test_text("+CGPSINFO: (0-255)"),
    CommandSpec::new("+CGNSSINFO").exec(cgnssinfo).write(cgpsinfo_write).test_text("+CGNSSINFO: (0-255)").lte_only(),
    CommandSpec::new("+CGPSCOLD").exec(cold_start).test_ok(),
    CommandSpec::new("+CGPSHOT").exec(hot_start).test_ok(),
    CommandSpec::new("+CGPSWARM").exec(hot_start).test_ok(),
    CommandSpec::new("+CGPSDEL").exec(cgpsdel).test_ok(),
    CommandSpec::new("+CGPSAUTO").read(setting_read).write(setting_write).test_text("+CGPSAUTO: (0-1)"),
    CommandSpec::new("+CGPSPMD").read(setting_read).write(setting_write).test_text("+CGPSPMD: (0-65535)"),
    CommandSpec::new("+CGPSMSB").read(setting_read).write(setting_write).test_text("+CGPSMSB: (0-1)"),
    CommandSpec::new("+CGPSHOR").read(setting_read).write(setting_write).test_text("+CGPSHOR: (0-1800000)"),
    CommandSpec::new("+CGPSMD").read(setting_read).write(setting_write).test_text("+CGPSMD: (1-3)"),
    CommandSpec::new("+CGPSSSL").read(setting_read).write(setting_write).test_text("+CGPSSSL: (0-1)"),
    CommandSpec::new("+CGPSXE").read(setting_read).write(setting_write).test_text("+CGPSXE: (0-1)"),
    CommandSpec::new("+CGPSNMEA").read(setting_read).write(setting_write).test_text("+CGPSNMEA: (0-511)"),
    CommandSpec::new("+CGPSURL").read(cgpsurl_read).write(cgpsurl_write).test_ok(),
    CommandSpec::new("+CGPSXD").write(cgpsxd).test_text("+CGPSXD: (0-2)"),
];

/// `AT+CGPS=0` reports `+CGPS: 0` this long after its `OK`.
const STOP_AFTER: Duration = Duration::from_secs(1);

fn state(ctx: &mut Ctx) -> &mut GnssState {
    ctx.services.get_mut()
}

fn config(ctx: &Ctx) -> GnssConfig {
    ctx.setting::<GnssConfig>()
        .cloned()
        .unwrap_or_else(|| GnssConfig::new(PositionSource::Fixed(DEFAULT_POSITION), Duration::from_secs(5), ctx.now))
}

/// The position now, if the session has its fix.
fn fix_now(ctx: &mut Ctx) -> Option<Fix> {
    let now = ctx.now;
    if !state(ctx).has_fix(now) || ctx.setting::<super::NoSky>().is_some() {
        return None;
    }
    let cfg = config(ctx);
    Some(cfg.source.at(now.saturating_duration_since(cfg.origin)))
}

/// Start a session with this time to first fix; `ERROR` when one runs.
fn start(ctx: &mut Ctx, mode: u8, ttff: Duration) -> Result<Reply, CmdError> {
    if state(ctx).on {
        return Err(CmdError::Refused("a GNSS session is running"));
    }
    let fix_at = ctx.now + ttff;
    let g = state(ctx);
    g.on = true;
    g.mode = mode;
    g.fix_at = Some(fix_at);
    let t = ctx.after(Duration::from_secs(1), "nmea", nmea_tick, 0);
    state(ctx).nmea_timer = Some(t);
    Ok(Reply::ok())
}

fn cgps_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let g = state(ctx);
    Ok(Reply::line(format!("+CGPS: {},{}", u8::from(g.on), g.mode)))
}

/// `AT+CGPS=<on>[,<mode>]`: 1 starts a session (mode 1 standalone, 2 UE-based, 3
/// UE-assisted; `ERROR` if one runs); 0 stops it: `OK`, then `+CGPS: 0` (`ERROR` when
/// none runs).
fn cgps_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let on = args.next_in::<u8>(0..=1)? == 1;
    let mode = args.opt_in::<u8>(1..=3)?.unwrap_or(1);
    args.finish()?;
    if on {
        let ttff = config(ctx).ttff;
        return start(ctx, mode, ttff);
    }
    if !state(ctx).on {
        return Err(CmdError::Refused("no GNSS session"));
    }
    stop(ctx);
    ctx.after(STOP_AFTER, "cgps stopped", |ctx, _| ctx.urcs.push(Urc::Line("+CGPS: 0".into())), 0);
    Ok(Reply::ok())
}

fn stop(ctx: &mut Ctx) {
    let g = state(ctx);
    g.on = false;
    g.fix_at = None;
    if let Some(t) = g.nmea_timer.take() {
        ctx.timers.cancel(t);
    }
}

/// `AT+CGPSCOLD`: a cold start (`ERROR` while a session runs).
fn cold_start(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let ttff = config(ctx).ttff;
    start(ctx, 1, ttff)
}

/// `AT+CGPSHOT` / `AT+CGPSWARM`: a hot start, its fix within a second.
fn hot_start(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let ttff = config(ctx).hot_ttff;
    start(ctx, 1, ttff)
}

/// `AT+CGPSDEL`: delete assistance data (only while stopped).
fn cgpsdel(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    if state(ctx).on {
        return Err(CmdError::Refused("a GNSS session is running"));
    }
    Ok(Reply::ok())
}

/// The fields after `+CGPSINFO:`: `<lat>,<N/S>,<log>,<E/W>,<ddmmyy>,<hhmmss.s>,<alt>,
/// <speed knots>,<course>`, or eight commas without a fix.
fn info_fields(ctx: &mut Ctx) -> String {
    let Some(f) = fix_now(ctx) else { return ",,,,,,,,".into() };
    let at = ctx.clock.wall_now();
    let (lat, ns) = nmea::coord(f.lat, 2, 6, 'N', 'S');
    let (lon, ew) = nmea::coord(f.lon, 3, 6, 'E', 'W');
    let time = at.format("%H%M%S%.3f").to_string();
    format!(
        "{lat},{ns},{lon},{ew},{},{},{:.1},{:.1},{:.1}",
        at.format("%d%m%y"),
        &time[..time.len() - 2],
        f.alt,
        f.speed_kn,
        f.course
    )
}

/// `+CGPSINFO:<fields>` (WCDMA: no space after the colon, what every SIM5320/5360 client
/// tests the first character of; SIM7600: with a space).
fn info_line(ctx: &mut Ctx) -> String {
    let sep = if ctx.profile.lte() { " " } else { "" };
    format!("+CGPSINFO:{sep}{}", info_fields(ctx))
}

/// `AT+CGPSINFO`: the position line; on WCDMA profiles followed by the `AmpI/AmpQ:` line
/// SIM5320 modules print.
fn cgpsinfo(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let mut lines = vec![info_line(ctx)];
    if !ctx.profile.lte() {
        lines.push("AmpI/AmpQ: 443/434".into());
    }
    Ok(Reply::lines(lines))
}

/// `AT+CGNSSINFO` (SIM7600): `+CGNSSINFO: <mode>,<GPS-SVs>,<GLONASS-SVs>,<BEIDOU-SVs>,
/// <lat>,<N/S>,<lon>,<E/W>,<date>,<UTC>,<alt>,<speed>,<course>,<PDOP>,<HDOP>,<VDOP>`.
fn cgnssinfo(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let Some(f) = fix_now(ctx) else { return Ok(Reply::line("+CGNSSINFO: ,,,,,,,,,,,,,,,")) };
    let at = ctx.clock.wall_now();
    let (lat, ns) = nmea::coord(f.lat, 2, 6, 'N', 'S');
    let (lon, ew) = nmea::coord(f.lon, 3, 6, 'E', 'W');
    let time = at.format("%H%M%S%.3f").to_string();
    Ok(Reply::line(format!(
        "+CGNSSINFO: 2,08,00,00,{lat},{ns},{lon},{ew},{},{},{:.1},{:.1},{:.1},1.6,0.9,1.3",
        at.format("%d%m%y"),
        &time[..time.len() - 2],
        f.alt,
        f.speed_kn,
        f.course
    )))
}

fn info_tick(ctx: &mut Ctx, _: u64) {
    let period = state(ctx).info_period;
    if period == 0 {
        return;
    }
    let line = info_line(ctx);
    ctx.urcs.push(Urc::Line(line));
    let t = ctx.after(Duration::from_secs(u64::from(period)), "cgpsinfo", info_tick, 0);
    state(ctx).info_timer = Some(t);
}

/// `AT+CGPSINFO=<secs>`: the `+CGPSINFO:` line as a URC every `<secs>` seconds (0 stops);
/// the empty form while there is no fix.
fn cgpsinfo_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let period = args.next_in::<u8>(0..=255)?;
    args.finish()?;
    if let Some(t) = state(ctx).info_timer.take() {
        ctx.timers.cancel(t);
    }
    state(ctx).info_period = period;
    if period > 0 {
        let t = ctx.after(Duration::from_secs(u64::from(period)), "cgpsinfo", info_tick, 0);
        state(ctx).info_timer = Some(t);
    }
    Ok(Reply::ok())
}

/// One second of NMEA sentences to the NMEA port, while a session runs.
fn nmea_tick(ctx: &mut Ctx, _: u64) {
    if !state(ctx).on {
        return;
    }
    let fix = fix_now(ctx);
    let text = nmea::second(ctx.clock.wall_now(), fix.as_ref());
    ctx.aux.write(NMEA_PORT, text.as_bytes());
    let t = ctx.after(Duration::from_secs(1), "nmea", nmea_tick, 0);
    state(ctx).nmea_timer = Some(t);
}

/// Power-on value and largest value of each stored setting.
/// A setting's default and range (as its test form prints it).
fn setting_spec(name: &str) -> (u32, std::ops::RangeInclusive<u32>) {
    match name {
        "+CGPSPMD" => (127, 0..=65535),
        "+CGPSHOR" => (50, 0..=1_800_000),
        "+CGPSMD" => (1, 1..=3),
        "+CGPSNMEA" => (511, 0..=511),
        _ => (0, 0..=1),
    }
}

fn setting_read(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    let name = args.name();
    let v = state(ctx).settings.get(name, setting_spec(name).0);
    Ok(Reply::line(format!("{name}: {v}")))
}

/// A setting (`AT+CGPSAUTO=<0|1>`, `AT+CGPSPMD=<mask>`, `AT+CGPSHOR=<m>`, ...): stored and
/// read back.
fn setting_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let name = args.name();
    let (_, range) = setting_spec(name);
    let v = args.next_in::<u32>(range)?;
    args.finish()?;
    state(ctx).settings.set(name, v);
    Ok(Reply::ok())
}

fn cgpsurl_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CGPSURL: \"{}\"", state(ctx).url)))
}

/// `AT+CGPSURL="<host>:<port>"`: the AGPS (SUPL) server (stored; assistance is not
/// needed by the virtual engine).
fn cgpsurl_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let url = args.next_str_max(255)?;
    args.finish()?;
    state(ctx).url = url.to_owned();
    Ok(Reply::ok())
}

/// `AT+CGPSXD=<n>`: download gpsOneXTRA data: `OK`, then `+CGPSXD: 0`.
fn cgpsxd(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    args.next_in::<u8>(0..=2)?;
    args.finish()?;
    ctx.urcs.push(Urc::Line("+CGPSXD: 0".into()));
    Ok(Reply::ok())
}
