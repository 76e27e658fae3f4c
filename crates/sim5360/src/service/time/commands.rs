//! `AT+CTZU`, `AT+CTZR`, `AT+CNTPCID`, `AT+CNTP`, `AT+CHTPSERV`, `AT+CHTPUPDATE` rows,
//! handlers and the jobs' sinks. Choices are listed in docs/commands.md.

use super::{HtpServer, TimeError, TimeQuery, state};
use crate::modem::table::CommandSpec;
use crate::modem::{CmdError, CmeError, Ctx, JobSink, Reply, Resume, Urc};
use chrono::{DateTime, Utc};
use v250::Args;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("+CTZU").read(ctzu_read).write(ctzu_write).test_text("+CTZU: (0-1)"),
    CommandSpec::new("+CTZR").read(ctzr_read).write(ctzr_write).test_text("+CTZR: (0-1)"),
    CommandSpec::new("+CNTPCID").read(cntpcid_read).write(cntpcid_write).test_text("+CNTPCID: (1-16)"),
    CommandSpec::new("+CNTP").exec(cntp_sync).read(cntp_read).write(cntp_write).test_text("+CNTP: \"HOST\",(-96-96)"),
    CommandSpec::new("+CHTPSERV")
        .read(chtpserv_read)
        .write(chtpserv_write)
        .test_text("+CHTPSERV: \"ADD\",\"HOST\",(1-65535),(0-1)"),
    CommandSpec::new("+CHTPUPDATE").exec(chtpupdate).test_ok(),
];

const MAX_HOST: usize = 255;
/// Servers `AT+CHTPSERV` keeps.
const HTP_SERVERS_MAX: usize = 16;

fn ctzu_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CTZU: {}", state(ctx).ctzu)))
}

/// `AT+CTZU=<0|1>`: take the network's time at registration.
fn ctzu_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    state(ctx).ctzu = args.next_in::<u8>(0..=1)?;
    args.finish()?;
    Ok(Reply::ok())
}

fn ctzr_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CTZR: {}", state(ctx).ctzr)))
}

/// `AT+CTZR=<0|1>`: report `+CTZV` at registration.
fn ctzr_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    state(ctx).ctzr = args.next_in::<u8>(0..=1)?;
    args.finish()?;
    Ok(Reply::ok())
}

fn cntpcid_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CNTPCID: {}", state(ctx).ntp_cid)))
}

/// `AT+CNTPCID=<cid>`: the PDP context NTP uses (stored; the virtual network has one).
fn cntpcid_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    state(ctx).ntp_cid = args.next_in::<u8>(1..=16)?;
    args.finish()?;
    Ok(Reply::ok())
}

fn cntp_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let t = state(ctx);
    Ok(Reply::line(format!("+CNTP: \"{}\",{}", t.ntp_host, t.ntp_tz)))
}

/// A server name or address, with an optional `:<port>` (an extension for servers on
/// other ports than 123/80; no spaces, quotes or control characters).
fn host_arg<'a>(args: &mut Args<'a>) -> Result<&'a str, CmdError> {
    let host = args.next_str_max(MAX_HOST)?;
    if host.is_empty() || host.bytes().any(|b| b <= b' ' || b == b'"' || b == 0x7f) {
        return Err(args.invalid("server must be a name or address").into());
    }
    Ok(host)
}

/// `AT+CNTP="<host>"[,<tz>]`: the NTP server (`<host>[:<port>]`, port 123 by default) and
/// the time zone the clock is set in, in quarter hours (-96..96, as TinyGSM gives it).
fn cntp_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let host = host_arg(&mut args)?;
    let tz = args.opt_in::<i8>(-96..=96)?.unwrap_or(0);
    args.finish()?;
    let t = state(ctx);
    t.ntp_host = host.to_owned();
    t.ntp_tz = tz;
    Ok(Reply::ok())
}

/// `AT+CNTP`: `OK`, then the query; `+CNTP: 0` once the clock is set, `+CNTP: <err>`
/// otherwise (3 network, 2 no usable time). No server set, or one running: `ERROR`.
fn cntp_sync(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let t = state(ctx);
    if t.ntp_host.is_empty() || t.ntp_busy.is_some() {
        return Err(CmdError::Refused("no NTP server set, or a query is running"));
    }
    let (host, tz) = (t.ntp_host.clone(), t.ntp_tz);
    if !ctx.net.packet_attached() {
        ctx.urcs.push(Urc::Line(format!("+CNTP: {}", TimeError::Network.ntp_code())));
        return Ok(Reply::ok());
    }
    let label = format!("ntp {host}");
    let id = ctx.jobs.start(label, NtpSink { tz }, move |io| super::job::ntp(host, io));
    state(ctx).ntp_busy = Some(id);
    Ok(Reply::ok())
}

/// Sets the clock from the NTP job and reports `+CNTP:`.
#[derive(Debug)]
struct NtpSink {
    tz: i8,
}

impl JobSink for NtpSink {
    type Proto = TimeQuery;

    fn step(&mut self, ctx: &mut Ctx, result: Result<DateTime<Utc>, TimeError>, _: &mut Vec<Urc>) -> Resume {
        if let Ok(utc) = result {
            ctx.clock.set_utc(utc, self.tz);
        }
        None
    }

    fn done(self, ctx: &mut Ctx, result: Result<(), TimeError>, urcs: &mut Vec<Urc>) -> Resume {
        state(ctx).ntp_busy = None;
        urcs.push(Urc::Line(format!("+CNTP: {}", result.err().map_or(0, TimeError::ntp_code))));
        None
    }
}

fn chtpserv_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let lines =
        state(ctx).htp_servers.iter().map(|s| format!("+CHTPSERV: \"{}\",{},{}", s.host, s.port, s.version)).collect();
    Ok(Reply::lines(lines))
}

/// `AT+CHTPSERV="ADD","<host>",<port>,<http_version>[,"<proxy>",<proxy_port>]` (the proxy is
/// accepted and not used) or `AT+CHTPSERV="DEL","<host>"`.
fn chtpserv_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let action = args.next_str_max(3)?.to_ascii_uppercase();
    let host = host_arg(&mut args)?.to_owned();
    let servers = &mut state(ctx).htp_servers;
    match action.as_str() {
        "ADD" => {
            let port = args.next_in::<u16>(1..=65535)?;
            let version = args.opt_in::<u8>(0..=1)?.unwrap_or(1);
            args.opt_str()?;
            args.opt_in::<u16>(1..=65535)?;
            args.finish()?;
            if servers.len() >= HTP_SERVERS_MAX {
                return Err(CmdError::cme(CmeError::MemoryFull, "too many HTTP time servers"));
            }
            servers.retain(|s| s.host != host);
            servers.push(HtpServer { host, port, version });
        }
        "DEL" => {
            args.finish()?;
            let before = servers.len();
            servers.retain(|s| s.host != host);
            if servers.len() == before {
                return Err(CmdError::Refused("no such HTTP time server"));
            }
        }
        _ => return Err(args.invalid("ADD or DEL").into()),
    }
    Ok(Reply::ok())
}

/// `AT+CHTPUPDATE`: `OK`, then the servers of `AT+CHTPSERV` are asked in turn; the first
/// `Date:` sets the clock (UTC, the zone kept): `+CHTPUPDATE: 0`, else `+CHTPUPDATE: <err>`
/// (2 network, 3 no usable date). No server: `ERROR`.
fn chtpupdate(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let t = state(ctx);
    if t.htp_servers.is_empty() || t.htp_busy.is_some() {
        return Err(CmdError::Refused("no HTTP time server set, or an update is running"));
    }
    let servers = t.htp_servers.clone();
    if !ctx.net.packet_attached() {
        ctx.urcs.push(Urc::Line(format!("+CHTPUPDATE: {}", TimeError::Network.htp_code())));
        return Ok(Reply::ok());
    }
    let label =
        format!("htp {}", servers.iter().map(|s| format!("{}:{}", s.host, s.port)).collect::<Vec<_>>().join(","));
    let id = ctx.jobs.start(label, HtpSink, move |io| super::job::htp(servers, io));
    state(ctx).htp_busy = Some(id);
    Ok(Reply::ok())
}

/// Sets the clock from an HTTP `Date` and reports `+CHTPUPDATE:`.
#[derive(Debug)]
struct HtpSink;

impl JobSink for HtpSink {
    type Proto = TimeQuery;

    fn step(&mut self, ctx: &mut Ctx, result: Result<DateTime<Utc>, TimeError>, _: &mut Vec<Urc>) -> Resume {
        if let Ok(utc) = result {
            let tz = ctx.clock.tz_quarters();
            ctx.clock.set_utc(utc, tz);
        }
        None
    }

    fn done(self, ctx: &mut Ctx, result: Result<(), TimeError>, urcs: &mut Vec<Urc>) -> Resume {
        state(ctx).htp_busy = None;
        urcs.push(Urc::Line(format!("+CHTPUPDATE: {}", result.err().map_or(0, TimeError::htp_code))));
        None
    }
}
