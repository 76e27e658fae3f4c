//! FTP (plain, AUTH TLS accepted), explicit FTPS (TLS required) and implicit FTPS by
//! pyftpdlib; passive and active; one user whose home is `root()`.

use crate::ca::TestCa;
use crate::dte::Dte;
use crate::process::{ServerProcess, give, start_with_ports, venv_python};
use anyhow::Result;
use std::path::{Path, PathBuf};

const SCRIPT: &str = include_str!("../py/ftp-server.py");

/// A running pyftpdlib; stopped on drop.
#[derive(Debug)]
pub struct FtpServer {
    /// Plain FTP (AUTH TLS accepted).
    pub port: u16,
    /// Explicit FTPS: AUTH TLS, PBSZ 0, PROT P required.
    pub explicit_port: u16,
    /// Implicit FTPS.
    pub implicit_port: u16,
    pub user: &'static str,
    pub password: &'static str,
    root: PathBuf,
    proc: ServerProcess,
    _dir: tempfile::TempDir,
}

impl FtpServer {
    pub fn start(ca: &TestCa) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let w = dir.path();
        let (chain, key) = ca.install(&w.join("tls"))?;
        let root = w.join("root");
        std::fs::create_dir_all(&root)?;
        std::fs::write(w.join("ftp-server.py"), SCRIPT)?;
        let py = venv_python()?;
        let (proc, ports) = start_with_ports(3, |p| {
            let args = vec![
                w.join("ftp-server.py").display().to_string(),
                "--root".into(),
                root.display().to_string(),
                "--port".into(),
                p[0].to_string(),
                "--explicit-port".into(),
                p[1].to_string(),
                "--implicit-port".into(),
                p[2].to_string(),
                "--cert".into(),
                chain.display().to_string(),
                "--key".into(),
                key.display().to_string(),
            ];
            ServerProcess::start("pyftpdlib", &py, &args, w, p).map(|s| (s, p.to_vec()))
        })?;
        Ok(Self {
            port: ports[0],
            explicit_port: ports[1],
            implicit_port: ports[2],
            user: "simuser",
            password: "simpass",
            root,
            proc,
            _dir: dir,
        })
    }

    /// Point the modem's plain FTP client at this server: `AT+CFTPSERV`, `AT+CFTPPORT`,
    /// `AT+CFTPUN`, `AT+CFTPPW`, each answered `OK`.
    pub fn configure(&self, dte: &mut Dte) {
        dte.cmd_expect("AT+CFTPSERV=\"127.0.0.1\"", &["OK"]);
        dte.cmd_expect(&format!("AT+CFTPPORT={}", self.port), &["OK"]);
        dte.cmd_expect(&format!("AT+CFTPUN=\"{}\"", self.user), &["OK"]);
        dte.cmd_expect(&format!("AT+CFTPPW=\"{}\"", self.password), &["OK"]);
    }

    /// The user's home on disk.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Create `rel` (and its folders) under the root with `bytes`, owned by the server.
    pub fn put(&self, rel: &str, bytes: &[u8]) -> Result<PathBuf> {
        let p = self.root.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(&p, bytes)?;
        give(&self.root)?;
        Ok(p)
    }

    pub fn log_tail(&self) -> String {
        self.proc.log_tail()
    }

    /// The server's process id, which is also its process group's (workers included).
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }
}
