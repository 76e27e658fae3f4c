//! The sans-IO core: bytes and time in, bytes out. No sockets, no sleeps, no threads.
//!
//! The runner feeds [`Modem::handle_input`] and [`Modem::handle_timeout`], writes whatever
//! [`Modem::poll_transmit`] gives, and sleeps until [`Modem::poll_timeout`].
//!
//! Life of a command line: the [`LineDiscipline`] echoes and assembles it; [`parse_line`]
//! splits it into invocations; each is looked up in the [`table`] and its handler returns
//! a [`Reply`] or a [`CmdError`]; the [`v250::Framing`] of the current settings frames the
//! answer; after the last invocation comes one final `OK` (or the first error ends the
//! line). A handler may open a `>`/`>>` prompt or a long streamed answer; the rest of the
//! line resumes when that completes. URCs wait in a queue while a line runs or a prompt is
//! open and are released at the next quiet point.

pub mod clock;
mod error;
pub mod redact;
mod reply;
pub mod service;
pub mod settings;
pub mod table;

pub use clock::{ModuleClock, WallClock};
pub use error::{CmdError, CmeError};
pub use reply::{DataSink, OutputStream, Reply, TextSink, Then};
pub use service::{InputSource, JobId, JobInput, JobSink, JobSpec, Jobs, Op, ServiceEvent, Urc};
pub use settings::{Nv, Settings};

use crate::efs::{Efs, EfsError, Store};
use crate::network::NetState;
use crate::profile::Profile;
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};
use v250::{Args, Event, Form, LineDiscipline, ResultCode, parse_line};

/// DTE input waiting to be interpreted (while a streamed answer is sent, a line waits for a
/// job, or the DTE does not read its answers), as a UART receive FIFO holds it; past it,
/// input is dropped and counted, as an overrun would drop it.
const RX_MAX: usize = 64 * 1024;
/// While this much output waits unsent (the DTE is not reading), echo is dropped.
const ECHO_BACKLOG_MAX: usize = 32 * 1024;
/// While this much output waits unsent, input is not interpreted: it stays in the FIFO, so
/// answers never pile up without bound (and are never dropped).
const ANSWER_BACKLOG_MAX: usize = 48 * 1024;
/// Queued URCs move to the output only while less than this waits unsent; `DATA` blocks of
/// a download go a few at a time.
const RELEASE_BACKLOG_MAX: usize = 16 * 1024;
/// Largest piece [`Modem::poll_transmit`] hands out, so what waits beyond one write stays
/// in the modem, where it counts as backlog.
const TRANSMIT_MAX: usize = 64 * 1024;

/// NV key of the AT&W user profile.
const NV_PROFILE: &str = "profile.json";

/// Service events are taken only while fewer URC bytes than this wait to be sent, so a
/// DTE that reads slowly slows the server instead of filling memory.
const URC_BACKLOG_MAX: usize = 256 * 1024;

/// State the command handlers work on.
#[derive(Debug)]
pub struct Ctx {
    pub settings: Settings,
    pub profile: Profile,
    pub net: NetState,
    pub efs: Efs,
    pub nv: Box<dyn Nv>,
    pub clock: ModuleClock,
    /// Set by a handler to restart the module once the line's answer is out.
    pub reboot: bool,
    /// URCs raised by handlers, released after the line.
    pub urcs: Vec<Urc>,
    /// Network jobs and their sinks.
    pub jobs: Jobs,
    /// FTP and FTPS services.
    pub ftp: crate::service::ftp::FtpState,
    /// HTTP (`AT+CHTTPACT`) and HTTPS (`AT+CHTTPS*`) services.
    pub http: crate::service::http::HttpState,
    pub https: crate::service::https::HttpsState,
    /// E-mail.
    pub smtp: crate::service::smtp::SmtpState,
    pub pop3: crate::service::pop3::Pop3State,
}

impl Ctx {
    /// The AT&W profile saved in NV, if any (a damaged one is ignored and logged).
    pub fn saved_profile(&self) -> Option<settings::UserProfile> {
        let raw = self.nv.load(NV_PROFILE)?;
        match serde_json::from_slice(&raw) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!("ignoring damaged saved profile: {e}");
                None
            }
        }
    }

    pub fn save_profile(&mut self) -> std::io::Result<()> {
        let json = serde_json::to_vec(&self.settings.profile()).map_err(std::io::Error::other)?;
        self.nv.save(NV_PROFILE, &json)
    }
}

/// What a [`Modem`] is built from.
#[derive(Debug)]
pub struct ModemConfig {
    pub profile: Profile,
    /// Time from power-on to the last boot URC (`PB DONE`).
    pub boot_delay: Duration,
    /// SIM PIN; `None` means the SIM is not PIN-locked.
    pub pin: Option<String>,
    /// Starting baud rate (AT+IPR).
    pub baud: u32,
    pub store: Box<dyn Store>,
    pub nv: Box<dyn Nv>,
}

#[derive(Debug)]
enum Active {
    Idle,
    Data {
        sink: Box<dyn DataSink>,
        err: Option<CmdError>,
    },
    Text(Box<dyn TextSink>),
    Stream(Box<dyn OutputStream>),
    /// The line waits for a job's result.
    Wait(JobId),
    /// The DTE streams upload data to a job, up to Ctrl-Z.
    Upload(JobId),
    /// The job of an upload ended early: the rest of the DTE's data, up to Ctrl-Z, is
    /// swallowed (never taken for commands), then the line gets this result.
    Drain(Result<Reply, CmdError>),
}

#[derive(Debug)]
struct Boot {
    start: Instant,
    delay: Duration,
    urcs: Vec<&'static str>,
    next: usize,
}

impl Boot {
    /// URC `i` of `n` comes at 30 % of the delay for the first, 100 % for the last.
    fn due(&self, i: usize) -> Instant {
        let n = self.urcs.len().max(2) - 1;
        let frac = 0.3 + 0.7 * (i as f64 / n as f64);
        self.start + self.delay.mul_f64(frac)
    }
}

/// A queued invocation of the current command line.
#[derive(Debug)]
struct Pending {
    name: String,
    form: Form,
    args: Vec<u8>,
}

/// The virtual module. See the module documentation.
#[derive(Debug)]
pub struct Modem {
    ld: LineDiscipline,
    ctx: Ctx,
    out: Vec<u8>,
    urcs: VecDeque<Urc>,
    urc_bytes: usize,
    boot: Boot,
    /// Commands are accepted once the first boot URC is out.
    awake: bool,
    queue: VecDeque<Pending>,
    active: Active,
    /// DTE input not yet interpreted (bounded by [`RX_MAX`]).
    rx: VecDeque<u8>,
    /// Input bytes lost to a full receive FIFO, and echo bytes dropped, since power-on.
    dropped_input: u64,
    dropped_echo: u64,
    last_line: Vec<u8>,
    now: Instant,
}

impl Modem {
    /// Power on at `now`. Fails only if the EFS cannot be prepared.
    pub fn new(cfg: ModemConfig, wall: WallClock, now: Instant) -> Result<Self, EfsError> {
        let efs = Efs::new(cfg.store)?;
        let net = NetState::new(cfg.pin.clone());
        let mut ctx = Ctx {
            settings: Settings::factory(cfg.baud),
            profile: cfg.profile,
            net,
            efs,
            nv: cfg.nv,
            clock: ModuleClock::new(wall),
            reboot: false,
            urcs: Vec::new(),
            jobs: Jobs::default(),
            ftp: Default::default(),
            http: Default::default(),
            https: Default::default(),
            smtp: Default::default(),
            pop3: Default::default(),
        };
        if let Some(p) = ctx.saved_profile() {
            ctx.settings.apply(&p);
        }
        let urcs = ctx.profile.boot_urcs(ctx.net.sim_locked());
        let boot = Boot { start: now, delay: cfg.boot_delay, urcs, next: 0 };
        let mut m = Self {
            ld: LineDiscipline::new(),
            ctx,
            out: Vec::new(),
            urcs: VecDeque::new(),
            urc_bytes: 0,
            boot,
            awake: false,
            queue: VecDeque::new(),
            active: Active::Idle,
            rx: VecDeque::new(),
            dropped_input: 0,
            dropped_echo: 0,
            last_line: Vec::new(),
            now,
        };
        m.handle_timeout(now);
        Ok(m)
    }

    /// Handler state (tests and the runner read settings from it).
    pub fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    /// Current AT+IPR baud rate (0 = autobaud).
    pub fn baud(&self) -> u32 {
        self.ctx.settings.ipr
    }

    /// When [`Modem::handle_timeout`] next has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (self.boot.next < self.boot.urcs.len()).then(|| self.boot.due(self.boot.next))
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        while self.boot.next < self.boot.urcs.len() && self.boot.due(self.boot.next) <= now {
            self.push_urc(Urc::Line(self.boot.urcs[self.boot.next].to_owned()));
            self.boot.next += 1;
            self.awake = true;
        }
        self.release_urcs();
    }

    /// Bytes from the DTE. They are interpreted at once when nothing holds them back;
    /// otherwise they wait in the receive FIFO, and what does not fit in it is dropped.
    pub fn handle_input(&mut self, input: &[u8], now: Instant) {
        self.now = now;
        if !self.awake {
            debug!(len = input.len(), "input before boot ignored");
            return;
        }
        let mut rest = input;
        if self.rx.is_empty() {
            // Fast path: interpret straight from the caller's buffer. An event may complete
            // with no further byte (the end of a data entry), hence the loop on events.
            while self.interpreting() {
                let (n, event) = self.feed(rest);
                rest = &rest[n..];
                if !event && rest.is_empty() {
                    break;
                }
            }
        }
        let room = RX_MAX.saturating_sub(self.rx.len());
        if rest.len() > room {
            let lost = rest.len() - room;
            self.dropped_input += lost as u64;
            warn!(lost, total = self.dropped_input, "DTE input overrun: the receive buffer is full, input dropped");
        }
        self.rx.extend(&rest[..rest.len().min(room)]);
        self.process_rx();
    }

    /// Whether the runner should read more DTE input now. Always, except while an upload's
    /// job cannot take more and the receive FIFO is full (then the DTE waits, as with
    /// hardware flow control; a DTE that does not read is never made to wait).
    pub fn wants_input(&self) -> bool {
        self.rx.len() < RX_MAX || !self.upload_blocked()
    }

    /// Input bytes dropped because the receive FIFO was full, and echo bytes dropped while
    /// the DTE was not reading, since power-on.
    pub fn dropped(&self) -> (u64, u64) {
        (self.dropped_input, self.dropped_echo)
    }

    /// Whether input may be interpreted now.
    fn interpreting(&self) -> bool {
        !matches!(self.active, Active::Stream(_) | Active::Wait(_))
            && self.out.len() < ANSWER_BACKLOG_MAX
            && !self.upload_blocked()
    }

    /// An upload's job cannot take more data now.
    fn upload_blocked(&self) -> bool {
        false
    }

    /// Interpret what waits in the receive FIFO, as far as nothing holds it back.
    fn process_rx(&mut self) {
        // Copied out a piece at a time: the FIFO cannot stay borrowed while a handler runs.
        let mut piece = [0u8; 4096];
        while self.interpreting() {
            let (front, _) = self.rx.as_slices();
            let len = front.len().min(piece.len());
            piece[..len].copy_from_slice(&front[..len]);
            let (n, event) = self.feed(&piece[..len]);
            self.rx.drain(..n.min(self.rx.len()));
            if !event && self.rx.is_empty() {
                break;
            }
        }
        self.release_urcs();
    }

    /// One step of the line discipline over `input`: the bytes consumed, and whether an
    /// event came of it.
    fn feed(&mut self, input: &[u8]) -> (usize, bool) {
        let cfg = self.ctx.settings.line_config();
        let (n, ev) = self.ld.feed(input, &cfg);
        let echo = self.ld.take_echo();
        if !echo.is_empty() {
            if self.out.len() < ECHO_BACKLOG_MAX {
                self.out.extend_from_slice(&echo);
            } else {
                if self.dropped_echo == 0 || self.out.len() == ECHO_BACKLOG_MAX {
                    info!("the DTE is not reading: echo dropped");
                }
                self.dropped_echo += echo.len() as u64;
                debug!(len = echo.len(), total = self.dropped_echo, "echo dropped");
            }
        }
        let event = ev.is_some();
        if let Some(ev) = ev {
            self.on_event(ev);
        }
        (n, event)
    }

    /// Next bytes to send to the DTE, if any (at most 64 KiB at a time). Long answers are
    /// produced piece by piece here, so a slow DTE slows the producer instead of filling
    /// memory.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.out.is_empty() {
            self.pump_stream();
        }
        if self.out.is_empty() {
            return None;
        }
        let chunk = if self.out.len() <= TRANSMIT_MAX {
            std::mem::take(&mut self.out)
        } else {
            let rest = self.out.split_off(TRANSMIT_MAX);
            std::mem::replace(&mut self.out, rest)
        };
        // Room was made: input and URCs held back by the backlog may go on.
        self.process_rx();
        Some(chunk)
    }

    /// Everything pending, streamed answers included (tests).
    pub fn drain_output(&mut self) -> Vec<u8> {
        let mut all = Vec::new();
        while let Some(chunk) = self.poll_transmit() {
            all.extend_from_slice(&chunk);
        }
        all
    }

    fn pump_stream(&mut self) {
        let framing = self.ctx.settings.framing();
        // A step may produce nothing; go on until there is output or the stream ends.
        let step = loop {
            let Active::Stream(stream) = &mut self.active else { return };
            match stream.next(&mut self.ctx, &framing, &mut self.out) {
                Ok(true) if self.out.is_empty() => continue,
                other => break other,
            }
        };
        match step {
            Ok(true) => return,
            Ok(false) => {
                self.active = Active::Idle;
                self.advance();
            }
            Err(e) => {
                self.active = Active::Idle;
                self.fail("stream", e);
            }
        }
        self.process_rx();
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Line(line) => {
                self.last_line.clone_from(&line);
                self.run_line(&line);
            }
            Event::Repeat => {
                let line = self.last_line.clone();
                self.run_line(&line);
            }
            Event::LineTooLong => {
                info!("ERROR: command line longer than {} bytes", settings::MAX_LINE);
                self.final_error(&CmdError::Refused("command line too long"));
            }
            Event::Data(chunk) if matches!(self.active, Active::Upload(_)) => {
                if let Active::Upload(id) = self.active {
                    self.ctx.jobs.send(id, JobInput::Data(chunk));
                }
            }
            Event::Data(_) if matches!(self.active, Active::Drain(_)) => {}
            Event::DataEnd if matches!(self.active, Active::Drain(_)) => {
                if let Active::Drain(res) = std::mem::replace(&mut self.active, Active::Idle) {
                    self.resume("upload", res);
                }
            }
            Event::DataEnd if matches!(self.active, Active::Upload(_)) => {
                if let Active::Upload(id) = self.active {
                    self.ctx.jobs.send(id, JobInput::End);
                    self.active = Active::Wait(id);
                }
            }
            Event::Data(chunk) => {
                if let Active::Data { sink, err } = &mut self.active
                    && err.is_none()
                    && let Err(e) = sink.write(&mut self.ctx, &chunk)
                {
                    *err = Some(e);
                }
            }
            Event::DataEnd => {
                if let Active::Data { sink, err } = std::mem::replace(&mut self.active, Active::Idle) {
                    let res = match err {
                        Some(e) => Err(e),
                        None => sink.finish(&mut self.ctx),
                    };
                    self.resume("data", res);
                }
            }
            Event::Text(text) => {
                if let Active::Text(sink) = std::mem::replace(&mut self.active, Active::Idle) {
                    let res = sink.finish(&mut self.ctx, text);
                    self.resume("text", res);
                }
            }
            Event::TextCancelled => match std::mem::replace(&mut self.active, Active::Idle) {
                Active::Text(sink) => {
                    let res = sink.cancel(&mut self.ctx);
                    self.resume("text", res);
                }
                Active::Data { sink, .. } => {
                    let res = sink.cancel(&mut self.ctx);
                    self.resume("data", res);
                }
                other => self.active = other,
            },
        }
    }

    fn run_line(&mut self, line: &[u8]) {
        debug!(line = %String::from_utf8_lossy(&redact::redact(line)), "command line");
        match parse_line(line) {
            Ok(invs) => {
                self.queue =
                    invs.into_iter().map(|i| Pending { name: i.name, form: i.form, args: i.args.to_vec() }).collect();
                self.advance();
            }
            Err(e) => self.fail("line", CmdError::Syntax(e)),
        }
    }

    /// Run queued invocations until the line ends or one opens a prompt/stream.
    fn advance(&mut self) {
        while let Some(p) = self.queue.pop_front() {
            let res = dispatch(&mut self.ctx, &p);
            if !self.apply(&p.name, res) {
                return;
            }
        }
        self.finish_line();
    }

    /// Emit a handler's result. Returns true when the line may continue at once.
    fn apply(&mut self, name: &str, res: Result<Reply, CmdError>) -> bool {
        let reply = match res {
            Ok(r) => r,
            Err(e) => {
                self.fail(name, e);
                return false;
            }
        };
        let framing = self.ctx.settings.framing();
        if !reply.lines.is_empty() {
            framing.info(&reply.lines, &mut self.out);
        }
        match reply.then {
            Then::Done => true,
            Then::Data { len, prompt, sink } => {
                if !prompt.is_empty() {
                    self.prompt(prompt.as_bytes());
                }
                match len {
                    Some(0) => {
                        let res = sink.finish(&mut self.ctx);
                        return self.apply(name, res);
                    }
                    Some(n) => self.ld.expect_data(n),
                    None => self.ld.expect_stream(true),
                }
                self.active = Active::Data { sink, err: None };
                false
            }
            Then::Text { max, sink } => {
                self.prompt(b">>");
                self.active = Active::Text(sink);
                self.ld.expect_text(max);
                false
            }
            Then::Stream(s) => {
                self.active = Active::Stream(s);
                false
            }
            Then::Wait(id) => {
                self.active = Active::Wait(id);
                false
            }
        }
    }

    fn prompt(&mut self, p: &[u8]) {
        let f = self.ctx.settings.framing();
        self.out.extend_from_slice(&[f.s3, f.s4]);
        self.out.extend_from_slice(p);
    }

    /// A prompt or stream completed with `res`; continue the line.
    fn resume(&mut self, what: &str, res: Result<Reply, CmdError>) {
        if self.apply(what, res) {
            self.advance();
        }
        self.release_urcs();
    }

    fn finish_line(&mut self) {
        let framing = self.ctx.settings.framing();
        framing.result(ResultCode::Ok, &mut self.out);
        self.after_line();
    }

    fn fail(&mut self, name: &str, e: CmdError) {
        info!(command = name, "answered error: {e}");
        self.queue.clear();
        self.final_error(&e);
        self.after_line();
    }

    fn final_error(&mut self, e: &CmdError) {
        let framing = self.ctx.settings.framing();
        match e.cme_code() {
            Some(c) => framing.cme(self.ctx.settings.cmee, c.code(), c.text(), &mut self.out),
            None => framing.result(ResultCode::Error, &mut self.out),
        }
    }

    fn after_line(&mut self) {
        self.take_ctx_urcs();
        if std::mem::take(&mut self.ctx.reboot) {
            self.restart();
        }
    }

    /// Power-cycle: settings from the saved profile, boot URCs again.
    fn restart(&mut self) {
        info!("module restarting");
        let mut settings = Settings::factory(self.ctx.settings.ipr);
        if let Some(p) = self.ctx.saved_profile() {
            settings.apply(&p);
        }
        self.ctx.settings = settings;
        self.ctx.net.restart();
        self.ctx.efs.cwd = crate::efs::EfsPath::root(crate::efs::Drive::C);
        self.ld.reset();
        self.rx.clear();
        self.urcs.clear();
        self.urc_bytes = 0;
        let running: Vec<JobId> = self.ctx.jobs.sinks.keys().copied().collect();
        for id in running {
            self.ctx.jobs.abort(id);
        }
        self.ctx.ftp = Default::default();
        self.ctx.http = Default::default();
        self.ctx.https = Default::default();
        self.ctx.smtp.busy = None;
        self.ctx.pop3.session = None;
        self.ctx.pop3.logged_in = false;
        self.ctx.pop3.current = None;
        self.active = Active::Idle;
        self.awake = false;
        self.boot = Boot {
            start: self.now,
            delay: self.boot.delay,
            urcs: self.ctx.profile.boot_urcs(self.ctx.net.sim_locked()),
            next: 0,
        };
        self.handle_timeout(self.now);
    }

    fn push_urc(&mut self, u: Urc) {
        self.urc_bytes += u.len();
        self.urcs.push_back(u);
    }

    fn take_ctx_urcs(&mut self) {
        let urcs = std::mem::take(&mut self.ctx.urcs);
        for u in urcs {
            self.push_urc(u);
        }
    }

    fn release_urcs(&mut self) {
        if !matches!(self.active, Active::Idle) || !self.queue.is_empty() || self.ld.in_data_mode() {
            return;
        }
        let framing = self.ctx.settings.framing();
        while self.out.len() < RELEASE_BACKLOG_MAX {
            let Some(u) = self.urcs.pop_front() else { break };
            self.urc_bytes = self.urc_bytes.saturating_sub(u.len());
            match u {
                Urc::Line(l) => framing.urc(l.as_bytes(), &mut self.out),
                Urc::Block { header, data } => {
                    framing.urc(header.as_bytes(), &mut self.out);
                    self.out.extend_from_slice(&data);
                }
                Urc::Blocks { prefix, mut data, max } => {
                    let max = max.max(1);
                    while !data.is_empty() && self.out.len() < RELEASE_BACKLOG_MAX {
                        let piece = data.split_to(data.len().min(max));
                        framing.urc(format!("{prefix}: DATA,{}", piece.len()).as_bytes(), &mut self.out);
                        self.out.extend_from_slice(&piece);
                    }
                    if !data.is_empty() {
                        let rest = Urc::Blocks { prefix, data, max };
                        self.urc_bytes += rest.len();
                        self.urcs.push_front(rest);
                    }
                }
            }
        }
    }

    /// A job to start, if any (the runner spawns it).
    pub fn poll_job(&mut self) -> Option<(JobId, JobSpec)> {
        self.ctx.jobs.to_start.pop_front()
    }

    /// A job to stop, if any.
    pub fn poll_job_abort(&mut self) -> Option<JobId> {
        self.ctx.jobs.to_abort.pop()
    }

    /// The next input for a job (upload data, session operations).
    pub fn poll_job_input(&mut self) -> Option<(JobId, JobInput)> {
        if let Some(i) = self.ctx.jobs.inputs.pop_front() {
            return Some(i);
        }
        for idx in 0..self.ctx.jobs.pulling.len() {
            let id = self.ctx.jobs.pulling[idx];
            let Some(mut sink) = self.ctx.jobs.sinks.remove(&id) else { continue };
            match sink.pull(&mut self.ctx) {
                None => {
                    self.ctx.jobs.sinks.insert(id, sink);
                }
                Some(Ok(input)) => {
                    self.ctx.jobs.sinks.insert(id, sink);
                    if matches!(input, JobInput::End) {
                        self.ctx.jobs.pulling.remove(idx);
                    }
                    return Some((id, input));
                }
                Some(Err(code)) => {
                    self.stop_job(id, sink, code);
                    return None;
                }
            }
        }
        None
    }

    /// The core ends job `id` with `code` (its sink refused data or could not supply it).
    fn stop_job(&mut self, id: JobId, sink: Box<dyn JobSink>, code: u16) {
        self.ctx.jobs.to_abort.push(id);
        self.ctx.jobs.pulling.retain(|j| *j != id);
        self.ctx.jobs.inputs.retain(|(j, _)| *j != id);
        let mut urcs = Vec::new();
        let resume = sink.done(&mut self.ctx, Err(code), &mut urcs);
        self.finish_event(id, urcs, resume);
    }

    /// Queue a job event's URCs and resume the line waiting on it, if any.
    fn finish_event(&mut self, id: JobId, urcs: Vec<Urc>, resume: Option<Result<Reply, CmdError>>) {
        for u in urcs {
            self.push_urc(u);
        }
        self.take_ctx_urcs();
        if let Some(res) = resume {
            if matches!(self.active, Active::Upload(w) if w == id) {
                // The job ended while the DTE is still sending: swallow the rest.
                self.active = Active::Drain(res);
            } else if matches!(self.active, Active::Wait(w) if w == id) {
                self.active = Active::Idle;
                self.resume("job", res);
            } else {
                debug!(id, "job result with no command waiting");
            }
        }
        self.process_rx();
    }

    /// Whether the core takes service events now (false while too much output waits).
    pub fn accepting_events(&self) -> bool {
        self.urc_bytes < URC_BACKLOG_MAX && self.out.len() < URC_BACKLOG_MAX
    }

    /// Jobs whose events must wait: their receive cache is full until the DTE reads it.
    /// Only those are held back, so other services go on meanwhile.
    pub fn paused_jobs(&self) -> Vec<JobId> {
        let mut paused = Vec::new();
        if let Some(id) = self.ctx.https.session.filter(|_| self.ctx.https.backlogged()) {
            paused.push(id);
        }
        if let Some(id) = self.ctx.ftp.ftps.session.filter(|_| self.ctx.ftp.ftps.cache_backlogged()) {
            paused.push(id);
        }
        paused
    }

    /// An event from job `id`.
    pub fn handle_service_event(&mut self, id: JobId, ev: ServiceEvent, now: Instant) {
        self.now = now;
        let Some(mut sink) = self.ctx.jobs.sinks.remove(&id) else {
            debug!(id, "event for a finished job ignored");
            return;
        };
        let mut urcs = Vec::new();
        let mut resume = None;
        match ev {
            ServiceEvent::Data(d) => {
                if let Err(code) = sink.data(&mut self.ctx, d, &mut urcs) {
                    for u in urcs {
                        self.push_urc(u);
                    }
                    return self.stop_job(id, sink, code);
                }
            }
            ServiceEvent::ReadyForInput => match sink.ready(&mut self.ctx) {
                InputSource::Sink => self.ctx.jobs.pulling.push(id),
                InputSource::Dte { prompt } => {
                    if matches!(self.active, Active::Wait(w) if w == id) {
                        let framing = self.ctx.settings.framing();
                        framing.info(&[prompt], &mut self.out);
                        self.active = Active::Upload(id);
                        self.ld.expect_stream(false);
                    }
                }
            },
            ServiceEvent::Step(r) => resume = sink.step(&mut self.ctx, r, &mut urcs),
            ServiceEvent::Done(r) => {
                self.ctx.jobs.pulling.retain(|j| *j != id);
                let resume = sink.done(&mut self.ctx, r, &mut urcs);
                return self.finish_event(id, urcs, resume);
            }
        }
        self.ctx.jobs.sinks.insert(id, sink);
        self.finish_event(id, urcs, resume);
    }
}

fn sreg_number(name: &str) -> Option<usize> {
    let digits = name.strip_prefix('S')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn dispatch(ctx: &mut Ctx, p: &Pending) -> Result<Reply, CmdError> {
    let args = Args::parse(&p.args)?;
    if let Some(n) = sreg_number(&p.name) {
        return crate::general::s_register(ctx, n, p.form, args);
    }
    let spec = table::lookup(&p.name).ok_or_else(|| CmdError::Unknown(p.name.clone()))?;
    let handler = spec.handler(p.form).ok_or_else(|| CmdError::Unknown(format!("{} ({:?} form)", p.name, p.form)))?;
    if spec.needs_sim {
        ctx.net.require_sim()?;
    }
    handler(ctx, args)
}
