//! NTP by chrony: a server on an ephemeral 127.0.0.1 UDP port that serves the host's
//! clock (`local stratum 8`, no sources, never touching the system clock: `-x`).

use crate::process::{ServerProcess, start_with_ports};
use anyhow::{Result, bail};
use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

/// A running chronyd; stopped on drop.
#[derive(Debug)]
pub struct NtpServer {
    pub port: u16,
    proc: ServerProcess,
    _dir: tempfile::TempDir,
}

impl NtpServer {
    pub fn start() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let w = dir.path();
        let (proc, port) = start_with_ports(1, |p| {
            let conf = w.join("chrony.conf");
            std::fs::write(&conf, config(w, p[0]))?;
            // -U: no superuser check (it runs as the servers' user), -x: never set the
            // system clock, -d: foreground, logging to stderr.
            let args = vec!["-U".to_owned(), "-x".into(), "-d".into(), "-f".into(), conf.display().to_string()];
            let proc = ServerProcess::start("chronyd", Path::new("/usr/sbin/chronyd"), &args, w, &[])?;
            wait_serving(&proc, p[0])?;
            Ok((proc, p[0]))
        })?;
        Ok(Self { port, proc, _dir: dir })
    }

    pub fn log_tail(&self) -> String {
        self.proc.log_tail()
    }
}

fn config(w: &Path, port: u16) -> String {
    let w = w.display();
    format!(
        "port {port}\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 8\ncmdport 0\n\
         bindcmdaddress /\npidfile {w}/chronyd.pid\ndriftfile {w}/drift\n"
    )
}

/// The time the server at `port` answers an SNTP client request with, as Unix seconds.
pub fn query(port: u16, timeout: Duration) -> Result<Option<u64>> {
    let s = UdpSocket::bind("127.0.0.1:0")?;
    s.set_read_timeout(Some(timeout))?;
    // LI 0, version 4, mode 3 (client).
    let mut req = [0u8; 48];
    req[0] = 0x23;
    s.send_to(&req, ("127.0.0.1", port))?;
    let mut buf = [0u8; 128];
    match s.recv(&mut buf) {
        Ok(n) if n >= 48 && buf[0] & 7 == 4 => {
            let secs = u32::from_be_bytes([buf[40], buf[41], buf[42], buf[43]]);
            Ok(Some(u64::from(secs).saturating_sub(2_208_988_800)))
        }
        Ok(_) => Ok(None),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn wait_serving(proc: &ServerProcess, port: u16) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if query(port, Duration::from_millis(200))?.is_some() {
            return Ok(());
        }
        let log = proc.log_tail();
        if log.contains("in use") || log.contains("Fatal") {
            bail!("chronyd cannot serve on port {port}:\n{log}");
        }
    }
    bail!("chronyd not answering on UDP port {port}:\n{}", proc.log_tail())
}
