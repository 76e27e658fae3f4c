//! Service jobs: how handlers ask for network work and how its results come back.
//!
//! A handler starts a job with [`Jobs::start`], giving a [`JobSpec`] (what to do, executed
//! by `crate::service::run` in the runner) and a [`JobSink`] (what the core does with the
//! job's events: emit `DATA` blocks, write an EFS file, resume the command line, ...).
//! Jobs never touch the EFS or the output stream; sinks run in the core and own that.

use super::{CmdError, Ctx, Reply};
use std::collections::{HashMap, VecDeque};

pub type JobId = u64;

/// What a job must do.
#[derive(Debug)]
pub enum JobSpec {
    /// One FTP/FTPS control session: connect, log in, run operations, quit.
    Ftp(crate::service::ftp::FtpJob),
    /// One HTTP exchange (`AT+CHTTPACT`) or an HTTP(S) session (`AT+CHTTPS*`).
    Http(crate::service::http::HttpJob),
    /// Send one e-mail.
    Smtp(crate::service::smtp::job::SmtpJob),
    /// A POP3 session.
    Pop3(crate::service::pop3::job::Pop3Job),
}

/// From a job to the core.
#[derive(Debug)]
pub enum ServiceEvent {
    /// Payload bytes (a download, a listing).
    Data(Vec<u8>),
    /// The job wants upload data now ([`JobInput::Data`] ... [`JobInput::End`]).
    ReadyForInput,
    /// One operation of a session job finished: information lines, or a result code.
    Step(Result<Vec<String>, u16>),
    /// The job is over: success, or a service result code.
    Done(Result<(), u16>),
}

/// From the core to a job.
#[derive(Debug)]
pub enum JobInput {
    Data(Vec<u8>),
    End,
    /// The next operation of a session job.
    Op(Op),
    /// Close a session job's connection and end it.
    Close,
}

/// An operation for a session job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Ftp(crate::service::ftp::FtpOp),
    Pop3(crate::service::pop3::Pop3Op),
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
}

impl Urc {
    pub fn len(&self) -> usize {
        match self {
            Urc::Line(l) => l.len() + 4,
            Urc::Block { header, data } => header.len() + 4 + data.len(),
            Urc::Blocks { prefix, data, max } => data.len() + data.len().div_ceil((*max).max(1)) * (prefix.len() + 16),
        }
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Where the upload data of a job comes from, once it is ready for it.
#[derive(Debug)]
pub enum InputSource {
    /// The DTE streams it after this prompt line (e.g. `+CFTPPUT: BEGIN`), up to Ctrl-Z.
    Dte { prompt: String },
    /// The sink supplies it ([`JobSink::pull`]), e.g. from an EFS file.
    Sink,
}

/// What the core does with one job's events. Every method may queue URCs.
pub trait JobSink: Send + std::fmt::Debug {
    /// Payload from the job; `Err(code)` stops the job, which then ends with that code.
    fn data(&mut self, ctx: &mut Ctx, data: Vec<u8>, urcs: &mut Vec<Urc>) -> Result<(), u16>;

    /// The job is ready for upload data.
    fn ready(&mut self, _ctx: &mut Ctx) -> InputSource {
        InputSource::Sink
    }

    /// Next piece of upload data (for [`InputSource::Sink`]); `None` while nothing is
    /// ready; `Err(code)` stops the job, which then ends with that code.
    fn pull(&mut self, _ctx: &mut Ctx) -> Option<Result<JobInput, u16>> {
        Some(Ok(JobInput::End))
    }

    /// A session operation finished. For the command line waiting on this job, the
    /// returned result resumes it.
    fn step(
        &mut self,
        _ctx: &mut Ctx,
        _result: Result<Vec<String>, u16>,
        _urcs: &mut Vec<Urc>,
    ) -> Option<Result<Reply, CmdError>> {
        None
    }

    /// The job ended. For the command line waiting on this job, the returned result
    /// resumes it.
    fn done(
        self: Box<Self>,
        ctx: &mut Ctx,
        result: Result<(), u16>,
        urcs: &mut Vec<Urc>,
    ) -> Option<Result<Reply, CmdError>>;
}

/// Jobs started, running, and their pending inputs (part of [`Ctx`]).
#[derive(Debug, Default)]
pub struct Jobs {
    next: JobId,
    pub(crate) to_start: VecDeque<(JobId, JobSpec)>,
    pub(crate) sinks: HashMap<JobId, Box<dyn JobSink>>,
    pub(crate) inputs: VecDeque<(JobId, JobInput)>,
    pub(crate) pulling: Vec<JobId>,
    pub(crate) to_abort: Vec<JobId>,
}

impl Jobs {
    /// Ask the runner to run `spec`; its events go to `sink`.
    pub fn start(&mut self, spec: JobSpec, sink: Box<dyn JobSink>) -> JobId {
        self.next += 1;
        let id = self.next;
        self.to_start.push_back((id, spec));
        self.sinks.insert(id, sink);
        id
    }

    /// Queue an input for a running job.
    pub fn send(&mut self, id: JobId, input: JobInput) {
        self.inputs.push_back((id, input));
    }

    /// Stop a job; its sink is dropped without a `done`.
    pub fn abort(&mut self, id: JobId) {
        if self.sinks.remove(&id).is_some() {
            self.to_abort.push(id);
        }
        self.pulling.retain(|j| *j != id);
        self.inputs.retain(|(j, _)| *j != id);
    }

    pub fn is_running(&self, id: JobId) -> bool {
        self.sinks.contains_key(&id)
    }
}
