//! Framing of everything the module sends: information text, result codes, `+CME ERROR`
//! and unsolicited result codes. One place owns `<CR><LF>` so handlers never write it.
//!
//! ATV1 (verbose): information `<S3><S4>text<S3><S4>`, results `<S3><S4>OK<S3><S4>`.
//! ATV0 (numeric): information `text<S3><S4>`, results `0<S3>`. ATQ1 drops result codes.

/// Final result codes with their V.250 numeric values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultCode {
    Ok,
    Connect,
    Ring,
    NoCarrier,
    Error,
    NoDialtone,
    Busy,
    NoAnswer,
}

impl ResultCode {
    pub fn verbose(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Connect => "CONNECT",
            Self::Ring => "RING",
            Self::NoCarrier => "NO CARRIER",
            Self::Error => "ERROR",
            Self::NoDialtone => "NO DIALTONE",
            Self::Busy => "BUSY",
            Self::NoAnswer => "NO ANSWER",
        }
    }

    pub fn numeric(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Connect => 1,
            Self::Ring => 2,
            Self::NoCarrier => 3,
            Self::Error => 4,
            Self::NoDialtone => 6,
            Self::Busy => 7,
            Self::NoAnswer => 8,
        }
    }
}

/// `AT+CMEE` setting: how `+CME ERROR` is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CmeMode {
    /// 0: plain `ERROR`.
    #[default]
    Disabled,
    /// 1: `+CME ERROR: <code>`.
    Numeric,
    /// 2: `+CME ERROR: <text>`.
    Verbose,
}

/// The settings that decide framing; copy of the owner's current values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    pub verbose: bool,
    pub quiet: bool,
    pub s3: u8,
    pub s4: u8,
}

impl Default for Framing {
    fn default() -> Self {
        Self { verbose: true, quiet: false, s3: b'\r', s4: b'\n' }
    }
}

impl Framing {
    fn eol(&self, out: &mut Vec<u8>) {
        out.push(self.s3);
        out.push(self.s4);
    }

    /// An information response of one or more lines (an empty line is a blank line).
    pub fn info<S: AsRef<[u8]>>(&self, lines: &[S], out: &mut Vec<u8>) {
        if self.verbose {
            self.eol(out);
        }
        for (i, l) in lines.iter().enumerate() {
            if i > 0 {
                self.eol(out);
            }
            out.extend_from_slice(l.as_ref());
        }
        self.eol(out);
    }

    /// An unsolicited result code; framed like a one-line information response.
    pub fn urc(&self, text: &[u8], out: &mut Vec<u8>) {
        self.info(&[text], out);
    }

    /// A final result code (nothing when quiet).
    pub fn result(&self, code: ResultCode, out: &mut Vec<u8>) {
        if self.quiet {
            return;
        }
        if self.verbose {
            self.eol(out);
            out.extend_from_slice(code.verbose().as_bytes());
            self.eol(out);
        } else {
            out.extend_from_slice(code.numeric().to_string().as_bytes());
            out.push(self.s3);
        }
    }

    /// A `+CME ERROR` final result per the `AT+CMEE` mode. In numeric (ATV0) framing the
    /// text form is kept and ends with `<S3><S4>` like information text.
    pub fn cme(&self, mode: CmeMode, code: u16, text: &str, out: &mut Vec<u8>) {
        self.error_report("+CME ERROR", mode, code, text, out);
    }

    /// `<prefix>: <code>` or `<prefix>: <text>` (`+CMS ERROR`), under the `AT+CMEE` rule
    /// of `+CME ERROR`.
    pub fn error_report(&self, prefix: &str, mode: CmeMode, code: u16, text: &str, out: &mut Vec<u8>) {
        let line = match mode {
            CmeMode::Disabled => return self.result(ResultCode::Error, out),
            CmeMode::Numeric => format!("{prefix}: {code}"),
            CmeMode::Verbose => format!("{prefix}: {text}"),
        };
        if self.quiet {
            return;
        }
        self.info(&[line], out);
    }
}

/// Bytes as one line of text in the trace's notation: printable ASCII as is (but `<`),
/// `<CR>`, `<LF>`, and `<xHH>` for everything else. Used by traces, logs and job labels.
pub fn escape(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\r' => s.push_str("<CR>"),
            b'\n' => s.push_str("<LF>"),
            0x20..=0x7e if b != b'<' => s.push(b as char),
            _ => {
                let _ = write!(s, "<x{b:02X}>");
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: Vec<u8>) -> String {
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn verbose() {
        let f = Framing::default();
        let mut out = Vec::new();
        f.info(&["+CSQ: 20,99"], &mut out);
        f.result(ResultCode::Ok, &mut out);
        assert_eq!(s(out), "\r\n+CSQ: 20,99\r\n\r\nOK\r\n");
        let mut out = Vec::new();
        f.info(&["a", "", "b"], &mut out);
        assert_eq!(s(out), "\r\na\r\n\r\nb\r\n");
    }

    #[test]
    fn numeric() {
        let f = Framing { verbose: false, ..Framing::default() };
        let mut out = Vec::new();
        f.info(&["x"], &mut out);
        f.result(ResultCode::Error, &mut out);
        f.cme(CmeMode::Numeric, 3, "operation not allowed", &mut out);
        assert_eq!(s(out), "x\r\n4\r+CME ERROR: 3\r\n");
    }

    #[test]
    fn quiet_and_cme_modes() {
        let f = Framing { quiet: true, ..Framing::default() };
        let mut out = Vec::new();
        f.result(ResultCode::Ok, &mut out);
        f.cme(CmeMode::Verbose, 3, "x", &mut out);
        assert!(out.is_empty());
        let f = Framing::default();
        let mut out = Vec::new();
        f.cme(CmeMode::Disabled, 3, "x", &mut out);
        f.cme(CmeMode::Verbose, 16, "incorrect password", &mut out);
        assert_eq!(s(out), "\r\nERROR\r\n\r\n+CME ERROR: incorrect password\r\n");
    }
}
