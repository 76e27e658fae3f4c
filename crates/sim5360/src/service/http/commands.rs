//! `AT+CHTTPACT` row and handler (spec §6). Choices are listed in docs/commands.md.

use super::{Http, HttpError, HttpJob, HttpState};
use crate::modem::table::CommandSpec;
use crate::modem::{CmdError, Ctx, DataSink, JobSink, Reply, Resume, Then, Urc};
use v250::Args;

pub const COMMANDS: &[CommandSpec] =
    &[CommandSpec::new("+CHTTPACT").write(act).test_text("+CHTTPACT: \"ADDRESS\",(1-65535)").sim()];

/// Largest request the module takes (the spec recalls about 4 KB; larger POST bodies are
/// common enough in tests that this is more generous).
pub const MAX_REQUEST: usize = 256 * 1024;
/// `+CHTTPACT: DATA,<len>` block size.
const BLOCK: usize = 1024;

fn err(c: HttpError) -> CmdError {
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
            return Err(err(HttpError::Memory));
        }
        if self.buf.is_empty() {
            return Err(err(HttpError::InvalidParam));
        }
        if state(ctx).busy.is_some() {
            return Err(err(HttpError::Busy));
        }
        let job = HttpJob { host: self.host, port: self.port, tls: false };
        let request = self.buf;
        let shown = crate::transport::trace::escape(&request[..request.len().min(LABEL_REQUEST_MAX)]);
        let more = if request.len() > LABEL_REQUEST_MAX { "..." } else { "" };
        let label = job.label(&format!("once request {} bytes: {shown}{more}", request.len()));
        let id = ctx.jobs.start(label, ActSink, move |io| super::job::run_once(job, request, io));
        state(ctx).busy = Some(id);
        Ok(Reply::ok())
    }
}

/// How much of a request its job's label shows.
const LABEL_REQUEST_MAX: usize = 256;

fn state(ctx: &mut Ctx) -> &mut HttpState {
    ctx.services.get_mut()
}

/// Response blocks and the final `+CHTTPACT: <code>`.
#[derive(Debug)]
struct ActSink;

impl JobSink for ActSink {
    type Proto = Http;

    fn data(&mut self, _: &mut Ctx, data: Vec<u8>, urcs: &mut Vec<Urc>) -> Result<(), HttpError> {
        urcs.push(Urc::Blocks { prefix: "+CHTTPACT", data: data.into(), max: BLOCK });
        Ok(())
    }

    fn done(self, ctx: &mut Ctx, result: Result<(), HttpError>, urcs: &mut Vec<Urc>) -> Resume {
        state(ctx).busy = None;
        urcs.push(Urc::Line(format!("+CHTTPACT: {}", result.err().map_or(0, HttpError::code))));
        None
    }
}

/// `AT+CHTTPACT="<address>",<port>[,<request_length>]`: `+CHTTPACT: REQUEST`, then the raw
/// request (up to Ctrl-Z, ESC aborts; or exactly `<request_length>` bytes), `OK`, then
/// `+CHTTPACT: DATA,<len>` blocks of the raw response and `+CHTTPACT: 0` / `<err>`.
fn act(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let host = args.next_str_max(256)?;
    let port = args.next_in::<u16>(1..=65535)?;
    let len = args.opt_int_in(1..=MAX_REQUEST as i64)?;
    args.finish()?;
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
        return Err(err(HttpError::InvalidParam));
    }
    if state(ctx).busy.is_some() {
        return Err(err(HttpError::Busy));
    }
    if !ctx.net.registered() {
        return Err(err(HttpError::Network));
    }
    let sink = Box::new(Request { host: host.to_owned(), port, buf: Vec::new(), too_long: false });
    Ok(Reply::line("+CHTTPACT: REQUEST").then(Then::Data { len: len.map(i64::unsigned_abs), prompt: "", sink }))
}
