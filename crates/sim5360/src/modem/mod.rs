//! The sans-IO core: bytes and time in, bytes out. No network or file I/O of its own, no sleeps, no threads.
//!
//! A module has one or more AT ports ([`port`]): the UART, or the USB AT and modem ports,
//! the channels of a 27.010 multiplexer ([`mux`]). The runner feeds each port's bytes to
//! [`Modem::handle_input_on`], job events to [`Modem::handle_job_event`] and time to
//! [`Modem::handle_timeout`]; it writes what [`Modem::poll_transmit_on`] gives to that
//! port, starts the jobs [`Modem::poll_job`] gives, runs what [`Modem::poll_offload`]
//! gives off its thread, and sleeps until [`Modem::poll_timeout`]. The methods without
//! `_on` act on the first port.
//!
//! Life of a command line on a port: the port's [`LineDiscipline`] echoes and assembles
//! it; [`v250::parse_line`] splits it into invocations; each is looked up in the
//! [`Catalog`] and its handler returns a [`Reply`] or a [`CmdError`]; the
//! [`v250::Framing`] of that port's settings frames the answer; after the last invocation
//! comes one final `OK` (or the first error ends the line). A handler may open a `>`/`>>`
//! prompt, a long streamed answer, wait for a job or for a time; the rest of the line
//! resumes when that completes. URCs wait in the port's queue while a line runs or a
//! prompt is open and are released at its next quiet point, so a URC never lands inside
//! an answer. Where a URC goes: see [`output`].
//!
//! The core names no service: their states live in [`registry::Services`], built from
//! the [`Catalog`] in [`ModemConfig`]; their jobs' events reach their own typed [`JobSink`]s.
//! The file is split by concern: [`ctx`] (the shared state), [`port`] (a port's own),
//! `line` (the line machine), `output` (output, URCs and their routing), `job_side` (jobs,
//! offloaded work) and `power` (boot, restart, power-off).

pub mod aux;
pub mod clock;
pub mod configs;
pub mod ctx;
mod error;
mod frames;
mod job_side;
pub mod jobs;
mod line;
pub mod mux;
pub mod online;
mod output;
pub mod overrides;
pub mod port;
mod power;
pub mod redact;
pub mod registry;
mod reply;
pub mod settings;
mod stored;
pub mod table;
pub mod timers;

pub use aux::AuxPorts;
pub use clock::{ModuleClock, WallClock};
pub use configs::Configs;
pub use ctx::{Ctx, PowerRequest, UrcRoute};
pub use error::{CmdError, CmeError};
pub use jobs::{ErrorOf, InputSource, JobSink, JobTable, Offload, Resume, StepOf, WorkId};
pub use mux::{MuxParams, MuxState, MuxStatus};
pub use port::{PortId, PortRole};
pub use registry::{Catalog, Service, ServiceDef, Services};
pub use reply::{DataMode, DataSink, OutputStream, Reply, TextSink, Then, Urc};
pub use settings::{Nv, NvStore, Settings};
pub use stored::StoredValues;
pub use timers::{Timer, TimerId, Timers};

use crate::efs::{Efs, EfsError, Store};
use crate::network::state::NetState;
use crate::profile::Profile;
use port::{Active, Port};
use std::sync::Arc;
use std::time::{Duration, Instant};
use v250::Framing;

/// DTE input waiting to be interpreted (while a streamed answer is sent, a line waits for a
/// job, or the DTE does not read its answers), as a UART receive FIFO holds it; past it,
/// input is dropped and counted, as an overrun would drop it.
const RX_MAX: usize = 64 * 1024;
/// Most bytes the runner reads in one go (see [`Modem::wants_input_on`]).
pub const INPUT_READ_MAX: usize = 16 * 1024;

/// What a [`Modem`] is built from.
#[derive(Debug)]
pub struct ModemConfig {
    /// What the module is made of (the crate's is `registry::CATALOG`).
    pub catalog: &'static Catalog,
    pub profile: Profile,
    /// Its AT ports, in order (the default view: one UART).
    pub ports: Vec<PortRole>,
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
    /// A `model` module with one UART at 115200 bit/s, an in-memory EFS of `efs_bytes`
    /// per drive and an in-memory NV, no boot delay, no PIN: for tests, fuzzing and
    /// benches.
    pub fn in_memory(catalog: &'static Catalog, model: crate::profile::Model, efs_bytes: u64) -> Self {
        Self {
            catalog,
            profile: Profile::new(model),
            ports: vec![PortRole::Uart],
            boot_delay: Duration::ZERO,
            pin: None,
            baud: 115200,
            store: Box::new(crate::efs::MemStore::new(efs_bytes, efs_bytes)),
            nv: Arc::new(settings::MemNv::default()),
            configs: Configs::default(),
        }
    }
}

/// The virtual module. See the module documentation.
#[derive(Debug)]
pub struct Modem {
    ctx: Ctx,
    ports: Vec<Port>,
    boot_delay: Duration,
    /// The 27.010 multiplexer on the UART, while `AT+CMUX` holds.
    mux: Option<mux::Session>,
    /// Job events waiting for the end of their radio frame.
    frames: frames::Frames,
}

impl Modem {
    /// Power on at `now`. Fails only if the EFS cannot be prepared.
    pub fn new(cfg: ModemConfig, wall: WallClock, now: Instant) -> Result<Self, EfsError> {
        let efs = Efs::new(cfg.store)?;
        let net = NetState::new(cfg.pin.clone());
        let roles = if cfg.ports.is_empty() { vec![PortRole::Uart] } else { cfg.ports };
        let ctx = Ctx {
            settings: Settings::factory(cfg.baud),
            port: 0,
            port_roles: roles.clone(),
            urc_route: UrcRoute::default(),
            profile: cfg.profile,
            net,
            efs,
            nv: NvStore::new(cfg.nv),
            clock: ModuleClock::new(wall),
            now,
            power: PowerRequest::None,
            urcs: Vec::new(),
            jobs: JobTable::default(),
            timers: Timers::default(),
            services: Services::new(cfg.catalog.services),
            catalog: cfg.catalog,
            configs: cfg.configs,
            aux: AuxPorts::default(),
            device: Default::default(),
            awake: false,
            boot_urcs: Vec::new(),
            rate_ok: |_| true,
            online: Default::default(),
            overrides: Default::default(),
            injected: Configs::default(),
            notes: Vec::new(),
            uplink: Vec::new(),
            mux: MuxState::default(),
        };
        let ports = roles.into_iter().map(|r| Port::new(r, Settings::factory(cfg.baud))).collect();
        let mut m = Self { ctx, ports, boot_delay: cfg.boot_delay, mux: None, frames: Default::default() };
        m.load_settings();
        m.schedule_boot();
        m.handle_timeout(now);
        Ok(m)
    }

    /// Make port `p` the one whose code runs: its settings go into `Ctx::settings` (the
    /// port that was there gets its own back), jobs started now belong to it.
    fn focus(&mut self, p: PortId) {
        let cur = self.ctx.port;
        if p >= self.ports.len() {
            return;
        }
        if cur != p {
            std::mem::swap(&mut self.ctx.settings, &mut self.ports[cur].settings);
            std::mem::swap(&mut self.ctx.settings, &mut self.ports[p].settings);
            self.ctx.port = p;
        }
        self.ctx.rate_ok = self.ports[p].rate_ok;
        self.ctx.jobs.origin = p;
    }

    /// Port `p`'s settings (wherever they are now).
    fn settings_of(&self, p: PortId) -> &Settings {
        if p == self.ctx.port { &self.ctx.settings } else { &self.ports[p].settings }
    }

    /// The framing of port `p`'s settings.
    fn framing(&self, p: PortId) -> Framing {
        self.settings_of(p).framing()
    }

    /// The next message for the network beyond this module, oldest first.
    pub fn poll_uplink(&mut self) -> Option<crate::network::state::Uplink> {
        (!self.ctx.uplink.is_empty()).then(|| self.ctx.uplink.remove(0))
    }

    /// Notes for the trace (what the outside world did to the module on its own, by a
    /// timer of a family), oldest first; the runner writes them as `NOTE` lines.
    pub fn poll_note(&mut self) -> Option<String> {
        (!self.ctx.notes.is_empty()).then(|| self.ctx.notes.remove(0))
    }

    /// Handler state (tests and the runner read settings from it).
    pub fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    /// The roles of the module's AT ports, by [`PortId`].
    pub fn port_roles(&self) -> &[PortRole] {
        &self.ctx.port_roles
    }

    /// Run an action from outside the AT ports (the network delivering an SMS, a call
    /// coming in: what the control channel and tests do) on the module's state at `now`,
    /// as a timer would run; the URCs it raises go where the network's go. Returns what
    /// the action returns. A restart or power-off it asks for (`ctx.power`) happens then; a line held by a `hang` override whose override it
    /// removed goes on.
    pub fn act<R>(&mut self, now: Instant, action: impl FnOnce(&mut Ctx) -> R) -> R {
        self.ctx.now = now;
        self.refresh_mux_status();
        let r = action(&mut self.ctx);
        self.take_ctx_urcs(None);
        self.power_request();
        self.release_hung();
        self.process_rx();
        r
    }

    /// Output queued for auxiliary port `name` (the runner writes it to that port's
    /// transport).
    pub fn poll_aux(&mut self, name: &str) -> Option<Vec<u8>> {
        if name == "nmea" && self.nmea_on_mux() {
            // A multiplexer channel carries the stream now (`AT+CMUXSRVPORT=<n>,5`).
            return None;
        }
        self.ctx.aux.take(name)
    }

    /// Refuse `AT+IPR` rates for which `ok` is false on the first port (a serial device
    /// that cannot take them).
    pub fn limit_rates(&mut self, ok: fn(u32) -> bool) {
        self.limit_rates_on(0, ok);
    }

    /// Refuse `AT+IPR` rates for which `ok` is false on port `p`.
    pub fn limit_rates_on(&mut self, p: PortId, ok: fn(u32) -> bool) {
        if let Some(port) = self.ports.get_mut(p) {
            port.rate_ok = ok;
        }
        if self.ctx.port == p {
            self.ctx.rate_ok = ok;
        }
    }

    /// The first port's AT+IPR baud rate (0 = autobaud).
    pub fn baud(&self) -> u32 {
        self.baud_on(0)
    }

    /// Port `p`'s AT+IPR baud rate.
    pub fn baud_on(&self, p: PortId) -> u32 {
        if p < self.ports.len() { self.settings_of(p).ipr } else { 0 }
    }

    /// What a serial device carrying port `p` is set to (`AT+IPR`, `AT+IFC`).
    pub fn serial_line_on(&self, p: PortId) -> settings::SerialLine {
        if p < self.ports.len() {
            self.settings_of(p).serial_line()
        } else {
            settings::SerialLine { baud: 0, rtscts: false }
        }
    }

    /// When [`Modem::handle_timeout`] next has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let lines = self.ports.iter().filter_map(|p| match &p.active {
            Active::Delayed { at, .. } | Active::Overridden { at, .. } => Some(*at),
            Active::Online { esc, .. } => esc.deadline(),
            _ => None,
        });
        self.ctx.timers.next_deadline().into_iter().chain(lines).chain(self.frames.next_due()).min()
    }

    /// Time passed: run the timers that are due, in deadline order, and resume the lines
    /// waiting for their time.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.ctx.now = now;
        self.flush_due_frames(now);
        while let Some(t) = self.ctx.timers.pop_due(now) {
            tracing::debug!(timer = t.name, tag = t.tag, "timer");
            (t.fire)(&mut self.ctx, t.tag);
            self.take_ctx_urcs(None);
        }
        for p in 0..self.ports.len() {
            self.line_timeout(p, now);
        }
        self.process_rx();
    }

    /// Bytes from the DTE on the first port.
    pub fn handle_input(&mut self, input: &[u8], now: Instant) {
        self.handle_input_on(0, input, now);
    }

    /// Bytes from the DTE on port `p`. They are interpreted at once when nothing holds
    /// them back; otherwise they wait in the port's receive FIFO, and what does not fit in
    /// it is dropped.
    pub fn handle_input_on(&mut self, p: PortId, input: &[u8], now: Instant) {
        self.ctx.now = now;
        if !self.ctx.awake {
            tracing::debug!(len = input.len(), "input before boot ignored");
            return;
        }
        if p >= self.ports.len() {
            tracing::debug!(port = p, "input for a port the module does not have");
            return;
        }
        if input.contains(&b'\r') {
            // A command line may read what arrived: everything received by now is in.
            self.flush_all_frames();
        }
        if self.mux_on(p) {
            self.mux_input(input, now);
            return;
        }
        if !self.ports[p].attached {
            tracing::debug!(port = %self.ports[p].role, len = input.len(), "input for a closed channel dropped");
            return;
        }
        self.focus(p);
        let mut rest = input;
        if self.ports[p].rx.is_empty() {
            // Fast path: interpret straight from the caller's buffer. An event may complete
            // with no further byte (the end of a data entry), hence the loop on events.
            while self.interpreting(p) {
                let (n, event) = self.feed(p, rest);
                rest = &rest[n..];
                if !event && rest.is_empty() {
                    break;
                }
            }
        }
        let port = &mut self.ports[p];
        let room = RX_MAX.saturating_sub(port.rx.len());
        if rest.len() > room {
            let lost = rest.len() - room;
            port.dropped_input += lost as u64;
            tracing::warn!(
                port = %port.role,
                lost,
                total = port.dropped_input,
                "DTE input overrun: the receive buffer is full, input dropped"
            );
        }
        port.rx.extend(&rest[..rest.len().min(room)]);
        self.process_rx();
    }

    /// Whether the runner should read more of the first port's input now.
    pub fn wants_input(&self, output_stuck: bool) -> bool {
        self.wants_input_on(0, output_stuck)
    }

    /// Whether the runner should read more DTE input on port `p` now (at most
    /// [`INPUT_READ_MAX`] bytes). While its receive FIFO has room for that, yes. When it
    /// has not (a line waits for a job, an upload's job cannot take more), the DTE is made
    /// to wait, as with hardware flow control, unless it is not reading its own answers
    /// (`output_stuck`: the runner has had output waiting with none of it taken for a
    /// while): then input goes on being read and what does not fit is dropped, as a UART
    /// overrun would, so a DTE that does not read never deadlocks the modem. A DTE that
    /// reads, however slowly, is only made to wait: a backlog of output alone (answers or
    /// transparent-mode data) is no reason to drop what it sends.
    pub fn wants_input_on(&self, p: PortId, output_stuck: bool) -> bool {
        self.ports.get(p).is_some_and(|port| port.rx.len() + INPUT_READ_MAX <= RX_MAX || output_stuck)
    }

    /// The first port's dropped input and echo bytes (see [`Modem::dropped_on`]).
    pub fn dropped(&self) -> (u64, u64) {
        self.dropped_on(0)
    }

    /// Input bytes dropped because port `p`'s receive FIFO was full, and echo bytes
    /// dropped while its DTE was not reading, since power-on.
    pub fn dropped_on(&self, p: PortId) -> (u64, u64) {
        self.ports.get(p).map_or((0, 0), |port| (port.dropped_input, port.dropped_echo))
    }

    /// Whether port `p` is in the online data state (the runner watches DTR there).
    pub fn in_data_mode_on(&self, p: PortId) -> bool {
        self.ports.get(p).is_some_and(Port::in_data_mode)
    }

    /// What port `p` carries in its online data state, if it is in one.
    pub fn data_mode_on(&self, p: PortId) -> Option<DataMode> {
        match self.ports.get(p)?.active {
            Active::Online { mode, .. } => Some(mode),
            _ => None,
        }
    }

    /// Job `id` is hung up as a dropped DTR hangs it up: marked so, and told what its sink
    /// says a hang-up is (a data call ends at once; otherwise a close).
    pub(super) fn hang_up_job(&mut self, job: crate::job::JobId) {
        self.ctx.jobs.hang_up(job);
        let input = match self.ctx.jobs.take_sink(job) {
            Some(mut sink) => {
                let input = sink.hung_up(&mut self.ctx);
                self.ctx.jobs.put_sink(job, sink);
                input
            }
            None => crate::job::JobInput::Close,
        };
        self.ctx.jobs.send(job, input);
    }

    /// The DTE dropped DTR on port `p` (on a PTY: it set the line speed to 0). In the
    /// online data state `AT&D` decides: 0 nothing, 1 command state with the connection
    /// kept (`OK`; `ATO` resumes), 2 (the default) the connection is hung up: its job is
    /// told to close and its end says how (`NO CARRIER`).
    pub fn dtr_off_on(&mut self, p: PortId, now: Instant) {
        self.ctx.now = now;
        let Some(job) = self.ports.get(p).and_then(Port::online_job) else { return };
        let amp_d = self.settings_of(p).amp_d;
        tracing::info!(port = %self.ports[p].role, amp_d, "DTR dropped in the online data state");
        match amp_d {
            0 => {}
            1 => {
                self.leave_online(p);
                self.ports[p].suspended = Some(job);
                let framing = self.framing(p);
                framing.result(v250::ResultCode::Ok, &mut self.ports[p].out);
            }
            _ => self.hang_up_job(job),
        }
        self.process_rx();
    }
}
