//! `AT+CHTTPS*` rows, handlers and the session's sink. Choices are listed in
//! docs/commands.md.

use super::{HttpsState, Stack};
use crate::job::{JobId, JobInput};
use crate::modem::table::CommandSpec;
use crate::modem::{CmdError, Ctx, DataSink, JobSink, Reply, Resume, Then, Urc};
use crate::service::http::{HttpJob, HttpSession, SessionError};
use v250::Args;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("+CHTTPSSTART").exec(start).test_ok().sim(),
    CommandSpec::new("+CHTTPSSTOP").exec(stop).test_ok().sim(),
    CommandSpec::new("+CHTTPSOPSE").write(open).test_ok().sim(),
    CommandSpec::new("+CHTTPSCLSE").exec(close).test_ok().sim(),
    CommandSpec::new("+CHTTPSSEND")
        .exec(send_flush)
        .read(send_read)
        .write(send)
        .test_text("+CHTTPSSEND: (1-4096)")
        .sim(),
    CommandSpec::new("+CHTTPSRECV")
        .exec(recv_all)
        .read(recv_read)
        .write(recv)
        .test_text("+CHTTPSRECV: (1-65536)")
        .sim(),
];

/// Largest `AT+CHTTPSSEND` length.
const SEND_MAX: u16 = 4096;
/// Largest `AT+CHTTPSRECV` length (the SIM5360's own limit is UNCERTAIN, about 2048;
/// larger requests are served, so fast DTEs can pull big responses).
const RECV_MAX: u32 = 65536;

/// SIM7600 HTTPS table codes used for refusals.
const BUSY: u16 = 3;
const INVALID: u16 = 8;
const STATE: u16 = 11;
const NO_NETWORK: u16 = 17;

fn state(ctx: &mut Ctx) -> &mut HttpsState {
    ctx.services.get_mut()
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
fn start(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    if state(ctx).stack != Stack::Stopped {
        return answer(ctx, args.name(), Err((STATE, "HTTPS stack already started")));
    }
    state(ctx).stack = Stack::Started;
    answer(ctx, args.name(), Ok(()))
}

/// `AT+CHTTPSSTOP`: releases the stack, closing a session still open.
fn stop(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    let stack = state(ctx).stack;
    if stack == Stack::Stopped {
        return answer(ctx, args.name(), Err((STATE, "HTTPS stack not started")));
    }
    if let Some(id) = stack.session() {
        ctx.jobs.abort(id);
    }
    *state(ctx) = HttpsState::default();
    answer(ctx, args.name(), Ok(()))
}

/// `AT+CHTTPSOPSE="<host>",<port>[,<server_type>]`: type 1 plain HTTP, 2 TLS (default).
/// WCDMA: `OK` once connected, `ERROR` otherwise. LTE: `OK`, then `+CHTTPSOPSE: <err>`.
fn open(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let host = args.next_str_max(256)?;
    let port = args.next_in::<u16>(1..=65535)?;
    let server_type = args.opt_int_in(1..=2)?.unwrap_or(2);
    args.finish()?;
    if host.is_empty() || host.contains(char::is_whitespace) {
        return answer(ctx, args.name(), Err((INVALID, "empty host")));
    }
    if state(ctx).stack != Stack::Started {
        return answer(ctx, args.name(), Err((STATE, "stack not started or a session is open")));
    }
    if !ctx.net.registered() {
        return answer(ctx, args.name(), Err((NO_NETWORK, "no network service")));
    }
    let job = HttpJob { host: host.to_owned(), port, tls: server_type == 2 };
    let label = job.label("session");
    let id = ctx.jobs.start(label, SessionSink, move |io| crate::service::http::job::run_session(job, io));
    let h = state(ctx);
    h.stack = Stack::Opening(id);
    h.cache.clear();
    h.notified = false;
    Ok(if lte(ctx) { Reply::ok() } else { Reply::ok().then(Then::Wait(id)) })
}

/// `AT+CHTTPSCLSE`: close the session, at once: unread data and data not yet sent go with
/// it (a server that stopped reading cannot hold the close back).
fn close(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    let h = state(ctx);
    let Some(id) = h.stack.open() else {
        return answer(ctx, args.name(), Err((STATE, "no open session")));
    };
    *h = HttpsState { stack: Stack::Started, ..HttpsState::default() };
    ctx.jobs.abort(id);
    answer(ctx, args.name(), Ok(()))
}

/// Data of a `>` entry, relayed to the session as it arrives. An entry is small (4096 bytes
/// at most), so it is always taken whole: a session that cannot take more refuses the next
/// `AT+CHTTPSSEND` instead of holding the DTE back in the middle of one.
#[derive(Debug)]
struct ToSession {
    id: JobId,
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

fn open_session(ctx: &mut Ctx) -> Option<JobId> {
    state(ctx).stack.open()
}

/// `AT+CHTTPSSEND=<length>`: `>`, exactly `<length>` bytes (1-4096) relayed, `OK`. While
/// the server has not taken what was sent before (more than the module buffers waits),
/// the send is refused (WCDMA `ERROR`, LTE `+CHTTPSSEND: 3`); `AT+CHTTPSSEND?` tells how
/// much waits.
fn send(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let len = args.next_in::<u16>(1..=SEND_MAX)?;
    args.finish()?;
    let Some(id) = open_session(ctx) else {
        return answer(ctx, args.name(), Err((STATE, "no open session")));
    };
    if ctx.jobs.input_full(id) {
        return answer(ctx, args.name(), Err((BUSY, "the server has not taken the data sent before")));
    }
    Ok(Reply::ok().then(Then::Data { len: Some(u64::from(len)), prompt: ">", sink: Box::new(ToSession { id }) }))
}

/// `AT+CHTTPSSEND`: everything sent so far is on its way: `OK`, then `+CHTTPSSEND: 0`.
fn send_flush(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    if open_session(ctx).is_none() {
        return answer(ctx, args.name(), Err((STATE, "no open session")));
    }
    ctx.urcs.push(Urc::Line("+CHTTPSSEND: 0".into()));
    Ok(Reply::ok())
}

/// `AT+CHTTPSSEND?`: `+CHTTPSSEND: <bytes sent to the module, not yet to the server>`.
fn send_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let waiting = open_session(ctx).map_or(0, |id| ctx.jobs.queued(id));
    Ok(Reply::line(format!("+CHTTPSSEND: {waiting}")))
}

/// `AT+CHTTPSRECV?`: `+CHTTPSRECV: LEN,<cached>`.
fn recv_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CHTTPSRECV: LEN,{}", state(ctx).cache.len())))
}

/// `AT+CHTTPSRECV=<max>`: `OK`, then up to `<max>` cached bytes as
/// `+CHTTPSRECV: DATA,<len>` + bytes (nothing when the cache is empty), then
/// `+CHTTPSRECV: 0`; while cached data remains, the data URC again. Real clients wait for
/// `OK` before the `DATA` line and for a new `RECV EVENT` before each further read
/// (docs/commands.md).
fn recv(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let max = args.next_in::<u32>(1..=RECV_MAX)?;
    args.finish()?;
    if state(ctx).stack == Stack::Stopped {
        return answer(ctx, args.name(), Err((STATE, "HTTPS stack not started")));
    }
    let h = state(ctx);
    let data = h.cache.take(max as usize);
    h.notified = !h.cache.is_empty();
    let again = h.notified;
    if !data.is_empty() {
        ctx.urcs.push(Urc::Block { header: format!("+CHTTPSRECV: DATA,{}", data.len()), data });
    }
    ctx.urcs.push(Urc::Line("+CHTTPSRECV: 0".into()));
    if again {
        ctx.urcs.push(Urc::Line(ctx.profile.https_recv_event().to_owned()));
    }
    Ok(Reply::ok())
}

/// The blocks of `AT+CHTTPSRECV`'s execute form.
const RECV_ALL_BLOCK: usize = 2048;

/// Everything cached, as `+CHTTPSRECV: DATA,<len>` blocks, then `+CHTTPSRECV: 0`.
fn drain_cache(h: &mut HttpsState, urcs: &mut Vec<Urc>) {
    while !h.cache.is_empty() {
        let data = h.cache.take(RECV_ALL_BLOCK);
        urcs.push(Urc::Block { header: format!("+CHTTPSRECV: DATA,{}", data.len()), data });
    }
    h.notified = false;
    urcs.push(Urc::Line("+CHTTPSRECV: 0".into()));
}

/// `AT+CHTTPSRECV` (execute, the SIM5215/SIM5320 form Libelium's 3G library sends after
/// `AT+CHTTPSSEND`): `OK`, then everything cached as `+CHTTPSRECV: DATA,<len>` blocks and
/// `+CHTTPSRECV: 0`. With nothing cached yet on an open session it waits for the
/// response: what arrives next (a radio frame's worth, the whole of a response the server
/// wrote at once) comes the same way instead of a `RECV EVENT`; the session ending first
/// gives `+CHTTPSRECV: 0` alone.
fn recv_all(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    if state(ctx).stack == Stack::Stopped {
        return answer(ctx, args.name(), Err((STATE, "HTTPS stack not started")));
    }
    let open = state(ctx).stack.open().is_some();
    let h = state(ctx);
    if h.cache.is_empty() && open {
        h.recv_all = true;
        return Ok(Reply::ok());
    }
    let mut urcs = Vec::new();
    drain_cache(h, &mut urcs);
    ctx.urcs.extend(urcs);
    Ok(Reply::ok())
}

/// Sink of the session job.
#[derive(Debug)]
struct SessionSink;

impl JobSink for SessionSink {
    type Proto = HttpSession;

    fn data(&mut self, ctx: &mut Ctx, data: Vec<u8>, urcs: &mut Vec<Urc>) -> Result<(), SessionError> {
        let h = state(ctx);
        h.cache.push(&data);
        if std::mem::take(&mut h.recv_all) {
            drain_cache(h, urcs);
            return Ok(());
        }
        if !h.notified {
            h.notified = true;
            urcs.push(Urc::Line(ctx.profile.https_recv_event().to_owned()));
        }
        Ok(())
    }

    fn step(&mut self, ctx: &mut Ctx, _connected: Result<(), SessionError>, urcs: &mut Vec<Urc>) -> Resume {
        // The only step of a session: connected.
        let h = state(ctx);
        let Stack::Opening(id) = h.stack else { return None };
        h.stack = Stack::Open(id);
        if lte(ctx) {
            urcs.push(Urc::Line("+CHTTPSOPSE: 0".into()));
            return None;
        }
        Some(Ok(Reply::ok()))
    }

    fn done(self, ctx: &mut Ctx, result: Result<(), SessionError>, urcs: &mut Vec<Urc>) -> Resume {
        let lte = ctx.profile.https_async();
        let h = state(ctx);
        let was = std::mem::replace(&mut h.stack, Stack::Started);
        match was {
            Stack::Opening(_) => {
                let code = result.err().unwrap_or(SessionError::Network).code();
                if lte {
                    urcs.push(Urc::Line(format!("+CHTTPSOPSE: {code}")));
                    return None;
                }
                Some(Err(CmdError::Refused("could not open the session")))
            }
            Stack::Open(_) => {
                if std::mem::take(&mut h.recv_all) {
                    urcs.push(Urc::Line("+CHTTPSRECV: 0".into()));
                }
                urcs.push(Urc::Line("+CHTTPSNOTIFY: PEER CLOSED".into()));
                None
            }
            // A stopped stack's session ends unannounced.
            Stack::Stopped | Stack::Started => {
                h.stack = was;
                None
            }
        }
    }

    /// While the cache is full, no more data is taken from the server.
    fn paused(&self, ctx: &Ctx, held: usize) -> bool {
        ctx.services.get::<HttpsState>().is_some_and(|s| s.backlogged(held))
    }
}
