//! The state command handlers, sinks and timers work on: one [`Ctx`] per module, shared by
//! every port; and where unsolicited result codes go ([`UrcRoute`]).

use super::port::{PortId, PortRole};
use super::{
    AuxPorts, Catalog, Configs, JobTable, ModuleClock, NvStore, Services, Settings, Timer, TimerId, Timers, Urc,
    overrides, settings,
};
use crate::efs::Efs;
use crate::job::JobId;
use crate::network::state::NetState;
use crate::profile::Profile;
use std::any::Any;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tracing::warn;

/// NV key of the AT&W user profile.
const NV_PROFILE: &str = "profile.json";

/// Which ports get the module's unsolicited result codes (`AT+CATR`): those of the
/// network, the SIM and the timers. A URC that answers a command (a job's result, its
/// data) goes to the port that sent the command instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UrcRoute {
    /// Every AT port in command state (`AT+CATR=0`, the default); while every one is in
    /// data mode, they wait on all of them.
    #[default]
    All,
    /// The port with this role (`AT+CATR=1..7`); where the module has none, every port.
    Only(PortRole),
}

/// A change of power a command asked for (`AT+CRESET`, `AT+CFUN=1,1`, `AT+CPOF`, the
/// control channel's reboot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PowerRequest {
    #[default]
    None,
    /// Restart: every job stopped, every state at power-on, boot URCs again.
    Restart,
    /// Power off: the module answers nothing more.
    Off,
}

/// State the command handlers work on.
#[derive(Debug)]
pub struct Ctx {
    /// The V.250 settings of the port whose command runs now ([`Ctx::port`]); each port
    /// has its own (echo, `ATV`, `ATQ`, S-registers, `+CMEE`, `+IPR`).
    pub settings: Settings,
    /// The port on whose behalf the code runs now (its line, its job's events).
    pub port: PortId,
    /// The roles of the module's AT ports, by [`PortId`].
    pub port_roles: Vec<PortRole>,
    /// Where the network's URCs go (`AT+CATR`).
    pub urc_route: UrcRoute,
    pub profile: Profile,
    pub net: NetState,
    pub efs: Efs,
    pub nv: NvStore,
    pub clock: ModuleClock,
    /// The time of the input being handled (set by the core before every call).
    pub now: Instant,
    /// What a handler or an action asked of the module's power, done once the line's answer
    /// is out (or the action is over).
    pub power: PowerRequest,
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
    /// Auxiliary output ports (the NMEA stream), besides the AT ports.
    pub aux: AuxPorts,
    /// The device model: battery, temperature, switches.
    pub device: crate::general::device_state::Device,
    /// Commands are accepted once the first boot URC is out.
    pub awake: bool,
    /// The boot URCs of this power-on, in order.
    pub(super) boot_urcs: Vec<&'static str>,
    /// What the module is made of: the command areas and the service families.
    pub catalog: &'static Catalog,
    /// Which `AT+IPR` rates the current port's line can take (all, unless its transport
    /// limits them).
    pub rate_ok: fn(u32) -> bool,
    /// The jobs some port is in the online data state with (set by the core; their sinks
    /// push [`Urc::Raw`] while they are, and buffer otherwise).
    pub(super) online: BTreeSet<JobId>,
    /// Answer overrides of the control channel (kept across restarts; its reset clears
    /// them).
    pub overrides: overrides::Overrides,
    /// What the control channel changed in the module's world (a GNSS position, say),
    /// by type, over `configs`; kept across restarts, cleared by its reset. Read both
    /// with [`Ctx::setting`].
    pub injected: Configs,
    /// Notes for the trace, taken by the runner (see `Modem::poll_note`).
    pub notes: Vec<String>,
    /// Messages for the network beyond this module (another modem of a fleet), taken by
    /// the runner (see `Modem::poll_uplink`); the core does not read them.
    pub uplink: Vec<crate::network::state::Uplink>,
    /// The 27.010 multiplexer's settings and state (`AT+CMUX`, `AT+CMUXSRVPORT`).
    pub mux: super::MuxState,
}

impl Ctx {
    /// Whether a port is in the online data state with job `job`.
    pub fn is_online(&self, job: JobId) -> bool {
        self.online.contains(&job)
    }

    /// The role of the port whose command runs now.
    pub fn port_role(&self) -> PortRole {
        self.port_roles.get(self.port).copied().unwrap_or(PortRole::Uart)
    }

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
