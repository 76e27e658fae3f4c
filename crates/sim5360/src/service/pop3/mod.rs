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
pub mod reply;

pub use commands::COMMANDS;

use crate::efs::{EfsPath, StagedFile};
use crate::job::{JobId, Protocol};
use crate::modem::Service;
use crate::service::outcome::MailError;
use std::fmt;

/// The `+POP3: ...` result URC.
pub fn result_urc(result: Result<(), MailError>) -> String {
    crate::service::outcome::urc("+POP3", result)
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

impl fmt::Display for Pop3Op {
    /// `stat`, `list [<n>]`, `top <n>`, `uidl <n>`, `retr <n>`, `dele <n>`, `quit`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pop3Op::Stat => f.write_str("stat"),
            Pop3Op::List(None) => f.write_str("list"),
            Pop3Op::List(Some(n)) => write!(f, "list {n}"),
            Pop3Op::Top(n) => write!(f, "top {n}"),
            Pop3Op::Uidl(n) => write!(f, "uidl {n}"),
            Pop3Op::Retr(n) => write!(f, "retr {n}"),
            Pop3Op::Dele(n) => write!(f, "dele {n}"),
            Pop3Op::Quit => f.write_str("quit"),
        }
    }
}

/// What a successful operation reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pop3Step {
    /// Logged in, deleted, quit, or a mail retrieved (its bytes came as data).
    Ok,
    /// STAT: the number of mails and their total size.
    Stat { count: u64, octets: u64 },
    /// LIST: each mail's number and size.
    List(Vec<(u64, u64)>),
    /// TOP n 0: the header lines.
    Header(Vec<String>),
    /// UIDL n: the mail's unique id (empty when the server has none).
    Uidl(String),
}

/// The POP3 session's protocol.
#[derive(Debug)]
pub struct Pop3;

impl Protocol for Pop3 {
    type Step = Pop3Step;
    type Error = MailError;
    type Op = Pop3Op;

    /// ``, `stat <count> <octets>`, `list <n> <size>[;<n> <size>...]`,
    /// `header <line>[|<line>...]`, `uidl <id>`.
    #[cfg(any(test, feature = "scripted"))]
    fn parse_step(text: &str) -> Result<Pop3Step, String> {
        let num = |s: &str| s.trim().parse::<u64>().map_err(|_| format!("bad number {s:?}"));
        let pair = |s: &str| -> Result<(u64, u64), String> {
            let (a, b) = s.trim().split_once(' ').ok_or(format!("expected `<n> <m>`, got {s:?}"))?;
            Ok((num(a)?, num(b)?))
        };
        Ok(match text.split_once(' ') {
            None if text.is_empty() => Pop3Step::Ok,
            Some(("stat", rest)) => {
                let (count, octets) = pair(rest)?;
                Pop3Step::Stat { count, octets }
            }
            Some(("list", rest)) => Pop3Step::List(rest.split(';').map(pair).collect::<Result<_, _>>()?),
            Some(("header", rest)) => Pop3Step::Header(rest.split('|').map(str::to_owned).collect()),
            Some(("uidl", id)) => Pop3Step::Uidl(id.to_owned()),
            _ => return Err(format!("POP3 step {text:?}: expected stat, list, header, uidl or nothing")),
        })
    }

    #[cfg(any(test, feature = "scripted"))]
    fn parse_error(text: &str) -> Result<MailError, String> {
        MailError::parse(text)
    }

    #[cfg(any(test, feature = "scripted"))]
    fn fuzz_step(data: &[u8]) -> Pop3Step {
        let n = |i: usize| u64::from(data.get(i).copied().unwrap_or(0));
        match data.first().map(|b| b % 5) {
            Some(1) => Pop3Step::Stat { count: n(1), octets: n(2) * 1000 },
            Some(2) => Pop3Step::List(data.chunks(2).map(|c| (u64::from(c[0]), c.len() as u64)).collect()),
            Some(3) => Pop3Step::Header(String::from_utf8_lossy(&data[1..]).lines().map(str::to_owned).collect()),
            Some(4) => Pop3Step::Uidl(String::from_utf8_lossy(&data[1..]).into_owned()),
            _ => Pop3Step::Ok,
        }
    }

    #[cfg(any(test, feature = "scripted"))]
    fn fuzz_error(byte: u8) -> MailError {
        MailError::from_byte(byte)
    }

    fn network_lost() -> Option<Self::Error> {
        Some(MailError::Network)
    }
}

/// What the running operation's result is for.
#[derive(Debug)]
pub enum ResultFor {
    Login,
    Num,
    List,
    Hdr,
    GetUidl {
        n: u32,
        dele: bool,
    },
    GetRetr {
        n: u32,
        dele: bool,
        path: EfsPath,
        file: Option<Box<dyn StagedFile>>,
    },
    GetDele {
        path: EfsPath,
    },
    /// The retrieved mail is being committed to the EFS (off the core's thread).
    Commit,
    Del,
    Out,
}

/// `AT+POP3*` state (its `Debug` masks the password).
pub struct Pop3State {
    pub server: String,
    pub user: String,
    pub password: String,
    pub port: u16,
    pub session: Session,
    /// The operation of the session whose result comes next.
    pub current: Option<ResultFor>,
}

/// The POP3 session: one state, moved by `AT+POP3IN`, the login's result, the job's end and
/// `AT+POP3STOP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Session {
    #[default]
    Closed,
    /// `AT+POP3IN` runs with this job.
    LoggingIn(JobId),
    /// Logged in: the job takes operations.
    LoggedIn(JobId),
}

impl Session {
    /// The session's job, logged in or not.
    pub fn job(self) -> Option<JobId> {
        match self {
            Self::LoggingIn(id) | Self::LoggedIn(id) => Some(id),
            Self::Closed => None,
        }
    }
}

impl Service for Pop3State {}

impl Default for Pop3State {
    fn default() -> Self {
        Self {
            server: String::new(),
            user: String::new(),
            password: String::new(),
            port: 110,
            session: Session::Closed,
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
            .field("current", &self.current)
            .finish()
    }
}
