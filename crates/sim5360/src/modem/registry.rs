//! What a module is made of, handed to the core from above: a [`Catalog`] of the device's
//! command areas and the service families ([`ServiceDef`]). The crate's one catalog is
//! built in `registry.rs`; `ModemConfig::catalog` carries it, so the core names none of
//! them. The core keeps one state value per service in [`Services`]: handlers and sinks
//! reach their own state with [`Services::get_mut`]; a restart rebuilds every state from
//! its definition.

use super::table::CommandSpec;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::OnceLock;

/// The device's command areas and the service families: everything that has handlers.
#[derive(Debug)]
pub struct Catalog {
    /// Command rows of the device itself (V.25ter, identification, network, file system).
    pub areas: &'static [&'static [CommandSpec]],
    pub services: &'static [ServiceDef],
    index: OnceLock<HashMap<&'static str, &'static CommandSpec>>,
}

impl Catalog {
    pub const fn new(areas: &'static [&'static [CommandSpec]], services: &'static [ServiceDef]) -> Self {
        Self { areas, services, index: OnceLock::new() }
    }

    /// Every command, in table order (the device's areas, then each family's rows).
    pub fn commands(&'static self) -> impl Iterator<Item = &'static CommandSpec> {
        self.areas.iter().copied().chain(self.services.iter().map(|s| s.commands)).flatten()
    }

    /// The command called `name` (upper case), if any.
    pub fn lookup(&'static self, name: &str) -> Option<&'static CommandSpec> {
        self.index.get_or_init(|| self.commands().map(|c| (c.name, c)).collect()).get(name).copied()
    }

    /// Packet service came (`up`) or went: every running job whose protocol says how ends
    /// with its service's network error, then every family with a hook is told, in order.
    pub fn network_changed(&'static self, ctx: &mut super::Ctx, up: bool) {
        if !up {
            ctx.jobs.network_lost();
        }
        for hook in self.services.iter().filter_map(|s| s.on_network) {
            hook(ctx, up);
        }
    }

    /// PDP context `cid` was deactivated: every family with a hook is told.
    pub fn pdp_down(&'static self, ctx: &mut super::Ctx, cid: u8) {
        for hook in self.services.iter().filter_map(|s| s.on_pdp_down) {
            hook(ctx, cid);
        }
    }
}

/// A service's state, as the registry keeps it. Its `Default` is the power-on state.
pub trait Service: Any + Send + Debug {}

/// One service family: its name, its command rows, its power-on state, and AT commands
/// that take that state away from its defaults (used by the test that every service is
/// reset by a restart).
#[derive(Debug)]
pub struct ServiceDef {
    pub name: &'static str,
    pub commands: &'static [CommandSpec],
    pub new: fn() -> Box<dyn Service>,
    /// Command lines (each sent as `AT<line>`) that change the service's state.
    pub sample: &'static [&'static str],
    /// Called when packet service comes (`true`) or goes (`false`): registration or
    /// coverage changes, `AT+CFUN`.
    pub on_network: Option<fn(&mut super::Ctx, bool)>,
    /// Called when a PDP context is deactivated (`AT+CGACT=0`), with its cid.
    pub on_pdp_down: Option<fn(&mut super::Ctx, u8)>,
    /// The family's part of the state the control channel reports.
    pub on_state: Option<fn(&mut super::Ctx) -> serde_json::Value>,
    /// Called at every power-on (boot or restart), after the state is rebuilt.
    pub on_power_on: Option<fn(&mut super::Ctx)>,
}

fn boxed<T: Service + Default>() -> Box<dyn Service> {
    Box::new(T::default())
}

impl ServiceDef {
    pub const fn of<T: Service + Default>(
        name: &'static str,
        commands: &'static [CommandSpec],
        sample: &'static [&'static str],
    ) -> Self {
        Self {
            name,
            commands,
            new: boxed::<T>,
            sample,
            on_network: None,
            on_pdp_down: None,
            on_state: None,
            on_power_on: None,
        }
    }

    /// With its part of the control channel's state report.
    pub const fn on_state(mut self, report: fn(&mut super::Ctx) -> serde_json::Value) -> Self {
        self.on_state = Some(report);
        self
    }

    /// With a hook run at every power-on.
    pub const fn on_power_on(mut self, hook: fn(&mut super::Ctx)) -> Self {
        self.on_power_on = Some(hook);
        self
    }

    /// With a hook for a PDP context deactivated.
    pub const fn on_pdp_down(mut self, hook: fn(&mut super::Ctx, u8)) -> Self {
        self.on_pdp_down = Some(hook);
        self
    }

    /// With a hook for packet service coming and going.
    pub const fn on_network(mut self, hook: fn(&mut super::Ctx, bool)) -> Self {
        self.on_network = Some(hook);
        self
    }
}

/// Every service's state (part of `Ctx`).
#[derive(Debug)]
pub struct Services {
    defs: &'static [ServiceDef],
    states: Vec<(TypeId, Box<dyn Service>)>,
}

impl Services {
    /// Every service of `defs` at its power-on state.
    pub fn new(defs: &'static [ServiceDef]) -> Self {
        let mut s = Self { defs, states: Vec::new() };
        s.reset();
        s
    }

    /// Back to the power-on state (a restart).
    pub fn reset(&mut self) {
        self.states = self
            .defs
            .iter()
            .map(|d| {
                let state = (d.new)();
                ((*state).type_id(), state)
            })
            .collect();
    }

    /// The state of service `T`.
    pub fn get<T: Service>(&self) -> Option<&T> {
        let id = TypeId::of::<T>();
        self.states.iter().find(|(t, _)| *t == id).and_then(|(_, s)| (s.as_ref() as &dyn Any).downcast_ref())
    }

    /// The state of service `T` (its power-on state is added if it was not registered, so
    /// this never fails).
    pub fn get_mut<T: Service + Default>(&mut self) -> &mut T {
        let id = TypeId::of::<T>();
        let at = match self.states.iter().position(|(t, _)| *t == id) {
            Some(i) => i,
            None => {
                self.states.push((id, Box::new(T::default())));
                self.states.len() - 1
            }
        };
        let any: &mut dyn Any = self.states[at].1.as_mut();
        match any.downcast_mut::<T>() {
            Some(s) => s,
            // The TypeId matched, so the downcast cannot fail.
            None => unreachable!("service state of the wrong type"),
        }
    }

    /// The states, in registry order, for inspection (`Debug` masks secrets).
    pub fn states(&self) -> impl Iterator<Item = (&'static str, &dyn Service)> {
        self.defs.iter().zip(&self.states).map(|(d, (_, s))| (d.name, s.as_ref()))
    }
}
