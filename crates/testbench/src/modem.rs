//! The real `sim5360` binary as a child process, with a temporary EFS and state dir.

use crate::dte::Dte;
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How the DTE reaches the modem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Pty,
    Tcp,
    Stdio,
}

/// A running `sim5360`; stopped (SIGTERM, then SIGKILL) on drop.
#[derive(Debug)]
pub struct ModemProcess {
    child: Child,
    pub dir: tempfile::TempDir,
    /// PTY slave path (`Transport::Pty`).
    pub tty: Option<PathBuf>,
    /// Symlink to the PTY.
    pub link: Option<PathBuf>,
    /// The NMEA port's PTY (`Transport::Pty` without `--no-nmea`).
    pub nmea: Option<PathBuf>,
    /// Listening address (`Transport::Tcp`).
    pub tcp: Option<String>,
    /// The control API's URL (`--control`), from the `--ready-json` line.
    pub control: Option<String>,
    /// Every port of the ready line by role (`uart`, `nmea`; with `--usb`: `diag`, `nmea`,
    /// `at`, `modem`): its link, or its PTY without one, in the order announced.
    pub ports: Vec<(String, PathBuf)>,
    /// The whole `--ready-json` line.
    pub ready: Option<serde_json::Value>,
    stdout: Option<BufReader<ChildStdout>>,
}

impl ModemProcess {
    /// Start `bin` with `extra` arguments, a fresh EFS under a temp dir, and no boot delay
    /// unless `extra` gives one.
    pub fn start(bin: &Path, transport: Transport, extra: &[&str]) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        Self::start_in(bin, transport, extra, dir)
    }

    /// As [`ModemProcess::start`], reusing `dir` (EFS and state of an earlier run).
    pub fn start_in(bin: &Path, transport: Transport, extra: &[&str], dir: tempfile::TempDir) -> Result<Self> {
        let mut cmd = Command::new(bin);
        cmd.arg("--efs").arg(dir.path().join("efs")).arg("--state").arg(dir.path().join("state"));
        if !extra.contains(&"--boot-delay") {
            cmd.args(["--boot-delay", "0"]);
        }
        match transport {
            Transport::Pty => {
                cmd.arg("--link").arg(dir.path().join("ttySIM"));
            }
            Transport::Tcp => {
                cmd.args(["--tcp", "127.0.0.1:0"]);
            }
            Transport::Stdio => {
                cmd.arg("--stdio").stdin(Stdio::piped());
            }
        }
        // The modem's log goes to a file the test can read (`stderr_log`).
        let log = std::fs::File::create(dir.path().join("stderr.log"))?;
        cmd.args(extra).stdout(Stdio::piped()).stderr(log);
        let mut child = cmd.spawn().with_context(|| format!("spawn {}", bin.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut me = Self {
            child,
            dir,
            tty: None,
            link: None,
            nmea: None,
            tcp: None,
            control: None,
            ports: Vec::new(),
            ready: None,
            stdout: Some(BufReader::new(stdout)),
        };
        if extra.contains(&"--ready-json") && transport != Transport::Stdio {
            let line = me.announced("{")?;
            let v: serde_json::Value = serde_json::from_str(&format!("{{{line}")).context("the --ready-json line")?;
            let text = |k: &str| v[k].as_str().map(str::to_owned);
            me.tty = text("pty").map(PathBuf::from);
            me.link = text("link").map(PathBuf::from);
            me.nmea = text("nmea").map(PathBuf::from);
            me.tcp = text("tcp");
            me.control = text("control");
            for p in v["ports"].as_array().into_iter().flatten() {
                let path = p["link"].as_str().or(p["pty"].as_str()).context("a port without a path")?;
                me.ports.push((p["role"].as_str().unwrap_or_default().to_owned(), PathBuf::from(path)));
            }
            me.ready = Some(v);
            return Ok(me);
        }
        match transport {
            Transport::Pty if extra.contains(&"--usb") => {
                for role in ["diag", "nmea", "at", "modem"] {
                    if role == "nmea" && extra.contains(&"--no-nmea") {
                        continue;
                    }
                    me.announced(&format!("{role}: "))?;
                    let link = PathBuf::from(me.announced(&format!("{role}-link: "))?);
                    me.ports.push((role.to_owned(), link));
                }
                me.tty = me.port("at");
                me.link = me.port("at");
                me.nmea = me.port("nmea");
            }
            Transport::Pty => {
                me.tty = Some(PathBuf::from(me.announced("pty: ")?));
                me.link = Some(PathBuf::from(me.announced("link: ")?));
                if !extra.contains(&"--no-nmea") {
                    me.nmea = Some(PathBuf::from(me.announced("nmea: ")?));
                }
            }
            Transport::Tcp => me.tcp = Some(me.announced("tcp: ")?),
            Transport::Stdio => {}
        }
        Ok(me)
    }

    /// Read stdout lines until one starts with `prefix`; return the rest of it.
    fn announced(&mut self, prefix: &str) -> Result<String> {
        let out = self.stdout.as_mut().context("stdout already taken")?;
        let mut line = String::new();
        loop {
            line.clear();
            if out.read_line(&mut line)? == 0 {
                let status = self.child.wait()?;
                bail!("sim5360 exited ({status}) before announcing {prefix:?}");
            }
            if let Some(rest) = line.trim_end().strip_prefix(prefix) {
                return Ok(rest.to_owned());
            }
        }
    }

    /// The port with role `role` (see [`ModemProcess::ports`]).
    pub fn port(&self, role: &str) -> Option<PathBuf> {
        self.ports.iter().find(|(r, _)| r == role).map(|(_, p)| p.clone())
    }

    /// A DTE on the port with role `role`.
    pub fn open_port(&self, role: &str) -> Result<Dte> {
        open_tty(&self.port(role).with_context(|| format!("no {role} port"))?)
    }

    /// What the modem logged so far (its stderr).
    pub fn stderr_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    pub fn efs(&self) -> PathBuf {
        self.dir.path().join("efs")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A DTE on the PTY (opened like a serial port).
    pub fn open_pty(&self) -> Result<Dte> {
        let path = self.tty.as_ref().context("not a PTY modem")?;
        open_tty(path)
    }

    /// A DTE over a new TCP connection.
    pub fn connect(&self) -> Result<Dte> {
        let addr = self.tcp.as_ref().context("not a TCP modem")?;
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        Ok(Dte::new(s.try_clone()?, Box::new(s)))
    }

    /// The DTE on stdin/stdout (once).
    pub fn stdio(&mut self) -> Result<Dte> {
        let stdin = self.child.stdin.take().context("not a stdio modem")?;
        let stdout = self.stdout.take().context("stdout taken")?;
        Ok(Dte::new(stdout.into_inner(), Box::new(stdin)))
    }

    /// Send a signal and wait for the exit (at most `timeout`).
    pub fn signal(&mut self, sig: nix::sys::signal::Signal, timeout: Duration) -> Result<ExitStatus> {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id())?);
        nix::sys::signal::kill(pid, sig)?;
        self.wait(timeout)
    }

    /// Stop the modem as a user would (SIGTERM: it finishes its state-directory writes)
    /// and keep its directory for [`ModemProcess::start_in`].
    pub fn stop(mut self) -> Result<tempfile::TempDir> {
        let st = self.signal(nix::sys::signal::Signal::SIGTERM, Duration::from_secs(10))?;
        if !st.success() {
            bail!("sim5360 exited with {st} on SIGTERM");
        }
        Ok(std::mem::replace(&mut self.dir, tempfile::tempdir()?))
    }

    /// Wait for the exit (at most `timeout`).
    pub fn wait(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait()? {
                return Ok(st);
            }
            if Instant::now() > deadline {
                bail!("sim5360 did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ModemProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            if self.wait(Duration::from_secs(3)).is_err() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

/// The real binary on a PTY with `extra` arguments, booted, echo off (`ATE0`), and a DTE
/// with a 60 s timeout (transfers of tens of MiB on a loaded machine).
pub fn ready_modem(bin: &Path, extra: &[&str]) -> Result<(ModemProcess, Dte)> {
    let m = ModemProcess::start(bin, Transport::Pty, extra)?;
    let mut dte = m.open_pty()?;
    dte.timeout = Duration::from_secs(60);
    dte.expect_eventually("PB DONE");
    dte.cmd_expect("ATE0", &["ATE0", "OK"]);
    Ok((m, dte))
}

/// Open a tty (PTY slave or serial device) raw, as a DTE's serial library would: the
/// plain file, for code that reads and writes it itself.
pub fn raw_tty(path: &Path) -> Result<std::fs::File> {
    use nix::sys::termios;
    let f =
        std::fs::OpenOptions::new().read(true).write(true).open(path).with_context(|| path.display().to_string())?;
    let mut t = termios::tcgetattr(&f)?;
    termios::cfmakeraw(&mut t);
    termios::tcsetattr(&f, termios::SetArg::TCSANOW, &t)?;
    Ok(f)
}

/// A DTE on a raw tty (see [`raw_tty`]).
pub fn open_tty(path: &Path) -> Result<Dte> {
    let f = raw_tty(path)?;
    Ok(Dte::new(f.try_clone()?, Box::new(f)))
}
