//! The soak: 10,000 mixed operations (`SOAK_OPS`) across a fleet of 4 modems
//! (`SOAK_MODEMS`) in one process, against real servers (nginx for HTTP and HTTPS,
//! pyftpdlib, aiosmtpd, dovecot, socat's echo): AT commands, HTTP and HTTPS requests, FTP
//! downloads, SMTP sends, POP3 sessions, TCP socket sessions and SMS sends, while a
//! controller thread injects one-shot faults (refused connections, latency, slicing,
//! resets) through the control API. Every 1,000 operations it prints the process's RSS, open file
//! descriptors, threads and alive async tasks (`GET /api/v1` `runtime.tasks`).
//!
//! Checked, and the verdict printed (exit status 1 when it fails):
//! - no operation lost (each gets its one result within the DTE's 30 s) and none answered
//!   twice (after every operation `AT` must answer exactly `OK`, with no line left over);
//! - every result is the operation's success or the code of the fault it met;
//! - SMS message references never repeat on a modem;
//! - no job is left running once every operation has ended;
//! - flat: from the 2,000 mark (warm: every service has run, TLS sessions cached) to the
//!   end, RSS grows by at most 4 MiB, and fds, threads and tasks by at most 3 per modem
//!   (connections of operations in flight when a sample is taken).
//!
//! Needs the test bench (scripts/install-deps.sh). Run:
//! `cargo bench -p sim5360 --bench soak` (a few minutes).

use serde_json::{Value, json};
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testbench::{Dte, EchoServer, FtpServer, HttpServer, Pop3Server, SmtpOptions, SmtpServer, TestCa};

/// The kinds of operation, in the order of the tally.
const KINDS: [&str; 8] = ["at", "http", "https", "ftp", "smtp", "pop3", "socket", "sms"];

struct Servers {
    web: HttpServer,
    ftp: FtpServer,
    smtp: SmtpServer,
    pop3: Pop3Server,
    echo: EchoServer,
}

#[derive(Default)]
struct Tally {
    ok: [usize; KINDS.len()],
    failed: [usize; KINDS.len()],
}

/// One sample every 1,000 operations.
#[derive(Debug, Clone, Copy)]
struct Sample {
    ops: usize,
    rss_kib: u64,
    fds: usize,
    threads: usize,
    tasks: u64,
}

fn sample(pid: u32, url: &str, ops: usize) -> Sample {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).expect("fd").count();
    let threads = std::fs::read_dir(format!("/proc/{pid}/task")).expect("task").count();
    let (_, v) = testbench::control_http(url, "GET", "/api/v1", &[], None);
    let tasks = v["runtime"]["tasks"].as_u64().expect("runtime.tasks");
    Sample { ops, rss_kib, fds, threads, tasks }
}

/// A tiny deterministic generator (xorshift), so a run's mix is repeatable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// After an operation: `AT` answers exactly `OK`, nothing was left over.
fn settled(dte: &mut Dte, what: &str) {
    let r = dte.cmd("AT");
    if r != ["OK"] || !dte.urcs.is_empty() {
        dte.fail(&format!("{what}: answered twice or left lines over: {r:?}, skipped {:?}", dte.urcs));
    }
}

/// One operation of `kind` on modem `m`; true when it succeeded, false when it met a
/// fault and answered with that fault's code. Anything else fails the run.
fn op(kind: usize, m: usize, n: usize, dte: &mut Dte, s: &Servers, mrs: &mut HashSet<String>) -> bool {
    match KINDS[kind] {
        "at" => {
            let c = ["AT+CSQ", "AT+CREG?", "AT+COPS?", "AT+CCLK?", "AT+CGSN"][n % 5];
            let r = dte.cmd(c);
            assert_eq!(r.last().map(String::as_str), Some("OK"), "{c}: {r:?}");
            true
        }
        "http" => {
            dte.send_line(&format!("AT+CHTTPACT=\"127.0.0.1\",{}", s.web.port));
            dte.expect("+CHTTPACT: REQUEST");
            dte.send(b"GET /1k.bin HTTP/1.1\r\nHost: localhost\r\n\r\n\x1a");
            dte.expect("OK");
            let (body, end) = dte.blocks("+CHTTPACT");
            match end.as_str() {
                "0" => {
                    assert!(body.ends_with(&testbench::http::pattern(1024, 1)), "HTTP body damaged");
                    true
                }
                // Refused (227), or reset once connected (224).
                "227" | "224" => false,
                e => panic!("HTTP: +CHTTPACT: {e}"),
            }
        }
        "https" => {
            dte.cmd_expect("AT+CHTTPSSTART", &["OK"]);
            let r = dte.cmd(&format!("AT+CHTTPSOPSE=\"localhost\",{}", s.web.tls_port));
            let ok = match r.as_slice() {
                [ok] if ok == "OK" => {
                    let req = "GET /hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\n";
                    dte.send_line(&format!("AT+CHTTPSSEND={}", req.len()));
                    assert_eq!(dte.bytes(3), b"\r\n>", "the CHTTPSSEND prompt");
                    dte.send(req.as_bytes());
                    dte.expect("OK");
                    let mut got = Vec::new();
                    while !got.ends_with(b"hello from nginx\n") {
                        dte.expect("+CHTTPS: RECV EVENT");
                        dte.cmd_expect("AT+CHTTPSRECV=65536", &["OK"]);
                        let header = dte.line();
                        let len: usize = header
                            .strip_prefix("+CHTTPSRECV: DATA,")
                            .unwrap_or_else(|| panic!("HTTPS: {header:?}"))
                            .parse()
                            .expect("length");
                        got.extend(dte.bytes(len));
                        dte.expect("+CHTTPSRECV: 0");
                    }
                    dte.cmd_expect("AT+CHTTPSCLSE", &["OK"]);
                    true
                }
                [e] if e == "ERROR" => false,
                other => panic!("HTTPS open: {other:?}"),
            };
            dte.cmd_expect("AT+CHTTPSSTOP", &["OK"]);
            ok
        }
        "ftp" => {
            dte.cmd_expect("AT+CFTPGET=\"/f.bin\"", &["OK"]);
            let (data, end) = dte.blocks("+CFTPGET");
            match end.as_str() {
                "0" => {
                    assert_eq!(data, testbench::http::pattern(4096, 5), "FTP file damaged");
                    true
                }
                // Refused: the control connection (214) or, when the fault came between the
                // two, the data connection (210).
                "214" | "210" => false,
                e => panic!("FTP: +CFTPGET: {e}"),
            }
        }
        "smtp" => {
            dte.cmd_expect("AT+SMTPRCPT=0,0,\"bob@example.test\",\"Bob\"", &["OK"]);
            dte.cmd_expect(&format!("AT+SMTPSUB=\"soak {m}-{n}\";+SMTPBODY=\"body\""), &["OK"]);
            dte.cmd_expect("AT+SMTPSEND", &["OK"]);
            match dte.line().as_str() {
                "+SMTP: SUCCESS" => true,
                // A failed send keeps its settings; the next sets the same again.
                "+SMTP: NETWORK ERROR" => false,
                e => panic!("SMTP: {e}"),
            }
        }
        "pop3" => {
            dte.cmd_expect("AT+POP3IN", &["OK"]);
            match dte.line().as_str() {
                "+POP3: SUCCESS" => {
                    let r = dte.cmd("AT+POP3NUM");
                    assert!(r.len() == 2 && r[0].starts_with("+POP3: ") && r[1] == "OK", "POP3NUM: {r:?}");
                    dte.cmd_expect("AT+POP3OUT", &["OK"]);
                    dte.expect("+POP3: SUCCESS");
                    true
                }
                "+POP3: NETWORK ERROR" => false,
                e => panic!("POP3: {e}"),
            }
        }
        "socket" => {
            let l = n % 10;
            dte.cmd_expect(&format!("AT+CIPOPEN={l},\"TCP\",\"127.0.0.1\",{}", s.echo.port), &["OK"]);
            let open = dte.line();
            if open == format!("+CIPOPEN: {l},1") {
                return false;
            }
            assert_eq!(open, format!("+CIPOPEN: {l},0"), "CIPOPEN");
            let payload = format!("soak{m:02}{n:06}");
            dte.send_line(&format!("AT+CIPSEND={l},{}", payload.len()));
            assert_eq!(dte.bytes(3), b"\r\n>", "the CIPSEND prompt");
            dte.send(payload.as_bytes());
            dte.expect("OK");
            dte.expect(&format!("+CIPSEND: {l},{0},{0}", payload.len()));
            let mut got = Vec::new();
            while got.len() < payload.len() {
                let h = dte.line();
                // The sender's address before the data (AT+CIPSRIP=1, the default).
                if h.starts_with("RECV FROM:") {
                    continue;
                }
                let k: usize = h.strip_prefix("+IPD").unwrap_or_else(|| panic!("socket: {h:?}")).parse().expect("len");
                got.extend(dte.bytes(k));
            }
            assert_eq!(got, payload.as_bytes(), "echo damaged");
            dte.cmd_expect(&format!("AT+CIPCLOSE={l}"), &["OK"]);
            dte.expect(&format!("+CIPCLOSE: {l},0"));
            true
        }
        "sms" => {
            dte.send_line("AT+CMGS=\"+15550009999\"");
            assert_eq!(dte.bytes(4), b"\r\n> ", "the SMS prompt");
            dte.send(format!("soak {m}-{n}\x1a").as_bytes());
            let r = dte.line();
            let mr = r.strip_prefix("+CMGS: ").unwrap_or_else(|| panic!("CMGS: {r:?}")).to_owned();
            dte.expect("OK");
            // References run 0-255: unique within any 256 sends of a modem.
            if mrs.len() == 256 {
                mrs.clear();
            }
            assert!(mrs.insert(mr.clone()), "modem {m}: message reference {mr} twice");
            true
        }
        k => unreachable!("{k}"),
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("soak: bench");
        return;
    }
    let total: usize = std::env::var("SOAK_OPS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let modems: usize = std::env::var("SOAK_MODEMS").ok().and_then(|v| v.parse().ok()).unwrap_or(4);
    let ca = TestCa::new().expect("CA");
    let s = Arc::new(Servers {
        web: HttpServer::start(&ca).expect("nginx"),
        ftp: FtpServer::start(&ca).expect("pyftpdlib"),
        smtp: SmtpServer::start(&ca, SmtpOptions::default()).expect("aiosmtpd"),
        pop3: Pop3Server::start(&ca).expect("dovecot"),
        echo: EchoServer::tcp().expect("socat"),
    });
    s.ftp.put("f.bin", &testbench::http::pattern(4096, 5)).expect("ftp file");
    for i in 0..3 {
        s.pop3.add_message(format!("Subject: m{i}\r\n\r\nbody {i}\r\n").as_bytes()).expect("mail");
    }
    let dir = tempfile::tempdir().expect("tmp");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sim5360"))
        .args(["--boot-delay", "0", "--ready-json", "--no-nmea", "--control", "127.0.0.1:0"])
        .args(["--modems", &modems.to_string()])
        .arg("--link-dir")
        .arg(dir.path())
        .arg("--efs")
        .arg(dir.path().join("efs"))
        .arg("--state")
        .arg(dir.path().join("state"))
        .arg("--ca")
        .arg(&ca.ca)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sim5360");
    let pid = child.id();
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let ready: Vec<Value> = (0..modems)
        .map(|_| {
            let mut l = String::new();
            out.read_line(&mut l).expect("ready line");
            serde_json::from_str(&l).expect("json")
        })
        .collect();
    let url = ready[0]["control"].as_str().expect("control").to_owned();

    let done = Arc::new(AtomicUsize::new(0));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let faults = Arc::new(AtomicUsize::new(0));
    // The controller: a one-shot fault on a random modem's service every 100 ms.
    let controller = {
        let (url, stop, faults) = (url.clone(), stop.clone(), faults.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(0x5eed_f00d);
            let services = ["http", "https", "ftp", "smtp", "pop3", "sockets"];
            let kinds = [
                json!({"type": "refuse"}),
                json!({"type": "latency", "attributes": {"latency": 150}}),
                json!({"type": "slicer", "attributes": {"average_size": 64, "delay": 200}}),
            ];
            // A reset, on the services whose every connection is one operation's (a reset
            // can also bite a connection already open, such as an HTTPS or POP3 session).
            let reset = json!({"type": "reset_peer", "attributes": {"timeout": 0}});
            let resettable = ["http", "ftp", "smtp"];
            let mut k = 0;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let m = rng.below(modems);
                let pick = rng.below(kinds.len() + 1);
                let mut f = kinds.get(pick).unwrap_or(&reset).clone();
                f["service"] = if pick == kinds.len() {
                    resettable[rng.below(resettable.len())]
                } else {
                    services[rng.below(services.len())]
                }
                .into();
                f["times"] = 1.into();
                f["name"] = format!("soak{k}").into();
                k += 1;
                let body = f.to_string();
                let (st, v) =
                    testbench::control_http(&url, "POST", &format!("/api/v1/modems/{m}/faults"), &[], Some(&body));
                assert_eq!(st, 201, "fault {f}: {v}");
                faults.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    let t0 = Instant::now();
    let workers: Vec<_> = ready
        .iter()
        .enumerate()
        .map(|(m, line)| {
            let link = line["link"].as_str().expect("link").to_owned();
            let (s, done, samples, url) = (s.clone(), done.clone(), samples.clone(), url.clone());
            std::thread::spawn(move || {
                let mut dte = testbench::open_tty(Path::new(&link)).expect("tty");
                dte.timeout = Duration::from_secs(30);
                dte.line_end = b"\r\n";
                dte.expect_eventually("PB DONE");
                dte.cmd_expect("ATE0", &["ATE0", "OK"]);
                dte.cmd_expect("AT+CMEE=1", &["OK"]);
                dte.cmd_expect("AT+CMGF=1", &["OK"]);
                s.ftp.configure(&mut dte);
                dte.cmd_expect("AT+CFTPMODE=1", &["OK"]);
                dte.cmd_expect(&format!("AT+SMTPSRV=\"127.0.0.1\",{}", s.smtp.port), &["OK"]);
                dte.cmd_expect("AT+SMTPFROM=\"sim@example.test\",\"Modem\"", &["OK"]);
                let pop3 =
                    format!("AT+POP3SRV=\"127.0.0.1\",\"{}\",\"{}\",{}", s.pop3.user, s.pop3.password, s.pop3.port);
                dte.cmd_expect(&pop3, &["OK"]);
                dte.cmd_expect("AT+NETOPEN", &["OK"]);
                dte.expect("+NETOPEN: 0");
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (m as u64 + 1));
                let mut tally = Tally::default();
                let mut mrs = HashSet::new();
                let mut n = 0;
                loop {
                    let ticket = done.fetch_add(1, Ordering::SeqCst) + 1;
                    if ticket > total {
                        break;
                    }
                    let kind = rng.below(KINDS.len());
                    if op(kind, m, n, &mut dte, &s, &mut mrs) {
                        tally.ok[kind] += 1;
                    } else {
                        tally.failed[kind] += 1;
                    }
                    settled(&mut dte, KINDS[kind]);
                    n += 1;
                    if ticket % 1000 == 0 {
                        let sm = sample(pid, &url, ticket);
                        println!(
                            "  {:6} ops  RSS {:6.1} MiB  fds {:3}  threads {:3}  tasks {:4}",
                            sm.ops,
                            sm.rss_kib as f64 / 1024.0,
                            sm.fds,
                            sm.threads,
                            sm.tasks
                        );
                        samples.lock().expect("samples").push(sm);
                    }
                }
                tally
            })
        })
        .collect();
    println!("soak: {total} operations on {modems} modems, faults injected every 100 ms");
    let mut tally = Tally::default();
    let mut broken = Vec::new();
    for (m, w) in workers.into_iter().enumerate() {
        match w.join() {
            Ok(t) => {
                for k in 0..KINDS.len() {
                    tally.ok[k] += t.ok[k];
                    tally.failed[k] += t.failed[k];
                }
            }
            Err(e) => broken.push(format!(
                "modem {m}: {}",
                e.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            )),
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    controller.join().expect("controller");
    let jobs_left: usize = (0..modems)
        .map(|m| {
            let (_, v) = testbench::control_http(&url, "GET", &format!("/api/v1/modems/{m}"), &[], None);
            v["jobs"].as_array().map_or(0, Vec::len)
        })
        .sum();
    let _ = child.kill();
    let _ = child.wait();

    let ran: usize = tally.ok.iter().sum::<usize>() + tally.failed.iter().sum::<usize>();
    println!(
        "{ran} operations in {secs:.1} s ({:.0} per second), {} faults injected",
        ran as f64 / secs,
        faults.load(Ordering::Relaxed)
    );
    for (k, name) in KINDS.iter().enumerate() {
        println!("  {name:7} {:5} succeeded, {:4} met a fault and answered its code", tally.ok[k], tally.failed[k]);
    }
    let mut samples = samples.lock().expect("samples").clone();
    samples.sort_by_key(|s| s.ops);
    let mut verdict = broken.clone();
    if ran != total && broken.is_empty() {
        verdict.push(format!("{ran} of {total} operations ran"));
    }
    let slack = 3 * modems;
    match (samples.iter().find(|s| s.ops == 2000), samples.last()) {
        (Some(warm), Some(last)) => {
            let grew = |a: usize, b: usize| b.saturating_sub(a);
            if last.rss_kib > warm.rss_kib + 4096 {
                verdict.push(format!("RSS grew {} KiB from 2,000 to {} ops", last.rss_kib - warm.rss_kib, last.ops));
            }
            if grew(warm.fds, last.fds) > slack || grew(warm.threads, last.threads) > slack {
                verdict.push(format!("fds {} -> {}, threads {} -> {}", warm.fds, last.fds, warm.threads, last.threads));
            }
            if last.tasks > warm.tasks + slack as u64 {
                verdict.push(format!("tasks {} -> {}", warm.tasks, last.tasks));
            }
            println!(
                "bounds from the 2,000 mark: RSS +4 MiB, fds/threads/tasks +{slack}; measured RSS {:+.1} MiB, fds {:+}, threads {:+}, tasks {:+}",
                (last.rss_kib as f64 - warm.rss_kib as f64) / 1024.0,
                last.fds as i64 - warm.fds as i64,
                last.threads as i64 - warm.threads as i64,
                last.tasks as i64 - warm.tasks as i64
            );
        }
        _ => verdict.push("too few samples to judge flatness (run at least 3,000 operations)".into()),
    }
    println!("jobs still running at the end: {jobs_left}");
    if jobs_left > 0 {
        verdict.push(format!("{jobs_left} jobs still running after every operation ended"));
    }
    if verdict.is_empty() {
        println!("soak: PASS (none lost, none answered twice, flat)");
    } else {
        println!("soak: FAIL");
        for v in &verdict {
            println!("  {v}");
        }
        std::process::exit(1);
    }
}
