//! The job vocabulary: what a service's async job and the core say to each other, typed
//! per service by a [`Protocol`]. It sits below the core (no `Ctx`, no handlers): the core
//! carries these values type-erased; only a service's job and its sink see the types.

use std::any::Any;
use std::fmt::{Debug, Display};
use std::future::Future;
use std::pin::Pin;

pub type JobId = u64;

/// A job's typed vocabulary (see the module documentation).
pub trait Protocol: Send + 'static {
    /// The outcome of one operation of a session job.
    type Step: Send + Debug + 'static;
    /// Why an operation, or the whole job, failed.
    type Error: Send + Debug + Copy + 'static;
    /// An operation handed to a session job; `Display` is its stable description.
    type Op: Send + Debug + Display + 'static;

    /// A scripted step from text (transcripts): the service's own syntax.
    #[cfg(any(test, feature = "scripted"))]
    fn parse_step(text: &str) -> Result<Self::Step, String>;
    /// A scripted error from text (transcripts): the module's code for it.
    #[cfg(any(test, feature = "scripted"))]
    fn parse_error(text: &str) -> Result<Self::Error, String>;
    /// A step made from fuzz input.
    #[cfg(any(test, feature = "scripted"))]
    fn fuzz_step(data: &[u8]) -> Self::Step;
    /// An error made from fuzz input.
    #[cfg(any(test, feature = "scripted"))]
    fn fuzz_error(byte: u8) -> Self::Error;
    /// How a running job of this protocol ends when packet service goes (coverage lost,
    /// `AT+CFUN=0`): the service's network error. `None` (the default): the service's own
    /// network hook handles it (a family that ends its connections itself).
    fn network_lost() -> Option<Self::Error> {
        None
    }
}

/// The `Done` event that ends a job of `P` when packet service goes, if `P` has one.
pub fn network_lost_event<P: Protocol>() -> Option<JobEvent> {
    P::network_lost().map(|e| JobEvent::Done(Box::new(Err::<(), P::Error>(e))))
}

/// The `Op` of a protocol whose jobs take no session operations.
#[derive(Debug)]
pub enum NoOp {}

impl Display for NoOp {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {}
    }
}

/// From the core to a job.
#[derive(Debug)]
pub enum JobInput {
    Data(Vec<u8>),
    End,
    /// The next operation of a session job (a `Protocol::Op`), with its description.
    Op {
        op: Box<dyn Any + Send>,
        label: String,
    },
    /// Close a session job's connection and end it.
    Close,
}

impl JobInput {
    /// Bytes it takes in a job's input queue (operations count as small).
    pub fn size(&self) -> usize {
        match self {
            JobInput::Data(d) => d.len(),
            _ => 64,
        }
    }

    /// A stable one-line description: `data <bytes escaped>`, `end`, `op <op>`, `close`.
    pub fn describe(&self) -> String {
        match self {
            JobInput::Data(d) => format!("data {}", v250::escape(d)),
            JobInput::End => "end".into(),
            JobInput::Op { label, .. } => format!("op {label}"),
            JobInput::Close => "close".into(),
        }
    }
}

/// From a job to the core (payloads of `Step` and `Done` are the job's `Protocol` types).
#[derive(Debug)]
pub enum JobEvent {
    /// Payload bytes (a download, a listing).
    Data(Vec<u8>),
    /// The job wants upload data now ([`JobInput::Data`] ... [`JobInput::End`]).
    ReadyForInput,
    /// One operation of a session job finished: `Result<Step, Error>`.
    Step(Box<dyn Any + Send>),
    /// The job is over: `Result<(), Error>`.
    Done(Box<dyn Any + Send>),
}

/// The async body of a job, as the runner spawns it.
pub type JobBody = Box<dyn FnOnce(super::JobLink) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// A job to run: its label (a stable one-line description) and its body.
pub struct JobSpec {
    pub label: String,
    pub body: JobBody,
}

impl Debug for JobSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label)
    }
}
