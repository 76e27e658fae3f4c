//! `AT+CFTP*` and `AT+CFTPS*` rows and handlers. Choices where the spec is UNCERTAIN are
//! listed in docs/commands.md (FTP section).

use super::sinks::{Dest, FtpSink, FtpsSink, Style, cme, state};
use super::{Ftp, FtpError, FtpJob, FtpOp, FtpStep, Security};
use crate::efs::{Drive, EfsPath};
use crate::job::{JobId, JobInput};
use crate::modem::table::CommandSpec;
use crate::modem::{CmdError, Ctx, DataSink, Reply, Then, Urc};
use std::io::{Seek, SeekFrom};
use v250::Args;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("+CFTPPORT").read(port_read).write(port_write).test_text("+CFTPPORT: (1-65535)"),
    CommandSpec::new("+CFTPMODE").read(mode_read).write(mode_write).test_text("+CFTPMODE: (0-1)"),
    CommandSpec::new("+CFTPTYPE").read(type_read).write(type_write).test_text("+CFTPTYPE: (A,I)"),
    CommandSpec::new("+CFTPSERV").read(serv_read).write(serv_write).test_text("+CFTPSERV: \"ADDRESS\""),
    CommandSpec::new("+CFTPUN").read(un_read).write(un_write).test_text("+CFTPUN: \"USERNAME\""),
    CommandSpec::new("+CFTPPW").write(pw_write).test_text("+CFTPPW: \"PASSWORD\"").secret(&[1]),
    CommandSpec::new("+CFTPGETFILE").write(getfile).test_text("+CFTPGETFILE: \"FILEPATH\",(0-8),(0-2147483647)").sim(),
    CommandSpec::new("+CFTPPUTFILE").write(putfile).test_text("+CFTPPUTFILE: \"FILEPATH\",(0-8),(0-2147483647)").sim(),
    CommandSpec::new("+CFTPGET").write(get).test_text("+CFTPGET: \"FILEPATH\",(0-2147483647)").sim(),
    CommandSpec::new("+CFTPPUT").write(put).test_text("+CFTPPUT: \"FILEPATH\"").sim(),
    CommandSpec::new("+CFTPLIST").exec(list).write(list).test_ok().sim(),
    CommandSpec::new("+CFTPMKD").write(mkd).test_ok().sim(),
    CommandSpec::new("+CFTPRMD").write(rmd).test_ok().sim(),
    CommandSpec::new("+CFTPDELE").write(dele).test_ok().sim(),
    CommandSpec::new("+CFTPSSTART").exec(s_start).test_ok().sim(),
    CommandSpec::new("+CFTPSSTOP").exec(s_stop).test_ok().sim(),
    CommandSpec::new("+CFTPSLOGIN").write(s_login).test_ok().secret(&[4]).sim(),
    CommandSpec::new("+CFTPSLOGOUT").exec(s_logout).test_ok().sim(),
    CommandSpec::new("+CFTPSMKD").write(s_mkd).test_ok().sim(),
    CommandSpec::new("+CFTPSRMD").write(s_rmd).test_ok().sim(),
    CommandSpec::new("+CFTPSDEL").write(s_dele).test_ok().sim(),
    CommandSpec::new("+CFTPSDELE").write(s_dele).test_ok().sim(),
    CommandSpec::new("+CFTPSCWD").write(s_cwd).test_ok().sim(),
    CommandSpec::new("+CFTPSPWD").exec(s_pwd).test_ok().sim(),
    CommandSpec::new("+CFTPSSIZE").write(s_size).test_ok().sim(),
    CommandSpec::new("+CFTPSTYPE").read(s_type_read).write(s_type_write).test_text("+CFTPTYPE: (A,I)"),
    CommandSpec::new("+CFTPSLIST").exec(s_list).write(s_list).test_ok().sim(),
    CommandSpec::new("+CFTPSGETFILE")
        .write(s_getfile)
        .test_text("+CFTPGETFILE: \"FILEPATH\",(0-8),(0-2147483647)")
        .sim(),
    CommandSpec::new("+CFTPSPUTFILE")
        .write(s_putfile)
        .test_text("+CFTPPUTFILE: \"FILEPATH\",(0-8),(0-2147483647)")
        .sim(),
    CommandSpec::new("+CFTPSGET").write(s_get).test_text("+CFTPGET: \"FILEPATH\",(0-2147483647)").sim(),
    CommandSpec::new("+CFTPSPUT")
        .exec(s_put_end)
        .read(s_put_read)
        .write(s_put)
        .test_text("+CFTPPUT: \"FILEPATH\"")
        .sim(),
    CommandSpec::new("+CFTPSCACHERD").exec(s_cacherd).read(s_cacherd_read).test_ok().sim(),
    CommandSpec::new("+CFTPSSINGLEIP").read(s_singleip_read).write(s_singleip_write).test_text("+CFTPSSINGLEIP: (0-1)"),
];

/// Longest server name, user name, password and remote path accepted.
const MAX_STR: usize = 256;
const MAX_REST: i64 = 2_147_483_647;

fn ftp_err(c: FtpError) -> CmdError {
    cme(c, Style::Ftp)
}

/// Setters answer `ERROR` while an operation runs (spec §19).
fn idle(ctx: &mut Ctx) -> Result<(), CmdError> {
    if state(ctx).busy.is_some() {
        return Err(CmdError::Refused("an FTP operation is running"));
    }
    Ok(())
}

fn port_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CFTPPORT: {}", state(ctx).port)))
}

/// `AT+CFTPPORT=<port>`: 1-65535, default 21.
fn port_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let p = args.next_in::<u16>(1..=65535)?;
    args.finish()?;
    idle(ctx)?;
    state(ctx).port = p;
    Ok(Reply::ok())
}

fn mode_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CFTPMODE: {}", u8::from(state(ctx).passive))))
}

/// `AT+CFTPMODE=<mode>`: 0 active (default), 1 passive.
fn mode_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let passive = args.next_in::<u8>(0..=1)? == 1;
    args.finish()?;
    idle(ctx)?;
    state(ctx).passive = passive;
    Ok(Reply::ok())
}

/// `A` or `I`, quoted or not, either case.
fn type_arg(args: &mut Args<'_>) -> Result<bool, CmdError> {
    let t = args.next_str()?;
    args.finish()?;
    match t {
        "A" | "a" => Ok(true),
        "I" | "i" => Ok(false),
        _ => Err(args.invalid("type must be A or I").into()),
    }
}

fn type_char(ascii: bool) -> char {
    if ascii { 'A' } else { 'I' }
}

fn type_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CFTPTYPE: {}", type_char(state(ctx).ascii))))
}

/// `AT+CFTPTYPE=<type>`: `A` ASCII, `I` binary (default).
fn type_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let ascii = type_arg(&mut args)?;
    idle(ctx)?;
    state(ctx).ascii = ascii;
    Ok(Reply::ok())
}

fn text_arg<'a>(args: &mut Args<'a>) -> Result<&'a str, CmdError> {
    let s = args.next_str_max(MAX_STR)?;
    args.finish()?;
    Ok(s)
}

fn serv_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CFTPSERV: \"{}\"", state(ctx).server)))
}

/// `AT+CFTPSERV="<address>"`: server name or dotted IP.
fn serv_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let s = text_arg(&mut args)?;
    idle(ctx)?;
    if s.is_empty() || s.contains(char::is_whitespace) {
        return Err(args.invalid("server address must be a name or IP without spaces").into());
    }
    state(ctx).server = s.to_owned();
    Ok(Reply::ok())
}

fn un_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CFTPUN: \"{}\"", state(ctx).user)))
}

/// `AT+CFTPUN="<name>"`.
fn un_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let s = text_arg(&mut args)?;
    idle(ctx)?;
    state(ctx).user = s.to_owned();
    Ok(Reply::ok())
}

/// `AT+CFTPPW="<password>"` (no read form: the secret is never shown).
fn pw_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let s = text_arg(&mut args)?;
    idle(ctx)?;
    state(ctx).password = s.to_owned();
    Ok(Reply::ok())
}

/// A remote path: 1-256 bytes, no CR/LF (they would end the FTP command).
fn remote_path<'a>(args: &mut Args<'a>) -> Result<&'a str, CmdError> {
    let p = args.next_str_max(MAX_STR)?;
    if p.is_empty() || p.contains(['\r', '\n', '\0']) {
        return Err(args.invalid("remote path empty or with control characters").into());
    }
    Ok(p)
}

fn rest_arg(args: &mut Args<'_>) -> Result<u64, CmdError> {
    Ok(args.opt_int_in(0..=MAX_REST)?.unwrap_or(0).unsigned_abs())
}

/// The EFS folder of the `<dir>` table (spec §5.7), created if missing.
fn efs_dir(ctx: &mut Ctx, dir: i64) -> Result<EfsPath, CmdError> {
    let (drive, name) = match dir {
        0 => return Ok(ctx.efs.cwd.clone()),
        1 => (Drive::C, "Picture"),
        2 => (Drive::C, "Video"),
        3 => (Drive::C, "VideoCall"),
        4 => (Drive::D, "Picture"),
        5 => (Drive::D, "Video"),
        6 => (Drive::D, "VideoCall"),
        7 => (Drive::C, "Audio"),
        _ => (Drive::D, "Audio"),
    };
    let p = EfsPath::root(drive).child(name)?;
    ctx.efs.ensure_dir(&p)?;
    Ok(p)
}

/// The local file of a transfer: the remote path's base name in `<dir>`.
fn local_file(ctx: &mut Ctx, remote: &str, dir: i64) -> Result<EfsPath, CmdError> {
    let base = remote.rsplit('/').next().unwrap_or("");
    let folder = efs_dir(ctx, dir)?;
    folder.child(base).map_err(|_| ftp_err(FtpError::InvalidParam))
}

/// A staged EFS file for a download; from `rest` on, the first `rest` bytes of the existing
/// file are kept (copied when the file is committed, off the core's thread).
fn staged_download(ctx: &mut Ctx, local: &EfsPath, rest: u64) -> Result<Box<dyn crate::efs::StagedFile>, CmdError> {
    if rest == 0 {
        return ctx.efs.store.create(local, None).map_err(|_| ftp_err(FtpError::WriteFile));
    }
    let meta = ctx.efs.store.stat(local).map_err(|_| ftp_err(FtpError::ReadFile))?;
    if meta.size < rest {
        return Err(ftp_err(FtpError::InvalidParam));
    }
    ctx.efs.store.resume(local, rest).map_err(|_| ftp_err(FtpError::WriteFile))
}

/// An EFS file opened for upload from byte `rest`.
fn upload_source(
    ctx: &mut Ctx,
    local: &EfsPath,
    rest: u64,
) -> Result<Box<dyn crate::efs::store::FileReader>, CmdError> {
    let meta = ctx.efs.store.stat(local).map_err(|_| ftp_err(FtpError::ReadFile))?;
    if meta.is_dir || meta.size < rest {
        return Err(ftp_err(if meta.is_dir { FtpError::ReadFile } else { FtpError::InvalidParam }));
    }
    let mut f = ctx.efs.store.open(local).map_err(|_| ftp_err(FtpError::ReadFile))?;
    f.seek(SeekFrom::Start(rest)).map_err(|_| ftp_err(FtpError::ReadFile))?;
    Ok(f)
}

fn need_network(ctx: &Ctx, style: Style) -> Result<(), CmdError> {
    if !ctx.net.registered() {
        return Err(cme(FtpError::Network, style));
    }
    Ok(())
}

/// Start a one-operation `AT+CFTP*` job. `wait`: the line waits for the result.
fn start(ctx: &mut Ctx, op: FtpOp, dest: Dest, wait: bool) -> Result<Reply, CmdError> {
    if state(ctx).busy.is_some() {
        return Err(ftp_err(FtpError::Busy));
    }
    if state(ctx).server.is_empty() {
        return Err(ftp_err(FtpError::InvalidParam));
    }
    need_network(ctx, Style::Ftp)?;
    let f = state(ctx);
    let job = FtpJob {
        host: f.server.clone(),
        port: f.port,
        user: f.user.clone(),
        password: f.password.clone(),
        passive: f.passive,
        security: Security::Plain,
        single_ip: false,
        op: Some(op),
    };
    let id = ctx.jobs.start(job.label(), FtpSink { dest }, move |io| super::job::run(job, io));
    state(ctx).busy = Some(id);
    Ok(if wait { Reply::ok().then(Then::Wait(id)) } else { Reply::ok() })
}

/// Pre-checks shared by every transfer: not busy (so no EFS work is done for nothing).
fn not_busy(ctx: &mut Ctx) -> Result<(), CmdError> {
    if state(ctx).busy.is_some() { Err(ftp_err(FtpError::Busy)) } else { Ok(()) }
}

/// `AT+CFTPGETFILE="<path>",<dir>[,<rest>]`: download into the EFS; `OK`, then
/// `+CFTPGETFILE: <err>`. The file appears only when complete.
fn getfile(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let path = remote_path(&mut args)?;
    let dir = args.next_int_in(0..=8)?;
    let rest = rest_arg(&mut args)?;
    args.finish()?;
    not_busy(ctx)?;
    let local = local_file(ctx, path, dir)?;
    let file = staged_download(ctx, &local, rest)?;
    let op = FtpOp::Get { path: path.to_owned(), rest, ascii: state(ctx).ascii };
    start(ctx, op, Dest::Efs { file: Some(file), prefix: "+CFTPGETFILE" }, false)
}

/// `AT+CFTPPUTFILE="<path>",<dir>[,<rest>]`: upload an EFS file (same base name, in
/// `<dir>`); `OK`, then `+CFTPPUTFILE: <err>`.
fn putfile(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let path = remote_path(&mut args)?;
    let dir = args.next_int_in(0..=8)?;
    let rest = rest_arg(&mut args)?;
    args.finish()?;
    not_busy(ctx)?;
    let local = local_file(ctx, path, dir)?;
    let file = upload_source(ctx, &local, rest)?;
    let op = FtpOp::Put { path: path.to_owned(), rest, ascii: state(ctx).ascii };
    start(ctx, op, Dest::FromEfs { file, prefix: "+CFTPPUTFILE" }, false)
}

/// `AT+CFTPGET="<path>"[,<rest>]`: `OK`, then `+CFTPGET: DATA,<len>` blocks and
/// `+CFTPGET: 0` (or `+CFTPGET: <err>`).
fn get(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let path = remote_path(&mut args)?;
    let rest = rest_arg(&mut args)?;
    args.finish()?;
    let op = FtpOp::Get { path: path.to_owned(), rest, ascii: state(ctx).ascii };
    start(ctx, op, Dest::Dte { prefix: "+CFTPGET" }, false)
}

/// `OK`, then a `>` entry of exactly `len` bytes forwarded to job `id`; `end`: the entry is
/// the whole upload.
fn upload_entry(id: JobId, len: i64, end: bool) -> Reply {
    Reply::ok().then(Then::Data { len: Some(len.unsigned_abs()), prompt: ">", sink: Box::new(ToJob { id, end }) })
}

/// `>` data entry forwarded to a job as it arrives; `end`: the entry is the whole upload.
#[derive(Debug)]
struct ToJob {
    id: JobId,
    end: bool,
}

impl DataSink for ToJob {
    fn write(&mut self, ctx: &mut Ctx, data: &[u8]) -> Result<(), CmdError> {
        ctx.jobs.send(self.id, JobInput::Data(data.to_vec()));
        Ok(())
    }

    fn finish(self: Box<Self>, ctx: &mut Ctx) -> Result<Reply, CmdError> {
        if self.end {
            ctx.jobs.send(self.id, JobInput::End);
        }
        Ok(Reply::ok())
    }
}

/// `AT+CFTPPUT="<path>"`: `+CFTPPUT: BEGIN`, data up to Ctrl-Z, then `OK` (or
/// `+CME ERROR: <err>`) once the server has it. LTE profile also `AT+CFTPPUT="<path>",<len>`:
/// `>`, exactly `<len>` bytes, `OK`, then `+CFTPPUT: <err>`.
fn put(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let path = remote_path(&mut args)?;
    let len = if ctx.profile.upload_length_form() { args.opt_int_in(0..=MAX_REST)? } else { None };
    args.finish()?;
    let op = FtpOp::Put { path: path.to_owned(), rest: 0, ascii: state(ctx).ascii };
    match len {
        None => start(ctx, op, Dest::FromDte { prompt: "+CFTPPUT: BEGIN" }, true),
        Some(len) => {
            start(ctx, op, Dest::Queued { prefix: "+CFTPPUT" }, false)?;
            let id = state(ctx).busy.ok_or(CmdError::Refused("job not started"))?;
            Ok(upload_entry(id, len, true))
        }
    }
}

/// `AT+CFTPLIST[="<dir>"]`: `OK`, then `+CFTPLIST: DATA,<len>` blocks of the LIST output
/// and `+CFTPLIST: 0`.
fn list(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let path = if args.is_empty() { None } else { Some(remote_path(&mut args)?.to_owned()) };
    args.finish()?;
    start(ctx, FtpOp::List { path, ascii: true }, Dest::Dte { prefix: "+CFTPLIST" }, false)
}

/// `AT+CFTPMKD="<dir>"`: `OK` when created, `+CME ERROR: <err>` otherwise.
fn mkd(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let p = remote_path(&mut args)?.to_owned();
    args.finish()?;
    start(ctx, FtpOp::Mkd(p), Dest::Sync { confirm: None }, true)
}

/// `AT+CFTPRMD="<dir>"`.
fn rmd(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let p = remote_path(&mut args)?.to_owned();
    args.finish()?;
    start(ctx, FtpOp::Rmd(p), Dest::Sync { confirm: None }, true)
}

/// `AT+CFTPDELE="<file>"`.
fn dele(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let p = remote_path(&mut args)?.to_owned();
    args.finish()?;
    start(ctx, FtpOp::Dele(p), Dest::Sync { confirm: None }, true)
}

// ---------------------------------------------------------------------------------------
// FTPS

fn style(ctx: &Ctx) -> Style {
    if ctx.profile.ftps_async() { Style::FtpsLte } else { Style::Ftp }
}

/// LTE style: `OK` now and `<name>: <err>` later. WCDMA style: the answer when done.
fn lte_result(ctx: &mut Ctx, name: &str, result: Result<(), FtpError>) -> Result<Reply, CmdError> {
    let st = style(ctx);
    if st == Style::FtpsLte {
        let code = match result {
            Ok(()) => 0,
            Err(c) => st.code(c),
        };
        ctx.urcs.push(Urc::Line(format!("{name}: {code}")));
        return Ok(Reply::ok());
    }
    result.map(|()| Reply::ok()).map_err(|c| cme(c, st))
}

/// `AT+CFTPSSTART`: acquire the FTPS stack (a second start is an error).
fn s_start(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    let name = args.name();
    if state(ctx).ftps.started {
        if style(ctx) == Style::Ftp {
            return Err(CmdError::Refused("FTPS stack already started"));
        }
        return lte_result(ctx, name, Err(FtpError::NotAllowed));
    }
    state(ctx).ftps.started = true;
    lte_result(ctx, name, Ok(()))
}

/// `AT+CFTPSSTOP`: release the stack, dropping a session still open.
fn s_stop(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    if !state(ctx).ftps.started {
        if style(ctx) == Style::Ftp {
            return Err(CmdError::Refused("FTPS stack not started"));
        }
        return lte_result(ctx, "+CFTPSSTOP", Err(FtpError::NotAllowed));
    }
    if let Some(id) = state(ctx).ftps.session.take() {
        ctx.jobs.abort(id);
    }
    let single_ip = state(ctx).ftps.single_ip;
    state(ctx).ftps = super::FtpsState { single_ip, ..Default::default() };
    // `OK` then `+CFTPSSTOP: 0` in both styles (WCDMA: the confirmation SIM5320 drivers
    // wait for).
    ctx.urcs.push(Urc::Line("+CFTPSSTOP: 0".into()));
    Ok(Reply::ok())
}

/// `AT+CFTPSLOGIN="<host>",<port>,"<user>","<pwd>"[,<server_type>]`; server_type 0 plain,
/// 1 explicit (AUTH SSL), 2 explicit (AUTH TLS), 3 implicit (default). WCDMA: `OK` once
/// logged in, then `+CFTPSLOGIN: 0`; `+CME ERROR: <err>` otherwise.
fn s_login(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let name = args.name();
    let host = args.next_str_max(128)?;
    let port = args.next_in::<u16>(1..=65535)?;
    let user = args.next_str_max(128)?;
    let password = args.next_str_max(128)?;
    let security = args.opt_as::<Security>()?.unwrap_or(Security::Implicit);
    args.finish()?;
    let st = style(ctx);
    if host.is_empty() {
        return Err(args.invalid("empty host").into());
    }
    if !state(ctx).ftps.started || state(ctx).ftps.session.is_some() {
        return lte_result(ctx, name, Err(FtpError::NotAllowed));
    }
    need_network(ctx, st)?;
    let job = FtpJob {
        host: host.to_owned(),
        port,
        user: user.to_owned(),
        password: password.to_owned(),
        passive: true,
        security,
        single_ip: state(ctx).ftps.single_ip,
        op: None,
    };
    let id = ctx.jobs.start(job.label(), FtpsSink { style: st }, move |io| super::job::run(job, io));
    let f = &mut state(ctx).ftps;
    f.session = Some(id);
    f.busy = true;
    if st == Style::FtpsLte {
        f.current = Some(Dest::Async { prefix: name });
        return Ok(Reply::ok());
    }
    f.current = Some(Dest::Sync { confirm: Some(name) });
    Ok(Reply::ok().then(Then::Wait(id)))
}

/// Hand `op` to the logged-in session; `dest` gets its result. `wait`: the line waits
/// (WCDMA style for commands answered when done).
fn session_op(ctx: &mut Ctx, name: &str, op: FtpOp, dest: Dest, wait: bool) -> Result<Reply, CmdError> {
    let st = style(ctx);
    let f = &state(ctx).ftps;
    let Some(id) = f.session.filter(|_| f.logged_in) else {
        return lte_result(ctx, name, Err(FtpError::NotAllowed));
    };
    if f.busy {
        return lte_result(ctx, name, Err(FtpError::Busy));
    }
    let f = &mut state(ctx).ftps;
    f.busy = true;
    if let Dest::Cache { prefix } = dest {
        // A cached operation starts: the previous one's unread data goes.
        f.cache.clear();
        f.cache_prefix = prefix;
    }
    f.current = Some(dest);
    ctx.jobs.send_op::<Ftp>(id, op);
    Ok(if wait && st == Style::Ftp { Reply::ok().then(Then::Wait(id)) } else { Reply::ok() })
}

/// The result destination of a command answered when done (WCDMA; `confirm`: a success
/// is also confirmed by `<prefix>: 0`) or by URC (LTE).
fn sync_dest(ctx: &Ctx, prefix: &'static str, confirm: bool) -> Dest {
    if style(ctx) == Style::FtpsLte {
        Dest::Async { prefix }
    } else {
        Dest::Sync { confirm: confirm.then_some(prefix) }
    }
}

/// `AT+CFTPSLOGOUT`: WCDMA `OK` then `+CFTPSLOGOUT: 0` when done (`+CME ERROR` else).
fn s_logout(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    let name = args.name();
    let dest = sync_dest(ctx, name, true);
    session_op(ctx, name, FtpOp::Logout, dest, true)
}

fn s_simple(ctx: &mut Ctx, mut args: Args<'_>, name: &'static str, op: fn(String) -> FtpOp) -> Result<Reply, CmdError> {
    let p = remote_path(&mut args)?.to_owned();
    args.finish()?;
    let dest = sync_dest(ctx, name, false);
    session_op(ctx, name, op(p), dest, true)
}

/// `AT+CFTPSMKD="<dir>"`.
fn s_mkd(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    s_simple(ctx, args, "+CFTPSMKD", FtpOp::Mkd)
}

/// `AT+CFTPSRMD="<dir>"`.
fn s_rmd(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    s_simple(ctx, args, "+CFTPSRMD", FtpOp::Rmd)
}

/// `AT+CFTPSDEL="<file>"` / `AT+CFTPSDELE="<file>"` (both spellings).
fn s_dele(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    let name = ctx.profile.ftps_dele_name();
    s_simple(ctx, args, name, FtpOp::Dele)
}

/// `AT+CFTPSCWD="<dir>"`.
fn s_cwd(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    s_simple(ctx, args, "+CFTPSCWD", FtpOp::Cwd)
}

/// `AT+CFTPSPWD`: `+CFTPSPWD: "<dir>"` then `OK` (LTE: `OK` then the line).
fn s_pwd(ctx: &mut Ctx, args: Args<'_>) -> Result<Reply, CmdError> {
    let name = args.name();
    let wait = style(ctx) == Style::Ftp;
    let dest = Dest::Info {
        prefix: name,
        wait,
        value: |step| match step {
            FtpStep::Dir(dir) => format!("\"{dir}\""),
            _ => "\"\"".into(),
        },
    };
    session_op(ctx, name, FtpOp::Pwd, dest, true)
}

/// `AT+CFTPSSIZE="<path>"`: `+CFTPSSIZE: 0,<bytes>` then `OK` (LTE: `OK` then the line;
/// `+CFTPSSIZE: <err>` on failure). Not in the specification; the form a SIM5320 driver
/// parses (result code, then size).
fn s_size(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let name = args.name();
    let p = remote_path(&mut args)?.to_owned();
    args.finish()?;
    let wait = style(ctx) == Style::Ftp;
    let dest = Dest::Info {
        prefix: name,
        wait,
        value: |step| match step {
            FtpStep::Size(n) => format!("0,{n}"),
            _ => "0,0".into(),
        },
    };
    session_op(ctx, name, FtpOp::Size(p), dest, true)
}

fn s_type_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CFTPSTYPE: {}", type_char(state(ctx).ftps.ascii))))
}

/// `AT+CFTPSTYPE=<type>`: `A` or `I` (default), for the following transfers.
fn s_type_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    state(ctx).ftps.ascii = type_arg(&mut args)?;
    Ok(Reply::ok())
}

/// `AT+CFTPSLIST[="<dir>"[,<cache>]]`: `OK`, `+CFTPSLIST: DATA,<len>` blocks (or, with
/// `<cache>` 1, the data kept for `AT+CFTPSCACHERD`), `+CFTPSLIST: 0`.
fn s_list(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let name = args.name();
    let path = if args.is_empty() { None } else { Some(remote_path(&mut args)?.to_owned()) };
    let cached = args.opt_int_in(0..=1)? == Some(1);
    args.finish()?;
    let dest = if cached { Dest::Cache { prefix: name } } else { Dest::Dte { prefix: name } };
    session_op(ctx, name, FtpOp::List { path, ascii: true }, dest, false)
}

/// `AT+CFTPSGET="<path>"[,<rest>[,<cache>]]`: `OK`, `+CFTPSGET: DATA,<len>` blocks (or, with
/// `<cache>` 1, the data kept for `AT+CFTPSCACHERD`), `+CFTPSGET: 0`.
fn s_get(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let name = args.name();
    let path = remote_path(&mut args)?.to_owned();
    let rest = rest_arg(&mut args)?;
    let cached = args.opt_int_in(0..=1)? == Some(1);
    args.finish()?;
    let op = FtpOp::Get { path, rest, ascii: state(ctx).ftps.ascii };
    let dest = if cached { Dest::Cache { prefix: name } } else { Dest::Dte { prefix: name } };
    session_op(ctx, name, op, dest, false)
}

/// `AT+CFTPSCACHERD`: the next cached block (at most 1024 bytes) as
/// `<prefix>: DATA,<len>` + bytes, then `OK`; only `OK` when nothing is cached.
fn s_cacherd(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let f = &mut state(ctx).ftps;
    if f.cache.is_empty() {
        return Ok(Reply::ok());
    }
    let data = f.cache.take(super::sinks::BLOCK);
    let header = format!("{}: DATA,{}", f.cache_prefix, data.len());
    Ok(Reply::ok().then(Then::Stream(Box::new(BlockOut { block: Some((header, data)) }))))
}

/// `AT+CFTPSCACHERD?`: `+CFTPSCACHERD: <cached bytes>`.
fn s_cacherd_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CFTPSCACHERD: {}", state(ctx).ftps.cache.len())))
}

/// One `DATA` block as an information response (the `OK` follows it).
#[derive(Debug)]
struct BlockOut {
    block: Option<(String, Vec<u8>)>,
}

impl crate::modem::OutputStream for BlockOut {
    fn next(&mut self, _: &mut Ctx, framing: &v250::Framing, out: &mut Vec<u8>) -> Result<bool, CmdError> {
        if let Some((header, data)) = self.block.take() {
            framing.info(&[header], out);
            out.extend_from_slice(&data);
        }
        Ok(false)
    }
}

fn session_ready(ctx: &mut Ctx, name: &str) -> Result<(), Result<Reply, CmdError>> {
    let f = &state(ctx).ftps;
    if f.session.is_none() || !f.logged_in {
        return Err(lte_result(ctx, name, Err(FtpError::NotAllowed)));
    }
    if f.busy {
        return Err(lte_result(ctx, name, Err(FtpError::Busy)));
    }
    Ok(())
}

/// `AT+CFTPSGETFILE="<path>"[,<dir>[,<rest>]]`: `OK`, then `+CFTPSGETFILE: <err>`.
fn s_getfile(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let name = args.name();
    let path = remote_path(&mut args)?.to_owned();
    let dir = args.opt_int_in(0..=8)?.unwrap_or(0);
    let rest = rest_arg(&mut args)?;
    args.finish()?;
    if let Err(r) = session_ready(ctx, name) {
        return r;
    }
    let local = local_file(ctx, &path, dir)?;
    let file = staged_download(ctx, &local, rest)?;
    let op = FtpOp::Get { path, rest, ascii: state(ctx).ftps.ascii };
    session_op(ctx, name, op, Dest::Efs { file: Some(file), prefix: name }, false)
}

/// `AT+CFTPSPUTFILE="<path>"[,<dir>[,<rest>]]`: `OK`, then `+CFTPSPUTFILE: <err>`.
fn s_putfile(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let name = args.name();
    let path = remote_path(&mut args)?.to_owned();
    let dir = args.opt_int_in(0..=8)?.unwrap_or(0);
    let rest = rest_arg(&mut args)?;
    args.finish()?;
    if let Err(r) = session_ready(ctx, name) {
        return r;
    }
    let local = local_file(ctx, &path, dir)?;
    let file = upload_source(ctx, &local, rest)?;
    let op = FtpOp::Put { path, rest, ascii: state(ctx).ftps.ascii };
    session_op(ctx, name, op, Dest::FromEfs { file, prefix: name }, false)
}

/// Largest chunk of one `>` upload entry.
const PUT_CHUNK_MAX: i64 = 1 << 20;

/// `AT+CFTPSPUT="<path>"`: `+CFTPSPUT: BEGIN`, data up to Ctrl-Z, `OK`.
/// `AT+CFTPSPUT="<path>",<len>[,<rest>]`: `>`, `<len>` bytes, `OK`; WCDMA: the upload stays
/// open for `AT+CFTPSPUT=<len>` chunks until `AT+CFTPSPUT`; LTE profile: that was the whole
/// upload, `+CFTPSPUT: <err>` follows.
fn s_put(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let name = args.name();
    let chunked = ctx.profile.ftps_chunked_put();
    if chunked && !args.is_empty() && !args.next_is_quoted() {
        // `=<len>`: the next chunk of the open upload.
        let len = args.next_int_in(0..=PUT_CHUNK_MAX)?;
        args.finish()?;
        let f = &state(ctx).ftps;
        let Some(id) = f.session.filter(|_| f.chunked_put) else {
            return Err(CmdError::Refused("no AT+CFTPSPUT upload open"));
        };
        return Ok(upload_entry(id, len, false));
    }
    let path = remote_path(&mut args)?.to_owned();
    let lte = ctx.profile.upload_length_form();
    let len = if lte || chunked { args.opt_int_in(0..=PUT_CHUNK_MAX)? } else { None };
    let rest = if lte || chunked { rest_arg(&mut args)? } else { 0 };
    args.finish()?;
    let op = FtpOp::Put { path, rest, ascii: state(ctx).ftps.ascii };
    match len {
        None => {
            if let Err(r) = session_ready(ctx, name) {
                return r;
            }
            let id = state(ctx).ftps.session.ok_or(CmdError::Refused("no session"))?;
            session_op(ctx, name, op, Dest::FromDte { prompt: "+CFTPSPUT: BEGIN" }, false)?;
            Ok(Reply::ok().then(Then::Wait(id)))
        }
        Some(len) => {
            if let Err(r) = session_ready(ctx, name) {
                return r;
            }
            let id = state(ctx).ftps.session.ok_or(CmdError::Refused("no session"))?;
            session_op(ctx, name, op, Dest::Queued { prefix: name }, false)?;
            state(ctx).ftps.chunked_put = chunked;
            Ok(upload_entry(id, len, !chunked))
        }
    }
}

/// `AT+CFTPSPUT`: ends the open chunked upload: `OK`, then `+CFTPSPUT: <err>` once the
/// server has it all.
fn s_put_end(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let f = &mut state(ctx).ftps;
    let Some(id) = f.session.filter(|_| f.chunked_put) else {
        return Err(CmdError::Refused("no AT+CFTPSPUT upload open"));
    };
    f.chunked_put = false;
    ctx.jobs.send(id, JobInput::End);
    Ok(Reply::ok())
}

/// `AT+CFTPSPUT?`: `+CFTPSPUT: <bytes taken but not yet sent>`, reported as 0: data entered
/// at `>` is passed on as it arrives and the serial line stops being read while the
/// session's small input queue is full, so no backlog builds up in the module (clients
/// poll this to pace themselves).
fn s_put_read(_: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line("+CFTPSPUT: 0"))
}

fn s_singleip_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+CFTPSSINGLEIP: {}", u8::from(state(ctx).ftps.single_ip))))
}

/// `AT+CFTPSSINGLEIP=<mode>`: 1 = data connections to the control connection's server
/// address whatever PASV says (applies at the next login).
fn s_singleip_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let m = args.next_int_in(0..=1)?;
    args.finish()?;
    state(ctx).ftps.single_ip = m == 1;
    Ok(Reply::ok())
}
