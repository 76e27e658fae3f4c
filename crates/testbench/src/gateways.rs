//! SMS gateways driving the modem as their users run them: smstools' `smsd` (Debian) with
//! its spool directories, and serialport-gsm (npm, pinned by scripts/install-deps.sh)
//! through a small Node.js script (`js/gsm-gateway.js`). Each is stopped on drop.

use crate::process::{cache_dir, tail_lines};
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A process group stopped on drop (smsd forks one process per modem).
#[derive(Debug)]
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline && matches!(self.0.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        let _ = self.0.wait();
    }
}

/// smstools' `smsd` on one modem: messages to send are files in `outgoing`; sent ones
/// move to `sent` (failed ones to `failed`), received ones appear in `incoming`.
#[derive(Debug)]
pub struct Smsd {
    dir: tempfile::TempDir,
    _child: Group,
}

impl Smsd {
    /// Start smsd on `device` (the modem's tty), polling its spool every second.
    pub fn start(device: &Path) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        for sub in ["outgoing", "checked", "incoming", "failed", "sent"] {
            std::fs::create_dir(d.join(sub))?;
        }
        let conf = format!(
            "devices = GSM1\noutgoing = {0}/outgoing\nchecked = {0}/checked\nincoming = {0}/incoming\n\
             failed = {0}/failed\nsent = {0}/sent\nlogfile = {0}/smsd.log\nloglevel = 7\n\
             infofile = {0}/smsd.working\npidfile = {0}/smsd.pid\nstats =\ndelaytime = 1\n\
             delaytime_mainprocess = 1\nautosplit = 3\n\n[GSM1]\ndevice = {1}\nincoming = yes\n\
             baudrate = 115200\nrtscts = yes\n",
            d.display(),
            device.display()
        );
        std::fs::write(d.join("smsd.conf"), conf)?;
        let out = std::fs::File::create(d.join("smsd.out"))?;
        let child = Command::new("smsd")
            .arg("-c")
            .arg(d.join("smsd.conf"))
            .arg("-t")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0)
            .spawn()
            .context("smsd (Debian package smstools; run scripts/install-deps.sh)")?;
        Ok(Self { dir, _child: Group(child) })
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    /// smsd's log so far.
    pub fn log_tail(&self) -> String {
        tail_lines(&std::fs::read_to_string(self.path("smsd.log")).unwrap_or_default(), 40)
    }

    /// Queue a message file (`To: ...` headers, a blank line, the text in the file's
    /// alphabet), as a user drops it into the spool.
    pub fn queue(&self, name: &str, file: &[u8]) -> Result<()> {
        // Written beside the spool and moved in whole, as smsd's documentation asks.
        let tmp = self.dir.path().join(format!(".{name}"));
        std::fs::write(&tmp, file)?;
        std::fs::rename(&tmp, self.path("outgoing").join(name))?;
        Ok(())
    }

    /// Wait until message file `name` is in `sent`; an error if it lands in `failed`.
    pub fn wait_sent(&self, name: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.path("sent").join(name).exists() {
                return Ok(());
            }
            if self.path("failed").join(name).exists() {
                bail!("smsd failed to send {name}:\n{}", self.log_tail());
            }
            if Instant::now() > deadline {
                bail!("{name} not sent after {timeout:?}:\n{}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait until `n` messages are in `incoming`; their files, oldest first.
    pub fn wait_incoming(&self, n: usize, timeout: Duration) -> Result<Vec<Vec<u8>>> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut files: Vec<_> = std::fs::read_dir(self.path("incoming"))?
                .filter_map(|e| e.ok())
                .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
                .collect();
            if files.len() >= n {
                files.sort();
                return files.into_iter().map(|(_, p)| Ok(std::fs::read(p)?)).collect();
            }
            if Instant::now() > deadline {
                bail!("{} of {n} messages in incoming after {timeout:?}:\n{}", files.len(), self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// serialport-gsm (Node.js) on the modem: it initialises the modem, sends `messages`
/// (number, text) one by one and prints each message it receives, for `run_for`.
#[derive(Debug)]
pub struct SerialportGsm {
    _child: Group,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl SerialportGsm {
    pub fn start(device: &Path, messages: &[(&str, &str)], run_for: Duration) -> Result<Self> {
        let modules = cache_dir()?.join("serialport-gsm/node_modules");
        if !modules.join("serialport-gsm").exists() {
            bail!("serialport-gsm is not installed in {}; run scripts/install-deps.sh", modules.display());
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("js/gsm-gateway.js");
        let list = serde_json::to_string(messages)?;
        let mut child = Command::new("node")
            .arg(script)
            .arg(device)
            .arg(list)
            .arg(run_for.as_millis().to_string())
            .env("NODE_PATH", &modules)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .context("node (Debian package nodejs)")?;
        let stdout = child.stdout.take().context("node's stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(Self { _child: Group(child), lines, seen: Vec::new() })
    }

    /// The next line the script prints that starts with `prefix` (its log lines are
    /// kept for failure messages).
    pub fn wait_line(&mut self, prefix: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if let Some(rest) = l.strip_prefix(prefix) {
                        return Ok(rest.trim_start().to_owned());
                    }
                }
                Err(_) => bail!("no {prefix:?} line after {timeout:?}; the script printed:\n{}", self.seen.join("\n")),
            }
        }
    }
}
