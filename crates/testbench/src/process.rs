//! Real servers as child processes: free ports, the unprivileged user they run as when the
//! tests run as root, start-until-ready, and stop by process group on drop (also when the
//! test panics).

use anyhow::{Context, Result, bail};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// User the servers drop to when the tests run as root (created by scripts/install-deps.sh).
pub const RUN_USER: &str = "simtest";

/// How long a server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A port nobody listens on right now (the OS picks it; it is free again at once).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `(uid, gid)` of [`RUN_USER`] when running as root; `None` otherwise.
pub(crate) fn run_user() -> Result<Option<(nix::unistd::Uid, nix::unistd::Gid)>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    let u = nix::unistd::User::from_name(RUN_USER)?
        .with_context(|| format!("user {RUN_USER} missing: run scripts/install-deps.sh"))?;
    Ok(Some((u.uid, u.gid)))
}

/// Hand `path` (recursively) to the servers' user, so they can read and change it.
pub fn give(path: &Path) -> Result<()> {
    let Some((uid, gid)) = run_user()? else { return Ok(()) };
    fn walk(p: &Path, uid: nix::unistd::Uid, gid: nix::unistd::Gid) -> Result<()> {
        nix::unistd::chown(p, Some(uid), Some(gid)).with_context(|| format!("chown {}", p.display()))?;
        if p.is_dir() && !p.is_symlink() {
            for e in std::fs::read_dir(p)? {
                walk(&e?.path(), uid, gid)?;
            }
        }
        Ok(())
    }
    walk(path, uid, gid)
}

/// The test bench's cache directory (what scripts/install-deps.sh fills): for root
/// /var/cache/sim5360, else $XDG_CACHE_HOME/sim5360 (~/.cache/sim5360).
pub fn cache_dir() -> Result<PathBuf> {
    if nix::unistd::geteuid().is_root() {
        return Ok(PathBuf::from("/var/cache/sim5360"));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .context("no HOME")?;
    Ok(cache.join("sim5360"))
}

/// The Python of the test bench's venv (see scripts/install-deps.sh).
pub fn venv_python() -> Result<PathBuf> {
    let venv = match std::env::var_os("SIM5360_TESTBENCH_VENV") {
        Some(v) => PathBuf::from(v),
        None => cache_dir()?.join("testbench-venv"),
    };
    let py = venv.join("bin/python");
    if !py.exists() {
        bail!("{} missing: run scripts/install-deps.sh", py.display());
    }
    Ok(py)
}

/// A running server process (its own process group).
#[derive(Debug)]
pub struct ServerProcess {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl ServerProcess {
    /// Start `program args` in `workdir` as the servers' user, logging to
    /// `workdir/<name>.log`, and wait until every port in `ports` accepts.
    pub fn start(name: &'static str, program: &Path, args: &[String], workdir: &Path, ports: &[u16]) -> Result<Self> {
        let log = workdir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log)?;
        let mut cmd = match run_user()? {
            Some((uid, gid)) => {
                give(workdir)?;
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={uid}")).arg(format!("--regid={gid}")).arg("--clear-groups").arg(program);
                c
            }
            None => Command::new(program),
        };
        cmd.args(args).current_dir(workdir).stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out).process_group(0);
        let child = cmd.spawn().with_context(|| format!("{name}: cannot run {}", program.display()))?;
        let mut me = Self { name, child, log };
        let deadline = Instant::now() + START_TIMEOUT;
        for &port in ports {
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break;
                }
                if let Some(st) = me.child.try_wait()? {
                    bail!("{name} exited ({st}) before accepting on port {port}:\n{}", me.log_tail());
                }
                if Instant::now() > deadline {
                    bail!("{name} not accepting on port {port} after {START_TIMEOUT:?}:\n{}", me.log_tail());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(me)
    }

    /// The end of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        tail_lines(&std::fs::read_to_string(&self.log).unwrap_or_default(), 30)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let Ok(pid) = i32::try_from(self.child.id()) else { return };
        let group = nix::unistd::Pid::from_raw(-pid);
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                // Children of the master (dovecot, nginx workers) share the group.
                let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Start with fresh free ports, retrying if another process took one in between.
pub(crate) fn start_with_ports<T>(count: usize, mut f: impl FnMut(&[u16]) -> Result<T>) -> Result<T> {
    let mut last = None;
    for _ in 0..3 {
        let ports = (0..count).map(|_| free_port()).collect::<Result<Vec<_>>>()?;
        match f(&ports) {
            Ok(t) => return Ok(t),
            Err(e) => {
                let text = format!("{e:#}");
                if !text.contains("in use") {
                    return Err(e);
                }
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no ports")))
}

/// The last `n` lines of `text` (a log, for failure messages).
pub fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
