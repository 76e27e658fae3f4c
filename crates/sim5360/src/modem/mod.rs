//! The sans-IO core: bytes and time in, bytes out. No network or file I/O of its own, no sleeps, no threads.
//!
//! The runner feeds [`Modem::handle_input`], [`Modem::handle_job_event`] and
//! [`Modem::handle_timeout`], writes whatever [`Modem::poll_transmit`] gives, starts the
//! jobs [`Modem::poll_job`] gives, runs what [`Modem::poll_offload`] gives off its thread,
//! and sleeps until [`Modem::poll_timeout`].
//!
//! Life of a command line: the [`LineDiscipline`] echoes and assembles it; [`parse_line`]
//! splits it into invocations; each is looked up in the [`table`] and its handler returns
//! a [`Reply`] or a [`CmdError`]; the [`v250::Framing`] of the current settings frames the
//! answer; after the last invocation comes one final `OK` (or the first error ends the
//! line). A handler may open a `>`/`>>` prompt, a long streamed answer, wait for a job or
//! for a time; the rest of the line resumes when that completes. URCs wait in a queue
//! while a line runs or a prompt is open and are released at the next quiet point.
//!
//! The core names no service: their states live in [`registry::Services`], built from
//! the [`Catalog`] in [`ModemConfig`]; their jobs' events reach their own typed [`JobSink`]s.

pub mod clock;
pub mod configs;
mod error;
pub mod jobs;
pub mod online;
pub mod overrides;
pub mod ports;
pub mod redact;
pub mod registry;
mod reply;
pub mod settings;
mod stored;
pub mod table;
pub mod timers;

pub use clock::{ModuleClock, WallClock};
pub use configs::Configs;
pub use error::{CmdError, CmeError};
pub use jobs::{ErrorOf, InputSource, JobSink, JobTable, Offload, Resume, StepOf, WorkId};
pub use ports::Ports;
pub use registry::{Catalog, Service, ServiceDef, Services};
pub use reply::{DataSink, OutputStream, Reply, TextSink, Then, Urc};
pub use settings::{Nv, NvStore, Settings};
pub use stored::StoredValues;
pub use timers::{Timer, TimerId, Timers};

use crate::efs::{Efs, EfsError, Store};
use crate::job::{JobEvent, JobId, JobInput, JobSpec};
use crate::network::state::NetState;
use crate::profile::Profile;
use std::any::Any;
use std::collections::VecDeque;
use std::sync::Arc;
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
/// Most bytes the runner reads in one go (see [`Modem::wants_input`]).
pub const INPUT_READ_MAX: usize = 16 * 1024;
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
    pub nv: NvStore,
    pub clock: ModuleClock,
    /// The time of the input being handled (set by the core before every call).
    pub now: Instant,
    /// Set by a handler to restart the module once the line's answer is out.
    pub reboot: bool,
    /// URCs raised by handlers, released after the line.
    pub urcs: Vec<Urc>,
    /// Jobs, their sinks and inputs, and offloaded work.
    pub jobs: JobTable,
    /// Deadlines of handlers and services.
    pub timers: Timers,
    /// Every service's state.
    pub services: Services,
    /// Settings services take from the command line.
    pub configs: Configs,
    /// Auxiliary output ports (besides the AT port).
    pub ports: Ports,
    /// The device model: battery, temperature, switches.
    pub device: crate::general::device_state::Device,
    /// Set by a handler to power the module off once the line's answer is out.
    pub power_off: bool,
    /// Commands are accepted once the first boot URC is out.
    pub awake: bool,
    /// The boot URCs of this power-on, in order.
    boot_urcs: Vec<&'static str>,
    /// What the module is made of: the command areas and the service families.
    pub catalog: &'static Catalog,
    /// Which `AT+IPR` rates the line can take (all, unless the transport limits them).
    pub rate_ok: fn(u32) -> bool,
    /// The job the line is in the online data state with, if any (set by the core; its
    /// sink pushes [`Urc::Raw`] while it is, and buffers otherwise).
    pub online: Option<JobId>,
    /// Answer overrides of the control channel (kept across restarts; its reset clears
    /// them).
    pub overrides: overrides::Overrides,
    /// What the control channel changed in the module's world (a GNSS position, say),
    /// by type, over `configs`; kept across restarts, cleared by its reset. Read both
    /// with [`Ctx::setting`].
    pub injected: Configs,
    /// Notes for the trace, taken by the runner (see [`Modem::poll_note`]).
    pub notes: Vec<String>,
    /// Messages for the network beyond this module (another modem of a fleet), taken by
    /// the runner (see [`Modem::poll_uplink`]); the core does not read them.
    pub uplink: Vec<serde_json::Value>,
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

    pub fn save_profile(&mut self) {
        match serde_json::to_vec(&self.settings.profile()) {
            Ok(json) => self.nv_save(NV_PROFILE, json),
            Err(e) => warn!("cannot encode the profile: {e}"),
        }
    }

    /// Save `value` under `key` in NV: later loads see it at once; the disk write happens
    /// off the core's thread, in order, and a failure is logged (the answer does not wait
    /// for the disk).
    pub fn nv_save(&mut self, key: &str, value: Vec<u8>) {
        let write = self.nv.save(key, &value);
        self.nv_write(format!("save {key} in the state directory"), write);
    }

    fn nv_write(&mut self, what: String, write: impl FnOnce() -> std::io::Result<()> + Send + 'static) {
        self.jobs.offload(what.clone(), write, move |_, r: std::io::Result<()>, _| {
            if let Err(e) = r {
                warn!("cannot {what}: {e}");
            }
            None
        });
    }

    /// Append `data` to the log `key` in NV: later loads see it at once; the disk write
    /// happens off the core's thread, in order with the saves (a failure is logged).
    pub fn nv_append(&mut self, key: &str, data: Vec<u8>) {
        let write = self.nv.append(key, &data);
        self.nv_write(format!("append to {key} in the state directory"), write);
    }

    /// A setting of type `T`: what the control channel injected, else the command line's.
    pub fn setting<T: Any>(&self) -> Option<&T> {
        self.injected.get::<T>().or_else(|| self.configs.get::<T>())
    }

    /// Call `fire(ctx, tag)` after `delay` (see [`Timers`]).
    pub fn after(&mut self, delay: Duration, name: &'static str, fire: fn(&mut Ctx, u64), tag: u64) -> TimerId {
        self.timers.at(self.now + delay, Timer { name, fire, tag })
    }
}

/// Boot URC `tag` of this power-on is due.
fn boot_urc(ctx: &mut Ctx, tag: u64) {
    if let Some(u) = usize::try_from(tag).ok().and_then(|i| ctx.boot_urcs.get(i)) {
        ctx.urcs.push(Urc::Line((*u).to_owned()));
        ctx.awake = true;
    }
}

/// What a [`Modem`] is built from.
#[derive(Debug)]
pub struct ModemConfig {
    /// What the module is made of (the crate's is `registry::CATALOG`).
    pub catalog: &'static Catalog,
    pub profile: Profile,
    /// Time from power-on to the last boot URC (`PB DONE`).
    pub boot_delay: Duration,
    /// SIM PIN; `None` means the SIM is not PIN-locked.
    pub pin: Option<String>,
    /// Starting baud rate (AT+IPR).
    pub baud: u32,
    pub store: Box<dyn Store>,
    /// Non-volatile memory; modems of one process may share it.
    pub nv: Arc<dyn Nv>,
    /// Settings of services, from the command line.
    pub configs: Configs,
}

impl ModemConfig {
    /// A `model` module at 115200 bit/s with an in-memory EFS of `efs_bytes` per drive
    /// and an in-memory NV, no boot delay, no PIN: for tests, fuzzing and benches.
    pub fn in_memory(catalog: &'static Catalog, model: crate::profile::Model, efs_bytes: u64) -> Self {
        Self {
            catalog,
            profile: Profile::new(model),
            boot_delay: Duration::ZERO,
            pin: None,
            baud: 115200,
            store: Box::new(crate::efs::MemStore::new(efs_bytes, efs_bytes)),
            nv: Arc::new(settings::MemNv::default()),
            configs: Configs::default(),
        }
    }
}

#[derive(Debug)]
enum Active {
    Idle,
    Data {
        sink: Box<dyn DataSink>,
        err: Option<CmdError>,
    },
    Text(Box<dyn TextSink>, &'static str),
    Stream(Box<dyn OutputStream>),
    /// The line waits for a job's result.
    Wait(JobId),
    /// The DTE streams upload data to a job, up to Ctrl-Z.
    Upload(JobId),
    /// The job of an upload ended early: the rest of the DTE's data, up to Ctrl-Z, is
    /// swallowed (never taken for commands), then the line gets this result.
    Drain(Result<Reply, CmdError>),
    /// The line resumes at `at` with the answer `resume` gives then.
    Delayed {
        at: Instant,
        resume: fn(&mut Ctx) -> Result<Reply, CmdError>,
    },
    /// The line waits for offloaded work (an EFS commit).
    Offloaded(WorkId),
    /// An override answers the line at `at`; the queued rest runs after it.
    Overridden {
        at: Instant,
        spec: overrides::OverrideSpec,
    },
    /// A `hang` override holds the line until it is removed; then `inv` runs.
    Hung {
        id: u64,
        inv: QueuedInvocation,
    },
    /// The online data state with a job (see [`online`]).
    Online {
        job: JobId,
        esc: online::Escape,
        skip_lf: bool,
    },
}

/// An invocation of the current command line, waiting its turn.
#[derive(Debug)]
struct QueuedInvocation {
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
    boot_delay: Duration,
    queue: VecDeque<QueuedInvocation>,
    active: Active,
    /// DTE input not yet interpreted (bounded by [`RX_MAX`]).
    rx: VecDeque<u8>,
    /// Input bytes lost to a full receive FIFO, and echo bytes dropped, since power-on.
    dropped_input: u64,
    dropped_echo: u64,
    last_line: Vec<u8>,
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
            nv: NvStore::new(cfg.nv),
            clock: ModuleClock::new(wall),
            now,
            reboot: false,
            urcs: Vec::new(),
            jobs: JobTable::default(),
            timers: Timers::default(),
            services: Services::new(cfg.catalog.services),
            catalog: cfg.catalog,
            configs: cfg.configs,
            ports: Ports::default(),
            device: Default::default(),
            power_off: false,
            awake: false,
            boot_urcs: Vec::new(),
            rate_ok: |_| true,
            online: None,
            overrides: Default::default(),
            injected: Configs::default(),
            notes: Vec::new(),
            uplink: Vec::new(),
        };
        if let Some(p) = ctx.saved_profile() {
            ctx.settings.apply(&p);
        }
        let mut m = Self {
            ld: LineDiscipline::new(),
            ctx,
            out: Vec::new(),
            urcs: VecDeque::new(),
            urc_bytes: 0,
            boot_delay: cfg.boot_delay,
            queue: VecDeque::new(),
            active: Active::Idle,
            rx: VecDeque::new(),
            dropped_input: 0,
            dropped_echo: 0,
            last_line: Vec::new(),
        };
        m.schedule_boot();
        m.handle_timeout(now);
        Ok(m)
    }

    /// The boot URCs as timers: the first at 30 % of the boot delay, the last at 100 %.
    fn schedule_boot(&mut self) {
        let ctx = &mut self.ctx;
        ctx.boot_urcs = ctx.profile.boot_urcs(ctx.net.sim_locked());
        let n = ctx.boot_urcs.len().max(2) - 1;
        for i in 0..ctx.boot_urcs.len() {
            let frac = 0.3 + 0.7 * (i as f64 / n as f64);
            ctx.after(self.boot_delay.mul_f64(frac), "boot", boot_urc, i as u64);
        }
        for hook in ctx.catalog.services.iter().filter_map(|s| s.on_power_on) {
            hook(ctx);
        }
    }

    /// The next message for the network beyond this module, oldest first.
    pub fn poll_uplink(&mut self) -> Option<serde_json::Value> {
        (!self.ctx.uplink.is_empty()).then(|| self.ctx.uplink.remove(0))
    }

    /// Notes for the trace (what the outside world did to the module on its own, by a
    /// timer of a family), oldest
    /// first; the runner writes them as `NOTE` lines.
    pub fn poll_note(&mut self) -> Option<String> {
        (!self.ctx.notes.is_empty()).then(|| self.ctx.notes.remove(0))
    }

    /// Handler state (tests and the runner read settings from it).
    pub fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    /// Run an action from outside the AT port (the network delivering an SMS, a call
    /// coming in: what the control channel and tests do) on the module's state at `now`,
    /// as a timer would run; the URCs it raises go out as any others. Returns what the
    /// action returns.
    /// A restart or power-off it asks for (`ctx.reboot`, `ctx.power_off`) happens then; a
    /// line held by a `hang` override whose override it removed goes on.
    pub fn act<R>(&mut self, now: Instant, action: impl FnOnce(&mut Ctx) -> R) -> R {
        self.ctx.now = now;
        let r = action(&mut self.ctx);
        self.take_ctx_urcs();
        if std::mem::take(&mut self.ctx.power_off) {
            self.power_down();
        } else if std::mem::take(&mut self.ctx.reboot) {
            self.restart();
        }
        self.release_hung();
        self.process_rx();
        r
    }

    /// Output queued for auxiliary port `name` (the runner writes it to that port's
    /// transport).
    pub fn poll_port(&mut self, name: &str) -> Option<Vec<u8>> {
        self.ctx.ports.take(name)
    }

    /// Refuse `AT+IPR` rates for which `ok` is false (a serial device that cannot take
    /// them).
    pub fn limit_rates(&mut self, ok: fn(u32) -> bool) {
        self.ctx.rate_ok = ok;
    }

    /// Current AT+IPR baud rate (0 = autobaud).
    pub fn baud(&self) -> u32 {
        self.ctx.settings.ipr
    }

    /// When [`Modem::handle_timeout`] next has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let line = match &self.active {
            Active::Delayed { at, .. } | Active::Overridden { at, .. } => Some(*at),
            Active::Online { esc, .. } => esc.deadline(),
            _ => None,
        };
        [self.ctx.timers.next_deadline(), line].into_iter().flatten().min()
    }

    /// Time passed: run the timers that are due, in deadline order, and resume a line
    /// waiting for its time.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.ctx.now = now;
        while let Some(t) = self.ctx.timers.pop_due(now) {
            debug!(timer = t.name, tag = t.tag, "timer");
            (t.fire)(&mut self.ctx, t.tag);
            self.take_ctx_urcs();
        }
        if let Active::Delayed { at, resume } = self.active
            && at <= now
        {
            self.active = Active::Idle;
            let res = resume(&mut self.ctx);
            self.resume("timed answer", res);
        }
        if matches!(&self.active, Active::Overridden { at, .. } if *at <= now)
            && let Active::Overridden { spec, .. } = std::mem::replace(&mut self.active, Active::Idle)
            && self.override_answer(&spec)
        {
            self.advance();
        }
        if let Active::Online { job, esc, .. } = &mut self.active {
            let (job, mut data) = (*job, Vec::new());
            let escaped = esc.fire(now, &mut data);
            self.online_data(job, data);
            if escaped {
                info!(job, "escape sequence: back to command state, the connection stays");
                self.leave_online();
                self.ctx.settings.framing().result(ResultCode::Ok, &mut self.out);
            }
        }
        self.process_rx();
    }

    /// Back to command state from the online data state.
    fn leave_online(&mut self) {
        if let Active::Online { job, esc, .. } = &mut self.active {
            let (job, mut held) = (*job, Vec::new());
            esc.flush(&mut held);
            self.online_data(job, held);
            self.active = Active::Idle;
        }
        self.ctx.online = None;
        self.ld.reset();
    }

    /// Payload of the online data state for its job (nothing when empty).
    fn online_data(&mut self, job: JobId, data: Vec<u8>) {
        if !data.is_empty() {
            self.ctx.jobs.send(job, JobInput::Data(data));
        }
    }

    /// Bytes from the DTE. They are interpreted at once when nothing holds them back;
    /// otherwise they wait in the receive FIFO, and what does not fit in it is dropped.
    pub fn handle_input(&mut self, input: &[u8], now: Instant) {
        self.ctx.now = now;
        if !self.ctx.awake {
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

    /// Whether the runner should read more DTE input now (at most [`INPUT_READ_MAX`]
    /// bytes). While the receive FIFO has room for that, yes. When it has not (a line
    /// waits for a job, an upload's job cannot take more), the DTE is made to wait, as
    /// with hardware flow control, unless it is not reading its own answers
    /// (`output_stuck`: the runner has had output waiting with none of it taken for a
    /// while): then input goes on being read and what does not fit is dropped, as a UART
    /// overrun would, so a DTE that does not read never deadlocks the modem. A DTE that
    /// reads, however slowly, is only made to wait: a backlog of output alone (answers or
    /// transparent-mode data) is no reason to drop what it sends.
    pub fn wants_input(&self, output_stuck: bool) -> bool {
        self.rx.len() + INPUT_READ_MAX <= RX_MAX || output_stuck
    }

    /// Input bytes dropped because the receive FIFO was full, and echo bytes dropped while
    /// the DTE was not reading, since power-on.
    pub fn dropped(&self) -> (u64, u64) {
        (self.dropped_input, self.dropped_echo)
    }

    /// Whether input may be interpreted now.
    fn interpreting(&self) -> bool {
        !matches!(
            self.active,
            Active::Stream(_)
                | Active::Wait(_)
                | Active::Delayed { .. }
                | Active::Offloaded(_)
                | Active::Overridden { .. }
                | Active::Hung { .. }
        ) && self.out.len() < ANSWER_BACKLOG_MAX
            && !self.upload_blocked()
    }

    /// The DTE is sending data for a job that cannot take more now.
    fn upload_blocked(&self) -> bool {
        let job = match &self.active {
            Active::Upload(id) | Active::Online { job: id, .. } => Some(*id),
            Active::Data { sink, .. } => sink.job(),
            _ => None,
        };
        job.is_some_and(|id| self.ctx.jobs.input_full(id))
    }

    /// A line waiting on a job, or the online state with one, whose job was stopped
    /// (a restart of the service, coverage lost): the line ends, the state is left.
    fn check_orphans(&mut self) {
        match self.active {
            Active::Wait(id) if !self.ctx.jobs.is_running(id) => {
                self.active = Active::Idle;
                self.resume("job", Err(CmdError::Refused("the job was stopped")));
            }
            Active::Online { job, .. } if !self.ctx.jobs.is_running(job) => {
                info!(job, "the online connection is gone");
                self.leave_online();
                self.ctx.settings.framing().result(ResultCode::NoCarrier, &mut self.out);
            }
            _ => {}
        }
    }

    /// Jobs that packet service going has ended: their sinks get the network error (the
    /// line waiting on one resumes with it), and the runner stops them.
    fn end_lost_jobs(&mut self) {
        let lost = std::mem::take(&mut self.ctx.jobs.lost);
        for (id, ev) in lost {
            self.handle_job_event(id, ev, self.ctx.now);
            self.ctx.jobs.to_abort.push(id);
        }
    }

    /// Interpret what waits in the receive FIFO, as far as nothing holds it back.
    fn process_rx(&mut self) {
        self.end_lost_jobs();
        self.check_orphans();
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
        if let Active::Online { job, esc, skip_lf } = &mut self.active {
            // Online data: no line discipline, no echo; payload less a possible escape,
            // and less the LF of the CR LF that ended the command line.
            let (job, mut data) = (*job, Vec::with_capacity(input.len()));
            let from = usize::from(std::mem::take(skip_lf) && input.first() == Some(&b'\n'));
            esc.feed(&input[from..], self.ctx.now, &mut data);
            self.online_data(job, data);
            return (input.len(), false);
        }
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
                if let Active::Text(sink, _) = std::mem::replace(&mut self.active, Active::Idle) {
                    let res = sink.finish(&mut self.ctx, text);
                    self.resume("text", res);
                }
            }
            Event::TextNewLine => {
                if let Active::Text(_, prompt) = self.active {
                    self.prompt(prompt.as_bytes());
                }
            }
            Event::TextCancelled => match std::mem::replace(&mut self.active, Active::Idle) {
                Active::Text(sink, _) => {
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
        debug!(line = %String::from_utf8_lossy(&self.ctx.catalog.redact(line)), "command line");
        match parse_line(line) {
            Ok(invs) => {
                self.queue = invs
                    .into_iter()
                    .map(|i| QueuedInvocation { name: i.name, form: i.form, args: i.args.to_vec() })
                    .collect();
                self.advance();
            }
            Err(e) => self.fail("line", CmdError::Syntax(e)),
        }
    }

    /// Run queued invocations until the line ends or one opens a prompt/stream.
    fn advance(&mut self) {
        while let Some(p) = self.queue.pop_front() {
            if let Some((id, spec)) = self.ctx.overrides.take(&p.name, p.form, &p.args) {
                info!(command = %p.name, id, "answered by an override");
                match spec.action {
                    overrides::Action::Drop => {
                        self.queue.clear();
                        self.after_line();
                        return;
                    }
                    overrides::Action::Hang => {
                        self.active = Active::Hung { id, inv: p };
                        return;
                    }
                    overrides::Action::Respond if spec.delay_ms > 0 => {
                        self.active =
                            Active::Overridden { at: self.ctx.now + Duration::from_millis(spec.delay_ms), spec };
                        return;
                    }
                    overrides::Action::Respond if !self.override_answer(&spec) => return,
                    overrides::Action::Respond => continue,
                }
            }
            let res = dispatch(&mut self.ctx, &p);
            if !self.apply(&p.name, res) {
                return;
            }
        }
        self.finish_line();
    }

    /// An override's answer: its lines and its result. Returns true when the line goes on
    /// (the result is `OK`).
    fn override_answer(&mut self, spec: &overrides::OverrideSpec) -> bool {
        let framing = self.ctx.settings.framing();
        if !spec.lines.is_empty() {
            framing.info(&spec.lines, &mut self.out);
        }
        match spec.result.as_str() {
            "OK" => true,
            "none" => {
                self.queue.clear();
                self.after_line();
                false
            }
            "ERROR" => {
                self.queue.clear();
                framing.result(ResultCode::Error, &mut self.out);
                self.after_line();
                false
            }
            text => {
                self.end_line_with(text, ResultCode::Error);
                false
            }
        }
    }

    /// A line held by a `hang` override whose override is gone: the command runs now.
    fn release_hung(&mut self) {
        if let Active::Hung { id, .. } = &self.active
            && !self.ctx.overrides.contains(*id)
            && let Active::Hung { inv, .. } = std::mem::replace(&mut self.active, Active::Idle)
        {
            self.queue.push_front(inv);
            self.advance();
        }
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
                    None if sink.escaped() => self.ld.expect_stream_escaped(true),
                    None => self.ld.expect_stream(true),
                }
                self.active = Active::Data { sink, err: None };
                false
            }
            Then::Text { max, prompt, lines, sink } => {
                self.prompt(prompt.as_bytes());
                self.active = Active::Text(sink, prompt);
                if lines {
                    self.ld.expect_text_lines(max);
                } else {
                    self.ld.expect_text(max);
                }
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
            Then::After { delay, resume } => {
                self.active = Active::Delayed { at: self.ctx.now + delay, resume };
                false
            }
            Then::Offloaded(id) => {
                self.active = Active::Offloaded(id);
                false
            }
            Then::Online { job, banner } => {
                self.end_line_with(&banner, ResultCode::Connect);
                if self.ctx.jobs.is_running(job) {
                    let guard = Duration::from_millis(u64::from(self.ctx.settings.sreg[12]) * 20);
                    let skip_lf = self.ld.lf_pending();
                    self.ld.reset();
                    self.active = Active::Online { job, esc: online::Escape::new(guard, self.ctx.now), skip_lf };
                    self.ctx.online = Some(job);
                }
                false
            }
            Then::Final(text) => {
                self.end_line_with(&text, ResultCode::NoCarrier);
                false
            }
        }
    }

    /// End the line with a final result of its own text (verbose), or `numeric`'s number
    /// (ATV0); the rest of the line is not run.
    fn end_line_with(&mut self, text: &str, numeric: ResultCode) {
        let framing = self.ctx.settings.framing();
        if framing.verbose {
            if !framing.quiet {
                framing.info(&[text], &mut self.out);
            }
        } else {
            framing.result(numeric, &mut self.out);
        }
        self.queue.clear();
        self.after_line();
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
        if let CmdError::Reported { lines, .. } = e {
            framing.info(lines, &mut self.out);
        }
        if let CmdError::Coded { prefix, code, text, .. } = e {
            return framing.error_report(prefix, self.ctx.settings.cmee, *code, text, &mut self.out);
        }
        match e.cme_code() {
            Some(c) => framing.cme(self.ctx.settings.cmee, c.code(), c.text(), &mut self.out),
            None => framing.result(ResultCode::Error, &mut self.out),
        }
    }

    fn after_line(&mut self) {
        self.take_ctx_urcs();
        if std::mem::take(&mut self.ctx.power_off) {
            self.power_down();
        } else if std::mem::take(&mut self.ctx.reboot) {
            self.restart();
        }
    }

    /// Everything stopped, as for a restart, but no boot follows: the module answers
    /// nothing (it is off).
    fn power_down(&mut self) {
        info!("module powered off");
        self.stop_everything();
    }

    /// What a restart and a power-off share: jobs, timers, services, input and URCs gone.
    fn stop_everything(&mut self) {
        self.ld.reset();
        self.rx.clear();
        self.urcs.clear();
        self.urc_bytes = 0;
        self.queue.clear();
        self.ctx.jobs.abort_all();
        self.ctx.services.reset();
        self.ctx.timers.clear();
        self.ctx.urcs.clear();
        self.ctx.device = Default::default();
        self.ctx.online = None;
        self.active = Active::Idle;
        self.ctx.awake = false;
    }

    /// Power-cycle: every job stopped, every service and timer back to its power-on
    /// state, settings from the saved profile, boot URCs again.
    fn restart(&mut self) {
        info!("module restarting");
        let mut settings = Settings::factory(self.ctx.settings.ipr);
        if let Some(p) = self.ctx.saved_profile() {
            settings.apply(&p);
        }
        self.ctx.settings = settings;
        self.ctx.net.restart();
        self.ctx.efs.cwd = crate::efs::EfsPath::root(crate::efs::Drive::C);
        self.stop_everything();
        self.schedule_boot();
        self.handle_timeout(self.ctx.now);
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
        if matches!(self.active, Active::Online { .. }) {
            // Online: only payload goes out; the rest waits for command state.
            // A large piece goes out in parts, so what waits unsent stays below the backlog
            // at which a DTE counts as not reading.
            while self.out.len() < RELEASE_BACKLOG_MAX {
                let Some(i) = self.urcs.iter().position(|u| matches!(u, Urc::Raw(_))) else { break };
                let Some(Urc::Raw(mut data)) = self.urcs.remove(i) else { break };
                let room = RELEASE_BACKLOG_MAX - self.out.len();
                if data.len() > room {
                    let rest = data.split_off(room);
                    self.urcs.insert(i, Urc::Raw(rest));
                }
                self.urc_bytes = self.urc_bytes.saturating_sub(data.len());
                self.out.extend_from_slice(&data);
            }
            return;
        }
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
                Urc::Raw(data) => self.out.extend_from_slice(&data),
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

    /// Jobs that may have input for [`Modem::poll_job_input`].
    pub fn jobs_with_input(&self) -> Vec<JobId> {
        let mut ids = self.ctx.jobs.with_input();
        for id in &self.ctx.jobs.pulling {
            if !ids.contains(id) {
                ids.push(*id);
            }
        }
        ids
    }

    /// The next input for job `id` (upload data, session operations), if any: from its
    /// queue, else from its sink (an EFS file being uploaded).
    pub fn poll_job_input(&mut self, id: JobId) -> Option<JobInput> {
        if let Some(input) = self.ctx.jobs.pop_input(id) {
            // Room was made: an upload held back for this job may go on.
            self.process_rx();
            return Some(input);
        }
        if !self.ctx.jobs.pulling.contains(&id) {
            return None;
        }
        let mut sink = self.ctx.jobs.sinks.remove(&id)?;
        match sink.pull(&mut self.ctx) {
            None => {
                self.ctx.jobs.sinks.insert(id, sink);
                None
            }
            Some(Ok(input)) => {
                self.ctx.jobs.sinks.insert(id, sink);
                if matches!(input, JobInput::End) {
                    self.ctx.jobs.pulling.retain(|j| *j != id);
                }
                Some(input)
            }
            Some(Err(stopped)) => {
                self.stop_job(id, sink, stopped);
                None
            }
        }
    }

    /// The core ends job `id` with `result` (its sink refused data or could not supply it).
    fn stop_job(&mut self, id: JobId, sink: Box<dyn jobs::AnySink>, result: Box<dyn Any + Send>) {
        self.ctx.jobs.to_abort.push(id);
        self.ctx.jobs.ended(id);
        let mut urcs = Vec::new();
        let resume = sink.done(&mut self.ctx, result, &mut urcs);
        self.finish_event(id, urcs, resume);
    }

    /// Queue a job event's URCs and resume the line waiting on it, if any.
    fn finish_event(&mut self, id: JobId, urcs: Vec<Urc>, resume: Resume) {
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

    /// Whether the core takes job events now (false while too much output waits).
    pub fn accepting_events(&self) -> bool {
        self.urc_bytes < URC_BACKLOG_MAX && self.out.len() < URC_BACKLOG_MAX
    }

    /// Jobs whose events must wait (their sink says so: a receive cache full until the
    /// DTE reads it). Only those are held back, so the others go on meanwhile.
    pub fn paused_jobs(&self) -> Vec<JobId> {
        self.ctx.jobs.sinks.iter().filter(|(_, s)| s.paused(&self.ctx)).map(|(id, _)| *id).collect()
    }

    /// An event from job `id`.
    pub fn handle_job_event(&mut self, id: JobId, ev: JobEvent, now: Instant) {
        self.ctx.now = now;
        let Some(mut sink) = self.ctx.jobs.sinks.remove(&id) else {
            debug!(id, "event for a finished job ignored");
            return;
        };
        let mut urcs = Vec::new();
        let mut resume = None;
        match ev {
            JobEvent::Data(d) => {
                if let Err(stopped) = sink.data(&mut self.ctx, d, &mut urcs) {
                    for u in urcs {
                        self.push_urc(u);
                    }
                    return self.stop_job(id, sink, stopped);
                }
            }
            JobEvent::ReadyForInput => match sink.ready(&mut self.ctx) {
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
            JobEvent::Step(r) => resume = sink.step(&mut self.ctx, r, &mut urcs),
            JobEvent::Done(r) => {
                self.ctx.jobs.ended(id);
                let resume = sink.done(&mut self.ctx, r, &mut urcs);
                if matches!(self.active, Active::Online { job, .. } if job == id) {
                    // The connection is gone: command state (the sink said how it ended).
                    self.leave_online();
                }
                return self.finish_event(id, urcs, resume);
            }
        }
        self.ctx.jobs.sinks.insert(id, sink);
        self.finish_event(id, urcs, resume);
    }

    /// Blocking work to run off the core's thread, if any: one at a time, in order; its
    /// result goes to [`Modem::handle_offload_done`].
    pub fn poll_offload(&mut self) -> Option<(WorkId, Offload)> {
        self.ctx.jobs.to_offload.pop_front()
    }

    /// Offloaded work `id` finished with `result`.
    pub fn handle_offload_done(&mut self, id: WorkId, result: Box<dyn Any + Send>, now: Instant) {
        self.ctx.now = now;
        if let Some(then) = self.ctx.jobs.take_continuation(id) {
            let mut urcs = Vec::new();
            let resume = then(&mut self.ctx, result, &mut urcs);
            for u in urcs {
                self.push_urc(u);
            }
            self.take_ctx_urcs();
            if let Some(res) = resume
                && matches!(self.active, Active::Offloaded(w) if w == id)
            {
                self.active = Active::Idle;
                self.resume("offloaded", res);
            }
        }
        self.process_rx();
    }

    /// Run every offloaded work item here and now (transcripts, fuzzing, and the last
    /// writes at a clean stop when no runtime is left).
    #[doc(hidden)]
    pub fn run_offloads_inline(&mut self) {
        while let Some((id, work)) = self.poll_offload() {
            let r = (work.work)();
            self.handle_offload_done(id, r, self.ctx.now);
        }
    }

    /// A scripted event for job `id`, in its protocol's words (transcripts): `step ok
    /// [TEXT]`, `step <error>`, `done ok`, `done <error>`.
    #[doc(hidden)]
    pub fn script_job_event(&self, id: JobId, verb: &str, text: &str) -> Result<JobEvent, String> {
        let sink = self.ctx.jobs.sinks.get(&id).ok_or(format!("job {id} is not running"))?;
        sink.script(verb, text)
    }

    /// An event for job `id` made from fuzz input, typed by its sink.
    #[doc(hidden)]
    pub fn fuzz_job_event(&self, id: JobId, kind: u8, data: &[u8]) -> Option<JobEvent> {
        Some(self.ctx.jobs.sinks.get(&id)?.fuzz(kind, data))
    }

    /// Jobs whose sinks are alive (fuzzing).
    #[doc(hidden)]
    pub fn running_jobs(&self) -> Vec<JobId> {
        let mut ids: Vec<JobId> = self.ctx.jobs.sinks.keys().copied().collect();
        ids.sort_unstable();
        ids
    }
}

fn sreg_number(name: &str) -> Option<usize> {
    let digits = name.strip_prefix('S')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn dispatch(ctx: &mut Ctx, p: &QueuedInvocation) -> Result<Reply, CmdError> {
    let args = Args::parse(&p.args)?;
    if let Some(n) = sreg_number(&p.name) {
        return settings::s_register(ctx, n, p.form, args);
    }
    let spec = ctx
        .catalog
        .lookup(&p.name)
        .filter(|s| s.exists_on(&ctx.profile))
        .ok_or_else(|| CmdError::Unknown(p.name.clone()))?;
    let unknown = || CmdError::Unknown(format!("{} ({:?} form)", p.name, p.form));
    if !spec.has(p.form) {
        return Err(unknown());
    }
    if spec.needs_sim {
        ctx.net.require_sim()?;
    }
    if let (Form::Test, Some(text)) = (p.form, spec.test_text) {
        return Ok(if text.is_empty() { Reply::ok() } else { Reply::line(text) });
    }
    let handler = spec.handler(p.form).ok_or_else(unknown)?;
    handler(ctx, args.with_name(spec.name))
}
