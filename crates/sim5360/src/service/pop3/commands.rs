//! `AT+POP3*` rows, handlers and the session's sink. Choices are listed in
//! docs/commands.md.

use super::job::Pop3Job;
use super::{Pop3, Pop3Op, Pop3State, Pop3Step, ResultFor, Session, result_urc};
use crate::efs::{Drive, EfsError, EfsPath};
use crate::modem::table::CommandSpec;
use crate::modem::{CmdError, Ctx, JobSink, OutputStream, Reply, Resume, Then, Urc};
use crate::service::outcome::MailError;
use std::io::{Read, Write};
use v250::{Args, Framing};

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("+POP3SRV")
        .exec(srv_clear)
        .read(srv_read)
        .write(srv_write)
        .test_text("+POP3SRV: (1-65535)")
        .secret(&[3]),
    CommandSpec::new("+POP3IN").exec(login).test_ok().sim(),
    CommandSpec::new("+POP3NUM").exec(num).test_ok().sim(),
    CommandSpec::new("+POP3LIST").exec(list_all).write(list_one).test_ok().sim(),
    CommandSpec::new("+POP3HDR").write(hdr).test_ok().sim(),
    CommandSpec::new("+POP3GET").write(get).test_ok().sim(),
    CommandSpec::new("+POP3DEL").write(del).test_ok().sim(),
    CommandSpec::new("+POP3OUT").exec(out).test_ok().sim(),
    CommandSpec::new("+POP3STOP").exec(stop).test_ok(),
    CommandSpec::new("+POP3READ").write(read).test_ok(),
];

const MAX_STR: usize = 128;
/// Message numbers accepted.
const MAX_MSG: u32 = 65535;

fn state(ctx: &mut Ctx) -> &mut Pop3State {
    ctx.services.get_mut()
}

fn srv_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    // The password is not shown (the spec is unsure whether the module echoes it).
    let p = state(ctx);
    Ok(Reply::line(format!("+POP3SRV: \"{}\",\"{}\",\"\",{}", p.server, p.user, p.port)))
}

/// `AT+POP3SRV=<server>,<user>,<pwd>[,<port>]` (port default 110); `ERROR` while a session
/// is open.
fn srv_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let server = args.next_str_max(MAX_STR)?;
    let user = args.next_str_max(MAX_STR)?;
    let pwd = args.next_str_max(MAX_STR)?;
    let port = args.opt_in::<u16>(1..=65535)?.unwrap_or(110);
    args.finish()?;
    if state(ctx).session != Session::Closed {
        return Err(CmdError::Refused("a POP3 session is open"));
    }
    if server.is_empty()
        || server.contains(' ')
        || user.is_empty()
        || [user, pwd].iter().any(|s| s.contains(['\r', '\n']))
    {
        return Err(args.invalid("server and user must be non-empty, without spaces or line ends").into());
    }
    let p = state(ctx);
    p.server = server.to_owned();
    p.user = user.to_owned();
    p.password = pwd.to_owned();
    p.port = port;
    Ok(Reply::ok())
}

fn srv_clear(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    if state(ctx).session != Session::Closed {
        return Err(CmdError::Refused("a POP3 session is open"));
    }
    *state(ctx) = Pop3State::default();
    Ok(Reply::ok())
}

/// `AT+POP3IN`: `OK`, then `+POP3: SUCCESS` once logged in (or a failure URC).
fn login(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let p = state(ctx);
    if p.session != Session::Closed {
        return Err(CmdError::Refused("already logged in"));
    }
    if p.server.is_empty() {
        return Err(CmdError::Refused("no POP3 server set"));
    }
    let job = Pop3Job { host: p.server.clone(), port: p.port, user: p.user.clone(), password: p.password.clone() };
    if !ctx.net.registered() {
        ctx.urcs.push(Urc::Line(result_urc(Err(MailError::Network))));
        return Ok(Reply::ok());
    }
    let id = ctx.jobs.start(job.label(), Pop3Sink, move |io| super::job::run(job, io));
    state(ctx).session = Session::LoggingIn(id);
    state(ctx).current = Some(ResultFor::Login);
    Ok(Reply::ok())
}

/// Hand `op` to the logged-in, idle session; `wait`: the line waits for the result.
fn op(ctx: &mut Ctx, op: Pop3Op, pending: ResultFor, wait: bool) -> Result<Reply, CmdError> {
    let p = state(ctx);
    let Session::LoggedIn(id) = p.session else {
        return Err(CmdError::Refused("not logged in (AT+POP3IN)"));
    };
    if p.current.is_some() {
        return Err(CmdError::Refused("a POP3 operation is running"));
    }
    p.current = Some(pending);
    ctx.jobs.send_op::<Pop3>(id, op);
    Ok(if wait { Reply::ok().then(Then::Wait(id)) } else { Reply::ok() })
}

fn msg_arg(args: &mut Args<'_>) -> Result<u32, CmdError> {
    args.next_in::<u32>(1..=MAX_MSG).map_err(Into::into)
}

/// `AT+POP3NUM`: `+POP3: <num>,<size>`, `OK`.
fn num(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    op(ctx, Pop3Op::Stat, ResultFor::Num, true)
}

/// `AT+POP3LIST`: one `+POP3: <num>,<size>` per mail, `OK`.
fn list_all(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    op(ctx, Pop3Op::List(None), ResultFor::List, true)
}

/// `AT+POP3LIST=<num>`: `+POP3: <num>,<size>`, `OK`.
fn list_one(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let n = msg_arg(&mut args)?;
    args.finish()?;
    op(ctx, Pop3Op::List(Some(n)), ResultFor::List, true)
}

/// `AT+POP3HDR=<num>`: the header lines of the mail, `OK`.
fn hdr(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let n = msg_arg(&mut args)?;
    args.finish()?;
    op(ctx, Pop3Op::Top(n), ResultFor::Hdr, true)
}

/// `AT+POP3GET=<num>[,<dele>]`: `OK`; the mail is stored under `C:/Email/` (named after its
/// UIDL), then `+POP3: SUCCESS` and the file's path on its own line. `<dele>` 1 deletes it
/// on the server (at `AT+POP3OUT`).
fn get(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let n = msg_arg(&mut args)?;
    let dele = args.opt_int_in(0..=1)?.unwrap_or(0) == 1;
    args.finish()?;
    op(ctx, Pop3Op::Uidl(n), ResultFor::GetUidl { n, dele }, false)
}

/// `AT+POP3DEL=<num>`: `OK`, then `+POP3: SUCCESS` (the deletion takes effect at
/// `AT+POP3OUT`).
fn del(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let n = msg_arg(&mut args)?;
    args.finish()?;
    op(ctx, Pop3Op::Dele(n), ResultFor::Del, false)
}

/// `AT+POP3OUT`: QUIT; `OK`, then `+POP3: SUCCESS`.
fn out(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    op(ctx, Pop3Op::Quit, ResultFor::Out, false)
}

/// `AT+POP3STOP`: drop the session without QUIT (deletions are discarded); `OK`.
fn stop(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    if let Some(id) = std::mem::take(&mut state(ctx).session).job() {
        ctx.jobs.abort(id);
    }
    state(ctx).current = None;
    Ok(Reply::ok())
}

/// The file name of a mail: its UIDL made safe for the EFS (and for drivers that strip
/// spaces and commas from the path line), else its number and the module time.
fn mail_name(ctx: &Ctx, uidl: &str, n: u32) -> String {
    let safe: String =
        uidl.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')).take(100).collect();
    if safe.is_empty() || safe.chars().all(|c| c == '.') {
        format!("mail{n}_{}.eml", ctx.clock.now_utc().timestamp())
    } else {
        format!("{safe}.eml")
    }
}

fn email_dir(ctx: &mut Ctx) -> Result<EfsPath, EfsError> {
    let dir = EfsPath::root(Drive::C).child("Email")?;
    ctx.efs.ensure_dir(&dir)?;
    Ok(dir)
}

/// The session's sink: routes each result by the state's `current`.
#[derive(Debug)]
struct Pop3Sink;

impl Pop3Sink {
    /// The GET flow after UIDL: stage the file and ask for the mail.
    fn start_retr(ctx: &mut Ctx, n: u32, dele: bool, uidl: &str) -> Result<(), MailError> {
        let id = state(ctx).session.job().ok_or(MailError::Server)?;
        let name = mail_name(ctx, uidl, n);
        let path = email_dir(ctx).and_then(|d| d.child(&name)).map_err(|_| MailError::Server)?;
        let file = ctx.efs.store.create(&path, None).map_err(|e| {
            tracing::info!("POP3GET: cannot store {path}: {e}");
            MailError::File
        })?;
        state(ctx).current = Some(ResultFor::GetRetr { n, dele, path, file: Some(file) });
        ctx.jobs.send_op::<Pop3>(id, Pop3Op::Retr(n));
        Ok(())
    }

    /// A mail was stored as `path`: `+POP3: SUCCESS` and the path.
    fn stored(urcs: &mut Vec<Urc>, path: &EfsPath) {
        urcs.push(Urc::Line(result_urc(Ok(()))));
        urcs.push(Urc::Line(path.to_string()));
    }
}

impl JobSink for Pop3Sink {
    type Proto = Pop3;

    fn data(&mut self, ctx: &mut Ctx, data: Vec<u8>, _: &mut Vec<Urc>) -> Result<(), MailError> {
        if let Some(ResultFor::GetRetr { file: Some(f), .. }) = state(ctx).current.as_mut()
            && let Err(e) = f.write_all(&data)
        {
            tracing::info!("POP3GET: writing the mail: {e}");
            state(ctx).current = None;
            return Err(MailError::File);
        }
        Ok(())
    }

    fn step(&mut self, ctx: &mut Ctx, result: Result<Pop3Step, MailError>, urcs: &mut Vec<Urc>) -> Resume {
        let fail = |urcs: &mut Vec<Urc>, e: MailError| urcs.push(Urc::Line(result_urc(Err(e))));
        match (state(ctx).current.take(), result) {
            (Some(ResultFor::Login), Ok(_)) => {
                let p = state(ctx);
                if let Session::LoggingIn(id) = p.session {
                    p.session = Session::LoggedIn(id);
                }
                urcs.push(Urc::Line(result_urc(Ok(()))));
                None
            }
            (Some(ResultFor::Num), Ok(step)) => {
                let (count, octets) = match step {
                    Pop3Step::Stat { count, octets } => (count, octets),
                    _ => (0, 0),
                };
                Some(Ok(Reply::line(format!("+POP3: {count},{octets}"))))
            }
            (Some(ResultFor::List), Ok(step)) => {
                let list = if let Pop3Step::List(l) = step { l } else { Vec::new() };
                Some(Ok(Reply::lines(list.iter().map(|(n, size)| format!("+POP3: {n},{size}")).collect())))
            }
            (Some(ResultFor::Hdr), Ok(step)) => {
                Some(Ok(Reply::lines(if let Pop3Step::Header(l) = step { l } else { Vec::new() })))
            }
            (Some(ResultFor::Num | ResultFor::List | ResultFor::Hdr), Err(_)) => {
                Some(Err(CmdError::Refused("the POP3 server refused")))
            }
            (Some(ResultFor::GetUidl { n, dele }), r) => {
                // A server without UIDL still lets the mail be fetched.
                let uidl = match r {
                    Ok(Pop3Step::Uidl(u)) => u,
                    _ => String::new(),
                };
                if let Err(e) = Self::start_retr(ctx, n, dele, &uidl) {
                    fail(urcs, e);
                }
                None
            }
            (Some(ResultFor::GetRetr { n, dele, path, file }), Ok(_)) => {
                let Some(file) = file else {
                    fail(urcs, MailError::Server);
                    return None;
                };
                // Committing (an fsync) runs off the core's thread; the session is busy
                // until then.
                state(ctx).current = Some(ResultFor::Commit);
                ctx.jobs.offload(
                    format!("commit the mail {path}"),
                    move || file.commit(),
                    move |ctx, r, urcs| {
                        let p = state(ctx);
                        p.current = None;
                        match (r, p.session.job()) {
                            (Ok(()), Some(id)) if dele => {
                                p.current = Some(ResultFor::GetDele { path });
                                ctx.jobs.send_op::<Pop3>(id, Pop3Op::Dele(n));
                            }
                            (Ok(()), _) => Self::stored(urcs, &path),
                            (Err(e), _) => {
                                tracing::info!("POP3GET: storing {path}: {e}");
                                urcs.push(Urc::Line(result_urc(Err(MailError::File))));
                            }
                        }
                        None
                    },
                );
                None
            }
            (Some(ResultFor::GetDele { path }), Ok(_)) => {
                Self::stored(urcs, &path);
                None
            }
            (Some(ResultFor::Del), Ok(_)) => {
                urcs.push(Urc::Line(result_urc(Ok(()))));
                None
            }
            (Some(_), Err(e)) => {
                fail(urcs, e);
                None
            }
            (Some(other), Ok(_)) => {
                tracing::debug!("unexpected POP3 step for {other:?}");
                None
            }
            (None, _) => None,
        }
    }

    fn done(self, ctx: &mut Ctx, result: Result<(), MailError>, urcs: &mut Vec<Urc>) -> Resume {
        let p = state(ctx);
        p.session = Session::Closed;
        let waiting = matches!(p.current, Some(ResultFor::Num | ResultFor::List | ResultFor::Hdr));
        p.current = None;
        urcs.push(Urc::Line(result_urc(result)));
        waiting.then(|| Err(CmdError::Refused("the POP3 session ended")))
    }
}

/// Prints a stored mail as information text.
#[derive(Debug)]
struct MailOut {
    file: Box<dyn crate::efs::store::FileReader>,
    header_only: bool,
    started: bool,
    done: bool,
    tail: Vec<u8>,
    /// The last byte sent was a line end.
    at_line_end: bool,
}

impl OutputStream for MailOut {
    fn next(&mut self, _: &mut Ctx, framing: &Framing, out: &mut Vec<u8>) -> Result<bool, CmdError> {
        if self.done {
            return Ok(false);
        }
        if !self.started {
            self.started = true;
            if framing.verbose {
                out.extend_from_slice(&[framing.s3, framing.s4]);
            }
        }
        let mut buf = vec![0u8; 16 * 1024];
        let n = self.file.read(&mut buf).map_err(|e| CmdError::Efs(e.into()))?;
        let mut chunk = &buf[..n];
        if self.header_only {
            // Stop at the blank line ending the header.
            self.tail.extend_from_slice(chunk);
            if let Some(at) = self.tail.windows(4).position(|w| w == b"\r\n\r\n") {
                let keep = at + 2 - (self.tail.len() - chunk.len()).min(at + 2);
                chunk = &chunk[..keep.min(chunk.len())];
                self.done = true;
            }
            let cut = self.tail.len().saturating_sub(3);
            self.tail.drain(..cut);
        }
        out.extend_from_slice(chunk);
        if let Some(&last) = chunk.last() {
            self.at_line_end = last == b'\n';
        }
        if n == 0 || self.done {
            self.done = true;
            if !self.at_line_end {
                out.extend_from_slice(&[framing.s3, framing.s4]);
            }
        }
        Ok(true)
    }
}

/// `AT+POP3READ=<type>,<filename>`: the stored mail (type 0 whole, 1 header only) as
/// information text, then `OK`. The name is relative to the current directory.
fn read(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let kind = args.next_int_in(0..=1)?;
    let name = args.next_str()?;
    args.finish()?;
    let path = ctx.efs.resolve(name)?;
    if ctx.efs.store.stat(&path)?.is_dir {
        return Err(EfsError::IsADirectory.into());
    }
    let file = ctx.efs.store.open(&path)?;
    Ok(Reply::ok().then(Then::Stream(Box::new(MailOut {
        file,
        header_only: kind == 1,
        started: false,
        done: false,
        tail: Vec::new(),
        at_line_end: false,
    }))))
}
