//! The async pump: the only place that awaits. It moves bytes between a transport and a
//! [`Modem`], sleeps until the modem's next timer, runs the service jobs the modem asks
//! for (feeding their events back and their inputs forward, each with back-pressure),
//! paces the line when asked, and records the trace.

use crate::job::JobLink;
use crate::job::{JobEvent, JobId, JobInput};
use crate::modem::{INPUT_READ_MAX, Modem, Offload, WorkId};
use crate::net::NetConfig;
use crate::transport::pace::Pacer;
use crate::transport::trace::{Dir, Trace, TraceSession};
use std::any::Any;
use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

/// Output gathered from the modem before one write.
const WRITE_BATCH: usize = 64 * 1024;
/// Events in flight from one job to the core.
const EVENT_QUEUE: usize = 8;
/// Inputs in flight from the core to one job.
const INPUT_QUEUE: usize = 8;
/// Output an auxiliary port keeps for a reader that is slow.
const AUX_PENDING_MAX: usize = 16 * 1024;
/// Output a PTY port's reader may leave unread before it is dropped: about two seconds
/// of NMEA sentences.
const AUX_UNREAD_MAX: usize = 1024;
/// Output waiting with no byte of it taken for this long means the DTE is not reading. It
/// counts from the last write that made progress, not from when the batch was taken: a
/// busy DTE that reads a large batch slowly (a loaded machine, a reader behind a
/// transparent-mode echo) is still reading, and treating it as stuck would make the modem
/// drop its input as an overrun. A second is long against any scheduling delay on a loaded
/// machine, and short against a DTE's own write timeout.
const OUTPUT_STUCK_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The DTE side closed (EOF, TCP close, device gone).
    HangUp,
    /// The process was asked to stop.
    Shutdown,
}

/// Per-session options.
pub struct SessionOptions {
    pub pace: bool,
    pub trace: Option<(Arc<Trace>, TraceSession)>,
    /// Called after the answer to `AT+IPR=<rate>` has been written, with the new rate.
    pub on_baud: Option<Box<dyn FnMut(u32) + Send>>,
    /// How jobs reach servers.
    pub net: Arc<NetConfig>,
    /// An auxiliary output port of the modem (the NMEA port) and where it goes.
    pub port: Option<AuxPort>,
    /// Control actions for this session's modem (`--control`).
    pub control: Option<mpsc::Receiver<crate::control::http::Request>>,
    /// The network beyond this modem (a fleet's), and this modem's number on it.
    pub core: Option<(Arc<crate::control::fleet::CoreNetwork>, String)>,
}

/// An auxiliary output port: the modem's output for `name`, written to `out` as it can
/// take it; what it does not take in time is dropped (the modem bounds it too).
pub struct AuxPort {
    name: &'static str,
    out: Box<dyn AsyncWrite + Unpin + Send>,
    pending: Vec<u8>,
    /// The reader's side of a PTY port: output its reader has left unread past
    /// `AUX_UNREAD_MAX` is dropped before new output goes out, so a reader that comes
    /// late (or reads seldom) gets the latest sentences, as from a UART, not a backlog
    /// the kernel kept for it.
    reader_side: Option<std::os::fd::OwnedFd>,
}

impl std::fmt::Debug for AuxPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuxPort").field("name", &self.name).field("pending", &self.pending.len()).finish()
    }
}

impl AuxPort {
    pub fn new(name: &'static str, out: Box<dyn AsyncWrite + Unpin + Send>) -> Self {
        Self { name, out, pending: Vec::new(), reader_side: None }
    }

    /// A PTY port, whose reader's side (`Pty::reader_side`) shows what is left unread.
    pub fn on_pty(mut self, reader_side: std::os::fd::OwnedFd) -> Self {
        self.reader_side = Some(reader_side);
        self
    }

    /// New output: first, what the reader has left unread beyond the bound goes.
    fn take(&mut self, data: &[u8]) {
        if let Some(fd) = &self.reader_side
            && crate::transport::pty::unread(fd).is_some_and(|n| n > AUX_UNREAD_MAX)
        {
            tracing::debug!("auxiliary port {}: unread output dropped", self.name);
            if let Err(e) = crate::transport::pty::drop_unread(fd) {
                tracing::debug!("auxiliary port {}: {e}", self.name);
            }
            self.pending.clear();
        }
        if self.pending.len() < AUX_PENDING_MAX {
            // A reader that does not keep up loses sentences, as on a real UART.
            self.pending.extend_from_slice(data);
        }
    }
}

impl std::fmt::Debug for SessionOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionOptions").field("pace", &self.pace).finish_non_exhaustive()
    }
}

/// Resolves once `stop` is true (never, if its sender is gone without saying so).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

fn is_hangup(e: &io::Error) -> bool {
    // EIO is what a tty master or a vanished serial device reports.
    matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof)
        || e.raw_os_error() == Some(libc::EIO)
}

/// Running jobs of one session, and the offloaded work in progress.
struct RunningJobs {
    /// Each job's own event queue, so one job held back (its receive cache full) does not
    /// hold back the others; polled in turn from `next`.
    events: Vec<(JobId, mpsc::Receiver<(JobId, JobEvent)>)>,
    next: usize,
    inputs: HashMap<JobId, mpsc::Sender<JobInput>>,
    tasks: HashMap<JobId, JoinHandle<()>>,
    /// Told by a job each time it takes an input.
    room: Arc<Notify>,
    /// Some job has input waiting in the modem but no room in its queue.
    starved: bool,
}

/// The offloaded work running now (one at a time, in the order the modem gave it).
#[derive(Default)]
struct Offloads {
    running: Option<(WorkId, JoinHandle<Box<dyn Any + Send>>)>,
}

impl Offloads {
    /// Start the next work item, unless one runs.
    fn start(&mut self, modem: &mut Modem) {
        if self.running.is_none()
            && let Some((id, Offload { label, work })) = modem.poll_offload()
        {
            tracing::debug!(id, "offloaded: {label}");
            self.running = Some((id, tokio::task::spawn_blocking(work)));
        }
    }

    /// Wait for the work in progress.
    async fn done(&mut self) -> (WorkId, Box<dyn Any + Send>) {
        let Some((id, task)) = self.running.as_mut() else { return std::future::pending().await };
        let id = *id;
        let result = match task.await {
            Ok(r) => r,
            // Its continuation gets a result of the wrong type, which it ignores (and
            // logs); the panic itself is in the log already.
            Err(e) => Box::new(format!("offloaded work failed: {e}")),
        };
        self.running = None;
        (id, result)
    }

    /// Finish every offloaded work item, in order, before the session ends: an NV write
    /// or a file being committed is not lost on a clean stop.
    async fn flush(&mut self, modem: &mut Modem) {
        loop {
            self.start(modem);
            if self.running.is_none() {
                return;
            }
            let (id, result) = self.done().await;
            modem.handle_offload_done(id, result, std::time::Instant::now());
        }
    }
}

impl RunningJobs {
    fn new() -> Self {
        Self {
            events: Vec::new(),
            next: 0,
            inputs: HashMap::new(),
            tasks: HashMap::new(),
            room: Arc::new(Notify::new()),
            starved: false,
        }
    }

    /// The next event of a job not in `paused`, taking the jobs in turn.
    fn poll_event(&mut self, cx: &mut Context<'_>, paused: &[JobId]) -> Poll<(JobId, JobEvent)> {
        let n = self.events.len();
        let mut closed = Vec::new();
        let mut found = None;
        for k in 0..n {
            let i = (self.next + k) % n;
            let (id, rx) = &mut self.events[i];
            if paused.contains(id) {
                continue;
            }
            match rx.poll_recv(cx) {
                Poll::Ready(Some(ev)) => {
                    self.next = i + 1;
                    found = Some(ev);
                    break;
                }
                // The task ended (its events were all taken).
                Poll::Ready(None) => closed.push(*id),
                Poll::Pending => {}
            }
        }
        if !closed.is_empty() {
            self.events.retain(|(id, _)| !closed.contains(id));
        }
        found.map_or(Poll::Pending, Poll::Ready)
    }

    /// Start what the modem asked for, stop what it dropped, and move each job's input
    /// forward while that job has room.
    fn sync(&mut self, modem: &mut Modem, net: &Arc<NetConfig>) {
        while let Some((id, spec)) = modem.poll_job() {
            let (tx, rx) = mpsc::channel(INPUT_QUEUE);
            self.inputs.insert(id, tx);
            let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
            self.events.push((id, events_rx));
            let link = JobLink::new(id, events_tx, rx, self.room.clone(), net.clone());
            tracing::debug!(id, "spawning job: {}", spec.label);
            self.tasks.insert(id, tokio::spawn((spec.body)(link)));
        }
        while let Some(id) = modem.poll_job_abort() {
            self.forget(id);
        }
        self.tasks.retain(|_, t| !t.is_finished());
        self.starved = false;
        for id in modem.jobs_with_input() {
            let Some(tx) = self.inputs.get(&id) else { continue };
            loop {
                let Ok(permit) = tx.try_reserve() else {
                    // Full (or gone: then `forget` drops its input with it).
                    self.starved |= !tx.is_closed();
                    break;
                };
                match modem.poll_job_input(id) {
                    Some(input) => permit.send(input),
                    None => break,
                }
            }
        }
    }

    fn forget(&mut self, id: JobId) {
        if let Some(t) = self.tasks.remove(&id) {
            t.abort();
        }
        self.events.retain(|(j, _)| *j != id);
        self.inputs.remove(&id);
    }
}

impl Drop for RunningJobs {
    fn drop(&mut self) {
        for t in self.tasks.values() {
            t.abort();
        }
    }
}

/// Output taken from the modem and not yet all written and flushed to the DTE.
struct Outgoing {
    tx: Vec<u8>,
    sent: usize,
    unflushed: bool,
    /// When the DTE last took some of it (or when it was taken from the modem).
    progress_at: tokio::time::Instant,
}

impl Default for Outgoing {
    fn default() -> Self {
        Self { tx: Vec::new(), sent: 0, unflushed: false, progress_at: tokio::time::Instant::now() }
    }
}

impl Outgoing {
    /// Everything was written and flushed.
    fn idle(&self) -> bool {
        self.sent == self.tx.len() && !self.unflushed
    }

    fn left(&self) -> usize {
        self.tx.len() - self.sent
    }

    /// The modem's next output, up to [`WRITE_BATCH`] gathered into one write.
    fn take(&mut self, modem: &mut Modem) {
        self.tx = modem.poll_transmit().unwrap_or_default();
        while self.tx.len() < WRITE_BATCH {
            match modem.poll_transmit() {
                Some(more) => self.tx.extend_from_slice(&more),
                None => break,
            }
        }
        self.sent = 0;
        self.progress_at = tokio::time::Instant::now();
    }

    /// One output step: flush what was written (`None`), or write the next `piece` bytes.
    async fn step<W: AsyncWrite + Unpin>(&self, wr: &mut W, piece: usize) -> io::Result<Option<usize>> {
        if self.unflushed {
            wr.flush().await.map(|()| None)
        } else {
            wr.write(&self.tx[self.sent..self.sent + piece]).await.map(Some)
        }
    }

    /// Accounts for a finished step (`pace`: the line pacer and rate with --pace); the end
    /// of the session when the DTE has hung up.
    fn wrote(&mut self, r: io::Result<Option<usize>>, pace: Option<(&mut Pacer, u32)>) -> io::Result<Option<End>> {
        match r {
            Ok(None) => self.unflushed = false,
            Ok(Some(0)) => return Ok(Some(End::HangUp)),
            Ok(Some(n)) => {
                self.sent += n;
                self.unflushed = true;
                if let Some((pacer, baud)) = pace {
                    pacer.account(n, baud);
                }
            }
            Err(e) if is_hangup(&e) => return Ok(Some(End::HangUp)),
            Err(e) => return Err(e),
        }
        self.progress_at = tokio::time::Instant::now();
        Ok(None)
    }
}

/// `fut`'s output if it is ready at its first poll; otherwise it is dropped (a write or
/// flush future then has done nothing, as tokio documents them cancel-safe).
async fn ready_now<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        Poll::Ready(match fut.as_mut().poll(cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        })
    })
    .await
}

/// Run `modem` over `rd`/`wr` until hang-up or `stop` turns true.
///
/// Reading and writing go on side by side: a DTE that stops reading never stops the modem
/// from reading it (the modem bounds what it keeps, see [`Modem::handle_input`]), and a DTE
/// that stops writing never stops its answers.
pub async fn run<R, W>(
    mut rd: R,
    mut wr: W,
    mut modem: Modem,
    mut s: SessionOptions,
    mut stop: watch::Receiver<bool>,
) -> io::Result<End>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; INPUT_READ_MAX];
    let mut out = Outgoing::default();
    let mut tx_pace = Pacer::default();
    let mut rx_pace = Pacer::default();
    let mut baud = modem.baud();
    let mut jobs = RunningJobs::new();
    let mut offloads = Offloads::default();
    let result = loop {
        if out.idle() {
            // What was written before an `AT+IPR` answer went out at the old rate.
            if modem.baud() != baud {
                baud = modem.baud();
                if let Some(f) = s.on_baud.as_mut() {
                    f(baud);
                }
            }
            out.take(&mut modem);
            if let Some((t, ts)) = s.trace.as_mut()
                && !out.tx.is_empty()
            {
                t.record(ts, Dir::Out, &out.tx);
            }
        }
        while let Some(msg) = modem.poll_uplink() {
            if let Some((core, own)) = &s.core {
                core.send(own, msg);
            }
        }
        while let Some(note) = modem.poll_note() {
            if let Some((t, ts)) = s.trace.as_mut() {
                t.note(ts, &note);
            }
        }
        jobs.sync(&mut modem, &s.net);
        offloads.start(&mut modem);
        if let Some(p) = s.port.as_mut()
            && let Some(data) = modem.poll_aux(p.name)
        {
            p.take(&data);
        }
        let aux = s.port.as_mut().filter(|p| !p.pending.is_empty());
        let aux_write = async {
            match aux {
                Some(p) => {
                    let r = p.out.write(&p.pending).await;
                    (p, r)
                }
                None => std::future::pending().await,
            }
        };
        let deadline = modem.poll_timeout().map(tokio::time::Instant::from_std);
        // One output step: flush what was written, or write the next piece (with --pace,
        // at most ~10 ms of line time, once the line is free).
        let writing = !out.idle();
        let piece = if s.pace { out.left().min(Pacer::chunk(baud)) } else { out.left() };
        let line_free = !s.pace || out.unflushed || tx_pace.is_free();
        // Output the DTE has not taken for a while: it is not reading. Before input is
        // read (and maybe dropped) on that ground, the write gets one more try: the modem
        // itself may have been held off the CPU past the deadline while the DTE read.
        let mut output_stuck = writing && out.progress_at.elapsed() > OUTPUT_STUCK_AFTER;
        if output_stuck
            && line_free
            && let Some(r) = ready_now(out.step(&mut wr, piece)).await
        {
            if let Some(end) = out.wrote(r, s.pace.then_some((&mut tx_pace, baud)))? {
                break end;
            }
            output_stuck = false;
        }
        // Back-pressure: no DTE input while an upload's job cannot take more, no job
        // events while the DTE has not taken the output already waiting; a job's input
        // waits in the modem while that job's queue is full.
        let input_blocked = !modem.wants_input(output_stuck);
        let accepting = modem.accepting_events();
        let paused = modem.paused_jobs();
        let room = jobs.room.clone();
        let read_max = if s.pace { Pacer::chunk(baud).min(buf.len()) } else { buf.len() };
        tokio::select! {
            r = out.step(&mut wr, piece), if writing && line_free => {
                if let Some(end) = out.wrote(r, s.pace.then_some((&mut tx_pace, baud)))? {
                    break end;
                }
            }
            () = tx_pace.free(), if writing && !line_free => {}
            // Wake when waiting output would count as stuck, so blocked input is read again.
            () = tokio::time::sleep_until(out.progress_at + OUTPUT_STUCK_AFTER), if input_blocked && writing && !output_stuck => {}
            r = rd.read(&mut buf[..read_max]), if !input_blocked => match r {
                Ok(0) => break End::HangUp,
                Ok(n) => {
                    if s.pace {
                        rx_pace.wait(n, baud).await;
                    }
                    if let Some((t, ts)) = s.trace.as_mut() {
                        t.record(ts, Dir::In, &buf[..n]);
                    }
                    modem.handle_input(&buf[..n], std::time::Instant::now());
                }
                Err(e) if is_hangup(&e) => break End::HangUp,
                Err(e) => return Err(e),
            },
            (id, ev) = std::future::poll_fn(|cx| jobs.poll_event(cx, &paused)), if accepting => {
                if matches!(ev, JobEvent::Done(_)) {
                    jobs.forget(id);
                }
                modem.handle_job_event(id, ev, std::time::Instant::now());
            }
            () = room.notified(), if jobs.starved => {}
            (id, result) = offloads.done() => {
                modem.handle_offload_done(id, result, std::time::Instant::now());
            }
            _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {
                modem.handle_timeout(std::time::Instant::now());
            }
            (p, r) = aux_write => match r {
                Ok(n) => {
                    p.pending.drain(..n);
                }
                Err(e) => {
                    tracing::debug!("auxiliary port {}: {e}; its output is dropped", p.name);
                    p.pending.clear();
                }
            },
            Some((c, reply)) = async {
                match s.control.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                if let Some((t, ts)) = s.trace.as_mut()
                    && !c.is_query()
                {
                    t.note(ts, &format!("control: {}", c.describe()));
                }
                let _ = reply.send(crate::control::handle(&mut modem, std::time::Instant::now(), c));
            }
            () = stopped(&mut stop) => break End::Shutdown,
        }
    };
    offloads.flush(&mut modem).await;
    if let Some((t, ts)) = s.trace.as_mut() {
        t.flush(ts);
    }
    Ok(result)
}
