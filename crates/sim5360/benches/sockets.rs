//! The socket family's speed, against references measured in the same run:
//! - transparent-mode download of 10 MiB over a PTY (`AT+CIPMODE=1`, raw bytes) against
//!   the PTY floor (a plain process pushing through a PTY; the never-sleeping pusher
//!   printed beside it), samples alternating;
//! - buffer-mode download of 10 MiB (`AT+CIPRXGET=2,0,1500` in a loop, as the module caps
//!   reads), with its round trips per MiB;
//! - `AT+CIPSEND` upload of 10 MiB in 1500-byte sends, each waiting for `+CIPSEND:`;
//! - `AT+CIPOPEN` to `+CIPOPEN: 0,0` against a plain TCP connect to the same server.
//!
//! The server is a host TCP listener in this process (a byte source or sink). Run:
//! `cargo bench -p sim5360 --bench sockets` (`SOCKETS_RUNS=<n>` samples, 5 by default).

#[path = "common/pty.rs"]
mod pty;

use pty::{MIB, Samples, open_raw, pty_floor, pty_push};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};
use testbench::{Dte, ModemProcess, Transport};

const SIZE: usize = 10 * MIB;

/// What a client of [`server`] gets.
#[derive(Clone, Copy, PartialEq)]
enum Serve {
    /// `SIZE` bytes at once, then the close.
    Source,
    /// The same once the client has sent a byte (so it can switch to raw reading first).
    SourceOnRequest,
    /// Everything it sends is read and counted: the count and time once it reaches `SIZE`.
    Sink,
}

fn server(serve: Serve) -> (u16, std::sync::mpsc::Receiver<(usize, Instant)>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let tx = tx.clone();
            std::thread::spawn(move || {
                if serve == Serve::SourceOnRequest {
                    let mut one = [0u8; 1];
                    let _ = c.read_exact(&mut one);
                }
                if serve != Serve::Sink {
                    let data = testbench::http::pattern(SIZE, 5);
                    let _ = c.write_all(&data);
                } else {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut n = 0;
                    while let Ok(k) = c.read(&mut buf) {
                        if k == 0 {
                            break;
                        }
                        n += k;
                        if n >= SIZE {
                            let _ = tx.send((n, Instant::now()));
                        }
                    }
                }
            });
        }
    });
    (port, rx)
}

fn modem() -> (ModemProcess, Dte) {
    let m =
        ModemProcess::start(Path::new(env!("CARGO_BIN_EXE_sim5360")), Transport::Pty, &["--no-nmea"]).expect("modem");
    let mut dte = m.open_pty().expect("pty");
    dte.timeout = Duration::from_secs(60);
    dte.line_end = b"\r\n";
    dte.expect_eventually("PB DONE");
    dte.cmd_expect("ATE0", &["ATE0", "OK"]);
    (m, dte)
}

fn netopen(dte: &mut Dte, transparent: bool) {
    dte.cmd_expect(&format!("AT+CIPMODE={}", u8::from(transparent)), &["OK"]);
    dte.cmd_expect("AT+CIPRXGET=1", &["OK"]);
    dte.cmd_expect("AT+NETOPEN", &["OK"]);
    dte.expect("+NETOPEN: 0");
}

/// MiB/s of one transparent-mode download of `SIZE` bytes, first byte to last.
fn transparent(m: &ModemProcess, port: u16) -> f64 {
    let mut dte = m.open_pty().expect("pty");
    dte.line_end = b"\r\n";
    dte.send_line(&format!("AT+CIPOPEN=0,\"TCP\",\"127.0.0.1\",{port}"));
    dte.expect("CONNECT 115200");
    drop(dte);
    let mut tty = open_raw(m.tty.as_ref().expect("tty"));
    tty.write_all(b"!").expect("request");
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = tty.read(&mut buf).expect("read");
    let start = Instant::now();
    let first = got;
    while got < SIZE {
        got += tty.read(&mut buf).expect("read");
    }
    let secs = start.elapsed().as_secs_f64();
    // The peer closed: CLOSED and NO CARRIER follow the data.
    let mut dte = m.open_pty().expect("pty");
    dte.idle(Duration::from_millis(300));
    dte.cmd_expect("AT", &["OK"]);
    (SIZE - first) as f64 / MIB as f64 / secs
}

/// MiB/s and reads of one buffer-mode download of `SIZE` bytes.
fn buffered(dte: &mut Dte, port: u16) -> (f64, usize) {
    dte.cmd_expect(&format!("AT+CIPOPEN=0,\"TCP\",\"127.0.0.1\",{port}"), &["OK"]);
    dte.wait_for("+CIPOPEN: 0,0");
    let start = Instant::now();
    let (mut got, mut reads) = (0usize, 0usize);
    while got < SIZE {
        dte.send_line("AT+CIPRXGET=2,0,1500");
        reads += 1;
        loop {
            let line = dte.line();
            if line == "ERROR" {
                break;
            }
            if let Some(rest) = line.strip_prefix("+CIPRXGET: 2,0,") {
                let n: usize = rest.split(',').next().and_then(|n| n.parse().ok()).expect("read length");
                dte.bytes(n);
                dte.expect("OK");
                got += n;
                break;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = dte.cmd("AT+CIPCLOSE=0");
    dte.idle(Duration::from_millis(100));
    (SIZE as f64 / MIB as f64 / secs, reads)
}

/// MiB/s of one `AT+CIPSEND` upload of `SIZE` bytes, until the server has them all.
fn upload(dte: &mut Dte, port: u16, done: &std::sync::mpsc::Receiver<(usize, Instant)>) -> f64 {
    dte.cmd_expect(&format!("AT+CIPOPEN=0,\"TCP\",\"127.0.0.1\",{port}"), &["OK"]);
    dte.wait_for("+CIPOPEN: 0,0");
    let chunk = testbench::http::pattern(1500, 6);
    let start = Instant::now();
    let mut sent = 0;
    while sent < SIZE {
        let n = chunk.len().min(SIZE - sent);
        dte.send_line(&format!("AT+CIPSEND=0,{n}"));
        dte.wait_for(">");
        dte.send(&chunk[..n]);
        dte.wait_for("+CIPSEND: 0,");
        sent += n;
    }
    let (_, at) = done.recv_timeout(Duration::from_secs(60)).expect("server got everything");
    let secs = at.duration_since(start).as_secs_f64();
    let _ = dte.cmd("AT+CIPCLOSE=0");
    dte.idle(Duration::from_millis(100));
    SIZE as f64 / MIB as f64 / secs
}

/// Median µs of `AT+CIPOPEN` to `+CIPOPEN: 0,0`, and of a plain connect, alternating.
fn open_latency(dte: &mut Dte, port: u16, runs: usize) -> (f64, f64) {
    let (mut modem, mut plain) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        dte.send_line(&format!("AT+CIPOPEN=0,\"TCP\",\"127.0.0.1\",{port}"));
        dte.expect("OK");
        dte.expect("+CIPOPEN: 0,0");
        modem.push(t.elapsed().as_secs_f64() * 1e6);
        dte.cmd_expect("AT+CIPCLOSE=0", &["OK"]);
        dte.expect("+CIPCLOSE: 0,0");
        let t = Instant::now();
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        plain.push(t.elapsed().as_secs_f64() * 1e6);
        drop(s);
    }
    (Samples::of(modem).median(), Samples::of(plain).median())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        println!("sockets: bench");
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--pty-push") {
        pty_push(args[i + 1].parse().expect("length"), args[i + 2] == "spin");
        return;
    }
    let runs: usize = std::env::var("SOCKETS_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let (trigger, _) = server(Serve::SourceOnRequest);
    let (source, _) = server(Serve::Source);
    let (sink, received) = server(Serve::Sink);

    // Transparent mode against the PTY floor, samples alternating.
    let (m, mut dte) = modem();
    netopen(&mut dte, true);
    drop(dte);
    let (mut t, mut floor, mut spin) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        floor.push(pty_floor(SIZE, false));
        t.push(transparent(&m, trigger));
        spin.push(pty_floor(SIZE, true));
    }
    let (t, floor, spin) = (Samples::of(t), Samples::of(floor), Samples::of(spin));
    println!("Transparent-mode download of 10 MiB over a PTY ({runs} samples, best / median MiB/s)");
    println!("  PTY floor (blocking pusher)   {:8.1} / {:8.1}", floor.best(), floor.median());
    println!("  PTY, never-sleeping pusher    {:8.1} / {:8.1}", spin.best(), spin.median());
    println!(
        "  sim5360 transparent           {:8.1} / {:8.1}   ratio to the floor {:.2} (best) {:.2} (median)",
        t.best(),
        t.median(),
        t.best() / floor.best(),
        t.median() / floor.median()
    );
    drop(m);

    let (_m, mut dte) = modem();
    netopen(&mut dte, false);
    let mut rates = Vec::new();
    let mut reads = 0;
    for _ in 0..runs {
        let (r, n) = buffered(&mut dte, source);
        rates.push(r);
        reads = n;
    }
    let b = Samples::of(rates);
    println!(
        "Buffer-mode download of 10 MiB (AT+CIPRXGET=2,0,1500 loop): best {:.2} / median {:.2} MiB/s, {} reads ({:.0} round trips per MiB)",
        b.best(),
        b.median(),
        reads,
        reads as f64 / 10.0
    );
    let mut up = Vec::new();
    for _ in 0..runs {
        up.push(upload(&mut dte, sink, &received));
    }
    let u = Samples::of(up);
    println!(
        "AT+CIPSEND upload of 10 MiB (1500-byte sends, each confirmed): best {:.2} / median {:.2} MiB/s ({:.0} sends/s at the median)",
        u.best(),
        u.median(),
        u.median() * MIB as f64 / 1500.0
    );
    let (modem_us, plain_us) = open_latency(&mut dte, sink, 50);
    println!(
        "AT+CIPOPEN to +CIPOPEN: 0,0: median {modem_us:.0} µs; plain TCP connect {plain_us:.0} µs (ratio {:.1})",
        modem_us / plain_us
    );
}
