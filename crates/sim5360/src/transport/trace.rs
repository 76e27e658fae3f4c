//! `--trace FILE`: both directions with timestamps, non-printables escaped, secrets masked.
//!
//! Bytes are grouped into lines per direction (DTE lines at CR, answers at the LF that
//! ends a framed line, or every 4 KiB) so a secret is always seen whole by
//! [`crate::modem::redact::redact`] before it is written. Each line is stamped with the
//! time its first byte crossed, and a line that ends without a terminator goes out as
//! soon as it is complete as far as anyone can tell: what the module writes at the end of
//! each write (a prompt such as `> `, raw data), data the DTE sends (an SMS body, a `>` upload, transparent-mode bytes: anything that is not
//! a command line being typed) at the end of each read, and whatever one direction holds
//! before the other direction's next line, so the trace keeps the order in which bytes
//! crossed.

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

/// The trace of the process: a file (`--trace`), a bounded ring of the latest lines the
/// control API serves (`GET .../trace`), or both. Shared by all sessions.
#[derive(Debug)]
pub struct Trace {
    file: Option<Mutex<std::fs::File>>,
    ring: Option<Ring>,
    start: Instant,
}

/// Lines the ring keeps.
pub const RING_LINES: usize = 10_000;

/// One traced line, as the control API gives it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TraceLine {
    /// Increases by one per line, from 1.
    pub seq: u64,
    /// Seconds since the process started.
    pub t: f64,
    pub session: u64,
    /// The AT port (`at`, `modem`, ...) of a module with several; absent with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// `rx` (DTE to module), `tx` (module to DTE), `note`.
    pub dir: &'static str,
    /// Escaped (`<CR>`, `<xHH>`) and masked.
    pub text: String,
}

#[derive(Debug)]
struct Ring {
    lines: Mutex<(std::collections::VecDeque<TraceLine>, u64)>,
    /// The latest line's `seq`, for live readers (the dashboard's event stream).
    latest: tokio::sync::watch::Sender<u64>,
}

impl Default for Ring {
    fn default() -> Self {
        Self { lines: Mutex::default(), latest: tokio::sync::watch::Sender::new(0) }
    }
}

/// One session's partial lines.
#[derive(Debug, Default)]
pub struct TraceSession {
    id: u64,
    /// The port's name, for a module with several AT ports.
    port: Option<String>,
    pending: [Vec<u8>; 2],
    /// When the first byte of each pending line that is not a line end crossed (seconds
    /// since the start): `Some` exactly while that line holds more than line ends.
    since: [Option<f64>; 2],
}

/// A partial DTE line that may be a command being typed (held whole until its CR, so a
/// secret in it is masked): it starts with `AT` (either case) after line ends, or is
/// only line ends so far (the LF of a CR LF joins the next line).
fn typing_command(pending: &[u8]) -> bool {
    let Some(i) = pending.iter().position(|b| !matches!(b, b'\r' | b'\n')) else { return true };
    let rest = &pending[i..];
    rest[0].eq_ignore_ascii_case(&b'a') && rest.get(1).is_none_or(|b| b.eq_ignore_ascii_case(&b't'))
}

pub use v250::escape;

impl Trace {
    /// A trace to `path` (if given), and in memory for the control API (`ring`).
    pub fn create(path: Option<&std::path::Path>, ring: bool) -> std::io::Result<Self> {
        let file = match path {
            Some(p) => Some(Mutex::new(std::fs::OpenOptions::new().create(true).append(true).open(p)?)),
            None => None,
        };
        Ok(Self { file, ring: ring.then(Ring::default), start: Instant::now() })
    }

    /// From the ring, oldest first: the lines after `since` (at most `limit`), or without
    /// `since` the latest `limit` lines.
    /// Only session `session`'s lines, when given.
    pub fn lines_since(&self, since: Option<u64>, limit: usize, session: Option<u64>) -> Vec<TraceLine> {
        let Some(r) = &self.ring else { return Vec::new() };
        let g = r.lines.lock().unwrap_or_else(|e| e.into_inner());
        let mine = |l: &&TraceLine| session.is_none_or(|s| l.session == s);
        match since {
            Some(s) => g.0.iter().filter(mine).filter(|l| l.seq > s).take(limit).cloned().collect(),
            None => {
                let all: Vec<&TraceLine> = g.0.iter().filter(mine).collect();
                all[all.len().saturating_sub(limit)..].iter().map(|l| (*l).clone()).collect()
            }
        }
    }

    /// Wakes when a line is added to the ring (none without a ring).
    pub fn subscribe(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.ring.as_ref().map(|r| r.latest.subscribe())
    }

    fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    fn write(&self, s: &TraceSession, dir: &'static str, text: String, at: Option<f64>) {
        let t = at.unwrap_or_else(|| self.now());
        if let Some(f) = &self.file {
            let tag = match dir {
                "rx" => "DTE>",
                "tx" => "<MOD",
                _ => "NOTE",
            };
            let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
            let port = s.port.as_deref().map(|p| format!("/{p}")).unwrap_or_default();
            if let Err(e) = writeln!(f, "[{t:12.6}] #{}{port} {tag} {text}", s.id) {
                tracing::warn!("trace write failed: {e}");
            }
        }
        if let Some(r) = &self.ring {
            let mut g = r.lines.lock().unwrap_or_else(|e| e.into_inner());
            g.1 += 1;
            let seq = g.1;
            if g.0.len() >= RING_LINES {
                g.0.pop_front();
            }
            g.0.push_back(TraceLine { seq, t, session: s.id, port: s.port.clone(), dir, text });
            drop(g);
            r.latest.send_replace(seq);
        }
    }

    pub fn session(&self, id: u64) -> TraceSession {
        TraceSession { id, port: None, pending: Default::default(), since: Default::default() }
    }

    /// The lines of one AT port (`port`, its role's name) of session `of`.
    pub fn port_session(&self, of: &TraceSession, port: &str) -> TraceSession {
        TraceSession { id: of.id, port: Some(port.to_owned()), pending: Default::default(), since: Default::default() }
    }

    /// Write out the pending line of direction `dir`, stamped with its first byte's time.
    fn emit_pending(&self, s: &mut TraceSession, dir: Dir) {
        let idx = dir as usize;
        let line = std::mem::take(&mut s.pending[idx]);
        let at = s.since[idx].take();
        if line.is_empty() {
            return;
        }
        let d = match dir {
            Dir::In => "rx",
            Dir::Out => "tx",
        };
        self.write(s, d, escape(&crate::registry::CATALOG.redact(&line)), at);
    }

    /// The other direction's partial line, unless it is a command being typed: it crossed
    /// before what comes now.
    fn settle_other(&self, s: &mut TraceSession, dir: Dir) {
        let other = match dir {
            Dir::In => Dir::Out,
            Dir::Out => Dir::In,
        };
        // Line ends alone (an echoed LF) wait to open that direction's next line.
        let only_eol = s.since[other as usize].is_none();
        if !(only_eol || other == Dir::In && typing_command(&s.pending[other as usize])) {
            self.emit_pending(s, other);
        }
    }

    /// Record bytes in one direction (one read or one write).
    pub fn record(&self, s: &mut TraceSession, dir: Dir, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.settle_other(s, dir);
        let idx = dir as usize;
        let now = self.now();
        for &b in bytes {
            // Stamped by its first byte that is not a line end (a CR LF's LF that came
            // alone joins the line after it, which starts when that line does).
            if !matches!(b, b'\r' | b'\n') {
                s.since[idx].get_or_insert(now);
            }
            s.pending[idx].push(b);
            let p = &s.pending[idx];
            let only_eol = s.since[idx].is_none();
            let end = match dir {
                // DTE lines end with S3 (CR); answers are framed CR LF.
                Dir::In => b == b'\r' || (b == b'\n' && !only_eol),
                Dir::Out => b == b'\n' && !only_eol,
            };
            if end || p.len() >= FLUSH_AT {
                self.emit_pending(s, dir);
            }
        }
        let p = &s.pending[idx];
        let complete = match dir {
            // What the DTE sent that is no command line being typed (data-mode input).
            Dir::In => !p.is_empty() && !typing_command(p),
            // What the module sent is complete at the end of each write but for line ends
            // (the CR LF that opens the next line waits for it): a prompt, raw data.
            Dir::Out => s.since[idx].is_some(),
        };
        if complete {
            self.emit_pending(s, dir);
        }
    }

    /// One line already decoded (a PPP packet) in direction `dir`, after the partial line
    /// of that direction.
    pub fn decoded(&self, s: &mut TraceSession, dir: Dir, text: &str) {
        self.settle_other(s, dir);
        self.emit_pending(s, dir);
        let d = match dir {
            Dir::In => "rx",
            Dir::Out => "tx",
        };
        // Text made here (pppd's notation uses `<...>`): only control characters, which
        // a user name in it might carry, are escaped.
        let text = String::from_utf8_lossy(&crate::registry::CATALOG.redact(text.as_bytes())).into_owned();
        let shown = if text.chars().any(char::is_control) { escape(text.as_bytes()) } else { text };
        self.write(s, d, shown, None);
    }

    /// A note between the two directions (a control action), so the trace shows what was
    /// done to the module and when.
    pub fn note(&self, s: &mut TraceSession, text: &str) {
        self.flush(s);
        self.write(s, "note", escape(&crate::registry::CATALOG.redact(text.as_bytes())), None);
    }

    /// Write out partial lines (end of session).
    pub fn flush(&self, s: &mut TraceSession) {
        // The one that started first first.
        let mut dirs = [Dir::In, Dir::Out];
        dirs.sort_by(|a, b| {
            s.since[*a as usize].partial_cmp(&s.since[*b as usize]).unwrap_or(std::cmp::Ordering::Equal)
        });
        for dir in dirs {
            self.emit_pending(s, dir);
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
        let t = Trace::create(Some(&p), true).unwrap();
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
        let lines = t.lines_since(None, 10, None);
        assert_eq!(lines[0].dir, "rx");
        assert!(!lines[0].text.contains("4321"));
        assert_eq!(t.lines_since(Some(lines[1].seq), 10, None).len(), lines.len() - 2);
        assert_eq!(t.lines_since(None, 1, Some(1))[0].seq, lines[lines.len() - 1].seq);
        assert!(t.lines_since(None, 10, Some(2)).is_empty());
    }
}
