//! HTTPS stack (spec chapter 7, `AT+CHTTPS*`), reusing the HTTP connection code over TLS.
//!
//! Flow: `AT+CHTTPSSTART` acquires the stack; `AT+CHTTPSOPSE="<host>",<port>[,<type>]`
//! opens one session (a job holding the connection; type 1 plain HTTP, 2 TLS);
//! `AT+CHTTPSSEND=<len>` takes exactly `<len>` bytes at a `>` prompt and relays them (sends
//! may be chained; `AT+CHTTPSSEND` alone confirms with `+CHTTPSSEND: 0`); what the server
//! sends back is cached (at most [`CACHE_MAX`] bytes plus one 64 KiB read; the server is not read
//! while the cache is full) and announced by `+CHTTPS: RECV EVENT`; `AT+CHTTPSRECV=<max>`
//! returns up to `<max>` cached bytes as `+CHTTPSRECV: DATA,<len>` and `+CHTTPSRECV: 0`;
//! `AT+CHTTPSRECV?` tells the cached length. The server closing prints
//! `+CHTTPSNOTIFY: PEER CLOSED` (cached data stays readable). `AT+CHTTPSCLSE` closes,
//! `AT+CHTTPSSTOP` releases. SIM7600 wording (asynchronous `+CHTTPSxxx: <err>`,
//! `+CHTTPS:RECV EVENT`) comes from the profile.

mod commands;

pub use commands::COMMANDS;

use crate::job::JobId;
use crate::modem::Service;

pub use crate::service::cache::{CACHE_MAX, Cache};

/// Where the HTTPS stack is: one state, moved by its commands and its session's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stack {
    /// Not acquired (`AT+CHTTPSSTART` acquires it).
    #[default]
    Stopped,
    /// Acquired, no session.
    Started,
    /// `AT+CHTTPSOPSE` is connecting with this job: its step is the connection, its end a
    /// failure to open.
    Opening(JobId),
    /// A session is open with this job: its end is the server closing.
    Open(JobId),
}

impl Stack {
    /// The open session's job.
    pub fn open(self) -> Option<JobId> {
        match self {
            Self::Open(id) => Some(id),
            _ => None,
        }
    }

    /// The session's job, open or opening.
    pub fn session(self) -> Option<JobId> {
        match self {
            Self::Opening(id) | Self::Open(id) => Some(id),
            Self::Stopped | Self::Started => None,
        }
    }
}

/// `AT+CHTTPS*` state.
#[derive(Debug, Default)]
pub struct HttpsState {
    pub stack: Stack,
    pub cache: Cache,
    /// `RECV EVENT` already printed for the data now cached.
    pub notified: bool,
    /// `AT+CHTTPSRECV` (execute) waits for the response: the next data goes straight to
    /// the DTE, then `+CHTTPSRECV: 0`.
    pub recv_all: bool,
}

impl Service for HttpsState {}

impl HttpsState {
    /// The cache is full: no more data is taken from the server for now.
    /// Full, or would be with `held` more bytes.
    pub fn backlogged(&self, held: usize) -> bool {
        self.cache.is_full_with(held)
    }
}
