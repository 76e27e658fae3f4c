//! PPP on an asynchronous serial line, as a cellular module runs it for the DTE that dialled
//! it: the network's side of the link.
//!
//! Written here, not taken from a crate: the PPP crates on crates.io implement the client
//! (the DTE's side: `ppproto`) or a kernel interface (`pppd` bindings); none implements the
//! peer that assigns the address and the DNS servers, asks for PAP or CHAP, and answers as
//! a module does. Everything is sans-IO: bytes and time in, bytes and events out, so it is
//! tested byte for byte and fuzzed.
//!
//! - [`hdlc`]: RFC 1662 framing: flags, escaping with an ACCM, FCS-16; a deframer that
//!   takes unescaped control bytes too and counts bad frames.
//! - [`packet`]: control packets (code, identifier, data) and their options.
//! - [`Engine`]: LCP (RFC 1661), PAP (RFC 1334), CHAP-MD5 (RFC 1994), IPCP (RFC 1332,
//!   RFC 1877 DNS), IPv4 packets up and down.
//! - [`describe`]: one line per packet for traces, pppd's notation, secrets masked.

pub mod describe;
mod engine;
mod fsm;
pub mod hdlc;
pub mod packet;

pub use describe::{TraceDecoder, describe};
pub use engine::{Auth, Config, DownReason, Engine, Event, Phase, Stats};

/// PPP protocol numbers this crate knows.
pub mod proto {
    pub const IPV4: u16 = 0x0021;
    pub const IPV6: u16 = 0x0057;
    pub const IPCP: u16 = 0x8021;
    pub const IPV6CP: u16 = 0x8057;
    pub const CCP: u16 = 0x80FD;
    pub const LCP: u16 = 0xC021;
    pub const PAP: u16 = 0xC023;
    pub const CHAP: u16 = 0xC223;
    pub const LQR: u16 = 0xC025;
}
