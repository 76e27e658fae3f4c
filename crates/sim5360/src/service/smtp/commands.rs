//! `AT+SMTP*` rows and handlers (spec §3; §3.1-3.6 follow the seed application note,
//! examples included). Choices are listed in docs/commands.md.

use super::job::{Mail, SmtpJob};
use super::{DEFAULT_CHARSET, Rcpt, Smtp, SmtpState, result_urc};
use crate::efs::store::FileReader;
use crate::modem::table::CommandSpec;
use crate::modem::{CmdError, Ctx, JobSink, Reply, Resume, TextSink, Then, Urc};
use crate::service::outcome::MailError;
use v250::Args;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("+SMTPSRV").exec(srv_clear).read(srv_read).write(srv_write).test_text("+SMTPSRV: (1-65535)"),
    CommandSpec::new("+SMTPAUTH")
        .exec(auth_clear)
        .read(auth_read)
        .write(auth_write)
        .test_text("+SMTPAUTH: (0-1)")
        .secret(&[3])
        .secret_answer(),
    CommandSpec::new("+SMTPFROM").exec(from_clear).read(from_read).write(from_write).test_ok(),
    CommandSpec::new("+SMTPRCPT")
        .exec(rcpt_clear)
        .read(rcpt_read)
        .write(rcpt_write)
        .test_text("+SMTPRCPT: (0-2),(0-4)"),
    CommandSpec::new("+SMTPSUB").exec(sub_clear).read(sub_read).write(sub_write).test_ok(),
    CommandSpec::new("+SMTPBODY").exec(body_entry).read(body_read).write(body_write).test_ok(),
    CommandSpec::new("+SMTPBCH").exec(bch_clear).read(bch_read).write(bch_write).test_ok(),
    CommandSpec::new("+SMTPFILE").exec(file_clear).read(file_read).write(file_write).test_text("+SMTPFILE: (1-10)"),
    CommandSpec::new("+SMTPSEND").exec(send).test_ok().sim(),
    CommandSpec::new("+SMTPSTOP").exec(stop).test_ok(),
];

const MAX_ADDR: usize = 128;
const MAX_NAME: usize = 64;
const MAX_SUBJECT: usize = 512;
const MAX_BODY_QUOTED: usize = 512;
/// Longest body entered at the `>>` prompt.
pub const MAX_BODY_ENTRY: usize = 5120;
const MAX_ATTACHMENTS_TOTAL: u64 = 10 * 1024 * 1024;

fn state(ctx: &mut Ctx) -> &mut SmtpState {
    ctx.services.get_mut()
}

/// Every setter answers `ERROR` while a send runs.
fn idle(ctx: &mut Ctx) -> Result<(), CmdError> {
    if state(ctx).busy.is_some() {
        return Err(CmdError::Refused("an e-mail is being sent"));
    }
    Ok(())
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A quoted-or-bare text parameter of at most `max` bytes, printable ASCII.
fn ascii_arg<'a>(args: &mut Args<'a>, max: usize, what: &'static str) -> Result<&'a str, CmdError> {
    let s = args.next_str_max(max)?;
    if !s.bytes().all(|b| (0x20..0x7f).contains(&b)) || s.contains('"') {
        return Err(args.invalid(what).into());
    }
    Ok(s)
}

fn srv_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let s = state(ctx);
    Ok(Reply::line(format!("+SMTPSRV: \"{}\", {}", s.server, s.port)))
}

/// `AT+SMTPSRV=<server>[,<port>]` (port default 25).
fn srv_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    idle(ctx)?;
    let server = ascii_arg(&mut args, MAX_ADDR, "server must be printable ASCII")?;
    let port = args.opt_in::<u16>(1..=65535)?.unwrap_or(25);
    args.finish()?;
    if server.is_empty() || server.contains(' ') {
        return Err(args.invalid("server must not be empty or contain spaces").into());
    }
    state(ctx).server = server.to_owned();
    state(ctx).port = port;
    Ok(Reply::ok())
}

/// `AT+SMTPSRV`: clears the server, port back to 25.
fn srv_clear(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    idle(ctx)?;
    state(ctx).server.clear();
    state(ctx).port = 25;
    Ok(Reply::ok())
}

fn auth_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let s = state(ctx);
    Ok(Reply::line(format!("+SMTPAUTH: {}, \"{}\", \"{}\"", u8::from(s.auth), s.user, s.password)))
}

/// `AT+SMTPAUTH=<flag>[,<user>,<pwd>]`: 0 no authentication (user and password must be
/// omitted), 1 authenticate with them.
fn auth_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    idle(ctx)?;
    let flag = args.next_int_in(0..=1)?;
    if flag == 0 {
        args.finish()?;
        state(ctx).auth = false;
        state(ctx).user.clear();
        state(ctx).password.clear();
        return Ok(Reply::ok());
    }
    let user = ascii_arg(&mut args, MAX_ADDR, "user must be printable ASCII")?;
    let pwd = ascii_arg(&mut args, MAX_ADDR, "password must be printable ASCII")?;
    args.finish()?;
    if user.is_empty() {
        return Err(args.invalid("empty user").into());
    }
    state(ctx).auth = true;
    state(ctx).user = user.to_owned();
    state(ctx).password = pwd.to_owned();
    Ok(Reply::ok())
}

fn auth_clear(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    idle(ctx)?;
    state(ctx).auth = false;
    state(ctx).user.clear();
    state(ctx).password.clear();
    Ok(Reply::ok())
}

fn from_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let s = state(ctx);
    Ok(Reply::line(format!("+SMTPFROM: \"{}\", \"{}\"", s.from_addr, s.from_name)))
}

/// `AT+SMTPFROM=<saddr>[,<sname>]`.
fn from_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    idle(ctx)?;
    let addr = ascii_arg(&mut args, MAX_ADDR, "address must be printable ASCII")?;
    let name = match args.opt_str()? {
        Some(n) if n.len() > MAX_NAME || n.contains('"') => return Err(args.invalid("name too long").into()),
        Some(n) => n,
        None => "",
    };
    args.finish()?;
    if addr.is_empty() || addr.contains(' ') {
        return Err(args.invalid("empty address").into());
    }
    state(ctx).from_addr = addr.to_owned();
    state(ctx).from_name = name.to_owned();
    Ok(Reply::ok())
}

fn from_clear(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    idle(ctx)?;
    state(ctx).from_addr.clear();
    state(ctx).from_name.clear();
    Ok(Reply::ok())
}

fn rcpt_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let mut lines = Vec::new();
    for (kind, slots) in state(ctx).rcpt.iter().enumerate() {
        for (index, r) in slots.iter().enumerate() {
            if let Some(r) = r {
                lines.push(format!("+SMTPRCPT: {kind}, {index}, \"{}\", \"{}\"", r.addr, r.name));
            }
        }
    }
    Ok(Reply::lines(lines))
}

/// `AT+SMTPRCPT=<kind>[,<index>[,<raddr>[,<rname>]]]`: kind 0 To, 1 Cc, 2 Bcc, index 0-4;
/// kind alone clears that kind, kind and index clear one slot.
fn rcpt_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    idle(ctx)?;
    let kind = usize::from(args.next_in::<u8>(0..=2)?);
    let Some(index) = args.opt_int_in(0..=4)? else {
        args.finish()?;
        state(ctx).rcpt[kind] = Default::default();
        return Ok(Reply::ok());
    };
    let index = usize::try_from(index).unwrap_or(0);
    let Some(addr) = args.opt_str()? else {
        args.finish()?;
        state(ctx).rcpt[kind][index] = None;
        return Ok(Reply::ok());
    };
    let name = args.opt_str()?.unwrap_or("");
    args.finish()?;
    if addr.is_empty() || addr.len() > MAX_ADDR || !addr.is_ascii() || addr.contains([' ', '"']) {
        return Err(args.invalid("bad recipient address").into());
    }
    if name.len() > MAX_NAME || name.contains('"') {
        return Err(args.invalid("recipient name too long").into());
    }
    state(ctx).rcpt[kind][index] = Some(Rcpt { addr: addr.to_owned(), name: name.to_owned() });
    Ok(Reply::ok())
}

fn rcpt_clear(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    idle(ctx)?;
    state(ctx).rcpt = Default::default();
    Ok(Reply::ok())
}

fn sub_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+SMTPSUB: \"{}\"", lossy(&state(ctx).subject))))
}

/// `AT+SMTPSUB=<subject>` (≤ 512 bytes, in the `AT+SMTPBCH` character set).
fn sub_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    idle(ctx)?;
    let s = args.opt_bytes()?.unwrap_or_default();
    args.finish()?;
    if s.len() > MAX_SUBJECT {
        return Err(args.invalid("subject over 512 bytes").into());
    }
    state(ctx).subject = s.to_vec();
    Ok(Reply::ok())
}

fn sub_clear(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    idle(ctx)?;
    state(ctx).subject.clear();
    Ok(Reply::ok())
}

fn body_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+SMTPBODY: \"{}\"", lossy(&state(ctx).body))))
}

/// `AT+SMTPBODY=<body>` (≤ 512 bytes).
fn body_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    idle(ctx)?;
    let b = args.opt_bytes()?.unwrap_or_default();
    args.finish()?;
    if b.len() > MAX_BODY_QUOTED {
        return Err(args.invalid("body over 512 bytes (use the >> entry)").into());
    }
    state(ctx).body = b.to_vec();
    Ok(Reply::ok())
}

/// Body entered at the `>>` prompt.
#[derive(Debug)]
struct BodyEntry;

impl TextSink for BodyEntry {
    fn finish(self: Box<Self>, ctx: &mut Ctx, text: Vec<u8>) -> Result<Reply, CmdError> {
        state(ctx).body = text;
        Ok(Reply::ok())
    }

    /// ESC: the body becomes empty (as the seed's example shows).
    fn cancel(self: Box<Self>, ctx: &mut Ctx) -> Result<Reply, CmdError> {
        state(ctx).body.clear();
        Ok(Reply::ok())
    }
}

/// `AT+SMTPBODY`: `>>`, text up to Ctrl-Z (≤ 5120 bytes; BS erases), `OK`.
fn body_entry(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    idle(ctx)?;
    Ok(Reply::ok().then(Then::Text { max: MAX_BODY_ENTRY, prompt: ">>", lines: false, sink: Box::new(BodyEntry) }))
}

fn bch_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+SMTPBCH: \"{}\"", state(ctx).charset)))
}

/// `AT+SMTPBCH=<charset>`: a MIME charset name (letters, digits, `-`, `_`, `.`, ≤ 64).
fn bch_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    idle(ctx)?;
    let cs = args.next_str_max(64)?;
    args.finish()?;
    if cs.is_empty() || !cs.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')) {
        return Err(args.invalid("not a charset name").into());
    }
    state(ctx).charset = cs.to_ascii_lowercase();
    Ok(Reply::ok())
}

fn bch_clear(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    idle(ctx)?;
    state(ctx).charset = DEFAULT_CHARSET.into();
    Ok(Reply::ok())
}

fn file_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let lines = state(ctx)
        .files
        .iter()
        .enumerate()
        .filter_map(|(i, f)| f.as_ref().map(|f| format!("+SMTPFILE: {i},\"{f}\"")))
        .collect();
    Ok(Reply::lines(lines))
}

/// `AT+SMTPFILE=<index>[,<filename>]` (index 1-10): the file must exist; it is remembered
/// by its full path. The index alone clears the slot.
fn file_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    idle(ctx)?;
    let index = usize::from(args.next_in::<u8>(1..=10)?);
    let Some(name) = args.opt_str()? else {
        args.finish()?;
        state(ctx).files[index] = None;
        return Ok(Reply::ok());
    };
    args.finish()?;
    let path = ctx.efs.resolve(name)?;
    if ctx.efs.store.stat(&path)?.is_dir {
        return Err(crate::efs::EfsError::IsADirectory.into());
    }
    state(ctx).files[index] = Some(path.to_string());
    Ok(Reply::ok())
}

fn file_clear(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    idle(ctx)?;
    state(ctx).files = Default::default();
    Ok(Reply::ok())
}

/// Open the attachments; `None` when one is missing or together they pass 10 MB. (They are
/// read by the job, off the core's thread.)
fn attachments(ctx: &mut Ctx) -> Option<Vec<(String, Box<dyn FileReader>)>> {
    let mut out = Vec::new();
    let mut total = 0u64;
    let files: Vec<String> = state(ctx).files.iter().flatten().cloned().collect();
    for f in files {
        let path = ctx.efs.resolve(&f).ok()?;
        let meta = ctx.efs.store.stat(&path).ok()?;
        total += meta.size;
        if total > MAX_ATTACHMENTS_TOTAL {
            tracing::info!("attachments exceed 10 MB");
            return None;
        }
        let reader = ctx.efs.store.open(&path).ok()?;
        out.push((path.name().unwrap_or("file").to_owned(), reader));
    }
    Some(out)
}

/// The result of a send.
#[derive(Debug)]
struct SendSink;

impl JobSink for SendSink {
    type Proto = Smtp;

    fn done(self, ctx: &mut Ctx, result: Result<(), MailError>, urcs: &mut Vec<Urc>) -> Resume {
        let s = state(ctx);
        s.busy = None;
        if result.is_ok() {
            s.rcpt = Default::default();
            s.subject.clear();
            s.body.clear();
            s.files = Default::default();
        }
        urcs.push(Urc::Line(result_urc(result)));
        None
    }
}

/// `AT+SMTPSEND`: `OK` at once (server, sender and a recipient must be set), then
/// `+SMTP: SUCCESS` or a failure URC.
fn send(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    idle(ctx)?;
    let s = state(ctx);
    if s.server.is_empty() || s.from_addr.is_empty() || s.rcpt.iter().flatten().all(Option::is_none) {
        return Err(CmdError::Refused("server, sender and at least one recipient are needed"));
    }
    let Some(files) = attachments(ctx) else {
        ctx.urcs.push(Urc::Line(result_urc(Err(MailError::File))));
        return Ok(Reply::ok());
    };
    if !ctx.net.registered() {
        ctx.urcs.push(Urc::Line(result_urc(Err(MailError::Network))));
        return Ok(Reply::ok());
    }
    // The zone is -47..=48 quarters, always a valid offset (UTC otherwise).
    let tz = chrono::FixedOffset::east_opt(i32::from(ctx.clock.tz_quarters()) * 15 * 60)
        .unwrap_or_else(|| chrono::Offset::fix(&chrono::Utc));
    let now = ctx.clock.now_utc();
    let message_id =
        format!("{}.{}@{}.sim5360", now.timestamp(), now.timestamp_subsec_micros(), ctx.profile.identity.imei);
    let s = state(ctx).clone();
    let job = SmtpJob {
        host: s.server.clone(),
        port: s.port,
        auth: s.auth.then(|| (s.user.clone(), s.password.clone())),
        from: s.from_addr.clone(),
        rcpts: s.rcpt.iter().flatten().flatten().map(|r| r.addr.clone()).collect(),
        mail: Mail { settings: s, date: now.with_timezone(&tz), message_id, files },
    };
    let id = ctx.jobs.start(job.label(), SendSink, move |io| super::job::run(job, io));
    state(ctx).busy = Some(id);
    Ok(Reply::ok())
}

/// `AT+SMTPSTOP`: `OK`; a running send is dropped and reported as `+SMTP: STOPPED`.
fn stop(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    if let Some(id) = state(ctx).busy.take() {
        ctx.jobs.abort(id);
        ctx.urcs.push(Urc::Line("+SMTP: STOPPED".into()));
    }
    Ok(Reply::ok())
}
