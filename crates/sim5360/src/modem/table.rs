//! The command table: one row per command, one slot per form. Dispatch is a lookup.

use super::{Ctx, Reply, error::CmdError};
use v250::{Args, Form};

/// Every handler has this signature; `args` is empty except for the write form.
pub type Handler = fn(&mut Ctx, Args<'_>) -> Result<Reply, CmdError>;

/// One command: its name as the manual spells it and a handler per supported form.
#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    pub name: &'static str,
    pub exec: Option<Handler>,
    pub read: Option<Handler>,
    pub write: Option<Handler>,
    pub test: Option<Handler>,
    /// A constant answer of the test form (`""`: just `OK`), instead of a handler.
    pub test_text: Option<&'static str>,
    /// 1-based parameter positions holding secrets, masked in traces and logs.
    pub secret: &'static [usize],
    /// The read form's answer repeats the secrets at the same positions.
    pub secret_answer: bool,
    /// Refused with `+CME ERROR: SIM PIN required` until the SIM is ready.
    pub needs_sim: bool,
    /// Only LTE profiles (sim7600) have it: elsewhere every form is an unknown command,
    /// and AT+CLAC does not list it.
    pub lte_only: bool,
    /// Only the WCDMA profiles (sim5360, sim5320) have it (`AT+CMUXSRVPORT`).
    pub wcdma_only: bool,
}

impl CommandSpec {
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            exec: None,
            read: None,
            write: None,
            test: None,
            test_text: None,
            secret: &[],
            secret_answer: false,
            needs_sim: false,
            lte_only: false,
            wcdma_only: false,
        }
    }
    pub const fn exec(mut self, h: Handler) -> Self {
        self.exec = Some(h);
        self
    }
    pub const fn read(mut self, h: Handler) -> Self {
        self.read = Some(h);
        self
    }
    pub const fn write(mut self, h: Handler) -> Self {
        self.write = Some(h);
        self
    }
    pub const fn test(mut self, h: Handler) -> Self {
        self.test = Some(h);
        self
    }
    /// The test form answers this constant line, then `OK`.
    pub const fn test_text(mut self, line: &'static str) -> Self {
        self.test_text = Some(line);
        self
    }
    /// The test form answers just `OK`.
    pub const fn test_ok(self) -> Self {
        self.test_text("")
    }
    /// A basic V.25ter command (`ATE`, `ATE1`): the same handler with or without value.
    pub const fn basic(self, h: Handler) -> Self {
        self.exec(h).write(h)
    }
    pub const fn secret(mut self, positions: &'static [usize]) -> Self {
        self.secret = positions;
        self
    }
    pub const fn secret_answer(mut self) -> Self {
        self.secret_answer = true;
        self
    }
    pub const fn sim(mut self) -> Self {
        self.needs_sim = true;
        self
    }
    pub const fn lte_only(mut self) -> Self {
        self.lte_only = true;
        self
    }
    pub const fn wcdma_only(mut self) -> Self {
        self.wcdma_only = true;
        self
    }

    /// Whether the module `profile` describes has this command.
    pub fn exists_on(&self, profile: &crate::profile::Profile) -> bool {
        if profile.lte() { !self.wcdma_only } else { !self.lte_only }
    }

    /// Whether the command has `form` (a handler or, for the test form, a constant).
    pub fn has(&self, form: Form) -> bool {
        self.handler(form).is_some() || (form == Form::Test && self.test_text.is_some())
    }

    pub fn handler(&self, form: Form) -> Option<Handler> {
        match form {
            Form::Exec => self.exec,
            Form::Read => self.read,
            Form::Write => self.write,
            Form::Test => self.test,
        }
    }
}
