//! Servers for the socket tests: TCP and UDP echo by socat, an MQTT broker by mosquitto
//! (with its own `mosquitto_sub` / `mosquitto_pub` clients), each on an ephemeral
//! 127.0.0.1 port, stopped on drop.

use crate::process::{ServerProcess, start_with_ports};
use anyhow::{Context, Result, bail};
use std::io::Read;
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A socat echo server: every byte (TCP) or datagram (UDP) sent back.
#[derive(Debug)]
pub struct EchoServer {
    pub port: u16,
    proc: ServerProcess,
    _dir: tempfile::TempDir,
}

impl EchoServer {
    /// TCP echo, one process per connection (`fork`), so links do not share a stream.
    pub fn tcp() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let (proc, port) = start_with_ports(1, |p| {
            // `-b 4096`: socat writes what it read into its own PIPE and reads it back
            // from there, with a blocking write of the whole piece. With its default 8 KiB
            // pieces and the pipe nearly full (a flood both ways), that write waited for
            // room only socat itself could make: the echo stalled for good, with the
            // modem's data unread in socat's socket. A piece of one page always fits in a
            // pipe that select calls writable.
            let args = vec![
                "-b".to_owned(),
                "4096".to_owned(),
                format!("TCP-LISTEN:{},bind=127.0.0.1,reuseaddr,fork", p[0]),
                "PIPE".to_owned(),
            ];
            let proc = ServerProcess::start("socat-tcp-echo", Path::new("/usr/bin/socat"), &args, dir.path(), &p[..1])
                .map_err(|e| in_use(e, &dir.path().join("socat-tcp-echo.log")))?;
            Ok((proc, p[0]))
        })?;
        Ok(Self { port, proc, _dir: dir })
    }

    /// UDP echo: each datagram back to its sender.
    pub fn udp() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let (proc, port) = start_with_ports(1, |p| {
            let args = vec![format!("UDP-RECVFROM:{},bind=127.0.0.1,reuseaddr,fork", p[0]), "PIPE".to_owned()];
            let proc = ServerProcess::start("socat-udp-echo", Path::new("/usr/bin/socat"), &args, dir.path(), &[])?;
            wait_udp_echo(&proc, p[0])?;
            Ok((proc, p[0]))
        })?;
        Ok(Self { port, proc, _dir: dir })
    }

    pub fn log_tail(&self) -> String {
        self.proc.log_tail()
    }
}

/// A server's "Address already in use" (in its `log`) as the error text
/// `start_with_ports` retries on.
fn in_use(e: anyhow::Error, log: &Path) -> anyhow::Error {
    let log = std::fs::read_to_string(log).unwrap_or_default();
    if log.contains("in use") { anyhow::anyhow!("address in use: {log}") } else { e }
}

fn wait_udp_echo(proc: &ServerProcess, port: u16) -> Result<()> {
    let s = UdpSocket::bind("127.0.0.1:0")?;
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 16];
    while Instant::now() < deadline {
        s.send_to(b"probe", ("127.0.0.1", port))?;
        if let Ok((5, _)) = s.recv_from(&mut buf) {
            return Ok(());
        }
        if proc.log_tail().contains("in use") {
            bail!("socat: UDP port {port} in use");
        }
    }
    bail!("socat UDP echo not answering on port {port}:\n{}", proc.log_tail())
}

/// A mosquitto broker on 127.0.0.1 (anonymous clients allowed), and its command-line
/// clients.
#[derive(Debug)]
pub struct MqttBroker {
    pub port: u16,
    /// None only while it restarts.
    proc: Option<ServerProcess>,
    _dir: tempfile::TempDir,
}

impl MqttBroker {
    pub fn start() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let w = dir.path().to_owned();
        let (proc, port) = start_with_ports(1, |p| {
            let conf = w.join("mosquitto.conf");
            std::fs::write(&conf, format!("listener {} 127.0.0.1\nallow_anonymous true\npersistence false\n", p[0]))?;
            let args = vec!["-c".to_owned(), conf.display().to_string(), "-v".into()];
            let proc = ServerProcess::start("mosquitto", Path::new("/usr/sbin/mosquitto"), &args, &w, &p[..1])
                .map_err(|e| in_use(e, &w.join("mosquitto.log")))?;
            Ok((proc, p[0]))
        })?;
        Ok(Self { port, proc: Some(proc), _dir: dir })
    }

    pub fn log_tail(&self) -> String {
        self.proc.as_ref().map(ServerProcess::log_tail).unwrap_or_default()
    }

    /// Stop the broker and start it again on the same port (nothing persisted: sessions
    /// and queued messages are gone, as after a crash).
    pub fn restart(&mut self) -> Result<()> {
        let w = self._dir.path().to_owned();
        let port = self.port;
        // The old process is stopped (dropped) before the new one binds the port.
        self.proc = None;
        let args = vec!["-c".to_owned(), w.join("mosquitto.conf").display().to_string(), "-v".into()];
        self.proc = Some(ServerProcess::start("mosquitto", Path::new("/usr/sbin/mosquitto"), &args, &w, &[port])?);
        Ok(())
    }

    /// `mosquitto_sub -t topic -C count`, running: its output is the messages, one a
    /// line. Ready once the broker has logged its subscription.
    pub fn subscribe(&self, topic: &str, count: usize) -> Result<Subscriber> {
        let child = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-t", topic, "-C", &count.to_string()])
            .args(["-i", "testbench-sub"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("mosquitto_sub")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.log_tail().contains("testbench-sub") || !self.log_tail().contains(topic) {
            if Instant::now() > deadline {
                bail!("mosquitto_sub did not subscribe:\n{}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Subscriber { child })
    }

    /// `mosquitto_pub -t topic -m message`, to its end.
    pub fn publish(&self, topic: &str, message: &str) -> Result<()> {
        let out = Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-t", topic, "-m", message])
            .output()
            .context("mosquitto_pub")?;
        if !out.status.success() {
            bail!("mosquitto_pub failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }
}

/// A running `mosquitto_sub`.
#[derive(Debug)]
pub struct Subscriber {
    child: Child,
}

impl Subscriber {
    /// Its output once it has received its count of messages (at most `timeout`).
    pub fn messages(mut self, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.child.try_wait()?.is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!("mosquitto_sub got too few messages in {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut out = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            o.read_to_string(&mut out)?;
        }
        Ok(out)
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
