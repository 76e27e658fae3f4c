//! The multiplexer's cost, against references measured in the same run:
//! - `AT` → `OK` round trips on channel 2 (the test bench's 27.010 client on the UART PTY):
//!   idle, and while channel 1 carries a PPP download (lwIP's PPP client on a PTY the
//!   client bridges to channel 1, fetching 10 MiB by HTTP from a source in this process at
//!   the host alias);
//! - that download's rate through the multiplexer (N1 127, as Zephyr asks) against the same
//!   download on a plain UART port.
//!
//! Run: `cargo bench -p sim5360 --bench cmux` (`CMUX_RUNS=<n>` downloads each, 3 by
//! default).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};
use testbench::{LwipClient, ModemProcess, MuxClient, Transport};

const SIZE: usize = 10 << 20;
const T: Duration = Duration::from_secs(30);

/// An HTTP/1.0 source: `SIZE` bytes to every GET.
fn source() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            std::thread::spawn(move || {
                let mut req = [0u8; 1024];
                let _ = c.read(&mut req);
                let _ = c.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n");
                let _ = c.write_all(&testbench::http::pattern(SIZE, 7));
            });
        }
    });
    port
}

fn modem() -> ModemProcess {
    let m =
        ModemProcess::start(Path::new(env!("CARGO_BIN_EXE_sim5360")), Transport::Pty, &["--no-nmea"]).expect("modem");
    let mut d = m.open_pty().expect("pty");
    d.line_end = b"\r\n";
    d.send_line("ATE0");
    d.expect_eventually("OK");
    m
}

/// MiB/s of one 10 MiB GET by the lwIP client on `tty` (its own figure: request to last
/// byte), or what went wrong.
fn download(tty: &Path, port: u16) -> Result<f64, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let get = format!("10.64.64.64:{port}:/10M:{}", dir.path().join("f").display());
    let run = testbench::run_lwip(tty, &["--get", &get], Duration::from_secs(300)).map_err(|e| format!("{e:#}"))?;
    let line = run.line("get ok 200 ").ok_or_else(|| run.show())?.to_owned();
    let ms: f64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).ok_or("no time")?;
    Ok(SIZE as f64 / (1 << 20) as f64 / (ms / 1000.0))
}

fn pct(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// µs of `AT` → `OK` on channel 2, `n` times.
fn round_trips(mux: &MuxClient, n: usize) -> Vec<f64> {
    let mut v = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        mux.send_line(2, "AT").expect("send");
        mux.expect(2, "OK\r\n", T).expect("OK");
        v.push(t.elapsed().as_secs_f64() * 1e6);
    }
    v
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("cmux: bench");
        return;
    }
    let runs: usize = std::env::var("CMUX_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let port = source();

    // PPP on a plain UART port.
    let plain = modem();
    let mut rate_plain: Vec<f64> =
        (0..runs).map(|_| download(&plain.link.clone().expect("link"), port).expect("download")).collect();

    // PPP on channel 1 of a multiplexer, AT on channel 2.
    let m = modem();
    let mut mux = MuxClient::start(&m.link.clone().expect("link"), "AT+CMUX=0,0,5,127", true).expect("AT+CMUX");
    mux.open(&[1, 2]).expect("DLCIs");
    mux.send_line(2, "ATE0").expect("send");
    mux.expect(2, "OK\r\n", T).expect("OK");
    let tty = mux.bridge(1).expect("bridge");
    let mut idle = round_trips(&mux, 500);
    let mut rate_mux = Vec::new();
    let mut loaded = Vec::new();
    for _ in 0..runs {
        let dir = tempfile::tempdir().expect("tempdir");
        let get = format!("10.64.64.64:{port}:/10M:{}", dir.path().join("f").display());
        let mut call = LwipClient::spawn(&tty, &["--get", &get]).expect("lwIP client");
        call.wait_line("up ", T).expect("the call up");
        // Round trips on channel 2 for as long as the download on channel 1 runs.
        while call.running() {
            loaded.extend(round_trips(&mux, 1));
        }
        let run = call.finish(T).expect("the client's end");
        let line = run.line("get ok 200 ").unwrap_or_else(|| panic!("{}", run.show())).to_owned();
        let ms: f64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).expect("ms");
        rate_mux.push(SIZE as f64 / (1 << 20) as f64 / (ms / 1000.0));
    }

    println!("AT -> OK on channel 2 (us), the test bench's 27.010 client");
    let (i50, i99) = (pct(&mut idle, 0.5), pct(&mut idle, 0.99));
    println!("  idle                          : p50 {i50:>8.1}   p99 {i99:>8.1}   ({} rounds)", idle.len());
    if loaded.is_empty() {
        println!("  channel 1 downloading         : no round trip finished during the downloads");
    } else {
        let (l50, l99) = (pct(&mut loaded, 0.5), pct(&mut loaded, 0.99));
        println!("  channel 1 downloading         : p50 {l50:>8.1}   p99 {l99:>8.1}   ({} rounds)", loaded.len());
        println!("  downloading / idle            : p50 {:.2}   p99 {:.2}", l50 / i50, l99 / i99);
    }
    println!("10 MiB by HTTP through PPP (lwIP), {runs} runs, median MiB/s");
    let (p, x) = (pct(&mut rate_plain, 0.5), pct(&mut rate_mux, 0.5));
    println!("  plain UART port               : {p:>7.2}");
    println!("  channel 1 of the multiplexer  : {x:>7.2}   ({:.2} of the plain port)", x / p);
}
