//! `AT+CHTTPACT` row and handler (spec §6). Choices are listed in docs/commands.md.

use super::{HttpCode, HttpJob, HttpMode};
use crate::modem::table::CommandSpec;
use crate::modem::{CmdError, Ctx, DataSink, JobSink, JobSpec, Reply, Then, Urc};
use v250::Args;

pub const COMMANDS: &[CommandSpec] = &[CommandSpec::new("+CHTTPACT").write(act).test(act_test).sim()];

/// Largest request the module takes (the spec recalls about 4 KB; larger POST bodies are
/// common enough in tests that this is more generous).
pub const MAX_REQUEST: usize = 256 * 1024;
/// `+CHTTPACT: DATA,<len>` block size.
const BLOCK: usize = 1024;

fn act_test(_: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line("+CHTTPACT: \"ADDRESS\",(1-65535)"))
}

fn err(c: HttpCode) -> CmdError {
    CmdError::cme(c.cme(), "HTTP request refused")
}

/// Collects the request the DTE enters, then starts the job.
#[derive(Debug)]
struct Request {
    host: String,
    port: u16,
    buf: Vec<u8>,
    too_long: bool,
}

impl DataSink for Request {
    fn write(&mut self, _: &mut Ctx, data: &[u8]) -> Result<(), CmdError> {
        if self.buf.len() + data.len() > MAX_REQUEST {
            self.too_long = true;
        } else {
            self.buf.extend_from_slice(data);
        }
        Ok(())
    }

    fn finish(self: Box<Self>, ctx: &mut Ctx) -> Result<Reply, CmdError> {
        if self.too_long {
            return Err(err(HttpCode::Memory));
        }
        if self.buf.is_empty() {
            return Err(err(HttpCode::InvalidParam));
        }
        if ctx.http.busy.is_some() {
            return Err(err(HttpCode::Busy));
        }
        let job = HttpJob { host: self.host, port: self.port, tls: false, mode: HttpMode::Once { request: self.buf } };
        let id = ctx.jobs.start(JobSpec::Http(job), Box::new(ActSink));
        ctx.http.busy = Some(id);
        Ok(Reply::ok())
    }
}

/// Response blocks and the final `+CHTTPACT: <code>`.
#[derive(Debug)]
struct ActSink;

impl JobSink for ActSink {
    fn data(&mut self, _: &mut Ctx, data: Vec<u8>, urcs: &mut Vec<Urc>) -> Result<(), u16> {
        urcs.push(Urc::Blocks { prefix: "+CHTTPACT", data: data.into(), max: BLOCK });
        Ok(())
    }

    fn done(
        self: Box<Self>,
        ctx: &mut Ctx,
        result: Result<(), u16>,
        urcs: &mut Vec<Urc>,
    ) -> Option<Result<Reply, CmdError>> {
        ctx.http.busy = None;
        urcs.push(Urc::Line(format!("+CHTTPACT: {}", result.err().unwrap_or(0))));
        None
    }
}

/// `AT+CHTTPACT="<address>",<port>[,<request_length>]`: `+CHTTPACT: REQUEST`, then the raw
/// request (up to Ctrl-Z, ESC aborts; or exactly `<request_length>` bytes), `OK`, then
/// `+CHTTPACT: DATA,<len>` blocks of the raw response and `+CHTTPACT: 0` / `<err>`.
fn act(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let host = args.next_str_max(256)?;
    let port = args.next_int_in(1..=65535)?;
    let len = args.opt_int_in(1..=MAX_REQUEST as i64)?;
    args.finish()?;
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
        return Err(err(HttpCode::InvalidParam));
    }
    if ctx.http.busy.is_some() {
        return Err(err(HttpCode::Busy));
    }
    if !ctx.net.registered() {
        return Err(err(HttpCode::Network));
    }
    let sink = Box::new(Request {
        host: host.to_owned(),
        port: u16::try_from(port).unwrap_or(80),
        buf: Vec::new(),
        too_long: false,
    });
    Ok(Reply::line("+CHTTPACT: REQUEST").then(Then::Data { len: len.map(i64::unsigned_abs), prompt: "", sink }))
}
