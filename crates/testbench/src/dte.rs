//! The DTE side of a conversation with the modem.

use crate::escape;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// Default time to wait for any expected answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A DTE: writes commands, reads answers through a background reader thread.
pub struct Dte {
    writer: Box<dyn Write + Send>,
    rx: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    log: Vec<u8>,
    eof: bool,
    /// Lines passed over by [`Dte::wait_for`] (URCs that came first), in order.
    pub urcs: Vec<String>,
    stop: Arc<AtomicBool>,
    pub timeout: Duration,
    /// What [`Dte::send_line`] ends a line with: CR (python-gsmmodem, gammu) by default,
    /// or CR LF (Arduino `println`, TinyGSM).
    pub line_end: &'static [u8],
}

impl Drop for Dte {
    fn drop(&mut self) {
        // The reader thread holds its own handle; it must let go so the port really closes
        // and a later DTE gets the answers.
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Dte {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dte").field("buffered", &self.buf.len()).finish_non_exhaustive()
    }
}

impl Dte {
    pub fn new<R: Read + AsFd + Send + 'static>(mut reader: R, writer: Box<dyn Write + Send>) -> Self {
        let (tx, rx) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_reader = stop.clone();
        std::thread::spawn(move || {
            use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
            let mut b = vec![0u8; 64 * 1024];
            while !stop_reader.load(Ordering::Relaxed) {
                let mut fds = [PollFd::new(reader.as_fd(), PollFlags::POLLIN)];
                match poll(&mut fds, PollTimeout::from(100u16)) {
                    Ok(0) => continue,
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(_) => break,
                }
                if stop_reader.load(Ordering::Relaxed) {
                    break;
                }
                match reader.read(&mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(b[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Self {
            writer,
            rx,
            buf: Vec::new(),
            log: Vec::new(),
            eof: false,
            urcs: Vec::new(),
            stop,
            timeout: TIMEOUT,
            line_end: b"\r",
        }
    }

    /// The exchange so far, escaped: `>>` marks what the DTE sent.
    pub fn transcript(&self) -> String {
        escape(&self.log)
    }

    /// Panic with `msg` and the exchange so far.
    pub fn fail(&self, msg: &str) -> ! {
        panic!("{msg}\n--- exchange so far ---\n{}\n--- unread ---\n{}", self.transcript(), escape(&self.buf));
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.log.extend_from_slice(b">>");
        self.log.extend_from_slice(bytes);
        self.log.extend_from_slice(b"<<\n");
        if let Err(e) = self.writer.write_all(bytes).and_then(|()| self.writer.flush()) {
            self.fail(&format!("write failed: {e}"));
        }
    }

    /// Send `line` and the line end ([`Dte::line_end`]).
    pub fn send_line(&mut self, line: &str) {
        let mut b = line.as_bytes().to_vec();
        b.extend_from_slice(self.line_end);
        self.send(&b);
    }

    /// Send `line`, its line end and `data` in one write, without waiting for a prompt
    /// (as clients that do not wait for `>` do).
    pub fn send_line_with(&mut self, line: &str, data: &[u8]) {
        let mut b = line.as_bytes().to_vec();
        b.extend_from_slice(self.line_end);
        b.extend_from_slice(data);
        self.send(&b);
    }

    /// `AT+CFTRANRX="<path>",<len>`, the `>` prompt, the content, `OK`.
    pub fn efs_put(&mut self, path: &str, content: &[u8]) {
        self.send_line(&format!("AT+CFTRANRX=\"{path}\",{}", content.len()));
        self.expect(">");
        self.send(content);
        self.expect("OK");
    }

    /// Close the DTE's writing side (stdio: end of input; TCP: half-close).
    pub fn close_write(&mut self) {
        self.writer = Box::new(std::io::sink());
    }

    /// Wait for more bytes until `deadline`; false on timeout or end of stream.
    fn fill(&mut self, deadline: Instant) -> bool {
        if self.eof {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(left) {
            Ok(b) => {
                self.log.extend_from_slice(&b);
                self.buf.extend_from_slice(&b);
                true
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => {
                self.eof = true;
                false
            }
        }
    }

    /// The next non-empty line (CR/LF stripped), or `None` on timeout/end.
    pub fn try_line(&mut self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            while matches!(self.buf.first(), Some(b'\r' | b'\n')) {
                self.buf.remove(0);
            }
            if let Some(end) = self.buf.iter().position(|b| *b == b'\r' || *b == b'\n') {
                // The line and its terminator (CR LF, or CR alone in ATV0 framing), so raw
                // data after a header line starts right at the buffer's head.
                if self.buf[end] == b'\r' && end + 1 == self.buf.len() {
                    // Its LF may be a moment behind; a lone CR is a whole terminator.
                    self.fill(deadline.min(Instant::now() + Duration::from_millis(50)));
                }
                let mut stop = end + 1;
                if self.buf[end] == b'\r' && self.buf.get(stop) == Some(&b'\n') {
                    stop += 1;
                }
                let line: Vec<u8> = self.buf.drain(..stop).take(end).collect();
                return Some(String::from_utf8_lossy(&line).into_owned());
            }
            // A prompt has no line end.
            if self.buf == b">" || self.buf == b">>" {
                let line: Vec<u8> = std::mem::take(&mut self.buf);
                return Some(String::from_utf8_lossy(&line).into_owned());
            }
            if !self.fill(deadline) {
                return None;
            }
        }
    }

    /// The next non-empty line; fails after the timeout.
    pub fn line(&mut self) -> String {
        match self.try_line(self.timeout) {
            Some(l) => l,
            None => self.fail("timed out waiting for a line"),
        }
    }

    /// The next line must be `want`.
    pub fn expect(&mut self, want: &str) {
        let got = self.line();
        if got != want {
            self.fail(&format!("expected {want:?}, got {got:?}"));
        }
    }

    /// Skip lines until one equals `want`.
    pub fn expect_eventually(&mut self, want: &str) {
        loop {
            if self.line() == want {
                return;
            }
        }
    }

    /// The first line starting with `prefix`; lines before it are kept in [`Dte::urcs`].
    pub fn wait_for(&mut self, prefix: &str) -> String {
        loop {
            let l = self.line();
            if l.starts_with(prefix) {
                return l;
            }
            self.urcs.push(l);
        }
    }

    /// `<prefix>: DATA,<len>` blocks (each exactly `<len>` raw bytes, at most 1024 as the
    /// module sends them) up to the result line `<prefix>: <code>`: (the bytes, the code).
    pub fn blocks(&mut self, prefix: &str) -> (Vec<u8>, String) {
        let data = format!("{prefix}: DATA,");
        let result = format!("{prefix}: ");
        let mut out = Vec::new();
        loop {
            let l = self.line();
            if let Some(n) = l.strip_prefix(&data) {
                let n: usize = n.parse().unwrap_or_else(|_| self.fail(&format!("bad block header {l:?}")));
                if n > 1024 {
                    self.fail(&format!("block of {n} bytes"));
                }
                out.extend(self.bytes(n));
            } else if let Some(code) = l.strip_prefix(&result) {
                return (out, code.to_owned());
            } else {
                self.fail(&format!("unexpected line {l:?} among {prefix} blocks"));
            }
        }
    }

    /// Exactly `n` raw bytes (after a `DATA,<len>` header).
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let deadline = Instant::now() + self.timeout.max(Duration::from_secs(1) * (n / (256 * 1024)) as u32);
        while self.buf.len() < n {
            if !self.fill(deadline) {
                self.fail(&format!("timed out waiting for {n} bytes (have {})", self.buf.len()));
            }
        }
        self.buf.drain(..n).collect()
    }

    /// Send a command line and collect its answer lines up to and including the final
    /// result (`OK`, `ERROR`, `+CME ERROR: ...`, `+CMS ERROR: ...`).
    pub fn cmd(&mut self, line: &str) -> Vec<String> {
        self.send_line(line);
        let mut out = Vec::new();
        loop {
            let l = self.line();
            let last = l == "OK" || l == "ERROR" || l.starts_with("+CME ERROR") || l.starts_with("+CMS ERROR");
            out.push(l);
            if last {
                return out;
            }
        }
    }

    /// Send a command line whose answer must be exactly `want` (final result included).
    pub fn cmd_expect(&mut self, line: &str, want: &[&str]) {
        let got = self.cmd(line);
        if got != want {
            self.fail(&format!("{line}: expected {want:?}, got {got:?}"));
        }
    }

    /// Nothing more arrives within `quiet`; returns what did arrive otherwise.
    pub fn idle(&mut self, quiet: Duration) -> Vec<u8> {
        let deadline = Instant::now() + quiet;
        while self.fill(deadline) {}
        std::mem::take(&mut self.buf)
    }

    /// True once the modem side has closed the stream.
    pub fn at_eof(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.fill(deadline) {}
        self.eof
    }
}
