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

use crate::modem::JobId;

/// HTTP result codes (spec §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpCode {
    Unknown,
    Busy,
    Resolve,
    Timeout,
    Transfer,
    Memory,
    InvalidParam,
    Network,
}

impl HttpCode {
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

/// What an HTTP job does.
#[derive(Debug, Clone)]
pub enum HttpMode {
    /// Send `request`, relay one response, close.
    Once { request: Vec<u8> },
    /// Keep the connection: relay input to the server and everything it sends back,
    /// until `JobInput::Close` or the server closes.
    Session,
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct HttpJob {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub mode: HttpMode,
}

/// `AT+CHTTPACT` state.
#[derive(Debug, Default)]
pub struct HttpState {
    pub busy: Option<JobId>,
}
