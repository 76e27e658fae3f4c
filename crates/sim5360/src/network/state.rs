//! The network side's plain state: the SIM, registration, PDP contexts and the radio, as
//! the core keeps them in `Ctx::net`. No handlers here (they are in `network/`), so the
//! core can hold this state without importing the commands.

use crate::modem::{CmdError, CmeError, TimerId};
use serde::{Deserialize, Serialize};

/// Default SIM PUK when the SIM is PIN-locked (`--pin`).
pub const DEFAULT_PUK: &str = "12345678";

pub(super) const PIN_TRIES: u8 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sim {
    Ready,
    PinRequired,
    PukRequired,
    /// Taken out (the control channel): no PIN state until it is inserted again.
    Absent,
}

/// A registration state, as `<stat>` of `+CREG`/`+CGREG`/`+CEREG` (27.007).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegStat {
    NotSearching = 0,
    Home = 1,
    Searching = 2,
    Denied = 3,
    Unknown = 4,
    Roaming = 5,
}

impl RegStat {
    pub fn registered(self) -> bool {
        matches!(self, Self::Home | Self::Roaming)
    }
}

/// One PDP context definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pdp {
    pub pdp_type: String,
    pub apn: String,
    pub addr: String,
    pub d_comp: u8,
    pub h_comp: u8,
}

/// Socket PDP authentication (`AT+CSOCKAUTH`), also `AT+CGAUTH`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SockAuth {
    pub auth_type: u8,
    pub password: String,
    pub user: String,
}

/// What `AT+CGSOCKCONT`, `AT+CSOCKAUTH` and `AT+CSOCKSETPN` define; kept in NV.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketPdp {
    pub contexts: Vec<(u8, Pdp)>,
    pub auth: Vec<(u8, SockAuth)>,
    pub active: Option<u8>,
}

/// Network-side state of the module (its `Debug` masks the PIN, PUK and passwords).
pub struct NetState {
    pub(super) pin: Option<String>,
    pub(super) puk: String,
    pub sim: Sim,
    pub(super) pin_tries: u8,
    pub cfun: u8,
    /// Circuit-switched (`+CREG`) and packet (`+CGREG`/`+CEREG`) registration.
    pub cs: RegStat,
    pub ps: RegStat,
    /// `AT+CREG=<n>`, `AT+CGREG=<n>`, `AT+CEREG=<n>`: URC presentation 0-2.
    pub creg_n: u8,
    pub cgreg_n: u8,
    pub cereg_n: u8,
    pub cops_format: u8,
    /// `AT+COPS` mode: 0 automatic, 1 manual, 2 deregistered (stays so until 0 or 1).
    pub cops_mode: u8,
    /// The radio model (signal, cell, band, mode preferences, its URC switches).
    pub radio: Radio,
    pub cgdcont: Vec<(u8, Pdp)>,
    pub cgauth: Vec<(u8, SockAuth)>,
    pub(super) pdp_active: std::collections::BTreeSet<u8>,
    pub socket: SocketPdp,
    pub(super) socket_loaded: bool,
    /// The network can be reached (the control channel takes coverage away).
    pub coverage: bool,
    /// The context a data call (PPP) holds, while one is up.
    pub data_call: Option<u8>,
    /// The context the socket service (`AT+NETOPEN`) holds, while it is open.
    pub socket_service: Option<u8>,
    /// The SIM's state before it was taken out (a PUK-blocked SIM stays blocked).
    pub(super) removed: Option<Sim>,
    /// `AT+CGEREP=<mode>,<bfr>`: `+CGEV` URCs on (mode 1, 2) or off.
    pub cgerep: (u8, u8),
    /// Why the last data call failed or ended (`AT+CEER`).
    pub ceer: &'static str,
}

impl std::fmt::Debug for NetState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetState")
            .field("sim", &self.sim)
            .field("cfun", &self.cfun)
            .field("cs", &self.cs)
            .field("ps", &self.ps)
            .field("radio", &self.radio)
            .finish_non_exhaustive()
    }
}

impl NetState {
    pub fn new(pin: Option<String>) -> Self {
        let sim = if pin.is_some() { Sim::PinRequired } else { Sim::Ready };
        let reg = if sim == Sim::Ready { RegStat::Home } else { RegStat::NotSearching };
        Self {
            pin,
            puk: DEFAULT_PUK.into(),
            sim,
            pin_tries: PIN_TRIES,
            cfun: 1,
            cs: reg,
            ps: reg,
            creg_n: 0,
            cgreg_n: 0,
            cereg_n: 0,
            cops_format: 0,
            cops_mode: 0,
            radio: Radio::default(),
            cgdcont: vec![(1, default_pdp(""))],
            cgauth: Vec::new(),
            pdp_active: Default::default(),
            socket: SocketPdp::default(),
            socket_loaded: false,
            coverage: true,
            data_call: None,
            socket_service: None,
            removed: None,
            cgerep: (0, 0),
            ceer: super::pdp::CEER_NONE,
        }
    }

    /// Power cycle: volatile state back to power-on values.
    pub fn restart(&mut self) {
        let mut fresh = Self::new(self.pin.clone());
        fresh.socket = std::mem::take(&mut self.socket);
        fresh.socket_loaded = self.socket_loaded;
        // What is physical survives a restart: a blocked or missing SIM, the coverage.
        if matches!(self.sim, Sim::PukRequired | Sim::Absent) {
            fresh.sim = self.sim;
            fresh.cs = RegStat::NotSearching;
            fresh.ps = RegStat::NotSearching;
        }
        fresh.removed = self.removed;
        fresh.coverage = self.coverage;
        if !self.coverage {
            fresh.cs = RegStat::Searching;
            fresh.ps = RegStat::Searching;
        }
        fresh.puk.clone_from(&self.puk);
        *self = fresh;
    }

    /// The PDP contexts active now (`AT+CGACT?` 1).
    pub fn active_contexts(&self) -> Vec<u8> {
        self.pdp_active.iter().copied().collect()
    }

    pub fn sim_locked(&self) -> bool {
        self.sim != Sim::Ready
    }

    /// `Err` with the right `+CME ERROR` unless the SIM is ready.
    pub fn require_sim(&self) -> Result<(), CmdError> {
        match self.sim {
            Sim::Ready => Ok(()),
            Sim::PinRequired => Err(CmdError::cme(CmeError::SimPinRequired, "SIM is PIN-locked")),
            Sim::PukRequired => Err(CmdError::cme(CmeError::SimPukRequired, "SIM is PUK-locked")),
            Sim::Absent => Err(CmdError::cme(CmeError::SimNotInserted, "no SIM")),
        }
    }

    /// Registered (home or roaming): calls, SMS and services can use the network.
    pub fn registered(&self) -> bool {
        self.cs.registered()
    }

    /// Attached to the packet domain: PDP contexts and data services can work.
    pub fn packet_attached(&self) -> bool {
        self.ps.registered()
    }
}

/// The radio side of the device model.
#[derive(Debug, Clone)]
pub struct Radio {
    /// `+CSQ` while registered: rssi 0-31 (99 unknown), ber 0-7 (99 unknown).
    pub rssi: u8,
    pub ber: u8,
    /// Location area and cell id of the serving cell.
    pub lac: u16,
    pub ci: u32,
    /// WCDMA: band text, primary scrambling code, downlink UARFCN (Ec/Io and RSCP follow
    /// from the signal: [`Radio::ecio_tenths`], [`Radio::rscp`]).
    pub band: &'static str,
    pub psc: u16,
    pub uarfcn: u16,
    /// `AT+CNMP` (2 automatic, 13 GSM only, 14 WCDMA only, 38 LTE only, ...).
    pub mode_pref: u8,
    /// `AT+CNAOP` acquisition order.
    pub acq_order: u8,
    /// `AT+CNBP` band mask.
    pub bands: u64,
    /// `AT+CNSMOD=1`: report network mode changes.
    pub cnsmod_urc: bool,
    /// `AT+AUTOCSQ=<auto>,<mode>`.
    pub autocsq: (u8, u8),
    pub(super) autocsq_timer: Option<TimerId>,
    /// `AT+CPSI=<secs>`: report every so many seconds (0 off).
    pub cpsi_period: u8,
    pub(super) cpsi_timer: Option<TimerId>,
}

/// One radio state: every figure the DTE sees (`+CSQ`, `+CPSI`, `+CCINFO`) comes from
/// the rssi, so a signal change (the control API, a preset, chaos) moves them together.
impl Radio {
    /// The received signal in dBm (`+CSQ` 0 = -113 dBm, 2 dB a step, 31 = -51 dBm).
    pub fn dbm(&self) -> i32 {
        -113 + 2 * i32::from(self.rssi.min(31))
    }

    /// Ec/Io in tenths of a dB, shown positive: -4.5 dB from `+CSQ` 21 up (an unloaded
    /// cell), half a dB worse per step below it (-15 dB at 0), as interference takes a
    /// larger share of a weak signal.
    pub fn ecio_tenths(&self) -> u16 {
        45 + 5 * u16::from(21u8.saturating_sub(self.rssi.min(31)))
    }

    /// RSCP in dBm, shown positive: RSSI plus Ec/Io (25.215), rounded.
    pub fn rscp(&self) -> u16 {
        let tenths = -self.dbm() * 10 + i32::from(self.ecio_tenths());
        u16::try_from((tenths + 5) / 10).unwrap_or(0)
    }
}

impl Default for Radio {
    fn default() -> Self {
        Self {
            rssi: 21,
            ber: 99,
            lac: 0x00C3,
            ci: 0x0A1B2C3,
            band: "WCDMA 2100",
            psc: 214,
            uarfcn: 10713,
            mode_pref: 2,
            acq_order: 2,
            bands: 0x0000_0000_04C0_0380,
            cnsmod_urc: false,
            autocsq: (0, 0),
            autocsq_timer: None,
            cpsi_period: 0,
            cpsi_timer: None,
        }
    }
}

pub fn default_pdp(apn: &str) -> Pdp {
    Pdp { pdp_type: "IP".into(), apn: apn.into(), addr: "0.0.0.0".into(), d_comp: 0, h_comp: 0 }
}

/// How a call goes, as one modem of a fleet tells the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEvent {
    Dial,
    Ringing,
    Answered,
    Busy,
    NoAnswer,
    Hangup,
}

impl CallEvent {
    pub const ALL: [CallEvent; 6] =
        [Self::Dial, Self::Ringing, Self::Answered, Self::Busy, Self::NoAnswer, Self::Hangup];

    /// Its wire name (`dial`, `ringing`, `answered`, `busy`, `noanswer`, `hangup`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dial => "dial",
            Self::Ringing => "ringing",
            Self::Answered => "answered",
            Self::Busy => "busy",
            Self::NoAnswer => "noanswer",
            Self::Hangup => "hangup",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

impl std::fmt::Display for CallEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message for the network beyond this module (another modem of a fleet), taken by the
/// runner; only the fleet's core network gives it a wire form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uplink {
    /// An SMS-SUBMIT's message as the SMS-DELIVER TPDU the target gets (hex).
    Sms { to: String, pdu: String },
    /// A call's progress, for the other party.
    Call { to: String, event: CallEvent },
}

impl Uplink {
    /// The number it is for.
    pub fn to(&self) -> &str {
        match self {
            Self::Sms { to, .. } | Self::Call { to, .. } => to,
        }
    }
}
