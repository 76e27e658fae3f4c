//! Why a command failed. The wire says only `ERROR` or `+CME ERROR: <n>`; the reason is
//! logged (see [`super::Modem`]) so a user can tell which argument or rule was at fault.

use crate::efs::EfsError;
use thiserror::Error;
use v250::{ArgError, SyntaxError};

/// `+CME ERROR` codes used by this module (spec §16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmeError {
    PhoneFailure,
    NotAllowed,
    NotSupported,
    SimNotInserted,
    SimPinRequired,
    SimPukRequired,
    SimFailure,
    SimBusy,
    IncorrectPassword,
    MemoryFull,
    InvalidIndex,
    NotFound,
    MemoryFailure,
    TextTooLong,
    NoNetworkService,
    NetworkTimeout,
    Unknown,
    /// A service's own code (FTP 201-214, HTTP 220-227, ...), with its text.
    Service {
        code: u16,
        text: &'static str,
    },
}

impl CmeError {
    pub fn code(self) -> u16 {
        match self {
            Self::PhoneFailure => 0,
            Self::NotAllowed => 3,
            Self::NotSupported => 4,
            Self::SimNotInserted => 10,
            Self::SimPinRequired => 11,
            Self::SimPukRequired => 12,
            Self::SimFailure => 13,
            Self::SimBusy => 14,
            Self::IncorrectPassword => 16,
            Self::MemoryFull => 20,
            Self::InvalidIndex => 21,
            Self::NotFound => 22,
            Self::MemoryFailure => 23,
            Self::TextTooLong => 24,
            Self::NoNetworkService => 30,
            Self::NetworkTimeout => 31,
            Self::Unknown => 100,
            Self::Service { code, .. } => code,
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Self::PhoneFailure => "phone failure",
            Self::NotAllowed => "operation not allowed",
            Self::NotSupported => "operation not supported",
            Self::SimNotInserted => "SIM not inserted",
            Self::SimPinRequired => "SIM PIN required",
            Self::SimPukRequired => "SIM PUK required",
            Self::SimFailure => "SIM failure",
            Self::SimBusy => "SIM busy",
            Self::IncorrectPassword => "incorrect password",
            Self::MemoryFull => "memory full",
            Self::InvalidIndex => "invalid index",
            Self::NotFound => "not found",
            Self::MemoryFailure => "memory failure",
            Self::TextTooLong => "text string too long",
            Self::NoNetworkService => "no network service",
            Self::NetworkTimeout => "network timeout",
            Self::Unknown => "unknown",
            Self::Service { text, .. } => text,
        }
    }
}

/// A command's failure: what goes on the wire and, for the log, why.
#[derive(Debug, Error)]
pub enum CmdError {
    /// No such command, or the command lacks this form.
    #[error("no such command or form: {0}")]
    Unknown(String),
    /// The command line could not be split.
    #[error("syntax: {0}")]
    Syntax(#[from] SyntaxError),
    /// A parameter was missing, malformed or out of range.
    #[error("{0}")]
    Arg(#[from] ArgError),
    /// A rule of the command refused it (plain `ERROR`).
    #[error("{0}")]
    Refused(&'static str),
    /// A `+CME ERROR` with the rule that produced it.
    #[error("+CME ERROR {} ({}): {why}", .code.code(), .code.text())]
    Cme { code: CmeError, why: &'static str },
    /// An error report of a command family with its own prefix (`+CMS ERROR`), under
    /// the same `AT+CMEE` rule as `+CME ERROR`, with the rule that produced it.
    #[error("{prefix} {code} ({text}): {why}")]
    Coded { prefix: &'static str, code: u16, text: &'static str, why: &'static str },
    /// The file system refused.
    #[error("EFS: {0}")]
    Efs(#[from] EfsError),
    /// Information lines that say why (`+CIPOPEN: 0,4`, `+IP ERROR: Network not opened`),
    /// then `ERROR`.
    #[error("{why}")]
    Reported { lines: Vec<String>, why: &'static str },
}

impl CmdError {
    /// `line`, then `ERROR`; `why` is logged.
    pub fn reported(line: impl Into<String>, why: &'static str) -> Self {
        Self::Reported { lines: vec![line.into()], why }
    }

    pub fn cme(code: CmeError, why: &'static str) -> Self {
        Self::Cme { code, why }
    }

    /// The `+CME ERROR` code to report, or `None` for a plain `ERROR`.
    pub fn cme_code(&self) -> Option<CmeError> {
        match self {
            Self::Cme { code, .. } => Some(*code),
            Self::Efs(e) => efs_cme(e),
            _ => None,
        }
    }
}

/// `+CME ERROR` for an EFS failure; `None` means plain `ERROR` (see docs/commands.md).
pub fn efs_cme(e: &EfsError) -> Option<CmeError> {
    match e {
        EfsError::NoSpace => Some(CmeError::MemoryFull),
        _ => None,
    }
}
