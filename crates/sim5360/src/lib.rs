//! A virtual SIMCom SIM5360 cellular module.
//!
//! [`modem::Modem`] is the sans-IO core (bytes and time in, bytes out); [`runner`] pumps it
//! over a [`transport`]. Commands are grouped by feature: [`general`], [`network`],
//! [`efs`]. [`profile`] is the one place that knows which model is emulated.

pub mod control;
pub mod efs;
#[doc(hidden)]
#[cfg(any(test, feature = "scripted"))]
pub mod fuzzing;
pub mod general;
pub mod job;
pub mod modem;
pub mod net;
pub mod network;
pub mod profile;
pub mod registry;
pub mod runner;
pub mod service;
pub mod transport;
