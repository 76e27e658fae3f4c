//! What the core does with FTP job events: `DATA` blocks to the DTE, a staged EFS file, an
//! EFS file read as upload input, or the result that resumes a waiting command line.

use super::FtpCode;
use crate::efs::StagedFile;
use crate::efs::store::FileReader;
use crate::modem::{CmdError, Ctx, InputSource, JobInput, JobSink, Reply, Urc};
use std::io::{Read, Write};
use tracing::info;

/// Largest `DATA,<len>` block (as seen on SIMCom modules).
pub const BLOCK: usize = 1024;
/// Upload chunk read from the EFS.
const PULL_CHUNK: usize = 16 * 1024;

/// How results are worded: the FTP table (§5.15), or the FTPS table of the SIM7600
/// (decided by the profile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Ftp,
    FtpsLte,
}

impl Style {
    pub fn code(self, c: FtpCode) -> u16 {
        match self {
            Style::Ftp => c.code(),
            Style::FtpsLte => crate::profile::ftps_lte_code(c),
        }
    }
}

/// Destination of one operation's events.
#[derive(Debug)]
pub enum Dest {
    /// `<prefix>: DATA,<len>` blocks, then `<prefix>: 0` / `<prefix>: <err>`.
    Dte { prefix: &'static str },
    /// Into a staged EFS file, then `<prefix>: 0` / `<prefix>: <err>`.
    Efs { file: Option<Box<dyn StagedFile>>, prefix: &'static str },
    /// Upload from an EFS file, then `<prefix>: 0` / `<prefix>: <err>`.
    FromEfs { file: Box<dyn FileReader>, prefix: &'static str },
    /// Upload from the DTE after `prompt`; the waiting line gets `OK` / `+CME ERROR`.
    FromDte { prompt: &'static str },
    /// Upload already queued by a `>` data entry; result as `<prefix>: <err>`.
    Queued { prefix: &'static str },
    /// Into the FTPS cache for `AT+CFTPSCACHERD`, then `<prefix>: 0` / `<prefix>: <err>`.
    Cache { prefix: &'static str },
    /// The waiting line gets `OK` / `+CME ERROR`; with `confirm`, a success is also
    /// confirmed by `<confirm>: 0` after the `OK` (WCDMA `AT+CFTPSLOGIN` / `AT+CFTPSLOGOUT`;
    /// see docs/commands.md).
    Sync { confirm: Option<&'static str> },
    /// `<prefix>: <value(first information line)>` (`AT+CFTPSPWD`, `AT+CFTPSSIZE`): in the
    /// waiting line's answer (`wait`), else as a URC (then `<prefix>: <err>` on failure).
    Info { prefix: &'static str, wait: bool, value: fn(&str) -> String },
    /// Result as `<prefix>: <err>` (asynchronous style), the line having had its `OK`.
    Async { prefix: &'static str },
}

impl Dest {
    /// Payload from the job; `Err` stops the job with that code.
    pub fn data(&mut self, data: Vec<u8>, urcs: &mut Vec<Urc>) -> Result<(), FtpCode> {
        match self {
            Dest::Dte { prefix } => {
                urcs.push(Urc::Blocks { prefix, data: data.into(), max: BLOCK });
                Ok(())
            }
            Dest::Efs { file: Some(f), .. } => f.write_all(&data).map_err(|e| {
                info!("writing the downloaded file: {e}");
                FtpCode::WriteFile
            }),
            _ => Ok(()),
        }
    }

    pub fn ready(&self) -> InputSource {
        match self {
            Dest::FromDte { prompt } => InputSource::Dte { prompt: (*prompt).to_owned() },
            _ => InputSource::Sink,
        }
    }

    pub fn pull(&mut self) -> Option<Result<JobInput, FtpCode>> {
        match self {
            Dest::FromEfs { file, .. } => {
                let mut buf = vec![0u8; PULL_CHUNK];
                match file.read(&mut buf) {
                    Ok(0) => Some(Ok(JobInput::End)),
                    Ok(n) => {
                        buf.truncate(n);
                        Some(Ok(JobInput::Data(buf)))
                    }
                    Err(e) => {
                        info!("reading the file to upload: {e}");
                        Some(Err(FtpCode::ReadFile))
                    }
                }
            }
            // Data entered at a `>` prompt is already queued; nothing to pull.
            Dest::Queued { .. } => None,
            _ => Some(Ok(JobInput::End)),
        }
    }

    /// The operation ended with `result`; URCs, or the waiting line's result.
    pub fn finish(
        self,
        result: Result<Vec<String>, FtpCode>,
        style: Style,
        urcs: &mut Vec<Urc>,
    ) -> Option<Result<Reply, CmdError>> {
        let line = |prefix: &str, r: &Result<Vec<String>, FtpCode>| match r {
            Ok(_) => format!("{prefix}: 0"),
            Err(c) => format!("{prefix}: {}", style.code(*c)),
        };
        match self {
            Dest::Dte { prefix }
            | Dest::FromEfs { prefix, .. }
            | Dest::Queued { prefix }
            | Dest::Async { prefix }
            | Dest::Cache { prefix } => {
                urcs.push(Urc::Line(line(prefix, &result)));
                None
            }
            Dest::Efs { file, prefix } => {
                let result = match (result, file) {
                    (Ok(l), Some(f)) => f.commit().map(|()| l).map_err(|e| {
                        info!("storing the downloaded file: {e}");
                        FtpCode::WriteFile
                    }),
                    (Ok(_), None) => Err(FtpCode::WriteFile),
                    (Err(c), _) => Err(c),
                };
                urcs.push(Urc::Line(line(prefix, &result)));
                None
            }
            Dest::Sync { confirm: Some(prefix) } if result.is_ok() => {
                urcs.push(Urc::Line(format!("{prefix}: 0")));
                Some(Ok(Reply::ok()))
            }
            Dest::FromDte { .. } | Dest::Sync { .. } => Some(match result {
                Ok(_) => Ok(Reply::ok()),
                Err(c) => Err(cme(c, style)),
            }),
            Dest::Info { prefix, wait, value } => {
                let text = |l: &[String]| format!("{prefix}: {}", value(l.first().map(String::as_str).unwrap_or("")));
                match (wait, result) {
                    (true, Ok(l)) => Some(Ok(Reply::line(text(&l)))),
                    (true, Err(c)) => Some(Err(cme(c, style))),
                    (false, r) => {
                        urcs.push(Urc::Line(match r {
                            Ok(l) => text(&l),
                            Err(c) => format!("{prefix}: {}", style.code(c)),
                        }));
                        None
                    }
                }
            }
        }
    }
}

/// The `+CME ERROR` for an FTP code.
pub fn cme(c: FtpCode, style: Style) -> CmdError {
    let code = match style {
        Style::Ftp => c.cme(),
        Style::FtpsLte => crate::modem::CmeError::Service { code: style.code(c), text: c.text() },
    };
    CmdError::cme(code, "FTP operation failed")
}

/// Sink of a one-operation `AT+CFTP*` job.
#[derive(Debug)]
pub struct FtpSink {
    pub dest: Dest,
}

impl JobSink for FtpSink {
    fn data(&mut self, _: &mut Ctx, data: Vec<u8>, urcs: &mut Vec<Urc>) -> Result<(), u16> {
        self.dest.data(data, urcs).map_err(FtpCode::code)
    }

    fn ready(&mut self, _: &mut Ctx) -> InputSource {
        self.dest.ready()
    }

    fn pull(&mut self, _: &mut Ctx) -> Option<Result<JobInput, u16>> {
        self.dest.pull().map(|r| r.map_err(FtpCode::code))
    }

    fn done(
        self: Box<Self>,
        ctx: &mut Ctx,
        result: Result<(), u16>,
        urcs: &mut Vec<Urc>,
    ) -> Option<Result<Reply, CmdError>> {
        ctx.ftp.busy = None;
        self.dest.finish(result.map(|()| Vec::new()).map_err(FtpCode::from_code), Style::Ftp, urcs)
    }
}

/// Sink of the `AT+CFTPS*` session job; the running operation's [`Dest`] is in
/// `ctx.ftp.ftps.current`.
#[derive(Debug)]
pub struct FtpsSink {
    pub style: Style,
}

impl JobSink for FtpsSink {
    fn data(&mut self, ctx: &mut Ctx, data: Vec<u8>, urcs: &mut Vec<Urc>) -> Result<(), u16> {
        let f = &mut ctx.ftp.ftps;
        match f.current.as_mut() {
            Some(Dest::Cache { .. }) => {
                f.cache.push(&data);
                Ok(())
            }
            Some(d) => d.data(data, urcs).map_err(FtpCode::code),
            None => Ok(()),
        }
    }

    fn ready(&mut self, ctx: &mut Ctx) -> InputSource {
        ctx.ftp.ftps.current.as_ref().map_or(InputSource::Sink, Dest::ready)
    }

    fn pull(&mut self, ctx: &mut Ctx) -> Option<Result<JobInput, u16>> {
        ctx.ftp.ftps.current.as_mut()?.pull().map(|r| r.map_err(FtpCode::code))
    }

    fn step(
        &mut self,
        ctx: &mut Ctx,
        result: Result<Vec<String>, u16>,
        urcs: &mut Vec<Urc>,
    ) -> Option<Result<Reply, CmdError>> {
        let f = &mut ctx.ftp.ftps;
        f.busy = false;
        f.logged_in = true;
        if matches!(f.current, Some(Dest::Queued { .. })) {
            f.chunked_put = false;
        }
        let dest = f.current.take()?;
        dest.finish(result.map_err(FtpCode::from_code), self.style, urcs)
    }

    fn done(
        self: Box<Self>,
        ctx: &mut Ctx,
        result: Result<(), u16>,
        urcs: &mut Vec<Urc>,
    ) -> Option<Result<Reply, CmdError>> {
        let f = &mut ctx.ftp.ftps;
        let was_logged_in = f.logged_in;
        f.session = None;
        f.logged_in = false;
        f.busy = false;
        f.chunked_put = false;
        match f.current.take() {
            Some(dest) => dest.finish(result.map(|()| Vec::new()).map_err(FtpCode::from_code), self.style, urcs),
            None => {
                if was_logged_in && self.style == Style::FtpsLte {
                    urcs.push(Urc::Line("+CFTPSNOTIFY: FTPS DISCONNECT".into()));
                }
                None
            }
        }
    }
}
