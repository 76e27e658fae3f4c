//! `AT` -> `OK` round trips over a real PTY: the modem binary against a raw PTY echo loop
//! (a thread answering `\r\nOK\r\n` to every CR) measured in the same run. Prints p50, p99
//! and their ratios. Run: `cargo bench -p sim5360 --bench at_latency`.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

#[path = "common/rtt.rs"]
mod rtt;

use rtt::{ANSWER, echo_loop_reference, measure, open_raw, pct, read_until};

const ROUNDS: usize = 5000;
const WARMUP: usize = 200;

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
    let times = measure(&mut port, WARMUP, ROUNDS, || false);
    let _ = child.kill();
    let _ = child.wait();
    times
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("at_latency: bench");
        return;
    }
    let reference = echo_loop_reference(WARMUP, ROUNDS);
    let ours = modem();
    let (r50, r99) = (pct(&reference, 0.5), pct(&reference, 0.99));
    let (m50, m99) = (pct(&ours, 0.5), pct(&ours, 0.99));
    println!("AT -> OK round trips over a PTY, {ROUNDS} each after {WARMUP} warm-up");
    println!("  raw PTY echo loop : p50 {:>8.1} us   p99 {:>8.1} us", rtt::us(r50), rtt::us(r99));
    println!("  sim5360           : p50 {:>8.1} us   p99 {:>8.1} us", rtt::us(m50), rtt::us(m99));
    println!(
        "  ratio sim5360/echo: p50 {:.2}   p99 {:.2}   (targets: ratio <= 2, p99 < 1 ms)",
        m50.as_secs_f64() / r50.as_secs_f64(),
        m99.as_secs_f64() / r99.as_secs_f64()
    );
}
