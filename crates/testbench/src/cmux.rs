//! A 27.010 (basic option) client, the DTE's side, written from the standard for the test
//! bench (it shares no code with the module's multiplexer it tests): it sends `AT+CMUX`,
//! opens DLCIs with SABM, carries each channel's bytes in UIH frames, answers the
//! module's MSC commands, and can bridge a channel to a PTY (as Linux's n_gsm makes a
//! gsmtty) so a program such as the lwIP client runs on it; a DTR drop on that PTY (the
//! line speed set to 0) becomes an MSC with RTC clear.

use anyhow::{Context, Result, bail};
use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub const FLAG: u8 = 0xF9;
pub const SABM: u8 = 0x2F;
pub const UA: u8 = 0x63;
pub const DM: u8 = 0x0F;
pub const DISC: u8 = 0x43;
pub const UIH: u8 = 0xEF;
pub const UI: u8 = 0x03;
pub const PF: u8 = 0x10;

/// The FCS table of TS 27.010 Annex B (reversed CRC-8, polynomial x^8+x^2+x+1), built as
/// the annex describes.
fn crc_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    for (i, e) in t.iter_mut().enumerate() {
        let mut v = i as u8;
        for _ in 0..8 {
            v = if v & 1 != 0 { (v >> 1) ^ 0xE0 } else { v >> 1 };
        }
        *e = v;
    }
    t
}

/// The FCS octet over `bytes` (Annex B: 0xFF minus the CRC with initial value 0xFF).
pub fn fcs(bytes: &[u8]) -> u8 {
    let t = crc_table();
    let mut crc = 0xFFu8;
    for &b in bytes {
        crc = t[usize::from(crc ^ b)];
    }
    0xFF - crc
}

/// One frame as this client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MuxFrame {
    pub address: u8,
    pub control: u8,
    pub info: Vec<u8>,
}

impl MuxFrame {
    pub fn dlci(&self) -> u8 {
        self.address >> 2
    }

    /// The control octet without P/F.
    pub fn kind(&self) -> u8 {
        self.control & !PF
    }

    /// The frame's bytes, flags included (FCS over the header for UIH, over everything
    /// for the other types).
    pub fn encode(&self) -> Vec<u8> {
        let len = self.info.len();
        let mut header = vec![self.address, self.control];
        if len <= 127 {
            header.push(((len as u8) << 1) | 1);
        } else {
            header.push(((len & 0x7F) as u8) << 1);
            header.push((len >> 7) as u8);
        }
        let sum = if self.kind() == UIH { fcs(&header) } else { fcs(&[header.as_slice(), &self.info].concat()) };
        let mut v = vec![FLAG];
        v.extend_from_slice(&header);
        v.extend_from_slice(&self.info);
        v.push(sum);
        v.push(FLAG);
        v
    }

    /// Frames in `buf` (complete ones are removed; a partial one stays), and how many were
    /// dropped for a bad FCS.
    pub fn parse(buf: &mut Vec<u8>) -> (Vec<MuxFrame>, usize) {
        let mut frames = Vec::new();
        let mut bad = 0;
        loop {
            let Some(start) = buf.iter().position(|&b| b == FLAG) else {
                buf.clear();
                break;
            };
            buf.drain(..start);
            // Skip repeated flags.
            let skip = buf.iter().take_while(|&&b| b == FLAG).count();
            if skip == buf.len() {
                buf.drain(..skip.saturating_sub(1));
                break;
            }
            buf.drain(..skip - 1);
            if buf.len() < 4 {
                break;
            }
            let (address, control, l1) = (buf[1], buf[2], buf[3]);
            let (len, hlen) = if l1 & 1 == 1 {
                (usize::from(l1 >> 1), 3)
            } else if buf.len() < 5 {
                break;
            } else {
                (usize::from(l1 >> 1) | (usize::from(buf[4]) << 7), 4)
            };
            let total = 1 + hlen + len + 2;
            if buf.len() < total {
                break;
            }
            let info = buf[1 + hlen..1 + hlen + len].to_vec();
            let f = MuxFrame { address, control, info };
            let header = &buf[1..1 + hlen];
            let want = if f.kind() == UIH { fcs(header) } else { fcs(&[header, &f.info[..]].concat()) };
            if buf[1 + hlen + len] == want && buf[total - 1] == FLAG {
                frames.push(f);
                buf.drain(..total - 1);
            } else {
                bad += 1;
                buf.drain(..1);
            }
        }
        (frames, bad)
    }
}

/// An MSC command's value octets for `dlci` with V.24 signals `v24`.
pub fn msc(dlci: u8, v24: u8) -> Vec<u8> {
    vec![0xE3, 0x05, (dlci << 2) | 0x03, v24 | 1]
}

#[derive(Default)]
struct Shared {
    /// Bytes each DLCI's channel brought, not yet taken.
    data: HashMap<u8, Vec<u8>>,
    /// Non-data frames from the module (UA, DM, control messages), oldest first.
    control: VecDeque<MuxFrame>,
    /// Every frame's information size from the module, for checks of N1.
    sizes: Vec<usize>,
    bad_fcs: usize,
    /// Channels bridged to a PTY: their data goes there.
    bridged: HashMap<u8, std::fs::File>,
    closed: bool,
}

/// A multiplexed port, the DTE's side.
pub struct MuxClient {
    tty: Arc<Mutex<std::fs::File>>,
    shared: Arc<(Mutex<Shared>, Condvar)>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// The C/R bit this client puts in its frames' addresses (1: Zephyr, ArduPilot; 0:
    /// esp_modem, OVMS for data).
    pub cr: bool,
    /// Largest information field it sends.
    pub n1: usize,
    _ptys: Vec<nix::pty::OpenptyResult>,
}

impl MuxClient {
    /// Switch the module on `tty` to multiplexing with `command` (`AT+CMUX=0`), waiting
    /// for its `OK` unless `wait_ok` is false (Zephyr does not wait: 300 ms pause).
    pub fn start(tty: &Path, command: &str, wait_ok: bool) -> Result<Self> {
        let mut port = crate::modem::raw_tty(tty)?;
        port.write_all(format!("{command}\r").as_bytes())?;
        if wait_ok {
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut seen = Vec::new();
            let mut buf = [0u8; 256];
            while !String::from_utf8_lossy(&seen).contains("OK\r\n") {
                if Instant::now() > deadline {
                    bail!("no OK to {command}: {}", crate::escape(&seen));
                }
                let n = port.read(&mut buf)?;
                seen.extend_from_slice(&buf[..n]);
            }
        } else {
            std::thread::sleep(Duration::from_millis(300));
            // Whatever the module answered in AT mode before.
            set_nonblocking(&port, true)?;
            let mut buf = [0u8; 256];
            while port.read(&mut buf).is_ok_and(|n| n > 0) {}
            set_nonblocking(&port, false)?;
        }
        let reader = port.try_clone()?;
        let tty = Arc::new(Mutex::new(port));
        let shared = Arc::new((Mutex::new(Shared::default()), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut me = Self { tty, shared, stop, threads: Vec::new(), cr: true, n1: 127, _ptys: Vec::new() };
        let (shared, writer, stop) = (me.shared.clone(), me.tty.clone(), me.stop.clone());
        me.threads.push(std::thread::spawn(move || read_loop(reader, shared, writer, stop)));
        Ok(me)
    }

    /// The address of this client's data frames on `dlci` (C/R as set).
    fn address(&self, dlci: u8) -> u8 {
        (dlci << 2) | (u8::from(self.cr) << 1) | 1
    }

    /// The address of its commands (SABM, DISC, DLCI 0 messages): C/R 1, as the
    /// initiator's commands carry it (27.010 §5.2.1.2), whatever its data frames use.
    fn command_address(dlci: u8) -> u8 {
        (dlci << 2) | 0x03
    }

    /// Send one frame.
    pub fn send_frame(&self, f: &MuxFrame) -> Result<()> {
        let mut t = self.tty.lock().map_err(|_| anyhow::anyhow!("tty lock"))?;
        t.write_all(&f.encode())?;
        Ok(())
    }

    /// Raw bytes on the multiplexed port.
    pub fn send_raw(&self, bytes: &[u8]) -> Result<()> {
        let mut t = self.tty.lock().map_err(|_| anyhow::anyhow!("tty lock"))?;
        t.write_all(bytes)?;
        Ok(())
    }

    /// The next non-data frame from the module, within `timeout`.
    pub fn next_control(&self, timeout: Duration) -> Option<MuxFrame> {
        let (m, cv) = &*self.shared;
        let deadline = Instant::now() + timeout;
        let mut s = m.lock().ok()?;
        loop {
            if let Some(f) = s.control.pop_front() {
                return Some(f);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            s = cv.wait_timeout(s, left).ok()?.0;
        }
    }

    /// SABM on `dlci` with P/F, and its answer (UA or DM) within 1 s (esp_modem's wait).
    pub fn sabm(&self, dlci: u8) -> Result<MuxFrame> {
        self.send_frame(&MuxFrame { address: Self::command_address(dlci), control: SABM | PF, info: vec![] })?;
        self.answer_for(dlci, Duration::from_secs(1))
    }

    /// The UA or DM for `dlci` (other control frames meanwhile, such as the module's MSC,
    /// are kept for `next_control`).
    fn answer_for(&self, dlci: u8, timeout: Duration) -> Result<MuxFrame> {
        let (m, cv) = &*self.shared;
        let deadline = Instant::now() + timeout;
        let mut s = m.lock().map_err(|_| anyhow::anyhow!("lock"))?;
        loop {
            if let Some(i) = s.control.iter().position(|f| f.dlci() == dlci && matches!(f.kind(), UA | DM)) {
                return Ok(s.control.remove(i).unwrap_or_else(|| unreachable!()));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("no UA or DM for DLCI {dlci} within {timeout:?}");
            }
            s = cv.wait_timeout(s, left).map_err(|_| anyhow::anyhow!("lock"))?.0;
        }
    }

    /// Open DLCIs 0 and `channels` (each waiting for its UA, with P/F).
    pub fn open(&self, channels: &[u8]) -> Result<()> {
        for &d in std::iter::once(&0).chain(channels) {
            let f = self.sabm(d)?;
            if f.control != UA | PF {
                bail!("DLCI {d}: {f:?}, not UA with P/F");
            }
        }
        Ok(())
    }

    /// DISC on `dlci`, and its answer.
    pub fn disc(&self, dlci: u8) -> Result<MuxFrame> {
        self.send_frame(&MuxFrame { address: Self::command_address(dlci), control: DISC | PF, info: vec![] })?;
        self.answer_for(dlci, Duration::from_secs(1))
    }

    /// A control message (type, value) on DLCI 0.
    pub fn control(&self, info: &[u8]) -> Result<()> {
        self.send_frame(&MuxFrame { address: Self::command_address(0), control: UIH, info: info.to_vec() })
    }

    /// CLD, and the module's response within 1 s; the port is an AT port again after.
    pub fn close_down(&self) -> Result<MuxFrame> {
        self.control(&[0xC3, 0x01])?;
        let deadline = Instant::now() + Duration::from_secs(1);
        while let Some(f) = self.next_control(deadline.saturating_duration_since(Instant::now())) {
            if f.dlci() == 0 && f.info.first().is_some_and(|t| t & 0xFC == 0xC0) {
                return Ok(f);
            }
        }
        bail!("no CLD response within 1 s")
    }

    /// Bytes for channel `dlci`, in UIH frames of at most `n1` octets.
    pub fn send(&self, dlci: u8, data: &[u8]) -> Result<()> {
        for piece in data.chunks(self.n1) {
            self.send_frame(&MuxFrame { address: self.address(dlci), control: UIH, info: piece.to_vec() })?;
        }
        Ok(())
    }

    /// A command line on channel `dlci` (CR LF, as firmware ends lines).
    pub fn send_line(&self, dlci: u8, line: &str) -> Result<()> {
        self.send(dlci, format!("{line}\r\n").as_bytes())
    }

    /// Wait until channel `dlci`'s bytes contain `want`; take them up to and including
    /// it, and return them.
    pub fn expect(&self, dlci: u8, want: &str, timeout: Duration) -> Result<String> {
        let (m, cv) = &*self.shared;
        let deadline = Instant::now() + timeout;
        let mut s = m.lock().map_err(|_| anyhow::anyhow!("lock"))?;
        loop {
            let buf = s.data.entry(dlci).or_default();
            if let Some(i) = find(buf, want.as_bytes()) {
                let taken: Vec<u8> = buf.drain(..i + want.len()).collect();
                return Ok(String::from_utf8_lossy(&taken).into_owned());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("channel {dlci}: no {want:?} within {timeout:?}; it has {}", crate::escape(buf));
            }
            s = cv.wait_timeout(s, left).map_err(|_| anyhow::anyhow!("lock"))?.0;
        }
    }

    /// What channel `dlci` has brought and nobody took.
    pub fn take(&self, dlci: u8) -> Vec<u8> {
        let (m, _) = &*self.shared;
        m.lock().map(|mut s| s.data.remove(&dlci).unwrap_or_default()).unwrap_or_default()
    }

    /// The information sizes of every frame the module sent so far, and frames with a bad
    /// FCS.
    pub fn sizes(&self) -> (Vec<usize>, usize) {
        let (m, _) = &*self.shared;
        m.lock().map(|s| (s.sizes.clone(), s.bad_fcs)).unwrap_or_default()
    }

    /// Bridge channel `dlci` to a new PTY (as n_gsm's gsmtty): the path of its slave. What
    /// a program writes there goes out in UIH frames; what the channel brings is written
    /// to it; the line speed set to 0 (a DTR drop) sends an MSC with RTC clear, and a
    /// speed again one with RTC set.
    pub fn bridge(&mut self, dlci: u8) -> Result<PathBuf> {
        let pair = nix::pty::openpty(None, None)?;
        let path = nix::unistd::ttyname(&pair.slave)?;
        raw_termios(&pair.slave)?;
        let master = std::fs::File::from(pair.master.try_clone()?);
        {
            let (m, _) = &*self.shared;
            let mut s = m.lock().map_err(|_| anyhow::anyhow!("lock"))?;
            s.bridged.insert(dlci, master.try_clone()?);
            if let Some(pending) = s.data.remove(&dlci) {
                let mut w = master.try_clone()?;
                w.write_all(&pending)?;
            }
        }
        let (tty, stop, address, n1) = (self.tty.clone(), self.stop.clone(), self.address(dlci), self.n1);
        let ctl = Self::command_address(0);
        let mut reader = master;
        let slave_fd = pair.slave.try_clone()?;
        self.threads.push(std::thread::spawn(move || {
            let _ = set_nonblocking(&reader, true);
            let mut buf = vec![0u8; 4096];
            let mut dtr_low = false;
            while !stop.load(Ordering::Relaxed) {
                let low = nix::sys::termios::tcgetattr(&slave_fd)
                    .is_ok_and(|t| nix::sys::termios::cfgetospeed(&t) == nix::sys::termios::BaudRate::B0);
                if low != dtr_low {
                    dtr_low = low;
                    let v24 = if low { 0x01 } else { 0x0D };
                    let f = MuxFrame { address: ctl, control: UIH, info: msc(dlci, v24) };
                    if tty.lock().map(|mut t| t.write_all(&f.encode())).is_err() {
                        return;
                    }
                }
                if !readable(&reader, 20) {
                    continue;
                }
                match reader.read(&mut buf) {
                    Ok(0) => std::thread::sleep(Duration::from_millis(5)),
                    Ok(n) => {
                        for piece in buf[..n].chunks(n1) {
                            let f = MuxFrame { address, control: UIH, info: piece.to_vec() };
                            if tty.lock().map(|mut t| t.write_all(&f.encode())).is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }));
        self._ptys.push(pair);
        Ok(path)
    }
}

impl std::fmt::Debug for MuxClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MuxClient").field("cr", &self.cr).field("n1", &self.n1).finish_non_exhaustive()
    }
}

impl Drop for MuxClient {
    /// The threads stop before the port is anyone else's: a reader left running would
    /// take the module's next answers.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let (m, cv) = &*self.shared;
        if let Ok(mut s) = m.lock() {
            s.closed = true;
        }
        cv.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Write all of `data` to a non-blocking `f`, waiting for room (at most 10 s in all).
fn write_all_waiting(f: &mut std::fs::File, mut data: &[u8]) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let deadline = Instant::now() + Duration::from_secs(10);
    while !data.is_empty() && Instant::now() < deadline {
        match f.write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let mut fds = [PollFd::new(f.as_fd(), PollFlags::POLLOUT)];
                let _ = poll(&mut fds, PollTimeout::from(50u16));
            }
            Err(_) => return,
        }
    }
}

/// Whether `f` has something to read within `ms` (a hang-up counts: the read says what).
fn readable(f: &impl AsFd, ms: u16) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut fds = [PollFd::new(f.as_fd(), PollFlags::POLLIN)];
    poll(&mut fds, PollTimeout::from(ms)).is_ok_and(|n| n > 0)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len().max(1)).position(|w| w == needle)
}

fn set_nonblocking(f: &impl AsFd, on: bool) -> Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_retain(fcntl(f, FcntlArg::F_GETFL)?);
    let flags = if on { flags | OFlag::O_NONBLOCK } else { flags & !OFlag::O_NONBLOCK };
    fcntl(f, FcntlArg::F_SETFL(flags))?;
    Ok(())
}

fn raw_termios(fd: &impl AsFd) -> Result<()> {
    use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
    let mut t = tcgetattr(fd).context("tcgetattr")?;
    cfmakeraw(&mut t);
    tcsetattr(fd, SetArg::TCSANOW, &t).context("tcsetattr")?;
    Ok(())
}

/// The reading side: frames from the module to the channels, the control queue, the
/// bridges; the module's MSC commands are answered.
fn read_loop(
    mut port: std::fs::File,
    shared: Arc<(Mutex<Shared>, Condvar)>,
    writer: Arc<Mutex<std::fs::File>>,
    stop: Arc<AtomicBool>,
) {
    let _ = set_nonblocking(&port, true);
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        if !readable(&port, 50) {
            continue;
        }
        match port.read(&mut buf) {
            Ok(0) => std::thread::sleep(Duration::from_millis(5)),
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
        let (frames, bad) = MuxFrame::parse(&mut pending);
        let (m, cv) = &*shared;
        let Ok(mut s) = m.lock() else { return };
        s.bad_fcs += bad;
        for f in frames {
            s.sizes.push(f.info.len());
            let data = f.dlci() != 0 && matches!(f.kind(), UIH | UI);
            if data {
                if let Some(w) = s.bridged.get_mut(&f.dlci()) {
                    // The master is non-blocking (its reader polls it): a full PTY waits
                    // here, as a tty's flow control would, rather than losing bytes.
                    write_all_waiting(w, &f.info);
                } else {
                    s.data.entry(f.dlci()).or_default().extend_from_slice(&f.info);
                }
                continue;
            }
            // The module's MSC command: answer it (as Zephyr does, C/R cleared).
            if f.dlci() == 0 && f.info.first() == Some(&0xE3) {
                let mut info = f.info.clone();
                info[0] = 0xE1;
                let reply = MuxFrame { address: f.address, control: UIH, info };
                if let Ok(mut w) = writer.lock() {
                    let _ = w.write_all(&reply.encode());
                }
            }
            s.control.push_back(f);
        }
        drop(s);
        cv.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fcs_and_frames_from_the_standard_and_a_real_module() {
        // TS 27.010 Annex B's table starts 00 91 E3 72 07 96 E4 75.
        assert_eq!(crc_table()[..8], [0x00, 0x91, 0xE3, 0x72, 0x07, 0x96, 0xE4, 0x75]);
        // SABM/UA on DLCIs 0-3 and UIH "AT" / "\r\nOK\r\n" as a SIM5360 exchanged them.
        for (wire, address, control, info) in [
            ("f9 03 3f 01 1c f9", 0x03, 0x3F, &b""[..]),
            ("f9 03 73 01 d7 f9", 0x03, 0x73, b""),
            ("f9 07 3f 01 de f9", 0x07, 0x3F, b""),
            ("f9 0f 73 01 50 f9", 0x0F, 0x73, b""),
            ("f9 0d ff 05 41 54 01 f9", 0x0D, 0xFF, b"AT"),
            ("f9 0d ff 0d 0d 0a 4f 4b 0d 0a 0f f9", 0x0D, 0xFF, b"\r\nOK\r\n"),
        ] {
            let bytes: Vec<u8> = wire.split(' ').map(|b| u8::from_str_radix(b, 16).unwrap_or(0)).collect();
            let f = MuxFrame { address, control, info: info.to_vec() };
            assert_eq!(f.encode(), bytes, "{wire}");
            let mut buf = bytes.clone();
            assert_eq!(MuxFrame::parse(&mut buf), (vec![f], 0), "{wire}");
        }
    }
}
