//! A fleet's scale, measured: 1,000 modems in one process (`--modems 1000`): the time from
//! spawn to the last ready line, the process's RSS (and per modem), and the `AT` round
//! trip of one modem (#500) while the other 999 idle and while 100 of them download over
//! HTTP (`AT+CHTTPACT`, 1 MiB at a time from a server in this process), against the same
//! round trip on a single-modem process measured in the same run (the reference).
//!
//! Run: `cargo bench -p sim5360 --bench fleet` (`FLEET_MODEMS=<n>` to change the 1,000).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sim5360"))
}

/// A server answering every request with 1 MiB.
fn server() -> u16 {
    let body = Arc::new(testbench::http::pattern(1 << 20, 3));
    testbench::http::body_server(move |_| body.clone())
}

fn raw(path: &str) -> std::fs::File {
    testbench::raw_tty(Path::new(path)).expect("tty")
}

/// Read until `needle` (looked for in the last few KiB); how many bytes came, or None
/// when the port went away.
fn read_until(f: &mut std::fs::File, needle: &[u8]) -> Option<usize> {
    let mut tail = Vec::new();
    let mut buf = [0u8; 16384];
    let mut total = 0;
    loop {
        let n = f.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        total += n;
        tail.extend_from_slice(&buf[..n]);
        if tail.windows(needle.len()).any(|w| w == needle) {
            return Some(total);
        }
        if tail.len() > 8192 {
            tail.drain(..tail.len() - 64);
        }
    }
}

/// `AT` round trips on a DTE, one every millisecond: median and 90th percentile, in µs.
fn at_rtt(f: &mut std::fs::File, n: usize) -> (f64, f64) {
    let mut v: Vec<f64> = (0..n)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(1));
            let t = Instant::now();
            f.write_all(b"AT\r").expect("write");
            read_until(f, b"OK\r\n").expect("the probe's port");
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    v.sort_by(f64::total_cmp);
    (v[n / 2], v[n * 9 / 10])
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path, modems: Option<usize>) -> (Proc, Vec<serde_json::Value>, Duration) {
    let mut cmd = Command::new(bin());
    cmd.args(["--boot-delay", "0", "--ready-json", "--no-nmea"])
        .arg("--efs")
        .arg(dir.join("efs"))
        .arg("--state")
        .arg(dir.join("state"));
    match modems {
        Some(n) => {
            cmd.args(["--modems", &n.to_string()]).arg("--link-dir").arg(dir);
        }
        None => {
            cmd.arg("--link").arg(dir.join("tty"));
        }
    }
    let t = Instant::now();
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("spawn");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let lines = (0..modems.unwrap_or(1))
        .map(|_| {
            let mut l = String::new();
            out.read_line(&mut l).expect("ready line");
            serde_json::from_str(&l).expect("json")
        })
        .collect();
    (Proc(child), lines, t.elapsed())
}

fn main() {
    let n: usize = std::env::var("FLEET_MODEMS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let port = server();

    // The reference: one modem alone.
    let dir1 = tempfile::tempdir().expect("tmp");
    let (p1, lines1, _) = start(dir1.path(), None);
    let mut one = raw(lines1[0]["link"].as_str().expect("link"));
    one.write_all(b"ATE0\r").expect("w");
    read_until(&mut one, b"OK\r\n");
    let (ref_med, ref_p90) = at_rtt(&mut one, 1000);
    let rss1 = rss_kib(p1.0.id());
    drop(p1);

    let dir = tempfile::tempdir().expect("tmp");
    let (p, lines, ready) = start(dir.path(), Some(n));
    std::thread::sleep(Duration::from_millis(500));
    let rss = rss_kib(p.0.id());
    println!(
        "{n} modems: last ready line {:.0} ms after spawn; RSS {:.1} MiB, {:.0} KiB per modem (one modem alone: {:.1} MiB)",
        ready.as_secs_f64() * 1000.0,
        rss as f64 / 1024.0,
        rss as f64 / n as f64,
        rss1 as f64 / 1024.0
    );
    let probe = n / 2;
    let mut dte = raw(lines[probe]["link"].as_str().expect("link"));
    dte.write_all(b"ATE0\r").expect("w");
    read_until(&mut dte, b"OK\r\n");
    let (med, p90) = at_rtt(&mut dte, 1000);
    println!(
        "AT round trip, modem {probe} with {} others idle: median {med:.1} µs, p90 {p90:.1} µs; alone: median {ref_med:.1} µs, p90 {ref_p90:.1} µs; ratio {:.2}",
        n - 1,
        med / ref_med
    );

    // 100 modems download 1 MiB over and over while the probe is measured.
    let busy = 100.min(n - 1);
    let stop = Arc::new(AtomicBool::new(false));
    let bytes = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    // Never the probe itself: its PTY has one reader, the round-trip measurement.
    for (_, line) in lines.iter().enumerate().filter(|(i, _)| *i != probe).take(busy) {
        let link = line["link"].as_str().expect("link").to_owned();
        let (stop, bytes) = (stop.clone(), bytes.clone());
        threads.push(std::thread::spawn(move || {
            let mut f = raw(&link);
            if f.write_all(b"ATE0\r").is_err() || read_until(&mut f, b"OK\r\n").is_none() {
                return;
            }
            while !stop.load(Ordering::Relaxed) {
                let Ok(()) = f.write_all(format!("AT+CHTTPACT=\"127.0.0.1\",{port}\r").as_bytes()) else { return };
                if read_until(&mut f, b"+CHTTPACT: REQUEST\r\n").is_none() {
                    return;
                }
                let Ok(()) = f.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x1a") else { return };
                let Some(got) = read_until(&mut f, b"+CHTTPACT: 0\r\n") else { return };
                bytes.fetch_add(got as u64, Ordering::Relaxed);
            }
        }));
    }
    std::thread::sleep(Duration::from_secs(5));
    let t = Instant::now();
    let before = bytes.load(Ordering::Relaxed);
    let (bmed, bp90) = at_rtt(&mut dte, 2000);
    let during = t.elapsed();
    let moved = bytes.load(Ordering::Relaxed) - before;
    println!(
        "AT round trip, modem {probe} while {busy} modems download: median {bmed:.1} µs, p90 {bp90:.1} µs (ratio to alone {:.2}); the downloads moved {:.1} MiB/s meanwhile",
        bmed / ref_med,
        moved as f64 / during.as_secs_f64() / (1 << 20) as f64
    );
    println!("RSS with {busy} downloading: {:.1} MiB", rss_kib(p.0.id()) as f64 / 1024.0);
    stop.store(true, Ordering::Relaxed);
    drop(p);
    for t in threads {
        let _ = t.join();
    }
}
