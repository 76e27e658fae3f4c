//! Faults through the control API against real servers (nginx, pyftpdlib, aiosmtpd,
//! dovecot, socat; lwIP's PPP client for data calls): one check per fault type and service, each asserting the module's own
//! code for that failure and that `AT` answers at once afterwards; and the network
//! conditions' visible effects (the round trip, what the DTE sees with a preset).
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};
use testbench::{
    Dte, EchoServer, FtpServer, HttpServer, LwipRun, ModemProcess, Pop3Server, SmtpOptions, SmtpServer, TestCa,
    Transport,
};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sim5360"))
}

fn start() -> (ModemProcess, Dte, String) {
    start_with(&[])
}

fn start_with(extra: &[&str]) -> (ModemProcess, Dte, String) {
    let mut args = vec!["--no-nmea", "--control", "127.0.0.1:0", "--ready-json"];
    args.extend_from_slice(extra);
    let m = ModemProcess::start(bin(), Transport::Pty, &args).unwrap();
    let url = m.control.clone().unwrap();
    let mut dte = m.open_pty().unwrap();
    dte.timeout = Duration::from_secs(30);
    dte.line_end = b"\r\n";
    dte.expect_eventually("PB DONE");
    dte.cmd_expect("ATE0", &["ATE0", "OK"]);
    dte.cmd_expect("AT+CMEE=1", &["OK"]);
    (m, dte, url)
}

fn api(url: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let body = body.map(|b| b.to_string());
    testbench::control_http(url, method, &format!("/api/v1/modems/0/{path}"), &[], body.as_deref())
}

fn fault(url: &str, f: Value) {
    let (st, v) = api(url, "POST", "faults", Some(f));
    assert_eq!(st, 201, "{v}");
}

fn clear(url: &str) {
    assert_eq!(api(url, "DELETE", "faults", None).0, 204);
}

/// Right after a failure the module still answers (within the DTE's own timeout: a
/// wall-clock bound tight enough to measure speed belongs in a bench).
fn responsive(dte: &mut Dte) {
    dte.cmd_expect("AT", &["OK"]);
}

/// `AT+CHTTPACT` with a GET of `path` (and `headers`, each line ending CR LF), up to its
/// `OK`: the response follows as blocks.
fn http_request(dte: &mut Dte, host: &str, port: u16, path: &str, headers: &str) {
    dte.send_line(&format!("AT+CHTTPACT=\"{host}\",{port}"));
    dte.expect("+CHTTPACT: REQUEST");
    dte.send(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n\x1a").as_bytes());
    dte.expect("OK");
}

fn http_get(dte: &mut Dte, port: u16, path: &str) -> (Vec<u8>, String) {
    http_request(dte, "127.0.0.1", port, path, "");
    dte.blocks("+CHTTPACT")
}

#[test]
fn http_faults_give_the_chttpact_codes() {
    let ca = TestCa::new().unwrap();
    let web = HttpServer::start(&ca).unwrap();
    // Every network wait of a service at most 2 s, so a stall shows its timeout code soon.
    let (_m, mut dte, url) = start_with(&["--net-timeout", "2s"]);
    let (body, end) = http_get(&mut dte, web.port, "/hello.txt");
    assert_eq!(end, "0", "{}", String::from_utf8_lossy(&body));
    // Each fault and the code it gives (spec §6: 220 unknown, 221 busy, 222 DNS, 223
    // timeout, 224 transfer, 226 memory, 227 network): a refused connection is a network
    // error, a connection that breaks once made a transfer error.
    let cases: &[(Value, &str)] = &[
        (json!({"service": "http", "type": "refuse"}), "227"),
        (json!({"service": "dns", "type": "dns_fail"}), "222"),
        (json!({"service": "http", "type": "reset_peer", "attributes": {"timeout": 0}}), "224"),
        (json!({"service": "*", "type": "limit_data", "attributes": {"bytes": 0}}), "224"),
    ];
    for (f, want) in cases {
        fault(&url, f.clone());
        let (_, end) = http_get(&mut dte, web.port, "/hello.txt");
        assert_eq!(&end, want, "{f}");
        responsive(&mut dte);
        clear(&url);
    }
    // Faults that slow a transfer down without breaking it: the data arrives whole.
    let slow: &[(Value, Duration)] = &[
        (json!({"service": "http", "type": "latency", "attributes": {"latency": 300}}), Duration::from_millis(300)),
        (json!({"service": "http", "type": "bandwidth", "attributes": {"rate": 20}}), Duration::from_millis(40)),
        (
            json!({"service": "http", "type": "slicer", "attributes": {"average_size": 7, "delay": 2000}}),
            Duration::ZERO,
        ),
        (json!({"service": "http", "type": "slow_close", "attributes": {"delay": 200}}), Duration::ZERO),
    ];
    for (f, at_least) in slow {
        fault(&url, f.clone());
        let t = Instant::now();
        let (body, end) = http_get(&mut dte, web.port, "/1k.bin");
        assert_eq!(end, "0", "{f}");
        assert!(body.ends_with(&testbench::http::pattern(1024, 1)), "{f}: body damaged");
        assert!(t.elapsed() >= *at_least, "{f}: {:?}", t.elapsed());
        clear(&url);
    }
    // timeout: nothing gets through. Closed after 500 ms: a transfer error; never closed:
    // the service's own timeout (after --net-timeout).
    fault(&url, json!({"service": "http", "type": "timeout", "attributes": {"timeout": 500}}));
    let (_, end) = http_get(&mut dte, web.port, "/hello.txt");
    assert_eq!(end, "224");
    responsive(&mut dte);
    clear(&url);
    fault(&url, json!({"service": "http", "type": "timeout", "attributes": {"timeout": 0}}));
    let (_, end) = http_get(&mut dte, web.port, "/hello.txt");
    assert_eq!(end, "223");
    responsive(&mut dte);
    clear(&url);
    // Toxicity below 1 with a seed: the same connections fail on every run.
    fault(&url, json!({"service": "http", "type": "refuse", "toxicity": 0.5, "seed": 11}));
    let run: Vec<String> = (0..6).map(|_| http_get(&mut dte, web.port, "/hello.txt").1).collect();
    assert!(run.iter().any(|e| e == "0") && run.iter().any(|e| e == "227"), "{run:?}");
}

#[test]
fn ftp_faults_give_the_cftp_codes() {
    let ca = TestCa::new().unwrap();
    let ftp = FtpServer::start(&ca).unwrap();
    ftp.put("f.bin", &testbench::http::pattern(4096, 5)).unwrap();
    let (_m, mut dte, url) = start();
    ftp.configure(&mut dte);
    dte.cmd_expect("AT+CFTPMODE=1", &["OK"]);
    let get = |dte: &mut Dte| {
        dte.cmd_expect("AT+CFTPGET=\"/f.bin\"", &["OK"]);
        dte.blocks("+CFTPGET")
    };
    let (data, end) = get(&mut dte);
    assert_eq!((data.len(), end.as_str()), (4096, "0"));
    let cases: &[(Value, &str)] = &[
        (json!({"service": "ftp", "type": "refuse"}), "214"),
        (json!({"service": "dns", "type": "dns_fail"}), "203"),
        (json!({"service": "ftp", "type": "reset_peer", "attributes": {"timeout": 0}}), "214"),
        (json!({"service": "ftp", "type": "limit_data", "attributes": {"bytes": 30}}), "214"),
    ];
    for (f, want) in cases {
        fault(&url, f.clone());
        let (_, end) = get(&mut dte);
        assert_eq!(&end, want, "{f}");
        responsive(&mut dte);
        clear(&url);
    }
    // Latency on every FTP connection (control and data): slower, and whole.
    fault(&url, json!({"service": "ftp", "type": "latency", "attributes": {"latency": 100}}));
    let t = Instant::now();
    let (data, end) = get(&mut dte);
    assert_eq!((data.len(), end.as_str()), (4096, "0"));
    assert!(t.elapsed() >= Duration::from_millis(300), "{:?}", t.elapsed());
    clear(&url);
    for f in [
        json!({"service": "ftp", "type": "bandwidth", "attributes": {"rate": 50}}),
        json!({"service": "ftp", "type": "slicer", "attributes": {"average_size": 10, "size_variation": 5, "delay": 100}}),
        json!({"service": "ftp", "type": "slow_close", "attributes": {"delay": 100}}),
    ] {
        fault(&url, f.clone());
        let (data, end) = get(&mut dte);
        assert_eq!(data, testbench::http::pattern(4096, 5), "{f}");
        assert_eq!(end, "0", "{f}");
        clear(&url);
    }
    // Nothing gets through, then the close: the network code.
    fault(&url, json!({"service": "ftp", "type": "timeout", "attributes": {"timeout": 500}}));
    let (_, end) = get(&mut dte);
    assert_eq!(end, "214");
    responsive(&mut dte);
}

#[test]
fn socket_smtp_and_pop3_faults_give_their_codes() {
    let ca = TestCa::new().unwrap();
    let echo = EchoServer::tcp().unwrap();
    let smtp = SmtpServer::start(&ca, SmtpOptions::default()).unwrap();
    let pop3 = Pop3Server::start(&ca).unwrap();
    let (_m, mut dte, url) = start();
    dte.cmd_expect("AT+NETOPEN", &["OK"]);
    dte.expect("+NETOPEN: 0");
    let open = |dte: &mut Dte| {
        dte.cmd_expect(&format!("AT+CIPOPEN=0,\"TCP\",\"127.0.0.1\",{}", echo.port), &["OK"]);
        dte.wait_for("+CIPOPEN:")
    };
    fault(&url, json!({"service": "sockets", "type": "refuse"}));
    assert_eq!(open(&mut dte), "+CIPOPEN: 0,1");
    clear(&url);
    fault(&url, json!({"service": "dns", "type": "dns_fail"}));
    assert_eq!(open(&mut dte), "+CIPOPEN: 0,11");
    clear(&url);
    // A link reset by the peer while open, cut after some bytes, or silent then closed:
    // +IPCLOSE with the peer-closed reason.
    for f in [
        json!({"service": "sockets", "type": "reset_peer", "attributes": {"timeout": 300}}),
        json!({"service": "sockets", "type": "limit_data", "attributes": {"bytes": 3}}),
        json!({"service": "sockets", "type": "timeout", "attributes": {"timeout": 300}}),
    ] {
        fault(&url, f.clone());
        assert_eq!(open(&mut dte), "+CIPOPEN: 0,0", "{f}");
        dte.send_line("AT+CIPSEND=0,5");
        assert_eq!(dte.bytes(3), b"\r\n>", "{f}");
        dte.send(b"hello");
        assert_eq!(dte.wait_for("+IPCLOSE:"), "+IPCLOSE: 0,1", "{f}");
        responsive(&mut dte);
        clear(&url);
    }
    // Slow but whole: what is sent comes back.
    for f in [
        json!({"service": "sockets", "type": "latency", "attributes": {"latency": 100, "jitter": 20}, "stream": "upstream"}),
        json!({"service": "sockets", "type": "bandwidth", "attributes": {"rate": 1}}),
        json!({"service": "sockets", "type": "slicer", "attributes": {"average_size": 1, "delay": 1000}}),
    ] {
        fault(&url, f.clone());
        assert_eq!(open(&mut dte), "+CIPOPEN: 0,0", "{f}");
        dte.send_line("AT+CIPSEND=0,5");
        assert_eq!(dte.bytes(3), b"\r\n>", "{f}");
        dte.send(b"hello");
        let mut got = Vec::new();
        while got.len() < 5 {
            let n: usize = dte.wait_for("+IPD").trim_start_matches("+IPD").parse().unwrap();
            got.extend(dte.bytes(n));
        }
        assert_eq!(got, b"hello", "{f}");
        dte.cmd_expect("AT+CIPCLOSE=0", &["OK"]);
        dte.wait_for("+CIPCLOSE:");
        clear(&url);
    }

    // A successful send clears the recipients: each send sets the mail up again.
    let mail = |dte: &mut Dte| {
        dte.cmd_expect(&format!("AT+SMTPSRV=\"127.0.0.1\",{}", smtp.port), &["OK"]);
        dte.cmd_expect("AT+SMTPFROM=\"sim@example.test\",\"Modem\"", &["OK"]);
        dte.cmd_expect("AT+SMTPRCPT=0,0,\"bob@example.test\",\"Bob\"", &["OK"]);
        dte.cmd_expect("AT+SMTPSUB=\"hello\";+SMTPBODY=\"body\"", &["OK"]);
    };
    mail(&mut dte);
    for f in [
        json!({"service": "smtp", "type": "refuse"}),
        json!({"service": "smtp", "type": "reset_peer", "attributes": {"timeout": 0}}),
    ] {
        fault(&url, f.clone());
        dte.cmd_expect("AT+SMTPSEND", &["OK"]);
        assert_eq!(dte.wait_for("+SMTP: "), "+SMTP: NETWORK ERROR", "{f}");
        responsive(&mut dte);
        clear(&url);
    }
    fault(&url, json!({"service": "smtp", "type": "timeout", "attributes": {"timeout": 300}}));
    dte.cmd_expect("AT+SMTPSEND", &["OK"]);
    assert_eq!(dte.wait_for("+SMTP: "), "+SMTP: NETWORK ERROR");
    responsive(&mut dte);
    clear(&url);
    for f in [
        json!({"service": "smtp", "type": "slicer", "attributes": {"average_size": 3, "delay": 100}}),
        json!({"service": "smtp", "type": "latency", "attributes": {"latency": 30}}),
        json!({"service": "smtp", "type": "bandwidth", "attributes": {"rate": 20}}),
        json!({"service": "smtp", "type": "slow_close", "attributes": {"delay": 100}}),
    ] {
        fault(&url, f.clone());
        mail(&mut dte);
        dte.cmd_expect("AT+SMTPSEND", &["OK"]);
        assert_eq!(dte.wait_for("+SMTP: "), "+SMTP: SUCCESS", "{f}");
        clear(&url);
    }

    let login = |dte: &mut Dte| {
        dte.cmd_expect(&format!("AT+POP3SRV=\"127.0.0.1\",\"simuser\",\"simpass\",{}", pop3.port), &["OK"]);
        dte.cmd_expect("AT+POP3IN", &["OK"]);
        dte.wait_for("+POP3: ")
    };
    for f in [
        json!({"service": "pop3", "type": "refuse"}),
        json!({"service": "dns", "type": "dns_fail"}),
        json!({"service": "pop3", "type": "reset_peer", "attributes": {"timeout": 0}}),
    ] {
        fault(&url, f.clone());
        assert_eq!(login(&mut dte), "+POP3: NETWORK ERROR", "{f}");
        responsive(&mut dte);
        clear(&url);
    }
    // A greeting cut short by the close, and silence then the close: the network's error.
    for (f, want) in [
        (json!({"service": "pop3", "type": "limit_data", "attributes": {"bytes": 5}}), "+POP3: NETWORK ERROR"),
        (json!({"service": "pop3", "type": "timeout", "attributes": {"timeout": 300}}), "+POP3: NETWORK ERROR"),
    ] {
        fault(&url, f.clone());
        assert_eq!(login(&mut dte), want, "{f}");
        responsive(&mut dte);
        clear(&url);
    }
    for f in [
        json!({"service": "pop3", "type": "latency", "attributes": {"latency": 50}}),
        json!({"service": "pop3", "type": "bandwidth", "attributes": {"rate": 20}}),
        json!({"service": "pop3", "type": "slicer", "attributes": {"average_size": 2, "delay": 100}}),
    ] {
        fault(&url, f.clone());
        assert_eq!(login(&mut dte), "+POP3: SUCCESS", "{f}");
        dte.cmd_expect("AT+POP3OUT", &["OK"]);
        dte.wait_for("+POP3: ");
        clear(&url);
    }
}

#[test]
fn tls_fail_breaks_the_https_and_ftps_handshakes() {
    let ca = TestCa::new().unwrap();
    let web = HttpServer::start(&ca).unwrap();
    let ftp = FtpServer::start(&ca).unwrap();
    let m = ModemProcess::start(
        bin(),
        Transport::Pty,
        &["--no-nmea", "--control", "127.0.0.1:0", "--ready-json", "--ca", ca.ca.to_str().unwrap()],
    )
    .unwrap();
    let url = m.control.clone().unwrap();
    let mut dte = m.open_pty().unwrap();
    dte.timeout = Duration::from_secs(30);
    dte.expect_eventually("PB DONE");
    dte.cmd_expect("ATE0", &["ATE0", "OK"]);
    let session = |dte: &mut Dte| {
        dte.cmd_expect("AT+CHTTPSSTART", &["OK"]);
        let r = dte.cmd(&format!("AT+CHTTPSOPSE=\"localhost\",{}", web.tls_port));
        dte.cmd("AT+CHTTPSCLSE");
        dte.cmd_expect("AT+CHTTPSSTOP", &["OK"]);
        r
    };
    assert_eq!(session(&mut dte), ["OK"]);
    fault(&url, json!({"service": "https", "type": "tls_fail"}));
    assert_eq!(session(&mut dte), ["ERROR"], "the handshake fails");
    assert!(m.stderr_log().contains("TLS"), "{}", m.stderr_log());
    responsive(&mut dte);
    clear(&url);
    assert_eq!(session(&mut dte), ["OK"]);
    // FTPS (implicit TLS): the login fails with the FTP network code.
    dte.cmd_expect("AT+CFTPSSTART", &["OK"]);
    let login = format!("AT+CFTPSLOGIN=\"localhost\",{},\"{}\",\"{}\",3", ftp.implicit_port, ftp.user, ftp.password);
    dte.cmd_expect(&login, &["OK"]);
    assert_eq!(dte.wait_for("+CFTPSLOGIN:"), "+CFTPSLOGIN: 0");
    dte.cmd_expect("AT+CFTPSLOGOUT", &["OK"]);
    dte.wait_for("+CFTPSLOGOUT:");
    fault(&url, json!({"service": "ftps", "type": "tls_fail"}));
    let r = dte.cmd(&login);
    let failed = r != ["OK"] || dte.wait_for("+CFTPSLOGIN:") != "+CFTPSLOGIN: 0";
    assert!(failed, "the handshake fails: {r:?}");
    assert!(m.stderr_log().matches("TLS").count() >= 2, "{}", m.stderr_log());
    responsive(&mut dte);
    clear(&url);
    dte.cmd_expect(&login, &["OK"]);
    assert_eq!(dte.wait_for("+CFTPSLOGIN:"), "+CFTPSLOGIN: 0");
}

#[test]
fn network_presets_cost_round_trips_and_show_at_the_dte() {
    let ca = TestCa::new().unwrap();
    let web = HttpServer::start(&ca).unwrap();
    let (_m, mut dte, url) = start();
    let t = Instant::now();
    http_get(&mut dte, web.port, "/hello.txt");
    let plain = t.elapsed();
    let (st, v) = api(&url, "PUT", "network", Some(json!({"rtt_ms": 400})));
    assert_eq!(st, 200, "{v}");
    let t = Instant::now();
    let (_, end) = http_get(&mut dte, web.port, "/hello.txt");
    assert_eq!(end, "0");
    // A connect costs one RTT, the request and the answer half an RTT each.
    assert!(t.elapsed() >= plain + Duration::from_millis(700), "{:?} vs {plain:?}", t.elapsed());
    let (st, v) = api(&url, "PUT", "network", Some(json!({"preset": "gprs"})));
    assert_eq!((st, v["down_kbps"].as_f64()), (200, Some(50.0)), "{v}");
    dte.cmd_expect("AT+COPS?", &["+COPS: 0,0,\"Test Network\",0", "OK"]);
    dte.cmd_expect("AT+CSQ", &["+CSQ: 12,99", "OK"]);
    let (st, v) = api(&url, "PATCH", "network", Some(json!({"rtt_ms": 10})));
    assert_eq!((st, v["rtt_ms"].as_f64(), v["down_kbps"].as_f64()), (200, Some(10.0), Some(50.0)), "{v}");
    assert_eq!(api(&url, "PUT", "network", Some(json!({"preset": "6g"}))).0, 400);
    assert_eq!(api(&url, "PUT", "network", Some(json!({"loss_pct": 5}))).0, 400);
    assert_eq!(api(&url, "PUT", "network", Some(json!({"preset": "full"}))).0, 200);
    dte.cmd_expect("AT+COPS?", &["+COPS: 0,0,\"Test Network\",2", "OK"]);
}

// ---------------------------------------------------------------------------------------
// The fault matrix. docs/faults.md is generated from the `cell!` and `not_applicable!`
// lines below by scripts/fault-matrix.py (and .ci/run fails when it is not current): each
// service × {refused, DNS failure, stall, drop mid-transfer, bad TLS, auth failure, EFS
// full, coverage loss}, with what the module answers and the test that proves it. Every
// test makes its fault happen against the real server and asserts the answer given here.
// Network waits are 2 s (`--net-timeout 2s`), so a stall shows its timeout soon.

/// One cell: the test `$name` makes `$fault` happen to `$service` and what it observes
/// must be `$answer`.
macro_rules! cell {
    ($name:ident, $service:literal, $fault:literal, $answer:literal, $body:expr) => {
        #[test]
        fn $name() {
            let observed: String = $body;
            assert_eq!(observed, $answer, concat!($service, " × ", $fault));
        }
    };
}

/// A cell that has no meaning for a service, and why (shown in the document).
macro_rules! not_applicable {
    ($service:literal, $fault:literal, $why:literal) => {};
}

const STALL: &str = "--net-timeout";

fn rig(extra: &[&str]) -> (ModemProcess, Dte, String) {
    let mut args = vec![STALL, "2s"];
    args.extend_from_slice(extra);
    start_with(&args)
}

fn coverage_lost(url: &str) {
    let (st, v) = api(url, "POST", "coverage", Some(json!({"lost": true})));
    assert!(st < 300, "{st} {v}");
}

/// A fault that holds every answer for 3 s: a transfer is surely running when coverage goes.
fn slow(service: &str) -> Value {
    json!({"service": service, "type": "latency", "attributes": {"latency": 3000}})
}

// HTTP: AT+CHTTPACT, the response in +CHTTPACT: DATA blocks, then +CHTTPACT: <code>.

fn http_case(f: Option<Value>, host: &str, path: &str, auth: &str) -> String {
    let ca = TestCa::new().unwrap();
    let web = HttpServer::start(&ca).unwrap();
    let (_m, mut dte, url) = rig(&[]);
    if let Some(f) = f {
        fault(&url, f);
    }
    http_request(&mut dte, host, web.port, path, auth);
    let (body, end) = dte.blocks("+CHTTPACT");
    responsive(&mut dte);
    let status = String::from_utf8_lossy(&body).lines().next().unwrap_or("").to_owned();
    if status.is_empty() { format!("+CHTTPACT: {end}") } else { format!("{status} in the data, +CHTTPACT: {end}") }
}

fn http_fault(f: Value, path: &str) -> String {
    http_case(Some(f), "127.0.0.1", path, "")
}

cell!(
    http_refused,
    "HTTP",
    "refused",
    "+CHTTPACT: 227",
    http_fault(json!({"service": "http", "type": "refuse"}), "/hello.txt")
);
cell!(http_dns_failure, "HTTP", "DNS failure", "+CHTTPACT: 222", {
    let f = json!({"service": "dns", "type": "dns_fail"});
    http_case(Some(f), "localhost", "/hello.txt", "")
});
cell!(http_stall, "HTTP", "stall", "+CHTTPACT: 223", {
    http_fault(json!({"service": "http", "type": "timeout", "attributes": {"timeout": 0}}), "/hello.txt")
});
cell!(http_drop, "HTTP", "drop mid-transfer", "HTTP/1.1 200 OK in the data, +CHTTPACT: 224", {
    http_fault(json!({"service": "http", "type": "limit_data", "attributes": {"bytes": 100000}}), "/1M.bin")
});
not_applicable!("HTTP", "bad TLS", "plain HTTP has no TLS (HTTPS is its own service)");
cell!(http_auth_failure, "HTTP", "auth failure", "HTTP/1.1 401 Unauthorized in the data, +CHTTPACT: 0", {
    // The server's refusal is the response the module passes on; its own result is success.
    http_case(None, "127.0.0.1", "/private.txt", "Authorization: Basic c2ltdXNlcjp3cm9uZw==\r\n")
});
not_applicable!("HTTP", "EFS full", "AT+CHTTPACT passes the response to the DTE and stores nothing");
cell!(http_coverage_loss, "HTTP", "coverage loss", "+CHTTPACT: 227", {
    let ca = TestCa::new().unwrap();
    let web = HttpServer::start(&ca).unwrap();
    let (_m, mut dte, url) = rig(&[]);
    fault(&url, slow("http"));
    http_request(&mut dte, "127.0.0.1", web.port, "/hello.txt", "");
    coverage_lost(&url);
    let end = dte.wait_for("+CHTTPACT: ");
    responsive(&mut dte);
    end
});

// HTTPS: AT+CHTTPSSTART, AT+CHTTPSOPSE (OK once connected), AT+CHTTPSSEND, AT+CHTTPSRECV.

fn https_rig() -> (HttpServer, ModemProcess, Dte, String, TestCa) {
    let ca = TestCa::new().unwrap();
    let web = HttpServer::start(&ca).unwrap();
    let (m, mut dte, url) = rig(&["--ca", ca.ca.to_str().unwrap()]);
    dte.cmd_expect("AT+CHTTPSSTART", &["OK"]);
    (web, m, dte, url, ca)
}

/// AT+CHTTPSOPSE's answer with `f` in place.
fn https_open(f: Value) -> String {
    let (web, _m, mut dte, url, _ca) = https_rig();
    fault(&url, f);
    let r = dte.cmd(&format!("AT+CHTTPSOPSE=\"localhost\",{}", web.tls_port));
    responsive(&mut dte);
    format!("AT+CHTTPSOPSE → {}", r.join(" "))
}

/// Send `request` on an open session and read what comes: the first line of the data and
/// the URC that ends it.
fn https_exchange(dte: &mut Dte, request: &str) -> String {
    dte.send_line(&format!("AT+CHTTPSSEND={}", request.len()));
    assert_eq!(dte.bytes(3), b"\r\n>");
    dte.send(request.as_bytes());
    dte.expect("OK");
    let mut first = String::new();
    loop {
        let l = dte.line();
        if l == "+CHTTPS: RECV EVENT" {
            dte.send_line("AT+CHTTPSRECV=65536");
            // The close may be announced before the command is read.
            let mut closed = None;
            loop {
                match dte.line() {
                    ok if ok == "OK" => break,
                    n if n.starts_with("+CHTTPSNOTIFY") => closed = Some(n),
                    other => panic!("unexpected {other:?} before OK"),
                }
            }
            let header = dte.line();
            if let Some(n) = header.strip_prefix("+CHTTPSRECV: DATA,") {
                let data = dte.bytes(n.parse().unwrap());
                if first.is_empty() {
                    first = String::from_utf8_lossy(&data).lines().next().unwrap_or("").to_owned();
                }
                dte.expect("+CHTTPSRECV: 0");
            }
            if let Some(n) = closed {
                return format!("{first} in the data, {n}");
            }
            // A refusal is answered whole and the session stays: nothing more comes.
            if first.starts_with("HTTP/1.1 401") {
                return format!("{first} in the data");
            }
        } else if l.starts_with("+CHTTPSNOTIFY") {
            return format!("{first} in the data, {l}");
        }
    }
}

cell!(
    https_refused,
    "HTTPS",
    "refused",
    "AT+CHTTPSOPSE → ERROR",
    https_open(json!({"service": "https", "type": "refuse"}))
);
cell!(
    https_dns_failure,
    "HTTPS",
    "DNS failure",
    "AT+CHTTPSOPSE → ERROR",
    https_open(json!({"service": "dns", "type": "dns_fail"}))
);
cell!(https_stall, "HTTPS", "stall", "AT+CHTTPSOPSE → ERROR", {
    https_open(json!({"service": "https", "type": "timeout", "attributes": {"timeout": 0}}))
});
cell!(https_drop, "HTTPS", "drop mid-transfer", "HTTP/1.1 200 OK in the data, +CHTTPSNOTIFY: PEER CLOSED", {
    let (web, _m, mut dte, url, _ca) = https_rig();
    fault(&url, json!({"service": "https", "type": "limit_data", "attributes": {"bytes": 100000}}));
    dte.cmd_expect(&format!("AT+CHTTPSOPSE=\"localhost\",{}", web.tls_port), &["OK"]);
    https_exchange(&mut dte, "GET /1M.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
});
cell!(
    https_bad_tls,
    "HTTPS",
    "bad TLS",
    "AT+CHTTPSOPSE → ERROR",
    https_open(json!({"service": "https", "type": "tls_fail"}))
);
cell!(https_auth_failure, "HTTPS", "auth failure", "HTTP/1.1 401 Unauthorized in the data", {
    let (web, _m, mut dte, _url, _ca) = https_rig();
    dte.cmd_expect(&format!("AT+CHTTPSOPSE=\"localhost\",{}", web.tls_port), &["OK"]);
    https_exchange(
        &mut dte,
        "GET /private.txt HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic c2ltdXNlcjp3cm9uZw==\r\n\r\n",
    )
});
not_applicable!("HTTPS", "EFS full", "the HTTPS stack caches the response for AT+CHTTPSRECV and stores nothing");
cell!(https_coverage_loss, "HTTPS", "coverage loss", "+CHTTPSNOTIFY: PEER CLOSED", {
    let (web, _m, mut dte, url, _ca) = https_rig();
    dte.cmd_expect(&format!("AT+CHTTPSOPSE=\"localhost\",{}", web.tls_port), &["OK"]);
    fault(&url, slow("https"));
    let request = "GET /hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\n";
    dte.send_line(&format!("AT+CHTTPSSEND={}", request.len()));
    assert_eq!(dte.bytes(3), b"\r\n>");
    dte.send(request.as_bytes());
    dte.expect("OK");
    coverage_lost(&url);
    let r = dte.wait_for("+CHTTPSNOTIFY");
    responsive(&mut dte);
    r
});

// FTP: AT+CFTPGET (passive), the file in +CFTPGET: DATA blocks, then +CFTPGET: <code>;
// AT+CFTPGETFILE into the EFS.

fn ftp_rig(efs_size: Option<&str>) -> (FtpServer, ModemProcess, Dte, String, TestCa) {
    ftp_rig_with(efs_size, "2s")
}

/// `net_timeout`: pyftpdlib answers a wrong password after 3 s, as servers do against
/// guessing, so the auth cells wait longer than the stall cells.
fn ftp_rig_with(efs_size: Option<&str>, net_timeout: &str) -> (FtpServer, ModemProcess, Dte, String, TestCa) {
    let ca = TestCa::new().unwrap();
    let ftp = FtpServer::start(&ca).unwrap();
    ftp.put("f.bin", &testbench::http::pattern(4096, 5)).unwrap();
    ftp.put("big.bin", &testbench::http::pattern(1 << 20, 6)).unwrap();
    let mut args = vec![STALL, net_timeout, "--ca", ca.ca.to_str().unwrap()];
    if let Some(n) = efs_size {
        args.extend(["--efs-size", n]);
    }
    let (m, mut dte, url) = start_with(&args);
    ftp.configure(&mut dte);
    dte.cmd_expect("AT+CFTPMODE=1", &["OK"]);
    (ftp, m, dte, url, ca)
}

fn ftp_get(dte: &mut Dte, path: &str) -> String {
    dte.cmd_expect(&format!("AT+CFTPGET=\"{path}\""), &["OK"]);
    let (_, end) = dte.blocks("+CFTPGET");
    responsive(dte);
    format!("+CFTPGET: {end}")
}

fn ftp_fault(f: Value, path: &str) -> String {
    let (_ftp, _m, mut dte, url, _ca) = ftp_rig(None);
    fault(&url, f);
    ftp_get(&mut dte, path)
}

cell!(ftp_refused, "FTP", "refused", "+CFTPGET: 214", ftp_fault(json!({"service": "ftp", "type": "refuse"}), "/f.bin"));
cell!(
    ftp_dns_failure,
    "FTP",
    "DNS failure",
    "+CFTPGET: 203",
    ftp_fault(json!({"service": "dns", "type": "dns_fail"}), "/f.bin")
);
cell!(ftp_stall, "FTP", "stall", "+CFTPGET: 204", {
    ftp_fault(json!({"service": "ftp", "type": "timeout", "attributes": {"timeout": 0}}), "/f.bin")
});
cell!(ftp_drop, "FTP", "drop mid-transfer", "+CFTPGET: 210", {
    // The control connection never carries 100 kB; the data connection is cut there.
    ftp_fault(json!({"service": "ftp", "type": "limit_data", "attributes": {"bytes": 100000}}), "/big.bin")
});
not_applicable!("FTP", "bad TLS", "plain FTP has no TLS (FTPS is its own service)");
cell!(ftp_auth_failure, "FTP", "auth failure", "+CFTPGET: 208", {
    let (_ftp, _m, mut dte, _url, _ca) = ftp_rig_with(None, "10s");
    dte.cmd_expect("AT+CFTPPW=\"wrong\"", &["OK"]);
    ftp_get(&mut dte, "/f.bin")
});
cell!(ftp_efs_full, "FTP", "EFS full", "+CFTPGETFILE: 206", {
    let (_ftp, _m, mut dte, _url, _ca) = ftp_rig(Some("65536"));
    dte.cmd_expect("AT+CFTPGETFILE=\"/big.bin\",0", &["OK"]);
    let end = dte.wait_for("+CFTPGETFILE: ");
    responsive(&mut dte);
    end
});
cell!(ftp_coverage_loss, "FTP", "coverage loss", "+CFTPGET: 214", {
    let (_ftp, _m, mut dte, url, _ca) = ftp_rig(None);
    fault(&url, slow("ftp"));
    dte.cmd_expect("AT+CFTPGET=\"/f.bin\"", &["OK"]);
    coverage_lost(&url);
    let end = dte.wait_for("+CFTPGET: ");
    responsive(&mut dte);
    end
});

// FTPS: AT+CFTPSSTART, AT+CFTPSLOGIN (implicit TLS), AT+CFTPSGET / AT+CFTPSGETFILE.

fn ftps_login(dte: &mut Dte, ftp: &FtpServer, password: &str) -> String {
    dte.cmd_expect("AT+CFTPSSTART", &["OK"]);
    let r = dte.cmd(&format!("AT+CFTPSLOGIN=\"localhost\",{},\"{}\",\"{password}\",3", ftp.implicit_port, ftp.user));
    let answer = if r == ["OK"] { dte.wait_for("+CFTPSLOGIN:") } else { r.join(" ") };
    responsive(dte);
    answer
}

fn ftps_fault(f: Value) -> String {
    let (ftp, _m, mut dte, url, _ca) = ftp_rig(None);
    fault(&url, f);
    format!("AT+CFTPSLOGIN → {}", ftps_login(&mut dte, &ftp, ftp.password))
}

cell!(
    ftps_refused,
    "FTPS",
    "refused",
    "AT+CFTPSLOGIN → +CME ERROR: 214",
    ftps_fault(json!({"service": "ftps", "type": "refuse"}))
);
cell!(ftps_dns_failure, "FTPS", "DNS failure", "AT+CFTPSLOGIN → +CME ERROR: 203", {
    ftps_fault(json!({"service": "dns", "type": "dns_fail"}))
});
cell!(ftps_stall, "FTPS", "stall", "AT+CFTPSLOGIN → +CME ERROR: 204", {
    ftps_fault(json!({"service": "ftps", "type": "timeout", "attributes": {"timeout": 0}}))
});
cell!(ftps_drop, "FTPS", "drop mid-transfer", "+CFTPSGET: 210", {
    let (ftp, _m, mut dte, url, _ca) = ftp_rig(None);
    fault(&url, json!({"service": "ftps", "type": "limit_data", "attributes": {"bytes": 100000}}));
    assert_eq!(ftps_login(&mut dte, &ftp, ftp.password), "+CFTPSLOGIN: 0");
    dte.cmd_expect("AT+CFTPSGET=\"/big.bin\"", &["OK"]);
    let (_, end) = dte.blocks("+CFTPSGET");
    responsive(&mut dte);
    format!("+CFTPSGET: {end}")
});
cell!(
    ftps_bad_tls,
    "FTPS",
    "bad TLS",
    "AT+CFTPSLOGIN → +CME ERROR: 214",
    ftps_fault(json!({"service": "ftps", "type": "tls_fail"}))
);
cell!(ftps_auth_failure, "FTPS", "auth failure", "AT+CFTPSLOGIN → +CME ERROR: 208", {
    let (ftp, _m, mut dte, _url, _ca) = ftp_rig_with(None, "10s");
    format!("AT+CFTPSLOGIN → {}", ftps_login(&mut dte, &ftp, "wrong"))
});
cell!(ftps_efs_full, "FTPS", "EFS full", "+CFTPSGETFILE: 206", {
    let (ftp, _m, mut dte, _url, _ca) = ftp_rig(Some("65536"));
    assert_eq!(ftps_login(&mut dte, &ftp, ftp.password), "+CFTPSLOGIN: 0");
    dte.cmd_expect("AT+CFTPSGETFILE=\"/big.bin\"", &["OK"]);
    let end = dte.wait_for("+CFTPSGETFILE: ");
    responsive(&mut dte);
    end
});
cell!(ftps_coverage_loss, "FTPS", "coverage loss", "+CFTPSGET: 214", {
    let (ftp, _m, mut dte, url, _ca) = ftp_rig(None);
    assert_eq!(ftps_login(&mut dte, &ftp, ftp.password), "+CFTPSLOGIN: 0");
    fault(&url, slow("ftps"));
    dte.cmd_expect("AT+CFTPSGET=\"/f.bin\"", &["OK"]);
    coverage_lost(&url);
    let end = dte.wait_for("+CFTPSGET: ");
    responsive(&mut dte);
    end
});

// SMTP: AT+SMTPSEND → OK, then +SMTP: <result>.

struct Mailer {
    smtp: SmtpServer,
    _m: ModemProcess,
    dte: Dte,
    url: String,
    _ca: TestCa,
}

fn mailer(tls: bool, auth_required: bool) -> Mailer {
    let ca = TestCa::new().unwrap();
    let smtp = SmtpServer::start(&ca, SmtpOptions { auth_required, ..SmtpOptions::default() }).unwrap();
    let ca_path = ca.ca.to_str().unwrap().to_owned();
    let mut extra = vec!["--ca", &ca_path];
    if tls {
        extra.extend(["--smtp-tls", "implicit"]);
    }
    let (m, mut dte, url) = rig(&extra);
    let port = if tls { smtp.tls_port } else { smtp.port };
    dte.cmd_expect(&format!("AT+SMTPSRV=\"localhost\",{port}"), &["OK"]);
    dte.cmd_expect("AT+SMTPFROM=\"sim@example.test\",\"Modem\"", &["OK"]);
    dte.cmd_expect("AT+SMTPRCPT=0,0,\"bob@example.test\",\"Bob\"", &["OK"]);
    dte.cmd_expect("AT+SMTPSUB=\"hello\";+SMTPBODY=\"body\"", &["OK"]);
    Mailer { smtp, _m: m, dte, url, _ca: ca }
}

impl Mailer {
    fn send(&mut self) -> String {
        self.dte.cmd_expect("AT+SMTPSEND", &["OK"]);
        let r = self.dte.wait_for("+SMTP: ");
        responsive(&mut self.dte);
        r
    }

    /// A 1 MB attachment, so a transfer is long enough to break.
    fn attach(&mut self) {
        let size = 1_000_000;
        self.dte.send_line(&format!("AT+CFTRANRX=\"C:/big.bin\",{size}"));
        assert_eq!(self.dte.bytes(3), b"\r\n>");
        self.dte.send(&testbench::http::pattern(size, 8));
        self.dte.expect("OK");
        self.dte.cmd_expect("AT+SMTPFILE=1,\"C:/big.bin\"", &["OK"]);
    }
}

fn smtp_fault(f: Value) -> String {
    let mut m = mailer(false, false);
    fault(&m.url, f);
    m.send()
}

cell!(
    smtp_refused,
    "SMTP",
    "refused",
    "+SMTP: NETWORK ERROR",
    smtp_fault(json!({"service": "smtp", "type": "refuse"}))
);
cell!(
    smtp_dns_failure,
    "SMTP",
    "DNS failure",
    "+SMTP: NETWORK ERROR",
    smtp_fault(json!({"service": "dns", "type": "dns_fail"}))
);
cell!(smtp_stall, "SMTP", "stall", "+SMTP: TIMEOUT", {
    smtp_fault(json!({"service": "smtp", "type": "timeout", "attributes": {"timeout": 0}}))
});
cell!(smtp_drop, "SMTP", "drop mid-transfer", "+SMTP: NETWORK ERROR", {
    let mut m = mailer(false, false);
    m.attach();
    // The server gets 100 kB of the 1.4 MB message, then the connection is cut.
    let f = json!({"service": "smtp", "type": "limit_data", "stream": "upstream", "attributes": {"bytes": 100000}});
    fault(&m.url, f);
    let r = m.send();
    assert!(m.smtp.received().unwrap().is_empty(), "a cut mail was delivered");
    r
});
cell!(smtp_bad_tls, "SMTP", "bad TLS", "+SMTP: NETWORK ERROR", {
    // `--smtp-tls implicit` (beyond the real module, which speaks plain SMTP only).
    let mut m = mailer(true, false);
    fault(&m.url, json!({"service": "smtp", "type": "tls_fail"}));
    m.send()
});
cell!(smtp_auth_failure, "SMTP", "auth failure", "+SMTP: SERVER ERROR", {
    let mut m = mailer(false, true);
    m.dte.cmd_expect(&format!("AT+SMTPAUTH=1,\"{}\",\"wrong\"", m.smtp.user), &["OK"]);
    m.send()
});
not_applicable!("SMTP", "EFS full", "sending only reads the EFS (an attachment it cannot read is +SMTP: FILE ERROR)");
cell!(smtp_coverage_loss, "SMTP", "coverage loss", "+SMTP: NETWORK ERROR", {
    let mut m = mailer(false, false);
    fault(&m.url, slow("smtp"));
    m.dte.cmd_expect("AT+SMTPSEND", &["OK"]);
    coverage_lost(&m.url);
    let r = m.dte.wait_for("+SMTP: ");
    responsive(&mut m.dte);
    r
});

// POP3: AT+POP3SRV, AT+POP3IN → OK, +POP3: <result>; AT+POP3GET into C:/Email/.

fn pop3_rig(tls: bool, efs_size: Option<&str>) -> (Pop3Server, ModemProcess, Dte, String, TestCa) {
    let ca = TestCa::new().unwrap();
    let pop3 = Pop3Server::start(&ca).unwrap();
    let ca_path = ca.ca.to_str().unwrap().to_owned();
    let mut extra = vec!["--ca", &ca_path];
    if tls {
        extra.extend(["--pop3-tls", "implicit"]);
    }
    if let Some(n) = efs_size {
        extra.extend(["--efs-size", n]);
    }
    let (m, dte, url) = rig(&extra);
    (pop3, m, dte, url, ca)
}

fn pop3_login(dte: &mut Dte, pop3: &Pop3Server, port: u16, password: &str) -> String {
    dte.cmd_expect(&format!("AT+POP3SRV=\"localhost\",\"{}\",\"{password}\",{port}", pop3.user), &["OK"]);
    dte.cmd_expect("AT+POP3IN", &["OK"]);
    let r = dte.wait_for("+POP3: ");
    responsive(dte);
    r
}

/// A mail of about 1 MB in the box.
fn big_mail(pop3: &Pop3Server) {
    let mut mail = b"From: a@example.test\r\nTo: b@example.test\r\nSubject: big\r\n\r\n".to_vec();
    for i in 0..14_000 {
        mail.extend_from_slice(format!("line {i:06} of a long mail, padded to about seventy bytes.\r\n").as_bytes());
    }
    pop3.add_message(&mail).unwrap();
}

fn pop3_fault(f: Value) -> String {
    let (pop3, _m, mut dte, url, _ca) = pop3_rig(false, None);
    fault(&url, f);
    pop3_login(&mut dte, &pop3, pop3.port, pop3.password)
}

/// Log in, then AT+POP3GET=1: its result.
fn pop3_get(dte: &mut Dte, pop3: &Pop3Server) -> String {
    assert_eq!(pop3_login(dte, pop3, pop3.port, pop3.password), "+POP3: SUCCESS");
    dte.cmd_expect("AT+POP3GET=1", &["OK"]);
    let r = dte.wait_for("+POP3: ");
    responsive(dte);
    r
}

cell!(
    pop3_refused,
    "POP3",
    "refused",
    "+POP3: NETWORK ERROR",
    pop3_fault(json!({"service": "pop3", "type": "refuse"}))
);
cell!(
    pop3_dns_failure,
    "POP3",
    "DNS failure",
    "+POP3: NETWORK ERROR",
    pop3_fault(json!({"service": "dns", "type": "dns_fail"}))
);
cell!(pop3_stall, "POP3", "stall", "+POP3: TIMEOUT", {
    pop3_fault(json!({"service": "pop3", "type": "timeout", "attributes": {"timeout": 0}}))
});
cell!(pop3_drop, "POP3", "drop mid-transfer", "+POP3: NETWORK ERROR", {
    let (pop3, _m, mut dte, url, _ca) = pop3_rig(false, None);
    big_mail(&pop3);
    // The login dialogue never carries 100 kB; the mail is cut there.
    fault(&url, json!({"service": "pop3", "type": "limit_data", "attributes": {"bytes": 100000}}));
    pop3_get(&mut dte, &pop3)
});
cell!(pop3_bad_tls, "POP3", "bad TLS", "+POP3: NETWORK ERROR", {
    // `--pop3-tls implicit` (beyond the real module, which speaks plain POP3 only).
    let (pop3, _m, mut dte, url, _ca) = pop3_rig(true, None);
    fault(&url, json!({"service": "pop3", "type": "tls_fail"}));
    pop3_login(&mut dte, &pop3, pop3.tls_port, pop3.password)
});
cell!(pop3_auth_failure, "POP3", "auth failure", "+POP3: SERVER ERROR", {
    let (pop3, _m, mut dte, _url, _ca) = pop3_rig(false, None);
    pop3_login(&mut dte, &pop3, pop3.port, "wrong")
});
cell!(pop3_efs_full, "POP3", "EFS full", "+POP3: FILE ERROR", {
    let (pop3, _m, mut dte, _url, _ca) = pop3_rig(false, Some("65536"));
    big_mail(&pop3);
    pop3_get(&mut dte, &pop3)
});
cell!(pop3_coverage_loss, "POP3", "coverage loss", "+POP3: NETWORK ERROR", {
    let (pop3, _m, mut dte, url, _ca) = pop3_rig(false, None);
    fault(&url, slow("pop3"));
    dte.cmd_expect(&format!("AT+POP3SRV=\"localhost\",\"{}\",\"{}\",{}", pop3.user, pop3.password, pop3.port), &["OK"]);
    dte.cmd_expect("AT+POP3IN", &["OK"]);
    coverage_lost(&url);
    let r = dte.wait_for("+POP3: ");
    responsive(&mut dte);
    r
});

// TCP/IP sockets: AT+NETOPEN, AT+CIPOPEN=0,"TCP",... → OK, +CIPOPEN: 0,<err>; data both
// ways through socat's echo.

fn socket_rig() -> (EchoServer, ModemProcess, Dte, String) {
    let echo = EchoServer::tcp().unwrap();
    let (m, mut dte, url) = rig(&[]);
    dte.cmd_expect("AT+NETOPEN", &["OK"]);
    dte.expect("+NETOPEN: 0");
    (echo, m, dte, url)
}

fn socket_open(dte: &mut Dte, host: &str, port: u16) -> String {
    dte.cmd_expect(&format!("AT+CIPOPEN=0,\"TCP\",\"{host}\",{port}"), &["OK"]);
    dte.wait_for("+CIPOPEN:")
}

/// Send 5 bytes on link 0; how the link ends within 3 s (`+IPCLOSE`, `+CIPEVENT`), else
/// `echoed` when the data came back, `nothing` when not.
fn socket_send(dte: &mut Dte) -> String {
    dte.send_line("AT+CIPSEND=0,5");
    assert_eq!(dte.bytes(3), b"\r\n>");
    dte.send(b"hello");
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut echoed = false;
    while let Some(l) = dte.try_line(deadline.saturating_duration_since(Instant::now())) {
        if let Some(n) = l.strip_prefix("+IPD") {
            dte.bytes(n.parse().unwrap());
            echoed = true;
        } else if l.starts_with("+IPCLOSE") || l.starts_with("+CIPEVENT") {
            return l;
        }
    }
    if echoed { "echoed".into() } else { "nothing".into() }
}

fn socket_fault(f: Value) -> String {
    let (echo, _m, mut dte, url) = socket_rig();
    fault(&url, f);
    let r = socket_open(&mut dte, "127.0.0.1", echo.port);
    responsive(&mut dte);
    r
}

cell!(
    sockets_refused,
    "sockets",
    "refused",
    "+CIPOPEN: 0,1",
    socket_fault(json!({"service": "sockets", "type": "refuse"}))
);
cell!(
    sockets_dns_failure,
    "sockets",
    "DNS failure",
    "+CIPOPEN: 0,11",
    socket_fault(json!({"service": "dns", "type": "dns_fail"}))
);
cell!(sockets_stall, "sockets", "stall", "+CIPOPEN: 0,0, then nothing (the link stays open)", {
    // A silent peer is silence on a socket: the module has no timeout of its own there
    // (the application's protocol has); the link stays usable and closes on request.
    let (echo, _m, mut dte, url) = socket_rig();
    fault(&url, json!({"service": "sockets", "type": "timeout", "attributes": {"timeout": 0}}));
    let open = socket_open(&mut dte, "127.0.0.1", echo.port);
    let next = socket_send(&mut dte);
    dte.cmd_expect("AT+CIPCLOSE=0", &["OK"]);
    dte.expect("+CIPCLOSE: 0,0");
    format!("{open}, then {next} (the link stays open)")
});
cell!(sockets_drop, "sockets", "drop mid-transfer", "+IPCLOSE: 0,1", {
    // Reset by the peer 300 ms into the connection, while data is on its way.
    let (echo, _m, mut dte, url) = socket_rig();
    fault(&url, json!({"service": "sockets", "type": "reset_peer", "attributes": {"timeout": 300}}));
    assert_eq!(socket_open(&mut dte, "127.0.0.1", echo.port), "+CIPOPEN: 0,0");
    let r = socket_send(&mut dte);
    responsive(&mut dte);
    r
});
not_applicable!("sockets", "bad TLS", "the SIM5360's TCP/IP sockets carry no TLS of their own");
not_applicable!("sockets", "auth failure", "a socket has no login; authentication is the application's");
not_applicable!("sockets", "EFS full", "socket data goes to the DTE and is never stored");
cell!(sockets_coverage_loss, "sockets", "coverage loss", "+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY", {
    let (echo, _m, mut dte, url) = socket_rig();
    assert_eq!(socket_open(&mut dte, "127.0.0.1", echo.port), "+CIPOPEN: 0,0");
    coverage_lost(&url);
    let r = dte.wait_for("+CIPEVENT:");
    responsive(&mut dte);
    r
});

// PPP data calls: ATD*99# from lwIP's PPP client (the test bench's harness, the PPP code
// ESP-IDF's esp_modem runs), then TCP through socat's echo at the host alias 10.64.64.64
// and DNS at the servers IPCP gave. The module answers at the IP layer, as a network
// does: the DTE's own stack reports what it met.

/// The lwIP client's run of `args` on a modem with `f` set (and `extra` arguments); `AT`
/// is answered at once after the call.
fn ppp_run(extra: &[&str], f: Option<Value>, args: &[&str]) -> LwipRun {
    let (m, dte, url) = rig(extra);
    // The client has the PTY to itself.
    drop(dte);
    if let Some(f) = f {
        fault(&url, f);
    }
    let run = testbench::run_lwip(m.link.as_deref().unwrap(), args, Duration::from_secs(60)).unwrap();
    let mut dte = m.open_pty().unwrap();
    dte.line_end = b"\r\n";
    dte.send_line("ATE0");
    dte.expect_eventually("OK");
    responsive(&mut dte);
    run
}

/// Whether the call stayed up until the DTE ended it after a failed step.
fn ppp_call(run: &LwipRun) -> &'static str {
    match (run.line("up ").is_some(), run.line("down"), run.line("end")) {
        (true, None, Some("end NO CARRIER")) => "the call stays up",
        (true, Some(_), _) => "the call ends",
        _ => panic!("the call never came up:\n{}", run.show()),
    }
}

/// `bytes` through the echo server with fault `f` on the call.
fn ppp_echo(f: Value, bytes: usize, extra_args: &[&str]) -> LwipRun {
    let echo = EchoServer::tcp().unwrap();
    let target = format!("10.64.64.64:{}:{bytes}", echo.port);
    let mut args = vec!["--echo", target.as_str()];
    args.extend_from_slice(extra_args);
    ppp_run(&[], Some(f), &args)
}

/// How many echoed bytes came back before the step failed (`error echo got <n> of <m>`).
fn ppp_echoed(run: &LwipRun) -> usize {
    let line = run.line("error echo got ").unwrap_or_else(|| panic!("the echo did not fail:\n{}", run.show()));
    line["error echo got ".len()..].split(' ').next().unwrap().parse().unwrap()
}

cell!(ppp_refused, "PPP", "refused", "the DTE's SYN gets a TCP reset (lwIP: ERR_RST); the call stays up", {
    let run = ppp_echo(json!({"service": "ppp", "type": "refuse"}), 1000, &[]);
    assert_eq!((run.line("error tcp"), ppp_echoed(&run)), (Some("error tcp -14"), 0), "{}", run.show());
    format!("the DTE's SYN gets a TCP reset (lwIP: ERR_RST); {}", ppp_call(&run))
});
cell!(
    ppp_dns_failure,
    "PPP",
    "DNS failure",
    "the module's name server answers SERVFAIL (lwIP: no address); the call stays up",
    {
        let run = ppp_run(&[], Some(json!({"service": "dns", "type": "dns_fail"})), &["--dns", "localhost"]);
        assert_eq!(run.line("dns "), Some("dns localhost fail"), "{}", run.show());
        format!("the module's name server answers SERVFAIL (lwIP: no address); {}", ppp_call(&run))
    }
);
cell!(ppp_stall, "PPP", "stall", "TCP connects, nothing comes back (the DTE's own timeout); the call stays up", {
    let run =
        ppp_echo(json!({"service": "ppp", "type": "timeout", "attributes": {"timeout": 0}}), 1000, &["--timeout", "3"]);
    assert_eq!((run.line("error tcp"), ppp_echoed(&run)), (Some("error tcp timeout"), 0), "{}", run.show());
    format!("TCP connects, nothing comes back (the DTE's own timeout); {}", ppp_call(&run))
});
cell!(ppp_drop, "PPP", "drop mid-transfer", "a TCP reset mid-transfer (lwIP: ERR_RST); the call stays up", {
    // The host connection is reset 300 ms in, with 8 MiB (seconds of echo) under way.
    let run = ppp_echo(json!({"service": "ppp", "type": "reset_peer", "attributes": {"timeout": 300}}), 8 << 20, &[]);
    let got = ppp_echoed(&run);
    assert!(got > 0 && got < 8 << 20, "{}", run.show());
    assert_eq!(run.line("error tcp"), Some("error tcp -14"), "{}", run.show());
    format!("a TCP reset mid-transfer (lwIP: ERR_RST); {}", ppp_call(&run))
});
not_applicable!("PPP", "bad TLS", "TLS runs in the DTE's own stack, inside the call; the module relays its bytes");
cell!(ppp_auth_failure, "PPP", "auth failure", "PAP Authenticate-Nak, then NO CARRIER", {
    // `--ppp-auth pap` and AT+CGAUTH's password; the DTE gives another.
    let (m, mut dte, _url) = rig(&["--ppp-auth", "pap"]);
    dte.cmd_expect("AT+CGAUTH=1,1,\"user\",\"secret\"", &["OK"]);
    drop(dte);
    let run = testbench::run_lwip(
        m.link.as_deref().unwrap(),
        &["--auth", "pap", "--user", "user", "--pass", "wrong"],
        Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(run.line("up "), None, "{}", run.show());
    let nak = run.log.contains("rcvd [PAP AuthNak");
    let mut dte = m.open_pty().unwrap();
    dte.line_end = b"\r\n";
    dte.send_line("ATE0");
    dte.expect_eventually("OK");
    responsive(&mut dte);
    format!("{}, then {}", if nak { "PAP Authenticate-Nak" } else { "no PAP answer" }, &run.line("end ").unwrap()[4..])
});
not_applicable!("PPP", "EFS full", "a data call stores nothing in the EFS");
cell!(ppp_coverage_loss, "PPP", "coverage loss", "LCP Terminate-Request, NO CARRIER, +PPPD: DISCONNECTED", {
    let (m, dte, url) = rig(&[]);
    drop(dte);
    let mut call = testbench::LwipClient::spawn(m.link.as_deref().unwrap(), &["--sleep", "30000"]).unwrap();
    call.wait_line("up ", Duration::from_secs(30)).unwrap();
    coverage_lost(&url);
    let run = call.finish(Duration::from_secs(30)).unwrap();
    let term = run.log.contains("rcvd [LCP TermReq");
    let end = run.line("end ").unwrap_or_else(|| panic!("{}", run.show()));
    let after: Vec<&str> = run.lines.iter().filter_map(|l| l.strip_prefix("text ")).collect();
    assert!(run.line("down").is_some(), "{}", run.show());
    format!("{}, {}, {}", if term { "LCP Terminate-Request" } else { "no LCP" }, &end[4..], after.join(", "))
});
