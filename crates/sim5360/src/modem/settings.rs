//! V.25ter settings (ATE, ATV, ATQ, S-registers, ...), the user profile that AT&W saves and
//! ATZ restores, and the non-volatile store that keeps it across restarts.

use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::path::PathBuf;
use v250::{CmeMode, Framing, LineConfig};

/// Longest command line body accepted (after `AT`). SIMCom documents no limit for the
/// SIM5360; 1024 covers every command of the set with room to spare.
pub const MAX_LINE: usize = 1024;

/// S-registers that exist, with (default, max). Index = register number.
pub const SREGS: &[(u8, u8, u8)] = &[
    (0, 0, 255),
    (3, 13, 127),
    (4, 10, 127),
    (5, 8, 127),
    (6, 2, 255),
    (7, 50, 255),
    (8, 2, 255),
    (9, 6, 255),
    (10, 14, 255),
    (11, 95, 255),
    (12, 50, 255),
];

/// Baud rates accepted by `AT+IPR` (0 = autobaud).
pub const BAUD_RATES: &[u32] = &[
    0, 300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 3200000, 3686400, 4000000,
];

/// The part of the settings that AT&W saves (V.25ter profile).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserProfile {
    pub echo: bool,
    pub quiet: bool,
    pub verbose: bool,
    pub x: u8,
    pub amp_c: u8,
    pub amp_d: u8,
    pub amp_s: u8,
    pub s0: u8,
}

impl Default for UserProfile {
    fn default() -> Self {
        Self { echo: true, quiet: false, verbose: true, x: 1, amp_c: 1, amp_d: 2, amp_s: 0, s0: 0 }
    }
}

/// All current settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub echo: bool,
    pub quiet: bool,
    pub verbose: bool,
    pub x: u8,
    pub amp_c: u8,
    pub amp_d: u8,
    pub amp_s: u8,
    /// S-register values, indexed by register number (0..=12).
    pub sreg: [u8; 13],
    pub cmee: CmeMode,
    pub ipr: u32,
    /// `AT+IFC=<dce_by_dte>,<dte_by_dce>`: 0 none, 2 RTS/CTS.
    pub ifc: (u8, u8),
}

/// What a serial device is set to for a port: its speed and hardware flow control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SerialLine {
    pub baud: u32,
    /// RTS/CTS (`AT+IFC=2,2`).
    pub rtscts: bool,
}

impl Settings {
    /// Factory defaults (AT&F) with the given starting baud rate.
    pub fn factory(ipr: u32) -> Self {
        let mut sreg = [0u8; 13];
        for &(n, def, _) in SREGS {
            sreg[n as usize] = def;
        }
        let p = UserProfile::default();
        let mut s = Self {
            echo: p.echo,
            quiet: p.quiet,
            verbose: p.verbose,
            x: p.x,
            amp_c: p.amp_c,
            amp_d: p.amp_d,
            amp_s: p.amp_s,
            sreg,
            cmee: CmeMode::Disabled,
            ipr,
            ifc: (0, 0),
        };
        s.apply(&p);
        s
    }

    /// The serial device's settings these call for. RTS/CTS is one switch in termios:
    /// it is on when both directions ask for it (`AT+IFC=2,2`).
    pub fn serial_line(&self) -> SerialLine {
        SerialLine { baud: self.ipr, rtscts: self.ifc == (2, 2) }
    }

    pub fn apply(&mut self, p: &UserProfile) {
        self.echo = p.echo;
        self.quiet = p.quiet;
        self.verbose = p.verbose;
        self.x = p.x;
        self.amp_c = p.amp_c;
        self.amp_d = p.amp_d;
        self.amp_s = p.amp_s;
        self.sreg[0] = p.s0;
    }

    pub fn profile(&self) -> UserProfile {
        UserProfile {
            echo: self.echo,
            quiet: self.quiet,
            verbose: self.verbose,
            x: self.x,
            amp_c: self.amp_c,
            amp_d: self.amp_d,
            amp_s: self.amp_s,
            s0: self.sreg[0],
        }
    }

    pub fn framing(&self) -> Framing {
        Framing { verbose: self.verbose, quiet: self.quiet, s3: self.sreg[3], s4: self.sreg[4] }
    }

    pub fn line_config(&self) -> LineConfig {
        LineConfig { s3: self.sreg[3], s5: self.sreg[5], echo: self.echo, max_line: MAX_LINE }
    }
}

/// Non-volatile memory of the module: small named blobs that survive restart. A value is
/// staged at once (every later load sees it, also a modem sharing this NV) and persisted
/// later, off the core's thread (see [`NvStore`]).
pub trait Nv: Send + Sync + Debug {
    fn load(&self, key: &str) -> Option<Vec<u8>>;
    /// Make `value` the current value of `key` now (cheap, in memory).
    fn stage(&self, key: &str, value: &[u8]);
    /// Write the staged value of `key` to durable storage (slow).
    fn persist(&self, key: &str) -> std::io::Result<()>;
    /// Append `data` to the log `key` now, in memory (every later load sees it).
    fn stage_append(&self, key: &str, data: &[u8]);
    /// Write what was appended to the log `key` to durable storage (slow).
    fn persist_appends(&self, key: &str) -> std::io::Result<()>;
}

type Staged = std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>;

fn lock(m: &Staged) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Vec<u8>>> {
    // A poisoned lock only means a thread panicked while holding it; the map is still valid.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// NV kept as files in the state directory, written atomically.
#[derive(Debug)]
pub struct DirNv {
    dir: PathBuf,
    /// Values staged but not yet persisted.
    staged: Staged,
    /// Appends to logs not yet persisted.
    appended: Staged,
}

impl DirNv {
    pub fn open(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir, staged: Default::default(), appended: Default::default() })
    }
}

impl Nv for DirNv {
    fn load(&self, key: &str) -> Option<Vec<u8>> {
        if let Some(v) = lock(&self.staged).get(key) {
            return Some(v.clone());
        }
        // A log: what is on disk, then what waits to be written (the lock keeps a write
        // from happening in between).
        let appended = lock(&self.appended);
        let mut v = std::fs::read(self.dir.join(key)).ok();
        if let Some(more) = appended.get(key) {
            v.get_or_insert_with(Vec::new).extend_from_slice(more);
        }
        v
    }

    fn stage(&self, key: &str, value: &[u8]) {
        lock(&self.staged).insert(key.to_owned(), value.to_vec());
    }

    fn persist(&self, key: &str) -> std::io::Result<()> {
        use std::io::Write;
        let Some(value) = lock(&self.staged).get(key).cloned() else { return Ok(()) };
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(&value)?;
        tmp.as_file().sync_data()?;
        tmp.persist(self.dir.join(key)).map_err(|e| e.error)?;
        // Forget the staged copy unless a newer one was staged meanwhile.
        let mut staged = lock(&self.staged);
        if staged.get(key) == Some(&value) {
            staged.remove(key);
        }
        Ok(())
    }

    fn stage_append(&self, key: &str, data: &[u8]) {
        lock(&self.appended).entry(key.to_owned()).or_default().extend_from_slice(data);
    }

    fn persist_appends(&self, key: &str) -> std::io::Result<()> {
        use std::io::Write;
        let mut appended = lock(&self.appended);
        let Some(data) = appended.get(key).filter(|d| !d.is_empty()) else { return Ok(()) };
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join(key))?;
        f.write_all(data)?;
        f.sync_data()?;
        appended.remove(key);
        Ok(())
    }
}

/// NV in memory (tests); clones share contents.
#[derive(Debug, Clone, Default)]
pub struct MemNv(std::sync::Arc<Staged>);

impl Nv for MemNv {
    fn load(&self, key: &str) -> Option<Vec<u8>> {
        lock(&self.0).get(key).cloned()
    }

    fn stage(&self, key: &str, value: &[u8]) {
        lock(&self.0).insert(key.to_owned(), value.to_vec());
    }

    fn persist(&self, _: &str) -> std::io::Result<()> {
        Ok(())
    }

    fn stage_append(&self, key: &str, data: &[u8]) {
        lock(&self.0).entry(key.to_owned()).or_default().extend_from_slice(data);
    }

    fn persist_appends(&self, _: &str) -> std::io::Result<()> {
        Ok(())
    }
}

/// The module's view of NV: a value saved is current at once; making it durable is work
/// for later, off the core's thread, in the order the saves were made (see
/// `Ctx::nv_save`), so no answer waits for the disk.
#[derive(Debug)]
pub struct NvStore {
    backend: std::sync::Arc<dyn Nv>,
}

impl NvStore {
    pub fn new(backend: std::sync::Arc<dyn Nv>) -> Self {
        Self { backend }
    }

    pub fn load(&self, key: &str) -> Option<Vec<u8>> {
        self.backend.load(key)
    }

    /// Append `data` to the log `key` (current at once); returns the write that makes it
    /// durable.
    pub fn append(&mut self, key: &str, data: &[u8]) -> impl FnOnce() -> std::io::Result<()> + Send + 'static {
        self.backend.stage_append(key, data);
        let backend = self.backend.clone();
        let key = key.to_owned();
        move || backend.persist_appends(&key)
    }

    /// Make `value` current for `key`; returns the write that makes it durable.
    pub fn save(&mut self, key: &str, value: &[u8]) -> impl FnOnce() -> std::io::Result<()> + Send + 'static {
        self.backend.stage(key, value);
        let backend = self.backend.clone();
        let key = key.to_owned();
        move || backend.persist(&key)
    }
}

/// `ATS<n>?`, `ATS<n>=?`, `ATS<n>=<v>`, `ATS<n>` (default value).
pub fn s_register(
    ctx: &mut super::Ctx,
    n: usize,
    form: v250::Form,
    mut args: v250::Args<'_>,
) -> Result<super::Reply, super::CmdError> {
    let &(_, default, max) =
        SREGS.iter().find(|(r, _, _)| usize::from(*r) == n).ok_or(super::CmdError::Refused("no such S-register"))?;
    match form {
        v250::Form::Read => Ok(super::Reply::line(format!("{:03}", ctx.settings.sreg[n]))),
        v250::Form::Test => Ok(super::Reply::line(format!("S{n}: (0-{max})"))),
        v250::Form::Exec => {
            ctx.settings.sreg[n] = default;
            Ok(super::Reply::ok())
        }
        v250::Form::Write => {
            let v = args.next_int_in(0..=i64::from(max))?;
            args.finish()?;
            ctx.settings.sreg[n] = u8::try_from(v).unwrap_or(default);
            Ok(super::Reply::ok())
        }
    }
}
