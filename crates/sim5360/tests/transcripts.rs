//! Runs every `tests/transcripts/**/*.at` conversation against the sans-IO core.
//!
//! Syntax, one directive per line:
//! - `# ...` comment; blank lines ignored.
//! - `! boot-delay <ms>`, `! pin <pin>`, `! capacity <bytes>`, `! profile <model>`,
//!   `! keep-boot`, `! sim-sms-capacity <n>`, `! chaos SEED[:PROFILE]` (header options, before the first exchange; boot output is discarded
//!   unless `keep-boot` is given); `! endings E...` runs the whole transcript once per
//!   line ending `E` of `>`: `cr` (the default), `crlf` (CR LF in one write) and
//!   `crlf-split` (the LF written on its own after the modem answered the CR).
//! - `! ports ROLE...` gives the module these AT ports (`uart`, `at`, `modem`, `mux1`..;
//!   default one `uart`); a directive of the exchange may start with a port number
//!   (`1> AT`, `1< OK`, `1<<`, `1<*`): without one it is port 0's. Before a send or an `@`,
//!   the output of every port must have been matched.
//! - `> TEXT` sends `TEXT` and the line ending; `>> TEXT` sends raw bytes with escapes `<CR> <LF> <SUB>
//!   <ESC> <BS> <NUL> <xHH>`; `>>> N BYTE` sends N copies of BYTE (escaped).
//! - `< TEXT` expects the next output line (output is split at CR/LF, empty lines dropped);
//!   `<<` `TEXT` expects the whole raw output since the last send, byte for byte (escaped);
//!   `<*` discards the output since the last send.
//! - `@ advance <ms>` moves the clock (boot URCs, timers, time), like a send: everything
//!   before must have been matched; `@ restart` powers the module off and on again with the
//!   same EFS and NV; `@ sms FROM TEXT` delivers a 7-bit SMS from FROM (the network's
//!   side, through `sms::deliver`), `@ ring NUMBER` makes a call come in from NUMBER,
//!   `@ control METHOD PATH [JSON]` runs a control action (the REST API's method and
//!   path below `/api/v1/modems/0`) and requires success, `@ control-fails STATUS ...`
//!   requires that refusal; `@ hangup` has the remote party end the call (a refusal is logged, not an error:
//!   what the DTE then sees is what the transcript checks); `@ dtr-off` (`1@ dtr-off`)
//!   has the port's DTE drop DTR; `@ mux` reads port 0's output as 27.010 frames from
//!   then on (`@ mux off` as text again): a data frame's information goes to the lines
//!   of port N for DLCI N (`1< OK`), `N> TEXT` is sent in a UIH frame of DLCI N, other
//!   frames are checked with `m< DESCRIPTION` (`UA dlci=1 P`, `UIH dlci=0 MSC cmd dlci=1
//!   v24=0x8d`), and `m> DLCI KIND [INFO]` sends one (`sabm`, `disc`, `uih`, ...; C/R 1).
//! - Scripted service outcomes: `<job N TEXT` takes the next job the modem started and
//!   checks it is job N and its label contains TEXT (labels are each service's stable
//!   one-line description: `ftp 127.0.0.1:21 user=u passive plain get /a rest=0 type=I`);
//!   `<input N TEXT` takes job N's next input and checks its description contains TEXT
//!   (`data <escaped bytes>`, `end`, `op <operation>`, `close`); `<noinput` checks no job
//!   has input; `@ job N data TEXT` (escaped), `@ job N ready`, `@ job N step ok [TEXT]`,
//!   `@ job N step ERROR`, `@ job N done ok`, `@ job N done ERROR` feed job N's events
//!   (like a send, after everything before has been matched), TEXT and ERROR in the job's
//!   own protocol's words (`step ok size 1234`, `done 208`, `step network`). Payload a
//!   job gets while no port is online with it reaches its sink at the end of the radio
//!   frame: `@ job N data` moves the clock there; `@ job N part TEXT` arrives within the
//!   frame and leaves it open (what follows in the same frame joins it).
//! - Work the modem moves off its thread (EFS commits, NV writes) runs inline before
//!   output is read.
//!
//! - `<~ TEXT` skips output lines up to and including the first equal to TEXT; `<^ TEXT`
//!   expects the next line to start with TEXT.
//!
//! Before each send and at the end, every output line must have been matched. The wall
//! clock starts at 2026-01-02 03:04:05 UTC; EFS file times follow it.
#![allow(clippy::unwrap_used, reason = "test harness: a poisoned clock lock is a test bug")]

use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use libtest_mimic::{Arguments, Failed, Trial};
use sim5360::efs::MemStore;
use sim5360::job::JobEvent;
use sim5360::modem::settings::MemNv;
use sim5360::modem::{Modem, ModemConfig, PortRole};
use sim5360::profile::{Model, Profile};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A GSM 7-bit SMS-DELIVER from `from`, time-stamped 2026-01-02 03:04:05 UTC.
fn sms_deliver(from: &str, text: &str) -> sim5360::service::sms::pdu::Deliver {
    use sim5360::service::sms::pdu::{self, Address, Deliver, Scts, UserData};
    let scts = Scts { year: 26, month: 1, day: 2, hour: 3, minute: 4, second: 5, tz_quarters: 0 };
    let ud = UserData::gsm7(&pdu::gsm7_encode_lossy(text), &[]).expect("text fits one SMS");
    Deliver { fo: pdu::MMS, oa: Address::parse(from), pid: 0, dcs: 0, scts, ud }
}

fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'<'
            && let Some(end) = s[i..].find('>')
        {
            let tok = &s[i + 1..i + end];
            let byte = match tok {
                "CR" => Some(b'\r'),
                "LF" => Some(b'\n'),
                "SUB" => Some(0x1a),
                "ESC" => Some(0x1b),
                "BS" => Some(0x08),
                "NUL" => Some(0),
                t if t.len() == 3 && t.starts_with('x') => u8::from_str_radix(&t[1..], 16).ok(),
                _ => None,
            };
            if let Some(byte) = byte {
                out.push(byte);
                i += end + 1;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Ok(out)
}

fn escape(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        match c {
            b'\r' => s.push_str("<CR>"),
            b'\n' => s.push_str("<LF>"),
            0x1a => s.push_str("<SUB>"),
            0x1b => s.push_str("<ESC>"),
            0x08 => s.push_str("<BS>"),
            0 => s.push_str("<NUL>"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("<x{c:02X}>")),
        }
    }
    s
}

struct Harness {
    modem: Modem,
    store: MemStore,
    nv: MemNv,
    wall: Arc<Mutex<DateTime<Utc>>>,
    now: Instant,
    opts: Opts,
    /// Per port: the raw output since its last send, and the lines not yet matched.
    raw: Vec<Vec<u8>>,
    lines: Vec<Vec<String>>,
    log: Vec<String>,
    /// `@ mux`: port 0's output is 27.010 frames: data frames go to their channel's
    /// lines (port N is DLCI N), the others to `frames` (described).
    mux: Option<cmux::Deframer>,
    frames: Vec<String>,
}

#[derive(Clone)]
struct Opts {
    boot_delay: Duration,
    pin: Option<String>,
    capacity: u64,
    model: Model,
    ending: Ending,
    sim_sms_capacity: usize,
    chaos: Option<sim5360::control::chaos::ChaosConfig>,
    ports: Vec<PortRole>,
}

/// How `>` ends a command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    Cr,
    CrLf,
    /// CR, then LF in a separate write, after the modem's answer to the CR.
    CrLfSplit,
}

impl Ending {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "cr" => Self::Cr,
            "crlf" => Self::CrLf,
            "crlf-split" => Self::CrLfSplit,
            _ => return None,
        })
    }
}

impl Harness {
    fn power_on(opts: &Opts, store: MemStore, nv: MemNv, wall: Arc<Mutex<DateTime<Utc>>>, now: Instant) -> Modem {
        let w = wall.clone();
        let cfg = ModemConfig {
            catalog: &sim5360::registry::CATALOG,
            ports: opts.ports.clone(),
            profile: Profile::new(opts.model),
            boot_delay: opts.boot_delay,
            pin: opts.pin.clone(),
            baud: 115200,
            store: Box::new(store),
            nv: std::sync::Arc::new(nv),
            configs: {
                let mut c = sim5360::modem::Configs::default().with(sim5360::service::sms::SmsConfig {
                    sim_capacity: opts.sim_sms_capacity,
                    ..Default::default()
                });
                if let Some(chaos) = opts.chaos {
                    c.set(chaos);
                }
                c
            },
        };
        Modem::new(cfg, Box::new(move || *w.lock().unwrap()), now).expect("modem")
    }

    fn new(opts: Opts) -> Self {
        let store = MemStore::new(opts.capacity, opts.capacity);
        let nv = MemNv::default();
        let wall = Arc::new(Mutex::new(Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()));
        let now = Instant::now();
        store.set_time((*wall.lock().unwrap()).into());
        let modem = Self::power_on(&opts, store.clone(), nv.clone(), wall.clone(), now);
        let n = opts.ports.len();
        Self {
            modem,
            store,
            nv,
            wall,
            now,
            opts,
            raw: vec![Vec::new(); n],
            lines: vec![Vec::new(); n],
            log: Vec::new(),
            mux: None,
            frames: Vec::new(),
        }
    }

    /// Port 0's output as frames from now on (`on`), or as text again.
    fn set_mux(&mut self, on: bool) {
        self.collect();
        if on {
            self.mux = Some(cmux::Deframer::new(64 * 1024));
            let n = self.lines.len().max(usize::from(sim5360::modem::mux::CHANNELS) + 1);
            self.lines.resize(n, Vec::new());
            self.raw.resize(n, Vec::new());
        } else {
            self.mux = None;
            self.lines.truncate(self.opts.ports.len());
            self.raw.truncate(self.opts.ports.len());
        }
    }

    /// Port 0's output under `@ mux`: data to the channels, other frames described.
    fn demux(&mut self, out: &[u8]) {
        let Some(d) = self.mux.as_mut() else { return };
        let mut got = Vec::new();
        d.feed(out, |f| got.push(f));
        // A line may span frames: a channel's data of this output, joined, then split.
        let mut data: Vec<Vec<u8>> = vec![Vec::new(); self.lines.len()];
        for f in got {
            let p = usize::from(f.dlci);
            if p != 0 && p < data.len() && matches!(f.kind, cmux::Kind::Uih | cmux::Kind::Ui) {
                self.raw[p].extend_from_slice(&f.info);
                data[p].extend_from_slice(&f.info);
            } else {
                self.frames.push(cmux::describe(&f));
            }
        }
        for (p, bytes) in data.into_iter().enumerate() {
            for part in bytes.split(|b| *b == b'\r' || *b == b'\n') {
                if !part.is_empty() {
                    self.lines[p].push(String::from_utf8_lossy(part).into_owned());
                }
            }
        }
    }

    fn collect(&mut self) {
        self.modem.run_offloads_inline();
        for p in 0..self.lines.len() {
            if self.mux.is_some() && p > 0 {
                // The channels' output comes through port 0's frames.
                continue;
            }
            let out = self.modem.drain_output_on(p);
            if p == 0 && self.mux.is_some() {
                if !out.is_empty() {
                    self.log.push(format!("  frames: {}", escape(&out)));
                }
                self.raw[0].extend_from_slice(&out);
                self.demux(&out);
                continue;
            }
            if !out.is_empty() {
                let tag = if self.lines.len() > 1 { format!("[{p}]") } else { String::new() };
                self.log.push(format!("  output{tag}: {}", escape(&out)));
            }
            for part in out.split(|b| *b == b'\r' || *b == b'\n') {
                if !part.is_empty() {
                    self.lines[p].push(String::from_utf8_lossy(part).into_owned());
                }
            }
            self.raw[p].extend_from_slice(&out);
        }
    }

    /// Lines of any port not yet matched, if any.
    fn unmatched(&self) -> Option<String> {
        let mut left: Vec<String> = self
            .lines
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.is_empty())
            .map(|(p, l)| if self.lines.len() > 1 { format!("port {p}: {l:?}") } else { format!("{l:?}") })
            .collect();
        if !self.frames.is_empty() {
            left.push(format!("frames: {:?}", self.frames));
        }
        (!left.is_empty()).then(|| left.join(", "))
    }

    fn send(&mut self, port: usize, bytes: &[u8]) -> Result<(), String> {
        self.collect();
        if let Some(left) = self.unmatched() {
            return Err(format!("unexpected output before send: {left}"));
        }
        if port >= self.lines.len() {
            return Err(format!("no port {port}"));
        }
        self.raw[port].clear();
        self.input(port, bytes);
        Ok(())
    }

    /// `bytes` from port `port`'s DTE: under `@ mux`, a channel's in a UIH frame of its
    /// DLCI on port 0.
    fn input(&mut self, port: usize, bytes: &[u8]) {
        if self.mux.is_some() && port > 0 {
            let dlci = u8::try_from(port).unwrap_or(0);
            let f = cmux::Frame { dlci, cr: true, pf: false, kind: cmux::Kind::Uih, info: bytes.to_vec() };
            self.modem.handle_input_on(0, &f.to_bytes(), self.now);
        } else {
            self.modem.handle_input_on(port, bytes, self.now);
        }
    }

    /// Every port's output so far, dropped (the boot).
    fn drain_all(&mut self) {
        for p in 0..self.lines.len() {
            self.modem.drain_output_on(p);
        }
    }

    /// Move the clock by `ms`, stopping at every deadline on the way, as a runner wakes
    /// at each (so a timer a timer starts counts from its own deadline).
    fn advance(&mut self, ms: u64) {
        let target = self.now + Duration::from_millis(ms);
        loop {
            let next = self.modem.poll_timeout().filter(|t| *t > self.now && *t < target).unwrap_or(target);
            let step = next - self.now;
            self.now = next;
            let mut w = self.wall.lock().unwrap();
            *w += ChronoDuration::from_std(step).unwrap();
            self.store.set_time((*w).into());
            drop(w);
            self.modem.handle_timeout(self.now);
            if next >= target {
                break;
            }
        }
    }
}

fn run(path: &Path) -> Result<(), Failed> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let endings: Vec<Ending> = match text.lines().find_map(|l| l.strip_prefix("! endings ")) {
        Some(list) => list
            .split_whitespace()
            .map(|e| Ending::parse(e).ok_or(format!("unknown ending {e}")))
            .collect::<Result<_, _>>()?,
        None => vec![Ending::Cr],
    };
    for ending in endings {
        run_with(path, &text, ending)
            .map_err(|e| Failed::from(format!("[ending {ending:?}] {}", e.message().unwrap_or(""))))?;
    }
    Ok(())
}

fn run_with(path: &Path, text: &str, ending: Ending) -> Result<(), Failed> {
    let mut opts = Opts {
        boot_delay: Duration::ZERO,
        pin: None,
        capacity: 1 << 20,
        model: Model::Sim5360,
        ending,
        sim_sms_capacity: 50,
        chaos: None,
        ports: vec![PortRole::Uart],
    };
    let mut keep_boot = false;
    let mut h: Option<Harness> = None;
    for (n, line) in text.lines().enumerate() {
        let lineno = n + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fail = |h: &Option<Harness>, msg: String| -> Failed {
            let log = h.as_ref().map(|h| h.log.join("\n")).unwrap_or_default();
            format!("{}:{lineno}: {msg}\n  at: {line}\n--- exchange so far ---\n{log}", path.display()).into()
        };
        if let Some(opt) = line.strip_prefix("! ") {
            if h.is_some() {
                return Err(fail(&h, "options must come first".into()));
            }
            let (k, v) = opt.split_once(' ').unwrap_or((opt, ""));
            match k {
                "boot-delay" => opts.boot_delay = Duration::from_millis(v.parse().map_err(|_| "bad ms")?),
                "pin" => opts.pin = Some(v.to_owned()),
                "capacity" => opts.capacity = v.parse().map_err(|_| "bad capacity")?,
                "sim-sms-capacity" => opts.sim_sms_capacity = v.parse().map_err(|_| "bad capacity")?,
                "chaos" => opts.chaos = Some(sim5360::control::chaos::parse(v)?),
                "profile" => {
                    opts.model = match v {
                        "sim5360" => Model::Sim5360,
                        "sim5320" => Model::Sim5320,
                        "sim7600" => Model::Sim7600,
                        _ => return Err(fail(&h, format!("unknown profile {v}"))),
                    }
                }
                "keep-boot" => keep_boot = true,
                "ports" => {
                    opts.ports = v
                        .split_whitespace()
                        .map(|r| match r {
                            "uart" => Ok(PortRole::Uart),
                            "at" => Ok(PortRole::UsbAt),
                            "modem" => Ok(PortRole::UsbModem),
                            m => m
                                .strip_prefix("mux")
                                .and_then(|n| n.parse().ok())
                                .map(PortRole::Mux)
                                .ok_or_else(|| fail(&h, format!("unknown port role {m}"))),
                        })
                        .collect::<Result<_, _>>()?;
                }
                "endings" => {}
                _ => return Err(fail(&h, format!("unknown option {k}"))),
            }
            continue;
        }
        let hh = h.get_or_insert_with(|| {
            let mut hh = Harness::new(opts.clone());
            if !keep_boot {
                hh.drain_all();
            }
            hh
        });
        hh.log.push(format!("{lineno:4}| {line}"));
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        // A leading port number: `1> AT`.
        let digits = verb.bytes().take_while(u8::is_ascii_digit).count();
        let port: usize = if digits > 0 { verb[..digits].parse().map_err(|_| "bad port")? } else { 0 };
        let verb = &verb[digits..];
        if port >= hh.lines.len() {
            return Err(fail(&h, format!("no port {port} (see `! ports`)")));
        }
        match verb {
            ">" => {
                let mut b = unescape(rest)?;
                b.push(b'\r');
                let ending = hh.opts.ending;
                if ending == Ending::CrLf {
                    b.push(b'\n');
                }
                hh.send(port, &b).map_err(|e| fail(&h, e))?;
                if ending == Ending::CrLfSplit
                    && let Some(hh) = h.as_mut()
                {
                    hh.collect();
                    hh.input(port, b"\n");
                }
            }
            ">>" => {
                let b = unescape(rest)?;
                hh.send(port, &b).map_err(|e| fail(&h, e))?;
            }
            ">>>" => {
                let (count, byte) = rest.split_once(' ').ok_or("`>>> N BYTE`")?;
                let count: usize = count.parse().map_err(|_| "bad count")?;
                let byte = unescape(byte)?;
                let b: Vec<u8> = byte.iter().copied().cycle().take(count * byte.len()).collect();
                hh.send(port, &b).map_err(|e| fail(&h, e))?;
            }
            "<" => {
                hh.collect();
                if hh.lines[port].is_empty() {
                    return Err(fail(&h, format!("expected {rest:?}, got no more output")));
                }
                let got = hh.lines[port].remove(0);
                if got != rest {
                    return Err(fail(&h, format!("expected {rest:?}\n       got {got:?}")));
                }
            }
            "m>" => {
                // `m> DLCI KIND [ESCAPED INFO]`: one frame (C/R 1), raw on port 0.
                let mut parts = rest.splitn(3, ' ');
                let dlci: u8 = parts.next().and_then(|d| d.parse().ok()).ok_or("`m> DLCI KIND [INFO]`")?;
                let kind = match parts.next().unwrap_or("") {
                    "sabm" => cmux::Kind::Sabm,
                    "disc" => cmux::Kind::Disc,
                    "ua" => cmux::Kind::Ua,
                    "dm" => cmux::Kind::Dm,
                    "uih" => cmux::Kind::Uih,
                    "ui" => cmux::Kind::Ui,
                    k => return Err(fail(&h, format!("frame kind {k:?}"))),
                };
                let info = unescape(parts.next().unwrap_or(""))?;
                let pf = matches!(kind, cmux::Kind::Sabm | cmux::Kind::Disc);
                let f = cmux::Frame { dlci, cr: true, pf, kind, info };
                hh.send(0, &f.to_bytes()).map_err(|e| fail(&h, e))?;
            }
            "m<" => {
                hh.collect();
                if hh.frames.is_empty() {
                    return Err(fail(&h, format!("expected frame {rest:?}, got none")));
                }
                let got = hh.frames.remove(0);
                if got != rest {
                    return Err(fail(&h, format!("expected frame {rest:?}\n       got {got:?}")));
                }
            }
            "<^" => {
                hh.collect();
                if hh.lines[port].is_empty() {
                    return Err(fail(&h, format!("expected a line starting {rest:?}, got no more output")));
                }
                let got = hh.lines[port].remove(0);
                if !got.starts_with(rest) {
                    return Err(fail(&h, format!("expected a line starting {rest:?}\n       got {got:?}")));
                }
            }
            "<~" => {
                hh.collect();
                match hh.lines[port].iter().position(|l| l == rest) {
                    Some(i) => {
                        hh.lines[port].drain(..=i);
                    }
                    None => {
                        let msg = format!("no output line {rest:?} in {:?}", hh.lines[port]);
                        return Err(fail(&h, msg));
                    }
                }
            }
            "<job" => {
                hh.collect();
                let (want_id, want) = rest.split_once(' ').unwrap_or((rest, ""));
                match hh.modem.poll_job() {
                    Some((id, spec)) => {
                        if id.to_string() != want_id || !spec.label.contains(want) {
                            let msg = format!("job {id} `{}`: wanted job {want_id} with {want:?}", spec.label);
                            return Err(fail(&h, msg));
                        }
                    }
                    None => return Err(fail(&h, "no job started".into())),
                }
            }
            "<input" => {
                let (id, want) = rest.split_once(' ').unwrap_or((rest, ""));
                let id: u64 = id.parse().map_err(|_| "`<input N ...`")?;
                hh.modem.run_offloads_inline();
                match hh.modem.poll_job_input(id) {
                    Some(input) => {
                        let d = input.describe();
                        if !d.contains(want) {
                            return Err(fail(&h, format!("input for job {id}: `{d}`, wanted {want:?}")));
                        }
                    }
                    None => return Err(fail(&h, format!("no input for job {id}"))),
                }
            }
            "<noinput" => {
                hh.modem.run_offloads_inline();
                for id in hh.modem.jobs_with_input() {
                    if let Some(input) = hh.modem.poll_job_input(id) {
                        return Err(fail(&h, format!("unexpected input for job {id}: `{}`", input.describe())));
                    }
                }
            }
            "<<" => {
                hh.collect();
                let want = unescape(rest)?;
                if hh.raw[port] != want {
                    let msg = format!("expected raw {}\n           got {}", escape(&want), escape(&hh.raw[port]));
                    return Err(fail(&h, msg));
                }
                hh.lines[port].clear();
            }
            "<*" => {
                hh.collect();
                hh.lines[port].clear();
            }
            "@" => {
                let (cmd, arg) = rest.split_once(' ').unwrap_or((rest, ""));
                // Like a send: everything before it must have been matched.
                hh.collect();
                if let Some(left) = hh.unmatched() {
                    let msg = format!("unexpected output: {left}");
                    return Err(fail(&h, msg));
                }
                let hh = h.as_mut().ok_or("no modem")?;
                hh.raw.iter_mut().for_each(Vec::clear);
                match cmd {
                    "advance" => {
                        hh.advance(arg.parse().map_err(|_| "bad ms")?);
                    }
                    "job" => {
                        let mut parts = arg.splitn(3, ' ');
                        let id: u64 = parts.next().and_then(|n| n.parse().ok()).ok_or("`@ job N ...`")?;
                        let what = parts.next().unwrap_or("");
                        let more = parts.next().unwrap_or("");
                        // `data` arrives and its radio frame ends (the event reaches the sink
                        // at the frame's end, as on hardware); `part` arrives within the frame,
                        // which goes on (a `data` or `@ advance` later ends it).
                        let ev = match what {
                            "data" | "part" => JobEvent::Data(unescape(more)?),
                            "ready" => JobEvent::ReadyForInput,
                            _ => hh.modem.script_job_event(id, what, more).map_err(|e| fail(&h, e))?,
                        };
                        let hh = h.as_mut().ok_or("no modem")?;
                        hh.modem.handle_job_event(id, ev, hh.now);
                        // As the runner does next: whatever became due now runs.
                        hh.modem.handle_timeout(hh.now);
                        if what != "part"
                            && let Some(end) = hh.modem.next_radio_frame()
                        {
                            let ms = end.saturating_duration_since(hh.now).as_micros().div_ceil(1000);
                            hh.advance(u64::try_from(ms).unwrap_or(0));
                        }
                    }
                    "control" | "control-fails" => {
                        // `@ control METHOD PATH [JSON]`, `@ control-fails STATUS METHOD PATH [JSON]`.
                        let (want, rest) = match cmd {
                            "control" => (None, arg),
                            _ => {
                                let (st, rest) = arg.split_once(' ').ok_or("`@ control-fails STATUS METHOD PATH`")?;
                                (Some(st.parse::<u16>().map_err(|_| "bad status")?), rest)
                            }
                        };
                        let mut parts = rest.splitn(3, ' ');
                        let method = parts.next().unwrap_or("");
                        let target = parts.next().unwrap_or("");
                        let (path, query) = target.split_once('?').unwrap_or((target, ""));
                        let body = parts.next().unwrap_or("");
                        let res = sim5360::control::route(method, path, query, body)
                            .and_then(|c| sim5360::control::handle(&mut hh.modem, hh.now, c));
                        // As the runner does next: whatever became due now runs.
                        hh.modem.handle_timeout(hh.now);
                        match (res, want) {
                            (Ok(v), None) => hh.log.push(format!("  control: {v}")),
                            (Err(e), Some(st)) if e.status == st => hh.log.push(format!("  control: {e}")),
                            (r, _) => return Err(fail(&h, format!("control answered {r:?}"))),
                        }
                    }
                    "sms" | "ring" | "hangup" => {
                        // The network's side.
                        let arg = arg.to_owned();
                        let res = match cmd {
                            "sms" => {
                                let (from, text) = arg.split_once(' ').unwrap_or((&arg, ""));
                                let d = sms_deliver(from, text);
                                hh.modem.act(hh.now, |ctx| {
                                    sim5360::service::sms::deliver(ctx, d).map(|_| ()).map_err(|e| e.text())
                                })
                            }
                            "ring" => hh.modem.act(hh.now, |ctx| sim5360::service::voice::ring(ctx, &arg)),
                            _ => hh.modem.act(hh.now, |ctx| {
                                if sim5360::service::voice::remote_hangup(ctx) { Ok(()) } else { Err("no call") }
                            }),
                        };
                        if let Err(e) = res {
                            hh.log.push(format!("  network: {e}"));
                        }
                    }
                    "dtr-off" => hh.modem.dtr_off_on(port, hh.now),
                    "mux" => hh.set_mux(arg != "off"),
                    "restart" => {
                        let m = Harness::power_on(&hh.opts, hh.store.clone(), hh.nv.clone(), hh.wall.clone(), hh.now);
                        hh.modem = m;
                        if !keep_boot {
                            hh.drain_all();
                        }
                    }
                    _ => return Err(fail(&h, format!("unknown @ verb {cmd}"))),
                }
            }
            _ => return Err(fail(&h, format!("unknown directive {verb}"))),
        }
    }
    if let Some(hh) = h.as_mut() {
        hh.collect();
        if let Some(left) = hh.unmatched() {
            let msg = format!("{}: unexpected output at end: {left}\n{}", path.display(), hh.log.join("\n"));
            return Err(msg.into());
        }
    }
    Ok(())
}

fn find(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            find(&p, out);
        } else if p.extension().is_some_and(|x| x == "at") {
            out.push(p);
        }
    }
}

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts");
    let mut files = Vec::new();
    find(&root, &mut files);
    files.sort();
    assert!(!files.is_empty(), "no transcripts under {}", root.display());
    let trials = files
        .into_iter()
        .map(|p| {
            let name = p.strip_prefix(&root).unwrap_or(&p).display().to_string();
            Trial::test(name, move || run(&p))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
