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

use crate::modem::JobId;

/// Bound of the receive cache: past it the session stops reading from the server.
pub const CACHE_MAX: usize = 256 * 1024;

/// The receive cache: bytes appended at the back, taken from the front, in bulk copies.
#[derive(Debug, Default)]
pub struct Cache {
    buf: Vec<u8>,
    start: usize,
}

impl Cache {
    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn push(&mut self, data: &[u8]) {
        // Reclaim the consumed front once it is the larger part.
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Take up to `n` bytes from the front.
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.len());
        let out = self.buf[self.start..self.start + n].to_vec();
        self.start += n;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        out
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
    }
}

/// What the line waiting on the session expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pending {
    #[default]
    None,
    Open,
    Close,
}

/// `AT+CHTTPS*` state.
#[derive(Debug, Default)]
pub struct HttpsState {
    pub started: bool,
    pub session: Option<JobId>,
    pub connected: bool,
    pub pending: Pending,
    pub cache: Cache,
    /// `RECV EVENT` already printed for the data now cached.
    pub notified: bool,
}

impl HttpsState {
    /// The cache is full: no more data is taken from the server for now.
    pub fn backlogged(&self) -> bool {
        self.cache.len() >= CACHE_MAX
    }
}

#[cfg(test)]
mod tests {
    use super::Cache;

    #[test]
    fn cache_is_fifo() {
        let mut c = Cache::default();
        c.push(b"hello");
        assert_eq!(c.take(2), b"he");
        c.push(b" world");
        assert_eq!(c.len(), 9);
        assert_eq!(c.take(100), b"llo world");
        assert!(c.is_empty());
        assert_eq!(c.take(1), b"");
    }
}
