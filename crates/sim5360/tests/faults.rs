//! Faults through the control API against real servers (nginx, pyftpdlib, aiosmtpd,
//! dovecot, socat): one check per fault type and service, each asserting the module's own
//! code for that failure and that `AT` answers at once afterwards; and the network
//! conditions' visible effects (the round trip, what the DTE sees with a preset).
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};
use testbench::{
    Dte, EchoServer, FtpServer, HttpServer, ModemProcess, Pop3Server, SmtpOptions, SmtpServer, TestCa, Transport,
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

/// Right after a failure the module still answers at once.
fn responsive(dte: &mut Dte) {
    let t = Instant::now();
    dte.cmd_expect("AT", &["OK"]);
    assert!(t.elapsed() < Duration::from_secs(2), "AT took {:?}", t.elapsed());
}

fn http_get(dte: &mut Dte, port: u16, path: &str) -> (Vec<u8>, String) {
    dte.send_line(&format!("AT+CHTTPACT=\"127.0.0.1\",{port}"));
    dte.expect("+CHTTPACT: REQUEST");
    dte.send(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n\x1a").as_bytes());
    dte.expect("OK");
    dte.blocks("+CHTTPACT")
}

#[test]
fn http_faults_give_the_chttpact_codes() {
    let ca = TestCa::new().unwrap();
    let web = HttpServer::start(&ca).unwrap();
    // Every network wait of a service at most 2 s, so a stall shows its timeout code soon.
    let (_m, mut dte, url) = start_with(&["--net-timeout", "2"]);
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
    // A greeting cut short is a malformed answer (the server's error); silence then the
    // close, the network's.
    for (f, want) in [
        (json!({"service": "pop3", "type": "limit_data", "attributes": {"bytes": 5}}), "+POP3: SERVER ERROR"),
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
