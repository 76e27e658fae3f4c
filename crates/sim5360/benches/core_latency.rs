//! Answers never wait for slow work on the core's thread.
//!
//! 1. `AT` round trips of a second `--tcp` session while the first downloads a 200 MiB
//!    file from pyftpdlib into the EFS with `AT+CFTPGETFILE` and commits it (the fsync of
//!    200 MiB runs off the core's thread): p50/p99/max beside the same session idle.
//! 2. 1,000 `AT+CGSOCKCONT` writes (each saved in NV, written after the answer): the worst
//!    answer time beside the worst of 1,000 `AT` round trips in the same session.
//!
//! Run: `cargo bench -p sim5360 --bench core_latency`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const ANSWER: &[u8] = b"\r\nOK\r\n";

fn read_until(s: &mut TcpStream, want: &[u8], buf: &mut Vec<u8>) {
    let mut b = [0u8; 4096];
    while !buf.windows(want.len()).any(|w| w == want) {
        let n = s.read(&mut b).expect("read");
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&b[..n]);
    }
    let at = buf.windows(want.len()).position(|w| w == want).unwrap_or(0) + want.len();
    buf.drain(..at);
}

fn session(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let mut buf = Vec::new();
    read_until(&mut s, b"PB DONE\r\n", &mut buf);
    s.write_all(b"ATE0\r").expect("write");
    read_until(&mut s, ANSWER, &mut buf);
    s
}

fn round_trip(s: &mut TcpStream, line: &[u8], buf: &mut Vec<u8>) -> Duration {
    let t = Instant::now();
    s.write_all(line).expect("write");
    read_until(s, ANSWER, buf);
    t.elapsed()
}

fn stats(mut v: Vec<Duration>) -> (f64, f64, f64, usize) {
    v.sort();
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e6;
    (p(0.5), p(0.99), v.last().map_or(0.0, |d| d.as_secs_f64() * 1e6), v.len())
}

fn print(label: &str, v: Vec<Duration>) -> (f64, f64) {
    let (p50, p99, max, n) = stats(v);
    println!("  {label:<44} p50 {p50:>8.1} us   p99 {p99:>8.1} us   max {max:>9.1} us   ({n} round trips)");
    (p50, p99)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("core_latency: bench");
        return;
    }
    let ca = testbench::TestCa::new().expect("test CA");
    let ftp = testbench::FtpServer::start(&ca).expect("pyftpdlib");
    let big = testbench::http::pattern(200 << 20, 5);
    ftp.put("big.bin", &big).expect("seed the FTP server");
    drop(big);
    let efs_size = (1u64 << 30).to_string();
    let modem = testbench::ModemProcess::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_sim5360")),
        testbench::Transport::Tcp,
        &["--efs-size", &efs_size],
    )
    .expect("start sim5360");
    let addr = modem.tcp.clone().expect("tcp: line");

    let mut a = session(&addr);
    let mut b = session(&addr);
    let mut buf = Vec::new();
    let idle: Vec<Duration> = (0..2000).map(|_| round_trip(&mut b, b"AT\r", &mut buf)).collect();

    let setup = format!(
        "AT+CFTPSERV=\"127.0.0.1\";+CFTPPORT={};+CFTPUN=\"{}\";+CFTPPW=\"{}\";+CFTPMODE=1\r",
        ftp.port, ftp.user, ftp.password
    );
    let mut abuf = Vec::new();
    a.write_all(setup.as_bytes()).expect("write");
    read_until(&mut a, ANSWER, &mut abuf);
    a.write_all(b"AT+CFTPGETFILE=\"/big.bin\",0\r").expect("write");
    read_until(&mut a, ANSWER, &mut abuf);
    let started = Instant::now();
    a.set_nonblocking(true).expect("nonblocking");
    let mut busy = Vec::new();
    let mut done = None;
    while done.is_none() {
        busy.push(round_trip(&mut b, b"AT\r", &mut buf));
        let mut chunk = [0u8; 4096];
        loop {
            match a.read(&mut chunk) {
                Ok(0) => panic!("session A closed"),
                Ok(n) => abuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("session A: {e}"),
            }
        }
        if let Some(at) = abuf.windows(14).position(|w| w == b"+CFTPGETFILE: ") {
            let code = String::from_utf8_lossy(&abuf[at + 14..]).lines().next().unwrap_or("").to_owned();
            done = Some(code);
        }
        assert!(started.elapsed() < Duration::from_secs(600), "the download did not end");
    }
    let took = started.elapsed();
    let stored = std::fs::metadata(modem.efs().join("C/big.bin")).map(|m| m.len()).unwrap_or(0);
    println!("AT round trips of a second --tcp session (same process, one runtime thread)");
    let (i50, i99) = print("idle", idle);
    let (b50, b99) = print("while the first commits a 200 MiB CFTPGETFILE", busy);
    println!(
        "  download: +CFTPGETFILE: {} after {:.1} s, {} MiB in the EFS; ratio busy/idle: p50 {:.2}, p99 {:.2}",
        done.unwrap_or_default(),
        took.as_secs_f64(),
        stored >> 20,
        b50 / i50,
        b99 / i99
    );

    let at: Vec<Duration> = (0..1000).map(|_| round_trip(&mut b, b"AT\r", &mut buf)).collect();
    let nv: Vec<Duration> = (0..1000)
        .map(|i| round_trip(&mut b, format!("AT+CGSOCKCONT=1,\"IP\",\"apn{i}\"\r").as_bytes(), &mut buf))
        .collect();
    println!("Answer times in one session (AT+CGSOCKCONT saves NV after its answer)");
    let at_max = stats(at.clone()).2;
    let nv_max = stats(nv.clone()).2;
    print("AT", at);
    print("AT+CGSOCKCONT=1,\"IP\",\"apn<i>\"", nv);
    println!("  worst AT+CGSOCKCONT answer {:.1} us ({:.2} x the worst AT)", nv_max, nv_max / at_max);
}
