//! POP3 client (spec chapter 4, `AT+POP3*`).
//!
//! Flow: `AT+POP3SRV` sets the account; `AT+POP3IN` opens a session (a job holding the
//! connection, logged in with USER/PASS) and reports `+POP3: SUCCESS`; `AT+POP3NUM`
//! (STAT), `AT+POP3LIST` (LIST) and `AT+POP3HDR` (TOP n 0) answer when done;
//! `AT+POP3GET` (UIDL, RETR, optional DELE) stores the mail under `C:/Email/` and reports
//! `+POP3: SUCCESS` and the file's path; `AT+POP3DEL` marks a mail; `AT+POP3OUT` sends QUIT
//! (deletions take effect); `AT+POP3STOP` drops the session (deletions discarded).
//! `AT+POP3READ` prints a stored mail. A session the server drops is reported as
//! `+POP3: NETWORK ERROR`; the next `AT+POP3IN` starts afresh.

mod commands;
pub mod job;

pub use commands::COMMANDS;

use crate::efs::{EfsPath, StagedFile};
use crate::modem::JobId;

/// Failure classes and the `+POP3: ...` result URC.
pub mod outcome {
    pub use crate::service::outcome::{NETWORK, SERVER, TIMEOUT};

    pub fn urc(result: Result<(), u16>) -> String {
        crate::service::outcome::urc("+POP3", result)
    }
}

/// One operation of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pop3Op {
    Stat,
    List(Option<u32>),
    Top(u32),
    Uidl(u32),
    Retr(u32),
    Dele(u32),
    Quit,
}

/// What the running operation's result is for.
#[derive(Debug)]
pub enum Pending {
    Login,
    Num,
    List,
    Hdr,
    GetUidl { n: u32, dele: bool },
    GetRetr { n: u32, dele: bool, path: EfsPath, file: Option<Box<dyn StagedFile>> },
    GetDele { path: EfsPath },
    Del,
    Out,
}

/// `AT+POP3*` state (its `Debug` masks the password).
pub struct Pop3State {
    pub server: String,
    pub user: String,
    pub password: String,
    pub port: u16,
    pub session: Option<JobId>,
    pub logged_in: bool,
    pub current: Option<Pending>,
}

impl Default for Pop3State {
    fn default() -> Self {
        Self {
            server: String::new(),
            user: String::new(),
            password: String::new(),
            port: 110,
            session: None,
            logged_in: false,
            current: None,
        }
    }
}

impl std::fmt::Debug for Pop3State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pop3State")
            .field("server", &self.server)
            .field("user", &self.user)
            .field("password", &"***")
            .field("port", &self.port)
            .field("session", &self.session)
            .field("logged_in", &self.logged_in)
            .field("current", &self.current)
            .finish()
    }
}
