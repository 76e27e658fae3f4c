//! A real PPP client: lwIP 2.1.3's PPPoS (the PPP code ESP-IDF's esp_modem runs) in a
//! small harness (`lwip/client.c`), built once per test process from Debian's lwIP source
//! package, which scripts/install-deps.sh unpacks into the cache directory (Debian's
//! liblwip is built without PPP). The harness dials, runs PPP, and does TCP, HTTP and DNS
//! steps or bridges the link to a TUN device; see its header for its output lines.

use crate::process::cache_dir;
use anyhow::{Context, Result, bail};
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const CLIENT_C: &str = include_str!("../lwip/client.c");
const LWIPOPTS_H: &str = include_str!("../lwip/lwipopts.h");

/// The lwIP core and PPP files the harness needs (lwIP 2.1.3's layout).
const CORE: &[&str] = &[
    "core/init.c",
    "core/def.c",
    "core/dns.c",
    "core/inet_chksum.c",
    "core/ip.c",
    "core/mem.c",
    "core/memp.c",
    "core/netif.c",
    "core/pbuf.c",
    "core/raw.c",
    "core/stats.c",
    "core/sys.c",
    "core/tcp.c",
    "core/tcp_in.c",
    "core/tcp_out.c",
    "core/timeouts.c",
    "core/udp.c",
    "core/ipv4/icmp.c",
    "core/ipv4/ip4.c",
    "core/ipv4/ip4_addr.c",
    "core/ipv4/ip4_frag.c",
];
const PPP: &[&str] = &[
    "auth.c",
    "ccp.c",
    "chap-md5.c",
    "chap_ms.c",
    "chap-new.c",
    "demand.c",
    "eap.c",
    "ecp.c",
    "eui64.c",
    "fsm.c",
    "ipcp.c",
    "ipv6cp.c",
    "lcp.c",
    "magic.c",
    "mppe.c",
    "multilink.c",
    "ppp.c",
    "pppcrypt.c",
    "pppos.c",
    "upap.c",
    "utils.c",
    "vj.c",
    "polarssl/md5.c",
];

/// The unpacked lwIP source (`<cache>/lwip/lwip-2.1.3+dfsg1`).
fn source() -> Result<PathBuf> {
    let dir = cache_dir()?.join("lwip");
    let found = std::fs::read_dir(&dir)
        .with_context(|| format!("{}: run scripts/install-deps.sh (it unpacks Debian's lwip source)", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.is_dir() && p.join("src/netif/ppp/pppos.c").exists());
    found.with_context(|| format!("no lwIP source with PPP under {}: run scripts/install-deps.sh", dir.display()))
}

fn build() -> Result<PathBuf> {
    let src = source()?;
    let hash = {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(CLIENT_C);
        h.update(LWIPOPTS_H);
        h.update(src.display().to_string());
        format!("{:x}", h.finalize())
    };
    let out_dir = cache_dir()?.join("lwip-client");
    let bin = out_dir.join(format!("lwip-client-{}", &hash[..16]));
    if bin.exists() {
        return Ok(bin);
    }
    let work = tempfile::tempdir()?;
    std::fs::write(work.path().join("client.c"), CLIENT_C)?;
    std::fs::write(work.path().join("lwipopts.h"), LWIPOPTS_H)?;
    std::fs::create_dir_all(&out_dir)?;
    let s = src.join("src");
    let tmp = out_dir.join(format!(".build-{}", std::process::id()));
    let includes = [work.path().to_path_buf(), src.join("port/include"), s.join("include")];
    let cc = |args: Vec<OsString>| -> Result<()> {
        let out = Command::new("cc")
            .args(["-O2", "-std=gnu99"])
            .args(includes.iter().map(|i| format!("-I{}", i.display())))
            .args(args)
            .output()
            .context("cc (build-essential)")?;
        if !out.status.success() {
            bail!("building the lwIP client failed:\n{}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    };
    // The harness with the warnings that matter as errors (an undeclared memmem once cut
    // a pointer to 32 bits); lwIP's own sources quiet.
    let harness = work.path().join("client.o");
    let mut args: Vec<OsString> =
        ["-Werror=implicit-function-declaration", "-Werror=int-conversion", "-c", "-o"].map(OsString::from).into();
    args.extend([harness.clone().into(), work.path().join("client.c").into()]);
    cc(args)?;
    let mut args: Vec<OsString> = vec!["-w".into(), "-o".into(), tmp.clone().into(), harness.into()];
    args.extend(CORE.iter().map(|f| s.join(f).into()));
    args.extend(PPP.iter().map(|f| s.join("netif/ppp").join(f).into()));
    cc(args)?;
    std::fs::rename(&tmp, &bin)?;
    Ok(bin)
}

/// The harness binary (built at the first call of the process).
pub fn lwip_client() -> Result<PathBuf> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| build().map_err(|e| format!("{e:#}"))).clone().map_err(anyhow::Error::msg)
}

/// What a run of the harness printed.
#[derive(Debug)]
pub struct LwipRun {
    pub status: std::process::ExitStatus,
    /// Its result lines (stdout).
    pub lines: Vec<String>,
    /// lwIP's own log (its PPP packets, pppd-style).
    pub log: String,
}

impl LwipRun {
    /// The first result line starting with `prefix`.
    pub fn line(&self, prefix: &str) -> Option<&str> {
        self.lines.iter().find(|l| l.starts_with(prefix)).map(String::as_str)
    }

    /// Everything, for failure messages.
    pub fn show(&self) -> String {
        format!("status {}\n{}\n--- lwIP log ---\n{}", self.status, self.lines.join("\n"), self.log)
    }
}

/// A running harness whose result lines can be waited for one by one; killed on drop.
#[derive(Debug)]
pub struct LwipClient {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    log: tempfile::NamedTempFile,
}

impl LwipClient {
    /// Start the harness on `tty` with `args`.
    pub fn spawn(tty: &Path, args: &[&str]) -> Result<Self> {
        Self::spawn_in(None, tty, args)
    }

    /// As [`LwipClient::spawn`], in a network namespace of its own (`unshare -n`): for
    /// `--tun`, so the TUN device and the routes through it touch nothing of the host's.
    /// [`LwipClient::pid`] names the namespace for `nsenter`.
    pub fn spawn_netns(tty: &Path, args: &[&str]) -> Result<Self> {
        Self::spawn_in(Some("unshare"), tty, args)
    }

    fn spawn_in(wrapper: Option<&str>, tty: &Path, args: &[&str]) -> Result<Self> {
        let bin = lwip_client()?;
        let log = tempfile::NamedTempFile::new()?;
        let mut cmd = match wrapper {
            // `unshare` execs the harness: the child's pid is the harness's.
            Some(w) => {
                let mut c = Command::new(w);
                c.arg("-n").arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        let mut child = cmd
            .arg(tty)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.reopen()?)
            .spawn()
            .with_context(|| format!("spawn {}", bin.display()))?;
        let out = child.stdout.take().context("no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self { child, lines, seen: Vec::new(), log })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has not exited yet.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The next result line starting with `prefix` (earlier lines are kept for
    /// [`LwipRun::lines`]), within `timeout`.
    pub fn wait_line(&mut self, prefix: &str, timeout: Duration) -> Result<String> {
        let until = Instant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.starts_with(prefix) {
                        return Ok(l);
                    }
                }
                Err(_) => bail!("no {prefix:?} line from the lwIP client within {timeout:?}:\n{}", self.show()),
            }
        }
    }

    /// Everything so far, for failure messages.
    pub fn show(&self) -> String {
        format!(
            "{}\n--- lwIP log ---\n{}",
            self.seen.join("\n"),
            std::fs::read_to_string(self.log.path()).unwrap_or_default()
        )
    }

    /// Ask it to stop (SIGTERM: a `--tun` bridge ends its loop and ends the call its way).
    pub fn terminate(&self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }

    /// Wait for it to exit, at most `timeout` (then it is killed and the run says so).
    pub fn finish(mut self, timeout: Duration) -> Result<LwipRun> {
        let until = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = self.child.try_wait()? {
                break s;
            }
            if Instant::now() >= until {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!("the lwIP client did not finish within {timeout:?}:\n{}", self.show());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader thread ends at EOF; take what it still holds.
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(l);
        }
        Ok(LwipRun {
            status,
            lines: std::mem::take(&mut self.seen),
            log: std::fs::read_to_string(self.log.path()).unwrap_or_default(),
        })
    }
}

impl Drop for LwipClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run the harness on `tty` with `args` to its end, at most `timeout`.
pub fn run_lwip(tty: &Path, args: &[&str], timeout: Duration) -> Result<LwipRun> {
    LwipClient::spawn(tty, args)?.finish(timeout)
}
