//! What a handler returns: information lines and what happens next. Handlers never write
//! framing; [`v250::Framing`] does, in the [`super::Modem`].

use super::{Ctx, error::CmdError};
use v250::Framing;

/// Receives the bytes of a fixed-length `>` data entry.
pub trait DataSink: Send + std::fmt::Debug {
    /// Called with each part of the payload, in order. An error here is remembered by the
    /// caller; the rest of the payload is still consumed (the DTE sends it regardless).
    fn write(&mut self, ctx: &mut Ctx, data: &[u8]) -> Result<(), CmdError>;
    /// All `len` bytes arrived (or Ctrl-Z ended an open-ended entry).
    fn finish(self: Box<Self>, ctx: &mut Ctx) -> Result<Reply, CmdError>;
    /// ESC ended an open-ended entry; the default answers `OK` and does nothing.
    fn cancel(self: Box<Self>, _ctx: &mut Ctx) -> Result<Reply, CmdError> {
        Ok(Reply::ok())
    }
    /// The job the data goes to, if any: while that job cannot take more, the DTE is held
    /// back (see `Modem::wants_input`).
    fn job(&self) -> Option<crate::job::JobId> {
        None
    }
    /// In an entry up to Ctrl-Z, 0x03 before a Ctrl-Z, an ESC or a 0x03 makes that byte
    /// data (`AT+CIPSEND`'s Ctrl-Z form); the default: no escape, 0x03 is data.
    fn escaped(&self) -> bool {
        false
    }
}

/// Receives a free-text entry ended by Ctrl-Z.
pub trait TextSink: Send + std::fmt::Debug {
    fn finish(self: Box<Self>, ctx: &mut Ctx, text: Vec<u8>) -> Result<Reply, CmdError>;
    /// ESC was pressed; the default answers `OK` and keeps earlier state.
    fn cancel(self: Box<Self>, _ctx: &mut Ctx) -> Result<Reply, CmdError> {
        Ok(Reply::ok())
    }
}

/// Produces a long response piece by piece, so large files never sit in memory whole.
pub trait OutputStream: Send + std::fmt::Debug {
    /// Append the next piece to `out`. Returns `Ok(true)` while more remains.
    fn next(&mut self, ctx: &mut Ctx, framing: &Framing, out: &mut Vec<u8>) -> Result<bool, CmdError>;
}

/// What follows a handler's information lines.
#[derive(Debug)]
pub enum Then {
    /// The command is complete; the line continues (and ends with `OK`).
    Done,
    /// Print `prompt` (unless empty) and take exactly `len` bytes into `sink`, or with
    /// `len: None` every byte up to Ctrl-Z (ESC cancels).
    Data { len: Option<u64>, prompt: &'static str, sink: Box<dyn DataSink> },
    /// Print `prompt` (`>>` for the services, `> ` for SMS) and take free text up to
    /// Ctrl-Z into `sink`; with `lines`, each CR in the text prints `prompt` again (27.005
    /// text entry).
    Text { max: usize, prompt: &'static str, lines: bool, sink: Box<dyn TextSink> },
    /// Emit a long response from `stream`, then continue the line.
    Stream(Box<dyn OutputStream>),
    /// Wait for job `id`: its sink's result (from `step` or `done`) resumes the line.
    Wait(crate::job::JobId),
    /// Resume the line after `delay` with the answer `resume` gives then (input meanwhile
    /// waits, as while a job runs).
    After { delay: std::time::Duration, resume: fn(&mut Ctx) -> Result<Reply, CmdError> },
    /// Wait for offloaded work: its continuation's result resumes the line.
    Offloaded(super::WorkId),
    /// End the line with `banner` as its final result (`CONNECT 115200`) and enter the
    /// online data state with job `job` (see [`super::online`]): DTE bytes go to the job
    /// as [`crate::job::JobInput::Data`], its [`Urc::Raw`] output goes to the DTE.
    Online { job: crate::job::JobId, banner: String, mode: DataMode },
    /// `ATO`: back to the online data state this port left with `+++` (or a DTR drop under
    /// `AT&D1`), if its job still runs and its sink agrees ([`super::JobSink::resume`]);
    /// else `NO CARRIER`.
    Resume,
    /// End the line with this final result text instead of `OK` (`CONNECT FAIL`); the
    /// rest of the line is not run.
    Final(String),
}

/// What the bytes of an online data state are, for the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DataMode {
    /// A byte stream (a transparent socket).
    #[default]
    Raw,
    /// HDLC-framed packets (RFC 1662): the trace shows one decoded line per frame.
    Hdlc,
}

impl DataMode {
    /// Its name in the state report: `raw`, `hdlc`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Hdlc => "hdlc",
        }
    }
}

/// A handler's successful answer.
#[derive(Debug)]
pub struct Reply {
    pub lines: Vec<String>,
    pub then: Then,
}

impl Reply {
    /// No information text; the line goes on to `OK`.
    pub fn ok() -> Self {
        Self { lines: Vec::new(), then: Then::Done }
    }

    /// One information line.
    pub fn line(l: impl Into<String>) -> Self {
        Self { lines: vec![l.into()], then: Then::Done }
    }

    /// Several information lines.
    pub fn lines(lines: Vec<String>) -> Self {
        Self { lines, then: Then::Done }
    }

    pub fn then(mut self, then: Then) -> Self {
        self.then = then;
        self
    }
}

/// An unsolicited output item, framed when released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Urc {
    Line(String),
    /// A header line followed by raw bytes (`+CFTPGET: DATA,<len>`).
    Block {
        header: String,
        data: Vec<u8>,
    },
    /// `data` cut into blocks of at most `max` bytes, each released as a `Block` with the
    /// header `<prefix>: DATA,<len>` (one allocation for a whole chunk of a download; the
    /// blocks may be released a few at a time).
    Blocks {
        prefix: &'static str,
        data: bytes::Bytes,
        max: usize,
    },
    /// Bytes with no framing: socket payload pushed to the DTE. In the online data state
    /// these are the only URCs released.
    Raw(Vec<u8>),
}

impl Urc {
    /// Bytes it takes on the wire, about.
    pub fn len(&self) -> usize {
        match self {
            Urc::Line(l) => l.len() + 4,
            Urc::Block { header, data } => header.len() + 4 + data.len(),
            Urc::Blocks { prefix, data, max } => data.len() + data.len().div_ceil((*max).max(1)) * (prefix.len() + 16),
            Urc::Raw(data) => data.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}
