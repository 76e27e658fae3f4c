//! Network time (device spec §3.11, §3.14): `AT+CTZU`/`AT+CTZR` with the `+CTZV` report and
//! the clock update when the module registers (NITZ); `AT+CNTPCID`/`AT+CNTP` (a real SNTP
//! query, `+CNTP: <err>`); `AT+CHTPSERV`/`AT+CHTPUPDATE` (the `Date` of a real HTTP server,
//! `+CHTPUPDATE: <err>`). Each sets the module clock (`AT+CCLK?`).
//!
//! Flow: `AT+CNTP="<host>[:<port>]",<tz>` sets the server and the zone (quarter hours);
//! `AT+CNTP` answers `OK` and starts one job; its step is the server's UTC time, which the
//! sink sets (in that zone); then `+CNTP: 0`, or `+CNTP: 3` when the server cannot be
//! reached or answers nonsense. `AT+CHTPSERV="ADD","<host>",<port>,<version>` lists servers;
//! `AT+CHTPUPDATE` asks them in turn for `HEAD /` and takes the first `Date:`.

mod commands;
pub mod job;

pub use commands::COMMANDS;

use crate::job::{JobId, NoOp, Protocol};
use crate::modem::{Ctx, Service, Urc};
use chrono::{DateTime, Utc};

/// Why a time query failed (`+CNTP: <err>`, `+CHTPUPDATE: <err>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeError {
    /// The server could not be reached, or did not answer in time.
    Network,
    /// The answer held no usable time.
    BadTime,
}

impl TimeError {
    /// `+CNTP:` code (SIM7600/A76 table: 2 wrong date/time, 3 network error).
    pub fn ntp_code(self) -> u8 {
        match self {
            Self::Network => 3,
            Self::BadTime => 2,
        }
    }

    /// `+CHTPUPDATE:` code (UNCERTAIN: 0 is the only one evidenced).
    pub fn htp_code(self) -> u8 {
        match self {
            Self::Network => 2,
            Self::BadTime => 3,
        }
    }
}

/// A time job's protocol: one step, the server's UTC time.
#[derive(Debug)]
pub struct TimeQuery;

impl Protocol for TimeQuery {
    type Step = DateTime<Utc>;
    type Error = TimeError;
    type Op = NoOp;

    /// An RFC 3339 time.
    #[cfg(any(test, feature = "scripted"))]
    fn parse_step(text: &str) -> Result<DateTime<Utc>, String> {
        DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).map_err(|e| format!("{text:?}: {e}"))
    }

    /// `network` or `time`.
    #[cfg(any(test, feature = "scripted"))]
    fn parse_error(text: &str) -> Result<TimeError, String> {
        match text {
            "network" => Ok(TimeError::Network),
            "time" => Ok(TimeError::BadTime),
            _ => Err(format!("time error {text:?}: expected network or time")),
        }
    }

    #[cfg(any(test, feature = "scripted"))]
    fn fuzz_step(data: &[u8]) -> DateTime<Utc> {
        let secs = data.iter().fold(0i64, |a, b| a.wrapping_mul(31).wrapping_add(i64::from(*b)));
        DateTime::from_timestamp(secs.rem_euclid(4_000_000_000), 0).unwrap_or_default()
    }

    #[cfg(any(test, feature = "scripted"))]
    fn fuzz_error(byte: u8) -> TimeError {
        if byte.is_multiple_of(2) { TimeError::Network } else { TimeError::BadTime }
    }

    fn network_lost() -> Option<Self::Error> {
        Some(TimeError::Network)
    }
}

/// An HTTP time server of `AT+CHTPSERV`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtpServer {
    pub host: String,
    pub port: u16,
    pub version: u8,
}

/// The time service's state.
#[derive(Debug)]
pub struct TimeState {
    /// `AT+CTZU`: take the network's time at registration.
    pub ctzu: u8,
    /// `AT+CTZR`: report `+CTZV` at registration.
    pub ctzr: u8,
    /// `AT+CNTPCID`.
    pub ntp_cid: u8,
    /// `AT+CNTP="<host>",<tz>`.
    pub ntp_host: String,
    pub ntp_tz: i8,
    pub ntp_busy: Option<JobId>,
    pub htp_servers: Vec<HtpServer>,
    pub htp_busy: Option<JobId>,
    /// The network's time zone in quarter hours (what NITZ gives).
    pub network_tz: i8,
}

impl Default for TimeState {
    fn default() -> Self {
        Self {
            ctzu: 0,
            ctzr: 0,
            ntp_cid: 1,
            ntp_host: String::new(),
            ntp_tz: 0,
            ntp_busy: None,
            htp_servers: Vec::new(),
            htp_busy: None,
            network_tz: 0,
        }
    }
}

impl Service for TimeState {}

pub(crate) fn state(ctx: &mut Ctx) -> &mut TimeState {
    ctx.services.get_mut()
}

/// Registration hook: network time once registered.
pub fn network_changed(ctx: &mut Ctx, up: bool) {
    if up {
        network_time(ctx);
    }
}

/// The module registered: network time (NITZ). With `AT+CTZU=1` the clock takes the
/// network's time and zone; with `AT+CTZR=1`, `+CTZV: <tz>,<yy/MM/dd>,<hh:mm:ss>,<dst>`
/// (local time; UNCERTAIN layout for the SIM5360, A76's).
pub fn network_time(ctx: &mut Ctx) {
    let (ctzu, ctzr, tz) = {
        let t = state(ctx);
        (t.ctzu, t.ctzr, t.network_tz)
    };
    let utc = ctx.clock.wall_now();
    if ctzu == 1 {
        ctx.clock.set_utc(utc, tz);
    }
    if ctzr == 1 {
        let local = utc + chrono::Duration::minutes(15 * i64::from(tz));
        let sign = if tz < 0 { '-' } else { '+' };
        let line = format!("+CTZV: {sign}{:02},{},0", tz.unsigned_abs(), local.format("%y/%m/%d,%H:%M:%S"));
        ctx.urcs.push(Urc::Line(line));
    }
}
