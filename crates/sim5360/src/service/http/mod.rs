//! HTTP client (spec chapter 6, `AT+CHTTPACT`) and the connection code the HTTPS service
//! (`crate::service::https`, chapter 7) reuses.
//!
//! Flow: `AT+CHTTPACT="<host>",<port>[,<len>]` prints `+CHTTPACT: REQUEST`; the DTE enters
//! the raw request (up to Ctrl-Z, ESC aborts; or exactly `<len>` bytes); `OK`; one job
//! connects, relays the request verbatim, and passes the raw response back as
//! `+CHTTPACT: DATA,<len>` blocks until the response is complete (Content-Length, chunked
//! coding or the server's close, as `codec` decides), then `+CHTTPACT: 0`, or
//! `+CHTTPACT: <err>` (220-227) on failure.

pub(crate) mod codec;
mod commands;
pub mod job;

pub use commands::COMMANDS;

use crate::job::{JobId, NoOp, Protocol};
use crate::modem::Service;

/// Why an `AT+CHTTPACT` exchange failed: the result codes of spec §6.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    Unknown,
    Busy,
    Resolve,
    Timeout,
    Transfer,
    Memory,
    InvalidParam,
    Network,
}

impl HttpError {
    pub fn code(self) -> u16 {
        match self {
            Self::Unknown => 220,
            Self::Busy => 221,
            Self::Resolve => 222,
            Self::Timeout => 223,
            Self::Transfer => 224,
            Self::Memory => 225,
            Self::InvalidParam => 226,
            Self::Network => 227,
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Self::Unknown => "Unknown error for HTTP",
            Self::Busy => "HTTP task is busy",
            Self::Resolve => "Failed to resolve server address",
            Self::Timeout => "HTTP timeout",
            Self::Transfer => "Failed to transfer data",
            Self::Memory => "Memory error",
            Self::InvalidParam => "Invalid parameter",
            Self::Network => "Network error",
        }
    }

    pub fn cme(self) -> crate::modem::CmeError {
        crate::modem::CmeError::Service { code: self.code(), text: self.text() }
    }
}

impl HttpError {
    #[cfg(any(test, feature = "scripted"))]
    const ALL: [HttpError; 8] = [
        Self::Unknown,
        Self::Busy,
        Self::Resolve,
        Self::Timeout,
        Self::Transfer,
        Self::Memory,
        Self::InvalidParam,
        Self::Network,
    ];
}

/// The `AT+CHTTPACT` job's protocol: one exchange, no steps, [`HttpError`].
#[derive(Debug)]
pub struct Http;

impl Protocol for Http {
    type Step = ();
    type Error = HttpError;
    type Op = NoOp;

    #[cfg(any(test, feature = "scripted"))]
    fn parse_step(_: &str) -> Result<(), String> {
        Ok(())
    }

    /// A §6.2 code, 220-227.
    #[cfg(any(test, feature = "scripted"))]
    fn parse_error(text: &str) -> Result<HttpError, String> {
        let code: u16 = text.parse().map_err(|_| format!("HTTP error {text:?}: expected a code 220-227"))?;
        HttpError::ALL.into_iter().find(|e| e.code() == code).ok_or(format!("HTTP error {code}: not a code of §6.2"))
    }

    #[cfg(any(test, feature = "scripted"))]
    fn fuzz_step(_: &[u8]) {}

    #[cfg(any(test, feature = "scripted"))]
    fn fuzz_error(byte: u8) -> HttpError {
        HttpError::ALL[usize::from(byte) % HttpError::ALL.len()]
    }

    fn network_lost() -> Option<Self::Error> {
        Some(HttpError::Network)
    }
}

/// How an HTTP(S) session ended or failed to open: the SIM7600 HTTPS table (spec §7.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    PeerClosed,
    Timeout,
    Transfer,
    Network,
    Dns,
    Connect,
    Handshake,
}

impl SessionError {
    #[cfg(any(test, feature = "scripted"))]
    const ALL: [SessionError; 7] =
        [Self::PeerClosed, Self::Timeout, Self::Transfer, Self::Network, Self::Dns, Self::Connect, Self::Handshake];

    pub fn code(self) -> u16 {
        match self {
            Self::PeerClosed => 4,
            Self::Timeout => 5,
            Self::Transfer => 6,
            Self::Network => 9,
            Self::Dns => 13,
            Self::Connect => 14,
            Self::Handshake => 15,
        }
    }
}

/// The HTTPS session job's protocol: one step (connected), then a byte pipe.
#[derive(Debug)]
pub struct HttpSession;

impl Protocol for HttpSession {
    /// Connected.
    type Step = ();
    type Error = SessionError;
    type Op = NoOp;

    #[cfg(any(test, feature = "scripted"))]
    fn parse_step(_: &str) -> Result<(), String> {
        Ok(())
    }

    /// A §7.7 code.
    #[cfg(any(test, feature = "scripted"))]
    fn parse_error(text: &str) -> Result<SessionError, String> {
        let code: u16 = text.parse().map_err(|_| format!("HTTPS session error {text:?}: expected a code"))?;
        SessionError::ALL.into_iter().find(|e| e.code() == code).ok_or(format!("HTTPS session error {code}: unknown"))
    }

    #[cfg(any(test, feature = "scripted"))]
    fn fuzz_step(_: &[u8]) {}

    #[cfg(any(test, feature = "scripted"))]
    fn fuzz_error(byte: u8) -> SessionError {
        SessionError::ALL[usize::from(byte) % SessionError::ALL.len()]
    }

    fn network_lost() -> Option<Self::Error> {
        Some(SessionError::Network)
    }
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct HttpJob {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl HttpJob {
    /// `http <host>:<port> <plain|tls> <what>` (the job's label).
    pub fn label(&self, what: &str) -> String {
        format!("http {}:{} {} {what}", self.host, self.port, if self.tls { "tls" } else { "plain" })
    }
}

/// `AT+CHTTPACT` state.
#[derive(Debug, Default)]
pub struct HttpState {
    pub busy: Option<JobId>,
}

impl Service for HttpState {}
