//! The command table: one row per command, one slot per form. Dispatch is a lookup.

use super::{Ctx, Reply, error::CmdError};
use std::collections::HashMap;
use std::sync::OnceLock;
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
    /// 1-based parameter positions holding secrets, masked in traces and logs.
    pub secret: &'static [usize],
    /// The read form's answer repeats the secrets at the same positions.
    pub secret_answer: bool,
    /// Refused with `+CME ERROR: SIM PIN required` until the SIM is ready.
    pub needs_sim: bool,
}

impl CommandSpec {
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            exec: None,
            read: None,
            write: None,
            test: None,
            secret: &[],
            secret_answer: false,
            needs_sim: false,
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

    pub fn handler(&self, form: Form) -> Option<Handler> {
        match form {
            Form::Exec => self.exec,
            Form::Read => self.read,
            Form::Write => self.write,
            Form::Test => self.test,
        }
    }
}

/// All command tables, by area.
fn areas() -> [&'static [CommandSpec]; 8] {
    [
        crate::general::COMMANDS,
        crate::network::COMMANDS,
        crate::efs::COMMANDS,
        crate::service::ftp::COMMANDS,
        crate::service::http::COMMANDS,
        crate::service::https::COMMANDS,
        crate::service::smtp::COMMANDS,
        crate::service::pop3::COMMANDS,
    ]
}

/// Every command, in table order.
pub fn all() -> impl Iterator<Item = &'static CommandSpec> {
    areas().into_iter().flatten()
}

/// Find a command by its upper-case name.
pub fn lookup(name: &str) -> Option<&'static CommandSpec> {
    static INDEX: OnceLock<HashMap<&'static str, &'static CommandSpec>> = OnceLock::new();
    INDEX.get_or_init(|| all().map(|c| (c.name, c)).collect()).get(name).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_upper_case() {
        let mut seen = std::collections::HashSet::new();
        for c in all() {
            assert!(seen.insert(c.name), "duplicate row {}", c.name);
            assert_eq!(c.name, c.name.to_ascii_uppercase());
            assert!(c.exec.or(c.read).or(c.write).or(c.test).is_some(), "{} has no form", c.name);
        }
    }
}
