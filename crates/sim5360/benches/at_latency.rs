//! `AT` -> `OK` round trips over a real PTY: the modem binary against a raw PTY echo loop
//! (a thread answering `\r\nOK\r\n` to every CR) measured in the same run. Prints p50, p99
//! and their ratios. Run: `cargo bench -p sim5360 --bench at_latency`.

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

const ROUNDS: usize = 5000;
const WARMUP: usize = 200;
const ANSWER: &[u8] = b"\r\nOK\r\n";

fn open_raw(path: &Path) -> std::fs::File {
    testbench::raw_tty(path).expect("open tty")
}

fn read_until(f: &mut std::fs::File, want: &[u8], buf: &mut Vec<u8>) {
    let mut b = [0u8; 256];
    while !buf.ends_with(want) {
        let n = f.read(&mut b).expect("read");
        assert!(n > 0, "port closed");
        buf.extend_from_slice(&b[..n]);
    }
    buf.clear();
}

/// Round-trip times of `AT\r` -> `\r\nOK\r\n` on `port`.
fn measure(port: &mut std::fs::File) -> Vec<Duration> {
    let mut buf = Vec::new();
    let mut times = Vec::with_capacity(ROUNDS);
    for i in 0..WARMUP + ROUNDS {
        let t = Instant::now();
        port.write_all(b"AT\r").expect("write");
        read_until(port, ANSWER, &mut buf);
        if i >= WARMUP {
            times.push(t.elapsed());
        }
    }
    times.sort();
    times
}

fn pct(times: &[Duration], p: f64) -> Duration {
    times[((times.len() as f64 - 1.0) * p).round() as usize]
}

fn echo_loop_reference() -> Vec<Duration> {
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
    measure(&mut port)
}

fn modem() -> Vec<Duration> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sim5360"))
        .args(["--boot-delay", "0", "--no-link"])
        .arg("--efs")
        .arg(dir.path().join("efs"))
        .arg("--state")
        .arg(dir.path().join("state"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn sim5360");
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).expect("announce");
    let path = line.trim().strip_prefix("pty: ").expect("pty: line").to_owned();
    let mut port = open_raw(Path::new(&path));
    let mut buf = Vec::new();
    read_until(&mut port, b"PB DONE\r\n", &mut buf);
    port.write_all(b"ATE0\r").expect("write");
    read_until(&mut port, ANSWER, &mut buf);
    let times = measure(&mut port);
    let _ = child.kill();
    let _ = child.wait();
    times
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("at_latency: bench");
        return;
    }
    let reference = echo_loop_reference();
    let ours = modem();
    let (r50, r99) = (pct(&reference, 0.5), pct(&reference, 0.99));
    let (m50, m99) = (pct(&ours, 0.5), pct(&ours, 0.99));
    println!("AT -> OK round trips over a PTY, {ROUNDS} each after {WARMUP} warm-up");
    println!("  raw PTY echo loop : p50 {:>8.1} us   p99 {:>8.1} us", r50.as_secs_f64() * 1e6, r99.as_secs_f64() * 1e6);
    println!("  sim5360           : p50 {:>8.1} us   p99 {:>8.1} us", m50.as_secs_f64() * 1e6, m99.as_secs_f64() * 1e6);
    println!(
        "  ratio sim5360/echo: p50 {:.2}   p99 {:.2}   (targets: ratio <= 2, p99 < 1 ms)",
        m50.as_secs_f64() / r50.as_secs_f64(),
        m99.as_secs_f64() / r99.as_secs_f64()
    );
}
