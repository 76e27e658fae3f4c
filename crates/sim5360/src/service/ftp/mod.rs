//! FTP (spec chapter 5, `AT+CFTP*`) and FTPS (chapter 8, `AT+CFTPS*`) clients.
//!
//! Flow, FTP: `AT+CFTPSERV`, `AT+CFTPPORT`, `AT+CFTPUN`, `AT+CFTPPW`, `AT+CFTPMODE`,
//! `AT+CFTPTYPE` configure; each of `AT+CFTPGET`, `GETFILE`, `PUTFILE`, `PUT`, `LIST`,
//! `MKD`, `RMD`, `DELE` starts one job that connects, logs in, performs that one operation
//! and quits. GET/GETFILE/PUTFILE/LIST answer `OK` at once and report later
//! (`+CFTPGET: DATA,<len>` blocks, `+CFTPGET: 0` or `+CFTPGET: <err>`); MKD/RMD/DELE
//! answer `OK` or `+CME ERROR: <err>` when done; PUT prints `+CFTPPUT: BEGIN`, takes data
//! up to Ctrl-Z and answers `OK` (or `+CME ERROR: <err>`). One operation at a time: a
//! second one gets 202 (busy) and setters answer `ERROR` while one runs.
//!
//! Flow, FTPS: `AT+CFTPSSTART`, then `AT+CFTPSLOGIN` opens one session (a job holding the
//! control connection) that runs `MKD`, `RMD`, `DEL(E)`, `CWD`, `PWD`, `LIST`, `GET`,
//! `GETFILE`, `PUT`, `PUTFILE`, `SIZE` in turn until `AT+CFTPSLOGOUT`; `AT+CFTPSSTOP`
//! releases the stack. `GET`/`LIST` with `<cache>` 1 keep the data in a bounded cache read
//! by `AT+CFTPSCACHERD`; `AT+CFTPSPUT="<path>",<len>` starts an upload taking more
//! `AT+CFTPSPUT=<len>` chunks until `AT+CFTPSPUT` (WCDMA). The same job and codec serve
//! both, with TLS (explicit AUTH TLS/SSL + PBSZ 0 + PROT P, or implicit) for FTPS. Per-model wording (SIM7600's asynchronous
//! `+CFTPSxxx: <err>` lines and its error table) comes from the profile.

pub(crate) mod codec;
mod commands;
pub mod job;
mod sinks;

pub use commands::COMMANDS;

use crate::job::{JobId, Protocol};
use crate::modem::Service;
use std::fmt;

/// Why an FTP operation failed: the result codes of spec §5.15, also the `+CME ERROR`
/// codes of the FTP commands (the SIM7600 FTPS table maps them in `profile.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FtpError {
    Unknown,
    Busy,
    Resolve,
    Timeout,
    ReadFile,
    WriteFile,
    NotAllowed,
    Login,
    Logout,
    Transfer,
    Rejected,
    Memory,
    InvalidParam,
    Network,
}

impl FtpError {
    /// The SIM7600 FTPS error table for this failure.
    pub fn ftps_lte_code(self) -> u16 {
        use FtpError as F;
        match self {
            F::Unknown => 2,
            F::Busy => 3,
            F::Resolve => 12,
            F::Timeout => 5,
            F::ReadFile | F::WriteFile => 17,
            F::NotAllowed => 11,
            F::Login | F::Rejected => 9,
            F::Logout | F::Network => 10,
            F::Transfer => 6,
            F::Memory => 7,
            F::InvalidParam => 8,
        }
    }

    pub fn code(self) -> u16 {
        match self {
            Self::Unknown => 201,
            Self::Busy => 202,
            Self::Resolve => 203,
            Self::Timeout => 204,
            Self::ReadFile => 205,
            Self::WriteFile => 206,
            Self::NotAllowed => 207,
            Self::Login => 208,
            Self::Logout => 209,
            Self::Transfer => 210,
            Self::Rejected => 211,
            Self::Memory => 212,
            Self::InvalidParam => 213,
            Self::Network => 214,
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Self::Unknown => "Unknown error for FTP",
            Self::Busy => "FTP task is busy",
            Self::Resolve => "Failed to resolve server address",
            Self::Timeout => "FTP timeout",
            Self::ReadFile => "Failed to read file",
            Self::WriteFile => "Failed to write file",
            Self::NotAllowed => "It's not allowed in current state",
            Self::Login => "Failed to login",
            Self::Logout => "Failed to logout",
            Self::Transfer => "Failed to transfer data",
            Self::Rejected => "FTP command rejected by server",
            Self::Memory => "Memory error",
            Self::InvalidParam => "Invalid parameter",
            Self::Network => "Network error",
        }
    }

    /// As a `+CME ERROR`.
    pub fn cme(self) -> crate::modem::CmeError {
        crate::modem::CmeError::Service { code: self.code(), text: self.text() }
    }

    /// The error whose §5.15 code is `code` (scripted events).
    pub fn from_code(code: u16) -> Self {
        [
            Self::Unknown,
            Self::Busy,
            Self::Resolve,
            Self::Timeout,
            Self::ReadFile,
            Self::WriteFile,
            Self::NotAllowed,
            Self::Login,
            Self::Logout,
            Self::Transfer,
            Self::Rejected,
            Self::Memory,
            Self::InvalidParam,
            Self::Network,
        ]
        .into_iter()
        .find(|c| c.code() == code)
        .unwrap_or(Self::Unknown)
    }
}

/// How the control connection is secured (`AT+CFTPSLOGIN`'s `<server_type>` 0-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    Plain,
    /// `AUTH SSL`, then PBSZ 0 / PROT P.
    ExplicitSsl,
    /// `AUTH TLS`, then PBSZ 0 / PROT P.
    ExplicitTls,
    /// TLS from the first byte.
    Implicit,
}

impl v250::FromParam for Security {
    const EXPECTED: &'static str = "server type 0 plain, 1 AUTH SSL, 2 AUTH TLS or 3 implicit";
    fn from_param(v: i64) -> Option<Self> {
        Some(match v {
            0 => Self::Plain,
            1 => Self::ExplicitSsl,
            2 => Self::ExplicitTls,
            3 => Self::Implicit,
            _ => return None,
        })
    }
}

/// What a successful operation reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FtpStep {
    Ok,
    /// The current directory (PWD).
    Dir(String),
    /// A file's size in bytes (SIZE).
    Size(u64),
}

/// The FTP job's protocol: operations, their outcomes, and [`FtpError`].
#[derive(Debug)]
pub struct Ftp;

impl Protocol for Ftp {
    type Step = FtpStep;
    type Error = FtpError;
    type Op = FtpOp;

    /// ``, `dir <path>` or `size <bytes>`.
    #[cfg(any(test, feature = "scripted"))]
    fn parse_step(text: &str) -> Result<FtpStep, String> {
        Ok(match text.split_once(' ') {
            None if text.is_empty() => FtpStep::Ok,
            Some(("dir", d)) => FtpStep::Dir(d.to_owned()),
            Some(("size", n)) => FtpStep::Size(n.parse().map_err(|_| format!("bad size {n:?}"))?),
            _ => return Err(format!("FTP step {text:?}: expected nothing, `dir <path>` or `size <n>`")),
        })
    }

    /// A §5.15 code, 201-214.
    #[cfg(any(test, feature = "scripted"))]
    fn parse_error(text: &str) -> Result<FtpError, String> {
        let code: u16 = text.parse().map_err(|_| format!("FTP error {text:?}: expected a code 201-214"))?;
        let e = FtpError::from_code(code);
        if e.code() != code {
            return Err(format!("FTP error {code}: not a code of §5.15"));
        }
        Ok(e)
    }

    #[cfg(any(test, feature = "scripted"))]
    fn fuzz_step(data: &[u8]) -> FtpStep {
        match data.first().map(|b| b % 3) {
            Some(1) => FtpStep::Dir(String::from_utf8_lossy(&data[1..]).into_owned()),
            Some(2) => FtpStep::Size(data.len() as u64),
            _ => FtpStep::Ok,
        }
    }

    #[cfg(any(test, feature = "scripted"))]
    fn fuzz_error(byte: u8) -> FtpError {
        FtpError::from_code(201 + u16::from(byte % 14))
    }

    fn network_lost() -> Option<Self::Error> {
        Some(FtpError::Network)
    }
}

/// One operation on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FtpOp {
    /// RETR (after REST `rest` when not 0); the bytes come back as events.
    Get {
        path: String,
        rest: u64,
        ascii: bool,
    },
    /// STOR (after REST `rest`); the bytes come as job input.
    Put {
        path: String,
        rest: u64,
        ascii: bool,
    },
    /// LIST of a directory or file (the current one when `None`).
    List {
        path: Option<String>,
        ascii: bool,
    },
    Mkd(String),
    Rmd(String),
    Dele(String),
    Cwd(String),
    Pwd,
    /// SIZE (binary type) of a file.
    Size(String),
    /// QUIT and end the session.
    Logout,
}

fn type_name(ascii: bool) -> &'static str {
    if ascii { "A" } else { "I" }
}

impl fmt::Display for FtpOp {
    /// `get <path> rest=<n> type=<A|I>`, `put ...`, `list [<path>] type=...`, `mkd <path>`,
    /// ..., `pwd`, `size <path>`, `logout`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FtpOp::Get { path, rest, ascii } => write!(f, "get {path} rest={rest} type={}", type_name(*ascii)),
            FtpOp::Put { path, rest, ascii } => write!(f, "put {path} rest={rest} type={}", type_name(*ascii)),
            FtpOp::List { path: Some(p), ascii } => write!(f, "list {p} type={}", type_name(*ascii)),
            FtpOp::List { path: None, ascii } => write!(f, "list type={}", type_name(*ascii)),
            FtpOp::Mkd(p) => write!(f, "mkd {p}"),
            FtpOp::Rmd(p) => write!(f, "rmd {p}"),
            FtpOp::Dele(p) => write!(f, "dele {p}"),
            FtpOp::Cwd(p) => write!(f, "cwd {p}"),
            FtpOp::Pwd => f.write_str("pwd"),
            FtpOp::Size(p) => write!(f, "size {p}"),
            FtpOp::Logout => f.write_str("logout"),
        }
    }
}

/// A job: where, who, how, and what. (Its `Debug` masks the password.)
#[derive(Clone)]
pub struct FtpJob {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub passive: bool,
    pub security: Security,
    /// Data connections go to the control connection's server address, whatever PASV says.
    pub single_ip: bool,
    /// `Some(op)`: perform it and quit. `None`: a session taking operations as input,
    /// reporting each with a `Step`, until [`FtpOp::Logout`].
    pub op: Option<FtpOp>,
}

impl FtpJob {
    /// The service its connections belong to, for the link's faults.
    pub fn service(&self) -> &'static str {
        if self.security == Security::Plain { "ftp" } else { "ftps" }
    }
}

impl FtpJob {
    /// `ftp <host>:<port> user=<user> <passive|active> <security>[ single-ip] <op|session>`
    /// (the job's label; no password).
    pub fn label(&self) -> String {
        let security = match self.security {
            Security::Plain => "plain",
            Security::ExplicitSsl => "auth-ssl",
            Security::ExplicitTls => "auth-tls",
            Security::Implicit => "implicit",
        };
        let what = self.op.as_ref().map_or_else(|| "session".to_owned(), FtpOp::to_string);
        format!(
            "ftp {}:{} user={} {} {security}{} {what}",
            self.host,
            self.port,
            self.user,
            if self.passive { "passive" } else { "active" },
            if self.single_ip { " single-ip" } else { "" },
        )
    }
}

impl std::fmt::Debug for FtpJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FtpJob")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"***")
            .field("passive", &self.passive)
            .field("security", &self.security)
            .field("single_ip", &self.single_ip)
            .field("op", &self.op)
            .finish()
    }
}

/// `AT+CFTP*` settings and the running operation. (Its `Debug` masks the password.)
pub struct FtpState {
    pub server: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// Passive data connections (`AT+CFTPMODE=1`); active by default.
    pub passive: bool,
    pub ascii: bool,
    pub busy: Option<JobId>,
    pub ftps: FtpsState,
}

impl std::fmt::Debug for FtpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FtpState")
            .field("server", &self.server)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"***")
            .field("passive", &self.passive)
            .field("ascii", &self.ascii)
            .field("busy", &self.busy)
            .field("ftps", &self.ftps)
            .finish()
    }
}

impl Service for FtpState {}

impl Default for FtpState {
    fn default() -> Self {
        Self {
            server: String::new(),
            port: 21,
            user: String::new(),
            password: String::new(),
            passive: false,
            ascii: false,
            busy: None,
            ftps: FtpsState::default(),
        }
    }
}

impl FtpsState {
    /// A cached download or listing is running and its cache is full: the session must not
    /// read on (once the operation ended, its result and later operations go through).
    pub fn cache_backlogged(&self, held: usize) -> bool {
        self.cache.is_full_with(held) && matches!(self.current, Some(sinks::Dest::Cache { .. }))
    }
}

/// `AT+CFTPS*` state.
#[derive(Debug, Default)]
pub struct FtpsState {
    pub started: bool,
    /// The session job once logged in (or logging in).
    pub session: Option<JobId>,
    pub logged_in: bool,
    /// An operation of the session is running.
    pub busy: bool,
    pub ascii: bool,
    pub single_ip: bool,
    /// Where the running operation's result goes.
    pub(crate) current: Option<sinks::Dest>,
    /// Data of an `AT+CFTPSGET` / `AT+CFTPSLIST` run with `<cache>` 1, waiting for
    /// `AT+CFTPSCACHERD` (bounded: the session stops reading from the server when full).
    pub cache: crate::service::cache::Cache,
    /// The result prefix of the cached operation, also its `DATA` blocks'.
    pub cache_prefix: &'static str,
    /// An `AT+CFTPSPUT="<path>",<len>` upload still taking `AT+CFTPSPUT=<len>` chunks
    /// (until `AT+CFTPSPUT` ends it).
    pub chunked_put: bool,
}
