//! HTTP (AT+CHTTPACT) and HTTPS (AT+CHTTPS*) end to end: the real binary on a PTY against
//! nginx on 127.0.0.1, plus misbehaving peers.
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;
use testbench::{Dte, HttpServer, ModemProcess, Peer, TestCa, Transport};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sim5360"))
}

fn sha(b: &[u8]) -> String {
    format!("{:x}", Sha256::digest(b))
}

fn modem(extra: &[&str]) -> (ModemProcess, Dte) {
    let (m, mut dte) = testbench::ready_modem(bin(), extra).unwrap();
    dte.cmd_expect("AT+CMEE=1", &["OK"]);
    (m, dte)
}

/// One AT+CHTTPACT exchange: the raw response and the final code.
fn act(dte: &mut Dte, port: u16, request: &[u8]) -> (Vec<u8>, String) {
    dte.send_line(&format!("AT+CHTTPACT=\"127.0.0.1\",{port}"));
    dte.expect("+CHTTPACT: REQUEST");
    dte.send(request);
    dte.send(b"\x1a");
    dte.expect("OK");
    dte.blocks("+CHTTPACT")
}

/// Split a raw response into (head, body), decoding a chunked body.
fn split(raw: &[u8]) -> (String, Vec<u8>) {
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of head") + 4;
    let head = String::from_utf8_lossy(&raw[..at]).into_owned();
    let mut body = raw[at..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap().trim(), 16).unwrap();
            rest = &rest[eol + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        body = out;
    }
    (head, body)
}

fn get(path: &str, extra: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n").into_bytes()
}

#[test]
fn chttpact_against_nginx() {
    let ca = TestCa::new().unwrap();
    let web = HttpServer::start(&ca).unwrap();
    let (_m, mut dte) = modem(&[]);
    // Small page, then 1 MiB and 10 MiB bodies (sha256 equal), keep-alive by default.
    let (raw, code) = act(&mut dte, web.port, &get("/hello.txt", ""));
    assert_eq!(code, "0");
    let (head, body) = split(&raw);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(body, b"hello from nginx\n");
    for (name, bytes) in testbench::http::static_files() {
        let (raw, code) = act(&mut dte, web.port, &get(&format!("/{name}"), ""));
        assert_eq!(code, "0", "{name}");
        assert_eq!(sha(&split(&raw).1), sha(&bytes), "{name}");
    }
    // Connection: close works the same.
    let (raw, code) = act(&mut dte, web.port, &get("/1k.bin", "Connection: close\r\n"));
    assert_eq!(code, "0");
    assert_eq!(split(&raw).1.len(), 1024);
    // HEAD: headers only, the response ends without a body.
    let (raw, code) = act(&mut dte, web.port, b"HEAD /1M.bin HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(code, "0");
    let (head, body) = split(&raw);
    assert!(head.contains("Content-Length: 1048576") && body.is_empty(), "{head}");
    // POST with a body, echoed back (chunked response, passed through as sent).
    let post = b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\n\r\nhello=world";
    let (raw, code) = act(&mut dte, web.port, post);
    assert_eq!(code, "0");
    let (head, body) = split(&raw);
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    assert_eq!(body, b"hello=world");
    // A chunked response arrives raw, ending with the last chunk.
    let (raw, code) = act(&mut dte, web.port, &get("/chunked", ""));
    assert_eq!(code, "0");
    assert!(raw.ends_with(b"0\r\n\r\n"), "{}", String::from_utf8_lossy(&raw));
    assert_eq!(split(&raw).1, b"chunk one\nchunk two\n");
    // 404 passed through.
    let (raw, code) = act(&mut dte, web.port, &get("/status/404", ""));
    assert_eq!(code, "0");
    assert!(raw.starts_with(b"HTTP/1.1 404"));
    // The length form: exactly <len> bytes, no Ctrl-Z.
    let req = get("/hello.txt", "");
    dte.send_line(&format!("AT+CHTTPACT=\"127.0.0.1\",{},{}", web.port, req.len()));
    dte.expect("+CHTTPACT: REQUEST");
    dte.send(&req);
    dte.expect("OK");
    let (raw, code) = dte.blocks("+CHTTPACT");
    assert_eq!((split(&raw).1, code.as_str()), (b"hello from nginx\n".to_vec(), "0"));
    // ESC aborts: OK, nothing sent, no result line.
    dte.send_line(&format!("AT+CHTTPACT=\"127.0.0.1\",{}", web.port));
    dte.expect("+CHTTPACT: REQUEST");
    dte.send(b"GET / HTTP/1.1\r\n\x1b");
    dte.expect("OK");
    dte.cmd_expect("AT", &["OK"]);
    assert!(dte.idle(Duration::from_millis(300)).is_empty());
}

#[test]
fn chttpact_failures() {
    let ca = TestCa::new().unwrap();
    let web = HttpServer::start(&ca).unwrap();
    let (_m, mut dte) = modem(&["--net-timeout", "2s"]);
    let ok_again = |dte: &mut Dte| {
        dte.cmd_expect("AT", &["OK"]);
        let (raw, code) = act(dte, web.port, &get("/hello.txt", ""));
        assert_eq!((code.as_str(), split(&raw).1), ("0", b"hello from nginx\n".to_vec()));
    };
    // Nothing listening: 227.
    let closed = testbench::process::free_port().unwrap();
    assert_eq!(act(&mut dte, closed, &get("/", "")).1, "227");
    ok_again(&mut dte);
    // Unresolvable name (refused by the resolver itself, no query leaves the machine): 222.
    dte.send_line(&format!("AT+CHTTPACT=\"{}.invalid\",80", "x".repeat(64)));
    dte.expect("+CHTTPACT: REQUEST");
    dte.send(b"GET / HTTP/1.1\r\n\r\n\x1a");
    dte.expect("OK");
    assert_eq!(dte.blocks("+CHTTPACT").1, "222");
    ok_again(&mut dte);
    // A server that stalls: 223 (after --net-timeout).
    let silent = Peer::silent().unwrap();
    assert_eq!(act(&mut dte, silent.port, &get("/", "")).1, "223");
    ok_again(&mut dte);
    // A server that closes mid-response: what arrived, then 224.
    let cut = Peer::close_after(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789".to_vec(), 48).unwrap();
    let (raw, code) = act(&mut dte, cut.port, &get("/", ""));
    assert_eq!(code, "224");
    assert!(raw.starts_with(b"HTTP/1.1 200 OK"));
    ok_again(&mut dte);
    // Garbage instead of HTTP: 220.
    let garbage = Peer::garbage(64).unwrap();
    assert_eq!(act(&mut dte, garbage.port, &get("/", "")).1, "220");
    ok_again(&mut dte);
    // Busy: a second request while one runs (the line starts the first, so it surely runs).
    let drip = Peer::drip(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec(), Duration::from_millis(20)).unwrap();
    dte.send_line(&format!("AT+CHTTPACT=\"127.0.0.1\",{}", drip.port));
    dte.expect("+CHTTPACT: REQUEST");
    dte.send(b"GET / HTTP/1.1\r\n\r\n\x1a");
    dte.expect("OK");
    // The first request's blocks may already be coming (one byte per 20 ms).
    dte.send_line(&format!("AT+CHTTPACT=\"127.0.0.1\",{}", web.port));
    let mut raw = Vec::new();
    loop {
        let l = dte.line();
        if l == "+CME ERROR: 221" {
            break;
        }
        let Some(n) = l.strip_prefix("+CHTTPACT: DATA,") else { dte.fail(&format!("unexpected {l:?}")) };
        raw.extend(dte.bytes(n.parse().unwrap()));
    }
    let (rest, code) = dte.blocks("+CHTTPACT");
    raw.extend(rest);
    assert_eq!((code.as_str(), raw.len()), ("0", 38));
    ok_again(&mut dte);
    // Bad parameters.
    dte.cmd_expect("AT+CHTTPACT=\"127.0.0.1\",0", &["ERROR"]);
    dte.cmd_expect("AT+CHTTPACT=\"http://x/\",80", &["+CME ERROR: 226"]);
    dte.cmd_expect("AT+CHTTPACT=?", &["+CHTTPACT: \"ADDRESS\",(1-65535)", "OK"]);
}

/// Read the cached response with AT+CHTTPSRECV=<max> until `total` bytes arrived, the way
/// strict real clients do: each read answers `OK`, then at most one `DATA` block, then
/// `+CHTTPSRECV: 0`; before each further read comes a `+CHTTPS: RECV EVENT` (re-announced
/// while data is cached, or new data arrived).
fn recv_all(dte: &mut Dte, total: usize, max: usize) -> Vec<u8> {
    let mut got = Vec::new();
    loop {
        dte.send_line(&format!("AT+CHTTPSRECV={max}"));
        // URCs released before the command was taken come first.
        loop {
            match dte.line().as_str() {
                "OK" => break,
                "+CHTTPS: RECV EVENT" | "+CHTTPSNOTIFY: PEER CLOSED" => {}
                l => dte.fail(&format!("expected OK, got {l:?}")),
            }
        }
        let l = dte.line();
        if let Some(n) = l.strip_prefix("+CHTTPSRECV: DATA,") {
            let n: usize = n.parse().unwrap();
            assert!(n > 0 && n <= max, "block of {n} for a read of {max}");
            got.extend(dte.bytes(n));
            dte.expect("+CHTTPSRECV: 0");
        } else if l != "+CHTTPSRECV: 0" {
            dte.fail(&format!("unexpected {l:?}"));
        }
        if got.len() >= total {
            return got;
        }
        loop {
            match dte.line().as_str() {
                "+CHTTPS: RECV EVENT" => break,
                "+CHTTPSNOTIFY: PEER CLOSED" => {}
                l => dte.fail(&format!("expected +CHTTPS: RECV EVENT, got {l:?}")),
            }
        }
    }
}

fn https_send(dte: &mut Dte, data: &[u8]) {
    dte.send_line(&format!("AT+CHTTPSSEND={}", data.len()));
    dte.expect(">");
    dte.send(data);
    dte.expect("OK");
}

/// `AT+CHTTPSSEND` (exec): `OK` then `+CHTTPSSEND: 0`; the response's `+CHTTPS: RECV
/// EVENT` may come before, between or after them (the server is fast).
fn send_flush_then_event(dte: &mut Dte) {
    dte.send_line("AT+CHTTPSSEND");
    let (mut ok, mut flushed, mut event) = (false, false, false);
    while !(ok && flushed && event) {
        match dte.line().as_str() {
            "OK" if !ok => ok = true,
            "+CHTTPSSEND: 0" if ok && !flushed => flushed = true,
            "+CHTTPS: RECV EVENT" if !event => event = true,
            l => dte.fail(&format!("unexpected {l:?} after AT+CHTTPSSEND")),
        }
    }
}

/// Start the stack, open a TLS session and send `GET /10M.bin`, up to the response's
/// `+CHTTPS: RECV EVENT`.
fn request_10m_over_tls(dte: &mut Dte, web: &HttpServer) {
    dte.cmd_expect("AT+CHTTPSSTART", &["OK"]);
    dte.cmd_expect(&format!("AT+CHTTPSOPSE=\"localhost\",{}", web.tls_port), &["OK"]);
    https_send(dte, &get("/10M.bin", ""));
    dte.expect("+CHTTPS: RECV EVENT");
}

/// On an open session: `GET /hello.txt` with `Connection: close`; the data is announced,
/// the server closes, and the cached response (its length from `AT+CHTTPSRECV?`) is the page.
fn hello_then_peer_closed(dte: &mut Dte) {
    https_send(dte, &get("/hello.txt", "Connection: close\r\n"));
    dte.expect("+CHTTPS: RECV EVENT");
    dte.expect("+CHTTPSNOTIFY: PEER CLOSED");
    dte.send_line("AT+CHTTPSRECV?");
    let len: usize = dte.line().strip_prefix("+CHTTPSRECV: LEN,").unwrap().parse().unwrap();
    dte.expect("OK");
    assert_eq!(split(&recv_all(dte, len, 4096)).1, b"hello from nginx\n");
}

#[test]
fn https_stack_against_nginx() {
    let ca = TestCa::new().unwrap();
    let web = HttpServer::start(&ca).unwrap();
    let (_m, mut dte) = modem(&["--ca", ca.ca.to_str().unwrap()]);
    // States: nothing before START; a second START is refused.
    dte.cmd_expect(&format!("AT+CHTTPSOPSE=\"localhost\",{}", web.tls_port), &["ERROR"]);
    dte.cmd_expect("AT+CHTTPSSEND=10", &["ERROR"]);
    dte.cmd_expect("AT+CHTTPSSTART", &["OK"]);
    dte.cmd_expect("AT+CHTTPSSTART", &["ERROR"]);
    dte.cmd_expect("AT+CHTTPSSEND=10", &["ERROR"]);
    dte.cmd_expect("AT+CHTTPSCLSE", &["ERROR"]);
    dte.cmd_expect(&format!("AT+CHTTPSOPSE=\"localhost\",{},2", web.tls_port), &["OK"]);
    dte.cmd_expect(&format!("AT+CHTTPSOPSE=\"localhost\",{},2", web.tls_port), &["ERROR"]);
    // A request in two sends; the response is cached and announced.
    let req = get("/1M.bin", "");
    https_send(&mut dte, &req[..10]);
    https_send(&mut dte, &req[10..]);
    send_flush_then_event(&mut dte);
    let body = testbench::http::static_files().into_iter().find(|f| f.0 == "1M.bin").unwrap().1;
    let head_len = {
        // Read a little first: at most the asked length per call.
        let first = recv_all(&mut dte, 1, 100);
        assert_eq!(first.len(), 100);
        let mut rest = recv_all(&mut dte, 1, 2048);
        let mut all = first;
        all.append(&mut rest);
        let at = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head_len = at;
        let left = head_len + body.len() - all.len();
        all.extend(recv_all(&mut dte, left, 65536));
        assert_eq!(sha(&all[head_len..]), sha(&body));
        head_len
    };
    assert!(head_len > 0);
    dte.cmd_expect("AT+CHTTPSRECV?", &["+CHTTPSRECV: LEN,0", "OK"]);
    dte.send_line("AT+CHTTPSRECV=10");
    dte.expect("OK");
    dte.expect("+CHTTPSRECV: 0");
    // Keep-alive: a second request on the same session, 10 MiB this time.
    https_send(&mut dte, &get("/10M.bin", ""));
    dte.expect("+CHTTPS: RECV EVENT");
    let big = testbench::http::static_files().into_iter().find(|f| f.0 == "10M.bin").unwrap().1;
    let mut first = recv_all(&mut dte, 1, 65536);
    let at = first.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let left = at + big.len() - first.len();
    first.extend(recv_all(&mut dte, left, 65536));
    assert_eq!(sha(&first[at..]), sha(&big));
    dte.cmd_expect("AT+CHTTPSCLSE", &["OK"]);
    // Connection: close: the data, then PEER CLOSED.
    dte.cmd_expect(&format!("AT+CHTTPSOPSE=\"127.0.0.1\",{},1", web.port), &["OK"]);
    https_send(&mut dte, &get("/hello.txt", "Connection: close\r\n"));
    dte.expect("+CHTTPS: RECV EVENT");
    dte.expect("+CHTTPSNOTIFY: PEER CLOSED");
    dte.send_line("AT+CHTTPSRECV=?");
    dte.expect("+CHTTPSRECV: (1-65536)");
    dte.expect("OK");
    dte.send_line("AT+CHTTPSRECV?");
    let len: usize = dte.line().strip_prefix("+CHTTPSRECV: LEN,").unwrap().parse().unwrap();
    dte.expect("OK");
    let raw = recv_all(&mut dte, len, 4096);
    assert_eq!(split(&raw).1, b"hello from nginx\n");
    // The session is gone: closing it again is refused; a new one opens.
    dte.cmd_expect("AT+CHTTPSCLSE", &["ERROR"]);
    dte.cmd_expect(&format!("AT+CHTTPSOPSE=\"localhost\",{}", web.tls_port), &["OK"]);
    dte.cmd_expect("AT+CHTTPSSTOP", &["OK"]);
    dte.cmd_expect("AT+CHTTPSSTOP", &["ERROR"]);
}

#[test]
fn https_certificates_and_failures() {
    let ca = TestCa::new().unwrap();
    let web = HttpServer::start(&ca).unwrap();
    let open = format!("AT+CHTTPSOPSE=\"localhost\",{}", web.tls_port);
    // The wrong CA: refused, and the log says why.
    let (m, mut dte) = modem(&["--ca", ca.other_ca.to_str().unwrap()]);
    dte.cmd_expect("AT+CHTTPSSTART", &["OK"]);
    dte.cmd_expect(&open, &["ERROR"]);
    assert!(m.stderr_log().contains("certificate"), "{}", m.stderr_log());
    dte.cmd_expect("AT", &["OK"]);
    // --tls-insecure: accepted.
    let (_m, mut dte) = modem(&["--ca", ca.other_ca.to_str().unwrap(), "--tls-insecure"]);
    dte.cmd_expect("AT+CHTTPSSTART", &["OK"]);
    dte.cmd_expect(&open, &["OK"]);
    https_send(&mut dte, &get("/hello.txt", ""));
    dte.expect("+CHTTPS: RECV EVENT");
    // Right CA, but a certificate for another name: refused; nothing listening: refused.
    let (_m, mut dte) = modem(&["--ca", ca.ca.to_str().unwrap()]);
    let wrong = Peer::tls_wrong_name(&ca, b"x".to_vec()).unwrap();
    dte.cmd_expect("AT+CHTTPSSTART", &["OK"]);
    dte.cmd_expect(&format!("AT+CHTTPSOPSE=\"localhost\",{}", wrong.port), &["ERROR"]);
    let closed = testbench::process::free_port().unwrap();
    dte.cmd_expect(&format!("AT+CHTTPSOPSE=\"127.0.0.1\",{closed},1"), &["ERROR"]);
    dte.cmd_expect(&open, &["OK"]);
}

/// The flow of Arduino-class clients: plain and TLS sessions, the request sent with the
/// `>` form then the exec form, and the response pulled in 64-byte reads, each after a
/// `+CHTTPS: RECV EVENT` and each answered `OK` before its data.
#[test]
fn https_small_reads_as_arduino_clients_do() {
    let ca = TestCa::new().unwrap();
    let web = HttpServer::start(&ca).unwrap();
    let body = testbench::http::static_files().into_iter().find(|f| f.0 == "1k.bin").unwrap().1;
    let (_m, mut dte) = modem(&["--ca", ca.ca.to_str().unwrap()]);
    dte.cmd_expect("AT+CHTTPSSTART", &["OK"]);
    for open in [
        format!("AT+CHTTPSOPSE=\"127.0.0.1\",{},1", web.port),
        format!("AT+CHTTPSOPSE=\"localhost\",{},2", web.tls_port),
    ] {
        dte.cmd_expect(&open, &["OK"]);
        https_send(&mut dte, &get("/1k.bin", ""));
        send_flush_then_event(&mut dte);
        let mut raw = recv_all(&mut dte, 1, 64);
        let head = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|at| at + 4);
        let head = head.unwrap_or_else(|| {
            // The head spans reads; a few more.
            raw.extend(recv_all(&mut dte, 512, 64));
            raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4
        });
        let left = head + body.len() - raw.len();
        raw.extend(recv_all(&mut dte, left, 64));
        assert_eq!(sha(&raw[head..]), sha(&body));
        dte.cmd_expect("AT+CHTTPSRECV?", &["+CHTTPSRECV: LEN,0", "OK"]);
        dte.cmd_expect("AT+CHTTPSCLSE", &["OK"]);
    }
    dte.cmd_expect("AT+CHTTPSSTOP", &["OK"]);
}

#[test]
fn https_over_tls_1_2() {
    let ca = TestCa::new().unwrap();
    let web = HttpServer::start_with(&ca, true).unwrap();
    let (_m, mut dte) = modem(&["--ca", ca.ca.to_str().unwrap()]);
    dte.cmd_expect("AT+CHTTPSSTART", &["OK"]);
    dte.cmd_expect(&format!("AT+CHTTPSOPSE=\"localhost\",{}", web.tls_port), &["OK"]);
    hello_then_peer_closed(&mut dte);
    // curl confirms the server offers nothing newer.
    let out = std::process::Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "--tlsv1.3", "--cacert", ca.ca.to_str().unwrap()])
        .arg(format!("https://localhost:{}/hello.txt", web.tls_port))
        .output()
        .unwrap();
    assert!(!out.status.success(), "the server should refuse TLS 1.3");
}

#[test]
fn https_sim7600_profile() {
    let ca = TestCa::new().unwrap();
    let web = HttpServer::start(&ca).unwrap();
    let (_m, mut dte) = modem(&["--profile", "sim7600", "--ca", ca.ca.to_str().unwrap()]);
    dte.cmd_expect("AT+CHTTPSSTART", &["OK"]);
    dte.expect("+CHTTPSSTART: 0");
    dte.cmd_expect(&format!("AT+CHTTPSOPSE=\"localhost\",{},2", web.tls_port), &["OK"]);
    dte.expect("+CHTTPSOPSE: 0");
    let req = get("/hello.txt", "");
    dte.send_line(&format!("AT+CHTTPSSEND={}", req.len()));
    dte.expect(">");
    dte.send(&req);
    dte.expect("OK");
    dte.expect("+CHTTPSSEND: 0");
    dte.expect("+CHTTPS:RECV EVENT");
    dte.cmd_expect("AT+CHTTPSCLSE", &["OK"]);
    dte.expect("+CHTTPSCLSE: 0");
    let closed = testbench::process::free_port().unwrap();
    dte.cmd_expect(&format!("AT+CHTTPSOPSE=\"127.0.0.1\",{closed},1"), &["OK"]);
    dte.expect("+CHTTPSOPSE: 14");
    dte.cmd_expect("AT+CHTTPSSTOP", &["OK"]);
    dte.expect("+CHTTPSSTOP: 0");
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap().trim().trim_end_matches("kB").trim().parse().unwrap()
}

#[test]
fn a_dte_that_does_not_read_holds_the_server_back() {
    use std::io::{Read, Write};
    let ca = TestCa::new().unwrap();
    let web = HttpServer::start(&ca).unwrap();
    let big = testbench::http::static_files().into_iter().find(|f| f.0 == "10M.bin").unwrap().1;
    // CHTTPACT to a DTE that reads nothing for a while: the modem buffers a bounded amount.
    let m = ModemProcess::start(bin(), Transport::Pty, &[]).unwrap();
    let mut port = testbench::raw_tty(m.tty.as_ref().unwrap()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    port.write_all(format!("ATE0\rAT+CHTTPACT=\"127.0.0.1\",{}\r", web.port).as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    port.write_all(&get("/10M.bin", "")).unwrap();
    port.write_all(b"\x1a").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let rss = rss_kib(m.pid());
    assert!(rss < 32 * 1024, "modem RSS {rss} KiB while the DTE reads nothing");
    // Now read everything: the whole response arrives intact.
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    let end = b"\r\n+CHTTPACT: 0\r\n";
    while !raw.ends_with(end) {
        let n = port.read(&mut buf).unwrap();
        raw.extend_from_slice(&buf[..n]);
    }
    // Unframe the DATA blocks: each is CR LF, the header, CR LF, then exactly <len> bytes.
    let mut body = Vec::new();
    let first = raw.windows(16).position(|w| w == b"+CHTTPACT: DATA,").unwrap();
    let mut rest = &raw[first - 2..];
    while let Some(after) = rest.strip_prefix(&b"\r\n+CHTTPACT: DATA,"[..]) {
        let eol = after.windows(2).position(|w| w == b"\r\n").unwrap();
        let n: usize = std::str::from_utf8(&after[..eol]).unwrap().parse().unwrap();
        body.extend_from_slice(&after[eol + 2..eol + 2 + n]);
        rest = &after[eol + 2 + n..];
    }
    assert_eq!(rest, end);
    assert_eq!(sha(&split(&body).1), sha(&big));

    // HTTPS: nothing read from the cache: it stays bounded.
    let (m, mut dte) = modem(&["--ca", ca.ca.to_str().unwrap()]);
    request_10m_over_tls(&mut dte, &web);
    std::thread::sleep(Duration::from_millis(1000));
    dte.send_line("AT+CHTTPSRECV?");
    let cached: usize = dte.line().strip_prefix("+CHTTPSRECV: LEN,").unwrap().parse().unwrap();
    dte.expect("OK");
    assert!(cached <= 256 * 1024 + 64 * 1024, "cache {cached} over its bound (256 KiB + one 64 KiB read)");
    assert!(rss_kib(m.pid()) < 32 * 1024);
    let mut first = recv_all(&mut dte, 1, 65536);
    let at = first.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let left = at + big.len() - first.len();
    first.extend(recv_all(&mut dte, left, 65536));
    assert_eq!(sha(&first[at..]), sha(&big));
}

/// A client that reads the start of a big response and closes the session: the close is
/// answered although the cache was full (the unread rest is dropped), and the stack works
/// on.
#[test]
fn closing_with_a_full_cache_answers() {
    let ca = TestCa::new().unwrap();
    let web = HttpServer::start(&ca).unwrap();
    let (_m, mut dte) = modem(&["--ca", ca.ca.to_str().unwrap()]);
    request_10m_over_tls(&mut dte, &web);
    std::thread::sleep(Duration::from_millis(500));
    let head = recv_all(&mut dte, 1, 384);
    assert!(head.starts_with(b"HTTP/1.1 200"));
    dte.send_line("AT+CHTTPSCLSE");
    loop {
        match dte.line().as_str() {
            "OK" => break,
            "+CHTTPS: RECV EVENT" => {}
            l => dte.fail(&format!("unexpected {l:?}")),
        }
    }
    dte.cmd_expect("AT+CHTTPSRECV?", &["+CHTTPSRECV: LEN,0", "OK"]);
    dte.cmd_expect(&format!("AT+CHTTPSOPSE=\"localhost\",{}", web.tls_port), &["OK"]);
    hello_then_peer_closed(&mut dte);
    dte.cmd_expect("AT+CHTTPSSTOP", &["OK"]);
}

/// A big HTTPS response left unread (its cache full) holds back only its own session: an
/// FTP download started meanwhile runs to its end, then the session is closed.
#[test]
fn a_full_https_cache_does_not_hold_back_other_services() {
    let ca = TestCa::new().unwrap();
    let web = HttpServer::start(&ca).unwrap();
    let ftp = testbench::FtpServer::start(&ca).unwrap();
    let file = testbench::http::pattern(300 * 1024, 7);
    ftp.put("f.bin", &file).unwrap();
    let (_m, mut dte) = modem(&["--ca", ca.ca.to_str().unwrap()]);
    request_10m_over_tls(&mut dte, &web);
    std::thread::sleep(Duration::from_millis(500));
    ftp_download_matches(&mut dte, &ftp, &file);
    dte.cmd_expect("AT+CHTTPSCLSE", &["OK"]);
    dte.cmd_expect("AT+CHTTPSSTOP", &["OK"]);
}

/// A passive FTP download of the server's `/f.bin` to the DTE arrives whole and intact.
fn ftp_download_matches(dte: &mut Dte, ftp: &testbench::FtpServer, file: &[u8]) {
    ftp.configure(dte);
    dte.cmd_expect("AT+CFTPMODE=1", &["OK"]);
    dte.cmd_expect("AT+CFTPGET=\"/f.bin\"", &["OK"]);
    let (got, code) = dte.blocks("+CFTPGET");
    assert_eq!((code.as_str(), sha(&got)), ("0", sha(file)));
}

/// A modem with a plain (server type 1) `AT+CHTTPSOPSE` session to `port`, the DTE waiting
/// at most 5 s for each answer.
fn plain_session(port: u16) -> (ModemProcess, Dte) {
    let (m, mut dte) = modem(&[]);
    dte.timeout = Duration::from_secs(5);
    dte.cmd_expect("AT+CHTTPSSTART", &["OK"]);
    dte.cmd_expect(&format!("AT+CHTTPSOPSE=\"127.0.0.1\",{port},1"), &["OK"]);
    (m, dte)
}

/// `AT+CHTTPSSEND=4096` with 4 KiB each, to a server that reads nothing, until the module
/// refuses one (`ERROR`) or `limit` bytes are taken: the bytes taken, and whether it
/// refused.
fn send_until_refused(dte: &mut Dte, limit: usize) -> (usize, bool) {
    let chunk = testbench::http::pattern(4096, 3);
    let mut sent = 0usize;
    while sent < limit {
        dte.send_line("AT+CHTTPSSEND=4096");
        match dte.line().as_str() {
            ">" => {
                dte.send(&chunk);
                dte.expect("OK");
                sent += chunk.len();
            }
            "ERROR" => return (sent, true),
            l => dte.fail(&format!("AT+CHTTPSSEND=4096: {l:?}")),
        }
    }
    (sent, false)
}

/// A server that sends while it does not read: the session's writes wait (the DTE's
/// `AT+CHTTPSSEND` is refused once its queue is full), and what the server sends is still
/// read, announced and readable meanwhile.
#[test]
fn a_session_reads_while_its_writes_wait() {
    let reply = testbench::http::pattern(16 * 1024, 5);
    let peer = testbench::Peer::sends_without_reading(reply.clone(), Duration::from_secs(1)).unwrap();
    let (_m, mut dte) = plain_session(peer.port);
    let (sent, refused) = send_until_refused(&mut dte, 4 << 20);
    assert!(refused, "all of {sent} bytes taken although the server reads nothing");
    // The session's write to the server is stuck now; the server's bytes still come in.
    dte.expect("+CHTTPS: RECV EVENT");
    assert_eq!(recv_all(&mut dte, reply.len(), 4096), reply);
    dte.cmd_expect("AT+CHTTPSCLSE", &["OK"]);
    dte.cmd_expect("AT+CHTTPSSTOP", &["OK"]);
    dte.cmd_expect("AT", &["OK"]);
}

/// Per-job flow control: an `AT+CHTTPSSEND` stream of 1 MiB to a server that accepts and
/// never reads fills only that session's input. The module refuses further sends once it
/// holds what it may (the DTE is never stopped), `AT+CHTTPSSEND?` tells how much waits,
/// and meanwhile `AT`, `AT+CSQ`, an FTP download and `AT+CHTTPSCLSE` are all answered at
/// once (the DTE waits at most 5 s for each, against the 30 s I/O timeout a stalled job
/// would take to give up).
#[test]
fn a_server_that_stops_reading_holds_back_only_its_own_session() {
    let ca = TestCa::new().unwrap();
    let ftp = testbench::FtpServer::start(&ca).unwrap();
    let file = testbench::http::pattern(300 * 1024, 9);
    ftp.put("f.bin", &file).unwrap();
    let deaf = testbench::Peer::not_reading().unwrap();
    let (_m, mut dte) = plain_session(deaf.port);
    let (sent, refused) = send_until_refused(&mut dte, 1 << 20);
    assert!(refused, "all of 1 MiB was taken although the server reads nothing");
    assert!(sent >= 256 * 1024, "refused after only {sent} bytes");
    dte.send_line("AT+CHTTPSSEND?");
    let waiting: usize = dte.line().strip_prefix("+CHTTPSSEND: ").unwrap().parse().unwrap();
    dte.expect("OK");
    assert!(waiting > 0, "nothing reported as waiting");
    dte.cmd_expect("AT", &["OK"]);
    dte.cmd_expect("AT+CSQ", &["+CSQ: 21,99", "OK"]);
    ftp_download_matches(&mut dte, &ftp, &file);
    dte.cmd_expect("AT+CHTTPSCLSE", &["OK"]);
    dte.cmd_expect("AT+CHTTPSSTOP", &["OK"]);
    dte.cmd_expect("AT", &["OK"]);
}
