//! The async pump: the only place that awaits. It moves bytes between a transport and a
//! [`Modem`], sleeps until the modem's next timer, runs the service jobs the modem asks
//! for (feeding their events back and their inputs forward, each with back-pressure),
//! paces the line when asked, and records the trace.

use crate::job::JobLink;
use crate::job::{JobEvent, JobId, JobInput};
use crate::modem::settings::SerialLine;
use crate::modem::{INPUT_READ_MAX, Modem, Offload, PortId, PortRole, WorkId};
use crate::net::NetConfig;
use crate::transport::pace::Pacer;
use crate::transport::trace::{Dir, Trace, TraceSession};
use std::any::Any;
use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
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

/// Told a serial device's new settings (`AT+IPR`, `AT+IFC`) once the answer is out.
pub type LineHook = Box<dyn FnMut(SerialLine) + Send>;

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
    /// Called after the answer to `AT+IPR=<rate>` or `AT+IFC=...` has been written, with
    /// the serial device's new settings.
    pub on_line: Option<LineHook>,
    /// How jobs reach servers.
    pub net: Arc<NetConfig>,
    /// An auxiliary output port of the modem (the NMEA port) and where it goes.
    pub port: Option<AuxPort>,
    /// Control actions for this session's modem (`--control`).
    pub control: Option<mpsc::Receiver<crate::control::http::Request>>,
    /// The network beyond this modem (a fleet's), and this modem's number on it.
    pub core: Option<(Arc<crate::control::fleet::CoreNetwork>, String)>,
    /// The one port's PTY master, to watch DTR on (the UART view on a PTY).
    pub dtr: Option<std::os::fd::OwnedFd>,
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

    /// Port `p`'s next output from the modem, up to [`WRITE_BATCH`] gathered into one
    /// write.
    fn take(&mut self, modem: &mut Modem, p: PortId) {
        self.tx = modem.poll_transmit_on(p).unwrap_or_default();
        while self.tx.len() < WRITE_BATCH {
            match modem.poll_transmit_on(p) {
                Some(more) => self.tx.extend_from_slice(&more),
                None => break,
            }
        }
        self.sent = 0;
        self.progress_at = tokio::time::Instant::now();
    }

    /// One output step: flush what was written (`None`), or write the next `piece` bytes.
    fn poll_step<W: AsyncWrite + Unpin + ?Sized>(
        &self,
        wr: &mut W,
        cx: &mut Context<'_>,
        piece: usize,
    ) -> Poll<io::Result<Option<usize>>> {
        if self.unflushed {
            Pin::new(wr).poll_flush(cx).map_ok(|()| None)
        } else {
            Pin::new(wr).poll_write(cx, &self.tx[self.sent..self.sent + piece]).map_ok(Some)
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

/// One AT port's transport: where its DTE's bytes come from and its answers go.
pub struct PortIo {
    role: PortRole,
    rd: Box<dyn AsyncRead + Unpin + Send>,
    wr: Box<dyn AsyncWrite + Unpin + Send>,
    /// Called after the answer to `AT+IPR=<rate>` or `AT+IFC` has been written.
    on_line: Option<LineHook>,
    /// A PTY master whose termios shows the DTE's line settings: speed 0 is DTR dropped.
    dtr: Option<std::os::fd::OwnedFd>,
}

impl std::fmt::Debug for PortIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortIo").field("role", &self.role).finish_non_exhaustive()
    }
}

impl PortIo {
    pub fn new<R, W>(role: PortRole, rd: R, wr: W) -> Self
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        Self { role, rd: Box::new(rd), wr: Box::new(wr), on_line: None, dtr: None }
    }

    /// With DTR watched on this PTY master (see [`DTR_POLL`]).
    pub fn watch_dtr(mut self, master: std::os::fd::OwnedFd) -> Self {
        self.dtr = Some(master);
        self
    }

    /// With a hook told each new `AT+IPR` rate or `AT+IFC` setting once its answer is out
    /// (a serial device).
    pub fn on_line(mut self, f: LineHook) -> Self {
        self.on_line = Some(f);
        self
    }
}

/// How often a PTY port's DTR is looked at while it is in the online data state. A PTY
/// tells a DTE's DTR drop (pppd's hang-up, ModemManager's flash: the line speed set to 0)
/// only through its termios, with no event, so it is polled.
pub const DTR_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// A port as the pump drives it.
struct Line {
    io: PortIo,
    out: Outgoing,
    buf: Vec<u8>,
    tx_pace: Pacer,
    rx_pace: Pacer,
    baud: u32,
    /// The serial settings last given to `io.on_line`.
    serial: SerialLine,
    trace: Option<TraceSession>,
    /// Its DTE hung up (a port of several): no more reads or writes.
    gone: bool,
    /// In a framed (PPP) data mode: each direction decoded for the trace.
    decoders: Option<[ppp::TraceDecoder; 2]>,
    /// Multiplexed (`AT+CMUX`): the frames decoded for the trace, and each channel's own
    /// trace lines.
    mux_trace: Option<MuxTrace>,
    /// DTR was seen dropped (speed 0) at the last look.
    dtr_low: bool,
    // This turn's view (see `Line::plan`).
    writing: bool,
    piece: usize,
    line_free: bool,
    input_blocked: bool,
    output_stuck: bool,
}

impl Line {
    /// This turn's view of the port: what it may write, whether it reads.
    fn plan(&mut self, modem: &Modem, p: PortId, pace: bool) {
        self.writing = !self.gone && !self.out.idle();
        self.piece = if pace { self.out.left().min(Pacer::chunk(self.baud)) } else { self.out.left() };
        self.line_free = !pace || self.out.unflushed || self.tx_pace.is_free();
        // Output the DTE has not taken for a while: it is not reading.
        self.output_stuck = self.writing && self.out.progress_at.elapsed() > OUTPUT_STUCK_AFTER;
        self.input_blocked = self.gone || !modem.wants_input_on(p, self.output_stuck);
    }
}

/// What happened on one of the ports.
enum PortEvent {
    Wrote(PortId, io::Result<Option<usize>>),
    Read(PortId, io::Result<usize>),
}

/// The next thing a port has for the pump, taking the ports in turn from `start`.
fn poll_ports(lines: &mut [Line], start: usize, read_max: &[usize], cx: &mut Context<'_>) -> Poll<PortEvent> {
    let n = lines.len();
    for k in 0..n {
        let p = (start + k) % n;
        let line = &mut lines[p];
        if line.writing
            && line.line_free
            && let Poll::Ready(r) = line.out.poll_step(&mut *line.io.wr, cx, line.piece)
        {
            return Poll::Ready(PortEvent::Wrote(p, r));
        }
        if !line.input_blocked {
            let mut rb = ReadBuf::new(&mut line.buf[..read_max[p]]);
            if let Poll::Ready(r) = Pin::new(&mut *line.io.rd).poll_read(cx, &mut rb) {
                return Poll::Ready(PortEvent::Read(p, r.map(|()| rb.filled().len())));
            }
        }
    }
    Poll::Pending
}

/// `poll`'s result if it is ready at its first call (the runner tries a stuck write once
/// more before it drops input on that ground).
async fn ready_now<T>(mut poll: impl FnMut(&mut Context<'_>) -> Poll<T>) -> Option<T> {
    std::future::poll_fn(|cx| {
        Poll::Ready(match poll(cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        })
    })
    .await
}

/// Run `modem` over `rd`/`wr` (its one port) until hang-up or `stop` turns true.
pub async fn run<R, W>(
    rd: R,
    wr: W,
    modem: Modem,
    mut s: SessionOptions,
    stop: watch::Receiver<bool>,
) -> io::Result<End>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let role = modem.port_roles().first().copied().unwrap_or(PortRole::Uart);
    let mut port = PortIo::new(role, rd, wr);
    port.on_line = s.on_line.take();
    port.dtr = s.dtr.take();
    run_ports(vec![port], modem, s, stop).await
}

/// Run `modem` over its ports (one [`PortIo`] per AT port, in the modem's order) until
/// `stop` turns true, or until the DTE of a one-port modem hangs up (of several ports, one
/// that hangs up is only closed).
///
/// Reading and writing go on side by side, on every port: a DTE that stops reading never
/// stops the modem from reading it (the modem bounds what it keeps, see
/// [`Modem::handle_input_on`]), a DTE that stops writing never stops its answers, and a
/// port nobody reads never holds up another.
pub async fn run_ports(
    ports: Vec<PortIo>,
    mut modem: Modem,
    mut s: SessionOptions,
    mut stop: watch::Receiver<bool>,
) -> io::Result<End> {
    let several = ports.len() > 1;
    let mut lines: Vec<Line> = ports
        .into_iter()
        .enumerate()
        .map(|(p, io)| {
            // With several ports each has its own trace lines, named by its role.
            let trace = s.trace.as_ref().filter(|_| several).map(|(t, ts)| t.port_session(ts, &io.role.name()));
            Line {
                io,
                out: Outgoing::default(),
                buf: vec![0u8; INPUT_READ_MAX],
                tx_pace: Pacer::default(),
                rx_pace: Pacer::default(),
                baud: modem.baud_on(p),
                serial: modem.serial_line_on(p),
                trace,
                gone: false,
                decoders: None,
                mux_trace: None,
                dtr_low: false,
                writing: false,
                piece: 0,
                line_free: true,
                input_blocked: false,
                output_stuck: false,
            }
        })
        .collect();
    let mut jobs = RunningJobs::new();
    let mut offloads = Offloads::default();
    let mut turn = 0usize;
    let result = loop {
        for (p, line) in lines.iter_mut().enumerate() {
            if line.out.idle() && !line.gone {
                // What was written before an `AT+IPR` (or `AT+IFC`) answer went out with
                // the old settings.
                line.baud = modem.baud_on(p);
                let serial = modem.serial_line_on(p);
                if serial != line.serial {
                    line.serial = serial;
                    if let Some(f) = line.io.on_line.as_mut() {
                        f(serial);
                    }
                }
                line.out.take(&mut modem, p);
                if !line.out.tx.is_empty() {
                    let tx = std::mem::take(&mut line.out.tx);
                    trace_bytes(&mut s.trace, line, &modem, p, Dir::Out, &tx);
                    line.out.tx = tx;
                }
            }
        }
        while let Some(msg) = modem.poll_uplink() {
            if let Some((core, own)) = &s.core {
                core.send(own, msg);
            }
        }
        while let Some(note) = modem.poll_note() {
            note_trace(&mut s.trace, &mut lines, &note);
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
        let mut ended = None;
        for (p, line) in lines.iter_mut().enumerate() {
            line.plan(&modem, p, s.pace);
            // Before input is read (and maybe dropped) because the DTE seems not to read,
            // the write gets one more try: the modem itself may have been held off the CPU
            // past the deadline while the DTE read.
            if line.output_stuck && line.line_free {
                let piece = line.piece;
                let (out, wr) = (&line.out, &mut line.io.wr);
                if let Some(r) = ready_now(|cx| out.poll_step(&mut **wr, cx, piece)).await {
                    if let Some(end) = line.out.wrote(r, s.pace.then_some((&mut line.tx_pace, line.baud)))? {
                        ended = Some((p, end));
                        break;
                    }
                    line.plan(&modem, p, s.pace);
                    line.output_stuck = false;
                    line.input_blocked = line.gone || !modem.wants_input_on(p, false);
                }
            }
        }
        if let Some((p, end)) = ended {
            if !several {
                break end;
            }
            port_gone(&mut lines[p]);
            continue;
        }
        // Back-pressure: no DTE input while an upload's job cannot take more, no job
        // events while the DTE has not taken the output already waiting; a job's input
        // waits in the modem while that job's queue is full.
        let accepting = modem.accepting_events();
        let paused = modem.paused_jobs();
        let room = jobs.room.clone();
        let read_max: Vec<usize> =
            lines.iter().map(|l| if s.pace { Pacer::chunk(l.baud).min(l.buf.len()) } else { l.buf.len() }).collect();
        // Wake when waiting output would count as stuck, so blocked input is read again.
        let stuck_at = lines
            .iter()
            .filter(|l| l.input_blocked && l.writing && !l.output_stuck && !l.gone)
            .map(|l| l.out.progress_at + OUTPUT_STUCK_AFTER)
            .min();
        // With --pace: when the first line that holds output back is free again.
        let pace_free_at = lines.iter().filter(|l| l.writing && !l.line_free).map(|l| l.tx_pace.free_at()).min();
        turn = turn.wrapping_add(1);
        let start = turn % lines.len();
        // A PTY port in the online data state has its DTR looked at every DTR_POLL.
        let watch_dtr = lines.iter().enumerate().any(|(p, l)| l.io.dtr.is_some() && modem.in_data_mode_on(p));
        tokio::select! {
            ev = std::future::poll_fn(|cx| poll_ports(&mut lines, start, &read_max, cx)) => match ev {
                PortEvent::Wrote(p, r) => {
                    let line = &mut lines[p];
                    match line.out.wrote(r, s.pace.then_some((&mut line.tx_pace, line.baud))) {
                        Ok(None) => {}
                        Ok(Some(end)) if !several => break end,
                        Ok(Some(_)) => port_gone(line),
                        Err(e) => return Err(e),
                    }
                }
                PortEvent::Read(p, r) => match r {
                    Ok(0) if !several => break End::HangUp,
                    Ok(0) => port_gone(&mut lines[p]),
                    Ok(n) => {
                        let line = &mut lines[p];
                        if s.pace {
                            line.rx_pace.wait(n, line.baud).await;
                        }
                        let data = line.buf[..n].to_vec();
                        trace_bytes(&mut s.trace, line, &modem, p, Dir::In, &data);
                        modem.handle_input_on(p, &data, std::time::Instant::now());
                    }
                    Err(e) if is_hangup(&e) && !several => break End::HangUp,
                    Err(e) if is_hangup(&e) => port_gone(&mut lines[p]),
                    Err(e) => return Err(e),
                },
            },
            () = async { match pace_free_at { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {}
            () = async { match stuck_at { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {}
            (id, ev) = std::future::poll_fn(|cx| jobs.poll_event(cx, &paused)), if accepting => {
                if matches!(ev, JobEvent::Done(_)) {
                    jobs.forget(id);
                }
                modem.handle_job_event(id, ev, std::time::Instant::now());
            }
            () = room.notified(), if jobs.starved => {}
            () = tokio::time::sleep(DTR_POLL), if watch_dtr => {
                for (p, line) in lines.iter_mut().enumerate() {
                    let Some(fd) = &line.io.dtr else { continue };
                    let low = modem.in_data_mode_on(p) && dtr_dropped(fd);
                    if low && !line.dtr_low {
                        modem.dtr_off_on(p, std::time::Instant::now());
                    }
                    line.dtr_low = low;
                }
            }
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
                if !c.is_query() {
                    note_trace(&mut s.trace, &mut lines, &format!("control: {}", c.describe()));
                }
                let _ = reply.send(crate::control::handle(&mut modem, std::time::Instant::now(), c));
            }
            () = stopped(&mut stop) => break End::Shutdown,
        }
    };
    offloads.flush(&mut modem).await;
    if let Some((t, _)) = s.trace.as_ref() {
        for line in &mut lines {
            if let Some(ts) = line.trace.as_mut() {
                t.flush(ts);
            }
        }
    }
    if let Some((t, ts)) = s.trace.as_mut() {
        t.flush(ts);
    }
    Ok(result)
}

/// Whether the PTY's line speed is 0 (the DTE dropped DTR).
fn dtr_dropped(master: &std::os::fd::OwnedFd) -> bool {
    nix::sys::termios::tcgetattr(master)
        .is_ok_and(|t| nix::sys::termios::cfgetospeed(&t) == nix::sys::termios::BaudRate::B0)
}

/// Record `bytes` of port `p` in the trace (its own session with several ports): as they
/// are, or, while the port carries PPP, one decoded line per frame (what is no frame, a
/// `CONNECT` before the first or a `+++` between two, as it is).
fn trace_bytes(
    trace: &mut Option<(Arc<Trace>, TraceSession)>,
    line: &mut Line,
    modem: &Modem,
    p: PortId,
    dir: Dir,
    bytes: &[u8],
) {
    let Some((t, ts)) = trace.as_mut() else { return };
    let ts = line.trace.as_mut().unwrap_or(ts);
    let muxed = modem.mux_on(p);
    if muxed || (line.mux_trace.is_some() && bytes.first() == Some(&cmux::FLAG)) {
        let fresh = line.mux_trace.is_none();
        let mt = line.mux_trace.get_or_insert_with(MuxTrace::default);
        let mut bytes = bytes;
        let mut after = &[][..];
        if fresh {
            // What went out before the multiplexer started (the `OK` of `AT+CMUX`).
            let text = bytes.iter().position(|b| *b == cmux::FLAG).unwrap_or(bytes.len());
            if text > 0 {
                t.record(ts, dir, &bytes[..text]);
                bytes = &bytes[text..];
            }
        }
        if !muxed {
            // The last frames (the close-down's answer), then AT text again.
            let end = bytes.iter().rposition(|b| *b == cmux::FLAG).map_or(0, |i| i + 1);
            (bytes, after) = bytes.split_at(end);
        }
        for item in mt.frames[dir as usize].feed(bytes) {
            match item {
                cmux::TraceItem::Frame(text) => t.decoded(ts, dir, &format!("MUX {text}")),
                cmux::TraceItem::Data(dlci, data) => {
                    let ch = mt.channels.entry(dlci).or_insert_with(|| ChannelTrace {
                        session: t.port_session(ts, &crate::modem::PortRole::Mux(dlci).name()),
                        ppp: None,
                    });
                    if modem.mux_channel_mode(dlci) == Some(crate::modem::DataMode::Hdlc) {
                        let d = ch.ppp.get_or_insert_with(|| [ppp::TraceDecoder::new(), ppp::TraceDecoder::new()]);
                        trace_ppp(t, &mut ch.session, &mut d[dir as usize], dir, &data);
                    } else {
                        ch.ppp = None;
                        t.record(&mut ch.session, dir, &data);
                    }
                }
            }
        }
        if muxed {
            return;
        }
        line.mux_trace = None;
        if !after.is_empty() {
            t.record(ts, dir, after);
        }
        return;
    }
    line.mux_trace = None;
    if modem.data_mode_on(p) != Some(crate::modem::DataMode::Hdlc) {
        line.decoders = None;
        t.record(ts, dir, bytes);
        return;
    }
    let decoders = line.decoders.get_or_insert_with(|| [ppp::TraceDecoder::new(), ppp::TraceDecoder::new()]);
    trace_ppp(t, ts, &mut decoders[dir as usize], dir, bytes);
}

/// A multiplexed port in the trace: the frames of each direction, each channel's lines.
#[derive(Default)]
struct MuxTrace {
    frames: [cmux::TraceDecoder; 2],
    channels: std::collections::BTreeMap<u8, ChannelTrace>,
}

struct ChannelTrace {
    session: TraceSession,
    ppp: Option<[ppp::TraceDecoder; 2]>,
}

/// PPP bytes in one direction as trace lines: text between frames (a `CONNECT`, a typed
/// `AT`) as it is, each frame decoded.
fn trace_ppp(t: &Trace, ts: &mut TraceSession, d: &mut ppp::TraceDecoder, dir: Dir, bytes: &[u8]) {
    let mut rest = bytes;
    if d.between_frames() {
        // Text up to a flag or the end is no PPP (the `CONNECT` line, a `+++`, a typed
        // `AT`); a frame starts with a flag or a binary address or protocol byte.
        let text = rest
            .iter()
            .take_while(|b| **b != ppp::hdlc::FLAG && (b.is_ascii_graphic() || matches!(b, b' ' | b'\r' | b'\n')))
            .count();
        if text > 0 && rest.get(text).is_none_or(|b| *b == ppp::hdlc::FLAG) {
            t.record(ts, dir, &rest[..text]);
            rest = &rest[text..];
        }
    }
    for text in d.feed(rest) {
        t.decoded(ts, dir, &format!("PPP {text}"));
    }
}

/// A note in the trace, after every port's partial lines.
fn note_trace(trace: &mut Option<(Arc<Trace>, TraceSession)>, lines: &mut [Line], note: &str) {
    if let Some((t, ts)) = trace.as_mut() {
        for ps in lines.iter_mut().filter_map(|l| l.trace.as_mut()) {
            t.flush(ps);
        }
        t.note(ts, note);
    }
}

/// One port of several hung up: it takes no more reads or writes; the others go on.
fn port_gone(line: &mut Line) {
    tracing::info!(port = %line.io.role, "the port's DTE hung up; the port is closed");
    line.gone = true;
    line.out = Outgoing::default();
}
