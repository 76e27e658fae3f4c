//! The link between the module and the servers it reaches, made worse on purpose: faults
//! per service with Toxiproxy's toxic types and attribute names (github.com/Shopify/toxiproxy),
//! and network conditions (presets or custom figures, §6.5) for every connection.
//!
//! Every service connects through [`super::NetConfig::connect`]; when a fault or a
//! condition applies, the service gets a loopback socket whose other end is a relay task
//! (a Toxiproxy inside the process) that forwards to the real server, delaying, slicing,
//! throttling, stalling, cutting or resetting as the rules say. The services stay as they
//! are: what breaks is their socket, so each reports what it reports for that failure on
//! a real network, its own error code. The rules are read on every chunk, so a fault
//! added while a transfer runs bites that transfer.

mod condition;
mod fault;
mod relay;
mod rules;

pub use condition::{Condition, FLAKY, PRESETS, Preset};
pub use fault::{Direction, Fault, Kind};
pub use relay::relay;
pub use rules::{Before, LinkRules};
