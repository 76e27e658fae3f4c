//! `+CMS ERROR` (27.005 §3.2.5).

use crate::modem::CmdError;

/// `+CMS ERROR` codes (27.005 §3.2.5): the message service's failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum CmsError {
    MeFailure = 300,
    NotAllowed = 302,
    NotSupported = 303,
    InvalidPduParameter = 304,
    InvalidTextParameter = 305,
    SimNotInserted = 310,
    SimPinRequired = 311,
    SimFailure = 313,
    SimBusy = 314,
    SimPukRequired = 316,
    MemoryFailure = 320,
    InvalidIndex = 321,
    MemoryFull = 322,
    SmscUnknown = 330,
    NoNetwork = 331,
    NetworkTimeout = 332,
    NoAckExpected = 340,
    Unknown = 500,
}

impl CmsError {
    pub fn code(self) -> u16 {
        self as u16
    }

    pub fn text(self) -> &'static str {
        match self {
            Self::MeFailure => "ME failure",
            Self::NotAllowed => "operation not allowed",
            Self::NotSupported => "operation not supported",
            Self::InvalidPduParameter => "invalid PDU mode parameter",
            Self::InvalidTextParameter => "invalid text mode parameter",
            Self::SimNotInserted => "SIM not inserted",
            Self::SimPinRequired => "SIM PIN required",
            Self::SimFailure => "SIM failure",
            Self::SimBusy => "SIM busy",
            Self::SimPukRequired => "SIM PUK required",
            Self::MemoryFailure => "memory failure",
            Self::InvalidIndex => "invalid memory index",
            Self::MemoryFull => "memory full",
            Self::SmscUnknown => "SMSC address unknown",
            Self::NoNetwork => "no network service",
            Self::NetworkTimeout => "network timeout",
            Self::NoAckExpected => "no +CNMA acknowledgement expected",
            Self::Unknown => "unknown error",
        }
    }
}

impl CmsError {
    /// The command's failure: `+CMS ERROR: <code>` (or text, or `ERROR`, per `AT+CMEE`).
    pub fn err(self, why: &'static str) -> CmdError {
        CmdError::Coded { prefix: "+CMS ERROR", code: self.code(), text: self.text(), why }
    }
}
