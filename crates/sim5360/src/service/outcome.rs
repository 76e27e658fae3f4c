//! Why an e-mail operation failed, and the result URC texts (`+SMTP: ...`, `+POP3: ...`):
//! the spec evidences SUCCESS, SERVER ERROR and NETWORK ERROR; TIMEOUT completes the set,
//! FILE ERROR is SMTP's for an attachment it cannot read and POP3's for a mail the EFS
//! cannot store (see docs/commands.md).

/// A failed e-mail operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailError {
    /// The server refused (a 4xx/5xx reply, `-ERR`, a malformed answer).
    Server,
    /// The connection failed or broke.
    Network,
    /// The server did not answer in time.
    Timeout,
    /// An attachment could not be read, or a mail could not be stored in the EFS.
    File,
}

impl MailError {
    const ALL: [MailError; 4] = [Self::Server, Self::Network, Self::Timeout, Self::File];

    pub fn text(self) -> &'static str {
        match self {
            Self::Server => "SERVER ERROR",
            Self::Network => "NETWORK ERROR",
            Self::Timeout => "TIMEOUT",
            Self::File => "FILE ERROR",
        }
    }

    /// `server`, `network`, `timeout` or `file` (scripted events).
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|e| e.text().split(' ').next().is_some_and(|w| w.eq_ignore_ascii_case(text)))
            .ok_or(format!("e-mail error {text:?}: expected server, network, timeout or file"))
    }

    pub fn from_byte(b: u8) -> Self {
        Self::ALL[usize::from(b) % Self::ALL.len()]
    }
}

/// `<prefix>: <text>` for a result.
pub fn urc(prefix: &str, result: Result<(), MailError>) -> String {
    format!("{prefix}: {}", result.err().map_or("SUCCESS", MailError::text))
}
