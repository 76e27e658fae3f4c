//! `AT+CHTTPS*` rows, handlers and the session's sink. Choices are listed in
//! docs/commands.md.

use super::{HttpsState, Pending};
use crate::modem::table::CommandSpec;
use crate::modem::{CmdError, Ctx, DataSink, JobInput, JobSink, JobSpec, Reply, Then, Urc};
use crate::service::http::job::session_code;
use crate::service::http::{HttpJob, HttpMode};
use v250::Args;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("+CHTTPSSTART").exec(start).test(ok).sim(),
    CommandSpec::new("+CHTTPSSTOP").exec(stop).test(ok).sim(),
    CommandSpec::new("+CHTTPSOPSE").write(open).test(ok).sim(),
    CommandSpec::new("+CHTTPSCLSE").exec(close).test(ok).sim(),
    CommandSpec::new("+CHTTPSSEND").exec(send_flush).read(send_read).write(send).test(send_test).sim(),
    CommandSpec::new("+CHTTPSRECV").read(recv_read).write(recv).test(recv_test).sim(),
];

/// Largest `AT+CHTTPSSEND` length.
const SEND_MAX: i64 = 4096;
/// Largest `AT+CHTTPSRECV` length (the SIM5360's own limit is UNCERTAIN, about 2048;
/// larger requests are served, so fast DTEs can pull big responses).
const RECV_MAX: i64 = 65536;

/// SIM7600 HTTPS table codes used for refusals.
const INVALID: u16 = 8;
const STATE: u16 = 11;
const NO_NETWORK: u16 = 17;

fn ok(_: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::ok())
}

fn lte(ctx: &Ctx) -> bool {
    ctx.profile.https_async()
}

/// The answer of a command: WCDMA `OK`/`ERROR` (`why` logged), LTE `OK` then
/// `<name>: <code>`.
fn answer(ctx: &mut Ctx, name: &str, result: Result<(), (u16, &'static str)>) -> Result<Reply, CmdError> {
    if lte(ctx) {
        let code = result.err().map_or(0, |(c, _)| c);
        ctx.urcs.push(Urc::Line(format!("{name}: {code}")));
        return Ok(Reply::ok());
    }
    result.map(|()| Reply::ok()).map_err(|(_, why)| CmdError::Refused(why))
}

/// `AT+CHTTPSSTART`.
fn start(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    if ctx.https.started {
        return answer(ctx, "+CHTTPSSTART", Err((STATE, "HTTPS stack already started")));
    }
    ctx.https.started = true;
    answer(ctx, "+CHTTPSSTART", Ok(()))
}

/// `AT+CHTTPSSTOP`: releases the stack, closing a session still open.
fn stop(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    if !ctx.https.started {
        return answer(ctx, "+CHTTPSSTOP", Err((STATE, "HTTPS stack not started")));
    }
    if let Some(id) = ctx.https.session {
        ctx.jobs.abort(id);
    }
    ctx.https = HttpsState::default();
    answer(ctx, "+CHTTPSSTOP", Ok(()))
}

/// `AT+CHTTPSOPSE="<host>",<port>[,<server_type>]`: type 1 plain HTTP, 2 TLS (default).
/// WCDMA: `OK` once connected, `ERROR` otherwise. LTE: `OK`, then `+CHTTPSOPSE: <err>`.
fn open(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let host = args.next_str_max(256)?;
    let port = args.next_int_in(1..=65535)?;
    let server_type = args.opt_int_in(1..=2)?.unwrap_or(2);
    args.finish()?;
    if host.is_empty() || host.contains(char::is_whitespace) {
        return answer(ctx, "+CHTTPSOPSE", Err((INVALID, "empty host")));
    }
    if !ctx.https.started || ctx.https.session.is_some() {
        return answer(ctx, "+CHTTPSOPSE", Err((STATE, "stack not started or a session is open")));
    }
    if !ctx.net.registered() {
        return answer(ctx, "+CHTTPSOPSE", Err((NO_NETWORK, "no network service")));
    }
    let job = HttpJob {
        host: host.to_owned(),
        port: u16::try_from(port).unwrap_or(443),
        tls: server_type == 2,
        mode: HttpMode::Session,
    };
    let id = ctx.jobs.start(JobSpec::Http(job), Box::new(SessionSink));
    let h = &mut ctx.https;
    h.session = Some(id);
    h.connected = false;
    h.pending = Pending::Open;
    h.cache.clear();
    h.notified = false;
    Ok(if lte(ctx) { Reply::ok() } else { Reply::ok().then(Then::Wait(id)) })
}

/// `AT+CHTTPSCLSE`: close the session.
fn close(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let Some(id) = ctx.https.session.filter(|_| ctx.https.connected && ctx.https.pending == Pending::None) else {
        return answer(ctx, "+CHTTPSCLSE", Err((STATE, "no open session")));
    };
    // Unread data goes with the session; dropping it also lets the job's events through
    // again if the cache was full (the close is answered by one of them).
    ctx.https.pending = Pending::Close;
    ctx.https.cache.clear();
    ctx.https.notified = false;
    ctx.jobs.send(id, JobInput::Close);
    Ok(if lte(ctx) { Reply::ok() } else { Reply::ok().then(Then::Wait(id)) })
}

/// Data of a `>` entry, relayed to the session as it arrives.
#[derive(Debug)]
struct ToSession {
    id: crate::modem::JobId,
}

impl DataSink for ToSession {
    fn write(&mut self, ctx: &mut Ctx, data: &[u8]) -> Result<(), CmdError> {
        ctx.jobs.send(self.id, JobInput::Data(data.to_vec()));
        Ok(())
    }

    fn finish(self: Box<Self>, ctx: &mut Ctx) -> Result<Reply, CmdError> {
        if lte(ctx) {
            ctx.urcs.push(Urc::Line("+CHTTPSSEND: 0".into()));
        }
        Ok(Reply::ok())
    }
}

fn open_session(ctx: &Ctx) -> Option<crate::modem::JobId> {
    ctx.https.session.filter(|_| ctx.https.connected)
}

/// `AT+CHTTPSSEND=<length>`: `>`, exactly `<length>` bytes (1-4096) relayed, `OK`.
fn send(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let len = args.next_int_in(1..=SEND_MAX)?;
    args.finish()?;
    let Some(id) = open_session(ctx) else {
        return answer(ctx, "+CHTTPSSEND", Err((STATE, "no open session")));
    };
    Ok(Reply::ok().then(Then::Data { len: Some(len.unsigned_abs()), prompt: ">", sink: Box::new(ToSession { id }) }))
}

/// `AT+CHTTPSSEND`: everything sent so far is on its way: `OK`, then `+CHTTPSSEND: 0`.
fn send_flush(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    if open_session(ctx).is_none() {
        return answer(ctx, "+CHTTPSSEND", Err((STATE, "no open session")));
    }
    ctx.urcs.push(Urc::Line("+CHTTPSSEND: 0".into()));
    Ok(Reply::ok())
}

/// `AT+CHTTPSSEND?`: bytes not yet sent (relayed at once, so 0).
fn send_read(_: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line("+CHTTPSSEND: 0"))
}

fn send_test(_: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CHTTPSSEND: (1-{SEND_MAX})")))
}

/// `AT+CHTTPSRECV?`: `+CHTTPSRECV: LEN,<cached>`.
fn recv_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CHTTPSRECV: LEN,{}", ctx.https.cache.len())))
}

fn recv_test(_: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CHTTPSRECV: (1-{RECV_MAX})")))
}

/// `AT+CHTTPSRECV=<max>`: `OK`, then up to `<max>` cached bytes as
/// `+CHTTPSRECV: DATA,<len>` + bytes (nothing when the cache is empty), then
/// `+CHTTPSRECV: 0`; while cached data remains, the data URC again. Real clients wait for
/// `OK` before the `DATA` line and for a new `RECV EVENT` before each further read
/// (docs/commands.md).
fn recv(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let max = args.next_int_in(1..=RECV_MAX)?;
    args.finish()?;
    if !ctx.https.started {
        return answer(ctx, "+CHTTPSRECV", Err((STATE, "HTTPS stack not started")));
    }
    let data = ctx.https.cache.take(usize::try_from(max).unwrap_or(0));
    if !data.is_empty() {
        ctx.urcs.push(Urc::Block { header: format!("+CHTTPSRECV: DATA,{}", data.len()), data });
    }
    ctx.urcs.push(Urc::Line("+CHTTPSRECV: 0".into()));
    ctx.https.notified = !ctx.https.cache.is_empty();
    if ctx.https.notified {
        ctx.urcs.push(Urc::Line(ctx.profile.https_recv_event().to_owned()));
    }
    Ok(Reply::ok())
}

/// Sink of the session job.
#[derive(Debug)]
struct SessionSink;

impl JobSink for SessionSink {
    fn data(&mut self, ctx: &mut Ctx, data: Vec<u8>, urcs: &mut Vec<Urc>) -> Result<(), u16> {
        if ctx.https.pending == Pending::Close {
            // Still in flight when the DTE closed the session: nobody will read it.
            return Ok(());
        }
        ctx.https.cache.push(&data);
        if !ctx.https.notified {
            ctx.https.notified = true;
            urcs.push(Urc::Line(ctx.profile.https_recv_event().to_owned()));
        }
        Ok(())
    }

    fn step(
        &mut self,
        ctx: &mut Ctx,
        _result: Result<Vec<String>, u16>,
        urcs: &mut Vec<Urc>,
    ) -> Option<Result<Reply, CmdError>> {
        // The only step of a session: connected.
        ctx.https.connected = true;
        ctx.https.pending = Pending::None;
        if lte(ctx) {
            urcs.push(Urc::Line("+CHTTPSOPSE: 0".into()));
            return None;
        }
        Some(Ok(Reply::ok()))
    }

    fn done(
        self: Box<Self>,
        ctx: &mut Ctx,
        result: Result<(), u16>,
        urcs: &mut Vec<Urc>,
    ) -> Option<Result<Reply, CmdError>> {
        let h = &mut ctx.https;
        let pending = std::mem::take(&mut h.pending);
        h.session = None;
        h.connected = false;
        let lte = ctx.profile.https_async();
        match pending {
            Pending::Open => {
                let code = result.err().unwrap_or(session_code::NETWORK);
                if lte {
                    urcs.push(Urc::Line(format!("+CHTTPSOPSE: {code}")));
                    return None;
                }
                Some(Err(CmdError::Refused("could not open the session")))
            }
            Pending::Close => {
                if lte {
                    urcs.push(Urc::Line("+CHTTPSCLSE: 0".into()));
                    return None;
                }
                Some(Ok(Reply::ok()))
            }
            Pending::None => {
                let _ = result;
                urcs.push(Urc::Line("+CHTTPSNOTIFY: PEER CLOSED".into()));
                None
            }
        }
    }
}
