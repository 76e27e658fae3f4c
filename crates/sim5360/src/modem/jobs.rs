//! Service jobs: how handlers ask for network work and how its results come back, typed
//! per service, without the core knowing any service.
//!
//! A handler starts a job with [`JobTable::start`], giving a label (a stable one-line
//! description, for logs and transcripts), a [`JobSink`] (what the core does with the
//! job's events) and the job's async body (run by the runner, talking to a real server
//! through a [`JobIo`]). Sink and body agree on a [`Protocol`]: the outcome of a session's
//! operation (`Step`), why an operation or the job failed (`Error`), and the operations a
//! session job takes (`Op`). Across the core those travel type-erased; only the two ends
//! see the types, so each service maps its `Error` to the module's codes in one place.
//!
//! Jobs never touch the EFS or the output: sinks run in the core and do. Input for a job
//! (upload data, session operations) waits in the job's own bounded queue, so a job whose
//! server stops reading holds back only its own input.
//!
//! Work that must not block the core's thread (committing a large EFS file, NV writes) is
//! [`JobTable::offload`]ed: run on a blocking thread by the runner, one at a time in order,
//! its result handed to a continuation in the core.

use super::port::PortId;
use super::{CmdError, Ctx, DataMode, Reply, Urc};
use crate::job::{JobBody, JobEvent, JobId, JobInput, JobIo, JobSpec, Protocol, network_lost_event};
use std::any::Any;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Debug;
use std::future::Future;
use tracing::{debug, error};

/// Where the upload data of a job comes from, once it is ready for it.
#[derive(Debug)]
pub enum InputSource {
    /// The DTE streams it after this prompt line (e.g. `+CFTPPUT: BEGIN`), up to Ctrl-Z.
    Dte { prompt: String },
    /// The sink supplies it ([`JobSink::pull`]), e.g. from an EFS file.
    Sink,
}

/// A line waiting on a job, or not: what a sink's `step`/`done` returns.
pub type Resume = Option<Result<Reply, CmdError>>;

/// What the core does with one job's events. Every method may queue URCs.
pub trait JobSink: Send + Debug + 'static {
    type Proto: Protocol;

    /// Payload from the job; `Err` stops the job, which then ends with that error.
    fn data(&mut self, _ctx: &mut Ctx, _data: Vec<u8>, _urcs: &mut Vec<Urc>) -> Result<(), ErrorOf<Self>> {
        Ok(())
    }

    /// The job is ready for upload data.
    fn ready(&mut self, _ctx: &mut Ctx) -> InputSource {
        InputSource::Sink
    }

    /// Next piece of upload data (for [`InputSource::Sink`]); `None` while nothing is
    /// ready; `Err` stops the job, which then ends with that error.
    fn pull(&mut self, _ctx: &mut Ctx) -> Option<Result<JobInput, ErrorOf<Self>>> {
        Some(Ok(JobInput::End))
    }

    /// A session operation finished. For the command line waiting on this job, the
    /// returned result resumes it.
    fn step(&mut self, _ctx: &mut Ctx, _result: Result<StepOf<Self>, ErrorOf<Self>>, _urcs: &mut Vec<Urc>) -> Resume {
        None
    }

    /// The job ended. For the command line waiting on this job, the returned result
    /// resumes it.
    fn done(self, ctx: &mut Ctx, result: Result<(), ErrorOf<Self>>, urcs: &mut Vec<Urc>) -> Resume
    where
        Self: Sized;

    /// The job's events must wait for now (its receive cache would be full with `held`
    /// more bytes, those on their way in a radio frame, until the DTE reads it); the other
    /// jobs go on.
    fn paused(&self, _ctx: &Ctx, _held: usize) -> bool {
        false
    }

    /// `ATO` on the port this job's online data state was left on: the banner to go back
    /// with (and what the bytes are), after queuing what was held meanwhile; `None` (the
    /// default): it cannot be resumed, `NO CARRIER`.
    fn resume(&mut self, _ctx: &mut Ctx, _urcs: &mut Vec<Urc>) -> Option<(String, DataMode)> {
        None
    }

    /// The DTE hung up (DTR dropped under `AT&D2`) while online with this job: what the
    /// job is told. The default, [`JobInput::Close`], closes its connection; a data call
    /// ends at once instead of asking a DTE that has gone to agree.
    fn hung_up(&mut self, _ctx: &mut Ctx) -> JobInput {
        JobInput::Close
    }
}

pub type ErrorOf<S> = <<S as JobSink>::Proto as Protocol>::Error;
pub type StepOf<S> = <<S as JobSink>::Proto as Protocol>::Step;

/// A job's sink with its types erased, as the core keeps it.
pub(crate) trait AnySink: Send + Debug {
    /// `Err` holds the `Result<(), Error>` the job is then stopped with.
    fn data(&mut self, ctx: &mut Ctx, data: Vec<u8>, urcs: &mut Vec<Urc>) -> Result<(), Box<dyn Any + Send>>;
    fn ready(&mut self, ctx: &mut Ctx) -> InputSource;
    fn pull(&mut self, ctx: &mut Ctx) -> Option<Result<JobInput, Box<dyn Any + Send>>>;
    fn step(&mut self, ctx: &mut Ctx, result: Box<dyn Any + Send>, urcs: &mut Vec<Urc>) -> Resume;
    fn done(self: Box<Self>, ctx: &mut Ctx, result: Box<dyn Any + Send>, urcs: &mut Vec<Urc>) -> Resume;
    fn paused(&self, ctx: &Ctx, held: usize) -> bool;
    fn resume(&mut self, ctx: &mut Ctx, urcs: &mut Vec<Urc>) -> Option<(String, DataMode)>;
    fn hung_up(&mut self, ctx: &mut Ctx) -> JobInput;
    /// A scripted event: `step ok <text>` / `step <error>` / `done ok` / `done <error>`.
    #[cfg(any(test, feature = "scripted"))]
    fn script(&self, verb: &str, text: &str) -> Result<JobEvent, String>;
    /// An event from fuzz input.
    #[cfg(any(test, feature = "scripted"))]
    fn fuzz(&self, kind: u8, data: &[u8]) -> JobEvent;
}

#[derive(Debug)]
struct Erased<S>(S);

fn wrong_type(what: &str) {
    error!("a job sent a {what} of another service's type; ignored");
    debug_assert!(false, "job event type mismatch ({what})");
}

impl<S: JobSink> AnySink for Erased<S> {
    fn data(&mut self, ctx: &mut Ctx, data: Vec<u8>, urcs: &mut Vec<Urc>) -> Result<(), Box<dyn Any + Send>> {
        self.0.data(ctx, data, urcs).map_err(|e| Box::new(Err::<(), ErrorOf<S>>(e)) as Box<dyn Any + Send>)
    }

    fn ready(&mut self, ctx: &mut Ctx) -> InputSource {
        self.0.ready(ctx)
    }

    fn pull(&mut self, ctx: &mut Ctx) -> Option<Result<JobInput, Box<dyn Any + Send>>> {
        self.0.pull(ctx).map(|r| r.map_err(|e| Box::new(Err::<(), ErrorOf<S>>(e)) as Box<dyn Any + Send>))
    }

    fn step(&mut self, ctx: &mut Ctx, result: Box<dyn Any + Send>, urcs: &mut Vec<Urc>) -> Resume {
        match result.downcast::<Result<StepOf<S>, ErrorOf<S>>>() {
            Ok(r) => self.0.step(ctx, *r, urcs),
            Err(_) => {
                wrong_type("step");
                None
            }
        }
    }

    fn done(self: Box<Self>, ctx: &mut Ctx, result: Box<dyn Any + Send>, urcs: &mut Vec<Urc>) -> Resume {
        match result.downcast::<Result<(), ErrorOf<S>>>() {
            Ok(r) => self.0.done(ctx, *r, urcs),
            Err(_) => {
                wrong_type("result");
                None
            }
        }
    }

    fn paused(&self, ctx: &Ctx, held: usize) -> bool {
        self.0.paused(ctx, held)
    }

    fn resume(&mut self, ctx: &mut Ctx, urcs: &mut Vec<Urc>) -> Option<(String, DataMode)> {
        self.0.resume(ctx, urcs)
    }

    fn hung_up(&mut self, ctx: &mut Ctx) -> JobInput {
        self.0.hung_up(ctx)
    }

    #[cfg(any(test, feature = "scripted"))]
    fn script(&self, verb: &str, text: &str) -> Result<JobEvent, String> {
        type P<S> = <S as JobSink>::Proto;
        /// `ok [TEXT]` gives `Some(TEXT)`, anything else is an error's text.
        fn outcome(t: &str) -> Option<&str> {
            if t == "ok" { Some("") } else { t.strip_prefix("ok ") }
        }
        Ok(match verb {
            "step" => JobEvent::Step(Box::new(match outcome(text) {
                Some(ok) => Ok(P::<S>::parse_step(ok)?),
                None => Err(P::<S>::parse_error(text)?),
            })),
            "done" => JobEvent::Done(Box::new(match outcome(text) {
                Some(_) => Ok(()),
                None => Err::<(), ErrorOf<S>>(P::<S>::parse_error(text)?),
            })),
            _ => return Err(format!("unknown job event {verb:?}")),
        })
    }

    #[cfg(any(test, feature = "scripted"))]
    fn fuzz(&self, kind: u8, data: &[u8]) -> JobEvent {
        type P<S> = <S as JobSink>::Proto;
        let byte = data.first().copied().unwrap_or(0);
        match kind % 6 {
            0 => JobEvent::Data(data.to_vec()),
            1 => JobEvent::ReadyForInput,
            2 => JobEvent::Step(Box::new(Ok::<_, ErrorOf<S>>(P::<S>::fuzz_step(data)))),
            3 => JobEvent::Step(Box::new(Err::<StepOf<S>, _>(P::<S>::fuzz_error(byte)))),
            4 => JobEvent::Done(Box::new(Ok::<(), ErrorOf<S>>(()))),
            _ => JobEvent::Done(Box::new(Err::<(), _>(P::<S>::fuzz_error(byte)))),
        }
    }
}

/// Blocking work moved off the core's thread, and what the core does with its result.
pub struct Offload {
    pub label: String,
    pub work: Box<dyn FnOnce() -> Box<dyn Any + Send> + Send>,
}

impl Debug for Offload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label)
    }
}

pub type WorkId = u64;
type Continuation = Box<dyn FnOnce(&mut Ctx, Box<dyn Any + Send>, &mut Vec<Urc>) -> Resume + Send>;

/// Bytes of input queued in the core for one job before its data entries hold the DTE
/// back and its senders are refused.
pub const JOB_INPUT_MAX: usize = 256 * 1024;

#[derive(Debug, Default)]
struct InputQueue {
    items: VecDeque<JobInput>,
    bytes: usize,
}

/// One live job: its sink, its label, how it ends when packet service goes, the port it
/// belongs to, and the input waiting for it.
struct Job {
    /// Out of the record while it handles an event.
    sink: Option<Box<dyn AnySink>>,
    label: String,
    on_loss: fn() -> Option<JobEvent>,
    owner: PortId,
    inputs: InputQueue,
    /// Its sink supplies its upload data ([`InputSource::Sink`]).
    pulling: bool,
    /// The DTE hung it up (DTR).
    hung_up: bool,
}

/// Jobs started, running, their pending inputs, and offloaded work (part of [`Ctx`]).
#[derive(Default)]
pub struct JobTable {
    next: JobId,
    pub(crate) to_start: VecDeque<(JobId, JobSpec)>,
    /// Every job started and not ended, by id (in the order they started).
    jobs: BTreeMap<JobId, Job>,
    /// Jobs failed by a loss of packet service, with the event the core gives their sinks.
    pub(crate) lost: Vec<(JobId, JobEvent)>,
    pub(crate) to_abort: Vec<JobId>,
    next_work: WorkId,
    pub(crate) to_offload: VecDeque<(WorkId, Offload)>,
    /// Each offload's continuation, with the port that asked for the work.
    continuations: HashMap<WorkId, (Continuation, PortId)>,
    /// The port on whose behalf code runs now (set by the core): jobs and offloads started
    /// now belong to it.
    pub(crate) origin: PortId,
}

impl Debug for JobTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobTable")
            .field("running", &self.jobs.keys().collect::<Vec<_>>())
            .field("to_start", &self.to_start.len())
            .field("offloads", &self.continuations.len())
            .finish_non_exhaustive()
    }
}

impl JobTable {
    /// Packet service is gone: every live job whose protocol says how ends with its
    /// network error (the core delivers the events and the runner stops the jobs).
    pub fn network_lost(&mut self) {
        for (id, job) in &self.jobs {
            if let Some(ev) = (job.on_loss)() {
                debug!(id, "job ends: packet service lost");
                self.lost.push((*id, ev));
            }
        }
    }

    /// `<id> <label>` of every live job, in the order they started.
    pub fn labels(&self) -> Vec<String> {
        self.jobs.iter().map(|(id, j)| format!("{id} {}", j.label)).collect()
    }

    /// Ask the runner to run `body`; its events go to `sink`. `label` describes the job in
    /// logs and transcripts (no secrets in it).
    pub fn start<S, F, Fut>(&mut self, label: String, sink: S, body: F) -> JobId
    where
        S: JobSink,
        F: FnOnce(JobIo<S::Proto>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.next += 1;
        let id = self.next;
        debug!(id, "job started: {label}");
        let body: JobBody = Box::new(move |link| Box::pin(body(JobIo::new(link))));
        self.to_start.push_back((id, JobSpec { label: label.clone(), body }));
        self.jobs.insert(
            id,
            Job {
                sink: Some(Box::new(Erased(sink))),
                label,
                on_loss: network_lost_event::<S::Proto>,
                owner: self.origin,
                inputs: InputQueue::default(),
                pulling: false,
                hung_up: false,
            },
        );
        id
    }

    /// Queue an input for a running job (one that has ended takes none).
    pub fn send(&mut self, id: JobId, input: JobInput) {
        let Some(job) = self.jobs.get_mut(&id) else {
            debug!(id, "input for a job that has ended dropped");
            return;
        };
        job.inputs.bytes += input.size();
        job.inputs.items.push_back(input);
    }

    /// Queue an operation for a session job speaking `P`.
    pub fn send_op<P: Protocol>(&mut self, id: JobId, op: P::Op) {
        let label = op.to_string();
        self.send(id, JobInput::Op { op: Box::new(op), label });
    }

    /// Bytes queued in the module for job `id`, not yet taken by it.
    pub fn queued(&self, id: JobId) -> usize {
        self.jobs.get(&id).map_or(0, |j| j.inputs.bytes)
    }

    /// Job `id` has as much input waiting as it may.
    pub fn input_full(&self, id: JobId) -> bool {
        self.queued(id) >= JOB_INPUT_MAX
    }

    pub(crate) fn pop_input(&mut self, id: JobId) -> Option<JobInput> {
        let q = &mut self.jobs.get_mut(&id)?.inputs;
        let input = q.items.pop_front()?;
        q.bytes = q.bytes.saturating_sub(input.size());
        Some(input)
    }

    /// Jobs with input waiting in their queue, or whose sink supplies it.
    pub(crate) fn with_input(&self) -> Vec<JobId> {
        self.jobs.iter().filter(|(_, j)| !j.inputs.items.is_empty() || j.pulling).map(|(id, _)| *id).collect()
    }

    /// Whether job `id`'s sink supplies its upload data now.
    pub(crate) fn pulling(&self, id: JobId) -> bool {
        self.jobs.get(&id).is_some_and(|j| j.pulling)
    }

    /// Job `id`'s sink supplies its upload data from now (`true`) or no more.
    pub(crate) fn set_pulling(&mut self, id: JobId, on: bool) {
        if let Some(j) = self.jobs.get_mut(&id) {
            j.pulling = on;
        }
    }

    /// Job `id`'s sink, taken out while it handles an event (see [`JobTable::put_sink`]).
    pub(crate) fn take_sink(&mut self, id: JobId) -> Option<Box<dyn AnySink>> {
        self.jobs.get_mut(&id)?.sink.take()
    }

    /// Job `id`'s sink back, unless the job ended meanwhile (then it is dropped).
    pub(crate) fn put_sink(&mut self, id: JobId, sink: Box<dyn AnySink>) {
        if let Some(j) = self.jobs.get_mut(&id) {
            j.sink = Some(sink);
        }
    }

    /// Job `id`'s sink (in its record).
    #[cfg(any(test, feature = "scripted"))]
    pub(crate) fn sink(&self, id: JobId) -> Option<&dyn AnySink> {
        self.jobs.get(&id)?.sink.as_deref()
    }

    /// Whether job `id` is running with its sink.
    pub(crate) fn has_sink(&self, id: JobId) -> bool {
        self.jobs.get(&id).is_some_and(|j| j.sink.is_some())
    }

    /// The jobs whose sinks are in their records, with them.
    pub(crate) fn sinks(&self) -> impl Iterator<Item = (JobId, &dyn AnySink)> {
        self.jobs.iter().filter_map(|(id, j)| Some((*id, j.sink.as_deref()?)))
    }

    /// Stop a job; its sink is dropped without a `done`.
    pub fn abort(&mut self, id: JobId) {
        if self.jobs.remove(&id).is_some() {
            self.to_abort.push(id);
        }
    }

    /// Job `id` is over: its record and pending inputs go, and it takes no more.
    pub(crate) fn ended(&mut self, id: JobId) {
        self.jobs.remove(&id);
    }

    /// Drop the inputs waiting for job `id` (it stays alive).
    pub fn forget_inputs(&mut self, id: JobId) {
        if let Some(j) = self.jobs.get_mut(&id) {
            j.pulling = false;
            j.inputs = InputQueue::default();
        }
    }

    pub fn is_running(&self, id: JobId) -> bool {
        self.jobs.contains_key(&id)
    }

    /// The DTE hung job `id` up (a DTR drop under `AT&D2`): its sink may ask with
    /// [`JobTable::hung_up`] when it ends.
    pub fn hang_up(&mut self, id: JobId) {
        if let Some(j) = self.jobs.get_mut(&id) {
            j.hung_up = true;
        }
    }

    /// Whether the DTE hung job `id` up.
    pub fn hung_up(&self, id: JobId) -> bool {
        self.jobs.get(&id).is_some_and(|j| j.hung_up)
    }

    /// The port job `id` belongs to, while it runs.
    pub fn owner(&self, id: JobId) -> Option<PortId> {
        self.jobs.get(&id).map(|j| j.owner)
    }

    /// Stop every job (power cycle). Offloaded work still runs to its end (a file being
    /// committed is committed), but its continuation is dropped.
    pub(crate) fn abort_all(&mut self) {
        let running = std::mem::take(&mut self.jobs);
        self.to_abort.extend(running.into_keys());
        self.lost.clear();
        self.to_start.clear();
        self.continuations.clear();
    }

    /// Run `work` off the core's thread (after the offloads queued before it); `then`
    /// gets its result in the core. A line waiting for it (`Then::Offloaded`) resumes with
    /// what `then` returns.
    pub fn offload<R, W, T>(&mut self, label: impl Into<String>, work: W, then: T) -> WorkId
    where
        R: Send + 'static,
        W: FnOnce() -> R + Send + 'static,
        T: FnOnce(&mut Ctx, R, &mut Vec<Urc>) -> Resume + Send + 'static,
    {
        self.next_work += 1;
        let id = self.next_work;
        let work = Box::new(move || Box::new(work()) as Box<dyn Any + Send>);
        self.to_offload.push_back((id, Offload { label: label.into(), work }));
        self.continuations.insert(
            id,
            (
                Box::new(move |ctx, r, urcs| match r.downcast::<R>() {
                    Ok(r) => then(ctx, *r, urcs),
                    Err(_) => {
                        wrong_type("offload result");
                        Some(Err(CmdError::Refused("internal error")))
                    }
                }),
                self.origin,
            ),
        );
        id
    }

    pub(crate) fn take_continuation(&mut self, id: WorkId) -> Option<(Continuation, PortId)> {
        self.continuations.remove(&id)
    }
}
