//! What the core does with FTP job events: `DATA` blocks to the DTE, a staged EFS file, an
//! EFS file read as upload input, or the result that resumes a waiting command line.

use super::{Ftp, FtpError, FtpState, FtpStep};
use crate::efs::StagedFile;
use crate::efs::store::FileReader;
use crate::job::JobInput;
use crate::modem::{CmdError, Ctx, InputSource, JobSink, Reply, Resume, Urc};
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
    pub fn code(self, c: FtpError) -> u16 {
        match self {
            Style::Ftp => c.code(),
            Style::FtpsLte => c.ftps_lte_code(),
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
    /// `<prefix>: <value(step)>` (`AT+CFTPSPWD`, `AT+CFTPSSIZE`): in the waiting line's
    /// answer (`wait`), else as a URC (then `<prefix>: <err>` on failure).
    Info { prefix: &'static str, wait: bool, value: fn(&FtpStep) -> String },
    /// Result as `<prefix>: <err>` (asynchronous style), the line having had its `OK`.
    Async { prefix: &'static str },
}

impl Dest {
    /// Payload from the job; `Err` stops the job with that code.
    pub fn data(&mut self, data: Vec<u8>, urcs: &mut Vec<Urc>) -> Result<(), FtpError> {
        match self {
            Dest::Dte { prefix } => {
                urcs.push(Urc::Blocks { prefix, data: data.into(), max: BLOCK });
                Ok(())
            }
            Dest::Efs { file: Some(f), .. } => f.write_all(&data).map_err(|e| {
                info!("writing the downloaded file: {e}");
                FtpError::WriteFile
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

    pub fn pull(&mut self) -> Option<Result<JobInput, FtpError>> {
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
                        Some(Err(FtpError::ReadFile))
                    }
                }
            }
            // Data entered at a `>` prompt is already queued; nothing to pull.
            Dest::Queued { .. } => None,
            _ => Some(Ok(JobInput::End)),
        }
    }

    /// The operation ended with `result`; URCs, or the waiting line's result. `release`
    /// frees the service for its next operation: at once, or, for a download into the
    /// EFS, once its file is committed (off the core's thread, as committing is an fsync
    /// and, for a resumed download, a copy of the kept bytes).
    pub fn finish(
        self,
        ctx: &mut Ctx,
        result: Result<FtpStep, FtpError>,
        style: Style,
        urcs: &mut Vec<Urc>,
        release: fn(&mut Ctx),
    ) -> Resume {
        let dest = match (self, &result) {
            (Dest::Efs { file: Some(file), prefix }, Ok(_)) => {
                let label = format!("commit the {prefix} download");
                ctx.jobs.offload(
                    label,
                    move || file.commit(),
                    move |ctx, r, urcs| {
                        let code = match r {
                            Ok(()) => 0,
                            Err(e) => {
                                info!("storing the downloaded file: {e}");
                                style.code(FtpError::WriteFile)
                            }
                        };
                        urcs.push(Urc::Line(format!("{prefix}: {code}")));
                        release(ctx);
                        None
                    },
                );
                return None;
            }
            (dest, _) => dest,
        };
        release(ctx);
        let line = |prefix: &str, r: &Result<FtpStep, FtpError>| match r {
            Ok(_) => format!("{prefix}: 0"),
            Err(c) => format!("{prefix}: {}", style.code(*c)),
        };
        match dest {
            Dest::Dte { prefix }
            | Dest::FromEfs { prefix, .. }
            | Dest::Queued { prefix }
            | Dest::Async { prefix }
            | Dest::Cache { prefix } => {
                urcs.push(Urc::Line(line(prefix, &result)));
                None
            }
            Dest::Efs { prefix, .. } => {
                // A success with its file was committed above; without one it failed.
                let result = result.and(Err(FtpError::WriteFile));
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
                let text = |step: &FtpStep| format!("{prefix}: {}", value(step));
                match (wait, result) {
                    (true, Ok(step)) => Some(Ok(Reply::line(text(&step)))),
                    (true, Err(c)) => Some(Err(cme(c, style))),
                    (false, r) => {
                        urcs.push(Urc::Line(match r {
                            Ok(step) => text(&step),
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
pub fn cme(c: FtpError, style: Style) -> CmdError {
    let code = match style {
        Style::Ftp => c.cme(),
        Style::FtpsLte => crate::modem::CmeError::Service { code: style.code(c), text: c.text() },
    };
    CmdError::cme(code, "FTP operation failed")
}

/// The FTP service's state in the registry.
pub(crate) fn state(ctx: &mut Ctx) -> &mut FtpState {
    ctx.services.get_mut()
}

/// Sink of a one-operation `AT+CFTP*` job.
#[derive(Debug)]
pub struct FtpSink {
    pub dest: Dest,
}

impl JobSink for FtpSink {
    type Proto = Ftp;

    fn data(&mut self, _: &mut Ctx, data: Vec<u8>, urcs: &mut Vec<Urc>) -> Result<(), FtpError> {
        self.dest.data(data, urcs)
    }

    fn ready(&mut self, _: &mut Ctx) -> InputSource {
        self.dest.ready()
    }

    fn pull(&mut self, _: &mut Ctx) -> Option<Result<JobInput, FtpError>> {
        self.dest.pull()
    }

    fn done(self, ctx: &mut Ctx, result: Result<(), FtpError>, urcs: &mut Vec<Urc>) -> Resume {
        self.dest.finish(ctx, result.map(|()| FtpStep::Ok), Style::Ftp, urcs, |ctx| state(ctx).busy = None)
    }
}

/// Sink of the `AT+CFTPS*` session job; the running operation's [`Dest`] is in the FTPS
/// state's `current`.
#[derive(Debug)]
pub struct FtpsSink {
    pub style: Style,
}

impl JobSink for FtpsSink {
    type Proto = Ftp;

    fn data(&mut self, ctx: &mut Ctx, data: Vec<u8>, urcs: &mut Vec<Urc>) -> Result<(), FtpError> {
        let f = &mut state(ctx).ftps;
        match f.current.as_mut() {
            Some(Dest::Cache { .. }) => {
                f.cache.push(&data);
                Ok(())
            }
            Some(d) => d.data(data, urcs),
            None => Ok(()),
        }
    }

    fn ready(&mut self, ctx: &mut Ctx) -> InputSource {
        state(ctx).ftps.current.as_ref().map_or(InputSource::Sink, Dest::ready)
    }

    fn pull(&mut self, ctx: &mut Ctx) -> Option<Result<JobInput, FtpError>> {
        state(ctx).ftps.current.as_mut()?.pull()
    }

    fn step(&mut self, ctx: &mut Ctx, result: Result<FtpStep, FtpError>, urcs: &mut Vec<Urc>) -> Resume {
        let f = &mut state(ctx).ftps;
        f.logged_in = true;
        if matches!(f.current, Some(Dest::Queued { .. })) {
            f.chunked_put = false;
        }
        let Some(dest) = f.current.take() else {
            f.busy = false;
            return None;
        };
        dest.finish(ctx, result, self.style, urcs, |ctx| state(ctx).ftps.busy = false)
    }

    fn done(self, ctx: &mut Ctx, result: Result<(), FtpError>, urcs: &mut Vec<Urc>) -> Resume {
        let f = &mut state(ctx).ftps;
        let was_logged_in = f.logged_in;
        f.session = None;
        f.logged_in = false;
        f.busy = false;
        f.chunked_put = false;
        match f.current.take() {
            Some(dest) => dest.finish(ctx, result.map(|()| FtpStep::Ok), self.style, urcs, |_| {}),
            None => {
                if was_logged_in && self.style == Style::FtpsLte {
                    urcs.push(Urc::Line("+CFTPSNOTIFY: FTPS DISCONNECT".into()));
                }
                None
            }
        }
    }

    /// A cached download or listing whose cache is full waits for `AT+CFTPSCACHERD`.
    fn paused(&self, ctx: &Ctx, held: usize) -> bool {
        ctx.services.get::<FtpState>().is_some_and(|f| f.ftps.cache_backlogged(held))
    }
}
