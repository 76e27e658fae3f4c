//! SMTP (plain with STARTTLS and AUTH PLAIN/LOGIN, and implicit TLS) by aiosmtpd; every
//! received message is kept with its envelope.

use crate::ca::TestCa;
use crate::process::{ServerProcess, start_with_ports, venv_python};
use anyhow::{Context, Result};
use std::path::PathBuf;

const SCRIPT: &str = include_str!("../py/smtp-server.py");

/// Server options.
#[derive(Debug, Clone, Copy, Default)]
pub struct SmtpOptions {
    /// MAIL before AUTH is refused (530).
    pub auth_required: bool,
    /// Commands before STARTTLS are refused on the plain port.
    pub require_starttls: bool,
    /// Offer AUTH LOGIN only (not PLAIN).
    pub login_only: bool,
}

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// The user that authenticated, if any.
    pub auth_user: Option<String>,
    pub tls: bool,
    /// The DATA bytes (dot-unstuffed, CRLF line ends).
    pub data: Vec<u8>,
}

/// A running aiosmtpd; stopped on drop.
#[derive(Debug)]
pub struct SmtpServer {
    /// Plain SMTP (STARTTLS offered).
    pub port: u16,
    /// Implicit TLS.
    pub tls_port: u16,
    pub user: &'static str,
    pub password: &'static str,
    store: PathBuf,
    proc: ServerProcess,
    _dir: tempfile::TempDir,
}

impl SmtpServer {
    pub fn start(ca: &TestCa, opts: SmtpOptions) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let w = dir.path();
        let (chain, key) = ca.install(&w.join("tls"))?;
        std::fs::write(w.join("smtp-server.py"), SCRIPT)?;
        let py = venv_python()?;
        let (proc, port, tls_port) = start_with_ports(2, |p| {
            let mut args = vec![
                w.join("smtp-server.py").display().to_string(),
                "--dir".into(),
                w.display().to_string(),
                "--port".into(),
                p[0].to_string(),
                "--tls-port".into(),
                p[1].to_string(),
                "--cert".into(),
                chain.display().to_string(),
                "--key".into(),
                key.display().to_string(),
            ];
            if opts.auth_required {
                args.push("--auth-required".into());
            }
            if opts.require_starttls {
                args.push("--require-starttls".into());
            }
            if opts.login_only {
                args.push("--login-only".into());
            }
            ServerProcess::start("aiosmtpd", &py, &args, w, p).map(|s| (s, p[0], p[1]))
        })?;
        Ok(Self { port, tls_port, user: "simuser", password: "simpass", store: w.to_path_buf(), proc, _dir: dir })
    }

    /// Everything received so far, in order.
    pub fn received(&self) -> Result<Vec<Received>> {
        let text = match std::fs::read_to_string(self.store.join("envelopes.jsonl")) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line)?;
            let key = v["key"].as_str().context("envelope without key")?;
            let data = ["new", "cur"]
                .iter()
                .find_map(|d| std::fs::read(self.store.join("Maildir").join(d).join(key)).ok())
                .with_context(|| format!("message {key} not in the Maildir"))?;
            out.push(Received {
                mail_from: v["mail_from"].as_str().unwrap_or_default().to_owned(),
                rcpt_tos: v["rcpt_tos"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default(),
                auth_user: v["auth_user"].as_str().map(str::to_owned),
                tls: v["tls"].as_bool().unwrap_or(false),
                data,
            });
        }
        Ok(out)
    }

    pub fn log_tail(&self) -> String {
        self.proc.log_tail()
    }
}
