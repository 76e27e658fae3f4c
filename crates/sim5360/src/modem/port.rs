//! The module's AT ports. A real SIM5360 is used through several: on USB the option
//! driver makes its AT port and its modem port ttys (besides diagnostics and NMEA, which
//! take no commands), and on its UART a 27.010 multiplexer opens virtual ports. Each AT
//! port has its own line: its line discipline and V.250 settings, the command line it is
//! running, its prompt or stream in progress, the job its line waits for, its online data
//! state, its receive FIFO, its output and its queue of URCs. The module state behind
//! them (SIM, registration, services, EFS, SMS, links) is one, in [`super::Ctx`].

use super::{CmdError, DataSink, OutputStream, Reply, Settings, TextSink, Urc, WorkId, online, overrides};
use crate::job::JobId;
use std::collections::VecDeque;
use std::time::Instant;
use v250::{Form, LineDiscipline};

/// An AT port of the module, by its place in [`super::Modem`]'s list (0 is the first).
pub type PortId = usize;

/// What a port is to the module: the `<port>` values of `AT+CATR` name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortRole {
    /// The UART (`AT+CATR=1`); the only port of the default view.
    Uart,
    /// The USB modem port, interface 3 (`AT+CATR=2`): AT commands and dialling.
    UsbModem,
    /// The USB AT port, interface 2 (`AT+CATR=3`).
    UsbAt,
    /// A 27.010 multiplexer's virtual port 1-4 (DLCI 1-4; `AT+CATR=4..7`).
    Mux(u8),
}

impl PortRole {
    /// The `<port>` of `AT+CATR` that names this role.
    pub fn catr(self) -> u8 {
        match self {
            Self::Uart => 1,
            Self::UsbModem => 2,
            Self::UsbAt => 3,
            Self::Mux(n) => 3 + n,
        }
    }

    /// The role `AT+CATR=<port>` names (`None` for 0, every port).
    pub fn from_catr(n: u8) -> Option<Self> {
        Some(match n {
            1 => Self::Uart,
            2 => Self::UsbModem,
            3 => Self::UsbAt,
            4..=7 => Self::Mux(n - 3),
            _ => return None,
        })
    }

    /// Its stable name in logs, the ready line and the control API: `uart`, `modem`, `at`,
    /// `mux1`..`mux4`.
    pub fn name(self) -> String {
        match self {
            Self::Uart => "uart".into(),
            Self::UsbModem => "modem".into(),
            Self::UsbAt => "at".into(),
            Self::Mux(n) => format!("mux{n}"),
        }
    }
}

impl std::fmt::Display for PortRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// What a port's line is doing.
#[derive(Debug)]
pub(super) enum Active {
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
        resume: fn(&mut super::Ctx) -> Result<Reply, CmdError>,
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
        mode: super::DataMode,
    },
}

/// An invocation of the current command line, waiting its turn.
#[derive(Debug)]
pub(super) struct QueuedInvocation {
    pub name: String,
    pub form: Form,
    pub args: Vec<u8>,
}

/// One AT port's own state (see the module documentation).
#[derive(Debug)]
pub(super) struct Port {
    pub role: PortRole,
    pub ld: LineDiscipline,
    /// Its V.250 settings while another port's code runs; while its own runs they are
    /// in `Ctx::settings` (see `Modem::focus`).
    pub settings: Settings,
    /// Which `AT+IPR` rates its line can take.
    pub rate_ok: fn(u32) -> bool,
    /// Output not yet taken by the runner.
    pub out: Vec<u8>,
    /// URCs waiting for a quiet point of this port.
    pub urcs: VecDeque<Urc>,
    pub urc_bytes: usize,
    /// The rest of the command line being run.
    pub queue: VecDeque<QueuedInvocation>,
    pub active: Active,
    /// DTE input not yet interpreted (bounded by `RX_MAX`).
    pub rx: VecDeque<u8>,
    /// Input bytes lost to a full receive FIFO, and echo bytes dropped, since power-on.
    pub dropped_input: u64,
    pub dropped_echo: u64,
    /// URCs meant for every port that this one lost while it held too many unread.
    pub dropped_urcs: u64,
    /// For `A/`.
    pub last_line: Vec<u8>,
    /// The job this port left the online data state with (`+++`), which `ATO` resumes.
    pub suspended: Option<JobId>,
    /// An AT port now: false for a multiplexer's channel whose DLCI is not open, and for
    /// the UART while it is multiplexed. Such a port takes no input and no URCs.
    pub attached: bool,
}

impl Port {
    pub fn new(role: PortRole, settings: Settings) -> Self {
        Self {
            role,
            ld: LineDiscipline::new(),
            settings,
            rate_ok: |_| true,
            out: Vec::new(),
            urcs: VecDeque::new(),
            urc_bytes: 0,
            queue: VecDeque::new(),
            active: Active::Idle,
            rx: VecDeque::new(),
            dropped_input: 0,
            dropped_echo: 0,
            dropped_urcs: 0,
            last_line: Vec::new(),
            suspended: None,
            attached: true,
        }
    }

    /// Back to power-on: no line, no input, no URCs (the settings are the caller's).
    pub fn reset(&mut self) {
        self.ld.reset();
        self.rx.clear();
        self.urcs.clear();
        self.urc_bytes = 0;
        self.queue.clear();
        self.active = Active::Idle;
        self.suspended = None;
    }

    /// In command state with nothing running: URCs may go out.
    pub fn quiet(&self) -> bool {
        matches!(self.active, Active::Idle) && self.queue.is_empty() && !self.ld.in_data_mode()
    }

    /// In a data mode (online with a job): URCs other than its payload wait.
    pub fn in_data_mode(&self) -> bool {
        matches!(self.active, Active::Online { .. })
    }

    /// The job it is online with, if any.
    pub fn online_job(&self) -> Option<JobId> {
        match self.active {
            Active::Online { job, .. } => Some(job),
            _ => None,
        }
    }

    pub fn push_urc(&mut self, u: Urc) {
        self.urc_bytes += u.len();
        self.urcs.push_back(u);
    }
}
