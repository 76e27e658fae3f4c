//! `AT` -> `OK` round trips over a PTY, shared by the latency benches: the measurement, the
//! raw PTY echo loop it is compared with (a thread of this process answering `\r\nOK\r\n`
//! to every CR with blocking reads: the best the machine does), and percentiles.

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

pub const ANSWER: &[u8] = b"\r\nOK\r\n";

pub fn open_raw(path: &Path) -> std::fs::File {
    testbench::raw_tty(path).expect("open tty")
}

/// Read from `f` until what came ends with `want` (then forget it).
pub fn read_until(f: &mut std::fs::File, want: &[u8], buf: &mut Vec<u8>) {
    let mut b = [0u8; 256];
    while !buf.ends_with(want) {
        let n = f.read(&mut b).expect("read");
        assert!(n > 0, "port closed");
        buf.extend_from_slice(&b[..n]);
    }
    buf.clear();
}

/// Sorted round-trip times of `AT\r` -> `\r\nOK\r\n` on `port`: `rounds` after `warmup`,
/// or fewer if `until` turns true first.
pub fn measure(port: &mut std::fs::File, warmup: usize, rounds: usize, until: impl Fn() -> bool) -> Vec<Duration> {
    let mut buf = Vec::new();
    let mut times = Vec::with_capacity(rounds.min(1 << 20));
    for i in 0..warmup + rounds {
        if i >= warmup && until() {
            break;
        }
        let t = Instant::now();
        port.write_all(b"AT\r").expect("write");
        read_until(port, ANSWER, &mut buf);
        if i >= warmup {
            times.push(t.elapsed());
        }
    }
    times.sort();
    times
}

/// The `p` quantile of sorted `times`.
pub fn pct(times: &[Duration], p: f64) -> Duration {
    times[((times.len() as f64 - 1.0) * p).round() as usize]
}

/// Microseconds.
pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The raw PTY echo loop's round trips.
pub fn echo_loop_reference(warmup: usize, rounds: usize) -> Vec<Duration> {
    let pair = nix::pty::openpty(None, None).expect("openpty");
    let path = nix::unistd::ttyname(&pair.slave).expect("ttyname");
    let mut master = std::fs::File::from(pair.master);
    let _slave_keepalive = pair.slave;
    let mut port = open_raw(&path);
    std::thread::spawn(move || {
        let mut b = [0u8; 256];
        loop {
            let Ok(n) = master.read(&mut b) else { return };
            if n == 0 {
                return;
            }
            for _ in b[..n].iter().filter(|c| **c == b'\r') {
                if master.write_all(ANSWER).is_err() {
                    return;
                }
            }
        }
    });
    measure(&mut port, warmup, rounds, || false)
}
