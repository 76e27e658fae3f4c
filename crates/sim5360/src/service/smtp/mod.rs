//! SMTP client (spec chapter 3, `AT+SMTP*`).
//!
//! Flow: `AT+SMTPSRV`, `AT+SMTPAUTH`, `AT+SMTPFROM`, `AT+SMTPRCPT`, `AT+SMTPSUB`,
//! `AT+SMTPBODY`, `AT+SMTPBCH`, `AT+SMTPFILE` configure (each answers `ERROR` while a send
//! runs); `AT+SMTPSEND` builds the RFC 5322 / MIME message in the core (Date from the module
//! clock, attachments read from the EFS) and starts one job that talks ESMTP (EHLO, HELO
//! fallback; AUTH PLAIN or LOGIN as offered; MAIL, RCPT for To/Cc/Bcc, DATA with
//! dot-stuffing; QUIT) and ends with `+SMTP: SUCCESS` or a failure URC. After a success the
//! recipients, subject, body and attachments are cleared; after a failure everything stays.
//! `AT+SMTPSTOP` drops a running send (`+SMTP: STOPPED`).

mod commands;
pub mod job;
mod message;

pub use commands::COMMANDS;

use crate::job::{JobId, NoOp, Protocol};
use crate::modem::Service;
use crate::service::outcome::MailError;

/// The `+SMTP: ...` result URC.
pub fn result_urc(result: Result<(), MailError>) -> String {
    crate::service::outcome::urc("+SMTP", result)
}

/// The SMTP job's protocol: one send, no steps, [`MailError`].
#[derive(Debug)]
pub struct Smtp;

impl Protocol for Smtp {
    type Step = ();
    type Error = MailError;
    type Op = NoOp;

    #[cfg(any(test, feature = "scripted"))]
    fn parse_step(_: &str) -> Result<(), String> {
        Ok(())
    }

    #[cfg(any(test, feature = "scripted"))]
    fn parse_error(text: &str) -> Result<MailError, String> {
        MailError::parse(text)
    }

    #[cfg(any(test, feature = "scripted"))]
    fn fuzz_step(_: &[u8]) {}

    #[cfg(any(test, feature = "scripted"))]
    fn fuzz_error(byte: u8) -> MailError {
        MailError::from_byte(byte)
    }

    fn network_lost() -> Option<Self::Error> {
        Some(MailError::Network)
    }
}

/// One recipient slot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rcpt {
    pub addr: String,
    pub name: String,
}

/// `AT+SMTP*` settings (its `Debug` masks the password).
#[derive(Clone)]
pub struct SmtpState {
    pub server: String,
    pub port: u16,
    pub auth: bool,
    pub user: String,
    pub password: String,
    pub from_addr: String,
    pub from_name: String,
    /// `[kind][index]`: kind 0 To, 1 Cc, 2 Bcc; index 0-4.
    pub rcpt: [[Option<Rcpt>; 5]; 3],
    /// Subject and body as the DTE gave them (bytes in the `AT+SMTPBCH` character set).
    pub subject: Vec<u8>,
    pub body: Vec<u8>,
    pub charset: String,
    /// Attachment slots 1-10 (index 0 unused): EFS paths as given.
    pub files: [Option<String>; 11],
    pub busy: Option<JobId>,
}

impl Service for SmtpState {}

impl std::fmt::Debug for SmtpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpState")
            .field("server", &self.server)
            .field("port", &self.port)
            .field("auth", &self.auth)
            .field("user", &self.user)
            .field("password", &"***")
            .field("busy", &self.busy)
            .finish_non_exhaustive()
    }
}

pub const DEFAULT_CHARSET: &str = "utf-8";

impl Default for SmtpState {
    fn default() -> Self {
        Self {
            server: String::new(),
            port: 25,
            auth: false,
            user: String::new(),
            password: String::new(),
            from_addr: String::new(),
            from_name: String::new(),
            rcpt: Default::default(),
            subject: Vec::new(),
            body: Vec::new(),
            charset: DEFAULT_CHARSET.into(),
            files: Default::default(),
            busy: None,
        }
    }
}
