//! PPP data calls: how Linux (pppd, ModemManager), ESP-IDF (esp_modem), Zephyr and OVMS
//! move IP through the module.
//!
//! Flow: `ATD*99#`, `ATD*99***<cid>#` or `AT+CGDATA="PPP",<cid>` (any AT port) answers
//! `CONNECT 115200` and puts the port in the online data state with a call job
//! (`job.rs`): the module's side of PPP (`crates/ppp`: LCP, PAP/CHAP if asked, IPCP with
//! the context's address and two DNS servers) and behind it a userspace IP stack with NAT
//! (`nat.rs`): TCP and UDP to any address relayed to host sockets through the link rules
//! (faults on service `ppp`, conditions, coverage), `10.64.64.64` (`--ppp-host-alias`) the
//! host's `127.0.0.1`, DNS answered at the two DNS addresses, ICMP echo as `AT+CPING`
//! probes. `+++` keeps the call (`ATO` resumes); `ATH`, `AT+CGACT=0`, the DTE's LCP
//! Terminate-Request, DTR dropped (`AT&D2`), coverage lost and `AT+CFUN=0` end it:
//! `NO CARRIER` on the data port, then `+PPPD: DISCONNECTED`.

mod commands;
mod job;
mod nat;

pub use commands::{COMMANDS, dial, hang_up};
pub use nat::Nat;

use crate::job::{JobId, Protocol};
use crate::modem::{Ctx, Service};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The address a connection from the PPP side reaches the host's `127.0.0.1` at by
/// default: the peer address pppd and lwIP assume when the network gives none.
pub const HOST_ALIAS: Ipv4Addr = Ipv4Addr::new(10, 64, 64, 64);
/// The DNS servers IPCP hands out; the module answers them itself.
pub const DNS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 64, 64, 53), Ipv4Addr::new(10, 64, 64, 54)];

/// Data call settings from the command line.
#[derive(Debug, Clone)]
pub struct PppConfig {
    /// The authentication the network asks of the DTE (`--ppp-auth`).
    pub auth: ppp::Auth,
    /// The address that stands for the host's loopback (`--ppp-host-alias`).
    pub alias: Ipv4Addr,
}

impl Default for PppConfig {
    fn default() -> Self {
        Self { auth: ppp::Auth::None, alias: HOST_ALIAS }
    }
}

/// Why a call ended, as the job reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEnd {
    /// The DTE's LCP Terminate-Request.
    Terminated,
    AuthFailed,
    /// No LCP/IPCP agreement with the DTE.
    NoResponse,
    Rejected,
    /// Ended by the module or the network (`ATH`, `AT+CGACT=0`, coverage, DTR).
    Closed,
}

impl From<ppp::DownReason> for CallEnd {
    fn from(r: ppp::DownReason) -> Self {
        match r {
            ppp::DownReason::PeerTerminated => Self::Terminated,
            ppp::DownReason::AuthFailed => Self::AuthFailed,
            ppp::DownReason::NoResponse => Self::NoResponse,
            ppp::DownReason::Rejected => Self::Rejected,
            ppp::DownReason::Closed => Self::Closed,
        }
    }
}

impl CallEnd {
    #[cfg(any(test, feature = "scripted"))]
    const ALL: [CallEnd; 5] = [Self::Terminated, Self::AuthFailed, Self::NoResponse, Self::Rejected, Self::Closed];

    /// Its name (transcripts, logs, the state report).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Terminated => "terminated",
            Self::AuthFailed => "auth-failed",
            Self::NoResponse => "no-response",
            Self::Rejected => "rejected",
            Self::Closed => "closed",
        }
    }
}

/// What one step of the call reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PppStep {
    /// IPCP is up: the DTE has `addr` and the DNS servers.
    Up { addr: Ipv4Addr },
}

/// What the core tells a running call besides `Close` (which ends it the PPP way, with
/// an LCP Terminate-Request the DTE acknowledges).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOp {
    /// End at once: the DTE cannot take part (DTR dropped, or its port is in command
    /// state after `+++`).
    HangUp,
}

impl std::fmt::Display for CallOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("hang up")
    }
}

/// The data call's job vocabulary.
#[derive(Debug)]
pub struct Ppp;

impl Protocol for Ppp {
    type Step = PppStep;
    type Error = CallEnd;
    type Op = CallOp;

    #[cfg(any(test, feature = "scripted"))]
    fn parse_step(text: &str) -> Result<PppStep, String> {
        match text.split_once(' ') {
            Some(("up", addr)) => Ok(PppStep::Up { addr: addr.parse().map_err(|e| format!("address {addr:?}: {e}"))? }),
            _ => Err(format!("ppp step {text:?}: up <addr>")),
        }
    }

    #[cfg(any(test, feature = "scripted"))]
    fn parse_error(text: &str) -> Result<CallEnd, String> {
        CallEnd::ALL.into_iter().find(|e| e.as_str() == text).ok_or(format!("ppp end {text:?}"))
    }

    #[cfg(any(test, feature = "scripted"))]
    fn fuzz_step(data: &[u8]) -> PppStep {
        let b = |i: usize| data.get(i).copied().unwrap_or(0);
        PppStep::Up { addr: Ipv4Addr::new(b(0), b(1), b(2), b(3)) }
    }

    #[cfg(any(test, feature = "scripted"))]
    fn fuzz_error(byte: u8) -> CallEnd {
        CallEnd::ALL[usize::from(byte) % CallEnd::ALL.len()]
    }
}

/// What the call job counts, read by the state report while it runs.
#[derive(Debug, Default)]
pub struct Counters {
    /// PPP bytes from and to the DTE.
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// TCP and UDP flows open now, and since the call began.
    pub flows: AtomicU64,
    pub flows_total: AtomicU64,
    /// Flows refused: too many at once, or the host refused.
    pub refused: AtomicU64,
    /// Where PPP is (`establish`, `authenticate`, `network`, `terminate`, `dead`).
    pub phase: Mutex<&'static str>,
}

impl Counters {
    pub fn get(v: &AtomicU64) -> u64 {
        v.load(Ordering::Relaxed)
    }
}

/// One data call.
#[derive(Debug)]
pub struct Call {
    pub job: JobId,
    pub cid: u8,
    /// The address the DTE got, once IPCP is up.
    pub addr: Option<Ipv4Addr>,
    /// `ATH` on a port that is not online with the call ended it (no `NO CARRIER` then:
    /// `ATH` answered `OK` itself).
    pub by_ath: bool,
    pub counters: Arc<Counters>,
    pub since: std::time::Instant,
}

/// The data call family's state: at most one call (the module has one packet data call).
#[derive(Debug, Default)]
pub struct PppState {
    pub call: Option<Call>,
}

impl Service for PppState {}

fn state(ctx: &mut Ctx) -> &mut PppState {
    ctx.services.get_mut()
}

/// The call to end, if any: with an LCP Terminate-Request while its port is online (the
/// DTE acknowledges it), at once while the port is in command state after `+++` (the DTE
/// would never see it).
fn end_call(ctx: &mut Ctx, why: &str) {
    if let Some(c) = &state(ctx).call {
        tracing::info!(cid = c.cid, "data call ended: {why}");
        let job = c.job;
        if ctx.is_online(job) {
            ctx.jobs.send(job, crate::job::JobInput::Close);
        } else {
            ctx.jobs.send_op::<Ppp>(job, CallOp::HangUp);
        }
    }
}

/// Packet service went (coverage, `AT+CFUN=0`): the call ends as the network ends it.
pub fn network_changed(ctx: &mut Ctx, up: bool) {
    if !up {
        end_call(ctx, "packet service lost");
    }
}

/// A context was deactivated (`AT+CGACT=0`): the call on it ends.
pub fn pdp_down(ctx: &mut Ctx, cid: u8) {
    if state(ctx).call.as_ref().is_some_and(|c| c.cid == cid) {
        end_call(ctx, "its context was deactivated");
    }
}

/// The family's part of the control channel's state report: the call, if any.
pub fn report(ctx: &mut Ctx) -> serde_json::Value {
    let now = ctx.now;
    let Some(c) = &state(ctx).call else { return serde_json::json!({ "call": null }) };
    let k = &c.counters;
    let phase = *k.phase.lock().unwrap_or_else(|e| e.into_inner());
    serde_json::json!({ "call": {
        "cid": c.cid,
        "phase": phase,
        "addr": c.addr.map(|a| a.to_string()),
        "dns": DNS.map(|a| a.to_string()),
        "seconds": now.saturating_duration_since(c.since).as_secs(),
        "bytes_in": Counters::get(&k.bytes_in),
        "bytes_out": Counters::get(&k.bytes_out),
        "flows": Counters::get(&k.flows),
        "flows_total": Counters::get(&k.flows_total),
        "refused": Counters::get(&k.refused),
    }})
}
