//! GNSS (device spec §6): `AT+CGPS` sessions, `AT+CGPSINFO` (once or every `<n>` seconds),
//! the start modes and assistance settings, and the module's NMEA port.
//!
//! Flow: `AT+CGPS=1[,<mode>]` (or `AT+CGPSCOLD`/`AT+CGPSHOT`) starts a session; the fix
//! comes after the time to first fix (`--gnss-ttff`, default 5 s; 1 s for a hot start);
//! until then `AT+CGPSINFO` answers the empty form. The position comes from the
//! [`GnssConfig`] (`--gnss LAT,LON[,ALT]` or a GPX/NMEA track replayed in real time, in a
//! loop). While a session runs, GGA, RMC, GSA, GSV and VTG go to the NMEA port every
//! second. `AT+CGPS=0` answers `OK` and reports `+CGPS: 0` once the engine stopped.

mod commands;
pub mod nmea;
pub mod track;

pub use commands::COMMANDS;
pub use track::{Fix, PositionSource, Track};

use crate::modem::{Service, TimerId};
use std::time::{Duration, Instant};

/// The auxiliary port the NMEA sentences go to.
pub const NMEA_PORT: &str = "nmea";

/// The sky is hidden (the control channel's `{fix: false}`): a running session has no
/// fix until this goes.
#[derive(Debug, Clone, Copy)]
pub struct NoSky;

/// GNSS settings from the command line (or injected by the control channel).
#[derive(Debug, Clone)]
pub struct GnssConfig {
    pub source: PositionSource,
    /// Time to first fix of a cold or automatic start.
    pub ttff: Duration,
    /// Time to first fix of a hot start (`AT+CGPSHOT`).
    pub hot_ttff: Duration,
    /// When a track's replay starts (its first point is now).
    pub origin: Instant,
}

impl GnssConfig {
    pub fn new(source: PositionSource, ttff: Duration, origin: Instant) -> Self {
        Self { source, ttff, hot_ttff: ttff.min(Duration::from_secs(1)), origin }
    }
}

/// Where the module is when nothing else is said: the Brandenburg Gate, 34 m.
pub const DEFAULT_POSITION: Fix = Fix { lat: 52.516_275, lon: 13.377_704, alt: 34.0, speed_kn: 0.0, course: 0.0 };

/// The GNSS engine's state.
#[derive(Debug)]
pub struct GnssState {
    /// A session runs (`AT+CGPS=1`).
    pub on: bool,
    /// `AT+CGPS=1,<mode>`: 1 standalone, 2 UE-based, 3 UE-assisted.
    pub mode: u8,
    /// When the running session has its first fix.
    pub fix_at: Option<Instant>,
    /// `AT+CGPSINFO=<secs>` (0: no reports).
    pub info_period: u8,
    info_timer: Option<TimerId>,
    nmea_timer: Option<TimerId>,
    /// Settings stored and read back: `AT+CGPSAUTO`, `AT+CGPSPMD`, `AT+CGPSMSB`,
    /// `AT+CGPSHOR`, `AT+CGPSMD`, `AT+CGPSSSL`, `AT+CGPSXE`, `AT+CGPSNMEA`.
    settings: crate::modem::StoredValues<u32>,
    /// `AT+CGPSURL`.
    pub url: String,
}

impl Default for GnssState {
    fn default() -> Self {
        Self {
            on: false,
            mode: 1,
            fix_at: None,
            info_period: 0,
            info_timer: None,
            nmea_timer: None,
            settings: Default::default(),
            url: String::new(),
        }
    }
}

impl Service for GnssState {}

impl GnssState {
    /// Whether the running session has a fix at `now`.
    pub fn has_fix(&self, now: Instant) -> bool {
        self.on && self.fix_at.is_some_and(|t| t <= now)
    }
}

/// The family's part of the control channel's state report: the session and the fix.
pub fn report(ctx: &mut crate::modem::Ctx) -> serde_json::Value {
    let now = ctx.now;
    let hidden = ctx.setting::<NoSky>().is_some();
    let injected = ctx.injected.get::<GnssConfig>().is_some();
    let st = ctx.services.get_mut::<GnssState>();
    serde_json::json!({ "on": st.on, "fix": st.has_fix(now) && !hidden, "sky_hidden": hidden, "position_injected": injected })
}
