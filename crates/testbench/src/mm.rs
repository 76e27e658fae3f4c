//! ModemManager 1.20 (Debian) driving the modem, without udev or systemd: a private
//! D-Bus daemon (its address also given as the system bus, which `mmcli` uses), a socat
//! bridge per port (ModemManager's test ports are unix sockets, not ttys; `-t 0` so the
//! child of a closed connection never competes with the next one for the PTY), and
//! ModemManager's test mode, which creates the modem from `Test.SetProfile` with the plugin
//! named and every port listed as an AT port. Everything is stopped on drop.

use crate::process::tail_lines;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A private bus and ModemManager on it, with bridges to the modem's ports.
#[derive(Debug)]
pub struct ModemManager {
    dir: tempfile::TempDir,
    bus: String,
    /// ModemManager and the socat bridges (stopped in that order), then the bus.
    children: Vec<Child>,
    daemon: Child,
    /// The unix sockets ModemManager was given, one per port, in order.
    pub sockets: Vec<PathBuf>,
}

impl ModemManager {
    /// Bridge `ports` (PTY paths) to unix sockets, start ModemManager and create the modem
    /// with `plugin` (`generic`: what a SIM5360 at 05c6:9000 gets; `simtech`); returns once
    /// `mmcli -L` lists it.
    pub fn start(ports: &[PathBuf], plugin: &str) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("dbus-daemon (Debian package dbus; run scripts/install-deps.sh)")?;
        let mut bus = String::new();
        let stdout = daemon.stdout.take().context("dbus-daemon's stdout")?;
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut bus)?;
        let bus = bus.trim().to_owned();
        if bus.is_empty() {
            let _ = daemon.kill();
            bail!("dbus-daemon printed no address ({:?})", daemon.wait());
        }
        let mut me = Self { dir, bus, children: Vec::new(), daemon, sockets: Vec::new() };
        for (i, port) in ports.iter().enumerate() {
            let sock = me.dir.path().join(format!("port{i}.sock"));
            let log = std::fs::File::create(me.dir.path().join(format!("socat{i}.log")))?;
            let child = Command::new("socat")
                .arg("-t")
                .arg("0")
                .arg(format!("UNIX-LISTEN:{},fork,unlink-early", sock.display()))
                .arg(format!("FILE:{},raw,echo=0", port.display()))
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .context("socat")?;
            me.children.push(child);
            me.sockets.push(sock);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !me.sockets.iter().all(|s| s.exists()) {
            if Instant::now() > deadline {
                bail!("socat made no sockets in 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let log = std::fs::File::create(me.dir.path().join("mm.out"))?;
        let mm = Command::new("ModemManager")
            .args(["--test-session", "--test-enable", "--test-no-udev", "--no-auto-scan", "--debug"])
            .args(["--log-level=DEBUG", "--log-timestamps"])
            .arg(format!("--log-file={}", me.log_path().display()))
            .env("DBUS_SESSION_BUS_ADDRESS", &me.bus)
            .env("DBUS_SYSTEM_BUS_ADDRESS", &me.bus)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("ModemManager (Debian package modemmanager; run scripts/install-deps.sh)")?;
        me.children.insert(0, mm);
        me.wait_for("ModemManager on the bus", Duration::from_secs(15), |m| {
            m.gdbus(&["introspect", "--object-path", "/org/freedesktop/ModemManager1"])
                .is_ok_and(|o| o.status.success())
        })?;
        let list: Vec<String> = me.sockets.iter().map(|s| format!("'{}'", s.display())).collect();
        let out = me.gdbus(&[
            "call",
            "--object-path",
            "/org/freedesktop/ModemManager1",
            "--method",
            "org.freedesktop.ModemManager1.Test.SetProfile",
            "sim5360",
            plugin,
            &format!("[{}]", list.join(",")),
        ])?;
        if !out.status.success() {
            bail!("Test.SetProfile failed: {}\n{}", String::from_utf8_lossy(&out.stderr), me.log_tail());
        }
        me.wait_for("the modem in mmcli -L", Duration::from_secs(30), |m| {
            m.mmcli(&["-L"]).is_ok_and(|o| o.contains("/Modem/"))
        })?;
        Ok(me)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("mm.log")
    }

    /// ModemManager's debug log so far (every AT line both ways).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Its last lines, for failure messages.
    pub fn log_tail(&self) -> String {
        tail_lines(&self.log(), 40)
    }

    /// The AT lines ModemManager sent, in order (`AT+CGMM`, ...).
    pub fn commands(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|l| l.split("--> '").nth(1))
            .map(|c| c.trim_end_matches('\'').trim_end_matches("<CR><LF>").trim_end_matches("<CR>").to_owned())
            .collect()
    }

    fn gdbus(&self, args: &[&str]) -> Result<Output> {
        let mut cmd = Command::new("gdbus");
        cmd.arg(args[0]).arg("--session").arg("--dest").arg("org.freedesktop.ModemManager1").args(&args[1..]);
        cmd.env("DBUS_SESSION_BUS_ADDRESS", &self.bus).stdin(Stdio::null());
        cmd.output().context("gdbus (Debian package libglib2.0-bin)")
    }

    /// `mmcli ARGS`'s output; an error (with its stderr) when it fails.
    pub fn mmcli(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("mmcli")
            .args(args)
            .env("DBUS_SYSTEM_BUS_ADDRESS", &self.bus)
            .stdin(Stdio::null())
            .output()
            .context("mmcli")?;
        if !out.status.success() {
            bail!("mmcli {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Poll until `ok`, at most `timeout`.
    pub fn wait_for(&self, what: &str, timeout: Duration, ok: impl Fn(&Self) -> bool) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while !ok(self) {
            if Instant::now() > deadline {
                bail!("no {what} after {timeout:?}; ModemManager's log:\n{}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }

    /// The value of `key` (`modem.generic.state`, ...) in a key-value report (`mmcli -K`).
    pub fn field(report: &str, key: &str) -> Option<String> {
        report.lines().find_map(|l| {
            let (k, v) = l.split_once(" : ")?;
            (k.trim() == key).then(|| v.trim().to_owned())
        })
    }

    /// The path of the directory holding its logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for ModemManager {
    fn drop(&mut self) {
        for c in &mut self.children {
            if let Ok(pid) = i32::try_from(c.id()) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        for c in &mut self.children {
            while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}
