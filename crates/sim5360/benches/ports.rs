//! The USB view's AT port while the modem port is busy: `AT` -> `OK` round trips on the AT
//! port idle, and while the modem port downloads 10 MiB in transparent mode
//! (`AT+CIPMODE=1`, raw bytes from a host TCP source in this process), beside the raw PTY
//! echo loop measured in the same run (a thread answering with blocking reads: the best
//! the machine does). Prints p50 and p99 of each and their ratios, and the download's rate.
//! Run: `cargo bench -p sim5360 --bench ports`.

#[path = "common/rtt.rs"]
mod rtt;

use rtt::{ANSWER, echo_loop_reference, measure, open_raw, pct, read_until, us};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const ROUNDS: usize = 5000;
const WARMUP: usize = 200;
const SIZE: usize = 10 << 20;

/// A host TCP source: `SIZE` bytes to the first client once it has sent a byte.
fn source() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        let mut one = [0u8; 1];
        s.read_exact(&mut one).expect("trigger byte");
        let block = vec![0x5au8; 64 * 1024];
        let mut left = SIZE;
        while left > 0 {
            let n = left.min(block.len());
            s.write_all(&block[..n]).expect("send");
            left -= n;
        }
    });
    port
}

fn line(p: &[Duration]) -> String {
    format!("p50 {:>8.1} us   p99 {:>8.1} us   ({} rounds)", us(pct(p, 0.5)), us(pct(p, 0.99)), p.len())
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("ports: bench");
        return;
    }
    let reference = echo_loop_reference(WARMUP, ROUNDS);
    let m = testbench::ModemProcess::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_sim5360")),
        testbench::Transport::Pty,
        &["--usb", "--ready-json", "--no-nmea"],
    )
    .expect("start sim5360");
    let mut at = open_raw(&m.port("at").expect("at port"));
    let mut buf = Vec::new();
    read_until(&mut at, b"PB DONE\r\n", &mut buf);
    at.write_all(b"ATE0\r").expect("write");
    read_until(&mut at, ANSWER, &mut buf);
    let idle = measure(&mut at, WARMUP, ROUNDS, || false);

    // The modem port: a transparent link to the source.
    let server = source();
    let mut modem = open_raw(&m.port("modem").expect("modem port"));
    read_until(&mut modem, b"PB DONE\r\n", &mut buf);
    for (cmd, want) in [
        ("ATE0", &b"OK\r\n"[..]),
        ("AT+CIPMODE=1", b"OK\r\n"),
        ("AT+NETOPEN", b"+NETOPEN: 0\r\n"),
        (&format!("AT+CIPOPEN=0,\"TCP\",\"127.0.0.1\",{server}"), b"CONNECT 115200\r\n"),
    ] {
        modem.write_all(format!("{cmd}\r").as_bytes()).expect("write");
        read_until(&mut modem, want, &mut buf);
    }
    let done = Arc::new(AtomicBool::new(false));
    let finished = done.clone();
    let reader = std::thread::spawn(move || {
        modem.write_all(b"x").expect("trigger");
        let start = Instant::now();
        let mut got = 0;
        let mut b = vec![0u8; 256 * 1024];
        while got < SIZE {
            let n = modem.read(&mut b).expect("read the modem port");
            assert!(n > 0, "the modem port closed");
            got += n;
        }
        finished.store(true, Ordering::Relaxed);
        start.elapsed()
    });
    let loaded = measure(&mut at, 0, usize::MAX / 2, || done.load(Ordering::Relaxed));
    let took = reader.join().expect("reader");

    println!("AT -> OK round trips on the USB view's AT port (a separate process), after {WARMUP} warm-up");
    println!("  raw PTY echo loop            : {}", line(&reference));
    println!("  AT port, idle                : {}", line(&idle));
    println!("  AT port, modem port streaming: {}", line(&loaded));
    let r = |a: &[Duration], b: &[Duration], q: f64| pct(a, q).as_secs_f64() / pct(b, q).as_secs_f64();
    println!(
        "  idle / echo loop: p50 {:.2}  p99 {:.2}   streaming / idle: p50 {:.2}  p99 {:.2}",
        r(&idle, &reference, 0.5),
        r(&idle, &reference, 0.99),
        r(&loaded, &idle, 0.5),
        r(&loaded, &idle, 0.99)
    );
    println!(
        "  the modem port's transparent download: {} MiB in {:.2} s ({:.1} MiB/s)",
        SIZE >> 20,
        took.as_secs_f64(),
        SIZE as f64 / (1 << 20) as f64 / took.as_secs_f64()
    );
}
