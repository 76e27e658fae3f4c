//! Failure classes of the e-mail services and their URC texts (`+SMTP: ...`,
//! `+POP3: ...`): the spec evidences SUCCESS, SERVER ERROR and NETWORK ERROR; TIMEOUT
//! completes the set (see docs/commands.md).

pub const SERVER: u16 = 1;
pub const NETWORK: u16 = 2;
pub const TIMEOUT: u16 = 3;

/// `<prefix>: <text>` for a job result.
pub fn urc(prefix: &str, result: Result<(), u16>) -> String {
    let text = match result {
        Ok(()) => "SUCCESS",
        Err(SERVER) => "SERVER ERROR",
        Err(TIMEOUT) => "TIMEOUT",
        Err(_) => "NETWORK ERROR",
    };
    format!("{prefix}: {text}")
}
