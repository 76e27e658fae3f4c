//! POP3 (plain with STLS, and POP3S) by dovecot, with a passwd-file user and a maildir the
//! test seeds.

use crate::ca::TestCa;
use crate::process::{ServerProcess, give, run_user, start_with_ports};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// A running dovecot; stopped on drop.
#[derive(Debug)]
pub struct Pop3Server {
    /// Plain POP3 (STLS offered).
    pub port: u16,
    /// Implicit TLS (POP3S).
    pub tls_port: u16,
    pub user: &'static str,
    pub password: &'static str,
    maildir: PathBuf,
    seq: AtomicU32,
    proc: ServerProcess,
    _dir: tempfile::TempDir,
}

impl Pop3Server {
    pub fn start(ca: &TestCa) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let w = dir.path();
        let (chain, key) = ca.install(&w.join("tls"))?;
        let maildir = w.join("mail/simuser/Maildir");
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub))?;
        }
        std::fs::create_dir_all(w.join("run"))?;
        std::fs::create_dir_all(w.join("state"))?;
        std::fs::write(w.join("passwd"), "simuser:{PLAIN}simpass::::::\n")?;
        let user = match run_user()? {
            Some(_) => crate::process::RUN_USER.to_owned(),
            None => nix::unistd::User::from_uid(nix::unistd::geteuid())?.map(|u| u.name).unwrap_or_default(),
        };
        let proc = start_with_ports(2, |p| {
            std::fs::write(w.join("dovecot.conf"), config(w, p[0], p[1], &user, &chain, &key))?;
            let args = vec!["-F".to_owned(), "-c".to_owned(), w.join("dovecot.conf").display().to_string()];
            ServerProcess::start("dovecot", Path::new("/usr/sbin/dovecot"), &args, w, p).map(|proc| (proc, p[0], p[1]))
        })?;
        let (proc, port, tls_port) = proc;
        Ok(Self {
            port,
            tls_port,
            user: "simuser",
            password: "simpass",
            maildir,
            seq: AtomicU32::new(0),
            proc,
            _dir: dir,
        })
    }

    /// The mailbox (`cur/`, `new/`, `tmp/`).
    pub fn maildir(&self) -> &Path {
        &self.maildir
    }

    /// Put a message (LF line ends, as maildirs store them) into the mailbox; messages are
    /// numbered in the order added.
    pub fn add_message(&self, bytes: &[u8]) -> Result<PathBuf> {
        let n = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let name = format!("{}.M{n}P1.simtest,S={}:2,", 1_700_000_000 + n, bytes.len());
        let p = self.maildir.join("cur").join(name);
        std::fs::write(&p, bytes)?;
        give(&p)?;
        Ok(p)
    }

    /// Messages still in the mailbox.
    pub fn message_count(&self) -> Result<usize> {
        let mut n = 0;
        for sub in ["cur", "new"] {
            n += std::fs::read_dir(self.maildir.join(sub))?.count();
        }
        Ok(n)
    }

    pub fn log_tail(&self) -> String {
        self.proc.log_tail()
    }
}

fn config(w: &Path, port: u16, tls_port: u16, user: &str, chain: &Path, key: &Path) -> String {
    let w = w.display();
    let (chain, key) = (chain.display(), key.display());
    format!(
        r#"protocols = pop3
listen = 127.0.0.1
base_dir = {w}/run
state_dir = {w}/state
log_path = /dev/stderr
info_log_path = /dev/stderr
# Rootless: every service runs as one unprivileged user, no chroot.
default_login_user = {user}
default_internal_user = {user}
default_internal_group = {user}
service anvil {{
  chroot =
}}
service pop3-login {{
  chroot =
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
ssl = yes
ssl_cert = <{chain}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
# USER/PASS over plain TCP, as the module does.
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {w}/passwd
}}
userdb {{
  driver = static
  args = uid={user} gid={user} home={w}/mail/%n
}}
mail_location = maildir:~/Maildir
pop3_uidl_format = %f
login_greeting = SIM5360 test POP3 ready.
"#
    )
}
