//! Network-condition presets, measured: per preset an HTTP download (`AT+CHTTPACT`) of
//! 20 KiB and of 1 MiB through the control API's conditions, the time expected from the
//! preset's figures against the time measured (and their ratio; within 20 % is the
//! target), and the radio promotion: with the preset's jitter off, the first request
//! after the link was idle pays `promote_ms` and the second right after does not (the
//! row gives `promote_ms` as expected and the difference of the two as measured).
//!
//! Expected: one RTT to connect, half an RTT for the request and half for the first
//! answer byte, the request's bytes at the up rate and the answer's at the down rate,
//! plus the promotion when the link was idle; jitter averages out. The server is a
//! minimal HTTP responder in this process on 127.0.0.1.
//!
//! Run: `cargo bench -p sim5360 --bench presets` (about 5 minutes). The 1 MiB download is
//! skipped where it would take over a minute (gprs: 169 s, nb-iot: 327 s) unless
//! `PRESETS_ALL=1`.

use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};
use testbench::{Dte, ModemProcess, Transport};

const REQUEST: &str = "GET /f HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// A server answering every request for `/<n>` with `n` bytes.
fn server() -> u16 {
    testbench::http::body_server(|path| {
        let n: usize = path.trim_start_matches('/').parse().unwrap_or(0);
        std::sync::Arc::new(testbench::http::pattern(n, 9))
    })
}

fn api(url: &str, method: &str, path: &str, body: Value) -> Value {
    testbench::control_http(url, method, path, &[], Some(&body.to_string())).1
}

/// One download of `n` bytes; its time.
fn download(dte: &mut Dte, port: u16, n: usize) -> Duration {
    let t = Instant::now();
    dte.send_line(&format!("AT+CHTTPACT=\"127.0.0.1\",{port}"));
    dte.expect("+CHTTPACT: REQUEST");
    dte.send(format!("GET /{n} HTTP/1.1\r\nHost: localhost\r\n\r\n\x1a").as_bytes());
    dte.expect("OK");
    let (data, end) = dte.blocks("+CHTTPACT");
    assert_eq!(end, "0", "download of {n}");
    assert!(data.len() >= n, "got {} of {n}", data.len());
    t.elapsed()
}

fn expected(p: &Value, n: usize, idle: bool) -> Duration {
    let f = |k: &str| p[k].as_f64().unwrap_or(0.0);
    let rtt = f("rtt_ms");
    let answer = n + 64;
    let mut ms = 2.0 * rtt + REQUEST.len() as f64 * 8.0 / f("up_kbps") + answer as f64 * 8.0 / f("down_kbps");
    if idle {
        ms += f("promote_ms");
    }
    Duration::from_secs_f64(ms / 1000.0)
}

fn main() {
    let port = server();
    let bin = Path::new(env!("CARGO_BIN_EXE_sim5360"));
    let m = ModemProcess::start(
        bin,
        Transport::Pty,
        &["--no-nmea", "--control", "127.0.0.1:0", "--ready-json", "--net-timeout", "600s"],
    )
    .expect("modem");
    let url = m.control.clone().expect("control url");
    let mut dte = m.open_pty().expect("pty");
    dte.timeout = Duration::from_secs(900);
    dte.expect_eventually("PB DONE");
    dte.cmd_expect("ATE0", &["ATE0", "OK"]);
    let all = std::env::var_os("PRESETS_ALL").is_some();
    let presets = api(&url, "GET", "/api/v1/presets", json!({}));
    let floor = download(&mut dte, port, 20 * 1024);
    println!(
        "no conditions: 20 KiB in {:.1} ms (the floor, taken off each figure: PTY, AT framing, the server)",
        floor.as_secs_f64() * 1000.0
    );
    println!("{:<10} {:>8} {:>12} {:>12} {:>7}  note", "preset", "size", "expected ms", "measured ms", "ratio");
    for p in presets["presets"].as_array().expect("presets") {
        let name = p["name"].as_str().expect("name");
        api(&url, "PUT", "/api/v1/modems/0/network", json!({"preset": name}));
        let idle = p["promote_ms"].as_f64().unwrap_or(0.0) > 0.0;
        // Idle first, so the promotion is paid by the first download only.
        if idle {
            std::thread::sleep(Duration::from_millis(p["idle_after_ms"].as_f64().unwrap_or(0.0) as u64 + 100));
        }
        for (n, label) in [(20 * 1024, "20 KiB"), (1 << 20, "1 MiB")] {
            let want = expected(p, n, idle && n == 20 * 1024);
            if n == 1 << 20 && want > Duration::from_secs(60) && !all {
                println!(
                    "{name:<10} {label:>8} {:>12.0} {:>12} {:>7}  skipped (PRESETS_ALL=1)",
                    want.as_secs_f64() * 1000.0,
                    "-",
                    "-"
                );
                continue;
            }
            let got = download(&mut dte, port, n).saturating_sub(floor);
            let ratio = got.as_secs_f64() / want.as_secs_f64();
            let note = if (0.8..=1.2).contains(&ratio) { "within 20 %" } else { "OUTSIDE 20 %" };
            println!(
                "{name:<10} {label:>8} {:>12.0} {:>12.0} {ratio:>7.2}  {note}",
                want.as_secs_f64() * 1000.0,
                got.as_secs_f64() * 1000.0
            );
        }
        if idle {
            // The promotion alone: the preset's figures without jitter (which, summed over
            // a 20 KiB download's chunks, can hide a small promote_ms), idle, then a
            // download that pays it and one right after that does not.
            api(&url, "PATCH", "/api/v1/modems/0/network", json!({"jitter_ms": 0}));
            std::thread::sleep(Duration::from_millis(p["idle_after_ms"].as_f64().unwrap_or(0.0) as u64 + 100));
            let first = download(&mut dte, port, 20 * 1024).saturating_sub(floor);
            let second = download(&mut dte, port, 20 * 1024).saturating_sub(floor);
            let promote = p["promote_ms"].as_f64().unwrap_or(0.0);
            let seen = (first.as_secs_f64() - second.as_secs_f64()) * 1000.0;
            println!(
                "{name:<10} {:>8} {:>12.0} {:>12.0} {:>7.2}  promotion without jitter: after idle {:.0} ms, right after {:.0} ms",
                "20 KiB",
                promote,
                seen,
                seen / promote,
                first.as_secs_f64() * 1000.0,
                second.as_secs_f64() * 1000.0
            );
        }
    }
    api(&url, "PUT", "/api/v1/modems/0/network", json!({"preset": "full"}));
}
