//! gpsd reading the modem's NMEA port; its JSON socket tells what it made of it.

use crate::process::{ServerProcess, give, start_with_ports};
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// A running gpsd on a device; stopped on drop.
#[derive(Debug)]
pub struct Gpsd {
    pub port: u16,
    proc: ServerProcess,
    _dir: tempfile::TempDir,
}

impl Gpsd {
    /// gpsd in the foreground on `device` (polling it at once: `-n`), its JSON service on
    /// an ephemeral 127.0.0.1 port and its control socket in a temp dir.
    pub fn start(device: &Path) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let w = dir.path();
        // The servers' user must be able to open the device.
        let dev = std::fs::canonicalize(device).with_context(|| device.display().to_string())?;
        give(&dev)?;
        let (proc, port) = start_with_ports(1, |p| {
            let args = vec![
                "-N".to_owned(),
                "-n".into(),
                "-S".into(),
                p[0].to_string(),
                "-F".into(),
                w.join("gpsd.sock").display().to_string(),
                dev.display().to_string(),
            ];
            ServerProcess::start("gpsd", Path::new("/usr/sbin/gpsd"), &args, w, p).map(|s| (s, p[0]))
        })?;
        Ok(Self { port, proc, _dir: dir })
    }

    pub fn log_tail(&self) -> String {
        self.proc.log_tail()
    }

    /// The first `want` reports of class `class` (`TPV`, `SKY`) gpsd sends a watcher on
    /// its JSON socket within `timeout`.
    pub fn reports(&self, class: &str, want: usize, timeout: Duration) -> Result<Vec<serde_json::Value>> {
        let deadline = Instant::now() + timeout;
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.write_all(br#"?WATCH={"enable":true,"json":true};"#)?;
        let mut r = BufReader::new(s);
        let (mut found, mut seen) = (Vec::new(), String::new());
        let mut line = String::new();
        while found.len() < want {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!(
                    "gpsd: {} of {want} {class} reports in {timeout:?}; it sent:\n{seen}\ngpsd log:\n{}",
                    found.len(),
                    self.log_tail()
                );
            }
            r.get_ref().set_read_timeout(Some(left))?;
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) => bail!("gpsd closed its JSON socket; it sent:\n{seen}\ngpsd log:\n{}", self.log_tail()),
                Ok(_) => {}
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => continue,
                Err(e) => return Err(e.into()),
            }
            seen.push_str(&line);
            let v: serde_json::Value =
                serde_json::from_str(line.trim()).with_context(|| format!("gpsd sent {line:?}"))?;
            if v["class"] == class {
                found.push(v);
            }
        }
        Ok(found)
    }
}
