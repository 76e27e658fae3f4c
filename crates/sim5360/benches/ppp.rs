//! A data call's speed, against references measured in the same run, samples alternating:
//! - 10 MiB through PPP with the kernel's TCP: lwIP's PPP client (the test bench's
//!   harness) bridges the call to a TUN device in a network namespace of its own, and a
//!   thread of this process that joined that namespace downloads from a source in this
//!   process at the host alias (10.64.64.64), first byte to last;
//! - the same 10 MiB in transparent mode (`AT+CIPMODE=1`), raw over the PTY;
//! - the PTY floor (a plain process pushing through a PTY, never sleeping).
//!
//! Also the module's resident memory, sampled every 20 ms through each PPP download:
//! before, peak and after. Needs root (`unshare -n`, a TUN device). Run:
//! `cargo bench -p sim5360 --bench ppp` (`PPP_RUNS=<n>` samples, 5 by default).

#[path = "common/pty.rs"]
mod pty;

use pty::{MIB, Samples, open_raw, pty_floor, pty_push};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use testbench::{Dte, LwipClient, ModemProcess, Transport};

const SIZE: usize = 10 * MIB;

/// A host TCP source: `SIZE` bytes to each client, then the close; with `on_request`, once
/// the client has sent a byte (so it can switch to raw reading first).
fn source(on_request: bool) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            std::thread::spawn(move || {
                if on_request {
                    let mut one = [0u8; 1];
                    let _ = c.read_exact(&mut one);
                }
                let _ = c.write_all(&testbench::http::pattern(SIZE, 5));
            });
        }
    });
    port
}

fn modem() -> ModemProcess {
    ModemProcess::start(Path::new(env!("CARGO_BIN_EXE_sim5360")), Transport::Pty, &["--no-nmea"]).expect("modem")
}

fn dte(m: &ModemProcess) -> Dte {
    let mut d = m.open_pty().expect("pty");
    d.timeout = Duration::from_secs(60);
    d.line_end = b"\r\n";
    d.send_line("ATE0");
    d.expect_eventually("OK");
    d
}

/// MiB/s of one transparent-mode download, first byte to last.
fn transparent(m: &ModemProcess, port: u16) -> f64 {
    let mut d = dte(m);
    d.send_line(&format!("AT+CIPOPEN=0,\"TCP\",\"127.0.0.1\",{port}"));
    d.expect("CONNECT 115200");
    drop(d);
    let mut tty = open_raw(m.tty.as_ref().expect("tty"));
    tty.write_all(b"!").expect("request");
    let mut buf = vec![0u8; 256 * 1024];
    let first = tty.read(&mut buf).expect("read");
    let start = Instant::now();
    let mut got = first;
    while got < SIZE {
        got += tty.read(&mut buf).expect("read");
    }
    let secs = start.elapsed().as_secs_f64();
    let mut d = m.open_pty().expect("pty");
    d.idle(Duration::from_millis(300));
    d.cmd_expect("AT", &["OK"]);
    (SIZE - first) as f64 / MIB as f64 / secs
}

/// CPU seconds (user and system) process `pid` has used.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command name: state is field 3, utime field 14, stime field 15.
    let f: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let ticks: u64 = [11, 12].iter().filter_map(|&i| f.get(i)?.parse::<u64>().ok()).sum();
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100);
    ticks as f64 / hz as f64
}

/// The module's resident set in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn netns(pid: u32, program: &str, args: &[&str]) {
    let st =
        Command::new("nsenter").args(["-t", &pid.to_string(), "-n", program]).args(args).status().expect("nsenter");
    assert!(st.success(), "{program} {args:?} in the namespace: {st}");
}

/// A call bridged to `ppp0` in the client's own network namespace, addressed and routed.
fn call(m: &ModemProcess) -> LwipClient {
    let mut c = LwipClient::spawn_netns(m.tty.as_ref().expect("tty"), &["--tun", "ppp0"]).expect("lwIP client");
    let up = c.wait_line("up ", Duration::from_secs(30)).expect("the call up");
    c.wait_line("tun ready", Duration::from_secs(10)).expect("the TUN device");
    let addr = up.split(' ').nth(1).expect("address").to_owned();
    let pid = c.pid();
    netns(pid, "ip", &["addr", "add", &addr, "peer", "10.64.64.64", "dev", "ppp0"]);
    netns(pid, "ip", &["link", "set", "ppp0", "up"]);
    netns(pid, "ip", &["route", "add", "default", "dev", "ppp0"]);
    c
}

/// MiB/s of one download through the call, first byte to last, and the module's RSS
/// (KiB) before, at its peak during, and after.
fn through_ppp(m: &ModemProcess, c: &LwipClient, port: u16) -> (f64, [u64; 3]) {
    let before = rss_kib(m.pid());
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done, pid) = (peak.clone(), done.clone(), m.pid());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    // The reading thread joins the client's network namespace (setns is per thread), so
    // it reads the call's TCP socket itself, as an application on that host would.
    let ns = std::fs::File::open(format!("/proc/{}/ns/net", c.pid())).expect("the namespace");
    let reader = std::thread::spawn(move || {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns (root)");
        let mut s = TcpStream::connect(("10.64.64.64", port)).expect("connect through the call");
        let mut buf = vec![0u8; 256 * 1024];
        let first = s.read(&mut buf).expect("read");
        let start = Instant::now();
        let mut got = first;
        loop {
            let n = s.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            got += n;
        }
        (first, got, start.elapsed().as_secs_f64())
    });
    let (first, got, secs) = reader.join().expect("reader");
    assert_eq!(got, SIZE, "the download was cut short");
    done.store(true, Ordering::Relaxed);
    sampler.join().expect("sampler");
    std::thread::sleep(Duration::from_millis(200));
    let after = rss_kib(m.pid());
    ((SIZE - first) as f64 / MIB as f64 / secs, [before, peak.load(Ordering::Relaxed), after])
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        println!("ppp: bench");
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--pty-push") {
        pty_push(args[i + 1].parse().expect("length"), args[i + 2] == "spin");
        return;
    }
    let runs: usize = std::env::var("PPP_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let on_request = source(true);
    let plain = source(false);

    // The transparent-mode modem and the PPP modem are separate processes, so neither's
    // state touches the other's samples.
    let tm = modem();
    let mut d = dte(&tm);
    d.cmd_expect("AT+CIPMODE=1", &["OK"]);
    d.cmd_expect("AT+NETOPEN", &["OK"]);
    d.expect("+NETOPEN: 0");
    drop(d);
    let pm = modem();
    let c = call(&pm);

    let (mut ppp, mut tmode, mut floor, mut rss) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // CPU seconds per download: the module in a call, the lwIP client, the module in
    // transparent mode.
    let (mut cpu_ppp, mut cpu_client, mut cpu_tm) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let (m0, c0) = (cpu_secs(pm.pid()), cpu_secs(c.pid()));
        let (rate, r) = through_ppp(&pm, &c, plain);
        cpu_ppp.push(cpu_secs(pm.pid()) - m0);
        cpu_client.push(cpu_secs(c.pid()) - c0);
        ppp.push(rate);
        rss.push(r);
        let t0 = cpu_secs(tm.pid());
        tmode.push(transparent(&tm, on_request));
        cpu_tm.push(cpu_secs(tm.pid()) - t0);
        floor.push(pty_floor(SIZE, true));
    }
    c.terminate();
    let run = c.finish(Duration::from_secs(15)).expect("the call's end");
    assert!(run.line("end NO CARRIER").is_some(), "{}", run.show());

    let (ppp, tmode, floor) = (Samples::of(ppp), Samples::of(tmode), Samples::of(floor));
    println!("10 MiB downloads, {runs} samples each (median, best) in MiB/s");
    println!("  PTY floor (never-sleeping pusher)   : {:>7.1} {:>7.1}", floor.median(), floor.best());
    println!("  transparent mode (AT+CIPMODE=1)     : {:>7.1} {:>7.1}", tmode.median(), tmode.best());
    println!("  PPP, kernel TCP over TUN (lwIP PPP) : {:>7.1} {:>7.1}", ppp.median(), ppp.best());
    println!(
        "  PPP / transparent: {:.2} (median)   transparent / floor: {:.2}   PPP / floor: {:.2}",
        ppp.median() / tmode.median(),
        tmode.median() / floor.median(),
        ppp.median() / floor.median()
    );
    let ms = |v: Vec<f64>| Samples::of(v).median() * 1000.0;
    println!(
        "CPU per download (median ms): the module in a call {:.0}, the lwIP client {:.0}; the module in transparent mode {:.0}",
        ms(cpu_ppp),
        ms(cpu_client),
        ms(cpu_tm)
    );
    println!("The module's RSS during each PPP download (KiB: before, peak, after)");
    for (i, [b, p, a]) in rss.iter().enumerate() {
        println!("  run {}: {b:>7} {p:>7} {a:>7}", i + 1);
    }
}
