//! `--trace FILE`: both directions with timestamps, non-printables escaped, secrets masked.
//!
//! Bytes are grouped into lines per direction (DTE lines at CR, answers at the LF that
//! ends a framed line, or every 4 KiB) so a secret is
//! always seen whole by [`crate::modem::redact::redact`] before it is written.

use crate::modem::redact::redact;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

const FLUSH_AT: usize = 4096;

/// Direction of a traced chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// DTE to module.
    In,
    /// Module to DTE.
    Out,
}

/// A trace file shared by all sessions of the process.
#[derive(Debug)]
pub struct Trace {
    file: Mutex<std::fs::File>,
    start: Instant,
}

/// One session's partial lines.
#[derive(Debug, Default)]
pub struct TraceSession {
    id: u64,
    pending: [Vec<u8>; 2],
}

/// Printable ASCII as is, everything else as `<CR>`, `<LF>`, `<xHH>`.
pub fn escape(bytes: &[u8]) -> String {
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

impl Trace {
    pub fn create(path: &std::path::Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self { file: Mutex::new(file), start: Instant::now() })
    }

    pub fn session(&self, id: u64) -> TraceSession {
        TraceSession { id, pending: Default::default() }
    }

    fn emit(&self, s: &TraceSession, dir: Dir, line: &[u8]) {
        let t = self.start.elapsed().as_secs_f64();
        let arrow = match dir {
            Dir::In => "DTE>",
            Dir::Out => "<MOD",
        };
        let text = escape(&redact(line));
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = writeln!(f, "[{t:12.6}] #{} {arrow} {text}", s.id) {
            tracing::warn!("trace write failed: {e}");
        }
    }

    /// Record bytes in one direction.
    pub fn record(&self, s: &mut TraceSession, dir: Dir, bytes: &[u8]) {
        let idx = dir as usize;
        for &b in bytes {
            s.pending[idx].push(b);
            let p = &s.pending[idx];
            let only_eol = p.iter().all(|c| *c == b'\r' || *c == b'\n');
            let end = match dir {
                // DTE lines end with S3 (CR); answers are framed CR LF.
                Dir::In => b == b'\r' || (b == b'\n' && !only_eol),
                Dir::Out => b == b'\n' && !only_eol,
            };
            if end || p.len() >= FLUSH_AT {
                let line = std::mem::take(&mut s.pending[idx]);
                self.emit(s, dir, &line);
            }
        }
    }

    /// A note between the two directions (a control action), so the trace shows what was
    /// done to the module and when.
    pub fn note(&self, s: &mut TraceSession, text: &str) {
        self.flush(s);
        let t = self.start.elapsed().as_secs_f64();
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = writeln!(f, "[{t:12.6}] #{} NOTE {}", s.id, escape(&redact(text.as_bytes()))) {
            tracing::warn!("trace write failed: {e}");
        }
    }

    /// Write out partial lines (end of session).
    pub fn flush(&self, s: &mut TraceSession) {
        for dir in [Dir::In, Dir::Out] {
            let line = std::mem::take(&mut s.pending[dir as usize]);
            if !line.is_empty() {
                self.emit(s, dir, &line);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        let t = Trace::create(&p).unwrap();
        let mut s = t.session(1);
        for b in b"AT+CPIN=\"4321\"\r" {
            t.record(&mut s, Dir::In, &[*b]);
        }
        t.record(&mut s, Dir::Out, b"\r\nOK\r\n\x00\x1a");
        t.flush(&mut s);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(!text.contains("4321"), "{text}");
        assert!(text.contains("DTE> AT+CPIN=\"***\"<CR>"), "{text}");
        assert!(text.contains("<MOD <CR><LF>OK<CR><LF>"), "{text}");
        assert!(text.contains("<MOD <x00><x1A>"), "{text}");
    }
}
