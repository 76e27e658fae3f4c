//! The PTY floor shared by the benches: how fast a plain process pushes bytes through a
//! PTY (see `throughput.rs` for why the samples swing), and sorted samples.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Instant;

pub const MIB: usize = 1 << 20;

pub fn open_raw(path: &Path) -> std::fs::File {
    testbench::raw_tty(path).expect("open tty")
}

/// MiB/s of pushing `len` bytes through a fresh PTY: a separate process (this binary with
/// `--pty-push`) writes them to the master in 64 KiB blocks, this one reads the slave. The
/// rate is taken from the first byte read to the last, so the pusher's start-up is not
/// counted against the floor. `spin`: the pusher busy-polls a non-blocking master instead
/// of sleeping in a blocking write.
pub fn pty_floor(len: usize, spin: bool) -> f64 {
    let pair = nix::pty::openpty(None, None).expect("openpty");
    let path = nix::unistd::ttyname(&pair.slave).expect("ttyname");
    let _keep = pair.slave;
    // Held open here too: a master closed by the pusher's exit would hang up the slave
    // before all its bytes are read.
    let _master = pair.master.try_clone().expect("dup master");
    let mut port = open_raw(&path);
    let mut child = std::process::Command::new(std::env::current_exe().expect("own path"))
        .args(["--pty-push", &len.to_string(), if spin { "spin" } else { "block" }])
        .stdout(std::process::Stdio::from(pair.master))
        .spawn()
        .expect("spawn the pusher");
    let mut buf = vec![0u8; 256 * 1024];
    let first = port.read(&mut buf).expect("read");
    let start = Instant::now();
    let mut got = first;
    while got < len {
        got += port.read(&mut buf).expect("read");
    }
    let secs = start.elapsed().as_secs_f64();
    assert!(child.wait().expect("wait").success(), "pusher failed");
    (len - first) as f64 / MIB as f64 / secs
}

/// The pusher of [`pty_floor`]: `len` bytes to stdout (a PTY master) in 64 KiB blocks.
pub fn pty_push(len: usize, spin: bool) {
    use std::os::fd::AsFd;
    let fd = std::io::stdout().as_fd().try_clone_to_owned().expect("stdout");
    if spin {
        let flags = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFL).expect("F_GETFL");
        let flags = nix::fcntl::OFlag::from_bits_retain(flags) | nix::fcntl::OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFL(flags)).expect("F_SETFL");
    }
    let mut out = std::fs::File::from(fd);
    let block = vec![0x55u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        match out.write(&block[..left.min(block.len())]) {
            Ok(n) => left -= n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::hint::spin_loop(),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("push: {e}"),
        }
    }
}

/// Sorted samples of a rate.
pub struct Samples(pub Vec<f64>);

impl Samples {
    pub fn of(mut v: Vec<f64>) -> Self {
        v.sort_by(f64::total_cmp);
        Self(v)
    }

    pub fn best(&self) -> f64 {
        self.0[self.0.len() - 1]
    }

    pub fn median(&self) -> f64 {
        self.0[self.0.len() / 2]
    }
}
